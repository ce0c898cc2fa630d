"""Retargeting of cart abandoners and browsers on paid channels (docs/domain.md: up to 68% of carts).

Every day, each retargeting channel shows ``frequency_cap`` ads to each shopper of its audience
who is being followed:

- **cart abandoners** - an abandoned cart not yet recovered, at most ``window_days`` old, and the
  shopper neither considering nor having bought today;
- **browsers** - aware prospects whose last consideration ended without a cart at most
  ``window_days`` ago (and no abandoned cart being followed); not followed when
  ``browse_effect`` is 0.

An ad brings the shopper back with probability ``return_per_impression x exp(-days since the
cart or visit / decay_days)``, times ``browse_effect`` for browsers. Ads on one channel tire
the shopper the way the channel's own ads do: ``k`` ads today count as ``k x exp(-fatigue x
recent exposures)`` (the channel's ``fatigue`` and ``fatigue_memory_days``, shared with its
regular ads). The channels' chances combine as hazards; a shopper shown ads by two or more of the
program's channels on one day is followed with one identity across them (coordinated messages),
which multiplies the day's hazard by ``coordination_lift`` (docs/domain.md: a single customer identity
across channels lifts conversion severalfold). The channel credited with a return is drawn in
proportion to its hazard.

So one channel recovers what the per-ad chance gives - with the defaults about a tenth of the
abandoned carts on top of those that come back on their own, the typical figure of public
abandoned-cart programmes (docs/benchmarks.md) - and only coordinated channels approach the
domain's best-practice ceiling of about two thirds (68%).

A returning cart abandoner goes back to the cart in the channel where it was left and checks
out at that channel's checkout pass (friction, shipping, a simpler checkout); a cart that fails
again stays abandoned and followed - it is the same cart, so it is not counted as a new cart or
a new abandonment. A returning browser starts a new consideration through the channel of the ad.

Cost: each ad costs the channel's price of an impression (``cost_per_mille / 1000``, or
``cost_per_click x click_through_rate``) times ``cost_multiplier``, booked as the channel's
media spend and impressions. The model's cart recovery (an order within the recovery window of
an abandoned cart, :func:`simulator.engine.economics.book_orders`) follows ``window_days`` when the
lever is on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..config.policies import Retargeting
from ..config.scenario import Pricing
from ..engine.economics import book_orders
from ..engine.journey import start_consideration
from ..engine.lifetime import CustomerBase, LastingEffect
from ..engine.population import State
from .base import IntArray, Lever, LeverOutput, Members, RangeSpec, by_layout

if TYPE_CHECKING:
    from ..config.scenario import Scenario
    from ..engine.model import CommerceModel
    from .composite import Levers

__all__ = ["RetargetingProgram"]


class RetargetingProgram(Lever[Retargeting]):
    """Retargeting ads on paid channels that bring abandoners back (``policies.retargeting``).

    Follows the shoppers of the levers' scope; sets the model's cart recovery window to
    ``window_days``.
    """

    key = "retargeting"
    tables = {"retargeting": ("channel",)}
    config_type = Retargeting
    booked_cost_kpis = ("retargeting_cost",)

    def __init__(self, config: Retargeting, model: CommerceModel, levers: Levers) -> None:
        super().__init__(config, model, levers)
        names = model.scenario.channel_names
        self.channel_names = list(config.channels)
        self.channel_index = np.array([names.index(n) for n in config.channels], dtype=np.int64)
        prices = []
        for name in config.channels:
            channel = model.scenario.channels[names.index(name)]
            if channel.pricing is Pricing.cpm:
                prices.append(channel.cost_per_mille / 1000.0)
            else:
                prices.append(channel.cost_per_click * channel.click_through_rate)
        self.price_per_ad = np.array(prices) * config.cost_multiplier
        """Price of one retargeting ad on each channel (currency per impression)."""
        model.recovery_window_days = config.window_days

        days, k = model.horizon_days, len(config.channels)
        self.followed = np.zeros((days, 2))
        self.ads = np.zeros((days, k))
        self.cart_returns = np.zeros((days, k))
        self.browser_returns = np.zeros((days, k))
        self.recovered_orders = np.zeros(days)
        self.followed_by_channel = np.zeros(len(names))
        """Carts followed from the day they were abandoned, by the channel of the cart (agents)."""
        self.recovered_by_channel = np.zeros(len(names))
        """Carts recovered, by the channel of the cart (agents)."""

    @classmethod
    def search_ranges(cls, config: Retargeting | None, scenario: Scenario) -> dict[str, RangeSpec]:
        """The frequency cap, 1-4 ads a day."""
        return {} if config is None else {"retargeting.frequency_cap": {"type": "int", "low": 1, "high": 4}}

    def daily(self, model: CommerceModel) -> None:
        """Show today's retargeting ads and let the touched shoppers come back."""
        self.daily_together(model, [(model, 0, self)])

    @classmethod
    def daily_together(
        cls, batch: CommerceModel, members: Sequence[tuple[CommerceModel, int, RetargetingProgram]]
    ) -> None:
        """Today's ads and returns of every world at once, each world with its own settings.

        Worlds that follow on the same channels, and all follow browsers or none, work together;
        worlds whose levers act on a scope (A/B arms) work one after the other.
        """
        if any(lever.levers.scope is not None for _, _, lever in members) and members[0][0] is not batch:
            for world, _, lever in members:
                lever.daily(world)
            return
        groups = by_layout(members, lambda p: (tuple(p.channel_index.tolist()), p.config.browse_effect == 0))
        if len(groups) > 1:
            for same in groups:
                cls.daily_together(batch, same)
            return
        group = Members(batch, members)
        pop = batch.population
        day = batch.day
        first = members[0][2]
        carts, cart_member, browsers, browser_member = first._followed(group)
        counts = zip(group.count(cart_member), group.count(browser_member), strict=True)
        for lever, (n_carts, n_browsers) in zip(group.levers, counts, strict=True):
            lever.followed[day] = n_carts, n_browsers
        fresh = pop.abandoned_cart_day[carts] == day
        width = first.followed_by_channel.size
        cart_channel = pop.abandoned_cart_channel[carts[fresh]].astype(np.int64)
        followed = group.count(cart_member[fresh], cart_channel, width)
        for m, lever in enumerate(group.levers):
            lever.followed_by_channel += followed[m]
        targets = np.concatenate([carts, browsers])
        if targets.size == 0:
            return
        member = np.concatenate([cart_member, browser_member])
        is_cart = np.arange(targets.size) < carts.size
        since = day - np.where(is_cart, pop.abandoned_cart_day[targets], pop.browsed_day[targets])
        return_per_impression = group.param(lambda p: p.config.return_per_impression)[member]
        chance = return_per_impression * np.exp(-since / group.param(lambda p: p.config.decay_days)[member])
        chance = np.where(is_cart, chance, chance * group.param(lambda p: p.config.browse_effect)[member])
        # Hazard of one ad; k effective ads give a return chance of 1 - (1 - chance) ** k.
        per_ad = -np.log1p(-np.minimum(chance, 1.0 - 1e-9))

        frequency_cap = group.param(lambda p: p.config.frequency_cap, np.int64)
        cap = frequency_cap.astype(np.float32)[member]
        channel_index = first.channel_index
        cumulative = np.zeros((channel_index.size, targets.size))
        hazard = np.zeros(targets.size)
        reached = np.zeros(targets.size, dtype=np.int64)
        for j, c in enumerate(channel_index):
            channel = batch.channel_agents[int(c)].config
            # Row views: indexing one channel's row with an index array is the fast 1-D path.
            fatigue, fatigue_day = pop.fatigue[c], pop.fatigue_day[c]
            shown = pop.audience[c][targets]
            viewers = targets[shown]
            waited = (day - fatigue_day[viewers]).astype(np.float32)
            recent = fatigue[viewers] * np.exp(-waited / np.float32(channel.fatigue_memory_days))
            effective = cap[shown] * np.exp(-np.float32(channel.fatigue) * recent)
            fatigue[viewers] = recent + cap[shown]
            fatigue_day[viewers] = day
            hazard[shown] += effective * per_ad[shown]
            reached += shown
            cumulative[j] = hazard
            ads = group.count(member[shown]) * frequency_cap
            for m, (world, lever) in enumerate(zip(group.worlds, group.levers, strict=True)):
                lever.ads[day, j] += ads[m]
                ledger = world.channel_agents[int(c)].ledger
                ledger["spend"][day] += ads[m] * lever.price_per_ad[j]
                ledger["impressions"][day] += ads[m]

        lift = group.param(lambda p: p.config.coordination_lift)[member]
        coordinated = (reached >= 2) & (lift != 1.0)
        if coordinated.any():
            hazard[coordinated] *= lift[coordinated]
            cumulative[:, coordinated] *= lift[coordinated]
        back = batch.crn.uniform("retarget", day, targets) < -np.expm1(-hazard)
        if not back.any():
            return
        pick = batch.crn.uniform("retarget_channel", day, targets[back]) * hazard[back]
        via = (cumulative[:, back] < pick).sum(axis=0).clip(max=channel_index.size - 1)
        cart_back = is_cart[back]
        returners = targets[back]
        member = member[back]
        k = channel_index.size
        cart_returns = group.count(member[cart_back], via[cart_back], k)
        browser_returns = group.count(member[~cart_back], via[~cart_back], k)
        for m, lever in enumerate(group.levers):
            lever.cart_returns[day] += cart_returns[m]
            lever.browser_returns[day] += browser_returns[m]

        browsing = returners[~cart_back]
        if browsing.size:
            start_consideration(batch, browsing, channel_index[via[~cart_back]])
        buyers = returners[cart_back]
        if buyers.size:
            channels = pop.abandoned_cart_channel[buyers].astype(np.int64)
            levers = first.levers if group.alone else batch.levers
            passing = levers.checkout_pass(batch, buyers, channels)
            passed = batch.crn.uniform("retarget_checkout", day, buyers) < passing
            book_orders(batch, buyers[passed], channels[passed])
            member = member[cart_back][passed]
            recovered = group.count(member, channels[passed], width)
            for m, (n_recovered, lever) in enumerate(zip(group.count(member), group.levers, strict=True)):
                lever.recovered_orders[day] += n_recovered
                lever.recovered_by_channel += recovered[m]

    def _followed(self, group: Members) -> tuple[IntArray, IntArray, IntArray, IntArray]:
        """Today's cart abandoners and browsers being followed, and their members (in ``group``)."""
        model = group.model
        pop = model.population
        day = model.day
        since = day - group.param(lambda p: p.config.window_days, np.int64)
        lowest = int(since.min())
        if self.config.browse_effect == 0:
            recent, member = group.keep(self.levers.within(np.flatnonzero(pop.abandoned_cart_day >= lowest)))
            keep = pop.abandoned_cart_day[recent] >= since[member]
            carts, cart_member = recent[keep], member[keep]
            browsers, browser_member = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        else:
            # One pass over the population for both groups.
            latest = np.maximum(pop.abandoned_cart_day, pop.browsed_day)
            recent, member = group.keep(self.levers.within(np.flatnonzero(latest >= lowest)))
            keep = latest[recent] >= since[member]
            recent, member = recent[keep], member[keep]
            cart = pop.abandoned_cart_day[recent] >= since[member]
            carts, cart_member = recent[cart], member[cart]
            aware = pop.state[recent[~cart]] == int(State.AWARE)
            browsers, browser_member = recent[~cart][aware], member[~cart][aware]
        keep = (pop.state[carts] != int(State.CONSIDERING)) & (pop.last_purchase_day[carts] != day)
        return carts[keep], cart_member[keep], browsers, browser_member

    def lasting_effect(self, model: CommerceModel, customers: CustomerBase) -> LastingEffect:
        """Repeat attempts that fail checkout come back: orders per attempt rise.

        An attempt in channel ``c`` checks out with ``pass_c`` at once and, failing that, is
        recovered with the share of the carts of channel ``c`` the program followed that it
        recovered so far; recovered orders draw no dropout (the engine counts them out).
        """
        followed = self.followed_by_channel
        recovery = np.divide(
            self.recovered_by_channel, followed, out=np.zeros_like(followed), where=followed > 0
        )
        direct = customers.checkout_pass
        recovered = (
            customers.channel_weight * (1.0 - customers.channel_pass) * np.minimum(recovery, 1.0)
        ).sum(axis=1)
        return LastingEffect(
            checkout=np.divide(direct + recovered, direct, out=np.ones_like(direct), where=direct > 0)
        )

    # Results ---------------------------------------------------------------------------------
    def results(self, model: CommerceModel, daily_orders: pd.Series) -> LeverOutput:
        """Followed shoppers, ads, cost and returns: daily, in total and per channel.

        Returns
        -------
        LeverOutput
            ``daily``: shoppers followed, ads, cost, returns of cart abandoners and browsers and
            carts checked out on return (people, impressions, currency); ``summary``: their
            totals and the cost per recovered order; ``tables``: ``retargeting``, one row per
            channel; no per-shopper columns.
        """
        days = model.day
        scale = model.scale
        ads = self.ads[:days] * scale
        cost = ads * self.price_per_ad
        cart_returns = self.cart_returns[:days] * scale
        browser_returns = self.browser_returns[:days] * scale
        daily = pd.DataFrame(
            {
                "retargeting_followed_carts": self.followed[:days, 0] * scale,
                "retargeting_followed_browsers": self.followed[:days, 1] * scale,
                "retargeting_ads": ads.sum(axis=1),
                "retargeting_cost": cost.sum(axis=1),
                "retargeting_cart_returns": cart_returns.sum(axis=1),
                "retargeting_browser_returns": browser_returns.sum(axis=1),
                "retargeting_recovered_orders": self.recovered_orders[:days] * scale,
            }
        )
        table = pd.DataFrame(
            {
                "ads": ads.sum(axis=0),
                "cost": cost.sum(axis=0),
                "cart_returns": cart_returns.sum(axis=0),
                "browser_returns": browser_returns.sum(axis=0),
            },
            index=pd.Index(self.channel_names, name="channel"),
        )
        total_cost = float(table["cost"].sum())
        orders = float(daily["retargeting_recovered_orders"].sum())
        summary = {
            "retargeting_ads": float(table["ads"].sum()),
            "retargeting_cost": total_cost,
            "retargeting_returns": float(table["cart_returns"].sum() + table["browser_returns"].sum()),
            "retargeting_cart_returns": float(table["cart_returns"].sum()),
            "retargeting_browser_returns": float(table["browser_returns"].sum()),
            "retargeting_recovered_orders": orders,
            "retargeting_cost_per_recovered_order": total_cost / orders if orders > 0 else float("nan"),
        }
        return LeverOutput(daily=daily, summary=summary, tables={"retargeting": table})
