"""Benchmark of the README's ``allocate`` example against one simulated year, in the same run.

Usage::

    python3 benchmarks/bench_allocate.py [--scenario FILE] [--agents 10000] [--workers 2]
                                         [--repeats 3] [--seed 1]

Runs, as a strategist would, ``run.py simulate SCENARIO --agents N --out TMP`` (one simulated
year of the scenario's horizon) ``--repeats`` times, then the README example ``run.py allocate
SCENARIO --agents N --workers W --out TMP``, each in a fresh process, and prints the wall time of
each, what the allocation simulated (curve points and closed-loop rounds, from its files), and the
ratio of the allocation's wall time to the median simulated year. Target (issue 17): the
allocation within 10 times one simulated year. The simulated year is timed two ways: the whole
``simulate`` command (process start, imports, writing its files: the same kind of work as the
``allocate`` command) and its stepping alone (``simulate()`` in this process); the target is
read on the first, and the ratio to the second is printed too. The load average is printed
before and after, since other work on the machine slows both. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_SCENARIO = ROOT / "scenarios" / "omnichannel_retailer.yaml"
TARGET_RATIO = 10.0
"""The allocation should take at most this many simulated years (issue 17)."""


def _command(arguments: list[str]) -> float:
    """Wall time of ``run.py ARGUMENTS`` in a fresh process (seconds); stops on failure."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), *arguments], capture_output=True, text=True, cwd=ROOT
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"run.py {' '.join(arguments)} failed ({done.returncode}): {done.stderr.strip()}")
    return wall


def _stepping(scenario_file: Path, agents: int, seed: int) -> float:
    """Wall time of ``simulate()`` of the scenario at ``agents`` in this process (seconds)."""
    from simulator import load_scenario, simulate

    scenario = load_scenario(scenario_file).with_overrides(agents=agents, seed=seed)
    with warnings.catch_warnings():  # the short warm-up leaves campaigns out: not news here
        warnings.simplefilter("ignore")
        simulate(scenario.with_overrides(days=5))  # warm-up: imports and first-call costs
    started = time.perf_counter()
    simulate(scenario)
    return time.perf_counter() - started


def _work(out: Path, allocation: dict[str, object]) -> str:
    """What the allocation simulated: curve points, closed-loop rounds and check seeds."""
    points = len(pd.read_csv(out / "response_measurements.csv"))
    rounds = len(allocation.get("closed_loop") or [])  # type: ignore[arg-type]
    return (
        f"{points} curve points (channel x level), {rounds} closed-loop round(s), "
        f"{allocation.get('seeds')} paired seeds per plan evaluation"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO)
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cpus")
    with tempfile.TemporaryDirectory() as tmp:
        years = []
        for repeat in range(args.repeats):
            out = Path(tmp) / f"sim{repeat}"
            command = ["simulate", str(args.scenario), "--agents", str(args.agents), "--seed", str(args.seed)]
            years.append(_command([*command, "--out", str(out), "--no-progress"]))
            print(f"simulate, one year at {args.agents:,} agents: {years[-1]:.1f} s", flush=True)
        stepping = _stepping(args.scenario, args.agents, args.seed)
        print(f"simulate() in this process (stepping and results only): {stepping:.2f} s", flush=True)
        out = Path(tmp) / "alloc"
        command = [
            "allocate",
            str(args.scenario),
            "--agents",
            str(args.agents),
            "--workers",
            str(args.workers),
        ]
        allocation_wall = _command([*command, "--seed", str(args.seed), "--out", str(out), "--no-progress"])
        allocation = json.loads((out / "allocation.json").read_text())
        work = _work(out, allocation)
    year = statistics.median(years)
    ratio = allocation_wall / year
    print(f"allocate --workers {args.workers}: {allocation_wall:.1f} s; {work}")
    print(f"ratio to one simulated year (the simulate command, median of {args.repeats}): {ratio:.1f}")
    print(f"ratio to simulate() alone: {allocation_wall / stepping:.1f}")
    verdict = "MET" if ratio <= TARGET_RATIO else "NOT MET"
    print(f"target: allocate within {TARGET_RATIO:g} simulated years -> {verdict}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
