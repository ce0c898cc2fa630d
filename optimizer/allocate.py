"""Budget allocation on the simulator: response curves, the LP, the closed loop and the verdict.

:func:`allocate_budget` answers "how should the budget be split across channels, and is the
answer confirmed?":

1. **Curves.** Every channel is simulated at several spend levels around the current plan on
   paired seeds (0, 0.1x ... 3x), and a concave curve is fitted to its incremental outcome
   (:mod:`optimizer.curves`; the concave fit through the measured points when a Hill curve
   does not fit).
2. **LP.** The curves' piecewise-linear forms go into the allocation model
   (:func:`optimizer.lp.solve_allocation`) with the constraints of the scenario's
   ``allocation:`` section (:class:`simulator.config.allocation.AllocationSettings`, read by
   :func:`optimizer.settings.allocation_settings`). Every channel stays within the range its
   curve measured; constraints that force it out are warned about up front
   (:func:`check_constraints`) and the channel is flagged in every output.
3. **Closed loop in a trust region.** The current plan is the first center. Each round the LP
   keeps every channel within a factor (``closed_loop.trust_region``, 2x) of the center or
   switches it off, and its plan runs against the current plan on fresh paired seeds. A plan
   confirmed better (95% interval above 0, no guard-rail worse) becomes the new center and the
   curves are measured again around it; a check outside the noise of its prediction shrinks
   the trust region. The loop ends with the best confirmed plan - the current plan when
   nothing was confirmed (see :func:`_closed_loop`).
4. **Check and verdict.** The plan (or, when nothing was confirmed, the best plan that leaned
   towards a gain) runs against the current plan on another set of fresh seeds, and
   :func:`optimizer.recommendation.decide` gives the verdict: ``recommend``, ``keep current
   plan`` or ``not confirmed: run larger``, first in every output.
5. **Portfolio rules** (docs/domain.md, "Money and decisions"): admit a new channel when its
   test ROI reaches 15% of the average ROI of the existing channels, expand one whose ROI beats
   the average by 30%, exit one whose ROI stays below 50% of the target for 3 consecutive test
   cycles. Where a rule and
   the plan disagree the table says so in words (the rules look at the return on all of a
   channel's spend, the plan at the next unit).

Measures (:mod:`simulator.common.measures`): a channel's ``roi`` is its incremental profit per
unit of spend and ``marginal_roi`` the same for the next unit, both with break-even 0; other
objectives have their own per-spend measure (``roas`` for revenue...).
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from simulator.common.format import format_money as _money
from simulator.common.format import format_percent, format_value, unit_of
from simulator.common.measures import measure_header
from simulator.common.output import OutputError
from simulator.common.reading import open_results, read_result_json
from simulator.config.allocation import AllocationSettings
from simulator.config.scenario import Scenario, ScenarioError, ScenarioWarning
from simulator.engine.results import write_files
from simulator.measure.replicate import BASELINE, ReplicationResult, replicate
from simulator.measure.saved import saved_scenario, scenario_document

from .curves import ResponseCurve, ResponseCurves, apply_plan, current_plan, measure_response, period_bounds
from .lp import (
    Allocation,
    ConstraintError,
    ShadowPrice,
    ShareRule,
    solve_allocation,
    solve_allocation_refined,
)
from .objectives import get_objective, metric_frame, paired_changes
from .pwl import PiecewiseLinear
from .recommendation import Verdict, cell, decide, headline, plan_header, verdict_from_dict
from .settings import allocation_settings, settings_source
from .uncertainty import posterior_document, posterior_lines

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from simulator.calibrate.posterior import PosteriorEnsemble

__all__ = [
    "ALLOCATION_FILES",
    "AllocationResult",
    "allocate_budget",
    "check_constraints",
    "curves_document",
    "curves_from_document",
    "frame_document",
    "frame_from_document",
    "jsonable",
    "outside_measured_range",
    "portfolio_rules",
    "rebuilding",
    "saved_state",
    "solve_on_curves",
]

ALLOCATION_FILES = ("allocation.csv", "allocation.json", "response_curves.csv", "response_measurements.csv")
"""Files written by :meth:`AllocationResult.save`."""

CURVE_SEED_OFFSET, LOOP_SEED_OFFSET, CONFIRM_SEED_OFFSET = 0, 10_000, 20_000
"""Seeds of the curve runs, of the closed-loop evaluations and of the final check start here
(plus the scenario's seed), so the three sets never overlap."""

ADMIT_SHARE, EXPAND_SHARE, EXIT_SHARE, EXIT_CYCLES = 0.15, 1.30, 0.50, 3
"""Portfolio rules of docs/domain.md ("Money and decisions")."""

TEST_BUDGET_SHARE = 0.10
"""A channel without current spend is tested at this share of the average channel's spend."""


@dataclass
class AllocationResult:
    """A budget split found on the simulator, the verdict on it, and how it fared in simulation.

    Attributes
    ----------
    scenario : Scenario
        The scenario as allocated (overrides applied).
    settings : AllocationSettings
        The settings used.
    table : pandas.DataFrame
        One row per channel: ``current_spend`` and ``recommended_spend`` (currency over the
        horizon; the plan found and checked - to adopt only when :attr:`verdict` is
        ``recommend``; the current spend when nothing beat the current plan), ``change``
        (currency), ``change_pct`` (share), ``current_outcome`` and ``recommended_outcome``
        (the curve's incremental outcome of the channel, versus 0 spend, in the objective's
        unit; for profit the contribution before the channel's spend), the objective's measure
        of return at the plan and its marginal form (``roi`` and ``marginal_roi`` for profit:
        incremental profit per unit of spend, break-even 0; see
        :mod:`simulator.common.measures`), ``measured_max_spend`` (currency) and
        ``within_measured_range``, ``curve`` (``hill`` or ``measured``), ``portfolio`` (the
        rule) and ``portfolio_conflict`` (the disagreement between rule and plan in words).
    plan : pandas.DataFrame
        Spend of the plan per channel (rows) and period (columns), currency.
    allocation : Allocation
        The LP solution of the plan checked (the last one solved when none was checked).
    curves : ResponseCurves
        The curves the plan was solved on.
    rounds : pandas.DataFrame
        One row per closed-loop round: trust region (ratio), where the LP was solved, the
        predicted and simulated change of the objective (plan minus current, paired loop seeds)
        with its interval, the gap, the noise, and what the round decided (``status``).
    comparison : pandas.DataFrame
        Final check on fresh paired seeds: per KPI, current and plan mean with intervals, and
        the paired difference with its interval (zero when the current plan is kept untried).
    portfolio : pandas.DataFrame
        One row per channel: ROI (break-even 0), the rule that applies and why.
    verdict : Verdict
        ``recommend``, ``keep current plan`` or ``not confirmed: run larger``, with the reason
        and what to run next.
    notes : list of str
        Things the reader should know (channels outside the measured range, curves replaced by
        the measured points, rule conflicts...).
    posterior : dict or None
        With a posterior ensemble (``allocate --posterior``): the ensemble's folder, the members
        used on the check's seeds and how much of the check's interval is parameter
        uncertainty (:func:`optimizer.uncertainty.posterior_document`); ``None`` without.
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
    verdict: Verdict
    notes: list[str] = field(default_factory=list)
    posterior: dict[str, Any] | None = None

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
        """Predicted vs simulated change of the objective in the final check (empty when untried)."""
        return dict(self.rounds.attrs.get("final", {}))

    def response_table(self, points: int = 61) -> pd.DataFrame:
        """The curve of every channel on a grid of spend, with the objective's marginal measure.

        Columns ``channel``, ``spend``, ``outcome`` and, for example, ``marginal_roi`` (see
        :meth:`~optimizer.curves.ResponseCurves.response_table`).
        """
        return self.curves.response_table(points)

    def measurements(self) -> pd.DataFrame:
        """Simulated points of every curve, with the curve's value at each.

        Columns ``channel``, ``level``, ``spend``, ``outcome`` (mean incremental outcome over
        the seeds), ``se``, ``low``, ``high``, ``fitted``.
        """
        return self.curves.table()

    def expected(self) -> dict[str, dict[str, dict[str, float | None]]]:
        """The final check per KPI: ``{kpi: {"current" | "recommended" | "change": {mean, low, high}}}``.

        Means and 95% intervals over the fresh paired seeds; ``change`` is plan minus current,
        paired seed by seed (the ``expected`` block of ``allocation.json``).
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

    def headline(self) -> str:
        """The verdict and the plan in one sentence (the report's headline)."""
        channels = [
            {str(k): v for k, v in row.items()} for row in self.table.reset_index().to_dict("records")
        ]
        currency = self.scenario.economics.currency
        return headline(self.verdict, channels, self.expected(), self.objective, currency)

    def to_dict(self) -> dict[str, Any]:
        """Everything of ``allocation.json``: verdict, plan, outcomes with intervals, shadow prices."""
        comparison = self.comparison
        entry = get_objective(self.objective)
        final = self.final_gap
        return {
            "verdict": self.verdict.to_dict(),
            "headline": self.headline(),
            "scenario": self.scenario.name,
            "objective": self.objective,
            "objective_kpi": entry.kpi,
            "measure": entry.spend_measure,
            "marginal_measure": entry.marginal_measure,
            "guard_rails": list(self.settings.guard_rails),
            "currency": self.scenario.economics.currency,
            "horizon_days": self.scenario.horizon_days,
            "agents": self.scenario.population.agents,
            "budget_mode": self.settings.budget_mode,
            "current_budget": float(self.table["current_spend"].sum()),
            "recommended_budget": float(self.table["recommended_spend"].sum()),
            "channels": _records(self.table.reset_index()),
            "outside_measured_range": [
                str(n) for n in self.table.index[~self.table["within_measured_range"]]
            ],
            "plan": {str(c): [float(v) for v in row] for c, row in self.plan.iterrows()},
            "periods": int(self.plan.shape[1]),
            "expected": self.expected(),
            "seeds": int(comparison.attrs.get("seeds", 0)),
            "budget": float(self.table["recommended_spend"].sum()),
            "predicted": {
                "change": _finite(final.get("predicted_change", math.nan)),
                "lp_objective": float(self.allocation.objective),
            },
            "simulated": {
                metric: {k: _finite(v) for k, v in comparison.loc[metric].items()}
                for metric in comparison.index
            },
            "final_check": {k: _finite(v) for k, v in final.items()},
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
        } | ({} if self.posterior is None else {"posterior": jsonable(self.posterior)})

    def _shown_table(self) -> pd.DataFrame:
        """The per-channel table with units in its headers, as the printout shows it."""
        currency = self.scenario.economics.currency
        t = self.table
        marginal = get_objective(self.objective).marginal_measure
        plan = self.verdict.plan_name
        shown = pd.DataFrame(
            {
                f"current ({currency})": t["current_spend"].map(_money),
                f"{plan} ({currency})": t["recommended_spend"].map(_money),
                f"change ({currency})": [
                    f"{_signed(c)} ({format_percent(p, signed=True, decimals=0)})"
                    if np.isfinite(p)
                    else _signed(c)
                    for c, p in zip(t["change"], t["change_pct"], strict=True)
                ],
                measure_header(marginal): t[marginal].map(lambda v: format_value(v, unit_of(marginal))),
                f"measured up to ({currency})": [
                    _money(m) + ("" if inside else " OUTSIDE")
                    for m, inside in zip(t["measured_max_spend"], t["within_measured_range"], strict=True)
                ],
                "portfolio rule": [
                    rule + (" (conflict: see notes)" if conflict else "")
                    for rule, conflict in zip(t["portfolio"], t["portfolio_conflict"], strict=True)
                ],
            },
            index=t.index,
        )
        total = pd.DataFrame(
            {
                shown.columns[0]: [_money(t["current_spend"].sum())],
                shown.columns[1]: [_money(t["recommended_spend"].sum())],
                shown.columns[2]: [_signed(t["change"].sum())],
            },
            index=["total"],
        )
        return pd.concat([shown, total]).fillna("")

    def to_text(self) -> str:
        """The verdict first, then the before/after table, the check, the rounds and the notes."""
        currency = self.scenario.economics.currency
        lines = [
            self.verdict.line(),
            f"Budget allocation: {self.scenario.name} ({self.scenario.horizon_days} days; objective "
            f"{self.objective}; spend over the horizon in {currency})",
            self._shown_table().to_string(),
            "",
        ]
        c = self.comparison
        seeds = int(c.attrs.get("seeds", 0))
        members = " across posterior members (one per seed)" if self.posterior is not None else ""
        lines.append(f"Check on {seeds} fresh paired seeds{members} (95% intervals): plan vs current")
        width = max([24, *(len(str(metric)) for metric in c.index)])
        for metric in c.index:
            row = c.loc[metric]
            unit = unit_of(str(metric))
            low, high = _signed(row["diff_low"], unit), _signed(row["diff_high"], unit)
            lines.append(
                f"  {metric:<{width}} {format_value(row['current'], unit)} -> "
                f"{format_value(row['recommended'], unit)}: {_signed(row['diff'], unit)} [{low}, {high}]"
                + (
                    f" ({format_percent(row['diff_pct'], signed=True)})"
                    if np.isfinite(row["diff_pct"])
                    else ""
                )
                + ("  (guard-rail)" if metric in self.settings.guard_rails else "")
            )
        if self.posterior is not None:
            lines += posterior_lines(self.posterior)
        final = self.final_gap
        if final:
            lines.append(
                f"Prediction vs simulation ({self.objective} change): "
                f"predicted {_signed(final['predicted_change'])}, "
                f"simulated {_signed(final['simulated_change'])} [{_signed(final['simulated_low'])}, "
                f"{_signed(final['simulated_high'])}]; gap {_signed(final['gap'])} "
                f"({'within' if final['within_noise'] else 'outside'} the noise)"
            )
        lines.append("Closed loop (plan vs current on the loop seeds):")
        for round_, row in self.rounds.iterrows():
            if "simulated_change" in row and np.isfinite(row.get("simulated_change", np.nan)):
                figures = (
                    f"predicted {_signed(row['predicted_change'])}, "
                    f"simulated {_signed(row['simulated_change'])} "
                    f"[{_signed(row['simulated_low'])}, {_signed(row['simulated_high'])}]; "
                )
            else:
                figures = ""
            lines.append(
                f"  round {round_}: trust region {row['trust_region']:.2f}x, solved within the "
                f"{row['solved_within']}; {figures}{row['status']}"
            )
        if self.shadow_prices and self.verdict.confirmed:
            lines.append("Binding constraints:")
            lines += [f"  {p.constraint}: {p.text}" for p in self.shadow_prices]
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from simulator.common.display import html_table, range_column

        currency = self.scenario.economics.currency
        title = (
            f'<p style="font-size: 1.2em"><b>{_escape(self.verdict.title())}</b></p>'
            f"<p><b>Budget allocation: {_escape(self.scenario.name)}</b> - objective {self.objective}, "
            f"{self.scenario.horizon_days} days, spend over the horizon in {_escape(currency)}</p>"
            f'<p style="font-size: 1.1em">{_escape(self.headline())}</p>'
        )
        plan = self.table.drop(columns=["current_outcome", "recommended_outcome"])
        headers = [
            plan_header(str(c), currency, self.objective, self.verdict.plan_name) for c in plan.columns
        ]
        c = self.comparison
        seeds = int(c.attrs.get("seeds", 0))
        comparison = pd.DataFrame(
            {
                f"{name} (95% interval)": range_column(c, (col, f"{col}_low", f"{col}_high"), col == "diff")
                for name, col in (
                    ("current", "current"),
                    (self.verdict.plan_name, "recommended"),
                    ("change", "diff"),
                )
            },
            index=c.index,
        )
        final = self.final_gap
        gap = (
            (
                f"<p>Predicted change of {self.objective}: {_signed(final['predicted_change'])}; simulated "
                f"{_signed(final['simulated_change'])} [{_signed(final['simulated_low'])}, "
                f"{_signed(final['simulated_high'])}] ({'within' if final['within_noise'] else 'outside'} "
                "the noise).</p>"
            )
            if final
            else ""
        )
        if self.posterior is not None:
            gap += "".join(f"<p>{_escape(line.strip())}</p>" for line in posterior_lines(self.posterior))
        extras = "".join(f"<li>{_escape(f'{p.constraint}: {p.text}')}</li>" for p in self.shadow_prices)
        extras += "".join(f"<li>{_escape(f'Note: {note}')}</li>" for note in self.notes)
        return (
            title
            + html_table(plan, caption=f"Spend per channel ({currency})", headers=headers)
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

        return figures.spend_comparison(
            self.table.reset_index(),
            currency=self.scenario.economics.currency,
            plan_label=self.verdict.plan_name,
        )

    def plot_response_curves(self) -> Figure:
        """Each channel's fitted curve, the simulated points, current and recommended spend.

        Returns
        -------
        matplotlib.figure.Figure
            :func:`reports.figures.response_curves` of :meth:`response_table`,
            :attr:`table` and :meth:`measurements` (the report's response-curve figure).
        """
        from . import figures

        entry = get_objective(self.objective)
        currency = self.scenario.economics.currency
        return figures.response_curves(
            self.response_table(),
            self.table.reset_index(),
            self.measurements(),
            outcome_label=figures.curve_label(self.objective),
            marginal=entry.marginal_measure,
            currency="" if entry.unit == "people" else currency,
            x_currency=currency,
            plan_label=self.verdict.plan_name,
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

        table = expected_frame(self.expected()).replace({"plan": {"recommended": self.verdict.plan_name}})
        return figures.outcome_comparison(
            table[table["plan"] != "change"], currency=self.scenario.economics.currency
        )

    def save(self, out_dir: str | Path, overwrite: bool = False) -> list[Path]:
        """Write ``allocation.csv``, ``allocation.json`` and ``response_curves.csv`` atomically.

        Also ``response_measurements.csv`` (:meth:`measurements`). ``allocation.json`` holds
        :meth:`to_dict` and, under ``state``, what :meth:`load` rebuilds the result from: the
        scenario as allocated, the settings, every table with its types, the LP solution and
        the curves (measured points, fitted parameters, piecewise-linear forms).

        Raises
        ------
        OutputExistsError
            When ``out_dir`` already holds one of these files and ``overwrite`` is false.
        """
        document = self.to_dict() | {"state": self._state()}
        texts = {
            "allocation.csv": self.table.to_csv(),
            "allocation.json": json.dumps(document, indent=2, allow_nan=False),
            "response_curves.csv": self.response_table().to_csv(index=False),
            "response_measurements.csv": self.measurements().to_csv(index=False),
        }
        writers = {name: (lambda path, text=text: path.write_text(text)) for name, text in texts.items()}
        return write_files(out_dir, writers, overwrite)

    def _state(self) -> dict[str, Any]:
        """The ``state`` of ``allocation.json``: all :meth:`load` needs beyond :meth:`to_dict`."""
        a = self.allocation
        lp = {
            "spend": frame_document(a.spend),
            "outcome": frame_document(a.outcome.to_frame()),
            "objective": a.objective,
            "marginal_outcome": frame_document(a.marginal_outcome.to_frame()),
            "status": a.status,
            "solver": a.solver,
            "solve_seconds": a.solve_seconds,
            "mode": a.mode,
            "build_seconds": a.build_seconds,
            "effective_spend": frame_document(a.effective_spend),
        }
        tables = {name: frame_document(getattr(self, name)) for name in _TABLES}
        return dict(
            jsonable(
                {
                    "scenario": scenario_document(self.scenario),
                    "settings": self.settings.model_dump(mode="json"),
                    "tables": tables,
                    "allocation": lp,
                    "curves": curves_document(self.curves),
                }
            )
        )

    @classmethod
    def load(cls, folder: str | Path) -> AllocationResult:
        """Read an ``allocate --out`` folder back into the result that wrote it.

        The folder is checked against its ``manifest.json`` first (a partial, truncated or
        changed folder is refused). Everything comes back from ``allocation.json`` (its
        ``state``, see :meth:`save`): the scenario, settings, tables with their types and
        attributes, the LP solution, the verdict and notes, and the curves, which give the same
        :meth:`response_table` and :meth:`measurements`. So :meth:`to_dict`, :meth:`to_text`,
        :meth:`headline` and the figures are those of the result saved.

        Left out (not saved): the simulation runs behind the curves - ``curves.replication``
        holds the scenario and the curve seeds but no runs. Numbers that were not finite (NaN,
        infinity) come back as NaN, and a NaN in a column of objects as ``None``.

        Parameters
        ----------
        folder
            The ``--out`` folder of ``allocate`` (or of :meth:`save`).

        Raises
        ------
        simulator.common.output.OutputError
            One line naming the folder or file: missing, partial, written before results could
            be loaded, or not written by ``allocate``.
        """
        path = open_results(folder, ALLOCATION_FILES, "allocate --out")
        data = read_result_json(path, "allocation.json")
        source = str(path / "allocation.json")
        state = saved_state(data, source, "allocate")
        with rebuilding(source):
            scenario = saved_scenario(state["scenario"], source)
            settings = allocation_settings(scenario, state["settings"], source)
            tables = {name: frame_from_document(state["tables"][name]) for name in _TABLES}
            lp = state["allocation"]
            allocation = Allocation(
                spend=frame_from_document(lp["spend"]),
                outcome=frame_from_document(lp["outcome"]).iloc[:, 0],
                objective=float(lp["objective"]),
                marginal_outcome=frame_from_document(lp["marginal_outcome"]).iloc[:, 0],
                shadow_prices=[
                    ShadowPrice(str(p["constraint"]), float(p["value"]), str(p["text"]))
                    for p in data["shadow_prices"]
                ],
                status=str(lp["status"]),
                solver=str(lp["solver"]),
                solve_seconds=float(lp["solve_seconds"]),
                mode=str(lp["mode"]),
                build_seconds=float(lp["build_seconds"]),
                effective_spend=frame_from_document(lp["effective_spend"]),
            )
            return cls(
                scenario=scenario,
                settings=settings,
                allocation=allocation,
                curves=curves_from_document(state["curves"], scenario),
                verdict=verdict_from_dict(data["verdict"]),
                notes=[str(note) for note in data["notes"]],
                posterior=None if data.get("posterior") is None else dict(data["posterior"]),
                **tables,
            )


_TABLES = ("table", "plan", "rounds", "comparison", "portfolio")
"""The tables of :class:`AllocationResult` saved in the ``state`` of ``allocation.json``."""


# --------------------------------------------------------------------------- saving and loading


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers and non-finite numbers or ``pd.NA`` as ``None``."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if value is pd.NA:
        return None
    return _finite(value)


def frame_document(frame: pd.DataFrame, rows: bool = True) -> dict[str, Any]:
    """A table as a JSON-ready mapping: its index, columns, types, attributes and (``rows``) values.

    :func:`frame_from_document` rebuilds the same table; without ``rows`` it gives the types
    back to the table read from its CSV file.
    """
    unnamed = isinstance(frame.index, pd.RangeIndex) and frame.index.name is None
    flat = frame.reset_index(drop=True) if unnamed else frame.reset_index()
    document: dict[str, Any] = {
        "index": [] if unnamed else list(frame.index.names),
        "columns": [c.item() if isinstance(c, np.generic) else c for c in frame.columns],
        "columns_name": frame.columns.name,
        "columns_dtype": str(frame.columns.dtype),
        "dtypes": [str(dtype) for dtype in flat.dtypes],
        "attrs": jsonable(frame.attrs),
    }
    if rows:
        document["rows"] = jsonable(flat.to_numpy(dtype=object).tolist())
    return dict(jsonable(document))


def frame_from_document(document: Mapping[str, Any], table: pd.DataFrame | None = None) -> pd.DataFrame:
    """The table of :func:`frame_document` (its values, or those of ``table`` read from CSV).

    Non-finite numbers come back as NaN; in ``attrs``, ``None`` inside a mapping as NaN.

    Raises
    ------
    KeyError, TypeError, ValueError
        When the document or the table does not fit the saved layout.
    """
    index_names = list(document["index"])
    columns = list(document["columns"])
    labels = [f"index {k}" for k in range(len(index_names))] + columns
    if table is None:
        table = pd.DataFrame(list(document["rows"]), columns=labels, dtype=object)
    else:
        named = [str(c) for c in columns]
        missing = [c for c in named if c not in table.columns]
        if missing or index_names:
            raise ValueError(f"holds no column {missing[0]}" if missing else "a saved table has no index")
        table = table[named].set_axis(labels, axis=1)
    dtypes = list(document["dtypes"])
    if len(dtypes) != len(labels):
        raise ValueError(f"{len(dtypes)} column types for {len(labels)} columns")
    table = table.astype(dict(zip(labels, dtypes, strict=True)))
    if index_names:
        table = table.set_index(labels[: len(index_names)])
        table.index.names = index_names
    table.columns = pd.Index(columns, dtype=document["columns_dtype"], name=document["columns_name"])
    table.attrs = {
        str(k): {str(i): math.nan if x is None else x for i, x in v.items()} if isinstance(v, Mapping) else v
        for k, v in dict(document["attrs"]).items()
    }
    return table


def curves_document(curves: ResponseCurves) -> dict[str, Any]:
    """Response curves as a JSON-ready mapping: per channel the points, the fit and the piecewise-linear form.

    The runs behind them (``curves.replication``) are left out.
    """
    channels = {
        name: {
            "objective": c.objective,
            "reference_spend": c.reference_spend,
            "points": frame_document(c.points),
            "top": c.top,
            "half": c.half,
            "shape": c.shape,
            "r2": c.r2,
            "misfit": c.misfit,
            "knots": c.pwl.knots.tolist(),
            "values": c.pwl.values.tolist(),
            "model": c.model,
            "note": c.note,
        }
        for name, c in curves.curves.items()
    }
    document = {
        "center": curves.center,
        "center_outcome": curves.center_outcome,
        "seeds": curves.seeds,
        "channels": channels,
    }
    return dict(jsonable(document))


def curves_from_document(document: Mapping[str, Any], scenario: Scenario) -> ResponseCurves:
    """The curves of :func:`curves_document`; ``replication`` holds ``scenario`` and the seeds, no runs.

    Raises
    ------
    KeyError, TypeError, ValueError
        When the document does not fit the saved layout.
    """
    seeds = [int(seed) for seed in document["seeds"]]
    curves = {
        str(name): ResponseCurve(
            channel=str(name),
            objective=str(c["objective"]),
            reference_spend=_number(c["reference_spend"]),
            points=frame_from_document(c["points"]),
            top=_number(c["top"]),
            half=_number(c["half"]),
            shape=_number(c["shape"]),
            r2=_number(c["r2"]),
            misfit=_number(c["misfit"]),
            pwl=PiecewiseLinear(
                np.asarray(c["knots"], dtype=np.float64), np.asarray(c["values"], dtype=np.float64)
            ),
            model=str(c["model"]),
            note=str(c["note"]),
        )
        for name, c in dict(document["channels"]).items()
    }
    no_runs = pd.DataFrame()
    return ResponseCurves(
        curves=curves,
        center={str(k): _number(v) for k, v in dict(document["center"]).items()},
        center_outcome=_number(document["center_outcome"]),
        seeds=seeds,
        replication=ReplicationResult(scenario, seeds, {BASELINE: scenario}, no_runs, no_runs.copy()),
    )


def saved_state(data: Mapping[str, Any], source: str, command: str) -> Mapping[str, Any]:
    """The ``state`` of a results JSON file.

    Raises
    ------
    simulator.common.output.OutputError
        When there is none (written before results could be loaded back).
    """
    state = data.get("state")
    if not isinstance(state, Mapping):
        raise OutputError(
            f"{source}: holds no state to load the result from (written before results could be "
            f"loaded back); run {command} again"
        )
    return state


@contextmanager
def rebuilding(source: str) -> Iterator[None]:
    """Turn an error of a saved document that does not fit its layout into a one-line OutputError."""
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        first = (str(exc).splitlines() or [""])[0]
        raise OutputError(f"{source}: cannot be loaded back ({type(exc).__name__}: {first})") from None


def _number(value: Any) -> float:
    """A saved number (``None``: a number that was not finite, NaN)."""
    return math.nan if value is None else float(value)


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


def _percent_note(share: float) -> str:
    """`` (+4.7%)`` after a change; empty when the relative change is not defined."""
    return f" ({format_percent(share, signed=True)})" if np.isfinite(share) else ""


def _signed(value: float, unit: str = "money") -> str:
    """A change in its unit with its sign (:func:`~simulator.common.format.format_value`)."""
    return format_value(value, unit, signed=True)


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
    100%, ...) is raised here, in money terms. Then warns (:class:`ScenarioWarning`, one line)
    when the budget is too small for meaningful spend on the funded channels (below their
    lowest measured level together) or when the constraints force spend beyond the range the
    response curves measure (``allocation.response.levels``).

    Raises
    ------
    ScenarioError
        One line naming the file and ``allocation.FIELD``.
    """
    source = settings_source(settings, scenario)
    current = current_plan(scenario)
    constraints = _constraints(settings, current)
    try:
        _placeholder_lp(scenario, settings, constraints, current, solver)
    except ConstraintError as error:
        raise ScenarioError(source, f"allocation.{error.field}", error.message) from None
    currency = scenario.economics.currency
    levels = [level for level in settings.response.levels if level > 0]
    funded = [name for name, spend in current.items() if spend > 0 and name not in settings.locked]
    floor = min(levels) * sum(current[name] for name in funded)
    budget = constraints.budget
    if budget is not None and funded and budget - sum(constraints.locked.values()) < floor:
        warnings.warn(
            f"{source}: allocation.budget: {_money(budget)} {currency} is too small for meaningful spend on "
            f"the {len(funded)} funded channels: below {min(levels):g}x of their current spend together "
            f"({_money(floor)} {currency}), the lowest level the response curves measure",
            ScenarioWarning,
            stacklevel=2,
        )
    reference = _test_plan(scenario)
    measured = {name: (0.0, max(levels) * reference[name]) for name in current}
    narrowed = dataclasses.replace(
        constraints,
        bounds={
            name: (low, high if name in constraints.locked else min(high, measured[name][1]))
            for name, (low, high) in constraints.bounds.items()
        },
    )
    try:
        _placeholder_lp(scenario, settings, narrowed, current, solver)
    except ConstraintError as error:
        warnings.warn(
            f"{source}: allocation: the constraints force spend outside every measured range (each channel "
            f"is measured up to {max(levels):g}x its current spend): {error.message}; the plan will be "
            "flagged where the curves say nothing",
            ScenarioWarning,
            stacklevel=2,
        )


def _placeholder_lp(
    scenario: Scenario,
    settings: AllocationSettings,
    constraints: _Constraints,
    current: Mapping[str, float],
    solver: str,
) -> Allocation:
    """The allocation on placeholder linear curves: only whether the constraints can hold."""
    finite = [v for _, v in constraints.bounds.values() if math.isfinite(v)]
    top = max([constraints.budget or 0.0, *finite, sum(current.values()) * 10.0, 1.0]) * 2.0
    line = PiecewiseLinear(np.array([0.0, top]), np.array([0.0, top]))
    options = _lp_options(scenario, settings, constraints)
    curves = {name: line for name in current}
    return solve_allocation(curves, subtract_spend=False, solver=solver, **options)  # type: ignore[arg-type]


def _lp_options(
    scenario: Scenario, settings: AllocationSettings, constraints: _Constraints
) -> dict[str, Any]:
    """The keyword arguments of the allocation LP that come from the settings and constraints."""
    return {
        "budget": constraints.budget,
        "budget_mode": "at_most" if settings.budget_mode == "at_most" else "equal",
        "bounds": constraints.bounds,
        "locked": constraints.locked,
        "shares": constraints.shares,
        "min_presence": constraints.presence,
        "periods": settings.periods,
        "period_budgets": settings.period_budgets,
        "currency": scenario.economics.currency,
    }


def _period_curves(
    curves: ResponseCurves, weights: np.ndarray, segments: int
) -> dict[str, list[PiecewiseLinear]]:
    """Per-period curves ``w_t f(a / w_t)``: the horizon curve scaled to each period's demand."""
    out: dict[str, list[PiecewiseLinear]] = {}
    for name, curve in curves.curves.items():
        per_period = []
        for w in weights:
            upper = max(curve.max_spend * w, 1.0)
            scaled = _scaled_response(curve, float(w))
            per_period.append(PiecewiseLinear.from_function(scaled, upper, segments, spacing="geometric"))
        out[name] = per_period
    return out


def _scaled_response(curve: ResponseCurve, weight: float) -> Callable[[np.ndarray], np.ndarray]:
    """The response of one period holding ``weight`` of the demand: ``w f(a / w)``."""

    def response(spend: np.ndarray) -> np.ndarray:
        return weight * curve(np.asarray(spend) / weight)

    return response


def _lp(
    scenario: Scenario,
    settings: AllocationSettings,
    curves: ResponseCurves,
    constraints: _Constraints,
    weights: np.ndarray,
    solver: str,
) -> Allocation:
    """The LP on the curves under the constraints (raises :class:`ConstraintError`)."""
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
    return solve_allocation_refined(
        lp_curves,
        responses if periods > 1 else {name: r[0] for name, r in responses.items()},
        subtract_spend=objective.subtract_spend,
        target_roi=settings.target_roi,
        carryover=carryover,
        outcome_name=objective.label,
        solver=solver,
        **_lp_options(scenario, settings, constraints),
    )


MEASURED, TRUST_REGION, OUTSIDE = "measured range", "trust region", "outside the measured range"
"""Where an LP plan was solved: within a trust region around the last confirmed plan (and the
measured range), within the measured range of every curve, or on the constraints alone."""


def _region(
    constraints: _Constraints,
    curves: ResponseCurves,
    base: Mapping[str, float] | None = None,
    factor: float | None = None,
) -> _Constraints | None:
    """The constraints narrowed to the curves' measured range and, with ``base``, a trust region.

    Every channel stays at or below its largest measured spend. With a trust region, a channel
    spending ``s`` in ``base`` stays within ``[s / factor, s * factor]`` or is switched off (its
    zero level is always measured); a channel off in ``base`` stays below ``factor`` times the
    spend its curve was measured around. Locked channels keep their lock. None when the narrowed
    bounds of a channel cannot hold.
    """
    bounds = dict(constraints.bounds)
    presence = dict(constraints.presence)
    for name, curve in curves.curves.items():
        if name in constraints.locked:
            continue
        low, high = bounds[name]
        high = min(high, curve.max_spend)
        if base is not None and factor is not None:
            spend = float(base[name])
            if spend > 0:
                high = min(high, spend * factor)
                floor = spend / factor
                if low > 0:
                    low = max(low, floor)
                else:
                    presence[name] = max(presence.get(name, 0.0), floor)
            else:
                high = min(high, curve.reference_spend * factor)
        if presence.get(name, 0.0) > high:
            # Only "off" is left for it; with a lower bound above 0 nothing is.
            presence.pop(name)
            high = 0.0
        if low > high * (1 + 1e-12) + 1e-9:
            return None
        bounds[name] = (low, high)
    return dataclasses.replace(constraints, bounds=bounds, presence=presence)


def _solve_within(
    scenario: Scenario,
    settings: AllocationSettings,
    curves: ResponseCurves,
    constraints: _Constraints,
    weights: np.ndarray,
    solver: str,
    trust: tuple[Mapping[str, float], float] | None = None,
) -> tuple[Allocation, str]:
    """The LP in the trust region, else in the measured range, else on the constraints alone.

    Returns the allocation and where it was solved (:data:`TRUST_REGION`, :data:`MEASURED` or
    :data:`OUTSIDE`). Constraints that cannot hold at all are one-line errors.
    """
    attempts: list[tuple[str, _Constraints | None]] = []
    if trust is not None:
        attempts.append((TRUST_REGION, _region(constraints, curves, *trust)))
    attempts.append((MEASURED, _region(constraints, curves)))
    for where, narrowed in attempts:
        if narrowed is None:
            continue
        try:
            return _lp(scenario, settings, curves, narrowed, weights, solver), where
        except ConstraintError:
            continue
    try:
        return _lp(scenario, settings, curves, constraints, weights, solver), OUTSIDE
    except ConstraintError as error:
        source = settings_source(settings, scenario)
        raise ScenarioError(source, f"allocation.{error.field}", error.message) from None


def solve_on_curves(
    scenario: Scenario, settings: AllocationSettings, curves: ResponseCurves, solver: str = "auto"
) -> tuple[Allocation, dict[str, Any]]:
    """Split the budget on measured response curves under the settings' constraints.

    The LP step of :func:`allocate_budget` alone, for callers that measured curves once and
    reuse them (the policy search): every channel stays within its measured range unless the
    constraints force it out (see :func:`outside_measured_range`). Per-period plans need curves
    measured with ``cycle_days=1`` (the demand per period comes from the daily orders).

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
    allocation, _ = _solve_within(scenario, settings, curves, constraints, weights, solver)
    return allocation, _plan_of(allocation)


def outside_measured_range(curves: ResponseCurves, spend: Mapping[str, float]) -> list[str]:
    """Channels whose total ``spend`` lies beyond the largest level their curve measured."""
    return [name for name, curve in curves.curves.items() if not curve.measured(float(spend[name]))]


def _predicted_change(
    curves: ResponseCurves,
    allocation: Allocation,
    weights: np.ndarray,
    objective: str,
    base: Mapping[str, float],
) -> float:
    """Curve-predicted change of the objective from the plan ``base`` (totals) to the allocation."""
    change = 0.0
    subtract_spend = get_objective(objective).subtract_spend
    effective = allocation.effective_spend if not allocation.effective_spend.empty else allocation.spend
    for name, curve in curves.curves.items():
        spend_t = effective.loc[name].to_numpy(dtype=np.float64)
        new = float(sum(w * curve(x / w) for w, x in zip(weights, spend_t, strict=True)))
        change += new - float(curve(base[name]))
        if subtract_spend:
            change -= _channel_total(allocation.spend, name) - base[name]
    return change


# --------------------------------------------------------------------------- simulation checks


def _paired(current: pd.DataFrame, planned: pd.DataFrame, seeds: int) -> pd.DataFrame:
    """Per metric: current and planned means with intervals, and the paired difference (``diff``)."""
    runs = pd.concat({BASELINE: current, "recommended": planned}, names=["variant"])
    table = paired_changes(runs, "recommended")
    table = table.rename(columns={"change": "diff", "change_low": "diff_low", "change_high": "diff_high"})
    base = table["current"].abs()
    for column in ("diff", "diff_low", "diff_high"):
        table[column.replace("diff", "diff_pct")] = (table[column] / base).where(base > 0)
    table.attrs["seeds"] = seeds
    return table


def _changes(comparison: pd.DataFrame) -> pd.DataFrame:
    """A comparison with its ``diff`` columns named as :func:`optimizer.recommendation.decide` reads them."""
    return comparison.rename(columns={"diff": "change", "diff_low": "change_low", "diff_high": "change_high"})


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
    """Apply the portfolio rules of docs/domain.md to the measured ROI of each channel.

    ROI of a channel is its incremental profit per unit of spend at the measured plan (profit
    with the channel at level 1 minus profit with it at 0, paired seeds, over its spend;
    break-even 0), whatever the allocation's objective. The average is the spend-weighted
    average over the channels that currently spend (the ROI of the portfolio). Test cycles are
    consecutive blocks of ``cycle_days`` days; a cycle's ROI uses that cycle's profit and spend
    differences. The rules are relative to the average (admit at 15% of it, expand 30% above
    it) and to the target (exit below half of it); when the average or the target is not above
    0 they compare with break-even (0) instead.

    Returns
    -------
    pandas.DataFrame
        One row per channel: ``spend`` (currency), ``roi``, ``average_roi``, ``target_roi``
        (ratios, break-even 0), ``cycles_below_half_target`` (longest run of consecutive cycles
        below 50% of the target), ``rule`` (admit / not admitted / expand / exit / keep) and
        ``reason``.
    """
    profit = curves.replication.runs["profit"]
    base = profit.xs(BASELINE, level="variant")
    spend_of = {n: _at_current(curves.curves[n].points, "spend") for n in curves.curves}
    rois = {}
    for name in curves.curves:
        variant = f"{name}@0"
        if spend_of[name] > 0 and variant in profit.index.get_level_values("variant"):
            rois[name] = float((base - profit.xs(variant, level="variant")).mean()) / spend_of[name]
        else:
            rois[name] = float("nan")
    existing = [n for n in rois if current[n] > 0 and np.isfinite(rois[n])]
    # Spend-weighted: the ROI of the existing portfolio as a whole (a cheap channel with a huge
    # ROI on a small spend does not set the bar for the others).
    total = sum(spend_of[n] for n in existing)
    average = sum(rois[n] * spend_of[n] for n in existing) / total if total > 0 else float("nan")
    target = average if target_roi is None else float(target_roi)
    admit_bar = ADMIT_SHARE * average if average > 0 else 0.0
    exit_bar = EXIT_SHARE * target if target > 0 else 0.0
    cycles = _cycle_rois(curves, cycle_days)
    rows = []
    for name, roi in rois.items():
        run = _longest_run(cycles.get(name, np.array([])) < exit_bar)
        if current[name] <= 0:
            rule = "admit" if roi >= admit_bar else "not admitted"
            reason = (
                f"test ROI {roi:.2f} vs {ADMIT_SHARE:.0%} of the average {average:.2f} (= {admit_bar:.2f})"
            )
        elif run >= EXIT_CYCLES:
            rule = "exit"
            reason = (
                f"ROI below {exit_bar:.2f} ({EXIT_SHARE:.0%} of target {target:.2f}) "
                f"for {run} consecutive cycles"
            )
        elif average > 0 and roi > EXPAND_SHARE * average:
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


CUT_SHARE = 0.05
"""A plan that moves a channel's spend by less than this share keeps it, for the portfolio rules."""


def _rule_conflict(
    rule: str, roi: float, now: float, planned: float, marginal_now: float, marginal: float, funded: float
) -> str:
    """The conflict between a channel's portfolio rule and the plan in words ("" when they agree).

    The rules look at the return on all of a channel's spend (its ROI), the plan at the return
    of the next unit (its marginal ROI, ``marginal_now`` at the current spend and ``marginal``
    at the planned one); ``funded`` is the median marginal ROI of the channels the plan funds.
    A channel can earn well on all its spend and still be past the point where its next unit
    earns what the next unit earns elsewhere.
    """
    if rule == "expand" and planned < now * (1 - CUT_SHARE):
        why = (
            f"the rule looks at the return on all its spend, the plan at the next unit: its marginal ROI "
            f"at the current spend is {marginal_now:.2f} against {funded:.2f} for the channels the plan funds"
            if marginal_now < funded
            else f"its marginal ROI at the current spend ({marginal_now:.2f}) is not below that of the "
            f"channels the plan funds ({funded:.2f}): the cut comes from the constraints"
        )
        return (
            f"the rule says expand (ROI {roi:.2f} on all its spend) but the plan cuts it by "
            f"{1 - planned / now:.0%}; {why}"
        )
    if rule == "exit" and planned > 0:
        return (
            f"the rule says exit (ROI below half the target for three cycles) but the plan keeps "
            f"{_money(planned)}: its marginal ROI there is {marginal:.2f} against {funded:.2f} for the "
            "channels the plan funds"
        )
    if rule == "admit" and planned <= 0:
        return (
            f"the rule admits it (test ROI {roi:.2f}) but the plan leaves it at 0: its marginal ROI "
            f"is {marginal:.2f} against {funded:.2f} for the channels the plan funds"
        )
    if rule == "not admitted" and planned > 0:
        return (
            f"the rule does not admit it (test ROI {roi:.2f}) but the plan spends {_money(planned)} on it: "
            f"its marginal ROI there is {marginal:.2f}"
        )
    return ""


def _at_current(points: pd.DataFrame, column: str) -> float:
    """A measured value at level 1 (the plan the curve was measured around)."""
    return float(points.loc[points["level"] == 1.0, column].iloc[0])


def _channel_total(spend: pd.DataFrame, channel: str) -> float:
    """Total over the periods of one channel's row."""
    return float(spend.loc[channel].to_numpy(dtype=np.float64).sum())


def _cycle_rois(curves: ResponseCurves, cycle_days: int) -> dict[str, np.ndarray]:
    """Per channel, the ROI of each test cycle (means over seeds of cycle differences; break-even 0)."""
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
        profit = (base["profit"] - zero["profit"]).groupby(level="block").mean()
        out[name] = (profit / spend.where(spend > 0)).to_numpy(dtype=np.float64)
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
    posterior: PosteriorEnsemble | None = None,
) -> AllocationResult:
    """Find a better budget split across channels (and periods) and say whether it is confirmed.

    Parameters
    ----------
    scenario
        The market and its current plan (use ``scenario.with_overrides(agents=...)`` for a
        quicker, noisier run; the market size stays the same).
    settings
        Objective, budget, constraints, guard-rails (default: the scenario's ``allocation:``
        section, see :class:`simulator.config.allocation.AllocationSettings`).
    workers
        Worker processes for the simulations (results do not depend on it).
    solver
        ``"auto"`` (HiGHS when ``highspy`` is installed, else CBC), ``"cbc"`` or ``"highs"``.
    progress
        Show progress bars.
    posterior
        A media calibration's posterior ensemble (:class:`simulator.calibrate.PosteriorEnsemble`,
        applied to ``scenario``): every run on seed ``s`` - response curves, closed-loop checks,
        final check, both plans of a paired comparison alike - runs the member of ``s``, so the
        intervals and the verdict hold parameter uncertainty as well as simulation noise. The
        check is run again with ``scenario`` alone on the same seeds, and
        :attr:`AllocationResult.posterior` says how much of its interval the parameters account
        for.

    Returns
    -------
    AllocationResult
        The verdict (:attr:`AllocationResult.verdict`), the plan found and checked (the current
        plan when nothing beat it), the before/after table, the check on fresh paired seeds,
        the closed-loop rounds, shadow prices and portfolio rules.

    Raises
    ------
    ScenarioError
        One line for settings that break the schema, name unknown channels, or constraints
        that cannot all hold (in money terms: "budget 10,000 is below the channel minimums,
        which add up to 12,000").
    """
    settings = settings if settings is not None else allocation_settings(scenario)
    check_constraints(scenario, settings, solver)
    constraints = _constraints(settings, current_plan(scenario))
    run = _Run(scenario, settings, constraints, workers, solver, progress, posterior)
    first = run.measure(_test_plan(scenario))
    weights = _demand_weights(first, scenario.horizon_days, settings.periods)
    loop = _closed_loop(run, first, weights)
    return _checked(run, first, weights, loop)


@dataclass(frozen=True)
class _Run:
    """One allocation: its scenario, settings and constraints, and how to simulate and solve."""

    scenario: Scenario
    settings: AllocationSettings
    constraints: _Constraints
    workers: int
    solver: str
    progress: bool
    posterior: PosteriorEnsemble | None = None
    _current: dict[tuple[bool, tuple[int, ...]], pd.DataFrame] = field(
        default_factory=dict, compare=False, repr=False
    )

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
            per_seed=None if self.posterior is None else self.posterior.on_seed,
        )

    def solve(
        self, curves: ResponseCurves, weights: np.ndarray, trust: tuple[Mapping[str, float], float] | None
    ) -> tuple[Allocation, str]:
        """The LP on ``curves`` in the trust region if it can hold, else the measured range."""
        return _solve_within(
            self.scenario, self.settings, curves, self.constraints, weights, self.solver, trust
        )

    def metrics(self, scenario: Scenario, seeds: list[int], label: str, members: bool = True) -> pd.DataFrame:
        """The compared metrics of ``scenario`` per seed (index ``seed``); ``label`` names the phase.

        With a posterior, each seed runs its member unless ``members`` is false (the centre alone).
        """
        per_seed = self.posterior.on_seed if self.posterior is not None and members else None
        replication = replicate(
            scenario, seeds, {}, workers=self.workers, progress=self.progress, label=label, per_seed=per_seed
        )
        runs = metric_frame(replication.runs)
        return runs[runs.index.get_level_values("variant") == BASELINE].droplevel("variant")

    def compare(
        self, plan: Mapping[str, Any] | None, seeds: list[int], label: str, members: bool = True
    ) -> pd.DataFrame:
        """``plan`` (None: the current plan itself) against the current plan on paired ``seeds``.

        The current plan's runs are simulated once per seed set and reused. With a posterior,
        both plans run the member of each seed (the centre alone when ``members`` is false).
        """
        key = (members, tuple(seeds))
        if key not in self._current:
            self._current[key] = self.metrics(self.scenario, seeds, label, members)
        current = self._current[key]
        planned = (
            current if plan is None else self.metrics(apply_plan(self.scenario, plan), seeds, label, members)
        )
        return _paired(current, planned, len(seeds))


