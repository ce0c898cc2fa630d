r"""Response curves measured by simulation: the outcome of each channel as its spend moves.

For each channel the scenario is simulated at several spend levels (multiples of a reference
plan: 0, 0.1x, 0.25x, 0.5x, 1x, 1.5x, 2x, 3x by default, :data:`DEFAULT_LEVELS`), every other
channel held at the plan, all on the same seeds (common random numbers). The *incremental*
outcome of a level is the paired difference against the run with the channel's spend at 0,
seed by seed. A concave saturating curve

.. math:: f(x) = \text{top} \cdot \frac{(x / h)^s}{1 + (x / h)^s}, \qquad 0 < s \le 1

(the Hill curve of media-mix models, with its shape held at or below 1 so that the curve is
concave and the allocation a linear program) is fitted to the level means by weighted least
squares, and turned into a piecewise-linear concave approximation for the LP.

What was measured bounds what the curve may say:

- Below the lowest measured positive spend the curve is the straight line from 0 to the value
  there (a Hill curve with a shape below 1 is infinitely steep at 0, which no measurement
  supports).
- Beyond the largest measured spend the curve is flat; the allocation keeps each channel within
  its measured range (:attr:`ResponseCurve.max_spend`) unless the constraints force it out.
- A Hill fit whose parameters end on a bound of the fit (half-saturation at the edge of its
  range, shape at its lowest) or that leaves the 95% interval of a measured level is not used:
  the curve is then the concave piecewise-linear least-squares fit through the measured level
  means (:func:`concave_fit`; the straight interpolation of the points when they are concave),
  and :attr:`ResponseCurve.model` says ``measured`` with the reason in :attr:`ResponseCurve.note`.

For the ``profit`` objective the curve is the channel's incremental *contribution*: the
change in profit plus the change in the channel's spend (what the spend brings back before
paying for itself), so that profit = contribution - spend in the LP.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize
from scipy.optimize import lsq_linear

from simulator.config.scenario import Scenario
from simulator.measure.incrementality import planned_spend
from simulator.measure.replicate import (
    BASELINE,
    ReplicationResult,
    SeedScenario,
    confidence_interval,
    replicate,
)

from .objectives import get_objective
from .pwl import PiecewiseLinear

__all__ = [
    "DEFAULT_LEVELS",
    "ResponseCurve",
    "ResponseCurves",
    "apply_plan",
    "concave_fit",
    "current_plan",
    "hill",
    "measure_response",
]

DEFAULT_LEVELS = (0.0, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0)
"""Spend levels of a response curve, multiples of the reference spend: dense at low spend, where
a saturating curve bends most and where a cut channel lands."""

Plan = Mapping[str, float]
"""Total media spend per channel over the horizon (currency)."""

FloatArray = np.ndarray[Any, np.dtype[np.float64]]

SHAPE_RANGE = (0.2, 1.0)
"""Allowed Hill shape: at most 1 keeps the curve concave."""

HALF_RANGE = (1e-4, 1e4)
"""Allowed Hill half-saturation spend, as multiples of the largest measured spend."""


def hill(spend: FloatArray | float, top: float, half: float, shape: float) -> FloatArray:
    """Hill saturation curve ``top * u / (1 + u)`` with ``u = (spend / half) ** shape``."""
    x = np.maximum(np.asarray(spend, dtype=np.float64), 0.0)
    u = (x / half) ** shape
    return np.asarray(top * u / (1.0 + u), dtype=np.float64)


def current_plan(scenario: Scenario) -> dict[str, float]:
    """The scenario's planned media spend per channel over the horizon (currency)."""
    return {c.name: planned_spend(c, scenario.horizon_days) for c in scenario.channels}


