"""Figures of a simulation's results: daily revenue and spend, the funnel per channel, loyalty tiers.

Convention: every function returns the :class:`matplotlib.figure.Figure` it drew on and never
calls ``plt.show()``. Single-panel figures take an optional ``ax`` to draw into (a panel of a
larger figure); multi-panel figures take an optional ``fig`` (a figure or sub-figure) to fill.
Without them, a new figure is made with :class:`~matplotlib.figure.Figure` directly, outside
pyplot's global state, so nothing needs closing and figures can be made in worker threads or
processes. Save with ``fig.savefig(...)`` (PNG, SVG, PDF).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, NullFormatter

from ..common.figures import (
    FUNNEL_STAGES,
    channel_order,
    checked_table,
    grouped_bars,
    money_axis,
    single_axes,
    unit_suffix,
)

__all__ = [
    "TIER_MOVES",
    "funnel",
    "loyalty_tiers",
    "revenue_and_spend",
    "tier_columns",
]


def funnel(channels_daily: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """The funnel per channel: aware -> considering -> cart -> order -> repeat, over the horizon.

    Each stage is the channel's total in ``channels_daily.csv`` (log scale, since stages
    differ by orders of magnitude): **aware** = ``new_aware`` (people who first heard of the
    brand through the channel), **considering** = ``visits`` (visits the channel brought; each
    visit starts a consideration), **cart** = ``carts`` (carts placed at the channel),
    **order** = ``orders`` (all orders closed at the channel, first and repeat) and
    **repeat** = ``repeat_orders``. These are per-channel *events*, not one cohort of people
    followed through the same channel: a shopper may become aware through social, visit through
    search and order on the marketplace, so a channel's later stage can exceed its earlier one
    (CRM reaches only known shoppers, so it has orders but few new aware). The outputs hold no
    per-channel count of people in each stage (``customers.csv`` keeps only each shopper's
    ``aware_channel`` and ``acquisition_channel``).

    Parameters
    ----------
    channels_daily
        One row per (``day``, ``channel``) with ``new_aware``, ``visits``, ``carts``,
        ``orders`` and ``repeat_orders`` (people / events of the real market).
    ax
        Axes to draw into; a new figure when None.
    """
    columns = [column for _stage, column in FUNNEL_STAGES]
    data = checked_table(channels_daily, ("channel", *columns), "funnel")
    channels = channel_order(data["channel"])
    totals = (
        data.assign(channel=data["channel"].astype(str))
        .groupby("channel")[columns]
        .sum()
        .reindex(channels)
        .to_numpy(np.float64)
    )
    fig, ax = single_axes(ax, (9.0, 4.5))
    grouped_bars(
        ax,
        [stage for stage, _column in FUNNEL_STAGES],
        [(channel, list(counts), {}) for channel, counts in zip(channels, totals, strict=True)],
    )
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    money_axis(ax)
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_title("Funnel per channel over the horizon")
    ax.set_xlabel("funnel stage")
    ax.set_ylabel("people / events (log scale)")
    ax.legend(title="channel", fontsize=8)
    return fig


TIER_MOVES = ("tier_upgrades", "tier_downgrades")
"""Columns of ``levers_daily.csv`` that start with ``tier_`` but count daily moves between tiers."""


def tier_columns(columns: Iterable[object]) -> list[str]:
    """The ``tier_<name>`` member-count columns among ``columns``, in order (tier moves left out)."""
    return [str(c) for c in columns if str(c).startswith("tier_") and str(c) not in TIER_MOVES]


def loyalty_tiers(levers_daily: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """Loyalty members by tier over time, stacked.

    Parameters
    ----------
    levers_daily
        ``levers_daily.csv``: one row per ``day`` with a ``tier_<name>`` column per tier
        (members, people), lowest tier first. The daily tier moves ``tier_upgrades`` and
        ``tier_downgrades`` (see :data:`TIER_MOVES`) are not tiers and are left out.
    ax
        Axes to draw into; a new figure when None.
    """
    data = checked_table(levers_daily, ("day",), "loyalty_tiers")
    tiers = tier_columns(data.columns)
    if not tiers:
        raise ValueError("loyalty_tiers: no tier_<name> columns (is the loyalty program on?)")
    fig, ax = single_axes(ax)
    ax.stackplot(
        data["day"].to_numpy(),
        *[data[column].to_numpy(np.float64) for column in tiers],
        labels=[column.removeprefix("tier_") for column in tiers],
    )
    ax.set_title("Loyalty members by tier")
    ax.set_xlabel("day")
    ax.set_ylabel("members (people)")
    money_axis(ax)
    ax.legend(title="tier", loc="upper left")
    return fig


def revenue_and_spend(
    daily: pd.DataFrame, campaigns: pd.DataFrame | None = None, *, currency: str = "", ax: Axes | None = None
) -> Figure:
    """Daily revenue and marketing spend, with promotion campaigns shaded.

    Revenue is on the left axis and spend on the right one (spend is often a few percent of
    revenue).

    Parameters
    ----------
    daily
        ``daily.csv``: one row per ``day`` with ``revenue`` and ``spend`` (currency per day).
    campaigns
        Optional ``campaigns.csv``: ``campaign``, ``start_day``, ``end_day`` (inclusive).
    currency
        Currency code for the axis labels.
    ax
        Axes to draw revenue into (spend goes to a twin axis); a new figure when None.
    """
    data = checked_table(daily, ("day", "revenue", "spend"), "revenue_and_spend")
    fig, ax = single_axes(ax, (9.0, 4.5))
    (revenue_line,) = ax.plot(data["day"], data["revenue"], color="#1f77b4", label="revenue")
    spend_ax = ax.twinx()
    (spend_line,) = spend_ax.plot(data["day"], data["spend"], color="#ff7f0e", label="marketing spend")
    handles: list[Any] = [revenue_line, spend_line]
    if campaigns is not None and len(campaigns):
        table = checked_table(campaigns, ("campaign", "start_day", "end_day"), "revenue_and_spend: campaigns")
        starts = table["start_day"].to_numpy(np.float64)
        ends = table["end_day"].to_numpy(np.float64)
        for k, name in enumerate(table["campaign"].astype(str)):
            span = ax.axvspan(
                starts[k] - 0.5,
                ends[k] + 0.5,
                color="#2ca02c",
                alpha=0.15,
                label="campaign" if k == 0 else None,
            )
            if k == 0:
                handles.append(span)
            ax.annotate(
                name,
                (starts[k], 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(2, -12),
                textcoords="offset points",
                fontsize=8,
                color="#2ca02c",
            )
    ax.set_title("Daily revenue and marketing spend")
    ax.set_xlabel("day")
    ax.set_ylabel("revenue per day" + unit_suffix(currency))
    spend_ax.set_ylabel("marketing spend per day" + unit_suffix(currency))
    money_axis(ax)
    money_axis(spend_ax)
    ax.set_ylim(bottom=0)
    spend_ax.set_ylim(bottom=0)
    # Below the axes: inside, it covered the last days of both lines.
    ax.legend(
        handles=handles,
        labels=[h.get_label() for h in handles],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.14),
        ncols=len(handles),
        frameon=False,
    )
    return fig
