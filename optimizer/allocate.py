"""Budget allocation on the simulator: response curves, the LP, and the closed loop.

:func:`allocate_budget` answers "how should the budget be split across channels?":

1. **Curves.** Every channel is simulated at several spend levels around the current plan on
   paired seeds, and a concave curve is fitted to its incremental outcome
   (:mod:`optimizer.curves`).
2. **LP.** The curves' piecewise-linear forms go into the allocation model
   (:func:`optimizer.lp.solve_allocation`) with the constraints of the scenario's
   ``allocation:`` section (:class:`simulator.config.allocation.AllocationSettings`, read by
   :func:`optimizer.settings.allocation_settings`).
3. **Closed loop.** The recommended plan and the current plan are simulated on fresh paired
   seeds; the simulated change is compared with the curves' prediction, and when they differ
   by more than the noise (the 95% interval of the simulated change) the curves are measured
   again around the recommended plan and the LP solved again, for a few rounds at most. The
   plan with the best simulated change is kept and confirmed on another set of fresh seeds.
4. **Portfolio rules** (DOMAIN.md): admit a new channel when its test ROI reaches 15% of the
   average ROI of the existing channels, expand one whose ROI beats the average by 30%, exit
   one whose ROI stays below 50% of the target for 3 consecutive test cycles.

ROI of a channel here is what incrementality reports: incremental contribution (profit before
the channel's own spend) per unit of spend; 1 means the spend just pays for itself.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from simulator.config.allocation import AllocationSettings
from simulator.config.scenario import Scenario, ScenarioError
from simulator.engine.results import write_files
from simulator.measure.replicate import BASELINE, replicate

from .curves import ResponseCurves, apply_plan, current_plan, hill, measure_response, period_bounds
from .lp import (
    Allocation,
    ConstraintError,
    ShadowPrice,
    ShareRule,
    solve_allocation,
    solve_allocation_refined,
)
from .objectives import OBJECTIVES, get_objective, metric_frame, paired_changes
from .pwl import PiecewiseLinear
from .settings import allocation_settings, settings_source

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "ALLOCATION_FILES",
    "AllocationResult",
    "allocate_budget",
    "check_constraints",
    "portfolio_rules",
    "solve_on_curves",
]

ALLOCATION_FILES = ("allocation.csv", "allocation.json", "response_curves.csv", "response_measurements.csv")
"""Files written by :meth:`AllocationResult.save`."""

CURVE_SEED_OFFSET, LOOP_SEED_OFFSET, CONFIRM_SEED_OFFSET = 0, 10_000, 20_000
"""Seeds of the curve runs, of the closed-loop evaluations and of the final check start here
(plus the scenario's seed), so the three sets never overlap."""

ADMIT_SHARE, EXPAND_SHARE, EXIT_SHARE, EXIT_CYCLES = 0.15, 1.30, 0.50, 3
"""Portfolio rules of DOMAIN.md."""

TEST_BUDGET_SHARE = 0.10
"""A channel without current spend is tested at this share of the average channel's spend."""


@dataclass
class AllocationResult:
    """A recommended budget split, how it was found, and how it fared in simulation.

    Attributes
    ----------
    scenario : Scenario
        The scenario as allocated (overrides applied).
    settings : AllocationSettings
        The settings used.
    table : pandas.DataFrame
        One row per channel: ``current_spend``, ``recommended_spend``, ``change``,
        ``change_pct``, ``current_outcome`` and ``recommended_outcome`` (fitted incremental
        outcome of the channel, versus 0 spend), ``marginal_roi`` (outcome of the next unit of
        spend at the recommended point, from the fitted curve; for profit, 1 = break even),
        ``roi`` (outcome per unit of spend at the recommended point), ``portfolio``.
    plan : pandas.DataFrame
        Recommended spend per channel (rows) and period (columns), currency.
    allocation : Allocation
        The LP solution of the chosen plan (shadow prices, solver, times).
    curves : ResponseCurves
        The curves the chosen plan was solved on.
    rounds : pandas.DataFrame
        One row per closed-loop round: predicted and simulated change of the objective
        (recommended minus current, paired seeds) with its interval, the gap and the noise.
    comparison : pandas.DataFrame
        Final check on fresh paired seeds: per KPI, current and recommended mean with
        intervals, and the paired difference with its interval.
    portfolio : pandas.DataFrame
        One row per channel: ROI, the rule that applies and why.
    notes : list of str
        Things the reader should know (curves extrapolated, fits that are poor, ...).
    """

    scenario: Scenario
    settings: AllocationSettings
    table: pd.DataFrame
    plan: pd.DataFrame
    allocation: Allocation
    curves: ResponseCurves
    rounds: pd.DataFrame
    comparison: pd.DataFrame
    portfolio: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def objective(self) -> str:
        """What the allocation maximized (a name of :data:`~optimizer.objectives.OBJECTIVES`)."""
        return self.settings.objective

    @property
    def shadow_prices(self) -> list[ShadowPrice]:
        """Binding constraints and what one more unit of each is worth."""
        return self.allocation.shadow_prices

    @property
    def final_gap(self) -> dict[str, float]:
        """Predicted vs simulated change of the objective in the final check (fresh seeds)."""
        return dict(self.rounds.attrs.get("final", {}))

    def response_table(self, points: int = 61) -> pd.DataFrame:
        """Fitted curve of every channel on a grid of spend: ``channel``, ``spend``, ``outcome``.

        The grid runs from 0 to the largest measured spend; ``marginal_roi`` is the slope there.
        """
        return self.curves.response_table(points)

    def measurements(self) -> pd.DataFrame:
        """Simulated points of every curve, with the fitted value at each.

        Columns ``channel``, ``level``, ``spend``, ``outcome`` (mean incremental outcome over
        the seeds), ``se``, ``low``, ``high``, ``fitted``.
        """
        return self.curves.table()

    def expected(self) -> dict[str, dict[str, dict[str, float | None]]]:
        """The final check per KPI: ``{kpi: {"current" | "recommended" | "change": {mean, low, high}}}``.

        Means and 95% intervals over the fresh paired seeds; ``change`` is recommended minus
        current, paired seed by seed (the ``expected`` block of ``allocation.json``).
        """
        comparison = self.comparison
        return {
            str(metric): {
                "current": _interval(comparison.loc[metric], "current"),
                "recommended": _interval(comparison.loc[metric], "recommended"),
                "change": _interval(comparison.loc[metric], "diff"),
            }
            for metric in comparison.index
        }

    def to_dict(self) -> dict[str, Any]:
        """Everything of ``allocation.json``: plan, outcomes with intervals, shadow prices."""
        comparison = self.comparison
        return {
            "scenario": self.scenario.name,
            "objective": self.objective,
            "objective_kpi": get_objective(self.objective).kpi,
            "currency": self.scenario.economics.currency,
            "horizon_days": self.scenario.horizon_days,
            "budget_mode": self.settings.budget_mode,
            "current_budget": float(self.table["current_spend"].sum()),
            "recommended_budget": float(self.table["recommended_spend"].sum()),
            "channels": _records(self.table.reset_index()),
            "plan": {str(c): [float(v) for v in row] for c, row in self.plan.iterrows()},
            "periods": int(self.plan.shape[1]),
            "expected": self.expected(),
            "seeds": int(comparison.attrs.get("seeds", 0)),
            "budget": float(self.table["recommended_spend"].sum()),
            "predicted": {
                "change": float(self.rounds.attrs["final"]["predicted_change"]),
                "lp_objective": float(self.allocation.objective),
            },
            "simulated": {
                metric: {k: _finite(v) for k, v in comparison.loc[metric].items()}
                for metric in comparison.index
            },
            "final_check": {k: _finite(v) for k, v in self.final_gap.items()},
            "closed_loop": _records(self.rounds.reset_index()),
            "shadow_prices": [
                {"constraint": p.constraint, "value": p.value, "text": p.text} for p in self.shadow_prices
            ],
            "solver": {
                "name": self.allocation.solver,
                "build_seconds": self.allocation.build_seconds,
                "solve_seconds": self.allocation.solve_seconds,
            },
            "curve_fit": _records(self.curves.fit_table().reset_index()),
            "portfolio": _records(self.portfolio.reset_index()),
            "notes": list(self.notes),
        }

    def to_text(self) -> str:
        """A readable before/after table, the simulated check and the binding constraints."""
        currency = self.scenario.economics.currency
        t = self.table
        shown = pd.DataFrame(
            {
                "current": t["current_spend"].map(_money),
                "recommended": t["recommended_spend"].map(_money),
                "change": [
                    f"{_signed(c)} ({p:+.0%})" if np.isfinite(p) else _signed(c)
                    for c, p in zip(t["change"], t["change_pct"], strict=True)
                ],
                "marginal ROI": t["marginal_roi"].map(lambda v: f"{v:.2f}"),
                "portfolio rule": t["portfolio"],
            },
            index=t.index,
        )
        total = pd.DataFrame(
            {
                "current": [_money(t["current_spend"].sum())],
                "recommended": [_money(t["recommended_spend"].sum())],
                "change": [_signed(t["change"].sum())],
                "marginal ROI": [""],
                "portfolio rule": [""],
            },
            index=["total"],
        )
        lines = [
            f"Budget allocation: {self.scenario.name} ({self.scenario.horizon_days} days, {currency}; "
            f"objective {self.objective}; spend over the horizon)",
            pd.concat([shown, total]).to_string(),
            "",
        ]
        c = self.comparison
        seeds = int(c.attrs.get("seeds", 0))
        lines.append(f"Simulated on {seeds} fresh paired seeds (95% intervals): recommended vs current")
        width = max([24, *(len(str(metric)) for metric in c.index)])
        for metric in c.index:
            row = c.loc[metric]
            ratio = metric in OBJECTIVES and OBJECTIVES[str(metric)].unit == "ratio"
            fmt = _ratio_text if ratio else _money
            low, high = _signed(row["diff_low"], fmt), _signed(row["diff_high"], fmt)
            lines.append(
                f"  {metric:<{width}} {fmt(row['current'])} -> {fmt(row['recommended'])}: "
                f"{_signed(row['diff'], fmt)} [{low}, {high}]"
                + (f" ({row['diff_pct']:+.1%})" if np.isfinite(row["diff_pct"]) else "")
            )
        final = self.final_gap
        lines.append(
            f"Prediction vs simulation ({self.objective} change): "
            f"predicted {_signed(final['predicted_change'])}, "
            f"simulated {_signed(final['simulated_change'])} [{_signed(final['simulated_low'])}, "
            f"{_signed(final['simulated_high'])}]; gap {_signed(final['gap'])} "
            f"({'within' if final['within_noise'] else 'outside'} the noise)"
        )
        if self.shadow_prices:
            lines.append("Binding constraints:")
            lines += [f"  {p.constraint}: {p.text}" for p in self.shadow_prices]
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from simulator.common.display import html_table, range_column

        from .recommendation import recommendation_sentence

        currency = self.scenario.economics.currency
        channels = [
            {str(k): v for k, v in row.items()} for row in self.table.reset_index().to_dict("records")
        ]
        sentence = recommendation_sentence(channels, self.expected(), self.objective, currency)
        title = (
            f"<p><b>Budget allocation: {_escape(self.scenario.name)}</b> - objective {self.objective}, "
            f"{self.scenario.horizon_days} days, spend over the horizon in {_escape(currency)}</p>"
            f'<p style="font-size: 1.1em">{_escape(sentence)}</p>'
        )
        plan = self.table.drop(columns=["current_outcome", "recommended_outcome"])
        c = self.comparison
        seeds = int(c.attrs.get("seeds", 0))
        comparison = pd.DataFrame(
            {
                f"{name} (95% interval)": range_column(c, (col, f"{col}_low", f"{col}_high"), col == "diff")
                for name, col in (("current", "current"), ("recommended", "recommended"), ("change", "diff"))
            },
            index=c.index,
        )
        final = self.final_gap
        gap = (
            f"<p>Predicted change of {self.objective}: {_signed(final['predicted_change'])}; simulated "
            f"{_signed(final['simulated_change'])} [{_signed(final['simulated_low'])}, "
            f"{_signed(final['simulated_high'])}] ({'within' if final['within_noise'] else 'outside'} "
            "the noise).</p>"
        )
        extras = "".join(f"<li>{_escape(f'{p.constraint}: {p.text}')}</li>" for p in self.shadow_prices)
        extras += "".join(f"<li>{_escape(f'Note: {note}')}</li>" for note in self.notes)
        return (
            title
            + html_table(plan, caption="Spend per channel", readable_headers=True)
            + html_table(comparison, caption=f"Simulated on {seeds} fresh paired seeds", index_name="KPI")
            + gap
            + (f"<ul>{extras}</ul>" if extras else "")
        )

    # Figures: the report's figures (reports.figures) drawn from this result's tables, the same
    # data the report reads from the saved files. Imported when asked for: presentation only.
    def plot_spend(self) -> Figure:
        """Current against recommended spend per channel: the report's spend figure.

        Returns
        -------
        matplotlib.figure.Figure
            :func:`reports.figures.spend_comparison` of :attr:`table`.
        """
        from . import figures

        return figures.spend_comparison(self.table.reset_index(), currency=self.scenario.economics.currency)

    def plot_response_curves(self) -> Figure:
        """Each channel's fitted curve, the simulated points, current and recommended spend.

        Returns
        -------
        matplotlib.figure.Figure
            :func:`reports.figures.response_curves` of :meth:`response_table`,
            :attr:`table` and :meth:`measurements` (the report's response-curve figure).
        """
        from . import figures

        return figures.response_curves(
            self.response_table(),
            self.table.reset_index(),
            self.measurements(),
            outcome_label=f"incremental {get_objective(self.objective).label}",
            currency=self.scenario.economics.currency,
        )

    def plot_outcomes(self) -> Figure:
        """Simulated KPIs of the current and recommended plans with 95% intervals.

        Returns
        -------
        matplotlib.figure.Figure
            :func:`reports.figures.outcome_comparison` of :meth:`expected` (the report's
            expected-outcome figure).
        """
        from . import figures
        from .recommendation import expected_frame

        table = expected_frame(self.expected())
        return figures.outcome_comparison(
            table[table["plan"] != "change"], currency=self.scenario.economics.currency
        )

    def save(self, out_dir: str | Path, overwrite: bool = False) -> list[Path]:
        """Write ``allocation.csv``, ``allocation.json`` and ``response_curves.csv`` atomically.

        Raises
        ------
        OutputExistsError
            When ``out_dir`` already holds one of these files and ``overwrite`` is false.
        """
        texts = {
            "allocation.csv": self.table.to_csv(),
            "allocation.json": json.dumps(self.to_dict(), indent=2, allow_nan=False),
            "response_curves.csv": self.response_table().to_csv(index=False),
            "response_measurements.csv": self.measurements().to_csv(index=False),
        }
        writers = {name: (lambda path, text=text: path.write_text(text)) for name, text in texts.items()}
        return write_files(out_dir, writers, overwrite)


def _interval(row: pd.Series, prefix: str) -> dict[str, float | None]:
    return {
        "mean": _finite(float(row[prefix])),
        "low": _finite(float(row[f"{prefix}_low"])),
        "high": _finite(float(row[f"{prefix}_high"])),
    }


def _escape(text: str) -> str:
    import html

    return str(html.escape(text))


def _finite(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): _finite(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _money(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def _ratio_text(value: float) -> str:
    return f"{value:.2f}"


def _signed(value: float, fmt: Callable[[float], str] = _money) -> str:
    text = fmt(abs(value))
    if text == fmt(0.0):
        return text
    return f"-{text}" if value < 0 else f"+{text}"


# --------------------------------------------------------------------------- constraints


@dataclass(frozen=True)
class _Constraints:
    budget: float | None
    bounds: dict[str, tuple[float, float]]
    locked: dict[str, float]
    shares: list[ShareRule]
    presence: dict[str, float]


def _constraints(settings: AllocationSettings, current: Mapping[str, float]) -> _Constraints:
    bounds = {}
    for name, spend in current.items():
        own = settings.bounds.get(name, settings.default_bounds)
        bounds[name] = own.resolve(spend, settings.default_bounds)
    budget = settings.budget
    if budget is None and settings.target_roi is None:
        budget = float(sum(current.values()))
    return _Constraints(
        budget=budget,
        bounds=bounds,
        locked={name: current[name] for name in settings.locked},
        shares=[ShareRule(tuple(rule.channels), rule.min, rule.max) for rule in settings.shares],
        presence=dict(settings.min_presence),
    )


def check_constraints(scenario: Scenario, settings: AllocationSettings, solver: str = "auto") -> None:
    """Check that the constraints can all hold before any simulation is spent on them.

    Solves the allocation once on placeholder linear curves: every conflict the LP can see
    from the numbers (budget below the channel minimums, lower bound above upper, shares over
    100%, ...) is raised here, in money terms.

    Raises
    ------
    ScenarioError
        One line naming the file and ``allocation.FIELD``.
    """
    source = settings_source(settings, scenario)
    current = current_plan(scenario)
    constraints = _constraints(settings, current)
    finite = [v for _, v in constraints.bounds.values() if math.isfinite(v)]
    top = max([constraints.budget or 0.0, *finite, sum(current.values()) * 10.0, 1.0]) * 2.0
    line = PiecewiseLinear(np.array([0.0, top]), np.array([0.0, top]))
    curves = {name: line for name in current}
    try:
        solve_allocation(
            curves,
            constraints.budget,
            budget_mode="at_most" if settings.budget_mode == "at_most" else "equal",
            subtract_spend=False,
            bounds=constraints.bounds,
            locked=constraints.locked,
            shares=constraints.shares,
            min_presence=constraints.presence,
            periods=settings.periods,
            period_budgets=settings.period_budgets,
            currency=scenario.economics.currency,
            solver=solver,  # type: ignore[arg-type]
        )
    except ConstraintError as error:
        raise ScenarioError(source, f"allocation.{error.field}", error.message) from None


def _period_curves(
    curves: ResponseCurves, weights: np.ndarray, segments: int
) -> dict[str, list[PiecewiseLinear]]:
    """Per-period curves ``w_t f(a / w_t)``: the horizon curve scaled to each period's demand."""
    out: dict[str, list[PiecewiseLinear]] = {}
    for name, curve in curves.curves.items():
        per_period = []
        for w in weights:

            def scaled(a: np.ndarray, w: float = float(w), c: Any = curve) -> np.ndarray:
                return w * hill(a / w, c.top, c.half, c.shape)

            upper = max(curve.max_spend * w, 1.0)
            per_period.append(PiecewiseLinear.from_function(scaled, upper, segments, spacing="geometric"))
        out[name] = per_period
    return out


def _scaled_response(curve: Any, weight: float) -> Any:
    """The response of one period holding ``weight`` of the demand: ``w f(a / w)``."""

    def response(spend: np.ndarray) -> np.ndarray:
        return weight * hill(np.asarray(spend) / weight, curve.top, curve.half, curve.shape)

    return response


def _solve(
    scenario: Scenario,
    settings: AllocationSettings,
    curves: ResponseCurves,
    constraints: _Constraints,
    weights: np.ndarray,
    solver: str,
) -> Allocation:
    """The LP on the curves under the constraints; constraints that cannot hold are one-line errors."""
    objective = get_objective(settings.objective)
    periods = settings.periods
    lp_curves: Mapping[str, PiecewiseLinear | Sequence[PiecewiseLinear]]
    carryover = None
    if periods == 1:
        lp_curves = {name: c.pwl for name, c in curves.curves.items()}
    else:
        lp_curves = _period_curves(curves, weights, settings.response.segments)
        days = scenario.horizon_days / periods
        carryover = {c.name: float(c.carryover**days) for c in scenario.channels}
    # The LP solves on the coarse curves, then on curves refined around its answer, so the
    # split is that of the smooth fitted curves, not of their 20-segment approximation.
    responses = {name: [_scaled_response(c, float(w)) for w in weights] for name, c in curves.curves.items()}
    try:
        return solve_allocation_refined(
            lp_curves,
            responses if periods > 1 else {name: r[0] for name, r in responses.items()},
            constraints.budget,
            budget_mode="at_most" if settings.budget_mode == "at_most" else "equal",
            subtract_spend=objective.subtract_spend,
            bounds=constraints.bounds,
            locked=constraints.locked,
            shares=constraints.shares,
            min_presence=constraints.presence,
            target_roi=settings.target_roi,
            periods=periods,
            period_budgets=settings.period_budgets,
            carryover=carryover,
            outcome_name=objective.label,
            currency=scenario.economics.currency,
            solver=solver,
        )
    except ConstraintError as error:
        source = settings_source(settings, scenario)
        raise ScenarioError(source, f"allocation.{error.field}", error.message) from None


def solve_on_curves(
    scenario: Scenario, settings: AllocationSettings, curves: ResponseCurves, solver: str = "auto"
) -> tuple[Allocation, dict[str, Any]]:
    """Split the budget on measured response curves under the settings' constraints.

    The LP step of :func:`allocate_budget` alone, for callers that measured curves once and
    reuse them (the policy search). Per-period plans need curves measured with
    ``cycle_days=1`` (the demand per period comes from the daily orders).

    Returns
    -------
    tuple
        The LP solution and the plan (channel -> total spend, or a list per period) for
        :func:`~optimizer.curves.apply_plan`.

    Raises
    ------
    ScenarioError
        One line naming ``allocation.FIELD`` when the constraints cannot all hold.
    """
    constraints = _constraints(settings, current_plan(scenario))
    weights = _demand_weights(curves, scenario.horizon_days, settings.periods)
    allocation = _solve(scenario, settings, curves, constraints, weights, solver)
    return allocation, _plan_of(allocation)


def _predicted_change(
    curves: ResponseCurves, allocation: Allocation, weights: np.ndarray, objective: str
) -> float:
    """Curve-predicted change of the objective from the curves' center to the allocation."""
    change = 0.0
    subtract_spend = get_objective(objective).subtract_spend
    effective = allocation.effective_spend if not allocation.effective_spend.empty else allocation.spend
    for name, curve in curves.curves.items():
        spend_t = effective.loc[name].to_numpy(dtype=np.float64)
        new = float(sum(w * curve(x / w) for w, x in zip(weights, spend_t, strict=True)))
        change += new - float(curve(curves.center[name]))
        if subtract_spend:
            change -= _channel_total(allocation.spend, name) - curves.center[name]
    return change


# --------------------------------------------------------------------------- simulation checks


def _evaluate(
    scenario: Scenario, plan: Mapping[str, Any], seeds: list[int], workers: int, progress: bool, label: str
) -> pd.DataFrame:
    """Current vs planned scenario on paired seeds: per metric, means, intervals, paired difference."""
    planned = apply_plan(scenario, plan)
    replication = replicate(
        scenario, seeds, {"recommended": planned}, workers=workers, progress=progress, label=label
    )
    table = paired_changes(metric_frame(replication.runs), "recommended")
    table = table.rename(columns={"change": "diff", "change_low": "diff_low", "change_high": "diff_high"})
    base = table["current"].abs()
    for column in ("diff", "diff_low", "diff_high"):
        table[column.replace("diff", "diff_pct")] = (table[column] / base).where(base > 0)
    table.attrs["seeds"] = len(seeds)
    return table


def _plan_of(allocation: Allocation) -> dict[str, Any]:
    spend = allocation.spend
    if spend.shape[1] == 1:
        return {str(name): float(row.iloc[0]) for name, row in spend.iterrows()}
    return {str(name): [float(v) for v in row] for name, row in spend.iterrows()}


def _gap_row(round_: int, predicted: float, comparison: pd.DataFrame, kpi: str) -> dict[str, Any]:
    values = comparison.loc[[kpi], ["diff", "diff_low", "diff_high"]].to_numpy(dtype=np.float64)[0]
    simulated, low, high = (float(v) for v in values)
    noise = (high - low) / 2 if np.isfinite(high - low) else float("inf")
    gap = simulated - predicted
    return {
        "round": round_,
        "predicted_change": predicted,
        "simulated_change": simulated,
        "simulated_low": low,
        "simulated_high": high,
        "gap": gap,
        "noise": noise,
        "within_noise": bool(abs(gap) <= noise),
    }


# --------------------------------------------------------------------------- portfolio rules


def portfolio_rules(
    curves: ResponseCurves,
    current: Mapping[str, float],
    target_roi: float | None = None,
    cycle_days: int = 91,
) -> pd.DataFrame:
    """Apply the portfolio rules of DOMAIN.md to the measured ROI of each channel.

    ROI of a channel is its incremental contribution per unit of spend at the measured plan
    (level 1 against level 0, paired seeds; 1 = pays for itself). The average is the
    spend-weighted average over the channels that currently spend (the ROI of the portfolio).
    Test cycles are consecutive blocks of ``cycle_days`` days; a cycle's ROI uses that cycle's
    profit and spend differences.

    Returns
    -------
    pandas.DataFrame
        One row per channel: ``spend``, ``roi``, ``average_roi``, ``target_roi``,
        ``cycles_below_half_target`` (longest run of consecutive cycles below 50% of the
        target), ``rule`` (admit / not admitted / expand / exit / keep) and ``reason``.
    """
    rois = {}
    for name, curve in curves.curves.items():
        spend = _at_current(curve.points, "spend")
        rois[name] = _at_current(curve.points, "outcome") / spend if spend > 0 else float("nan")
    existing = [n for n in rois if current[n] > 0 and np.isfinite(rois[n])]
    spend_of = {n: _at_current(curves.curves[n].points, "spend") for n in rois}
    # Spend-weighted: the ROI of the existing portfolio as a whole (a cheap channel with a huge
    # ROI on a small spend does not set the bar for the others).
    total = sum(spend_of[n] for n in existing)
    average = sum(rois[n] * spend_of[n] for n in existing) / total if total > 0 else float("nan")
    target = average if target_roi is None else float(target_roi)
    cycles = _cycle_rois(curves, cycle_days)
    rows = []
    for name, roi in rois.items():
        run = _longest_run(cycles.get(name, np.array([])) < EXIT_SHARE * target)
        if current[name] <= 0:
            rule = "admit" if roi >= ADMIT_SHARE * average else "not admitted"
            reason = (
                f"test ROI {roi:.2f} vs {ADMIT_SHARE:.0%} of the average {average:.2f} "
                f"(= {ADMIT_SHARE * average:.2f})"
            )
        elif run >= EXIT_CYCLES:
            rule = "exit"
            reason = f"ROI below {EXIT_SHARE:.0%} of target {target:.2f} for {run} consecutive cycles"
        elif roi > EXPAND_SHARE * average:
            rule = "expand"
            reason = f"ROI {roi:.2f} above the average {average:.2f} by {roi / average - 1:+.0%} (rule: +30%)"
        else:
            rule = "keep"
            reason = f"ROI {roi:.2f}; average {average:.2f}, target {target:.2f}"
        rows.append(
            {
                "channel": name,
                "spend": spend_of[name],
                "roi": roi,
                "average_roi": average,
                "target_roi": target,
                "cycles_below_half_target": run,
                "rule": rule,
                "reason": reason,
            }
        )
    return pd.DataFrame(rows).set_index("channel")


def _at_current(points: pd.DataFrame, column: str) -> float:
    """A measured value at level 1 (the plan the curve was measured around)."""
    return float(points.loc[points["level"] == 1.0, column].iloc[0])


def _channel_total(spend: pd.DataFrame, channel: str) -> float:
    """Total over the periods of one channel's row."""
    return float(spend.loc[channel].to_numpy(dtype=np.float64).sum())


def _cycle_rois(curves: ResponseCurves, cycle_days: int) -> dict[str, np.ndarray]:
    """Per channel, the ROI of each test cycle (means over seeds of cycle differences)."""
    daily = curves.replication.cycles
    if daily is None:
        return {}
    frame = daily.reset_index()
    frame["block"] = frame["cycle"] // cycle_days
    sums = frame.groupby(["variant", "seed", "block"])[["profit", "spend"]].sum()
    base = sums.xs(BASELINE, level="variant")
    out = {}
    for name in curves.curves:
        variant = f"{name}@0"
        if variant not in sums.index.get_level_values("variant"):
            continue
        zero = sums.xs(variant, level="variant")
        spend = (base["spend"] - zero["spend"]).groupby(level="block").mean()
        contribution = (base["profit"] - zero["profit"]).groupby(level="block").mean() + spend
        out[name] = (contribution / spend.where(spend > 0)).to_numpy(dtype=np.float64)
    return out


def _longest_run(flags: np.ndarray) -> int:
    best = run = 0
    for flag in flags:
        run = run + 1 if flag else 0
        best = max(best, run)
    return best


# --------------------------------------------------------------------------- the whole job


def _test_plan(scenario: Scenario) -> dict[str, float]:
    current = current_plan(scenario)
    spending = [v for v in current.values() if v > 0]
    test = TEST_BUDGET_SHARE * float(np.mean(spending)) if spending else 0.0
    return {name: spend if spend > 0 else test for name, spend in current.items()}


def _demand_weights(curves: ResponseCurves, horizon: int, periods: int) -> np.ndarray:
    """Share of the center plan's orders falling in each period (equal slices of the horizon)."""
    if periods == 1:
        return np.ones(1)
    daily = curves.replication.cycles
    spans = period_bounds(horizon, periods)
    if daily is None:
        return np.array([(b - a + 1) / horizon for a, b in spans])
    orders = daily.xs(BASELINE, level="variant")["orders"].groupby(level="cycle").mean().to_numpy()
    weights = np.array([orders[a : b + 1].sum() for a, b in spans], dtype=np.float64)
    return weights / weights.sum() if weights.sum() > 0 else np.full(periods, 1.0 / periods)


def allocate_budget(
    scenario: Scenario,
    settings: AllocationSettings | None = None,
    *,
    workers: int = 1,
    solver: str = "auto",
    progress: bool = False,
) -> AllocationResult:
    """Recommend a budget split across channels (and periods), checked by simulation.

    Parameters
    ----------
    scenario
        The market and its current plan (use ``scenario.with_overrides(agents=...)`` for a
        quicker, noisier run; the market size stays the same).
    settings
        Objective, budget and constraints (default: the scenario's ``allocation:`` section,
        see :class:`simulator.config.allocation.AllocationSettings`).
    workers
        Worker processes for the simulations (results do not depend on it).
    solver
        ``"auto"`` (HiGHS when ``highspy`` is installed, else CBC), ``"cbc"`` or ``"highs"``.
    progress
        Show progress bars.

    Returns
    -------
    AllocationResult
        The plan, the before/after table, the simulated comparison on fresh paired seeds, the
        closed-loop rounds, shadow prices and portfolio rules.

    Raises
    ------
    ScenarioError
        One line for settings that break the schema, name unknown channels, or constraints
        that cannot all hold (in money terms: "budget 10,000 is below the channel minimums,
        which add up to 12,000").
    """
    settings = settings if settings is not None else allocation_settings(scenario)
    check_constraints(scenario, settings, solver)
    run = _Run(scenario, settings, _constraints(settings, current_plan(scenario)), workers, solver, progress)
    first = run.measure(_test_plan(scenario))
    weights = _demand_weights(first, scenario.horizon_days, settings.periods)
    rounds, best = _closed_loop(run, first, weights)
    return _checked(run, first, weights, rounds, best)


@dataclass(frozen=True)
class _Run:
    """One allocation: its scenario, settings and constraints, and how to simulate and solve."""

    scenario: Scenario
    settings: AllocationSettings
    constraints: _Constraints
    workers: int
    solver: str
    progress: bool

    def seeds(self, offset: int, count: int) -> list[int]:
        """``count`` seeds from the scenario's seed plus ``offset``."""
        return [self.scenario.seed + offset + i for i in range(count)]

    def measure(self, center: Mapping[str, float]) -> ResponseCurves:
        """Response curves around ``center`` on the curve seeds (daily cycles, for the periods)."""
        response = self.settings.response
        return measure_response(
            self.scenario,
            self.seeds(CURVE_SEED_OFFSET, response.seeds),
            self.settings.objective,
            response.levels,
            center=center,
            segments=response.segments,
            workers=self.workers,
            progress=self.progress,
            cycle_days=1,
        )

    def solve(self, curves: ResponseCurves, weights: np.ndarray) -> Allocation:
        """The LP on ``curves``; constraints that cannot hold are one-line errors."""
        return _solve(self.scenario, self.settings, curves, self.constraints, weights, self.solver)

    def evaluate(self, plan: Mapping[str, Any], seeds: list[int], label: str) -> pd.DataFrame:
        """The plan against the current plan on paired ``seeds`` (see :func:`_evaluate`)."""
        return _evaluate(self.scenario, plan, seeds, self.workers, self.progress, label)


@dataclass(frozen=True)
class _Best:
    """The closed-loop round whose plan did best in simulation."""

    round: int
    change: float
    allocation: Allocation
    curves: ResponseCurves
    plan: dict[str, Any]


def _closed_loop(
    run: _Run, curves: ResponseCurves, weights: np.ndarray
) -> tuple[list[dict[str, Any]], _Best]:
    """Solve, simulate the plan, and refit around it while prediction and simulation disagree.

    Returns one row per round (predicted and simulated change, gap, noise) and the best round.
    """
    objective = run.settings.objective
    last = run.settings.closed_loop.rounds
    seeds = run.seeds(LOOP_SEED_OFFSET, run.settings.closed_loop.seeds)
    center_shift = 0.0  # simulated change of the curves' center versus the current plan
    rounds: list[dict[str, Any]] = []
    best: _Best | None = None
    for round_ in range(last + 1):
        allocation = run.solve(curves, weights)
        plan = _plan_of(allocation)
        predicted = center_shift + _predicted_change(curves, allocation, weights, objective)
        row = _gap_row(round_, predicted, run.evaluate(plan, seeds, "closed-loop check"), objective)
        rounds.append(row)
        if best is None or row["simulated_change"] > best.change:
            best = _Best(round_, row["simulated_change"], allocation, curves, plan)
        if row["within_noise"] or round_ == last:
            break
        center_shift = row["simulated_change"]
        curves = run.measure({name: _channel_total(allocation.spend, name) for name in curves.curves})
    assert best is not None
    return rounds, best


def _checked(
    run: _Run, first: ResponseCurves, weights: np.ndarray, rounds: list[dict[str, Any]], best: _Best
) -> AllocationResult:
    """The best round's plan checked on fresh seeds, with the portfolio rules and the notes."""
    settings = run.settings
    comparison = run.evaluate(
        best.plan, run.seeds(CONFIRM_SEED_OFFSET, settings.closed_loop.seeds), "final check"
    )
    predicted = float(rounds[best.round]["predicted_change"])
    rounds_frame = pd.DataFrame(rounds).set_index("round")
    rounds_frame.attrs["final"] = _gap_row(best.round, predicted, comparison, settings.objective)
    current = current_plan(run.scenario)
    portfolio = portfolio_rules(first, current, settings.portfolio.target_roi, settings.portfolio.cycle_days)
    table = _channel_table(best.curves, best.allocation, current, weights, portfolio)
    return AllocationResult(
        scenario=run.scenario,
        settings=settings,
        table=table,
        plan=best.allocation.spend,
        allocation=best.allocation,
        curves=best.curves,
        rounds=rounds_frame,
        comparison=comparison,
        portfolio=portfolio,
        notes=_notes(best.curves, best.allocation, table),
    )


def _channel_table(
    curves: ResponseCurves,
    allocation: Allocation,
    current: Mapping[str, float],
    weights: np.ndarray,
    portfolio: pd.DataFrame,
) -> pd.DataFrame:
    rows = []
    for name, curve in curves.curves.items():
        recommended = _channel_total(allocation.spend, name)
        now = current[name]
        outcome = float(curve(recommended))
        rows.append(
            {
                "channel": name,
                "current_spend": now,
                "recommended_spend": recommended,
                "change": recommended - now,
                "change_pct": (recommended - now) / now if now > 0 else float("nan"),
                "current_outcome": float(curve(now)),
                "recommended_outcome": outcome,
                "marginal_roi": curve.marginal(recommended),
                "roi": outcome / recommended if recommended > 0 else float("nan"),
                "portfolio": str(portfolio.loc[name, "rule"]),
            }
        )
    return pd.DataFrame(rows).set_index("channel")


def _notes(curves: ResponseCurves, allocation: Allocation, table: pd.DataFrame) -> list[str]:
    notes = []
    for name, curve in curves.curves.items():
        spend = _channel_total(table[["recommended_spend"]], name)
        if spend > curve.max_spend * (1 + 1e-9):
            notes.append(
                f"{name}: recommended spend {_money(spend)} is beyond the largest measured level "
                f"({_money(curve.max_spend)}); the curve is held flat there"
            )
        if curve.r2 < 0.9:
            notes.append(f"{name}: the fitted curve explains only {curve.r2:.0%} of the measured variation")
    return notes
