"""Scenario files: the validated description of a simulated market.

A scenario is a YAML file validated by the pydantic models below. Every field states its
unit and bounds in its description, so ``python run.py schema`` gives editors a JSON Schema
with autocompletion and hover help.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import types
import typing
import warnings
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from ..common.bundled import bundled_scenarios, resolve_input
from ..common.files import InputFileError, read_regular_file
from .allocation import AllocationSettings
from .customer_base import CustomerBase, CustomerFileError, pool_agents, read_customer_histories
from .policies import FieldProblem as _FieldProblem
from .policies import Policies, check_references
from .policies import _Strict as _PolicyBase
from .search import SearchSettings

__all__ = [
    "BasketValue",
    "BudgetPeriod",
    "DEFAULT_START_DATE",
    "Channel",
    "ChannelKind",
    "Dropout",
    "Economics",
    "Lifecycle",
    "Persona",
    "Population",
    "Pricing",
    "Repurchase",
    "Scenario",
    "ScenarioError",
    "ScenarioWarning",
    "error_from_validation",
    "load_scenario",
    "parse_scenario",
]

MAX_CHANNELS = 8
MAX_MARKET_PEOPLE = 1e10
"""Most people a market may stand for (``agents x scale``; the world has about 8e9)."""
MAX_AGENT_DAYS = 4e9
"""Most simulated shopper-days (``agents x horizon_days``): 10M agents x a year, about an hour."""
MAX_IMPRESSIONS_PER_PERSON_DAY = 1000.0
"""Most impressions a channel may buy per person of the market per day (the bundled scenarios buy < 1)."""
SHARE_TOLERANCE = 1e-6
DEFAULT_START_DATE = dt.date(2025, 1, 1)
"""Calendar date of day 0 when a scenario does not set ``start_date``."""


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message is one line naming file, field and rule."""

    def __init__(self, source: str, field: str, message: str) -> None:
        self.source = source
        self.field = field
        self.message = message
        where = f"{source}: {field}" if field else source
        # One line, whatever a file name, key or value holds.
        super().__init__(" ".join(f"{where}: {message}".splitlines()))


class ScenarioWarning(UserWarning):
    """A scenario that runs but is outside the intended range (for example 6 channels)."""


class StrictModel(_PolicyBase):
    """Base of every settings model: unknown fields are errors (a typo is never ignored), frozen.

    Every float field must be a finite number: ``.inf``, ``-.inf`` and ``.nan`` are refused, and
    so are floats larger than :data:`~simulator.config.policies.MAX_MAGNITUDE` in size.
    """


_Strict = StrictModel


class ChannelKind(StrEnum):
    """What a channel is; sets its defaults and who it can reach."""

    search = "search"
    social = "social"
    marketplace = "marketplace"
    crm = "crm"
    offline = "offline"
    owned = "owned"


class Pricing(StrEnum):
    """How media is bought: per thousand impressions or per click."""

    cpm = "cpm"
    cpc = "cpc"


class BudgetPeriod(_Strict):
    """A stretch of days with its own daily spend, overriding the channel's ``daily_spend``."""

    start_day: int = Field(ge=0, description="First day of the period (day index, 0-based).")
    end_day: int = Field(ge=0, description="Last day of the period, inclusive (day index).")
    daily_spend: float = Field(ge=0, description="Media spend per day in the period (currency/day).")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end_day < self.start_day:
            raise _FieldProblem(
                "end_day",
                f"end_day {self.end_day} is before start_day {self.start_day}; "
                "a period must end on or after its first day",
            )
        return self


