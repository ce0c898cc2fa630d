"""Budget allocation as a linear program over concave piecewise-linear response curves.

:func:`solve_allocation` splits a budget across channels (and periods) to maximize profit or an
outcome, under the constraints a strategist sets: total budget, per-channel bounds, locked
channels, share rules, minimum presence (a mixed-integer program), per-period budgets with
carryover, or a target ROI. It knows nothing about the simulator: it takes response curves
(:class:`~optimizer.pwl.PiecewiseLinear`) and returns an :class:`Allocation`.

The model
---------
Each channel ``c`` and period ``t`` has a concave curve with segments ``k`` of width ``w[k]`` and
slope ``m[k]`` (falling with ``k``), plus a flat tail beyond the last knot. One variable
``s[c, t, k]`` in ``[0, w[k]]`` per segment holds the part of the *effective* spend
``e[c, t] = sum_k s[c, t, k]`` that falls in segment ``k``, and the outcome is
``sum_k m[k] * s[c, t, k]`` (plus the outcome at zero spend). This is exact only if segments fill
in order, and it needs no binary variables because the curve is concave: every constraint involves
the segments only through their sum ``e[c, t]``, so moving spend from a later (flatter) segment to an
earlier (steeper) one keeps every constraint and raises the objective; an optimum therefore fills
segments in order. (In target-ROI mode the objective is spend, which does not care about order;
a second solve at the largest spend maximizes the outcome, which restores the order.)

With carryover ``a`` in ``[0, 1)``, ``e[c, t] = x[c, t] + a * e[c, t - 1]``, where ``x`` is the money
spent in period ``t`` (required to be ``>= 0``), and the curve of period ``t`` applies to ``e``.
Minimum presence ("either 0 or at least m") adds one binary per channel.

Solvers: CBC, bundled with PuLP, or HiGHS through ``highspy`` when it is installed. Shadow
prices are the duals of the LP (for the MILP, of the LP with the binaries fixed at their optimum),
normalised to "change in the objective per one more unit of the right-hand side" for both
solvers (PuLP passes CBC's duals through with that sign and HiGHS's with the opposite one).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import pulp

from optimizer.pwl import FloatArray, PiecewiseLinear, Response
from simulator.common.format import format_money, format_percent, format_ratio

__all__ = [
    "Allocation",
    "ConstraintError",
    "PiecewiseLinear",
    "ShadowPrice",
    "ShareRule",
    "available_solvers",
    "solve_allocation",
    "solve_allocation_refined",
]

Solver = Literal["auto", "cbc", "highs"]

# Duals smaller than this (objective units per unit of right-hand side) count as not binding.
_DUAL_TOLERANCE = 1e-7
# Spend below this (currency) is reported as zero: solver round-off.
_SPEND_TOLERANCE = 1e-6


class ConstraintError(ValueError):
    """One-line error about allocation constraints that cannot be met or make no sense.

    Parameters
    ----------
    field : str
        The constraint at fault, e.g. ``"budget"``, ``"bounds.search"``, ``"shares[0]"``,
        ``"locked.tv"``, ``"period_budgets"``, ``"min_presence.crm"``, ``"target_roi"``.
    message : str
        The whole one-line message, in money terms, e.g. ``"budget 10,000 is below the channel
        minimums, which add up to 12,000"``; it is ``str(error)``.
    """

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ShareRule:
    """A rule on the share of total spend (over the whole horizon) going to a group of channels.

    Parameters
    ----------
    channels : tuple of str
        The channels whose spend is added up.
    minimum : float, optional
        Least share of total spend, in ``[0, 1]`` (``0.2`` = at least 20%).
    maximum : float, optional
        Largest share of total spend, in ``[0, 1]``.
    """

    channels: tuple[str, ...]
    minimum: float | None = None
    maximum: float | None = None

    def __post_init__(self) -> None:
        channels = (self.channels,) if isinstance(self.channels, str) else tuple(self.channels)
        object.__setattr__(self, "channels", channels)

    def describe(self) -> str:
        """The rule in words, e.g. ``"social at least 20%"``."""
        group = " + ".join(self.channels)
        if self.minimum is not None and self.maximum is not None:
            return f"{group} between {_percent(self.minimum)} and {_percent(self.maximum)}"
        if self.minimum is not None:
            return f"{group} at least {_percent(self.minimum)}"
        if self.maximum is not None:
            return f"{group} at most {_percent(self.maximum)}"
        return f"{group} (no limit)"


@dataclass(frozen=True)
class ShadowPrice:
    """What one more unit of a binding constraint's right-hand side is worth.

    Parameters
    ----------
    constraint : str
        Which constraint: ``"budget"``, ``"budget of period 3"``, ``"upper bound of search"``,
        ``"lower bound of search"``, ``"locked spend of tv"``, ``"share rule 0 minimum"``,
        ``"share rule 0 maximum"``, ``"minimum presence of crm"``, ``"crm off"`` (held at zero
        by its minimum presence), ``"ROI target"``.
    value : float
        Change in the objective (``Allocation.objective``) per one more unit of the right-hand
        side: one more unit of currency of budget or bound, one more unit of spend required
        (minimum share) or allowed (maximum share) in a share rule's channels, one more unit of
        outcome required above the ROI target.
    text : str
        The same in words: ``"one more unit of total budget is worth 1.80 units of profit"``.

    Notes
    -----
    A curve's slope jumps at its knots. When the recommended spend sits exactly on a knot, the
    objective has a kink there: one more unit is worth the next segment's slope, one unit less the
    previous segment's, and the solver may report either value or one in between (CBC and HiGHS
    may differ). Away from knots the value is unique.
    """

    constraint: str
    value: float
    text: str


@dataclass
class Allocation:
    """Recommended allocation and what it is expected to bring.

    Attributes
    ----------
    spend : pandas.DataFrame
        Recommended spend, currency: index ``channel``, one column per period (``0 .. periods-1``,
        column index named ``period``); a single-period plan has one column ``0``.
    outcome : pandas.Series
        Expected outcome per channel (curve value at the effective spend, summed over periods;
        before any spend is subtracted, and including the outcome at zero spend).
    objective : float
        The optimized value: ``outcome.sum() - total_spend()`` in mode ``"profit"``,
        ``outcome.sum()`` in mode ``"outcome"``, ``total_spend()`` in mode ``"target_roi"``.
    marginal_outcome : pandas.Series
        Per channel, the outcome of the best next unit of spend at the recommended point
        (right derivative; for several periods, the period where the next unit returns most,
        carryover into later periods included), in units of the curves' outcome per unit of
        spend. It is gross: in profit mode the curves give contribution before spend, so a
        channel pays for its next unit when it is above 1 (its marginal ROI, in the measures
        of :mod:`simulator.common.measures`, is this minus 1).
    shadow_prices : list of ShadowPrice
        Binding constraints only (dual above a small tolerance), in the order: budget, period
        budgets, each channel's lock, bounds and presence, share rules, ROI target.
    status : str
        ``"optimal"``.
    solver : str
        ``"cbc"`` or ``"highs"``.
    solve_seconds : float
        Wall time in the solver calls (PuLP's hand-over to the solver included).
    mode : str
        ``"profit"``, ``"outcome"`` or ``"target_roi"``.
    build_seconds : float
        Wall time spent building the PuLP model.
    effective_spend : pandas.DataFrame
        Spend plus carried-over spend, the argument of each period's curve (equal to ``spend``
        without carryover).
    """

    spend: pd.DataFrame
    outcome: pd.Series
    objective: float
    marginal_outcome: pd.Series
    shadow_prices: list[ShadowPrice]
    status: str
    solver: str
    solve_seconds: float
    mode: str
    build_seconds: float = 0.0
    effective_spend: pd.DataFrame = field(default_factory=pd.DataFrame)

    def total_spend(self) -> float:
        """Total recommended spend over all channels and periods, currency."""
        return float(self.spend.to_numpy().sum())

    def to_frame(self) -> pd.DataFrame:
        """One row per channel: spend, share, outcome, ``outcome_per_spend`` and ``marginal_outcome``.

        ``outcome_per_spend`` is outcome per unit of spend (gross, like ``marginal_outcome``;
        NaN without spend).
        """
        spend = self.spend.sum(axis=1)
        total = float(spend.sum())
        frame = pd.DataFrame(
            {
                "spend": spend,
                "share": spend / total if total > 0 else spend * np.nan,
                "outcome": self.outcome,
                "outcome_per_spend": self.outcome / spend.where(spend > 0),
                "marginal_outcome": self.marginal_outcome,
            }
        )
        frame.index.name = "channel"
        return frame


def available_solvers() -> list[str]:
    """Solvers :func:`solve_allocation` can use here: ``"highs"`` if ``highspy`` imports, ``"cbc"``."""
    solvers = []
    if pulp.HiGHS(msg=False).available():
        solvers.append("highs")
    if _solver("cbc", mip=False).available():
        solvers.append("cbc")
    return solvers


def solve_allocation(
    curves: Mapping[str, PiecewiseLinear | Sequence[PiecewiseLinear]],
    budget: float | None,
    *,
    budget_mode: Literal["equal", "at_most"] = "equal",
    subtract_spend: bool = True,
    bounds: Mapping[str, tuple[float | None, float | None]] | None = None,
    locked: Mapping[str, float] | None = None,
    shares: Sequence[ShareRule] = (),
    min_presence: Mapping[str, float] | None = None,
    target_roi: float | None = None,
    periods: int = 1,
    period_budgets: Sequence[float | None] | None = None,
    carryover: Mapping[str, float] | None = None,
    outcome_name: str = "profit",
    currency: str = "",
    solver: Solver = "auto",
) -> Allocation:
    """Split a budget across channels (and periods) to maximize the objective.

    Parameters
    ----------
    curves : mapping of str to PiecewiseLinear or sequence of PiecewiseLinear
        Response curve of each channel: outcome in one period as a function of that period's
        effective spend. One curve (used in every period) or one per period.
    budget : float or None
        Total budget over the horizon, currency. ``None``: no total budget (profit mode then
        stops where the next unit of spend no longer pays; target-ROI mode has no cap).
    budget_mode : {"equal", "at_most"}, default "equal"
        Spend exactly the budget, or at most the budget. Ignored in target-ROI mode, where the
        budget is a cap.
    subtract_spend : bool, default True
        True when the curves give gross margin and the objective is profit (outcome minus
        spend); False when the objective is the outcome itself (revenue, customers, CLV).
    bounds : mapping of str to (lower, upper), optional
        Total spend of a channel over the horizon, currency; ``None`` for no bound on a side.
    locked : mapping of str to float, optional
        Channels whose total spend is fixed, currency.
    shares : sequence of ShareRule, default ()
        Rules on the share of total spend going to groups of channels.
    min_presence : mapping of str to float, optional
        A channel's total spend is either 0 or at least this much, currency (a binary variable
        per channel: the problem becomes a MILP).
    target_roi : float, optional
        Target-ROI mode: the largest total spend whose overall ROI stays at or above the target.
        With ``subtract_spend`` this is the ROI of :mod:`simulator.common.measures`,
        ``(sum of outcomes - spend) / spend`` (break-even 0; 0.5 = 50% profit on spend);
        without it the target is on the outcome per unit of spend, ``sum of outcomes / spend``.
        Outcomes at zero spend count. Among allocations of that largest spend, the one with the
        most outcome is returned.
    periods : int, default 1
        Number of periods (weeks, months) in the plan.
    period_budgets : sequence of float or None, optional
        Spend cap of each period, currency (``None``: no cap), one per period.
    carryover : mapping of str to float, optional
        Geometric carryover in ``[0, 1)`` per channel: effective spend
        ``e[t] = x[t] + carryover * e[t - 1]``; the curve applies to ``e[t]``.
    outcome_name : str, default "profit"
        Name of the objective in the shadow-price texts.
    currency : str, default ""
        Currency code used in the texts (``"one more EUR of total budget..."``).
    solver : {"auto", "cbc", "highs"}, default "auto"
        ``"auto"``: HiGHS if ``highspy`` is installed, otherwise CBC (bundled with PuLP).

    Returns
    -------
    Allocation

    Raises
    ------
    ConstraintError
        Constraints that contradict each other, or an unknown channel, with a one-line message in
        money terms; raised before solving when the conflict is visible from the numbers, after
        solving when the solver finds no allocation.
    """
    inputs = _check_inputs(
        curves,
        budget,
        budget_mode=budget_mode,
        subtract_spend=subtract_spend,
        bounds=bounds or {},
        locked=locked or {},
        shares=tuple(shares),
        min_presence=min_presence or {},
        target_roi=target_roi,
        periods=periods,
        period_budgets=period_budgets,
        carryover=carryover or {},
    )
    solver_name = _pick_solver(solver)
    started = time.perf_counter()
    model = _Model(inputs)
    build_seconds = time.perf_counter() - started

    solve_seconds = model.solve(solver_name)
    if model.status != pulp.LpStatusOptimal:
        raise _infeasible_error(inputs, solver_name, model.status)
    if model.presence_switches:
        model.fix_presence()
        solve_seconds += model.solve(solver_name)
    units = _Units(currency, "total spend" if inputs.target_roi is not None else outcome_name)
    shadow_prices = model.shadow_prices(solver_name, units)
    if inputs.target_roi is not None:
        largest = model.total_spend_value()
        if largest <= _SPEND_TOLERANCE:
            raise _target_unreachable(inputs)
        solve_seconds += model.maximize_outcome_at(largest, solver_name)
        if model.status != pulp.LpStatusOptimal:
            raise _infeasible_error(inputs, solver_name, model.status)
    return model.allocation(
        solver_name=solver_name,
        solve_seconds=solve_seconds,
        build_seconds=build_seconds,
        shadow_prices=shadow_prices,
    )


def solve_allocation_refined(
    curves: Mapping[str, PiecewiseLinear | Sequence[PiecewiseLinear]],
    responses: Mapping[str, Response | Sequence[Response]],
    budget: float | None,
    *,
    rounds: int = 2,
    subdivisions: int = 10,
    **options: Any,
) -> Allocation:
    """:func:`solve_allocation` on smooth response functions, by knot refinement around the answer.

    The LP is solved on ``curves`` (coarse piecewise-linear approximations of ``responses``), then
    ``rounds`` more times, each time on the curves of the previous round refined around the
    effective spend it found (:meth:`PiecewiseLinear.refined_around`: the coarse knots stay, each
    segment within one segment of the spend is split into ``subdivisions``, the spend itself
    becomes a knot). Every round is the same LP (a MILP with ``min_presence``), only with more
    knots near the answer; the window narrows by ``subdivisions`` a round.

    Because the previous answer lies on knots of the refined curves, where they equal the
    response, and the refined curves lie between the coarse ones and a concave response, no
    round scores lower on the responses than the round before (up to the solver's tolerances).

    Parameters
    ----------
    curves : mapping of str to PiecewiseLinear or sequence of PiecewiseLinear
        The coarse curves, as for :func:`solve_allocation` (e.g. from
        :meth:`PiecewiseLinear.from_function` of the same responses).
    responses : mapping of str to callable or sequence of callables
        For each channel of ``curves``, the smooth response (vectorized function of effective
        spend returning the outcome), or one per period. A channel with one curve and one
        response keeps one curve, refined around its spend in every period.
    budget : float or None
        As for :func:`solve_allocation`.
    rounds : int, default 2
        Refinement rounds after the first solve; 0 is :func:`solve_allocation`.
    subdivisions : int, default 10
        Parts each segment near the answer is split into, each round.
    **options
        Every keyword argument of :func:`solve_allocation` (bounds, shares, periods, solver...).

    Returns
    -------
    Allocation
        The last round's allocation; ``outcome``, ``objective`` and the shadow prices are those of
        its (refined) curves, ``solve_seconds`` and ``build_seconds`` the totals over all rounds.
    """
    if rounds < 0:
        raise ValueError(f"rounds must be at least 0, got {rounds}")
    if set(curves) != set(responses):
        raise ValueError(
            f"responses must name the same channels as curves: {sorted(curves)} against {sorted(responses)}"
        )
    allocation = solve_allocation(curves, budget, **options)
    solve_seconds, build_seconds = allocation.solve_seconds, allocation.build_seconds
    for _ in range(rounds):
        effective = allocation.effective_spend
        curves = {
            name: _refined(name, curve, responses[name], effective.loc[name].to_numpy(), subdivisions)
            for name, curve in curves.items()
        }
        allocation = solve_allocation(curves, budget, **options)
        solve_seconds += allocation.solve_seconds
        build_seconds += allocation.build_seconds
    return dataclasses.replace(allocation, solve_seconds=solve_seconds, build_seconds=build_seconds)


def _refined(
    name: str,
    curve: PiecewiseLinear | Sequence[PiecewiseLinear],
    response: Response | Sequence[Response],
    spend: FloatArray,
    subdivisions: int,
) -> PiecewiseLinear | list[PiecewiseLinear]:
    """A channel's curve(s) refined around its effective spend in each period (``spend``)."""
    if isinstance(curve, PiecewiseLinear) and callable(response):
        return curve.refined_around(response, spend, subdivisions)
    periods = spend.size
    curve_list = [curve] * periods if isinstance(curve, PiecewiseLinear) else list(curve)
    response_list = [response] * periods if callable(response) else list(response)
    if len(response_list) != periods:
        raise ValueError(f"responses of {name} must be one callable or one per period ({periods})")
    return [
        period_curve.refined_around(period_response, spend[t : t + 1], subdivisions)
        for t, (period_curve, period_response) in enumerate(zip(curve_list, response_list, strict=True))
    ]


# --------------------------------------------------------------------------- inputs and checks


@dataclass(frozen=True)
class _Inputs:
    """Validated, array-shaped inputs: channel ``i`` is ``channels[i]``."""

    channels: tuple[str, ...]
    curves: tuple[tuple[PiecewiseLinear, ...], ...]  # [channel][period]
    budget: float | None
    budget_equal: bool
    subtract_spend: bool
    lower: FloatArray  # total over the horizon; 0 when none
    upper: FloatArray  # inf when none
    locked: dict[int, float]
    shares: tuple[ShareRule, ...]
    presence: dict[int, float]
    target_roi: float | None
    periods: int
    period_budgets: tuple[float | None, ...]
    carryover: FloatArray

    @property
    def mode(self) -> str:
        if self.target_roi is not None:
            return "target_roi"
        return "profit" if self.subtract_spend else "outcome"

    def minimum(self, index: int) -> float:
        """Least total spend the constraints force on a channel (presence aside: 0 is allowed)."""
        return self.locked.get(index, float(self.lower[index]))

    def maximum(self, index: int) -> float:
        """Most total spend the constraints allow a channel."""
        return self.locked.get(index, float(self.upper[index]))


def _check_inputs(
    curves: Mapping[str, PiecewiseLinear | Sequence[PiecewiseLinear]],
    budget: float | None,
    *,
    budget_mode: str,
    subtract_spend: bool,
    bounds: Mapping[str, tuple[float | None, float | None]],
    locked: Mapping[str, float],
    shares: tuple[ShareRule, ...],
    min_presence: Mapping[str, float],
    target_roi: float | None,
    periods: int,
    period_budgets: Sequence[float | None] | None,
    carryover: Mapping[str, float],
) -> _Inputs:
    """Check every input and turn it into arrays indexed by channel (see :func:`solve_allocation`).

    Raises
    ------
    ConstraintError
        Naming the input at fault, for the first problem found.
    """
    if not curves:
        raise ConstraintError("curves", "no channels to allocate: curves is empty")
    if not (isinstance(periods, int) and periods >= 1):
        raise ConstraintError("periods", f"periods must be a whole number of at least 1, got {periods!r}")
    if budget_mode not in ("equal", "at_most"):
        raise ConstraintError("budget_mode", f"budget_mode must be 'equal' or 'at_most', got {budget_mode!r}")
    channels = tuple(curves)
    index = {name: i for i, name in enumerate(channels)}
    curve_table = tuple(_channel_curves(name, curves[name], periods) for name in channels)
    _check_names(index, bounds=bounds, locked=locked, min_presence=min_presence, carryover=carryover)
    for number, rule in enumerate(shares):
        for name in rule.channels:
            _require_channel(f"shares[{number}]", name, f"share rule {number}", index)
    if budget is not None:
        _require_amount("budget", "budget", budget)
        budget = float(budget)
    lower, upper = _check_bounds(bounds, index)
    locked_index = _check_locked(locked, index, lower, upper)
    presence = _check_presence(min_presence, index, locked_index, lower, upper)
    carry = _check_carryover(carryover, index)
    caps = _check_period_budgets(period_budgets, periods)
    _check_target_roi(target_roi, budget, subtract_spend)
    inputs = _Inputs(
        channels=channels,
        curves=curve_table,
        budget=budget,
        budget_equal=budget_mode == "equal" and target_roi is None,
        subtract_spend=subtract_spend,
        lower=lower,
        upper=upper,
        locked=locked_index,
        shares=shares,
        presence=presence,
        target_roi=None if target_roi is None else float(target_roi),
        periods=periods,
        period_budgets=caps,
        carryover=carry,
    )
    _check_totals(inputs)
    _check_shares(inputs)
    return inputs


def _check_names(index: Mapping[str, int], **named: Mapping[str, object]) -> None:
    """Every channel a constraint names is one of the curves' channels."""
    for kind, mapping in named.items():
        for name in mapping:
            _require_channel(f"{kind}.{name}", name, kind, index)


def _check_bounds(
    bounds: Mapping[str, tuple[float | None, float | None]], index: Mapping[str, int]
) -> tuple[FloatArray, FloatArray]:
    """Lower and upper total spend per channel (0 and infinity where none is given)."""
    lower = np.zeros(len(index))
    upper = np.full(len(index), np.inf)
    for name, pair in bounds.items():
        where = f"bounds.{name}"
        if not (isinstance(pair, tuple | list) and len(pair) == 2):
            raise ConstraintError(where, f"bounds of {name} must be a pair (lower, upper), got {pair!r}")
        low, high = pair
        if low is not None:
            _require_amount(where, f"lower bound of {name}", low)
            lower[index[name]] = float(low)
        if high is not None:
            _require_amount(where, f"upper bound of {name}", high)
            upper[index[name]] = float(high)
        if low is not None and high is not None and low > high:
            raise ConstraintError(
                where, f"lower bound {_money(low)} of {name} is above its upper bound {_money(high)}"
            )
    return lower, upper


def _check_locked(
    locked: Mapping[str, float], index: Mapping[str, int], lower: FloatArray, upper: FloatArray
) -> dict[int, float]:
    """Locked spend per channel index, each within the channel's bounds."""
    locked_index: dict[int, float] = {}
    for name, amount in locked.items():
        where = f"locked.{name}"
        _require_amount(where, f"locked spend of {name}", amount)
        i = index[name]
        if not lower[i] - _SPEND_TOLERANCE <= amount <= upper[i] + _SPEND_TOLERANCE:
            raise ConstraintError(
                where,
                f"{name} is locked at {_money(amount)}, outside its bounds "
                f"{_money(lower[i])} to {_money(upper[i])}",
            )
        locked_index[i] = float(amount)
    return locked_index


def _check_presence(
    min_presence: Mapping[str, float],
    index: Mapping[str, int],
    locked: Mapping[int, float],
    lower: FloatArray,
    upper: FloatArray,
) -> dict[int, float]:
    """Minimum presence per channel index (positive ones), consistent with locks and bounds."""
    presence: dict[int, float] = {}
    for name, amount in min_presence.items():
        where = f"min_presence.{name}"
        _require_amount(where, f"minimum presence of {name}", amount)
        i = index[name]
        if i in locked and 0 < locked[i] < amount:
            raise ConstraintError(
                where,
                f"{name} is locked at {_money(locked[i])}, below its minimum presence {_money(amount)}",
            )
        if lower[i] > 0 and amount > upper[i]:
            raise ConstraintError(
                where,
                f"minimum presence {_money(amount)} of {name} is above its upper bound {_money(upper[i])}, "
                f"and its lower bound {_money(lower[i])} rules out zero",
            )
        if amount > 0:
            presence[i] = float(amount)
    return presence


def _check_carryover(carryover: Mapping[str, float], index: Mapping[str, int]) -> FloatArray:
    """Carryover rate per channel, in [0, 1)."""
    carry = np.zeros(len(index))
    for name, rate in carryover.items():
        if not (isinstance(rate, int | float) and 0 <= rate < 1):
            raise ConstraintError(f"carryover.{name}", f"carryover of {name} must be in [0, 1), got {rate!r}")
        carry[index[name]] = float(rate)
    return carry


def _check_target_roi(target_roi: float | None, budget: float | None, subtract_spend: bool) -> None:
    """A target ROI is a number that, without a budget, limits spend."""
    if target_roi is None:
        return
    floor = -1.0 if subtract_spend else 0.0
    if not (isinstance(target_roi, int | float) and math.isfinite(target_roi)):
        raise ConstraintError("target_roi", f"target_roi must be a number, got {target_roi!r}")
    if budget is None and target_roi <= floor:
        raise ConstraintError(
            "target_roi",
            f"target ROI {target_roi:g} does not limit spend (any spend has ROI above {floor:g}): "
            "give a budget cap or a higher target",
        )


def _channel_curves(
    name: str, given: PiecewiseLinear | Sequence[PiecewiseLinear], periods: int
) -> tuple[PiecewiseLinear, ...]:
    if isinstance(given, PiecewiseLinear):
        return (given,) * periods
    listed = tuple(given)
    if len(listed) != periods or not all(isinstance(curve, PiecewiseLinear) for curve in listed):
        raise ConstraintError(
            f"curves.{name}",
            f"curves of {name} must be one PiecewiseLinear or one per period ({periods}), "
            f"got {len(listed)} items",
        )
    return listed


def _require_channel(where: str, name: str, what: str, index: Mapping[str, int]) -> None:
    if name not in index:
        raise ConstraintError(
            where, f"{what} names channel {name!r}, which is not among the channels: {', '.join(index)}"
        )


def _require_amount(where: str, what: str, amount: object) -> None:
    if not (isinstance(amount, int | float) and math.isfinite(amount) and amount >= 0):
        raise ConstraintError(where, f"{what} must be an amount of at least 0, got {amount!r}")


def _check_period_budgets(
    period_budgets: Sequence[float | None] | None, periods: int
) -> tuple[float | None, ...]:
    if period_budgets is None:
        return (None,) * periods
    caps = tuple(period_budgets)
    if len(caps) != periods:
        raise ConstraintError(
            "period_budgets", f"period_budgets has {len(caps)} values for {periods} periods"
        )
    for number, cap in enumerate(caps):
        if cap is not None:
            _require_amount("period_budgets", f"budget of period {number}", cap)
    return tuple(None if cap is None else float(cap) for cap in caps)


def _check_totals(inputs: _Inputs) -> None:
    """Budget against channel minimums and maximums, and period budgets against both."""
    count = len(inputs.channels)
    minimums = sum(inputs.minimum(i) for i in range(count))
    maximums = sum(inputs.maximum(i) for i in range(count))
    budget = inputs.budget
    if budget is not None and budget < minimums - _SPEND_TOLERANCE:
        raise ConstraintError(
            "budget",
            f"budget {_money(budget)} is below the channel minimums, which add up to {_money(minimums)}",
        )
    if budget is not None and inputs.budget_equal and budget > maximums + _SPEND_TOLERANCE:
        raise ConstraintError(
            "budget",
            f"budget {_money(budget)} is above the channel maximums, which add up to {_money(maximums)}",
        )
    if any(cap is None for cap in inputs.period_budgets):
        return
    period_total = sum(cap for cap in inputs.period_budgets if cap is not None)
    if budget is not None and inputs.budget_equal and period_total < budget - _SPEND_TOLERANCE:
        raise ConstraintError(
            "period_budgets",
            f"period budgets add up to {_money(period_total)}, below the total budget {_money(budget)}",
        )
    if period_total < minimums - _SPEND_TOLERANCE:
        raise ConstraintError(
            "period_budgets",
            f"period budgets add up to {_money(period_total)}, below the channel minimums, "
            f"which add up to {_money(minimums)}",
        )


def _check_shares(inputs: _Inputs) -> None:
    """Share rules: values in [0, 1], minimum <= maximum, and reachable with the budget."""
    index = {name: i for i, name in enumerate(inputs.channels)}
    for number, rule in enumerate(inputs.shares):
        where = f"shares[{number}]"
        if not rule.channels:
            raise ConstraintError(where, f"share rule {number} names no channels")
        for side, share in (("minimum", rule.minimum), ("maximum", rule.maximum)):
            if share is not None and not (isinstance(share, int | float) and 0 <= share <= 1):
                shown = f"{share:g}" if isinstance(share, int | float) else repr(share)
                raise ConstraintError(
                    where,
                    f"share rule {number} ({' + '.join(rule.channels)}) {side} {shown} is not a share "
                    "between 0 and 1 (0% to 100%)",
                )
        if rule.minimum is not None and rule.maximum is not None and rule.minimum > rule.maximum:
            raise ConstraintError(
                where,
                f"share rule {number} ({' + '.join(rule.channels)}) minimum {_percent(rule.minimum)} "
                f"is above its maximum {_percent(rule.maximum)}",
            )
        members = [index[name] for name in dict.fromkeys(rule.channels)]
        group = " + ".join(rule.channels)
        budget = inputs.budget
        if budget is None or not inputs.budget_equal:
            continue
        if rule.minimum is not None:
            needed = rule.minimum * budget
            room = sum(inputs.maximum(i) for i in members)
            if room < needed - _SPEND_TOLERANCE:
                raise ConstraintError(
                    where,
                    f"share rule {number} ({rule.describe()}) needs {_money(needed)} of the budget "
                    f"{_money(budget)}, but the upper bounds of {group} add up to {_money(room)}",
                )
        if rule.maximum is not None:
            allowed = rule.maximum * budget
            forced = sum(inputs.minimum(i) for i in members)
            if forced > allowed + _SPEND_TOLERANCE:
                raise ConstraintError(
                    where,
                    f"share rule {number} ({rule.describe()}) allows {_money(allowed)} of the budget "
                    f"{_money(budget)}, but the minimums of {group} add up to {_money(forced)}",
                )
    _check_disjoint_share_minimums(inputs.shares)


def _check_disjoint_share_minimums(shares: tuple[ShareRule, ...]) -> None:
    """Minimum shares of rules on separate channels cannot add up to more than 100%."""
    seen: set[str] = set()
    disjoint: list[tuple[int, ShareRule]] = []
    for number, rule in enumerate(shares):
        if rule.minimum is None or seen.intersection(rule.channels):
            continue
        seen.update(rule.channels)
        disjoint.append((number, rule))
    total = sum(rule.minimum or 0.0 for _, rule in disjoint)
    if total > 1 + 1e-9:
        numbers = ", ".join(str(number) for number, _ in disjoint)
        raise ConstraintError(
            "shares",
            f"the minimum shares of share rules {numbers} (on separate channels) add up to "
            f"{_percent(total)}, over 100% of total spend",
        )


# --------------------------------------------------------------------------- the PuLP model


@dataclass(frozen=True)
class _Units:
    currency: str
    objective_name: str


class _Model:
    """The PuLP problem for validated inputs, with the bookkeeping to read results back.

    Two kinds of variables: one per curve segment (``s``, stored flat in blocks of one channel
    and period: its segments, then the flat tail) and one effective spend per channel and
    period (``e``, index ``channel * periods + period``), tied by ``e = sum of its segments``.
    Every constraint but that tie is written on ``e``, which keeps the model small (one row per
    tie instead of every segment in every constraint); PuLP's hand-over to the solver costs
    time per non-zero.
    """

    def __init__(self, inputs: _Inputs, omit: frozenset[str] = frozenset()):
        self.inputs = inputs
        self.problem = pulp.LpProblem("allocation", pulp.LpMaximize)
        self.status: int = pulp.LpStatusNotSolved
        self.labels: dict[str, tuple[str, str]] = {}  # constraint id -> (name, what one more unit is)
        self.constraints: dict[str, pulp.LpConstraint] = {}  # the labelled ones
        self.presence_switches: dict[int, pulp.LpVariable] = {}
        self._add_variables()
        self._set_objective()
        self._add_budgets(omit)
        self._add_channel_limits(omit)
        if "shares" not in omit:
            self._add_shares()
        if inputs.target_roi is not None and "target_roi" not in omit:
            self._add_target_roi()

    def _add_variables(self) -> None:
        """Segment and effective-spend variables, the ties between them, and the spend weights."""
        inputs = self.inputs
        channel_count, periods = len(inputs.channels), inputs.periods
        curves = [inputs.curves[i][t] for i in range(channel_count) for t in range(periods)]
        slopes = [np.append(curve.slopes, 0.0) for curve in curves]
        width = np.concatenate([np.append(curve.widths, np.inf) for curve in curves])
        self.slope = np.concatenate(slopes)
        self.segments = [
            self._variable(f"s{j}", upper=None if np.isinf(w) else float(w))
            for j, w in enumerate(width.tolist())
        ]
        self.effective = [self._variable(f"e{j}") for j in range(len(curves))]
        ends = np.cumsum([s.size for s in slopes])
        for j, (start, end) in enumerate(zip((0, *ends[:-1].tolist()), ends.tolist(), strict=True)):
            tie = pulp.LpAffineExpression([(v, -1.0) for v in self.segments[start:end]])
            tie[self.effective[j]] = 1.0
            self.problem += pulp.LpConstraint(tie, pulp.LpConstraintEQ, f"tie{j}", 0.0)
        self.channel_of = np.repeat(np.arange(channel_count), periods)
        self.period_of = np.tile(np.arange(periods), channel_count)
        # Money spent per unit of effective spend: e[t] counts once, minus what carries into t + 1.
        self.carry_of = inputs.carryover[self.channel_of]
        self.spend_weight = np.where(self.period_of < periods - 1, 1.0 - self.carry_of, 1.0)
        self.constant_outcome = float(sum(curve.values[0] for curve in curves))
        self.spend_total = self._expression(effective=self.spend_weight)
        self.outcome = self._expression(self.slope, constant=self.constant_outcome)

    def _set_objective(self) -> None:
        """Spend (target-ROI mode), outcome minus spend (profit), or the outcome."""
        if self.inputs.target_roi is not None:
            self.problem += self.spend_total
        elif self.inputs.subtract_spend:
            self.problem += self._expression(self.slope, -self.spend_weight, self.constant_outcome)
        else:
            self.problem += self.outcome

    def _add_budgets(self, omit: frozenset[str]) -> None:
        """The total budget, period budgets, and non-negative spend in every period with carryover."""
        inputs = self.inputs
        if inputs.budget is not None:
            sense = pulp.LpConstraintEQ if inputs.budget_equal else pulp.LpConstraintLE
            phrase = "budget cap" if inputs.target_roi is not None else "total budget"
            self._add("budget", self.spend_total, sense, inputs.budget, "budget", phrase)
        # Money spent in a period is e[t] - carry * e[t - 1].
        period_of = self.period_of
        period_spend = [
            (period_of == t) - self.carry_of * (period_of == t - 1) for t in range(inputs.periods)
        ]
        if "period_budgets" not in omit:
            for t, cap in enumerate(inputs.period_budgets):
                if cap is not None:
                    expression = self._expression(effective=period_spend[t])
                    self._add(f"period{t}", expression, pulp.LpConstraintLE, cap, f"budget of period {t}")
        for t in range(1, inputs.periods):
            for i in np.flatnonzero(inputs.carryover).tolist():
                expression = self._expression(effective=period_spend[t] * (self.channel_of == i))
                self.problem += pulp.LpConstraint(expression, pulp.LpConstraintGE, f"nonneg{i}_{t}", 0.0)

    def _add_channel_limits(self, omit: frozenset[str]) -> None:
        """Per channel: locked spend, or lower bound and upper bound (or minimum presence)."""
        inputs = self.inputs
        for i, name in enumerate(inputs.channels):
            total = self._expression(effective=self.spend_weight * (self.channel_of == i))
            if i in inputs.locked:
                self._add(
                    f"locked{i}", total, pulp.LpConstraintEQ, inputs.locked[i], f"locked spend of {name}"
                )
                continue
            if inputs.lower[i] > 0:
                self._add(
                    f"lower{i}", total, pulp.LpConstraintGE, float(inputs.lower[i]), f"lower bound of {name}"
                )
            if i in inputs.presence and "min_presence" not in omit:
                self._add_presence(i, name, total)
            elif np.isfinite(inputs.upper[i]):
                self._add(
                    f"upper{i}", total, pulp.LpConstraintLE, float(inputs.upper[i]), f"upper bound of {name}"
                )

    def _add_shares(self) -> None:
        """Share rules: the members' spend at least / at most a share of the total."""
        inputs = self.inputs
        for number, rule in enumerate(inputs.shares):
            members = np.isin(self.channel_of, [inputs.channels.index(c) for c in set(rule.channels)])
            for side, share, sense in (
                ("minimum", rule.minimum, pulp.LpConstraintGE),
                ("maximum", rule.maximum, pulp.LpConstraintLE),
            ):
                if share is None:
                    continue
                verb = "required" if side == "minimum" else "allowed"
                self._add(
                    f"share{number}{side}",
                    self._expression(effective=self.spend_weight * (members - share)),
                    sense,
                    0.0,
                    f"share rule {number} {side}",
                    f"spend {verb} in share rule {number} ({rule.describe()})",
                )

    def _add_target_roi(self) -> None:
        """Outcome >= (1 + target) * spend (profit ROI) or target * spend (outcome per unit of spend)."""
        inputs = self.inputs
        assert inputs.target_roi is not None
        multiple = inputs.target_roi + (1.0 if inputs.subtract_spend else 0.0)
        self._add(
            "roi",
            self._expression(self.slope, -multiple * self.spend_weight),
            pulp.LpConstraintGE,
            -self.constant_outcome,
            "ROI target",
            "outcome required above the ROI target",
        )

    def _variable(
        self, name: str, upper: float | None = None, category: str = pulp.LpContinuous
    ) -> pulp.LpVariable:
        """A variable from 0 to ``upper``, created the PuLP 4 way where PuLP has it (3.3 and later)."""
        add_variable = getattr(self.problem, "add_variable", None)
        if add_variable is None:
            return pulp.LpVariable(name, 0.0, upper, category)
        return add_variable(name, 0.0, upper, category)

    def _expression(
        self,
        segments: FloatArray | None = None,
        effective: FloatArray | None = None,
        constant: float = 0.0,
    ) -> pulp.LpAffineExpression:
        """Linear expression with these coefficients on the segment and effective-spend variables."""
        pairs: list[tuple[pulp.LpVariable, float]] = []
        for variables, coefficients in ((self.segments, segments), (self.effective, effective)):
            if coefficients is not None:
                nonzero = np.flatnonzero(coefficients)
                values = coefficients[nonzero].tolist()
                pairs.extend((variables[j], value) for j, value in zip(nonzero.tolist(), values, strict=True))
        return pulp.LpAffineExpression(pairs, constant=constant)

    def _add(
        self,
        key: str,
        expression: pulp.LpAffineExpression,
        sense: int,
        rhs: float,
        name: str,
        phrase: str | None = None,
    ) -> None:
        """Add a constraint; ``name`` and ``phrase`` (default "the <name>") label its shadow price."""
        constraint = pulp.LpConstraint(expression, sense, key, rhs)
        self.problem += constraint
        self.constraints[key] = constraint
        self.labels[key] = (name, phrase or f"the {name}")

    def _presence_cap(self, i: int) -> float:
        """A total spend the channel never needs to exceed: the big M of its presence switch."""
        inputs = self.inputs
        candidates = [float(inputs.upper[i])]
        if inputs.budget is not None:
            candidates.append(inputs.budget)
        if inputs.target_roi is not None:
            # Outcome >= multiple * spend bounds the total spend of any feasible allocation.
            multiple = inputs.target_roi + (1.0 if inputs.subtract_spend else 0.0)
            best = sum(float(curve.values[-1]) for row in inputs.curves for curve in row)
            if multiple > 0:
                candidates.append(best / multiple)
        if inputs.period_budgets and all(cap is not None for cap in inputs.period_budgets):
            candidates.append(sum(cap for cap in inputs.period_budgets if cap is not None))
        cap = min(candidates)
        if math.isfinite(cap):
            return max(cap, inputs.presence[i])
        # No budget or bound: beyond every curve's last knot nothing more is gained anywhere.
        knots = sum(curve.upper for row in inputs.curves for curve in row)
        return max(knots + float(inputs.lower.sum()), inputs.presence[i])

    def _add_presence(self, i: int, name: str, total: pulp.LpAffineExpression) -> None:
        switch = self._variable(f"on{i}", upper=1.0, category=pulp.LpBinary)
        self.presence_switches[i] = switch
        minimum = self.inputs.presence[i]
        low = pulp.LpAffineExpression(total)
        low.addInPlace(pulp.LpAffineExpression([(switch, -minimum)]))
        self._add(f"presence{i}", low, pulp.LpConstraintGE, 0.0, f"minimum presence of {name}")
        cap = self._presence_cap(i)
        high = pulp.LpAffineExpression(total)
        high.addInPlace(pulp.LpAffineExpression([(switch, -cap)]))
        label = f"upper bound of {name}" if np.isfinite(self.inputs.upper[i]) else f"presence cap of {name}"
        self._add(f"upper{i}", high, pulp.LpConstraintLE, 0.0, label)

    # ----------------------------------------------------------------------- solving

    def solve(self, solver_name: str) -> float:
        """Solve, set ``status``, return the seconds spent."""
        started = time.perf_counter()
        self.status = self.problem.solve(_solver(solver_name, mip=self.problem.isMIP()))
        return time.perf_counter() - started

    def fix_presence(self) -> None:
        """Fix each presence switch at its optimum, leaving an LP whose duals are shadow prices."""
        for i, switch in self.presence_switches.items():
            on = round(switch.varValue or 0.0)
            switch.cat = pulp.LpContinuous
            switch.lowBound = switch.upBound = on
            name = self.inputs.channels[i]
            if not on:
                self.labels[f"upper{i}"] = (
                    f"{name} off",
                    f"spend on {name} (held at zero by its minimum presence)",
                )

    def maximize_outcome_at(self, spend: float, solver_name: str) -> float:
        """Second stage of target-ROI mode: the most outcome at (nearly) the largest spend."""
        slack = max(1e-7, 1e-9 * spend)
        self.problem += pulp.LpConstraint(self.spend_total, pulp.LpConstraintGE, "spend_floor", spend - slack)
        self.problem.setObjective(self.outcome)
        return self.solve(solver_name)

    def total_spend_value(self) -> float:
        return float(self._effective_values() @ self.spend_weight)

    def _effective_values(self) -> FloatArray:
        return np.array([v.varValue or 0.0 for v in self.effective])

    def shadow_prices(self, solver_name: str, units: _Units) -> list[ShadowPrice]:
        # Through PuLP, CBC reports d(objective)/d(rhs) of the maximization; HiGHS solves the
        # negated minimization and PuLP passes its duals through, so they come with the other sign.
        sign = -1.0 if solver_name == "highs" else 1.0
        prices = []
        for key, constraint in self.constraints.items():
            if constraint.pi is None:
                continue
            value = sign * float(constraint.pi)
            if abs(value) <= _DUAL_TOLERANCE:
                continue
            name, phrase = self.labels[key]
            unit = "unit" if key == "roi" or not units.currency else units.currency
            verb = f"is worth {value:,.2f}" if value >= 0 else f"costs {-value:,.2f}"
            text = f"one more {unit} of {phrase} {verb} units of {units.objective_name}"
            prices.append(ShadowPrice(constraint=name, value=value, text=text))
        return prices

    def allocation(
        self,
        *,
        solver_name: str,
        solve_seconds: float,
        build_seconds: float,
        shadow_prices: list[ShadowPrice],
    ) -> Allocation:
        inputs = self.inputs
        channel_count, periods = len(inputs.channels), inputs.periods
        effective = self._effective_values().reshape(channel_count, periods)
        spend = effective.copy()
        spend[:, 1:] -= inputs.carryover[:, None] * effective[:, :-1]
        # Solver round-off (feasibility tolerances are relative to the amounts) is not spend.
        round_off = max(_SPEND_TOLERANCE, 1e-8 * float(np.abs(effective).max(initial=1.0)))
        spend[np.abs(spend) < round_off] = 0.0
        outcome = np.array(
            [sum(inputs.curves[i][t](effective[i, t]) for t in range(periods)) for i in range(channel_count)]
        )
        marginal = np.array([_best_next_unit(inputs, i, effective[i]) for i in range(channel_count)])
        index = pd.Index(inputs.channels, name="channel")
        columns = pd.RangeIndex(periods, name="period")
        # The LP's own objective value: it equals the curves' outcome (minus spend) only because
        # segments fill in order, which the tests check.
        lp_objective = float(pulp.value(self.problem.objective))
        objective = float(spend.sum()) if inputs.target_roi is not None else lp_objective
        return Allocation(
            spend=pd.DataFrame(spend, index=index, columns=columns),
            outcome=pd.Series(outcome, index=index, name="outcome"),
            objective=objective,
            marginal_outcome=pd.Series(marginal, index=index, name="marginal_outcome"),
            shadow_prices=shadow_prices,
            status="optimal",
            solver=solver_name,
            solve_seconds=solve_seconds,
            mode=inputs.mode,
            build_seconds=build_seconds,
            effective_spend=pd.DataFrame(effective, index=index, columns=columns),
        )


def _best_next_unit(inputs: _Inputs, channel: int, effective: FloatArray) -> float:
    """Outcome of one more unit of spend in the period where it returns most (carryover included)."""
    carry = float(inputs.carryover[channel])
    best, following = 0.0, 0.0
    for t in reversed(range(inputs.periods)):
        following = inputs.curves[channel][t].marginal(float(effective[t])) + carry * following
        best = max(best, following)
    return best


# --------------------------------------------------------------------------- solvers and errors


def _pick_solver(solver: str) -> str:
    if solver == "auto":
        return "highs" if pulp.HiGHS(msg=False).available() else "cbc"
    if solver == "highs" and not pulp.HiGHS(msg=False).available():
        raise ImportError("solver 'highs' needs highspy: pip install 'commerce-sim[highs]'")
    if solver not in ("cbc", "highs"):
        raise ValueError(f"solver must be 'auto', 'cbc' or 'highs', got {solver!r}")
    return solver


def _solver(solver_name: str, mip: bool) -> pulp.LpSolver:
    if solver_name == "highs":
        _silence_highs_banner()
        # On these LPs HiGHS's presolve takes longer than it saves (measured: 40 ms against 13 ms
        # for 5 channels x 52 periods x 20 segments); the MILP keeps it.
        return _BulkHiGHS(msg=False) if mip else _BulkHiGHS(msg=False, presolve="off")
    with warnings.catch_warnings():
        # PuLP 3.3 announces that PuLP 4 drops its bundled CBC; pyproject.toml keeps PuLP < 4.
        warnings.filterwarnings("ignore", message="PULP_CBC_CMD is deprecated", category=DeprecationWarning)
        return pulp.PULP_CBC_CMD(msg=False)


class _BulkHiGHS(pulp.HiGHS):  # type: ignore[misc]
    """PuLP's HiGHS adapter, handing the model over in three bulk calls.

    PuLP's own ``buildSolverModel`` adds one column per ``addCol`` call, which took about 40 ms of
    the 5 channels x 52 weeks x 20 segments plan (more than HiGHS's solve); here columns and rows go
    in as arrays. The variable and row indices, the objective's sign and the integer columns are set
    as PuLP sets them, so PuLP reads the solution and the duals back unchanged.
    """

    def buildSolverModel(self, lp: pulp.LpProblem) -> None:  # noqa: N802 - PuLP's name
        import highspy

        infinity = highspy.kHighsInf
        variables = lp.variables()
        sign = -1.0 if lp.sense == pulp.LpMaximize else 1.0
        objective = lp.objective
        for index, variable in enumerate(variables):
            variable.index = index
        costs = np.array([sign * objective.get(variable, 0.0) for variable in variables], dtype=np.float64)
        lower = np.array(
            [-infinity if v.lowBound is None else v.lowBound for v in variables], dtype=np.float64
        )
        upper = np.array([infinity if v.upBound is None else v.upBound for v in variables], dtype=np.float64)
        empty_index, empty_value = np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float64)
        lp.solverModel.addCols(len(variables), costs, lower, upper, 0, empty_index, empty_index, empty_value)
        integer = [v.index for v in variables if v.cat == pulp.LpInteger]
        if integer and self.mip:
            kinds = np.full(len(integer), int(highspy.HighsVarType.kInteger), dtype=np.uint8)
            lp.solverModel.changeColsIntegrality(len(integer), np.array(integer, dtype=np.int32), kinds)
        row_lower: list[float] = []
        row_upper: list[float] = []
        starts: list[int] = []
        indices: list[int] = []
        values: list[float] = []
        # PuLP 3.3 made ``constraints`` a method returning a list; before, it was a dict.
        constraints = lp.constraints() if callable(lp.constraints) else lp.constraints.values()
        for index, constraint in enumerate(constraints):
            constraint.index = index
            low, high = constraint.getLb(), constraint.getUb()
            row_lower.append(-infinity if low is None else low)
            row_upper.append(infinity if high is None else high)
            starts.append(len(indices))
            for variable, coefficient in constraint.items():
                if coefficient != 0:
                    indices.append(variable.index)
                    values.append(coefficient)
        lp.solverModel.addRows(
            len(row_lower),
            np.array(row_lower, dtype=np.float64),
            np.array(row_upper, dtype=np.float64),
            len(indices),
            np.array(starts, dtype=np.int32),
            np.array(indices, dtype=np.int32),
            np.array(values, dtype=np.float64),
        )


