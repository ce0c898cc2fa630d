"""Many worlds in one step: a batch of independent simulations stepped by one vectorized model.

A simulation pays a fixed cost every day - Python and numpy call overhead per mechanism, channel
and persona, about 4 ms - whatever its number of shoppers. :class:`BatchModel` steps several
worlds (seeds, spend levels, lever settings of one scenario) together, so most of that cost is
paid once per batch:

- **Batched** (one numpy call for every world): the shopper arrays of all worlds live end to end
  in one set of arrays (world ``w``'s shoppers are ids ``offset[w]`` to ``offset[w + 1] - 1``);
  adstock decay, where impressions and discoveries are expected per (world, persona), keeping the
  eligible shoppers among candidates and counting their hits, the per-shopper Poisson counts of
  small blocks (one keyed uniform call and one table of Poisson CDFs), what impressions do to
  shoppers (fatigue, ad stock, awareness), organic discovery's effect, forgetting and visits,
  consideration, cart and checkout, the money of every order, repeat purchases and dropout,
  lifecycle states, the channel ledgers (one array of days x (worlds x channels)), every world's
  keys of a mechanism's uniforms (:func:`~simulator.engine.streams.uniform_keys`) and the seeding
  of the day's keyed count generators (:func:`~simulator.engine.streams.seed_states`).
- **Each kind of lever for every world at once**: the batch asks each kind of lever once, in
  registry order, with the worlds that built it (``Lever.word_of_mouth_together``,
  ``daily_together``, ``on_orders_together``; default: world after world). Referral starts every
  world's referred and word-of-mouth visits in one step; retargeting and win-back show their ads
  and send their offers for all worlds of one layout (same channels, same offers), loyalty and
  service book every world's orders, each world's numbers broadcast by member index
  (:class:`~simulator.levers.base.Members`). Their per-shopper arrays are joined like the
  population's (``Lever.shopper_arrays``; each world's lever keeps a view of its part).
- **Per world** (a loop over the worlds): buying media (each world's own spend plan), the draws
  of each world's keyed count generators (how many thinning candidates land on each persona and
  which: one stream per world, channel and persona), the levers' answers to the engine's
  questions (discount, conversion, checkout, shipping, points, repurchase, refractory days,
  dropout: each world's :class:`~simulator.levers.composite.Levers`, asked about that world's
  shoppers), the work of the other levers (promotions, retention, referral's orders), the state
  counts, the order log, the lifetime-value bookkeeping and the results.

Each world is an ordinary :class:`~simulator.engine.model.CommerceModel` built as it would be
alone (so its population, social graph and levers start identical), whose shopper arrays,
ledgers and joined lever arrays are then views into the batch's. Draws are common random
numbers keyed by (seed, mechanism, channel, day, shopper) (:mod:`simulator.engine.streams`): a
shopper of world ``w`` draws with ``w``'s seed key and its id within ``w``. Every batched
operation is element-wise, a stable filter, or a sum over each (world, channel) in the world's
own order (each world's own ``.sum()`` for the levers' totals), so a world stepped
in a batch gives bit-identical results to the same world simulated alone
(``tests/test_batch.py`` checks it on every bundled scenario with its levers on).

Worlds can share a batch when their scenarios differ only in the seed, the channels' spend
(``daily_spend``, ``budget_plan``) and the ``policies``; a scenario with a customer base (a twin,
whose population differs by seed) runs alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import mesa
import numpy as np
import numpy.typing as npt
import pandas as pd

from ..config.scenario import Scenario, ScenarioError
from ..levers import registry
from ..levers.base import BoolArray, Float32Array, FloatArray, IntArray, Lever, LeverOutput, OrderBatch
from ..levers.composite import Levers
from .channels import LEDGER_FIELDS
from .lifetime import CustomerBase, LastingEffect
from .model import CommerceModel
from .population import ShopperPopulation, estimate_memory_bytes
from .results import SimulationResult, collect_results
from .simulate import MEMORY_HEADROOM, available_memory_bytes
from .streams import CommonRandomNumbers, keyed_uniform, keyed_uniforms, seed_states, uniform_keys

__all__ = ["BATCH_SHOPPERS", "BatchModel", "batch_groups", "batch_size", "batchable", "simulate_batch"]

Positions = IntArray | slice
WorldLever = tuple[CommerceModel, int, Lever[Any]]
"""A world of a batch, the offset of its shoppers' ids in the batch, and one of its levers."""