class Channel(_Strict):
    """One marketing and sales channel: a media cost model, a reach model and a storefront."""

    name: str = Field(
        min_length=1,
        max_length=40,
        pattern=r"^[A-Za-z0-9_\-]+$",
        description="Unique channel name (letters, digits, '_' or '-').",
    )
    kind: ChannelKind = Field(description="Channel type: search, social, marketplace, crm, offline or owned.")
    daily_spend: float = Field(
        default=0.0,
        ge=0,
        description="Media spend per day when no budget_plan period covers the day (currency/day).",
    )
    budget_plan: list[BudgetPeriod] = Field(
        default_factory=list,
        description="Optional periods with their own daily spend (currency/day); periods may not overlap.",
    )
    pricing: Pricing = Field(default=Pricing.cpm, description="How media is bought: 'cpm' or 'cpc'.")
    cost_per_mille: float = Field(
        default=20.0,
        gt=0,
        description="Price of 1,000 impressions when pricing is cpm (currency per 1,000 impressions).",
    )
    cost_per_click: float = Field(
        default=1.5, gt=0, description="Price of one click when pricing is cpc (currency per click)."
    )
    click_through_rate: float = Field(
        default=0.01,
        gt=0,
        le=1,
        description="Visits per effective impression, spread over days by carryover (share, 0-1].",
    )
    awareness_per_impression: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Chance that one effective impression makes an unaware shopper aware of the brand (0-1).",
    )
    audience_share: float = Field(
        default=1.0, gt=0, le=1, description="Share of the market this channel can reach at all (0-1]."
    )
    carryover: float = Field(
        default=0.5,
        ge=0,
        lt=1,
        description=(
            "Adstock: share of yesterday's ad effect still working today (0-1; 0.5 = half-life of 1 day)."
        ),
    )
    saturation_spend: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Daily spend at which auction pressure has doubled the price of an impression (currency/day); "
            "impressions bought flatten out above it. Empty = no price pressure."
        ),
    )
    frequency_cap: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Most impressions per shopper per day that still count (impressions/day).",
    )
    fatigue: float = Field(
        default=0.1,
        ge=0,
        le=5,
        description=(
            "Drop in the effect of each impression per recent exposure,"
            " as exp(-fatigue x exposures) (per exposure)."
        ),
    )
    fatigue_memory_days: float = Field(
        default=7.0, gt=0, le=365, description="Mean time a past exposure keeps tiring the shopper (days)."
    )
    organic_discovery: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description=(
            "Daily chance that an unaware shopper finds the brand here without ads, e.g. SEO (share/day)."
        ),
    )
    organic_visit_rate: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Daily chance that an aware shopper visits through this channel without ads (share/day).",
    )
    retention_effect: float = Field(
        default=0.1,
        ge=0,
        le=10,
        description=(
            "Relative rise of a customer's repurchase rate when"
            " saturated with this channel's messages (ratio)."
        ),
    )
    checkout_friction: float = Field(
        default=0.3, ge=0, lt=1, description="Share of carts abandoned at checkout in this channel (0-1)."
    )
    commission_rate: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description="Platform commission on the amount paid by the shopper (share of order, 0-1).",
    )
    fee_per_order: float = Field(
        default=0.0, ge=0, description="Fixed fee per order in this channel (currency/order)."
    )
    fixed_cost_per_day: float = Field(
        default=0.0,
        ge=0,
        description="Fixed running cost of the channel, e.g. store rent or CRM tool (currency/day).",
    )
    reaches_unknown: bool = Field(
        default=True,
        description="Whether the channel can reach shoppers who never bought or opted in (false for CRM).",
    )

    @model_validator(mode="after")
    def _plan_does_not_overlap(self) -> Self:
        periods = sorted(self.budget_plan, key=lambda p: p.start_day)
        for before, after in zip(periods, periods[1:], strict=False):
            if after.start_day <= before.end_day:
                raise _FieldProblem(
                    "budget_plan",
                    f"periods overlap (days {before.start_day}-{before.end_day} and "
                    f"{after.start_day}-{after.end_day}); each day may have one spend",
                )
        return self


class BasketValue(_Strict):
    """Order value distribution of a persona: lognormal with the given mean and log-spread."""

    mean: float = Field(gt=0, description="Mean list value of one order (currency/order).")
    sigma: float = Field(
        default=0.5, ge=0, le=3, description="Log-standard deviation of order value (0 = all equal)."
    )


class Repurchase(_Strict):
    """Heterogeneous repeat-purchase rates, gamma distributed across shoppers (as in NBD/BG-NBD)."""

    mean_days_between: float = Field(
        gt=0, description="Mean time between purchases of a live customer, over the persona (days)."
    )
    shape: float = Field(
        default=1.0,
        gt=0,
        le=1e6,
        description="Gamma shape r of the purchase rate; small = very uneven buyers (BG/NBD 'r', unitless).",
    )
    refractory_days: float = Field(
        default=0.0,
        ge=0,
        le=365,
        description=(
            "After a purchase the repurchase rate ramps up linearly from 0 over this many days "
            "(stock at home; 0 = memoryless as in BG/NBD) (days)."
        ),
    )


class Dropout(_Strict):
    """Chance that a customer stops buying for good after a repeat purchase (Beta distributed)."""

    mean: float = Field(
        ge=0, le=1, description="Mean chance of dropping out after each repeat purchase (0-1)."
    )
    concentration: float = Field(
        default=4.0,
        gt=0,
        le=1e6,
        description="Beta a + b; larger = more alike shoppers (unitless; a = mean x concentration).",
    )