def period_bounds(horizon_days: int, periods: int) -> list[tuple[int, int]]:
    """First and last day of each of ``periods`` near-equal slices of the horizon."""
    edges = np.linspace(0, horizon_days, periods + 1).round().astype(int)
    return [(int(a), int(b) - 1) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def apply_plan(scenario: Scenario, plan: Mapping[str, float | Sequence[float]]) -> Scenario:
    """The scenario with each planned channel's media spend set to a new total.

    Parameters
    ----------
    scenario
        The scenario to change (its other fields are kept).
    plan
        Channel -> total spend over the horizon, or a list of totals, one per period (equal
        slices of the horizon, see :func:`period_bounds`). A single total keeps the channel's
        calendar (its budget periods) and scales it; a channel without current spend gets the
        total spread evenly over the days.

    Returns
    -------
    Scenario
        Validated, with the same source name for error messages.
    """
    from simulator.measure.replicate import apply_patch

    by_name = {c.name: c for c in scenario.channels}
    horizon = scenario.horizon_days
    patch: dict[str, dict[str, Any]] = {}
    for name, total in plan.items():
        channel = by_name[name]
        if isinstance(total, int | float):
            current = planned_spend(channel, horizon)
            if current > 0:
                factor = float(total) / current
                periods = [
                    p.model_dump() | {"daily_spend": p.daily_spend * factor} for p in channel.budget_plan
                ]
                patch[name] = {"daily_spend": channel.daily_spend * factor, "budget_plan": periods}
            else:
                patch[name] = {"daily_spend": float(total) / horizon, "budget_plan": []}
        else:
            spans = period_bounds(horizon, len(total))
            periods = [
                {"start_day": a, "end_day": b, "daily_spend": float(x) / (b - a + 1)}
                for (a, b), x in zip(spans, total, strict=True)
            ]
            patch[name] = {"daily_spend": periods[0]["daily_spend"], "budget_plan": periods}
    source = str(getattr(scenario, "_source", "<scenario>"))
    return apply_patch(scenario, {"channels": patch}, source)


@dataclass
class ResponseCurve:
    """The fitted response of one channel's incremental outcome to its total spend.

    Attributes
    ----------
    channel : str
        Channel name.
    objective : str
        The objective whose KPI the outcome measures (:data:`~optimizer.objectives.OBJECTIVES`;
        for ``profit``: contribution before the channel's spend).
    reference_spend : float
        Spend the levels multiply (the plan the curve was measured around, or the current
        plan for a channel the plan switched off).
    points : pandas.DataFrame
        Measured levels: ``level``, ``spend``, ``outcome`` (mean incremental outcome over the
        seeds, versus the channel at 0), ``se``, ``low``, ``high`` (95% interval).
    top, half, shape : float
        Fitted Hill parameters (see :func:`hill`); kept for inspection when the Hill fit is
        not used.
    r2 : float
        Share of the variance of the level means the curve in use explains.
    misfit : float
        Largest distance between the curve in use and a level mean, in standard errors of that
        mean.
    pwl : PiecewiseLinear
        Concave piecewise-linear approximation over ``[0, max measured spend]`` (flat beyond).
    model : str
        ``hill`` (the fitted Hill curve, a straight line below the lowest measured positive
        spend) or ``measured`` (the concave piecewise-linear fit through the level means).
    note : str
        Why the Hill fit was not used (empty when it is).
    """

    channel: str
    objective: str
    reference_spend: float
    points: pd.DataFrame
    top: float
    half: float
    shape: float
    r2: float
    misfit: float
    pwl: PiecewiseLinear
    model: str = "hill"
    note: str = ""

    def __call__(self, spend: FloatArray | float) -> FloatArray:
        """Incremental outcome at ``spend`` (the curve in use, see :attr:`model`)."""
        x = np.maximum(np.asarray(spend, dtype=np.float64), 0.0)
        if self.model == "measured":
            return np.asarray(self.pwl(x), dtype=np.float64)
        return _hill_with_chord(x, self.top, self.half, self.shape, self.lowest_spend)

    def marginal(self, spend: float) -> float:
        """Slope of the curve at ``spend`` (outcome per extra unit of spend; gross)."""
        if self.model == "measured":
            return self.pwl.marginal(spend)
        step = max(spend, self.reference_spend, 1.0) * 1e-4
        low = max(spend - step, 0.0)
        return float((self(spend + step) - self(low)) / (spend + step - low))

    @property
    def max_spend(self) -> float:
        """Largest measured spend level (the curve is held flat beyond it)."""
        return float(self.points["spend"].max())

    @property
    def lowest_spend(self) -> float:
        """Smallest measured positive spend (the curve is a straight line from 0 up to it)."""
        positive = self.points.loc[self.points["spend"] > 0, "spend"]
        return float(positive.min()) if len(positive) else 0.0

    def measured(self, spend: float) -> bool:
        """Whether ``spend`` lies within the measured range ``[0, max_spend]``."""
        return 0.0 <= spend <= self.max_spend * (1 + 1e-9) + 1e-9


def _hill_with_chord(x: FloatArray, top: float, half: float, shape: float, lowest: float) -> FloatArray:
    """The Hill curve, replaced below ``lowest`` by the straight line from 0 to its value there."""
    values = hill(x, top, half, shape)
    if lowest <= 0:
        return values
    chord = x / lowest * float(hill(lowest, top, half, shape))
    return np.asarray(np.where(x < lowest, chord, values), dtype=np.float64)


@dataclass
class ResponseCurves:
    """Response curves of every channel, measured around one plan.

    Attributes
    ----------
    curves : dict of str to ResponseCurve
        One per channel.
    center : dict of str to float
        The plan every other channel was held at while one channel moved.
    center_outcome : float
        Mean simulated objective KPI of the center plan over the curve seeds.
    seeds : list of int
        Seeds of the curve runs.
    replication : ReplicationResult
        All runs (kept for inspection).
    """

    curves: dict[str, ResponseCurve]
    center: dict[str, float]
    center_outcome: float
    seeds: list[int]
    replication: ReplicationResult = field(repr=False)

    def predicted_change(self, plan: Plan, objective: str) -> float:
        """Predicted change of the objective KPI when moving from :attr:`center` to ``plan``.

        The sum over channels of the curve differences (separable: interactions between
        channels are what the closed loop checks); for profit, minus the change in spend.
        """
        change = 0.0
        for name, curve in self.curves.items():
            new, old = float(plan[name]), self.center[name]
            change += float(curve(new) - curve(old))
            if get_objective(objective).subtract_spend:
                change -= new - old
        return change

    def response_table(self, points: int = 61) -> pd.DataFrame:
        """The curve of every channel on a grid of spend, with its marginal measure of return.

        Columns ``channel``, ``spend`` (0 to the largest measured spend, plus the measured
        levels themselves), ``outcome`` and the objective's marginal measure
        (:attr:`~optimizer.objectives.Objective.marginal_measure`, e.g. ``marginal_roi``: the
        incremental profit of the next unit of spend, break-even 0).
        """
        frames = []
        for name, curve in self.curves.items():
            entry = get_objective(curve.objective)
            grid = np.linspace(0.0, curve.max_spend, points)
            spend = np.unique(np.concatenate((grid, curve.points["spend"].to_numpy(dtype=np.float64))))
            marginal = [entry.per_spend(curve.marginal(float(x))) for x in spend]
            frames.append(
                pd.DataFrame(
                    {
                        "channel": name,
                        "spend": spend,
                        "outcome": curve(spend),
                        entry.marginal_measure: marginal,
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)

    def table(self) -> pd.DataFrame:
        """Measured points of every channel in long form, with the fitted value at each."""
        frames = []
        for name, curve in self.curves.items():
            frame = curve.points.copy()
            frame.insert(0, "channel", name)
            frame["fitted"] = curve(frame["spend"].to_numpy())
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    def fit_table(self) -> pd.DataFrame:
        """One row per channel: fitted parameters, fit quality, the curve in use and its measured range."""
        rows = [
            {
                "channel": name,
                "reference_spend": c.reference_spend,
                "top": c.top,
                "half": c.half,
                "shape": c.shape,
                "r2": c.r2,
                "misfit_se": c.misfit,
                "model": c.model,
                "measured_max_spend": c.max_spend,
                "note": c.note,
            }
            for name, c in self.curves.items()
        ]
        return pd.DataFrame(rows).set_index("channel")


def _variant_name(channel: str, level: float) -> str:
    return f"{channel}@{level:g}"


def _fit(spend: FloatArray, outcome: FloatArray, se: FloatArray) -> tuple[float, float, float, bool]:
    """Weighted least-squares Hill fit; ``(top, half, shape, at_bound)``.

    The shape stays in :data:`SHAPE_RANGE` and the half-saturation spend in :data:`HALF_RANGE`
    times the largest spend; ``at_bound`` says the best fit ended on the edge of either range
    (shape 1, the concave Michaelis-Menten form, is not an edge: it is the plain curve).
    """
    scale_x = float(spend.max())
    scale_y = float(max(np.abs(outcome).max(), 1e-12))
    noise = np.maximum(se, 0.02 * scale_y) / scale_y
    x, y = spend / scale_x, outcome / scale_y

    def residuals(theta: FloatArray) -> FloatArray:
        top, log_half, shape = theta
        return (hill(x, top, math.exp(log_half), shape) - y) / noise

    best: tuple[float, FloatArray] | None = None
    low_half, high_half = (math.log(h) for h in HALF_RANGE)
    for half0 in (0.1, 0.5, 2.0):
        for shape0 in (0.5, 1.0):
            start = np.array([max(y.max(), 1e-3) * (1 + half0), math.log(half0), shape0])
            fit = optimize.least_squares(
                residuals,
                start,
                bounds=([0.0, low_half, SHAPE_RANGE[0]], [np.inf, high_half, SHAPE_RANGE[1]]),
            )
            cost = float(fit.cost)
            if best is None or cost < best[0]:
                best = (cost, fit.x)
    assert best is not None
    top, log_half, shape = best[1]
    at_bound = log_half <= low_half + 1e-3 or log_half >= high_half - 1e-3 or shape <= SHAPE_RANGE[0] + 1e-3
    return float(top * scale_y), float(math.exp(log_half) * scale_x), float(shape), bool(at_bound)


def concave_fit(spend: FloatArray, outcome: FloatArray, se: FloatArray) -> PiecewiseLinear:
    """The concave, non-decreasing piecewise-linear curve closest to measured level means.

    Knots at the measured spends (0 first, where the incremental outcome is 0); weighted least
    squares (weights ``1 / se**2``, with a floor of 2% of the largest outcome) under slopes that
    never rise and never go below 0. When the means already lie on such a curve it is their
    straight interpolation.

    Parameters
    ----------
    spend
        Measured spend levels (currency), including 0.
    outcome
        Mean incremental outcome at each level.
    se
        Standard error of each mean.
    """
    order = np.argsort(spend)
    x, y, s = spend[order], outcome[order], se[order]
    keep = x > 0
    x, y, s = x[keep], y[keep], s[keep]
    if x.size == 0:
        raise ValueError("a concave fit needs a measured positive spend")
    scale_x, scale_y = float(x.max()), float(max(np.abs(y).max(), 1e-12))
    weight = 1.0 / np.maximum(np.nan_to_num(s, nan=0.0), 0.02 * scale_y)
    # Slope of segment k is the sum of d_j for j >= k (d >= 0): slopes never rise nor go below 0;
    # the outcome at knot i is sum_j d_j * x[min(i, j)].
    xs = x / scale_x
    design = xs[np.minimum.outer(np.arange(x.size), np.arange(x.size))]
    fit = lsq_linear(design * weight[:, None] * scale_y, y * weight, bounds=(0.0, np.inf))
    values = design @ fit.x * scale_y
    knots = np.concatenate(([0.0], x))
    return PiecewiseLinear.from_points(knots, np.concatenate(([0.0], values)))


def _misfit(outcome: FloatArray, fitted: FloatArray, se: FloatArray) -> float:
    floor = max(float(np.abs(outcome).max()) * 1e-6, 1e-9)
    return float((np.abs(outcome - fitted) / np.maximum(se, floor)).max())


def _r2(outcome: FloatArray, fitted: FloatArray) -> float:
    total = float(((outcome - outcome.mean()) ** 2).sum())
    return 1.0 - float(((outcome - fitted) ** 2).sum()) / total if total > 0 else 1.0


def fit_curve(
    channel: str,
    objective: str,
    reference_spend: float,
    points: pd.DataFrame,
    segments: int = 20,
) -> ResponseCurve:
    """Fit a concave curve to measured level means and build its piecewise-linear form.

    A Hill curve first; when its parameters end on a bound of the fit or it leaves the 95%
    interval of a measured level (``points`` columns ``low`` and ``high``, when given), the
    concave piecewise-linear fit through the means (:func:`concave_fit`) instead. A channel
    whose measured outcome never rises above zero gets a flat curve (``top`` 0).
    """
    spend = points["spend"].to_numpy(dtype=np.float64)
    outcome = points["outcome"].to_numpy(dtype=np.float64)
    se = np.nan_to_num(points["se"].to_numpy(dtype=np.float64), nan=0.0)
    upper = float(spend.max())
    at_bound = False
    if upper <= 0 or outcome.max() <= 0:
        top, half, shape = 0.0, max(upper, 1.0), 1.0
    else:
        top, half, shape, at_bound = _fit(spend, outcome, se)
    lowest = float(spend[spend > 0].min()) if (spend > 0).any() else 0.0
    fitted = _hill_with_chord(spend, top, half, shape, lowest)
    note = ""
    if at_bound:
        note = (
            f"the Hill fit ended on a bound (half-saturation {half:,.4g}, shape {shape:.2f}); "
            "the curve is the concave fit through the measured points"
        )
    elif {"low", "high"} <= set(points.columns):
        low = points["low"].to_numpy(dtype=np.float64)
        high = points["high"].to_numpy(dtype=np.float64)
        outside = np.isfinite(low) & np.isfinite(high) & ((fitted < low) | (fitted > high))
        if outside.any():
            levels = ", ".join(f"{level:g}x" for level in points["level"].to_numpy()[outside])
            note = (
                f"the Hill fit leaves the 95% interval of the measured level(s) {levels}; "
                "the curve is the concave fit through the measured points"
            )
    pwl: PiecewiseLinear
    if note:
        pwl = concave_fit(spend, outcome, se)
        fitted = np.asarray(pwl(spend), dtype=np.float64)
        model = "measured"
    else:

        def smooth(x: FloatArray) -> FloatArray:
            return _hill_with_chord(x, top, half, shape, lowest)

        coarse = PiecewiseLinear.from_function(
            smooth, max(upper, 1.0), segments=segments, spacing="geometric"
        )
        # The kink where the straight line meets the Hill curve is a knot, so the LP sees it.
        knots = np.unique(np.append(coarse.knots, lowest)) if 0 < lowest < upper else coarse.knots
        pwl = PiecewiseLinear.from_points(knots, smooth(knots))
        model = "hill"
    return ResponseCurve(
        channel,
        objective,
        reference_spend,
        points,
        top,
        half,
        shape,
        _r2(outcome, fitted),
        _misfit(outcome, fitted, se),
        pwl,
        model=model,
        note=note,
    )


def measure_response(
    scenario: Scenario,
    seeds: Sequence[int],
    objective: str = "profit",
    levels: Sequence[float] = DEFAULT_LEVELS,
    center: Plan | None = None,
    channels: Sequence[str] | None = None,
    segments: int = 20,
    workers: int = 1,
    progress: bool = False,
    cycle_days: int | None = None,
    label: str = "response curves",
    per_seed: SeedScenario | None = None,
) -> ResponseCurves:
    """Simulate each channel at several spend levels and fit its response curve.

    Parameters
    ----------
    scenario
        The market (its own plan is the default center).
    seeds
        Paired seeds: every level of every channel runs on all of them.
    objective
        The objective whose KPI the curves measure (an allocation objective of
        :data:`~optimizer.objectives.OBJECTIVES`).
    levels
        Multiples of the reference spend to simulate (must include 0 and 1).
    center
        The plan the other channels are held at (default: the scenario's current plan). A
        channel with no spend in it is measured at multiples of its current spend instead.
    channels
        Channels to measure (default all).
    segments
        Pieces of each piecewise-linear curve.
    workers
        Worker processes for the runs (the result does not depend on it).
    progress
        Show a progress bar over runs.
    cycle_days
        Keep totals per cycle of that many days in ``replication.cycles`` (1: daily), for
        per-period demand and test-cycle ROI.
    label
        Name of the phase on the progress bar.
    per_seed
        The scenario each level runs on a seed (e.g. a posterior member's, see
        :func:`simulator.measure.replicate.replicate`); every level of a seed gets the same one,
        so the curve's intervals hold its spread.

    Returns
    -------
    ResponseCurves
        Curves with measured points, fit quality and piecewise-linear forms.
    """
    current = current_plan(scenario)
    plan = dict(current if center is None else center)
    names = list(channels) if channels is not None else scenario.channel_names
    base = apply_plan(scenario, plan) if center is not None else scenario
    reference = {name: plan[name] if plan[name] > 0 else current[name] for name in names}
    variants: dict[str, Scenario] = {}
    for name in names:
        for level in levels:
            spend = level * reference[name]
            if not math.isclose(spend, plan[name], rel_tol=1e-9, abs_tol=1e-6):
                variants[_variant_name(name, level)] = apply_plan(base, {name: spend})
    replication = replicate(
        base,
        seeds,
        variants,
        workers=workers,
        progress=progress,
        cycle_days=cycle_days,
        label=label,
        per_seed=per_seed,
    )
    entry = get_objective(objective)
    outcomes = entry.values(replication.runs)
    base_runs = outcomes.xs(BASELINE, level="variant")
    curves = {}
    for name in names:
        by_level: dict[float, pd.Series] = {}
        for level in levels:
            variant = _variant_name(name, level)
            runs = outcomes.xs(variant, level="variant") if variant in variants else base_runs
            by_level[level] = runs
        rows = []
        for level in sorted(levels):
            spend = level * reference[name]
            values = by_level[level] - by_level[0.0]
            if entry.subtract_spend:
                values = values + spend
            mean, se, low, high = confidence_interval(values.to_numpy())
            rows.append({"level": level, "spend": spend, "outcome": mean, "se": se, "low": low, "high": high})
        points = pd.DataFrame(rows)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            curves[name] = fit_curve(name, objective, reference[name], points, segments)
    return ResponseCurves(
        curves=curves,
        center=plan,
        center_outcome=float(base_runs.mean()),
        seeds=list(replication.seeds),
        replication=replication,
    )