def _engine_fields(scenario: Scenario) -> dict[str, Any]:
    """The scenario without what may differ between the worlds of one batch."""
    data = scenario.model_dump(
        mode="json", include={"horizon_days", "population", "economics", "lifecycle", "channels"}
    )
    for channel in data["channels"]:
        channel.pop("daily_spend", None)
        channel.pop("budget_plan", None)
    return data


def batchable(scenarios: Sequence[Scenario]) -> bool:
    """Whether these scenarios' worlds can share a batch.

    They must differ only in seed, channel spend (``daily_spend``, ``budget_plan``) and
    ``policies``, and have no customer base.
    """
    if any(s.customer_base is not None for s in scenarios):
        return False
    first = _engine_fields(scenarios[0])
    return all(_engine_fields(s) == first for s in scenarios[1:])


def batch_groups(scenarios: Sequence[Scenario]) -> list[list[int]]:
    """Positions of ``scenarios`` grouped into worlds that can share a batch (:func:`batchable`).

    Groups come in the order of their first scenario, positions in order within a group; a
    scenario with a customer base is a group of its own. Worlds of different groups (say,
    posterior members with different channel parameters) are stepped in different batches.
    """
    groups: list[list[int]] = []
    keys: list[dict[str, Any] | None] = []
    for position, scenario in enumerate(scenarios):
        fields = None if scenario.customer_base is not None else _engine_fields(scenario)
        for key, group in zip(keys, groups, strict=True):
            if fields is not None and key == fields:
                group.append(position)
                break
        else:
            keys.append(fields)
            groups.append([position])
    return groups


def _check_batch_memory(scenarios: Sequence[Scenario]) -> None:
    """Refuse a batch whose estimated peak memory exceeds 80% of the memory available now."""
    need = sum(
        estimate_memory_bytes(s.simulated_agents, len(s.channels), s.horizon_days, s.policies)
        for s in scenarios
    )
    have = available_memory_bytes()
    if need > MEMORY_HEADROOM * have:
        raise ScenarioError(
            "<batch>",
            "population.agents",
            f"{len(scenarios)} worlds need about {need / 2**30:,.1f} GiB but {have / 2**30:,.1f} GiB is "
            "available; run fewer worlds per batch (batch_size) or fewer agents",
        )


BATCH_SHOPPERS = 160_000
"""Shoppers of all worlds of a batch beyond which more worlds stop paying (agents).

A batch saves the fixed cost of a day per world but adds a little to every shopper's cost
(larger arrays, each draw looks up its world), so it pays for small worlds only. Measured with
``benchmarks/bench_batch.py`` (benchmarks/README.md, commit 049ec2a): 16 worlds of 10k agents
step 2.1-2.4 times faster as one batch, 4 worlds of 100k 1.07-1.08 times, 2 worlds of 1M
0.83-0.93 times."""


