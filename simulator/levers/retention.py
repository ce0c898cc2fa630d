"""Retention (CRM): personalized recommendations and member offers after a purchase.

On each of ``touch_days`` after a purchase (day 7 and day 30 by default, DOMAIN.md's golden
windows), every subscribed customer gets a message through the retention channel. For
``effect_days`` afterwards the customer's repurchase rate is multiplied by
``1 + repurchase_lift x exp(-fatigue x recent messages)`` and orders carry the member offer.
Each message costs ``cost_per_message`` (booked as the channel's spend) and makes the shopper
unsubscribe with ``unsubscribe_rate``; unsubscribed shoppers are no longer reachable by CRM.

With the defaults (lift 2.5 for 7 days at day 7 and day 30, 5% member offer), the share of
orders followed by another within 60 days rises by about 40% (DOMAIN.md's figure): for small
rates the chance of buying in 60 days is about ``rate x (60 + 2 x 7 x lift x fatigue factor)``,
plus the member offer's price effect. The test suite measures it on paired seeds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..config.policies import Retention

if TYPE_CHECKING:
    from ..engine.model import CommerceModel
    from .composite import Levers

__all__ = ["RetentionProgram"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
MESSAGE_MEMORY_DAYS = 30.0


class RetentionProgram:
    """Post-purchase messages and their effect windows.

    Parameters
    ----------
    config
        The ``policies.retention`` section.
    channel_index
        Index of the channel that sends the messages.
    size
        Number of shoppers.
    horizon_days
        Days simulated.
    levers
        The levers this program belongs to (it messages the customers of their scope).
    """

    def __init__(
        self, config: Retention, channel_index: int, size: int, horizon_days: int, levers: Levers
    ) -> None:
        self.config = config
        self.levers = levers
        self.channel_index = channel_index
        self.boost_until = np.full(size, -1, dtype=np.int32)
        self.boost = np.zeros(size, dtype=np.float32)
        self.recent = np.zeros(size, dtype=np.float32)
        self.recent_day = np.zeros(size, dtype=np.int32)
        self.messages = np.zeros(horizon_days)
        self.unsubscribes = np.zeros(horizon_days)

    def in_window(self, model: CommerceModel, shoppers: IntArray) -> npt.NDArray[np.bool_]:
        """Whether each shopper is inside a message's effect window today."""
        return np.asarray(self.boost_until[shoppers] >= model.day)

    def repurchase_factor(self, model: CommerceModel, shoppers: IntArray) -> FloatArray:
        """Multiplier of the repurchase rate from recent messages."""
        return np.where(self.in_window(model, shoppers), 1.0 + self.boost[shoppers], 1.0)

    def offer(self, model: CommerceModel, shoppers: IntArray) -> FloatArray:
        """Member-offer discount available to each shopper today."""
        return np.where(self.in_window(model, shoppers), self.config.offer_discount, 0.0)

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
    def daily_frame(self, model: CommerceModel) -> pd.DataFrame:
        """Daily messages sent and unsubscribes (people)."""
        days = model.day
        return pd.DataFrame(
            {
                "crm_messages": self.messages[:days] * model.scale,
                "crm_unsubscribes": self.unsubscribes[:days] * model.scale,
            }
        )

    def summary(self, model: CommerceModel) -> dict[str, float]:
        """Messages, unsubscribes and their cost."""
        sent = float(self.messages.sum() * model.scale)
        return {
            "crm_messages": sent,
            "crm_unsubscribes": float(self.unsubscribes.sum() * model.scale),
            "crm_message_cost": sent * self.config.cost_per_message,
        }
