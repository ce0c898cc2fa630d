"""Exposure: impressions land on shoppers; adstock, frequency cap, fatigue; organic discovery.

Order within a day (called by :class:`simulator.engine.model.CommerceModel`):

1. :func:`decay_ad_stock` - yesterday's ad effect carries over at each channel's ``carryover``.
2. :func:`deliver_impressions` - each channel's impressions land at random on shoppers of its
   audience, weighted by persona affinity. A shopper receives a Poisson number of impressions,
   so the share reached at mean frequency ``m`` is ``1 - exp(-m)``: reach saturates. Impressions
   past the daily frequency cap are wasted; the rest are discounted by fatigue from recent
   exposures and added to the shopper's ad stock; an unaware shopper becomes aware with
   ``awareness_per_impression`` per effective impression.
3. :func:`organic_discovery` - unaware shoppers find the brand without ads (SEO, marketplace
   browsing, walking past a store).

Each eligible shopper of a persona receives a Poisson number of impressions (mean: the persona's
impressions over its eligible shoppers), drawn one of two ways. When most of a persona's block is
eligible (audiences of channels that reach unknown shoppers), by Poisson thinning: draw candidate
shoppers uniformly from the block and keep those who qualify, which costs time in proportion to
impressions, not shoppers. When only known shoppers are eligible (CRM) or a small share of the
block, candidates would mostly be wasted: each eligible shopper draws its own count by inverting
the Poisson distribution at its own keyed uniform, which costs time in proportion to the eligible
shoppers. Both keep common random numbers: a candidate's position, or a shopper's uniform, does not
depend on how many impressions were bought, so more impressions only add hits.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .population import Funnel, State
from .touchpaths import TouchKind

if TYPE_CHECKING:
    from .channels import ChannelAgent
    from .model import CommerceModel

__all__ = ["decay_ad_stock", "deliver_impressions", "organic_discovery"]

IntArray = npt.NDArray[np.int64]

THINNING_MIN_SHARE = 0.05
"""Personas with a smaller eligible share of their block draw per eligible shopper, not by thinning."""


def decay_ad_stock(model: CommerceModel) -> None:
    """Multiply every shopper's ad stock by its channel's carryover (one day of adstock decay)."""
    stock = model.population.ad_stock
    for channel in model.channel_agents:
        stock[channel.index] *= np.float32(channel.config.carryover)


def deliver_impressions(model: CommerceModel, channel: ChannelAgent) -> None:
    """Land ``channel.today_impressions`` on shoppers and update ad stock, fatigue and awareness.

    In a batch of worlds (:mod:`simulator.engine.batch`) each world draws where its own channel's
    impressions land; the rest is worked out for every world at once.
    """
    c = channel.index
    config = channel.config
    pop = model.population
    eligible = pop.audience[c] if config.reaches_unknown else pop.audience[c] & pop.known
    plans = []
    for world, offset in model.each_world():
        expected = _expected_impressions(world, world.channel_agents[c], eligible[offset:])
        if expected is not None:
            plans.append((world, offset, *expected))
    shoppers, hits = _place(model, plans, eligible, ("impressions", c), config.reaches_unknown)
    if shoppers.size == 0:
        return
    if model.touches is not None:
        model.touches.record(shoppers, c, model.day, TouchKind.EXPOSURE)
    capped = np.minimum(hits, config.frequency_cap).astype(np.float32)

    day = model.day
    # Row views: indexing one channel's row with an index array is the fast 1-D path.
    fatigue, fatigue_day, ad_stock = pop.fatigue[c], pop.fatigue_day[c], pop.ad_stock[c]
    since = (day - fatigue_day[shoppers]).astype(np.float32)
    recent = fatigue[shoppers] * np.exp(-since / np.float32(config.fatigue_memory_days))
    effect = capped * np.exp(-np.float32(config.fatigue) * recent)
    fatigue[shoppers] = recent + capped
    fatigue_day[shoppers] = day
    ad_stock[shoppers] += effect

    unaware = pop.state[shoppers] == int(State.UNAWARE)
    if config.awareness_per_impression > 0 and unaware.any():
        candidates = shoppers[unaware]
        # 1 - (1 - a) ** effect, with exp instead of the slower pow.
        chance = -np.expm1(np.float32(math.log1p(-config.awareness_per_impression)) * effect[unaware])
        became = candidates[model.crn.uniform("awareness", day, candidates, c) < chance]
        _make_aware(model, became, c)

    model.add_to_ledger("reach", shoppers, np.full(shoppers.size, c))


def _expected_impressions(
    model: CommerceModel, channel: ChannelAgent, eligible: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None:
    """One world's impressions expected per persona today and its eligible shoppers per persona.

    ``eligible`` starts at the world's first shopper. ``None`` when nothing lands.
    """
    impressions = channel.today_impressions
    if impressions <= 0:
        return None
    table = model.population.personas
    c = channel.index
    if channel.config.reaches_unknown:
        eligible_per_persona = model.audience_per_persona[c]
    else:
        eligible_per_persona = table.count(eligible)
    if eligible_per_persona.sum() == 0:
        return None
    # Impressions split over personas by (eligible shoppers x affinity weight).
    weight = eligible_per_persona * table.channel_weight[:, c]
    if weight.sum() == 0:
        return None
    return impressions * weight / weight.sum(), eligible_per_persona


WorldPlan = tuple["CommerceModel", int, npt.NDArray[np.float64], npt.NDArray[np.float64]]
"""One world of a placement: the world, the offset of its shoppers, expected impressions per
persona, eligible shoppers per persona."""


def _place(
    model: CommerceModel,
    plans: list[WorldPlan],
    eligible: npt.NDArray[np.bool_],
    stream: tuple[str, int],
    thin: bool = True,
) -> tuple[IntArray, IntArray]:
    """Land Poisson impressions on the eligible shoppers of each persona of each world.

    Returns the shoppers hit (sorted, unique) and how many impressions each received.
    ``thin=False`` draws per eligible shopper for every persona (channels to known shoppers).
    Each world draws its own candidates; keeping the eligible ones and counting hits is done for
    all worlds at once (``eligible``: the model's flags, every world's).
    """
    shoppers: list[IntArray] = []
    hits: list[IntArray] = []
    candidates: list[npt.NDArray[np.integer[Any]]] = []
    thinned_any = False
    wide = model.population.size >= 2**31
    for world, offset, expected, eligible_per_persona in plans:
        own = eligible[offset : offset + world.population.size]
        thinned, drawn, members, counts = _candidates(
            world, expected, own, eligible_per_persona, stream, thin
        )
        thinned_any |= thinned
        if offset:
            step = np.int64(offset) if wide else np.int32(offset)  # int32 ids sort several times faster
            drawn = [(d.astype(np.int64) if wide else d) + step for d in drawn]
            members = [m + offset for m in members]
        candidates.extend(drawn)
        shoppers.extend(members)
        hits.extend(counts)
    if candidates:
        ids = np.concatenate(candidates) if len(candidates) > 1 else candidates[0]
        ids = ids[eligible[ids]]
        ids.sort()
        hit, hit_count = _runs(ids)
        shoppers.insert(0, hit.astype(np.int64))
        hits.insert(0, hit_count)
    if not shoppers:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    if len(shoppers) == 1:
        return shoppers[0], hits[0]
    everyone, times = np.concatenate(shoppers), np.concatenate(hits)
    if thinned_any:  # thinned and per-shopper personas may interleave: back to id order
        order = np.argsort(everyone, kind="stable")
        everyone, times = everyone[order], times[order]
    return everyone, times


def _candidates(
    model: CommerceModel,
    expected: npt.NDArray[np.float64],
    eligible: npt.NDArray[np.bool_],
    eligible_per_persona: npt.NDArray[np.float64],
    stream: tuple[str, int],
    thin: bool,
) -> tuple[bool, list[npt.NDArray[np.integer[Any]]], list[IntArray], list[IntArray]]:
    """One world's draws: whether it thins, thinning candidates, and per-shopper hits (ids in the world).

    Returns (thinned, candidates of thinned personas, shoppers hit and their counts of the others).
    """
    table = model.population.personas
    crn, day = model.crn, model.day
    name, index = stream
    sizes = table.stop - table.start
    share = np.divide(eligible_per_persona, sizes, out=np.zeros(sizes.size), where=sizes > 0)
    wanted = (expected > 0) & (eligible_per_persona > 0)
    thinned = wanted & (share >= THINNING_MIN_SHARE) & thin
    candidates: list[npt.NDArray[np.integer[Any]]] = []
    shoppers: list[IntArray] = []
    hits: list[IntArray] = []
    if thinned.any():
        # Candidates uniform in each persona's block, keep the eligible. One stream per call:
        # the counts from its start, persona p's candidates from its own stretch (p + 1) x 2**64
        # draws along, so more impressions add candidates at the end and keep the others.
        bits = crn.bit_generator(name, day, index)
        origin = bits.state
        draw = np.random.Generator(bits)
        counts = draw.poisson(np.where(thinned, expected / np.where(thinned, share, 1.0), 0.0))
        for p in np.flatnonzero(counts):
            bits.state = origin
            bits.advance((int(p) + 1) << 64)
            # Python ints: numpy scalars as bounds would take the slow broadcasting path.
            offsets = draw.integers(0, int(sizes[p]), int(counts[p]), dtype=np.int32)
            candidates.append(offsets + np.int32(table.start[p]))  # int32: sorts several times faster
    for p in np.flatnonzero(wanted & ~thinned):
        # Each eligible shopper inverts the Poisson distribution at its own uniform.
        lo, hi = int(table.start[p]), int(table.stop[p])
        members = lo + np.flatnonzero(eligible[lo:hi])
        count = _poisson_quantile(crn.uniform(name, day, members, index), expected[p] / members.size)
        took = count > 0
        shoppers.append(members[took])
        hits.append(count[took])
    return bool(thinned.any()), candidates, shoppers, hits


def _runs(ids: npt.NDArray[np.integer[Any]]) -> tuple[npt.NDArray[np.integer[Any]], IntArray]:
    """Distinct values of a sorted array and how many times each occurs (a lean np.unique)."""
    if ids.size == 0:
        return ids, np.empty(0, dtype=np.int64)
    first = np.empty(ids.size, dtype=np.bool_)
    first[0] = True
    np.not_equal(ids[1:], ids[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    counts = np.empty(starts.size, dtype=np.int64)
    np.subtract(starts[1:], starts[:-1], out=counts[:-1])
    counts[-1] = ids.size - starts[-1]
    return ids[starts], counts


def _poisson_quantile(uniform: npt.NDArray[np.float64], mean: float) -> IntArray:
    """Poisson(``mean``) numbers by inversion: the smallest k with P(X <= k) > ``uniform``.

    Non-decreasing in both the uniform and the mean, so a shopper's count only grows with the mean.
    """
    top = int(mean + 12.0 * math.sqrt(mean) + 30.0)
    steps = np.log(mean / np.arange(1, top + 1, dtype=np.float64))
    log_pmf = np.concatenate(([-mean], -mean + np.cumsum(steps)))
    cdf = np.cumsum(np.exp(log_pmf))
    return np.searchsorted(cdf, uniform, side="right").astype(np.int64)


def _make_aware(model: CommerceModel, shoppers: IntArray, channel_index: int) -> None:
    pop = model.population
    pop.state[shoppers] = State.AWARE
    pop.funnel[shoppers] |= np.uint8(Funnel.AWARE)
    first_time = pop.aware_channel[shoppers] < 0
    pop.aware_channel[shoppers[first_time]] = channel_index
    model.add_to_ledger("new_aware", shoppers, np.full(shoppers.size, channel_index))


def organic_discovery(model: CommerceModel) -> None:
    """Unaware shoppers discover the brand through channels' organic presence (no spend)."""
    pop = model.population
    for channel in model.channel_agents:
        rate = channel.config.organic_discovery
        if rate <= 0 or not channel.config.reaches_unknown:
            continue
        c = channel.index
        plans = []
        for world, offset in model.each_world():
            table = world.population.personas
            sizes = (table.stop - table.start).astype(np.float64)
            expected = rate * sizes * table.channel_weight[:, c]
            eligible_per_persona = world.audience_per_persona[c]
            plans.append((world, offset, expected * eligible_per_persona / sizes, eligible_per_persona))
        shoppers, _ = _place(model, plans, pop.audience[c], ("discovery", c))
        if shoppers.size == 0:
            continue
        shoppers = shoppers[pop.state[shoppers] == State.UNAWARE]
        _make_aware(model, shoppers, c)
