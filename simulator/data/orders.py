"""Order logs: read a CSV or Parquet file of orders, validate it, split it into periods.

An order log has one row per order with the columns

- ``customer_id`` (string or integer): who ordered;
- ``date`` (ISO 8601 date or datetime, or any format given as ``date_format``): when;
- ``revenue`` (number >= 0): the net order value (currency);

and optionally ``order_id`` (unique), ``channel``, ``quantity`` (>= 0), ``discount`` (>= 0,
currency) and ``margin`` (currency, may be negative). Other columns are ignored. The file's
column names can differ: ``columns`` maps each of these names to the file's (on the command
line, ``--columns customer_id=cust,date=ts,revenue=amount``).

**Purchase occasions.** The repeat-buying models count days, not rows: all orders of one
customer on one calendar day are one purchase occasion, whose revenue is the sum of those
orders (:meth:`OrderLog.occasions`). Datetimes with a time-zone offset are converted to UTC
before the day is taken; datetimes without one are taken as they are.

**Errors.** Every problem raises :class:`OrderLogError` with a one-line message naming the
file, the row and the column (whichever apply): a missing column, a missing or unparsable date,
a missing, non-numeric or negative revenue, an empty file, orders all on one day, dates in the
future, a duplicated order id. Rows are counted from 1 after the header: row N is the N-th
order (line N+1 of a CSV file without line breaks inside quoted fields).

**Periods.** :func:`split_periods` cuts the log at a calibration end date: the models are fitted
on each customer's purchases up to that day, and the rest (the hold-out) is what they forecast.
Customers whose first purchase falls in the hold-out are kept apart (they count as hold-out
acquisitions but are not fitted).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as _compute
import pyarrow.csv as _csv
import pyarrow.parquet as _parquet

# pyarrow's bundled type hints are partial (functions generated at import time): use them untyped.
pc: Any = _compute
pacsv: Any = _csv
pq: Any = _parquet

__all__ = [
    "MIN_REPEAT_CUSTOMERS",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "OrderLog",
    "OrderLogError",
    "PeriodSplit",
    "load_orders",
    "parse_column_map",
    "split_periods",
]

REQUIRED_COLUMNS = ("customer_id", "date", "revenue")
OPTIONAL_COLUMNS = ("order_id", "channel", "quantity", "discount", "margin")
# Optional numeric columns, and whether they must be >= 0.
_NUMERIC = {"revenue": True, "quantity": True, "discount": True, "margin": False}
_PARQUET_SUFFIXES = (".parquet", ".pq")
_CSV_SUFFIXES = (".csv", ".txt")
# Below about this many customers with a repeat purchase the repeat-buying models are not identified.
MIN_REPEAT_CUSTOMERS = 100
_EPOCH = np.datetime64("1970-01-01", "D")
_NS_PER_DAY = 86_400 * 10**9

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


class OrderLogError(ValueError):
    """An order log that cannot be used; the message is one line naming file, row and column.

    Attributes
    ----------
    source : str
        The file (or option) at fault.
    row : int or None
        The order at fault, counted from 1 after the header; ``None`` when no single row is.
    column : str or None
        The column at fault, as the file names it; ``None`` when no single column is.
    message : str
        What is wrong and what is allowed.
    """

    def __init__(self, source: str, message: str, row: int | None = None, column: str | None = None) -> None:
        self.source = source
        self.row = row
        self.column = column
        self.message = message
        where = [f"row {row}"] if row is not None else []
        if column is not None:
            where.append(f"column '{column}'")
        prefix = f"{source}: {', '.join(where)}" if where else source
        super().__init__(" ".join(f"{prefix}: {message}".splitlines()))


def parse_column_map(text: str | Mapping[str, str] | None) -> dict[str, str]:
    """Read a column mapping ``customer_id=cust,date=ts`` (or a dict) into ``{name: file column}``.

    Parameters
    ----------
    text
        Comma-separated ``name=column`` pairs, a mapping, or ``None`` (no renaming).

    Returns
    -------
    dict
        The file's column for each mapped standard name (names not mapped keep their own).

    Raises
    ------
    OrderLogError
        On an unknown standard name, a pair without ``=``, an empty name, or two names mapped
        to one column.
    """
    if text is None:
        return {}
    if isinstance(text, str):
        pairs: list[tuple[str, str]] = []
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, sep, column = item.partition("=")
            if not sep or not name.strip() or not column.strip():
                raise OrderLogError("--columns", f"'{item}' is not name=column (e.g. customer_id=cust)")
            pairs.append((name.strip(), column.strip()))
    else:
        pairs = [(str(name), str(column)) for name, column in text.items()]
    known = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
    mapping: dict[str, str] = {}
    for name, column in pairs:
        if name not in known:
            raise OrderLogError("--columns", f"unknown name '{name}' (allowed: {', '.join(known)})")
        if name in mapping:
            raise OrderLogError("--columns", f"'{name}' is mapped twice")
        mapping[name] = column
    columns = list(mapping.values())
    for column in columns:
        if columns.count(column) > 1:
            raise OrderLogError("--columns", f"column '{column}' is mapped to two names")
    return mapping


@dataclass(frozen=True)
class OrderLog:
    """A validated order log.

    Attributes
    ----------
    orders : pandas.DataFrame
        One row per order, in file order, with the standard column names: ``customer_id``
        (the file's ids), ``date`` (datetime64, UTC wall clock), ``revenue`` (currency) and the
        optional columns present, plus ``customer`` (integer code of the customer, an index into
        ``customer_ids``) and ``day`` (whole days since 1970-01-01).
    customer_ids : pandas.Index
        The customers' ids by code.
    source : str
        The file it came from.
    """

    orders: pd.DataFrame
    customer_ids: pd.Index
    source: str

    @property
    def first_date(self) -> pd.Timestamp:
        """Day of the first order."""
        return _date_of(int(self.orders["day"].min()))

    @property
    def last_date(self) -> pd.Timestamp:
        """Day of the last order."""
        return _date_of(int(self.orders["day"].max()))

    @property
    def customers(self) -> int:
        """Number of distinct customers."""
        return len(self.customer_ids)

    def occasions(self, exact: bool = False) -> pd.DataFrame:
        """Purchase occasions: one row per customer and day with orders.

        Parameters
        ----------
        exact
            One occasion per customer and distinct timestamp instead of per day (for logs with
            times of day; see :func:`split_periods`).

        Returns
        -------
        pandas.DataFrame
            Sorted by customer, then time: ``customer`` (code), ``day`` (days since 1970-01-01),
            ``time`` (days since 1970-01-01 with the time of day when ``exact``, else ``day``),
            ``revenue`` (sum of the occasion's orders, currency), ``orders`` (count).
        """
        customer = self.orders["customer"].to_numpy(np.int64)
        if exact:
            stamp = self.orders["date"].to_numpy().astype("datetime64[ns]").astype(np.int64)
        else:
            stamp = self.orders["day"].to_numpy(np.int64)
        revenue = self.orders["revenue"].to_numpy(np.float64)
        order = np.lexsort((stamp, customer))
        customer, stamp, revenue = customer[order], stamp[order], revenue[order]
        new = np.r_[True, (customer[1:] != customer[:-1]) | (stamp[1:] != stamp[:-1])]
        starts = np.flatnonzero(new)
        time = stamp[starts] / _NS_PER_DAY if exact else stamp[starts].astype(np.float64)
        return pd.DataFrame(
            {
                "customer": customer[starts],
                "day": np.floor(time).astype(np.int64),
                "time": time,
                "revenue": np.add.reduceat(revenue, starts) if starts.size else revenue[:0],
                "orders": np.diff(np.append(starts, customer.size)),
            }
        )


def load_orders(
    path: str | Path,
    columns: str | Mapping[str, str] | None = None,
    date_format: str | None = None,
    today: dt.date | str | None = None,
) -> OrderLog:
    """Read and validate an order log (CSV or Parquet; see the module docstring).

    Parameters
    ----------
    path
        A ``.csv`` (or ``.txt``) file with a header row, or a ``.parquet`` (``.pq``) file.
    columns
        The file's name of each standard column that is named differently, as
        ``"customer_id=cust,date=ts"`` or a mapping; see :func:`parse_column_map`.
    date_format
        A ``strftime`` format of the dates (e.g. ``"%d/%m/%Y"``); ISO 8601 when ``None``.
    today
        The latest allowed date (dates after it are in the future); today (UTC) by default.

    Returns
    -------
    OrderLog
        The orders with standard column names, customer codes and day numbers.

    Raises
    ------
    OrderLogError
        On anything listed in the module docstring, with a one-line message.
    """
    source = str(path)
    mapping = parse_column_map(columns)
    wanted = {name: mapping.get(name, name) for name in REQUIRED_COLUMNS + OPTIONAL_COLUMNS}
    table = _read_table(Path(path), source, wanted)
    rows = table.num_rows
    if rows == 0:
        raise OrderLogError(source, "the file has no orders (a header but no rows)")
    data: dict[str, object] = {}
    codes, ids = _customer_codes(table.column(wanted["customer_id"]), source, wanted["customer_id"])
    data["customer_id"] = ids.take(codes)
    dates = _dates(table.column(wanted["date"]), source, wanted["date"], date_format)
    data["date"] = dates
    for name in ("revenue", "quantity", "discount", "margin"):
        if wanted[name] in table.column_names:
            data[name] = _numbers(table.column(wanted[name]), source, wanted[name], _NUMERIC[name])
    for name in ("order_id", "channel"):
        if wanted[name] in table.column_names:
            data[name] = table.column(wanted[name]).to_pandas()
    if "order_id" in data:
        _check_unique_orders(pd.Series(data["order_id"]), source, wanted["order_id"])
    day = (dates.to_numpy().astype("datetime64[D]") - _EPOCH).astype(np.int64)
    limit = _day_number(today) if today is not None else _day_number(dt.datetime.now(dt.UTC).date())
    future = np.flatnonzero(day > limit)
    if future.size:
        at = int(future[0])
        raise OrderLogError(
            source,
            f"date {_date_of(int(day[at])).date()} is in the future (after {_date_of(limit).date()})",
            at + 1,
            wanted["date"],
        )
    if day.min() == day.max():
        raise OrderLogError(
            source,
            f"every order is on one day ({_date_of(int(day[0])).date()}): the models need orders "
            "on at least two different days",
            None,
            wanted["date"],
        )
    data["customer"] = codes
    data["day"] = day
    return OrderLog(pd.DataFrame(data), ids, source)


@dataclass(frozen=True)
class PeriodSplit:
    """An order log cut into a calibration period and a hold-out period.

    Attributes
    ----------
    customers : pandas.DataFrame
        One row per customer whose first purchase is in the calibration period, indexed by
        ``customer_id``: ``first_date``; ``first_day`` (days from the log's first day);
        ``frequency`` (repeat purchase occasions in the calibration period); ``recency_days``
        (days from the first to the last occasion in it) and ``T_days`` (days from the first
        occasion to the calibration end), and the same two in time units (``recency``, ``T``);
        ``monetary_value`` (mean revenue of the repeat occasions in the calibration period,
        currency; NaN without one); ``first_revenue``, ``calibration_revenue`` (currency);
        ``holdout_frequency`` (occasions in the hold-out) and ``holdout_revenue`` (currency).
    late_customers : pandas.DataFrame
        Customers whose first purchase is in the hold-out (counted as hold-out acquisitions,
        not fitted): ``first_date``, ``holdout_frequency`` (all their occasions, the first
        included) and ``holdout_revenue``.
    repeat_by_day : pandas.Series
        Repeat purchase occasions per day of the calibration customers, over both periods
        (index: days from the log's first day, 0 .. last).
    start, calibration_end, holdout_end : pandas.Timestamp
        First day of the log, last day of the calibration period, last day of the log.
    time_unit_days : float
        Length of the time unit of ``recency`` and ``T`` (days; 7 = weeks).
    source : str
        The log's file.
    """

    customers: pd.DataFrame
    late_customers: pd.DataFrame
    repeat_by_day: pd.Series
    start: pd.Timestamp
    calibration_end: pd.Timestamp
    holdout_end: pd.Timestamp
    time_unit_days: float
    source: str

    @property
    def calibration_days(self) -> int:
        """Days in the calibration period, from the log's first day to the calibration end."""
        return int((self.calibration_end - self.start).days) + 1

    @property
    def holdout_days(self) -> int:
        """Days in the hold-out period (0 without one)."""
        return int((self.holdout_end - self.calibration_end).days)

    @property
    def holdout_length(self) -> float:
        """Length of the hold-out period in time units."""
        return self.holdout_days / self.time_unit_days

    @property
    def repeat_customers(self) -> int:
        """Customers with at least one repeat purchase in the calibration period."""
        return int((self.customers["frequency"] > 0).sum())

    def check_identifiable(self, minimum: int = MIN_REPEAT_CUSTOMERS) -> None:
        """Raise unless enough customers bought again in the calibration period to fit the models.

        Parameters
        ----------
        minimum
            The fewest customers with a repeat purchase accepted (people).

        Raises
        ------
        OrderLogError
            With fewer than ``minimum`` such customers.
        """
        if self.repeat_customers < minimum:
            raise OrderLogError(
                self.source,
                f"only {self.repeat_customers} customers bought again by the calibration end "
                f"{self.calibration_end.date()}; the repeat-buying models cannot be identified with "
                f"fewer than about {minimum} (use a longer calibration period or more customers)",
            )


def split_periods(
    log: OrderLog,
    holdout_days: int | None = None,
    calibration_end: dt.date | str | None = None,
    time_unit_days: float = 7.0,
    exact_times: bool = False,
) -> PeriodSplit:
    """Cut an order log into calibration and hold-out periods and summarize each customer.

    Give ``holdout_days`` (the hold-out is the log's last ``holdout_days`` days) or
    ``calibration_end`` (its last day), not both; with neither, the whole log is calibration.
    ``T`` runs from the first purchase day to the calibration end day, so a customer whose
    first purchase is on the last calibration day has ``T = 0`` (the convention of the CDNOW
    summaries of Fader, Hardie and Lee 2005).

    The models are continuous-time processes, and purchase occasions counted by day merge
    the purchases of a customer on one day; for customers who buy often that shortens their
    counts a little and biases the estimates (see :mod:`simulator.customerbase`).
    With ``exact_times`` a log whose dates carry times of day is summarized in continuous
    time instead: one occasion per distinct timestamp, ``recency`` and ``T`` in fractional
    days, ``T`` running from the first purchase to the end of the calibration end day.

    Parameters
    ----------
    log
        A loaded order log.
    holdout_days
        Length of the hold-out period (days, >= 0, shorter than the log).
    calibration_end
        Last day of the calibration period (a date within the log).
    time_unit_days
        Length of the time unit of ``recency`` and ``T`` (days, > 0; 7 = weeks).
    exact_times
        Summarize by timestamp instead of by day (see above).

    Returns
    -------
    PeriodSplit
        The per-customer summary and what the hold-out holds.

    Raises
    ------
    OrderLogError
        When the hold-out is not shorter than the log or the calibration end is outside it.
    ValueError
        When both ``holdout_days`` and ``calibration_end`` are given, or on a time unit <= 0.
    """
    if holdout_days is not None and calibration_end is not None:
        raise ValueError("give holdout_days or calibration_end, not both")
    if not time_unit_days > 0:
        raise ValueError(f"the time unit must be > 0 days, got {time_unit_days}")
    occasions = log.occasions(exact=exact_times)
    customer = occasions["customer"].to_numpy(np.int64)
    day = occasions["day"].to_numpy(np.int64)
    time = occasions["time"].to_numpy(np.float64)
    revenue = occasions["revenue"].to_numpy(np.float64)
    first_log, last_log = int(day.min()), int(day.max())
    span = last_log - first_log
    if holdout_days is not None:
        if holdout_days < 0 or holdout_days >= span:
            raise OrderLogError(
                log.source,
                f"a hold-out of {holdout_days} days does not fit in the data, which spans {span} days "
                f"({_date_of(first_log).date()} to {_date_of(last_log).date()}); it must be >= 0 and shorter",
            )
        end = last_log - holdout_days
    elif calibration_end is not None:
        end = _day_number(calibration_end)
        if not first_log <= end <= last_log:
            raise OrderLogError(
                log.source,
                f"the calibration end {_date_of(end).date()} is outside the data "
                f"({_date_of(first_log).date()} to {_date_of(last_log).date()})",
            )
    else:
        end = last_log

    n = log.customers
    cut = end + 1.0  # the calibration period ends with the end of its last day
    # Occasions are sorted by customer then time: a customer's first occasion is the first row.
    starts = np.flatnonzero(np.r_[True, customer[1:] != customer[:-1]])
    first = np.full(n, np.inf)
    first[customer[starts]] = time[starts]
    first_day = np.floor(np.minimum(first, 2.0**62)).astype(np.int64)
    first_revenue = np.zeros(n)
    first_revenue[customer[starts]] = revenue[starts]
    in_calibration = time < cut

    def per_customer(mask: npt.NDArray[np.bool_], weights: FloatArray | None = None) -> FloatArray:
        chosen = None if weights is None else weights[mask]
        return np.bincount(customer[mask], weights=chosen, minlength=n).astype(np.float64)

    count = per_customer(in_calibration)
    last = np.full(n, -np.inf)
    np.maximum.at(last, customer[in_calibration], time[in_calibration])
    calibration_revenue = per_customer(in_calibration, revenue)
    holdout_count = per_customer(~in_calibration)
    holdout_revenue = per_customer(~in_calibration, revenue)

    fitted = np.flatnonzero(first < cut)
    late = np.flatnonzero(first >= cut)
    frequency = count[fitted] - 1
    recency_days = last[fitted] - first[fitted]
    # By day, T counts whole days to the calibration end day; by timestamp, to its end.
    T_days = (cut - first[fitted]) if exact_times else (end - first[fitted])  # noqa: N806
    with np.errstate(invalid="ignore", divide="ignore"):
        monetary = np.where(
            frequency > 0, (calibration_revenue[fitted] - first_revenue[fitted]) / frequency, np.nan
        )
    customers = pd.DataFrame(
        {
            "first_date": _dates_of(first_day[fitted]),
            "first_day": first_day[fitted] - first_log,
            "frequency": frequency.astype(np.int64),
            "recency_days": recency_days,
            "T_days": T_days,
            "recency": recency_days / time_unit_days,
            "T": T_days / time_unit_days,
            "monetary_value": monetary,
            "first_revenue": first_revenue[fitted],
            "calibration_revenue": calibration_revenue[fitted],
            "holdout_frequency": holdout_count[fitted].astype(np.int64),
            "holdout_revenue": holdout_revenue[fitted],
        },
        index=pd.Index(log.customer_ids[fitted], name="customer_id"),
    )
    late_customers = pd.DataFrame(
        {
            "first_date": _dates_of(first_day[late]),
            "holdout_frequency": holdout_count[late].astype(np.int64),
            "holdout_revenue": holdout_revenue[late],
        },
        index=pd.Index(log.customer_ids[late], name="customer_id"),
    )
    is_fitted = np.zeros(n, dtype=bool)
    is_fitted[fitted] = True
    repeat = is_fitted[customer] & (time > first[customer])
    repeat_by_day = pd.Series(
        np.bincount(day[repeat] - first_log, minlength=span + 1),
        index=pd.RangeIndex(span + 1, name="day"),
        name="repeat_occasions",
    )
    return PeriodSplit(
        customers=customers,
        late_customers=late_customers,
        repeat_by_day=repeat_by_day,
        start=_date_of(first_log),
        calibration_end=_date_of(end),
        holdout_end=_date_of(last_log),
        time_unit_days=float(time_unit_days),
        source=log.source,
    )


def _read_table(path: Path, source: str, wanted: dict[str, str]) -> pa.Table:
    if not path.is_file():
        raise OrderLogError(source, "no such file")
    if path.stat().st_size == 0:
        raise OrderLogError(source, "the file is empty")
    suffix = path.suffix.lower()
    try:
        if suffix in _PARQUET_SUFFIXES:
            names = pq.read_schema(path).names
        elif suffix in _CSV_SUFFIXES:
            as_text = pacsv.ConvertOptions(column_types=dict.fromkeys(wanted.values(), pa.string()))
            names = pacsv.open_csv(path, convert_options=as_text).schema.names
        else:
            raise OrderLogError(source, f"unknown file type '{suffix}' (allowed: .csv, .txt, .parquet, .pq)")
    except (pa.ArrowException, OSError) as error:
        raise OrderLogError(source, f"cannot be read as {suffix[1:]}: {error}") from None
    for name in REQUIRED_COLUMNS:
        if wanted[name] not in names:
            mapped = "" if wanted[name] == name else f" (mapped from {name})"
            raise OrderLogError(
                source,
                f"missing{mapped}; the file has {', '.join(names)} (map names with "
                "--columns customer_id=...,date=...,revenue=...)",
                None,
                wanted[name],
            )
    present = [column for column in wanted.values() if column in names]
    try:
        if suffix in _PARQUET_SUFFIXES:
            return pq.read_table(path, columns=present)
        string_columns = {wanted[name] for name in ("customer_id", "order_id", "channel", "date")}
        return pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                include_columns=present,
                column_types={column: pa.string() for column in present if column in string_columns},
                strings_can_be_null=True,
            ),
        )
    except (pa.ArrowException, OSError) as error:
        raise OrderLogError(source, f"cannot be read: {' '.join(str(error).split())}") from None


def _first_true(mask: pa.ChunkedArray | pa.Array) -> int:
    return int(pc.index(mask, True).as_py())


def _customer_codes(column: pa.ChunkedArray, source: str, name: str) -> tuple[IntArray, pd.Index]:
    if column.null_count:
        raise OrderLogError(source, "missing customer id", _first_true(pc.is_null(column)) + 1, name)
    encoded = pc.dictionary_encode(column.combine_chunks())
    codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    ids = pd.Index(encoded.dictionary.to_pandas(), name="customer_id")
    return codes, ids


def _dates(column: pa.ChunkedArray, source: str, name: str, date_format: str | None) -> pd.DatetimeIndex:
    if column.null_count:
        raise OrderLogError(source, "missing date", _first_true(pc.is_null(column)) + 1, name)
    kind = column.type
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        values = column.to_pandas()
        parsed = pd.to_datetime(values, utc=getattr(kind, "tz", None) is not None)
        index = pd.DatetimeIndex(parsed)
        return index.tz_localize(None) if index.tz is not None else index
    if not pa.types.is_string(kind) and not pa.types.is_large_string(kind):
        raise OrderLogError(source, f"dates must be text or a date type, not {kind}", None, name)
    if date_format is None:
        try:  # Arrow's parser reads plain ISO 8601 dates and datetimes fast
            fast = pc.cast(column, pa.timestamp("ns"))
            return pd.DatetimeIndex(fast.to_pandas())
        except pa.ArrowInvalid:
            pass
    text = column.to_pandas()
    with np.errstate(all="ignore"):
        parsed = pd.to_datetime(text, format=date_format or "ISO8601", utc=True, errors="coerce")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if bad.size:
        at = int(bad[0])
        iso = "ISO 8601, e.g. 2024-03-31 or 2024-03-31T14:05:00"
        expected = f"format '{date_format}'" if date_format else iso
        raise OrderLogError(source, f"unparsable date '{text.iloc[at]}' (expected {expected})", at + 1, name)
    return pd.DatetimeIndex(parsed).tz_localize(None)


def _numbers(column: pa.ChunkedArray, source: str, name: str, non_negative: bool) -> FloatArray:
    if column.null_count:
        at = _first_true(pc.is_null(column))
        raise OrderLogError(source, "missing value (a number is required)", at + 1, name)
    try:
        values = np.asarray(pc.cast(column, pa.float64()).to_numpy(), dtype=np.float64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        text = column.to_pandas()
        numbers = pd.to_numeric(text, errors="coerce").to_numpy(np.float64)
        at = int(np.flatnonzero(np.isnan(numbers))[0])
        raise OrderLogError(source, f"'{text.iloc[at]}' is not a number", at + 1, name) from None
    bad = ~np.isfinite(values)
    if non_negative:
        bad |= values < 0
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        allowed = "a finite number >= 0" if non_negative else "a finite number"
        raise OrderLogError(source, f"{values[at]:g} is not allowed ({allowed})", at + 1, name)
    return values


def _check_unique_orders(order_id: pd.Series, source: str, name: str) -> None:
    repeated = order_id.duplicated(keep="first").to_numpy()
    if repeated.any():
        at = int(np.flatnonzero(repeated)[0])
        value = order_id.iloc[at]
        first = int(np.flatnonzero((order_id == value).to_numpy())[0])
        raise OrderLogError(
            source,
            f"order id '{value}' repeats the order of row {first + 1} (one row per order)",
            at + 1,
            name,
        )


def _day_number(value: dt.date | str) -> int:
    return int((np.datetime64(pd.Timestamp(value).date(), "D") - _EPOCH).astype(np.int64))


def _date_of(day: int) -> pd.Timestamp:
    return pd.Timestamp(_EPOCH + np.timedelta64(day, "D"))


def _dates_of(days: IntArray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex((_EPOCH + days.astype("timedelta64[D]")).astype("datetime64[ns]"))
