"""Output folders are complete or absent: one transaction per command, sealed by a manifest.

Covers issue 19 items 1, 3, 13, 14 (output locations), 16, 17, 18 (truncated CSVs): the output
transaction (unit level, every commit step failing in turn), ``--out`` on a separate tmpfs
mount, a writer SIGKILLed at many random moments, Ctrl-C and SIGTERM messages, ``--overwrite``
leaving no stale file but keeping ``study.db``, ``report`` refusing partial folders and only
reading, ``schema --out``.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest

import simulator.common.output as output
from reports import ReportError, build_report
from simulator.common.output import (
    MANIFEST,
    IncompleteOutputError,
    OutputError,
    OutputExistsError,
    OutputTransaction,
    verify_folder,
    write_files,
)
from tests.command_line import run
from tests.scenario_factory import ROOT

SMALL = ROOT / "tests" / "fixtures" / "small_valid.yaml"
TINY = ["--days", "5", "--agents", "500"]
SIMULATE_FILES = {
    "channels_daily.csv",
    "customers.csv",
    "daily.csv",
    "levers_daily.csv",
    "media.csv",
    "orders.csv",
    "scenario.yaml",
    "summary.json",
}


def one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    return lines[0]


def text_writer(text: str) -> output.Callable[[Path], object]:
    return lambda path: path.write_text(text, encoding="utf-8")


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ----------------------------------------------------------------------------- transaction
def test_new_folder_appears_whole_with_a_manifest(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "out"
    written = write_files(out, {"a.csv": text_writer("x\n1\n"), "b.json": text_writer("{}")})
    assert written == [out / "a.csv", out / "b.json"]
    assert listing(out) == ["a.csv", "b.json", MANIFEST]
    manifest = verify_folder(out)
    assert manifest is not None and manifest["complete"] is True
    assert manifest["files"]["a.csv"]["bytes"] == 4
    assert listing(out.parent) == ["out"], "staging folder left behind"


def test_out_as_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_files(Path("."), {"a.csv": text_writer("1")})
    assert listing(tmp_path) == ["a.csv", MANIFEST]
    assert verify_folder(".") is not None


def test_merge_keeps_other_results_and_overwrite_replaces_them_as_a_whole(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_files(out, {"simulate.csv": text_writer("1"), "campaigns.csv": text_writer("2")})
    (out / "study.db").write_bytes(b"optuna")  # written by the study itself, never in the manifest
    (out / "notes.txt").write_text("mine")  # the user's own file
    write_files(out, {"clv.csv": text_writer("3")})  # another command, other names: merged
    manifest = verify_folder(out)
    assert manifest is not None and set(manifest["files"]) == {"simulate.csv", "campaigns.csv", "clv.csv"}
    with pytest.raises(OutputExistsError, match="already holds simulate.csv"):
        write_files(out, {"simulate.csv": text_writer("new")})
    write_files(out, {"simulate.csv": text_writer("new")}, overwrite=True)
    # The old results are replaced as a whole: no stale campaigns.csv or clv.csv; study.db and the
    # user's file (not listed) survive.
    assert listing(out) == [MANIFEST, "notes.txt", "simulate.csv", "study.db"]
    assert (out / "study.db").read_bytes() == b"optuna"
    manifest = verify_folder(out)
    assert manifest is not None and set(manifest["files"]) == {"simulate.csv"}


def test_report_overwrite_replaces_only_report_files(tmp_path: Path) -> None:
    from reports.report import is_report_file

    out = tmp_path / "out"
    write_files(out, {"summary.json": text_writer("{}"), "report.html": text_writer("old")})
    write_files(out, {"report.md": text_writer("new")}, overwrite=True, replaces=is_report_file)
    assert listing(out) == [MANIFEST, "report.md", "summary.json"]


def test_a_failing_writer_leaves_the_folder_as_it_was(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_files(out, {"old.csv": text_writer("old")})
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(path: Path) -> None:
        path.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_files(out, {"new.csv": text_writer("1"), "bad.csv": broken}, overwrite=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert listing(tmp_path) == ["out"]


def test_results_and_report_in_one_transaction(tmp_path: Path) -> None:
    """Inside a transaction, loaders see the staged files; nothing is in the folder before commit."""
    out = tmp_path / "out"
    with OutputTransaction(out) as transaction:
        write_files(out, {"allocation.json": text_writer(json.dumps(PLAN))})
        assert not out.exists()
        assert output.locate(out, "allocation.json") is not None
        build_report(out)
        assert not out.exists()
    assert {"allocation.json", "report.html", "report.md", "summary.png", MANIFEST} <= set(listing(out))
    assert verify_folder(out) is not None
    assert out / "report.html" in transaction.written


def test_a_failing_report_leaves_no_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import reports.report

    def broken(*_args: object) -> object:
        raise RuntimeError("figure failed")

    monkeypatch.setattr(reports.report, "_summary_png", broken)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="figure failed"), OutputTransaction(out):
        write_files(out, {"allocation.json": text_writer(json.dumps(PLAN))})
        build_report(out)
    assert listing(tmp_path) == []


@pytest.mark.parametrize("failing_call", range(1, 8))
def test_a_cut_at_every_commit_step_leaves_old_new_or_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing_call: int
) -> None:
    """Stop the commit at its n-th rename or removal: the folder is the old one, the new one, or refused."""
    out = tmp_path / "out"
    write_files(out, {"a.csv": text_writer("old a"), "stale.csv": text_writer("old")})
    old = {p.name: p.read_bytes() for p in out.iterdir()}
    calls = {"n": 0}
    real_replace, real_unlink = os.replace, Path.unlink

    def counted(real: output.Callable[..., None]) -> output.Callable[..., None]:
        def wrapper(*args: object, **kwargs: object) -> None:
            calls["n"] += 1
            if calls["n"] == failing_call:
                raise OSError(5, "cut off")
            real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(os, "replace", counted(real_replace))
    monkeypatch.setattr(Path, "unlink", counted(real_unlink))
    try:
        write_files(out, {"a.csv": text_writer("new a"), "b.csv": text_writer("new b")}, overwrite=True)
        finished = True
    except OutputError:
        finished = False
    monkeypatch.undo()
    now = {p.name: p.read_bytes() for p in out.iterdir()}
    if finished:
        assert set(now) == {"a.csv", "b.csv", MANIFEST} and verify_folder(out) is not None
    elif now == old:
        assert verify_folder(out) is not None
    else:
        with pytest.raises(IncompleteOutputError, match="incomplete results|missing"):
            verify_folder(out)
    assert listing(tmp_path) == ["out"]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda out: (out / "daily.csv").write_bytes((out / "daily.csv").read_bytes()[:100]),
            "daily.csv has 100 bytes",
        ),
        (lambda out: (out / "daily.csv").unlink(), "daily.csv is missing"),
        (
            lambda out: (out / "daily.csv").write_bytes((out / "daily.csv").read_bytes().upper()),
            "was changed after it was written",
        ),
        (
            lambda out: (out / MANIFEST).write_text(
                json.dumps({**json.loads((out / MANIFEST).read_text()), "complete": False})
            ),
            "incomplete results",
        ),
        (lambda out: (out / MANIFEST).write_text("{not json"), "cannot be read as a manifest"),
    ],
    ids=["truncated", "missing", "changed", "cut_off", "damaged_manifest"],
)
def test_report_refuses_partial_or_truncated_folders(
    simulated: Path, tmp_path: Path, damage: output.Callable[[Path], object], message: str
) -> None:
    out = tmp_path / "out"
    shutil.copytree(simulated, out)
    damage(out)
    result = run("report", out)
    one_line_error(result, str(out), message)
    assert not (out / "report.html").exists()


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("simulated") / "out"
    result = run("simulate", SMALL, *TINY, "--out", out)
    assert result.returncode == 0, result.stderr
    return out


PLAN = {
    "channels": [
        {"channel": "search", "current_spend": 100.0, "recommended_spend": 80.0},
        {"channel": "social", "current_spend": 50.0, "recommended_spend": 70.0},
    ]
}


# ----------------------------------------------------------------------------- commands
def test_overwrite_leaves_no_stale_result_or_report(tmp_path: Path) -> None:
    """A rerun without campaigns and without --report leaves neither campaigns.csv nor an old report."""
    scenario = ROOT / "scenarios" / "omnichannel_retailer.yaml"
    out = tmp_path / "out"
    first = run("simulate", scenario, "--agents", "500", "--days", "60", "--out", out, "--report")
    assert first.returncode == 0, first.stderr
    assert {"campaigns.csv", "report.html", "report_revenue_and_spend.png"} <= set(listing(out))
    again = run("simulate", SMALL, *TINY, "--out", out, "--overwrite")
    assert again.returncode == 0, again.stderr
    assert set(listing(out)) == SIMULATE_FILES | {MANIFEST}
    assert verify_folder(out) is not None


def test_report_flag_refuses_an_existing_report_before_simulating(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("mine")
    result = run("simulate", SMALL, *TINY, "--out", out, "--report")
    one_line_error(result, "already holds report.html")
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        (lambda tmp: Path("/proc/commerce-sim-out"), "/proc"),
        (lambda tmp: tmp / "file.txt" / "out", "is a file, not a folder"),
        (lambda tmp: tmp / "file.txt", "not a folder"),
    ],
    ids=["under_proc", "below_a_file", "a_file"],
)
def test_bad_out_locations_are_bad_input_before_the_run(
    tmp_path: Path, target: output.Callable[[Path], Path], fragment: str
) -> None:
    (tmp_path / "file.txt").write_text("x")
    out = target(tmp_path)
    result = run("simulate", SMALL, *TINY, "--out", out)
    one_line_error(result, str(out), fragment)
    assert result.stdout == "", "refused before simulating"


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A separate tmpfs mount (another device than tmp_path); skipped where mounting is not allowed."""
    mount = tmp_path / "mnt"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        assert os.stat(mount).st_dev != os.stat(tmp_path).st_dev
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_out_on_a_separate_tmpfs_mount(tmpfs: Path) -> None:
    """--out as the mount point itself (a Docker volume) and a new folder inside it both work."""
    result = run("simulate", SMALL, *TINY, "--out", tmpfs, "--report")
    assert result.returncode == 0, result.stderr
    assert verify_folder(tmpfs) is not None
    assert SIMULATE_FILES | {"report.html", MANIFEST} <= set(listing(tmpfs))
    assert not [p for p in tmpfs.iterdir() if p.name.startswith(".")], "staging left inside the mount"
    assert not [p for p in tmpfs.parent.iterdir() if p.name.startswith(".")], "staging left beside it"
    again = run("simulate", SMALL, *TINY, "--seed", "9", "--out", tmpfs, "--overwrite")
    assert again.returncode == 0, again.stderr
    assert json.loads((tmpfs / "summary.json").read_text())["seed"] == 9
    assert "report.html" not in listing(tmpfs)  # the old report is gone with the old results
    inner = tmpfs / "runs" / "a"
    assert run("simulate", SMALL, *TINY, "--out", inner).returncode == 0
    assert verify_folder(inner) is not None
    assert run("report", inner).returncode == 0


