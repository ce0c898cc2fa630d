"""The customer base of a digital twin: real customers as they stood on the first simulated day.

A scenario with a ``customer_base:`` section starts from an existing customer base instead of a
market of strangers (``run.py calibrate`` writes one; see :mod:`simulator.calibrate`):

- the **per-customer history file** (Parquet or CSV, ``file``, relative to the scenario file)
  holds each customer's purchase history up to the day before ``start_date``
  (:data:`HISTORY_COLUMNS`);
- the **personas are the segments** of the repeat-buying model (a latent-class BG/NBD; one
  persona is the plain BG/NBD): a persona's ``share`` is the segment's weight, its
  ``repurchase`` (``shape`` = ``r``, ``mean_days_between`` = ``alpha / r`` in days) and
  ``dropout`` (``mean`` = ``a / (a + b)``, ``concentration`` = ``a + b``) are the segment's
  BG/NBD parameters in days;
- ``spend`` holds the gamma-gamma model of spend per purchase;
- ``rate_factor`` and ``spend_factor`` turn the calibrated purchase rates and spend into the
  engine's repeat *attempts* and basket list values (an attempt may be abandoned at checkout,
  channels' messages lift the rate, returns and discounts lower the revenue of an order);
- ``media_share`` is the customers' share of the market the channels' media reach: that share
  of each channel's impressions lands on the agents (all of the spend is paid);
- ``acquisition`` says where new customers come from.

``population.agents`` is the number of agents standing for existing customers (all of them, or
a sample when fewer agents than customers) and ``population.scale`` must be the number of
people per agent: customers in the file x ``weight`` / agents (``weight`` is 1 for a complete
order log). New customers are agents on top
of these (:func:`pool_agents`). The engine draws each customer's latent traits from their
posterior given the history, anew for every seed (:mod:`simulator.engine.twin`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "HISTORY_COLUMNS",
    "Acquisition",
    "AcquisitionMode",
    "CustomerBase",
    "CustomerFileError",
    "CustomerHistories",
    "Spend",
    "pool_agents",
    "read_customer_histories",
    "write_customer_histories",
]

HISTORY_COLUMNS = ("customer_id", "first_day", "last_day", "frequency", "revenue", "monetary_value")
"""Columns of the per-customer history file.

``customer_id`` (text): the customer's id in the order log; ``first_day`` and ``last_day``
(whole days, counted from ``start_date``, so at most -1): the first and the last purchase
occasion; ``frequency``: repeat purchase occasions (occasions after the first, >= 0);
``revenue``: all the customer's revenue so far (currency, >= 0); ``monetary_value``: the mean
revenue of the repeat occasions (currency, >= 0; empty when ``frequency`` is 0).
"""

_POOL_TAIL = 1e-9
"""Chance that the new-customer agents run out before the horizon ends (observed acquisition)."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AcquisitionMode(StrEnum):
    """Where the twin's new customers come from."""

    observed = "observed"
    journey = "journey"
    none = "none"


class Acquisition(_Strict):
    """New customers of the twin: the observed acquisition rate, the media journey, or none."""

    mode: AcquisitionMode = Field(
        default=AcquisitionMode.observed,
        description=(
            "'observed': new customers make their first purchase at the rate new_customers_per_day, "
            "whatever the media do (until media are calibrated to the data); 'journey': 'prospects' "
            "agents go through the media journey like any shopper; 'none': no new customers."
        ),
    )
    new_customers_per_day: float = Field(
        default=0.0,
        ge=0,
        description="Observed mode: mean first purchases per day, a Poisson stream (people/day).",
    )
    prospects: int = Field(
        default=0, ge=0, description="Journey mode: agents who have not bought yet (agents)."
    )


class Spend(_Strict):
    """The gamma-gamma model of spend per purchase (Fader, Hardie and Lee 2005, "RFM and CLV").

    A customer's purchases are worth ``z ~ gamma(p, nu)`` each; ``nu ~ gamma(q, gamma)`` across
    customers, so the mean spend per purchase is ``p gamma / (q - 1)``.
    """

    p: float = Field(gt=0, description="Gamma shape of the value of one purchase (unitless).")
    q: float = Field(gt=0, description="Gamma shape of nu across customers (unitless).")
    gamma: float = Field(gt=0, description="Gamma rate of nu across customers (currency).")


