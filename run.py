"""Command line of the toolkit: ``commerce-sim COMMAND ...`` or ``python run.py COMMAND ...``.

``commerce-sim`` is this module's :func:`main`, installed as a console command by ``pip install``
(``pyproject.toml``: ``[project.scripts]``); ``python run.py`` in a checkout is the same. A
scenario argument is a file or the name of a bundled scenario (``omnichannel_retailer``).

Commands
--------
simulate FILE   run a scenario, print KPIs, write tidy tables
validate FILE   check a scenario file
schema          print the JSON Schema of scenario files
clv FILE        customer lifetime value per channel, persona and cohort; retention matrix
clv --orders LOG  the same for the real customers of an order log (closed form and by simulation)
attribution FILE  attribution models' credit per channel against the true incremental contribution
replicate FILE  run a scenario and its variants on the same seeds; means, intervals, paired differences
incrementality FILE  true incremental outcome, ROAS, ROI and marginal ROI (break-even 0) of each channel
allocate FILE   budget split across channels (response curves, LP, closed-loop check by simulation)
optimize FILE   loyalty and promotion policies (Optuna) with the budget split (LP), checked by simulation
report DIR      report.html, report.md, summary.png and report.xlsx from a results folder
abtest FILE --variant PATCH  A/B test of a policy patch: shoppers split at random in one world
check-plausibility FILE  headline KPIs next to published benchmark ranges (docs/benchmarks.md)
calibrate FILE --orders LOG  a customer-base twin calibrated on an order log, checked on a hold-out

Exit status: 0 success, 2 bad input, 1 internal error. This module only parses arguments and
calls the public API.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import shutil
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simulator.calibrate.posterior import PosteriorEnsemble
    from simulator.config.scenario import Scenario
    from simulator.config.search import SearchSettings
    from simulator.data import MediaHistory, OrderLog

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2
MAX_VALUE_HORIZON_DAYS = 3650
"""Longest ``clv --value-horizon`` (days): ten years, like the longest simulated horizon."""


class _Parser(argparse.ArgumentParser):
    """Argument parser whose usage errors are one line and exit with status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"error: {self.prog}: {message}\n")


def _program_name() -> str:
    """``commerce-sim`` when run as the installed console command, else ``run.py``."""
    return "commerce-sim" if Path(sys.argv[0]).name == "commerce-sim" else "run.py"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _value_horizon(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_VALUE_HORIZON_DAYS:
        raise argparse.ArgumentTypeError(
            f"must be at most {MAX_VALUE_HORIZON_DAYS} days (ten years), got {value}"
        )
    return value


def _discount_rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and 0 <= value <= 10):
        raise argparse.ArgumentTypeError(f"must be an annual rate between 0 and 10 (0.1 = 10%), got {text}")
    return value


def _relative_effect(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and 0 < value < 10):
        raise argparse.ArgumentTypeError(f"must be a relative lift between 0 and 10 (0.05 = 5%), got {text}")
    return value


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be a share strictly between 0 and 1, got {text}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2**63 - 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _iso_date(text: str) -> str:
    import datetime as dt

    try:
        dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None
    return text


def _segments(text: str) -> int:
    value = _positive_int(text)
    if value > 4:
        raise argparse.ArgumentTypeError(f"must be 1 to 4, got {value}")
    return value


def _objective_name(allowed: tuple[str, ...]) -> Callable[[str], str]:
    """An ``--objective`` value: a retired name is refused saying what it became."""

    def check(text: str) -> str:
        from simulator.config.allocation import check_objective_name

        try:
            check_objective_name(text, allowed)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        return text

    return check


def _add_run_options(
    command: argparse.ArgumentParser, seed: str | None = None, workers: bool = False
) -> None:
    """The options of a command that simulates: ``--seed`` (with its help text), ``--days``, ``--agents``."""
    if seed is not None:
        command.add_argument("--seed", type=_seed, help=seed)
    command.add_argument("--days", type=_positive_int, help="horizon in days (default: the scenario's)")
    command.add_argument(
        "--agents", type=_positive_int, help="number of agents; scale is adjusted to keep the market"
    )
    if workers:
        command.add_argument("--workers", type=_positive_int, default=1, help="worker processes (default 1)")
        command.add_argument(
            "--scheduler",
            metavar="ADDRESS",
            help="run the simulations on the Dask cluster at tcp://HOST:PORT (default: "
            "$COMMERCE_SIM_SCHEDULER, else local); optimize: --workers trial processes run there",
        )


MAX_SEED_COUNT = 1000
"""Largest ``--n-seeds``."""


def _seed_count(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_SEED_COUNT:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_SEED_COUNT}, got {value}")
    return value


def _add_seed_options(command: argparse.ArgumentParser, default: int, what: str) -> None:
    """One meaning everywhere: ``--seeds S1 S2 ...`` the seed values, ``--n-seeds N`` how many.

    ``--n-seeds N`` takes N seeds from ``--seed`` (default: the scenario's seed) on:
    ``seed, seed + 1, ...``; ``--seeds`` names them instead. See :func:`_chosen_seeds`.
    """
    command.add_argument("--seed", type=_seed, help="first seed (default: the scenario's seed)")
    group = command.add_mutually_exclusive_group()
    group.add_argument("--seeds", type=_seed, nargs="+", metavar="SEED", help=f"the seeds of the {what}")
    group.add_argument(
        "--n-seeds", type=_seed_count, metavar="N", help=f"number of seeds from --seed on (default {default})"
    )
    command.set_defaults(default_seed_count=default)


def _chosen_seeds(args: argparse.Namespace, scenario_seed: int) -> list[int]:
    """The seeds of ``--seeds``, or ``--n-seeds`` (default count) seeds from ``--seed`` on."""
    if args.seeds is not None:
        if args.seed is not None:
            raise _UsageError(f"{args.command}: give --seeds (the values) or --seed (the first), not both")
        return list(args.seeds)
    first = scenario_seed if args.seed is None else args.seed
    count = args.n_seeds if args.n_seeds is not None else args.default_seed_count
    return [first + k for k in range(count)]


def _add_format_option(command: argparse.ArgumentParser, tables: str) -> None:
    """``--format``: the file type of the large per-shopper tables."""
    from simulator.common.tables import PARQUET_ABOVE_AGENTS

    command.add_argument(
        "--format",
        dest="table_format",
        choices=["csv", "parquet"],
        help=f"file type of {tables} (default: csv up to {PARQUET_ABOVE_AGENTS:,} agents, parquet above)",
    )


