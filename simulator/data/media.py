"""Media histories and lift tests: read a CSV or Parquet file of spend per date and channel, validate it.

A **media history** has one row per date and channel with the columns

- ``date`` (ISO 8601 date): the day, or the first day of the week for weekly data;
- ``channel`` (text): the channel's name, as the scenario names it;
- ``spend`` (number >= 0): media spend on that date (weekly data: in that week) (currency);

and optionally ``impressions``, ``clicks``, ``visits``, ``orders``, ``new_customers`` and ``revenue``
(numbers >= 0: counts of the period, revenue in currency; the outcomes a channel's reporting
attributes to it, which ``run.py simulate --compare-to`` compares with the simulation's
last-touch figures). Other columns are ignored. Every
channel has a row for every date from the first to the last (a channel that paused has rows with
spend 0). Dates one day apart are **daily** data; dates seven days apart are **weekly** data
(each week's spend is spread evenly over its seven days when a scenario is built from it, see
:meth:`MediaHistory.daily_spend`).

A **lift-test file** has one row per experiment with the columns ``channel``, ``start`` and
``end`` (ISO dates, inclusive), ``spend_change`` (the change of the channel's spend over the test,
currency; negative for a hold-out that switched it off), ``effect`` (the measured change of
new customers from start to end that it caused, people; negative when spend was cut) and
``standard_error`` (of the effect, > 0).

**Errors.** Every problem raises :class:`MediaError` with a one-line message naming the file, the
row (counted from 1 after the header) and the column, and what is allowed: a missing column, an
unparsable date, a non-numeric or negative spend or optional number, a duplicated date and
channel, a gap in the dates, dates neither daily nor weekly, an empty file, a lift test that ends
before it starts or has a standard error of 0 or less. Channels unknown to the scenario are
checked against the scenario (:meth:`MediaHistory.check_channels`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "LIFT_TEST_COLUMNS",
    "MEDIA_COLUMNS",
    "OPTIONAL_MEDIA_COLUMNS",
    "LiftTest",
    "MediaError",
    "MediaHistory",
    "load_lift_tests",
    "load_media",
]

MEDIA_COLUMNS = ("date", "channel", "spend")
"""Required columns of a media history (optional: :data:`OPTIONAL_MEDIA_COLUMNS`)."""
OPTIONAL_MEDIA_COLUMNS = ("impressions", "clicks", "visits", "orders", "new_customers", "revenue")
"""Optional columns of a media history, numbers >= 0 of the row's period (revenue: currency)."""
LIFT_TEST_COLUMNS = ("channel", "start", "end", "spend_change", "effect", "standard_error")
"""Columns of a lift-test file."""


class MediaError(ValueError):
    """A media history or lift-test file that cannot be used; the message is one line.

    Attributes
    ----------
    source : str
        The file at fault.
    message : str
        What is wrong and what is allowed.
    """

    def __init__(self, source: str, message: str, row: int | None = None, column: str | None = None) -> None:
        self.source = source
        self.message = message
        where = [f"row {row}"] if row is not None else []
        if column is not None:
            where.append(f"column '{column}'")
        prefix = f"{source}: {', '.join(where)}" if where else source
        super().__init__(" ".join(f"{prefix}: {message}".splitlines()))


def _read(path: Path, source: str, required: Sequence[str]) -> pd.DataFrame:
    if not path.is_file():
        raise MediaError(source, "no such file (give a .csv or .parquet file)")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif suffix in (".csv", ".txt"):
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        else:
            raise MediaError(source, f"unknown file type '{suffix}' (allowed: .csv, .txt, .parquet, .pq)")
    except MediaError:
        raise
    except Exception as error:  # noqa: BLE001 - any reader failure is one line on bad input
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise MediaError(source, f"cannot be read as a table ({first})") from None
    missing = [name for name in required if name not in frame.columns]
    if missing:
        raise MediaError(
            source,
            f"missing column (needed: {', '.join(required)}; found: {', '.join(map(str, frame.columns))})",
            None,
            missing[0],
        )
    if frame.empty:
        raise MediaError(source, "the file has no rows (a header but no data)")
    return frame.reset_index(drop=True)


