"""The report's calibration sections, from the files ``run.py calibrate --out`` writes.

Read (``calibration.json`` is required, the rest optional): ``calibration.json`` (the data, the
chosen model, the twin and the hold-out check), ``parameters.csv``, ``tracking_weekly.csv``,
``frequency_histogram.csv``, ``conditional_expectations.csv`` and ``holdout_seeds.csv``.

With ``--media`` (:func:`media_calibration_section`; ``media_calibration.json`` required):
``media_calibration.json`` (the validation, the channels and the lift tests),
``media_holdout.csv`` (weekly new customers, and with the predictive check orders and revenue,
actual and predicted with the 95% interval) and ``media_channels.csv`` (per channel; for
``report.xlsx``). The section says what is predicted and how, the MAPE and 95% coverage of each
measure over the calibration and hold-out weeks, draws actual against predicted over every week
(hold-out shaded; one figure for new customers, one with a panel each for orders and revenue),
tables each channel's incremental ROAS and 95% interval next to
its lift tests (as measured, and converted to a ROAS) and names every strength the data do not
identify with the reason (simulator/calibrate/media.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import FigureBase

from simulator.calibrate.figures import (
    conditional_expectations_figure,
    frequency_figure,
    holdout_figure,
    media_fit_figure,
    tracking_figure,
)
from simulator.calibrate.media import NOT_IDENTIFIED
from simulator.common.format import format_interval, format_number, format_value, unit_of

from .parts import ReportFigure, ReportTable, Section
from .report import ReportError, _read_csv, _read_json

__all__ = [
    "CALIBRATION_FIGURES",
    "calibration_headline",
    "calibration_section",
    "calibration_sheets",
    "media_calibration_headline",
    "media_calibration_section",
]

CALIBRATION_FIGURES = (
    "calibration_holdout",
    "calibration_tracking",
    "calibration_histogram",
    "calibration_conditional",
    "media_fit",
    "media_predictive",
)


def _read(folder: Path, name: str) -> pd.DataFrame | None:
    return _read_csv(folder, name)


def _percent(value: Any) -> str:
    """A relative error, signed (``+3.2%``)."""
    return format_value(value, "percent", signed=True)


def calibration_headline(folder: Path) -> str:
    """One sentence on the hold-out check ("" without ``calibration.json``)."""
    report = _read_json(folder, "calibration.json")
    if report is None:
        return ""
    holdout = report.get("holdout")
    if not isinstance(holdout, dict) or not isinstance(holdout.get("repeat_orders"), dict):
        return "The twin's forecast is unvalidated: no hold-out period."
    block = holdout["repeat_orders"]
    predicted = block.get("predicted", {})
    inside = "inside" if block.get("actual_inside_interval") else "outside"
    error = _percent(block.get("relative_error"))
    twin = f"{format_value(predicted.get('mean'), 'count')} repeat orders ({error})"
    closed = (
        f"{format_value(block.get('predicted_closed_form'), 'count')} "
        f"({_percent(block.get('closed_form_relative_error'))})"
    )
    return (
        f"Hold-out of {holdout.get('days')} days: the twin forecast {twin}, the closed form {closed}; "
        f"{format_value(block.get('actual'), 'count')} happened, {inside} the twin's 95% interval."
    )


def calibration_section(folder: Path) -> Section | None:
    """The calibration section of a folder, or ``None`` without ``calibration.json``.

    Its sheets (:func:`calibration_sheets`) go to ``report.xlsx``; the hold-out's repeat orders,
    actual and forecast, are its key figures for ``summary.png``.
    """
    report = _read_json(folder, "calibration.json")
    if report is None:
        return None
    if not isinstance(report.get("orders"), dict):
        raise ReportError(folder / "calibration.json", "orders: must be an object (the order log's figures)")
    section = Section("Calibration", sheets=calibration_sheets(folder))
    orders = report["orders"]
    dates = f"from {orders.get('first_date')} to {orders.get('last_date')}"
    fitted = f"{orders.get('calibration_customers', 0):,} customers, {orders.get('repeat_customers', 0):,}"
    section.paragraphs.append(
        f"Order log {orders.get('file', '?')}: {orders.get('orders', 0):,} orders of "
        f"{orders.get('customers', 0):,} customers {dates}; calibration to {orders.get('calibration_end')} "
        f"({fitted} bought again), hold-out of {orders.get('holdout_days', 0)} days."
    )
    segments = report.get("segments", {})
    twin = report.get("twin", {})
    model = "BG/NBD" if segments.get("chosen") == 1 else "latent-class BG/NBD"
    tried = len(segments.get("tried", []))
    section.paragraphs.append(
        f"Chosen model: {model} with {segments.get('chosen', '?')} segment(s) (lowest BIC of {tried} "
        f"tried), and gamma-gamma spend. The twin starts on {twin.get('start_date')} with "
        f"{twin.get('agents', 0):,} agents (scale {twin.get('scale', 1):g}); engine factors: rate "
        f"{format_number(twin.get('rate_factor'))}, spend {format_number(twin.get('spend_factor'))}."
    )
    holdout = report.get("holdout")
    if isinstance(holdout, dict):
        section.paragraphs.append(
            f"Hold-out check over {holdout.get('days')} days: the twin's forecast is the mean of "
            f"{len(holdout.get('seeds', []))} seeds with its 95% interval; the closed form is the same "
            "fitted model's expectation."
        )
        rows = []
        for name in ("repeat_orders", "revenue", "new_customers"):
            block = holdout.get(name)
            if not isinstance(block, dict):
                continue
            predicted = block.get("predicted", {})
            unit = unit_of(name)  # counts of orders and customers, money of revenue
            rows.append(
                [
                    name.replace("_", " "),
                    format_value(block.get("actual"), unit),
                    format_interval(predicted.get("mean"), predicted.get("low"), predicted.get("high"), unit),
                    _percent(block.get("relative_error")),
                    format_value(block.get("predicted_closed_form"), unit),
                    _percent(block.get("closed_form_relative_error")),
                ]
            )
            if name == "repeat_orders":
                section.key_figures += [
                    ("hold-out repeat orders, actual", format_value(block.get("actual"), unit)),
                    ("hold-out repeat orders, twin", format_value(predicted.get("mean"), unit)),
                ]
        section.tables.append(
            ReportTable(
                [
                    "hold-out",
                    "actual",
                    "twin (95% interval)",
                    "twin error",
                    "closed form",
                    "closed-form error",
                ],
                rows,
            )
        )
        runs = _read(folder, "holdout_seeds.csv")
        section.figures.append(
            ReportFigure(
                "calibration_holdout",
                "Hold-out forecast",
                "Repeat orders and revenue of the calibration customers in the hold-out, relative to what "
                "happened: the twin's seeds (dots), mean and 95% interval, and the closed form.",
                lambda f: holdout_figure(holdout, runs, ax=f.add_subplot()),
                size=(6.0, 4.2),
            )
        )
    else:
        section.paragraphs.append(
            str(report.get("note") or "No hold-out period: the forecast is unvalidated.")
        )
    parameters = _read(folder, "parameters.csv")
    if parameters is not None and {"model", "parameter", "estimate", "se", "lower", "upper"} <= set(
        parameters
    ):
        section.tables.append(
            ReportTable(
                ["model", "parameter", "estimate", "se", "95% interval"],
                [
                    [
                        str(r.model),
                        str(r.parameter),
                        f"{r.estimate:.4g}",
                        f"{r.se:.3g}",
                        f"[{r.lower:.4g}, {r.upper:.4g}]",
                    ]
                    for r in parameters.itertuples()
                ],
            )
        )
    for name, key, title, caption, draw in (
        (
            "tracking_weekly.csv",
            "calibration_tracking",
            "Repeat purchases by week",
            "Cumulative repeat purchases of the calibration customers, actual and expected by the model; "
            "the hold-out shaded.",
            tracking_figure,
        ),
        (
            "frequency_histogram.csv",
            "calibration_histogram",
            "Repeat purchases per customer",
            "Customers by number of repeat purchases in the calibration period, actual and model.",
            frequency_figure,
        ),
        (
            "conditional_expectations.csv",
            "calibration_conditional",
            "Conditional expectations",
            "Mean purchases in the hold-out by repeat purchases in the calibration period, actual and model.",
            conditional_expectations_figure,
        ),
    ):
        _table_figure(section, _read(folder, name), key, title, caption, draw)
    return section


def _table_figure(
    section: Section,
    table: pd.DataFrame | None,
    key: str,
    title: str,
    caption: str,
    draw: Callable[..., object],
) -> None:
    """Add the figure ``draw`` makes of a table to the section, when the table was read."""
    if table is not None:
        section.figures.append(ReportFigure(key, title, caption, lambda f: draw(table, ax=f.add_subplot())))


def calibration_sheets(folder: Path) -> dict[str, pd.DataFrame]:
    """Sheets of ``report.xlsx`` for a calibration: ``holdout`` (when checked) and ``parameters``."""
    report = _read_json(folder, "calibration.json")
    if report is None:
        return {}
    sheets: dict[str, pd.DataFrame] = {}
    holdout = report.get("holdout")
    if isinstance(holdout, dict):
        rows = []
        for name in ("repeat_orders", "revenue", "new_customers"):
            block = holdout.get(name)
            if isinstance(block, dict):
                predicted = block.get("predicted", {})
                rows.append(
                    {
                        "quantity": name,
                        "actual": block.get("actual"),
                        "twin": predicted.get("mean"),
                        "twin_low": predicted.get("low"),
                        "twin_high": predicted.get("high"),
                        "closed_form": block.get("predicted_closed_form"),
                    }
                )
        sheets["holdout"] = pd.DataFrame(rows)
    parameters = _read(folder, "parameters.csv")
    if parameters is not None:
        sheets["parameters"] = parameters
    return sheets


def _media_json(folder: Path) -> dict[str, Any] | None:
    """``media_calibration.json``, checked for the blocks the report reads; ``None`` when absent."""
    report = _read_json(folder, "media_calibration.json")
    if report is None:
        return None
    path = folder / "media_calibration.json"
    if not isinstance(report.get("channels"), dict) or not all(
        isinstance(v, dict) for v in report["channels"].values()
    ):
        raise ReportError(path, "channels: must be an object of one object per channel")
    for key in ("holdout", "fit"):
        block = report.get(key)
        if block is not None and not (
            isinstance(block, dict) and all(isinstance(block.get(k), int | float) for k in CHECK_KEYS)
        ):
            raise ReportError(path, f"{key}: must be null or an object with numbers {', '.join(CHECK_KEYS)}")
    if not isinstance(report.get("lift_tests", []), list) or not all(
        isinstance(t, dict) for t in report.get("lift_tests", [])
    ):
        raise ReportError(path, "lift_tests: must be a list of objects")
    return report


CHECK_KEYS = ("weeks", "coverage", "mape")
"""Keys of the ``fit`` and ``holdout`` blocks of ``media_calibration.json``."""


def media_calibration_headline(folder: Path) -> str:
    """One sentence on the media calibration's hold-out check ("" without ``media_calibration.json``)."""
    report = _media_json(folder)
    if report is None:
        return ""
    channels = report["channels"]
    unidentified = [name for name, row in channels.items() if not row.get("identified")]
    flags = (
        f"; {len(unidentified)} of {len(channels)} channels not identified by the data "
        f"({', '.join(unidentified)})"
        if unidentified
        else f"; all {len(channels)} channels identified by the data"
    )
    check = report.get("holdout")
    if check is None:
        return f"Media calibration without hold-out weeks: its forecast is unvalidated{flags}."
    others = "".join(
        f", {measure} MAPE {format_value(block['mape'], 'percent')} "
        f"({format_value(block['coverage'], 'percent')} inside)"
        for measure, block in _predictive_checks(report, "holdout")
    )
    return (
        f"Media calibration, hold-out of {check['weeks']} weeks: weekly new customers predicted with "
        f"MAPE {format_value(check['mape'], 'percent')}, {format_value(check['coverage'], 'percent')} "
        f"of the weeks inside the 95% interval{others}{flags}."
    )


