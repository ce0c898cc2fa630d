"""``report.xlsx``: one sheet per table, readable headers, numbers formatted by unit, frozen panes.

Every sheet is written from a table of numbers (never from the text of the HTML report), so a
reader can compute with it; Excel shows each number in its unit, as the rest of the report does
(:mod:`simulator.common.format`): money and counts with thousands separators, ratios with two
decimals, shares as percents. The header row and the row labels stay in view when scrolling.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from simulator.common.format import unit_of

__all__ = [
    "EXCEL_FORMATS",
    "ID_COLUMNS",
    "ROW_UNIT_INDEX",
    "excel_format",
    "readable_header",
    "write_workbook",
]

EXCEL_FORMATS = {
    "count": "#,##0",
    "money": "#,##0.00",
    "money_large": "#,##0",
    "ratio": "0.00",
    "percent": "0.0%",
    "days": "0",
    "probability": "0.000",
    "number": "#,##0.00",
    "number_large": "#,##0",
}
"""Excel number formats by unit (``*_large``: a column whose values reach 1,000)."""
ROW_UNIT_INDEX = ("kpi", "metric")
"""A table with one of these columns (or index) holds one measure per row: its generic columns
(``value``, ``mean``, ``low``, ``lift``...) get the row's unit."""
ID_COLUMNS = ("seed", "number", "trial", "cycle", "chosen_trial")
"""Whole numbers that are labels, not quantities: no thousands separator."""
ROW_MEASURED = frozenset(
    {"value", "lift", "control_mean", "treatment_mean", "current", "recommended", "change"}
)
"""Columns in the unit of the row's measure (in a table with a ``kpi`` or ``metric`` column),
besides those whose name says no unit (``mean``, ``low``, ``high``, ``se``, ``diff``...)."""
COLUMN_UNITS = {"sample_size_per_arm": "count"}
"""Units of columns whose name misleads :func:`simulator.common.format.unit_of`."""
MAX_WIDTH = 48
"""Widest column (characters)."""


def readable_header(name: object) -> str:
    """A column name for people: ``current_spend`` -> ``current spend`` (tuples joined by spaces)."""
    if isinstance(name, tuple):
        return " ".join(readable_header(part) for part in name if str(part))
    return str(name).replace("_", " ")


def excel_format(name: str, value: object) -> str | None:
    """The Excel number format of a number ``value`` of the measure ``name``; None for text.

    Money and plain numbers of 1,000 and more are shown whole, smaller ones with two decimals; a
    count that is not whole (a mean per shopper) as a number.
    """
    if not isinstance(value, int | float | np.integer | np.floating) or isinstance(value, bool | np.bool_):
        return None
    if name in ID_COLUMNS:
        return "0"
    unit = COLUMN_UNITS.get(name) or unit_of(name)
    number = float(value)
    if not np.isfinite(number):
        return None
    if unit == "count" and number != round(number):
        unit = "number"  # a count per shopper or per customer: a mean, with decimals
    if unit in ("money", "number") and abs(number) >= 1000:
        return EXCEL_FORMATS[f"{unit}_large"]
    return EXCEL_FORMATS[unit]


def _row_measured(column: str) -> bool:
    """Whether a column of a table of measures (one per row) is in the unit of the row's measure."""
    return column in ROW_MEASURED or (unit_of(column) == "number" and column not in COLUMN_UNITS)


def write_workbook(path: Path, sheets: Mapping[str, pd.DataFrame]) -> None:
    """Write ``sheets`` (name -> table) to an Excel workbook at ``path``.

    A table's index is written as its first column(s) unless it is a plain row number; headers
    are readable (:func:`readable_header`), numbers formatted by the unit their column's name
    says - or, in a table with a ``kpi`` or ``metric`` column, the generic columns (``value``,
    ``mean``, ``low``...) by the unit of the row's measure - the header row and the label
    columns frozen, and column widths fitted to their text.
    """
    with pd.ExcelWriter(path, engine="openpyxl") as book:
        for name, table in sheets.items():
            _write_sheet(book, name[:31], table)


def _write_sheet(book: pd.ExcelWriter, name: str, table: pd.DataFrame) -> None:
    keep_index = not isinstance(table.index, pd.RangeIndex) or table.index.name is not None
    frame = table.reset_index() if keep_index else table.reset_index(drop=True)
    labels = table.index.nlevels if keep_index else 0
    original = [str(c) for c in frame.columns]
    row_label = next(
        (c for c in original if c in ROW_UNIT_INDEX and not pd.api.types.is_numeric_dtype(frame[c])), None
    )
    frame.columns = pd.Index([readable_header(c) for c in frame.columns])
    frame.to_excel(book, sheet_name=name, index=False)
    sheet = book.sheets[name]
    sheet.freeze_panes = sheet.cell(row=2, column=labels + 1 if labels else 1)
    by_row = []
    for position, column in enumerate(original, start=1):
        cells = sheet[get_column_letter(position)]
        header = cells[0]
        header.font = Font(bold=True)
        header.alignment = Alignment(wrap_text=True, vertical="top")
        if row_label is not None and column not in ID_COLUMNS and _row_measured(column):
            by_row.append(position)  # formatted by each row's measure below
        else:
            for cell in cells[1:]:
                number_format = excel_format(column, cell.value)
                if number_format is not None:
                    cell.number_format = number_format
        width = max(len(str(header.value)), *(len(_shown(c.value)) for c in cells[1:]), 6)
        sheet.column_dimensions[get_column_letter(position)].width = min(MAX_WIDTH, width + 2)
    if row_label is None or not by_row:
        return
    for row, measure in enumerate(frame.iloc[:, original.index(row_label)], start=2):
        for position in by_row:
            cell = sheet.cell(row=row, column=position)
            number_format = excel_format(str(measure), cell.value)
            if number_format is not None:
                cell.number_format = number_format


def _shown(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    return "" if value is None else str(value)
