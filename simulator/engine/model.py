"""The commerce model: one Mesa model, one step per day.

A day runs these mechanisms in this order:

1. channels buy media (:meth:`simulator.engine.channels.ChannelAgent.step`);
2. exposure: adstock decay, impressions land on shoppers, organic discovery
   (:mod:`simulator.engine.exposure`);
3. journey: aware prospects forget or visit and start considering; word of mouth and
   referrals bring more visits (:mod:`simulator.levers.referral`); shoppers at the end of
   their hesitation cart and check out or leave (:mod:`simulator.engine.journey`);
4. a customer-base twin's new customers make their first purchase (:func:`simulator.engine.twin.arrive`);
   repeat purchases and dropout of live customers (:mod:`simulator.engine.repurchase`);
   then the strategy levers' daily work and end of day, in the order of
   :data:`simulator.levers.registry.REGISTRY`;
5. lifecycle: customers cross the lapsed / churned thresholds (:mod:`simulator.engine.repurchase`);
6. the day's state counts are recorded (the channel ledgers were filled along the way).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator

import mesa
import numpy as np
import numpy.typing as npt

from ..config.scenario import Scenario
from ..levers import registry
from ..levers.base import LeverEffects
from ..levers.composite import Levers
from .channels import LEDGER_FIELDS, ChannelAgent
from .economics import FOLLOW_UP_WINDOWS, OrderLog
from .exposure import decay_ad_stock, deliver_impressions, organic_discovery
from .journey import decide, forget_and_visit
from .lifetime import RepeatMargins, daily_discount_factor
from .population import ShopperPopulation, State
from .repurchase import repeat_purchases, update_lifecycle_states
from .streams import CommonRandomNumbers
from .touchpaths import TouchRecorder
from .twin import arrive

__all__ = ["CommerceModel"]

RECOVERY_WINDOW_DAYS = 14
"""An abandoned cart counts as recovered when the shopper orders within this many days."""


class CommerceModel(mesa.Model):  # type: ignore[misc]
    """Agent-based model of shoppers moving across channels.

    Parameters
    ----------
    scenario
        The validated scenario.
    seed
        Seed of the model's one ``numpy.random.Generator``; defaults to ``scenario.seed``.
    levers
        Builds the model's levers from the model (after its population, random numbers and
        channels); default :class:`~simulator.levers.composite.Levers` of the scenario's ``policies``.
        An A/B test passes :class:`~simulator.levers.arms.ArmedLevers`.

    Attributes
    ----------
    rng : numpy.random.Generator
        Mesa's ``Model.rng`` from the seed: builds the population and the social graph.
    crn : CommonRandomNumbers
        Keyed by the same seed: the daily mechanisms' per-shopper draws (common random numbers,
        so runs on one seed that differ in a decision stay aligned; see ``simulator/engine/streams.py``).
    population : ShopperPopulation
        The shoppers, as arrays.
    channel_agents : list of ChannelAgent
        The channels, as Mesa agents, in scenario order.
    day : int
        The day being simulated (0-based); after ``run()`` equals the horizon.
    order_log : OrderLog or None
        Every order booked (day, shopper, channel, revenue, margin, first); ``None`` skips it.
    """

    def __init__(
        self,
        scenario: Scenario,
        seed: int | None = None,
        levers: Callable[[CommerceModel], LeverEffects] | None = None,
    ) -> None:
        self.seed = scenario.seed if seed is None else seed
        super().__init__(rng=self.seed)
        self.scenario = scenario
        self.horizon_days = scenario.horizon_days
        self.scale = scenario.population.scale
        self.day = 0
        self.population = ShopperPopulation(scenario, self.rng)
        self.crn = CommonRandomNumbers(self.seed)
        """Per-shopper random numbers of the daily mechanisms (common random numbers, streams.py)."""
        self.ledger = {f: np.zeros((self.horizon_days, len(scenario.channels))) for f in LEDGER_FIELDS}
        """Daily measures by field: arrays of days x channels, in agent units (see channels.py)."""
        self.channel_agents = [ChannelAgent(self, config, i) for i, config in enumerate(scenario.channels)]
        table = self.population.personas
        self.audience_per_persona = np.array([table.count(row) for row in self.population.audience])
        self.channel_friction = np.array([c.checkout_friction for c in scenario.channels])
        self.channel_commission = np.array([c.commission_rate for c in scenario.channels])
        self.channel_fee_per_order = np.array([c.fee_per_order for c in scenario.channels])
        econ = scenario.economics
        self.shipping_pass = 1.0 - (econ.shipping_friction if econ.shipping_fee > 0 else 0.0)
        self.state_counts = np.zeros((self.horizon_days, len(State)), dtype=np.int64)
        self.repeat_followups = np.zeros((self.horizon_days, len(FOLLOW_UP_WINDOWS)), dtype=np.int64)
        """By order day: orders followed by the same shopper's next order within each window."""
        self.recovery_window_days = RECOVERY_WINDOW_DAYS
        self.program_costs = {f: np.zeros(self.horizon_days) for f in registry.program_cost_fields()}
        """Daily lever costs that are not media, fees or discounts, by ledger (agent units)."""
        self.value_discount = daily_discount_factor(econ.value_discount_rate)
        """Daily discount factor of lifetime value (``economics.value_discount_rate``)."""
        self.acquired_value = 0.0
        """Margin of the customers acquired in the horizon, each order discounted to the
        customer's acquisition day (agent units; :mod:`simulator.engine.lifetime`)."""
        self.repeat_margins = RepeatMargins(len(self.population.personas.names))
        """Margins of the orders booked so far by persona (:mod:`simulator.engine.lifetime`)."""
        self.order_log: OrderLog | None = OrderLog()
        self.touches: TouchRecorder | None = None
        """Touch-path recorder (:mod:`simulator.engine.touchpaths`); ``None`` records nothing (default)."""
        self.levers: LeverEffects
        self.levers = Levers(self) if levers is None else levers(self)
        self._decisions: defaultdict[int, list[npt.NDArray[np.int64]]] = defaultdict(list)
        self.decisions_to: tuple[CommerceModel, int] | None = None
        """Set in a batch of worlds (:mod:`simulator.engine.batch`): the batch that schedules this
        world's decisions and the offset of its shoppers there, so a day's decisions keep their order."""

    def schedule_decisions(self, shoppers: npt.NDArray[np.int64], days: npt.NDArray[np.int32]) -> None:
        """Remember which shoppers decide on which day, so a day touches only its own."""
        if self.decisions_to is not None:
            batch, offset = self.decisions_to
            batch.schedule_decisions(shoppers + offset, days)
            return
        for day in np.unique(days):
            self._decisions[int(day)].append(shoppers[days == day])

    def recovery_window(self, shoppers: npt.NDArray[np.int64]) -> int | npt.NDArray[np.int64]:
        """Days within which an order of these shoppers recovers their abandoned cart (days).

        The model's ``recovery_window_days`` (in a batch, each shopper's world's).
        """
        return self.recovery_window_days

    @property
    def ledger_width(self) -> int:
        """Columns of the ledger's arrays: the channels (of every world in a batch)."""
        return len(self.channel_agents)

    def ledger_columns(
        self, shoppers: npt.NDArray[np.int64], channels: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        """Ledger column of each shopper's channel (in a batch, the column of the shopper's world)."""
        return channels

    def add_to_ledger(
        self,
        field: str,
        shoppers: npt.NDArray[np.int64],
        channels: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64] | npt.NDArray[np.bool_] | None = None,
    ) -> None:
        """Add each shopper's value (default 1) to today's ledger ``field`` at its channel."""
        columns = self.ledger_columns(shoppers, channels)
        self.ledger[field][self.day] += np.bincount(columns, weights=values, minlength=self.ledger_width)

    def each_world(self) -> Iterator[tuple[CommerceModel, int]]:
        """Each world stepped by this model and the offset of its shoppers' ids: here, one."""
        yield self, 0

    def by_world(
        self, shoppers: npt.NDArray[np.int64]
    ) -> Iterator[tuple[CommerceModel, npt.NDArray[np.int64] | slice, npt.NDArray[np.int64]]]:
        """Split shoppers by world: each world, the positions of its shoppers, their ids in the world.

        A world's shoppers keep their order. A single model is its one world.
        """
        yield self, slice(None), shoppers

    def lifecycle_state(self, last_purchase_day: npt.NDArray[np.int32]) -> npt.NDArray[np.int8]:
        """Observable state of customers from the day of their last purchase."""
        recency = self.day - last_purchase_day
        cycle = self.scenario.lifecycle
        return np.where(
            recency >= cycle.churned_after_days,
            State.CHURNED,
            np.where(recency >= cycle.lapsed_after_days, State.LAPSED, State.ACTIVE),
        ).astype(np.int8)

    def step(self) -> None:
        """Simulate one day."""
        self.buy_media()
        decay_ad_stock(self)
        for channel in self.channel_agents:
            deliver_impressions(self, channel)
        organic_discovery(self)

        forget_and_visit(self)
        # Before the decisions, so that visitors with no hesitation can buy today.
        self.levers.word_of_mouth(self)
        # Includes today's visitors with a hesitation of 0 days.
        due = self._decisions.pop(self.day, [])
        if due:
            decide(self, np.concatenate(due))
        arrive(self)
        repeat_purchases(self)
        self.levers.daily(self)
        update_lifecycle_states(self)
        self.end_day()

    def buy_media(self) -> None:
        """The channels buy today's media (the first mechanism of a day)."""
        for channel in self.channel_agents:
            channel.step()

    def end_day(self) -> None:
        """Record the day's state counts and move to the next day."""
        self.state_counts[self.day] = self.population.state_counts()
        self.day += 1
        if self.day >= self.horizon_days:
            self.running = False

    def release(self) -> None:
        """Let the model be garbage-collected once the caller drops it.

        Mesa 3.3 keeps every model whose agents were created in a class-level counter
        (``mesa.Agent._ids``, mesa issue #3179), so finished models would otherwise never be
        freed: an optimizer running thousands of simulations would grow without bound.
        """
        ids = getattr(mesa.Agent, "_ids", None)
        if isinstance(ids, dict):
            ids.pop(self, None)

    def run(self, progress: bool = False) -> None:
        """Run every remaining day of the horizon.

        Parameters
        ----------
        progress
            Show a progress bar (tqdm; works in terminals and notebooks).
        """
        from tqdm.auto import tqdm

        days = tqdm(
            range(self.day, self.horizon_days),
            desc=self.scenario.name[:30],
            unit="day",
            leave=False,
            disable=not progress,
        )
        for _ in days:
            self.step()