class Persona(_Strict):
    """A shopper type: channel affinity and purchase behaviour (docs/domain.md: searchers, impulse...)."""

    share: float = Field(
        gt=0, le=1, description="Share of the population with this persona (0-1]; shares sum to 1."
    )
    channel_affinity: dict[str, float] = Field(
        default_factory=dict,
        description=(
            "Relative weight of each channel, by channel name, for being reached, visiting and buying "
            "(>= 0; channels not named get 1)."
        ),
    )
    price_sensitivity: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="How strongly discounts move this persona (0 = not at all, 1 = most).",
    )
    basket_value: BasketValue = Field(description="Order value distribution (currency/order).")
    consideration_days: tuple[int, int] = Field(
        default=(1, 3),
        description="Hesitation before deciding, drawn uniformly from [min, max] (days, 0-30).",
    )
    channels_compared: float = Field(
        default=1.5,
        ge=0,
        le=8,
        description="Mean number of extra channels checked while considering (channels).",
    )
    cart_rate: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="Share of considerations that end with an item in the cart (0-1).",
    )
    repurchase: Repurchase = Field(description="Repeat-purchase rate of live customers.")
    dropout: Dropout = Field(description="Post-purchase dropout chance.")

    @model_validator(mode="after")
    def _days_ordered(self) -> Self:
        low, high = self.consideration_days
        if not 0 <= low <= high <= 30:
            raise _FieldProblem(
                "consideration_days", f"must be [min, max] with 0 <= min <= max <= 30, got [{low}, {high}]"
            )
        for name, weight in self.channel_affinity.items():
            if not (math.isfinite(weight) and weight >= 0):
                raise _FieldProblem(f"channel_affinity.{name}", f"must be a number >= 0, got {weight}")
        return self


class Population(_Strict):
    """The simulated shoppers and the market they stand for."""

    agents: int = Field(gt=0, strict=True, description="Number of simulated shoppers (agents).")
    scale: float = Field(
        default=1.0,
        gt=0,
        description="Real people each agent stands for; counts and money are multiplied by it.",
    )
    initial_aware_share: float = Field(
        default=0.05, ge=0, le=1, description="Share of shoppers aware of the brand on day 0 (0-1)."
    )
    initial_customer_share: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description=(
            "Share of shoppers who are existing customers on day 0, last purchase up to 90 days ago (0-1)."
        ),
    )
    awareness_memory_days: float = Field(
        default=60.0, gt=0, description="Mean time an aware non-customer remembers the brand (days)."
    )
    opt_in_rate: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description=(
            "Share of visitors who leave contact details (become reachable by CRM) without buying (0-1)."
        ),
    )
    personas: dict[str, Persona] = Field(
        min_length=1, description="Shopper types by name, with their shares."
    )

    @model_validator(mode="after")
    def _shares_sum_to_one(self) -> Self:
        if self.initial_aware_share + self.initial_customer_share > 1 + SHARE_TOLERANCE:
            raise _FieldProblem(
                "initial_customer_share",
                "initial_aware_share + initial_customer_share must be at most 1, got "
                f"{self.initial_aware_share + self.initial_customer_share:g}",
            )
        market = self.agents * self.scale
        if not market <= MAX_MARKET_PEOPLE:
            raise _FieldProblem(
                "scale",
                f"agents x scale = {market:.3g} people; a market may hold at most {MAX_MARKET_PEOPLE:.0e} "
                "(scale is the number of real people each agent stands for)",
            )
        total = sum(p.share for p in self.personas.values())
        if abs(total - 1.0) > 1e-3:
            raise _FieldProblem("personas", f"persona shares must sum to 1, they sum to {total:g}")
        return self


class Economics(_Strict):
    """Product economics: what an order costs to make, ship and take back."""

    currency: str = Field(default="CNY", max_length=8, description="Currency code used in reports (text).")
    gross_margin: float = Field(
        default=0.45,
        gt=0,
        lt=1,
        description="Gross margin at list price: 1 - cost of goods / list value (0-1).",
    )
    fulfilment_cost_per_order: float = Field(
        default=12.0,
        ge=0,
        description="Picking, packing and shipping cost borne by the seller (currency/order).",
    )
    shipping_fee: float = Field(
        default=0.0, ge=0, description="Shipping charged to the shopper (currency/order)."
    )
    shipping_friction: float = Field(
        default=0.1,
        ge=0,
        lt=1,
        description="Extra share of carts abandoned when the shopper pays shipping (0-1).",
    )
    return_rate: float = Field(
        default=0.08, ge=0, lt=1, description="Share of orders returned for a refund (0-1)."
    )
    return_cost_per_order: float = Field(
        default=8.0,
        ge=0,
        description="Handling cost of one returned order, on top of fulfilment (currency/order).",
    )
    value_discount_rate: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description=(
            "Annual rate at which the expected lifetime value KPI discounts margin to each "
            "customer's acquisition day (share per year, 0-1)."
        ),
    )
    value_horizon_days: int = Field(
        default=365,
        ge=0,
        le=3650,
        description=(
            "Days after the horizon over which the expected lifetime value KPI counts a customer's "
            "expected remaining margin (days)."
        ),
    )


