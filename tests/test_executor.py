"""The one parallel executor: task order, worker limits, backends, progress, stopping cleanly."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from scenario_factory import small
from sqlite_study import study_trials

import run
from simulator import ScenarioError
from simulator.measure.executor import (
    BACKENDS,
    SCHEDULER_ENV,
    STOP_SECONDS,
    Executor,
    LocalExecutor,
    MapOptions,
    available_cpus,
    check_stop,
    check_workers,
    get_executor,
)
from simulator.measure.replicate import replicate

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")
R = TypeVar("R")


def _slow_square(x: int) -> int:
    time.sleep(0.05 * (3 - x % 3))  # later tasks finish first
    return x * x


def _fail_on_three(x: int) -> int:
    if x == 3:
        time.sleep(1.0)
        raise ValueError("task 3 failed")
    time.sleep(30)
    return x


def _sleep(x: int) -> int:
    time.sleep(60)
    return x


def _process_children(pid: int) -> list[int]:
    """Processes descended from ``pid`` (psutil when installed, else /proc)."""
    try:
        import psutil
    except ImportError:
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        found, frontier = [], [pid]
        while frontier:
            kids = [child for child, parent in parents.items() if parent in frontier]
            found += kids
            frontier = kids
        return found
    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _pool_workers(pid: int) -> list[int]:
    """Worker processes of ``pid``: its children but multiprocessing's resource tracker."""
    workers = []
    for child in _process_children(pid):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"resource_tracker" not in command:
            workers.append(child)
    return workers