def _add_memory_limit_option(command: argparse.ArgumentParser) -> None:
    """``--memory-limit GIB``: most memory the run may take, instead of 80% of what is available."""
    command.add_argument(
        "--memory-limit",
        type=_positive_float,
        metavar="GIB",
        help="most resident memory of the run in GiB; larger runs are refused before starting "
        "(default: 80%% of the memory available)",
    )


def _memory_limit(args: argparse.Namespace) -> int | None:
    """``--memory-limit`` in bytes (``None``: 80% of the memory available)."""
    return None if args.memory_limit is None else int(args.memory_limit * 2**30)


def _table_format(args: argparse.Namespace, agents: int) -> str:
    """``--format``, or its default for a run of ``agents`` agents."""
    from simulator.common.tables import default_table_format

    return str(args.table_format or default_table_format(agents))


def _add_output_options(
    command: argparse.ArgumentParser,
    out: str | None,
    report: bool = False,
    progress: str = "do not show a progress bar",
) -> None:
    """``--out`` (when ``out`` names its files), ``--overwrite``, ``--no-progress`` and ``--report``."""
    if out is not None:
        command.add_argument("--out", type=Path, help=out)
    command.add_argument("--overwrite", action="store_true", help="replace result files already in --out")
    command.add_argument("--no-progress", action="store_true", help=progress)
    if report:
        command.add_argument("--report", action="store_true", help="also write the report into --out")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``run.py`` and of the ``commerce-sim`` command (the same commands)."""
    from simulator import __version__

    parser = _Parser(
        prog=_program_name(), description="Multichannel commerce simulation and strategy optimization."
    )
    parser.add_argument("--version", action="version", version=f"commerce-sim {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sim = commands.add_parser("simulate", help="run a scenario, print KPIs and write tidy tables")
    sim.add_argument("scenario", help="scenario YAML file")
    _add_run_options(sim, seed="seed of the run (default: the scenario's)")
    sim.add_argument(
        "--verbose", action="store_true", help="print every KPI and the lever tables, not just the headline"
    )
    _add_output_options(
        sim,
        "folder for summary.json, daily.csv, channels_daily.csv, customers.csv, orders.csv, media.csv",
        report=True,
    )
    _add_format_option(sim, "customers and orders")
    sim.add_argument(
        "--orders-format",
        choices=["csv", "parquet"],
        help="file type of the order log alone (default: --format)",
    )
    _add_memory_limit_option(sim)
    sim.add_argument(
        "--compare-to",
        type=Path,
        metavar="HISTORY",
        help="media history, .csv or .parquet: date, channel, spend and optional impressions, visits, "
        "orders, new_customers, revenue (README): print simulated vs actual per channel and month "
        "(with --out: comparison.csv)",
    )
    _add_order_log_options(sim, required=False, purpose="with --compare-to: also compare all channels' ")
    sim.add_argument(
        "--log-scale",
        type=_positive_float,
        default=1.0,
        help="with --orders: people each order of the log stands for (default 1)",
    )

    val = commands.add_parser("validate", help="check a scenario file")
    val.add_argument("scenario", help="scenario YAML file")

    schema = commands.add_parser("schema", help="print the JSON Schema of scenario files")
    schema.add_argument("--out", type=Path, help="write the schema to this file instead of printing it")
    schema.add_argument("--overwrite", action="store_true", help="replace the --out file if it exists")

    attribution = commands.add_parser(
        "attribution", help="attribution models' credit per channel against the true incremental contribution"
    )
    attribution.add_argument("scenario", help="scenario YAML file")
    _add_seed_options(attribution, 3, "paired runs")
    _add_run_options(attribution, workers=True)
    attribution.add_argument(
        "--half-life", type=_positive_float, default=7.0, help="time-decay half-life (days)"
    )
    attribution.add_argument(
        "--paths", action="store_true", help="also write paths.csv and touches.csv (first seed)"
    )
    _add_format_option(attribution, "paths and touches")
    _add_output_options(attribution, "folder for attribution.csv")
    clv = commands.add_parser("clv", help="customer lifetime value per channel, persona and cohort")
    clv.add_argument(
        "scenario",
        nargs="?",
        help="scenario YAML file (with --orders: the base scenario of the twin, optional)",
    )
    _add_order_log_options(clv, required=False)
    clv.add_argument(
        "--seeds",
        type=_positive_int,
        default=5,
        help="with --orders: twin runs of the value horizon (default 5)",
    )
    clv.add_argument(
        "--max-segments",
        type=_segments,
        default=4,
        help="with --orders: most latent-class segments (default 4)",
    )
    _add_run_options(clv, seed="seed of the run (default: the scenario's)")
    clv.add_argument(
        "--discount-rate", type=_discount_rate, default=0.1, help="annual discount rate (default 0.1 = 10%%)"
    )
    clv.add_argument(
        "--value-horizon",
        type=_value_horizon,
        default=365,
        help=f"days of expected remaining value (default 365, at most {MAX_VALUE_HORIZON_DAYS})",
    )
    _add_output_options(
        clv, "folder for clv_customers.csv, clv_cohorts.csv, retention_matrix.csv, repurchase_curve.csv"
    )
    _add_replication_commands(commands)
    _add_allocate_command(commands)
    _add_optimize_command(commands)
    _add_plausibility_command(commands)
    _add_calibrate_command(commands)
    return parser


def _add_order_log_options(command: argparse.ArgumentParser, required: bool, purpose: str = "") -> None:
    """``--orders``, ``--columns`` and ``--date-format``: an order log and how to read it."""
    command.add_argument(
        "--orders",
        type=Path,
        required=required,
        help=f"{purpose}order log, .csv or .parquet, one row per order: customer_id, date, revenue (README)"
        + (" (new customers, orders and revenue per month)" if purpose else ""),
    )
    command.add_argument(
        "--columns", help="the file's names of the columns, e.g. customer_id=cust,date=ts,revenue=amount"
    )
    command.add_argument(
        "--date-format", help="strftime format of the dates (default ISO 8601), e.g. %%d/%%m/%%Y"
    )


def _add_calibrate_command(commands: argparse._SubParsersAction[_Parser]) -> None:
    cal = commands.add_parser(
        "calibrate", help="a customer-base twin calibrated on an order log, checked on a hold-out period"
    )
    cal.add_argument("scenario", help="base scenario YAML file (channels, economics, levers)")
    _add_order_log_options(cal, required=True)
    period = cal.add_mutually_exclusive_group()
    period.add_argument(
        "--holdout-days", type=_non_negative_int, help="hold out the log's last N days to check the forecast"
    )
    period.add_argument(
        "--calibration-end", type=_iso_date, help="last day of the calibration period (YYYY-MM-DD)"
    )
    cal.add_argument(
        "--seeds",
        type=_positive_int,
        help="twin runs of the hold-out period (default 10); with --media: emulator seeds (default 3)",
    )
    cal.add_argument(
        "--media",
        type=Path,
        help="media history, .csv or .parquet: date, channel, spend (README): calibrate the channels' "
        "response to the order log and this history instead of building the twin",
    )
    cal.add_argument(
        "--lift-tests",
        type=Path,
        help="with --media: lift tests, .csv or .parquet: channel, start, end, spend_change, effect, "
        "standard_error",
    )
    cal.add_argument(
        "--holdout-weeks",
        type=_non_negative_int,
        default=0,
        help="with --media: last weeks kept out of the fit to check the forecast (default 0)",
    )
    cal.add_argument(
        "--by-channel",
        action="store_true",
        help="with --media: fit weekly new customers per acquisition channel (the order log's channel "
        "of each customer's first order) instead of all channels together",
    )
    cal.add_argument(
        "--members",
        type=_positive_int,
        default=200,
        help="with --media: posterior ensemble size (default 200)",
    )
    cal.add_argument(
        "--predict-members",
        type=_non_negative_int,
        default=20,
        help="with --media: posterior members simulated over the history to predict weekly orders and "
        "revenue, member k on seed k (default 20; 0 = off)",
    )
    cal.add_argument(
        "--workers", type=_positive_int, default=1, help="with --media: worker processes (default 1)"
    )
    cal.add_argument(
        "--max-segments", type=_segments, default=4, help="most latent-class segments tried, 1-4 (default 4)"
    )
    cal.add_argument(
        "--agents",
        type=_positive_int,
        help="most agents for existing customers, a sample above it (default 100,000)",
    )
    cal.add_argument(
        "--log-scale",
        type=_positive_float,
        default=1.0,
        help="people each customer of the log stands for: 1 for a real log (default), the population.scale "
        "of the simulation that wrote orders.csv",
    )
    cal.add_argument(
        "--out",
        type=Path,
        required=True,
        help="folder for scenario.yaml, customers.parquet, calibration.json and the diagnostics (CSV)",
    )
    _add_output_options(cal, None, report=True, progress="do not show progress lines")


def _add_plausibility_command(commands: argparse._SubParsersAction[_Parser]) -> None:
    check = commands.add_parser(
        "check-plausibility", help="headline KPIs next to published benchmark ranges, ok / low / high"
    )
    check.add_argument("scenario", help="scenario YAML file")
    check.add_argument(
        "--seeds",
        type=_seed,
        nargs="+",
        help="seeds of the paired runs (default: 3 from the scenario's seed)",
    )
    _add_run_options(check, workers=True)
    _add_output_options(check, "folder for plausibility.csv")


def _add_optimize_command(commands: argparse._SubParsersAction[_Parser]) -> None:
    opt = commands.add_parser(
        "optimize", help="policies (Optuna) and budget split (LP) together, checked on fresh seeds"
    )
    opt.add_argument("scenario", help="scenario YAML file (search space in its 'search:' section)")
    opt.add_argument("--trials", type=_positive_int, help="finished trials to reach (default: search.trials)")
    from optimizer.objectives import SEARCH_OBJECTIVES

    opt.add_argument(
        "--objective",
        nargs="+",
        type=_objective_name(SEARCH_OBJECTIVES),
        choices=SEARCH_OBJECTIVES,
        metavar="OBJECTIVE",
        help=f"one objective, or two for a Pareto front: {', '.join(SEARCH_OBJECTIVES)} "
        "(default: search.objective)",
    )
    opt.add_argument(
        "--n-seeds",
        dest="seeds",
        type=_positive_int,
        metavar="N",
        help="paired seeds per trial, taken from --seed on (default: search.seeds)",
    )
    # Elsewhere --seeds lists seed values; here the seeds follow --seed, so only their number is given.
    opt.add_argument("--seeds", dest="seed_values", nargs="+", help=argparse.SUPPRESS)
    _add_guard_rail_option(opt, "search.guard_rails")
    opt.add_argument(
        "--storage", help="Optuna storage URL (default: sqlite:///OUT/study.db; in memory without --out)"
    )
    opt.add_argument("--study-name", help="study name (default: <scenario file>-<objectives>)")
    opt.add_argument("--no-budget", action="store_true", help="search policies only; keep the current plan")
    _add_posterior_option(opt, "the budget split's response curves and the final check (trials: the centre)")
    _add_run_options(opt, seed="seed of the sampler and runs (default: the scenario's)", workers=True)
    opt.add_argument("--solver", choices=["auto", "cbc", "highs"], default="auto", help="LP solver")
    _add_output_options(opt, "folder for recommendation.json, trials.csv, pareto.csv", report=True)


def _add_posterior_option(command: argparse.ArgumentParser, runs: str) -> None:
    """``--posterior DIR``: run across the members of a media calibration's posterior ensemble."""
    command.add_argument(
        "--posterior",
        type=Path,
        metavar="DIR",
        help=f"--out folder of 'calibrate --media': {runs} run one posterior member per seed, so "
        "intervals and the verdict hold parameter uncertainty",
    )


