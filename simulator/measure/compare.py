"""A simulation next to a real history: simulated vs actual per channel and month, with the gap.

``run.py simulate SCENARIO --compare-to HISTORY`` (README "Bring your own data"). The history is a
media history (:mod:`simulator.data.media`: date, channel, spend and optionally impressions,
clicks, visits, orders, new customers and revenue; daily or weekly), the format ``simulate --out``
writes as ``media.csv``; an order log (:mod:`simulator.data.orders`) may add the totals of new
customers, orders and revenue over all channels.

**Dates.** Simulated day ``d`` is ``start_date + d``. The comparison covers the history's periods
(days, or weeks from the history's first date) that lie wholly inside the simulated horizon;
the simulated days are summed into the same periods, and each period counts in the calendar
month it starts in (a week that straddles two months counts in the first). Periods outside the
horizon are left out, and the text says how many.

**Measures.** Every measure the history has: ``spend`` always, and ``impressions``, ``visits``,
``orders``, ``new_customers`` and ``revenue`` where present (``clicks`` has no simulated
counterpart: the simulation counts visits). Per channel, a channel's outcomes are those booked to
it as the last touch (``channels_daily.csv``), which is what a channel's own reporting usually
attributes to it. From an order log: ``orders`` (rows), ``revenue`` (their sum) and
``new_customers`` (customers whose first order in the log falls in the month), over all channels,
each multiplied by ``log_scale``; the simulated side is counted the same way on the simulated
orders (a customer's first simulated order is new), times ``population.scale``. The order log's
figures are per calendar month of each order's day (over the same first and last day), also for
weekly media data.

**Gap** = simulated - actual (in the measure's unit) and ``gap_pct`` = gap / actual x 100 (missing
when the actual is 0). The **largest gaps** are the channel-month cells whose gap is the largest
share of the measure's actual total over all cells (one cell per channel and measure), so that a
large percent of a tiny cell does not hide a large miss; each is shown as its percent of the cell.

Spend is compared too: when the scenario's plan differs from the history's spend, the outcome
gaps mix the plan's difference with the world's, and the text says so (``calibrate --media``
fits the channels to the history with the history's own spend).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..common.format import format_value, unit_of
from ..common.output import write_files
from ..config.scenario import Scenario
from ..data import MediaError, MediaHistory, OrderLog, OrderLogError
from ..engine.results import SimulationResult, media_table

__all__ = [
    "ALL_CHANNELS",
    "ALL_MONTHS",
    "COMPARED_MEASURES",
    "COMPARISON_COLUMNS",
    "COMPARISON_FILES",
    "ORDER_LOG_CHANNEL",
    "HistoryComparison",
    "check_history",
    "compare_to_history",
    "comparison_cells",
    "gaps_sentence",
    "largest_gaps",
    "spend_differs",
]

COMPARISON_FILES = ("comparison.csv",)
"""What :meth:`HistoryComparison.save` writes."""
COMPARED_MEASURES = ("spend", "impressions", "visits", "orders", "new_customers", "revenue")
"""Measures of a media history that the simulation also has, in the order shown."""
ORDER_LOG_MEASURES = ("new_customers", "orders", "revenue")
COMPARISON_COLUMNS = ("channel", "month", "measure", "simulated", "actual", "gap", "gap_pct")
"""Columns of :attr:`HistoryComparison.table`."""
ALL_CHANNELS = "all channels"
"""The ``channel`` of the totals over the history's channels."""
ALL_MONTHS = "all months"
"""The ``month`` of the totals over the compared period."""
ORDER_LOG_CHANNEL = "order log"
"""The ``channel`` of the rows compared with an order log (all channels together)."""
LARGEST_GAPS = 5