class CustomerBase(_Strict):
    """An existing customer base the simulation starts from (see :mod:`simulator.config.customer_base`)."""

    file: str = Field(
        min_length=1,
        description=(
            "Per-customer history file (.parquet or .csv) with the columns customer_id, first_day, "
            "last_day, frequency, revenue, monetary_value; relative to the scenario file."
        ),
    )
    weight: float = Field(
        default=1.0,
        gt=0,
        description=(
            "People each customer of the history file stands for: 1 for a complete order log, the "
            "simulation's population.scale for the order log of a simulation (a sample of its market)."
        ),
    )
    spend: Spend | None = Field(
        default=None,
        description="Gamma-gamma spend per purchase; without it basket values follow the personas.",
    )
    rate_factor: float = Field(
        default=1.0,
        gt=0,
        le=100,
        description=(
            "Repeat-purchase attempts per calibrated purchase: an attempt can be abandoned at checkout "
            "and channels' messages lift the rate, so the engine tries rate_factor x the calibrated "
            "rate (ratio; measured by run.py calibrate)."
        ),
    )
    spend_factor: float = Field(
        default=1.0,
        gt=0,
        le=100,
        description=(
            "Basket list value per unit of calibrated spend: returns, discounts and shipping make an "
            "order's net revenue differ from its list value (ratio; measured by run.py calibrate)."
        ),
    )
    media_share: float = Field(
        default=1.0,
        gt=0,
        le=1,
        description=(
            "Share of each channel's impressions that lands on the agents: the customer base's share "
            "of the market the media reach (0-1]; the rest reaches people the twin does not simulate."
        ),
    )
    acquisition: Acquisition = Field(
        default_factory=Acquisition, description="Where new customers come from."
    )


class CustomerFileError(ValueError):
    """A per-customer history file that cannot be used; one line naming file, column and rule."""

    def __init__(self, source: str, message: str, column: str | None = None, row: int | None = None) -> None:
        self.source = source
        self.column = column
        self.row = row
        self.message = message
        where = [f"row {row}"] if row is not None else []
        if column is not None:
            where.append(f"column '{column}'")
        prefix = f"{source}: {', '.join(where)}" if where else source
        super().__init__(" ".join(f"{prefix}: {message}".splitlines()))


@dataclass(frozen=True)
class CustomerHistories:
    """The validated per-customer history file (one entry per customer, file order).

    Attributes
    ----------
    ids : numpy.ndarray
        Customer ids (text).
    first_day, last_day : numpy.ndarray
        First and last purchase occasion (days from ``start_date``, negative).
    frequency : numpy.ndarray
        Repeat purchase occasions (count).
    revenue : numpy.ndarray
        Revenue so far (currency).
    monetary_value : numpy.ndarray
        Mean revenue of the repeat occasions (currency; NaN without one).
    source : str
        The file.
    """

    ids: npt.NDArray[np.object_]
    first_day: IntArray
    last_day: IntArray
    frequency: IntArray
    revenue: FloatArray
    monetary_value: FloatArray
    source: str

    @property
    def size(self) -> int:
        """Number of customers."""
        return int(self.ids.size)

    @property
    def age_days(self) -> IntArray:
        """Days from each first purchase to the day before the start (``T`` in days)."""
        result: IntArray = -1 - self.first_day
        return result

    @property
    def recency_days(self) -> IntArray:
        """Days from each first purchase to the last (``t_x`` in days)."""
        result: IntArray = self.last_day - self.first_day
        return result

    def frame(self) -> pd.DataFrame:
        """The histories as a table with :data:`HISTORY_COLUMNS`."""
        return pd.DataFrame(
            {
                "customer_id": self.ids,
                "first_day": self.first_day,
                "last_day": self.last_day,
                "frequency": self.frequency,
                "revenue": self.revenue,
                "monetary_value": self.monetary_value,
            }
        )


def pool_agents(settings: CustomerBase, scale: float, horizon_days: int) -> int:
    """Agents set aside for new customers (on top of the existing customers' agents).

    Journey mode: ``acquisition.prospects``. Observed mode: enough that a Poisson stream of
    ``new_customers_per_day / scale`` agents a day runs out before ``horizon_days`` with a
    chance below ``1e-9``. None: 0.

    Parameters
    ----------
    settings
        The customer-base settings.
    scale
        Customers per agent (people).
    horizon_days
        Days simulated (days).
    """
    acquisition = settings.acquisition
    if acquisition.mode == AcquisitionMode.journey:
        return acquisition.prospects
    if acquisition.mode == AcquisitionMode.none:
        return 0
    mean = acquisition.new_customers_per_day / scale * horizon_days
    if mean <= 0:
        return 0
    from scipy.stats import poisson

    return int(poisson.isf(_POOL_TAIL, mean)) + 1


