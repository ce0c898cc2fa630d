"""The allocation LP (optimizer.lp) on response curves alone: no simulation involved.

Property tests draw random concave curves, bounds and budgets with Hypothesis; the reference
answers come from exhaustive grid search, bisection, finite differences and closed forms.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from optimizer import (
    ConstraintError,
    PiecewiseLinear,
    ShareRule,
    available_solvers,
    solve_allocation,
    solve_allocation_refined,
)

ROOT = Path(__file__).resolve().parents[1]
SOLVERS = available_solvers()
PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def money_tolerance(amount: float) -> float:
    return 1e-6 * max(1.0, abs(amount))


def saturating(top: float, half: float, upper: float, segments: int = 20) -> PiecewiseLinear:
    """Exponential saturation top * (1 - exp(-x / half)), sampled on [0, upper]."""
    return PiecewiseLinear.from_function(lambda x: top * (1 - np.exp(-x / half)), upper, segments)


@st.composite
def concave_curves(draw: st.DrawFn, scale: float = 1.0, max_segments: int = 4) -> PiecewiseLinear:
    count = draw(st.integers(1, max_segments))
    widths = np.array(draw(st.lists(st.integers(1, 5), min_size=count, max_size=count)), dtype=float)
    slopes = np.sort(draw(st.lists(st.integers(0, 30), min_size=count, max_size=count)))[::-1] / 10
    knots = np.concatenate(([0.0], np.cumsum(widths))) * scale
    values = np.concatenate(([0.0], np.cumsum(widths * slopes))) * scale
    return PiecewiseLinear(knots, values)


# --------------------------------------------------------------------------- the curves


def test_curve_interpolates_is_flat_beyond_the_last_knot_and_reports_right_derivatives() -> None:
    curve = PiecewiseLinear(np.array([0.0, 10.0, 30.0]), np.array([0.0, 20.0, 30.0]))
    assert curve(5.0) == pytest.approx(10.0)
    assert curve(20.0) == pytest.approx(25.0)
    assert curve(100.0) == pytest.approx(30.0)
    np.testing.assert_allclose(curve(np.array([0.0, 10.0])), [0.0, 20.0])
    np.testing.assert_allclose(curve.slopes, [2.0, 0.5])
    assert curve.marginal(0.0) == 2.0
    assert curve.marginal(10.0) == 0.5  # at a knot: the segment that starts there
    assert curve.marginal(30.0) == 0.0


@pytest.mark.parametrize(
    ("knots", "values", "words"),
    [
        ([0, 1, 2], [0, 1, 3], "concave"),
        ([0, 1, 2], [0, 2, 1], "non-decreasing"),
        ([1, 2], [0, 1], "first knot"),
        ([0, 2, 1], [0, 1, 2], "strictly increasing"),
    ],
)
def test_curve_rejects_what_the_lp_cannot_use(knots: list[float], values: list[float], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        PiecewiseLinear(np.array(knots, dtype=float), np.array(values, dtype=float))


def test_from_points_is_the_non_decreasing_upper_concave_hull_of_averaged_replications() -> None:
    spend = [0, 1, 1, 2, 3, 4, 5]
    outcome = [0, 4, 6, 6, 6.5, 9, 8]  # spend 1 averages to 5; 5 lies below the hull and is cut
    curve = PiecewiseLinear.from_points(spend, outcome)
    np.testing.assert_allclose(curve.knots, [0, 1, 4])
    np.testing.assert_allclose(curve.values, [0, 5, 9])
    for level, mean in [(0, 0), (1, 5), (2, 6), (3, 6.5), (4, 9), (5, 8)]:
        assert curve(float(level)) >= mean  # on or above every averaged point


def test_from_function_geometric_spacing_puts_knots_where_the_curve_bends() -> None:
    def response(x: np.ndarray) -> np.ndarray:
        return 1000 * (1 - np.exp(-x / 200))

    linear = PiecewiseLinear.from_function(response, 2000, segments=10)
    geometric = PiecewiseLinear.from_function(response, 2000, segments=10, spacing="geometric")
    assert geometric.knots[-1] == 2000 and np.all(np.diff(geometric.widths) > 0)
    grid = np.linspace(0, 2000, 4001)
    error_linear = np.abs(linear(grid) - response(grid)).max()
    error_geometric = np.abs(geometric(grid) - response(grid)).max()
    assert error_geometric < error_linear


# --------------------------------------------------------------------------- every constraint holds


@st.composite
def feasible_problems(draw: st.DrawFn) -> dict[str, object]:
    """A problem built around a witness plan that meets every constraint, so it must be feasible."""
    count = draw(st.integers(2, 4))
    periods = draw(st.sampled_from([1, 1, 2, 3]))
    names = [f"c{i}" for i in range(count)]
    curves: dict[str, object] = {}
    for name in names:
        if periods > 1 and draw(st.booleans()):
            curves[name] = [draw(concave_curves(scale=1000.0)) for _ in range(periods)]
        else:
            curves[name] = draw(concave_curves(scale=1000.0))
    cells = st.floats(0, 5000, allow_nan=False).map(lambda v: round(v, 2))
    witness = np.array(draw(st.lists(cells, min_size=count * periods, max_size=count * periods)))
    witness = witness.reshape(count, periods)
    totals = witness.sum(axis=1)
    bounds, locked, presence = {}, {}, {}
    for i, name in enumerate(names):
        kind = draw(st.sampled_from(["free", "bounds", "lower", "upper", "locked", "presence"]))
        slack = draw(st.floats(0, 3000))
        share = draw(st.floats(0, 1))
        if kind == "bounds":
            bounds[name] = (totals[i] * share, totals[i] + slack)
        elif kind == "lower":
            bounds[name] = (totals[i] * share, None)
        elif kind == "upper":
            bounds[name] = (None, totals[i] + slack)
        elif kind == "locked":
            locked[name] = float(totals[i])
        elif kind == "presence":
            presence[name] = float(totals[i] * share) if totals[i] > 0 else slack
    total = float(totals.sum())
    shares = []
    if total > 0 and draw(st.booleans()):
        members = draw(st.lists(st.sampled_from(names), min_size=1, max_size=count, unique=True))
        held = totals[[names.index(m) for m in members]].sum() / total
        low, high = draw(st.floats(0, 1)), draw(st.floats(0, 1))
        shares.append(
            ShareRule(tuple(members), minimum=held * low, maximum=min(1.0, held + (1 - held) * high))
        )
    period_budgets = None
    if draw(st.booleans()):
        extra = draw(st.lists(st.floats(0, 2000), min_size=periods, max_size=periods))
        period_budgets = [float(s + e) for s, e in zip(witness.sum(axis=0), extra, strict=True)]
    carryover = {name: draw(st.floats(0, 0.8)) for name in names if draw(st.booleans())}
    # The witness's money must be its spend: with carryover its effective spend is larger.
    budget_mode = draw(st.sampled_from(["equal", "at_most"]))
    budget = total if budget_mode == "equal" else total + draw(st.floats(0, 5000))
    return {
        "curves": curves,
        "budget": budget,
        "budget_mode": budget_mode,
        "subtract_spend": draw(st.booleans()),
        "bounds": bounds,
        "locked": locked,
        "shares": shares,
        "min_presence": presence,
        "periods": periods,
        "period_budgets": period_budgets,
        "carryover": carryover,
        "witness": witness,
    }


def plan_value(problem: dict[str, object], spend: np.ndarray) -> float:
    """Objective of a spend plan (channels x periods), computed from the curves directly."""
    curves = problem["curves"]
    assert isinstance(curves, dict)
    carryover = problem["carryover"]
    assert isinstance(carryover, dict)
    outcome = 0.0
    for i, (name, listed) in enumerate(curves.items()):
        carried = 0.0
        for t in range(spend.shape[1]):
            curve = listed[t] if isinstance(listed, list) else listed
            carried = spend[i, t] + carryover.get(name, 0.0) * carried
            outcome += curve(carried)
    return outcome - float(spend.sum()) if problem["subtract_spend"] else outcome


@PROPERTY
@given(problem=feasible_problems())
def test_allocation_meets_every_constraint_and_beats_a_feasible_plan(problem: dict[str, object]) -> None:
    witness = problem.pop("witness")
    assert isinstance(witness, np.ndarray)
    allocation = solve_allocation(**problem)  # type: ignore[arg-type]
    spend = allocation.spend.to_numpy()
    totals = allocation.spend.sum(axis=1)
    total = allocation.total_spend()
    budget = float(problem["budget"])  # type: ignore[arg-type]
    tolerance = money_tolerance(budget) * 10

    assert (spend >= 0).all()
    if problem["budget_mode"] == "equal":
        assert total == pytest.approx(budget, abs=tolerance)
    else:
        assert total <= budget + tolerance
    for name, (low, high) in problem["bounds"].items():  # type: ignore[attr-defined]
        assert low is None or totals[name] >= low - tolerance
        assert high is None or totals[name] <= high + tolerance
    for name, amount in problem["locked"].items():  # type: ignore[attr-defined]
        assert totals[name] == pytest.approx(amount, abs=tolerance)
    for rule in problem["shares"]:  # type: ignore[attr-defined]
        held = totals[list(rule.channels)].sum()
        assert held >= rule.minimum * total - tolerance
        assert held <= rule.maximum * total + tolerance
    if problem["period_budgets"] is not None:
        for t, cap in enumerate(problem["period_budgets"]):  # type: ignore[arg-type]
            assert allocation.spend[t].sum() <= cap + tolerance
    for name, minimum in problem["min_presence"].items():  # type: ignore[attr-defined]
        assert totals[name] <= tolerance or totals[name] >= minimum - tolerance

    # Segments fill in order: the LP's own objective is the curves' value of the plan it returns.
    assert allocation.objective == pytest.approx(plan_value(problem, spend), abs=1e-4 * max(1.0, budget))
    # The witness meets every constraint, so the optimum is at least as good.
    assert allocation.objective >= plan_value(problem, witness) - 1e-4 * max(1.0, budget)


# --------------------------------------------------------------------------- optimality


@st.composite
def small_integer_problems(draw: st.DrawFn) -> tuple[list[PiecewiseLinear], list[tuple[int, int]], int, bool]:
    count = draw(st.integers(2, 4))
    curves = [draw(concave_curves()) for _ in range(count)]
    lows = [draw(st.integers(0, 2)) for _ in range(count)]
    highs = [low + draw(st.integers(0, 8)) for low in lows]
    budget = draw(st.integers(sum(lows), min(sum(highs), 12 if count < 4 else 9)))
    return curves, list(zip(lows, highs, strict=True)), budget, draw(st.booleans())


@PROPERTY
@given(problem=small_integer_problems(), budget_mode=st.sampled_from(["equal", "at_most"]))
def test_lp_matches_exhaustive_grid_search_on_integer_curves(
    problem: tuple[list[PiecewiseLinear], list[tuple[int, int]], int, bool], budget_mode: str
) -> None:
    """With integer knots, bounds and budget the LP has an integral optimum, so a grid finds it."""
    curves, bounds, budget, subtract_spend = problem
    names = [f"c{i}" for i in range(len(curves))]
    grid = np.array(list(itertools.product(*(range(low, high + 1) for low, high in bounds))), dtype=float)
    feasible = grid.sum(axis=1) == budget if budget_mode == "equal" else grid.sum(axis=1) <= budget
    grid = grid[feasible]
    values = sum(curve(grid[:, i]) for i, curve in enumerate(curves))
    if subtract_spend:
        values = values - grid.sum(axis=1)
    allocation = solve_allocation(
        dict(zip(names, curves, strict=True)),
        budget,
        budget_mode=budget_mode,  # type: ignore[arg-type]
        subtract_spend=subtract_spend,
        bounds=dict(zip(names, bounds, strict=True)),
    )
    assert allocation.objective == pytest.approx(float(np.max(values)), abs=1e-6)


@pytest.mark.parametrize("solver", SOLVERS)
def test_minimum_presence_switches_an_unprofitable_channel_off(solver: str) -> None:
    # "niche" pays on its first 100 (1.5 per unit) and little after; present at 500 it loses money.
    curves = {
        "niche": PiecewiseLinear(np.array([0.0, 100.0, 1000.0]), np.array([0.0, 150.0, 330.0])),
        "search": saturating(3000, 800, 5000),
    }
    free = solve_allocation(curves, 2000, budget_mode="at_most", solver=solver)
    assert free.spend.loc["niche", 0] == pytest.approx(100.0)
    gated = solve_allocation(curves, 2000, budget_mode="at_most", min_presence={"niche": 500}, solver=solver)
    assert gated.spend.loc["niche", 0] == 0.0
    assert gated.objective < free.objective
    assert any(price.constraint == "niche off" for price in gated.shadow_prices)


@settings(max_examples=30, deadline=None)
@given(
    curves=st.lists(concave_curves(scale=100.0), min_size=2, max_size=3),
    minimums=st.lists(st.integers(1, 8), min_size=3, max_size=3),
    budget=st.integers(100, 1500),
)
def test_minimum_presence_milp_equals_the_best_on_off_choice(
    curves: list[PiecewiseLinear], minimums: list[int], budget: int
) -> None:
    names = [f"c{i}" for i in range(len(curves))]
    presence = {name: 100.0 * m for name, m in zip(names, minimums, strict=False)}
    named = dict(zip(names, curves, strict=True))
    milp = solve_allocation(named, budget, budget_mode="at_most", min_presence=presence)
    totals = milp.spend.sum(axis=1)
    best = -np.inf
    for on in itertools.product([False, True], repeat=len(names)):
        bounds = {
            name: (presence[name], None) if is_on else (0.0, 0.0)
            for name, is_on in zip(names, on, strict=True)
        }
        try:
            lp = solve_allocation(named, budget, budget_mode="at_most", bounds=bounds)
        except ConstraintError:
            continue
        best = max(best, lp.objective)
    assert milp.objective == pytest.approx(best, abs=1e-6 * budget)
    for name in names:
        assert totals[name] <= 1e-6 or totals[name] >= presence[name] - 1e-6


def best_roi_at(curves: dict[str, PiecewiseLinear], budget: float) -> float:
    allocation = solve_allocation(curves, budget)
    return (allocation.outcome.sum() - budget) / budget


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_target_roi_mode_finds_the_largest_budget_meeting_the_target(seed: int) -> None:
    rng = np.random.default_rng(seed)
    curves = {f"c{i}": saturating(rng.uniform(2000, 9000), rng.uniform(300, 2000), 10_000) for i in range(3)}
    target = 0.6
    allocation = solve_allocation(curves, None, target_roi=target)
    assert allocation.mode == "target_roi"
    spend = allocation.total_spend()
    assert allocation.objective == pytest.approx(spend)
    assert (allocation.outcome.sum() - spend) / spend == pytest.approx(target, abs=1e-9)
    # Bisection on the budget: the best ROI at a budget falls as the budget grows (concave curves).
    low, high = 1.0, 30_000.0
    assert best_roi_at(curves, low) > target > best_roi_at(curves, high)
    for _ in range(50):
        middle = (low + high) / 2
        low, high = (middle, high) if best_roi_at(curves, middle) >= target else (low, middle)
    assert spend == pytest.approx(low, rel=1e-6)
    # The same spend split for the most profit: the allocation is the best one at that spend.
    assert allocation.outcome.sum() == pytest.approx(solve_allocation(curves, spend).outcome.sum(), rel=1e-9)


def test_target_roi_is_capped_by_the_budget_and_explains_an_unreachable_target() -> None:
    curves = {"a": saturating(5000, 1000, 8000), "b": saturating(3000, 500, 8000)}
    uncapped = solve_allocation(curves, None, target_roi=0.5)
    capped = solve_allocation(curves, uncapped.total_spend() / 2, target_roi=0.5)
    assert capped.total_spend() == pytest.approx(uncapped.total_spend() / 2)
    # Below the cap many splits meet the target; the one returned is the most profitable.
    best_split = solve_allocation(curves, capped.total_spend())
    assert capped.outcome.sum() == pytest.approx(best_split.outcome.sum(), rel=1e-9)
    assert capped.shadow_prices[0].constraint == "budget"
    with pytest.raises(ConstraintError) as error:
        solve_allocation(curves, None, target_roi=9.0)
    assert error.value.field == "target_roi"
    best_first_unit = max(float(curve.slopes[0]) for curve in curves.values())
    assert str(error.value) == (
        "no spend reaches the target ROI 9: the best first unit of spend on any channel returns an ROI of "
        f"{best_first_unit - 1:.2f}"
    )


@pytest.mark.parametrize("carry", [0.0, 0.3, 0.5, 0.7])
def test_two_period_carryover_matches_the_closed_form(carry: float) -> None:
    """Slope 2 up to 100 then flat in period 0, slope 3 up to 100 in period 1, at most 150.

    Period 1's effective spend e1 = x1 + carry * x0 is worth 3 a unit up to 100, more than anything
    else, so e1 = 100. Then each unit of x0 brings 2 and saves carry of x1, so x0 grows until the
    budget (x0 + 100 - carry * x0 = 150) or period 0's knot (100) stops it:
    x0 = min(100, 50 / (1 - carry)), x1 = 100 - carry * x0, outcome 2 * x0 + 300.
    """
    first = PiecewiseLinear(np.array([0.0, 100.0]), np.array([0.0, 200.0]))
    second = PiecewiseLinear(np.array([0.0, 100.0]), np.array([0.0, 300.0]))
    allocation = solve_allocation(
        {"tv": [first, second]},
        150,
        budget_mode="at_most",
        subtract_spend=False,
        periods=2,
        carryover={"tv": carry},
    )
    first_spend = min(100.0, 50.0 / (1.0 - carry))
    expected_spend = [first_spend, 100.0 - carry * first_spend]
    np.testing.assert_allclose(allocation.spend.loc["tv"].to_numpy(), expected_spend, atol=1e-6)
    np.testing.assert_allclose(
        allocation.effective_spend.loc["tv"].to_numpy(), [first_spend, 100.0], atol=1e-6
    )
    assert allocation.outcome["tv"] == pytest.approx(2 * first_spend + 300.0)
    assert allocation.objective == pytest.approx(2 * first_spend + 300.0)


# --------------------------------------------------------------------------- refinement on smooth curves


def hill(top: float, half: float, shape: float) -> Callable[[np.ndarray], np.ndarray]:
    """Hill saturation top * x^shape / (x^shape + half^shape); concave for shape <= 1."""
    return lambda x: top * np.power(x, shape) / (np.power(x, shape) + half**shape)


def smooth_optimum(
    responses: list[Callable[[np.ndarray], np.ndarray]], lower: np.ndarray, upper: np.ndarray, budget: float
) -> np.ndarray:
    """Profit-maximizing split of the budget: bisection on the multiplier of the budget, each
    channel's spend where its marginal return (central difference) falls to the multiplier.
    """

    def marginal(x: np.ndarray) -> np.ndarray:
        left, right = np.maximum(x - 1e-4 * np.maximum(x, 1.0), 0.0), x + 1e-4 * np.maximum(x, 1.0)
        rise = [f(right[i]) - f(left[i]) for i, f in enumerate(responses)]
        return np.array(rise) / (right - left)

    def spend_at(multiplier: float) -> np.ndarray:
        low, high = lower.copy(), upper.copy()
        for _ in range(100):  # marginal returns fall with spend: bisection per channel, all at once
            middle = (low + high) / 2
            above = marginal(middle) > multiplier
            low, high = np.where(above, middle, low), np.where(above, high, middle)
        return (low + high) / 2

    low, high = 1e-9, 1e6
    for _ in range(200):
        middle = float(np.sqrt(low * high))
        low, high = (middle, high) if spend_at(middle).sum() > budget else (low, middle)
    return spend_at(float(np.sqrt(low * high)))


def test_refined_around_keeps_the_knots_and_splits_one_segment_each_way() -> None:
    def response(x: np.ndarray) -> np.ndarray:
        return 100 * np.sqrt(x)

    coarse = PiecewiseLinear.from_function(response, 100.0, segments=10)
    fine = coarse.refined_around(response, [35.0], subdivisions=4)
    assert set(coarse.knots) <= set(fine.knots)
    added = np.setdiff1d(fine.knots, coarse.knots)
    np.testing.assert_allclose(np.sort(added), [22.5, 25.0, 27.5, 32.5, 35.0, 37.5, 42.5, 45.0, 47.5])
    np.testing.assert_allclose(fine.values, response(fine.knots))
    # 35 is now a knot: the window is the fine segment before it, the one it starts and the next.
    again = fine.refined_around(response, [35.0], subdivisions=4)
    np.testing.assert_allclose(
        np.setdiff1d(again.knots, fine.knots), np.arange(33.125, 40.0, 0.625)[[0, 1, 2, 4, 5, 6, 8, 9, 10]]
    )
    with pytest.raises(ValueError, match="subdivisions"):
        coarse.refined_around(response, [35.0], subdivisions=0)


@PROPERTY
@given(st.integers(0, 2**32 - 1), st.integers(2, 5))
@example(seed=2083, count=5)  # found by Hypothesis in CI: 1.7e-4 below the optimum after 2 rounds
def test_refined_lp_reaches_the_smooth_optimum_and_never_loses_to_the_plain_lp(seed: int, count: int) -> None:
    rng = np.random.default_rng(seed)
    current = rng.uniform(1_000, 50_000, count)
    shapes = rng.uniform(0.3, 1.0, count)
    halves = current * rng.uniform(0.3, 3.0, count)
    tops = current * rng.uniform(1.5, 6.0, count) * (1 + (halves / current) ** shapes)
    responses = [hill(top, half, shape) for top, half, shape in zip(tops, halves, shapes, strict=True)]
    lower = np.where(rng.random(count) < 0.3, 0.0, 0.3 * current)
    upper = 3.0 * current
    budget = float(rng.uniform(lower.sum(), upper.sum()))
    names = [f"c{i}" for i in range(count)]
    curves = {
        n: PiecewiseLinear.from_function(f, u, 20) for n, f, u in zip(names, responses, upper, strict=True)
    }
    bounds = {n: (float(lo), float(hi)) for n, lo, hi in zip(names, lower, upper, strict=True)}

    def profit(spend: np.ndarray) -> float:
        return float(sum(f(np.array(x)) for f, x in zip(responses, spend, strict=True)) - spend.sum())

    plain = solve_allocation(curves, budget, bounds=bounds)
    refined = solve_allocation_refined(
        curves, dict(zip(names, responses, strict=True)), budget, bounds=bounds
    )
    assert refined.total_spend() == pytest.approx(budget, rel=1e-9)
    optimum = profit(smooth_optimum(responses, lower, upper, budget))
    plain_value, refined_value = profit(plain.spend[0].to_numpy()), profit(refined.spend[0].to_numpy())
    assert refined_value >= plain_value - 1e-9 * abs(optimum)
    # Typically within 1e-7; Hypothesis found 5-channel cases at 1.7e-4 after two refinement
    # rounds, so the bound checked is 1e-3 (the target is 0.5%).
    assert refined_value == pytest.approx(optimum, rel=1e-3)


# --------------------------------------------------------------------------- shadow prices and solvers


def random_curves(seed: int, count: int = 4) -> dict[str, PiecewiseLinear]:
    rng = np.random.default_rng(seed)
    return {
        f"c{i}": saturating(rng.uniform(5000, 40_000), rng.uniform(2000, 10_000), 60_000)
        for i in range(count)
    }


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("budget", [7_777.7, 23_456.1, 91_234.5])
def test_budget_shadow_price_is_the_finite_difference_of_the_objective(solver: str, budget: float) -> None:
    curves = random_curves(7)
    base = solve_allocation(curves, budget, solver=solver, outcome_name="profit", currency="EUR")
    step = 1e-3
    bumped = solve_allocation(curves, budget + step, solver=solver)
    (price,) = [p for p in base.shadow_prices if p.constraint == "budget"]
    assert price.value == pytest.approx((bumped.objective - base.objective) / step, abs=1e-5)
    words = "is worth" if price.value >= 0 else "costs"
    assert price.text == f"one more EUR of total budget {words} {abs(price.value):,.2f} units of profit"


@pytest.mark.parametrize("solver", SOLVERS)
def test_bound_share_and_period_shadow_prices_are_finite_differences(solver: str) -> None:
    curves = random_curves(11, count=3)
    base_arguments: dict[str, object] = {
        "budget": 50_000.0,
        "bounds": {"c0": (None, 4_321.0)},
        "shares": [ShareRule(("c1",), minimum=0.55)],
        "periods": 2,
        "period_budgets": [20_000.0, None],
        "solver": solver,
    }
    base = solve_allocation(curves, **base_arguments)  # type: ignore[arg-type]
    prices = {p.constraint: p.value for p in base.shadow_prices}
    step = 1e-3
    bumps = {
        "upper bound of c0": {"bounds": {"c0": (None, 4_321.0 + step)}},
        "budget of period 0": {"period_budgets": [20_000.0 + step, None]},
    }
    for name, change in bumps.items():
        bumped = solve_allocation(curves, **{**base_arguments, **change})  # type: ignore[arg-type]
        assert prices[name] == pytest.approx((bumped.objective - base.objective) / step, abs=1e-4), name
    # The share rule's right-hand side is spend in c1 above 55% of the total: forcing it up by one
    # unit at a fixed budget is the same as a minimum share 1/budget higher.
    bumped = solve_allocation(
        curves,
        **{**base_arguments, "shares": [ShareRule(("c1",), minimum=0.55 + step / 50_000.0)]},  # type: ignore[arg-type]
    )
    assert prices["share rule 0 minimum"] == pytest.approx(
        (bumped.objective - base.objective) / step, abs=1e-4
    )


@pytest.mark.skipif(len(SOLVERS) < 2, reason="needs both CBC and HiGHS")
@pytest.mark.parametrize("seed", range(4))
def test_cbc_and_highs_agree(seed: int) -> None:
    curves = random_curves(seed)
    arguments = {
        # Amounts off the curves' knots (every 3,000): at a knot the dual is not unique and the
        # two solvers may each return a different one of the valid values.
        "budget": 61_234.5,
        "bounds": {"c0": (5_123.0, 14_321.0)},
        "shares": [ShareRule(("c1", "c2"), maximum=0.5)],
        "min_presence": {"c3": 12_345.0},
    }
    results = [solve_allocation(curves, solver=solver, **arguments) for solver in ("cbc", "highs")]  # type: ignore[arg-type]
    assert results[0].objective == pytest.approx(results[1].objective, rel=1e-7)
    np.testing.assert_allclose(results[0].spend.to_numpy(), results[1].spend.to_numpy(), atol=1e-3)
    prices = [{p.constraint: p.value for p in result.shadow_prices} for result in results]
    assert prices[0].keys() == prices[1].keys()
    for name in prices[0]:
        assert prices[0][name] == pytest.approx(prices[1][name], abs=1e-6)


def test_report_marginal_roi_and_table() -> None:
    curves = random_curves(3)
    allocation = solve_allocation(curves, 40_000.0, bounds={"c2": (None, 1_000.0)})
    frame = allocation.to_frame()
    assert list(frame.columns) == ["spend", "share", "outcome", "outcome_per_spend", "marginal_outcome"]
    assert frame["share"].sum() == pytest.approx(1.0)
    for name, curve in curves.items():
        spend = float(allocation.spend.loc[name, 0])
        assert allocation.marginal_outcome[name] == pytest.approx(curve.marginal(spend))
        assert allocation.outcome[name] == pytest.approx(curve(spend))
    # Optimality: where a channel is free to move, its next unit returns at most 1 + the budget's
    # shadow price (profit per unit of budget) and its last unit at least that much.
    (budget_price,) = [p.value for p in allocation.shadow_prices if p.constraint == "budget"]
    capped = {p.constraint.removeprefix("upper bound of ") for p in allocation.shadow_prices}
    for name, curve in curves.items():
        spend = float(allocation.spend.loc[name, 0])
        if name in capped or spend == 0:
            continue
        assert allocation.marginal_outcome[name] <= 1 + budget_price + 1e-9
        assert curve.marginal(spend - 1e-6) >= 1 + budget_price - 1e-9
    assert "c2" in capped  # the upper bound binds: without it c2 would take more than 1,000
    assert allocation.status == "optimal" and allocation.solve_seconds > 0 and allocation.build_seconds > 0


@pytest.mark.skipif("highs" not in SOLVERS, reason="needs highspy")
def test_highs_prints_nothing() -> None:
    code = (
        "import numpy as np; from optimizer import PiecewiseLinear, solve_allocation; "
        "c = PiecewiseLinear(np.array([0.0, 1.0]), np.array([0.0, 2.0])); "
        "solve_allocation({'a': c, 'b': c}, 1.0, solver='highs')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout == "" and result.stderr == ""


# --------------------------------------------------------------------------- bad input


CURVES = {name: saturating(10_000, 3_000, 20_000) for name in ("search", "social", "crm")}


@pytest.mark.parametrize(
    ("arguments", "field", "message"),
    [
        (
            {"budget": 10_000, "bounds": {"search": (7_000, None), "social": (5_000, None)}},
            "budget",
            "budget 10,000 is below the channel minimums, which add up to 12,000",
        ),
        (
            {"budget": 10_000, "bounds": {"search": (2_000, None)}, "locked": {"social": 9_000}},
            "budget",
            "budget 10,000 is below the channel minimums, which add up to 11,000",
        ),
        (
            {"budget": 50_000, "bounds": {n: (None, 10_000) for n in ("search", "social", "crm")}},
            "budget",
            "budget 50,000 is above the channel maximums, which add up to 30,000",
        ),
        (
            {"budget": 10_000, "bounds": {"search": (5_000, 3_000)}},
            "bounds.search",
            "lower bound 5,000 of search is above its upper bound 3,000",
        ),
        (
            {"budget": 10_000, "locked": {"tv": 1_000}},
            "locked.tv",
            "locked names channel 'tv', which is not among the channels: search, social, crm",
        ),
        (
            {"budget": 10_000, "shares": [ShareRule(("search", "tv"), minimum=0.2)]},
            "shares[0]",
            "share rule 0 names channel 'tv', which is not among the channels: search, social, crm",
        ),
        (
            {"budget": 10_000, "bounds": {"search": (2_000, 3_000)}, "locked": {"search": 3_500.5}},
            "locked.search",
            "search is locked at 3,500.50, outside its bounds 2,000 to 3,000",
        ),
        (
            {"budget": 10_000, "shares": [ShareRule(("social",), minimum=1.2)]},
            "shares[0]",
            "share rule 0 (social) minimum 1.2 is not a share between 0 and 1 (0% to 100%)",
        ),
        (
            {"budget": 10_000, "shares": [ShareRule(("social",), minimum=0.6, maximum=0.4)]},
            "shares[0]",
            "share rule 0 (social) minimum 60% is above its maximum 40%",
        ),
        (
            {
                "budget": 10_000,
                "shares": [ShareRule(("social",), minimum=0.7), ShareRule(("search", "crm"), minimum=0.5)],
            },
            "shares",
            "the minimum shares of share rules 0, 1 (on separate channels) add up to 120%, "
            "over 100% of total spend",
        ),
        (
            {
                "budget": 10_000,
                "bounds": {"social": (None, 1_500)},
                "shares": [ShareRule(("social",), minimum=0.2)],
            },
            "shares[0]",
            "share rule 0 (social at least 20%) needs 2,000 of the budget 10,000, "
            "but the upper bounds of social add up to 1,500",
        ),
        (
            {"budget": 10_000, "periods": 2, "period_budgets": [4_000, 5_000]},
            "period_budgets",
            "period budgets add up to 9,000, below the total budget 10,000",
        ),
        (
            {"budget": 10_000, "locked": {"crm": 500}, "min_presence": {"crm": 1_000}},
            "min_presence.crm",
            "crm is locked at 500, below its minimum presence 1,000",
        ),
        (
            {"budget": -5, "locked": {}},
            "budget",
            "budget must be an amount of at least 0, got -5",
        ),
    ],
)
def test_bad_input_gets_one_line_in_money_terms(
    arguments: dict[str, object], field: str, message: str
) -> None:
    with pytest.raises(ConstraintError) as error:
        solve_allocation(CURVES, **arguments)  # type: ignore[arg-type]
    assert error.value.field == field
    assert str(error.value) == message


def test_a_conflict_only_the_solver_finds_is_still_one_line_naming_the_constraints() -> None:
    # social is either off or at least 8,000, but at most 50% of 10,000: so off; the other two are
    # capped at 3,000 each and cannot take the 10,000 alone. No single pre-check sees this.
    with pytest.raises(ConstraintError) as error:
        solve_allocation(
            CURVES,
            10_000,
            bounds={"search": (None, 3_000), "crm": (None, 3_000)},
            min_presence={"social": 8_000},
            shares=[ShareRule(("social",), maximum=0.5)],
        )
    assert error.value.field == "shares"
    assert str(error.value) == (
        "no allocation meets all the constraints with budget 10,000: "
        "the share rules conflict with the other constraints (without them a solution exists)"
    )


@pytest.mark.parametrize("solver", SOLVERS)
def test_a_target_roi_that_a_lower_bound_rules_out_is_named(solver: str) -> None:
    # ROI 0.5 is reachable, but not once search must take at least 19,000, far into saturation.
    assert solve_allocation(CURVES, None, target_roi=0.5, solver=solver).total_spend() > 0
    with pytest.raises(ConstraintError) as error:
        solve_allocation(CURVES, None, target_roi=0.5, bounds={"search": (19_000, None)}, solver=solver)
    assert error.value.field == "target_roi"
    assert str(error.value) == (
        "no allocation meets all the constraints with no total budget: "
        "the ROI target conflicts with the other constraints (without it a solution exists)"
    )
