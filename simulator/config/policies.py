"""The ``policies:`` section of a scenario: the levers a strategist pulls.

Every lever is optional and off unless the scenario names it. Each has a clear cost (discounts,
points, messages, media, fixed costs) and a mechanism in the model (see ``simulator/levers/``).
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "Campaign",
    "CheckoutSimplification",
    "FirstOrderCoupon",
    "GroupBuying",
    "Loyalty",
    "Policies",
    "Promotions",
    "Referral",
    "Retargeting",
    "Retention",
    "Service",
    "Tier",
    "Winback",
    "WinbackOffer",
]


class FieldProblem(ValueError):
    """Raised by cross-field validators to name the exact field at fault, relative to the model."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


MAX_MAGNITUDE = 1e15
"""Largest size of any number in a settings file; a market's money and counts stay far below it."""


def _check_magnitude(value: Any) -> Any:
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list | tuple)
        else []
    )
    for key, number in [*items, ("", value)]:
        if isinstance(number, float) and not abs(number) <= MAX_MAGNITUDE:
            message = f"must be a number between -1e15 and 1e15, got {number:g}"
            raise FieldProblem(str(key), message) if isinstance(value, dict) else ValueError(message)
    return value


class _Strict(BaseModel):
    """Unknown fields are errors, models are frozen, and every number is finite and sane.

    ``.inf``, ``-.inf`` and ``.nan`` are refused in every float field (``allow_inf_nan``), and
    floats (alone, in lists or as mapping values) beyond :data:`MAX_MAGNITUDE` in size too, so no
    result can overflow to infinity (docs/hardening.md).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _sane_numbers(cls, value: Any) -> Any:
        return _check_magnitude(value)


Share = Field(ge=0, le=1)


class Tier(_Strict):
    """A loyalty tier: who qualifies (rolling 12-month spend and/or orders) and what members get."""

    name: str = Field(min_length=1, max_length=30, description="Tier name, e.g. silver.")
    min_spend: float = Field(
        default=0.0, ge=0, description="Spend over the rolling window needed for the tier (currency)."
    )
    min_orders: int = Field(
        default=0, ge=0, description="Orders over the rolling window needed for the tier."
    )
    discount: float = Field(
        default=0.0, ge=0, le=1, description="Member discount on list value (share, 0-1)."
    )
    free_shipping: bool = Field(
        default=False, description="Shipping fee waived: no shipping friction, no fee charged (yes/no)."
    )
    points_multiplier: float = Field(
        default=1.0, ge=0, le=20, description="Points earned relative to the base rate."
    )
    dropout_multiplier: float = Field(
        default=1.0,
        ge=0,
        le=5,
        description="Multiplies the chance of dropping out after a purchase (<1 = stickier).",
    )
    repurchase_multiplier: float = Field(
        default=1.0, ge=0, le=20, description="Multiplies the repurchase rate (>1 = buys more often)."
    )
    perk_cost_per_day: float = Field(
        default=0.0,
        ge=0,
        description="Cost of perks (gifts, dedicated service) per member per day (currency).",
    )


def _default_tiers() -> list[Tier]:
    return [
        Tier(name="regular"),
        Tier(
            name="silver",
            min_spend=800,
            min_orders=2,
            discount=0.02,
            dropout_multiplier=0.9,
            repurchase_multiplier=1.05,
        ),
        Tier(
            name="gold",
            min_spend=2000,
            min_orders=4,
            discount=0.05,
            free_shipping=True,
            points_multiplier=1.5,
            dropout_multiplier=0.75,
            repurchase_multiplier=1.15,
            perk_cost_per_day=0.02,
        ),
        Tier(
            name="diamond",
            min_spend=5000,
            min_orders=8,
            discount=0.08,
            free_shipping=True,
            points_multiplier=2.0,
            dropout_multiplier=0.6,
            repurchase_multiplier=1.25,
            perk_cost_per_day=0.1,
        ),
    ]


class Loyalty(_Strict):
    """Points and tiers (DOMAIN.md: regular -> silver -> gold -> diamond)."""

    enrollment_rate: float = Field(
        default=0.6, ge=0, le=1, description="Share of new customers who join at their first order (0-1)."
    )
    points_per_currency: float = Field(
        default=1.0, ge=0, description="Points earned per unit of currency paid."
    )
    points_per_interaction: float = Field(
        default=10.0, ge=0, description="Points per interaction: sign-in, review (points)."
    )
    interaction_rate: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="Daily chance that a member interacts (signs in, reviews) (share/day).",
    )
    point_value: float = Field(
        default=0.01, ge=0, description="Value of one point when redeemed (currency/point)."
    )
    redemption_threshold: float = Field(
        default=1000.0, ge=0, description="Points needed before redeeming (points)."
    )
    redemption_rate: float = Field(
        default=0.5, ge=0, le=1, description="Chance a member over the threshold redeems at an order (0-1)."
    )
    max_redemption_share: float = Field(
        default=0.3, gt=0, le=1, description="Largest share of an order's list value points may pay (0-1]."
    )
    tier_rule: Literal["spend", "orders", "spend_or_orders", "spend_and_orders"] = Field(
        default="spend_or_orders", description="How tiers are assigned from rolling spend and order count."
    )
    window_days: int = Field(
        default=365, ge=30, le=3650, description="Rolling window for tier assignment (days)."
    )
    tiers: list[Tier] = Field(
        default_factory=_default_tiers,
        min_length=1,
        max_length=8,
        description="Tiers from lowest to highest.",
    )
    fixed_cost_per_day: float = Field(
        default=0.0, ge=0, description="Running cost of the program (currency/day)."
    )

    @model_validator(mode="after")
    def _tiers_increase(self) -> Self:
        names = [t.name for t in self.tiers]
        if len(set(names)) != len(names):
            raise FieldProblem("tiers", f"tier names must be unique, got {', '.join(names)}")
        first = self.tiers[0]
        if first.min_spend != 0 or first.min_orders != 0:
            raise FieldProblem(
                "tiers[0]", "the first tier must have min_spend 0 and min_orders 0 (everyone's tier)"
            )
        for i, (low, high) in enumerate(zip(self.tiers, self.tiers[1:], strict=False), start=1):
            spend_up = high.min_spend > low.min_spend
            orders_up = high.min_orders > low.min_orders
            if not (spend_up and orders_up) and not (
                (self.tier_rule == "spend" and spend_up) or (self.tier_rule == "orders" and orders_up)
            ):
                raise FieldProblem(
                    f"tiers[{i}]({high.name})",
                    f"thresholds must increase from tier {low.name} (spend {low.min_spend:g}, orders "
                    f"{low.min_orders}) to {high.name} (spend {high.min_spend:g}, orders {high.min_orders})",
                )
        return self


Audience = Literal["all", "new", "members", "lapsed"]


class Campaign(_Strict):
    """A promotion campaign in the calendar."""

    name: str = Field(min_length=1, max_length=60, description="Campaign name shown in results.")
    start_day: int = Field(ge=0, description="First day of the campaign (day index).")
    days: int = Field(ge=1, le=3650, description="Length of the campaign (days).")
    discount: float = Field(ge=0, le=1, description="Discount on list value (share, 0-1).")
    channels: list[str] | None = Field(default=None, description="Channels where it applies (empty = all).")
    audience: Audience = Field(
        default="all", description="Who gets it: all, new (never bought), members (loyalty), lapsed."
    )
    kind: Literal["sale", "flash", "festival"] = Field(
        default="sale", description="Flash sales add urgency: shoppers considering decide at once."
    )
    urgency: float = Field(
        default=0.0, ge=0, le=5, description="Extra relative lift in conversion from scarcity and countdowns."
    )
    cost_per_day: float = Field(
        default=0.0, ge=0, description="Creative and set-up cost per campaign day (currency)."
    )

    @property
    def end_day(self) -> int:
        """Last day of the campaign (inclusive)."""
        return self.start_day + self.days - 1


class FirstOrderCoupon(_Strict):
    """A discount on a new shopper's first order."""

    discount: float = Field(ge=0, le=1, description="Discount on the first order's list value (share, 0-1).")


