"""Promotions: the campaign calendar, first-order coupon and group buying.

Effects, on the days and shoppers a campaign covers:

- conversion: the cart rate of considering shoppers and the repurchase rate of customers are
  multiplied by ``1 + price_elasticity x price_sensitivity x discount + urgency`` - bargain
  hunters and impulse buyers, the most price-sensitive personas, react most;
- flash sales end hesitation: eligible shoppers who are considering decide the next day;
- margin given away: every order in the campaign carries its discount;
- purchases pulled forward: a shopper whose order used a campaign discount has stocked up:
  the repurchase rate ramps back from 0 over ``stockpile_days`` (on top of the persona's own
  ``refractory_days``), and converted prospects leave the pool, so orders dip below the
  no-campaign path after the campaign ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..config.policies import Campaign, Promotions
from ..engine.population import NO_DAY, State
from .base import BoolArray, FloatArray, IntArray, Lever, LeverOutput, OrderBatch, RangeSpec, share_range
from .loyalty import LoyaltyProgram

if TYPE_CHECKING:
    from ..config.policies import Policies
    from ..config.scenario import Scenario
    from ..engine.model import CommerceModel
    from .composite import Levers

__all__ = ["Pricing", "PromotionCalendar", "combine_discounts"]

MAX_COMBINED_DISCOUNT = 0.9
WINDOW = 14
"""Days before and after a campaign compared with it (days)."""
CAMPAIGN_COLUMNS = (
    "campaign",
    "start_day",
    "end_day",
    "discount",
    "audience",
    "kind",
    "orders_with_offer",
    "discount_given",
    "orders_per_day_before",
    "orders_per_day_during",
    "orders_per_day_after",
    "lift",
    "after_vs_before",
)
"""Columns of the ``campaigns`` table (:meth:`PromotionCalendar.campaign_table`), also when it is empty."""


def combine_discounts(offers: list[FloatArray], stacking: str, size: int) -> FloatArray:
    """Combine discounts (shares of list value) offered to the same orders.

    ``best`` keeps the largest; ``add`` sums them, capped at 90%.
    """
    if not offers:
        return np.zeros(size)
    stacked = np.vstack(offers)
    if stacking == "add":
        return np.asarray(np.minimum(stacked.sum(axis=0), MAX_COMBINED_DISCOUNT), dtype=np.float64)
    return np.asarray(stacked.max(axis=0), dtype=np.float64)


@dataclass(frozen=True)
class Pricing:
    """How offers combine and how shoppers respond to them, from ``policies.promotions``.

    Attributes
    ----------
    stacking : str
        ``best`` (the largest offer) or ``add`` (the sum, capped at 90%).
    elasticity : float
        Relative rise in conversion per unit of discount for the most price-sensitive persona
        (ratio per share); the schema's default without promotions.
    """

    stacking: str
    elasticity: float

    @classmethod
    def of(cls, policies: Policies) -> Pricing:
        """The pricing rules of a set of policies."""
        promotions = policies.promotions
        if promotions is None:
            return cls("best", Promotions().price_elasticity)
        return cls(promotions.stacking or "best", promotions.price_elasticity)


class PromotionCalendar(Lever[Promotions]):
    """Campaigns by day, with the eligibility rules of each; the first-order coupon (``policies.promotions``).

    Reads the loyalty membership of the same levers (members-only campaigns); flash sales hurry
    the shoppers of the levers' scope; campaign costs are the levers' ``share``.
    """

    key = "promotions"
    tables = {"campaigns": ("campaign",)}
    config_type = Promotions
    kpi_prefixes = ("campaign_",)
    cost_fields = ("campaigns",)
    booked_cost_kpis = ("campaign_costs",)
    repeat_price_response = True

    def __init__(self, config: Promotions, model: CommerceModel, levers: Levers) -> None:
        super().__init__(config, model, levers)
        channel_names = model.scenario.channel_names
        horizon_days = model.horizon_days
        self.campaigns = config.campaigns
        self.first_order_coupon = config.first_order_coupon.discount if config.first_order_coupon else 0.0
        index = {name: i for i, name in enumerate(channel_names)}
        self.channel_mask = np.ones((len(self.campaigns), len(channel_names)), dtype=np.bool_)
        for k, campaign in enumerate(self.campaigns):
            if campaign.channels:
                self.channel_mask[k] = False
                self.channel_mask[k, [index[name] for name in campaign.channels]] = True
        self.active_by_day: list[list[int]] = [[] for _ in range(horizon_days)]
        for k, campaign in enumerate(self.campaigns):
            for day in range(campaign.start_day, min(campaign.end_day, horizon_days - 1) + 1):
                self.active_by_day[day].append(k)
        self.stocked_up = np.zeros(0, dtype=np.bool_)
        """Whether each shopper's last order used a campaign discount (sized on first use)."""
        self.orders_by_campaign = np.zeros(len(self.campaigns))
        self.discount_by_campaign = np.zeros(len(self.campaigns))

    @classmethod
    def bytes_per_shopper(cls, config: Promotions) -> int:
        """The stocked-up flag (bytes per shopper)."""
        return 1

    @classmethod
    def search_ranges(cls, config: Promotions | None, scenario: Scenario) -> dict[str, RangeSpec]:
        """Coupons, campaign depth, start and on/off.

        First-order coupon and group-buying discount up to 30%; each campaign's depth up to
        40%, start within 30 days of its current start, and on/off (promotion frequency).
        """
        if config is None:
            return {}
        space: dict[str, RangeSpec] = {}
        if config.first_order_coupon is not None:
            space["promotions.first_order_coupon.discount"] = share_range(config.first_order_coupon.discount)
        if config.group_buying is not None:
            space["promotions.group_buying.discount"] = share_range(config.group_buying.discount)
        for campaign in config.campaigns:
            where = f"promotions.campaigns[{campaign.name}]"
            space[f"{where}.discount"] = share_range(campaign.discount, 0.4)
            latest = scenario.horizon_days - campaign.days
            low, high = max(0, campaign.start_day - 30), min(latest, campaign.start_day + 30)
            if low < high:
                space[f"{where}.start_day"] = {"type": "int", "low": low, "high": high}
            space[f"{where}.enabled"] = {"type": "bool"}
        return space

    def _eligible(
        self, model: CommerceModel, campaign: Campaign, shoppers: IntArray
    ) -> npt.NDArray[np.bool_]:
        pop = model.population
        if campaign.audience == "new":
            return np.asarray(pop.last_purchase_day[shoppers] == NO_DAY)
        if campaign.audience == "lapsed":
            return np.asarray(pop.state[shoppers] >= State.LAPSED)
        if campaign.audience == "members":
            loyalty = self.levers.find(LoyaltyProgram)
            if loyalty is None:
                return np.zeros(shoppers.size, dtype=np.bool_)
            return np.asarray(loyalty.member[shoppers])
        return np.ones(shoppers.size, dtype=np.bool_)

    def active(self, day: int) -> list[int]:
        """Indices of the campaigns running on ``day``."""
        return self.active_by_day[day] if day < len(self.active_by_day) else []

    def offers(
        self, model: CommerceModel, shoppers: IntArray, channels: IntArray | None, first: BoolArray
    ) -> list[FloatArray]:
        """Each running campaign's discount, then the first-order coupon on first orders."""
        offers = [offer for _, offer in self.discounts(model, shoppers, channels)]
        if self.first_order_coupon > 0:
            offers.append(np.where(first, self.first_order_coupon, 0.0))
        return offers

    def discounts(
        self, model: CommerceModel, shoppers: IntArray, channels: IntArray | None
    ) -> list[tuple[int, FloatArray]]:
        """Discount each running campaign offers to each shopper (in ``channels``, or anywhere)."""
        offers = []
        for k in self.active(model.day):
            campaign = self.campaigns[k]
            eligible = self._eligible(model, campaign, shoppers)
            if channels is not None:
                eligible &= self.channel_mask[k, channels]
            offers.append((k, np.where(eligible, campaign.discount, 0.0)))
        return offers

    def urgency(self, model: CommerceModel, shoppers: IntArray) -> FloatArray:
        """Extra conversion lift from scarcity of the running campaigns (ratio)."""
        lift = np.zeros(shoppers.size)
        for k in self.active(model.day):
            campaign = self.campaigns[k]
            if campaign.urgency > 0:
                lift = np.maximum(
                    lift, np.where(self._eligible(model, campaign, shoppers), campaign.urgency, 0.0)
                )
        return lift

    def daily(self, model: CommerceModel) -> None:
        """Book campaign costs and make flash-sale shoppers decide at once."""
        for k in self.active(model.day):
            campaign = self.campaigns[k]
            cost = self.levers.share * campaign.cost_per_day
            model.program_costs["campaigns"][model.day] += cost / model.scale
            if campaign.kind == "flash":
                pop = model.population
                considering = self.levers.within(np.flatnonzero(pop.state == State.CONSIDERING))
                hurry = considering[self._eligible(model, campaign, considering)]
                # Today's decisions are taken (levers run after the journey): decide tomorrow.
                tomorrow = model.day + 1
                hurry = hurry[pop.decision_day[hurry] > tomorrow]
                if hurry.size:
                    pop.decision_day[hurry] = tomorrow
                    model.schedule_decisions(hurry, pop.decision_day[hurry])

    def on_orders(self, model: CommerceModel, batch: OrderBatch) -> None:
        """Count the orders each running campaign took part in and the discount it gave."""
        shoppers, list_value, discount_rate = batch.shoppers, batch.list_value, batch.discount_rate
        if self.stocked_up.size == 0:
            self.stocked_up = np.zeros(model.population.size, dtype=np.bool_)
        promoted = np.zeros(shoppers.size, dtype=np.bool_)
        for k, offer in self.discounts(model, shoppers, batch.channels):
            used = offer > 0
            promoted |= used
            self.orders_by_campaign[k] += used.sum()
            self.discount_by_campaign[k] += (np.minimum(offer, discount_rate) * list_value)[used].sum()
        self.stocked_up[shoppers] = promoted

    def refractory_days(self, model: CommerceModel, shoppers: IntArray) -> FloatArray:
        """Days over which each shopper's repurchase rate ramps back after a campaign order."""
        if self.stocked_up.size == 0:
            return np.zeros(shoppers.size)
        return np.where(self.stocked_up[shoppers], self.config.stockpile_days, 0.0)

    # Results ---------------------------------------------------------------------------------
    def campaign_table(self, model: CommerceModel, daily_orders: pd.Series) -> pd.DataFrame:
        """One row per campaign: orders per day before, during and after, and what it gave away.

        ``lift`` compares orders per day during the campaign with the 14 days before it, and
        ``after_vs_before`` the 14 days after with the same baseline (below 1: a dip). These
        are the before/after figures a strategist sees; the true effect is the difference
        with the same seeds and no campaign (see the ground-truth tools).
        """
        rows = []
        orders = daily_orders.to_numpy()
        horizon = len(orders)
        for k, campaign in enumerate(self.campaigns):
            start, end = campaign.start_day, min(campaign.end_day, horizon - 1)
            before = orders[max(0, start - WINDOW) : start]
            during = orders[start : end + 1]
            after = orders[end + 1 : min(horizon, end + 1 + WINDOW)]
            base = before.mean() if before.size else float("nan")
            rows.append(
                {
                    "campaign": campaign.name,
                    "start_day": campaign.start_day,
                    "end_day": campaign.end_day,
                    "discount": campaign.discount,
                    "audience": campaign.audience,
                    "kind": campaign.kind,
                    "orders_with_offer": self.orders_by_campaign[k] * model.scale,
                    "discount_given": self.discount_by_campaign[k] * model.scale,
                    "orders_per_day_before": base,
                    "orders_per_day_during": during.mean() if during.size else float("nan"),
                    "orders_per_day_after": after.mean() if after.size else float("nan"),
                    "lift": during.mean() / base - 1 if before.size and base > 0 else float("nan"),
                    "after_vs_before": after.mean() / base - 1 if after.size and base > 0 else float("nan"),
                }
            )
        # No campaign in the horizon: an empty table that still has its columns (a CSV with a header).
        return pd.DataFrame(rows, columns=CAMPAIGN_COLUMNS).set_index("campaign")

    def results(self, model: CommerceModel, daily_orders: pd.Series) -> LeverOutput:
        """Totals over the campaigns (``summary``) and the ``campaigns`` table (:meth:`campaign_table`)."""
        summary = {
            "campaign_orders_with_offer": float(self.orders_by_campaign.sum() * model.scale),
            "campaign_discount_given": float(self.discount_by_campaign.sum() * model.scale),
            "campaign_costs": float(model.program_costs["campaigns"].sum() * model.scale),
        }
        return LeverOutput(summary=summary, tables={"campaigns": self.campaign_table(model, daily_orders)})