class Lifecycle(_Strict):
    """When a customer counts as lapsed or churned."""

    lapsed_after_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="Days without a purchase after which a customer is lapsed (days).",
    )
    churned_after_days: int = Field(
        default=90,
        ge=2,
        le=3650,
        description="Days without a purchase after which a customer is churned (days).",
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.churned_after_days <= self.lapsed_after_days:
            raise _FieldProblem(
                "churned_after_days",
                f"churned_after_days ({self.churned_after_days}) must be greater than "
                f"lapsed_after_days ({self.lapsed_after_days})",
            )
        return self


def _default_shorthand(schema: dict[str, Any]) -> None:
    """``search: default`` in the JSON Schema: every search setting at its default."""
    options = schema.get("anyOf")
    if isinstance(options, list):
        options.insert(1, {"const": "default", "type": "string"})


class Scenario(_Strict):
    """A whole simulated market: shoppers, channels, economics and the horizon to simulate."""

    name: str = Field(min_length=1, max_length=120, description="Short name shown in reports.")
    description: str = Field(
        default="", max_length=4000, description="What the scenario stands for (free text)."
    )
    horizon_days: int = Field(gt=0, le=3650, strict=True, description="Number of days to simulate (days).")
    start_date: dt.date = Field(
        default=DEFAULT_START_DATE,
        description=(
            "Calendar date of day 0 (ISO date, default 2025-01-01): dates of the order log written by "
            "simulate --out, and the anchor of budget periods and campaigns when a twin is built on "
            "this scenario."
        ),
    )
    seed: int = Field(
        default=0, ge=0, lt=2**63, description="Seed of the one random generator (integer >= 0)."
    )
    population: Population = Field(description="The shoppers.")
    channels: list[Channel] = Field(description="3-5 channels (1-8 accepted, with a warning outside 3-5).")
    economics: Economics = Field(default_factory=Economics, description="Product economics.")
    lifecycle: Lifecycle = Field(default_factory=Lifecycle, description="Lapsed and churned thresholds.")
    policies: Policies = Field(
        default_factory=Policies,
        description=(
            "Strategy levers: loyalty, promotions, retention, win-back, retargeting, referral, checkout."
        ),
    )
    allocation: AllocationSettings | None = Field(
        default=None,
        description=(
            "Budget-allocation settings (objective, budget, bounds, locked channels, share rules, "
            "minimum presence, target ROI, periods); checked against the channels by the optimizer."
        ),
    )
    search: SearchSettings | None = Field(
        default=None,
        description=(
            "Policy-search settings (objectives, levers to tune, ranges), or 'default' for every "
            "lever's default range; checked against the policies by the optimizer."
        ),
        json_schema_extra=_default_shorthand,
    )
    customer_base: CustomerBase | None = Field(
        default=None,
        description=(
            "Start from an existing customer base (a digital twin, written by run.py calibrate): "
            "population.agents agents stand for the customers of the history file, the personas are "
            "the segments of the repeat-buying model."
        ),
    )

    @field_validator("search", mode="before")
    @classmethod
    def _search_default(cls, value: Any) -> Any:
        return {} if value == "default" else value

    @model_validator(mode="after")
    def _channels_consistent(self) -> Self:
        count = len(self.channels)
        if count == 0:
            raise _FieldProblem("channels", "the channel list is empty; give 3-5 channels (at most 8)")
        if count > MAX_CHANNELS:
            raise _FieldProblem(
                "channels", f"{count} channels given; at most {MAX_CHANNELS} are allowed (3-5 intended)"
            )
        names = [c.name for c in self.channels]
        for index, name in enumerate(names):
            first = names.index(name)
            if first < index:
                raise _FieldProblem(
                    f"channels[{index}]({name}).name",
                    f"duplicate channel name '{name}' (also channels[{first}]); channel names must be unique",
                )
        for persona_name, persona in self.population.personas.items():
            unknown = sorted(set(persona.channel_affinity) - set(names))
            if unknown:
                raise _FieldProblem(
                    f"population.personas.{persona_name}.channel_affinity.{unknown[0]}",
                    f"unknown channel '{unknown[0]}'; channels are: {', '.join(names)}",
                )
        for index, channel in enumerate(self.channels):
            for number, period in enumerate(channel.budget_plan):
                if period.start_day >= self.horizon_days:
                    raise _FieldProblem(
                        f"channels[{index}]({channel.name}).budget_plan[{number}].start_day",
                        f"day {period.start_day} is past the horizon of {self.horizon_days} days; "
                        f"periods must start on a day in 0-{self.horizon_days - 1}",
                    )
        check_references(self.policies, {c.name: c.reaches_unknown for c in self.channels}, self.horizon_days)
        if self.customer_base is not None and self.population.initial_customer_share > 0:
            raise _FieldProblem(
                "population.initial_customer_share",
                "must be 0 with a customer_base (the customer base is the existing customers)",
            )
        self._check_size()
        return self

    def _check_size(self) -> None:
        """Refuse runs that would take hours, or impressions that would exhaust memory per draw."""
        agent_days = self.population.agents * self.horizon_days
        if agent_days > MAX_AGENT_DAYS:
            raise _FieldProblem(
                "population.agents",
                f"{self.population.agents:,} agents x {self.horizon_days} days = {agent_days:.3g} "
                f"shopper-days; at most {MAX_AGENT_DAYS:.0e} are simulated in one run "
                "(use fewer agents and a larger scale)",
            )
        people = self.population.agents * self.population.scale
        if self.customer_base is not None:  # a twin's customers get only their share of the impressions
            people /= self.customer_base.media_share
        for index, channel in enumerate(self.channels):
            per_impression = (
                channel.cost_per_mille / 1000.0
                if channel.pricing is Pricing.cpm
                else channel.cost_per_click * channel.click_through_rate
            )
            for spend in (channel.daily_spend, *(p.daily_spend for p in channel.budget_plan)):
                pressure = 1.0 + spend / channel.saturation_spend if channel.saturation_spend else 1.0
                per_person = spend / per_impression / pressure / people
                if not per_person <= MAX_IMPRESSIONS_PER_PERSON_DAY:
                    raise _FieldProblem(
                        f"channels[{index}]({channel.name}).daily_spend",
                        f"a daily spend of {spend:g} buys {per_person:.3g} impressions per person of the "
                        f"market per day (at most {MAX_IMPRESSIONS_PER_PERSON_DAY:g}); check daily_spend, "
                        "the price of an impression (cost_per_mille, or cost_per_click x "
                        "click_through_rate) and population.scale",
                    )

    @property
    def simulated_agents(self) -> int:
        """Agents the engine allocates: ``population.agents``, plus a customer base's new-customer agents."""
        base = self.customer_base
        if base is None:
            return self.population.agents
        return self.population.agents + pool_agents(base, self.population.scale, self.horizon_days)

    @property
    def channel_names(self) -> list[str]:
        """Channel names in scenario order."""
        return [c.name for c in self.channels]

    @property
    def persona_names(self) -> list[str]:
        """Persona names in scenario order."""
        return list(self.population.personas)

    def with_overrides(
        self, *, seed: int | None = None, days: int | None = None, agents: int | None = None
    ) -> Scenario:
        """Return a validated copy with the seed, horizon or number of agents replaced.

        Overriding the number of agents keeps the market size: ``scale`` is adjusted so that
        ``agents x scale`` stays the same. A shorter horizon drops the budget periods and
        campaigns that start after it and shortens those that run past it, with a
        :class:`ScenarioWarning` naming them, so a quick look at a long scenario just works.
        """
        data = self.model_dump(mode="python")
        if seed is not None:
            data["seed"] = seed
        if days is not None:
            data["horizon_days"] = days
            if days < self.horizon_days:
                _cut_calendar(data, days, _source_of(self))
        if agents is not None:
            market = self.population.agents * self.population.scale
            data["population"]["agents"] = agents
            data["population"]["scale"] = market / agents
        source = _source_of(self)
        given = {"seed": seed, "days": days, "agents": agents}
        changed = ", ".join(f"{k}={v}" for k, v in given.items() if v is not None)
        try:
            scenario = Scenario.model_validate(data)
        except ValidationError as exc:
            error = error_from_validation(source, exc, data)
            message = f"{error.message} (after overriding {changed})"
            raise ScenarioError(source, error.field, message) from None
        if agents is not None:
            try:
                check_customer_base(scenario, source)
            except ScenarioError as error:
                message = f"{error.message} (after overriding {changed})"
                raise ScenarioError(source, error.field, message) from None
        return _with_source(scenario, source)

    def starting_on(self, start_date: dt.date) -> Scenario:
        """Return a validated copy whose day 0 is ``start_date``, its calendar moved to match.

        Budget periods and campaigns keep their calendar dates: they move ``start_date -
        self.start_date`` days earlier (later when negative); what ends before the new day 0
        is dropped, what starts before it is cut to begin on day 0, what starts after the
        horizon is dropped (with a :class:`ScenarioWarning` naming it, as ``with_overrides``).
        """
        offset = (start_date - self.start_date).days
        data = self.model_dump(mode="python")
        data["start_date"] = start_date
        source = _source_of(self)
        _shift_calendar(data, offset)
        _cut_calendar(data, self.horizon_days, source)
        try:
            scenario = Scenario.model_validate(data)
        except ValidationError as exc:
            raise error_from_validation(source, exc, data) from None
        return _with_source(scenario, source)


def _shift_calendar(data: dict[str, Any], offset: int) -> None:
    """Move budget periods and campaigns of a scenario dump ``offset`` days earlier (in place)."""
    if offset == 0:
        return
    for channel in data["channels"]:
        kept = []
        for period in channel["budget_plan"]:
            start, end = period["start_day"] - offset, period["end_day"] - offset
            if end < 0:
                continue
            kept.append({**period, "start_day": max(start, 0), "end_day": end})
        channel["budget_plan"] = kept
    promotions = data.get("policies", {}).get("promotions")
    if promotions:
        kept = []
        for campaign in promotions["campaigns"]:
            start = campaign["start_day"] - offset
            days = campaign["days"] + min(start, 0)
            if days <= 0:
                continue
            kept.append({**campaign, "start_day": max(start, 0), "days": days})
        promotions["campaigns"] = kept


def resolve_customer_file(scenario: Scenario) -> Path:
    """The customer base's history file as a path (relative paths are relative to the scenario file).

    Raises
    ------
    ValueError
        When the scenario has no customer base.
    """
    base = scenario.customer_base
    if base is None:
        raise ValueError("the scenario has no customer_base")
    path = Path(base.file)
    if path.is_absolute():
        return path
    source = Path(_source_of(scenario))
    folder = source.parent if source.suffix.lower() in (".yaml", ".yml") else Path.cwd()
    return folder / path


def check_customer_base(scenario: Scenario, source: str | None = None) -> None:
    """Check a scenario's customer base against its history file (nothing to do without one).

    ``population.agents`` may not exceed the customers in the file, and ``population.scale``
    must be people per agent, customers x ``customer_base.weight`` / agents (so that counts and
    money are of the real customer base).

    Raises
    ------
    ScenarioError
        Naming ``customer_base.file`` (the file is missing or breaks a rule) or
        ``population.agents`` / ``population.scale``.
    """
    if scenario.customer_base is None:
        return
    where = source if source is not None else _source_of(scenario)
    try:
        histories = read_customer_histories(resolve_customer_file(scenario))
    except CustomerFileError as error:
        raise ScenarioError(where, "customer_base.file", str(error)) from None
    agents, scale = scenario.population.agents, scenario.population.scale
    if agents > histories.size:
        raise ScenarioError(
            where,
            "population.agents",
            f"{agents:,} agents but the customer base holds {histories.size:,} customers; "
            f"use at most {histories.size:,} (one agent per customer)",
        )
    people = histories.size * scenario.customer_base.weight
    if abs(agents * scale - people) > 1e-6 * people:
        raise ScenarioError(
            where,
            "population.scale",
            f"must be people per agent, {histories.size:,} customers x weight "
            f"{scenario.customer_base.weight:g} / {agents:,} agents = {people / agents:.10g} "
            f"(got {scale:g}); --agents keeps it right",
        )


def _cut_calendar(data: dict[str, Any], days: int, source: str) -> None:
    """Fit budget periods and campaigns of a scenario dump into a shorter horizon of ``days``."""
    cut: list[str] = []
    for channel in data["channels"]:
        kept = []
        for period in channel["budget_plan"]:
            if period["start_day"] >= days:
                cut.append(f"{channel['name']} budget period from day {period['start_day']}")
                continue
            period["end_day"] = min(period["end_day"], days - 1)
            kept.append(period)
        channel["budget_plan"] = kept
    promotions = data.get("policies", {}).get("promotions")
    if promotions:
        kept = []
        for campaign in promotions["campaigns"]:
            if campaign["start_day"] >= days:
                cut.append(f"campaign {campaign['name']}")
                continue
            campaign["days"] = min(campaign["days"], days - campaign["start_day"])
            kept.append(campaign)
        promotions["campaigns"] = kept
    if cut:
        shown = ", ".join(cut[:4]) + (f" and {len(cut) - 4} more" if len(cut) > 4 else "")
        warnings.warn(
            f"{source}: horizon_days: the {days}-day horizon leaves out {shown}",
            ScenarioWarning,
            stacklevel=3,
        )


def _with_source(scenario: Scenario, source: str) -> Scenario:
    """Remember the file a scenario came from, for error messages (not a field; ignored by ==)."""
    object.__setattr__(scenario, "_source", source)
    return scenario


def _source_of(scenario: Scenario) -> str:
    return str(getattr(scenario, "_source", "<scenario>"))


def _model_at(loc: tuple[int | str, ...], root: type[BaseModel]) -> type[BaseModel] | None:
    """The model holding the last item of a pydantic error location, if it can be followed."""
    kind: Any = root
    for item in loc[:-1]:
        if isinstance(item, str) and item.startswith("function-"):
            continue
        kind = _optional_of(kind)
        origin, args = typing.get_origin(kind), typing.get_args(kind)
        if isinstance(kind, type) and issubclass(kind, BaseModel) and item in kind.model_fields:
            kind = kind.model_fields[str(item)].annotation
        elif origin is list and isinstance(item, int):
            kind = args[0]
        elif origin is dict and isinstance(item, str):
            kind = args[1]
        else:
            return None
    kind = _optional_of(kind)
    return kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None


def _optional_of(kind: Any) -> Any:
    """``X`` for an optional ``X | None``; anything else as it is."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        present = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        if len(present) == 1:
            return present[0]
    return kind


def _format_location(loc: tuple[int | str, ...], data: Any) -> str:
    """Turn a pydantic error location into ``channels[1](search).daily_spend``."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and 0 <= item < len(node):
                node = node[item]
                if isinstance(node, dict) and isinstance(node.get("name"), str):
                    label += f"({node['name']})"
            else:
                node = None
            parts.append(label)
        else:
            # pydantic inserts the validator/tag name for unions and function validators.
            if item.startswith("function-") or item in {"tuple[int, int]"}:
                continue
            parts.append(("." if parts else "") + item)
            node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts)


