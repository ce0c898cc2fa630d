"""Order economics: every order carries its basket value, discount, cost of goods, fee and fulfilment.

Per order (agent units; results multiply by the population scale):

- ``order_value`` = basket list value - discount + shipping fee (what the shopper pays);
- a share ``return_rate`` of orders is returned: the shopper is refunded, goods go back to stock,
  the channel refunds its commission, and the seller pays fulfilment plus return handling;
- for kept orders: ``revenue`` = list value + shipping fee, ``discounts`` = discount given,
  ``cogs`` = list value x (1 - gross margin); ``fees`` = commission on the amount paid plus the
  channel's fee per order (all orders; commission only on kept orders); ``fulfilment`` = fulfilment
  cost (+ return handling when returned).

So ``revenue - discounts - cogs - fees - fulfilment`` is the order's contribution, and the
scenario's profit is the sum of contributions minus media spend (channel fixed costs are booked
as fees).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ..levers.base import OrderBatch
from .population import NO_DAY, Funnel, State

if TYPE_CHECKING:
    from .model import CommerceModel

__all__ = ["FOLLOW_UP_WINDOWS", "OrderLog", "book_orders"]

FOLLOW_UP_WINDOWS = (7, 30, 60)
"""Windows (days) in which a next order counts as a repurchase within 7 / 30 / 60 days."""


@dataclass
class OrderLog:
    """Every order booked, kept as the arrays of each booking (agent units, per order).

    About 24 bytes per order; :func:`simulator.engine.results.collect_results` turns it into
    ``SimulationResult.orders``. Set ``model.order_log = None`` before running to skip it.
    """

    day: list[npt.NDArray[np.int32]] = dataclass_field(default_factory=list)
    shopper: list[npt.NDArray[np.int32]] = dataclass_field(default_factory=list)
    channel: list[npt.NDArray[np.int8]] = dataclass_field(default_factory=list)
    revenue: list[npt.NDArray[np.float64]] = dataclass_field(default_factory=list)
    """Revenue net of discounts of each order (currency/order; 0 when returned)."""
    margin: list[npt.NDArray[np.float64]] = dataclass_field(default_factory=list)
    """Contribution of each order before marketing (currency/order)."""
    first: list[npt.NDArray[np.bool_]] = dataclass_field(default_factory=list)
    """Whether the order was the shopper's first."""

    def record(
        self,
        day: int,
        shoppers: npt.NDArray[np.int64],
        channels: npt.NDArray[np.int64],
        revenue: npt.NDArray[np.float64],
        margin: npt.NDArray[np.float64],
        first: npt.NDArray[np.bool_],
    ) -> None:
        """Append one booking's orders (one entry per shopper)."""
        self.day.append(np.full(shoppers.size, day, dtype=np.int32))
        self.shopper.append(shoppers.astype(np.int32))
        self.channel.append(channels.astype(np.int8))
        self.revenue.append(np.asarray(revenue, dtype=np.float64))
        self.margin.append(np.asarray(margin, dtype=np.float64))
        self.first.append(np.asarray(first, dtype=np.bool_))


