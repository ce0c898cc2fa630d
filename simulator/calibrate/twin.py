"""Building the customer-base twin: a base scenario with the real customers as its population.

:func:`twin_scenario_data` turns a base scenario and the models fitted on an order log
(:mod:`.models`) into the data of a twin scenario (:mod:`simulator.config.customer_base`):

- **Day 0** is the day after the calibration end (``start_date``). When the base scenario sets
  its own ``start_date``, its budget periods and campaigns keep their calendar dates
  (:meth:`Scenario.starting_on`); otherwise its calendar counts from the twin's day 0.
- **Personas** are the chosen model's segments, ``segment_1`` (slowest buyers) to ``segment_K``:
  share = the segment's weight, ``repurchase`` and ``dropout`` = its BG/NBD parameters in days,
  ``basket_value`` = the gamma-gamma mean spend per purchase with the log-spread of a gamma of
  shape ``p`` (``sigma = sqrt(log(1 + 1/p))``, same coefficient of variation), ``refractory_days``
  0 (the BG/NBD process is memoryless). How they meet channels (affinity, price sensitivity,
  consideration, cart rate, channels compared) is the base personas' share-weighted mean.
- **The customers** are written to a history file (:func:`customer_histories`), one row per
  customer, sorted by frequency, age and recency so that a systematic sample is stratified;
  with more customers than ``max_agents`` the agents are a sample and ``population.scale``
  is customers per agent.
- **New customers** arrive at the observed rate: first purchases per day over the last
  :data:`ACQUISITION_WINDOW_DAYS` days of the calibration period (the whole period when shorter),
  a Poisson stream (``acquisition.mode: observed``), until media calibration replaces it.
- **Lifecycle** thresholds, unless the base scenario sets ``lifecycle``, follow the data's
  inter-purchase times (days between a customer's consecutive purchase occasions in the
  calibration period): lapsed after the 80th percentile, churned after the 95th
  (:func:`lifecycle_from_gaps`).
- **Media** keep the base's channels, spend and levers; the customers' share of the base's market
  (``population.agents x scale`` people), ``media_share``, is the share of each channel's
  impressions that reaches them (the rest reaches prospects the twin does not simulate).
- ``rate_factor`` and ``spend_factor`` start at 1; :mod:`.holdout` measures them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..config.customer_base import AcquisitionMode
from ..config.scenario import Scenario
from ..data import OrderLog, PeriodSplit
from .models import TIME_UNIT_DAYS, CustomerBaseFit

__all__ = [
    "ACQUISITION_WINDOW_DAYS",
    "LAPSED_QUANTILE",
    "CHURNED_QUANTILE",
    "MAX_AGENTS",
    "Segment",
    "acquisition_curve",
    "customer_histories",
    "lifecycle_from_gaps",
    "segments_of",
    "twin_personas",
    "twin_scenario_data",
]

ACQUISITION_WINDOW_DAYS = 90
"""Days at the end of the calibration period whose first purchases set the acquisition rate."""
LAPSED_QUANTILE = 0.80
CHURNED_QUANTILE = 0.95
"""Quantiles of the inter-purchase times that set the lapsed and churned thresholds."""
MAX_AGENTS = 100_000
"""Most agents for existing customers by default; above it the agents are a sample."""

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Segment:
    """One segment of the repeat-buying model (time unit: weeks, as fitted)."""

    weight: float
    r: float
    alpha: float
    a: float
    b: float


def segments_of(fit: CustomerBaseFit) -> list[Segment]:
    """The chosen model's segments."""
    model = fit.model
    return [Segment(w, c.r, c.alpha, c.a, c.b) for c, w in zip(model.classes, model.weights, strict=True)]