def _posterior(args: argparse.Namespace) -> PosteriorEnsemble | None:
    """The ensemble of ``--posterior`` (checked before any run or output), centred on its scenario.yaml."""
    if args.posterior is None:
        return None
    from simulator.calibrate.posterior import PosteriorEnsemble

    return PosteriorEnsemble.load(args.posterior)


def _add_guard_rail_option(command: argparse.ArgumentParser, setting: str) -> None:
    """``--guard-rail METRIC`` (repeatable): a metric that must not get significantly worse."""
    from optimizer.objectives import COMPARED_METRICS

    command.add_argument(
        "--guard-rail",
        action="append",
        choices=COMPARED_METRICS,
        metavar="METRIC",
        help="a metric that must not get significantly worse for the plan to be recommended "
        f"(repeatable; default: {setting}): {', '.join(COMPARED_METRICS)}",
    )


def _add_allocate_command(commands: argparse._SubParsersAction[_Parser]) -> None:
    alloc = commands.add_parser(
        "allocate", help="budget split across channels: response curves, LP, closed-loop check"
    )
    alloc.add_argument(
        "scenario",
        nargs="?",
        help="scenario YAML file (constraints in its 'allocation:' section; with --posterior default "
        "DIR/scenario.yaml)",
    )
    alloc.add_argument(
        "--curves",
        type=Path,
        help="response curves from another model, .csv or .parquet: channel, spend, outcome "
        "[, standard_error]; the LP runs on them with --budget, nothing is simulated",
    )
    alloc.add_argument("--budget", type=_positive_float, help="total media budget over the horizon")
    from optimizer.objectives import ALLOCATION_OBJECTIVES

    alloc.add_argument(
        "--objective",
        type=_objective_name(ALLOCATION_OBJECTIVES),
        choices=ALLOCATION_OBJECTIVES,
        help="what to maximize (default: allocation.objective, else profit)",
    )
    alloc.add_argument("--periods", type=_positive_int, help="planning periods (equal slices of the horizon)")
    alloc.add_argument(
        "--constraints", type=Path, help="YAML file of allocation settings, used instead of the scenario's"
    )
    alloc.add_argument("--rounds", type=int, help="closed-loop refit rounds after the first (0-5)")
    _add_guard_rail_option(alloc, "allocation.guard_rails")
    _add_posterior_option(alloc, "response curves, closed-loop checks and the final check")
    _add_run_options(alloc, seed="first seed of the runs (default: the scenario's)", workers=True)
    alloc.add_argument("--solver", choices=["auto", "cbc", "highs"], default="auto", help="LP solver")
    _add_output_options(alloc, "folder for allocation.csv, allocation.json, response_curves.csv", report=True)
    report = commands.add_parser(
        "report", help="report.html, report.md, summary.png, report.xlsx of a folder"
    )
    report.add_argument(
        "folder",
        type=Path,
        help="--out folder of any command: simulate, allocate, optimize, replicate, incrementality, "
        "clv (also clv --orders), attribution, abtest, calibrate",
    )
    report.add_argument("--overwrite", action="store_true", help="replace report files already there")