def _predictive_checks(report: dict[str, Any], key: str) -> list[tuple[str, dict[str, Any]]]:
    """(measure, check) of the predictive check's ``key`` block (``fit`` or ``holdout``), if any."""
    predictive = report.get("predictive")
    block = predictive.get(key) if isinstance(predictive, dict) else None
    if not isinstance(block, dict):
        return []
    return [
        (str(measure), check)
        for measure, check in block.items()
        if isinstance(check, dict) and all(isinstance(check.get(k), int | float) for k in CHECK_KEYS)
    ]


def _predictive_figure(weekly: pd.DataFrame, measures: list[str], fig: FigureBase) -> None:
    """One panel per measure: actual against the simulated members' median and 95% band."""
    units = {"orders": "orders per week", "revenue": "revenue per week"}
    for i, measure in enumerate(measures):
        columns = {f"{measure}_{c}": c for c in ("actual", "predicted", "low", "high")}
        panel = weekly[["date", "holdout", *columns]].rename(columns=columns)
        ax = fig.add_subplot(len(measures), 1, i + 1)
        media_fit_figure(panel, ax=ax)
        ax.set_ylabel(units.get(measure, f"{measure} per week"))


def _lift_text(test: dict[str, Any]) -> tuple[str, str]:
    """A lift test as measured (new customers) and converted to a ROAS, as two cells."""
    measured = (
        f"{format_value(test.get('effect'), 'count', signed=True)} ± "
        f"{format_value(test.get('standard_error'), 'count')} new customers for "
        f"{format_value(test.get('spend_change'), 'money', signed=True)} spend "
        f"({test.get('start')} to {test.get('end')}; model {format_value(test.get('model_effect'), 'count')})"
    )
    roas = test.get("roas")
    converted = (
        f"{format_value(roas, 'ratio')} ± {format_value(test.get('roas_se'), 'ratio')}"
        if roas is not None
        else "n/a (no incremental new customers to price)"
    )
    return measured, converted