def customer_histories(split: PeriodSplit) -> pd.DataFrame:
    """The calibration customers as a history table (:data:`simulator.config.customer_base.HISTORY_COLUMNS`).

    Days count from the day after the calibration end (day 0 of the twin): ``first_day =
    first purchase - day 0``. Rows are sorted by frequency, age and recency (then id), so every
    ``k``-th row is a stratified sample.
    """
    table = split.customers
    start = split.calibration_end + pd.Timedelta(days=1)
    first = (table["first_date"] - start).dt.days.to_numpy(np.int64)
    recency = np.rint(table["recency_days"].to_numpy(np.float64)).astype(np.int64)
    frame = pd.DataFrame(
        {
            "customer_id": table.index.astype(str),
            "first_day": first,
            "last_day": first + recency,
            "frequency": table["frequency"].to_numpy(np.int64),
            "revenue": table["calibration_revenue"].to_numpy(np.float64),
            "monetary_value": table["monetary_value"].to_numpy(np.float64),
        }
    )
    keys = (frame["customer_id"].to_numpy(), frame["last_day"], frame["first_day"], frame["frequency"])
    order = np.lexsort(keys)
    return frame.iloc[order].reset_index(drop=True)


def acquisition_curve(split: PeriodSplit) -> pd.DataFrame:
    """First purchases per day over both periods (calibration customers and late ones).

    Returns
    -------
    pandas.DataFrame
        Index ``date``: ``day`` (from the log's first day), ``period``, ``new_customers`` (people).
    """
    dates = pd.concat([split.customers["first_date"], split.late_customers["first_date"]])
    days = pd.date_range(split.start, split.holdout_end, freq="D")
    counts = dates.value_counts().reindex(days, fill_value=0)
    return pd.DataFrame(
        {
            "day": np.arange(days.size),
            "period": np.where(days <= split.calibration_end, "calibration", "holdout"),
            "new_customers": counts.to_numpy(np.int64),
        },
        index=pd.Index(days, name="date"),
    )


def observed_acquisition_rate(split: PeriodSplit) -> float:
    """First purchases per day over the last :data:`ACQUISITION_WINDOW_DAYS` calibration days (people/day)."""
    window = min(ACQUISITION_WINDOW_DAYS, split.calibration_days)
    since = split.calibration_end - pd.Timedelta(days=window - 1)
    first = split.customers["first_date"]
    return float(((first >= since) & (first <= split.calibration_end)).sum() / window)


def lifecycle_from_gaps(log: OrderLog, calibration_end: pd.Timestamp) -> tuple[int, int, FloatArray]:
    """Lapsed and churned thresholds from the inter-purchase times of the calibration period.

    Returns
    -------
    tuple
        ``lapsed_after_days`` (80th percentile of the gaps, rounded up, >= 1),
        ``churned_after_days`` (95th percentile, rounded up, > lapsed) and the gaps (days).
    """
    occasions = log.occasions()
    end = (calibration_end - pd.Timestamp("1970-01-01")).days
    occasions = occasions[occasions["day"] <= end]
    customer = occasions["customer"].to_numpy(np.int64)
    day = occasions["day"].to_numpy(np.int64)
    same = customer[1:] == customer[:-1]
    gaps = (day[1:] - day[:-1])[same].astype(np.float64)
    if gaps.size == 0:
        return 30, 90, gaps
    lapsed = max(1, math.ceil(float(np.quantile(gaps, LAPSED_QUANTILE))))
    churned = max(lapsed + 1, math.ceil(float(np.quantile(gaps, CHURNED_QUANTILE))))
    return min(lapsed, 3649), min(churned, 3650), gaps


def twin_personas(
    base: Scenario, segments: list[Segment], spend: tuple[float, float, float], mean_spend: float
) -> dict[str, Any]:
    """Personas of a twin: one per segment (see the module docstring).

    Parameters
    ----------
    base
        The base scenario (how its personas meet channels is averaged).
    segments
        The segments (weeks).
    spend
        Gamma-gamma ``(p, q, gamma)``.
    mean_spend
        Mean spend per purchase for the personas' ``basket_value.mean`` (currency).
    """
    personas = base.population.personas
    share = np.array([p.share for p in personas.values()], dtype=np.float64)
    share /= share.sum()

    def mean(values: list[float]) -> float:
        return float(np.dot(share, values))

    channels = base.channel_names
    affinity = {c: mean([p.channel_affinity.get(c, 1.0) for p in personas.values()]) for c in channels}
    low = mean([p.consideration_days[0] for p in personas.values()])
    high = mean([p.consideration_days[1] for p in personas.values()])
    p = spend[0]
    result: dict[str, Any] = {}
    for number, seg in enumerate(segments, start=1):
        a, b = seg.a, seg.b
        result[f"segment_{number}"] = {
            "share": seg.weight,
            "channel_affinity": affinity,
            "price_sensitivity": mean([p_.price_sensitivity for p_ in personas.values()]),
            "basket_value": {"mean": mean_spend, "sigma": min(3.0, math.sqrt(math.log1p(1.0 / p)))},
            "consideration_days": [round(low), max(round(low), round(high))],
            "channels_compared": mean([p_.channels_compared for p_ in personas.values()]),
            "cart_rate": mean([p_.cart_rate for p_ in personas.values()]),
            "repurchase": {
                "mean_days_between": seg.alpha * TIME_UNIT_DAYS / seg.r,
                "shape": seg.r,
                "refractory_days": 0.0,
            },
            "dropout": {"mean": a / (a + b), "concentration": a + b},
        }
    return result