class GroupBuying(_Strict):
    """Group buying: a discount when a friend joins the order (the friend buys too)."""

    discount: float = Field(ge=0, le=1, description="Discount for both buyers (share of list value, 0-1).")
    join_rate: float = Field(
        default=0.1, ge=0, le=1, description="Chance that a buyer brings a friend who buys too (0-1)."
    )


class Promotions(_Strict):
    """Campaign calendar, first-order coupon and group buying."""

    campaigns: list[Campaign] = Field(default_factory=list, description="Promotion calendar.")
    stacking: Literal["best", "add"] | None = Field(
        default=None,
        description=(
            "How overlapping discounts combine: best (largest wins) or add (sum, capped at 90%). "
            "Required when campaigns overlap on the same shoppers."
        ),
    )
    first_order_coupon: FirstOrderCoupon | None = Field(default=None, description="Coupon for first orders.")
    group_buying: GroupBuying | None = Field(default=None, description="Group buying offer.")
    stockpile_days: float = Field(
        default=30.0,
        ge=0,
        le=365,
        description=(
            "After an order bought on a campaign discount, the shopper's repurchase rate ramps up "
            "from 0 over this many days: purchases pulled forward leave a dip (days)."
        ),
    )
    price_elasticity: float = Field(
        default=3.0,
        ge=0,
        le=50,
        description=(
            "Relative rise in conversion per unit of discount for the most price-sensitive persona; "
            "scaled by each persona's price_sensitivity (ratio per share)."
        ),
    )

    @model_validator(mode="after")
    def _overlaps_need_rule(self) -> Self:
        names = [c.name for c in self.campaigns]
        if len(set(names)) != len(names):
            raise FieldProblem("campaigns", f"campaign names must be unique, got {', '.join(names)}")
        if self.stacking is not None:
            return self
        for i, a in enumerate(self.campaigns):
            for j in range(i + 1, len(self.campaigns)):
                b = self.campaigns[j]
                if a.start_day > b.end_day or b.start_day > a.end_day:
                    continue
                if a.audience != "all" and b.audience != "all" and a.audience != b.audience:
                    if {a.audience, b.audience} in ({"new", "members"}, {"new", "lapsed"}):
                        continue
                if a.channels and b.channels and not set(a.channels) & set(b.channels):
                    continue
                raise FieldProblem(
                    "stacking",
                    f"campaigns {a.name} (days {a.start_day}-{a.end_day}) and {b.name} (days "
                    f"{b.start_day}-{b.end_day}) overlap on the same shoppers; set stacking: best or add",
                )
        return self


