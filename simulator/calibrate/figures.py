"""Figures of a calibration: repeat purchases by week, histogram, conditional expectations, hold-out.

They take the tables ``run.py calibrate`` writes (``tracking_weekly.csv``,
``frequency_histogram.csv``, ``conditional_expectations.csv``, ``holdout_seeds.csv`` and the
``holdout`` block of ``calibration.json``; with ``--media``, ``media_holdout.csv``), so a saved
folder can be drawn without refitting.
Convention of :mod:`simulator.common.figures`: each returns the figure it drew on; single-panel
figures take an optional ``ax``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..common.figures import checked_table, grouped_bars, single_axes

__all__ = [
    "conditional_expectations_figure",
    "frequency_figure",
    "holdout_figure",
    "media_fit_figure",
    "tracking_figure",
]


def tracking_figure(weekly: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """Cumulative repeat purchases by week, actual and expected, the hold-out shaded.

    Parameters
    ----------
    weekly
        ``tracking_weekly.csv``: ``week``, ``period``, ``cumulative_actual``, ``cumulative_expected``.
    ax
        Axes to draw into; a new figure when None.
    """
    table = checked_table(
        weekly, ["week", "period", "cumulative_actual", "cumulative_expected"], "tracking_weekly.csv"
    )
    fig, ax = single_axes(ax)
    week = table["week"].to_numpy()
    ax.plot(week, table["cumulative_actual"], color="black", label="actual")
    ax.plot(week, table["cumulative_expected"], color="tab:blue", linestyle="--", label="model")
    holdout = week[table["period"].astype(str).to_numpy() == "holdout"]
    if holdout.size:
        ax.axvspan(holdout.min() - 0.5, holdout.max() + 0.5, color="0.9", label="hold-out")
    ax.set_xlabel("week")
    ax.set_ylabel("cumulative repeat purchases")
    ax.legend(frameon=False)
    return fig


def frequency_figure(histogram: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """Customers by repeat purchases in the calibration period, actual and expected.

    Parameters
    ----------
    histogram
        ``frequency_histogram.csv``: ``repeat_purchases``, ``actual``, ``expected``.
    ax
        Axes to draw into; a new figure when None.
    """
    table = checked_table(histogram, ["repeat_purchases", "actual", "expected"], "frequency_histogram.csv")
    fig, ax = single_axes(ax)
    grouped_bars(
        ax,
        [str(v) for v in table["repeat_purchases"]],
        [
            ("actual", table["actual"].tolist(), {"color": "0.3"}),
            ("model", table["expected"].tolist(), {"color": "tab:blue"}),
        ],
    )
    ax.set_xlabel("repeat purchases in the calibration period")
    ax.set_ylabel("customers")
    ax.legend(frameon=False)
    return fig


def conditional_expectations_figure(table: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """Mean hold-out purchases by calibration frequency, actual and expected.

    Parameters
    ----------
    table
        ``conditional_expectations.csv``: ``repeat_purchases``, ``actual``, ``expected``.
    ax
        Axes to draw into; a new figure when None.
    """
    frame = checked_table(table, ["repeat_purchases", "actual", "expected"], "conditional_expectations.csv")
    fig, ax = single_axes(ax)
    labels = [str(v) for v in frame["repeat_purchases"]]
    ax.plot(labels, frame["actual"], color="black", marker="o", label="actual")
    ax.plot(labels, frame["expected"], color="tab:blue", marker="s", linestyle="--", label="model")
    ax.set_xlabel("repeat purchases in the calibration period")
    ax.set_ylabel("mean purchases in the hold-out")
    ax.legend(frameon=False)
    return fig


def holdout_figure(
    holdout: Mapping[str, Any], runs: pd.DataFrame | None = None, *, ax: Axes | None = None
) -> Figure:
    """The hold-out's repeat orders and revenue: actual, the twin (seeds and 95% interval), closed form.

    Each quantity is shown relative to its actual value (1 = what happened).

    Parameters
    ----------
    holdout
        The ``holdout`` block of ``calibration.json``.
    runs
        ``holdout_seeds.csv`` (one row per seed), drawn as dots when given.
    ax
        Axes to draw into; a new figure when None.
    """
    fig, ax = single_axes(ax)
    names = [n for n in ("repeat_orders", "revenue") if isinstance(holdout.get(n), Mapping)]
    for position, name in enumerate(names):
        block = holdout[name]
        actual = float(block["actual"]) or 1.0
        predicted = block["predicted"]
        low, mean, high = (float(predicted[k]) / actual for k in ("low", "mean", "high"))
        ax.errorbar(
            position - 0.1,
            mean,
            yerr=[[mean - low], [high - mean]],
            fmt="o",
            color="tab:blue",
            capsize=5,
            label="twin (95% interval)" if position == 0 else None,
        )
        if runs is not None and name in runs.columns:
            spread = np.linspace(-0.05, 0.05, len(runs))
            ax.scatter(position - 0.25 + spread, runs[name] / actual, s=8, color="tab:blue", alpha=0.4)
        closed = float(block["predicted_closed_form"]) / actual
        ax.plot(
            position + 0.1, closed, "s", color="tab:orange", label="closed form" if position == 0 else None
        )
    ax.axhline(1.0, color="black", linewidth=1, label="actual")
    ax.set_xticks(range(len(names)), [n.replace("_", " ") for n in names])
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_ylabel("forecast / actual")
    ax.legend(frameon=False)
    return fig


def media_fit_figure(weekly: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """Weekly new customers, actual and predicted with the 95% predictive band, the hold-out shaded.

    Parameters
    ----------
    weekly
        ``media_holdout.csv`` of ``calibrate --media``: ``date``, ``actual``, ``predicted``, ``low``,
        ``high`` (new customers per week) and ``holdout`` (bool).
    ax
        Axes to draw into; a new figure when None.
    """
    table = checked_table(
        weekly, ["date", "actual", "predicted", "low", "high", "holdout"], "media_holdout.csv"
    )
    fig, ax = single_axes(ax)
    dates = pd.to_datetime(table["date"]).to_numpy()
    ax.fill_between(dates, table["low"], table["high"], color="tab:blue", alpha=0.2, label="95% interval")
    ax.plot(dates, table["predicted"], color="tab:blue", label="predicted")
    ax.plot(dates, table["actual"], color="black", marker=".", markersize=3, linewidth=0.8, label="actual")
    held = table["holdout"].astype(str).str.lower().isin(["true", "1"]).to_numpy()
    if held.any():
        week = np.timedelta64(7, "D")
        ax.axvspan(dates[held].min(), dates[held].max() + week, color="0.85", zorder=0, label="hold-out")
    ax.set_xlabel("week")
    ax.set_ylabel("new customers per week")
    ax.legend(frameon=False)
    return fig
