"""Command line of the toolkit: ``python run.py COMMAND ...``.

Commands
--------
simulate FILE   run a scenario, print KPIs, write tidy tables
validate FILE   check a scenario file
schema          print the JSON Schema of scenario files

Exit status: 0 success, 2 bad input, 1 internal error. This module only parses arguments and
calls the public API.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2
LEVER_TITLES = {
    "loyalty": "loyalty program",
    "campaign": "promotions",
    "crm": "CRM retention",
    "checkout": "checkout simplification",
    "winback": "win-back",
    "retargeting": "retargeting",
    "referral": "referral and word of mouth",
    "group": "group buying",
}


class _Parser(argparse.ArgumentParser):
    """Argument parser whose usage errors are one line and exit with status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"error: {self.prog}: {message}\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2**63 - 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``run.py``."""
    parser = _Parser(prog="run.py", description="Multichannel commerce simulation and strategy optimization.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sim = commands.add_parser("simulate", help="run a scenario, print KPIs and write tidy tables")
    sim.add_argument("scenario", help="scenario YAML file")
    sim.add_argument("--seed", type=_seed, help="seed of the run (default: the scenario's)")
    sim.add_argument("--days", type=_positive_int, help="horizon in days (default: the scenario's)")
    sim.add_argument(
        "--agents", type=_positive_int, help="number of agents; scale is adjusted to keep the market"
    )
    sim.add_argument(
        "--out", type=Path, help="folder for summary.json, daily.csv, channels_daily.csv, customers.csv"
    )
    sim.add_argument("--overwrite", action="store_true", help="replace result files already in --out")
    sim.add_argument("--no-progress", action="store_true", help="do not show a progress bar")

    val = commands.add_parser("validate", help="check a scenario file")
    val.add_argument("scenario", help="scenario YAML file")

    schema = commands.add_parser("schema", help="print the JSON Schema of scenario files")
    schema.add_argument("--out", type=Path, help="write the schema to this file instead of printing it")
    return parser


def _format_value(value: float) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"


def print_summary(result: object) -> None:
    """Print the KPIs and the per-channel table of a simulation."""
    from simulator import SimulationResult

    assert isinstance(result, SimulationResult)
    scenario = result.scenario
    currency = scenario.economics.currency
    kpis = result.summary
    print(
        f"{scenario.name}: {scenario.horizon_days} days, seed {result.seed}, "
        f"{scenario.population.agents:,} agents x {scenario.population.scale:g} people"
    )
    groups = {
        f"Money ({currency})": [
            "revenue",
            "discounts",
            "cogs",
            "gross_profit",
            "fees",
            "fulfilment",
            "marketing_spend",
            "program_costs",
            "profit",
        ],
        "Efficiency": ["roi", "roas", "cac", "aov"],
        "Orders and customers": ["orders", "new_customers", "repeat_orders", "returns", "repurchase_rate"],
        "Funnel conversion": [
            "conversion_aware_to_visit",
            "conversion_visit_to_cart",
            "conversion_cart_to_order",
            "checkout_rate",
        ],
        "Customers at the end": ["active_end", "lapsed_end", "churned_end"],
        "Retention and recovery": [
            "repurchase_within_7_days",
            "repurchase_within_30_days",
            "repurchase_within_60_days",
            "abandoned_carts",
            "cart_recovery_rate",
        ],
    }
    shown = {name for names in groups.values() for name in names} | {"people", "customers_end"}
    # Each active lever's KPIs, grouped by their prefix (loyalty_, campaign_, crm_, winback_...).
    for name in kpis:
        if name not in shown:
            title = "Lever: " + LEVER_TITLES.get(name.split("_")[0], name.split("_")[0])
            groups.setdefault(title, []).append(name)
    for title, names in groups.items():
        print(f"\n{title}")
        for name in names:
            print(f"  {name.replace('_', ' '):34s} {_format_value(kpis[name]):>16s}")
    table = result.channel_totals()[
        ["spend", "reach", "visits", "orders", "new_customers", "revenue", "contribution", "roas"]
    ]
    print("\nChannels over the horizon")
    print(table.to_string(float_format=lambda v: _format_value(float(v))))
    for name, lever_table in result.tables.items():
        print(f"\n{name.replace('_', ' ').capitalize()}")
        print(lever_table.to_string(float_format=lambda v: _format_value(float(v))))


def _simulate(args: argparse.Namespace) -> int:
    from simulator import load_scenario, simulate
    from simulator.engine import check_memory
    from simulator.results import check_output_folder

    scenario = load_scenario(args.scenario).with_overrides(seed=args.seed, days=args.days, agents=args.agents)
    check_memory(scenario, str(args.scenario))
    if args.out is not None:
        check_output_folder(args.out, args.overwrite)
    progress = not args.no_progress and sys.stderr.isatty()
    result = simulate(scenario, progress=progress)
    print_summary(result)
    if args.out is not None:
        written = result.save(args.out, overwrite=args.overwrite)
        print(f"\nwrote {', '.join(str(p) for p in written)}")
    return EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    from simulator import load_scenario
    from simulator.engine import check_memory

    scenario = load_scenario(args.scenario)
    check_memory(scenario, str(args.scenario))
    print(
        f"ok: {args.scenario}: '{scenario.name}', {len(scenario.channels)} channels, "
        f"{scenario.population.agents:,} agents, {scenario.horizon_days} days"
    )
    return EXIT_OK


def _schema(args: argparse.Namespace) -> int:
    from simulator import Scenario

    text = json.dumps(Scenario.model_json_schema(), indent=2)
    if args.out is None:
        print(text)
    else:
        args.out.write_text(text + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    from simulator import OutputExistsError, ScenarioError, ScenarioWarning

    args = build_parser().parse_args(argv)
    handlers = {"simulate": _simulate, "validate": _validate, "schema": _schema}
    with warnings.catch_warnings():
        warnings.simplefilter("always", ScenarioWarning)
        warnings.showwarning = lambda message, *rest: print(f"warning: {message}", file=sys.stderr)
        try:
            return handlers[args.command](args)
        except (ScenarioError, OutputExistsError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except KeyboardInterrupt:
            print("interrupted; nothing was written", file=sys.stderr)
            return 130
        except Exception as exc:  # noqa: BLE001 - the last line of defence prints one line, not a traceback
            print(f"internal error: {type(exc).__name__}: {exc} (please report it)", file=sys.stderr)
            return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
