"""Win-back of lapsed customers, by recency, past value and churn reason (docs/domain.md).

Each offer of ``policies.winback`` goes out on the day a customer's recency (days since the
last purchase) reaches the offer's ``recency_days`` (20, 60 and 120 days by default for the
short, medium and long segments), to the customers of its value segment that its channel can
reach (a channel with ``reaches_unknown: false`` reaches only known shoppers). When several
offers match a customer on the same day, the first one in the list is sent.

- **Segments.** Value from lifetime spend in the horizon: high from ``high_value_spend``, low
  below ``low_value_spend``, medium in between. The churn reason is assigned when the first
  offer of a lapse goes out (again after every new purchase): *dissatisfied* when the
  customer's satisfaction is below 0.5, else *price* with the persona's price sensitivity,
  else *needs changed*.
- **Response.** An offer brings the customer back with probability ``base_response x
  response_by_reason[reason] x (service_upgrade_effect for dissatisfied customers offered a
  service upgrade) x (1 + price_elasticity x price_sensitivity x coupon)``, capped at 1. A
  responder comes back to life (a customer who had silently dropped out buys again) and goes
  straight to a cart in the offer's channel with the coupon; checkout friction applies, and an
  abandoned cart keeps the coupon for ``COUPON_VALID_DAYS`` (repeat purchases or retargeting may
  still recover it). A non-responder keeps their state.
- **Wins.** A win is a responder's first order while the coupon is valid; the win rate of a
  segment is wins / offers sent.
- **Costs.** ``cost_per_offer`` per offer, booked as the channel's media spend (and counted as
  its impressions and reach); the coupon is a discount on the win-back order (nothing when the
  order is returned and refunded).

With the default response table, on the bundled omnichannel retailer (offers through CRM at 20,
60 and 120 days with 10%, 15% and 20% coupons) about 7% of price-sensitive, 1% of
needs-changed and 0.5% of dissatisfied customers offered are won back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, get_args

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..config.policies import ChurnReason, Winback
from ..engine.journey import checkout
from ..engine.lifetime import CustomerBase, LastingEffect
from ..engine.population import NO_DAY
from .base import (
    BoolArray,
    FloatArray,
    IntArray,
    Lever,
    LeverOutput,
    Members,
    OrderBatch,
    RangeSpec,
    by_layout,
    share_range,
)
from .service import Satisfaction

if TYPE_CHECKING:
    from ..config.scenario import Scenario
    from ..engine.model import CommerceModel
    from .composite import Levers

__all__ = ["WinbackProgram"]

RECENCY_SEGMENTS = ("short", "medium", "long")
VALUE_SEGMENTS = ("high", "medium", "low")
REASONS: tuple[ChurnReason, ...] = get_args(ChurnReason)
"""Churn reasons in code order: 0 price, 1 dissatisfied, 2 needs changed."""
PRICE, DISSATISFIED, NEEDS_CHANGED = range(3)
NO_REASON = -1
DISSATISFIED_BELOW = 0.5
"""Satisfaction (0-1) under which a lapsed customer's churn reason is dissatisfaction."""
COUPON_VALID_DAYS = 14
"""Days a responder's coupon stays valid, counting the day of the response (days)."""
N_SEGMENTS = len(RECENCY_SEGMENTS) * len(VALUE_SEGMENTS) * len(REASONS)


