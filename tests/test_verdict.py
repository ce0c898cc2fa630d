"""The verdict on a plan: recommend only what is confirmed, keep the current plan otherwise, say so first."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from scenario_factory import ROOT, uniform_market, uniform_market_dict

from optimizer.allocate import AllocationResult, _rule_conflict, allocate_budget, check_constraints
from optimizer.curves import fit_curve
from optimizer.recommendation import KEEP, RECOMMEND, RUN_LARGER, Verdict, decide, headline
from optimizer.settings import allocation_settings
from simulator import ScenarioWarning


# The decision ----------------------------------------------------------------------------------
def _check(rows: dict[str, tuple[float, float, float, float]]) -> pd.DataFrame:
    """A check table: per metric (current, change, change_low, change_high)."""
    return pd.DataFrame(rows, index=["current", "change", "change_low", "change_high"]).T


def test_recommend_only_when_the_interval_is_above_zero() -> None:
    confirmed = _check({"profit": (1000.0, 50.0, 10.0, 90.0)})
    assert decide(confirmed, "profit", seeds=5).decision == RECOMMEND
    leaning = _check({"profit": (1000.0, 50.0, -10.0, 110.0)})
    verdict = decide(leaning, "profit", seeds=5, agents=5000)
    assert verdict.decision == RUN_LARGER
    # Half-width 60 against a gain of 50: (60 / 50)^2 = 1.44, so at least twice the runs.
    assert "about 2x the runs" in verdict.next_step and "--agents 10000" in verdict.next_step
    worse = _check({"profit": (1000.0, -50.0, -90.0, -10.0)})
    assert decide(worse, "profit", seeds=5).decision == KEEP
    flat = _check({"profit": (1000.0, -1.0, -60.0, 58.0)})
    assert decide(flat, "profit", seeds=5).decision == KEEP  # no better on average


def test_a_gain_too_small_to_matter_keeps_the_current_plan() -> None:
    # The interval's top, +0.8%, is below the 1% worth acting on: a larger run is not worth it.
    small = _check({"profit": (10_000.0, 30.0, -20.0, 80.0)})
    verdict = decide(small, "profit", seeds=5, min_gain=0.01)
    assert verdict.decision == KEEP and "below the 1.0% worth acting on" in verdict.reason
    assert decide(small, "profit", seeds=5, min_gain=0.005).decision == RUN_LARGER


def test_a_guard_rail_significantly_worse_blocks_a_confirmed_gain() -> None:
    table = _check(
        {
            "profit": (1000.0, 50.0, 10.0, 90.0),
            "new_customers": (300.0, -20.0, -30.0, -5.0),
            "marketing_spend": (500.0, 40.0, 10.0, 70.0),
        }
    )
    assert decide(table, "profit").decision == RECOMMEND
    verdict = decide(table, "profit", guard_rails=["new_customers"], seeds=5)
    assert verdict.decision == KEEP and "guard-rail" in verdict.reason and "new_customers" in verdict.reason
    # A cost is worse when it rises.
    assert decide(table, "profit", guard_rails=["marketing_spend"]).decision == KEEP
    within = _check({"profit": (1000.0, 50.0, 10.0, 90.0), "new_customers": (300.0, -5.0, -30.0, 20.0)})
    assert decide(within, "profit", guard_rails=["new_customers"]).decision == RECOMMEND


def test_only_a_recommendation_is_worded_as_an_instruction() -> None:
    channels = [
        {"channel": "search", "current_spend": 500_000.0, "recommended_spend": 100_000.0},
        {"channel": "marketplace", "current_spend": 100_000.0, "recommended_spend": 500_000.0},
    ]
    expected = {
        "profit": {
            "current": {"mean": 1e6, "low": 9e5, "high": 1.1e6},
            "change": {"mean": -6.6e4, "low": -1.6e5, "high": 2.7e4},
        }
    }
    keep = Verdict(KEEP, "the plan tried did no better than the current one")
    text = headline(keep, channels, expected, "profit", "CNY")
    assert text.startswith("Keep current plan: the plan tried did no better")
    assert "The plan tried moved 400k CNY from search to marketplace." in text
    assert "Move" not in text
    confirmed = headline(Verdict(RECOMMEND, "confirmed"), channels, expected, "profit", "CNY")
    assert confirmed.startswith("Recommend: Move 400k CNY from search to marketplace: -6.6% profit")


# What was measured bounds what is said ----------------------------------------------------------
def test_a_hill_fit_on_a_bound_is_replaced_by_the_measured_points() -> None:
    # Everything happens before the first measured level: the Hill fit can only put its
    # half-saturation at the bound of its range, an artefact the curve must not extrapolate.
    spend = np.array([0.0, 0.5, 1.0, 2.0, 3.0]) * 1e5
    outcome = np.array([0.0, 4e5, 4e5, 4e5, 4e5])
    points = pd.DataFrame({"level": [0, 0.5, 1, 2, 3], "spend": spend, "outcome": outcome, "se": 1e3})
    curve = fit_curve("crm", "profit", 1e5, points)
    assert curve.model == "measured" and "bound" in curve.note
    np.testing.assert_allclose(curve(spend), outcome, rtol=1e-6)  # through the points
    # Below the lowest measured level the response is the straight line from 0, not a cliff.
    assert curve.marginal(10.0) == pytest.approx(4e5 / 0.5e5)


def test_a_hill_fit_outside_the_intervals_is_replaced() -> None:
    spend = np.array([0.0, 0.25, 0.5, 1.0, 2.0, 3.0]) * 1e5
    outcome = np.array([0.0, 1e5, 1.2e5, 2.5e5, 2.6e5, 2.7e5])  # a step no concave Hill curve follows
    se = np.full(6, 2e3)
    points = pd.DataFrame(
        {
            "level": spend / 1e5,
            "spend": spend,
            "outcome": outcome,
            "se": se,
            "low": outcome - 3 * se,
            "high": outcome + 3 * se,
        }
    )
    curve = fit_curve("search", "profit", 1e5, points)
    assert curve.model == "measured" and "95% interval" in curve.note
    slopes = curve.pwl.slopes
    assert np.all(np.diff(slopes) <= 1e-9) and np.all(slopes >= 0)  # concave, never falling


def test_a_budget_too_small_and_bounds_beyond_the_measured_range_are_warned() -> None:
    scenario = uniform_market(
        2000, [{"name": "a", "daily_spend": 100.0}, {"name": "b", "daily_spend": 100.0}]
    )
    with pytest.warns(ScenarioWarning) as caught:
        check_constraints(scenario, allocation_settings(scenario, {"budget": 10.0}))
    (message,) = [str(w.message) for w in caught]
    assert "too small for meaningful spend on the 2 funded channels" in message and "\n" not in message
    with pytest.warns(ScenarioWarning) as caught:
        bounds = {"a": {"min_ratio": 4.0, "max_ratio": 5.0}}  # levels reach 3x current spend
        check_constraints(scenario, allocation_settings(scenario, {"bounds": bounds, "budget": 20_000.0}))
    (message,) = [str(w.message) for w in caught]
    assert "force spend outside every measured range" in message and "\n" not in message
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_constraints(scenario, allocation_settings(scenario))  # the defaults warn about nothing


def _two_channels(agents: int = 2000, days: int = 30) -> Any:
    channel = {"daily_spend": 150.0, "awareness_per_impression": 0.05, "saturation_spend": 150.0}
    return uniform_market(agents, [dict(channel, name="a"), dict(channel, name="b")], days=days)


QUICK = {"response": {"seeds": 2, "levels": [0, 0.25, 0.5, 1, 2]}, "closed_loop": {"rounds": 0, "seeds": 3}}


@pytest.mark.slow
def test_no_channel_leaves_its_measured_range_unless_flagged(tmp_path: Path) -> None:
    from reports import build_report

    scenario = _two_channels()
    inside = allocate_budget(scenario, allocation_settings(scenario, QUICK), workers=2)
    table = inside.table
    assert table["within_measured_range"].all()
    assert (table["recommended_spend"] <= table["measured_max_spend"] * (1 + 1e-9)).all()
    assert not any("OUTSIDE" in note for note in inside.notes)
    # A lower bound of 3x current spend is beyond the largest measured level (2x): forced out, flagged.
    forced = allocation_settings(
        scenario, QUICK | {"bounds": {"a": {"min_ratio": 3.0}}, "budget": 20_000.0, "budget_mode": "at_most"}
    )
    with pytest.warns(ScenarioWarning, match="outside every measured range"):
        outside = allocate_budget(scenario, forced, workers=2)
    assert not bool(outside.table.loc["a", "within_measured_range"])
    assert any(note.startswith("a: spend") and "OUTSIDE the measured range" in note for note in outside.notes)
    outside.save(tmp_path)
    data = json.loads((tmp_path / "allocation.json").read_text())
    assert data["outside_measured_range"] == ["a"]
    build_report(tmp_path)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "OUTSIDE THE MEASURED RANGE: a (" in html
    assert "<td>OUTSIDE</td>" in html


def test_portfolio_rules_that_disagree_with_the_plan_say_why() -> None:
    # The case: CRM earns 49x its spend on average, yet its next unit earns less than elsewhere.
    text = _rule_conflict("expand", 49.4, 36_000.0, 3_000.0, 0.37, 1.03, 1.03)
    assert text.startswith("the rule says expand (ROI 49.40 on all its spend) but the plan cuts it by 92%")
    assert (
        "its marginal ROI at the current spend is 0.37 against 1.03 for the channels the plan funds" in text
    )
    constrained = _rule_conflict("expand", 49.4, 36_000.0, 3_000.0, 1.5, 1.6, 1.03)
    assert "the cut comes from the constraints" in constrained
    assert _rule_conflict("expand", 2.0, 100.0, 150.0, 0.5, 0.4, 0.4) == ""  # expanded: no conflict
    assert _rule_conflict("expand", 2.0, 100.0, 97.0, 0.5, 0.4, 0.4) == ""  # a 3% move keeps it
    assert "but the plan keeps" in _rule_conflict("exit", -0.5, 100.0, 80.0, -0.2, -0.1, 0.3)


# A market whose answer is known: do not move ------------------------------------------------------
def _do_not_move_market(path: Path) -> Path:
    """Three identical channels sharing the budget equally, with diminishing returns, and a
    first-order coupon at 0% for shoppers whom discounts do not move.

    By symmetry and diminishing returns the equal split is the best split of the budget, and a
    coupon only gives margin away: the simulator's answer is to change nothing.
    """
    channel = {"daily_spend": 200.0, "saturation_spend": 100.0, "awareness_per_impression": 0.05}
    data = uniform_market_dict(5000, [dict(channel, name=name) for name in ("a", "b", "c")], days=60)
    data["name"] = "do-not-move market"
    data["population"]["personas"]["everyone"]["price_sensitivity"] = 0.0
    data["policies"] = {"promotions": {"first_order_coupon": {"discount": 0.0}}}
    data["search"] = {
        "objective": "profit",
        "trials": 6,
        "seeds": 2,
        "parameters": {"promotions.first_order_coupon.discount": {"low": 0.0, "high": 0.3}},
        "budget": {"seeds": 2},
        "confirm_seeds": 5,
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _run(*arguments: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "run.py", *arguments, "--workers", "2", "--no-progress", "--report"]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "saved"), [("allocate", "allocation.json"), ("optimize", "recommendation.json")]
)
def test_a_market_at_its_best_plan_is_told_to_keep_it(tmp_path: Path, command: str, saved: str) -> None:
    market = _do_not_move_market(tmp_path / "market.yaml")
    out = tmp_path / "out"
    done = _run(command, str(market), "--out", str(out))
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("Verdict: keep current plan - "), done.stdout
    data = json.loads((out / saved).read_text())
    assert data["verdict"]["decision"] == "keep current plan"
    html = (out / "report.html").read_text(encoding="utf-8")
    kind = "Budget-allocation" if command == "allocate" else "Policy-search"
    assert f"<h1>Keep current plan - {kind} report: do-not-move market</h1>" in html
    assert '<p class="headline">Keep current plan: ' in html
    assert "Move " not in html.split("<section>")[0]  # nothing above the sections reads as an instruction


@pytest.mark.slow
def test_an_unconfirmed_plan_says_so_first_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import reports.report
    from reports import build_report

    scenario = _two_channels()
    result = allocate_budget(scenario, allocation_settings(scenario, QUICK), workers=2)
    unconfirmed = Verdict(
        RUN_LARGER,
        "profit +500 [-100, +1,100] on 3 fresh seeds: the interval reaches zero",
        "about 4x the runs would narrow the interval enough: rerun with --agents 8000",
    )
    result = dataclasses.replace(result, verdict=unconfirmed)
    assert isinstance(result, AllocationResult)
    assert result.to_text().splitlines()[0] == (
        "Verdict: not confirmed: run larger - profit +500 [-100, +1,100] on 3 fresh seeds: the interval "
        "reaches zero. Next: about 4x the runs would narrow the interval enough: rerun with --agents 8000."
    )
    result.save(tmp_path)
    titles: list[str] = []
    draw = reports.report._summary_png
    monkeypatch.setattr(
        reports.report, "_summary_png", lambda title, *rest: titles.append(title) or draw(title, *rest)
    )
    build_report(tmp_path)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    body = html.split("<body>", 1)[1].lstrip()
    assert body.startswith(
        "<h1>Not confirmed: run larger - Budget-allocation report: uniform test market</h1>"
    )
    assert '<p class="headline">Not confirmed: run larger: profit +500' in html
    assert "tested plan spend (CNY)" in html and "recommended spend" not in html
    assert titles == ["Not confirmed: run larger - Budget-allocation report: uniform test market"]
    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert (
        markdown.splitlines()[0]
        == "# Not confirmed: run larger - Budget-allocation report: uniform test market"
    )
