"""Exposure: impressions land on shoppers; adstock, frequency cap, fatigue; organic discovery.

Order within a day (called by :class:`simulator.model.CommerceModel`):

1. :func:`decay_ad_stock` - yesterday's ad effect carries over at each channel's ``carryover``.
2. :func:`deliver_impressions` - each channel's impressions land at random on shoppers of its
   audience, weighted by persona affinity. A shopper receives a Poisson number of impressions,
   so the share reached at mean frequency ``m`` is ``1 - exp(-m)``: reach saturates. Impressions
   past the daily frequency cap are wasted; the rest are discounted by fatigue from recent
   exposures and added to the shopper's ad stock; an unaware shopper becomes aware with
   ``awareness_per_impression`` per effective impression.
3. :func:`organic_discovery` - unaware shoppers find the brand without ads (SEO, marketplace
   browsing, walking past a store).

Both random placements use Poisson thinning: draw candidate shoppers uniformly from a persona's
block and keep those who qualify, which costs time in proportion to impressions, not shoppers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from .population import Funnel, State
from .touchpaths import TouchKind

if TYPE_CHECKING:
    from .channels import ChannelAgent
    from .model import CommerceModel

__all__ = ["decay_ad_stock", "deliver_impressions", "organic_discovery"]

IntArray = npt.NDArray[np.int64]


def decay_ad_stock(model: CommerceModel) -> None:
    """Multiply every shopper's ad stock by its channel's carryover (one day of adstock decay)."""
    stock = model.population.ad_stock
    for channel in model.channel_agents:
        stock[channel.index] *= np.float32(channel.config.carryover)


def deliver_impressions(model: CommerceModel, channel: ChannelAgent) -> None:
    """Land ``channel.today_impressions`` on shoppers and update ad stock, fatigue and awareness."""
    impressions = channel.today_impressions
    if impressions <= 0:
        return
    pop = model.population
    table = pop.personas
    c = channel.index
    config = channel.config
    if config.reaches_unknown:
        eligible = pop.audience[c]
        eligible_per_persona = model.audience_per_persona[c]
    else:
        eligible = pop.audience[c] & pop.known
        eligible_per_persona = table.count(eligible)
    if eligible_per_persona.sum() == 0:
        return
    # Impressions split over personas by (eligible shoppers x affinity weight).
    weight = eligible_per_persona * table.channel_weight[:, c]
    if weight.sum() == 0:
        return
    expected = impressions * weight / weight.sum()
    placed = _place(model, expected, eligible, eligible_per_persona, ("impressions", c))
    if placed.size == 0:
        return
    shoppers, hits = np.unique(placed, return_counts=True)
    if model.touches is not None:
        model.touches.record(shoppers, c, model.day, TouchKind.EXPOSURE)
    capped = np.minimum(hits, config.frequency_cap).astype(np.float32)

    day = model.day
    since = (day - pop.fatigue_day[c, shoppers]).astype(np.float32)
    recent = pop.fatigue[c, shoppers] * np.exp(-since / np.float32(config.fatigue_memory_days))
    effect = capped * np.exp(-np.float32(config.fatigue) * recent)
    pop.fatigue[c, shoppers] = recent + capped
    pop.fatigue_day[c, shoppers] = day
    pop.ad_stock[c, shoppers] += effect

    unaware = pop.state[shoppers] == State.UNAWARE
    if config.awareness_per_impression > 0 and unaware.any():
        candidates = shoppers[unaware]
        chance = 1.0 - (1.0 - config.awareness_per_impression) ** effect[unaware]
        became = candidates[model.crn.uniform("awareness", day, candidates, c) < chance]
        _make_aware(model, became, c)

    ledger = channel.ledger
    ledger["reach"][day] += shoppers.size


def _place(
    model: CommerceModel,
    expected: npt.NDArray[np.float64],
    eligible: npt.NDArray[np.bool_],
    eligible_per_persona: npt.NDArray[np.float64],
    stream: tuple[str, int],
) -> IntArray:
    table = model.population.personas
    name, index = stream
    n_personas = table.start.size
    sizes = table.stop - table.start
    share = np.divide(eligible_per_persona, sizes, out=np.zeros(sizes.size), where=sizes > 0)
    wanted = (expected > 0) & (eligible_per_persona > 0)
    thinned = wanted & (share >= 0.05)
    placed: list[IntArray] = []
    if thinned.any():
        # Candidates uniform in each persona's block, keep the eligible. Candidate k of persona p
        # draws the uniform keyed (p, k), so more impressions add candidates and keep the others.
        counts = model.crn.generator(name, model.day, index).poisson(
            np.where(thinned, expected / np.where(thinned, share, 1.0), 0.0)
        )
        first = np.cumsum(counts) - counts
        ordinal = np.arange(int(counts.sum())) - np.repeat(first, counts)
        ordinal += np.repeat(np.arange(n_personas, dtype=np.int64) << 40, counts)
        offsets = model.crn.uniform(name, model.day, ordinal, index)
        ids = np.repeat(table.start, counts) + (offsets * np.repeat(sizes, counts)).astype(np.int64)
        placed.append(ids[eligible[ids]])
    for p in np.flatnonzero(wanted & ~thinned):
        # A small eligible set (a young CRM list): draw among its members directly.
        lo, hi = int(table.start[p]), int(table.stop[p])
        members = lo + np.flatnonzero(eligible[lo:hi])
        count = int(model.crn.generator(name, model.day, (int(p) + 1) << 16 | index).poisson(expected[p]))
        ordinal = np.arange(count, dtype=np.int64) + (int(p) << 40)
        pick = (model.crn.uniform(name, model.day, ordinal, index) * members.size).astype(np.int64)
        placed.append(members[pick])
    if not placed:
        return np.empty(0, dtype=np.int64)
    return placed[0] if len(placed) == 1 else np.concatenate(placed)


def _make_aware(model: CommerceModel, shoppers: IntArray, channel_index: int) -> None:
    pop = model.population
    pop.state[shoppers] = State.AWARE
    pop.funnel[shoppers] |= np.uint8(Funnel.AWARE)
    first_time = pop.aware_channel[shoppers] < 0
    pop.aware_channel[shoppers[first_time]] = channel_index
    model.channel_agents[channel_index].ledger["new_aware"][model.day] += shoppers.size


def organic_discovery(model: CommerceModel) -> None:
    """Unaware shoppers discover the brand through channels' organic presence (no spend)."""
    pop = model.population
    table = pop.personas
    for channel in model.channel_agents:
        rate = channel.config.organic_discovery
        if rate <= 0 or not channel.config.reaches_unknown:
            continue
        c = channel.index
        sizes = (table.stop - table.start).astype(np.float64)
        expected = rate * sizes * table.channel_weight[:, c]
        eligible_per_persona = model.audience_per_persona[c]
        expected = expected * eligible_per_persona / sizes
        placed = _place(model, expected, pop.audience[c], eligible_per_persona, ("discovery", c))
        if placed.size == 0:
            continue
        shoppers = np.unique(placed)
        shoppers = shoppers[pop.state[shoppers] == State.UNAWARE]
        _make_aware(model, shoppers, c)