@functools.cache
def _silence_highs_banner() -> None:
    """Create the process's first ``highspy.Highs()`` with standard output closed.

    HiGHS prints a copyright banner from C++ on the first instance of a process, before PuLP
    can turn its output off; it would land in the middle of a command's printed results.
    """
    import highspy

    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no file descriptor 1 to protect
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        highspy.Highs()  # type: ignore[no-untyped-call]
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def _infeasible_error(inputs: _Inputs, solver_name: str, status: int) -> ConstraintError:
    """Name the group of constraints without which a solution exists."""
    budget = "no total budget" if inputs.budget is None else f"budget {_money(inputs.budget)}"
    groups = [  # (field, words, without what, present)
        ("shares", "the share rules conflict", "them", bool(inputs.shares)),
        (
            "period_budgets",
            "the period budgets conflict",
            "them",
            inputs.period_budgets != (None,) * inputs.periods,
        ),
        ("min_presence", "the minimum presence rules conflict", "them", bool(inputs.presence)),
        ("target_roi", "the ROI target conflicts", "it", inputs.target_roi is not None),
    ]
    for key, words, without, present in groups:
        if not present:
            continue
        relaxed = _Model(inputs, omit=frozenset({key}))
        relaxed.solve(solver_name)
        if relaxed.status in (pulp.LpStatusOptimal, pulp.LpStatusUnbounded):  # a solution exists
            return ConstraintError(
                key,
                f"no allocation meets all the constraints with {budget}: {words} with the other "
                f"constraints (without {without} a solution exists)",
            )
    return ConstraintError(
        "constraints",
        f"no allocation meets all the constraints with {budget} (solver status: {pulp.LpStatus[status]})",
    )


def _target_unreachable(inputs: _Inputs) -> ConstraintError:
    best = max(_best_next_unit(inputs, i, np.zeros(inputs.periods)) for i in range(len(inputs.channels)))
    measure = (
        f"an ROI of {format_ratio(best - 1)}"
        if inputs.subtract_spend
        else f"{format_ratio(best)} per unit of spend"
    )
    return ConstraintError(
        "target_roi",
        f"no spend reaches the target ROI {inputs.target_roi:g}: the best first unit of spend on any "
        f"channel returns {measure}",
    )


def _money(amount: float) -> str:
    """Money as :func:`~simulator.common.format.format_money` shows it; inf is ``unlimited``."""
    return format_money(amount, exact=True) if math.isfinite(float(amount)) else "unlimited"


def _percent(share: float) -> str:
    return format_percent(share, decimals=None)