def _dates(values: pd.Series, source: str, column: str) -> pd.DatetimeIndex:
    parsed = pd.to_datetime(values.astype(str).str.strip(), format="ISO8601", errors="coerce")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if bad.size:
        at = int(bad[0])
        raise MediaError(source, f"'{values.iloc[at]}' is not an ISO 8601 date (YYYY-MM-DD)", at + 1, column)
    return pd.DatetimeIndex(parsed).normalize()


def _numbers(values: pd.Series, source: str, column: str, positive: bool = False) -> npt.NDArray[np.float64]:
    numbers = pd.to_numeric(values.astype(str).str.strip(), errors="coerce").to_numpy(np.float64)
    bad = np.flatnonzero(~np.isfinite(numbers) | ((numbers <= 0) if positive else (numbers < 0)))
    if bad.size:
        at = int(bad[0])
        allowed = "a number > 0" if positive else "a number >= 0"
        raise MediaError(source, f"'{values.iloc[at]}' is not allowed ({allowed})", at + 1, column)
    return numbers


def _channels(values: pd.Series, source: str) -> pd.Series:
    names = values.astype(str).str.strip()
    empty = np.flatnonzero((names == "").to_numpy())
    if empty.size:
        raise MediaError(
            source, "empty channel name (give the scenario's channel name)", int(empty[0]) + 1, "channel"
        )
    return names


@dataclass(frozen=True)
class MediaHistory:
    """A validated media history.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per (``date``, ``channel``), sorted: ``spend`` (currency per row's period) and the
        optional columns present (:data:`OPTIONAL_MEDIA_COLUMNS`), in that order.
    period_days : int
        1 for daily data, 7 for weekly data.
    source : str
        The file it came from.
    """

    table: pd.DataFrame
    period_days: int
    source: str

    @property
    def channels(self) -> list[str]:
        """The channels, in order of first appearance."""
        return list(dict.fromkeys(self.table["channel"]))

    @property
    def first_date(self) -> pd.Timestamp:
        """The first date."""
        return pd.Timestamp(self.table["date"].min())

    @property
    def days(self) -> int:
        """Days covered, from the first date to the end of the last period (days)."""
        last = pd.Timestamp(self.table["date"].max())
        return int((last - self.first_date).days) + self.period_days

    @property
    def frequency(self) -> str:
        """``'daily'`` or ``'weekly'``."""
        return "daily" if self.period_days == 1 else "weekly"

    def daily_spend(self) -> pd.DataFrame:
        """Spend per day (rows: days; columns: channels; weekly spend spread evenly) (currency/day)."""
        wide = self.table.pivot(index="date", columns="channel", values="spend")[self.channels]
        daily = np.repeat(wide.to_numpy(np.float64) / self.period_days, self.period_days, axis=0)
        return pd.DataFrame(daily, columns=self.channels).rename_axis("day")

    def check_channels(self, known: Sequence[str]) -> None:
        """Raise :class:`MediaError` for a channel the scenario does not have."""
        for name in self.channels:
            if name not in known:
                raise MediaError(
                    self.source,
                    f"unknown channel '{name}' (the scenario's channels are: {', '.join(known)})",
                    None,
                    "channel",
                )


