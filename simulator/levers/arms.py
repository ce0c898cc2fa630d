"""Arms of an A/B test inside one world: one set of levers per arm, each acting on its shoppers.

:class:`ArmedLevers` splits the shoppers at random into arms (complete randomization: exactly
``round(share x shoppers)`` in the treatment, drawn from the run's common random numbers, so
the population, the social graph and every other draw of the world stay those of the plain
simulation on the same seed). Each arm holds its own :class:`~simulator.levers.composite.Levers`:

- every question of the model about a group of shoppers (discount, conversion, checkout,
  repurchase, dropout, points) is split by arm and answered by each shopper's arm;
- every program picks its daily targets (CRM messages, win-back offers, retargeting ads, flash
  sales) among its arm's shoppers, and sees only its arm's orders;
- each arm pays its share of the programs' fixed costs (a fixed cost is the cost of running a
  program for the whole market), so an A/A test (the same policies in both arms) costs what the
  plain simulation costs;
- levers that act between shoppers (``Lever.shared_across_arms``: word of mouth, referrals and
  group buying reach friends in either arm) are built once and shared by the arms, and a test
  may not change them (friends crossing arms would blur the comparison - the interference a
  real referral test meets too);
- a lever may share state with the same lever of the first arm (``Lever.share_state``):
  satisfaction is one score per shopper, each arm's service policy scoring its own shoppers.

The lever costs of each arm (program costs, and the CRM messages, win-back offers and
retargeting ads booked on the channels) are recorded per day in :attr:`ArmedLevers.costs`.
Channels' own media spend is the world's, shared by both arms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..config.policies import Policies
from ..engine.lifetime import CustomerBase, LastingEffect
from . import registry
from .base import BoolArray, Float32Array, FloatArray, IntArray, Lever, LeverOutput, OrderBatch
from .composite import Levers

if TYPE_CHECKING:
    from ..engine.model import CommerceModel

__all__ = ["ARM_NAMES", "ArmedLevers", "assign_arms"]

Values = TypeVar("Values", FloatArray, Float32Array)

ARM_NAMES = ("control", "treatment")
"""Arm 0 is the control, arm 1 the treatment."""


def assign_arms(model: CommerceModel, treatment_share: float) -> npt.NDArray[np.int8]:
    """Split the shoppers at random: exactly ``round(treatment_share x shoppers)`` get arm 1.

    The draw is keyed by the run's seed (common random numbers), so it moves no other draw of
    the world.
    """
    size = model.population.size
    draws = model.crn.uniform("ab_arm", 0, np.arange(size))
    treated = np.argsort(draws, kind="stable")[: int(round(treatment_share * size))]
    arm = np.zeros(size, dtype=np.int8)
    arm[treated] = 1
    return arm


class ArmedLevers:
    """One set of levers per arm in one world (implements :class:`~simulator.levers.base.LeverEffects`).

    Parameters
    ----------
    model
        The model being built.
    policies
        The policies of each arm, control first.
    arm
        Arm of each shopper (0 control, 1 treatment...), one entry per shopper.

    Raises
    ------
    ValueError
        When the arms differ in a lever they share (``referral`` or ``promotions.group_buying``),
        which cannot be split by shopper (friends cross arms).

    Attributes
    ----------
    arms : list of Levers
        The levers of each arm, scoped to its shoppers.
    costs : numpy.ndarray
        Lever costs booked by each arm per day (arms x days; agent units, currency per person).
    """

    def __init__(self, model: CommerceModel, policies: Sequence[Policies], arm: npt.NDArray[np.int8]) -> None:
        for kind in registry.REGISTRY:
            configs = [kind.config_of(p) for p in policies]
            if kind.shared_across_arms and any(c != configs[0] for c in configs[1:]):
                raise ValueError(f"arms must share {kind.title}: friends cross arms")
        self.arm = arm
        sizes = np.bincount(arm, minlength=len(policies))
        self.sizes = sizes
        self.arms: list[Levers] = []
        first: dict[type[Lever[Any]], Lever[Any]] = {}
        for k, arm_policies in enumerate(policies):
            shared = {kind: p for kind, p in first.items() if kind.shared_across_arms}
            levers = Levers(model, arm_policies, arm == k, float(sizes[k] / arm.size), shared=shared)
            for program in levers.programs:
                if type(program) in first:
                    if levers.owns(program):
                        program.share_state(first[type(program)])
                else:
                    first[type(program)] = program
            self.arms.append(levers)
        self.costs = np.zeros((len(self.arms), model.horizon_days))
        self._booking = False

    # Splitting questions by arm ----------------------------------------------------------------
    def _split(self, shoppers: IntArray) -> list[tuple[Levers, IntArray]]:
        """Each arm with the positions of its shoppers in ``shoppers``."""
        arm = self.arm[shoppers]
        return [(levers, np.flatnonzero(arm == k)) for k, levers in enumerate(self.arms)]

    def _answer(
        self, shoppers: IntArray, out: Values, ask: Callable[[Levers, IntArray], npt.ArrayLike]
    ) -> Values:
        for levers, at in self._split(shoppers):
            if at.size:
                out[at] = ask(levers, at)
        return out

    def _ask_shared_first(
        self, model: CommerceModel, shoppers: IntArray, channels: IntArray | None, first: BoolArray
    ) -> None:
        """Ask the shared levers for the whole group's offers before the arms ask for their parts.

        What a shared lever draws when first asked about shoppers on a day (whether an order
        brings a group-buying friend, and which) is then drawn for the same group as in the
        plain simulation; the arms' own questions find it drawn.
        """
        for program in self.arms[0].own:
            if program.shared_across_arms:
                program.offers(model, shoppers, channels, first)

    def discount(
        self, model: CommerceModel, shoppers: IntArray, channels: IntArray | None, first: BoolArray
    ) -> FloatArray:
        """Discount each order gets from its shopper's arm."""
        self._ask_shared_first(model, shoppers, channels, first)
        return self._answer(
            shoppers,
            np.zeros(shoppers.size),
            lambda levers, at: levers.discount(
                model, shoppers[at], None if channels is None else channels[at], first[at]
            ),
        )

    def conversion_factor(self, model: CommerceModel, shoppers: IntArray, first: BoolArray) -> FloatArray:
        """Multiplier of the chance to convert, from each shopper's arm."""
        self._ask_shared_first(model, shoppers, None, first)
        return self._answer(
            shoppers,
            np.ones(shoppers.size),
            lambda levers, at: levers.conversion_factor(model, shoppers[at], first[at]),
        )

    def checkout_pass(self, model: CommerceModel, shoppers: IntArray, channels: IntArray) -> FloatArray:
        """Chance that each cart checks out, from its shopper's arm."""
        return self._answer(
            shoppers,
            np.zeros(shoppers.size),
            lambda levers, at: levers.checkout_pass(model, shoppers[at], channels[at]),
        )

    def shipping_fee(self, model: CommerceModel, shoppers: IntArray) -> FloatArray:
        """Shipping fee each shopper pays in its arm."""
        return self._answer(
            shoppers, np.zeros(shoppers.size), lambda levers, at: levers.shipping_fee(model, shoppers[at])
        )

    def redeem_points(self, model: CommerceModel, shoppers: IntArray, value: FloatArray) -> FloatArray:
        """Points each order pays with, from its shopper's arm's loyalty program."""
        return self._answer(
            shoppers,
            np.zeros(shoppers.size),
            lambda levers, at: levers.redeem_points(model, shoppers[at], value[at]),
        )

    def repurchase_factor(self, model: CommerceModel, shoppers: IntArray) -> FloatArray:
        """Multiplier of each customer's repurchase rate in its arm."""
        if any(levers.responds_to_price for levers in self.arms):
            self._ask_shared_first(model, shoppers, None, np.zeros(shoppers.size, dtype=np.bool_))
        return self._answer(
            shoppers, np.ones(shoppers.size), lambda levers, at: levers.repurchase_factor(model, shoppers[at])
        )

    def refractory_days(self, model: CommerceModel, shoppers: IntArray) -> FloatArray:
        """Days of each customer's repurchase ramp after a promoted order, in its arm."""
        return self._answer(
            shoppers, np.zeros(shoppers.size), lambda levers, at: levers.refractory_days(model, shoppers[at])
        )

    def dropout_factor(self, model: CommerceModel, shoppers: IntArray) -> Float32Array:
        """Multiplier of each customer's dropout chance in its arm."""
        return self._answer(
            shoppers,
            np.ones(shoppers.size, dtype=np.float32),
            lambda levers, at: levers.dropout_factor(model, shoppers[at]),
        )

    def lasting_effect(self, model: CommerceModel, customers: CustomerBase) -> LastingEffect:
        """Each customer's lasting effects from its arm's levers."""
        effect = LastingEffect().filled(customers)
        for levers, at in self._split(customers.shoppers):
            if at.size:
                effect.put(at, levers.lasting_effect(model, customers.take(at)))
        return effect

    def lasting_days(self, model: CommerceModel) -> int:
        """Days after an order the lasting effects span (the longest arm's)."""
        return max(levers.lasting_days(model) for levers in self.arms)

    # Events, with each arm's costs -------------------------------------------------------------
    def _booked(self, model: CommerceModel) -> float:
        """Lever costs booked so far today: program costs and spend on the channels' ledgers."""
        day = model.day
        programs = sum(float(costs[day]) for costs in model.program_costs.values())
        return programs + float(model.ledger["spend"][day].sum())

    def _charge(self, model: CommerceModel, k: int, work: Callable[[], None]) -> None:
        """Run one arm's work and charge that arm what it booked (nested work: the outer arm)."""
        if self._booking:
            work()
            return
        self._booking = True
        try:
            before = self._booked(model)
            work()
            self.costs[k, model.day] += self._booked(model) - before
        finally:
            self._booking = False

    def on_orders(self, model: CommerceModel, batch: OrderBatch) -> None:
        """Each arm sees its shoppers' orders; then the shared levers act on the whole booking.

        A shared lever acts once, on the booking in its order, as in the plain simulation
        (group-buying friends are claimed by the first host in the booking whatever its arm);
        what its action books (the friends' orders) is charged to the arms as any booking.
        """
        for k, (levers, at) in enumerate(self._split(batch.shoppers)):
            if at.size:

                def see(levers: Levers = levers, at: IntArray = at) -> None:
                    part = batch.take(at)
                    levers.see_orders(model, part)
                    for program in levers.own:
                        if not program.shared_across_arms:
                            program.after_orders(model, part)

                self._charge(model, k, see)
        for program in self.arms[0].own:
            if program.shared_across_arms:
                program.after_orders(model, batch)

    def word_of_mouth(self, model: CommerceModel) -> None:
        """Each arm's word of mouth (a shared referral program runs once, in its owner's arm)."""
        for k, levers in enumerate(self.arms):

            def work(levers: Levers = levers) -> None:
                levers.word_of_mouth(model)

            self._charge(model, k, work)

    def daily(self, model: CommerceModel) -> None:
        """Each arm's daily work in turn (each acts on its own shoppers)."""
        for k, levers in enumerate(self.arms):

            def work(levers: Levers = levers) -> None:
                levers.daily(model)

            self._charge(model, k, work)

    def results(self, model: CommerceModel, daily_orders: pd.Series) -> LeverOutput:
        """Each arm's lever outputs, names prefixed with the arm (``control_``, ``treatment_``).

        The daily frame keeps the world's program costs once and adds each arm's lever cost
        per day (``control_lever_cost``..., currency).
        """
        outputs: list[LeverOutput] = []
        for k, levers in enumerate(self.arms):
            name = ARM_NAMES[k] if k < len(ARM_NAMES) else f"arm{k}"
            output = levers.results(model, daily_orders)
            costs = output.daily.filter(like="program_cost_")
            if not outputs:
                outputs.append(LeverOutput(daily=costs))
            output.daily = output.daily.drop(columns=list(costs.columns))
            output.daily["lever_cost"] = self.costs[k, : model.day] * model.scale
            outputs.append(output.prefixed(f"{name}_"))
        combined = LeverOutput.combine(outputs)
        combined.columns["arm"] = pd.Categorical.from_codes(
            self.arm.astype(np.int64), pd.Index(ARM_NAMES[: len(self.arms)])
        )
        return combined
