"""Benchmark of many worlds in one step (``simulator.engine.batch``) against worlds run one by one.

Usage::

    python3 benchmarks/bench_batch.py [--quick] [--scenario FILE]

1. Cost per shopper-day at 10k, 100k and 1M agents, levers off and every lever on, for the same
   worlds (seeds) stepped one after another (``CommerceModel.run``) and as one batch
   (``BatchModel.run``) in alternating rounds, the best round of each. Only the stepping is timed,
   as CPU time of the process (wall time beside it): on a shared machine CPU time leaves out the
   waits for a core. The target: batched, the cost per shopper-day at 10k within 1.5
   times the cost at 1M.
2. Time of a replication (``simulator.measure.replicate``: the scenario and a spend variant on
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_simulator import DEFAULT_SCENARIO, FLAT_BAND, _load, _machine, _pin_to_one_core
from bench_simulator import _launch as launch_worker

# (agents, days, worlds): the same worlds stepped alone and as one batch, `repeats` rounds each.
FULL_PLAN: dict[str, Any] = {
    "sizes": [(10_000, 30, 16), (100_000, 30, 4), (1_000_000, 30, 2)],
    "repeats": 3,
    "replications": (10_000, 365, 4),
}
QUICK_PLAN: dict[str, Any] = {
    "sizes": [(10_000, 10, 8), (100_000, 10, 2), (1_000_000, 10, 2)],
    "repeats": 2,
    "replications": (10_000, 90, 3),
}
MORE_SPEND = 1.2
"""The replication's variant: the first channel's daily spend times this."""


def _timed(run: Callable[[], object]) -> tuple[float, float]:
    """(CPU seconds of this process, wall seconds) of ``run()``."""
    cpu, wall = time.process_time(), time.perf_counter()
    run()
    return time.process_time() - cpu, time.perf_counter() - wall


def _step_worlds(spec: dict[str, Any]) -> dict[str, Any]:
    """Step ``worlds`` worlds (seeds 1, 2, ...) alone, then as one batch, ``repeats`` rounds.

    Only the stepping is timed; single and batched alternate so both see the same load.
    """
    from simulator.engine.batch import BatchModel, batch_size
    from simulator.engine.model import CommerceModel

    _, scenario = _load(spec)
    worlds = spec["worlds"]
    fits = batch_size(scenario, shoppers=None)
    if fits < worlds:
        raise SystemExit(f"only {fits} worlds of {spec['agents']:,} agents fit the memory budget")
    times: dict[str, list[tuple[float, float]]] = {"single": [], "batched": []}
    for _ in range(spec["repeats"]):
        cpu = wall = 0.0
        for seed in range(1, worlds + 1):
            model = CommerceModel(scenario, seed=seed)
            one = _timed(model.run)
            cpu, wall = cpu + one[0], wall + one[1]
            model.release()
        times["single"].append((cpu, wall))
        batch = BatchModel([CommerceModel(scenario, seed=seed) for seed in range(1, worlds + 1)])
        times["batched"].append(_timed(batch.run))
        batch.release()
    return {**spec, "times": times, "fits": fits}


def _replications(spec: dict[str, Any]) -> dict[str, Any]:
    """A replication (a scenario and a spend variant on ``seeds`` seeds, one worker), alone then batched."""
    from simulator.measure.replicate import replicate

    _, scenario = _load(spec)
    first = scenario.channels[0]
    variant = {"channels": {first.name: {"daily_spend": first.daily_spend * MORE_SPEND}}}
    seeds = list(range(1, spec["seeds"] + 1))
    out: dict[str, Any] = {}
    for mode, batch in (("single", 1), ("batched", None)):
        tables: list[str] = []

        def run(batch: int | None = batch, tables: list[str] = tables) -> None:
            result = replicate(scenario, seeds=seeds, variants={"more_spend": variant}, batch=batch)
            tables.append(result.runs.to_json(orient="split", double_precision=15))

        out[mode] = {"time": _timed(run), "runs": tables[0]}
    return {**spec, **out}


def worker_main(spec_json: str) -> None:
    spec = json.loads(spec_json)
    _pin_to_one_core()
    result = _step_worlds(spec) if spec["kind"] == "step" else _replications(spec)
    print(json.dumps(result))


def _launch(spec: dict[str, Any]) -> dict[str, Any]:
    label = f"{spec['kind']} {spec['levers']} levers, {spec['agents']:,} agents x {spec['days']} days"
    return launch_worker(spec, __file__, label)


def _cost_table(plan: dict[str, Any], scenario: str, levers: str) -> None:
    """Print single vs batched cost per shopper-day at each size, and the 10k / 1M ratios."""
    print(f"\nlevers: {'every lever on' if levers == 'all' else 'off (the core mechanisms)'}")
    print(f"{'agents':>10} {'days':>5} {'worlds':>6} {'single s':>15} {'batched s':>15}", end="")
    print(f" {'single ns/sh-d':>15} {'batched ns/sh-d':>16} {'speed-up':>8} {'fit':>5}")
    costs: dict[str, dict[int, float]] = {"single": {}, "batched": {}}
    for agents, days, worlds in plan["sizes"]:
        base = {"kind": "step", "scenario": scenario, "levers": levers, "agents": agents, "days": days}
        result = _launch({**base, "worlds": worlds, "repeats": plan["repeats"], "mode": "both"})
        best = {mode: min(result["times"][mode]) for mode in costs}
        for mode, (cpu, _) in best.items():
            costs[mode][agents] = cpu / (agents * days * worlds) * 1e9
        (single, single_wall), (batched, batched_wall) = best["single"], best["batched"]
        print(
            f"{agents:>10,} {days:>5} {worlds:>6} {single:>6.2f} ({single_wall:>6.2f}) "
            f"{batched:>6.2f} ({batched_wall:>6.2f}) {costs['single'][agents]:>15.1f} "
            f"{costs['batched'][agents]:>16.1f} {single / batched:>7.2f}x {result['fits']:>5}"
        )
    small, large = min(costs["single"]), max(costs["single"])
    for mode in costs:
        ratio = costs[mode][small] / costs[mode][large]
        verdict = "met" if ratio <= FLAT_BAND else "NOT met"
        print(
            f"{mode:>8}: cost per shopper-day at {small:,} / at {large:,} agents = {ratio:.2f} "
            f"(target when batched: <= {FLAT_BAND}; {verdict})"
        )


def _load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f} (1 / 5 / 15 min) on {os.cpu_count()} logical CPUs"


def driver_main(args: argparse.Namespace) -> None:
    plan = QUICK_PLAN if args.quick else FULL_PLAN
    scenario = str(Path(args.scenario).resolve())
    print("Many worlds in one step: worlds stepped one by one vs as one batch")
    print(f"machine: {_machine()}")
    print(f"load average at start: {_load_average()}")
    print(f"scenario: {scenario}\n")

    print("1. Cost per shopper-day, stepping only, one core: CPU time of the process (wall time")
    print(f"   in brackets), the best of {plan['repeats']} alternating rounds")
    for levers in ("none", "all"):
        _cost_table(plan, scenario, levers)

    agents, days, seeds = plan["replications"]
    print(f"\n2. Replication: {agents:,} agents x {days} days, base + spend variant, {seeds} seeds, 1 worker")
    base = {"kind": "replicate", "scenario": scenario, "levers": "all", "agents": agents, "days": days}
    reps = _launch({**base, "seeds": seeds, "mode": "both"})
    same = reps["single"]["runs"] == reps["batched"]["runs"]
    (single, single_wall), (batched, batched_wall) = reps["single"]["time"], reps["batched"]["time"]
    print(f"  runs alone (batch=1): {single:.2f} CPU s ({single_wall:.2f} wall)", end="")
    print(
        f"; default batches: {batched:.2f} CPU s ({batched_wall:.2f} wall); speed-up {single / batched:.2f}x"
    )
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