class Retention(_Strict):
    """Personalized recommendations and member offers after a purchase (DOMAIN.md: day 7 and day 30)."""

    channel: str = Field(description="Channel that sends the messages (usually the CRM channel).")
    touch_days: list[int] = Field(
        default_factory=lambda: [7, 30],
        min_length=1,
        description="Days after a purchase when a message goes out.",
    )
    repurchase_lift: float = Field(
        default=2.5,
        ge=0,
        le=50,
        description="Relative rise of the repurchase rate during the effect window after a message (ratio).",
    )
    effect_days: int = Field(default=7, ge=1, le=90, description="How long a message keeps working (days).")
    offer_discount: float = Field(
        default=0.05, ge=0, le=1, description="Member-offer discount on orders in the effect window (share)."
    )
    cost_per_message: float = Field(default=0.05, ge=0, description="Cost of sending one message (currency).")
    unsubscribe_rate: float = Field(
        default=0.01, ge=0, le=1, description="Chance that a message makes the shopper unsubscribe (0-1)."
    )
    fatigue: float = Field(
        default=0.15,
        ge=0,
        le=5,
        description="Drop of the lift per message received in the last 30 days (per message).",
    )

    @model_validator(mode="after")
    def _days(self) -> Self:
        if any(d < 1 or d > 365 for d in self.touch_days):
            raise FieldProblem("touch_days", f"days must be between 1 and 365, got {self.touch_days}")
        if len(set(self.touch_days)) != len(self.touch_days):
            raise FieldProblem("touch_days", f"days must be distinct, got {self.touch_days}")
        return self


