"""Large runs: the memory estimate against the measured peak, the refusal, Parquet tables.

The estimate is checked in a child process (its own peak resident memory, ``VmHWM``) on the
bundled omnichannel scenario with every lever on, as benchmarks/bench_scale.py measures it at
100k to 10M agents (docs/scale.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulator import load_scenario, simulate
from simulator.common.tables import PARQUET_ABOVE_AGENTS, default_table_format, write_table
from simulator.engine.results import order_log_table
from simulator.engine.simulate import estimate_run_memory

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "omnichannel_retailer.yaml"

# A child process: every lever on (benchmarks/bench_simulator.py's set), the estimate with its
# pilot run, then the run as run.py simulate makes it, and the process's peak resident memory.
CHILD = """
import json, sys, warnings
sys.path[:0] = [{root!r}, {root!r} + "/benchmarks"]
warnings.simplefilter("ignore")
from bench_simulator import _load
from simulator import simulate
from simulator.engine.simulate import estimate_run_memory, process_memory_bytes
_, scenario = _load({{"scenario": {scenario!r}, "levers": "all", "agents": {agents}, "days": {days}}})
estimate = estimate_run_memory(scenario, {paths}, pilot=True)
held = process_memory_bytes()
result = simulate(scenario, record_paths={paths})
# VmHWM: the peak of this program's own memory. ru_maxrss would also count the parent: Linux
# keeps it across exec, so a child forked from a large pytest process reports the parent's size.
peak = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM:"))
touches = 0 if result.paths is None else len(result.paths.touches)
print(json.dumps({{"estimate": held + estimate.total, "peak": peak, "orders": len(result.orders),
                  "touches": touches, "added": estimate.total}}))