@dataclass(frozen=True)
class _Tried:
    """A plan of one closed-loop round and its check against the current plan on the loop seeds."""

    round: int
    allocation: Allocation
    curves: ResponseCurves
    plan: dict[str, Any]
    totals: dict[str, float]
    comparison: pd.DataFrame
    predicted: float

    def change(self, metric: str) -> float:
        """Mean paired change of ``metric`` against the current plan."""
        return cell(self.comparison, metric, "diff")


@dataclass(frozen=True)
class _Loop:
    """What the closed loop hands on: every round, the plan to check, the best tried, the last LP."""

    rounds: list[dict[str, Any]]
    final: _Tried | None
    best: _Tried | None
    last: Allocation
    curves: ResponseCurves


def _confirmed(comparison: pd.DataFrame, objective: str, guard_rails: Sequence[str]) -> bool:
    """Whether a plan beat the current one beyond the noise with no guard-rail worse."""
    verdict = decide(_changes(comparison), objective, guard_rails=guard_rails, min_gain=0.0)
    return verdict.confirmed


def _closed_loop(run: _Run, curves: ResponseCurves, weights: np.ndarray) -> _Loop:
    """Solve in a trust region, check the plan by simulation, and move only on confirmed gains.

    Round 0 solves around the current plan. A plan whose paired change against the current plan
    is confirmed on the loop seeds (95% interval above 0, no guard-rail worse) and beats the last
    confirmed plan becomes the new center: the curves are measured again around it. When the
    simulated change falls outside the noise of the prediction, the trust region shrinks to its
    square root and the next round moves less. The loop stops after ``closed_loop.rounds`` more
    rounds, when the LP's plan is the last confirmed one, or when an unconfirmed change agreed
    with its prediction (a smaller move would only find less).
    """
    settings = run.settings
    objective = settings.objective
    seeds = run.seeds(LOOP_SEED_OFFSET, settings.closed_loop.seeds)
    last_round = settings.closed_loop.rounds
    factor = settings.closed_loop.trust_region
    current = current_plan(run.scenario)
    incumbent: _Tried | None = None
    tried: list[_Tried] = []
    rows: list[dict[str, Any]] = []
    allocation = None
    for round_ in range(last_round + 1):
        base = current if incumbent is None else incumbent.totals
        base_change = 0.0 if incumbent is None else incumbent.change(objective)
        allocation, where = run.solve(curves, weights, (base, factor))
        totals = {name: _channel_total(allocation.spend, name) for name in curves.curves}
        row: dict[str, Any] = {"round": round_, "trust_region": factor, "solved_within": where}
        if all(math.isclose(totals[n], base[n], rel_tol=1e-3, abs_tol=1e-6 * (1 + base[n])) for n in totals):
            rows.append(row | {"status": "no move: the curves' best plan is the last confirmed one"})
            break
        predicted = base_change + _predicted_change(curves, allocation, weights, objective, base)
        comparison = run.compare(_plan_of(allocation), seeds, "closed-loop check")
        candidate = _Tried(round_, allocation, curves, _plan_of(allocation), totals, comparison, predicted)
        tried.append(candidate)
        row |= _gap_row(round_, predicted, comparison, objective)
        accepted = _confirmed(comparison, objective, settings.guard_rails) and (
            candidate.change(objective) > base_change
        )
        if accepted:
            incumbent = candidate
            status = "confirmed: the new center"
        elif row["within_noise"]:
            status = "not confirmed, as predicted within the noise: stop"
        else:
            status = "not confirmed"
        if not row["within_noise"]:
            factor = max(math.sqrt(factor), 1.01)
            status += (
                f"; simulation outside the noise of the prediction: trust region shrinks to {factor:.2f}x"
            )
        rows.append(row | {"status": status})
        if round_ == last_round or (not accepted and row["within_noise"]):
            break
        if accepted:
            curves = run.measure(totals)
    assert allocation is not None
    best = max(tried, key=lambda t: t.change(objective)) if tried else None
    final = incumbent
    if final is None and best is not None and best.change(objective) > 0:
        final = best
    return _Loop(rows, final, best, allocation, curves)


