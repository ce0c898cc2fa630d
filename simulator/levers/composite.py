"""The strategy levers of a scenario, and how the other mechanisms ask them for their effects.

:class:`Levers` builds each lever the scenario's ``policies`` turn on, in the order of
:data:`simulator.levers.registry.REGISTRY`, and answers the questions the journey, checkout,
order and repurchase mechanisms ask about a group of shoppers by combining the levers' answers:

- discount: every lever's offers, combined by the stacking rule (``best``: the largest;
  ``add``: the sum, capped at 90%);
- conversion: ``1 + price_elasticity x price_sensitivity x discount`` plus the levers' urgency;
- checkout: the channel's pass ``1 - checkout_friction`` times the levers' checkout factors
  (capped at 1), times the shipping pass unless a lever ships the order free;
- repurchase: the product of the levers' factors, times the conversion factor when a lever
  whose offers reach customers before they decide is on (``Lever.repeat_price_response``);
- refractory days: the longest; dropout: the product; points: the sum.

A lever that is off is not built, so it answers nothing: no discount, multipliers of 1.

The model talks to its levers only through the methods of
:class:`~simulator.levers.base.LeverEffects`, so that one world can hold several sets of levers,
each acting on its own shoppers (the arms of an A/B test,
:class:`simulator.levers.arms.ArmedLevers`). A :class:`Levers` with a ``scope`` acts only on the
shoppers of its scope: its programs pick their daily targets among them, and it pays its
``share`` of the programs' fixed costs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from ..config.policies import Policies
from ..engine.lifetime import CustomerBase, LastingEffect
from . import registry
from .base import BoolArray, Float32Array, FloatArray, IntArray, Lever, LeverOutput, OrderBatch
from .promotions import Pricing, combine_discounts

if TYPE_CHECKING:
    from ..engine.model import CommerceModel

__all__ = ["Levers"]

LeverT = TypeVar("LeverT", bound=Lever[Any])


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
    shared
        Levers to use instead of building them, by class (the arms of one world share the
        levers that act between shoppers, e.g. one referral program on one social graph).
        These levers' daily work and word of mouth are their owner's to run.

    Attributes
    ----------
    programs : list of Lever
        The levers that are on, in registry order.
    pricing : Pricing
        Stacking rule and price elasticity.
    """

    def __init__(
        self,
        model: CommerceModel,
        policies: Policies | None = None,
        scope: BoolArray | None = None,
        share: float = 1.0,
        shared: Mapping[type[Lever[Any]], Lever[Any]] | None = None,
    ) -> None:
        policies = model.scenario.policies if policies is None else policies
        self.scope = scope
        self.share = share
        self.pricing = Pricing.of(policies)
        self.programs: list[Lever[Any]] = []
        self._own: list[Lever[Any]] = []
        self._by_kind: dict[type[Lever[Any]], Lever[Any]] = {}
        for kind, config in registry.active_levers(policies):
            program = (shared or {}).get(kind)
            if program is None:
                for name in kind.cost_fields:
                    model.program_costs.setdefault(name, np.zeros(model.horizon_days))
                program = kind(config, model, self)
                self._own.append(program)
            self.programs.append(program)
            self._by_kind[kind] = program
        self.responds_to_price = any(p.repeat_price_response for p in self.programs)
        """Whether customers' repeat rate responds to the price of the offers they hold."""

    def find(self, kind: type[LeverT]) -> LeverT | None:
        """The lever of class ``kind`` if it is on."""
        program = self._by_kind.get(kind)
        return program if isinstance(program, kind) else None

    def owns(self, program: Lever[Any]) -> bool:
        """Whether these levers built ``program`` (rather than share another arm's)."""
        return any(program is own for own in self._own)

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
        offers = [o for p in self.programs for o in p.offers(model, shoppers, channels, first)]
        return combine_discounts(offers, self.pricing.stacking, shoppers.size)

    def conversion_factor(self, model: CommerceModel, shoppers: IntArray, first: BoolArray) -> FloatArray:
        """Multiplier of the chance to convert: price effect of the best offer plus urgency."""
        factor = np.ones(shoppers.size)
        offer = self.discount(model, shoppers, None, first)
        if offer.any():
            sensitivity = model.population.personas.price_sensitivity[model.population.persona[shoppers]]
            factor += self.pricing.elasticity * sensitivity * offer
        for program in self.programs:
            urgency = program.urgency(model, shoppers)
            if urgency is not None:
                factor += urgency
        return factor

    def _ships_free(self, model: CommerceModel, shoppers: IntArray) -> BoolArray | None:
        free: BoolArray | None = None
        for program in self.programs:
            waived = program.ships_free(model, shoppers)
            if waived is not None:
                free = waived if free is None else free | waived
        return free

    def checkout_pass(self, model: CommerceModel, shoppers: IntArray, channels: IntArray) -> FloatArray:
        """Chance that a cart checks out: channel friction, the levers' factors, shipping friction."""
        factor: float | FloatArray = 1.0
        for program in self.programs:
            lift = program.checkout_factor(model, shoppers, channels)
            if lift is not None:
                factor = factor * lift
        success = (1.0 - model.channel_friction[channels]) * factor
        shipping = np.full(shoppers.size, model.shipping_pass)
        free = self._ships_free(model, shoppers)
        if free is not None:
            shipping[free] = 1.0
        return np.asarray(np.minimum(success, 1.0) * shipping, dtype=np.float64)

    def shipping_fee(self, model: CommerceModel, shoppers: IntArray) -> FloatArray:
        """Shipping fee each shopper pays (0 when a lever ships the order free)."""
        fee = np.full(shoppers.size, model.scenario.economics.shipping_fee)
        free = self._ships_free(model, shoppers)
        if free is not None:
            fee[free] = 0.0
        return fee

    def redeem_points(self, model: CommerceModel, shoppers: IntArray, value: FloatArray) -> FloatArray:
        """Points each order pays with, as currency (0 without a lever that redeems points)."""
        total: FloatArray | None = None
        for program in self.programs:
            redeemed = program.redeem(model, shoppers, value)
            if redeemed is not None:
                total = redeemed if total is None else total + redeemed
        return np.zeros(shoppers.size) if total is None else total

    def refractory_days(self, model: CommerceModel, shoppers: IntArray) -> FloatArray:
        """Days over which each shopper's repurchase rate ramps back: the longest lever's."""
        days: FloatArray | None = None
        for program in self.programs:
            ramp = program.refractory_days(model, shoppers)
            if ramp is not None:
                days = ramp if days is None else np.maximum(days, ramp)
        return np.zeros(shoppers.size) if days is None else days

    def repurchase_factor(self, model: CommerceModel, shoppers: IntArray) -> FloatArray:
        """Multiplier of customers' repurchase rate: the levers' factors and the offers' price."""
        factor = np.ones(shoppers.size)
        for program in self.programs:
            lift = program.repurchase_factor(model, shoppers)
            if lift is not None:
                factor *= lift
        if self.responds_to_price:
            factor *= self.conversion_factor(model, shoppers, np.zeros(shoppers.size, dtype=np.bool_))
        return factor

    def dropout_factor(self, model: CommerceModel, shoppers: IntArray) -> Float32Array:
        """Multiplier of the dropout chance after a repeat purchase: the levers' product."""
        factor = np.ones(shoppers.size, dtype=np.float32)
        for program in self.programs:
            change = program.dropout_factor(model, shoppers)
            if change is not None:
                factor *= change
        return factor

    def lasting_effect(self, model: CommerceModel, customers: CustomerBase) -> LastingEffect:
        """The levers' lasting effects, combined: multipliers multiply, chances add up as independent."""
        effect = LastingEffect()
        for program in self.programs:
            part = program.lasting_effect(model, customers)
            if part is not None:
                effect.combine(part)
        return effect.filled(customers)

    def lasting_days(self, model: CommerceModel) -> int:
        """Days after an order the lasting effects span (the longest lever's)."""
        return max((program.lasting_days(model) for program in self.programs), default=0)

    # Events ------------------------------------------------------------------------------------
    def on_orders(self, model: CommerceModel, batch: OrderBatch) -> None:
        """Let each lever see the orders just booked, then act on them, in registry order."""
        self.see_orders(model, batch)
        for program in self._own:
            program.after_orders(model, batch)

    def see_orders(self, model: CommerceModel, batch: OrderBatch) -> None:
        """Let each lever see the orders just booked (:meth:`Lever.on_orders`), in registry order."""
        for program in self.programs:
            program.on_orders(model, batch)

    @property
    def own(self) -> list[Lever[Any]]:
        """The levers built here (not shared from another A/B arm), in registry order."""
        return self._own

    def word_of_mouth(self, model: CommerceModel) -> None:
        """Word of mouth and referrals of the levers built here (before the day's decisions)."""
        for program in self._own:
            program.word_of_mouth(model)

    def daily(self, model: CommerceModel) -> None:
        """Every lever's daily work, then every lever's end of day, in registry order."""
        for program in self._own:
            program.daily(model)
        for program in self._own:
            program.end_of_day(model)

    # Results ---------------------------------------------------------------------------------
    def results(self, model: CommerceModel, daily_orders: pd.Series) -> LeverOutput:
        """Program costs by ledger and each lever's output, in registry order (currency, people)."""
        costs = pd.DataFrame(
            {
                f"program_cost_{name}": values[: model.day] * model.scale
                for name, values in model.program_costs.items()
            }
        )
        output = LeverOutput.combine(
            [LeverOutput(daily=costs), *(p.results(model, daily_orders) for p in self.programs)]
        )
        days = pd.RangeIndex(model.day, name="day")
        output.daily = output.daily.set_axis(days) if len(output.daily.columns) else pd.DataFrame(index=days)
        return output
