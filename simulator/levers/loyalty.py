"""Loyalty program: membership, points, tiers on rolling spend and orders, benefits and costs.

- New customers join at their first order with ``enrollment_rate``.
- Members earn ``points_per_currency`` x tier multiplier per unit paid, and points for
  interactions (sign-ins, reviews) at ``interaction_rate`` per day.
- At an order, a member holding at least ``redemption_threshold`` points redeems them with
  ``redemption_rate``, paying up to ``max_redemption_share`` of the list value with points.
- Tiers follow spend and orders over a rolling window kept in 12 buckets (each ``window_days /
  12`` days): members move up right after the order that qualifies them and are re-assessed
  (and may move down) whenever a bucket rolls over.
- Benefits per tier: member discount, free shipping (no shipping fee and no shipping friction),
  lower dropout, faster repurchase. Costs: discounts given, points redeemed, perks per member
  per day and the program's fixed cost; unredeemed points are a liability at their value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..config.policies import Loyalty

if TYPE_CHECKING:
    from ..engine.model import CommerceModel

__all__ = ["LoyaltyProgram"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BUCKETS = 12


class LoyaltyProgram:
    """Membership, points and tiers of every shopper, as arrays.

    Parameters
    ----------
    config
        The ``policies.loyalty`` section.
    size
        Number of shoppers.
    horizon_days
        Days simulated (for the daily tier counts).
    cost_share
        Share of the program's fixed cost this program pays (0-1; an A/B arm pays its share).
    """

    def __init__(self, config: Loyalty, size: int, horizon_days: int, cost_share: float = 1.0) -> None:
        self.config = config
        self.cost_share = cost_share
        tiers = config.tiers
        self.tier_names = [t.name for t in tiers]
        self.min_spend = np.array([t.min_spend for t in tiers])
        self.min_orders = np.array([t.min_orders for t in tiers])
        self.discount = np.array([t.discount for t in tiers])
        self.free_shipping = np.array([t.free_shipping for t in tiers])
        self.points_multiplier = np.array([t.points_multiplier for t in tiers])
        self.dropout_multiplier = np.array([t.dropout_multiplier for t in tiers], dtype=np.float32)
        self.repurchase_multiplier = np.array([t.repurchase_multiplier for t in tiers])
        self.perk_cost = np.array([t.perk_cost_per_day for t in tiers])
        self.bucket_days = max(1, config.window_days // BUCKETS)

        self.member = np.zeros(size, dtype=np.bool_)
        self.tier = np.zeros(size, dtype=np.int8)
        self.points = np.zeros(size, dtype=np.float64)
        self.spend_buckets = np.zeros((BUCKETS, size), dtype=np.float32)
        self.order_buckets = np.zeros((BUCKETS, size), dtype=np.int16)
        self.tier_counts = np.zeros((horizon_days, len(tiers)), dtype=np.int64)
        self.upgrades = np.zeros(horizon_days, dtype=np.int64)
        self.downgrades = np.zeros(horizon_days, dtype=np.int64)
        self.points_issued = np.zeros(horizon_days)
        self.points_redeemed = np.zeros(horizon_days)
        self.liability = np.zeros(horizon_days)
        self._member_discounts = 0.0

    # Benefits read by the other mechanisms -------------------------------------------------
    def member_discount(self, shoppers: IntArray) -> FloatArray:
        """Tier discount of each shopper (0 for non-members)."""
        return np.where(self.member[shoppers], self.discount[self.tier[shoppers]], 0.0)

    def ships_free(self, shoppers: IntArray) -> npt.NDArray[np.bool_]:
        """Whether each shopper's tier waives the shipping fee."""
        return np.asarray(self.member[shoppers] & self.free_shipping[self.tier[shoppers]])

    def repurchase_factor(self, shoppers: IntArray) -> FloatArray:
        """Multiplier of each shopper's repurchase rate."""
        return np.where(self.member[shoppers], self.repurchase_multiplier[self.tier[shoppers]], 1.0)

    def dropout_factor(self, shoppers: IntArray) -> npt.NDArray[np.float32]:
        """Multiplier of each shopper's dropout chance."""
        return np.where(self.member[shoppers], self.dropout_multiplier[self.tier[shoppers]], np.float32(1.0))

    # Orders ----------------------------------------------------------------------------------
    def redeem(self, model: CommerceModel, shoppers: IntArray, list_value: FloatArray) -> FloatArray:
        """Points redeemed on these orders, as currency (agent units); points are taken off."""
        config = self.config
        holding = self.member[shoppers] & (self.points[shoppers] >= config.redemption_threshold)
        redeeming = holding & (model.crn.uniform("redeem", model.day, shoppers) < config.redemption_rate)
        value = np.where(
            redeeming,
            np.minimum(self.points[shoppers] * config.point_value, config.max_redemption_share * list_value),
            0.0,
        )
        if config.point_value > 0:
            used = value / config.point_value
            self.points[shoppers] -= used
            self.points_redeemed[model.day] += used.sum()
        return value

    def on_orders(
        self,
        model: CommerceModel,
        shoppers: IntArray,
        paid: FloatArray,
        first: npt.NDArray[np.bool_],
        list_value: FloatArray,
        discount_rate: FloatArray,
    ) -> None:
        """Enroll new customers, earn points, add to rolling spend and move tiers up."""
        config = self.config
        # Discount given because of membership (up to what the order actually got).
        member_rate = np.minimum(self.member_discount(shoppers), discount_rate)
        self._member_discounts += float((member_rate * list_value).sum())
        joining = shoppers[first & ~self.member[shoppers]]
        joining = joining[model.crn.uniform("enroll", model.day, joining) < config.enrollment_rate]
        self.member[joining] = True
        members = self.member[shoppers]
        buyers = shoppers[members]
        amount = paid[members]
        earned = amount * config.points_per_currency * self.points_multiplier[self.tier[buyers]]
        self.points[buyers] += earned
        self.points_issued[model.day] += earned.sum()
        bucket = (model.day // self.bucket_days) % BUCKETS
        self.spend_buckets[bucket, buyers] += amount.astype(np.float32)
        self.order_buckets[bucket, buyers] += 1
        new_tier = self._qualified_tier(buyers)
        up = new_tier > self.tier[buyers]
        self.upgrades[model.day] += int(up.sum())
        self.tier[buyers[up]] = new_tier[up]

    def _qualified_tier(self, shoppers: IntArray) -> npt.NDArray[np.int8]:
        spend = self.spend_buckets[:, shoppers].sum(axis=0, dtype=np.float64)
        orders = self.order_buckets[:, shoppers].sum(axis=0, dtype=np.int64)
        meets_spend = spend[:, None] >= self.min_spend[None, :]
        meets_orders = orders[:, None] >= self.min_orders[None, :]
        rule = self.config.tier_rule
        if rule == "spend":
            meets = meets_spend
        elif rule == "orders":
            meets = meets_orders
        elif rule == "spend_and_orders":
            meets = meets_spend & meets_orders
        else:
            meets = meets_spend | meets_orders
        # Highest tier met; tier 0 has zero thresholds so is always met.
        highest: npt.NDArray[np.int8] = (len(self.tier_names) - 1 - np.argmax(meets[:, ::-1], axis=1)).astype(
            np.int8
        )
        return highest

    # Daily -----------------------------------------------------------------------------------
    def daily(self, model: CommerceModel) -> None:
        """Interactions, bucket roll-over and re-assessment, perk costs, counts and liability."""
        config = self.config
        day = model.day
        members = np.flatnonzero(self.member)
        if config.points_per_interaction > 0 and config.interaction_rate > 0 and members.size:
            active = members[model.crn.uniform("interact", day, members) < config.interaction_rate]
            self.points[active] += config.points_per_interaction
            self.points_issued[day] += active.size * config.points_per_interaction
        if day > 0 and day % self.bucket_days == 0:
            bucket = (day // self.bucket_days) % BUCKETS
            self.spend_buckets[bucket] = 0
            self.order_buckets[bucket] = 0
            if members.size:
                new_tier = self._qualified_tier(members)
                old = self.tier[members]
                self.upgrades[day] += int((new_tier > old).sum())
                self.downgrades[day] += int((new_tier < old).sum())
                self.tier[members] = new_tier
        counts = np.bincount(self.tier[members], minlength=len(self.tier_names))
        self.tier_counts[day] = counts
        perks = float(counts @ self.perk_cost)
        fixed = self.cost_share * config.fixed_cost_per_day
        model.program_costs["loyalty"][day] += perks + fixed / model.scale
        self.liability[day] = float(self.points[members].sum()) * config.point_value

    # Results ---------------------------------------------------------------------------------
    def daily_frame(self, model: CommerceModel) -> pd.DataFrame:
        """Daily members by tier, tier moves, points and liability (people and currency)."""
        scale = model.scale
        days = model.day
        frame = pd.DataFrame(
            self.tier_counts[:days] * scale, columns=[f"tier_{name}" for name in self.tier_names]
        )
        frame["members"] = frame.sum(axis=1)
        frame["tier_upgrades"] = self.upgrades[:days] * scale
        frame["tier_downgrades"] = self.downgrades[:days] * scale
        frame["points_issued"] = self.points_issued[:days] * scale
        frame["points_redeemed"] = self.points_redeemed[:days] * scale
        frame["points_redeemed_value"] = frame["points_redeemed"] * self.config.point_value
        frame["points_liability"] = self.liability[:days] * scale
        frame["loyalty_program_cost"] = model.program_costs["loyalty"][:days] * scale
        return frame

    def summary(self, model: CommerceModel, daily: pd.DataFrame) -> dict[str, float]:
        """Program totals: members, cost, discounts, points redeemed, liability, tier moves."""
        discounts = float(self._member_discounts) * model.scale
        return {
            "loyalty_members_end": float(daily["members"].iloc[-1]),
            "loyalty_program_cost": float(daily["loyalty_program_cost"].sum()),
            "loyalty_member_discounts": discounts,
            "loyalty_points_redeemed_value": float(daily["points_redeemed_value"].sum()),
            "loyalty_points_liability_end": float(daily["points_liability"].iloc[-1]),
            "loyalty_tier_upgrades": float(daily["tier_upgrades"].sum()),
            "loyalty_tier_downgrades": float(daily["tier_downgrades"].sum()),
            "loyalty_total_cost": float(daily["loyalty_program_cost"].sum())
            + discounts
            + float(daily["points_redeemed_value"].sum()),
        }

    def customer_columns(self) -> dict[str, Any]:
        """Per-shopper loyalty columns for the customers table."""
        names = np.array(self.tier_names, dtype=object)
        tier = np.where(self.member, names[self.tier.astype(np.int64)], "none")
        return {
            "member": self.member,
            "loyalty_tier": pd.Categorical(tier, categories=["none", *self.tier_names]),
            "points": self.points,
        }