@dataclass(frozen=True)
class HistoryComparison:
    """A simulation compared with a history, per channel and month.

    Attributes
    ----------
    table : pandas.DataFrame
        :data:`COMPARISON_COLUMNS`: one row per channel (and :data:`ALL_CHANNELS`, and
        :data:`ORDER_LOG_CHANNEL` with an order log), month (``YYYY-MM``, and :data:`ALL_MONTHS`)
        and measure; ``simulated`` and ``actual`` in the measure's unit (people, currency...),
        ``gap`` = simulated - actual, ``gap_pct`` = gap / actual x 100 (NaN when actual is 0).
    source : str
        The history file.
    first, last : pandas.Timestamp
        First and last day compared (inclusive).
    frequency : str
        ``'daily'`` or ``'weekly'``: the history's periods.
    periods : int
        Periods compared.
    left_out : int
        The history's periods outside the simulated horizon (not compared).
    measures : list of str
        The history's measures compared (with an order log, also its new customers, orders and
        revenue, as channel :data:`ORDER_LOG_CHANNEL`).
    ignored : list of str
        History columns with no simulated counterpart (``clicks``).
    orders_source : str or None
        The order log, when one was compared.
    """

    table: pd.DataFrame
    source: str
    first: pd.Timestamp
    last: pd.Timestamp
    frequency: str
    periods: int
    left_out: int
    measures: list[str]
    ignored: list[str] = field(default_factory=list)
    orders_source: str | None = None

    def cells(self) -> pd.DataFrame:
        """The channel-month rows (no totals)."""
        return comparison_cells(self.table)

    def largest_gaps(self, count: int = LARGEST_GAPS) -> pd.DataFrame:
        """:func:`largest_gaps` of :attr:`table`."""
        return largest_gaps(self.table, count)

    def spend_differs(self) -> bool:
        """:func:`spend_differs` of :attr:`table`."""
        return spend_differs(self.table)

    def text(self) -> str:
        """The comparison as ``simulate --compare-to`` prints it: per channel, totals, largest gaps."""
        lines = [self.describe(), "gap = simulated - actual; gap % of actual", ""]
        for channel, rows in self.table.groupby("channel", sort=False):
            lines += [str(channel), *_rows_text(rows, "month"), ""]
        totals = self.table[self.table["month"] == ALL_MONTHS]
        lines += [f"totals {self.first.date()} to {self.last.date()}", *_rows_text(totals, "channel"), ""]
        lines.append(gaps_sentence(self.table))
        if self.spend_differs():
            lines.append(f"note: {SPEND_NOTE}")
        return "\n".join(lines)

    def describe(self) -> str:
        """One line: what was compared (file, period, frequency, measures, what was left out)."""
        unit = "days" if self.frequency == "daily" else "weeks"
        text = (
            f"compared with {self.source}: {self.first.date()} to {self.last.date()} ({self.periods} "
            f"{unit}, {self.frequency} data"
            + ("; each week in the month it starts" if self.frequency == "weekly" else "")
            + f"); measures: {', '.join(self.measures)}"
        )
        if self.orders_source is not None:
            measures = ", ".join(ORDER_LOG_MEASURES)
            text += f"; and from the order log {self.orders_source}: {measures} of all channels"
        if self.left_out:
            text += f"; {self.left_out} {unit} of the history outside the simulated horizon left out"
        if self.ignored:
            text += f"; not compared (no simulated counterpart): {', '.join(self.ignored)}"
        return text

    def save(self, out_dir: str | Path, overwrite: bool = False) -> list[Path]:
        """Write ``comparison.csv`` (:attr:`table`) into ``out_dir`` (one output transaction)."""
        return write_files(
            out_dir, {"comparison.csv": lambda path: self.table.to_csv(path, index=False)}, overwrite
        )


SPEND_NOTE = (
    "the simulated spend differs from the history's (the scenario's plan is not the history's), so "
    "the outcome gaps mix the plan's difference with the world's; `run.py calibrate SCENARIO --orders "
    "LOG --media HISTORY` fits the channels to the history with its own spend"
)
"""What the text says when spend gaps are not 0."""


def comparison_cells(table: pd.DataFrame) -> pd.DataFrame:
    """The channel-month rows of a comparison table (no totals over channels or months)."""
    return table[(table["month"] != ALL_MONTHS) & (table["channel"] != ALL_CHANNELS)]