_RECENCY_BOUNDS = {"short": (1, 29), "medium": (30, 90), "long": (91, 3650)}
"""Days since the last purchase covered by each recency segment (DOMAIN.md: <30, 30-90, >90)."""


class WinbackOffer(_Strict):
    """A win-back offer for one segment of lapsed customers."""

    segment: Literal["short", "medium", "long"] = Field(
        description="Recency segment: short (<30 days since last purchase), medium (30-90), long (>90)."
    )
    value: Literal["any", "high", "medium", "low"] = Field(
        default="any", description="Past-value segment the offer targets."
    )
    send_at_recency_days: int | None = Field(
        default=None,
        ge=1,
        le=3650,
        description=(
            "Days since the last purchase when the offer is sent, inside the segment (days; "
            "short 1-29, medium 30-90, long 91-3650; default 20, 60, 120)."
        ),
    )
    coupon: float = Field(
        default=0.1, ge=0, le=1, description="Coupon on the win-back order (share of list value)."
    )
    channel: str = Field(description="Channel that carries the offer.")
    service_upgrade: bool = Field(
        default=False, description="Add a service upgrade (answers dissatisfied customers) (yes/no)."
    )
    cost_per_offer: float = Field(
        default=0.1,
        ge=0,
        description="Cost of sending one offer, service upgrade included (currency per offer).",
    )

    @property
    def recency_days(self) -> int:
        """Days since the last purchase when the offer goes out."""
        default = {"short": 20, "medium": 60, "long": 120}[self.segment]
        return self.send_at_recency_days if self.send_at_recency_days is not None else default

    @model_validator(mode="after")
    def _recency_in_segment(self) -> Self:
        low, high = _RECENCY_BOUNDS[self.segment]
        if not low <= self.recency_days <= high:
            raise FieldProblem(
                "send_at_recency_days",
                f"{self.recency_days} days is outside the {self.segment} segment ({low}-{high} days "
                "since the last purchase); change the segment or the day",
            )
        return self


ChurnReason = Literal["price", "dissatisfied", "needs_changed"]


def _default_reason_response() -> dict[ChurnReason, float]:
    return {"price": 1.5, "dissatisfied": 0.4, "needs_changed": 0.2}


class Winback(_Strict):
    """Win-back of lapsed customers, by recency, value and churn reason (DOMAIN.md)."""

    offers: list[WinbackOffer] = Field(min_length=1, description="Offers per segment.")
    high_value_spend: float = Field(
        default=1500.0,
        ge=0,
        description="Spend in the horizon from which a customer is high value (currency per customer).",
    )
    low_value_spend: float = Field(
        default=300.0,
        ge=0,
        description="Spend in the horizon below which a customer is low value (currency per customer).",
    )
    base_response: float = Field(
        default=0.08,
        ge=0,
        le=1,
        description=(
            "Chance an offer brings a customer back to a cart, before the reason, coupon and service "
            "effects; checkout friction then applies (0-1)."
        ),
    )
    response_by_reason: dict[ChurnReason, float] = Field(
        default_factory=_default_reason_response,
        description=(
            "Multiplier of the response by churn reason: price, dissatisfied, needs_changed "
            "(ratio, 0-100; reasons left out keep their defaults 1.5, 0.4, 0.2)."
        ),
    )
    service_upgrade_effect: float = Field(
        default=3.0,
        ge=1,
        le=20,
        description="Response multiplier of a service upgrade for dissatisfied customers (ratio, 1-20).",
    )

    @field_validator("response_by_reason")
    @classmethod
    def _fill_reasons(cls, value: dict[ChurnReason, float]) -> dict[ChurnReason, float]:
        for reason, multiplier in value.items():
            if not 0 <= multiplier <= 100:
                raise FieldProblem(reason, f"must be between 0 and 100, got {multiplier:g}")
        return {**_default_reason_response(), **value}

    @model_validator(mode="after")
    def _values(self) -> Self:
        if self.low_value_spend > self.high_value_spend:
            raise FieldProblem(
                "low_value_spend",
                f"must not exceed high_value_spend ({self.low_value_spend:g} > {self.high_value_spend:g})",
            )
        return self