def _checked(run: _Run, first: ResponseCurves, weights: np.ndarray, loop: _Loop) -> AllocationResult:
    """The plan of the loop checked on fresh seeds, the verdict, the portfolio rules and the notes.

    The plan checked is the last confirmed one, or else the best that leaned towards a gain on
    the loop seeds. When every plan tried did worse there, the best of them is shown with its
    loop check (no more runs are spent on it) and the verdict keeps the current plan; when the
    LP's best plan was the current one, the current plan is shown against itself.
    """
    settings = run.settings
    scenario = run.scenario
    current = current_plan(scenario)
    final = loop.final
    confirm_seeds = run.seeds(CONFIRM_SEED_OFFSET, settings.closed_loop.seeds)
    shown = final if final is not None else loop.best
    check_seeds = confirm_seeds
    if final is not None:
        comparison = run.compare(final.plan, confirm_seeds, "final check")
    elif shown is not None:
        comparison = shown.comparison
        check_seeds = run.seeds(LOOP_SEED_OFFSET, settings.closed_loop.seeds)
    else:
        comparison = run.compare(None, confirm_seeds, "final check")
    rounds_frame = pd.DataFrame(loop.rounds).set_index("round")
    if shown is not None:
        rounds_frame.attrs["final"] = _gap_row(shown.round, shown.predicted, comparison, settings.objective)
    verdict = decide(
        _changes(comparison),
        settings.objective,
        tried=shown is not None,
        guard_rails=settings.guard_rails,
        min_gain=settings.min_gain,
        seeds=int(comparison.attrs.get("seeds", 0)),
        agents=scenario.population.agents,
        untried_reason="the curves' best plan is the current one",
    )
    allocation = shown.allocation if shown is not None else loop.last
    curves = shown.curves if shown is not None else loop.curves
    totals = shown.totals if shown is not None else dict(current)
    portfolio = portfolio_rules(first, current, settings.portfolio.target_roi, settings.portfolio.cycle_days)
    table = _channel_table(curves, totals, current, portfolio, settings.objective)
    plan = (
        allocation.spend
        if shown is not None
        else pd.DataFrame({0: pd.Series(current)}).rename_axis("channel")
    )
    return AllocationResult(
        scenario=scenario,
        settings=settings,
        table=table,
        plan=plan,
        allocation=allocation,
        curves=curves,
        rounds=rounds_frame,
        comparison=comparison,
        portfolio=portfolio,
        verdict=verdict,
        notes=_notes(curves, table, settings.objective),
        posterior=_posterior(run, shown, comparison, check_seeds),
    )


