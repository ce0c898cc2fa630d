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
    expected, eligible_per_persona = _expected_impressions(model, c, eligible)
    shoppers, hits = _place(
        model, expected, eligible_per_persona, eligible, ("impressions", c), config.reaches_unknown
    )
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
    model: CommerceModel, c: int, eligible: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Each world's impressions of channel ``c`` expected per persona today, and eligible shoppers.

    Both are worlds x personas; a world where nothing lands expects 0 everywhere.
    ``eligible``: the model's flags (every world's).
    """
    worlds = list(model.each_world())
    table = model.population.personas
    impressions = np.array([w.channel_agents[c].today_impressions for w, _ in worlds], dtype=np.float64)
    if model.channel_agents[c].config.reaches_unknown:
        eligible_per_persona = np.stack([w.audience_per_persona[c] for w, _ in worlds])
    else:
        eligible_per_persona = np.stack([table.count(eligible[o : o + w.population.size]) for w, o in worlds])
    # Impressions split over personas by (eligible shoppers x affinity weight).
    weight = eligible_per_persona * table.channel_weight[:, c]
    total = weight.sum(axis=1)
    lands = (impressions > 0) & (eligible_per_persona.sum(axis=1) > 0) & (total > 0)
    expected = np.zeros_like(weight)
    expected[lands] = impressions[lands, None] * weight[lands] / total[lands, None]
    return expected, eligible_per_persona


def _place(
    model: CommerceModel,
    expected: npt.NDArray[np.float64],
    eligible_per_persona: npt.NDArray[np.float64],
    eligible: npt.NDArray[np.bool_],
    stream: tuple[str, int],
    thin: bool = True,
) -> tuple[IntArray, IntArray]:
    """Land Poisson impressions on the eligible shoppers of each persona of each world.

    ``expected`` and ``eligible_per_persona``: impressions expected and eligible shoppers of each
    world (row, in the order of ``model.each_world()``) and persona (column); ``eligible``: the
    model's flags, every world's. Returns the shoppers hit (sorted, unique) and how many
    impressions each received. ``thin=False`` draws per eligible shopper for every persona
    (channels to known shoppers). Each world draws its own thinning candidates from its own keyed
    generator; everything else is done for all worlds at once.
    """
    table = model.population.personas
    sizes = table.stop - table.start
    share = np.divide(eligible_per_persona, sizes, out=np.zeros(eligible_per_persona.shape), where=sizes > 0)
    wanted = (expected > 0) & (eligible_per_persona > 0)
    thinned = wanted & (share >= THINNING_MIN_SHARE) & thin
    direct = wanted & ~thinned
    worlds = list(model.each_world())
    parts: list[tuple[IntArray, IntArray]] = []
    if thinned.any():
        mean = np.where(thinned, expected / np.where(thinned, share, 1.0), 0.0)
        ids = _thinning_candidates(model, worlds, mean, stream)
        ids = ids[eligible[ids]]
        ids.sort()
        hit, hit_count = _runs(ids)
        parts.append((hit.astype(np.int64), hit_count))
    if direct.any():
        parts.append(_per_shopper(model, worlds, expected, direct, eligible, stream))
    if not parts:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    if len(parts) == 1:
        return parts[0]
    everyone = np.concatenate([shoppers for shoppers, _ in parts])
    times = np.concatenate([hits for _, hits in parts])
    # Thinned and per-shopper personas interleave: back to id order.
    order = np.argsort(everyone, kind="stable")
    return everyone[order], times[order]


World = tuple["CommerceModel", int]
"""A world and the offset of its shoppers' ids in the model (``model.each_world()``)."""


