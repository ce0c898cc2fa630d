"""The Dask backend against a real cluster: a scheduler and two worker processes on localhost.

The commands run through ``--scheduler`` (or ``COMMERCE_SIM_SCHEDULER``) and must write the same
tables as the local run; the scheduler's own task count shows the work really went there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest

pytest.importorskip("distributed", reason="Dask is the cluster extra: pip install -e '.[cluster]'")

from dask_cluster import free_port, local_cluster  # noqa: E402

from simulator.measure.executor import (  # noqa: E402
    CONNECT_SECONDS,
    SCHEDULER_ENV,
    DaskExecutor,
    check_stop,
    get_executor,
    use_scheduler,
)

ROOT = Path(__file__).resolve().parents[1]
SMALL = str(ROOT / "tests" / "fixtures" / "small_valid.yaml")
VARIANT = str(ROOT / "tests" / "fixtures" / "variants" / "variant_more_search.yaml")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    with local_cluster(workers=2, dashboard=True) as address:
        yield address


def _run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != SCHEDULER_ENV} | (env or {})
    environment["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "run.py", *argv, "--no-progress"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _tasks_done(address: str, function: str | None = None) -> int:
    """Tasks that finished on the cluster (keys named after ``function``), by the scheduler's count.

    ``state_counts`` accumulates the tasks that entered each state; a finished task enters
    ``memory`` once.
    """
    from distributed import Client

    def count(dask_scheduler: Any) -> int:
        return sum(
            prefix.state_counts.get("memory", 0)
            for name, prefix in dask_scheduler.task_prefixes.items()
            if function is None or name == function
        )

    with Client(address, timeout=30, set_as_default=False) as client:
        return int(client.run_on_scheduler(count))


def _same_file(folder: Path, other: Path, name: str) -> bool:
    return (folder / name).read_bytes() == (other / name).read_bytes()


def _without_timings(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if not k.endswith("_seconds")}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def test_replicate_and_allocate_through_the_scheduler_write_the_local_tables(
    scheduler: str, tmp_path: Path
) -> None:
    replicate = ["replicate", SMALL, "--agents", "1500", "--seeds", "1", "2", "3", "4", "--variant", VARIANT]
    replicate += ["--workers", "2"]  # the 8 runs step as 2 batches of worlds, one task each
    local = _run([*replicate, "--out", str(tmp_path / "rep-local")])
    assert local.returncode == 0, local.stderr
    assert "Dask scheduler" not in local.stderr
    before = _tasks_done(scheduler)
    remote = _run([*replicate, "--out", str(tmp_path / "rep-dask"), "--scheduler", scheduler])
    assert remote.returncode == 0, remote.stderr
    assert f"Dask scheduler {scheduler}: 2 worker(s), 2 thread(s); dashboard http://" in remote.stderr
    assert _tasks_done(scheduler) >= before + 2  # 4 seeds x (base + variant) in 2 batches ran there
    written = sorted(p.name for p in (tmp_path / "rep-local").iterdir())
    assert written == sorted(p.name for p in (tmp_path / "rep-dask").iterdir()) and written
    for name in written:
        assert _same_file(tmp_path / "rep-dask", tmp_path / "rep-local", name)
    assert remote.stdout == local.stdout.replace(str(tmp_path / "rep-local"), str(tmp_path / "rep-dask"))

    allocate = ["allocate", SMALL, "--agents", "1500", "--rounds", "1"]
    local = _run([*allocate, "--out", str(tmp_path / "alloc-local")])
    assert local.returncode == 0, local.stderr
    before = _tasks_done(scheduler)
    remote = _run([*allocate, "--out", str(tmp_path / "alloc-dask")], env={SCHEDULER_ENV: scheduler})
    assert remote.returncode == 0, remote.stderr
    assert f"Dask scheduler {scheduler}" in remote.stderr  # the variable alone chose the cluster
    assert _tasks_done(scheduler) > before  # the simulations (batches of worlds) ran on the cluster
    for name in ("allocation.csv", "response_curves.csv", "response_measurements.csv"):
        assert _same_file(tmp_path / "alloc-dask", tmp_path / "alloc-local", name)
    local_json, remote_json = (
        json.loads((tmp_path / folder / "allocation.json").read_text())
        for folder in ("alloc-local", "alloc-dask")
    )
    assert _without_timings(remote_json) == _without_timings(local_json)


def test_optimize_runs_its_trial_processes_on_the_cluster(scheduler: str, tmp_path: Path) -> None:
    out = tmp_path / "study"
    argv = ["optimize", str(ROOT / "scenarios" / "fashion_social_brand.yaml"), "--agents", "800"]
    argv += ["--days", "40", "--trials", "6", "--n-seeds", "1", "--no-budget", "--workers", "2"]
    before = _tasks_done(scheduler, "worker")
    done = _run([*argv, "--out", str(out), "--scheduler", scheduler])
    assert done.returncode == 0, done.stderr
    assert _tasks_done(scheduler, "worker") == before + 2  # the two trial processes ran there
    name, storage = "fashion_social_brand-profit", f"sqlite:///{out / 'study.db'}"
    states = [t.state for t in optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)]
    finished = [s for s in states if s.is_finished() and s != optuna.trial.TrialState.FAIL]
    assert 6 <= len(finished) <= 7 and optuna.trial.TrialState.RUNNING not in states
    assert f"study 'fashion_social_brand-profit' in sqlite:///{out.resolve() / 'study.db'}" in done.stdout
    assert f"watch it: optuna-dashboard 'sqlite:///{out.resolve() / 'study.db'}'" in done.stdout


def _graceful_loop(marker: str) -> str:
    """A long graceful task that records when check_stop stopped it (runs on a Dask worker)."""
    started = time.monotonic()
    Path(marker).write_text("running")
    try:
        while time.monotonic() - started < 60:
            check_stop()
            time.sleep(0.05)
    except KeyboardInterrupt:
        Path(marker).write_text(f"stopped {time.time():.3f}")
        raise
    Path(marker).write_text("never stopped")
    return marker


def test_a_stop_cancels_the_tasks_and_graceful_ones_stop_at_their_next_check(
    scheduler: str, tmp_path: Path
) -> None:
    markers = [tmp_path / f"task{k}" for k in range(2)]

    def interrupt() -> None:  # Ctrl-C in the main process once both tasks run
        if all(marker.exists() for marker in markers):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), use_scheduler(scheduler):
        tasks = [str(marker) for marker in markers]
        get_executor(1).map(_graceful_loop, tasks, label="loops", tick=interrupt, every=0.2, graceful=True)
    cancelled = time.time()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(m.read_text() == "running" for m in markers):
        time.sleep(0.1)
    for marker in markers:
        text = marker.read_text()
        assert text.startswith("stopped "), text  # not still running, not run to its end
        assert float(text.split()[1]) - cancelled < 5  # within seconds of the cancel, not at 60 s


def test_an_unreachable_scheduler_is_one_line_and_exit_2(tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    started = time.monotonic()
    done = _run(["replicate", SMALL, "--seeds", "1", "--out", str(tmp_path / "out"), "--scheduler", address])
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"error: replicate: scheduler: no Dask scheduler answers at '{address}' within {CONNECT_SECONDS} s"
    ), done.stderr
    assert time.monotonic() - started < CONNECT_SECONDS + 30
    assert not (tmp_path / "out").exists()
    assert isinstance(get_executor(3, address), DaskExecutor)  # no CPU limit: the cluster decides
