"""Figures of measurements: cohort retention heat map, attribution models against the truth.

Convention: every function returns the :class:`matplotlib.figure.Figure` it drew on and never
calls ``plt.show()``. Single-panel figures take an optional ``ax`` to draw into (a panel of a
larger figure); multi-panel figures take an optional ``fig`` (a figure or sub-figure) to fill.
Without them, a new figure is made with :class:`~matplotlib.figure.Figure` directly, outside
pyplot's global state, so nothing needs closing and figures can be made in worker threads or
processes. Save with ``fig.savefig(...)`` (PNG, SVG, PDF).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from ..common.figures import (
    channel_order,
    checked_table,
    grouped_bars,
    single_axes,
)

__all__ = [
    "attribution_vs_truth",
    "retention_heatmap",
]


def retention_heatmap(matrix: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """Cohort retention: share of each acquisition month's customers buying k months later.

    Parameters
    ----------
    matrix
        :func:`simulator.measure.clv.retention_matrix` (``retention_matrix.csv``): index
        ``acquisition_month`` (or a column of that name), columns ``0, 1, ...`` (months later),
        shares 0-1; empty (NaN) where a month is not wholly observed.
    ax
        Axes to draw into; a new figure when None.
    """
    if "acquisition_month" in matrix.columns:
        matrix = matrix.set_index("acquisition_month")
    shares = matrix.to_numpy(np.float64)
    fig, ax = single_axes(ax, (7.0, 5.0))
    image = ax.imshow(np.ma.masked_invalid(shares), cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    for (row, column), share in np.ndenumerate(shares):
        if np.isfinite(share):
            ax.text(
                column,
                row,
                f"{share:.0%}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if share > 0.6 else "black",
            )
    ax.set_xticks(np.arange(shares.shape[1]), [str(c) for c in matrix.columns])
    ax.set_yticks(np.arange(shares.shape[0]), [str(i) for i in matrix.index])
    ax.set_title("Retention by acquisition cohort")
    ax.set_xlabel("months after first purchase")
    ax.set_ylabel("acquisition month")
    fig.colorbar(image, ax=ax, label="share buying again", format=PercentFormatter(1.0))
    return fig


def attribution_vs_truth(
    attribution: pd.DataFrame, basis: str = "conversions", *, ax: Axes | None = None
) -> Figure:
    """Each attribution model's share of credit per channel next to the true incremental share.

    The truth is drawn first, with its 95% interval (1.96 standard errors over seeds) when
    known; each model's legend entry gives its mean absolute error of shares.

    Parameters
    ----------
    attribution
        ``attribution.csv`` (:meth:`simulator.AttributionReport.tidy`): ``basis``, ``channel``,
        ``source`` (``truth`` or a model), ``share`` (0-1), ``share_se``, and rows with channel
        ``mean_abs_error`` holding each model's mean absolute error in ``error``.
    basis
        ``conversions`` (new customers) or ``revenue`` (first-order revenue).
    ax
        Axes to draw into; a new figure when None.
    """
    data = checked_table(attribution, ("basis", "channel", "source", "share"), "attribution_vs_truth")
    data = data[data["basis"] == basis]
    if data.empty:
        raise ValueError(f"attribution_vs_truth: no rows with basis {basis!r}")
    errors = data[data["channel"] == "mean_abs_error"].set_index("source")
    shares = data[data["channel"] != "mean_abs_error"]
    channels = channel_order(shares["channel"])
    sources = channel_order(shares["source"])
    table = shares.pivot(index="channel", columns="source", values="share").loc[channels]
    series: list[tuple[str, Sequence[float], dict[str, Any]]] = []
    for source in sources:
        if source == "truth":
            style: dict[str, Any] = {"color": "black"}
            if "share_se" in shares.columns:
                se = shares[shares["source"] == "truth"].set_index("channel").loc[channels, "share_se"]
                style["yerr"] = 1.96 * se.to_numpy(np.float64)
                style["capsize"] = 3
                style["ecolor"] = "#d62728"
            series.append(("true incremental", table[source].tolist(), style))
        else:
            label = source
            if "error" in errors.columns and source in errors.index:
                label = f"{source} (MAE {errors['error'].astype(float)[source]:.3f})"
            series.append((label, table[source].tolist(), {}))
    fig, ax = single_axes(ax, (10.0, 4.8))
    grouped_bars(ax, channels, series)
    unit = "new customers" if basis == "conversions" else basis
    ax.set_title(f"Attribution models against the true incremental contribution ({unit})")
    ax.set_xlabel("channel")
    ax.set_ylabel(f"share of credit ({unit})")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.legend(fontsize=7, ncols=2)
    return fig
