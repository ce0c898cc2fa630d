"""Budget-allocation settings: the ``allocation:`` section of a scenario file.

Every field has a default, so a scenario without the section can be allocated as it is: the
budget is the scenario's current media plan, re-split across its channels for the largest
profit, each channel between 0 and 3 times its current spend (the range the response curves
are measured over).

.. code-block:: yaml

    allocation:
      objective: profit            # profit | revenue | new_customers | realized_value | lifetime_value
      budget: 6000000              # total media budget over the horizon; default: the current plan
      budget_mode: equal           # equal: spend it all; at_most: spend only what pays
      default_bounds: {min_ratio: 0.0, max_ratio: 3.0}   # per channel, as ratios of current spend
      bounds:
        search: {min_ratio: 0.5}   # or absolute money: {min: 100000, max: 900000}
      locked: [stores]             # keep at the current spend
      shares:
        - {channels: [social], min: 0.2}   # social at least 20% of the total
      min_presence: {marketplace: 300000}  # either 0 or at least 300,000
      target_roi: null             # set: the largest budget whose ROI stays >= the target
      periods: 1                   # >1: spend per channel per period (equal slices of the horizon)
      period_budgets: null         # per-period caps (money), one per period
      response: {levels: [0, 0.1, 0.25, 0.5, 1, 1.5, 2, 3], seeds: 3, segments: 20}
      closed_loop: {rounds: 2, seeds: 5, trust_region: 2.0}
      guard_rails: [new_customers]  # metrics that must not get significantly worse
      min_gain: 0.01               # smallest change of the objective worth acting on (share)
      portfolio: {target_roi: null, cycle_days: 91}

The verdict of an allocation (:func:`optimizer.recommendation.decide`) is ``recommend`` only
when the paired change of the objective on fresh seeds has a 95% interval above zero and no
guard-rail metric is significantly worse; otherwise ``keep current plan`` or ``not confirmed:
run larger`` (when a gain of at least ``min_gain`` is still inside the interval).

The schema checks each field on its own; checks against the rest of the scenario (channel
names, constraints that cannot all hold) are the optimizer's
(:func:`optimizer.settings.allocation_settings`, :func:`optimizer.allocate.check_constraints`).
What each objective measures is defined by the optimizer's objective registry
(:mod:`optimizer.objectives`); this layer only lists the names, and a test holds the two equal.
"""

from __future__ import annotations

import typing
from typing import Any, Literal, Self

from pydantic import Field, field_validator, model_validator

from .policies import _Strict

__all__ = [
    "ALLOCATION_OBJECTIVES",
    "GUARD_RAIL_METRICS",
    "RETIRED_OBJECTIVES",
    "AllocationObjective",
    "AllocationSettings",
    "Bound",
    "ClosedLoopSettings",
    "GuardRail",
    "ObjectiveName",
    "PortfolioSettings",
    "ResponseSettings",
    "VerdictSettings",
    "SettingsModel",
    "Share",
    "check_objective_name",
]

AllocationObjective = Literal["profit", "revenue", "new_customers", "realized_value", "lifetime_value"]
"""What an allocation can maximize: totals that add up across channels (see :mod:`optimizer.objectives`)."""

ALLOCATION_OBJECTIVES: tuple[str, ...] = typing.get_args(AllocationObjective)

ObjectiveName = Literal[
    "profit",
    "roi",
    "revenue",
    "new_customers",
    "realized_value",
    "realized_value_per_customer",
    "lifetime_value",
    "lifetime_value_per_customer",
]
"""Every objective of the optimizer's registry (:mod:`optimizer.objectives`; a test holds them equal)."""

GuardRail = Literal[ObjectiveName, "marketing_spend", "program_costs"]
"""Metrics a plan's check compares (:data:`optimizer.objectives.COMPARED_METRICS`): the
objectives, and two costs (worse when they rise)."""

GUARD_RAIL_METRICS: tuple[str, ...] = typing.get_args(GuardRail)

RETIRED_OBJECTIVES = {
    "clv": (
        "the margin realized by the customers won is 'realized_value' in total and "
        "'realized_value_per_customer' per customer (search only); 'lifetime_value' adds their "
        "expected margin after the horizon"
    ),
    "customers": "it is 'new_customers'",
}
"""Objective names of earlier versions, refused with what they became."""


