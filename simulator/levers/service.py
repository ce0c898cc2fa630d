"""Service quality and satisfaction.

Each order leaves the customer with a satisfaction between 0 and 1: a base set by delivery
speed (``0.9 - 0.05 x (delivery_days - 1)``), lowered by 0.3 when the order is returned
(by 0.15 when returns are free), plus individual noise (standard deviation 0.1). Satisfaction
is an exponential average over orders (weight 0.5 on the newest). It scales the dropout chance
after a repeat purchase (``1.5 - satisfaction``: a delighted customer drops out half as often
as an indifferent one) and decides who talks and refers (see :mod:`simulator.levers.referral`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..config.policies import Service
from ..engine.lifetime import CustomerBase, LastingEffect
from .base import BoolArray, Float32Array, FloatArray, IntArray, Lever, LeverOutput, Members, OrderBatch

if TYPE_CHECKING:
    from ..engine.model import CommerceModel
    from .composite import Levers

__all__ = ["Satisfaction"]


class Satisfaction(Lever[Service]):
    """Satisfaction of every shopper (NaN until the first order).

    Built with the default service whenever win-back or referral is on (they read it). The
    arms of an A/B test keep one score per shopper, each arm's service scoring its shoppers.
    """

    key = "service"
    shopper_arrays = ("score",)
    title = "service and satisfaction"
    config_type = Service
    enable_with_defaults = True

    def __init__(self, config: Service, model: CommerceModel, levers: Levers) -> None:
        super().__init__(config, model, levers)
        self.base = float(np.clip(0.9 - 0.05 * (config.delivery_days - 1.0), 0.0, 1.0))
        self.return_penalty = 0.15 if config.free_returns else 0.3
        self.score = np.full(model.population.size, np.nan, dtype=np.float32)

    @classmethod
    def bytes_per_shopper(cls, config: Service) -> int:
        """The satisfaction score (bytes per shopper)."""
        return 4

    def share_state(self, first: Lever[Service]) -> None:
        """Score the same array as the first arm's satisfaction (one score per shopper)."""
        if isinstance(first, Satisfaction):
            self.score = first.score

    def on_orders(self, model: CommerceModel, batch: OrderBatch) -> None:
        """Update satisfaction after orders: the experience, with noise, averaged in."""
        self._score_orders(model, self.score, batch.shoppers, batch.kept, self.base, self.return_penalty)

    @classmethod
    def on_orders_together(
        cls,
        batch: CommerceModel,
        members: Sequence[tuple[CommerceModel, int, Satisfaction]],
        orders: OrderBatch,
        parts: Mapping[int, OrderBatch],
    ) -> None:
        """Every world's scores at once, each world with its own base and return penalty."""
        group = Members(batch, members)
        score = group.joined(group.levers[0], "score")
        if score is None:
            super().on_orders_together(batch, members, orders, parts)
            return
        mine = group.of(orders.shoppers) >= 0
        shoppers, kept = orders.shoppers[mine], orders.kept[mine]
        member = group.of(shoppers)
        base = group.param(lambda p: p.base)[member]
        penalty = group.param(lambda p: p.return_penalty)[member]
        cls._score_orders(batch, score, shoppers, kept, base, penalty)

    @staticmethod
    def _score_orders(
        model: CommerceModel,
        score: Float32Array,
        shoppers: IntArray,
        kept: BoolArray,
        base: float | FloatArray,
        penalty: float | FloatArray,
    ) -> None:
        noise = model.crn.normal("satisfaction", model.day, shoppers)
        experience = base - np.where(kept, 0.0, penalty) + 0.1 * noise
        experience = np.clip(experience, 0.0, 1.0).astype(np.float32)
        previous = score[shoppers]
        score[shoppers] = np.where(np.isnan(previous), experience, 0.5 * previous + 0.5 * experience)

    def dropout_factor(self, model: CommerceModel, shoppers: IntArray) -> Float32Array:
        """Multiplier of the dropout chance: ``1.5 - satisfaction`` (1 when unknown)."""
        score = self.score[shoppers]
        return np.where(np.isnan(score), np.float32(1.0), np.float32(1.5) - score)

    def lasting_effect(self, model: CommerceModel, customers: CustomerBase) -> LastingEffect:
        """Satisfaction lasts: its dropout multiplier."""
        return LastingEffect(dropout=self.dropout_factor(model, customers.shoppers).astype(np.float64))

    def results(self, model: CommerceModel, daily_orders: pd.Series) -> LeverOutput:
        """The ``satisfaction`` column of each shopper (0-1, empty before the first order)."""
        return LeverOutput(columns={"satisfaction": self.score})
