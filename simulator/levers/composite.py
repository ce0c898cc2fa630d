"""The strategy levers of a scenario, and how the other mechanisms ask them for their effects.

:class:`Levers` builds each lever the scenario's ``policies`` turn on and answers the questions
the journey, checkout, order and repurchase mechanisms ask about a group of shoppers: which
discount they get, how much more likely they are to convert, to check out, to buy again or to
drop out. A lever that is off answers neutrally (no discount, multipliers of 1).

Daily order (called by the model after the journey and repeat purchases, before lifecycle):
promotions (costs, flash sales) -> retention messages -> win-back offers -> retargeting ->
word of mouth and referrals -> loyalty (interactions, tier roll-over, costs) -> fixed costs.

The model talks to its levers only through the methods of :class:`LeverEffects`, so that one
world can hold several sets of levers, each acting on its own shoppers (the arms of an A/B
test, :class:`simulator.levers.arms.ArmedLevers`). A :class:`Levers` with a ``scope`` acts only on
the shoppers of its scope: its programs pick their daily targets among them, and it pays its
``share`` of the programs' fixed costs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..config.policies import Policies, Service
from .loyalty import LoyaltyProgram
from .promotions import PromotionCalendar, combine_discounts
from .retention import RetentionProgram
from .service import Satisfaction

if TYPE_CHECKING:
    from ..engine.model import CommerceModel
    from .referral import ReferralProgram
    from .retargeting import RetargetingProgram
    from .winback import WinbackProgram

__all__ = ["PROGRAM_COST_FIELDS", "LeverEffects", "Levers"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

PROGRAM_COST_FIELDS = ("loyalty", "campaigns", "checkout", "referral_bonuses")
"""Daily costs of levers that are neither media, fees nor discounts (agent units)."""


LeverResults = tuple[pd.DataFrame, dict[str, float], dict[str, pd.DataFrame], dict[str, Any]]
"""Daily columns, summary KPIs, tables and per-shopper columns of the levers."""


class LeverEffects(Protocol):
    """What the model's mechanisms ask the levers (``model.levers``), and when.

    Call order in a day: :meth:`word_of_mouth` after the journey's visits; during the journey
    and repeat purchases :meth:`conversion_factor`, :meth:`checkout_pass`,
    :meth:`repurchase_factor`, :meth:`refractory_days` and :meth:`dropout_factor` for groups of
    shoppers; for every booking :meth:`discount`, :meth:`redeem_points` and
    :meth:`shipping_fee`, then :meth:`on_orders`; :meth:`daily` once after repeat purchases;
    :meth:`results` after the last day. Every per-shopper answer is an array aligned with
    ``shoppers``; a lever that is off answers neutrally.
    """

    def discount(
        self, model: CommerceModel, shoppers: IntArray, channels: IntArray | None, first: BoolArray
    ) -> FloatArray:
        """Discount (share of list value) each order gets; ``channels`` ``None``: any channel."""

    def conversion_factor(self, model: CommerceModel, shoppers: IntArray, first: BoolArray) -> FloatArray:
        """Multiplier of the chance to put an item in the cart."""

    def checkout_pass(self, model: CommerceModel, shoppers: IntArray, channels: IntArray) -> FloatArray:
        """Chance that each cart checks out in its channel."""

    def shipping_fee(self, model: CommerceModel, shoppers: IntArray) -> FloatArray:
        """Shipping fee each shopper pays (currency per order)."""

    def redeem_points(self, model: CommerceModel, shoppers: IntArray, value: FloatArray) -> FloatArray:
        """Loyalty points each order pays with, as currency (taken off the shoppers' points)."""

    def repurchase_factor(self, model: CommerceModel, shoppers: IntArray) -> FloatArray:
        """Multiplier of customers' repurchase rate."""

    def refractory_days(self, shoppers: IntArray) -> FloatArray:
        """Days over which a customer's repurchase rate ramps back after a promoted order."""

    def dropout_factor(self, shoppers: IntArray) -> npt.NDArray[np.float32]:
        """Multiplier of the dropout chance after a repeat purchase."""

    def on_orders(
        self,
        model: CommerceModel,
        shoppers: IntArray,
        channels: IntArray,
        first: BoolArray,
        kept: BoolArray,
        paid: FloatArray,
        list_value: FloatArray,
        discount_rate: FloatArray,
    ) -> None:
        """See the orders just booked."""

    def word_of_mouth(self, model: CommerceModel) -> None:
        """Word of mouth and referrals bring prospects to visit (before the day's decisions)."""

    def daily(self, model: CommerceModel) -> None:
        """The levers' daily work."""

    def results(self, model: CommerceModel, daily_orders: pd.Series) -> LeverResults:
        """Per-lever outputs: daily columns, summary KPIs, tables and per-shopper columns."""


class Levers:
    """All levers of one simulation, or of one arm of an A/B test.

    Parameters
    ----------
    model
        The model being built (its scenario, population size and channels are read).
    policies
        The levers to run; default the scenario's ``policies``.
    scope
        Shoppers these levers act on, one flag per shopper; ``None`` (default): everyone.
        Programs pick their daily targets (messages, offers, ads, flash sales) in the scope
        only; the model asks these levers about the scope's shoppers only.
    share
        Share of the market these levers run for (0-1): they pay this share of the programs'
        fixed costs (per day, one-off), which are costs of running a program for everyone.
    referral
        A referral program to use instead of building one (arms of one world share one
        social graph).
    """

    def __init__(
        self,
        model: CommerceModel,
        policies: Policies | None = None,
        scope: BoolArray | None = None,
        share: float = 1.0,
        referral: ReferralProgram | None = None,
    ) -> None:
        scenario = model.scenario
        policies = scenario.policies if policies is None else policies
        size = scenario.population.agents
        days = scenario.horizon_days
        names = scenario.channel_names
        self.scope = scope
        self.share = share
        self.loyalty = LoyaltyProgram(policies.loyalty, size, days, share) if policies.loyalty else None
        self.promotions = (
            PromotionCalendar(policies.promotions, names, days, self) if policies.promotions else None
        )
        self.stacking = self.promotions.stacking if self.promotions else "best"
        self.elasticity = policies.promotions.price_elasticity if policies.promotions else 3.0
        self.retention = (
            RetentionProgram(policies.retention, names.index(policies.retention.channel), size, days, self)
            if policies.retention
            else None
        )
        needs_satisfaction = policies.service or policies.referral or policies.winback
        self.satisfaction = Satisfaction(policies.service or Service(), size) if needs_satisfaction else None
        self.checkout = policies.checkout_simplification
        self.checkout_factor = 1.0 + (self.checkout.conversion_lift if self.checkout else 0.0)
        self.first_order_coupon = (
            policies.promotions.first_order_coupon.discount
            if policies.promotions and policies.promotions.first_order_coupon
            else 0.0
        )
        self.group_buying = policies.promotions.group_buying if policies.promotions else None
        # Imported here so that a scenario without these levers never loads their modules.
        self.winback: WinbackProgram | None = None
        self.retargeting: RetargetingProgram | None = None
        self.referral: ReferralProgram | None = None
        if policies.winback:
            from .winback import WinbackProgram

            self.winback = WinbackProgram(policies.winback, model, self)
        if policies.retargeting:
            from .retargeting import RetargetingProgram

            self.retargeting = RetargetingProgram(policies.retargeting, model, self)
        if referral is not None:
            self.referral = referral
        elif policies.referral or (policies.promotions and policies.promotions.group_buying):
            from .referral import ReferralProgram

            self.referral = ReferralProgram(policies.referral, policies.promotions, model, self)

    def within(self, shoppers: IntArray) -> IntArray:
        """The shoppers of the scope among ``shoppers`` (all of them without a scope)."""
        if self.scope is None:
            return shoppers
        return shoppers[self.scope[shoppers]]

    # Questions from the other mechanisms ---------------------------------------------------
    def discount(
        self, model: CommerceModel, shoppers: IntArray, channels: IntArray | None, first: BoolArray
    ) -> FloatArray:
        """Discount (share of list value) each order gets, combined by the stacking rule."""
        offers: list[FloatArray] = []
        if self.promotions is not None:
            offers.extend(offer for _, offer in self.promotions.discounts(model, shoppers, channels))
        if self.first_order_coupon > 0:
            offers.append(np.where(first, self.first_order_coupon, 0.0))
        if self.loyalty is not None:
            offers.append(self.loyalty.member_discount(shoppers))
        if self.retention is not None:
            offers.append(self.retention.offer(model, shoppers))
        if self.winback is not None:
            offers.append(self.winback.coupon(model, shoppers))
        if self.referral is not None:
            offers.append(self.referral.coupon(model, shoppers, first, self.stacking))
        return combine_discounts(offers, self.stacking, shoppers.size)

    def conversion_factor(self, model: CommerceModel, shoppers: IntArray, first: BoolArray) -> FloatArray:
        """Multiplier of the chance to convert: price effect of the best offer plus urgency."""
        factor = np.ones(shoppers.size)
        offer = self.discount(model, shoppers, None, first)
        if offer.any():
            sensitivity = model.population.personas.price_sensitivity[model.population.persona[shoppers]]
            factor += self.elasticity * sensitivity * offer
        if self.promotions is not None:
            factor += self.promotions.urgency(model, shoppers)
        return factor

    def checkout_pass(self, model: CommerceModel, shoppers: IntArray, channels: IntArray) -> FloatArray:
        """Chance that a cart checks out: channel friction, shipping friction, simpler checkout."""
        success = (1.0 - model.channel_friction[channels]) * self.checkout_factor
        shipping = np.full(shoppers.size, model.shipping_pass)
        if self.loyalty is not None:
            shipping[self.loyalty.ships_free(shoppers)] = 1.0
        return np.asarray(np.minimum(success, 1.0) * shipping, dtype=np.float64)

    def shipping_fee(self, model: CommerceModel, shoppers: IntArray) -> FloatArray:
        """Shipping fee each shopper pays (0 when the loyalty tier ships free)."""
        fee = np.full(shoppers.size, model.scenario.economics.shipping_fee)
        if self.loyalty is not None:
            fee[self.loyalty.ships_free(shoppers)] = 0.0
        return fee

    def redeem_points(self, model: CommerceModel, shoppers: IntArray, value: FloatArray) -> FloatArray:
        """Loyalty points each order pays with, as currency (0 without a loyalty program)."""
        if self.loyalty is None:
            return np.zeros(shoppers.size)
        return self.loyalty.redeem(model, shoppers, value)

    def refractory_days(self, shoppers: IntArray) -> FloatArray:
        """Days over which each shopper's repurchase rate ramps back after a campaign order."""
        if self.promotions is None:
            return np.zeros(shoppers.size)
        return self.promotions.refractory_days(shoppers)

    def repurchase_factor(self, model: CommerceModel, shoppers: IntArray) -> FloatArray:
        """Multiplier of customers' repurchase rate from loyalty tiers, CRM windows and offers."""
        factor = np.ones(shoppers.size)
        if self.loyalty is not None:
            factor *= self.loyalty.repurchase_factor(shoppers)
        if self.retention is not None:
            factor *= self.retention.repurchase_factor(model, shoppers)
        if self.promotions is not None or self.retention is not None or self.loyalty is not None:
            factor *= self.conversion_factor(model, shoppers, np.zeros(shoppers.size, dtype=np.bool_))
        return factor

    def dropout_factor(self, shoppers: IntArray) -> npt.NDArray[np.float32]:
        """Multiplier of the dropout chance after a repeat purchase."""
        factor = np.ones(shoppers.size, dtype=np.float32)
        if self.loyalty is not None:
            factor *= self.loyalty.dropout_factor(shoppers)
        if self.satisfaction is not None:
            factor *= self.satisfaction.dropout_factor(shoppers)
        return factor

    # Events ------------------------------------------------------------------------------------
    def on_orders(
        self,
        model: CommerceModel,
        shoppers: IntArray,
        channels: IntArray,
        first: BoolArray,
        kept: BoolArray,
        paid: FloatArray,
        list_value: FloatArray,
        discount_rate: FloatArray,
    ) -> None:
        """Let each lever see the orders just booked."""
        if self.loyalty is not None:
            self.loyalty.on_orders(model, shoppers, paid, first, list_value, discount_rate)
        if self.promotions is not None:
            self.promotions.record_orders(model, shoppers, channels, list_value, discount_rate)
        if self.satisfaction is not None:
            self.satisfaction.on_orders(model.crn.normal("satisfaction", model.day, shoppers), shoppers, kept)
        if self.winback is not None:
            self.winback.on_orders(model, shoppers, first, list_value, discount_rate, kept)
        if self.referral is not None:
            self.referral.on_orders(model, shoppers, channels, first, list_value, discount_rate)

    def word_of_mouth(self, model: CommerceModel) -> None:
        """Word of mouth and referrals (before the day's decisions; nothing without the lever)."""
        if self.referral is not None:
            self.referral.word_of_mouth(model)

    def daily(self, model: CommerceModel) -> None:
        """Run the levers' daily work, in the order documented in the module."""
        if self.promotions is not None:
            self.promotions.daily(model)
        if self.retention is not None:
            self.retention.daily(model)
        if self.winback is not None:
            self.winback.daily(model)
        if self.retargeting is not None:
            self.retargeting.daily(model)
        if self.referral is not None:
            self.referral.daily(model)
        if self.loyalty is not None:
            self.loyalty.daily(model)
        if self.checkout is not None:
            cost = self.checkout.cost_per_day + (self.checkout.one_off_cost if model.day == 0 else 0.0)
            model.program_costs["checkout"][model.day] += self.share * cost / model.scale

    # Results ---------------------------------------------------------------------------------
    def results(self, model: CommerceModel, daily_orders: pd.Series) -> LeverResults:
        """Per-lever outputs: daily columns, summary KPIs, tables and per-shopper columns."""
        days = model.day
        frames = [
            pd.DataFrame(
                {
                    f"program_cost_{f}": model.program_costs[f][:days] * model.scale
                    for f in PROGRAM_COST_FIELDS
                }
            )
        ]
        summary: dict[str, float] = {}
        tables: dict[str, pd.DataFrame] = {}
        columns: dict[str, Any] = {}
        if self.loyalty is not None:
            loyalty = self.loyalty.daily_frame(model)
            frames.append(loyalty)
            summary.update(self.loyalty.summary(model, loyalty))
            columns.update(self.loyalty.customer_columns())
        if self.promotions is not None:
            summary.update(self.promotions.summary(model))
            tables["campaigns"] = self.promotions.campaign_table(model, daily_orders)
        if self.retention is not None:
            frames.append(self.retention.daily_frame(model))
            summary.update(self.retention.summary(model))
        if self.checkout is not None:
            summary["checkout_simplification_cost"] = float(
                model.program_costs["checkout"].sum() * model.scale
            )
        if self.satisfaction is not None:
            columns["satisfaction"] = self.satisfaction.score
        for lever in (self.winback, self.retargeting, self.referral):
            if lever is not None:
                frame, lever_summary, lever_tables, lever_columns = lever.results(model)
                frames.append(frame)
                summary.update(lever_summary)
                tables.update(lever_tables)
                columns.update(lever_columns)
        daily = pd.concat(frames, axis=1)
        daily.index = pd.RangeIndex(days, name="day")
        return daily, summary, tables, columns