def _thinning_candidates(
    model: CommerceModel,
    worlds: list[World],
    mean: npt.NDArray[np.float64],
    stream: tuple[str, int],
) -> npt.NDArray[np.integer[Any]]:
    """Candidate shoppers (ids in the model, with repeats) uniform in the personas' blocks.

    ``mean``: candidates expected in each world's (row) persona's (column) block. Each world
    draws from its own stream, one per call: the counts from its start, persona p's
    candidates from its own stretch (p + 1) x 2**64 draws along, so more impressions add
    candidates at the end and keep the others.
    """
    table = model.population.personas
    sizes = table.stop - table.start
    name, index = stream
    drawn: list[npt.NDArray[np.int32]] = []
    base: list[int] = []
    for w in np.flatnonzero(mean.any(axis=1)):
        world, offset = worlds[w]
        bits = world.crn.bit_generator(name, world.day, index)
        origin = bits.state
        draw = np.random.Generator(bits)
        counts = draw.poisson(mean[w])
        for p in np.flatnonzero(counts):
            bits.state = origin
            bits.advance((int(p) + 1) << 64)
            # Python ints: numpy scalars as bounds would take the slow broadcasting path.
            drawn.append(draw.integers(0, int(sizes[p]), int(counts[p]), dtype=np.int32))
            base.append(offset + int(table.start[p]))
    if not drawn:
        return np.empty(0, dtype=np.int32)
    ids = np.concatenate(drawn) if len(drawn) > 1 else drawn[0]
    lengths = [d.size for d in drawn]
    if model.population.size >= 2**31:
        return ids.astype(np.int64) + np.repeat(np.array(base, dtype=np.int64), lengths)
    # int32 ids sort several times faster.
    ids += np.repeat(np.array(base, dtype=np.int32), lengths)
    return ids


def _per_shopper(
    model: CommerceModel,
    worlds: list[World],
    expected: npt.NDArray[np.float64],
    direct: npt.NDArray[np.bool_],
    eligible: npt.NDArray[np.bool_],
    stream: tuple[str, int],
) -> tuple[IntArray, IntArray]:
    """Per-shopper counts in the ``direct`` (world, persona) blocks: the shoppers hit and their counts.

    Each eligible shopper inverts the Poisson distribution at its own keyed uniform. The shoppers
    come in id order.
    """
    table = model.population.personas
    name, index = stream
    members: list[IntArray] = []
    for w, p in zip(*np.nonzero(direct), strict=True):
        offset = worlds[w][1]
        lo, hi = offset + int(table.start[p]), offset + int(table.stop[p])
        members.append(lo + np.flatnonzero(eligible[lo:hi]))
    sizes = np.array([m.size for m in members], dtype=np.int64)
    shoppers = np.concatenate(members) if len(members) > 1 else members[0]
    uniform = model.crn.uniform(name, model.day, shoppers, index)
    cdf, length = _poisson_cdfs(expected[direct] / sizes)
    count = np.empty(shoppers.size, dtype=np.int64)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    for g in range(sizes.size):
        lo, hi = int(bounds[g]), int(bounds[g + 1])
        count[lo:hi] = np.searchsorted(cdf[g, : length[g]], uniform[lo:hi], side="right")
    took = count > 0
    return shoppers[took], count[took]


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


def _poisson_cdfs(means: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], IntArray]:
    """Cumulative Poisson probabilities P(X <= k) of each mean (rows), k = 0 .. its row's length - 1.

    A row's length covers ``mean + 12 sqrt(mean) + 30``; past it, a row holds more terms that
    its length leaves out. The smallest k with P(X <= k) > u is then
    ``searchsorted(row[:length], u, side="right")``: Poisson numbers by inversion, non-decreasing
    in both the uniform and the mean, so a shopper's count only grows with the mean.
    """
    top = (means + 12.0 * np.sqrt(means) + 30.0).astype(np.int64)
    steps = np.log(means[:, None] / np.arange(1, int(top.max()) + 1, dtype=np.float64))
    log_pmf = np.empty((means.size, steps.shape[1] + 1))
    log_pmf[:, 0] = -means
    np.cumsum(steps, axis=1, out=log_pmf[:, 1:])
    log_pmf[:, 1:] += -means[:, None]
    return np.cumsum(np.exp(log_pmf), axis=1), top + 1


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
    table = pop.personas
    sizes = (table.stop - table.start).astype(np.float64)
    worlds = [world for world, _ in model.each_world()]
    for channel in model.channel_agents:
        rate = channel.config.organic_discovery
        if rate <= 0 or not channel.config.reaches_unknown:
            continue
        c = channel.index
        eligible_per_persona = np.stack([world.audience_per_persona[c] for world in worlds])
        expected = rate * sizes * table.channel_weight[:, c]
        expected = expected * eligible_per_persona / sizes
        shoppers, _ = _place(model, expected, eligible_per_persona, pop.audience[c], ("discovery", c))
        if shoppers.size == 0:
            continue
        shoppers = shoppers[pop.state[shoppers] == State.UNAWARE]
        _make_aware(model, shoppers, c)
