"""Ten-million-shopper markets: time and peak memory of one large run, against the memory estimate.

Usage::

    python3 benchmarks/bench_scale.py                          # 10M agents x 365 days, every lever on
    python3 benchmarks/bench_scale.py --agents 100000 1000000 3000000
    python3 benchmarks/bench_scale.py --agents 1000000 --paths # with touch paths recorded

Each size runs in a fresh Python subprocess, as ``run.py simulate --out`` does: the memory check
(:func:`simulator.engine.simulate.check_memory`, with its pilot run above 500k agents), the
simulation with every lever on (the scenario's policies plus referral, service, simpler checkout,
group buying and a flash sale: ``bench_simulator.py``'s set), then the results written into a
temporary folder (Parquet above 1M agents, the default of ``--format``). Printed per size: the
estimate (the process's resident memory before the run plus
:func:`~simulator.engine.simulate.estimate_run_memory`), the measured peak resident memory of the
process (``VmHWM`` on Linux, bench_simulator's ``_peak_rss_bytes``), their ratio, the times,
orders and touches. See benchmarks/README.md and docs/scale.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _path in (str(ROOT), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

DEFAULT_SCENARIO = ROOT / "scenarios" / "omnichannel_retailer.yaml"
TOLERANCE = 0.10
"""The estimate should be within 10% of the measured peak."""
TARGET_PEAK_BYTES = 8 * 2**30
"""Peak memory target of the 10M-agent year (bytes)."""
MIB = 2**20


def run_one(spec: dict[str, Any]) -> dict[str, Any]:
    """One measured run (in this process): estimate, simulate, write; peak memory and times."""
    from bench_simulator import _load, _peak_rss_bytes

    from simulator import simulate
    from simulator.common.tables import default_table_format
    from simulator.engine.simulate import check_memory, estimate_run_memory, process_memory_bytes

    _, scenario = _load({"scenario": spec["scenario"], "levers": "all", **spec})
    paths = bool(spec["paths"])
    t0 = time.perf_counter()
    check_memory(scenario, spec["scenario"], record_paths=paths)  # with its pilot run above 500k agents
    estimate = estimate_run_memory(scenario, paths)
    t1 = time.perf_counter()
    held = process_memory_bytes()
    result = simulate(scenario, record_paths=paths)
    t2 = time.perf_counter()
    table_format = default_table_format(scenario.simulated_agents)
    with tempfile.TemporaryDirectory(dir=spec.get("tmp")) as folder:
        written = result.save(Path(folder) / "out", table_format=table_format)
        if paths and result.paths is not None:
            from simulator.common.tables import write_table

            write_table(result.paths.touches, Path(folder) / f"touches.{table_format}", index=False)
        size = sum(path.stat().st_size for path in written)
    t3 = time.perf_counter()
    return {
        "agents": scenario.simulated_agents,
        "days": scenario.horizon_days,
        "paths": paths,
        "orders": len(result.orders),
        "touches": 0 if result.paths is None else len(result.paths.touches),
        "held": held,
        "estimate": held + estimate.total,
        "parts": {k: getattr(estimate, k) for k in ("shoppers", "working", "orders", "touches", "ledgers")},
        "peak": _peak_rss_bytes(),
        "check_s": t1 - t0,
        "simulate_s": t2 - t1,
        "write_s": t3 - t2,
        "format": table_format,
        "written_bytes": size,
    }


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"run of {spec['agents']:,} agents failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, nargs="+", default=[10_000_000])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--scenario", default=str(DEFAULT_SCENARIO))
    parser.add_argument("--paths", action="store_true", help="record touch paths (as attribution does)")
    parser.add_argument("--tmp", help="folder for the temporary results (default: the system's)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(json.loads(args.child))))
        return
    print(
        f"{args.scenario}: {args.days} days, every lever on, touch paths {'on' if args.paths else 'off'}; "
        f"python {sys.version.split()[0]}, {os.cpu_count()} cpus"
    )
    header = (
        f"{'agents':>11s} {'orders':>11s} {'touches':>11s} {'estimate MiB':>12s} {'peak MiB':>9s} "
        f"{'est/peak':>8s} {'check s':>8s} {'simulate s':>10s} {'write s':>8s} {'format':>7s}"
    )
    print(header)
    rows = []
    for agents in args.agents:
        spec = {"scenario": args.scenario, "agents": agents, "days": args.days}
        spec.update(paths=args.paths, tmp=args.tmp)
        row = _child(spec)
        rows.append(row)
        ratio = row["estimate"] / row["peak"]
        print(
            f"{row['agents']:>11,} {row['orders']:>11,} {row['touches']:>11,} "
            f"{row['estimate'] / MIB:>12,.0f} "
            f"{row['peak'] / MIB:>9,.0f} {ratio:>8.3f} {row['check_s']:>8.1f} {row['simulate_s']:>10.1f} "
            f"{row['write_s']:>8.1f} {row['format']:>7s}",
            flush=True,
        )
        parts = ", ".join(f"{k} {v / MIB:,.0f}" for k, v in row["parts"].items())
        held = row["held"] / MIB
        print(f"{'':>11s} estimate = process before the run {held:,.0f} MiB + {parts} MiB", flush=True)
    print()
    for row in rows:
        ratio = row["estimate"] / row["peak"]
        verdict = "MET" if abs(ratio - 1) <= TOLERANCE else "NOT MET"
        print(f"estimate within 10% of the peak at {row['agents']:,} agents: {ratio:.3f} -> {verdict}")
        if row["agents"] >= 10_000_000:
            below = "MET" if row["peak"] < TARGET_PEAK_BYTES else "NOT MET"
            print(
                f"peak memory under 8 GiB at {row['agents']:,} agents x {row['days']} days: "
                f"{row['peak'] / 2**30:.2f} GiB -> {below}; "
                f"time {row['check_s'] + row['simulate_s'] + row['write_s']:,.0f} s"
            )


if __name__ == "__main__":
    main()
