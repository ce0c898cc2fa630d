"""The report of an output folder: HTML, Markdown, a one-page PNG and Excel.

:func:`build_report` reads whatever an output folder holds and writes a section for each kind
of result found; it never simulates. The title says what it reports on: a policy search
(``recommendation.json``), a budget allocation (``allocation.json``), a simulation, the
measurements of :mod:`reports.measurements` (replications, incrementality, lifetime value,
attribution, A/B test: each read back by its own ``load``) or a calibration
(:mod:`reports.calibration`). Files read (all optional, but one of ``summary.json``,
``allocation.json``, ``recommendation.json``, ``calibration.json`` or a measurement's JSON
document must be there):

==========================  ===================  ==============================================
file                        written by           used for
==========================  ===================  ==============================================
``summary.json``            ``simulate``         headline KPIs (``{"scenario", "seed", "kpis"}``)
``daily.csv``               ``simulate``         daily revenue and spend
``channels_daily.csv``      ``simulate``         channel table, funnel per channel
``levers_daily.csv``        ``simulate``         loyalty members by tier
``campaigns.csv``           ``simulate``         campaigns marked on the daily figure
``scenario.yaml``           ``simulate``         the scenario's assumptions (shown escaped)
``comparison.csv``          ``simulate``         ``--compare-to``: simulated vs actual, the gaps
``allocation.json``         ``allocate``         recommended budget split (keys below)
``response_curves.csv``     ``allocate``         fitted curves: ``channel``, ``spend``, ``outcome``
``response_measurements.csv`` ``allocate``       optional simulated points: ``channel``, ``spend``,
                                                 ``outcome``, ``low``, ``high``
``recommendation.json``     ``optimize``         budget split and policy (keys below)
``trials.csv``              ``optimize``         one row per trial: ``number``, the objectives
                                                 (``roi``...), ``pareto`` (bool; or from
                                                 ``pareto.csv``)
``pareto.csv``              ``optimize``         the Pareto-optimal trials (``number`` column)
``calibration.json`` ...    ``calibrate``        the calibration section (:mod:`reports.calibration`)
``media_calibration.json``  ``calibrate --media`` the media calibration section (same module)
==========================  ===================  ==============================================

Keys of ``allocation.json`` (``recommendation.json`` has the same ones, and more):

- ``verdict`` (expected): ``{"decision", "reason", "next_step"}``, the decision one of
  ``recommend``, ``keep current plan``, ``not confirmed: run larger``
  (:func:`optimizer.recommendation.decide`). It opens the report's title, headline and
  ``summary.png``; the plan is worded as an instruction only for ``recommend``. A file without
  it is reported as not confirmed.
- ``channels`` (required): a list, one object per channel, with ``channel`` (name),
  ``current_spend`` and ``recommended_spend`` (currency over the plan's horizon; the plan
  found, recommended only with a ``recommend`` verdict), and optionally ``current_outcome``
  and ``recommended_outcome`` (the channel's incremental outcome on its response curve at that
  spend), the marginal measure named by ``marginal_measure`` (default ``marginal_roi``:
  incremental profit of the next unit of spend, break-even 0; see
  :mod:`simulator.common.measures`), ``measured_max_spend`` and ``within_measured_range``
  (a channel outside is flagged in the report); the response-curve figure needs the outcomes,
  the marginal measure and ``response_curves.csv``. Any other keys are shown in the allocation
  table as they are, with units in the headers.
- ``expected`` (optional): ``{metric: {"current": S, "recommended": S, "change": S}}`` with
  ``S = {"mean": ..., "low": ..., "high": ...}`` - the metric's mean and 95% interval over the
  seeds for each plan, and for ``change`` the paired difference recommended - current with its
  95% interval. Metrics such as ``profit``, ``revenue`` (currency), ``roi`` (ratio),
  ``realized_value_per_customer`` (currency per customer): the objectives of
  :mod:`optimizer.objectives`, and costs.
- ``objective`` (optional, default ``profit``): the metric the plan maximizes; the headline
  sentence states its change.
- ``scenario``, ``currency``, ``horizon_days``, ``seeds``, ``budget`` (optional): shown as
  they are; ``currency`` defaults to the scenario's ``economics.currency``.
- ``posterior`` (optional, ``--posterior``): the posterior ensemble the check ran across and
  how much of its interval is parameter uncertainty
  (:func:`optimizer.uncertainty.posterior_document`), said in words under the expected outcomes.

More keys of ``recommendation.json``:

- ``policy`` (optional): ``{parameter: value}``, the chosen policy's parameters;
  ``policy_table`` (optional): the same for reading, a list of ``{"setting", "current",
  "value"}`` (lever names in words, discounts as percentages), shown instead when present.
- ``chosen_trial`` (optional): the Optuna trial number of the chosen policy (starred on the
  Pareto front of two objectives, or on the objective per trial of one).
- ``study_name`` and ``storage`` (optional): where the Optuna study is stored, for its
  optimization history and parameter importances; a ``sqlite:///NAME.db`` URL with a relative
  path is taken relative to the output folder. For a multi-objective study the figures show
  the first objective.
- ``objectives`` (optional, default ``[objective]``): the searched objectives; with two, the
  Pareto front draws them, with one the objective of each trial (``trials.csv``) is drawn.

When both JSON files exist, ``recommendation.json`` gives the headline plan.

Files written: ``report.html`` (self-contained: figures embedded as PNG data URIs, no
external resources, all text escaped), ``report.md`` with its figures as ``report_<name>.png``
files next to it, ``summary.png`` (one page: the headline, key figures and the three most
important figures) and ``report.xlsx`` (one sheet per table of numbers: ``KPIs``, ``channels``,
``allocation``, ``expected``, ``policy``, the measurements' and the calibration's tables as
available; readable headers, numbers formatted by unit, frozen header row:
:mod:`reports.workbook`). All are
written in one output transaction (:mod:`simulator.common.output`): staged, then moved in
place together and listed in the folder's ``manifest.json``; built by ``--report``, the report
joins the command's own transaction, so results and report appear together or not at all.

Reading checks the folder first: a folder whose ``manifest.json`` says it is incomplete, or
whose listed files are missing, truncated or changed, is refused (a folder without a manifest,
assembled by hand, is read as it is). Result tables need the columns the report uses
(:data:`CSV_COLUMNS`). The report only reads: the Optuna study is opened read-only and never
created. Text from the files is drawn literally (no matplotlib mathtext). See docs/hardening.md.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import matplotlib
import pandas as pd
import yaml
from matplotlib.figure import Figure, FigureBase

from optimizer.figures import OUTCOME_LABELS, curve_label
from optimizer.objectives import OBJECTIVES
from optimizer.recommendation import (
    Verdict,
    expected_frame,
    headline,
    plan_header,
    recommendation_sentence,
    verdict_from_dict,
)
from optimizer.uncertainty import posterior_lines
from simulator.common.display import HEADLINE_KPIS, format_range
from simulator.common.display import format_kpi as _format
from simulator.common.figures import METRIC_SHORT
from simulator.common.files import InputFileError, read_regular_file
from simulator.common.format import format_value, readable_name, unit_of
from simulator.common.measures import MEASURES, break_even_text, measure_header
from simulator.common.output import check_output_folder, in_transaction, locate, verify_folder, write_files
from simulator.common.secrets import mask_secrets, mask_url
from simulator.engine.results import CHANNEL_TABLE_COLUMNS

from . import figures
from .measurements import MEASUREMENTS, Measured, measurement_sections
from .parts import ReportFigure, ReportTable, Section
from .workbook import write_workbook

__all__ = ["ReportError", "build_report", "recommendation_sentence"]

DPI = 110
REPORT_FILES = ("report.html", "report.md", "summary.png", "report.xlsx")
MAX_INPUT_BYTES = 64 << 20
"""Largest JSON or YAML result file read (bytes)."""
CSV_COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "daily.csv": (("day",), ()),
    "channels_daily.csv": (("new_aware", "visits", "carts", "orders", "repeat_orders"), ("channel",)),
    "levers_daily.csv": (("day",), ()),
    "campaigns.csv": (("start_day", "end_day"), ("campaign",)),
    "response_curves.csv": (("spend", "outcome"), ("channel",)),
    "response_measurements.csv": (("spend", "outcome", "low", "high"), ("channel",)),
    "comparison.csv": (("simulated", "actual", "gap", "gap_pct"), ("channel", "month", "measure")),
    "trials.csv": (("number",), ()),
    "media_holdout.csv": (("actual", "predicted", "low", "high"), ("date",)),
    "media_channels.csv": (("spend", "roas", "roas_low", "roas_high"), ("channel",)),
    "pareto.csv": (("number",), ()),
}
"""Columns the report needs in each result table: (numeric ones, text ones)."""
ALL_NUMERIC = ("daily.csv", "channels_daily.csv", "levers_daily.csv")
"""Tables whose every column but the text ones holds numbers."""
FIGURE_SOURCES = {
    "spend_comparison": "the plan (allocation.json or recommendation.json)",
    "outcome_comparison": "the plan's expected outcomes",
    "response_curves": "response_curves.csv or response_measurements.csv",
    "pareto_front": "trials.csv or pareto.csv",
    "optimization_history": "the Optuna study",
    "param_importances": "the Optuna study",
    "revenue_and_spend": "daily.csv or campaigns.csv",
    "funnel": "channels_daily.csv",
    "loyalty_tiers": "levers_daily.csv",
    "retention": "retention_matrix.csv",
    "attribution": "attribution.csv",
    "clv_by_channel": "clv_cohorts.csv",
    "repurchase": "repurchase_curve.csv",
    "incrementality": "incrementality.csv",
    "ab_lift": "abtest.csv",
    "paired_differences": "summary.csv",
    "media_fit": "media_holdout.csv",
}
"""The result files each figure is drawn from, for the message when one cannot be drawn."""
SUMMARY_PRIORITY = (
    "spend_comparison",
    "outcome_comparison",
    "pareto_front",
    "response_curves",
    "revenue_and_spend",
    "funnel",
    "incrementality",
    "ab_lift",
    "paired_differences",
    "attribution",
    "clv_by_channel",
    "retention",
    "repurchase",
    "loyalty_tiers",
    "calibration_holdout",
    "media_fit",
    "calibration_tracking",
    "calibration_histogram",
)
"""Figures for the one-page summary, most important first (the first three present are used)."""

SUMMARY_METRICS = ("profit", "roi", "lifetime_value_per_customer", "realized_value_per_customer")
"""Outcomes shown on the one-page summary, the first three present (all of them are in the
report's own figure)."""


class ReportError(ValueError):
    """An output folder that cannot be reported on; the message is one line naming the file."""

    def __init__(self, source: str | Path, message: str) -> None:
        self.source = str(source)
        super().__init__(" ".join(f"{source}: {message}".splitlines()))


@dataclass
class _Inputs:
    folder: Path
    summary: dict[str, Any] | None = None
    daily: pd.DataFrame | None = None
    channels_daily: pd.DataFrame | None = None
    levers: pd.DataFrame | None = None
    campaigns: pd.DataFrame | None = None
    allocation: dict[str, Any] | None = None
    curves: pd.DataFrame | None = None
    measurements: pd.DataFrame | None = None
    recommendation: dict[str, Any] | None = None
    trials: pd.DataFrame | None = None
    pareto: pd.DataFrame | None = None
    scenario_text: str | None = None
    scenario: dict[str, Any] = field(default_factory=dict)


# Reading -------------------------------------------------------------------------------------
def _read_json(folder: Path, name: str) -> dict[str, Any] | None:
    path = locate(folder, name)
    if path is None:
        return None
    try:
        data = json.loads(read_regular_file(path, MAX_INPUT_BYTES).decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ReportError(folder / name, f"cannot be read as JSON ({type(exc).__name__}: {exc})") from exc
    if not isinstance(data, dict):
        raise ReportError(folder / name, "must hold a JSON object")
    return data


def _read_csv(folder: Path, name: str) -> pd.DataFrame | None:
    path = locate(folder, name)
    if path is None:
        return None
    try:
        if not path.is_file():
            raise InputFileError("is not a regular file")
        frame = pd.read_csv(path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ReportError(folder / name, f"cannot be read as CSV ({exc})") from exc
    _check_columns(folder / name, frame)
    return frame


def _check_columns(path: Path, frame: pd.DataFrame) -> None:
    """Refuse a result table without the columns the report uses, or with text where numbers go."""
    numeric, text = CSV_COLUMNS.get(path.name, ((), ()))
    if frame.empty:
        return  # e.g. campaigns.csv when every campaign fell outside a shortened horizon
    missing = [c for c in (*numeric, *text) if c not in frame.columns]
    if missing:
        raise ReportError(
            path,
            f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
            f"expected {', '.join((*numeric, *text))} (as the toolkit writes it)",
        )
    if path.name in ALL_NUMERIC:
        numeric = tuple(c for c in frame.columns if c not in text)
    for column in numeric:
        if not pd.api.types.is_numeric_dtype(frame[column]) or pd.api.types.is_bool_dtype(frame[column]):
            raise ReportError(path, f"column {column} must hold numbers")


def _calibrated(folder: Path) -> bool:
    """Whether the folder holds a calibration (``calibrate``, with or without ``--media``)."""
    return any(locate(folder, name) is not None for name in ("calibration.json", "media_calibration.json"))


def _read_inputs(folder: Path) -> _Inputs:
    if not folder.is_dir() and not in_transaction(folder):
        raise ReportError(folder, "no such folder; give the --out folder of a command")
    verify_folder(folder)
    inputs = _Inputs(
        folder=folder,
        summary=_read_json(folder, "summary.json"),
        daily=_read_csv(folder, "daily.csv"),
        channels_daily=_read_csv(folder, "channels_daily.csv"),
        levers=_read_csv(folder, "levers_daily.csv"),
        campaigns=_read_csv(folder, "campaigns.csv"),
        allocation=_read_json(folder, "allocation.json"),
        curves=_read_csv(folder, "response_curves.csv"),
        measurements=_read_csv(folder, "response_measurements.csv"),
        recommendation=_read_json(folder, "recommendation.json"),
        trials=_read_csv(folder, "trials.csv"),
        pareto=_read_csv(folder, "pareto.csv"),
    )
    calibrated = _calibrated(folder)
    if inputs.summary is None and inputs.allocation is None and inputs.recommendation is None:
        if not calibrated and not any(locate(folder, m.marker) is not None for m in MEASUREMENTS):
            raise ReportError(
                folder,
                "no results to report: expected summary.json (simulate), allocation.json (allocate), "
                "recommendation.json (optimize), calibration.json or media_calibration.json (calibrate) "
                "or the " + ", ".join(m.marker for m in MEASUREMENTS) + " of a measurement",
            )
    scenario_path = locate(folder, "scenario.yaml")
    if scenario_path is not None:
        try:
            inputs.scenario_text = read_regular_file(scenario_path, MAX_INPUT_BYTES).decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ReportError(folder / "scenario.yaml", f"cannot be read ({exc})") from exc
        try:
            parsed = yaml.safe_load(inputs.scenario_text)
        except (yaml.YAMLError, RecursionError):
            parsed = None
        inputs.scenario = parsed if isinstance(parsed, dict) else {}
    for name, plan in (
        ("allocation.json", inputs.allocation),
        ("recommendation.json", inputs.recommendation),
    ):
        if plan is not None:
            _check_plan(folder / name, plan)
    return inputs


def _check_plan(path: Path, plan: Mapping[str, Any]) -> None:
    channels = plan.get("channels")
    if not isinstance(channels, list) or not channels:
        raise ReportError(
            path, "channels: must be a non-empty list of {channel, current_spend, recommended_spend}"
        )
    for k, row in enumerate(channels):
        if not isinstance(row, dict):
            raise ReportError(path, f"channels[{k}]: must be an object")
        for key in ("channel", "current_spend", "recommended_spend"):
            if key not in row:
                raise ReportError(path, f"channels[{k}]: missing {key}")
        for key in ("current_spend", "recommended_spend"):
            if not isinstance(row[key], int | float) or isinstance(row[key], bool):
                raise ReportError(path, f"channels[{k}].{key}: must be a number, got {row[key]!r}")
    expected = plan.get("expected", {})
    if not isinstance(expected, dict):
        raise ReportError(path, "expected: must be an object {metric: {current, recommended, change}}")
    for metric, plans in expected.items():
        if not isinstance(plans, dict):
            raise ReportError(path, f"expected.{metric}: must be an object {{current, recommended, change}}")
        for name, stats in plans.items():
            # null stands for a value that could not be computed (e.g. ROI of a plan spending nothing).
            if not isinstance(stats, dict) or not all(
                key in stats and (stats[key] is None or isinstance(stats[key], int | float))
                for key in ("mean", "low", "high")
            ):
                raise ReportError(
                    path, f"expected.{metric}.{name}: must hold mean, low and high (numbers, or null)"
                )


# Formatting ----------------------------------------------------------------------------------
def _header(name: str) -> str:
    """A column or metric name for a table header: ``current_spend`` -> ``current spend``."""
    return name.replace("_", " ")


def _interval_text(metric: str, rows: pd.DataFrame, signed: bool) -> str:
    """``mean [low, high]`` of the one row of ``rows``; empty when there is none."""
    if rows.empty:
        return ""
    row = rows.iloc[0]
    return format_range(metric, float(row["mean"]), float(row["low"]), float(row["high"]), signed=signed)


# Sections ------------------------------------------------------------------------------------
def _currency(inputs: _Inputs, plan: Mapping[str, Any] | None) -> str:
    if plan is not None and isinstance(plan.get("currency"), str):
        return str(plan["currency"])
    economics = inputs.scenario.get("economics")
    if isinstance(economics, dict) and isinstance(economics.get("currency"), str):
        return str(economics["currency"])
    return ""


def _plan_cell(column: str, value: Any) -> str:
    if column == "within_measured_range" and isinstance(value, bool):
        return "yes" if value else "OUTSIDE"
    return _format(column, value)


def _plan_section(
    inputs: _Inputs, plan: dict[str, Any], source: str, currency: str, verdict: Verdict
) -> Section:
    """The plan: headline, facts, channel table, spend figure, expected outcomes, response curves."""
    channels = pd.DataFrame(plan["channels"])
    expected: dict[str, Any] = plan.get("expected", {})
    objective = str(plan.get("objective", "profit"))
    section = Section("Recommendation" if verdict.confirmed else "Plan tried (not recommended)")
    changes = len(plan.get("policy") or {})
    section.paragraphs.append(headline(verdict, plan["channels"], expected, objective, currency, changes))
    section.paragraphs += [p for p in (_plan_facts(plan, source, currency), _outside_range(channels)) if p]
    columns = list(channels.columns)
    section.tables.append(
        ReportTable(
            [plan_header(c, currency, objective, verdict.plan_name) for c in columns],
            [[_plan_cell(c, row[c]) for c in columns] for row in channels.to_dict("records")],
        )
    )
    section.figures.append(
        ReportFigure(
            "spend_comparison",
            "Spend per channel",
            f"Current and {verdict.plan_name} spend per channel ({source}).",
            lambda f: figures.spend_comparison(
                channels, currency=currency, plan_label=verdict.plan_name, ax=f.add_subplot()
            ),
        )
    )
    section.sheets["allocation"] = channels
    if expected:
        table, figure = _expected_parts(expected, currency, verdict)
        section.tables.append(table)
        section.figures.append(figure)
        section.sheets["expected"] = expected_frame(expected)
    section.paragraphs += _posterior_paragraphs(plan.get("posterior"))
    curves = _curves_figure(inputs, plan, channels, currency, verdict)
    if curves is not None:
        section.figures.append(curves)
    return section


def _posterior_paragraphs(document: Any) -> list[str]:
    """What the posterior ensemble did to the check (``posterior`` of the plan's JSON), in words."""
    if not isinstance(document, Mapping):
        return []
    try:
        return [line.strip() for line in posterior_lines(document)]
    except (KeyError, TypeError, ValueError):
        return ["The check ran across a posterior ensemble (its 'posterior' block cannot be read)."]


def _plan_facts(plan: Mapping[str, Any], source: str, currency: str) -> str | None:
    """One sentence of the plan's settings: objective, budget, horizon, agents, seeds, guard-rails."""
    facts = [
        f"{label}: {_format(key, plan[key])}"
        for key, label in (
            ("objective", "objective"),
            ("budget", "budget" + (f" ({currency})" if currency else "")),
            ("horizon_days", "horizon (days)"),
            ("agents", "agents"),
        )
        if key in plan
    ]
    seeds = plan.get("seeds")
    if isinstance(seeds, list):
        facts.append(f"seeds: {', '.join(map(str, seeds))}")
    elif isinstance(seeds, int) and not isinstance(seeds, bool):
        facts.append(f"outcomes simulated on {seeds} paired seeds")
    guard_rails = plan.get("guard_rails")
    if isinstance(guard_rails, list) and guard_rails:
        facts.append(f"guard-rails (must not get significantly worse): {', '.join(map(str, guard_rails))}")
    return f"From {source}; " + "; ".join(facts) + "." if facts else None


def _outside_range(channels: pd.DataFrame) -> str | None:
    """The warning for channels whose planned spend lies outside their measured response curve."""
    if "within_measured_range" not in channels.columns:
        return None
    outside = channels[channels["within_measured_range"] == False]  # noqa: E712 - a column of bools
    if not len(outside):
        return None
    return (
        "OUTSIDE THE MEASURED RANGE: "
        + ", ".join(
            f"{row['channel']} ({_format('spend', row['recommended_spend'])} against at most "
            f"{_format('spend', row.get('measured_max_spend', float('nan')))} measured)"
            for row in outside.to_dict("records")
        )
        + ". The constraints force this spend; the response curves say nothing about it."
    )


def _expected_parts(
    expected: Mapping[str, Any], currency: str, verdict: Verdict
) -> tuple[ReportTable, ReportFigure]:
    """The expected outcomes of both plans: a table with intervals and the comparison figure."""
    table = expected_frame(dict(expected)).replace({"plan": {"recommended": verdict.plan_name}})
    plans = [p for p in ("current", verdict.plan_name, "change") if p in set(table["plan"])]
    text = ReportTable(
        ["metric", *(f"{p} (95% interval)" for p in plans)],
        [
            [
                measure_header(str(metric)),
                *(_interval_text(str(metric), rows[rows["plan"] == p], signed=p == "change") for p in plans),
            ]
            for metric, rows in table.groupby("metric", sort=False)
        ],
    )
    plotted = table[table["plan"] != "change"]
    # A quarter page holds three panels: the objectives a strategist weighs first.
    present = set(plotted["metric"])
    first = plotted[plotted["metric"].isin([m for m in SUMMARY_METRICS if m in present][:3])]
    compact = first if not first.empty else plotted[plotted["metric"].isin(plotted["metric"][:3])]
    metrics = plotted["metric"].nunique()
    figure = ReportFigure(
        "outcome_comparison",
        "Expected outcomes",
        "Mean and 95% interval over the fresh paired seeds of the check, current plan and "
        + ("recommended plan." if verdict.confirmed else "the plan tried (not recommended)."),
        lambda f: figures.outcome_comparison(plotted, currency=currency, fig=f),
        summary_draw=lambda f: figures.outcome_comparison(compact, currency=currency, fig=f),
        size=(3.4 * min(3, metrics), 3.6 * math.ceil(metrics / 3)),
    )
    return text, figure


def _curves_figure(
    inputs: _Inputs, plan: Mapping[str, Any], channels: pd.DataFrame, currency: str, verdict: Verdict
) -> ReportFigure | None:
    """The response curves with both plans marked, when the plan and the curves allow it."""
    objective = str(plan.get("objective", "profit"))
    marginal = str(plan.get("marginal_measure", "marginal_roi"))
    needed = {"current_outcome", "recommended_outcome", marginal}
    if inputs.curves is None or not needed <= set(channels.columns):
        return None
    curves, measured = inputs.curves, inputs.measurements
    entry = OBJECTIVES.get(objective)
    label = curve_label(objective)
    people = entry is not None and entry.unit == "people"
    return ReportFigure(
        "response_curves",
        "Response curves",
        "Response per channel (the fitted curve, or the concave fit through the simulated points "
        "where the Hill curve did not fit), drawn over the measured range, with the current "
        f"(circle) and {verdict.plan_name} (star) spend; the "
        f"{measure_header(marginal)} is written at the star.",
        lambda f: figures.response_curves(
            curves,
            channels,
            measured,
            outcome_label=label,
            marginal=marginal,
            currency="" if people else currency,
            x_currency=currency,
            plan_label=verdict.plan_name,
            fig=f,
        ),
        size=(4.2 * min(3, len(channels)), 3.4 * math.ceil(len(channels) / 3)),
    )


def _policy_section(inputs: _Inputs, recommendation: dict[str, Any]) -> Section | None:
    section = Section("Policy")
    policy = recommendation.get("policy")
    rows = recommendation.get("policy_table")
    if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
        keys = [k for k in ("setting", "current", "value") if all(k in r for r in rows)]
        headers = {"setting": "setting", "current": "current", "value": "chosen"}
        section.tables.append(
            ReportTable([headers[k] for k in keys], [[str(r[k]) for k in keys] for r in rows])
        )
    elif isinstance(policy, dict) and policy:
        section.tables.append(
            ReportTable(["parameter", "value"], [[str(k), _format(str(k), v)] for k, v in policy.items()])
        )
    chosen = recommendation.get("chosen_trial")
    if chosen is not None:
        section.paragraphs.append(f"Chosen policy: trial {chosen}.")
    figure = _search_figure(inputs, recommendation, _currency(inputs, recommendation))
    if figure is not None:
        section.figures.append(figure)
    study = _load_study(inputs.folder, recommendation, section)
    if study is not None:
        _study_figures(study, recommendation, section)
    if isinstance(rows, list) and rows:
        section.sheets["policy"] = pd.DataFrame(rows)
    elif isinstance(policy, dict) and policy:
        section.sheets["policy"] = pd.DataFrame(
            {"parameter": list(policy), "value": [str(v) for v in policy.values()]}
        )
    return section if section.tables or section.figures or section.paragraphs else None


def _study_figures(study: Any, recommendation: Mapping[str, Any], section: Section) -> None:
    """Optuna's history (two objectives: of the first; one has its own figure) and importances."""
    multi = len(study.directions) > 1
    target = (lambda trial: float(trial.values[0])) if multi else None
    names = recommendation.get("objectives") or [recommendation.get("objective", "objective")]
    first = str(names[0]) if isinstance(names, list) and names else "objective"
    target_name = METRIC_SHORT.get(first, OUTCOME_LABELS.get(first, first))
    maximize = study.directions[0].name == "MAXIMIZE"
    if multi:
        section.figures.append(
            ReportFigure(
                "optimization_history",
                "Optimization history",
                f"{target_name} per trial and the best so far (Optuna).",
                lambda f: _paste(
                    figures.optimization_history(study, target=target, target_name=target_name), f
                ),
            )
        )
    finished = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(finished) < 2:
        section.paragraphs.append(
            f"Parameter importances need at least two finished trials; this study has {len(finished)}."
        )
        return
    section.figures.append(
        ReportFigure(
            "param_importances",
            "Parameter importances",
            f"How much each policy setting explains {target_name} (Optuna, PED-ANOVA).",
            lambda f: _paste(
                figures.param_importances(
                    study, target=target, target_name=target_name, target_maximize=maximize
                ),
                f,
            ),
        )
    )


def _search_figure(inputs: _Inputs, recommendation: Mapping[str, Any], currency: str) -> ReportFigure | None:
    """Two objectives: the Pareto front; one: the objective per trial. The chosen trial starred."""
    trials = inputs.trials
    searched = recommendation.get("objectives") or [recommendation.get("objective", "profit")]
    names = [str(n) for n in searched] if isinstance(searched, list) else []
    chosen = recommendation.get("chosen_trial")
    pick = chosen if isinstance(chosen, int) and not isinstance(chosen, bool) else None
    if trials is None or not names or not set(names) <= set(trials.columns):
        return None
    if len(names) == 1:
        history = trials
        return ReportFigure(
            "trial_history",
            "Policies tried",
            f"The objective ({OUTCOME_LABELS.get(names[0], names[0])}) of every policy tried, the best so "
            "far, and the chosen policy starred (chosen after the budget split and a check on fresh seeds, "
            "so not always the best trial).",
            lambda f: figures.trial_history(history, names[0], pick, currency=currency, ax=f.add_subplot()),
        )
    pair = (names[0], names[1])
    if "pareto" not in trials.columns:
        on_front = set(inputs.pareto["number"]) if inputs.pareto is not None else set()
        trials = trials.assign(pareto=trials["number"].isin(on_front))
    shown = trials
    return ReportFigure(
        "pareto_front",
        "Pareto front",
        "Every policy tried; the Pareto-optimal ones joined; the chosen one starred.",
        lambda f: figures.pareto_front(shown, pick, objectives=pair, ax=f.add_subplot()),
    )


def _paste(drawn: Figure, target: FigureBase) -> None:
    """Put an already drawn figure (Optuna's) into ``target`` as an image."""
    buffer = io.BytesIO()
    drawn.savefig(buffer, format="png", dpi=DPI)
    buffer.seek(0)
    import matplotlib.image

    ax = target.add_subplot()
    ax.imshow(matplotlib.image.imread(buffer, format="png"))
    ax.set_axis_off()


def _load_study(folder: Path, recommendation: Mapping[str, Any], section: Section) -> Any:
    """The Optuna study named in ``recommendation.json``, opened without writing anything.

    A ``sqlite:///`` URL with a relative path is taken relative to the output folder; the file
    must exist (it is opened read-only, never created). Other storages are opened without
    creating tables. Any failure only leaves out the two study figures, said in the report with
    the storage's password masked.
    """
    name, storage = recommendation.get("study_name"), recommendation.get("storage")
    if not isinstance(name, str) or not isinstance(storage, str):
        return None
    shown = mask_url(storage)
    prefix = "sqlite:///"
    url = storage
    if storage.startswith(prefix):
        path = Path(storage.removeprefix(prefix).partition("?")[0])
        if not path.is_absolute():
            path = folder / path
        if not path.is_file():
            section.paragraphs.append(
                f"The Optuna study {name!r} is stored in {shown}, which is not there; "
                "its figures are left out."
            )
            return None
        url = f"sqlite:///file:{path.resolve()}?mode=ro&uri=true"
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        storage_object = optuna.storages.RDBStorage(url, skip_table_creation=True)
        return optuna.load_study(study_name=name, storage=storage_object)
    except Exception as exc:  # noqa: BLE001 - any storage failure only drops two figures, said in the report
        reason = mask_secrets(" ".join(f"{type(exc).__name__}: {exc}".split())[:300], [storage])
        section.paragraphs.append(
            f"The Optuna study {name!r} in {shown} could not be opened ({reason}); its figures are left out."
        )
        return None


def _results_section(inputs: _Inputs, currency: str) -> Section | None:
    section = Section("Simulated results")
    summary = inputs.summary
    if summary is not None:
        kpis = summary.get("kpis", {})
        section.paragraphs.append(
            f"Scenario {summary.get('scenario', '?')}, seed {summary.get('seed', '?')}"
            + (f", {len(inputs.daily)} days" if inputs.daily is not None else "")
            + (f"; money in {currency}" if currency else "")
            + "."
        )
        section.tables.append(
            ReportTable(
                ["KPI", "value"],
                [[_kpi_name(k, currency), _format(k, kpis[k])] for k in HEADLINE_KPIS if k in kpis],
            )
        )
        section.sheets["KPIs"] = pd.DataFrame(
            {"value": [v if v is not None else float("nan") for v in kpis.values()]},
            index=pd.Index(list(kpis), name="kpi"),
        )
    daily, campaigns = inputs.daily, inputs.campaigns
    if daily is not None and {"revenue", "spend"} <= set(daily.columns):
        section.figures.append(
            ReportFigure(
                "revenue_and_spend",
                "Daily revenue and spend",
                "Revenue (left axis) and marketing spend (right axis) per day; campaigns shaded.",
                lambda f: figures.revenue_and_spend(daily, campaigns, currency=currency, ax=f.add_subplot()),
            )
        )
    levers = inputs.levers
    if levers is not None and figures.tier_columns(levers.columns):
        section.figures.append(
            ReportFigure(
                "loyalty_tiers",
                "Loyalty tiers",
                "Loyalty members by tier, per day.",
                lambda f: figures.loyalty_tiers(levers, ax=f.add_subplot()),
            )
        )
    return section if section.tables or section.figures else None


def _channels_section(inputs: _Inputs, currency: str) -> Section | None:
    """The channels over the horizon: totals with last-touch ROAS and CAC, and the funnel."""
    section = Section("Channels")
    channel_table = _channel_table(inputs.channels_daily)
    if channel_table is not None:
        columns = list(channel_table.columns)
        section.paragraphs.append(
            "Channels over the horizon: orders, revenue and new customers are credited to the channel the "
            "order was placed through (its last touch), so last-touch ROAS and CAC are attribution figures, "
            "not what the channel's spend adds; the incrementality command measures that (ROI, break-even 0)."
        )
        section.tables.append(
            ReportTable(
                ["channel", *(_channel_header(c, currency) for c in columns)],
                [
                    [str(name), *(_format(c, row[c]) for c in columns)]
                    for name, row in channel_table.iterrows()
                ],
            )
        )
        section.sheets["channels"] = channel_table
    channels_daily = inputs.channels_daily
    if channels_daily is not None:
        section.figures.append(
            ReportFigure(
                "funnel",
                "Funnel per channel",
                "Totals per channel over the horizon: aware = new aware, considering = visits, cart = "
                "carts, order = orders, repeat = repeat orders (events counted where they happened).",
                lambda f: figures.funnel(channels_daily, ax=f.add_subplot()),
            )
        )
    return section if section.tables or section.figures else None


def _comparison_section(folder: Path) -> Section | None:
    """``simulate --compare-to``: the totals per channel and measure, and the largest gaps."""
    from simulator.measure.compare import ALL_MONTHS, SPEND_NOTE, gaps_sentence, spend_differs

    table = _read_csv(folder, "comparison.csv")
    if table is None:
        return None
    table = table.astype({"channel": str, "month": str, "measure": str})
    section = Section("Compared with a history")
    section.paragraphs.append(
        "The simulation next to the history given to simulate --compare-to, per channel and month "
        "(comparison.csv; below, the totals over the compared period): gap = simulated - actual, and in "
        "percent of the actual. A channel's outcomes are those booked to it as the last touch. "
        + _sentence(gaps_sentence(table))
    )
    if spend_differs(table):
        section.paragraphs.append(_sentence(SPEND_NOTE))
    totals = table[table["month"] == ALL_MONTHS]
    section.tables.append(
        ReportTable(
            ["channel", "measure", "simulated", "actual", "gap", "gap %"],
            [
                [
                    str(row["channel"]),
                    str(row["measure"]),
                    *(
                        format_value(row[c], unit_of(str(row["measure"])), c == "gap")
                        for c in ("simulated", "actual", "gap")
                    ),
                    "n/a" if pd.isna(row["gap_pct"]) else f"{row['gap_pct']:+.1f}%",
                ]
                for row in totals.to_dict("records")
            ],
        )
    )
    section.sheets["comparison"] = table.set_index(["channel", "month", "measure"])
    return section


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


def _channel_table(channels_daily: pd.DataFrame | None) -> pd.DataFrame | None:
    if channels_daily is None or "channel" not in channels_daily.columns:
        return None
    columns = [c for c in CHANNEL_TABLE_COLUMNS if c in channels_daily.columns]
    order = list(pd.unique(channels_daily["channel"].astype(str)))
    totals = channels_daily.groupby(channels_daily["channel"].astype(str))[columns].sum().reindex(order)
    # Orders are booked in the channel they were placed through (their last touch): these are
    # attribution figures, not what the channel's spend adds (incrementality measures that).
    if {"revenue", "spend"} <= set(columns):
        totals["last_touch_roas"] = totals["revenue"] / totals["spend"].where(totals["spend"] > 0)
    if {"spend", "new_customers"} <= set(columns):
        totals["last_touch_cac"] = totals["spend"] / totals["new_customers"].where(
            totals["new_customers"] > 0
        )
    totals.index.name = "channel"
    return totals


def _kpi_name(name: str, currency: str) -> str:
    """A KPI's name for a table: measures of return with their unit, money with its currency."""
    if name in MEASURES:
        return measure_header(name)
    money = f" ({currency})" if currency and unit_of(name) == "money" else ""
    return _kpi_label(name) + money


def _kpi_label(name: str) -> str:
    """A KPI's name for people, with the break-even of a measure of return: ``ROI (break-even 0)``."""
    label = readable_name(name)
    note = break_even_text(name)
    return f"{label} ({note})" if note else label


def _channel_header(column: str, currency: str) -> str:
    money = f" ({currency})" if currency else ""
    if column in MEASURES:
        return measure_header(column)
    if column == "last_touch_cac":
        return f"last-touch CAC{money} per new customer"
    if column in ("spend", "revenue", "contribution"):
        return f"{column}{money}"
    return _header(column) + (" (people)" if column in ("new_aware", "new_customers") else "")


def _scenario_section(inputs: _Inputs) -> Section | None:
    if inputs.scenario_text is None:
        return None
    scenario = inputs.scenario
    section = Section("Scenario assumptions")
    if scenario.get("name"):
        section.paragraphs.append(f"Scenario: {scenario['name']}")
    if scenario.get("description"):
        section.paragraphs.append(str(scenario["description"]).strip())
    population = scenario.get("population")
    facts = []
    if "horizon_days" in scenario:
        facts.append(f"horizon {scenario['horizon_days']} days")
    if isinstance(population, dict) and "agents" in population:
        facts.append(f"{population['agents']} agents x scale {population.get('scale', 1)}")
    if facts:
        section.paragraphs.append("; ".join(facts) + ".")
    channels = scenario.get("channels")
    if isinstance(channels, list) and all(isinstance(c, dict) for c in channels):
        keys = ["name", "kind", "daily_spend", "pricing"]
        section.tables.append(ReportTable(keys, [[_format(k, c.get(k, "")) for k in keys] for c in channels]))
    section.code = inputs.scenario_text
    return section


# Rendering -----------------------------------------------------------------------------------
def _render_png(figure: ReportFigure, folder: Path) -> bytes:
    canvas = Figure(figsize=figure.size, layout="constrained")
    buffer = io.BytesIO()
    try:
        figure.draw(canvas)
        canvas.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        # A folder assembled by hand can hold tables the figure cannot use; say which, in one line.
        source = FIGURE_SOURCES.get(figure.key, "the result files")
        raise ReportError(
            folder, f"the figure '{figure.title}' cannot be drawn from {source} ({type(exc).__name__}: {exc})"
        ) from exc
    return buffer.getvalue()


def _summary_text(cell: FigureBase, headline: str, kpis: list[tuple[str, str]]) -> None:
    """The first quarter of the one-page summary: the headline, then the key figures as two columns."""
    text = cell.add_subplot()
    text.set_axis_off()
    lines = textwrap.wrap(headline, 62)
    step = 0.062
    for k, line in enumerate(lines):
        text.text(0.0, 1.0 - k * step, line, va="top", ha="left", fontsize=13)
    if not kpis:
        return
    top = 1.0 - (len(lines) + 0.8) * step if lines else 1.0
    text.text(0.0, top, "Key figures", va="top", ha="left", fontsize=13, fontweight="bold")
    for k, (name, value) in enumerate(kpis, start=1):
        y = top - k * step
        text.text(0.02, y, name, va="top", ha="left", fontsize=12, color="#333333")
        text.text(0.98, y, value, va="top", ha="right", fontsize=12, fontweight="bold")


def _summary_png(title: str, headline: str, kpis: list[tuple[str, str]], chosen: list[ReportFigure]) -> bytes:
    page = Figure(figsize=(16.0, 10.0), layout="constrained")
    page.suptitle(title, fontsize=16)
    grid = page.subfigures(2, 2, squeeze=False)
    cells = [grid[0, 0], grid[0, 1], grid[1, 0], grid[1, 1]]
    _summary_text(cells[0], headline, kpis)
    for cell, figure in zip(cells[1:], chosen, strict=False):
        (figure.summary_draw or figure.draw)(cell)
    buffer = io.BytesIO()
    page.savefig(buffer, format="png", dpi=90, metadata={"Software": None})
    return buffer.getvalue()


HTML_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
.headline { font-size: 1.25em; background: #eef4fb; border-left: 4px solid #1f77b4; padding: .6em 1em; }
table { border-collapse: collapse; margin: 1em 0; font-size: .9em; }
.table-scroll { overflow-x: auto; }
th, td { border: 1px solid #ddd; padding: .25em .6em; } td { text-align: right; }
td:first-child { text-align: left; } th { background: #f4f4f4; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; } figcaption { color: #555; font-size: .9em; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; font-size: .85em; }
</style>
</head>
<body>
<h1>{{ title }}</h1>
{% if headline %}<p class="headline">{{ headline }}</p>{% endif %}
{% for section in sections %}
<section>
<h2>{{ section.title }}</h2>
{% for paragraph in section.paragraphs %}<p>{{ paragraph }}</p>
{% endfor %}
{% for table in section.tables %}
<div class="table-scroll"><table>
<thead><tr>{% for header in table.headers %}<th>{{ header }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in table.rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</tbody>
</table></div>
{% endfor %}
{% for figure in section.figures %}
<figure>
<img alt="{{ figure.title }}" src="data:image/png;base64,{{ images[figure.key] }}">
<figcaption><b>{{ figure.title }}.</b> {{ figure.caption }}</figcaption>
</figure>
{% endfor %}
{% if section.code %}<details><summary>Scenario file</summary>
<pre>{{ section.code }}</pre></details>{% endif %}
</section>
{% endfor %}
</body>
</html>
"""


def _html(title: str, headline: str, sections: list[Section]) -> str:
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    images = {f.key: base64.b64encode(f.png).decode("ascii") for s in sections for f in s.figures}
    return environment.from_string(HTML_TEMPLATE).render(
        title=title, headline=headline, sections=sections, images=images
    )


def _md_text(text: str) -> str:
    """Text for Markdown: HTML special characters escaped, so no markup or script gets through."""
    return html.escape(text, quote=False)


def _md_cell(text: str) -> str:
    return _md_text(text).replace("|", "\\|").replace("\n", " ")


def _markdown(title: str, headline: str, sections: list[Section]) -> str:
    lines = [f"# {_md_text(title)}", ""]
    if headline:
        lines += [f"**{_md_text(headline)}**", ""]
    for section in sections:
        lines += [f"## {_md_text(section.title)}", ""]
        for paragraph in section.paragraphs:
            lines += [_md_text(paragraph), ""]
        for table in section.tables:
            lines.append("| " + " | ".join(_md_cell(h) for h in table.headers) + " |")
            lines.append("|" + "|".join("---" for _h in table.headers) + "|")
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
            lines.append("")
        for figure in section.figures:
            lines += [
                f"![{_md_text(figure.title)}](report_{figure.key}.png)",
                "",
                f"*{_md_text(figure.caption)}*",
                "",
            ]
        if section.code:
            fence = "`" * max(3, 1 + max((len(run) for run in re.findall("`+", section.code)), default=0))
            lines += [f"{fence}yaml", section.code.rstrip("\n"), fence, ""]
    return "\n".join(lines)


def _xlsx_writer(sections: list[Section]) -> Callable[[Path], None]:
    """``report.xlsx``: every section's tables of numbers, one sheet each (:mod:`reports.workbook`)."""
    sheets = {name: table for section in sections for name, table in section.sheets.items()}
    return lambda path: write_workbook(path, sheets)


def _simulation_headline(summary: Mapping[str, Any], currency: str) -> str:
    """One sentence of a simulation's result: profit, spend and ROI over the horizon."""
    kpis = summary.get("kpis", {})
    if not {"profit", "marketing_spend"} <= set(kpis):
        return ""
    money = f" {currency}" if currency else ""
    profit, spend = _format("profit", kpis["profit"]), _format("marketing_spend", kpis["marketing_spend"])
    text = f"Profit {profit}{money} on {spend}{money} of marketing spend"
    if "roi" in kpis:
        text += f" (ROI {_format('roi', kpis['roi'])}, {break_even_text('roi')})"
    return text + "."


def _title(
    inputs: _Inputs, plan: Mapping[str, Any] | None, verdict: Verdict | None, measured: Measured
) -> str:
    """The report's title: its verdict first, then what kind of result it reports on."""
    name = (
        (inputs.summary or {}).get("scenario")
        or (plan or {}).get("scenario")
        or inputs.scenario.get("name")
        or measured.scenario
        or inputs.folder.name
    )
    if inputs.recommendation is not None:
        kind = "Policy-search"
    elif plan is not None:
        kind = "Budget-allocation"
    elif inputs.summary is None and measured.kinds:
        kind = " and ".join(measured.kinds)
    elif inputs.summary is None and _calibrated(inputs.folder):
        kind = "Calibration"
    else:
        kind = "Simulation"
    title = f"{kind} report: {name}"
    return f"{verdict.title()} - {title}" if verdict is not None else title  # the verdict leads


def _key_figures(
    inputs: _Inputs, plan: Mapping[str, Any] | None, sections: list[Section], currency: str
) -> list[tuple[str, str]]:
    """Up to 10 (label, value) pairs for the one-page summary: KPIs, else the plans', else measured."""
    kpis = (inputs.summary or {}).get("kpis", {})
    money = f" ({currency})" if currency else ""
    pairs = [
        (_kpi_label(k) + (money if unit_of(k) == "money" else ""), _format(k, kpis[k]))
        for k in HEADLINE_KPIS
        if k in kpis
    ]
    if not pairs and plan is not None:
        # A plan without a simulation next to it: the simulated KPIs of both plans.
        pairs = [
            (
                _kpi_label(str(metric)),
                f"{_format(str(metric), plans['current']['mean'])} -> "
                f"{_format(str(metric), plans['recommended']['mean'])}",
            )
            for metric, plans in plan.get("expected", {}).items()
            if {"current", "recommended"} <= set(plans)
        ]
    pairs += [pair for section in sections for pair in section.key_figures]
    return pairs[:10]


# Entry point ---------------------------------------------------------------------------------
def build_report(out_dir: str | Path, *, overwrite: bool = False) -> list[Path]:
    """Write the report of an output folder: ``report.html``, ``report.md``, ``summary.png``, ``report.xlsx``.

    Reads the result files present in ``out_dir`` (see the module docstring for the files and
    the JSON keys read) and writes a section per kind of result, never simulating. The
    Markdown report's figures are written next to it as ``report_<name>.png``. All files are
    staged in a temporary folder and moved in place only when all are complete.

    Parameters
    ----------
    out_dir
        The ``--out`` folder of ``simulate``, ``allocate`` or ``optimize`` (or one holding the
        outputs of several).
    overwrite
        Replace report files already in the folder.

    Returns
    -------
    list of pathlib.Path
        The files written.

    Raises
    ------
    ReportError
        When the folder does not exist, holds no results, or a result file cannot be read (one
        line naming the file and, for JSON, the key).
    simulator.OutputExistsError
        When the folder already holds a report file and ``overwrite`` is false.
    """
    folder = Path(out_dir)
    inputs = _read_inputs(folder)
    check_output_folder(folder, overwrite, REPORT_FILES)
    plan, source = (
        (inputs.recommendation, "recommendation.json")
        if inputs.recommendation is not None
        else (inputs.allocation, "allocation.json")
    )
    currency = _currency(inputs, plan)
    sections: list[Section] = []
    top = ""
    verdict = verdict_from_dict(plan.get("verdict")) if plan is not None else None
    if plan is not None and verdict is not None:
        plan_section = _plan_section(inputs, plan, source, currency, verdict)
        top = plan_section.paragraphs.pop(0)  # shown once, at the top
        sections.append(plan_section)
    if inputs.recommendation is not None:
        policy = _policy_section(inputs, inputs.recommendation)
        if policy is not None:
            sections.append(policy)
    from .calibration import (
        calibration_headline,
        calibration_section,
        media_calibration_headline,
        media_calibration_section,
    )

    calibration = calibration_section(folder)
    if calibration is not None:
        sections.append(calibration)
        top = top or calibration_headline(folder)
    media_calibration = media_calibration_section(folder)
    if media_calibration is not None:
        sections.append(media_calibration)
        top = top or media_calibration_headline(folder)
    sections += [s for s in (_results_section(inputs, currency), _channels_section(inputs, currency)) if s]
    comparison = _comparison_section(folder)
    if comparison is not None:
        sections.append(comparison)
    if not top and inputs.summary is not None:
        top = _simulation_headline(inputs.summary, currency)
    measured = measurement_sections(folder, ReportError)
    if measured.sections and not top and not sections:
        top = measured.sections[0].paragraphs.pop(0)  # a measurement alone: its summary leads
    sections += measured.sections
    scenario = _scenario_section(inputs)
    if scenario is not None:
        sections.append(scenario)
    title = _title(inputs, plan, verdict, measured)
    every_figure = [f for s in sections for f in s.figures]
    # Names come from result files: a '$' must print as a '$', never start mathtext (which can fail).
    with matplotlib.rc_context({"text.parse_math": False}):
        for figure in every_figure:
            figure.png = _render_png(figure, folder)
        by_key = {f.key: f for f in every_figure}
        chosen = [by_key[key] for key in SUMMARY_PRIORITY if key in by_key][:3]
        key_figures = _key_figures(inputs, plan, sections, currency)
        summary_png = _summary_png(title, top, key_figures, chosen)

    def text_writer(text: str) -> Callable[[Path], object]:
        return lambda path: path.write_text(text, encoding="utf-8")

    def bytes_writer(data: bytes) -> Callable[[Path], object]:
        return lambda path: path.write_bytes(data)

    writers: dict[str, Callable[[Path], object]] = {
        "report.html": text_writer(_html(title, top, sections)),
        "report.md": text_writer(_markdown(title, top, sections)),
        "summary.png": bytes_writer(summary_png),
        "report.xlsx": _xlsx_writer(sections),
    }
    for figure in every_figure:
        writers[f"report_{figure.key}.png"] = bytes_writer(figure.png)
    return write_files(folder, writers, overwrite, replaces=is_report_file)


def is_report_file(name: str) -> bool:
    """Whether a file of an output folder is part of the report (replaced by ``report --overwrite``)."""
    return name in REPORT_FILES or (name.startswith("report_") and name.endswith(".png"))
