"""The shopper population, stored as a structure of arrays (one slot per shopper).

Shoppers are agents with their own state and attributes, but they live in numpy arrays and
are stepped with vectorized operations (see DESIGN.md). Shoppers of one persona occupy one
contiguous block of ids, so a persona's shoppers are ``ids[start:stop]`` and a random shopper
of a persona is one integer draw.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from ..config.policies import Policies
from ..config.scenario import Scenario

if TYPE_CHECKING:
    from .twin import TwinLayout

__all__ = [
    "NO_DAY",
    "Funnel",
    "MemoryEstimate",
    "PersonaTable",
    "ShopperPopulation",
    "State",
    "estimate_memory",
    "estimate_memory_bytes",
]

NO_DAY = np.int32(-(2**30))
"""Marker for "never" in day fields (first purchase, last purchase, ...)."""


class State(IntEnum):
    """Observable lifecycle state of a shopper; every shopper is in exactly one."""

    UNAWARE = 0
    AWARE = 1
    CONSIDERING = 2
    ACTIVE = 3
    LAPSED = 4
    CHURNED = 5


class Funnel(IntEnum):
    """Bit flags: the furthest funnel stages a shopper has ever reached in the horizon."""

    AWARE = 1
    VISITED = 2
    CARTED = 4
    ORDERED = 8
    REPEATED = 16


@dataclass(frozen=True)
class PersonaTable:
    """Persona parameters as arrays indexed by persona (P) and channel (C)."""

    names: list[str]
    start: npt.NDArray[np.int64]
    stop: npt.NDArray[np.int64]
    share: npt.NDArray[np.float64]
    channel_weight: npt.NDArray[np.float64]
    """(P, C) affinity normalized so that the population mean of every channel's weight is 1."""
    price_sensitivity: npt.NDArray[np.float64]
    basket_log_mean: npt.NDArray[np.float64]
    basket_log_sigma: npt.NDArray[np.float64]
    consideration_min: npt.NDArray[np.int64]
    consideration_max: npt.NDArray[np.int64]
    compare_prob: npt.NDArray[np.float64]
    cart_rate: npt.NDArray[np.float64]
    refractory_days: npt.NDArray[np.float64]

    def count(self, mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
        """Number of ``True`` entries of a per-shopper mask in each persona's block."""
        return np.array(
            [np.count_nonzero(mask[lo:hi]) for lo, hi in zip(self.start, self.stop, strict=True)],
            dtype=np.float64,
        )

    @classmethod
    def from_scenario(
        cls, scenario: Scenario, agents: int, counts: npt.NDArray[np.int64] | None = None
    ) -> PersonaTable:
        """Build the table and the contiguous id blocks for ``agents`` shoppers.

        ``counts`` gives each persona's number of shoppers (a twin's drawn segments); by default
        the personas' shares of ``agents``, rounded by largest remainder.
        """
        personas = scenario.population.personas
        names = list(personas)
        channels = scenario.channel_names
        if counts is None:
            share = np.array([personas[n].share for n in names], dtype=np.float64)
            share = share / share.sum()
            # Largest-remainder rounding so the blocks add up to exactly ``agents``.
            exact = share * agents
            counts = np.floor(exact).astype(np.int64)
            counts[np.argsort(counts - exact)[: agents - counts.sum()]] += 1
        else:
            share = counts / max(int(counts.sum()), 1)
        stop = np.cumsum(counts)
        start = stop - counts
        affinity = np.array(
            [[personas[n].channel_affinity.get(c, 1.0) for c in channels] for n in names], dtype=np.float64
        )
        mean_affinity = share @ affinity
        weight = np.divide(affinity, mean_affinity, out=np.zeros_like(affinity), where=mean_affinity > 0)
        extra_channels = max(len(channels) - 1, 1)
        return cls(
            names=names,
            start=start,
            stop=stop,
            share=share,
            channel_weight=weight,
            price_sensitivity=np.array([personas[n].price_sensitivity for n in names]),
            basket_log_mean=np.array(
                [
                    np.log(personas[n].basket_value.mean) - personas[n].basket_value.sigma ** 2 / 2
                    for n in names
                ]
            ),
            basket_log_sigma=np.array([personas[n].basket_value.sigma for n in names]),
            consideration_min=np.array([personas[n].consideration_days[0] for n in names], dtype=np.int64),
            consideration_max=np.array([personas[n].consideration_days[1] for n in names], dtype=np.int64),
            compare_prob=np.array([min(1.0, personas[n].channels_compared / extra_channels) for n in names]),
            cart_rate=np.array([personas[n].cart_rate for n in names]),
            refractory_days=np.array([personas[n].repurchase.refractory_days for n in names]),
        )


# Memory of a run, fitted to the peak resident memory measured by benchmarks/bench_scale.py
# (docs/scale.md). Bytes per shopper of the arrays below, per channel and fixed:
_BYTES_PER_SHOPPER_CHANNEL = 4 + 4 + 2 + 1  # ad_stock, fatigue, fatigue_day, audience
_BYTES_PER_SHOPPER = 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 4 * 8 + 4 + 4 + 4 + 4 + 4
WORKING_BYTES_PER_SHOPPER = 144
"""Working copies of a day's mechanisms and of building the results, per shopper (bytes):
the ``customers`` table, the day's draws and masks, the expected lifetime value's groups."""
BYTES_PER_ORDER = 86
"""The order log while running (day, shopper, channel, revenue, margin, first: 26 bytes) and
``SimulationResult.orders`` built from it while the log is still held (bytes per order)."""
BYTES_PER_TOUCH = 73
"""A recorded touch in the conversion log and in the ``touches`` and ``paths`` tables built
from it (bytes per touch; :mod:`simulator.engine.touchpaths`)."""
LIFETIME_PEAK_BYTES = 40_000_000
"""What the expected lifetime value's grids (at most
:data:`simulator.engine.lifetime.WORKING_BYTES` at a time) and the heap they leave add to the
peak (bytes; measured 30-60 MB with the grids at their cap)."""


@dataclass(frozen=True)
class MemoryEstimate:
    """Peak memory a simulation adds to the process running it, by part (bytes).

    ``total`` is what :func:`simulator.engine.simulate.check_memory` compares with the limit;
    the process's peak resident memory is about its resident memory before the run plus ``total``.
    """

    shoppers: int
    """The population's arrays, the levers' and the touch recorder's (bytes)."""
    working: int
    """Working copies of the days and of the result tables (bytes)."""
    orders: int
    """The order log and the orders table (bytes)."""
    touches: int
    """The recorded touch paths and their tables (bytes); 0 when paths are not recorded."""
    ledgers: int
    """Daily ledgers and the lifetime value's grids (bytes)."""

    @property
    def total(self) -> int:
        """Sum of the parts (bytes)."""
        return self.shoppers + self.working + self.orders + self.touches + self.ledgers


def estimate_memory(
    agents: int,
    channels: int,
    days: int,
    policies: Policies | None = None,
    *,
    orders: float | None = None,
    touches: float | None = None,
    record_paths: bool = False,
) -> MemoryEstimate:
    """Estimate the peak memory a simulation adds, before anything is allocated (bytes, by part).

    Parameters
    ----------
    agents
        Shoppers simulated (agents).
    channels
        Number of channels.
    days
        Horizon (days).
    policies
        The scenario's levers: their arrays count as each lever declares
        (``Lever.bytes_per_shopper``).
    orders
        Orders the run books (agent orders); default :data:`DEFAULT_ORDERS_PER_SHOPPER_DAY` a
        shopper-day. :func:`simulator.engine.simulate.estimate_run_memory` measures it on a pilot run.
    touches
        Touches recorded (with ``record_paths``); default :data:`DEFAULT_TOUCHES_PER_SHOPPER_DAY`
        a shopper-day.
    record_paths
        Whether touch paths are recorded (``simulate(..., record_paths=True)``).
    """
    from ..levers.registry import lever_bytes_per_shopper
    from .lifetime import GRIDS
    from .touchpaths import recorder_bytes_per_shopper

    shopper_days = agents * days
    if orders is None:
        orders = DEFAULT_ORDERS_PER_SHOPPER_DAY * shopper_days
    if touches is None:
        touches = DEFAULT_TOUCHES_PER_SHOPPER_DAY * shopper_days
    per_shopper = _BYTES_PER_SHOPPER + channels * _BYTES_PER_SHOPPER_CHANNEL
    per_shopper += lever_bytes_per_shopper(policies)
    if record_paths:
        per_shopper += recorder_bytes_per_shopper()
    # The lifetime value's grids are about 128 days wide with the bundled levers.
    ledgers = days * channels * 20 * 8 + min(LIFETIME_PEAK_BYTES, agents * GRIDS * 8 * 128)
    return MemoryEstimate(
        shoppers=agents * per_shopper,
        working=agents * WORKING_BYTES_PER_SHOPPER,
        orders=int(orders * BYTES_PER_ORDER),
        touches=int(touches * BYTES_PER_TOUCH) if record_paths else 0,
        ledgers=ledgers,
    )


DEFAULT_ORDERS_PER_SHOPPER_DAY = 0.004
"""Orders a shopper-day assumed without a pilot run (the bundled scenarios book 0.001-0.003)."""
DEFAULT_TOUCHES_PER_SHOPPER_DAY = 0.06
"""Touches a shopper-day assumed without a pilot run (the bundled scenarios record about 0.05)."""


def estimate_memory_bytes(agents: int, channels: int, days: int, policies: Policies | None = None) -> int:
    """Estimate the peak memory a simulation adds, before anything is allocated (bytes).

    :func:`estimate_memory` in one figure, with the default orders per shopper-day and no touch paths.
    """
    return estimate_memory(agents, channels, days, policies).total


class ShopperPopulation:
    """All shoppers of one simulation as arrays; see the attributes for units.

    Parameters
    ----------
    scenario
        The validated scenario.
    rng
        The model's random generator; every draw comes from it.
    """

    def __init__(self, scenario: Scenario, rng: np.random.Generator) -> None:
        pop = scenario.population
        twin: TwinLayout | None = None
        if scenario.customer_base is not None:
            from .twin import twin_layout

            twin = twin_layout(scenario, rng)
        n = pop.agents if twin is None else int(twin.counts.sum())
        n_channels = len(scenario.channels)
        self.size = n
        self.twin = twin
        """Where a twin's agents come from and their drawn traits (``None`` without a customer base)."""
        self.personas = PersonaTable.from_scenario(scenario, n, None if twin is None else twin.counts)
        self.persona = np.empty(n, dtype=np.int8)
        for p, (lo, hi) in enumerate(zip(self.personas.start, self.personas.stop, strict=True)):
            self.persona[lo:hi] = p

        self.state = np.full(n, State.UNAWARE, dtype=np.int8)
        self.funnel = np.zeros(n, dtype=np.uint8)
        self.known = np.zeros(n, dtype=np.bool_)
        """Reachable by channels that only reach known shoppers (bought or opted in)."""
        self.ad_stock = np.zeros((n_channels, n), dtype=np.float32)
        """Adstock of effective impressions per channel (impressions, decaying daily)."""
        self.fatigue = np.zeros((n_channels, n), dtype=np.float32)
        self.fatigue_day = np.zeros((n_channels, n), dtype=np.int16)
        self.audience = rng.random((n_channels, n), dtype=np.float32) < np.array(
            [[c.audience_share] for c in scenario.channels], dtype=np.float32
        )
        """Whether each shopper can be reached by each channel at all (fixed for the run)."""
        self.decision_day = np.full(n, NO_DAY, dtype=np.int32)
        self.compare_mask = np.zeros(n, dtype=np.uint8)
        """Bit c set when the shopper compared channel c during the current consideration."""
        self.aware_channel = np.full(n, -1, dtype=np.int8)
        self.acquisition_channel = np.full(n, -1, dtype=np.int8)
        self.first_purchase_day = np.full(n, NO_DAY, dtype=np.int32)
        self.last_purchase_day = np.full(n, NO_DAY, dtype=np.int32)
        self.abandoned_cart_day = np.full(n, NO_DAY, dtype=np.int32)
        """Day of the last cart abandoned and not yet recovered (NO_DAY when none)."""
        self.abandoned_cart_channel = np.full(n, -1, dtype=np.int8)
        self.browsed_day = np.full(n, NO_DAY, dtype=np.int32)
        """Day a consideration last ended without a cart (browsed, did not buy)."""
        self.orders = np.zeros(n, dtype=np.int32)
        self.revenue = np.zeros(n, dtype=np.float64)
        self.contribution = np.zeros(n, dtype=np.float64)

        # Latent individual traits, drawn once (NBD/BG-NBD heterogeneity).
        self.purchase_rate = np.empty(n, dtype=np.float32)
        """Repeat purchases per day of a live customer (gamma across shoppers)."""
        self.dropout_prob = np.empty(n, dtype=np.float32)
        """Chance of dropping out for good after each repeat purchase (beta across shoppers)."""
        self.basket_log_mean: npt.NDArray[np.float64] | None = None
        """A twin's per-shopper mean log list value of an order (else the persona's)."""
        self.arrival_day: npt.NDArray[np.int32] | None = None
        """A twin's day of each new customer's first purchase (``NO_DAY``: none scheduled)."""
        self.arrival_order: npt.NDArray[np.int64] | None = None
        """Shoppers with a scheduled first purchase, by day."""
        self.pending_audience: npt.NDArray[np.bool_] | None = None
        """Audiences of the scheduled new customers, joined on their first purchase."""
        self.alive = np.ones(n, dtype=np.bool_)
        """False once a customer has dropped out (invisible: the state still follows recency)."""
        if twin is not None:
            self._start_twin(scenario, twin, rng)
            return
        for p, name in enumerate(self.personas.names):
            lo, hi = int(self.personas.start[p]), int(self.personas.stop[p])
            persona = pop.personas[name]
            shape = persona.repurchase.shape
            self.purchase_rate[lo:hi] = rng.gamma(
                shape, 1.0 / (shape * persona.repurchase.mean_days_between), hi - lo
            )
            mean, conc = persona.dropout.mean, persona.dropout.concentration
            if mean <= 0.0 or mean >= 1.0:
                self.dropout_prob[lo:hi] = mean
            else:
                self.dropout_prob[lo:hi] = rng.beta(mean * conc, (1 - mean) * conc, hi - lo)

        self._initial_states(scenario, rng)

    def _start_twin(self, scenario: Scenario, twin: TwinLayout, rng: np.random.Generator) -> None:
        """Existing customers as their history left them; new ones outside the market until they arrive."""
        self.purchase_rate[:] = twin.purchase_rate
        self.dropout_prob[:] = twin.dropout_prob
        self.alive[:] = twin.alive
        self.basket_log_mean = twin.basket_log_mean
        existing = twin.existing
        rows = twin.row[existing]
        histories = twin.histories
        self.first_purchase_day[existing] = histories.first_day[rows]
        self.last_purchase_day[existing] = histories.last_day[rows]
        self.known[existing] = True
        recency = -histories.last_day[rows]
        lapsed, churned = scenario.lifecycle.lapsed_after_days, scenario.lifecycle.churned_after_days
        self.state[existing] = np.where(
            recency >= churned, State.CHURNED, np.where(recency >= lapsed, State.LAPSED, State.ACTIVE)
        )
        scheduled = np.flatnonzero(twin.arrival_day != NO_DAY)
        if scheduled.size:
            self.arrival_day = twin.arrival_day
            self.arrival_order = scheduled[np.argsort(twin.arrival_day[scheduled], kind="stable")]
            self.pending_audience = self.audience.copy()
            self.audience[:, scheduled] = False
        prospects = np.flatnonzero(~existing & (twin.arrival_day == NO_DAY))
        if prospects.size:
            aware = prospects[rng.random(prospects.size) < scenario.population.initial_aware_share]
            self.state[aware] = State.AWARE
            self.funnel[aware] = Funnel.AWARE

    def _initial_states(self, scenario: Scenario, rng: np.random.Generator) -> None:
        pop = scenario.population
        draw = rng.random(self.size)
        customer = draw < pop.initial_customer_share
        aware = ~customer & (draw < pop.initial_customer_share + pop.initial_aware_share)
        self.state[aware] = State.AWARE
        self.funnel[aware] = Funnel.AWARE
        n_customers = int(customer.sum())
        if n_customers:
            # Existing customers bought last between 1 and 90 days before day 0.
            last = -rng.integers(1, 91, n_customers).astype(np.int32)
            self.last_purchase_day[customer] = last
            self.first_purchase_day[customer] = last
            self.known[customer] = True
            recency = -last
            lapsed, churned = scenario.lifecycle.lapsed_after_days, scenario.lifecycle.churned_after_days
            self.state[customer] = np.where(
                recency >= churned, State.CHURNED, np.where(recency >= lapsed, State.LAPSED, State.ACTIVE)
            )

    @property
    def is_customer(self) -> npt.NDArray[np.bool_]:
        """Whether each shopper has ever bought (before or during the horizon)."""
        return self.last_purchase_day > NO_DAY

    def state_counts(self) -> npt.NDArray[np.int64]:
        """Number of shoppers in each :class:`State` (agents)."""
        # Comparing int8 directly is about 3x faster than bincount, which converts to intp first;
        # with a plain int, as an IntEnum member makes the comparison about 5x slower.
        return np.array([np.count_nonzero(self.state == int(s)) for s in State], dtype=np.int64)