def batch_size(
    scenario: Scenario, budget_bytes: int | None = None, shoppers: int | None = BATCH_SHOPPERS
) -> int:
    """How many worlds of ``scenario`` to step in one batch (at least 1).

    Parameters
    ----------
    scenario
        The scenario of the worlds.
    budget_bytes
        Memory the batch may use (bytes); default 80% of the memory available now.
    shoppers
        At most this many shoppers in all (default :data:`BATCH_SHOPPERS`, where batches stop
        paying); ``None``: as many worlds as the memory allows.

    Notes
    -----
    Each world costs :func:`~simulator.engine.population.estimate_memory_bytes` (the estimate
    ``simulate`` checks); the batch also holds a copy of one world's shopper arrays while it
    joins them, counted as one more world.
    """
    budget = int(MEMORY_HEADROOM * available_memory_bytes()) if budget_bytes is None else budget_bytes
    agents = scenario.simulated_agents
    one = estimate_memory_bytes(agents, len(scenario.channels), scenario.horizon_days, scenario.policies)
    fits = budget // max(one, 1) - 1
    if shoppers is not None:
        fits = min(fits, shoppers // max(agents, 1))
    return max(1, fits)


class _BatchRandomNumbers(CommonRandomNumbers):
    """Each shopper's uniforms from its own world's seed key and its id within the world."""

    def __init__(self, batch: BatchModel) -> None:
        super().__init__(0)
        self._batch = batch
        self._world_keys: dict[tuple[str, int], npt.NDArray[np.uint64]] = {}
        """Today's keys of every world by (mechanism, index)."""
        self._world_keys_day: int | None = None
        self._seed_keys = np.array([w.crn.seed_key for w in batch.worlds], dtype=np.uint64)

    def _keys(self, mechanism: str, day: int, index: int) -> npt.NDArray[np.uint64]:
        """Every world's key of ``mechanism``'s uniforms on ``day`` (cached for the day)."""
        if day != self._world_keys_day:
            self._world_keys.clear()
            self._world_keys_day = day
        keys = self._world_keys.get((mechanism, index))
        if keys is None:
            keys = self._world_keys[(mechanism, index)] = uniform_keys(self._seed_keys, mechanism, day, index)
        return keys

    def uniform(
        self, mechanism: str, day: int, shoppers: npt.NDArray[np.integer[Any]], index: int = 0
    ) -> npt.NDArray[np.float64]:
        """One uniform number in [0, 1) per shopper, keyed by the shopper's world (see the base class)."""
        batch = self._batch
        world = batch.world_of(shoppers)
        return keyed_uniform(shoppers - batch.offsets[world], self._keys(mechanism, day, index)[world])

    def uniforms(
        self, mechanism: str, day: int, shoppers: npt.NDArray[np.integer[Any]], count: int, first: int = 0
    ) -> npt.NDArray[np.float64]:
        """Uniforms of several indices at once, keyed by each shopper's world (see the base class)."""
        batch = self._batch
        world = batch.world_of(shoppers)
        keys = np.stack([self._keys(mechanism, day, first + k) for k in range(count)])
        return keyed_uniforms(shoppers - batch.offsets[world], keys[:, world])

    def preseed_worlds(self, streams: Sequence[tuple[str, int]], day: int) -> None:
        """Work out every world's seed states of these (mechanism, index) streams in one pass.

        A world's keyed count generator (``world.crn.bit_generator``) then starts from its state
        at once instead of hashing its key on its own (about 12 microseconds a generator).
        """
        keys = np.concatenate([uniform_keys(self._seed_keys, name, day, index) for name, index in streams])
        states = seed_states(keys).reshape(len(streams), len(self._batch.worlds), 4)
        for (name, index), rows in zip(streams, states, strict=True):
            for world, state in zip(self._batch.worlds, rows, strict=True):
                world.crn.preseed(name, day, index, state)

    def bit_generator(self, mechanism: str, day: int, index: int = 0) -> np.random.PCG64:
        """Not defined for a batch: counts are drawn by each world (``world.crn``)."""
        raise TypeError("a batch of worlds draws counts in each world (world.crn), not in the batch")


class _WorldLevers:
    """The batch's ``levers``: asks each world's own levers about that world's shoppers."""

    def __init__(self, batch: BatchModel) -> None:
        self._batch = batch

    def _each(
        self,
        shoppers: IntArray,
        answer: Callable[[CommerceModel, IntArray, Positions], npt.NDArray[Any]],
    ) -> npt.NDArray[Any]:
        parts = [(at, answer(world, ids, at)) for world, at, ids in self._batch.by_world(shoppers)]
        if len(parts) == 1 and isinstance(parts[0][0], slice) and parts[0][1].size == shoppers.size:
            return parts[0][1]
        dtype = np.result_type(*(value for _, value in parts)) if parts else np.float64
        out = np.empty(shoppers.size, dtype=dtype)
        for at, value in parts:
            out[at] = value
        return out

    def discount(
        self, model: CommerceModel, shoppers: IntArray, channels: IntArray | None, first: BoolArray
    ) -> FloatArray:
        """Each world's discounts (see :class:`~simulator.levers.base.LeverEffects`)."""
        return self._each(
            shoppers,
            lambda w, ids, at: w.levers.discount(
                w, ids, None if channels is None else channels[at], first[at]
            ),
        )

    def conversion_factor(self, model: CommerceModel, shoppers: IntArray, first: BoolArray) -> FloatArray:
        """Each world's conversion factors."""
        return self._each(shoppers, lambda w, ids, at: w.levers.conversion_factor(w, ids, first[at]))

    def checkout_pass(self, model: CommerceModel, shoppers: IntArray, channels: IntArray) -> FloatArray:
        """Each world's checkout pass."""
        return self._each(shoppers, lambda w, ids, at: w.levers.checkout_pass(w, ids, channels[at]))

    def shipping_fee(self, model: CommerceModel, shoppers: IntArray) -> FloatArray:
        """Each world's shipping fees."""
        return self._each(shoppers, lambda w, ids, at: w.levers.shipping_fee(w, ids))

    def redeem_points(self, model: CommerceModel, shoppers: IntArray, value: FloatArray) -> FloatArray:
        """Each world's points redeemed."""
        return self._each(shoppers, lambda w, ids, at: w.levers.redeem_points(w, ids, value[at]))

    def repurchase_factor(self, model: CommerceModel, shoppers: IntArray) -> FloatArray:
        """Each world's repurchase factors."""
        return self._each(shoppers, lambda w, ids, at: w.levers.repurchase_factor(w, ids))

    def refractory_days(self, model: CommerceModel, shoppers: IntArray) -> FloatArray:
        """Each world's refractory days."""
        return self._each(shoppers, lambda w, ids, at: w.levers.refractory_days(w, ids))

    def dropout_factor(self, model: CommerceModel, shoppers: IntArray) -> Float32Array:
        """Each world's dropout factors."""
        return self._each(shoppers, lambda w, ids, at: w.levers.dropout_factor(w, ids))

    def on_orders(self, model: CommerceModel, batch: OrderBatch) -> None:
        """Each world's levers see their world's orders, then act on them (as :meth:`Levers.on_orders`).

        Each kind of lever sees every world's orders at once, in registry order.
        """
        parts: dict[int, OrderBatch] = {}
        worlds = []
        for world, at, ids in self._batch.by_world(batch.shoppers):
            part = batch if isinstance(at, slice) and at == slice(None) else batch.take(at)  # type: ignore[arg-type]
            parts[id(world)] = replace(part, shoppers=ids)
            worlds.append(world)
        kinds = self._each_kind()
        if kinds is None:
            for world in worlds:
                world.levers.on_orders(world, parts[id(world)])
            return
        by_kind = [(kind, [m for m in members if id(m[0]) in parts]) for kind, members in kinds]
        for kind, members in by_kind:
            if members:
                kind.on_orders_together(self._batch, members, batch, parts)
        for _, members in by_kind:
            for world, _, program in members:
                program.after_orders(world, parts[id(world)])

    def _each_kind(
        self,
    ) -> Iterator[tuple[type[Lever[Any]], list[tuple[CommerceModel, int, Lever[Any]]]]] | None:
        """Each kind of lever built in some world, in registry order, with the worlds that built it.

        ``None`` unless every world has plain :class:`~simulator.levers.composite.Levers` (an A/B
        test's arms ask their own way).
        """
        batch = self._batch
        if not all(type(world.levers) is Levers for world in batch.worlds):
            return None
        members: dict[type[Lever[Any]], list[WorldLever]] = defaultdict(list)
        for world, offset in batch.each_world():
            assert isinstance(world.levers, Levers)
            for program in world.levers.own:
                members[type(program)].append((world, offset, program))
        return ((kind, members[kind]) for kind in registry.REGISTRY if kind in members)

    def word_of_mouth(self, model: CommerceModel) -> None:
        """Each world's word of mouth, each kind of lever for every world at once (in registry order)."""
        kinds = self._each_kind()
        if kinds is None:
            for world in self._batch.worlds:
                world.levers.word_of_mouth(world)
            return
        for kind, members in kinds:
            kind.word_of_mouth_together(self._batch, members)

    def daily(self, model: CommerceModel) -> None:
        """Each world's levers' daily work, then their end of day (as :meth:`Levers.daily`).

        Each kind of lever works for every world at once, in registry order.
        """
        kinds = self._each_kind()
        if kinds is None:
            for world in self._batch.worlds:
                world.levers.daily(world)
            return
        by_kind = list(kinds)
        for kind, members in by_kind:
            kind.daily_together(self._batch, members)
        for _, members in by_kind:
            for world, _, program in members:
                program.end_of_day(world)

    def lasting_effect(self, model: CommerceModel, customers: CustomerBase) -> LastingEffect:
        """Asked of each world (``world.levers``), never of the batch."""
        raise TypeError("ask a world's levers (world.levers), not the batch's")

    def lasting_days(self, model: CommerceModel) -> int:
        """Asked of each world, never of the batch."""
        raise TypeError("ask a world's levers (world.levers), not the batch's")

    def results(self, model: CommerceModel, daily_orders: pd.Series) -> LeverOutput:
        """Collected per world (:func:`~simulator.engine.results.collect_results`), never for the batch."""
        raise TypeError("collect each world's results, not the batch's")


class BatchModel(CommerceModel):
    """Several independent worlds of one scenario stepped together, one day at a time.

    Parameters
    ----------
    worlds
        Models built but not yet stepped, whose scenarios :func:`batchable` accepts. They keep
        working as models: after :meth:`run`, :func:`~simulator.engine.results.collect_results`
        of each gives that world's results.

    Attributes
    ----------
    worlds : list of CommerceModel
        The worlds, in order.
    offsets : numpy.ndarray
        First shopper id of each world in the batch's arrays, then the total (worlds + 1).
    """

    def __init__(self, worlds: Sequence[CommerceModel]) -> None:
        if not worlds:
            raise ValueError("a batch needs at least one world")
        if any(w.day for w in worlds):
            raise ValueError("a batch joins worlds before their first day")
        if not batchable([w.scenario for w in worlds]):
            raise ScenarioError(
                "<batch>",
                "channels",
                "worlds of one batch may differ only in seed, channel spend and policies; no customer base",
            )
        first = worlds[0]
        mesa.Model.__init__(self, rng=first.seed)
        self.worlds = list(worlds)
        self.seed = first.seed
        self.scenario = first.scenario
        self.horizon_days = first.horizon_days
        self.scale = first.scale
        self.day = 0
        sizes = np.array([w.population.size for w in worlds], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)])
        self.population = self._join_populations()
        n_channels = len(first.channel_agents)
        self._ledger_width = len(worlds) * n_channels
        self.ledger = {f: np.zeros((self.horizon_days, self._ledger_width)) for f in LEDGER_FIELDS}
        for w, world in enumerate(worlds):
            for field in LEDGER_FIELDS:
                columns = self.ledger[field][:, w * n_channels : (w + 1) * n_channels]
                columns[...] = world.ledger[field]
                world.ledger[field] = columns
            for channel in world.channel_agents:
                channel.ledger = {f: world.ledger[f][:, channel.index] for f in LEDGER_FIELDS}
            world.decisions_to = (self, int(self.offsets[w]))
        self.channel_agents = first.channel_agents
        """The channels' settings (world 0's agents; each world buys its own media)."""
        self.channel_friction = first.channel_friction
        self.channel_commission = first.channel_commission
        self.channel_fee_per_order = first.channel_fee_per_order
        self.shipping_pass = first.shipping_pass
        self.batch_crn = _BatchRandomNumbers(self)
        self.crn = self.batch_crn
        streams = [("impressions", c.index) for c in self.channel_agents]
        streams += [
            ("discovery", c.index)
            for c in self.channel_agents
            if c.config.organic_discovery > 0 and c.config.reaches_unknown
        ]
        kinds = {kind for world in worlds for kind, _ in registry.active_levers(world.scenario.policies)}
        streams += [(name, 0) for kind in registry.REGISTRY if kind in kinds for name in kind.count_streams]
        self._count_streams = streams
        """The streams of the keyed count generators of exposure (:mod:`simulator.engine.exposure`)
        and of the levers (``Lever.count_streams``), seeded for every world at the start of a day."""
        self.lever_arrays = self._join_lever_arrays()
        """Each kind of lever's :attr:`~simulator.levers.base.Lever.shopper_arrays` over the
        batch's shoppers, by (kind, name), when every world built that kind."""
        self.levers = _WorldLevers(self)
        self.touches = None
        self.order_log = None
        self._decisions = defaultdict(list)
        self.decisions_to = None

    def _join_populations(self) -> ShopperPopulation:
        """One set of arrays, world after world; each world's arrays become views into them."""
        pops = [w.population for w in self.worlds]
        joined = ShopperPopulation.__new__(ShopperPopulation)
        for name, value in vars(pops[0]).items():
            if isinstance(value, np.ndarray) and value.shape[-1:] == (pops[0].size,):
                whole = np.concatenate([getattr(p, name) for p in pops], axis=-1)
                setattr(joined, name, whole)
                for p, lo, hi in zip(pops, self.offsets[:-1], self.offsets[1:], strict=True):
                    setattr(p, name, whole[..., lo:hi])
            else:
                setattr(joined, name, value)
        joined.size = int(self.offsets[-1])
        return joined

    def _join_lever_arrays(self) -> dict[tuple[type[Lever[Any]], str], npt.NDArray[Any]]:
        """Join the levers' per-shopper arrays, as :meth:`_join_populations` the population's."""
        if not all(type(w.levers) is Levers for w in self.worlds):
            return {}
        programs: dict[type[Lever[Any]], list[Lever[Any]]] = defaultdict(list)
        for world in self.worlds:
            assert isinstance(world.levers, Levers)
            for program in world.levers.own:
                programs[type(program)].append(program)
        joined: dict[tuple[type[Lever[Any]], str], npt.NDArray[Any]] = {}
        for kind, built in programs.items():
            if len(built) < len(self.worlds):
                continue
            for name in kind.shopper_arrays:
                whole = np.concatenate([getattr(p, name) for p in built], axis=-1)
                for program, lo, hi in zip(built, self.offsets[:-1], self.offsets[1:], strict=True):
                    setattr(program, name, whole[..., lo:hi])
                joined[(kind, name)] = whole
        return joined

    @property
    def ledger_width(self) -> int:
        """Columns of the ledger's arrays: channels of world 0, then of world 1, ..."""
        return self._ledger_width

    def world_of(self, shoppers: npt.NDArray[np.integer[Any]]) -> IntArray:
        """World index of each shopper id."""
        return np.searchsorted(self.offsets[1:], shoppers, side="right").astype(np.int64)

    def recovery_window(self, shoppers: IntArray) -> IntArray:
        """The recovery window of each shopper's world (retargeting sets a world's; days)."""
        windows = np.array([w.recovery_window_days for w in self.worlds], dtype=np.int64)
        return windows[self.world_of(shoppers)]

    def ledger_columns(self, shoppers: IntArray, channels: IntArray) -> IntArray:
        """Ledger column of each shopper's channel in the shopper's world."""
        return self.world_of(shoppers) * len(self.channel_agents) + channels

    def each_world(self) -> Iterator[tuple[CommerceModel, int]]:
        """Each world and the offset of its shoppers' ids in the batch."""
        for world, offset in zip(self.worlds, self.offsets[:-1], strict=False):
            yield world, int(offset)

    def by_world(self, shoppers: IntArray) -> Iterator[tuple[CommerceModel, Positions, IntArray]]:
        """Split shoppers by world (worlds with none are skipped); each world's keep their order."""
        world = self.world_of(shoppers)
        counts = np.bincount(world, minlength=len(self.worlds))
        ordered = bool(np.all(world[1:] >= world[:-1]))
        order = None if ordered else np.argsort(world, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(counts)])
        for w in np.flatnonzero(counts):
            lo, hi = int(bounds[w]), int(bounds[w + 1])
            at: Positions = slice(lo, hi) if order is None else order[lo:hi]
            yield self.worlds[w], at, shoppers[at] - self.offsets[w]

    def buy_media(self) -> None:
        """Each world's channels buy that world's media; the day's count generators are seeded."""
        for world in self.worlds:
            world.day = self.day
            world.buy_media()
        if len(self.worlds) > 1:
            self.batch_crn.preseed_worlds(self._count_streams, self.day)

    def end_day(self) -> None:
        """Record each world's state counts and move every world to the next day."""
        for world in self.worlds:
            world.end_day()
        self.day += 1
        self.running = self.day < self.horizon_days

    def release(self) -> None:
        """Let the batch and its worlds be garbage-collected (see :meth:`CommerceModel.release`)."""
        for world in self.worlds:
            world.release()
        super().release()


def simulate_batch(
    runs: Sequence[tuple[Scenario, int]], progress: bool = False, order_log: bool = True
) -> list[SimulationResult]:
    """Simulate several worlds of one scenario as one batch; the same results as one by one.

    Parameters
    ----------
    runs
        (scenario, seed) of each world; the scenarios may differ only in channel spend and
        policies (:func:`batchable`).
    progress
        Show a progress bar over days.
    order_log
        Keep every order (``SimulationResult.orders``); ``False`` saves memory.

    Returns
    -------
    list of SimulationResult
        One per run, in order, identical to ``simulate(scenario, seed=seed)`` of each.
    """
    _check_batch_memory([scenario for scenario, _ in runs])
    worlds = [CommerceModel(scenario, seed=seed) for scenario, seed in runs]
    if not order_log:
        for world in worlds:
            world.order_log = None
    batch = BatchModel(worlds)
    try:
        batch.run(progress=progress)
        return [collect_results(world) for world in worlds]
    finally:
        batch.release()