def _add_replication_commands(commands: argparse._SubParsersAction[_Parser]) -> None:
    rep = commands.add_parser("replicate", help="run a scenario and variants on the same seeds (paired)")
    inc = commands.add_parser(
        "incrementality", help="true incremental outcome, ROAS, ROI, marginal ROI per channel"
    )
    for command in (rep, inc):
        command.add_argument("scenario", help="scenario YAML file")
        _add_seed_options(command, 5, "paired runs")
        _add_run_options(command, workers=True)
        _add_output_options(command, None)
    rep.add_argument(
        "--variant",
        type=Path,
        action="append",
        default=[],
        help="YAML patch of the scenario (repeatable); the variant is named after the file",
    )
    rep.add_argument("--out", type=Path, help="folder for replications.csv and summary.csv")
    inc.add_argument("--channels", nargs="+", help="channels to measure (default: all)")
    inc.add_argument(
        "--step", type=_positive_float, default=0.1, help="spend step for marginal ROI (default 0.1 = +10%%)"
    )
    inc.add_argument("--out", type=Path, help="folder for incrementality.csv")

    ab = commands.add_parser(
        "abtest", help="A/B test of a policy patch: shoppers split at random in one world"
    )
    ab.add_argument("scenario", help="scenario YAML file (the control arm)")
    ab.add_argument(
        "--variant", type=Path, required=True, help="YAML patch of the policies for the treatment arm"
    )
    _add_seed_options(ab, 1, "worlds (several are pooled)")
    _add_run_options(ab, workers=True)
    ab.add_argument(
        "--treatment-share", type=_share, default=0.5, help="share of shoppers treated (default 0.5)"
    )
    ab.add_argument(
        "--mde",
        type=_relative_effect,
        default=0.05,
        help="minimum detectable relative lift for the sample size (default 0.05 = 5%%)",
    )
    _add_output_options(ab, "folder for abtest.csv and abtest.json")


