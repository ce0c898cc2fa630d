"""The report's calibration section, from the files ``run.py calibrate --out`` writes.

Read (``calibration.json`` is required, the rest optional): ``calibration.json`` (the data, the
chosen model, the twin and the hold-out check), ``parameters.csv``, ``tracking_weekly.csv``,
``frequency_histogram.csv``, ``conditional_expectations.csv`` and ``holdout_seeds.csv``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from simulator.calibrate.figures import (
    conditional_expectations_figure,
    frequency_figure,
    holdout_figure,
    tracking_figure,
)
from simulator.common.format import format_interval, format_number, format_value, unit_of

from .parts import ReportFigure, ReportTable, Section
from .report import ReportError, _read_csv, _read_json

__all__ = ["CALIBRATION_FIGURES", "calibration_headline", "calibration_section", "calibration_sheets"]

CALIBRATION_FIGURES = (
    "calibration_holdout",
    "calibration_tracking",
    "calibration_histogram",
    "calibration_conditional",
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
    weekly = _read(folder, "tracking_weekly.csv")
    if weekly is not None:
        section.figures.append(
            ReportFigure(
                "calibration_tracking",
                "Repeat purchases by week",
                "Cumulative repeat purchases of the calibration customers, actual and expected by the model; "
                "the hold-out shaded.",
                lambda f: tracking_figure(weekly, ax=f.add_subplot()),
            )
        )
    histogram = _read(folder, "frequency_histogram.csv")
    if histogram is not None:
        section.figures.append(
            ReportFigure(
                "calibration_histogram",
                "Repeat purchases per customer",
                "Customers by number of repeat purchases in the calibration period, actual and model.",
                lambda f: frequency_figure(histogram, ax=f.add_subplot()),
            )
        )
    conditional = _read(folder, "conditional_expectations.csv")
    if conditional is not None:
        section.figures.append(
            ReportFigure(
                "calibration_conditional",
                "Conditional expectations",
                "Mean purchases in the hold-out by repeat purchases in the calibration period, actual and "
                "model.",
                lambda f: conditional_expectations_figure(conditional, ax=f.add_subplot()),
            )
        )
    return section


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