def media_calibration_section(folder: Path) -> Section | None:
    """The media calibration's section, or ``None`` without ``media_calibration.json``.

    Its sheets go to ``report.xlsx``: ``media_channels``, ``media_weeks`` and ``media_lift_tests``.
    """
    report = _media_json(folder)
    if report is None:
        return None
    weekly = _read(folder, "media_holdout.csv")
    channels_table = _read(folder, "media_channels.csv")
    sheets: dict[str, pd.DataFrame] = {}
    if channels_table is not None:
        sheets["media_channels"] = channels_table
    if weekly is not None:
        sheets["media_weeks"] = weekly
    tests = report.get("lift_tests", [])
    if tests:
        sheets["media_lift_tests"] = pd.DataFrame(tests)
    section = Section("Media calibration", sheets=sheets)
    media = report.get("media", {}) if isinstance(report.get("media"), dict) else {}
    section.paragraphs.append(
        f"Channel strengths (multipliers of each channel's awareness_per_impression) and the organic "
        f"factor fitted to the weekly new customers of {report.get('orders', '?')} over "
        f"{media.get('weeks', '?')} weeks of the media history {media.get('source', '?')} "
        f"({media.get('frequency', '?')}), with {len(tests)} lift test(s): "
        f"{report.get('runs', '?')} simulated runs, posterior ensemble of {report.get('members', '?')} "
        f"members ({report.get('method', '')})."
    )
    predicted = report.get("predicted", ["new_customers"])
    not_predicted = report.get("not_predicted", "orders and revenue")
    how = f" ({report['predicted_note']})" if report.get("predicted_note") else ""
    section.paragraphs.append(
        f"Predicted: {', '.join(str(p).replace('_', ' ') for p in predicted)} per week{how}."
        + (f" Not predicted: {not_predicted}." if not_predicted else "")
    )
    if report.get("targets_note"):
        section.paragraphs.append(f"Fitted: {report['targets_note']}.")
    rows = []
    for label, key in (("calibration weeks (in-sample)", "fit"), ("hold-out weeks", "holdout")):
        check = report.get(key)
        if isinstance(check, dict):
            rows.append(
                [
                    label,
                    "weekly new customers",
                    format_value(check["weeks"], "count"),
                    format_value(check["mape"], "percent"),
                    format_value(check["coverage"], "percent"),
                ]
            )
            rows += [
                [
                    label,
                    f"weekly {measure} (simulated)",
                    format_value(block["weeks"], "count"),
                    format_value(block["mape"], "percent"),
                    format_value(block["coverage"], "percent"),
                ]
                for measure, block in _predictive_checks(report, key)
            ]
    if rows:
        section.tables.append(
            ReportTable(["weeks", "predicted", "count", "MAPE", "inside 95% interval"], rows)
        )
    acquisition = report.get("acquisition_channels")
    if isinstance(acquisition, dict) and acquisition:
        period = "hold-out" if isinstance(report.get("holdout"), dict) else "calibration weeks"
        section.tables.append(
            ReportTable(
                [
                    "acquisition channel",
                    f"new customers, {period}",
                    "predicted (centre)",
                    "weekly MAPE",
                    "residual SD per week",
                ],
                [
                    [
                        str(name),
                        format_value(row.get("actual"), "count"),
                        format_value(row.get("predicted"), "count"),
                        format_value(row.get("mape"), "percent"),
                        format_value(row.get("residual_sd"), "count"),
                    ]
                    for name, row in acquisition.items()
                    if isinstance(row, dict)
                ],
            )
        )
    check = report.get("holdout")
    if isinstance(check, dict):
        section.key_figures += [
            ("hold-out MAPE, new customers/week", format_value(check["mape"], "percent")),
            ("hold-out inside 95% interval", format_value(check["coverage"], "percent")),
        ]
        section.key_figures += [
            (f"hold-out MAPE, {measure}/week", format_value(block["mape"], "percent"))
            for measure, block in _predictive_checks(report, "holdout")
        ]
    else:
        section.paragraphs.append("No hold-out weeks: the forecast is unvalidated (give --holdout-weeks).")
    if weekly is not None:
        section.figures.append(
            ReportFigure(
                "media_fit",
                "Weekly new customers, actual and predicted",
                "New customers per week in the order log (black) and as the calibrated model predicts them "
                "with the actual spend (blue: the centre; band: the ensemble's 95% predictive interval, "
                "residual noise included) over the calibration weeks and the hold-out (shaded).",
                lambda f: media_fit_figure(weekly, ax=f.add_subplot()),
            )
        )
        measures = [m for m, _ in _predictive_checks(report, "fit") if f"{m}_actual" in weekly.columns]
        if measures:
            members = report["predictive"].get("members", "?")
            section.figures.append(
                ReportFigure(
                    "media_predictive",
                    f"Weekly {' and '.join(measures)}, actual and simulated",
                    f"Weekly {' and '.join(measures)} in the order log (black) and as {members} posterior "
                    "members simulated over the history with its spend predict them (blue: their median; "
                    "band: their 2.5-97.5% quantiles, parameter uncertainty and simulation noise) over the "
                    "calibration weeks and the hold-out (shaded). Repeat purchase and basket parameters "
                    "are the base scenario's, not calibrated: a miss here where new customers fit points "
                    "at them.",
                    lambda f: _predictive_figure(weekly, measures, f),
                    size=(9.0, 3.2 * len(measures)),
                )
            )
    by_channel: dict[str, list[tuple[str, str]]] = {}
    for test in tests:
        by_channel.setdefault(str(test.get("channel")), []).append(_lift_text(test))
    table = []
    for name, row in report["channels"].items():
        lifts = by_channel.get(name, [])
        table.append(
            [
                name,
                format_value(row.get("spend"), "money"),
                format_interval(row.get("roas"), row.get("roas_low"), row.get("roas_high"), "ratio"),
                "yes" if row.get("identified") else f"no: {NOT_IDENTIFIED}",
                "; ".join(m for m, _ in lifts) or "none",
                "; ".join(c for _, c in lifts) or "",
            ]
        )
    section.tables.append(
        ReportTable(
            [
                "channel",
                "spend",
                "incremental ROAS (95% interval)",
                "identified",
                "lift tests (effect ± SE)",
                "lift tests as ROAS (± SE)",
            ],
            table,
        )
    )
    notes = [str(row.get("note")) for row in report["channels"].values() if row.get("note")]
    section.paragraphs.append(
        "Not identified: " + "; ".join(notes) + ". Their ROAS intervals rest on the prior "
        "(the base scenario's setting, give or take 100%); a lift test of the channel narrows them."
        if notes
        else "Every channel's strength is identified by the data (the data at least halved its prior "
        "uncertainty)."
    )
    if tests:
        section.paragraphs.append(
            "Lift tests as ROAS: the measured change of new customers times the channel's incremental "
            "revenue per incremental new customer over the history (at the calibrated centre), divided by "
            "the test's spend change; 'model' is the test's effect in the calibrated model. A test counts "
            "the new customers of its own weeks only, not those its spend wins after it ends, so its ROAS "
            "tends to fall below the channel's over the whole history."
        )
    return section