EXTRA_HEADLINE = ("expected_lifetime_value_per_customer",)
"""Shown in ``simulate``'s short printout after the notebooks' headline KPIs."""
DETAIL_GROUPS = {
    "Money ({currency})": [
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
    "Value of the customers acquired": [
        "acquired_customer_value",
        "expected_lifetime_value",
        "expected_lifetime_value_per_customer",
    ],
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
"""The KPIs of ``simulate --verbose``, by group; each active lever's follow under its title."""
KPI_LABELS = {
    "roi": "ROI (profit / spend, break-even 0)",
    "roas": "ROAS (revenue / spend)",
    "cac": "CAC (spend / new customer)",
    "aov": "AOV (order value)",
    "expected_lifetime_value_per_customer": "lifetime value / customer",
    "customers_end": "customers at the end",
    "active_end": "active at the end",
    "lapsed_end": "lapsed at the end",
    "churned_end": "churned at the end",
    "cogs": "cost of goods",
}
CHANNEL_COLUMNS = ["spend", "visits", "orders", "new_customers", "revenue", "contribution", "last_touch_roas"]
"""Columns of ``simulate``'s channel table (horizon totals per channel)."""


def _kpi_label(name: str) -> str:
    return KPI_LABELS.get(name, name.replace("_", " "))


def _kpi_lines(kpis: dict[str, float], names: Sequence[str]) -> list[str]:
    from simulator.common.display import format_kpi

    shown = [n for n in names if n in kpis]
    width = max([28, *(len(_kpi_label(n)) + 2 for n in shown)])
    return [f"{_kpi_label(n):{width}s}{format_kpi(n, kpis[n]):>14s}" for n in shown]


def summary_text(result: object, verbose: bool = False) -> str:
    """The printout of ``simulate``: headline KPIs and the channel table; ``verbose`` adds every KPI.

    The short form (the default) fits in 40 lines for the bundled scenarios: two columns of
    headline KPIs, the per-channel table and one line naming the active levers. ``verbose``
    lists every KPI by group, each active lever's KPIs under its title, and the lever tables
    (campaigns, win-back segments, retargeting). Numbers follow :mod:`simulator.common.format`.
    """
    from simulator import SimulationResult
    from simulator.common.display import HEADLINE_KPIS
    from simulator.common.format import frame_text, unit_of
    from simulator.levers.registry import lever_of_kpi

    assert isinstance(result, SimulationResult)
    scenario = result.scenario
    currency = scenario.economics.currency
    kpis = result.summary
    lines = [
        f"{scenario.name}: {scenario.horizon_days} days, seed {result.seed}, "
        f"{scenario.population.agents:,} agents x {scenario.population.scale:g} people; money in {currency}"
    ]
    levers: dict[str, list[str]] = {}
    for name in kpis:
        lever = lever_of_kpi(name)
        if lever is not None:
            levers.setdefault(lever.title, []).append(name)
    if verbose:
        shown = {name for names in DETAIL_GROUPS.values() for name in names} | {"people", "customers_end"}
        groups = {title.format(currency=currency): names for title, names in DETAIL_GROUPS.items()}
        groups |= {f"Lever: {title}": names for title, names in levers.items()}
        others = [n for n in kpis if n not in shown and lever_of_kpi(n) is None]
        if others:
            groups["Other"] = others
        for title, names in groups.items():
            lines += ["", title, *("  " + line for line in _kpi_lines(kpis, names))]
    else:
        money = [n for n in HEADLINE_KPIS if unit_of(n) in ("money", "ratio")]
        people = [n for n in (*HEADLINE_KPIS, *EXTRA_HEADLINE) if n not in money]
        columns = [
            [f"Money ({currency})", *_kpi_lines(kpis, money)],
            ["Customers (people of the market)", *_kpi_lines(kpis, people)],
        ]
        lines.append("")
        width = max(len(line) for line in columns[0])
        for left, right in itertools.zip_longest(*columns, fillvalue=""):
            lines.append(f"{left:{width}s}    {right}".rstrip())
    table = result.channel_totals()[CHANNEL_COLUMNS].rename_axis(None)
    lines += [
        "",
        f"Channels over the horizon ({currency}, people); orders credited to the channel of their last",
        "touch, so last-touch ROAS is an attribution figure, not what the spend adds (see: incrementality)",
    ]
    readable = table.rename(columns=lambda c: c.replace("_", " "))
    lines.append(frame_text(readable, units=_units(CHANNEL_COLUMNS)))
    if verbose:
        for name, lever_table in result.tables.items():
            lines += ["", name.replace("_", " ").capitalize(), frame_text(lever_table)]
    elif levers:
        lines += ["", f"Levers on: {', '.join(levers)} (--verbose lists their KPIs and tables)"]
    return "\n".join(lines)


def _units(names: Sequence[str]) -> dict[str, str]:
    """Units of columns shown with spaces for underscores, by their original names."""
    from simulator.common.format import unit_of

    return {name.replace("_", " "): unit_of(name) for name in names}


def print_summary(result: object, verbose: bool = False) -> None:
    """Print :func:`summary_text` of a simulation."""
    print(summary_text(result, verbose))


def _simulate(args: argparse.Namespace) -> int:
    from simulator import load_scenario, simulate
    from simulator.engine.results import RESULT_FILES
    from simulator.engine.simulate import check_memory

    scenario = load_scenario(args.scenario).with_overrides(seed=args.seed, days=args.days, agents=args.agents)
    limit = _memory_limit(args)
    check_memory(scenario, str(args.scenario), limit_bytes=limit)
    history = _history_to_compare(args, scenario)
    _check_out(args, (*RESULT_FILES, *(("comparison.csv",) if history is not None else ())))
    table_format = _table_format(args, scenario.simulated_agents)
    progress = not args.no_progress and sys.stderr.isatty()
    result = simulate(scenario, progress=progress, memory_limit=limit)
    print_summary(result, verbose=args.verbose)
    comparison = None
    if history is not None:
        from simulator.measure.compare import compare_to_history

        comparison = compare_to_history(result, *history, log_scale=args.log_scale)
        print()
        print(comparison.text())

    def save() -> None:
        result.save(
            args.out, overwrite=args.overwrite, orders_format=args.orders_format, table_format=table_format
        )
        if comparison is not None:
            comparison.save(args.out, overwrite=args.overwrite)

    _write_outputs(args, save)
    return EXIT_OK


def _history_to_compare(
    args: argparse.Namespace, scenario: Scenario
) -> tuple[MediaHistory, OrderLog | None] | None:
    """``simulate --compare-to``: the media history (and order log), read and checked before simulating."""
    if args.compare_to is None:
        for option in ("orders", "columns", "date_format"):
            if getattr(args, option) is not None:
                raise _UsageError(f"simulate: --{option.replace('_', '-')} needs --compare-to HISTORY")
        return None
    from simulator.data import load_media, load_orders
    from simulator.measure.compare import check_history

    history = load_media(args.compare_to)
    orders = None
    if args.orders is not None:
        orders = load_orders(args.orders, columns=args.columns, date_format=args.date_format)
    check_history(scenario, history, orders)
    return history, orders


def _validate(args: argparse.Namespace) -> int:
    from optimizer.allocate import check_constraints
    from optimizer.search import search_settings
    from optimizer.settings import allocation_settings
    from simulator import load_scenario
    from simulator.engine.simulate import check_memory

    scenario = load_scenario(args.scenario)
    check_memory(scenario, str(args.scenario))
    check_constraints(scenario, allocation_settings(scenario))
    if scenario.search is not None:
        search_settings(scenario)  # parameter paths and range ends against the policies
    print(
        f"ok: {args.scenario}: '{scenario.name}', {len(scenario.channels)} channels, "
        f"{scenario.population.agents:,} agents, {scenario.horizon_days} days"
    )
    return EXIT_OK


def _schema(args: argparse.Namespace) -> int:
    from simulator import Scenario
    from simulator.common.output import write_file_atomically

    text = json.dumps(Scenario.model_json_schema(), indent=2)
    if args.out is None:
        print(text)
    else:
        write_file_atomically(args.out, (text + "\n").encode("utf-8"), overwrite=args.overwrite)
        print(f"wrote {args.out}")
    return EXIT_OK


def _attribution(args: argparse.Namespace) -> int:
    from simulator import load_scenario
    from simulator.engine.simulate import check_memory
    from simulator.measure.attribution import BASES, attribution_files, evaluate_attribution

    scenario = load_scenario(args.scenario).with_overrides(days=args.days, agents=args.agents)
    check_memory(scenario, str(args.scenario), record_paths=True)
    if args.paths and args.out is None:
        raise _UsageError("--paths needs --out DIR")
    table_format = _table_format(args, scenario.simulated_agents)
    _check_out(args, attribution_files(args.paths, table_format))
    seeds = _chosen_seeds(args, scenario.seed)
    report = evaluate_attribution(
        scenario,
        seeds,
        half_life_days=args.half_life,
        progress=not args.no_progress and sys.stderr.isatty(),
        workers=args.workers,
    )
    print(f"{scenario.name}: {scenario.horizon_days} days, {scenario.population.agents:,} agents")
    for basis in BASES:
        print()
        print(report.to_text(basis))
    _write_outputs(
        args,
        lambda: report.save(args.out, overwrite=args.overwrite, paths=args.paths, table_format=table_format),
    )
    return EXIT_OK


class _UsageError(Exception):
    """A combination of options that cannot work (exit status 2)."""


def _clv_of_orders(args: argparse.Namespace) -> int:
    from simulator import load_scenario
    from simulator.calibrate.clv import order_log_clv
    from simulator.data import load_orders
    from simulator.measure.clv import CLV_FILES

    if args.days is not None:
        raise _UsageError(
            "clv: --days is for a scenario's horizon; with --orders the horizon is --value-horizon"
        )
    base = load_scenario(args.scenario).with_overrides(seed=args.seed) if args.scenario else None
    _check_out(args, CLV_FILES)
    log = load_orders(args.orders, columns=args.columns, date_format=args.date_format)
    report = order_log_clv(
        log,
        base,
        discount_rate=args.discount_rate,
        horizon_days=args.value_horizon,
        seeds=args.seeds or 10,
        max_segments=args.max_segments,
        max_agents=args.agents,
    )
    currency = base.economics.currency if base is not None else ""
    print(report.to_text(currency))
    _write_outputs(args, lambda: report.save(args.out, overwrite=args.overwrite))
    return EXIT_OK


def _clv(args: argparse.Namespace) -> int:
    from simulator import load_scenario
    from simulator.engine.simulate import check_memory
    from simulator.measure.clv import CLV_FILES, customer_lifetime_value, simulate_for_clv

    if args.orders is not None:
        return _clv_of_orders(args)
    if args.scenario is None:
        raise _UsageError("clv: give a scenario file, or --orders FILE for the customers of an order log")
    scenario = load_scenario(args.scenario).with_overrides(seed=args.seed, days=args.days, agents=args.agents)
    check_memory(scenario, str(args.scenario))
    _check_out(args, CLV_FILES)
    progress = not args.no_progress and sys.stderr.isatty()
    result, traits = simulate_for_clv(scenario, progress=progress)
    report = customer_lifetime_value(
        result, traits, discount_rate=args.discount_rate, horizon_days=args.value_horizon
    )
    print(report.to_text(scenario.economics.currency))
    _write_outputs(args, lambda: report.save(args.out, overwrite=args.overwrite))
    return EXIT_OK


def _calibrate_media(args: argparse.Namespace) -> int:
    from simulator import load_scenario
    from simulator.calibrate import MEDIA_CALIBRATION_FILES, calibrate_media
    from simulator.data import load_lift_tests, load_media, load_orders

    if args.holdout_days is not None or args.calibration_end is not None:
        raise _UsageError("calibrate: with --media the hold-out is --holdout-weeks")
    base = load_scenario(args.scenario)
    _check_out(args, MEDIA_CALIBRATION_FILES)
    log = load_orders(args.orders, columns=args.columns, date_format=args.date_format)
    media = load_media(args.media)
    media.check_channels(base.channel_names)
    tests = load_lift_tests(args.lift_tests, base.channel_names) if args.lift_tests is not None else []
    show = not args.no_progress and sys.stderr.isatty()
    calibration = calibrate_media(
        base,
        log,
        media,
        tests,
        holdout_weeks=args.holdout_weeks,
        seeds=list(range(1, (args.seeds or 3) + 1)),
        members=args.members,
        weight=args.log_scale,
        workers=args.workers,
        progress=show,
        on_round=(lambda message: print(message, file=sys.stderr)) if show else None,
        by_channel=args.by_channel,
        predict_members=args.predict_members,
    )
    print(calibration.text())
    _write_outputs(args, lambda: calibration.save(args.out, overwrite=args.overwrite))
    return EXIT_OK


def _calibrate(args: argparse.Namespace) -> int:
    if args.media is not None:
        return _calibrate_media(args)
    if args.lift_tests is not None:
        raise _UsageError("calibrate: --lift-tests needs --media")
    if args.by_channel:
        raise _UsageError("calibrate: --by-channel needs --media")
    from simulator import load_scenario
    from simulator.calibrate import CALIBRATION_FILES, calibrate
    from simulator.calibrate.twin import MAX_AGENTS
    from simulator.data import load_orders

    base = load_scenario(args.scenario)
    _check_out(args, CALIBRATION_FILES)
    log = load_orders(args.orders, columns=args.columns, date_format=args.date_format)
    show = not args.no_progress and sys.stderr.isatty()
    calibration = calibrate(
        base,
        log,
        holdout_days=args.holdout_days,
        calibration_end=args.calibration_end,
        seeds=args.seeds or 10,
        max_segments=args.max_segments,
        max_agents=args.agents or MAX_AGENTS,
        weight=args.log_scale,
        progress=(lambda message: print(message, file=sys.stderr)) if show else None,
    )
    print(calibration.to_text())
    _write_outputs(args, lambda: calibration.save(args.out, overwrite=args.overwrite))
    return EXIT_OK


def _replication_setup(args: argparse.Namespace) -> tuple[object, list[int], bool]:
    from simulator import load_scenario

    scenario = load_scenario(args.scenario).with_overrides(days=args.days, agents=args.agents)
    seeds = _chosen_seeds(args, scenario.seed)
    return scenario, seeds, not args.no_progress and sys.stderr.isatty()


def _replicate(args: argparse.Namespace) -> int:
    from simulator import Scenario
    from simulator.measure.replicate import REPLICATION_FILES, apply_patch, check_seeds, load_patch, replicate

    scenario, seeds, progress = _replication_setup(args)
    assert isinstance(scenario, Scenario)
    check_seeds(seeds)
    variants = {}
    for path in args.variant:
        if path.stem in variants:
            raise _UsageError(
                f"{path}: two variants are named '{path.stem}'; variant files need distinct names"
            )
        variants[path.stem] = apply_patch(scenario, load_patch(path), str(path))
    _check_out(args, REPLICATION_FILES)
    result = replicate(scenario, seeds, variants, workers=args.workers, progress=progress)
    print(result.to_text())
    _write_outputs(args, lambda: result.save(args.out, overwrite=args.overwrite))
    return EXIT_OK


def _incrementality(args: argparse.Namespace) -> int:
    from simulator import Scenario
    from simulator.measure.incrementality import (
        INCREMENTALITY_FILES,
        channel_variants,
        incrementality_text,
        measure_incrementality,
        save_incrementality,
    )
    from simulator.measure.replicate import check_seeds, replicate

    scenario, seeds, progress = _replication_setup(args)
    assert isinstance(scenario, Scenario)
    check_seeds(seeds)
    variants = channel_variants(scenario, args.channels, args.step)
    _check_out(args, INCREMENTALITY_FILES)
    runs = replicate(
        scenario, seeds, variants, workers=args.workers, progress=progress, label="incrementality"
    )
    table = measure_incrementality(runs, args.channels, args.step)
    print(incrementality_text(table, scenario.economics.currency))
    _write_outputs(args, lambda: save_incrementality(table, args.out, overwrite=args.overwrite))
    return EXIT_OK


def _allocate_on_curves(args: argparse.Namespace) -> int:
    from optimizer.external import EXTERNAL_FILES, allocate_on_curves

    if args.budget is None:
        raise _UsageError("allocate: --curves needs --budget (the total to split)")
    if args.scenario is not None or args.report:
        raise _UsageError("allocate: --curves takes no scenario and writes its own report.md (no --report)")
    _check_out(args, EXTERNAL_FILES)
    result = allocate_on_curves(args.curves, args.budget, solver=args.solver)
    print(result.text())
    _write_outputs(args, lambda: result.save(args.out, overwrite=args.overwrite))
    return EXIT_OK


def _allocate(args: argparse.Namespace) -> int:
    if args.curves is not None:
        if args.posterior is not None:
            raise _UsageError("allocate: --curves takes the curves as they are (no --posterior)")
        return _allocate_on_curves(args)
    if args.scenario is None and args.posterior is None:
        raise _UsageError("allocate: give a scenario file, or --curves FILE --budget B")
    from optimizer.allocate import ALLOCATION_FILES, allocate_budget, check_constraints
    from optimizer.settings import allocation_settings
    from simulator import ScenarioWarning, load_scenario
    from simulator.config.scenario import read_yaml_file

    posterior = _posterior(args)
    if posterior is not None and args.scenario is None:
        scenario = posterior.centre  # the calibrated centre, DIR/scenario.yaml
    else:
        scenario = load_scenario(args.scenario)
    scenario = scenario.with_overrides(seed=args.seed, days=args.days, agents=args.agents)
    posterior = posterior.for_scenario(scenario) if posterior is not None else None
    data, source = None, None
    if args.constraints is not None:
        source = str(args.constraints)
        data = read_yaml_file(args.constraints, "constraints")
        if isinstance(data, dict) and set(data) == {"allocation"}:
            data = data["allocation"]
    overrides: dict[str, object] = {
        "budget": args.budget,
        "objective": args.objective,
        "periods": args.periods,
        "guard_rails": args.guard_rail,
    }
    settings = allocation_settings(scenario, data, source, **overrides)
    with warnings.catch_warnings():  # errors now, before any output; allocate_budget warns once
        warnings.simplefilter("ignore", ScenarioWarning)
        check_constraints(scenario, settings, args.solver)
    if args.rounds is not None:
        loop = settings.closed_loop.model_dump() | {"rounds": args.rounds}
        settings = allocation_settings(
            scenario, settings.model_dump(mode="json") | {"closed_loop": loop}, source or str(args.scenario)
        )
    _check_out(args, ALLOCATION_FILES)
    progress = not args.no_progress and sys.stderr.isatty()
    result = allocate_budget(
        scenario, settings, workers=args.workers, solver=args.solver, progress=progress, posterior=posterior
    )
    print(result.to_text())
    _write_outputs(args, lambda: result.save(args.out, overwrite=args.overwrite))
    return EXIT_OK


def _optimize(args: argparse.Namespace) -> int:
    from optimizer.search import OPTIMIZATION_FILES, STUDY_FILE, optimize, search_settings
    from simulator import ScenarioError, load_scenario
    from simulator.common.secrets import mask_secrets, mask_url

    if args.seed_values is not None:
        raise _UsageError(
            "optimize: the trials' seeds follow --seed; give how many with --n-seeds N (--seeds lists seed "
            "values in replicate, incrementality, attribution and abtest)"
        )
    scenario = load_scenario(args.scenario).with_overrides(seed=args.seed, days=args.days, agents=args.agents)
    posterior = _posterior(args)
    posterior = posterior.for_scenario(scenario) if posterior is not None else None
    overrides: dict[str, object] = {
        "trials": args.trials,
        "seeds": args.seeds,
        "objective": args.objective,
        "guard_rails": args.guard_rail,
    }
    settings = search_settings(scenario, None, **overrides)
    if args.no_budget:
        settings = settings.model_copy(update={"budget": settings.budget.model_copy(update={"split": False})})
    if args.workers > 1 and args.storage is None and args.out is None:
        raise _UsageError("optimize: --workers above 1 needs --storage or --out (processes share a study)")
    if _resuming(args, STUDY_FILE):
        # Rerun means resume: the study continues and every output is refreshed, the report too.
        args.report = args.report or (args.out / "report.html").is_file()
        args.overwrite = True
    _check_out(args, OPTIMIZATION_FILES)
    storage, created = args.storage, False
    if args.out is not None:
        if storage is None:
            created = not args.out.exists()
            args.out.mkdir(parents=True, exist_ok=True)
            storage = f"sqlite:///{(args.out / STUDY_FILE).resolve()}"
    progress = not args.no_progress and sys.stderr.isatty()
    try:
        storage, location = _study_location(args, storage, scenario, settings)
        result = optimize(
            scenario,
            settings,
            storage=storage,
            study_name=args.study_name,
            workers=args.workers,
            solver=args.solver,
            progress=progress,
            posterior=posterior,
        )
    except ScenarioError:
        if created:  # bad input found before any trial ran: leave nothing behind
            shutil.rmtree(args.out, ignore_errors=True)
        raise
    except KeyboardInterrupt:
        kept = f"finished trials are kept in {mask_url(storage)}" if storage else "the study was in memory"
        print(f"interrupted; {kept}; rerun the same command to resume", file=sys.stderr)
        return 130
    if args.out is not None and args.storage is None:
        result.storage = f"sqlite:///{STUDY_FILE}"  # relative to the folder, as the report reads it
    elif storage is not None:
        result.storage = mask_url(storage)  # recommendation.json and the printout never hold a secret
    print(mask_secrets(result.to_text(), [storage]))
    print(location)
    _write_outputs(args, lambda: result.save(args.out, overwrite=args.overwrite))
    return EXIT_OK


def _study_location(
    args: argparse.Namespace, storage: str | None, scenario: Scenario, settings: SearchSettings
) -> tuple[str | None, str]:
    """The storage URL made absolute (the same file for every worker) and where the study is.

    Once the storage opens, where the study is and the ``optuna-dashboard`` command that watches
    it are said on standard error (to watch the trials while they run) and returned for the
    printout; a storage that does not open is the command's one-line error.
    """
    from optimizer.search import absolute_storage, check_storage, default_study_name, study_location

    storage = absolute_storage(storage) if storage is not None else None
    check_storage(storage)
    location = study_location(storage, args.study_name or default_study_name(scenario, settings))
    print(location, file=sys.stderr)
    return storage, location


def _resuming(args: argparse.Namespace, study_file: str) -> bool:
    """Whether ``optimize`` reruns into an ``--out`` folder that holds its study (kept there)."""
    return args.out is not None and args.storage is None and (args.out / study_file).is_file()


def _check_out(args: argparse.Namespace, files: Sequence[str]) -> None:
    """Refuse a bad ``--out`` (or ``--report`` without it) before the command's long work."""
    report = getattr(args, "report", False)
    if report and args.out is None:
        raise _UsageError(f"{args.command}: --report needs --out (the report is written next to the results)")
    if args.out is not None:
        from reports.report import REPORT_FILES
        from simulator.common.output import check_output_folder

        check_output_folder(args.out, args.overwrite, (*files, *(REPORT_FILES if report else ())))


def _write_outputs(args: argparse.Namespace, save: Callable[[], object]) -> None:
    """Write a command's results, and its report when asked, in one output transaction.

    Nothing appears in ``--out`` until the results and the report are all complete; an error
    or Ctrl-C before that leaves the folder as it was (docs/hardening.md).
    """
    if args.out is None:
        return
    from simulator.common.output import OutputTransaction

    with OutputTransaction(args.out, overwrite=args.overwrite) as transaction:
        save()
        if getattr(args, "report", False):
            from reports import build_report

            build_report(args.out, overwrite=args.overwrite)
    print(f"\nwrote {', '.join(str(p) for p in transaction.written)}")


def _report(args: argparse.Namespace) -> int:
    from reports import build_report

    written = build_report(args.folder, overwrite=args.overwrite)
    print(f"wrote {', '.join(str(p) for p in written)}")
    return EXIT_OK


def _abtest(args: argparse.Namespace) -> int:
    from simulator import load_scenario
    from simulator.measure.abtest import ABTEST_FILES, ab_test
    from simulator.measure.replicate import load_patch

    scenario = load_scenario(args.scenario).with_overrides(days=args.days, agents=args.agents)
    patch = load_patch(args.variant)
    seeds = _chosen_seeds(args, scenario.seed)
    _check_out(args, ABTEST_FILES)
    result = ab_test(
        scenario,
        patch,
        seeds,
        treatment_share=args.treatment_share,
        mde=args.mde,
        workers=args.workers,
        source=str(args.variant),
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    print(result.to_text())
    _write_outputs(args, lambda: result.save(args.out, overwrite=args.overwrite))
    return EXIT_OK


def _check_plausibility(args: argparse.Namespace) -> int:
    from simulator import load_scenario
    from simulator.measure.plausibility import PLAUSIBILITY_FILES, check_plausibility
    from simulator.measure.replicate import check_seeds

    scenario = load_scenario(args.scenario).with_overrides(days=args.days, agents=args.agents)
    seeds = check_seeds(args.seeds if args.seeds is not None else [scenario.seed + k for k in range(3)])
    _check_out(args, PLAUSIBILITY_FILES)
    progress = not args.no_progress and sys.stderr.isatty()
    report = check_plausibility(scenario, seeds, workers=args.workers, progress=progress)
    print(report.to_text())
    _write_outputs(args, lambda: report.save(args.out, overwrite=args.overwrite))
    return EXIT_OK


def _on_scheduler(args: argparse.Namespace, handler: Callable[[argparse.Namespace], int]) -> int:
    """Run the command with its executors on ``--scheduler`` (else the environment's, else local).

    A cluster is said on standard error first (workers, dashboard), or refused in one line
    when it does not answer, before any simulation.
    """
    from simulator.measure.executor import get_executor, use_scheduler

    scheduler = getattr(args, "scheduler", None)
    if not hasattr(args, "workers"):
        return handler(args)
    with use_scheduler(scheduler):
        where = get_executor(1, source=args.command).describe()
        if where is not None:
            print(where, file=sys.stderr)
        return handler(args)


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread so output transactions clean up as for Ctrl-C."""


def _on_sigterm(_signum: int, _frame: object) -> None:
    raise _Terminated()


def _interrupted(args: argparse.Namespace, what: str) -> str:
    """An honest line about what an interrupted command left behind."""
    from simulator.common.output import committed_folders

    done = committed_folders()
    if done:
        return f"{what} after the results were written completely to {', '.join(map(str, done))}"
    out = getattr(args, "out", None)
    if out is not None:
        return f"{what}; nothing was written to {out} (it is as it was before the command)"
    return f"{what}; nothing was written"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    from optimizer.external import CurvesError
    from reports import ReportError
    from simulator import ScenarioError, ScenarioWarning
    from simulator.common.output import OutputError
    from simulator.common.secrets import mask_secrets
    from simulator.customerbase import IdentificationError
    from simulator.data import MediaError, OrderLogError

    args = build_parser().parse_args(argv)
    handlers = {"simulate": _simulate, "validate": _validate, "schema": _schema, "attribution": _attribution}
    handlers["clv"] = _clv
    handlers |= {"replicate": _replicate, "incrementality": _incrementality, "allocate": _allocate}
    handlers |= {"abtest": _abtest, "report": _report, "optimize": _optimize}
    handlers["check-plausibility"] = _check_plausibility
    handlers["calibrate"] = _calibrate
    urls = [getattr(args, "storage", None)]

    def say(line: str) -> None:
        print(mask_secrets(" ".join(line.split("\n")), urls), file=sys.stderr)

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main_thread else None
    with warnings.catch_warnings():
        warnings.simplefilter("always", ScenarioWarning)
        warnings.showwarning = lambda message, *rest: say(f"warning: {message}")
        try:
            return _on_scheduler(args, handlers[args.command])
        except (
            ScenarioError,
            OutputError,
            ReportError,
            _UsageError,
            OrderLogError,
            MediaError,
            CurvesError,
            IdentificationError,
        ) as exc:
            say(f"error: {exc}")
            return EXIT_BAD_INPUT
        except KeyboardInterrupt:
            say(_interrupted(args, "interrupted"))
            return 130
        except _Terminated:
            say(_interrupted(args, "terminated (SIGTERM)"))
            return 143
        except BrokenPipeError:
            # The reader stopped reading (``| head``): no traceback, and nothing more to stdout.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            say(_interrupted(args, "stopped: the printout's reader closed it"))
            return 141
        except Exception as exc:  # noqa: BLE001 - the last line of defence prints one line, not a traceback
            say(f"internal error: {type(exc).__name__}: {exc} (please report it)")
            return EXIT_INTERNAL
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
