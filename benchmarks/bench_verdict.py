"""Audit of the allocation verdict: is a recommended plan ever worse on seeds it never saw?

Usage::

    python3 benchmarks/bench_verdict.py [--quick] [--workers N] [--fresh-seeds N]

Runs ``allocate`` (objective ``profit``, the scenario's own allocation settings) on the three
bundled scenarios at small sizes (5k-10k agents, 60-365 days, different seeds): 12 runs, or 3
with ``--quick``. Each run's plan - the plan recommended, or the plan tested when the verdict is
``keep current plan`` or ``not confirmed`` - is then simulated against the current plan on
``--fresh-seeds`` further paired seeds, far from every seed the allocation used (the scenario's
seed + 900,000 onwards), and the paired change of profit is reported with its 95% interval.

A run fails the audit when its verdict is ``recommend`` and the fresh check is significantly
worse than the current plan (the interval of the change lies below 0). The script prints one
row per run and the count of failures; it exits 1 when there is any. No figures are stored:
run it and read the output (benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from optimizer import allocate_budget  # noqa: E402
from optimizer.curves import apply_plan  # noqa: E402
from optimizer.objectives import metric_frame, paired_changes  # noqa: E402
from simulator import Scenario, load_scenario  # noqa: E402
from simulator.measure.replicate import BASELINE, replicate  # noqa: E402

FRESH_OFFSET = 900_000
RUNS = [
    # scenario, agents, days, seed
    ("omnichannel_retailer", 5_000, 60, 1),
    ("omnichannel_retailer", 5_000, 180, 2),
    ("omnichannel_retailer", 10_000, 365, 3),
    ("omnichannel_retailer", 10_000, 120, 4),
    ("fashion_social_brand", 5_000, 60, 5),
    ("fashion_social_brand", 5_000, 180, 6),
    ("fashion_social_brand", 10_000, 365, 7),
    ("fashion_social_brand", 10_000, 120, 8),
    ("electronics_marketplace", 5_000, 60, 9),
    ("electronics_marketplace", 5_000, 180, 10),
    ("electronics_marketplace", 10_000, 365, 11),
    ("electronics_marketplace", 10_000, 120, 12),
]


def _fresh_check(scenario: Scenario, plan: dict[str, float], seeds: list[int], workers: int) -> pd.Series:
    """Paired profit change of ``plan`` against the current plan on ``seeds``."""
    current = replicate(scenario, seeds, {}, workers=workers, label="fresh check").runs
    planned = replicate(apply_plan(scenario, plan), seeds, {}, workers=workers, label="fresh check").runs
    runs = pd.concat(
        {
            BASELINE: metric_frame(current).xs(BASELINE, level="variant"),
            "plan": metric_frame(planned).xs(BASELINE, level="variant"),
        },
        names=["variant"],
    )
    return paired_changes(runs, "plan").loc["profit"]


def _interval(row: pd.Series, name: str) -> str:
    return f"{row[name]:+,.0f} [{row[name + '_low']:+,.0f}, {row[name + '_high']:+,.0f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 runs (one per scenario) instead of 12")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--fresh-seeds", type=int, default=10)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # short horizons drop campaigns, by design of the audit
    runs = RUNS[::4] if args.quick else RUNS
    rows = []
    for name, agents, days, seed in runs:
        started = time.perf_counter()
        scenario = load_scenario(ROOT / "scenarios" / f"{name}.yaml").with_overrides(
            agents=agents, days=days, seed=seed
        )
        result = allocate_budget(scenario, workers=args.workers)
        plan = {str(c): float(v) for c, v in result.table["recommended_spend"].items()}
        moved = any(abs(plan[c] - float(result.table.loc[c, "current_spend"])) > 1e-9 for c in plan)
        check = result.comparison.loc["profit"]
        fresh_seeds = [seed + FRESH_OFFSET + i for i in range(args.fresh_seeds)]
        fresh = _fresh_check(scenario, plan, fresh_seeds, args.workers) if moved else None
        worse = fresh is not None and float(fresh["change_high"]) < 0
        rows.append(
            {
                "scenario": name,
                "agents": agents,
                "days": days,
                "seed": seed,
                "verdict": result.verdict.decision,
                "check change": _interval(check, "diff"),
                "fresh change": "plan = current" if fresh is None else _interval(fresh, "change"),
                "fresh significantly worse": "yes" if worse else "no",
                "failure": result.verdict.decision == "recommend" and worse,
                "seconds": round(time.perf_counter() - started),
            }
        )
        print(pd.DataFrame(rows[-1:]).to_string(index=False, header=len(rows) == 1), flush=True)
    table = pd.DataFrame(rows)
    print()
    shown = table.drop(columns="failure")
    print("| " + " | ".join(shown.columns) + " |")
    print("|" + "---|" * len(shown.columns))
    for row in shown.itertuples(index=False):
        print("| " + " | ".join(str(v) for v in row) + " |")
    failures = int(table["failure"].sum())
    print(
        f"\n{len(table)} runs, {int((table['verdict'] == 'recommend').sum())} recommend, "
        f"{failures} recommended plans significantly worse on {args.fresh_seeds} fresh seeds"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
