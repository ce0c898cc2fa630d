"""Benchmark of ``optimize`` end to end: policy search, budget split and the final check.

Usage::

    python3 benchmarks/bench_optimize.py [--scenario FILE] [--trials 100] [--seeds 3]
                                         [--agents N] [--days N] [--workers 2] [--storage URL]

Runs :func:`optimizer.optimize` on the scenario (default: the omnichannel retailer, 5 channels,
100,000 agents, 365 days) with default search ranges, ``--trials`` trials of ``--seeds`` paired
seeds each, ``--workers`` worker processes sharing an SQLite study (a fresh file in a temporary
folder unless ``--storage`` is given: with one, a rerun resumes), median pruning every 30 days.
Prints the wall time of each stage and splits the search into time spent simulating (summed
over the trials, in process-seconds) and the rest (sampler, pruner, storage), and the target
(end to end under 10 minutes on a 2-core machine) with MET or NOT MET. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from optimizer.search import optimize, search_settings  # noqa: E402
from simulator import ScenarioWarning, load_scenario  # noqa: E402

TARGET_SECONDS = 300.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=str(ROOT / "scenarios" / "omnichannel_retailer.yaml"))
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--agents", type=int)
    parser.add_argument("--days", type=int)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--storage", help="study storage URL (default: a new SQLite file)")
    args = parser.parse_args()

    warnings.simplefilter("ignore", ScenarioWarning)
    scenario = load_scenario(args.scenario).with_overrides(agents=args.agents, days=args.days)
    settings = search_settings(scenario, None, trials=args.trials, seeds=args.seeds)
    with tempfile.TemporaryDirectory() as folder:
        storage = args.storage or f"sqlite:///{Path(folder) / 'study.db'}"
        print(
            f"{scenario.name}: {len(scenario.channels)} channels, {scenario.population.agents:,} agents, "
            f"{scenario.horizon_days} days; {args.trials} trials x {args.seeds} seeds, "
            f"{len(settings.parameters or {})} parameters, {args.workers} worker(s), {os.cpu_count()} CPUs; "
            f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )
        started = time.perf_counter()
        result = optimize(scenario, settings, storage=storage, workers=args.workers, progress=True)
        total = time.perf_counter() - started
    t = result.timings
    trials = result.trials
    finished = trials[trials["state"].isin(["COMPLETE", "PRUNED"])]
    pruned = int((finished["state"] == "PRUNED").sum())
    full = finished.loc[finished["state"] == "COMPLETE", "sim_seconds"]
    simulation = t["trial_simulation"] + t["curves"] + t["selection"] + t["check"]
    print(f"trials: {len(finished)} finished, {pruned} pruned early ({pruned / max(len(finished), 1):.0%})")
    print(f"  a complete trial simulates for {full.median():.1f} s (median, {args.seeds} seeds in turn)")
    print(f"search      {t['search_wall']:8.1f} s wall")
    print(f"  simulation  {t['trial_simulation']:8.1f} process-s (inside trials)")
    print(f"  optimizer   {t['search_overhead']:8.1f} process-s (sampler, pruner, storage, waiting)")
    print(f"curves      {t['curves']:8.1f} s (response curves of the best policy)")
    print(f"LP          {t['lp']:8.2f} s")
    print(f"selection   {t['selection']:8.1f} s (candidates on fresh paired seeds)")
    print(f"check       {t['check']:8.1f} s (chosen vs current on fresh paired seeds)")
    print(f"total       {total:8.1f} s wall; simulation stages {simulation:.0f} s, LP and sampling the rest")
    change = result.comparison.loc["profit"]
    print(
        f"profit change {change['change']:,.0f} [{change['change_low']:,.0f}, {change['change_high']:,.0f}] "
        f"({result.significance('profit')})"
    )
    print(f"verdict: {result.verdict.line()}")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    verdict = "MET" if total < TARGET_SECONDS else "NOT MET"
    print(f"target: under {TARGET_SECONDS:.0f} s end to end: {verdict} ({total:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