def check_objective_name(name: object, allowed: tuple[str, ...]) -> None:
    """Refuse a retired objective name in one line, saying what it became and what is allowed.

    Raises
    ------
    ValueError
        For a name in :data:`RETIRED_OBJECTIVES`.
    """
    if isinstance(name, str) and name in RETIRED_OBJECTIVES:
        choices = ", ".join(f"'{n}'" for n in allowed)
        raise ValueError(f"'{name}' is retired: {RETIRED_OBJECTIVES[name]}; must be one of {choices}")


class SettingsModel(_Strict):
    """Base of the allocation and search settings: unknown fields are errors, numbers are finite and sane."""


class Bound(SettingsModel):
    """Lower and upper limit of one channel's total spend over the horizon.

    Give each side either in money (``min``/``max``) or as a ratio of the channel's current
    planned spend (``min_ratio``/``max_ratio``), not both.
    """

    min: float | None = Field(default=None, ge=0, description="Lowest total spend (currency).")
    max: float | None = Field(default=None, ge=0, description="Highest total spend (currency).")
    min_ratio: float | None = Field(default=None, ge=0, description="Lowest spend as a ratio of current.")
    max_ratio: float | None = Field(default=None, ge=0, description="Highest spend as a ratio of current.")

    @model_validator(mode="after")
    def _one_kind_per_side(self) -> Self:
        for side in ("min", "max"):
            if getattr(self, side) is not None and getattr(self, f"{side}_ratio") is not None:
                raise ValueError(f"give {side} (money) or {side}_ratio (of current spend), not both")
        return self

    def resolve(self, current: float, fallback: Bound) -> tuple[float, float]:
        """Absolute ``(lower, upper)`` for a channel whose current spend is ``current``.

        Sides this bound leaves open come from ``fallback``; ratios multiply ``current``.
        """

        def side(name: str, bound: Bound) -> float | None:
            money = getattr(bound, name)
            ratio = getattr(bound, f"{name}_ratio")
            if money is not None:
                return float(money)
            if ratio is not None:
                return float(ratio) * current
            return None

        lower = side("min", self)
        upper = side("max", self)
        lower = side("min", fallback) if lower is None else lower
        upper = side("max", fallback) if upper is None else upper
        return (0.0 if lower is None else lower, float("inf") if upper is None else upper)


class Share(SettingsModel):
    """A share rule: the listed channels together take at least / at most a share of the total."""

    channels: list[str] = Field(min_length=1, description="Channel names.")
    min: float | None = Field(default=None, ge=0, le=1, description="Lowest share of total spend (0-1).")
    max: float | None = Field(default=None, ge=0, le=1, description="Highest share of total spend (0-1).")

    @model_validator(mode="after")
    def _some_limit(self) -> Self:
        if self.min is None and self.max is None:
            raise ValueError("give min or max (a share of total spend between 0 and 1)")
        return self


class ResponseSettings(SettingsModel):
    """How response curves are measured: spend levels, seeds and the fitted curve."""

    levels: list[float] = Field(
        default=[0.0, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0],
        min_length=3,
        description=(
            "Spend levels as multiples of current spend (ratios); must include 0 and 1. The plan "
            "keeps each channel between 0 and its largest measured level."
        ),
    )
    seeds: int = Field(default=3, ge=1, le=50, description="Paired seeds per spend level.")
    agents: int | None = Field(
        default=None, ge=100, description="Agents for the curve runs (default: the scenario's)."
    )
    segments: int = Field(default=20, ge=2, le=200, description="Pieces of the piecewise-linear curve.")

    @model_validator(mode="after")
    def _levels(self) -> Self:
        if any(level < 0 for level in self.levels):
            raise ValueError("levels are multiples of current spend and cannot be negative")
        if 0 not in self.levels or 1 not in self.levels:
            raise ValueError("levels must include 0 (no spend) and 1 (the current plan)")
        if len(set(self.levels)) != len(self.levels):
            raise ValueError("levels must be distinct")
        return self


