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

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..config.policies import Loyalty
from ..engine.lifetime import CustomerBase, LastingEffect
from .base import (
    BoolArray,
    Float32Array,
    FloatArray,
    IntArray,
    Lever,
    LeverOutput,
    Members,
    OrderBatch,
    RangeSpec,
    by_layout,
)
from .base import share_range as _share_range

if TYPE_CHECKING:
    from ..config.scenario import Scenario
    from ..engine.model import CommerceModel
    from .composite import Levers

__all__ = ["LoyaltyProgram"]

BUCKETS = 12


class LoyaltyProgram(Lever[Loyalty]):
    """Membership, points and tiers of every shopper, as arrays (``policies.loyalty``).

    The program pays its levers' ``share`` of the fixed cost.
    """

    key = "loyalty"
    title = "loyalty program"
    config_type = Loyalty
    cost_fields = ("loyalty",)
    booked_cost_kpis = ("loyalty_program_cost",)
    enable_with_defaults = True
    repeat_price_response = True
    shopper_arrays = ("member", "tier", "points", "spend_buckets", "order_buckets")

    def __init__(self, config: Loyalty, model: CommerceModel, levers: Levers) -> None:
        super().__init__(config, model, levers)
        size = model.population.size
        horizon_days = model.horizon_days
        self.cost_share = levers.share
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

    @classmethod
    def bytes_per_shopper(cls, config: Loyalty) -> int:
        """Member flag, tier, points, and 12 spend and 12 order buckets (bytes per shopper)."""
        return 1 + 1 + 8 + BUCKETS * 4 + BUCKETS * 2

    @classmethod
    def search_ranges(cls, config: Loyalty | None, scenario: Scenario) -> dict[str, RangeSpec]:
        """Points rate 0.2-5 (log), tier thresholds 0.6-1.4x within their neighbours, tier discounts.

        Without a program: whether to launch the default one (``loyalty.enabled``), the
        domain's ROI-against-lifetime-value lever (it costs discounts, points and perks; it
        pays back through lower churn).
        """
        if config is None:
            return {"loyalty.enabled": {"type": "bool"}}
        space: dict[str, RangeSpec] = {"loyalty.points_per_currency": {"low": 0.2, "high": 5.0, "log": True}}
        spends = [t.min_spend for t in config.tiers]
        for index, tier in enumerate(config.tiers[1:], start=1):
            below = (spends[index - 1] + spends[index]) / 2
            above = (spends[index] + spends[index + 1]) / 2 if index + 1 < len(spends) else math.inf
            if config.tier_rule != "orders" and tier.min_spend > 0:
                low = max(0.6 * tier.min_spend, below + 1)
                high = min(1.4 * tier.min_spend, above - 1)
                if low < high:
                    space[f"loyalty.tiers[{tier.name}].min_spend"] = {"low": round(low), "high": round(high)}
            space[f"loyalty.tiers[{tier.name}].discount"] = _share_range(tier.discount, 0.15)
        return space

    # Benefits read by the other mechanisms -------------------------------------------------
    def member_discount(self, shoppers: IntArray) -> FloatArray:
        """Tier discount of each shopper (0 for non-members)."""
        return np.where(self.member[shoppers], self.discount[self.tier[shoppers]], 0.0)

    def offers(
        self, model: CommerceModel, shoppers: IntArray, channels: IntArray | None, first: BoolArray
    ) -> list[FloatArray]:
        """The member discount of each shopper's tier."""
        return [self.member_discount(shoppers)]

    def ships_free(self, model: CommerceModel, shoppers: IntArray) -> BoolArray:
        """Whether each shopper's tier waives the shipping fee."""
        return np.asarray(self.member[shoppers] & self.free_shipping[self.tier[shoppers]])

    def repurchase_factor(self, model: CommerceModel, shoppers: IntArray) -> FloatArray:
        """Multiplier of each shopper's repurchase rate."""
        return np.where(self.member[shoppers], self.repurchase_multiplier[self.tier[shoppers]], 1.0)

    def dropout_factor(self, model: CommerceModel, shoppers: IntArray) -> Float32Array:
        """Multiplier of each shopper's dropout chance."""
        return np.where(self.member[shoppers], self.dropout_multiplier[self.tier[shoppers]], np.float32(1.0))

    def lasting_effect(self, model: CommerceModel, customers: CustomerBase) -> LastingEffect:
        """The tier a member holds: its repurchase and dropout multipliers, and the member discount.

        The member discount raises the repeat rate by ``1 + price_elasticity x price_sensitivity
        x discount`` (the composite's price response: the only offer that lasts).
        """
        shoppers = customers.shoppers
        sensitivity = model.population.personas.price_sensitivity[model.population.persona[shoppers]]
        price = 1.0 + self.levers.pricing.elasticity * sensitivity * self.member_discount(shoppers)
        return LastingEffect(
            rate=self.repurchase_factor(model, shoppers) * price,
            dropout=self.dropout_factor(model, shoppers).astype(np.float64),
        )

    # Orders ----------------------------------------------------------------------------------
    def redeem(self, model: CommerceModel, shoppers: IntArray, value: FloatArray) -> FloatArray:
        """Points redeemed on these orders, as currency (agent units); points are taken off."""
        config = self.config
        holding = self.member[shoppers] & (self.points[shoppers] >= config.redemption_threshold)
        redeeming = holding & (model.crn.uniform("redeem", model.day, shoppers) < config.redemption_rate)
        redeemed = np.where(
            redeeming,
            np.minimum(self.points[shoppers] * config.point_value, config.max_redemption_share * value),
            0.0,
        )
        if config.point_value > 0:
            used = redeemed / config.point_value
            self.points[shoppers] -= used
            self.points_redeemed[model.day] += used.sum()
        return redeemed

    def on_orders(self, model: CommerceModel, batch: OrderBatch) -> None:
        """Enroll new customers, earn points, add to rolling spend and move tiers up."""
        self.on_orders_together(model, [(model, 0, self)], batch, {id(model): batch})

    @classmethod
    def on_orders_together(
        cls,
        batch: CommerceModel,
        members: Sequence[tuple[CommerceModel, int, LoyaltyProgram]],
        orders: OrderBatch,
        parts: Mapping[int, OrderBatch],
    ) -> None:
        """Every world's orders at once, each world with its own tiers, rates and buckets.

        Worlds with as many tiers and the same tier rule work together (the batch joined their
        per-shopper arrays); otherwise one after the other.
        """
        group = Members(batch, members)
        first = group.levers[0]
        arrays = [group.joined(first, name) for name in cls.shopper_arrays]
        layouts = by_layout(members, lambda p: (len(p.tier_names), p.config.tier_rule))
        if len(layouts) > 1 or any(a is None for a in arrays):
            for world, _, lever in members:
                lever.on_orders_together(world, [(world, 0, lever)], parts[id(world)], parts)
            return
        member_flag, tier, points, spend_buckets, order_buckets = cast("list[npt.NDArray[Any]]", arrays)
        mine = group.of(orders.shoppers) >= 0
        if not mine.all():
            orders = orders.take(np.flatnonzero(mine))
        shoppers = orders.shoppers
        member = group.of(shoppers)
        day = batch.day
        # Discount given because of membership (up to what the order actually got).
        discount = np.where(
            member_flag[shoppers], group.param(lambda p: p.discount)[member, tier[shoppers]], 0.0
        )
        member_rate = np.minimum(discount, orders.discount_rate)
        for lever, given in zip(
            group.levers, group.sums(member, member_rate * orders.list_value), strict=True
        ):
            lever._member_discounts += given
        fresh = orders.first & ~member_flag[shoppers]
        joining = shoppers[fresh]
        rate = group.param(lambda p: p.config.enrollment_rate)[member[fresh]]
        member_flag[joining[batch.crn.uniform("enroll", day, joining) < rate]] = True
        is_member = member_flag[shoppers]
        buyers, buyer_member = shoppers[is_member], member[is_member]
        amount = orders.paid[is_member]
        per_currency = group.param(lambda p: p.config.points_per_currency)[buyer_member]
        earned = (
            amount * per_currency * group.param(lambda p: p.points_multiplier)[buyer_member, tier[buyers]]
        )
        points[buyers] += earned
        for lever, issued in zip(group.levers, group.sums(buyer_member, earned), strict=True):
            lever.points_issued[day] += issued
        bucket = (day // group.param(lambda p: p.bucket_days, np.int64)[buyer_member]) % BUCKETS
        spend_buckets[bucket, buyers] += amount.astype(np.float32)
        order_buckets[bucket, buyers] += 1
        spend = spend_buckets[:, buyers].sum(axis=0, dtype=np.float64)
        counts = order_buckets[:, buyers].sum(axis=0, dtype=np.int64)
        min_spend = group.param(lambda p: p.min_spend)[buyer_member]
        min_orders = group.param(lambda p: p.min_orders)[buyer_member]
        new_tier = first._highest_tier(spend[:, None] >= min_spend, counts[:, None] >= min_orders)
        up = new_tier > tier[buyers]
        for lever, n_up in zip(group.levers, group.count(buyer_member[up]), strict=True):
            lever.upgrades[day] += int(n_up)
        tier[buyers[up]] = new_tier[up]

    def _qualified_tier(self, shoppers: IntArray) -> npt.NDArray[np.int8]:
        spend = self.spend_buckets[:, shoppers].sum(axis=0, dtype=np.float64)
        orders = self.order_buckets[:, shoppers].sum(axis=0, dtype=np.int64)
        return self._highest_tier(
            spend[:, None] >= self.min_spend[None, :], orders[:, None] >= self.min_orders[None, :]
        )

    def _highest_tier(
        self, meets_spend: npt.NDArray[np.bool_], meets_orders: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.int8]:
        """Highest tier each shopper qualifies for (shoppers x tiers thresholds met)."""
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

    # End of day ------------------------------------------------------------------------------
    def end_of_day(self, model: CommerceModel) -> None:
        """Interactions, bucket roll-over and re-assessment, perk costs, counts and liability.

        After the other levers' daily work, so that the day's counts and liability include
        every order of the day.
        """
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
    def results(self, model: CommerceModel, daily_orders: pd.Series) -> LeverOutput:
        """Members by tier, tier moves, points, liability and cost; program totals; customer columns.

        Returns
        -------
        LeverOutput
            ``daily``: members by tier (``tier_NAME``), ``members``, ``tier_upgrades``,
            ``tier_downgrades``, ``points_issued``, ``points_redeemed`` (points),
            ``points_redeemed_value``, ``points_liability`` and ``loyalty_program_cost``
            (currency); ``summary``: members at the end, program cost, member discounts,
            points redeemed, liability at the end, tier moves and the total cost; ``columns``:
            ``member``, ``loyalty_tier`` and ``points`` of each shopper.
        """
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
        discounts = float(self._member_discounts) * scale
        summary = {
            "loyalty_members_end": float(frame["members"].iloc[-1]),
            "loyalty_program_cost": float(frame["loyalty_program_cost"].sum()),
            "loyalty_member_discounts": discounts,
            "loyalty_points_redeemed_value": float(frame["points_redeemed_value"].sum()),
            "loyalty_points_liability_end": float(frame["points_liability"].iloc[-1]),
            "loyalty_tier_upgrades": float(frame["tier_upgrades"].sum()),
            "loyalty_tier_downgrades": float(frame["tier_downgrades"].sum()),
            "loyalty_total_cost": float(frame["loyalty_program_cost"].sum())
            + discounts
            + float(frame["points_redeemed_value"].sum()),
        }
        names = np.array(self.tier_names, dtype=object)
        tier = np.where(self.member, names[self.tier.astype(np.int64)], "none")
        columns = {
            "member": self.member,
            "loyalty_tier": pd.Categorical(tier, categories=["none", *self.tier_names]),
            "points": self.points,
        }
        return LeverOutput(daily=frame, summary=summary, columns=columns)