def test_read_only_mount_is_bad_input(tmpfs: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    out = tmpfs / "out"
    result = run("simulate", SMALL, *TINY, "--out", out)
    one_line_error(result, str(out), "Read-only file system")
    assert result.stdout == ""


def _wait_for(process: subprocess.Popen[str], text: str, limit: float = 120) -> None:
    assert process.stdout is not None
    start = time.monotonic()
    while time.monotonic() - start < limit:
        line = process.stdout.readline()
        if text in line:
            return
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"{text!r} never printed")


@pytest.mark.parametrize(
    ("sent", "status", "word"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_interrupt_while_writing_tells_the_truth(
    tmp_path: Path, sent: signal.Signals, status: int, word: str
) -> None:
    """Ctrl-C or SIGTERM while the report is drawn: nothing written, and the message says so."""
    out = tmp_path / "out"
    scenario = ROOT / "scenarios" / "omnichannel_retailer.yaml"
    process = subprocess.Popen(
        [
            sys.executable,
            "run.py",
            "simulate",
            scenario,
            "--agents",
            "2000",
            "--days",
            "60",
            "--out",
            out,
            "--report",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    _wait_for(process, "Channels over the horizon")  # printed after simulating, before writing
    time.sleep(0.3)
    process.send_signal(sent)
    _stdout, stderr = process.communicate(timeout=120)
    if process.returncode == 0:
        pytest.skip("the run finished before the signal arrived")
    assert process.returncode == status, stderr
    what = f"{word}{' (SIGTERM)' if status == 143 else ''}"
    assert (
        stderr.splitlines()[-1]
        == f"{what}; nothing was written to {out} (it is as it was before the command)"
    )
    assert listing(tmp_path) == [], "no result and no staging folder"


def _start(command: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.mark.slow
@pytest.mark.parametrize("existing", [False, True], ids=["new_folder", "overwrite"])
def test_writer_killed_at_random_moments_leaves_complete_or_absent(tmp_path: Path, existing: bool) -> None:
    """SIGKILL `simulate --out --report` at random moments of its writing: complete, old, absent or refused.

    The kills fall between the end of the simulation (the channel table is printed) and the
    end of the process, the time the output transaction is open: results and report staged,
    then committed. Into an existing folder (``--overwrite``) a kill inside the commit may leave
    a folder whose manifest says it is incomplete: ``report`` must refuse it and a rerun repair it.
    """
    out = tmp_path / "out"
    command = [sys.executable, "run.py", "simulate", str(SMALL), "--agents", "2000", "--days", "20"]
    command += ["--out", str(out), "--report", "--overwrite"]
    process = _start([*command, "--seed", "1"])
    _wait_for(process, "Channels over the horizon")
    start = time.monotonic()
    process.communicate(timeout=120)
    writing = time.monotonic() - start  # seconds from the marker line to the end
    assert process.returncode == 0
    old = {p.name: p.read_bytes() for p in out.iterdir()}
    rng = random.Random(19)
    outcomes = {"absent": 0, "old": 0, "new": 0, "refused": 0}
    for _ in range(8):
        if not existing:
            shutil.rmtree(out, ignore_errors=True)
        process = _start([*command, "--seed", "2"])
        _wait_for(process, "Channels over the horizon")
        time.sleep(rng.uniform(0.0, 1.1) * writing)
        process.kill()
        process.communicate()
        if not out.exists():
            assert not existing
            outcomes["absent"] += 1
            continue
        try:
            manifest = verify_folder(out)
        except IncompleteOutputError:
            outcomes["refused"] += 1
            one_line_error(run("report", out, "--overwrite"), "rerun the command with --overwrite")
            repaired = _start([*command, "--seed", "1"])
            repaired.communicate(timeout=120)
            assert repaired.returncode == 0 and verify_folder(out) is not None
            continue
        assert manifest is not None, f"a folder without manifest: {listing(out)}"
        assert set(manifest["files"]) | {MANIFEST} == set(listing(out))
        now = {p.name: p.read_bytes() for p in out.iterdir()}
        outcomes["old" if existing and now == old else "new"] += 1
        if existing and now != old:  # back to the old results for the next kill
            _start([*command, "--seed", "1"]).communicate(timeout=120)
            old = {p.name: p.read_bytes() for p in out.iterdir()}
    # Staging folders of killed writers are removed by the next run on the folder.
    _start(command).communicate(timeout=120)
    assert listing(tmp_path) == ["out"], listing(tmp_path)
    assert sum(outcomes.values()) == 8
    print(f"kills while writing ({writing:.1f} s window): {outcomes}")


# ----------------------------------------------------------------------------- report only reads
def _recommendation(folder: Path, storage: str) -> None:
    folder.mkdir(exist_ok=True)
    plan = {**PLAN, "study_name": "s", "storage": storage}
    (folder / "recommendation.json").write_text(json.dumps(plan), encoding="utf-8")


@pytest.mark.parametrize(
    "storage",
    ["sqlite:///study.db", "sqlite:///{tmp}/elsewhere/new.db", "sqlite:///{tmp}/x.db"],
    ids=["relative_missing", "absolute_missing_folder", "absolute_missing_file"],
)
def test_report_never_creates_a_study_database(tmp_path: Path, storage: str) -> None:
    folder = tmp_path / "out"
    _recommendation(folder, storage.format(tmp=tmp_path))
    (tmp_path / "elsewhere").mkdir()
    build_report(folder)
    assert not list(tmp_path.rglob("*.db")), "report created a database"
    assert "is not there; its figures are left out" in (folder / "report.html").read_text()


def test_report_reads_an_existing_study_read_only(tmp_path: Path) -> None:
    import optuna

    folder = tmp_path / "out"
    _recommendation(folder, "sqlite:///study.db")
    study = optuna.create_study(study_name="s", storage=f"sqlite:///{folder / 'study.db'}")
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=3)
    before = (folder / "study.db").read_bytes()
    (folder / "study.db").chmod(0o444)
    build_report(folder)
    assert (folder / "study.db").read_bytes() == before
    # a one-objective study: the report draws the importances from the study (read-only)
    assert "report_param_importances.png" in listing(folder)


def test_mathtext_in_names_is_drawn_literally(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    plan = {"channels": [{**PLAN["channels"][0], "channel": "$un$bal$anced\\frac{"}, PLAN["channels"][1]]}
    plan["scenario"] = "Price $5 or $"
    (folder / "allocation.json").write_text(json.dumps(plan), encoding="utf-8")
    build_report(folder)
    assert "$un$bal$anced\\frac{" in (folder / "report.md").read_text()


def test_wrong_csv_columns_are_bad_input(simulated: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(simulated, out)
    (out / "channels_daily.csv").write_text("a,b\n1,2\n")
    output.seal_folder(out)  # edited by hand and sealed: the manifest holds, the columns do not
    one_line_error(run("report", out), "channels_daily.csv: missing columns")
    with pytest.raises(ReportError, match="missing columns"):
        build_report(out)


def test_deeply_nested_json_is_bad_input(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "allocation.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ReportError, match="allocation.json: cannot be read as JSON"):
        build_report(folder)


# ----------------------------------------------------------------------------- schema --out
def test_schema_out_respects_overwrite_and_writes_atomically(tmp_path: Path) -> None:
    target = tmp_path / "scenario.yaml"
    target.write_text("name: mine\n")
    refused = run("schema", "--out", target)
    one_line_error(refused, str(target), "--overwrite")
    assert target.read_text() == "name: mine\n"
    replaced = run("schema", "--out", target, "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert json.loads(target.read_text())["title"] == "Scenario"
    assert listing(tmp_path) == ["scenario.yaml"], "temporary file left behind"
    one_line_error(run("schema", "--out", tmp_path, "--overwrite"), "not a regular file")
    one_line_error(run("schema", "--out", target / "x.json"), "is a file, not a folder")
