"""Drawing helpers shared by the figures of every layer: sizes, panels, money axes, labels.

The figures themselves live beside what they draw (pymc-marketing keeps a ``plotting`` module in
each of its ``clv`` and ``mmm`` packages): simulation results in :mod:`simulator.engine.figures`,
measurements in :mod:`simulator.measure.figures`, recommendations in :mod:`optimizer.figures`;
:mod:`reports.figures` gathers them all. They take plain tables (the columns of the files the
commands write), so a saved output folder can be plotted without any simulator object.

Convention: every function returns the :class:`matplotlib.figure.Figure` it drew on and never
calls ``plt.show()``. Single-panel figures take an optional ``ax`` to draw into (a panel of a
larger figure); multi-panel figures take an optional ``fig`` (a figure or sub-figure) to fill.
Without them, a new figure is made with :class:`~matplotlib.figure.Figure` directly, outside
pyplot's global state, so nothing needs closing and figures can be made in worker threads or
processes. Save with ``fig.savefig(...)`` (PNG, SVG, PDF).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.container import BarContainer
from matplotlib.figure import Figure, FigureBase
from matplotlib.ticker import Formatter

from .format import short_amount as format_amount
from .measures import break_even_text

__all__ = [
    "AmountFormatter",
    "COUNT_METRICS",
    "FUNNEL_STAGES",
    "METRIC_LABELS",
    "METRIC_SHORT",
    "PLAN_COLORS",
    "RATIO_METRICS",
    "SINGLE_SIZE",
    "channel_order",
    "checked_table",
    "format_amount",
    "grouped_bars",
    "metric_axis",
    "money_axis",
    "panels",
    "root_figure",
    "single_axes",
    "unit_suffix",
]

FUNNEL_STAGES: tuple[tuple[str, str], ...] = (
    ("aware", "new_aware"),
    ("considering", "visits"),
    ("cart", "carts"),
    ("order", "orders"),
    ("repeat", "repeat_orders"),
)
"""Funnel stages and the ``channels_daily.csv`` column counting each one per channel."""

PLAN_COLORS = {"current": "#8c8c8c", "recommended": "#1f77b4"}
METRIC_LABELS = {
    "profit": "profit",
    "roi": "ROI (profit / marketing spend)",
    "roas": "ROAS (revenue / marketing spend)",
    "revenue": "revenue",
    "marketing_spend": "marketing spend",
    "new_customers": "new customers",
    "acquired_customer_value": "margin from customers won",
    "program_costs": "program costs",
}
"""Readable titles of outcome metrics; other metric names are shown with spaces for underscores
(the optimizer adds its objectives' labels, :data:`optimizer.figures.OUTCOME_LABELS`)."""
METRIC_SHORT = {"roi": "ROI", "roas": "ROAS", "acquired_customer_value": "margin"}
"""Axis names of metrics whose title is too long for an axis."""
RATIO_METRICS = frozenset({"roi", "roas"})
COUNT_METRICS = frozenset({"orders", "new_customers", "customers_end", "active_end", "churned_end"})
"""Metrics counted in people or orders rather than currency."""


def metric_axis(metric: str, currency: str) -> str:
    """Axis label of a metric with its unit: ``profit (CNY)``, ``ROI (ratio, break-even 0)``, ``orders``."""
    name = METRIC_SHORT.get(metric, metric.replace("_", " "))
    if metric in RATIO_METRICS:
        return f"{name} (ratio, {break_even_text(metric)})"
    if metric in COUNT_METRICS:
        return f"{name} (people)" if metric != "orders" else f"{name} (orders)"
    return name + unit_suffix(currency)


SINGLE_SIZE = (8.0, 4.5)


class AmountFormatter(Formatter):
    """Ticks as short amounts (:func:`format_amount`), with more decimals where two would read the same.

    ``2.5M, 2.55M, 2.6M`` rather than ``2.5M, 2.5M, 2.6M`` on a narrow axis.
    """

    def __call__(self, x: float, pos: int | None = None) -> str:
        """One tick's label."""
        return format_amount(float(x))

    def format_ticks(self, values: Sequence[float]) -> list[str]:
        """The labels of all ticks at once, precise enough to tell neighbours apart."""
        labels = [format_amount(float(v)) for v in values]
        if len(set(labels)) == len(labels) or len(values) < 2:
            return labels
        step = float(np.min(np.abs(np.diff(np.asarray(values, dtype=np.float64)))))
        size = float(np.max(np.abs(np.asarray(values, dtype=np.float64))))
        threshold, suffix = next(
            ((t, s) for t, s in ((1e9, "bn"), (1e6, "M"), (1e3, "k")) if size >= t), (1.0, "")
        )
        decimals = max(0, int(np.ceil(-np.log10(step / threshold)))) if step > 0 else 0
        return [f"{v / threshold:,.{decimals}f}{suffix}" for v in values]


def money_axis(ax: Axes, axis: str = "y") -> None:
    """Label an axis's ticks as short amounts (:class:`AmountFormatter`): ``1.2M``, ``120k``."""
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(AmountFormatter())


def unit_suffix(currency: str) -> str:
    """`` (CNY)`` after an axis name; `` (currency)`` when the currency is not known."""
    return f" ({currency})" if currency else " (currency)"


def single_axes(ax: Axes | None, figsize: tuple[float, float] = SINGLE_SIZE) -> tuple[Figure, Axes]:
    """The axes to draw into and its root figure; a new figure when ``ax`` is None."""
    if ax is None:
        fig = Figure(figsize=figsize, layout="constrained")
        return fig, fig.add_subplot()
    root = ax.get_figure(root=True)
    if not isinstance(root, Figure):
        raise ValueError("ax must belong to a figure")
    return root, ax


def root_figure(fig: FigureBase) -> Figure:
    """The top-level figure of a figure or sub-figure."""
    root = fig.get_figure(root=True) if not isinstance(fig, Figure) else fig
    if not isinstance(root, Figure):
        raise ValueError("fig must belong to a figure")
    return root


def panels(
    fig: FigureBase | None, count: int, panel_size: tuple[float, float]
) -> tuple[FigureBase, list[Axes]]:
    """``count`` panels in rows of up to three."""
    columns = min(count, 3)
    rows = math.ceil(count / columns)
    if fig is None:
        fig = Figure(figsize=(panel_size[0] * columns, panel_size[1] * rows), layout="constrained")
    grid = fig.subplots(rows, columns, squeeze=False)
    axes: list[Axes] = list(grid.ravel())
    for extra in axes[count:]:
        extra.set_visible(False)
    return fig, axes[:count]


def checked_table(frame: pd.DataFrame, required: Iterable[str], what: str) -> pd.DataFrame:
    """``frame`` with its named index levels as columns, checked for the required columns."""
    if any(name is not None for name in frame.index.names):
        frame = frame.reset_index()
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise ValueError(
            f"{what}: missing column(s) {', '.join(missing)}; has {', '.join(map(str, frame.columns))}"
        )
    return frame


def channel_order(values: pd.Series) -> list[str]:
    """Channels in order of appearance (or category order), as strings."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.astype(str))
        return [str(c) for c in values.cat.categories if str(c) in present]
    return [str(c) for c in pd.unique(values.astype(str))]


def grouped_bars(
    ax: Axes,
    groups: Sequence[str],
    series: Sequence[tuple[str, Sequence[float], dict[str, Any]]],
) -> list[BarContainer]:
    """Bars of several series side by side in each group (one group per x tick)."""
    positions = np.arange(len(groups), dtype=np.float64)
    width = 0.8 / max(len(series), 1)
    bars = []
    for k, (label, heights, style) in enumerate(series):
        offset = (k - (len(series) - 1) / 2) * width
        bars.append(
            ax.bar(positions + offset, np.asarray(heights, dtype=np.float64), width, label=label, **style)
        )
    ax.set_xticks(positions, list(groups))
    return bars
