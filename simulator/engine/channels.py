"""Channels as Mesa agents: each holds its spend plan, its cost model and its daily ledger."""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np
import numpy.typing as npt

from ..config.scenario import Channel, Pricing

if TYPE_CHECKING:
    from .model import CommerceModel

__all__ = ["LEDGER_FIELDS", "ChannelAgent", "impressions_bought"]

LEDGER_FIELDS = (
    "spend",
    "impressions",
    "reach",
    "new_aware",
    "visits",
    "carts",
    "abandoned_carts",
    "recovered_carts",
    "orders",
    "new_customers",
    "repeat_orders",
    "returns",
    "order_value",
    "revenue",
    "discounts",
    "cogs",
    "fees",
    "fulfilment",
)
"""Per-channel daily measures. Counts are in agents and money in agent units until scaled."""


def impressions_bought(
    channel: Channel, daily_spend: float | npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Impressions bought for a daily spend, after auction pressure (impressions/day).

    With ``saturation_spend`` s, the price of an impression rises as ``1 + spend / s``, so
    impressions flatten out at ``s / unit_price`` as spend grows: a concave response.
    """
    spend = np.asarray(daily_spend, dtype=np.float64)
    if channel.pricing is Pricing.cpm:
        per_impression = channel.cost_per_mille / 1000.0
    else:
        per_impression = channel.cost_per_click * channel.click_through_rate
    pressure = 1.0 + spend / channel.saturation_spend if channel.saturation_spend else 1.0
    return np.asarray(spend / per_impression / pressure, dtype=np.float64)


class ChannelAgent(mesa.Agent):  # type: ignore[misc]
    """One channel of the scenario.

    On each day :meth:`step` sets ``today_spend`` (currency) and ``today_impressions`` (agent
    impressions: real impressions divided by the population scale); the model's mechanisms then
    add the channel's outcomes to :attr:`ledger`.
    """

    def __init__(self, model: CommerceModel, config: Channel, index: int) -> None:
        super().__init__(model)
        self.config = config
        self.index = index
        self.name = config.name
        days = model.horizon_days
        plan = np.full(days, config.daily_spend, dtype=np.float64)
        for period in config.budget_plan:
            plan[period.start_day : min(period.end_day, days - 1) + 1] = period.daily_spend
        self.spend_plan = plan
        """Media spend per day over the horizon (currency/day)."""
        self.impressions_plan = impressions_bought(config, plan)
        base = model.scenario.customer_base
        if base is not None:  # a twin's customers get their share of the market's impressions
            self.impressions_plan = self.impressions_plan * base.media_share
        self.ledger = {field: model.ledger[field][:, index] for field in LEDGER_FIELDS}
        """This channel's column of the model's ledger, by field (views: writes go to the model)."""
        self.today_spend = 0.0
        self.today_impressions = 0.0

    def step(self) -> None:
        """Buy today's media according to the plan."""
        day = self.model.day
        self.today_spend = float(self.spend_plan[day])
        self.today_impressions = float(self.impressions_plan[day]) / self.model.scale
        self.ledger["spend"][day] = self.today_spend / self.model.scale
        self.ledger["impressions"][day] = self.today_impressions
        self.ledger["fees"][day] += self.config.fixed_cost_per_day / self.model.scale