def _describe(error: Any, root: type[BaseModel]) -> str:
    kind = error["type"]
    message = str(error["msg"])
    loc = tuple(error["loc"])
    model = _model_at(loc, root) if loc else None
    if kind == "extra_forbidden":
        allowed = list(model.model_fields) if model is not None else []
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1) if loc else []
        if close:
            return f"unknown field; did you mean '{close[0]}'? (`python run.py schema` lists all fields)"
        if allowed:
            return f"unknown field; allowed here: {', '.join(allowed)}"
        return "unknown field (check the spelling; `python run.py schema` lists the allowed fields)"
    if kind == "missing":
        field = model.model_fields.get(str(loc[-1])) if model is not None else None
        if field is not None and field.description:
            what = field.description.rstrip(".")
            return f"required field is missing; expected {what[0].lower()}{what[1:]}"
        return "required field is missing"
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if message.startswith("Input should be "):
        message = "must be " + message[len("Input should be ") :]
    if kind == "model_type":
        message = "must be a mapping of fields (name: value)"
    if "input" in error and not isinstance(error["input"], dict | list):
        shown = repr(error["input"])
        if len(shown) > 40:
            shown = shown[:37] + "..."
        if "got" not in message:
            message = f"{message} (got {shown})"
    return message


def error_from_validation(
    source: str, exc: ValidationError, data: Any, root: type[BaseModel] | None = None, prefix: str = ""
) -> ScenarioError:
    """The one-line :class:`ScenarioError` for the first problem of a pydantic validation error.

    Parameters
    ----------
    source
        File (or object) the data came from.
    exc
        The validation error.
    data
        The data that was validated (to name list items by their ``name``).
    root
        The model that was validated (default :class:`Scenario`), to list allowed fields.
    prefix
        Location of ``data`` inside the file, prepended to the field (e.g. ``'allocation'``).
    """
    first = exc.errors()[0]
    field = _format_location(tuple(first["loc"]), data)
    message = _describe(first, Scenario if root is None else root)
    problem = first.get("ctx", {}).get("error")
    if isinstance(problem, _FieldProblem):
        field = f"{field}.{problem.field}" if field else problem.field
        message = str(problem)
    more = len(exc.errors()) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    if prefix:
        field = f"{prefix}.{field}" if field else prefix
    return ScenarioError(source, field, message)


