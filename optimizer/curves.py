r"""Response curves measured by simulation: the outcome of each channel as its spend moves.

For each channel the scenario is simulated at several spend levels (multiples of a reference
plan: 0, 0.5x, 1x, 1.5x, 2x, 3x), every other channel held at the plan, all on the same seeds
(common random numbers). The *incremental* outcome of a level is the paired difference
against the run with the channel's spend at 0, seed by seed. A concave saturating curve

.. math:: f(x) = \text{top} \cdot \frac{(x / h)^s}{1 + (x / h)^s}, \qquad 0 < s \le 1

(the Hill curve of media-mix models, with its shape held at or below 1 so that the curve is
concave and the allocation a linear program) is fitted to the level means by weighted least
squares, and turned into a piecewise-linear concave approximation for the LP.

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

from simulator.config.scenario import Scenario
from simulator.measure.incrementality import planned_spend
from simulator.measure.replicate import BASELINE, ReplicationResult, confidence_interval, replicate

from .objectives import get_objective
from .pwl import PiecewiseLinear

__all__ = [
    "ResponseCurve",
    "ResponseCurves",
    "apply_plan",
    "current_plan",
    "hill",
    "measure_response",
]

Plan = Mapping[str, float]
"""Total media spend per channel over the horizon (currency)."""

FloatArray = np.ndarray[Any, np.dtype[np.float64]]

SHAPE_RANGE = (0.2, 1.0)
"""Allowed Hill shape: at most 1 keeps the curve concave."""


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
        Fitted Hill parameters (see :func:`hill`).
    r2 : float
        Share of the variance of the level means the fitted curve explains.
    misfit : float
        Largest distance between the curve and a level mean, in standard errors of that mean.
    pwl : PiecewiseLinear
        Concave piecewise-linear approximation over ``[0, max measured spend]`` (flat beyond).
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

    def __call__(self, spend: FloatArray | float) -> FloatArray:
        """Fitted incremental outcome at ``spend`` (smooth curve)."""
        return hill(spend, self.top, self.half, self.shape)

    def marginal(self, spend: float) -> float:
        """Slope of the fitted curve at ``spend`` (outcome per extra unit of spend)."""
        step = max(spend, self.reference_spend, 1.0) * 1e-4
        low = max(spend - step, 0.0)
        return float((self(spend + step) - self(low)) / (spend + step - low))

    @property
    def max_spend(self) -> float:
        """Largest measured spend level (the curve is held flat beyond it)."""
        return float(self.points["spend"].max())


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
        """Fitted curve of every channel on a grid of spend: ``channel``, ``spend``, ``outcome``.

        The grid runs from 0 to the largest measured spend; ``marginal_roi`` is the slope there.
        """
        frames = []
        for name, curve in self.curves.items():
            spend = np.linspace(0.0, curve.max_spend, points)
            marginal = [curve.marginal(float(x)) for x in spend]
            frames.append(
                pd.DataFrame(
                    {"channel": name, "spend": spend, "outcome": curve(spend), "marginal_roi": marginal}
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
        """One row per channel: fitted parameters and fit quality."""
        rows = [
            {
                "channel": name,
                "reference_spend": c.reference_spend,
                "top": c.top,
                "half": c.half,
                "shape": c.shape,
                "r2": c.r2,
                "misfit_se": c.misfit,
            }
            for name, c in self.curves.items()
        ]
        return pd.DataFrame(rows).set_index("channel")


def _variant_name(channel: str, level: float) -> str:
    return f"{channel}@{level:g}"


def _fit(spend: FloatArray, outcome: FloatArray, se: FloatArray) -> tuple[float, float, float]:
    """Weighted least-squares Hill fit with the shape in :data:`SHAPE_RANGE`; ``(top, half, shape)``."""
    scale_x = float(spend.max())
    scale_y = float(max(np.abs(outcome).max(), 1e-12))
    noise = np.maximum(se, 0.02 * scale_y) / scale_y
    x, y = spend / scale_x, outcome / scale_y

    def residuals(theta: FloatArray) -> FloatArray:
        top, log_half, shape = theta
        return (hill(x, top, math.exp(log_half), shape) - y) / noise

    best: tuple[float, FloatArray] | None = None
    for half0 in (0.1, 0.5, 2.0):
        for shape0 in (0.5, 1.0):
            start = np.array([max(y.max(), 1e-3) * (1 + half0), math.log(half0), shape0])
            fit = optimize.least_squares(
                residuals,
                start,
                bounds=([0.0, math.log(1e-4), SHAPE_RANGE[0]], [np.inf, math.log(1e4), SHAPE_RANGE[1]]),
            )
            cost = float(fit.cost)
            if best is None or cost < best[0]:
                best = (cost, fit.x)
    assert best is not None
    top, log_half, shape = best[1]
    return float(top * scale_y), float(math.exp(log_half) * scale_x), float(shape)


def fit_curve(
    channel: str,
    objective: str,
    reference_spend: float,
    points: pd.DataFrame,
    segments: int = 20,
) -> ResponseCurve:
    """Fit a concave Hill curve to measured level means and build its piecewise-linear form.

    A channel whose measured outcome never rises above zero gets a flat curve (``top`` 0).
    """
    spend = points["spend"].to_numpy(dtype=np.float64)
    outcome = points["outcome"].to_numpy(dtype=np.float64)
    se = np.nan_to_num(points["se"].to_numpy(dtype=np.float64), nan=0.0)
    upper = float(spend.max())
    if upper <= 0 or outcome.max() <= 0:
        top, half, shape = 0.0, max(upper, 1.0), 1.0
    else:
        top, half, shape = _fit(spend, outcome, se)
    fitted = hill(spend, top, half, shape)
    total = float(((outcome - outcome.mean()) ** 2).sum())
    r2 = 1.0 - float(((outcome - fitted) ** 2).sum()) / total if total > 0 else 1.0
    floor = max(float(np.abs(outcome).max()) * 1e-6, 1e-9)
    misfit = float((np.abs(outcome - fitted) / np.maximum(se, floor)).max())

    def smooth(x: FloatArray) -> FloatArray:
        return hill(x, top, half, shape)

    pwl = PiecewiseLinear.from_function(smooth, max(upper, 1.0), segments=segments, spacing="geometric")
    return ResponseCurve(channel, objective, reference_spend, points, top, half, shape, r2, misfit, pwl)


def measure_response(
    scenario: Scenario,
    seeds: Sequence[int],
    objective: str = "profit",
    levels: Sequence[float] = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0),
    center: Plan | None = None,
    channels: Sequence[str] | None = None,
    segments: int = 20,
    workers: int = 1,
    progress: bool = False,
    cycle_days: int | None = None,
    label: str = "response curves",
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
        base, seeds, variants, workers=workers, progress=progress, cycle_days=cycle_days, label=label
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
