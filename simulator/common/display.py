"""HTML tables of results, for Jupyter (``_repr_html_``) and the reports.

Only formatting; every number is shown by the rules of :mod:`simulator.common.format` (shares
as percents, ratios with two decimals, money and counts with thousands separators, ``n/a`` for
missing). All text is HTML-escaped.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

import pandas as pd

from .format import format_interval, format_value, unit_of

__all__ = ["HEADLINE_KPIS", "format_kpi", "format_range", "html_table", "kpi_table_html", "range_column"]

HEADLINE_KPIS = (
    "revenue",
    "marketing_spend",
    "program_costs",
    "profit",
    "roi",
    "roas",
    "cac",
    "aov",
    "orders",
    "new_customers",
    "repurchase_rate",
    "customers_end",
    "active_end",
    "churned_end",
)
"""The KPIs shown first (in notebooks and reports), in this order."""


def format_kpi(name: str, value: object) -> str:
    """A value for display in the unit its name says (:func:`simulator.common.format.unit_of`).

    Shares and rates as percents, ratios (``roi``, ``roas``, ``marginal_roi``, ``*_roi``) with
    two decimals, money with thousands separators (two decimals below 1,000), counts as whole
    numbers; None and non-finite numbers as ``n/a``, anything else as text. The rules are those
    of :mod:`simulator.common.format`.

    Parameters
    ----------
    name
        The KPI or column name.
    value
        Its value.
    """
    return format_value(value, unit_of(name))


def format_range(name: str, mean: float, low: float, high: float, signed: bool = False) -> str:
    """``mean [low, high]`` in the unit of ``name`` (:func:`~simulator.common.format.format_interval`)."""
    return format_interval(mean, low, high, unit_of(name), signed)


def range_column(frame: pd.DataFrame, columns: tuple[str, str, str], signed: bool = False) -> list[str]:
    """``mean [low, high]`` per row of ``frame`` (one KPI per row, named by the index).

    Parameters
    ----------
    frame
        One row per KPI.
    columns
        The columns holding the mean, the low end and the high end of the interval.
    signed
        Show a ``+`` on positive values (for a change).
    """
    mean, low, high = columns
    return [
        format_range(str(name), float(row[mean]), float(row[low]), float(row[high]), signed)
        for name, row in frame.iterrows()
    ]


def html_table(
    frame: pd.DataFrame,
    *,
    caption: str = "",
    by_row: bool = False,
    index_name: str | None = None,
    readable_headers: bool = False,
    headers: Sequence[str] | None = None,
) -> str:
    """An HTML table of ``frame`` with every number formatted by :func:`format_kpi`.

    Parameters
    ----------
    frame
        The table; its index becomes the first column.
    caption
        Caption above the table (escaped).
    by_row
        Format by the row's index label (a table of KPIs, one per row) instead of by the
        column name.
    index_name
        Header of the index column; default the index's name.
    readable_headers
        Show column names with spaces for underscores (``current spend``); numbers are still
        formatted by the column's own name.
    headers
        Header text of each column (with units, say); numbers are still formatted by the
        column's own name.
    """
    header = [index_name if index_name is not None else str(frame.index.name or "")]
    if headers is not None:
        header += [str(text) for text in headers]
    else:
        header += [str(c).replace("_", " ") if readable_headers else str(c) for c in frame.columns]
    rows = []
    for label, values in zip(frame.index, frame.itertuples(index=False), strict=True):
        cells = [
            value if isinstance(value, str) else format_kpi(str(label if by_row else column), value)
            for column, value in zip(frame.columns, values, strict=True)
        ]
        rows.append([str(label), *cells])
    return _table(header, rows, caption)


def kpi_table_html(summary: dict[str, float], names: Sequence[str], caption: str = "") -> str:
    """A two-column table (KPI, value) of the ``names`` present in ``summary``."""
    shown = [name for name in names if name in summary]
    return _table(["KPI", "value"], [[name, format_kpi(name, summary[name])] for name in shown], caption)


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], caption: str) -> str:
    parts = ['<table class="dataframe" style="margin: 0 1.5em 1em 0">']
    if caption:
        parts.append(f'<caption style="text-align: left; font-weight: bold">{html.escape(caption)}</caption>')
    parts.append("<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead>")
    parts.append("<tbody>")
    for row in rows:
        first, *rest = row
        cells = "".join(f'<td style="text-align: right">{html.escape(cell)}</td>' for cell in rest)
        parts.append(f'<tr><th style="text-align: left">{html.escape(first)}</th>{cells}</tr>')
    parts.append("</tbody></table>")
    return "".join(parts)