def load_media(path: str | Path) -> MediaHistory:
    """Read and validate a media history (CSV or Parquet; see the module docstring).

    Parameters
    ----------
    path
        A ``.csv`` (or ``.txt``) file with a header row, or a ``.parquet`` (``.pq``) file.

    Returns
    -------
    MediaHistory
        The rows sorted by date and channel, and whether the data are daily or weekly.

    Raises
    ------
    MediaError
        On anything listed in the module docstring, with a one-line message.
    """
    source = str(path)
    frame = _read(Path(path), source, MEDIA_COLUMNS)
    table = pd.DataFrame(
        {"date": _dates(frame["date"], source, "date"), "channel": _channels(frame["channel"], source)}
    )
    table["spend"] = _numbers(frame["spend"], source, "spend")
    for name in OPTIONAL_MEDIA_COLUMNS:
        if name in frame.columns:
            table[name] = _numbers(frame[name], source, name)
    duplicated = np.flatnonzero(table.duplicated(["date", "channel"]).to_numpy())
    if duplicated.size:
        at = int(duplicated[0])
        raise MediaError(
            source,
            f"date {table['date'].iloc[at].date()} and channel '{table['channel'].iloc[at]}' appear twice "
            "(one row per date and channel)",
            at + 1,
        )
    dates = np.sort(table["date"].unique())
    steps = np.unique(np.diff(dates).astype("timedelta64[D]").astype(np.int64))
    if dates.size < 2:
        raise MediaError(
            source, "every row is on one date: a media history needs at least two dates", None, "date"
        )
    if steps.size != 1 or steps[0] not in (1, 7):
        gap = int(steps.max())
        raise MediaError(
            source,
            f"dates have a gap of {gap} days: give every day (daily data) or every week (weekly data) "
            "from the first date to the last",
            None,
            "date",
        )
    period = int(steps[0])
    for name in dict.fromkeys(table["channel"]):
        have = set(table.loc[table["channel"] == name, "date"])
        missing = [d for d in dates if pd.Timestamp(d) not in have]
        if missing:
            raise MediaError(
                source,
                f"channel '{name}' has no row for {pd.Timestamp(missing[0]).date()} "
                "(every channel needs a row for every date; spend 0 when it paused)",
                None,
                "date",
            )
    table = table.sort_values(["date", "channel"], kind="stable").reset_index(drop=True)
    return MediaHistory(table, period, source)


@dataclass(frozen=True)
class LiftTest:
    """One lift test: a channel's spend changed over a period and the new customers it caused.

    Attributes
    ----------
    channel : str
        The channel tested.
    start, end : pandas.Timestamp
        First and last day of the test (inclusive).
    spend_change : float
        The change of spend over the test (currency; negative when spend was cut).
    effect : float
        The measured change of new customers (people; same sign as the spend change when the
        channel works).
    standard_error : float
        Standard error of ``effect`` (people, > 0).
    """

    channel: str
    start: pd.Timestamp
    end: pd.Timestamp
    spend_change: float
    effect: float
    standard_error: float


def load_lift_tests(path: str | Path, channels: Sequence[str] | None = None) -> list[LiftTest]:
    """Read and validate a lift-test file (CSV or Parquet; see the module docstring).

    Parameters
    ----------
    path
        The file.
    channels
        The scenario's channels; a test of another channel is an error.

    Returns
    -------
    list of LiftTest
        One per row, in file order.

    Raises
    ------
    MediaError
        On a missing column, an unparsable date, a test that ends before it starts, a
        non-numeric number, a standard error of 0 or less, a spend change of 0 or an unknown channel.
    """
    source = str(path)
    frame = _read(Path(path), source, LIFT_TEST_COLUMNS)
    names = _channels(frame["channel"], source)
    start = _dates(frame["start"], source, "start")
    end = _dates(frame["end"], source, "end")
    change = pd.to_numeric(frame["spend_change"].astype(str).str.strip(), errors="coerce").to_numpy(
        np.float64
    )
    effect = pd.to_numeric(frame["effect"].astype(str).str.strip(), errors="coerce").to_numpy(np.float64)
    error = _numbers(frame["standard_error"], source, "standard_error", positive=True)
    tests = []
    for row in range(len(frame)):
        if not np.isfinite(change[row]) or change[row] == 0:
            raise MediaError(
                source,
                f"'{frame['spend_change'].iloc[row]}' is not allowed (a non-zero number)",
                row + 1,
                "spend_change",
            )
        if not np.isfinite(effect[row]):
            raise MediaError(source, f"'{frame['effect'].iloc[row]}' is not a number", row + 1, "effect")
        if end[row] < start[row]:
            raise MediaError(
                source, f"end {end[row].date()} is before start {start[row].date()}", row + 1, "end"
            )
        if channels is not None and names.iloc[row] not in channels:
            raise MediaError(
                source,
                f"unknown channel '{names.iloc[row]}' (the scenario's channels are: {', '.join(channels)})",
                row + 1,
                "channel",
            )
        tests.append(
            LiftTest(
                names.iloc[row],
                start[row],
                end[row],
                float(change[row]),
                float(effect[row]),
                float(error[row]),
            )
        )
    return tests
