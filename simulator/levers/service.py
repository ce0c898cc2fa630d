"""Service quality and satisfaction.

Each order leaves the customer with a satisfaction between 0 and 1: a base set by delivery
speed (``0.9 - 0.05 x (delivery_days - 1)``), lowered by 0.3 when the order is returned
(by 0.15 when returns are free), plus individual noise (standard deviation 0.1). Satisfaction
is an exponential average over orders (weight 0.5 on the newest). It scales the dropout chance
after a repeat purchase (``1.5 - satisfaction``: a delighted customer drops out half as often
as an indifferent one) and decides who talks and refers (see :mod:`simulator.levers.referral`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..config.policies import Service

__all__ = ["Satisfaction"]

IntArray = npt.NDArray[np.int64]


class Satisfaction:
    """Satisfaction of every shopper (NaN until the first order)."""

    def __init__(self, config: Service, size: int) -> None:
        self.config = config
        self.base = float(np.clip(0.9 - 0.05 * (config.delivery_days - 1.0), 0.0, 1.0))
        self.return_penalty = 0.15 if config.free_returns else 0.3
        self.score = np.full(size, np.nan, dtype=np.float32)

    def on_orders(
        self, noise: npt.NDArray[np.float64], shoppers: IntArray, kept: npt.NDArray[np.bool_]
    ) -> None:
        """Update satisfaction after orders (``kept``: not returned; ``noise``: standard normal)."""
        experience = self.base - np.where(kept, 0.0, self.return_penalty) + 0.1 * noise
        experience = np.clip(experience, 0.0, 1.0).astype(np.float32)
        previous = self.score[shoppers]
        self.score[shoppers] = np.where(np.isnan(previous), experience, 0.5 * previous + 0.5 * experience)

    def dropout_factor(self, shoppers: IntArray) -> npt.NDArray[np.float32]:
        """Multiplier of the dropout chance: ``1.5 - satisfaction`` (1 when unknown)."""
        score = self.score[shoppers]
        return np.where(np.isnan(score), np.float32(1.0), np.float32(1.5) - score)
