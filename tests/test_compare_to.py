"""``simulate --compare-to HISTORY``: a simulation next to a media history, per channel and month.

The invariant: a simulation compared with its own ``media.csv`` (and ``orders.csv``) has a gap of
exactly 0 on every measure, daily or summed to weeks; a history edited by hand shows exactly the
edit. Bad histories are refused before simulating: exit status 2, one line, nothing written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from run import main
from simulator import load_scenario, simulate
from simulator.data import load_media, load_orders
from simulator.engine.results import SimulationResult
from simulator.measure.compare import (
    ALL_CHANNELS,
    ALL_MONTHS,
    COMPARED_MEASURES,
    ORDER_LOG_CHANNEL,
    compare_to_history,
)

FIXTURES = Path(__file__).parent / "fixtures"
SMALL = FIXTURES / "small_valid.yaml"
COMPARE = FIXTURES / "compare"
DAYS = 70  # 2025-01-01 to 2025-03-11: three months, the last one partial


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[SimulationResult, Path]:
    """The small scenario simulated for 70 days, and its --out folder (media.csv, orders.csv)."""
    out = tmp_path_factory.mktemp("world") / "out"
    scenario = load_scenario(SMALL).with_overrides(days=DAYS)
    result = simulate(scenario)
    result.save(out)
    return result, out


def test_own_media_and_order_log_give_zero_gaps_on_every_measure(
    world: tuple[SimulationResult, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result, folder = world
    out = tmp_path / "out"
    scale = str(result.scenario.population.scale)
    status = main(
        ["simulate", str(SMALL), "--days", str(DAYS), "--compare-to", str(folder / "media.csv")]
        + ["--orders", str(folder / "orders.csv"), "--log-scale", scale, "--out", str(out)]
    )
    printed = capsys.readouterr()
    assert status == 0, printed.err
    table = pd.read_csv(out / "comparison.csv")
    channels = [c.name for c in result.scenario.channels]
    cells = table[(table["month"] != ALL_MONTHS) & ~table["channel"].isin([ALL_CHANNELS, ORDER_LOG_CHANNEL])]
    assert sorted(cells["month"].unique()) == ["2025-01", "2025-02", "2025-03"]
    assert set(cells["channel"]) == set(channels)
    assert set(cells["measure"]) == set(COMPARED_MEASURES)
    assert len(cells) == len(channels) * 3 * len(COMPARED_MEASURES)
    order_log = table[table["channel"] == ORDER_LOG_CHANNEL]
    assert set(order_log["measure"]) == {"new_customers", "orders", "revenue"} and len(order_log) == 4 * 3
    assert (table["gap"] == 0).all(), table[table["gap"] != 0]
    assert (table["simulated"] == table["actual"]).all()
    assert table["actual"].sum() > 0
    # The totals are the media's totals, and the order log's orders and revenue are the channels'.
    totals = table[(table["channel"] == ALL_CHANNELS) & (table["month"] == ALL_MONTHS)].set_index("measure")
    assert totals.loc["spend", "actual"] == pytest.approx(result.summary["marketing_spend"], rel=1e-12)
    log = table[(table["channel"] == ORDER_LOG_CHANNEL) & (table["month"] == ALL_MONTHS)].set_index("measure")
    for measure in ("orders", "revenue"):
        assert log.loc[measure, "actual"] == pytest.approx(totals.loc[measure, "actual"], rel=1e-9)
    assert "largest gaps: none (every gap is 0)" in printed.out
    assert "2025-01-01 to 2025-03-11 (70 days, daily data)" in printed.out
    assert "spend differs" not in printed.out


def test_weekly_history_of_the_same_world_gives_zero_gaps(world: tuple[SimulationResult, Path]) -> None:
    result, folder = world
    daily = pd.read_csv(folder / "media.csv", parse_dates=["date"])
    weekly = daily.groupby([pd.Grouper(key="date", freq="7D"), "channel"], sort=True).sum().reset_index()
    path = folder.parent / "weekly.csv"
    weekly.assign(date=weekly["date"].dt.strftime("%Y-%m-%d")).to_csv(path, index=False)
    comparison = compare_to_history(result, load_media(path))
    assert comparison.frequency == "weekly" and comparison.periods == 10 and comparison.left_out == 0
    assert (comparison.first, comparison.last) == (pd.Timestamp("2025-01-01"), pd.Timestamp("2025-03-11"))
    table = comparison.table
    # Ten weeks: the week starting 2025-01-29 counts in January, the one from 2025-02-26 in February.
    assert sorted(set(table["month"]) - {ALL_MONTHS}) == ["2025-01", "2025-02", "2025-03"]
    np.testing.assert_allclose(table["gap"], 0.0, atol=1e-9 * table["actual"].abs().max())
    assert comparison.largest_gaps().empty or (comparison.largest_gaps()["gap"].abs() < 1e-6).all()


def test_a_doubled_revenue_shows_exactly_that_gap(world: tuple[SimulationResult, Path]) -> None:
    result, folder = world
    history = pd.read_csv(folder / "media.csv", dtype={"date": str})
    edited = (history["channel"] == "marketplace") & history["date"].str.startswith("2025-02")
    history.loc[edited, "revenue"] *= 2
    path = folder.parent / "edited.csv"
    history.to_csv(path, index=False)
    comparison = compare_to_history(result, load_media(path))
    table = comparison.table.set_index(["channel", "month", "measure"])
    february = history.loc[edited, "revenue"].sum() / 2
    assert february > 0
    for key in [
        ("marketplace", "2025-02", "revenue"),
        ("marketplace", ALL_MONTHS, "revenue"),
        (ALL_CHANNELS, "2025-02", "revenue"),
        (ALL_CHANNELS, ALL_MONTHS, "revenue"),
    ]:
        assert table.loc[key, "gap"] == pytest.approx(-february, rel=1e-12), key
    assert table.loc[("marketplace", "2025-02", "revenue"), "gap_pct"] == pytest.approx(-50.0, rel=1e-12)
    changed = table[table["gap"] != 0].index.tolist()
    assert len(changed) == 4, changed
    largest = comparison.largest_gaps()
    assert len(largest) == 1
    assert largest.iloc[0][["channel", "month", "measure"]].tolist() == ["marketplace", "2025-02", "revenue"]
    assert "largest gaps: marketplace revenue -50% in 2025-02" in comparison.text()


def test_a_different_plan_and_a_longer_history_are_said(world: tuple[SimulationResult, Path]) -> None:
    """A history past the horizon is cut to the overlap; a spend gap warns that the plan differs."""
    _, folder = world
    short = simulate(load_scenario(SMALL).with_overrides(days=40))
    comparison = compare_to_history(short, load_media(folder / "media.csv"))
    assert comparison.periods == 40 and comparison.left_out == DAYS - 40
    assert comparison.last == pd.Timestamp("2025-02-09")
    assert "30 days of the history outside the simulated horizon left out" in comparison.text()
    history = pd.read_csv(folder / "media.csv", dtype={"date": str})
    history.loc[history["channel"] == "search", "spend"] *= 1.5
    path = folder.parent / "more_search.csv"
    history.to_csv(path, index=False)
    text = compare_to_history(short, load_media(path)).text()
    assert "note: the simulated spend differs from the history's" in text
    assert "calibrate SCENARIO --orders LOG --media HISTORY" in text


def test_order_log_new_customers_are_first_orders_in_the_log(world: tuple[SimulationResult, Path]) -> None:
    """The log's new customers are its customers' first orders, counted the same way on both sides."""
    result, folder = world
    log = load_orders(folder / "orders.csv")
    scale = result.scenario.population.scale
    comparison = compare_to_history(result, load_media(folder / "media.csv"), log, log_scale=scale)
    rows = comparison.table[comparison.table["channel"] == ORDER_LOG_CHANNEL].set_index(["month", "measure"])
    firsts = pd.read_csv(folder / "orders.csv").groupby("customer_id")["date"].min().str[:7].value_counts()
    for month, count in firsts.items():
        assert rows.loc[(month, "new_customers"), "actual"] == count * scale
    assert (rows["gap"] == 0).all()


MEDIA_BAD = sorted(
    p for p in (FIXTURES / "media").glob("wrong_*.csv") if not p.name.startswith("wrong_lift")
) + sorted(p for p in COMPARE.glob("wrong_*.csv") if p.name != "wrong_orders_no_overlap.csv")
EXPECTED = {
    "wrong_unknown_channel.csv": "unknown channel 'tv'",
    "wrong_no_overlap.csv": "no date inside the simulated horizon",
    "wrong_weekly_past_horizon.csv": "a week counts only when all its days are simulated",
    "wrong_bad_date.csv": "column 'date'",
    "wrong_negative_revenue.csv": "row 2, column 'revenue'",
    "wrong_non_numeric_new_customers.csv": "column 'new_customers'",
}


def _refused(arguments: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    out = tmp_path / "out"
    status = main(["simulate", str(SMALL), *arguments, "--out", str(out)])
    printed = capsys.readouterr()
    error = printed.err.strip()
    assert status == 2, printed
    assert len(error.splitlines()) == 1 and error.startswith("error: "), error
    assert not out.exists()
    assert printed.out == "", "refused before simulating"
    return error


@pytest.mark.parametrize("path", MEDIA_BAD, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_bad_history_exits_2_with_one_line_and_writes_nothing(
    path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    error = _refused(["--compare-to", str(path)], tmp_path, capsys)
    assert str(path) in error
    if path.parent == COMPARE:
        assert EXPECTED[path.name] in error


def test_no_overlap_names_both_periods(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    error = _refused(["--compare-to", str(COMPARE / "wrong_no_overlap.csv")], tmp_path, capsys)
    assert "the history covers 2024-06-01 to 2024-06-03, the simulation 2025-01-01 to 2025-01-20" in error


def test_unknown_channel_lists_the_scenarios(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    error = _refused(["--compare-to", str(COMPARE / "wrong_unknown_channel.csv")], tmp_path, capsys)
    assert "(the scenario's channels are: search, social, marketplace, crm, stores)" in error


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (
            ["--orders", str(COMPARE / "wrong_orders_no_overlap.csv")],
            "no order from 2025-01-01 to 2025-01-02",
        ),
        (["--orders", str(FIXTURES / "orders" / "negative_revenue.csv")], "column 'revenue'"),
        (["--orders", str(FIXTURES / "orders" / "missing_column.csv")], "missing_column.csv"),
    ],
)
def test_bad_order_log_exits_2(
    arguments: list[str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    error = _refused(["--compare-to", str(COMPARE / "valid_search_daily.csv"), *arguments], tmp_path, capsys)
    assert expected in error and arguments[1] in error


@pytest.mark.parametrize(
    "option", [["--orders", str(COMPARE / "wrong_orders_no_overlap.csv")], ["--columns", "a=b"]]
)
def test_order_log_options_need_compare_to(
    option: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    error = _refused(option, tmp_path, capsys)
    assert "needs --compare-to HISTORY" in error


def test_report_shows_the_comparison(
    world: tuple[SimulationResult, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, folder = world
    history = pd.read_csv(folder / "media.csv", dtype={"date": str})
    edited = (history["channel"] == "marketplace") & history["date"].str.startswith("2025-02")
    history.loc[edited, "revenue"] *= 2
    path = tmp_path / "edited.csv"
    history.to_csv(path, index=False)
    out = tmp_path / "out"
    status = main(
        [
            "simulate",
            str(SMALL),
            "--days",
            str(DAYS),
            "--compare-to",
            str(path),
            "--out",
            str(out),
            "--report",
        ]
    )
    assert status == 0, capsys.readouterr().err
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## Compared with a history" in report
    assert "Largest gaps: marketplace revenue -50% in 2025-02." in report
    assert (
        "| marketplace | revenue |" in report and "| -50.0% |" not in report
    )  # totals: the month is diluted
    assert "spend differs" not in report