def write_customer_histories(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a per-customer history table (:data:`HISTORY_COLUMNS`) as Parquet or CSV (by suffix).

    Parameters
    ----------
    frame
        The table; extra columns are written too.
    path
        A ``.parquet`` or ``.csv`` file.
    """
    target = Path(path)
    table = frame.reset_index(drop=True).copy()
    table["customer_id"] = table["customer_id"].astype(str)
    if target.suffix.lower() in (".parquet", ".pq"):
        table.to_parquet(target, index=False)
    else:
        table.to_csv(target, index=False)


def read_customer_histories(path: str | Path) -> CustomerHistories:
    """Read and validate a per-customer history file (cached while the file is unchanged).

    Raises
    ------
    CustomerFileError
        When the file is missing or unreadable, misses a column, or a value breaks a rule:
        ``first_day <= last_day <= -1``, ``frequency`` a whole number >= 0 with
        ``last_day - first_day >= frequency`` (one occasion a day at most) and ``last_day ==
        first_day`` when it is 0, ``revenue`` and ``monetary_value`` >= 0, ids unique.
    """
    target = Path(path).resolve()
    try:
        stat = target.stat()
    except OSError:
        raise CustomerFileError(str(path), "no such file (the customer_base file)") from None
    if not target.is_file():
        raise CustomerFileError(str(path), "is not a file (the customer_base file)")
    return _read_cached(str(target), stat.st_mtime_ns, stat.st_size, str(path))


@functools.lru_cache(maxsize=8)
def _read_cached(target: str, _mtime: int, _size: int, source: str) -> CustomerHistories:
    suffix = Path(target).suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            data = pd.read_parquet(target)
        elif suffix in (".csv", ".txt"):
            data = pd.read_csv(target, dtype={"customer_id": str}, keep_default_na=False, na_values=[""])
        else:
            raise CustomerFileError(source, f"unknown file type '{suffix}' (allowed: .parquet, .csv)")
    except CustomerFileError:
        raise
    except (OSError, ValueError, ImportError) as error:
        raise CustomerFileError(source, f"cannot be read: {' '.join(str(error).split())}") from None
    for column in HISTORY_COLUMNS:
        if column not in data.columns:
            raise CustomerFileError(
                source, f"missing; the file has {', '.join(map(str, data.columns))}", column
            )
    if data.empty:
        raise CustomerFileError(source, "the file holds no customers")
    ids = data["customer_id"]
    if ids.isna().any():
        raise CustomerFileError(source, "missing customer id", "customer_id", _first(ids.isna()))
    ids = ids.astype(str)
    repeated = ids.duplicated()
    if repeated.any():
        raise CustomerFileError(
            source, f"customer id '{ids[repeated].iloc[0]}' appears twice", "customer_id", _first(repeated)
        )
    numbers = {column: _numeric(data, column, source) for column in HISTORY_COLUMNS[1:]}
    for column in ("first_day", "last_day", "frequency"):
        values = numbers[column]
        bad = ~np.isfinite(values) | (values != np.round(values))
        if bad.any():
            raise CustomerFileError(source, "must be a whole number", column, _first(bad))
    first, last, frequency = (numbers[c].astype(np.int64) for c in ("first_day", "last_day", "frequency"))
    checks: list[tuple[str, npt.NDArray[np.bool_], str]] = [
        ("last_day", last > -1, "must be at most -1 (days before start_date)"),
        ("first_day", first > last, "must not be after last_day"),
        ("frequency", frequency < 0, "must be >= 0"),
        ("frequency", (frequency == 0) & (last != first), "is 0 but last_day differs from first_day"),
        ("frequency", last - first < frequency, "exceeds the days from first_day to last_day"),
        ("revenue", ~(numbers["revenue"] >= 0), "must be a number >= 0"),
    ]
    money = numbers["monetary_value"]
    unpriced = (frequency > 0) & ~(money >= 0)
    checks.append(("monetary_value", unpriced, "must be a number >= 0 (frequency > 0)"))
    for column, bad, rule in checks:
        if bad.any():
            raise CustomerFileError(source, rule, column, _first(bad))
    return CustomerHistories(
        ids=ids.to_numpy(dtype=object),
        first_day=first,
        last_day=last,
        frequency=frequency,
        revenue=numbers["revenue"],
        monetary_value=np.where(frequency > 0, money, np.nan),
        source=source,
    )


def _numeric(data: pd.DataFrame, column: str, source: str) -> FloatArray:
    values = pd.to_numeric(data[column], errors="coerce").to_numpy(np.float64)
    unreadable = np.isnan(values) & data[column].notna().to_numpy()
    if unreadable.any():
        at = int(np.flatnonzero(unreadable)[0])
        raise CustomerFileError(source, f"'{data[column].iloc[at]}' is not a number", column, at + 1)
    if column != "monetary_value" and np.isnan(values).any():
        raise CustomerFileError(source, "missing value", column, int(np.flatnonzero(np.isnan(values))[0]) + 1)
    return values


def _first(mask: Any) -> int:
    """Row number (from 1) of the first true entry."""
    return int(np.flatnonzero(np.asarray(mask))[0]) + 1
