"""Budget allocation on the simulator: curves, constraints from scenario files, the closed loop."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scenario_factory import ROOT, small, three_channel_market

from optimizer.allocate import AllocationResult, allocate_budget
from optimizer.curves import apply_plan, current_plan, fit_curve, hill
from optimizer.settings import allocation_settings
from simulator import ScenarioError
from simulator.measure.incrementality import planned_spend

SCENARIO = "scenarios/omnichannel_retailer.yaml"


# Curves ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("top", "half", "shape"), [(5e6, 2e5, 1.0), (1e6, 8e5, 0.6), (3e5, 5e4, 0.8)])
def test_hill_fit_recovers_a_known_concave_curve(top: float, half: float, shape: float) -> None:
    spend = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0]) * 3e5
    points = pd.DataFrame({"spend": spend, "outcome": hill(spend, top, half, shape), "se": 0.0})
    curve = fit_curve("ch", "profit", 3e5, points)
    assert curve.model == "hill" and curve.note == ""
    lowest = spend[1]
    grid = np.linspace(lowest, spend.max(), 50)
    assert np.allclose(curve(grid), hill(grid, top, half, shape), rtol=1e-3, atol=top * 1e-4)
    # Below the lowest measured positive spend nothing was measured: a straight line from 0.
    below = np.linspace(0, lowest, 11)
    np.testing.assert_allclose(curve(below), below / lowest * float(curve(lowest)), rtol=1e-9)
    assert curve.r2 > 0.9999
    # Its piecewise-linear form is concave and close to the curve on the measured range.
    assert np.all(np.diff(curve.pwl.slopes) <= 1e-9)
    assert np.max(np.abs(curve.pwl(grid) - curve(grid))) < 0.02 * top


def test_a_channel_that_brings_nothing_gets_a_flat_curve() -> None:
    spend = np.array([0.0, 1e5, 2e5, 3e5])
    points = pd.DataFrame({"spend": spend, "outcome": [0.0, -50.0, -20.0, -80.0], "se": 30.0})
    curve = fit_curve("dud", "profit", 1e5, points)
    assert curve.top == 0.0
    assert curve.marginal(1e5) == 0.0


def test_apply_plan_sets_each_channel_total_and_keeps_the_others() -> None:
    scenario = small(days=90)
    current = current_plan(scenario)
    planned = apply_plan(scenario, {"search": current["search"] * 1.7, "social": 0.0})
    after = current_plan(planned)
    assert after["search"] == pytest.approx(current["search"] * 1.7)
    assert after["social"] == 0.0
    assert after["crm"] == pytest.approx(current["crm"])
    periods = apply_plan(scenario, {"search": [100.0, 200.0, 300.0]})
    channel = next(c for c in periods.channels if c.name == "search")
    assert planned_spend(channel, 90) == pytest.approx(600.0)
    assert [round(p.daily_spend * (p.end_day - p.start_day + 1), 6) for p in channel.budget_plan] == [
        100.0,
        200.0,
        300.0,
    ]


# Settings ----------------------------------------------------------------------------------
def test_ratio_bounds_resolve_against_current_spend() -> None:
    scenario = small(days=90)
    settings = allocation_settings(scenario, {"bounds": {"search": {"min_ratio": 0.5, "max": 1e6}}})
    lower, upper = settings.bounds["search"].resolve(1000.0, settings.default_bounds)
    assert (lower, upper) == (500.0, 1e6)
    lower, upper = settings.default_bounds.resolve(1000.0, settings.default_bounds)
    assert (lower, upper) == (0.0, 3000.0)


@pytest.mark.parametrize(
    ("section", "field", "words"),
    [
        (
            {"objective": "margin"},
            "allocation.objective",
            "'profit', 'revenue', 'new_customers', 'realized_value' or 'lifetime_value'",
        ),
        (
            {"objective": "clv"},
            "allocation.objective",
            "'clv' is retired: the margin realized by the customers",
        ),
        ({"objective": "customers"}, "allocation.objective", "'customers' is retired: it is 'new_customers'"),
        ({"objective": "roi"}, "allocation.objective", "must be 'profit', 'revenue'"),
        ({"locked": ["tv"]}, "allocation.locked[0]", "channel 'tv' is not in the scenario"),
        ({"bounds": {"search": {"min": 1, "min_ratio": 0.5}}}, "allocation.bounds.search", "not both"),
        ({"response": {"levels": [0.5, 1, 2]}}, "allocation.response", "must include 0"),
        ({"periods": 2, "period_budgets": [1.0]}, "allocation", "one per period"),
    ],
)
def test_bad_settings_name_the_field(section: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        allocation_settings(small(days=30), section, "plan.yaml")
    assert caught.value.field.startswith(field)
    assert str(caught.value).startswith("plan.yaml: ")
    assert words in str(caught.value)
    assert "\n" not in str(caught.value)


# Command line: conflicts in money terms, exit 2, nothing written -------------------------------
def _allocate(
    tmp_path: Path, constraints: dict[str, object], *extra: str
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "constraints.yaml"
    path.write_text(yaml.safe_dump(constraints))
    command = [sys.executable, "run.py", "allocate", SCENARIO, "--constraints", str(path)]
    command += ["--out", str(tmp_path / "out"), *extra]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("constraints", "message"),
    [
        (
            {"budget": 1_000_000, "bounds": {"search": {"min": 800_000}, "social": {"min": 700_000}}},
            "allocation.budget: budget 1,000,000 is below the channel minimums, which add up to 1,500,000",
        ),
        (
            {"bounds": {"search": {"min": 800_000, "max": 100_000}}},
            "allocation.bounds.search: lower bound 800,000 of search is above its upper bound 100,000",
        ),
        (
            {"shares": [{"channels": ["social"], "min": 0.7}, {"channels": ["search"], "min": 0.5}]},
            "add up to 120%, over 100% of total spend",
        ),
        ({"locked": ["tv"]}, "allocation.locked[0]: channel 'tv' is not in the scenario"),
    ],
)
def test_infeasible_constraints_fail_fast_with_one_line(
    tmp_path: Path, constraints: dict[str, object], message: str
) -> None:
    done = _allocate(tmp_path, constraints)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {tmp_path / 'constraints.yaml'}: ")
    assert message in lines[0]
    assert not (tmp_path / "out").exists()


def test_budget_below_the_locked_spend_is_refused(tmp_path: Path) -> None:
    done = _allocate(tmp_path, {"locked": ["search", "social"]}, "--budget", "100000")
    assert done.returncode == 2
    assert "budget 100,000 is below the channel minimums, which add up to 4,015,000" in done.stderr
    assert not (tmp_path / "out").exists()


# The whole loop, on a market where the answer is known ---------------------------------------
@pytest.fixture(scope="module")
def three_channels() -> AllocationResult:
    """'dud' buys nothing and the small market saturates the others early: money should be saved."""
    scenario = three_channel_market(agents=3000, days=60)
    settings = allocation_settings(
        scenario,
        {
            "budget_mode": "at_most",
            "response": {"seeds": 2, "levels": [0, 0.5, 1, 2, 3]},
            "closed_loop": {"rounds": 1, "seeds": 4},
            "shares": [{"channels": ["saturated"], "max": 0.6}],
            "portfolio": {"cycle_days": 14},
        },
    )
    return allocate_budget(scenario, settings, workers=2)


@pytest.mark.slow
def test_allocation_respects_the_budget_and_every_bound(three_channels: AllocationResult) -> None:
    table = three_channels.table
    total = table["recommended_spend"].sum()
    assert total <= table["current_spend"].sum() * (1 + 1e-9)
    assert (table["recommended_spend"] >= -1e-6).all()
    assert (table["recommended_spend"] <= 3 * table["current_spend"] * (1 + 1e-9)).all()
    assert table.loc["saturated", "recommended_spend"] <= 0.6 * total * (1 + 1e-9) + 1e-6


@pytest.mark.slow
def test_spend_that_brings_nothing_back_is_cut(three_channels: AllocationResult) -> None:
    table = three_channels.table
    assert table.loc["dud", "recommended_spend"] == pytest.approx(0.0, abs=1e-6)
    # In 'at_most' mode a channel is funded only while its next unit pays for itself (break-even 0).
    funded = table[table["recommended_spend"] > 1e-6]
    assert (funded["marginal_roi"] >= -0.05).all(), funded
    assert three_channels.portfolio.loc["dud", "rule"] == "exit"


@pytest.mark.slow
def test_recommended_plan_beats_the_current_plan_on_fresh_paired_seeds(
    three_channels: AllocationResult,
) -> None:
    comparison = three_channels.comparison
    saved = -comparison.loc["marketing_spend", "diff"]
    assert saved >= 18_000 - 1e-6  # at least the dud's whole budget
    profit = comparison.loc["profit"]
    assert profit["diff_low"] > 0, profit
    final = three_channels.final_gap
    assert final["simulated_change"] == pytest.approx(profit["diff"])
    # The curves' prediction of the profit change is right to within the simulation noise.
    assert abs(final["gap"]) <= max(final["noise"], 0.1 * saved), final


@pytest.mark.slow
def test_saved_files_carry_the_same_numbers(three_channels: AllocationResult, tmp_path: Path) -> None:
    written = three_channels.save(tmp_path)
    assert sorted(p.name for p in written) == sorted(
        ["allocation.csv", "allocation.json", "response_curves.csv", "response_measurements.csv"]
    )
    data = json.loads((tmp_path / "allocation.json").read_text())
    spend = {row["channel"]: row["recommended_spend"] for row in data["channels"]}
    assert spend == pytest.approx(three_channels.table["recommended_spend"].to_dict())
    assert data["expected"]["profit"]["change"]["mean"] == pytest.approx(
        three_channels.comparison.loc["profit", "diff"]
    )
    binding = [p["constraint"] for p in data["shadow_prices"]]
    assert binding == [p.constraint for p in three_channels.shadow_prices]
    assert "budget" not in binding  # 'at_most' and money left over: the budget does not bind
    curves = pd.read_csv(tmp_path / "response_curves.csv")
    assert set(curves["channel"]) == {"working", "saturated", "dud"}
    with pytest.raises(FileExistsError):
        three_channels.save(tmp_path)


# Report wiring on the command line -----------------------------------------------------------
def test_report_of_a_folder_without_results_is_one_line_exit_2(tmp_path: Path) -> None:
    command = [sys.executable, "run.py", "report", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_report_flag_needs_an_output_folder() -> None:
    command = [sys.executable, "run.py", "simulate", SCENARIO, "--days", "5", "--agents", "500", "--report"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "--report needs --out" in done.stderr


@pytest.mark.slow
def test_notebook_display_and_plots_match_the_report(
    three_channels: AllocationResult, tmp_path: Path
) -> None:
    from optimizer.recommendation import expected_frame
    from reports import build_report, figures

    html = three_channels._repr_html_()
    for channel, row in three_channels.table.iterrows():
        assert f'>{channel}</th><td style="text-align: right">{row["current_spend"]:,.0f}</td>' in html
        if np.isfinite(row["change_pct"]):
            assert f'<td style="text-align: right">{row["change_pct"]:.1%}</td>' in html
    assert "change (95% interval)" in html and "Spend per channel" in html
    # The plot helpers draw the report's figures from the same data the report reads from the files.
    three_channels.save(tmp_path)
    data = json.loads((tmp_path / "allocation.json").read_text())
    channels = pd.DataFrame(data["channels"])
    currency = data["currency"]
    spend = three_channels.plot_spend()
    saved = figures.spend_comparison(channels, currency=currency)
    for a, b in zip(spend.axes[0].containers, saved.axes[0].containers, strict=True):
        assert [p.get_height() for p in a] == pytest.approx([p.get_height() for p in b])
    curves = three_channels.plot_response_curves()
    report_curves = figures.response_curves(
        pd.read_csv(tmp_path / "response_curves.csv"),
        channels,
        pd.read_csv(tmp_path / "response_measurements.csv"),
        currency=currency,
    )
    for a, b in zip(curves.axes, report_curves.axes, strict=True):
        assert a.get_title() == b.get_title() and a.get_ylabel() == b.get_ylabel()
        for la, lb in zip(a.get_lines(), b.get_lines(), strict=True):
            assert np.asarray(la.get_ydata(), float) == pytest.approx(np.asarray(lb.get_ydata(), float))
    outcomes = three_channels.plot_outcomes()
    table = expected_frame(data["expected"])
    report_outcomes = figures.outcome_comparison(table[table["plan"] != "change"], currency=currency)
    assert [ax.get_title() for ax in outcomes.axes] == [ax.get_title() for ax in report_outcomes.axes]
    # The report of this real output shows the numbers of allocation.json.
    build_report(tmp_path)
    report = (tmp_path / "report.html").read_text(encoding="utf-8")
    for row in data["channels"]:
        shown = [f"{row[k]:,.0f}" for k in ("current_spend", "recommended_spend")]
        assert f"<td>{row['channel']}</td><td>{shown[0]}</td><td>{shown[1]}</td>" in report
        assert f"<td>{row['marginal_roi']:.2f}</td>" in report
    profit = data["expected"]["profit"]["change"]
    change = f"{profit['mean']:+,.0f} [{profit['low']:+,.0f}, {profit['high']:+,.0f}]"
    assert f"<td>{change}</td>" in report
