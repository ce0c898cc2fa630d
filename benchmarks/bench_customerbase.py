"""Benchmark of the order-log loader and the customer-base models: 1M orders of 100k customers.

Usage::

    python3 benchmarks/bench_customerbase.py [--quick] [--customers N] [--seed N]

The log comes from the independent generator of the tests (``tests/test_customerbase_generator.py``):
two BG/NBD segments, three years of orders with times of day, gamma-gamma spend; written as CSV
and Parquet (untimed). Then, timed on one core (the process is pinned to one CPU and the
BLAS/OpenMP/Arrow thread pools are set to one thread before numpy is imported): loading each
file, the calibration/hold-out split (by day, the default), and the fits of BG/NBD, gamma-gamma,
Pareto/NBD and a 2-segment latent-class BG/NBD with their standard errors, then the diagnostics.
The CPU is the one named by the environment variable ``BENCH_CORE``, else the last available.
The target (issue 15): loading and fitting 1M orders of 100k customers under 30 s on one core.

Then the customer-base twin of those customers (``--twin``, default on): built on the omnichannel
retailer, its engine factors measured (untimed); timed: building the twin's model (reading the
history file, the posterior draws, the population) against building the bundled scenario's
model at the same number of agents, and simulating both for a year (targets: the twin built in
under 5 s; the twin simulates as fast as a bundled scenario of the same size).
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
for _variable in THREAD_VARIABLES:  # one core: set before numpy is imported
    os.environ[_variable] = "1"
# One CPU: the one named by BENCH_CORE, else the last one this process may use.
CORE = (
    int(os.environ.get("BENCH_CORE", max(os.sched_getaffinity(0))))
    if hasattr(os, "sched_getaffinity")
    else None
)
if CORE is not None:
    os.sched_setaffinity(0, {CORE})

ROOT = Path(__file__).resolve().parent.parent
for _path in (str(ROOT), str(ROOT / "tests")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from test_customerbase_generator import Segment, generate  # noqa: E402

from simulator.customerbase import (  # noqa: E402
    conditional_expectations,
    fit_bgnbd_model,
    fit_gamma_gamma,
    fit_latent_class,
    fit_pareto_nbd,
    frequency_histogram,
    tracking,
)
from simulator.data import load_orders, split_periods  # noqa: E402

SEGMENTS = [
    Segment(0.6, r=0.8, alpha=10.0, a=2.0, b=4.0, p=6.0, q=4.0, gamma=15.0),
    Segment(0.4, r=3.0, alpha=12.0, a=0.5, b=10.0, p=6.0, q=4.0, gamma=15.0),
]


def _timed(label: str, rows: list[tuple[str, float, float]], action):  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    rows.append((label, time.perf_counter() - wall, time.process_time() - cpu))
    print(f"  {label:<38}{rows[-1][1]:>8.2f} s wall {rows[-1][2]:>8.2f} s cpu", file=sys.stderr, flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k customers instead of 100k")
    parser.add_argument("--customers", type=int, default=None, help="number of customers")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-twin", action="store_true", help="skip the customer-base twin")
    args = parser.parse_args()
    customers = args.customers or (10_000 if args.quick else 100_000)
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)

    print(f"generating {customers:,} customers (untimed) ...", file=sys.stderr, flush=True)
    orders, _ = generate(SEGMENTS, customers, 1095, 182, seed=args.seed, timestamps=True)
    rows: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory() as folder:
        csv_path = Path(folder) / "orders.csv"
        parquet_path = Path(folder) / "orders.parquet"
        orders.to_csv(csv_path, index=False)
        pq.write_table(pa.Table.from_pandas(orders, preserve_index=False), parquet_path)
        size_mb = csv_path.stat().st_size / 2**20
        log = _timed("load CSV", rows, lambda: load_orders(csv_path))
        _timed("load Parquet", rows, lambda: load_orders(parquet_path))
    split = _timed("split (365-day hold-out)", rows, lambda: split_periods(log, holdout_days=365))
    table = split.customers
    x, t_x, T, m = table["frequency"], table["recency"], table["T"], table["monetary_value"]
    bgnbd = _timed("fit BG/NBD + SE", rows, lambda: fit_bgnbd_model(x, t_x, T))
    _timed("fit gamma-gamma + SE", rows, lambda: fit_gamma_gamma(x, m))
    _timed("fit Pareto/NBD + SE", rows, lambda: fit_pareto_nbd(x, t_x, T))
    _timed("fit latent class, 2 segments + SE", rows, lambda: fit_latent_class(x, t_x, T, 2))
    model = bgnbd.model

    def diagnostics() -> None:
        frequency_histogram(model, x, T)
        tracking(model, table["first_day"], split.repeat_by_day, split.calibration_days)
        conditional_expectations(model, x, t_x, T, table["holdout_frequency"], split.holdout_length)

    _timed("diagnostics (BG/NBD)", rows, diagnostics)

    times = {label: (wall, cpu) for label, wall, cpu in rows}
    core = ["load CSV", "split (365-day hold-out)", "fit BG/NBD + SE", "fit gamma-gamma + SE"]
    everything = [label for label in times if label != "load Parquet"]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nCPU {CORE}, load average {load:.1f} at the end (wall ~ cpu only on an idle CPU)")
    print(f"order log: {len(orders):,} orders of {customers:,} customers, CSV {size_mb:.0f} MiB")
    print(
        f"calibration customers {len(table):,}, repeat customers {split.repeat_customers:,}, "
        f"distinct (x, t_x, T) rows {np.unique(np.stack([x, t_x, T]), axis=1).shape[1]:,}"
    )
    print(f"\n{'step':<38}{'wall s':>10}{'cpu s':>10}")
    for label, wall, cpu in rows:
        print(f"{label:<38}{wall:>10.2f}{cpu:>10.2f}")
    for name, labels in (
        ("load CSV + split + BG/NBD + gamma-gamma", core),
        ("every step above but Parquet", everything),
    ):
        wall = sum(times[label][0] for label in labels)
        cpu = sum(times[label][1] for label in labels)
        print(f"{name:<38}{wall:>10.2f}{cpu:>10.2f}")
    print("\ntarget: loading and fitting 1M orders of 100k customers under 30 s on one core")
    if not args.no_twin:
        _twin(log, split)


def _twin(log, split) -> None:  # type: ignore[no-untyped-def]
    """Build the twin of the split's customers and simulate it against the bundled scenario."""
    from simulator import load_scenario
    from simulator.calibrate.holdout import measure_factors, with_factors
    from simulator.calibrate.models import fit_customer_base
    from simulator.calibrate.twin import customer_histories, twin_scenario_data
    from simulator.config.customer_base import _read_cached, write_customer_histories
    from simulator.config.scenario import parse_scenario
    from simulator.engine.model import CommerceModel

    base = load_scenario(ROOT / "scenarios" / "omnichannel_retailer.yaml")
    rows: list[tuple[str, float, float]] = []
    print("\nbuilding the twin (fits and engine factors untimed) ...", file=sys.stderr, flush=True)
    fit = fit_customer_base(split, max_segments=1)
    with tempfile.TemporaryDirectory() as folder:
        histories = customer_histories(split)
        write_customer_histories(histories, Path(folder) / "customers.parquet")
        data = twin_scenario_data(base, fit, log, "customers.parquet")
        twin = parse_scenario(data, str(Path(folder) / "scenario.yaml"))
        factors = measure_factors(twin, seed=1, days=365, max_rounds=2)
        twin = with_factors(twin, factors.rate_factor, factors.spend_factor)
        agents = twin.population.agents
        bundled = base.with_overrides(agents=agents)

        def build(scenario):  # type: ignore[no-untyped-def]
            _read_cached.cache_clear()  # the history file is read from disk, as a first run does
            model = CommerceModel(scenario, seed=3)
            model.release()
            return model

        _timed(f"build the twin ({agents:,} customers)", rows, lambda: build(twin))
        _timed(f"build the bundled scenario ({agents:,} agents)", rows, lambda: build(bundled))

        def run(scenario):  # type: ignore[no-untyped-def]
            model = CommerceModel(scenario, seed=3)
            try:
                model.run()
            finally:
                model.release()
            return model

        twin_model = _timed("simulate the twin, 365 days", rows, lambda: run(twin))
        bundled_model = _timed("simulate the bundled scenario, 365 days", rows, lambda: run(bundled))
    print(
        f"\ntwin: {agents:,} customers, rate_factor {factors.rate_factor:.3f}, "
        f"spend_factor {factors.spend_factor:.3f}; orders in the year: twin "
        f"{int(twin_model.ledger['orders'].sum()):,}, bundled {int(bundled_model.ledger['orders'].sum()):,}"
    )
    print(f"\n{'step':<46}{'wall s':>10}{'cpu s':>10}")
    for label, wall, cpu in rows:
        print(f"{label:<46}{wall:>10.2f}{cpu:>10.2f}")
    print("targets: the twin built in under 5 s; simulating it as fast as the bundled scenario")


if __name__ == "__main__":
    main()
