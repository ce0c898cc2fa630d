"""``calibrate --media --predict-members K``: the posterior predictive check of orders and revenue.

The world is the recovery world of tests/test_media_calibration.py cut to 2,000 agents and 42
weeks (the shortest history that leaves enough weeks to fit after a 6-week hold-out),
simulated, exported (``orders.csv``, ``media.csv``) and calibrated on its own files from the
truth itself as the base, with the smallest ensemble (20 members) and 10 predictive members.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import simulator as sim
from simulator.calibrate.media import PREDICTED_MEASURES, predictive_members, weekly_orders
from tests.command_line import run

TRUTH = Path(__file__).parent / "fixtures" / "media" / "truth.yaml"
AGENTS, DAYS, HOLDOUT_WEEKS, MEMBERS, PREDICT = 2000, 294, 6, 20, 10


def test_weekly_orders_counts_rows_and_revenue_times_the_weight() -> None:
    days = np.array([-1, 0, 3, 7, 13, 14, 30], dtype=np.int64)
    revenue = np.array([5.0, 1.0, 2.0, 3.0, 4.0, 6.0, 9.0])
    weekly = weekly_orders(days, revenue, weeks=2, weight=3.0)
    np.testing.assert_array_equal(weekly, [[6.0, 6.0], [9.0, 21.0]])


def test_predictive_members_are_distinct_and_evenly_spaced() -> None:
    assert predictive_members(200, 20) == list(range(0, 200, 10))
    assert predictive_members(20, 20) == list(range(20))
    assert len(set(predictive_members(50, 7))) == 7


def _calibrate(folder: Path, out: str, workers: int) -> Path:
    scale = sim.load_scenario(TRUTH).with_overrides(agents=AGENTS, days=DAYS).population.scale
    result = run(
        "calibrate", folder / "truth.yaml", "--orders", folder / "world" / "orders.csv",
        "--media", folder / "world" / "media.csv", "--holdout-weeks", HOLDOUT_WEEKS,
        "--log-scale", scale, "--seeds", "2", "--members", MEMBERS, "--predict-members", PREDICT,
        "--workers", workers, "--no-progress", "--out", folder / out, "--report",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (folder / out / "stdout.txt").write_text(result.stdout)
    return folder / out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small world simulated and exported, then calibrated on its own files; the folder."""
    folder = tmp_path_factory.mktemp("media_predict")
    truth = sim.load_scenario(TRUTH).with_overrides(agents=AGENTS, days=DAYS)
    data = truth.model_dump(mode="json", exclude_none=True)
    (folder / "truth.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    simulated = run("simulate", folder / "truth.yaml", "--seed", "5", "--out", folder / "world")
    assert simulated.returncode == 0, simulated.stderr
    _calibrate(folder, "out", workers=2)
    return folder


@pytest.mark.slow
def test_orders_and_revenue_are_predicted_with_a_band(world: Path) -> None:
    out = world / "out"
    weekly = pd.read_csv(out / "media_holdout.csv")
    report = json.loads((out / "media_calibration.json").read_text())
    predictive = report["predictive"]
    assert predictive["members"] == PREDICT
    assert predictive["member_ids"] == predictive_members(MEMBERS, PREDICT)
    assert predictive["seeds"] == list(range(PREDICT))
    assert report["predicted"] == ["new_customers", "orders", "revenue"]
    # the actual columns are the exported log counted per week, times the log scale
    log = pd.read_csv(world / "world" / "orders.csv")
    scale = sim.load_scenario(world / "truth.yaml").population.scale
    week = (pd.to_datetime(log["date"]) - pd.Timestamp("2024-01-01")).dt.days // 7
    counted = log.groupby(week).agg(orders=("revenue", "size"), revenue=("revenue", "sum"))
    counted = counted.reindex(range(len(weekly)), fill_value=0)
    np.testing.assert_allclose(weekly["orders_actual"], counted["orders"] * scale)
    np.testing.assert_allclose(weekly["revenue_actual"], counted["revenue"] * scale)
    for measure in PREDICTED_MEASURES:
        low, mid, high = (weekly[f"{measure}_{c}"] for c in ("low", "predicted", "high"))
        assert ((low <= mid) & (mid <= high)).all()
        assert (high > low).any()
        for key in ("fit", "holdout"):
            block = predictive[key][measure]
            assert block["weeks"] == (HOLDOUT_WEEKS if key == "holdout" else DAYS // 7 - HOLDOUT_WEEKS)
            assert 0.0 <= block["coverage"] <= 1.0 and block["mape"] >= 0.0
    # a world calibrated on its own exported files: the hold-out orders fall inside the band
    assert predictive["holdout"]["orders"]["coverage"] > 0
    text = (out / "stdout.txt").read_text()
    assert f"weekly orders ({PREDICT} simulated members): inside the 95% interval" in text
    markdown = (out / "report.md").read_text()
    assert "report_media_predictive.png" in markdown
    row = next(line for line in markdown.splitlines() if line.startswith("| hold-out weeks | weekly orders"))
    assert f"{predictive['holdout']['orders']['mape']:.1%}" in row
    assert "Not predicted" not in markdown


@pytest.mark.slow
def test_same_seed_gives_identical_predictions_whatever_the_workers(world: Path) -> None:
    again = _calibrate(world, "again", workers=1)
    first = pd.read_csv(world / "out" / "media_holdout.csv")
    second = pd.read_csv(again / "media_holdout.csv")
    pd.testing.assert_frame_equal(first, second)
    assert (world / "out" / "media_calibration.json").read_text() == (
        again / "media_calibration.json"
    ).read_text()