def parse_scenario(data: Any, source: str = "<scenario>") -> Scenario:
    """Validate a mapping (as read from YAML) into a :class:`Scenario`.

    Parameters
    ----------
    data
        The parsed YAML document.
    source
        Name of the file or object, used in error messages.

    Raises
    ------
    ScenarioError
        With a one-line message naming the source, the field and what is allowed.
    """
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}, not a mapping of fields"
        raise ScenarioError(
            source, "", f"the scenario is {kind}; expected YAML fields such as name, horizon_days"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scenario = _with_source(Scenario.model_validate(data), source)
    except ValidationError as exc:
        raise error_from_validation(source, exc, data) from None
    if scenario.customer_base is not None:
        # The history file is found relative to the scenario file; keep its full path from here on.
        path = resolve_customer_file(scenario).resolve()
        base = scenario.customer_base.model_copy(update={"file": str(path)})
        scenario = _with_source(scenario.model_copy(update={"customer_base": base}), source)
        check_customer_base(scenario, source)
    count = len(scenario.channels)
    if not 3 <= count <= 5:
        warnings.warn(
            f"{source}: channels: {count} channel{'s' if count > 1 else ''} given; "
            f"the toolkit is designed for 3-5 (at most {MAX_CHANNELS} accepted)",
            ScenarioWarning,
            stacklevel=2,
        )
    return scenario


MAX_YAML_BYTES = 1 << 20
"""Largest YAML input read (bytes); the bundled scenarios are under 10 KB."""
MAX_YAML_DEPTH = 64
"""Deepest nesting of mappings and lists accepted in a YAML input (levels)."""
MAX_YAML_NODES = 100_000
"""Most values a YAML input may hold once its aliases are expanded (a few hundred are usual)."""


class _YamlRefused(Exception):
    """A YAML input refused before it could exhaust time or memory; the message says why."""


def _line(node: yaml.Node | yaml.Event | None) -> str:
    mark = getattr(node, "start_mark", None)
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


class _GuardedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with limits: nesting depth, expanded size, no duplicate keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise _YamlRefused(
                    f"nests deeper than {MAX_YAML_DEPTH} levels{_line(event)}; "
                    "a scenario needs fewer than 10 (refused before it exhausts the stack)"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_node(self) -> yaml.Node | None:
        node: yaml.Node | None = super().get_single_node()
        if node is not None:
            _check_expanded_size(node)
        return node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _value in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:
                continue
            if first is not key_node:
                raise _YamlRefused(
                    f"duplicate key '{key}'{_line(key_node)} (first{_line(first).replace(' at', '')}); "
                    "each key may appear once in a mapping (the last one would silently win)"
                )
        return super().construct_mapping(node, deep=deep)


_RECURSIVE = "an alias refers to a value that contains it{where}; a recursive value cannot be a setting"


def _check_expanded_size(root: yaml.Node) -> None:
    """Refuse a document whose aliases expand past :data:`MAX_YAML_NODES` values, or loop."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            open_nodes.discard(key)
            children: list[yaml.Node] = (
                [n for pair in node.value for n in pair]
                if isinstance(node, yaml.MappingNode)
                else list(node.value)
            )
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            if sizes[key] > MAX_YAML_NODES:
                raise _YamlRefused(
                    f"aliases expand to more than {MAX_YAML_NODES:,} values{_line(node)} (an alias bomb?); "
                    "refused before it exhausts memory; write the values out or use fewer aliases"
                )
            continue
        if key in sizes:
            continue
        if not isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            sizes[key] = 1
            continue
        if key in open_nodes:
            raise _YamlRefused(_RECURSIVE.format(where=_line(node)))
        open_nodes.add(key)
        stack.append((node, True))
        kids = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else node.value
        for child in kids:
            if id(child) in open_nodes:
                raise _YamlRefused(_RECURSIVE.format(where=_line(child)))
            if id(child) not in sizes:
                stack.append((child, False))


def read_yaml_file(path: str | Path, kind: str, empty_message: str | None = None) -> Any:
    """Read a YAML file, turning every way it can fail into a one-line :class:`ScenarioError`.

    The file must be a regular file of at most :data:`MAX_YAML_BYTES` (a FIFO or device is
    refused instead of hanging); the YAML may nest at most :data:`MAX_YAML_DEPTH` levels,
    expand to at most :data:`MAX_YAML_NODES` values through its aliases, and repeat no key in a
    mapping (a repeated key is refused, not silently replaced by the last one).

    Parameters
    ----------
    path
        The file, or the name of a bundled file (``omnichannel_retailer``,
        ``examples/more_search.yaml``; :func:`simulator.common.bundled.resolve_input`).
    kind
        What the file should hold, for messages ("scenario", "variant").
    empty_message
        Message for a blank file; when omitted a blank file reads as ``None``.
    """
    source = str(path)
    try:
        raw = read_regular_file(resolve_input(path), MAX_YAML_BYTES)
    except FileNotFoundError:
        names = bundled_scenarios() if kind == "scenario" else []
        bundled = f" (nor a bundled scenario: {', '.join(names)})" if names else ""
        raise ScenarioError(source, "", f"file not found{bundled}") from None
    except InputFileError as exc:
        raise ScenarioError(source, "", f"{exc}; expected a YAML {kind} file") from None
    except OSError as exc:
        raise ScenarioError(source, "", f"cannot be read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError(source, "", f"is not a text file (not UTF-8); expected a YAML {kind}") from None
    if empty_message is not None and not text.strip():
        raise ScenarioError(source, "", empty_message)
    try:
        return yaml.load(text, Loader=_GuardedLoader)  # noqa: S506 - a SafeLoader with limits
    except _YamlRefused as exc:
        raise ScenarioError(source, "", str(exc)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid syntax"
        raise ScenarioError(source, "", f"is not valid YAML{where}: {problem}") from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file.

    Parameters
    ----------
    path
        Path of the YAML file, or the name of a bundled scenario (``omnichannel_retailer``);
        a path that does not exist is looked up among the bundled files
        (:func:`simulator.common.bundled.resolve_input`), so ``scenarios/omnichannel_retailer.yaml``
        works from any folder.

    Returns
    -------
    Scenario
        The validated scenario.

    Raises
    ------
    ScenarioError
        When the file cannot be read, is empty, is not YAML, or breaks a rule of the schema.
    """
    source = str(path)
    data = read_yaml_file(
        path, "scenario", empty_message="the file is empty; expected YAML fields such as name, horizon_days"
    )
    return parse_scenario(data, source)