def largest_gaps(table: pd.DataFrame, count: int = LARGEST_GAPS) -> pd.DataFrame:
    """The channel-month cells with the largest non-zero gaps, one per channel and measure.

    Ranked by the gap's share of the measure's actual total over all cells (see the module
    docstring).

    Parameters
    ----------
    table
        A comparison table (:data:`COMPARISON_COLUMNS`; ``comparison.csv`` read back works).
    count
        Most rows returned.

    Returns
    -------
    pandas.DataFrame
        At most ``count`` rows of ``table``, largest first; empty when every gap is 0.
    """
    cells = comparison_cells(table)
    totals = cells.groupby("measure")["actual"].transform(lambda values: values.abs().sum())
    share = cells["gap"].abs() / totals.where(totals > 0)
    chosen = share[(cells["gap"] != 0) & share.notna()].sort_values(ascending=False, kind="stable")
    return cells.loc[chosen.index].drop_duplicates(["channel", "measure"]).iloc[:count]


def gaps_sentence(table: pd.DataFrame) -> str:
    """``largest gaps: social new_customers -42% in 2025-03; ...`` (or that every gap is 0)."""
    gaps = largest_gaps(table)
    if gaps.empty:
        return "largest gaps: none (every gap is 0)"
    return "largest gaps: " + "; ".join(_gap_phrase(row) for row in gaps.to_dict("records"))


def spend_differs(table: pd.DataFrame) -> bool:
    """Whether the simulated spend differs from the history's in any cell (beyond rounding)."""
    cells = comparison_cells(table)
    spend = cells[cells["measure"] == "spend"]
    return bool((spend["gap"].abs() > 1e-6 * np.maximum(spend["actual"].abs(), 1.0)).any())


