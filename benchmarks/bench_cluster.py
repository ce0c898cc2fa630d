"""Benchmark of the Dask backend: replications on a cluster of one and of two worker processes.

Usage::

    python3 benchmarks/bench_cluster.py [--scenario FILE] [--agents 20000] [--days 180]
                                        [--seeds 8] [--quick]

Starts a real Dask scheduler on localhost with one worker process (one thread), warms the
worker up (imports, one short run), and times :func:`simulator.measure.replicate.replicate` of
the scenario over ``--seeds`` seeds through the cluster (``use_scheduler``); then the same with
two worker processes, and once in this process without Dask for reference. Prints the wall time
of each, the speed-up of two workers over one, whether it meets the target (at least 1.8x),
each worker's CPU time and the cores the workers obtained (CPU time / wall time: other work on
the machine takes cores from them), checks that every run gives the same tables, and the load
average. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _path in (str(ROOT), str(ROOT / "tests")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from dask_cluster import local_cluster  # noqa: E402

from simulator import ScenarioWarning, load_scenario  # noqa: E402
from simulator.config.scenario import Scenario  # noqa: E402
from simulator.measure.executor import use_scheduler  # noqa: E402
from simulator.measure.replicate import ReplicationResult, replicate  # noqa: E402

TARGET_SPEEDUP = 1.8


def _timed(scenario: Scenario, seeds: list[int], scheduler: str | None) -> tuple[float, ReplicationResult]:
    with use_scheduler(scheduler):
        started = time.perf_counter()
        result = replicate(scenario, seeds)
        return time.perf_counter() - started, result


def _cpu_seconds(address: str) -> dict[str, float]:
    """CPU time used so far by each worker process (seconds)."""
    from distributed import Client

    with Client(address, timeout=30, set_as_default=False) as client:
        return {str(worker): float(value) for worker, value in client.run(time.process_time).items()}


def _on_cluster(
    workers: int, scenario: Scenario, seeds: list[int]
) -> tuple[float, ReplicationResult, list[float]]:
    """Wall time of the replications on ``workers`` worker processes, and each one's CPU time."""
    with local_cluster(workers) as address:
        warm = scenario.with_overrides(days=5)
        _timed(warm, list(range(1000, 1000 + 2 * workers)), address)  # imports and first run on each worker
        before = _cpu_seconds(address)
        wall, result = _timed(scenario, seeds, address)
        after = _cpu_seconds(address)
        return wall, result, [after[worker] - before[worker] for worker in sorted(after)]


def _cores(cpu: list[float], wall: float) -> str:
    """Each worker's CPU seconds, and the cores the workers got (CPU time / wall time)."""
    shown = ", ".join(f"{seconds:.1f}" for seconds in cpu)
    return f"worker CPU s: {shown}; cores obtained {sum(cpu) / wall:.2f}"


def _load() -> str:
    return f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "n/a"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=str(ROOT / "scenarios" / "omnichannel_retailer.yaml"))
    parser.add_argument("--agents", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--seeds", type=int, default=8, help="replications (tasks) per timing")
    parser.add_argument("--quick", action="store_true", help="10,000 agents, 90 days, 4 seeds")
    args = parser.parse_args()
    if args.quick:
        args.agents, args.days, args.seeds = 10_000, 90, 4

    warnings.simplefilter("ignore", ScenarioWarning)
    scenario = load_scenario(args.scenario).with_overrides(agents=args.agents, days=args.days)
    seeds = list(range(1, args.seeds + 1))
    print(
        f"{scenario.name}: {scenario.population.agents:,} agents, {scenario.horizon_days} days, "
        f"{len(seeds)} replications; {os.cpu_count()} CPUs; load average {_load()} at the start"
    )
    local, reference = _timed(scenario, seeds, None)
    print(f"  in this process, no Dask     {local:8.1f} s", flush=True)
    one, first, cpu = _on_cluster(1, scenario, seeds)
    print(f"  Dask, 1 worker process       {one:8.1f} s   {_cores(cpu, one)}", flush=True)
    two, second, cpu = _on_cluster(2, scenario, seeds)
    print(f"  Dask, 2 worker processes     {two:8.1f} s   {_cores(cpu, two)}", flush=True)
    speedup = one / two
    same = all(
        r.runs.equals(reference.runs) and r.channels.equals(reference.channels) for r in (first, second)
    )
    verdict = "MET" if speedup >= TARGET_SPEEDUP else "NOT MET"
    print(f"speed-up of 2 workers over 1: {speedup:.2f}x (target at least {TARGET_SPEEDUP}x: {verdict})")
    print(f"Dask overhead with 1 worker against this process: {one / local - 1:+.1%}")
    print(f"same tables in all three runs: {'yes' if same else 'NO'}; load average {_load()} at the end")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