class Retargeting(_Strict):
    """Retargeting of abandoned carts and browsers on paid channels.

    The defaults are calibrated on the bundled scenarios: one channel recovers about 30-40% of
    abandoned carts and two coordinated channels about 50-57% (DOMAIN.md: up to 68%), against
    3-10% recovered without retargeting; ``frequency_cap: 2`` and ``decay_days: 7`` reach 64-77%.
    """

    channels: list[str] = Field(
        min_length=1, description="Paid channels that show the retargeting ads (distinct channel names)."
    )
    window_days: int = Field(
        default=14,
        ge=1,
        le=90,
        description=(
            "How long after abandoning a cart or browsing shoppers are followed; also the window in "
            "which an order counts as recovering a cart (days, 1-90)."
        ),
    )
    frequency_cap: int = Field(
        default=1,
        ge=1,
        le=20,
        description="Ads per followed shopper per channel per day (impressions/day, 1-20).",
    )
    return_per_impression: float = Field(
        default=0.35,
        ge=0,
        le=1,
        description=(
            "Chance that one ad brings a cart abandoner back to the cart on the day of abandoning "
            "(0-1); checkout friction then applies."
        ),
    )
    decay_days: float = Field(
        default=4.0,
        gt=0,
        le=90,
        description="Time for an ad's effect to fall by a factor e after the cart or visit (days, 0-90].",
    )
    browse_effect: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description=(
            "Effect of an ad on browsers (visited, no cart) relative to cart abandoners (ratio, 0-1; "
            "0 = browsers are not followed)."
        ),
    )
    cost_multiplier: float = Field(
        default=1.5,
        gt=0,
        le=20,
        description="Price of a retargeting impression relative to the channel's own (ratio, 0-20].",
    )

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        if len(set(self.channels)) != len(self.channels):
            raise FieldProblem("channels", f"channel names must be distinct, got {', '.join(self.channels)}")
        return self


class Service(_Strict):
    """Service quality, which drives satisfaction, churn and referral."""

    delivery_days: float = Field(default=3.0, gt=0, le=60, description="Mean delivery time (days).")
    free_returns: bool = Field(default=False, description="Returns are free for the shopper (yes/no).")


class Referral(_Strict):
    """Social graph, word of mouth and referral bonus."""

    graph: Literal["small_world", "random", "fully_mixed"] = Field(
        default="small_world", description="Who knows whom: small-world (default), random, or fully mixed."
    )
    degree: int = Field(
        default=10,
        ge=2,
        le=200,
        description=(
            "Friends each shopper talks to (friends per shopper; small-world: half on each side of "
            "the ring, an odd one clockwise; fully mixed: contacts per shopper in the mean-field hazard)."
        ),
    )
    rewire_probability: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Small-world rewiring chance per link (0 = ring lattice, 1 = random).",
    )
    word_of_mouth_rate: float = Field(
        default=0.002,
        ge=0,
        le=1,
        description=(
            "Daily hazard, per satisfied customer who counts the shopper as a friend, that the "
            "shopper hears of the brand and visits (per talking friend per day)."
        ),
    )
    referral_rate: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description=(
            "Daily chance that a satisfied active customer refers a friend, before the bonus; the "
            "bonus multiplies it by 1 + bonus_response x referral_bonus, capped at 1 (share/day)."
        ),
    )
    referral_bonus: float = Field(
        default=0.0, ge=0, description="Bonus paid to the referrer per referred first order (currency)."
    )
    bonus_response: float = Field(
        default=0.02, ge=0, le=10, description="Relative rise of referrals per unit of bonus (per currency)."
    )
    friend_discount: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Discount on a referred friend's first order (share of list value).",
    )
    satisfaction_threshold: float = Field(
        default=0.6,
        ge=0,
        le=1,
        description="Satisfaction at or above which customers talk and refer (0-1).",
    )


