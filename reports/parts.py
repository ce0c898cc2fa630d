"""The parts a report is made of: sections holding paragraphs, tables, figures and sheets.

:mod:`reports.report` lays them out as HTML, Markdown, the one-page ``summary.png`` and the
Excel workbook; each kind of result contributes its sections (:mod:`reports.measurements` for
the measurement commands).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
from matplotlib.figure import FigureBase

__all__ = ["ReportFigure", "ReportTable", "Section"]


@dataclass
class ReportFigure:
    """A figure of the report, drawn into a (sub-)figure when the report is rendered."""

    key: str
    title: str
    caption: str
    draw: Callable[[FigureBase], object]
    size: tuple[float, float] = (9.0, 4.8)
    png: bytes = b""
    summary_draw: Callable[[FigureBase], object] | None = None
    """A more compact drawing for a quarter of the one-page summary (default: ``draw``)."""


@dataclass
class ReportTable:
    """A table of text cells (numbers already formatted by :mod:`simulator.common.format`)."""

    headers: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    """A section of the report: its title, paragraphs, tables, figures and Excel sheets.

    ``sheets`` are the section's tables with their numbers (sheet name -> table; the index is
    written as the first columns), formatted by unit in ``report.xlsx``; ``key_figures`` are
    (label, value) pairs for the one-page summary.
    """

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[ReportTable] = field(default_factory=list)
    figures: list[ReportFigure] = field(default_factory=list)
    code: str = ""
    sheets: dict[str, pd.DataFrame] = field(default_factory=dict)
    key_figures: list[tuple[str, str]] = field(default_factory=list)