def _posterior(
    run: _Run, shown: _Tried | None, comparison: pd.DataFrame, seeds: list[int]
) -> dict[str, Any] | None:
    """The check again with the centre alone on the same seeds, and the share of parameter uncertainty."""
    if run.posterior is None:
        return None
    centre = (
        comparison
        if shown is None
        else run.compare(shown.plan, seeds, "final check on the centre scenario", members=False)
    )
    document = posterior_document(
        run.posterior,
        seeds,
        comparison,
        centre,
        run.settings.objective,
        change="diff",
        on_members=("response curves", "closed-loop checks", "final check"),
    )
    return dict(jsonable(document))


def _channel_table(
    curves: ResponseCurves,
    totals: Mapping[str, float],
    current: Mapping[str, float],
    portfolio: pd.DataFrame,
    objective: str,
) -> pd.DataFrame:
    """One row per channel: spend now and in the plan, the curve's outcome and measures, the rule."""
    entry = get_objective(objective)
    marginals = {
        name: entry.per_spend(curve.marginal(float(totals[name]))) for name, curve in curves.curves.items()
    }
    funded_values = [marginals[name] for name in marginals if totals[name] > 0]
    funded = float(np.median(funded_values)) if funded_values else math.nan
    rows = []
    for name, curve in curves.curves.items():
        planned = float(totals[name])
        now = current[name]
        outcome = float(curve(planned))
        marginal = marginals[name]
        rule = str(portfolio.loc[name, "rule"])
        roi = cell(portfolio, name, "roi")
        marginal_now = entry.per_spend(curve.marginal(now))
        conflict = _rule_conflict(rule, roi, now, planned, marginal_now, marginal, funded)
        rows.append(
            {
                "channel": name,
                "current_spend": now,
                "recommended_spend": planned,
                "change": planned - now,
                "change_pct": (planned - now) / now if now > 0 else float("nan"),
                "current_outcome": float(curve(now)),
                "recommended_outcome": outcome,
                entry.spend_measure: entry.per_spend(outcome / planned) if planned > 0 else float("nan"),
                entry.marginal_measure: marginal,
                "measured_max_spend": curve.max_spend,
                "within_measured_range": curve.measured(planned),
                "curve": curve.model,
                "portfolio": rule,
                "portfolio_conflict": conflict,
            }
        )
    return pd.DataFrame(rows).set_index("channel")