class CheckoutSimplification(_Strict):
    """A simpler checkout (DOMAIN.md: +25% conversion), at a cost."""

    conversion_lift: float = Field(
        default=0.25, ge=0, le=5, description="Relative rise in checkout completion (0.25 = +25%)."
    )
    cost_per_day: float = Field(
        default=500.0, ge=0, description="Running cost of the simpler checkout (currency/day)."
    )
    one_off_cost: float = Field(default=0.0, ge=0, description="Build cost, booked on day 0 (currency).")


class Policies(_Strict):
    """All levers; each is off unless given."""

    loyalty: Loyalty | None = Field(default=None, description="Loyalty program (points and tiers).")
    promotions: Promotions | None = Field(default=None, description="Campaigns, coupons, group buying.")
    retention: Retention | None = Field(default=None, description="Post-purchase CRM messages.")
    winback: Winback | None = Field(default=None, description="Win-back offers for lapsed customers.")
    retargeting: Retargeting | None = Field(default=None, description="Cart and browse retargeting.")
    referral: Referral | None = Field(default=None, description="Word of mouth and referral program.")
    service: Service | None = Field(
        default=None,
        description=(
            "Service quality; drives satisfaction, hence churn and referral (defaults when those are on)."
        ),
    )
    checkout_simplification: CheckoutSimplification | None = Field(
        default=None, description="Simpler checkout."
    )


def check_references(policies: Policies, channels: dict[str, bool], horizon_days: int) -> None:
    """Check that levers name channels the scenario has and days inside the horizon.

    Parameters
    ----------
    policies
        The ``policies`` section.
    channels
        Channel names of the scenario, mapped to whether the channel reaches unknown shoppers.
    horizon_days
        Days simulated.

    Raises
    ------
    FieldProblem
        Naming the field (relative to the scenario) and what is allowed.
    """
    allowed = ", ".join(channels)

    def known(field: str, name: str) -> None:
        if name not in channels:
            raise FieldProblem(field, f"unknown channel '{name}'; channels are: {allowed}")

    if policies.promotions is not None:
        for i, campaign in enumerate(policies.promotions.campaigns):
            where = f"policies.promotions.campaigns[{i}]({campaign.name})"
            for name in campaign.channels or []:
                known(f"{where}.channels", name)
            if campaign.start_day >= horizon_days:
                raise FieldProblem(
                    f"{where}.start_day",
                    f"day {campaign.start_day} is past the horizon of {horizon_days} days "
                    f"(days 0-{horizon_days - 1})",
                )
            if campaign.end_day >= horizon_days:
                raise FieldProblem(
                    f"{where}.days",
                    f"the campaign runs to day {campaign.end_day}, past the horizon of {horizon_days} days "
                    f"(last day {horizon_days - 1})",
                )
    if policies.retention is not None:
        known("policies.retention.channel", policies.retention.channel)
    if policies.winback is not None:
        for i, offer in enumerate(policies.winback.offers):
            known(f"policies.winback.offers[{i}].channel", offer.channel)
    if policies.retargeting is not None:
        for name in policies.retargeting.channels:
            known("policies.retargeting.channels", name)
            if not channels[name]:
                raise FieldProblem(
                    "policies.retargeting.channels",
                    f"'{name}' reaches only known shoppers; retargeting needs paid channels "
                    "that reach anyone",
                )
