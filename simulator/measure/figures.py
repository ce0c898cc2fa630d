"""Figures of measurements: retention, lifetime value, incrementality, attribution, A/B tests, replications.

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
import numpy.typing as npt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure, FigureBase
from matplotlib.ticker import PercentFormatter

from ..common.figures import (
    channel_order,
    checked_table,
    grouped_bars,
    money_axis,
    panels,
    root_figure,
    single_axes,
    unit_suffix,
)
from ..common.format import readable_name, unit_of
from ..common.measures import measure_header

__all__ = [
    "ab_lift",
    "attribution_vs_truth",
    "clv_by_group",
    "incrementality_bars",
    "paired_differences",
    "repurchase_curve",
    "retention_heatmap",
]

ESTIMATE_COLOR = "#1f77b4"
"""Colour of an estimate with its interval; the zero line is grey."""


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
            label = source.replace("_", " ")
            if "error" in errors.columns and source in errors.index:
                mae = 100 * float(errors["error"].astype(float)[source])
                label = f"{label} (off by {mae:.1f} pts)"
            series.append((label, table[source].tolist(), {}))
    fig, ax = single_axes(ax, (10.0, 4.8))
    grouped_bars(ax, channels, series)
    unit = "new customers" if basis == "conversions" else basis
    ax.set_title(f"Attribution models against the true incremental contribution ({unit})")
    ax.set_xlabel("channel")
    ax.set_ylabel(f"share of credit ({unit})")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    # Below the axes: inside, the legend hides the tallest bars.
    ax.legend(fontsize=8, ncols=4, loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
    return fig


def _interval_rows(
    ax: Axes, labels: Sequence[str], means: npt.ArrayLike, lows: npt.ArrayLike, highs: npt.ArrayLike
) -> None:
    """One row per label: the estimate as a dot and its interval as a line, with the zero line."""
    y = np.arange(len(labels), dtype=np.float64)[::-1]
    mean = np.asarray(means, dtype=np.float64)
    low, high = np.asarray(lows, dtype=np.float64), np.asarray(highs, dtype=np.float64)
    known = np.isfinite(low) & np.isfinite(high)
    ax.axvline(0.0, color="#8c8c8c", linewidth=1)
    ax.hlines(y[known], low[known], high[known], color=ESTIMATE_COLOR, linewidth=2.5)
    ax.plot(mean, y, "o", color=ESTIMATE_COLOR, markersize=6)
    ax.set_yticks(y, list(labels))
    ax.set_ylim(-0.7, len(labels) - 0.3)
    ax.grid(axis="x", alpha=0.3)


def incrementality_bars(
    table: pd.DataFrame,
    metrics: Sequence[str] = ("roi", "marginal_roi", "incremental_profit"),
    *,
    currency: str = "",
    fig: FigureBase | None = None,
) -> Figure:
    """True incrementality per channel: each measure's mean with its 95% interval, one panel each.

    Parameters
    ----------
    table
        ``incrementality.csv`` (:func:`simulator.measure.incrementality.incrementality`): a
        ``channel`` column (or index) and, per measure, the mean with ``_ci_low`` / ``_ci_high``.
    metrics
        Measures to draw: ``roi`` and ``marginal_roi`` (ratios, break-even 0), ``roas``,
        ``incremental_profit`` (currency), ``incremental_customers`` (people)...
    currency
        Currency code for the money axes.
    fig
        Figure or sub-figure to fill; a new figure when None.
    """
    data = table.reset_index() if "channel" not in table.columns else table
    shown = [m for m in metrics if {m, f"{m}_ci_low", f"{m}_ci_high"} <= set(data.columns)]
    if not shown:
        raise ValueError(f"incrementality_bars: the table has none of {', '.join(metrics)} with intervals")
    channels = data["channel"].astype(str).tolist()
    fig, axes = panels(fig, len(shown), (4.2, 0.5 * len(channels) + 1.6))
    for ax, metric in zip(axes, shown, strict=True):
        _interval_rows(ax, channels, data[metric], data[f"{metric}_ci_low"], data[f"{metric}_ci_high"])
        unit = unit_of(metric)
        if unit == "money":
            money_axis(ax, "x")
            ax.set_xlabel(metric.replace("_", " ") + unit_suffix(currency))
        elif unit == "count":
            ax.set_xlabel(metric.replace("_", " ") + " (people)")
        else:
            ax.set_xlabel(measure_header(metric))
        ax.set_title(readable_name(metric))
    root = root_figure(fig)
    return root


def ab_lift(pooled: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """A/B test: the relative lift of each outcome (treatment vs control) with its 95% interval.

    Parameters
    ----------
    pooled
        The pooled rows of ``abtest.csv`` (seed ``all``, or the only seed's): a ``metric``
        column (or index), ``control_mean``, ``lift``, ``ci_low``, ``ci_high``. The interval
        of the lift is drawn relative to the control mean (``ci / |control_mean|``).
    ax
        Axes to draw into; a new figure when None.
    """
    data = pooled.reset_index() if "metric" not in pooled.columns else pooled
    data = checked_table(data, ("metric", "control_mean", "lift", "ci_low", "ci_high"), "ab_lift")
    base = data["control_mean"].abs().to_numpy(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        relative = [data[c].to_numpy(np.float64) / base for c in ("lift", "ci_low", "ci_high")]
    labels = [str(m).replace("_", " ") for m in data["metric"]]
    fig, ax = single_axes(ax, (7.0, 0.55 * len(labels) + 1.8))
    _interval_rows(ax, labels, *relative)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel("treatment vs control (relative lift, 95% interval)")
    ax.set_title("A/B test: lift per shopper")
    return fig


def paired_differences(summary: pd.DataFrame, *, currency: str = "", fig: FigureBase | None = None) -> Figure:
    """Replications: each variant's paired difference from the baseline per KPI, with its interval.

    Parameters
    ----------
    summary
        ``summary.csv`` of ``replicate`` (:meth:`simulator.ReplicationResult.summary`):
        ``variant``, ``metric``, ``diff``, ``diff_ci_low``, ``diff_ci_high`` (empty for the baseline).
    currency
        Currency code for the money axes.
    fig
        Figure or sub-figure to fill; a new figure when None.
    """
    data = summary.reset_index() if "variant" not in summary.columns else summary
    data = checked_table(
        data, ("variant", "metric", "diff", "diff_ci_low", "diff_ci_high"), "paired_differences"
    )
    data = data[np.isfinite(data["diff"].to_numpy(np.float64))]
    if data.empty:
        raise ValueError("paired_differences: no variant besides the baseline")
    metrics = list(dict.fromkeys(data["metric"].astype(str)))
    variants = list(dict.fromkeys(data["variant"].astype(str)))
    fig, axes = panels(fig, len(metrics), (3.6, 0.5 * len(variants) + 1.8))
    for ax, metric in zip(axes, metrics, strict=True):
        rows = data[data["metric"].astype(str) == metric].set_index("variant").reindex(variants)
        _interval_rows(ax, variants, rows["diff"], rows["diff_ci_low"], rows["diff_ci_high"])
        unit = unit_of(metric)
        if unit == "money":
            money_axis(ax, "x")
        elif unit == "percent":
            ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
        ax.set_title(readable_name(metric) + (unit_suffix(currency) if unit == "money" else ""))
        ax.set_xlabel("variant - base, paired (95% interval)")
    return root_figure(fig)


def clv_by_group(
    groups: pd.DataFrame,
    dimension: str = "acquisition_channel",
    *,
    currency: str = "",
    label: str = "true",
    ax: Axes | None = None,
) -> Figure:
    """Lifetime value per customer of each group: realized, remaining (truth) and the BG/NBD estimate.

    Parameters
    ----------
    groups
        ``clv_cohorts.csv`` (:attr:`simulator.measure.clv.CLVReport.groups`): ``dimension``,
        ``group``, ``realized_margin``, ``remaining_value_true``, ``clv_bgnbd`` (currency per
        customer).
    dimension
        ``acquisition_channel``, ``persona`` or ``acquisition_month``.
    currency
        Currency code for the axis.
    label
        Suffix of the first estimate's columns: ``true`` (the simulator's truth) or ``twin``
        (a customer-base twin's simulation, ``remaining_value_twin``).
    ax
        Axes to draw into; a new figure when None.
    """
    data = groups.reset_index() if "dimension" not in groups.columns else groups
    remaining_column = f"remaining_value_{label}"
    needed = ("dimension", "group", "realized_margin", remaining_column, "clv_bgnbd")
    data = checked_table(data, needed, "clv_by_group")
    rows = data[data["dimension"] == dimension]
    if rows.empty:
        raise ValueError(f"clv_by_group: no rows of dimension {dimension!r}")
    labels = rows["group"].astype(str).tolist()
    fig, ax = single_axes(ax, (max(6.0, 1.1 * len(labels) + 2), 4.5))
    positions = np.arange(len(labels), dtype=np.float64)
    realized = rows["realized_margin"].to_numpy(np.float64)
    remaining = np.nan_to_num(rows[remaining_column].to_numpy(np.float64))
    first = "truth" if label == "true" else label
    ax.bar(positions - 0.2, realized, 0.4, label="realized margin", color="#8c8c8c")
    ax.bar(
        positions - 0.2,
        remaining,
        0.4,
        bottom=realized,
        label=f"expected remaining ({first})",
        color=ESTIMATE_COLOR,
    )
    ax.bar(
        positions + 0.2,
        rows["clv_bgnbd"].to_numpy(np.float64),
        0.4,
        label="CLV, BG/NBD estimate",
        color="#ff7f0e",
    )
    ax.set_xticks(positions, labels)
    ax.set_ylabel("per customer" + unit_suffix(currency))
    ax.set_xlabel(dimension.replace("_", " "))
    money_axis(ax)
    ax.set_title(f"Customer lifetime value: the {first} next to what BG/NBD estimates")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def repurchase_curve(curve: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """Share of new customers with a second purchase within ``d`` days (Kaplan-Meier).

    Parameters
    ----------
    curve
        ``repurchase_curve.csv`` (:func:`simulator.measure.clv.repurchase_curve`): a
        ``days_since_first`` column (or index), ``repurchased_share`` (0-1) and optionally
        ``repurchased_share_complete``.
    ax
        Axes to draw into; a new figure when None.
    """
    data = curve.reset_index() if "days_since_first" not in curve.columns else curve
    data = checked_table(data, ("days_since_first", "repurchased_share"), "repurchase_curve")
    fig, ax = single_axes(ax, (7.0, 4.2))
    days = data["days_since_first"].to_numpy(np.float64)
    ax.plot(days, data["repurchased_share"], color=ESTIMATE_COLOR, label="Kaplan-Meier (all customers)")
    if "repurchased_share_complete" in data.columns:
        ax.plot(
            days,
            data["repurchased_share_complete"],
            color="#8c8c8c",
            linestyle="--",
            label="only customers observed that long",
        )
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylim(0, None)
    ax.set_xlabel("days since the first purchase")
    ax.set_ylabel("share with a second purchase")
    ax.set_title("Second purchase within d days")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    return fig