"""


def measure(agents: int, days: int, paths: bool) -> dict[str, float]:
    code = CHILD.format(root=str(ROOT), scenario=str(SCENARIO), agents=agents, days=days, paths=paths)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900, check=False
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM in /proc: Linux")
@pytest.mark.parametrize("paths", [False, True], ids=["orders", "orders_and_touches"])
def test_the_memory_estimate_is_within_10_percent_of_the_measured_peak(paths: bool) -> None:
    measured = measure(300_000, 120, paths)
    assert measured["orders"] > 0
    assert (measured["touches"] > 0) == paths
    ratio = measured["estimate"] / measured["peak"]
    assert abs(ratio - 1) <= 0.10, measured


def test_the_estimate_counts_orders_and_touches() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scenario = load_scenario(SCENARIO).with_overrides(agents=20_000, days=30)
    plain = estimate_run_memory(scenario, pilot=True)
    recorded = estimate_run_memory(scenario, record_paths=True, pilot=True)
    assert plain.touches == 0 and plain.orders > 0
    assert recorded.touches > 0 and recorded.shoppers > plain.shoppers
    assert recorded.total > plain.total


def _run_py(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "run.py", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_a_run_over_the_memory_limit_is_refused_before_starting(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = _run_py("simulate", SCENARIO, "--agents", "2000000", "--memory-limit", "0.5", "--out", out)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: {SCENARIO}: population.agents: 2,000,000 agents need at least ")
    assert "the limit is 0.5 GiB (--memory-limit)" in done.stderr
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_run_under_the_memory_limit_runs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = _run_py(
        "simulate", SCENARIO, "--agents", "2000", "--days", "20", "--memory-limit", "4", "--out", out
    )
    assert done.returncode == 0, done.stderr
    assert (out / "customers.csv").exists() and (out / "orders.csv").exists()


@pytest.fixture(scope="module")
def small_run() -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scenario = load_scenario(SCENARIO).with_overrides(agents=3_000, days=60)
    return simulate(scenario, record_paths=True)


def test_parquet_tables_read_back_as_the_simulated_ones(small_run, tmp_path: Path) -> None:
    result = small_run
    written = result.save(tmp_path / "pq", table_format="parquet")
    names = {path.name for path in written}
    assert {"customers.parquet", "orders.parquet"} <= names
    assert not {"customers.csv", "orders.csv"} & names
    customers = pd.read_parquet(tmp_path / "pq" / "customers.parquet")
    pd.testing.assert_frame_equal(customers, result.customers)
    orders = pd.read_parquet(tmp_path / "pq" / "orders.parquet")
    expected = order_log_table(result)
    expected["customer_id"] = expected["customer_id"].astype(str)
    pd.testing.assert_frame_equal(orders, expected, check_dtype=False)
    assert orders["revenue"].to_numpy().tobytes() == expected["revenue"].to_numpy().tobytes()
    # The CSV files hold the same tables.
    result.save(tmp_path / "csv")
    again = pd.read_csv(tmp_path / "csv" / "orders.csv", dtype={"customer_id": str})
    pd.testing.assert_frame_equal(again, orders, check_dtype=False)


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_tables_written_in_slices_equal_the_whole(small_run, suffix: str, tmp_path: Path) -> None:
    result = small_run
    assert result.paths is not None
    for name, frame, index in [
        ("customers", result.customers, True),
        ("touches", result.paths.touches, False),
        ("paths", result.paths.paths, True),
    ]:
        assert len(frame) > 7
        sliced, whole = tmp_path / f"{name}_sliced.{suffix}", tmp_path / f"{name}_whole.{suffix}"
        write_table(frame, sliced, index=index, rows=7)
        write_table(frame, whole, index=index, rows=len(frame))
        if suffix == "csv":
            assert sliced.read_bytes() == whole.read_bytes()
            reference = tmp_path / f"{name}_pandas.csv"
            frame.to_csv(reference, index=index)
            assert sliced.read_bytes() == reference.read_bytes()
        else:
            back = pd.read_parquet(sliced)
            pd.testing.assert_frame_equal(back, pd.read_parquet(whole))
            expected = frame if index else frame.reset_index(drop=True)
            pd.testing.assert_frame_equal(back, expected)


def test_an_empty_order_log_is_written_with_its_columns(small_run, tmp_path: Path) -> None:
    result = small_run
    empty = type(result)(**{**vars(result), "orders": result.orders.iloc[:0]})
    written = empty.save(tmp_path / "out", table_format="parquet")
    assert tmp_path / "out" / "orders.parquet" in written
    back = pd.read_parquet(tmp_path / "out" / "orders.parquet")
    assert len(back) == 0
    assert list(back.columns) == ["order_id", "customer_id", "date", "revenue", "channel", "margin"]


def test_the_default_format_is_parquet_above_a_million_agents() -> None:
    assert PARQUET_ABOVE_AGENTS == 1_000_000
    assert default_table_format(PARQUET_ABOVE_AGENTS) == "csv"
    assert default_table_format(PARQUET_ABOVE_AGENTS + 1) == "parquet"


def test_simulate_format_parquet_on_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "out"
    small = ("--agents", "2000", "--days", "20")
    done = _run_py("simulate", SCENARIO, *small, "--format", "parquet", "--out", out)
    assert done.returncode == 0, done.stderr
    files = {p.name for p in out.iterdir()}
    assert {"customers.parquet", "orders.parquet"} <= files
    assert not {"customers.csv", "orders.csv"} & files
    customers = pd.read_parquet(out / "customers.parquet")
    assert len(customers) == 2000
    assert np.array_equal(customers.index.to_numpy(), np.arange(2000))


def test_attribution_paths_in_parquet_on_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "out"
    small = ("--agents", "2000", "--days", "20", "--seeds", "1")
    done = _run_py("attribution", SCENARIO, *small, "--paths", "--format", "parquet", "--out", out)
    assert done.returncode == 0, done.stderr
    files = {p.name for p in out.iterdir()}
    assert {"attribution.csv", "paths.parquet", "touches.parquet"} <= files
    assert not {"paths.csv", "touches.csv"} & files
    paths = pd.read_parquet(out / "paths.parquet")
    touches = pd.read_parquet(out / "touches.parquet")
    assert len(paths) > 0
    # Every path's touches are in the touch table, numbered from 0 in time order.
    counts = touches.groupby("path_id").size()
    assert counts.reindex(paths.index, fill_value=0).to_numpy().tolist() == paths["touches"].tolist()
    assert (touches.groupby("path_id")["position"].min() == 0).all()