def _notes(curves: ResponseCurves, table: pd.DataFrame, objective: str) -> list[str]:
    notes = []
    marginal = get_objective(objective).marginal_measure
    funded = table.loc[table["recommended_spend"] > 0, marginal].to_numpy(dtype=np.float64)
    median = float(np.median(funded)) if funded.size else math.nan
    for name, curve in curves.curves.items():
        row = table.loc[name]
        spend = cell(table, name, "recommended_spend")
        if not bool(row["within_measured_range"]):
            notes.append(
                f"{name}: spend {_money(spend)} is OUTSIDE the measured range "
                f"(up to {_money(curve.max_spend)}); "
                "the constraints force it there and the curve says nothing about it (held flat)"
            )
        elif (
            spend >= curve.max_spend * (1 - 1e-6)
            and len(funded) > 1
            and cell(table, name, marginal) > median + 1e-9
        ):
            notes.append(
                f"{name}: held at its largest measured spend {_money(spend)} with a "
                f"{marginal.replace('_', ' ')} of {cell(table, name, marginal):.2f} against "
                f"{median:.2f} for the median funded channel; measure higher "
                "levels (allocation.response.levels) to know whether more would pay"
            )
        if curve.note:
            notes.append(f"{name}: {curve.note}")
        elif curve.r2 < 0.9:
            notes.append(f"{name}: the fitted curve explains only {curve.r2:.0%} of the measured variation")
        if row["portfolio_conflict"]:
            notes.append(f"{name}: {row['portfolio_conflict']}")
    return notes
