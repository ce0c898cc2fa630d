"""Retention (CRM): personalized recommendations and member offers after a purchase.

On each of ``touch_days`` after a purchase (day 7 and day 30 by default, docs/domain.md's golden
windows), every subscribed customer gets a message through the retention channel. For
``effect_days`` afterwards the customer's repurchase rate is multiplied by
``1 + repurchase_lift x exp(-fatigue x recent messages)`` and orders carry the member offer.
Each message costs ``cost_per_message`` (booked as the channel's spend) and makes the shopper
unsubscribe with ``unsubscribe_rate``; unsubscribed shoppers are no longer reachable by CRM.

With the defaults (lift 2.5 for 7 days at day 7 and day 30, 5% member offer), the share of
orders followed by another within 60 days rises by about 40% (docs/domain.md's figure): for small
rates the chance of buying in 60 days is about ``rate x (60 + 2 x 7 x lift x fatigue factor)``,
plus the member offer's price effect. The test suite measures it on paired seeds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..config.policies import Retention
from ..engine.lifetime import CustomerBase, LastingEffect
from .base import BoolArray, FloatArray, IntArray, Lever, LeverOutput, RangeSpec, daily_frame, share_range
from .loyalty import LoyaltyProgram
from .promotions import combine_discounts

if TYPE_CHECKING:
    from ..config.scenario import Scenario
    from ..engine.model import CommerceModel
    from .composite import Levers

__all__ = ["RetentionProgram"]

MESSAGE_MEMORY_DAYS = 30.0


class RetentionProgram(Lever[Retention]):
    """Post-purchase messages and their effect windows (``policies.retention``).

    Messages go to the customers of the levers' scope.
    """

    key = "retention"
    title = "CRM retention"
    config_type = Retention
    kpi_prefixes = ("crm_",)
    booked_cost_kpis = ("crm_message_cost",)
    repeat_price_response = True

    def __init__(self, config: Retention, model: CommerceModel, levers: Levers) -> None:
        super().__init__(config, model, levers)
        size = model.population.size
        horizon_days = model.horizon_days
        self.channel_index = model.scenario.channel_names.index(config.channel)
        self.boost_until = np.full(size, -1, dtype=np.int32)
        self.boost = np.zeros(size, dtype=np.float32)
        self.recent = np.zeros(size, dtype=np.float32)
        self.recent_day = np.zeros(size, dtype=np.int32)
        self.messages = np.zeros(horizon_days)
        self.unsubscribes = np.zeros(horizon_days)

    @classmethod
    def bytes_per_shopper(cls, config: Retention) -> int:
        """Effect window, boost, recent messages and their day (bytes per shopper)."""
        return 4 + 4 + 4 + 4

    @classmethod
    def search_ranges(cls, config: Retention | None, scenario: Scenario) -> dict[str, RangeSpec]:
        """Each message day between its neighbours' midpoints (1-90), the member offer up to 20%."""
        if config is None:
            return {}
        space: dict[str, RangeSpec] = {}
        days = sorted(config.touch_days)
        edges = [1, *[(a + b) // 2 for a, b in zip(days, days[1:], strict=False)], 90]
        for index, day in enumerate(config.touch_days):
            rank = days.index(day)
            low, high = edges[rank] + (1 if rank else 0), edges[rank + 1]
            if low < high:
                space[f"retention.touch_days[{index}]"] = {"type": "int", "low": low, "high": high}
        space["retention.offer_discount"] = share_range(config.offer_discount, 0.2)
        return space

    def in_window(self, model: CommerceModel, shoppers: IntArray) -> BoolArray:
        """Whether each shopper is inside a message's effect window today."""
        return np.asarray(self.boost_until[shoppers] >= model.day)

    def repurchase_factor(self, model: CommerceModel, shoppers: IntArray) -> FloatArray:
        """Multiplier of the repurchase rate from recent messages."""
        return np.where(self.in_window(model, shoppers), 1.0 + self.boost[shoppers], 1.0)

    def offers(
        self, model: CommerceModel, shoppers: IntArray, channels: IntArray | None, first: BoolArray
    ) -> list[FloatArray]:
        """Member-offer discount available to each shopper today."""
        return [np.where(self.in_window(model, shoppers), self.config.offer_discount, 0.0)]

    def lasting_days(self, model: CommerceModel) -> int:
        """The last day after an order that a message still works (days)."""
        return max(self.config.touch_days) + self.config.effect_days

    def lasting_effect(self, model: CommerceModel, customers: CustomerBase) -> LastingEffect:
        """The message windows after every order, for the customers still subscribed.

        The message of touch day ``d`` works on days ``d + 1 .. d + effect_days - 1`` after the
        order: the repeat hazard times ``1 + repurchase_lift x exp(-fatigue x recent)``
        (``recent``: the cycle's earlier messages, fading over 30 days) and the price effect of
        the member offer over the lasting offer (the loyalty member discount). Unsubscribes
        to come are left out.
        """
        config = self.config
        shoppers = customers.shoppers
        pop = model.population
        loyalty = self.levers.find(LoyaltyProgram)
        lasting = loyalty.member_discount(shoppers) if loyalty is not None else np.zeros(shoppers.size)
        offer = np.full(shoppers.size, config.offer_discount)
        combined = combine_discounts([offer, lasting], self.levers.pricing.stacking, shoppers.size)
        response = self.levers.pricing.elasticity * pop.personas.price_sensitivity[pop.persona[shoppers]]
        price = (1.0 + response * combined) / (1.0 + response * lasting)
        subscribed = np.flatnonzero(pop.known[shoppers])
        multiplier = np.ones((shoppers.size, customers.days))
        sent: list[int] = []
        for day in sorted(config.touch_days):
            recent = sum(np.exp(-(day - before) / MESSAGE_MEMORY_DAYS) for before in sent)
            boost = config.repurchase_lift * np.exp(-config.fatigue * recent)
            window = np.arange(day, min(day + config.effect_days - 1, customers.days))
            multiplier[np.ix_(subscribed, window)] = ((1.0 + boost) * price[subscribed])[:, None]
            sent.append(day)
        return LastingEffect(rate_by_recency=multiplier)

    def daily(self, model: CommerceModel) -> None:
        """Send today's messages to customers at their touch days."""
        pop = model.population
        config = self.config
        day = model.day
        due = [np.flatnonzero(pop.last_purchase_day == day - d) for d in config.touch_days]
        targets = np.concatenate(due)
        targets = self.levers.within(targets[pop.known[targets]])
        if targets.size == 0:
            return
        since = (day - self.recent_day[targets]).astype(np.float32)
        recent = self.recent[targets] * np.exp(-since / np.float32(MESSAGE_MEMORY_DAYS))
        self.boost[targets] = config.repurchase_lift * np.exp(-config.fatigue * recent)
        self.boost_until[targets] = day + config.effect_days - 1
        self.recent[targets] = recent + 1
        self.recent_day[targets] = day
        leaving = targets[model.crn.uniform("unsubscribe", day, targets) < config.unsubscribe_rate]
        pop.known[leaving] = False
        self.messages[day] += targets.size
        self.unsubscribes[day] += leaving.size
        ledger = model.channel_agents[self.channel_index].ledger
        ledger["spend"][day] += targets.size * config.cost_per_message
        ledger["impressions"][day] += targets.size
        ledger["reach"][day] += targets.size

    # Results ---------------------------------------------------------------------------------
    def results(self, model: CommerceModel, daily_orders: pd.Series) -> LeverOutput:
        """Daily messages sent and unsubscribes (people); their totals and the messages' cost."""
        sent = float(self.messages.sum() * model.scale)
        summary = {
            "crm_messages": sent,
            "crm_unsubscribes": float(self.unsubscribes.sum() * model.scale),
            "crm_message_cost": sent * self.config.cost_per_message,
        }
        daily = daily_frame(model, {"crm_messages": self.messages, "crm_unsubscribes": self.unsubscribes})
        return LeverOutput(daily=daily, summary=summary)