class ClosedLoopSettings(SettingsModel):
    """Re-simulation of each plan found, in a trust region around the last confirmed plan."""

    rounds: int = Field(default=2, ge=0, le=5, description="Solve-and-check rounds after the first.")
    seeds: int = Field(default=5, ge=2, le=100, description="Fresh paired seeds for evaluating plans.")
    trust_region: float = Field(
        default=2.0,
        ge=1.05,
        le=10.0,
        description=(
            "Each round keeps every channel within this factor of the last confirmed plan (ratio: "
            "2 = between half and twice its spend) or switches it off; the factor shrinks to its "
            "square root when a check disagrees with the prediction."
        ),
    )


class PortfolioSettings(SettingsModel):
    """Channel portfolio rules (admit, expand, exit) applied to the measured ROI."""

    target_roi: float | None = Field(
        default=None,
        description=(
            "Target ROI for the exit rule (incremental profit / spend, ratio, break-even 0); "
            "default: the average."
        ),
    )
    cycle_days: int = Field(default=91, ge=7, le=366, description="Length of one test cycle (days).")


class VerdictSettings(SettingsModel):
    """What a plan (or policy) must show to be recommended: the settings of the verdict."""

    guard_rails: list[GuardRail] = Field(
        default_factory=list,
        description=(
            "Metrics that must not get significantly worse for a plan or policy to be recommended "
            "(objective names, marketing_spend or program_costs; a cost is worse when it rises)."
        ),
    )
    min_gain: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description=(
            "Smallest change of the (first) objective worth acting on (share of its current value, "
            "0.01 = 1%): an unconfirmed plan whose interval stays below it is not worth a larger run."
        ),
    )


class AllocationSettings(VerdictSettings):
    """Budget-allocation settings (see the module docstring for an example)."""

    objective: AllocationObjective = Field(
        default="profit",
        description=(
            "What to maximize over the horizon: profit, revenue, new_customers, realized_value "
            "(margin realized by the customers won) or lifetime_value (plus their expected margin "
            "after the horizon, discounted)."
        ),
    )
    budget: float | None = Field(
        default=None, gt=0, description="Total media budget over the horizon (default: current plan)."
    )
    budget_mode: Literal["equal", "at_most"] = Field(
        default="equal", description="equal: spend it all; at_most: up to it."
    )
    default_bounds: Bound = Field(
        default=Bound(min_ratio=0.0, max_ratio=3.0), description="Bounds of channels not in 'bounds'."
    )
    bounds: dict[str, Bound] = Field(default_factory=dict, description="Bounds per channel.")
    locked: list[str] = Field(default_factory=list, description="Channels kept at their current spend.")
    shares: list[Share] = Field(default_factory=list, description="Share rules.")
    min_presence: dict[str, float] = Field(
        default_factory=dict, description="Channel -> minimum total spend when used at all (else 0)."
    )
    target_roi: float | None = Field(
        default=None,
        description="Target-ROI mode: largest budget with ROI (profit / spend, ratio, break-even 0) >= this.",
    )
    periods: int = Field(
        default=1, ge=1, le=366, description="Planning periods (equal slices of the horizon)."
    )
    period_budgets: list[float | None] | None = Field(
        default=None, description="Per-period budget caps (currency), one per period."
    )
    response: ResponseSettings = Field(default_factory=ResponseSettings, description="Curve measurement.")
    closed_loop: ClosedLoopSettings = Field(default_factory=ClosedLoopSettings, description="Closed loop.")
    portfolio: PortfolioSettings = Field(default_factory=PortfolioSettings, description="Portfolio rules.")

    @field_validator("objective", mode="before")
    @classmethod
    def _not_retired(cls, value: Any) -> Any:
        check_objective_name(value, ALLOCATION_OBJECTIVES)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.period_budgets is not None and len(self.period_budgets) != self.periods:
            raise ValueError(
                f"period_budgets has {len(self.period_budgets)} entries for {self.periods} period(s); "
                "give one per period"
            )
        if self.target_roi is not None and self.objective != "profit":
            raise ValueError("target_roi works with objective 'profit' (ROI = profit / spend)")
        return self
