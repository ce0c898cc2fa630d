"""Shared Optuna studies: a real PostgreSQL server and Optuna's journal file.

Several ``run.py optimize`` processes share one study; one is killed with SIGKILL and
restarted: the study still reaches the requested trials, every trial finished before the kill
keeps its values, the killed trial is failed (by the other process once its heartbeat is three
intervals old, or at once by the restarted process, which sees its owner is gone) and run again,
no trial is left running, and the password of the URL never shows in any output.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend
from pg_server import PASSWORD, postgres_server, server_binaries

from optimizer.search.study import HEARTBEAT_ENV, absolute_storage, study_location
from simulator.common.secrets import mask_url

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = str(ROOT / "scenarios" / "fashion_social_brand.yaml")
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def _optimize(trials: int, storage: str, out: Path, *extra: str) -> list[str]:
    command = [sys.executable, "run.py", "optimize", SCENARIO, "--agents", "1000", "--days", "40"]
    command += ["--n-seeds", "1", "--no-budget", "--trials", str(trials), "--storage", storage]
    return [*command, "--study-name", "shared", "--out", str(out), "--no-progress", *extra]


HEARTBEAT = 1
"""Heartbeat interval of the test processes (seconds): a killed trial is failed 3 s after it died.

The default (10 s) works the same way but would need a study lasting well over 30 s past the
kill on the fastest machine.
"""


def _start(command: list[str], log: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=os.environ | {"PYTHONPATH": str(ROOT), HEARTBEAT_ENV: str(HEARTBEAT)},
        stdout=log.with_suffix(".out").open("w"),
        stderr=log.with_suffix(".err").open("w"),
        text=True,
    )


def _trials(storage: str | optuna.storages.BaseStorage) -> list[optuna.trial.FrozenTrial]:
    try:
        return optuna.load_study(study_name="shared", storage=storage).get_trials(deepcopy=False)
    except Exception:  # noqa: BLE001 - the study is not created yet
        return []


def _both_in_a_trial(trials: list[optuna.trial.FrozenTrial]) -> bool:
    """Three trials finished and each process simulates one (a process runs one trial at a time).

    Simulates: the trial holds every parameter of the search (a trial killed while its
    parameters are still being chosen has only some of them, and its retry chooses the rest).
    """
    finished = [t for t in trials if t.state in FINISHED]
    running = [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    if len(finished) < 3 or len(running) != 2:
        return False
    parameters = max(len(t.params) for t in finished)
    return all(len(t.params) == parameters for t in running)


def _wait(process: subprocess.Popen[str], seconds: float = 600) -> int:
    return process.wait(seconds)


def _check_trials(trials: list[optuna.trial.FrozenTrial], target: int, processes: int) -> None:
    """Reached, nothing lost or left running; each failed (killed) trial was run again."""
    states = [t.state for t in trials]
    finished = [t for t in trials if t.state in FINISHED]
    # Processes stop once the study holds `target` finished trials; each may finish the one it runs.
    assert target <= len(finished) <= target + processes - 1, states
    assert len({t.number for t in trials}) == len(trials)
    assert optuna.trial.TrialState.RUNNING not in states and optuna.trial.TrialState.WAITING not in states
    for failed in (t for t in trials if t.state == optuna.trial.TrialState.FAIL):
        retries = [t for t in trials if t.system_attrs.get("failed_trial") == failed.number]
        assert len(retries) == 1 and retries[0].state in FINISHED, (failed.number, states)
        assert retries[0].params == failed.params


def _outputs(folder: Path) -> str:
    """Everything the runs printed or wrote (text files of the folder and its subfolders)."""
    parts = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in {".out", ".err", ".json", ".csv", ".md", ".html", ".txt"}:
            parts.append(path.read_text(errors="replace"))
    return "\n".join(parts)


@pytest.mark.slow
def test_two_optimize_processes_share_a_postgres_study_and_a_killed_one_loses_nothing(
    tmp_path: Path,
) -> None:
    binaries = server_binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl, postgres) on PATH or /usr/lib/postgresql")
    with postgres_server(binaries) as url:
        target = 40  # long enough that the other process cannot finish it while the killed one is down
        first = _optimize(target, url, tmp_path / "a")
        second = _optimize(target, url, tmp_path / "b", "--report")
        a, b = _start(first, tmp_path / "a1"), _start(second, tmp_path / "b")
        deadline = time.monotonic() + 300
        while not _both_in_a_trial(_trials(url)):
            assert time.monotonic() < deadline and a.poll() is None, "no trials finished"
            time.sleep(0.05)
        a.send_signal(signal.SIGKILL)  # within milliseconds: its trial (of a second or more) still simulates
        _wait(a)
        before = {t.number: t.values for t in _trials(url) if t.state == optuna.trial.TrialState.COMPLETE}
        # The other process fails the killed trial once its heartbeat is 3 intervals old.
        time.sleep(3 * HEARTBEAT + 1)
        assert len([t for t in _trials(url) if t.state in FINISHED]) < target, "make the study longer"
        a = _start(first, tmp_path / "a2")
        assert _wait(a) == 0, (tmp_path / "a2.err").read_text()
        assert _wait(b) == 0, (tmp_path / "b.err").read_text()

        trials = _trials(url)
        _check_trials(trials, target, processes=2)
        failed = [t.number for t in trials if t.state == optuna.trial.TrialState.FAIL]
        assert len(failed) == 1, failed  # the trial killed with its process, run again (checked above)
        after = {t.number: t for t in trials}
        for number, values in before.items():
            assert after[number].state == optuna.trial.TrialState.COMPLETE and after[number].values == values
        shown = f"study 'shared' in {mask_url(url)}"
        for log in ("a1", "a2", "b"):
            assert shown in (tmp_path / f"{log}.err").read_text()  # said at the start, to watch it live
        printed = (tmp_path / "b.out").read_text()
        assert f"{shown}\nwatch it: optuna-dashboard '{mask_url(url)}'" in printed
        assert all((tmp_path / name / "recommendation.json").exists() for name in ("a", "b"))
        everything = _outputs(tmp_path)
        secret = url.split(":", 2)[2].rsplit("@", 1)[0]
        for text in {PASSWORD, secret, *PASSWORD.split("/"), *PASSWORD.split("@")}:
            assert text not in everything, text


@pytest.mark.slow
def test_two_processes_share_a_journal_file_study(tmp_path: Path) -> None:
    log = tmp_path / "shared" / "study.log"
    log.parent.mkdir()
    storage = f"journal://{log}"
    target = 8
    processes = [_start(_optimize(target, storage, tmp_path / name), tmp_path / name) for name in ("a", "b")]
    for process, name in zip(processes, ("a", "b"), strict=True):
        assert _wait(process) == 0, (tmp_path / f"{name}.err").read_text()
    trials = _trials(optuna.storages.JournalStorage(JournalFileBackend(str(log))))
    _check_trials(trials, target, processes=2)
    assert all(t.state != optuna.trial.TrialState.FAIL for t in trials)
    printed = (tmp_path / "a.out").read_text()
    assert f"study 'shared' in journal://{log}\nwatch it: optuna-dashboard '{log}'" in printed


def test_storage_urls_are_shown_absolute_and_masked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert absolute_storage("sqlite:///out/study.db") == f"sqlite:///{tmp_path}/out/study.db"
    assert (
        absolute_storage("journal:runs/study.log") == f"journal:///{str(tmp_path).lstrip('/')}/runs/study.log"
    )
    assert absolute_storage("journal:///abs/study.log") == "journal:///abs/study.log"
    url = "postgresql+psycopg://optuna:s3cr/t%40Pg:pw@db.example:5432/studies"
    assert mask_url(url) == "postgresql+psycopg://optuna:***@db.example:5432/studies"
    assert absolute_storage(url) == url
    assert study_location(url, "s") == (
        "study 's' in postgresql+psycopg://optuna:***@db.example:5432/studies\n"
        "watch it: optuna-dashboard 'postgresql+psycopg://optuna:***@db.example:5432/studies' "
        "(put the password in place of ***)"
    )
    assert study_location(None, "s").startswith("study 's' in memory")


def test_a_journal_in_a_missing_folder_is_one_line_and_exit_2(tmp_path: Path) -> None:
    storage = f"journal://{tmp_path}/missing/study.log"
    done = subprocess.run(
        [sys.executable, "run.py", "optimize", SCENARIO, "--agents", "300", "--storage", storage],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    reason = f"FileNotFoundError: folder {tmp_path}/missing does not exist"
    assert errors == [f"error: storage: {storage} cannot be opened ({reason})"], done.stderr
