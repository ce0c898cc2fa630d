"""Benchmark of ``calibrate --media``: 5 channels, two years of daily history, 10k agents.

Usage::

    python3 benchmarks/bench_calibrate_media.py [--workers N] [--seeds N] [--quick]

The world is the media-calibration recovery world (``tests/fixtures/media/truth.yaml``: search
flights, social pauses, display steps up, radio constant) with a fifth channel, ``video``, whose
spend steps every quarter; its orders and daily media history are simulated (untimed) and the
calibration starts from the same world with every channel's ``awareness_per_impression`` at 0.01
(the README example's prior). Timed: :func:`simulator.calibrate.calibrate_media` as
``run.py calibrate --media`` runs it (3 emulator seeds, 2 iterations, 200 members, the last 16
weeks held out) on ``--workers`` processes, with one progress line per round on standard error.

Then the same at 5k agents and one year (8 hold-out weeks), to show how the cost scales: every
calibration makes ``(1 + 2 x channels + lift tests) x seeds x iterations`` runs of the whole
history, each a ``simulate`` of it, so the cost should follow agents x days. The output gives the
wall time, the number of runs, seconds per run and nanoseconds per shopper-day of each size, and
the load average before and after (the machine may be shared). Target (issue 16): the full size
under 20 minutes on 2 cores. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import simulator as sim  # noqa: E402
from simulator.calibrate import calibrate_media  # noqa: E402
from simulator.config.scenario import Scenario, parse_scenario  # noqa: E402
from simulator.data import load_media, load_orders  # noqa: E402

TRUTH = ROOT / "tests" / "fixtures" / "media" / "truth.yaml"
BASE_AWARENESS = 0.01
WORLD_SEED = 5
TARGET_SECONDS = 20 * 60


def world(agents: int, days: int) -> Scenario:
    """The recovery world with a fifth channel (video, quarterly spend steps) at the given size."""
    data = (
        sim.load_scenario(TRUTH)
        .with_overrides(agents=agents, days=days)
        .model_dump(mode="json", exclude_none=True)
    )
    data["channels"].append(
        {
            "name": "video",
            "kind": "social",
            "pricing": "cpm",
            "cost_per_mille": 12,
            "click_through_rate": 0.003,
            "awareness_per_impression": 0.008,
            "carryover": 0.5,
            "checkout_friction": 0.6,
            "daily_spend": 40,
            "budget_plan": [
                {
                    "start_day": start,
                    "end_day": min(start + 90, days - 1),
                    "daily_spend": 40.0 + 40.0 * (q % 3),
                }
                for q, start in enumerate(range(0, days, 91))
            ],
        }
    )
    for persona in data["population"]["personas"].values():
        persona["channel_affinity"]["video"] = 1.0
    return parse_scenario(data, f"benchmark world ({agents} agents, {days} days)")


def base_of(truth: Scenario) -> Scenario:
    """The world with every channel's awareness per impression at the prior guess."""
    data = truth.model_dump(mode="json", exclude_none=True)
    for channel in data["channels"]:
        channel["awareness_per_impression"] = BASE_AWARENESS
    return parse_scenario(data, "benchmark base")


def measure(agents: int, days: int, holdout: int, seeds: int, workers: int) -> dict[str, Any]:
    """Simulate the world (untimed), then time its media calibration."""
    truth = world(agents, days)
    with tempfile.TemporaryDirectory() as folder:
        sim.simulate(truth, seed=WORLD_SEED).save(folder, overwrite=True)
        log = load_orders(Path(folder) / "orders.csv", today="2030-01-01")
        media = load_media(Path(folder) / "media.csv")
    print(f"{agents:,} agents x {days} days: calibrating {len(truth.channels)} channels", file=sys.stderr)
    started = time.perf_counter()
    cpu = time.process_time()
    result = calibrate_media(
        base_of(truth),
        log,
        media,
        holdout_weeks=holdout,
        seeds=list(range(1, seeds + 1)),
        weight=truth.population.scale,
        workers=workers,
        on_round=lambda line: print(f"  {line}", file=sys.stderr, flush=True),
    )
    wall = time.perf_counter() - started
    runs = int(result.summary["runs"])
    return {
        "agents": agents,
        "days": days,
        "channels": len(truth.channels),
        "runs": runs,
        "wall": wall,
        "parent_cpu": time.process_time() - cpu,
        "per_run": wall / runs,
        "ns_per_shopper_day": wall * workers / (runs * agents * days) * 1e9,
        "holdout": result.summary["holdout"],
        "identified": int(result.channels["identified"].sum()),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--seeds", type=int, default=3, help="emulator seeds (default 3)")
    parser.add_argument("--quick", action="store_true", help="only the small size")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", sim.ScenarioWarning)  # the shorter size drops later budget periods
    load_before = os.getloadavg()
    sizes = [(5_000, 364, 8)] if args.quick else [(10_000, 728, 16), (5_000, 364, 8)]
    rows = [measure(agents, days, holdout, args.seeds, args.workers) for agents, days, holdout in sizes]
    load_after = os.getloadavg()
    print(f"calibrate --media, {args.workers} workers, {args.seeds} seeds, 2 iterations, 200 members")
    print(f"load average before {load_before[0]:.1f} / {load_before[1]:.1f}, after {load_after[0]:.1f}")
    print(
        f"{'agents x days':>16} {'channels':>8} {'runs':>5} {'wall s':>8} {'s/run':>7} "
        f"{'ns/shopper-day':>14} {'hold-out MAPE':>13} {'coverage':>8} {'identified':>10}"
    )
    for row in rows:
        check = row["holdout"] or {"mape": float("nan"), "coverage": float("nan")}
        print(
            f"{row['agents']:>8,} x {row['days']:>4} {row['channels']:>8} {row['runs']:>5} "
            f"{row['wall']:>8.1f} {row['per_run']:>7.2f} {row['ns_per_shopper_day']:>14.0f} "
            f"{check['mape']:>13.1%} {check['coverage']:>8.0%} {row['identified']:>7}/{row['channels']}"
        )
    if len(rows) == 2:
        big, small = rows
        size = big["agents"] * big["days"] / (small["agents"] * small["days"])
        print(
            f"scaling: {size:.0f}x the shopper-days cost {big['wall'] / small['wall']:.2f}x the wall time "
            f"(same runs: {big['runs']} and {small['runs']}); cost ~ runs x agents x days, "
            f"runs = (1 + 2 x channels + lift tests) x seeds x iterations"
        )
        verdict = "met" if big["wall"] < TARGET_SECONDS else "MISSED"
        limit = TARGET_SECONDS // 60
        print(f"target: {big['agents']:,} agents x {big['days']} days under {limit} min: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