def twin_scenario_data(
    base: Scenario,
    fit: CustomerBaseFit,
    log: OrderLog,
    file: str,
    max_agents: int = MAX_AGENTS,
    name: str | None = None,
    weight: float = 1.0,
) -> dict[str, Any]:
    """The data of the twin scenario (validate it with :func:`simulator.parse_scenario`).

    Parameters
    ----------
    base
        The base scenario, as loaded (its ``start_date`` and ``lifecycle`` count as set only
        when its file sets them).
    fit
        The models fitted on the calibration period.
    log
        The order log (for the inter-purchase times).
    file
        The history file's path as the scenario should name it (e.g. ``customers.parquet``).
    max_agents
        Most agents for the existing customers (a sample above it).
    name
        The twin's name (default: the base's with "twin").
    weight
        People each customer of the log stands for (1 for a complete log; the simulation's
        ``population.scale`` for a simulated one).
    """
    split = fit.split
    start = (split.calibration_end + pd.Timedelta(days=1)).date()
    moved = base.starting_on(start) if "start_date" in base.model_fields_set else base
    data = moved.model_dump(mode="json", exclude_none=True)
    data["start_date"] = start.isoformat()
    data["name"] = (name or f"{base.name} (customer-base twin)")[:120]
    data["description"] = (
        f"Customer-base twin of {base.name}: the {len(split.customers):,} customers of {split.source} "
        f"as they stood on {split.calibration_end.date()}, calibrated by run.py calibrate."
    )
    customers = len(split.customers)
    agents = min(customers, max_agents)
    population = base.population
    data["population"] = {
        "agents": agents,
        "scale": customers * weight / agents,
        "initial_aware_share": population.initial_aware_share,
        "initial_customer_share": 0.0,
        "awareness_memory_days": population.awareness_memory_days,
        "opt_in_rate": population.opt_in_rate,
        "personas": twin_personas(base, segments_of(fit), _spend_tuple(fit), mean_spend(fit)),
    }
    if "lifecycle" not in base.model_fields_set:
        lapsed, churned, _ = lifecycle_from_gaps(log, split.calibration_end)
        data["lifecycle"] = {"lapsed_after_days": lapsed, "churned_after_days": churned}
    data["customer_base"] = {
        "file": file,
        "weight": weight,
        "spend": dict(zip(("p", "q", "gamma"), _spend_tuple(fit), strict=True)),
        "rate_factor": 1.0,
        "spend_factor": 1.0,
        "media_share": min(1.0, customers * weight / (population.agents * population.scale)),
        "acquisition": {
            "mode": AcquisitionMode.observed.value,
            "new_customers_per_day": observed_acquisition_rate(split) * weight,
        },
    }
    return data


def mean_spend(fit: CustomerBaseFit) -> float:
    """Mean spend per purchase: the gamma-gamma ``p gamma / (q - 1)``, or the data's mean when ``q <= 1``."""
    spend = fit.spend_model
    if spend.q > 1:
        return float(spend.mean_spend)
    table = fit.split.customers
    return float(table.loc[table["frequency"] > 0, "monetary_value"].mean())


def _spend_tuple(fit: CustomerBaseFit) -> tuple[float, float, float]:
    spend = fit.spend_model
    return float(spend.p), float(spend.q), float(spend.gamma)
