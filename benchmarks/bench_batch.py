"""Benchmark of many worlds in one step (``simulator.engine.batch``) against worlds run one by one.

Usage::

    python3 benchmarks/bench_batch.py [--quick] [--scenario FILE]

1. Cost per shopper-day at 10k, 100k and 1M agents, every lever on, for the same worlds (seeds)
   stepped one after another (``CommerceModel.run``) and as one batch (``BatchModel.run``).
   Only the stepping is timed. The target: batched, the cost per shopper-day at 10k within 1.5
   times the cost at 1M.
2. Wall time of a replication (``simulator.measure.replicate``: the scenario and a spend variant on
   several seeds, one worker) with ``batch=1`` (every run alone) and the default batches, and
   whether the two give the same tables.

Every measurement runs in a fresh subprocess pinned to one core with one BLAS/OpenMP thread
(the helpers of ``bench_simulator.py``). The machine's load average is printed before and after:
on a shared machine other processes slow both columns alike, but the figures move with the load.
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from bench_simulator import DEFAULT_SCENARIO, FLAT_BAND, _load, _machine, _pin_to_one_core
from bench_simulator import _launch as launch_worker

# (agents, days, worlds): the same worlds stepped alone and as one batch.
FULL_PLAN: dict[str, Any] = {
    "sizes": [(10_000, 60, 16), (100_000, 60, 6), (1_000_000, 60, 2)],
    "replications": (10_000, 365, 4),
}
QUICK_PLAN: dict[str, Any] = {
    "sizes": [(10_000, 20, 8), (100_000, 20, 4), (1_000_000, 20, 2)],
    "replications": (10_000, 120, 3),
}
MORE_SPEND = 1.2
"""The replication's variant: the first channel's daily spend times this."""


def _step_worlds(spec: dict[str, Any]) -> dict[str, Any]:
    """Step ``worlds`` worlds (seeds 1, 2, ...) alone or as one batch; time the stepping only."""
    from simulator.engine.batch import BatchModel, batch_size
    from simulator.engine.model import CommerceModel

    _, scenario = _load(spec)
    worlds = spec["worlds"]
    fits = batch_size(scenario)
    if spec["mode"] == "batched" and fits < worlds:
        raise SystemExit(f"only {fits} worlds of {spec['agents']:,} agents fit the memory budget")
    seconds = 0.0
    if spec["mode"] == "single":
        for seed in range(1, worlds + 1):
            model = CommerceModel(scenario, seed=seed)
            start = time.perf_counter()
            model.run()
            seconds += time.perf_counter() - start
            model.release()
    else:
        batch = BatchModel([CommerceModel(scenario, seed=seed) for seed in range(1, worlds + 1)])
        start = time.perf_counter()
        batch.run()
        seconds = time.perf_counter() - start
        batch.release()
    return {**spec, "seconds": seconds, "fits": fits}


def _replications(spec: dict[str, Any]) -> dict[str, Any]:
    """One replication run (scenario and a spend variant on ``seeds`` seeds, one worker), timed."""
    from simulator.measure.replicate import replicate

    _, scenario = _load(spec)
    first = scenario.channels[0]
    variant = {"channels": {first.name: {"daily_spend": first.daily_spend * MORE_SPEND}}}
    start = time.perf_counter()
    result = replicate(
        scenario,
        seeds=list(range(1, spec["seeds"] + 1)),
        variants={"more_spend": variant},
        batch=1 if spec["mode"] == "single" else None,
    )
    seconds = time.perf_counter() - start
    runs = result.runs
    return {**spec, "seconds": seconds, "runs": runs.to_json(orient="split", double_precision=15)}


def worker_main(spec_json: str) -> None:
    spec = json.loads(spec_json)
    _pin_to_one_core()
    result = _step_worlds(spec) if spec["kind"] == "step" else _replications(spec)
    print(json.dumps(result))


def _launch(spec: dict[str, Any]) -> dict[str, Any]:
    label = f"{spec['kind']} {spec['mode']} {spec['agents']:,} agents x {spec['days']} days"
    return launch_worker(spec, __file__, label)


def _load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f} (1 / 5 / 15 min) on {os.cpu_count()} logical CPUs"


def driver_main(args: argparse.Namespace) -> None:
    plan = QUICK_PLAN if args.quick else FULL_PLAN
    scenario = str(Path(args.scenario).resolve())
    print("Many worlds in one step: worlds stepped one by one vs as one batch (every lever on)")
    print(f"machine: {_machine()}")
    print(f"load average at start: {_load_average()}")
    print(f"scenario: {scenario}\n")

    print("1. Cost per shopper-day (stepping only, one core)")
    header = f"{'agents':>10} {'days':>5} {'worlds':>6} {'single s':>9} {'batched s':>9}"
    print(header + f" {'single ns/sh-d':>15} {'batched ns/sh-d':>16} {'speed-up':>8} {'fit':>5}")
    costs: dict[str, dict[int, float]] = {"single": {}, "batched": {}}
    for agents, days, worlds in plan["sizes"]:
        base = {"kind": "step", "scenario": scenario, "levers": "all", "agents": agents, "days": days}
        timed = {mode: _launch({**base, "worlds": worlds, "mode": mode}) for mode in ("single", "batched")}
        shopper_days = agents * days * worlds
        for mode, result in timed.items():
            costs[mode][agents] = result["seconds"] / shopper_days * 1e9
        single, batched = timed["single"]["seconds"], timed["batched"]["seconds"]
        print(
            f"{agents:>10,} {days:>5} {worlds:>6} {single:>9.2f} {batched:>9.2f} "
            f"{costs['single'][agents]:>15.1f} {costs['batched'][agents]:>16.1f} {single / batched:>7.2f}x "
            f"{timed['batched']['fits']:>5}"
        )
    small, large = min(costs["single"]), max(costs["single"])
    print("\n`fit`: worlds of that size the memory budget allows in one batch (engine memory estimate).")
    for mode in ("single", "batched"):
        ratio = costs[mode][small] / costs[mode][large]
        verdict = "met" if ratio <= FLAT_BAND else "NOT met"
        print(
            f"{mode:>8}: cost per shopper-day at {small:,} / at {large:,} agents = {ratio:.2f} "
            f"(target for batched: <= {FLAT_BAND}; {verdict})"
        )

    agents, days, seeds = plan["replications"]
    print(f"\n2. Replication: {agents:,} agents x {days} days, base + spend variant, {seeds} seeds, 1 worker")
    base = {"kind": "replicate", "scenario": scenario, "levers": "all", "agents": agents, "days": days}
    reps = {mode: _launch({**base, "seeds": seeds, "mode": mode}) for mode in ("single", "batched")}
    same = reps["single"]["runs"] == reps["batched"]["runs"]
    single, batched = reps["single"]["seconds"], reps["batched"]["seconds"]
    print(f"  runs alone (batch=1): {single:.2f} s; default batches: {batched:.2f} s", end="")
    print(f"; speed-up {single / batched:.2f}x")
    print(f"  same replication tables: {'yes' if same else 'NO'}")
    print(f"\nload average at end: {_load_average()}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter horizons and fewer worlds")
    parser.add_argument("--scenario", default=str(DEFAULT_SCENARIO), help="scenario file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args.worker)
    else:
        driver_main(args)


if __name__ == "__main__":
    main()
