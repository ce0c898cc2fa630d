"""Checkout simplification: carts pass checkout friction more often, at a running cost.

A cart checks out with chance ``min(1, (1 - checkout_friction) x (1 + conversion_lift))``
(times the shipping pass; docs/domain.md: +25% conversion). The running cost is booked every day as
the program cost ``checkout`` and the one-off cost on day 0; an A/B arm pays its share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from ..config.policies import CheckoutSimplification
from .base import IntArray, Lever, LeverOutput, RangeSpec

if TYPE_CHECKING:
    from ..config.scenario import Scenario
    from ..engine.model import CommerceModel

__all__ = ["SimplerCheckout"]


class SimplerCheckout(Lever[CheckoutSimplification]):
    """A simpler checkout for every shopper of the levers' scope."""

    key = "checkout_simplification"
    config_type = CheckoutSimplification
    cost_fields = ("checkout",)
    booked_cost_kpis = ("checkout_simplification_cost",)
    enable_with_defaults = True

    @classmethod
    def search_ranges(cls, config: CheckoutSimplification | None, scenario: Scenario) -> dict[str, RangeSpec]:
        """On or off, whether the scenario has it or not."""
        return {"checkout_simplification.enabled": {"type": "bool"}}

    def checkout_factor(self, model: CommerceModel, shoppers: IntArray, channels: IntArray) -> float:
        """``1 + conversion_lift``."""
        return 1.0 + self.config.conversion_lift

    def end_of_day(self, model: CommerceModel) -> None:
        """Book the day's running cost (and the one-off cost on day 0), this scope's share."""
        config = self.config
        cost = config.cost_per_day + (config.one_off_cost if model.day == 0 else 0.0)
        model.program_costs["checkout"][model.day] += self.levers.share * cost / model.scale

    def results(self, model: CommerceModel, daily_orders: pd.Series) -> LeverOutput:
        """``checkout_simplification_cost``: running and one-off costs (currency)."""
        cost = float(model.program_costs["checkout"].sum() * model.scale)
        return LeverOutput(summary={"checkout_simplification_cost": cost})
