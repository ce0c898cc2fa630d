"""Notebook display: readable HTML tables, and plot helpers that draw the report's figures."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from reports import figures
from simulator import SimulationResult, simulate
from simulator.common.display import format_kpi, format_range, html_table
from simulator.measure.replicate import replicate
from tests.scenario_factory import small


@pytest.fixture(scope="module")
def result() -> SimulationResult:
    return simulate(small(agents=1500, days=40), seed=2)


def cells(html: str) -> list[str]:
    return re.findall(r"<t[dh][^>]*>([^<]*)</t[dh]>", html)


def test_format_kpi_by_name() -> None:
    assert format_kpi("revenue", 1234567.8) == "1,234,568"
    assert format_kpi("roi", 2.345) == "2.35"
    assert format_kpi("repurchase_rate", 0.1234) == "12.3%"
    assert format_kpi("change_pct", -0.5) == "-50.0%"
    assert format_kpi("cac", 53.071) == "53.07"
    assert format_kpi("profit", float("nan")) == "n/a"
    assert format_kpi("portfolio", "keep") == "keep"
    assert format_range("profit", 80_000, 50_000, 110_000, signed=True) == "+80,000 [+50,000, +110,000]"


def test_html_table_escapes_and_formats() -> None:
    frame = pd.DataFrame({"spend": [1500.0], "roas": [4.0]}, index=pd.Index(["<b>x</b>"], name="channel"))
    html = html_table(frame, caption="a & b")
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
    assert cells(html) == ["channel", "spend", "roas", "&lt;b&gt;x&lt;/b&gt;", "1,500", "4.00"]
    assert "a &amp; b" in html


def test_simulation_result_shows_kpis_and_channels(result: SimulationResult) -> None:
    html = result._repr_html_()
    shown = cells(html)
    for kpi in ("revenue", "profit", "roi", "new_customers"):
        at = shown.index(kpi)
        assert shown[at + 1] == format_kpi(kpi, result.summary[kpi])
    table = result.channel_table()
    assert list(table.index) == result.scenario.channel_names
    for channel in table.index:
        at = shown.index(channel)
        assert shown[at + 1] == format_kpi("spend", table.loc[channel, "spend"])
    assert f"All {len(result.summary)} KPIs" in html
    assert result.scenario.economics.currency in html


def test_plot_helpers_draw_the_report_figures_from_the_saved_tables(
    result: SimulationResult, tmp_path: Path
) -> None:
    # The report reads the saved CSV files; the helpers must plot the same data.
    result.save(tmp_path)
    daily = pd.read_csv(tmp_path / "daily.csv")
    channels = pd.read_csv(tmp_path / "channels_daily.csv")
    levers = pd.read_csv(tmp_path / "levers_daily.csv")
    campaigns = pd.read_csv(tmp_path / "campaigns.csv") if (tmp_path / "campaigns.csv").exists() else None
    currency = result.scenario.economics.currency
    pairs = [
        (result.plot_revenue_and_spend(), figures.revenue_and_spend(daily, campaigns, currency=currency)),
        (result.plot_funnel(), figures.funnel(channels)),
        (result.plot_loyalty_tiers(), figures.loyalty_tiers(levers)),
    ]
    for helper, report in pairs:
        assert isinstance(helper, Figure)
        assert_same_drawing(helper, report)
    (ax,) = pairs[2][0].axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["regular", "silver", "gold", "diamond"]


def assert_same_drawing(left: Figure, right: Figure) -> None:
    assert len(left.axes) == len(right.axes)
    for a, b in zip(left.axes, right.axes, strict=True):
        assert (a.get_title(), a.get_xlabel(), a.get_ylabel()) == (
            b.get_title(),
            b.get_xlabel(),
            b.get_ylabel(),
        )
        for la, lb in zip(a.get_lines(), b.get_lines(), strict=True):
            np.testing.assert_allclose(np.asarray(la.get_xdata(), float), np.asarray(lb.get_xdata(), float))
            np.testing.assert_allclose(np.asarray(la.get_ydata(), float), np.asarray(lb.get_ydata(), float))
        heights = [[p.get_height() for p in c] for c in a.containers]
        assert heights == [[p.get_height() for p in c] for c in b.containers]
        assert len(a.collections) == len(b.collections)


def test_replication_result_shows_intervals_and_paired_differences() -> None:
    more_search = {"channels": {"search": {"daily_spend": 9000}}}
    reps = replicate(small(agents=800, days=20), seeds=[1, 2], variants={"more_search": more_search})
    html = reps._repr_html_()
    shown = cells(html)
    assert shown[:4] == [
        "KPI",
        "base (95% interval)",
        "more_search (95% interval)",
        "more_search - base, paired",
    ]
    summary = reps.summary(["marketing_spend"]).loc[("more_search", "marketing_spend")]
    row = shown[shown.index("marketing_spend") : shown.index("marketing_spend") + 4]
    diff = format_range(
        "marketing_spend", summary["diff"], summary["diff_ci_low"], summary["diff_ci_high"], signed=True
    )
    assert row[3] == diff
    assert "seed(s) (1, 2)" in html
