"""A new user's first hour: bundled scenarios by name anywhere, a short printout, reruns that resume."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import Cli
from scenario_factory import BUNDLED

MAX_LINES = 40
"""Longest default printout of ``simulate`` (issue 18: it was about 130 lines)."""


@pytest.mark.parametrize("name", [path.stem for path in BUNDLED])
def test_simulate_by_name_from_any_folder_prints_at_most_40_lines(
    name: str, cli: Cli, tmp_path: Path
) -> None:
    # Full horizon, so every campaign and lever of the scenario is in the printout; few agents.
    done = cli("simulate", name, "--agents", "1000", "--no-progress")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert 10 < len(lines) <= MAX_LINES, done.stdout
    assert "nan" not in done.stdout.lower().replace("n/a", "")
    assert "days, seed" in lines[0]  # the first line names the run
    assert not list(tmp_path.iterdir())  # no --out: nothing written where it ran


def test_verbose_printout_adds_the_lever_tables(cli: Cli) -> None:
    command = ("simulate", "omnichannel_retailer", "--agents", "500", "--days", "60", "--no-progress")
    short, verbose = cli(*command), cli(*command, "--verbose")
    assert short.returncode == verbose.returncode == 0, short.stderr + verbose.stderr
    assert len(verbose.stdout.splitlines()) > len(short.stdout.splitlines())


def test_optimize_refuses_seed_values_with_one_line(cli: Cli) -> None:
    done = cli("optimize", "omnichannel_retailer", "--seeds", "1", "2")
    assert done.returncode == 2
    errors = done.stderr.strip().splitlines()
    assert len(errors) == 1 and "--n-seeds N" in errors[0], done.stderr


@pytest.mark.slow
def test_rerunning_optimize_resumes_the_study_and_refreshes_the_report(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = ["optimize", "omnichannel_retailer", "--agents", "300", "--days", "20", "--n-seeds", "1"]
    command += ["--no-budget", "--no-progress", "--out", str(out)]
    first = cli(*command, "--trials", "2", "--report")
    assert first.returncode == 0, first.stderr
    before = json.loads((out / "recommendation.json").read_text())
    assert before["trials"]["finished"] == 2
    # The study's absolute location and the dashboard command are printed.
    url = f"sqlite:///{(out / 'study.db').resolve()}"
    assert f"watch it: optuna-dashboard '{url}'" in first.stdout

    # The same command with a larger --trials, without --overwrite or --report: it resumes.
    second = cli(*command, "--trials", "4")
    assert second.returncode == 0, second.stderr
    after = json.loads((out / "recommendation.json").read_text())
    assert after["trials"]["finished"] == 4 > before["trials"]["finished"]
    assert after["storage"] == "sqlite:///study.db"

    # The report was refreshed with the new recommendation (it was there, so it is rewritten).
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Policy-search report" in html
    assert f"Chosen policy: trial {after['chosen_trial']}." in html
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) >= after["trials"]["finished"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] is True and "report.html" in manifest["files"]
    book = pd.read_excel(out / "report.xlsx", sheet_name=None)
    planned = book["allocation"].set_index("channel")["recommended spend"]
    for row in after["channels"]:
        assert planned[row["channel"]] == pytest.approx(row["recommended_spend"])
    policy = book["policy"]
    assert list(policy["value"].astype(str)) == [str(r["value"]) for r in after["policy_table"]]