def _running(pid: int) -> bool:
    """The process exists and is not a zombie (a dead child its new parent has not reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


# Results and workers ---------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
def test_results_come_back_in_task_order_whatever_order_workers_finish(workers: int) -> None:
    tasks = list(range(7))
    assert get_executor(workers).map(_slow_square, tasks, label="squares") == [x * x for x in tasks]
    assert get_executor(workers).map(_slow_square, [], label="nothing") == []


def test_worker_counts_are_checked_in_one_line() -> None:
    assert check_workers(np.int64(2)) == 2  # type: ignore[arg-type]
    limit = LocalExecutor.max_workers()
    assert limit == max(available_cpus(), 2)
    assert check_workers(limit) == limit
    for bad in (0, -1, True, 1.5, "2"):
        with pytest.raises(ScenarioError, match=r"^replicate: workers: must be a whole number of at least 1"):
            check_workers(bad)  # type: ignore[arg-type]
    with pytest.raises(ScenarioError) as error:
        check_workers(1000, "abtest")
    message = str(error.value)
    assert message == (
        f"abtest: workers: at most {limit} on this machine ({available_cpus()} CPU(s) available), got 1000"
    )


def test_cli_refuses_a_thousand_workers_before_any_run(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["replicate", str(ROOT / "tests" / "fixtures" / "small_valid.yaml"), "--workers", "1000"]
    assert run.main([*argv, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: replicate: workers: at most "), err


# Backends --------------------------------------------------------------------------------------


class _ThreadExecutor(Executor):
    """A toy backend (threads) standing for a distributed one: one class and a registry line."""

    name = "thread"
    used = 0

    def _completed(
        self, fn: Callable[[T], R], tasks: Sequence[T], options: MapOptions
    ) -> Generator[tuple[int, R], None, None]:
        type(self).used += 1
        with ThreadPoolExecutor(self.workers) as pool:
            futures = {pool.submit(fn, task): index for index, task in enumerate(tasks)}
            for future in as_completed(futures):
                yield futures[future], future.result()


def test_a_backend_plugs_in_through_the_registry_without_touching_callers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario = small(agents=1500, days=20)
    local = replicate(scenario, [1, 2], {"more_search": {"channels": {"search": {"daily_spend": 7200.0}}}})
    monkeypatch.setitem(BACKENDS, "thread", _ThreadExecutor)
    monkeypatch.setenv(SCHEDULER_ENV, "thread://anywhere:8786")
    assert isinstance(get_executor(2), _ThreadExecutor)
    assert get_executor(2).address == "thread://anywhere:8786"
    before = _ThreadExecutor.used
    other = replicate(
        scenario, [1, 2], {"more_search": {"channels": {"search": {"daily_spend": 7200.0}}}}, workers=2
    )
    assert _ThreadExecutor.used == before + 1
    assert other.runs.equals(local.runs) and other.channels.equals(local.channels)


def test_an_address_no_backend_serves_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ScenarioError, match=r"^replicate: scheduler: no executor backend serves 'ftp://h:1'"):
        get_executor(1, "ftp://h:1", source="replicate")
    monkeypatch.setenv(SCHEDULER_ENV, "ftp://h:1")
    with pytest.raises(ScenarioError, match=rf"^replicate: {SCHEDULER_ENV}: .*backends: local, tcp$"):
        check_workers(1)


# Progress --------------------------------------------------------------------------------------


def test_progress_is_labelled_by_phase_with_counts(capsys: pytest.CaptureFixture[str]) -> None:
    replicate(small(agents=1000, days=10), [1, 2], progress=True, label="final check")
    shown = capsys.readouterr().err
    # tqdm's bar: label, share, count of the total, elapsed < time left
    assert re.search(r"final check: +\d+%\|.*\| [0-2]/2 \[\d\d:\d\d<", shown), shown
    assert "replications" not in shown


# Stopping --------------------------------------------------------------------------------------


def test_a_failing_task_stops_the_others_and_its_error_comes_back() -> None:
    seen: list[int] = []

    def watch() -> None:
        seen.extend(_pool_workers(os.getpid()))

    started = time.monotonic()
    with pytest.raises(ValueError, match="task 3 failed"):
        get_executor(2).map(_fail_on_three, [3, 1, 2, 4], label="failing", tick=watch, every=0.2)
    assert time.monotonic() - started < STOP_SECONDS
    assert seen, "the workers were not seen"
    assert _wait_until(lambda: not [p for p in seen if _running(p)], 5)


def test_ctrl_c_cancels_pending_tasks_and_ends_the_workers() -> None:
    seen: list[int] = []

    def interrupt() -> None:  # Ctrl-C arriving in the main process while workers run
        seen.extend(_pool_workers(os.getpid()))
        raise KeyboardInterrupt

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        get_executor(2).map(_sleep, list(range(6)), label="sleeping", tick=interrupt, every=0.5)
    assert time.monotonic() - started < STOP_SECONDS
    assert len(set(seen)) == 2
    assert _wait_until(lambda: not [p for p in seen if _running(p)], 5)


def _record_stop(paths: tuple[str, str]) -> None:
    """A graceful task that, told to stop, writes its stop to an SQLite file (as a trial its FAIL)."""
    database, marker = paths
    Path(marker).write_text("running")
    try:
        while True:
            check_stop()
            time.sleep(0.02)
    except KeyboardInterrupt:
        with contextlib.closing(sqlite3.connect(database, timeout=60)) as connection, connection:
            connection.execute("INSERT INTO stops VALUES (?)", (marker,))
        raise


def test_an_interrupt_during_a_read_of_the_shared_file_lets_stopped_workers_write_it(
    tmp_path: Path,
) -> None:
    """Ctrl-C landing while the progress reads the study must not lock the workers out of it.

    An interrupt raised inside the read keeps the cursor (and SQLite's read lock) alive in its
    traceback during the stop; the workers' writes then wait until they are killed - the
    optimize trials left RUNNING after SIGINT or SIGTERM (issue 19 item 15).
    """
    database = str(tmp_path / "shared.db")
    with contextlib.closing(sqlite3.connect(database)) as connection, connection:
        connection.execute("CREATE TABLE stops (marker TEXT)")
        connection.execute("CREATE TABLE rows (n INTEGER)")
        connection.executemany("INSERT INTO rows VALUES (?)", [(n,) for n in range(100)])
    markers = [str(tmp_path / f"task{k}") for k in range(2)]

    def read_and_get_interrupted() -> None:
        if not all(Path(marker).exists() for marker in markers):
            return
        with contextlib.closing(sqlite3.connect(database)) as reader:
            cursor = reader.execute("SELECT n FROM rows")
            cursor.fetchone()  # a read under way holds the file's read lock
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C arrives now
            time.sleep(0.5)
            cursor.close()

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        get_executor(2).map(
            _record_stop,
            [(database, marker) for marker in markers],
            label="stops",
            tick=read_and_get_interrupted,
            every=0.1,
            graceful=True,
        )
    assert time.monotonic() - started < STOP_SECONDS  # not the watchdog's kill
    with contextlib.closing(sqlite3.connect(database)) as connection:
        stops = sorted(row[0] for row in connection.execute("SELECT marker FROM stops"))
    assert stops == markers  # both workers recorded their stop


def _start(argv: Sequence[str], tmp: Path) -> tuple[subprocess.Popen[str], list[int]]:
    """Start ``run.py ARGV`` in its own session; wait until its worker processes run."""
    process = subprocess.Popen(
        [sys.executable, "run.py", *argv],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "stderr.txt").open("w"),
        text=True,
        start_new_session=True,
    )
    assert _wait_until(lambda: len(_pool_workers(process.pid)) >= 2, 120), "workers did not start"
    return process, _process_children(process.pid)


def _trial_states(storage: str) -> list[str]:
    import optuna

    backend = optuna.storages.RDBStorage(storage)
    return [t.state.name for s in backend.get_all_studies() for t in backend.get_all_trials(s._study_id)]


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux only")
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_killing_optimize_leaves_no_worker_and_no_trial_running(how: signal.Signals, tmp_path: Path) -> None:
    out = tmp_path / "study"
    argv = ["optimize", "scenarios/omnichannel_retailer.yaml", "--agents", "3000", "--days", "120"]
    argv += ["--trials", "200", "--workers", "2", "--out", str(out), "--no-progress"]
    process, workers = _start(argv, tmp_path)
    storage = f"sqlite:///{out / 'study.db'}"
    assert _wait_until(lambda: "RUNNING" in _trial_states(storage), 120), "no trial started"
    os.kill(process.pid, how)
    process.wait(30)
    assert _wait_until(lambda: not [p for p in workers if _running(p)], STOP_SECONDS + 5), (
        f"workers still running after {how.name} of the main process"
    )
    assert "RUNNING" not in _trial_states(storage)  # cut-off trials were marked failed


def _study(storage: str) -> list[Any]:
    """The trials of the one study in ``storage``, read without writing to it (tests/sqlite_study.py)."""
    return study_trials(Path(storage.removeprefix("sqlite:///")))


def _owned_and_running(trials: list[Any], count: int) -> bool:
    """``count`` trials simulate: each has its owner and every parameter of the search recorded.

    Optuna calls before_trial (the owner) right after creating a trial; a process killed before
    that is left to the heartbeat. A trial killed while its parameters are still being chosen
    has only some of them, and its retry chooses the rest: the checks compare whole policies.
    """
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    running = [t for t in trials if t.state.name == "RUNNING" and "owner" in t.system_attrs]
    return (
        bool(complete)
        and len(running) == count
        and all(len(t.params) == len(complete[0].params) for t in running)
    )


def _retries(trials: list[Any], trial: Any) -> list[Any]:
    """The trials enqueued again with the parameters of ``trial`` (the last of their retry history)."""
    return [t for t in trials if t.system_attrs.get("retry_history", [None])[-1] == trial.number]


def _resume_checks(trials: list[Any], target: int, processes: int) -> list[Any]:
    """Reached, nothing running or waiting; each failed trial run again once with its parameters."""
    states = [t.state.name for t in trials]
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert target <= len(finished) <= target + processes - 1, states
    assert "RUNNING" not in states and "WAITING" not in states, states
    failed = [t for t in trials if t.state.name == "FAIL"]
    for trial in failed:
        retries = _retries(trials, trial)
        assert len(retries) == 1 and retries[0].state.name in ("COMPLETE", "PRUNED", "FAIL"), (
            trial.number,
            states,
        )
        assert retries[0].params == trial.params
    return failed


def _optimize(out: Path, workers: int, trials: int) -> list[str]:
    argv = ["optimize", "scenarios/fashion_social_brand.yaml", "--agents", "3000", "--days", "120"]
    argv += ["--n-seeds", "1", "--no-budget", "--trials", str(trials), "--workers", str(workers)]
    return [*argv, "--out", str(out), "--no-progress"]


# Heartbeat of the resume tests: failing a dead process's trial after 30 minutes, so only the
# resume's owner check can retry it in time.
_NO_HEARTBEAT = {"COMMERCE_SIM_HEARTBEAT_SECONDS": "600", "PYTHONPATH": str(ROOT)}


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="trial owners are identified on Linux")
def test_a_resume_right_after_sigkill_retries_the_cut_off_trial_first(tmp_path: Path) -> None:
    out, target = tmp_path / "study", 5
    storage = f"sqlite:///{out / 'study.db'}"
    command = [sys.executable, "run.py", *_optimize(out, 1, target)]
    process = subprocess.Popen(command, cwd=ROOT, env=os.environ | _NO_HEARTBEAT, stdout=subprocess.DEVNULL)
    assert _wait_until(lambda: _owned_and_running(_study(storage), 1), 300), "no trial ran"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(30)
    before = _study(storage)
    cut = [t for t in before if t.state.name == "RUNNING"]
    assert len(cut) == 1  # the trial the process ran (the only process)
    started = time.monotonic()
    resumed = subprocess.run(
        command, cwd=ROOT, env=os.environ | _NO_HEARTBEAT, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    assert time.monotonic() - started < 1800  # well within the heartbeat's grace period
    trials = _study(storage)
    failed = _resume_checks(trials, target, processes=1)
    assert [t.number for t in failed] == [cut[0].number]
    assert [t.number for t in _retries(trials, cut[0])] == [len(before)]  # the resume's first trial


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="trial owners are identified on Linux")
def test_ctrl_c_of_optimize_with_two_workers_fails_the_cut_off_trials_and_a_resume_reruns_them(
    tmp_path: Path,
) -> None:
    # 12 trials: on a loaded machine a poll of the study is slow, and the moment both workers run
    # a trial after one finished must last long enough to be seen before the study ends.
    out, target = tmp_path / "study", 12
    storage = f"sqlite:///{out / 'study.db'}"
    command = [sys.executable, "run.py", *_optimize(out, 2, target)]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=os.environ | _NO_HEARTBEAT,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "stderr.txt").open("w"),
        start_new_session=True,
    )
    seen = _wait_until(lambda: process.poll() is not None or _owned_and_running(_study(storage), 2), 300)
    states = [t.state.name for t in _study(storage)]
    assert seen and process.poll() is None, (
        f"the two workers were never seen running trials together (exit {process.poll()}, trials {states}): "
        + (tmp_path / "stderr.txt").read_text()[-2000:]
    )
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole group
    assert process.wait(STOP_SECONDS + 30) == 130, (tmp_path / "stderr.txt").read_text()
    interrupted = _study(storage)
    states = [t.state.name for t in interrupted]
    assert "RUNNING" not in states, states  # the cut-off trials were failed at once...
    failed = [t for t in interrupted if t.state.name == "FAIL"]
    # ...one per worker, or none for a worker stopped as its trial ended (it starts no other)
    assert 1 <= len(failed) <= 2, states
    for trial in failed:  # ...and enqueued again
        assert [t.state.name for t in _retries(interrupted, trial)] == ["WAITING"], states
    resumed = subprocess.run(
        command, cwd=ROOT, env=os.environ | _NO_HEARTBEAT, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(t.number for t in _resume_checks(_study(storage), target, 2)) == sorted(
        t.number for t in failed
    )


@pytest.mark.slow
def test_ctrl_c_of_optimize_in_one_process_stops_the_trial_at_a_safe_point(tmp_path: Path) -> None:
    """Issue 19 item 12: Ctrl-C with the trials in the main process never lands inside a save.

    The first Ctrl-C asks the running trial to stop at its next simulated day: it is failed and
    enqueued again, the command says it was interrupted (exit 130, no traceback), and a resume
    runs the cut-off policy first and reaches the count.
    """
    out, target = tmp_path / "study", 4
    storage = f"sqlite:///{out / 'study.db'}"
    command = [sys.executable, "run.py", *_optimize(out, 1, target)]
    stderr = tmp_path / "stderr.txt"
    for _ in range(2):  # Ctrl-C at two moments (a policy is retried at most twice)
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=os.environ | _NO_HEARTBEAT,
            stdout=subprocess.DEVNULL,
            stderr=stderr.open("w"),
            start_new_session=True,
        )
        before = len(_study(storage))
        assert _wait_until(lambda: _owned_and_running(_study(storage), 1), 300), stderr.read_text()
        if len(_study(storage)) > before + 2:
            time.sleep(0.3)  # later in the trial
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(STOP_SECONDS + 30) == 130, stderr.read_text()
        text = stderr.read_text()
        assert "Traceback" not in text and "internal error" not in text, text
        assert "interrupted" in text.strip().splitlines()[-1], text
        trials = _study(storage)
        states = [t.state.name for t in trials]
        assert "RUNNING" not in states, states
        finished_now = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
        if len(finished_now) >= target:
            break
    failed = [t for t in _study(storage) if t.state.name == "FAIL"]
    assert failed, "no trial was cut off"
    resumed = subprocess.run(
        command, cwd=ROOT, env=os.environ | _NO_HEARTBEAT, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    _resume_checks(_study(storage), target, 1)


@pytest.mark.slow
def test_ctrl_c_of_a_command_prints_its_message_and_leaves_no_process(tmp_path: Path) -> None:
    argv = ["replicate", "scenarios/omnichannel_retailer.yaml", "--agents", "20000", "--days", "300"]
    process, workers = _start(
        [*argv, "--seeds", "1", "2", "3", "4", "--workers", "2", "--no-progress"], tmp_path
    )
    time.sleep(1.0)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole group
    assert process.wait(STOP_SECONDS + 5) == 130
    assert (tmp_path / "stderr.txt").read_text().strip().splitlines()[
        -1
    ] == "interrupted; nothing was written"
    assert _wait_until(lambda: not [p for p in workers if _running(p)], 5)


def test_every_local_pool_is_made_by_the_executor() -> None:
    """No other module starts processes itself (one place for start method, signals, stopping)."""
    for package in ("simulator", "optimizer", "reports"):
        for path in (ROOT / package).rglob("*.py"):
            if path.name == "executor.py":
                continue
            text = path.read_text(encoding="utf-8")
            for name in ("ProcessPoolExecutor", "multiprocessing", "os.fork", "subprocess"):
                assert name not in text, f"{path.relative_to(ROOT)} uses {name} itself"


def test_map_accepts_any_iterable() -> None:
    calls: list[Any] = []
    assert get_executor(1).map(calls.append, iter([1, 2]), label="iterable") == [None, None]
    assert calls == [1, 2]
