"""Customer lifetime value of real customers: ``run.py clv --orders FILE``.

The whole order log is the calibration period (:mod:`.calibrate`, no hold-out): the models are
fitted on it and the twin built from it, with the base scenario given, else a neutral one
(:func:`neutral_base`). For each customer in the log, in the shape of the simulated case
(:class:`simulator.measure.clv.CLVReport`, with ``twin`` in place of ``true``):

- ``realized_margin`` and ``realized_margin_discounted``: the margin of the customer's orders in
  the log (its ``margin`` column, else revenue x the margin share of the twin's simulated orders
  under the base economics), each order discounted to the customer's first purchase;
- ``p_alive_bgnbd``: ``P(alive)`` at the log's end from the chosen model (the BG/NBD model or a
  latent-class mixture of them, posterior-weighted over the segments); ``alive``: the share of
  the twin's seeds in which the customer was drawn alive;
- ``future_orders_bgnbd``: the chosen model's expected purchases over the value horizon,
  discounted on a weekly grid (:func:`simulator.customerbase.bgnbd.discounted_expected_transactions`,
  per segment, posterior-weighted); times ``margin_per_order`` (the gamma-gamma expected spend of
  the customer's next purchase x the margin share) it is ``remaining_value_bgnbd``;
- ``remaining_value_twin``: the discounted margin of the customer's orders in the twin's
  simulation of the value horizon, the mean over ``seeds`` runs (NaN for customers outside the
  twin's sample when there are more customers than agents); ``future_orders_twin``: their
  discounted number;
- every remaining value is discounted from the log's last day back to the customer's first
  purchase, as realized margin is, and ``clv_* = realized_margin_discounted + remaining_value_*``.

Groups are acquisition month (the calendar month of the first purchase, ``YYYY-MM``), acquisition
channel (of the first order, when the log has ``channel``) and persona (the most likely segment);
the retention matrix and repurchase curve count 30-day months and days from the log's first day.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..config.scenario import Scenario, ScenarioWarning, parse_scenario
from ..customerbase.bgnbd import discounted_expected_transactions
from ..data import OrderLog
from ..engine.lifetime import daily_discount_factor
from ..measure.clv import CLVReport, group_table, repurchase_table, retention_table
from .calibrate import calibrate
from .holdout import run_twin

__all__ = ["neutral_base", "order_log_clv"]

FloatArray = npt.NDArray[np.float64]


def neutral_base(log: OrderLog, horizon_days: int = 365) -> Scenario:
    """A base scenario that changes nothing: one storefront, no media, no friction, no levers.

    Economics: no fulfilment cost, returns or shipping; the gross margin is the log's
    ``margin / revenue`` when it has margins (0.45, the toolkit's default, otherwise).
    """
    orders = log.orders
    margin = 0.45
    if "margin" in orders.columns and orders["revenue"].sum() > 0:
        margin = float(np.clip(orders["margin"].sum() / orders["revenue"].sum(), 0.01, 0.99))
    persona = {
        "share": 1.0,
        "basket_value": {"mean": max(float(orders["revenue"].mean()), 0.01)},
        "repurchase": {"mean_days_between": 90.0},
        "dropout": {"mean": 0.3},
    }
    data: dict[str, Any] = {
        "name": "order log",
        "horizon_days": horizon_days,
        "population": {"agents": 1, "initial_aware_share": 0.0, "personas": {"customers": persona}},
        "channels": [{"name": "direct", "kind": "owned", "checkout_friction": 0.0, "retention_effect": 0.0}],
        "economics": {
            "gross_margin": margin,
            "fulfilment_cost_per_order": 0.0,
            "return_rate": 0.0,
            "return_cost_per_order": 0.0,
        },
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one channel: the warning about 3-5 channels is not for this
        return parse_scenario(data, "<neutral base>")


def order_log_clv(
    log: OrderLog,
    base: Scenario | None = None,
    discount_rate: float = 0.1,
    horizon_days: int = 365,
    seeds: int = 5,
    max_segments: int = 4,
    max_agents: int | None = None,
) -> CLVReport:
    """Lifetime value of every customer of an order log (see the module docstring).

    Parameters
    ----------
    log
        The order log.
    base
        The base scenario (channels, economics, levers); default :func:`neutral_base`.
    discount_rate
        Annual discount rate (share per year, >= 0).
    horizon_days
        Horizon of the expected remaining value (days, >= 1).
    seeds
        Twin runs over the value horizon (seeds from the base's).
    max_segments
        Most latent-class segments tried (1-4).
    max_agents
        Most agents for existing customers (default :data:`simulator.calibrate.twin.MAX_AGENTS`).

    Raises
    ------
    simulator.data.OrderLogError
        With too few repeat customers to identify the models.
    """
    delta = daily_discount_factor(discount_rate)
    neutral = base is None
    if base is None:
        base = neutral_base(log, horizon_days)
    options: dict[str, Any] = {"max_segments": max_segments, "forecast_days": horizon_days}
    if max_agents is not None:
        options["max_agents"] = max_agents
    with warnings.catch_warnings():
        if neutral:  # its one channel is on purpose: no warning about 3-5 channels
            warnings.simplefilter("ignore", ScenarioWarning)
        calibration = calibrate(base, log, **options)
    fit = calibration.fit
    split = fit.split
    table = split.customers
    ids = table.index.astype(str)
    weight = calibration.twin.customer_base.weight if calibration.twin.customer_base else 1.0

    # The twin's runs over the value horizon: discounted margin, orders and alive, per customer.
    twin = calibration.twin.with_overrides(days=horizon_days)
    position = pd.Index(calibration.histories["customer_id"].astype(str)).get_indexer(ids)
    runs = []
    revenue = margin = 0.0
    for offset in range(seeds):
        outcome, _ = run_twin(twin, base.seed + offset, horizon_days, daily_discount=delta)
        frame = outcome.per_customer
        runs.append(frame)
        revenue += float(frame["revenue"].sum())
        margin += float(frame["margin"].sum())
    pooled = pd.concat(runs).groupby("row")
    by_row = pd.DataFrame(
        {
            "discounted_margin": pooled["discounted_margin"].mean(),
            "alive": pooled["alive"].mean(),
        }
    ).reindex(np.arange(len(calibration.histories)))
    share = margin / revenue if revenue > 0 else float(base.economics.gross_margin)
    orders = log.orders
    if "margin" in orders.columns and orders["revenue"].sum() > 0:
        share = float(orders["margin"].sum() / orders["revenue"].sum())

    # Realized margin per customer, discounted to the first purchase.
    codes = orders["customer"].to_numpy(np.int64)
    day = orders["day"].to_numpy(np.int64)
    order_margin = (
        orders["margin"].to_numpy(np.float64)
        if "margin" in orders.columns
        else orders["revenue"].to_numpy(np.float64) * share
    )
    first_day = np.full(log.customers, np.iinfo(np.int64).max)
    np.minimum.at(first_day, codes, day)
    realized = np.bincount(codes, weights=order_margin, minlength=log.customers)
    realized_discounted = np.bincount(
        codes, weights=order_margin * delta ** (day - first_day[codes]), minlength=log.customers
    )
    code_of = pd.Index(log.customer_ids.astype(str)).get_indexer(ids)

    # The chosen model in closed form.
    model = fit.model
    x, t_x, age = fit.histories()
    posterior = model.posterior(x, t_x, age)
    future_model = np.zeros(len(table))
    for k, segment in enumerate(model.classes):
        future_model += posterior[:, k] * discounted_expected_transactions(
            segment, x, t_x, age, horizon_days, delta
        )
    money = np.nan_to_num(table["monetary_value"].to_numpy(np.float64), nan=0.0)
    per_order = fit.spend_model.conditional_expected_spend(x, money) * share
    end_day = (split.holdout_end - pd.Timestamp("1970-01-01")).days
    to_reference = delta ** (end_day - first_day[code_of]).astype(np.float64)
    simulated = by_row.iloc[position]
    remaining_twin = simulated["discounted_margin"].to_numpy(np.float64) * to_reference
    twin_orders = remaining_twin / np.where(per_order > 0, per_order, np.nan)
    remaining_model = future_model * per_order * to_reference

    start = split.start
    channel = _first_channel(orders, codes, day, first_day)[code_of]
    customers = pd.DataFrame(
        {
            "persona": np.asarray(calibration.twin.persona_names, dtype=object)[model.assign(x, t_x, age)],
            "acquisition_channel": channel,
            "acquisition_day": (table["first_date"] - start).dt.days.to_numpy(np.int64),
            "acquisition_month": table["first_date"].dt.strftime("%Y-%m").to_numpy(dtype=object),
            "orders": np.bincount(codes, minlength=log.customers)[code_of],
            "realized_margin": realized[code_of],
            "realized_margin_discounted": realized_discounted[code_of],
            "margin_per_order": per_order,
            "alive": simulated["alive"].to_numpy(np.float64),
            "p_alive_bgnbd": model.probability_alive(x, t_x, age),
            "future_orders_twin": twin_orders,
            "future_orders_bgnbd": future_model * to_reference,
            "remaining_value_twin": remaining_twin,
            "remaining_value_bgnbd": remaining_model,
            "clv_twin": realized_discounted[code_of] + remaining_twin,
            "clv_bgnbd": realized_discounted[code_of] + remaining_model,
        },
        index=pd.Index(ids, name="customer_id"),
    )
    span = (split.holdout_end - start).days + 1
    first_from_start = first_day - (start - pd.Timestamp("1970-01-01")).days
    day_from_start = day - (start - pd.Timestamp("1970-01-01")).days
    segments = len(model.classes)
    model_text = (
        f"{'BG/NBD' if segments == 1 else f'latent-class BG/NBD ({segments} segments, by BIC)'} and "
        f"gamma-gamma fitted on {len(table):,} customers of {split.source}; the twin: "
        f"{calibration.twin.population.agents:,} agents, {seeds} seeds"
    )
    return CLVReport(
        customers=customers,
        groups=group_table(customers, weight, label="twin"),
        retention=retention_table(first_from_start, codes, day_from_start, span),
        repurchase=repurchase_table(first_from_start, codes, day_from_start, span, weight),
        bgnbd=fit.bgnbd.model,
        discount_rate=discount_rate,
        horizon_days=horizon_days,
        scenario=base.name,
        currency="" if neutral else base.economics.currency,  # the neutral base's is no one's
        label="twin",
        model_text=model_text,
    )


def _first_channel(
    orders: pd.DataFrame,
    codes: npt.NDArray[np.int64],
    day: npt.NDArray[np.int64],
    first_day: npt.NDArray[np.int64],
) -> npt.NDArray[np.object_]:
    """Channel of each customer's first order ("unknown" without a ``channel`` column)."""
    result = np.full(first_day.size, "unknown", dtype=object)
    if "channel" not in orders.columns:
        return result
    first = np.flatnonzero(day == first_day[codes])
    # The first row of each customer on the first day, in file order.
    seen, at = np.unique(codes[first], return_index=True)
    result[seen] = orders["channel"].astype(str).to_numpy(dtype=object)[first[at]]
    return result
