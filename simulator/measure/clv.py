"""Customer lifetime value: realized and expected margin per shopper, cohort, channel and persona.

CLV of a customer = realized margin + expected remaining value, both discounted at an annual
rate to the customer's *reference day*: the day of the first purchase, or day 0 for customers
who had bought before the simulated horizon (their value is counted from day 0).

- **Realized margin**: the contribution of each of the customer's orders in the horizon (before
  marketing; :mod:`simulator.engine.economics`), discounted by ``delta^(order day - reference day)``,
  with the daily factor ``delta = (1 + annual rate)^(-1/365)``.
- **Expected remaining value, truth**: what the simulator knows of each customer now
  (:func:`simulator.engine.lifetime.latent_traits`): the repeat-purchase hazard, the checkout
  pass of the channels the customer would choose, the dropout chance, whether the customer is
  still alive, and what the levers keep doing after the horizon (a loyalty tier and its member
  price, satisfaction, CRM windows after every order, win-back offers, recovered carts). From
  them the engine derives a stationary chance ``q`` of an order a day and a chance ``p`` of
  dropping out after an order (:mod:`simulator.engine.lifetime`); a live customer is still
  alive at the start of future day ``s`` with chance ``(1 - q p)^(s-1)``, so over the next
  ``H`` days (365 by default) the expected discounted number of orders is
  ``sum_(s=1..H) delta^s q (1 - q p)^(s-1) = q delta (1 - rho^H) / (1 - rho)``,
  ``rho = delta (1 - q p)``; for a customer who dropped out, times the chance a lever brings
  them back (0 without win-back). It is multiplied by the customer's margin per future order
  and discounted from the last simulated day back to the reference day. Measured on the
  bundled scenarios (100,000 agents, a year, then the simulation continued for a year; seeds 7
  and 8), the customers acquired in the first year go on to place 0.98-1.03 times the
  predicted orders with the levers off and 1.00-1.04 times with the bundled levers on (the
  projection without the levers' lasting effects: 1.40-1.54 times); dated campaigns and orders
  that come through other people (referral, group buying) are not counted.
- **Expected remaining value, BG/NBD**: what an analyst would estimate from the transactions
  alone: the BG/NBD model fitted on the order log (:mod:`simulator.customerbase.bgnbd`), each customer's
  conditional expected purchases ``E[Y(t) | x, t_x, T]`` over the same ``H`` days, discounted on
  a weekly grid, times the same margin per order.
- **Margin per future order**: the mean margin of the customer's repeat orders; for a customer
  with none, the mean margin of the repeat orders of the customer's persona (first orders
  carry first-order discounts, so they are a poor guide to later ones).

Cohorts are 30-day acquisition months (``first purchase day // 30``). Counts of people and
totals are for the real market (agent figures x ``scale``); per-customer values are per person.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..common.format import format_percent, frame_text
from ..common.reading import open_results, read_result_csv, read_result_json
from ..config.scenario import Scenario
from ..customerbase.bgnbd import (
    BGNBDParameters,
    discounted_expected_transactions,
    fit_bgnbd,
    parameters_at_bound,
    probability_alive,
    rfm_from_transactions,
)
from ..engine.lifetime import (
    daily_discount_factor,
    daily_purchase_chance,
    expected_discounted_purchases,
    latent_traits,
)
from ..engine.model import CommerceModel
from ..engine.population import NO_DAY
from ..engine.results import SimulationResult, collect_results, write_files
from ..engine.simulate import check_memory
from .saved import json_writer

__all__ = [
    "CLV_FILES",
    "MONTH_DAYS",
    "CLVReport",
    "FitWarning",
    "customer_lifetime_value",
    "daily_discount_factor",
    "daily_purchase_chance",
    "expected_discounted_purchases",
    "latent_traits",
    "group_table",
    "repurchase_curve",
    "repurchase_table",
    "retention_matrix",
    "retention_table",
    "simulate_for_clv",
]

MONTH_DAYS = 30
"""Length of an acquisition month and of a retention-matrix column (days)."""
CLV_FILES = (
    "clv_customers.csv",
    "clv_cohorts.csv",
    "retention_matrix.csv",
    "repurchase_curve.csv",
    "clv.json",
)
DIMENSIONS = ("acquisition_month", "acquisition_channel", "persona")
BEFORE_HORIZON = "before day 0"
"""Acquisition-month label of customers who had bought before the simulated horizon."""

FloatArray = npt.NDArray[np.float64]


@dataclass
class CLVReport:
    """Lifetime value tables of one simulation.

    Attributes
    ----------
    customers : pandas.DataFrame
        One row per customer (``shopper_id``, shoppers who ever bought): persona, acquisition
        channel, day and month, orders, ``realized_margin`` (undiscounted) and
        ``realized_margin_discounted``, ``margin_per_order`` used for the future, ``alive`` and
        ``p_alive_bgnbd``, discounted expected future orders (``future_orders_true``,
        ``future_orders_bgnbd``), ``remaining_value_true``, ``remaining_value_bgnbd``,
        ``clv_true``, ``clv_bgnbd`` (currency per person).
    groups : pandas.DataFrame
        One row per (``dimension``, ``group``) for the dimensions acquisition month, acquisition
        channel and persona: ``customers`` (people), shares alive, mean orders and mean values
        per customer (currency per person) and totals ``clv_true_total``, ``clv_bgnbd_total``
        (currency, real market).
    retention : pandas.DataFrame
        See :func:`retention_matrix`.
    repurchase : pandas.DataFrame
        See :func:`repurchase_curve`.
    bgnbd : BGNBDParameters or None
        The BG/NBD fit (weeks), or ``None`` when it was not possible or not asked for.
    discount_rate : float
        Annual discount rate (share per year).
    horizon_days : int
        Horizon of the expected remaining value (days).
    scenario : str
        Name of the scenario simulated (or of the twin's base scenario).
    currency : str
        Currency code of its money.
    label : str
        Suffix of the columns of the first estimate: ``true`` (the simulator's truth, customers
        indexed by ``shopper_id``) or ``twin`` (a customer-base twin's simulation of real
        customers, indexed by ``customer_id``; :mod:`simulator.calibrate.clv`).
    model_text : str
        How the ``*_bgnbd`` columns' model was fitted, when not the plain BG/NBD fit of ``bgnbd``.
    """

    customers: pd.DataFrame
    groups: pd.DataFrame
    retention: pd.DataFrame
    repurchase: pd.DataFrame
    bgnbd: BGNBDParameters | None
    discount_rate: float
    horizon_days: int
    scenario: str = ""
    currency: str = ""
    label: str = "true"
    model_text: str = ""

    def group(self, dimension: str) -> pd.DataFrame:
        """The group table of one dimension (``acquisition_month``, ``acquisition_channel``, ``persona``)."""
        if dimension not in DIMENSIONS:
            raise ValueError(f"dimension must be one of {', '.join(DIMENSIONS)}, got {dimension!r}")
        rows = self.groups.index.get_level_values("dimension") == dimension
        table = self.groups.loc[rows].droplevel("dimension")
        table.index.name = dimension
        return table

    def to_text(self, currency: str = "") -> str:
        """A plain-text report: BG/NBD fit, CLV per acquisition channel and persona, retention.

        Parameters
        ----------
        currency
            Currency code shown with money columns (text).
        """
        unit = f" ({currency})" if currency else ""
        rate = format_percent(self.discount_rate)
        lines = [
            f"Customer lifetime value{unit}: realized margin discounted at {rate} a year + expected "
            f"remaining value over {self.horizon_days} days, per customer (totals for the market)",
        ]
        if self.model_text:
            lines.append(self.model_text)
        elif self.bgnbd is None:
            lines.append("BG/NBD: not fitted (no repeat purchases to fit on)")
        else:
            fit = self.bgnbd
            lines.append(
                f"BG/NBD fit on {fit.customers:,} customers (weeks): r={fit.r:.3f} alpha={fit.alpha:.3f} "
                f"a={fit.a:.3f} b={fit.b:.3f}"
            )
        truth = self.label
        shown = [
            "customers",
            "orders_per_customer",
            "realized_margin",
            f"remaining_value_{truth}",
            "remaining_value_bgnbd",
            f"clv_{truth}",
            "clv_bgnbd",
            f"clv_{truth}_total",
        ]
        for dimension in ("acquisition_channel", "persona"):
            lines += [
                "",
                f"By {dimension.replace('_', ' ')}",
                frame_text(self.group(dimension)[shown]),
            ]
        lines += [
            "",
            "Retention: share of each acquisition month's new customers buying k months later",
            self.retention.map(lambda v: format_percent(v, decimals=0) if pd.notna(v) else "").to_string(),
        ]
        curve = self.repurchase["repurchased_share"]
        points = [d for d in (7, 30, 60, 90, 180, 365) if d in curve.index and np.isfinite(curve[d])]
        if points:
            shares = ", ".join(f"{d} days {format_percent(curve[d])}" for d in points)
            lines += ["", f"Second purchase within (Kaplan-Meier): {shares}"]
        return "\n".join(lines)

    def save(self, out_dir: str | Path, overwrite: bool = False) -> list[Path]:
        """Write the four CLV tables and ``clv.json`` (:data:`CLV_FILES`) into ``out_dir``, all or none.

        ``clv.json`` holds the discount rate, the value horizon, the BG/NBD fit, the scenario's
        name and currency, the first estimate's label and the model's description: with the
        tables, what :meth:`load` needs. All files are written to
        a temporary folder first and moved in place only when complete, so a failure never
        leaves part of them.

        Raises
        ------
        simulator.OutputExistsError
            When ``out_dir`` already holds one of these files and ``overwrite`` is false.
        """
        tables = (self.customers, self.groups, self.retention, self.repurchase)
        writers: dict[str, Callable[[Path], object]] = {
            name: table.to_csv for name, table in zip(CLV_FILES[:4], tables, strict=True)
        }
        document = {
            "scenario": self.scenario,
            "currency": self.currency,
            "discount_rate": self.discount_rate,
            "horizon_days": self.horizon_days,
            "bgnbd": dataclasses.asdict(self.bgnbd) if self.bgnbd is not None else None,
            "label": self.label,
            "model_text": self.model_text,
        }
        writers[CLV_FILES[4]] = json_writer(document)
        return write_files(out_dir, writers, overwrite)

    @classmethod
    def load(cls, folder: str | Path) -> CLVReport:
        """Read a ``clv --out`` folder back (checked against its manifest).

        Raises
        ------
        simulator.common.output.OutputError
            One line naming the folder or file: missing, partial, or not written by ``clv``.
        """
        path = open_results(folder, CLV_FILES, "clv --out")
        document = read_result_json(path, CLV_FILES[4])
        retention = read_result_csv(path, CLV_FILES[2], ["acquisition_month"])
        retention.columns = pd.Index([int(c) for c in retention.columns], name="months_later")
        fit = document.get("bgnbd")
        label = str(document.get("label", "true"))  # folders written before labels: the simulator's
        if label == "true":
            customers = read_result_csv(path, CLV_FILES[0], ["shopper_id"]).astype({"orders": np.int32})
        else:  # real customers: ids as written (leading zeros kept)
            customers = read_result_csv(path, CLV_FILES[0], ["customer_id"], dtypes={"customer_id": str})
        return cls(
            customers=customers,
            groups=read_result_csv(path, CLV_FILES[1], ["dimension", "group"]),
            retention=retention,
            repurchase=read_result_csv(path, CLV_FILES[3], ["days_since_first"]),
            bgnbd=BGNBDParameters(**fit) if isinstance(fit, dict) else None,
            discount_rate=float(document.get("discount_rate", math.nan)),
            horizon_days=int(document.get("horizon_days", 0)),
            scenario=str(document.get("scenario", "")),
            currency=str(document.get("currency", "")),
            label=label,
            model_text=str(document.get("model_text", "")),
        )


def simulate_for_clv(
    scenario: Scenario, seed: int | None = None, progress: bool = False
) -> tuple[SimulationResult, pd.DataFrame]:
    """Simulate a scenario and keep the shoppers' true traits for :func:`customer_lifetime_value`.

    The same as :func:`simulator.simulate` (same seed, identical result), plus
    :func:`latent_traits` at the end of the horizon.

    Returns
    -------
    tuple of SimulationResult and pandas.DataFrame
        The result and the traits.
    """
    check_memory(scenario)
    model = CommerceModel(scenario, seed=seed)
    try:
        model.run(progress=progress)
        return collect_results(model), latent_traits(model)
    finally:
        model.release()


def retention_matrix(result: SimulationResult) -> pd.DataFrame:
    """Share of each acquisition month's new customers who bought again k months later.

    Months are 30-day blocks of the horizon (month ``m`` = days ``30m .. 30m+29``). Row ``m``,
    column ``k``: share of the customers whose first purchase fell in month ``m`` who ordered
    at least once in month ``m + k`` (k = 0 is 1 by definition). Cells of months not wholly
    inside the horizon are empty (NaN), so a partly observed month never looks like churn.
    Customers who bought before day 0 are left out.

    Returns
    -------
    pandas.DataFrame
        Index ``acquisition_month``, columns ``months_later`` 0, 1, ..., shares (0-1).
    """
    orders = _orders_of(result)
    return retention_table(
        _first_days(result),
        orders["shopper_id"].to_numpy(np.int64),
        orders["day"].to_numpy(np.int64),
        len(result.daily),
    )


def retention_table(
    first: npt.NDArray[np.int64], shopper: npt.NDArray[np.int64], day: npt.NDArray[np.int64], horizon: int
) -> pd.DataFrame:
    """:func:`retention_matrix` of any order log.

    Parameters
    ----------
    first
        Each customer's first purchase day (negative: before day 0, left out).
    shopper, day
        Customer (index into ``first``) and day of each order (days 0 .. horizon - 1).
    horizon
        Days observed.
    """
    months = math.ceil(horizon / MONTH_DAYS)
    cohort = np.where(first >= 0, first // MONTH_DAYS, -1)
    keep = cohort[shopper] >= 0
    shopper = shopper[keep]
    later = day[keep] // MONTH_DAYS - cohort[shopper]
    bought = np.unique(shopper * months + later)
    counts = np.zeros((months, months))
    np.add.at(counts, (cohort[bought // months], bought % months), 1.0)
    sizes = np.bincount(cohort[cohort >= 0], minlength=months).astype(np.float64)
    present = sizes > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = counts / sizes[:, None]
    month_index = np.arange(months)
    complete = (month_index[:, None] + month_index[None, :] + 1) * MONTH_DAYS <= horizon
    within = month_index[:, None] + month_index[None, :] < months
    shares = np.where((complete | (month_index[None, :] == 0)) & within, shares, np.nan)
    return pd.DataFrame(
        shares[present],
        index=pd.Index(month_index[present], name="acquisition_month"),
        columns=pd.Index(month_index, name="months_later"),
    )


def repurchase_curve(result: SimulationResult) -> pd.DataFrame:
    """Share of new customers with a second purchase within ``d`` days of their first.

    Customers acquired near the end of the horizon are observed for fewer days (censored), so
    the curve is the Kaplan-Meier estimate ``1 - prod_(u <= d) (1 - events(u) / at_risk(u))``:
    at risk on day ``u`` are the customers still without a second purchase and observed for at
    least ``u`` days after their first. ``repurchased_share_complete`` is the plain share among
    only the customers observed for the full ``d`` days, for comparison. Customers who bought
    before day 0 are left out.

    Returns
    -------
    pandas.DataFrame
        Index ``days_since_first`` (1 .. horizon - 1): ``at_risk`` and ``second_purchases``
        (people), ``repurchased_share`` and ``repurchased_share_complete`` (0-1).
    """
    orders = _orders_of(result)
    return repurchase_table(
        _first_days(result),
        orders["shopper_id"].to_numpy(np.int64),
        orders["day"].to_numpy(np.int64),
        len(result.daily),
        result.scenario.population.scale,
    )


def repurchase_table(
    first: npt.NDArray[np.int64],
    shopper: npt.NDArray[np.int64],
    day: npt.NDArray[np.int64],
    horizon: int,
    scale: float = 1.0,
) -> pd.DataFrame:
    """:func:`repurchase_curve` of any order log.

    Arguments as :func:`retention_table`; ``scale``: people each customer stands for.
    """
    new = np.flatnonzero(first >= 0)
    no_second = np.iinfo(np.int64).max
    second = np.full(first.size, no_second, dtype=np.int64)
    repeat = (first[shopper] >= 0) & (day > first[shopper])
    np.minimum.at(second, shopper[repeat], day[repeat])
    observed = horizon - 1 - first[new]
    has_second = second[new] != no_second
    gap = np.where(has_second, second[new] - first[new], observed)
    days = np.arange(1, max(horizon, 2))
    size = days.size + 2

    def count_at(values: npt.NDArray[np.int64]) -> FloatArray:
        return np.bincount(values, minlength=size)[:size].astype(np.float64)

    # People with a value >= d, and with a second purchase on day <= d, for d = 0, 1, ...
    at_least = count_at(gap)[::-1].cumsum()[::-1]
    observed_at_least = count_at(observed)[::-1].cumsum()[::-1]
    second_by = count_at(gap[has_second]).cumsum()
    observed_below = count_at(observed[has_second]).cumsum()
    at_risk = at_least[days]
    events = count_at(gap[has_second])[days]
    with np.errstate(invalid="ignore", divide="ignore"):
        hazard = np.where(at_risk > 0, events / at_risk, 0.0)
        share = 1.0 - np.cumprod(1.0 - hazard)
        # Second purchase by day d among those observed >= d days: gap <= d minus observed < d.
        complete = (second_by[days] - observed_below[days - 1]) / observed_at_least[days]
    return pd.DataFrame(
        {
            "at_risk": at_risk * scale,
            "second_purchases": events * scale,
            "repurchased_share": np.where(at_risk > 0, share, np.nan),
            "repurchased_share_complete": complete,
        },
        index=pd.Index(days, name="days_since_first"),
    )


def customer_lifetime_value(
    result: SimulationResult,
    traits: pd.DataFrame | None = None,
    discount_rate: float = 0.1,
    horizon_days: int = 365,
    fit_model: bool = True,
) -> CLVReport:
    """Lifetime value of every customer, by cohort, channel and persona (see the module docstring).

    Parameters
    ----------
    result
        A simulation result with its order log (``result.orders``).
    traits
        The shoppers' true traits (:func:`latent_traits`, :func:`simulate_for_clv`); without
        them the ``*_true`` columns are NaN.
    discount_rate
        Annual discount rate (share per year, >= 0).
    horizon_days
        Horizon of the expected remaining value (days, >= 0).
    fit_model
        Fit the BG/NBD model on the order log for the ``*_bgnbd`` columns; without repeat
        purchases to fit on, they are NaN and ``bgnbd`` is ``None``.

    Returns
    -------
    CLVReport
        Per-customer and grouped values, retention matrix and repurchase curve.

    Raises
    ------
    ValueError
        On a negative discount rate or horizon, or a result whose model kept no order log.
    """
    delta = daily_discount_factor(discount_rate)
    if horizon_days < 0:
        raise ValueError(f"the value horizon must be >= 0 days, got {horizon_days}")
    scenario = result.scenario
    end_day = len(result.daily) - 1
    table = result.customers
    orders = _orders_of(result)
    first = _first_days(result)
    ids = np.flatnonzero(first > NO_DAY)
    reference = np.maximum(first, 0)

    shopper = orders["shopper_id"].to_numpy(np.int64)
    day = orders["day"].to_numpy(np.int64)
    margin = orders["margin"].to_numpy(np.float64)
    n = first.size
    realized = np.bincount(shopper, weights=margin, minlength=n)[ids]
    discounted = np.bincount(shopper, weights=margin * delta ** (day - reference[shopper]), minlength=n)[ids]
    per_order = _margin_per_future_order(table, orders)[ids]

    to_reference = delta ** (end_day - reference[ids])
    columns: dict[str, object] = {
        "persona": table["persona"].to_numpy()[ids],
        "acquisition_channel": table["acquisition_channel"].to_numpy()[ids],
        "acquisition_day": first[ids],
        "acquisition_month": _month_labels(first[ids]),
        "orders": table["orders"].to_numpy()[ids],
        "realized_margin": realized,
        "realized_margin_discounted": discounted,
        "margin_per_order": per_order,
    }
    if traits is not None:
        chosen = traits.iloc[ids]
        dropout = chosen["dropout_per_order"] if "dropout_per_order" in chosen else chosen["dropout_prob"]
        alive = chosen["alive_chance"] if "alive_chance" in chosen else chosen["alive"]
        future_true = expected_discounted_purchases(
            daily_purchase_chance(chosen), dropout, alive, horizon_days, delta
        )
        columns["alive"] = chosen["alive"].to_numpy()
    else:
        future_true = np.full(ids.size, np.nan)
        columns["alive"] = np.full(ids.size, np.nan)

    params: BGNBDParameters | None = None
    future_model = np.full(ids.size, np.nan)
    p_alive = np.full(ids.size, np.nan)
    if fit_model and ids.size:
        # Purchases before day 0 are known only by the last one: it stands as the first.
        before = ids[first[ids] < 0]
        rfm = rfm_from_transactions(
            np.concatenate([shopper, before]), np.concatenate([day, first[before]]), end_day
        ).reindex(ids)
        try:
            params = fit_bgnbd(rfm["x"], rfm["t_x"], rfm["age"])
        except ValueError:
            params = None
        if params is not None:
            _warn_at_bound(params, scenario.name)
        if params is not None:
            p_alive = probability_alive(params, rfm["x"], rfm["t_x"], rfm["age"])
            future_model = discounted_expected_transactions(
                params, rfm["x"], rfm["t_x"], rfm["age"], horizon_days, delta
            )
    columns["p_alive_bgnbd"] = p_alive
    columns["future_orders_true"] = future_true * to_reference
    columns["future_orders_bgnbd"] = future_model * to_reference
    remaining_true = future_true * to_reference * per_order
    remaining_model = future_model * to_reference * per_order
    columns["remaining_value_true"] = remaining_true
    columns["remaining_value_bgnbd"] = remaining_model
    columns["clv_true"] = discounted + remaining_true
    columns["clv_bgnbd"] = discounted + remaining_model
    customers = pd.DataFrame(columns, index=pd.Index(ids, name="shopper_id"))
    groups = group_table(customers, scenario.population.scale)
    return CLVReport(
        customers=customers,
        groups=groups,
        retention=retention_matrix(result),
        repurchase=repurchase_curve(result),
        bgnbd=params,
        discount_rate=discount_rate,
        horizon_days=horizon_days,
        scenario=scenario.name,
        currency=scenario.economics.currency,
    )


class FitWarning(UserWarning):
    """A model fitted on the order log whose estimate is not reliable (a parameter at a bound)."""


def _warn_at_bound(params: BGNBDParameters, source: str) -> None:
    """Warn when a BG/NBD parameter sits at a bound of the fit's search (it was not pinned down)."""
    at_bound = parameters_at_bound(params)
    if at_bound:
        listed = ", ".join(
            f"{name}={getattr(params, name):.3g} ({side} bound)" for name, side in at_bound.items()
        )
        warnings.warn(
            f"{source}: the BG/NBD fit left {listed}: the order log does not pin "
            f"{'it' if len(at_bound) == 1 else 'them'} down (too few repeat purchases or too short a "
            "horizon), so the *_bgnbd values are not reliable; simulate more agents or days",
            FitWarning,
            stacklevel=3,
        )


def _orders_of(result: SimulationResult) -> pd.DataFrame:
    orders = result.orders
    if "shopper_id" not in orders.columns or (orders.empty and (result.customers["orders"] > 0).any()):
        raise ValueError("the result has no order log (the model's order_log was switched off)")
    return orders


def _first_days(result: SimulationResult) -> npt.NDArray[np.int64]:
    values: npt.NDArray[np.int64] = result.customers["first_purchase_day"].to_numpy(
        dtype=np.int64, na_value=int(NO_DAY)
    )
    return values


def _month_labels(first: npt.NDArray[np.int64]) -> npt.NDArray[np.object_]:
    labels = np.where(first >= 0, first // MONTH_DAYS, -1).astype(str).astype(object)
    labels[first < 0] = BEFORE_HORIZON
    return labels


def _margin_per_future_order(table: pd.DataFrame, orders: pd.DataFrame) -> FloatArray:
    """Mean margin of each shopper's repeat orders, else of the persona's, else of all orders."""
    n = len(table)
    persona = table["persona"].cat.codes.to_numpy(np.int64)
    n_personas = len(table["persona"].cat.categories)
    repeat = ~orders["first"].to_numpy(np.bool_)
    shopper = orders["shopper_id"].to_numpy(np.int64)
    margin = orders["margin"].to_numpy(np.float64)
    sums = np.bincount(shopper[repeat], weights=margin[repeat], minlength=n)
    counts = np.bincount(shopper[repeat], minlength=n)
    persona_sums = np.bincount(persona[shopper[repeat]], weights=margin[repeat], minlength=n_personas)
    persona_counts = np.bincount(persona[shopper[repeat]], minlength=n_personas)
    all_sums = np.bincount(persona[shopper], weights=margin, minlength=n_personas)
    all_counts = np.bincount(persona[shopper], minlength=n_personas)
    overall = float(margin.mean()) if margin.size else 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        persona_mean = np.where(
            persona_counts > 0,
            persona_sums / persona_counts,
            np.where(all_counts > 0, all_sums / all_counts, overall),
        )
        values: FloatArray = np.where(counts > 0, sums / counts, persona_mean[persona])
    return values


def group_table(customers: pd.DataFrame, scale: float, label: str = "true") -> pd.DataFrame:
    """CLV by acquisition month, acquisition channel and persona (see :attr:`CLVReport.groups`).

    ``label`` is the suffix of the first estimate's columns (``true`` or ``twin``).
    """
    frames = []
    for dimension in DIMENSIONS:
        keys = customers[dimension].astype(str)
        grouped = customers.groupby(keys, sort=False)
        frame = pd.DataFrame(
            {
                "customers": grouped.size() * scale,
                "orders_per_customer": grouped["orders"].mean(),
                f"alive_share_{label}": grouped["alive"].mean(),
                "p_alive_bgnbd": grouped["p_alive_bgnbd"].mean(),
                "realized_margin": grouped["realized_margin_discounted"].mean(),
                f"remaining_value_{label}": grouped[f"remaining_value_{label}"].mean(),
                "remaining_value_bgnbd": grouped["remaining_value_bgnbd"].mean(),
                f"clv_{label}": grouped[f"clv_{label}"].mean(),
                "clv_bgnbd": grouped["clv_bgnbd"].mean(),
                f"clv_{label}_total": grouped[f"clv_{label}"].sum(min_count=1) * scale,
                "clv_bgnbd_total": grouped["clv_bgnbd"].sum(min_count=1) * scale,
            }
        )
        if dimension == "acquisition_month":
            order = sorted(frame.index, key=_month_order)
            frame = frame.loc[order]
        frame.index.name = "group"
        frames.append(pd.concat({dimension: frame}, names=["dimension"]))
    return pd.concat(frames)


def _month_order(label: str) -> tuple[int, str]:
    """Acquisition months in time order: before day 0 first, then numbered months or dates."""
    if label == BEFORE_HORIZON:
        return (-1, "")
    return (int(label), "") if label.lstrip("-").isdigit() else (0, label)