def _rows_text(rows: pd.DataFrame, key: str) -> list[str]:
    header = [key, "measure", "simulated", "actual", "gap", "gap %"]
    body: list[list[str]] = []
    for row in rows.to_dict("records"):
        unit = unit_of(str(row["measure"]))
        gap_pct = float(row["gap_pct"])
        body.append(
            [
                str(row[key]),
                str(row["measure"]),
                format_value(row["simulated"], unit),
                format_value(row["actual"], unit),
                format_value(row["gap"], unit, signed=True),
                f"{gap_pct:+.1f}%" if np.isfinite(gap_pct) else "n/a",
            ]
        )
    lines = [header, *body]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return [
        "  "
        + "  ".join(
            text.ljust(w) if i < 2 else text.rjust(w)
            for i, (text, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    ]


def _gap_phrase(row: Mapping[Hashable, Any]) -> str:
    gap_pct = float(str(row["gap_pct"]))
    size = f"{gap_pct:+.0f}%" if np.isfinite(gap_pct) else "n/a"
    return f"{row['channel']} {row['measure']} {size} in {row['month']}"


def _horizon(scenario: Scenario) -> tuple[pd.Timestamp, pd.Timestamp]:
    first = pd.Timestamp(scenario.start_date)
    return first, first + pd.Timedelta(days=scenario.horizon_days - 1)


def _compared_periods(history: MediaHistory, scenario: Scenario) -> pd.DatetimeIndex:
    first, last = _horizon(scenario)
    starts = pd.DatetimeIndex(history.table["date"].unique())
    inside = (starts >= first) & (starts + pd.Timedelta(days=history.period_days - 1) <= last)
    return starts[inside]


def check_history(
    scenario: Scenario, history: MediaHistory, orders: OrderLog | None = None
) -> pd.DatetimeIndex:
    """Check a history against a scenario before simulating; return the period starts compared.

    Parameters
    ----------
    scenario
        The scenario to simulate (``start_date``, ``horizon_days``, channels).
    history
        The media history.
    orders
        An order log to compare too, or ``None``.

    Returns
    -------
    pandas.DatetimeIndex
        The first day of each of the history's periods wholly inside the simulated horizon.

    Raises
    ------
    MediaError
        A channel the scenario does not have, or no period inside the simulated horizon.
    OrderLogError
        No order in the compared period.
    """
    history.check_channels([channel.name for channel in scenario.channels])
    periods = _compared_periods(history, scenario)
    first, last = _horizon(scenario)
    if periods.empty:
        whole = "; a week counts only when all its days are simulated" if history.period_days == 7 else ""
        raise MediaError(
            history.source,
            f"no date inside the simulated horizon: the history covers {history.first_date.date()} to "
            f"{(history.first_date + pd.Timedelta(days=history.days - 1)).date()}, the simulation "
            f"{first.date()} to {last.date()} (the scenario's start_date and horizon_days){whole}",
            None,
            "date",
        )
    if orders is not None:
        end = periods[-1] + pd.Timedelta(days=history.period_days - 1)
        days = orders.orders["day"].to_numpy(np.int64)
        low, high = _day_number(periods[0]), _day_number(end)
        if not ((days >= low) & (days <= high)).any():
            raise OrderLogError(
                orders.source,
                f"no order from {periods[0].date()} to {end.date()} (the period compared with the media "
                f"history; the log covers {orders.first_date.date()} to {orders.last_date.date()})",
                None,
                "date",
            )
    return periods


def _day_number(date: pd.Timestamp) -> int:
    return int((date - pd.Timestamp("1970-01-01")).days)


def _by_period(dates: pd.Series, origin: pd.Timestamp, period_days: int) -> pd.DatetimeIndex:
    """The first day of the period (of ``period_days`` from ``origin``) each date falls in."""
    offset = (dates - origin).dt.days.to_numpy(np.int64)
    return pd.DatetimeIndex(origin + pd.to_timedelta((offset // period_days) * period_days, unit="D"))


def _with_gaps(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    table["gap"] = table["simulated"] - table["actual"]
    actual = table["actual"].where(table["actual"] != 0)
    table["gap_pct"] = (table["gap"] / actual * 100).astype(np.float64)
    return table


def _long(frame: pd.DataFrame, measures: Sequence[str], value: str) -> pd.DataFrame:
    return frame.melt(
        id_vars=["channel", "month"], value_vars=list(measures), var_name="measure", value_name=value
    )


def _with_totals(cells: pd.DataFrame, channels: bool) -> pd.DataFrame:
    keys = ["channel", "month", "measure"]
    parts = [cells]
    if channels:
        parts.append(
            cells.groupby(["month", "measure"], sort=False)[["simulated", "actual"]].sum().reset_index()
        )
        parts[-1]["channel"] = ALL_CHANNELS
    combined = pd.concat(parts, ignore_index=True)
    months = combined.groupby(["channel", "measure"], sort=False)[["simulated", "actual"]].sum().reset_index()
    months["month"] = ALL_MONTHS
    return pd.concat([combined, months], ignore_index=True)[[*keys, "simulated", "actual"]]


def _order_log_rows(
    result: SimulationResult, orders: OrderLog, first: pd.Timestamp, last: pd.Timestamp, log_scale: float
) -> pd.DataFrame:
    start = _day_number(pd.Timestamp(result.scenario.start_date))
    simulated = pd.DataFrame(
        {
            "day": result.orders["day"].to_numpy(np.int64) + start,
            "customer": result.orders["shopper_id"].to_numpy(np.int64),
            "revenue": result.orders["revenue"].to_numpy(np.float64),
        }
    )
    actual = pd.DataFrame(
        {
            "day": orders.orders["day"].to_numpy(np.int64),
            "customer": orders.orders["customer"].to_numpy(np.int64),
            "revenue": orders.orders["revenue"].to_numpy(np.float64),
        }
    )
    sides = {
        "simulated": _monthly_outcomes(simulated, first, last) * result.scenario.population.scale,
        "actual": _monthly_outcomes(actual, first, last) * log_scale,
    }
    months = sides["simulated"].index.union(sides["actual"].index)
    frames = [
        _long(
            side.reindex(months, fill_value=0.0)
            .rename_axis("month")
            .reset_index()
            .assign(channel=ORDER_LOG_CHANNEL),
            ORDER_LOG_MEASURES,
            name,
        )
        for name, side in sides.items()
    ]
    return frames[0].merge(frames[1], on=["channel", "month", "measure"])


def _monthly_outcomes(log: pd.DataFrame, first: pd.Timestamp, last: pd.Timestamp) -> pd.DataFrame:
    """Orders, revenue and new customers (first order in the log) per month from ``first`` to ``last``."""
    new = np.zeros(len(log), bool)
    if len(log):
        new[log.sort_values(["customer", "day"], kind="stable").drop_duplicates("customer").index] = True
    inside = (log["day"] >= _day_number(first)) & (log["day"] <= _day_number(last))
    log = log.assign(new_customers=new.astype(np.float64), orders=1.0)[inside.to_numpy()]
    month = (pd.Timestamp("1970-01-01") + pd.to_timedelta(log["day"], unit="D")).dt.strftime("%Y-%m")
    return log.groupby(month.rename("month"))[list(ORDER_LOG_MEASURES)].sum()


def compare_to_history(
    result: SimulationResult,
    history: MediaHistory,
    orders: OrderLog | None = None,
    log_scale: float = 1.0,
) -> HistoryComparison:
    """Compare a simulation with a media history (and an order log), per channel and month.

    Parameters
    ----------
    result
        The simulation (its ``channels`` table, and its ``orders`` with an order log).
    history
        The media history (:func:`simulator.data.load_media`), daily or weekly.
    orders
        An order log (:func:`simulator.data.load_orders`) for the totals of new customers, orders
        and revenue over all channels; ``None`` for none.
    log_scale
        People each order of the log stands for (1 for a real log; ``population.scale`` of the
        simulation that wrote it).

    Returns
    -------
    HistoryComparison
        The table (:data:`COMPARISON_COLUMNS`, with totals), what was compared and the text.

    Raises
    ------
    MediaError, OrderLogError
        As :func:`check_history`.

    Examples
    --------
    >>> from simulator import load_scenario, simulate
    >>> from simulator.data import load_media
    >>> result = simulate(load_scenario("scenarios/examples/media_base.yaml"))  # doctest: +SKIP
    >>> comparison = compare_to_history(result, load_media("scenarios/examples/media_sample.csv"))
    >>> print(comparison.text())  # doctest: +SKIP
    """
    periods = check_history(result.scenario, history, orders)
    first = periods[0]
    last = periods[-1] + pd.Timedelta(days=history.period_days - 1)
    measures = [name for name in COMPARED_MEASURES if name in history.table.columns]
    simulated = media_table(result)
    simulated["date"] = pd.to_datetime(simulated["date"])
    simulated["date"] = _by_period(simulated["date"], history.first_date, history.period_days)
    simulated = simulated[simulated["date"].isin(periods)]
    simulated = simulated.groupby(["date", "channel"], sort=False)[measures].sum().reset_index()
    actual = history.table[history.table["date"].isin(periods)]
    sides = []
    for name, frame in (("simulated", simulated), ("actual", actual)):
        frame = frame[frame["channel"].isin(history.channels)].assign(
            month=frame["date"].dt.strftime("%Y-%m")
        )
        monthly = frame.groupby(["channel", "month"], sort=False)[measures].sum().reset_index()
        sides.append(_long(monthly, measures, name))
    cells = (
        sides[0].merge(sides[1], on=["channel", "month", "measure"], how="right").fillna({"simulated": 0.0})
    )
    order = {name: i for i, name in enumerate(history.channels)}
    cells = cells.sort_values(
        ["channel", "month", "measure"],
        key=lambda column: (
            column.map(order)
            if column.name == "channel"
            else (column.map(COMPARED_MEASURES.index) if column.name == "measure" else column)
        ),
        kind="stable",
    ).reset_index(drop=True)
    table = _with_totals(cells, channels=True)
    if orders is not None:
        table = pd.concat(
            [table, _with_totals(_order_log_rows(result, orders, first, last, log_scale), False)]
        )
    table = _with_gaps(table.reset_index(drop=True))[list(COMPARISON_COLUMNS)]
    return HistoryComparison(
        table=table,
        source=history.source,
        first=first,
        last=last,
        frequency=history.frequency,
        periods=len(periods),
        left_out=int(history.table["date"].nunique()) - len(periods),
        measures=measures,
        ignored=[name for name in ("clicks",) if name in history.table.columns],
        orders_source=orders.source if orders is not None else None,
    )