def book_orders(
    model: CommerceModel, shoppers: npt.NDArray[np.int64], channels: npt.NDArray[np.int64]
) -> None:
    """Book one order for each shopper in its channel and update shopper and channel ledgers.

    Discounts, free shipping and points come from the model's levers
    (:class:`simulator.levers.base.LeverEffects`), which then see the orders.

    Parameters
    ----------
    model
        The model.
    shoppers
        Ids of the buying shoppers (each at most once a day).
    channels
        Channel index of each order.
    """
    if shoppers.size == 0:
        return
    pop = model.population
    levers = model.levers
    econ = model.scenario.economics
    day = model.day
    persona = pop.persona[shoppers]
    table = pop.personas
    first = pop.first_purchase_day[shoppers] == NO_DAY
    repeat = ~first
    own = pop.basket_log_mean  # a twin's customers have their own
    log_mean = table.basket_log_mean[persona] if own is None else own[shoppers]
    basket = np.exp(log_mean + table.basket_log_sigma[persona] * model.crn.normal("basket", day, shoppers))
    discount_rate = levers.discount(model, shoppers, channels, first)
    discount = basket * discount_rate
    points = levers.redeem_points(model, shoppers, basket - discount)
    shipping = levers.shipping_fee(model, shoppers)
    paid = basket - discount - points + shipping
    kept = model.crn.uniform("returned", day, shoppers) >= econ.return_rate

    commission = model.channel_commission[channels]
    revenue = np.where(kept, basket + shipping, 0.0)
    discounts = np.where(kept, discount + points, 0.0)
    cogs = np.where(kept, basket * (1.0 - econ.gross_margin), 0.0)
    fees = np.where(kept, commission * paid, 0.0) + model.channel_fee_per_order[channels]
    fulfilment = econ.fulfilment_cost_per_order + np.where(kept, 0.0, econ.return_cost_per_order)
    contribution = revenue - discounts - cogs - fees - fulfilment

    previous = pop.last_purchase_day[shoppers]
    recovered = (day - pop.abandoned_cart_day[shoppers]) <= model.recovery_window(shoppers)
    pop.abandoned_cart_day[shoppers[recovered]] = NO_DAY

    if model.touches is not None:
        model.touches.on_orders(shoppers, channels, first, revenue - discounts, day)
    for world, at, ids in model.by_world(shoppers):
        _count_orders(world, ids, previous[at], persona[at], contribution[at], first[at])
        if world.order_log is not None:
            revenue_net = (revenue - discounts)[at]
            world.order_log.record(day, ids, channels[at], revenue_net, contribution[at], first[at])
    pop.first_purchase_day[shoppers[first]] = day
    pop.acquisition_channel[shoppers[first]] = channels[first]
    pop.last_purchase_day[shoppers] = day
    pop.state[shoppers] = State.ACTIVE
    pop.known[shoppers[first]] = True
    pop.funnel[shoppers] |= np.uint8(Funnel.ORDERED)
    pop.funnel[shoppers[repeat]] |= np.uint8(Funnel.REPEATED)
    pop.orders[shoppers] += 1
    pop.revenue[shoppers] += revenue - discounts
    pop.contribution[shoppers] += contribution

    totals: dict[str, npt.NDArray[np.float64] | npt.NDArray[np.bool_] | None] = {
        "orders": None,
        "new_customers": first,
        "repeat_orders": repeat,
        "recovered_carts": recovered,
        "returns": ~kept,
        "order_value": paid,
        "revenue": revenue,
        "discounts": discounts,
        "cogs": cogs,
        "fees": fees,
        "fulfilment": fulfilment,
    }
    for field, values in totals.items():
        model.add_to_ledger(field, shoppers, channels, values)
    levers.on_orders(model, OrderBatch(shoppers, channels, first, kept, paid, basket, discount_rate))


def _count_orders(
    model: CommerceModel,
    shoppers: npt.NDArray[np.int64],
    previous: npt.NDArray[Any],
    persona: npt.NDArray[np.int8],
    contribution: npt.NDArray[np.float64],
    first: npt.NDArray[np.bool_],
) -> None:
    """One world's follow-up windows, margins by persona and acquired value of today's orders.

    ``previous``: each shopper's last purchase day before today's order.
    """
    day = model.day
    repeat = ~first
    # Each order has at most one next order: count, by the day of the earlier order, whether the
    # next one came within each follow-up window (7, 30, 60 days).
    followed = repeat & (previous >= 0)
    gap = day - previous[followed]
    for column, window in enumerate(FOLLOW_UP_WINDOWS):
        np.add.at(model.repeat_followups[:, column], previous[followed], gap <= window)
    model.repeat_margins.record(persona, contribution, repeat)
    # The acquisition day after today's booking: today for a first order.
    acquired = np.where(first, day, model.population.first_purchase_day[shoppers])
    new = acquired >= 0
    if new.any():
        age = (day - acquired[new]).astype(np.float64)
        model.acquired_value += float((contribution[new] * model.value_discount**age).sum())