class WinbackProgram(Lever[Winback]):
    """Win-back offers to lapsed customers by recency, value and churn reason (``policies.winback``).

    Reads the satisfaction and the price elasticity of the same levers; offers go to the
    customers of their scope.
    """

    key = "winback"
    tables = {"winback": ("recency", "value", "reason")}
    title = "win-back"
    config_type = Winback
    booked_cost_kpis = ("winback_offer_cost",)
    shopper_arrays = ("reason", "reason_lapse", "open_offer", "open_segment", "coupon_until")

    def __init__(self, config: Winback, model: CommerceModel, levers: Levers) -> None:
        super().__init__(config, model, levers)
        size = model.population.size
        days = model.horizon_days
        names = model.scenario.channel_names
        offers = config.offers
        self.offer_channel = np.array([names.index(o.channel) for o in offers], dtype=np.int64)
        self.offer_recency_segment = np.array([RECENCY_SEGMENTS.index(o.segment) for o in offers])
        # A trailing 0 so that "no offer" (-1) looks up no coupon.
        self.offer_coupon = np.array([o.coupon for o in offers] + [0.0])
        self.reason_response = np.array([config.response_by_reason[r] for r in REASONS])

        self.reason = np.full(size, NO_REASON, dtype=np.int8)
        """Churn reason of each customer's latest lapse (-1 until an offer needs it)."""
        self.reason_lapse = np.full(size, NO_DAY, dtype=np.int32)
        """Last purchase day the reason was assigned for (a new lapse gets a new reason)."""
        self.open_offer = np.full(size, -1, dtype=np.int16)
        """Offer a responder holds a coupon of (-1 none), with its segment and expiry."""
        self.open_segment = np.zeros(size, dtype=np.int8)
        self.coupon_until = np.full(size, -1, dtype=np.int32)

        self.offers_sent = np.zeros((days, N_SEGMENTS))
        self.responses = np.zeros((days, N_SEGMENTS))
        self.wins = np.zeros((days, N_SEGMENTS))
        self.offer_cost = np.zeros((days, N_SEGMENTS))
        self.coupon_cost = np.zeros((days, N_SEGMENTS))

    @classmethod
    def requires(cls, config: Winback) -> tuple[str, ...]:
        """Satisfaction (churn reasons)."""
        return ("service",)

    @classmethod
    def bytes_per_shopper(cls, config: Winback) -> int:
        """Churn reason, lapse day, open offer, its segment and coupon window (bytes per shopper)."""
        return 1 + 4 + 2 + 1 + 4

    @classmethod
    def search_ranges(cls, config: Winback | None, scenario: Scenario) -> dict[str, RangeSpec]:
        """Each offer's coupon up to 30% (or twice its current value)."""
        if config is None:
            return {}
        return {
            f"winback.offers[{i}].coupon": share_range(o.coupon, 0.3) for i, o in enumerate(config.offers)
        }

    # Questions from the other mechanisms ---------------------------------------------------
    def _holding(self, model: CommerceModel, shoppers: IntArray) -> BoolArray:
        return np.asarray((self.open_offer[shoppers] >= 0) & (self.coupon_until[shoppers] >= model.day))

    def offers(
        self, model: CommerceModel, shoppers: IntArray, channels: IntArray | None, first: BoolArray
    ) -> list[FloatArray]:
        """Win-back coupon available to each shopper today (share of list value)."""
        return [np.where(self._holding(model, shoppers), self.offer_coupon[self.open_offer[shoppers]], 0.0)]

    def on_orders(self, model: CommerceModel, batch: OrderBatch) -> None:
        """Count the orders of responders holding a coupon as wins, and use the coupons up.

        A first order is never a win-back order. The coupon cost is the part of the order's
        discount the coupon accounts for, times its list value; a returned order is refunded,
        so its coupon costs nothing (as in :func:`simulator.engine.economics.book_orders`).
        """
        shoppers = batch.shoppers
        holding = self._holding(model, shoppers) & ~batch.first
        if not holding.any():
            return
        winners = shoppers[holding]
        offer = self.open_offer[winners]
        segment = self.open_segment[winners].astype(np.int64)
        coupon = np.minimum(self.offer_coupon[offer], batch.discount_rate[holding])
        value = np.where(batch.kept[holding], batch.list_value[holding], 0.0)
        day = model.day
        self.wins[day] += np.bincount(segment, minlength=N_SEGMENTS)
        self.coupon_cost[day] += np.bincount(segment, weights=coupon * value, minlength=N_SEGMENTS)
        self.open_offer[winners] = -1
        self.coupon_until[winners] = -1

    def lasting_days(self, model: CommerceModel) -> int:
        """The longest recency at which an offer goes out (days)."""
        return max(offer.recency_days for offer in self.config.offers)

    def lasting_effect(self, model: CommerceModel, customers: CustomerBase) -> LastingEffect:
        """Offers at their recency days: an order outside the repeat process, or a revival.

        A customer with no order for ``recency_days`` whom the offer reaches (channel audience,
        known shopper when the channel needs it, value segment by spend so far; the first
        offer of a recency wins) responds with the expected chance over the churn reasons
        (dissatisfied below satisfaction 0.5, else price with the persona's price sensitivity,
        else needs changed) and orders with the offer channel's checkout pass; a customer who
        dropped out comes back to life when an offer reaches and wins them.
        """
        config = self.config
        pop = model.population
        shoppers = customers.shoppers
        satisfaction = self.levers.find(Satisfaction)
        score = (
            np.nan_to_num(satisfaction.score[shoppers], nan=satisfaction.base)
            if satisfaction is not None
            else np.ones(shoppers.size, dtype=np.float32)
        )
        dissatisfied = score < DISSATISFIED_BELOW
        sensitivity = pop.personas.price_sensitivity[pop.persona[shoppers]]
        value = self._value_segment(pop.revenue[shoppers])
        extra = np.zeros((shoppers.size, customers.days))
        revival = np.zeros((shoppers.size, customers.days))
        free: dict[int, BoolArray] = {}
        for i, offer in enumerate(config.offers):
            c = int(self.offer_channel[i])
            open_to = free.setdefault(offer.recency_days, np.ones(shoppers.size, dtype=np.bool_))
            reach = open_to & pop.audience[c, shoppers]
            if not model.channel_agents[c].config.reaches_unknown:
                reach &= pop.known[shoppers]
            if offer.value != "any":
                reach &= value == VALUE_SEGMENTS.index(offer.value)
            open_to &= ~reach
            base = config.base_response * (1.0 + self.levers.pricing.elasticity * sensitivity * offer.coupon)
            upgrade = config.service_upgrade_effect if offer.service_upgrade else 1.0
            response = np.where(
                dissatisfied,
                np.minimum(base * self.reason_response[DISSATISFIED] * upgrade, 1.0),
                sensitivity * np.minimum(base * self.reason_response[PRICE], 1.0)
                + (1.0 - sensitivity) * np.minimum(base * self.reason_response[NEEDS_CHANGED], 1.0),
            )
            response = np.where(reach, response, 0.0)
            column = offer.recency_days - 1
            ordered = response * customers.channel_pass[:, c]
            extra[:, column] = 1.0 - (1.0 - extra[:, column]) * (1.0 - ordered)
            revival[:, column] = 1.0 - (1.0 - revival[:, column]) * (1.0 - response)
        return LastingEffect(extra_orders=extra, revival=revival)

    # Daily -----------------------------------------------------------------------------------
    def daily(self, model: CommerceModel) -> None:
        """Send today's offers, let the offered respond and bring responders to a cart."""
        self.daily_together(model, [(model, 0, self)])

    @classmethod
    def daily_together(
        cls, batch: CommerceModel, members: Sequence[tuple[CommerceModel, int, WinbackProgram]]
    ) -> None:
        """Today's offers of every world at once, each world with its own numbers.

        Worlds whose offers go out at the same recencies, on the same channels, to the same value
        segments (with or without a service upgrade) work together; otherwise, or when the
        batch could not join the win-back arrays of every world, one after the other.
        """
        if not (len(members) == 1 and members[0][0] is batch):
            if (WinbackProgram, "reason") not in getattr(batch, "lever_arrays", {}):
                for world, _, lever in members:
                    lever.daily(world)
                return
            groups = by_layout(
                members,
                lambda p: tuple(
                    (o.recency_days, o.channel, o.value, o.service_upgrade) for o in p.config.offers
                ),
            )
            if len(groups) > 1:
                for same in groups:
                    cls.daily_together(batch, same)
                return
        group = Members(batch, members)
        first = group.levers[0]
        pop = batch.population
        day = batch.day
        due: dict[int, tuple[IntArray, IntArray, BoolArray]] = {}
        responders: list[IntArray] = []
        channels: list[IntArray] = []
        high = group.param(lambda p: p.config.high_value_spend)
        low = group.param(lambda p: p.config.low_value_spend)
        for i, offer in enumerate(first.config.offers):
            recency = offer.recency_days
            if recency not in due:
                found, member = group.keep(
                    first.levers.within(np.flatnonzero(pop.last_purchase_day == day - recency))
                )
                due[recency] = (found, member, np.ones(found.size, dtype=np.bool_))
            candidates, member, free = due[recency]
            c = int(first.offer_channel[i])
            reachable = free & pop.audience[c, candidates]
            if not batch.channel_agents[c].config.reaches_unknown:
                reachable &= pop.known[candidates]
            spend = pop.revenue[candidates]
            value = np.where(spend >= high[member], 0, np.where(spend < low[member], 2, 1)).astype(np.int64)
            if offer.value != "any":
                reachable &= value == VALUE_SEGMENTS.index(offer.value)
            if not reachable.any():
                continue
            free &= ~reachable
            won = cls._send(group, i, candidates[reachable], value[reachable], member[reachable])
            responders.append(won)
            channels.append(np.full(won.size, c, dtype=np.int64))
        if responders and sum(r.size for r in responders):
            back = np.concatenate(responders)
            pop.alive[back] = True
            checkout(batch, back, np.concatenate(channels), "winback_checkout")

    def _value_segment(self, spend: FloatArray) -> npt.NDArray[np.int64]:
        """Value segment of lifetime spends: 0 high, 1 medium, 2 low."""
        high = spend >= self.config.high_value_spend
        low = spend < self.config.low_value_spend
        return np.where(high, 0, np.where(low, 2, 1)).astype(np.int64)

    @staticmethod
    def _assign_reasons(group: Members, targets: IntArray, member: IntArray) -> None:
        """Give a churn reason to the targets whose current lapse has none yet."""
        model = group.model
        pop = model.population
        first = group.levers[0]
        reason, reason_lapse = group.joined(first, "reason"), group.joined(first, "reason_lapse")
        assert reason is not None and reason_lapse is not None
        last = pop.last_purchase_day[targets]
        fresh = (reason[targets] == NO_REASON) | (reason_lapse[targets] != last)
        new = targets[fresh]
        if new.size == 0:
            return
        satisfaction = first.levers.find(Satisfaction)
        if satisfaction is None:  # pragma: no cover - the levers build it whenever win-back is on
            score = np.ones(new.size, dtype=np.float32)
        else:
            # Customers from before the horizon have no recorded experience: assume the usual one.
            scores = group.joined(satisfaction, "score")
            assert scores is not None
            usual = group.param(lambda p: p.levers.find(Satisfaction).base, np.float32)[member[fresh]]
            score = scores[new]
            score = np.where(np.isnan(score), usual, score)
        sensitivity = pop.personas.price_sensitivity[pop.persona[new]]
        price = model.crn.uniform("churn_reason", model.day, new) < sensitivity
        reason[new] = np.where(
            score < DISSATISFIED_BELOW, DISSATISFIED, np.where(price, PRICE, NEEDS_CHANGED)
        )
        reason_lapse[new] = last[fresh]

    @classmethod
    def _send(
        cls, group: Members, index: int, targets: IntArray, value: npt.NDArray[np.int64], member: IntArray
    ) -> IntArray:
        """Send offer ``index`` to ``targets`` (of every member); book its cost; return the responders."""
        model = group.model
        pop = model.population
        first = group.levers[0]
        offer = first.config.offers[index]
        day = model.day
        cls._assign_reasons(group, targets, member)
        reasons = group.joined(first, "reason")
        assert reasons is not None
        reason = reasons[targets].astype(np.int64)
        segment = (first.offer_recency_segment[index] * len(VALUE_SEGMENTS) + value) * len(REASONS) + reason
        sent = group.count(member, segment, N_SEGMENTS)
        cost = group.param(lambda p: p.config.offers[index].cost_per_offer)
        c = int(first.offer_channel[index])
        for m, (world, lever, n_sent) in enumerate(
            zip(group.worlds, group.levers, group.count(member), strict=True)
        ):
            lever.offers_sent[day] += sent[m]
            lever.offer_cost[day] += sent[m] * cost[m]
            ledger = world.channel_agents[c].ledger
            ledger["spend"][day] += n_sent * cost[m]
            ledger["impressions"][day] += n_sent
            ledger["reach"][day] += n_sent

        sensitivity = pop.personas.price_sensitivity[pop.persona[targets]]
        response = group.param(lambda p: p.reason_response)
        chance = group.param(lambda p: p.config.base_response)[member] * response[member, reason]
        elasticity = group.param(lambda p: p.levers.pricing.elasticity)[member]
        chance *= (
            1.0 + elasticity * sensitivity * group.param(lambda p: p.config.offers[index].coupon)[member]
        )
        if offer.service_upgrade:
            upgrade = group.param(lambda p: p.config.service_upgrade_effect)[member]
            chance = np.where(reason == DISSATISFIED, chance * upgrade, chance)
        won = model.crn.uniform("winback", day, targets, index) < np.minimum(chance, 1.0)
        back: IntArray = targets[won]
        responses = group.count(member[won], segment[won], N_SEGMENTS)
        for m, lever in enumerate(group.levers):
            lever.responses[day] += responses[m]
        for name, values in (("open_offer", index), ("open_segment", segment[won])):
            array = group.joined(first, name)
            assert array is not None
            array[back] = values
        coupon_until = group.joined(first, "coupon_until")
        assert coupon_until is not None
        coupon_until[back] = day + COUPON_VALID_DAYS - 1
        return back

    # Results ---------------------------------------------------------------------------------
    def results(self, model: CommerceModel, daily_orders: pd.Series) -> LeverOutput:
        """Offers, responses, wins and costs: daily, in total and by segment; churn reasons.

        Returns
        -------
        LeverOutput
            ``daily``: offers, responses, wins and costs per day (people, currency);
            ``summary``: totals, the overall win rate and the win rates by churn reason, by
            recency and by value segment; ``tables``: ``winback``, one row per segment
            (recency x value x reason); ``columns``: ``churn_reason`` of each shopper.
        """
        days = model.day
        scale = model.scale
        offers = self.offers_sent[:days] * scale
        responses = self.responses[:days] * scale
        wins = self.wins[:days] * scale
        offer_cost = self.offer_cost[:days] * scale
        coupon_cost = self.coupon_cost[:days] * scale
        daily = pd.DataFrame(
            {
                "winback_offers": offers.sum(axis=1),
                "winback_responses": responses.sum(axis=1),
                "winback_wins": wins.sum(axis=1),
                "winback_offer_cost": offer_cost.sum(axis=1),
                "winback_coupon_cost": coupon_cost.sum(axis=1),
            }
        )
        index = pd.MultiIndex.from_product(
            [list(RECENCY_SEGMENTS), list(VALUE_SEGMENTS), list(REASONS)],
            names=["recency", "value", "reason"],
        )
        table = pd.DataFrame(
            {
                "offers": offers.sum(axis=0),
                "responses": responses.sum(axis=0),
                "wins": wins.sum(axis=0),
                "offer_cost": offer_cost.sum(axis=0),
                "coupon_cost": coupon_cost.sum(axis=0),
            },
            index=index,
        )
        table["win_rate"] = table["wins"] / table["offers"].where(table["offers"] > 0)

        total_cost = float(table["offer_cost"].sum() + table["coupon_cost"].sum())
        total_offers = float(table["offers"].sum())
        total_wins = float(table["wins"].sum())
        summary = {
            "winback_offers": total_offers,
            "winback_responses": float(table["responses"].sum()),
            "winback_wins": total_wins,
            "winback_rate": total_wins / total_offers if total_offers > 0 else float("nan"),
            "winback_offer_cost": float(table["offer_cost"].sum()),
            "winback_coupon_cost": float(table["coupon_cost"].sum()),
            "winback_cost": total_cost,
            "winback_cost_per_win": total_cost / total_wins if total_wins > 0 else float("nan"),
        }
        for level, suffix in (("reason", ""), ("recency", ""), ("value", "_value")):
            grouped = table.groupby(level=level, sort=False)[["offers", "wins"]].sum()
            rates = grouped["wins"] / grouped["offers"].where(grouped["offers"] > 0)
            for name, value in rates.items():
                summary[f"winback_rate_{name}{suffix}"] = float(value)
        labels = np.array(["none", *REASONS], dtype=object)
        reason = pd.Categorical(labels[self.reason.astype(np.int64) + 1], categories=["none", *REASONS])
        return LeverOutput(
            daily=daily, summary=summary, tables={"winback": table}, columns={"churn_reason": reason}
        )
