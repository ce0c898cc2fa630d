"""Word of mouth, referrals and group buying on a social graph.

The social graph
    Each shopper has ``degree`` friends, stored as one int32 array ``friends[shopper, k]``
    (``degree`` x 4 bytes a shopper). Row ``i`` lists the shoppers ``i`` talks to, refers and
    invites (out-neighbours): a prospect hears from every customer whose row lists it.
    ``small_world`` (the default) is a Watts-Strogatz graph: a ring lattice over a random
    permutation of the shoppers (persona blocks are contiguous ids, so the permutation mixes
    personas among friends), ``degree / 2`` neighbours on each side, each link then rewired
    to a uniform random shopper with ``rewire_probability``. The unrewired lattice is
    symmetric; rewired links are one-way. ``random`` draws every friend uniformly. Neither
    graph has self-loops; a rewired link may repeat a friend (about ``degree / N`` of them).
    ``fully_mixed`` stores no graph: everyone meets the whole population (mean field).
Talkers
    Live customers (``alive``, bought at least once) whose satisfaction
    (:mod:`simulator.levers.service`) is at least ``satisfaction_threshold``; a customer from before
    day 0 with no order yet in the horizon counts with the satisfaction one order gives on
    average (the service's base less the return penalty times the return rate). Talkers are
    counted from the state at the start of the day.
Word of mouth
    Each day a prospect (unaware, or aware and not considering) hears of the brand at hazard
    ``word_of_mouth_rate x talking friends`` (fully mixed: ``word_of_mouth_rate x degree x
    share of talkers``), becomes aware and visits the channel it draws by affinity among the
    channels that reach unknown shoppers. This runs right after
    :func:`simulator.engine.journey.forget_and_visit` and before the day's decisions, on the prospects
    that did not visit there: the chance to visit is ``1 - exp(-h_channels) exp(-h_word_of_mouth)``,
    exactly ``1 - exp(-(h_channels + h_word_of_mouth))``, one visit hazard a day. A first
    order that closes a consideration started by word of mouth counts as a word-of-mouth
    customer.
Bass diffusion (:func:`adoption_path`)
    With one organic channel of rate ``p``, everyone aware, instant checkout and no churn:

    - ``fully_mixed``: adoption follows the Bass recursion ``F' = F + (1 - F)(1 - exp(-(p +
      q F)))`` with ``q = rate x degree``: everyone hears every talker's share of the talk.
    - ``random`` (and a small world rewired with probability 1): a prospect hears only its own
      friends, each at ``rate`` a day while the friend talks, so a friend's word adds
      ``1 - exp(-rate x days talking)`` to the prospect's hazard, not ``rate x days``: the
      friend-by-friend recursion ``F(t) = 1 - exp(-p (t + 1) - degree x sum_(s < t) f(s) (1 -
      exp(-rate (t - s))))`` (``f(s)`` adopters of day ``s``; each prospect has Poisson(degree)
      friends adopting independently). Measured at 100,000 agents (p = 0.01, rate x degree = 0.1,
      degree 10, seed 5), the simulated path stays within 0.005 of it; a Bass curve fitted to
      the path has ``q`` = 0.87 x rate x degree.
    - ``small_world`` (degree 10, rewiring 0.1): clustering - friends of friends are friends, so
      a prospect's friends adopt together - lowers it further. The fitted Bass ``q`` is 0.84 x
      rate x degree at p = 0.01 and rate x degree = 0.1 (0.78 at rate x degree = 0.2, 0.90 at
      p = 0.02, 0.93 with degree 20, 0.81 on the unrewired ring, 0.87 at rewiring 0.3); with the
      fitted ``p`` and ``q`` the Bass recursion tracks the simulated path within 0.01, while the
      friend-by-friend recursion is off by about 0.03.

    So ``rate x degree`` is the imitation coefficient of a fully mixed market and an upper bound
    on a graph; ``tests/test_referral.py`` holds these figures.
Referrals
    Each day each talking active customer refers one random friend with chance
    ``referral_rate x (1 + bonus_response x referral_bonus)`` (capped at 1). A friend who is a
    prospect visits at once, is marked referred (the latest referrer gets the credit) and
    gets ``friend_discount`` on its first order; at that first order the referrer earns
    ``referral_bonus``, booked as the program cost ``referral_bonuses``.
Group buying (``promotions.group_buying``)
    An order brings a friend (a graph friend, or a random shopper without a graph) with chance
    ``join_rate`` when the friend is a prospect; the friend buys at once in the same channel
    and both orders get the group discount. Whether a shopper would bring a friend today is
    drawn once a day, the first time its discount is asked (the cart decision, which the offer
    moves, or the order), so the offer seen is the offer booked. Friends' orders bring no
    further friends the same day.

Events are counted in agents and money in agent units; :meth:`ReferralProgram.results`
multiplies by the population scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..config.policies import GroupBuying, Referral
from ..engine.economics import book_orders
from ..engine.journey import choose_channel, start_consideration
from ..engine.population import NO_DAY, Funnel, State
from .base import BoolArray, FloatArray, IntArray, Lever, LeverOutput, OrderBatch, RangeSpec
from .promotions import combine_discounts
from .service import Satisfaction

if TYPE_CHECKING:
    from ..config.policies import Policies
    from ..config.scenario import Scenario
    from ..engine.model import CommerceModel
    from .composite import Levers

__all__ = ["SOCIAL_SOURCES", "ReferralProgram", "Social", "adoption_path", "build_friends"]

FriendArray = npt.NDArray[np.int32]
GROUP_BUYING_DEGREE = 10
"""Friends per shopper the memory estimate assumes for group buying without a referral section."""

SOCIAL_SOURCES = ("word_of_mouth", "referral", "group_buying")
"""How a shopper first heard of the brand when no channel brought it: ``aware_channel`` codes
``len(channels) + k`` in the population arrays (results label them by name)."""
WORD_OF_MOUTH, REFERRAL, GROUP_BUYING = range(len(SOCIAL_SOURCES))


def _others(rng: np.random.Generator, size: int, owners: npt.NDArray[np.integer[Any]]) -> FriendArray:
    """One uniform random shopper other than each owner (same shape as ``owners``)."""
    draw = rng.integers(0, size - 1, owners.shape, dtype=np.int32)
    draw += draw >= owners
    return draw


def build_friends(
    graph: str, size: int, degree: int, rewire_probability: float, rng: np.random.Generator
) -> FriendArray | None:
    """Build the social graph as a ``(size, degree)`` int32 array of friends' ids.

    Parameters
    ----------
    graph
        ``small_world``, ``random`` or ``fully_mixed`` (no array: returns ``None``).
    size
        Number of shoppers.
    degree
        Friends per shopper (at most ``size - 1`` are used in a tiny population).
    rewire_probability
        Small-world chance that a link goes to a uniform random shopper instead (0-1).
    rng
        The model's random generator.

    Returns
    -------
    numpy.ndarray or None
        ``friends[i]`` are the shoppers ``i`` talks to; no self-loops.
    """
    if graph == "fully_mixed":
        return None
    degree = max(min(degree, size - 1), 0)
    if graph == "random":
        owners = np.arange(size, dtype=np.int32)[:, None]
        return _others(rng, size, np.broadcast_to(owners, (size, degree)))
    order = rng.permutation(size).astype(np.int32)  # ring position -> shopper
    position = np.empty(size, dtype=np.int32)
    position[order] = np.arange(size, dtype=np.int32)
    # Clockwise 1..ceil(d/2), anticlockwise 1..floor(d/2): distinct and never 0 modulo size.
    offsets = [*range(1, (degree + 1) // 2 + 1), *range(-1, -(degree // 2) - 1, -1)]
    friends = np.empty((size, degree), dtype=np.int32)
    # Column by column keeps the temporaries at one int32 per shopper.
    for k, offset in enumerate(offsets):
        friends[:, k] = order[(position + offset) % size]
        if rewire_probability > 0:
            rewired = np.flatnonzero(rng.random(size, dtype=np.float32) < rewire_probability)
            friends[rewired, k] = _others(rng, size, rewired)
    return friends


def adoption_path(p: float, rate: float, degree: int, days: int, graph: str = "fully_mixed") -> FloatArray:
    """Share of a market adopted by the end of each day under word of mouth (see the module).

    The expected path of the module's Bass set-up: everyone aware, an organic visit hazard
    ``p`` a day, instant purchase, no churn, every customer talking.

    Parameters
    ----------
    p
        Organic (innovation) hazard per day.
    rate
        ``word_of_mouth_rate``: hazard per talking friend per day.
    degree
        Friends per shopper.
    days
        Days to run.
    graph
        ``fully_mixed`` (the Bass recursion, ``q = rate x degree``) or ``random`` (the
        friend-by-friend recursion, each friend's word saturating at one hearing).

    Returns
    -------
    numpy.ndarray
        ``days + 1`` shares (0-1): 0 before day 0, then adopted by the end of each day.
    """
    adopted = np.zeros(days + 1)
    if graph == "fully_mixed":
        q = rate * degree
        for t in range(days):
            share = adopted[t]
            adopted[t + 1] = share + (1.0 - share) * -np.expm1(-(p + q * share))
        return adopted
    if graph != "random":
        raise ValueError(f"graph: the expected path is known for fully_mixed and random, not {graph!r}")
    new = np.diff(adopted)  # filled day by day below
    for t in range(days):
        heard = float(np.sum(new[:t] * -np.expm1(-rate * (t - np.arange(t)))))
        adopted[t + 1] = -np.expm1(-p * (t + 1) - degree * heard)
        new[t] = adopted[t + 1] - adopted[t]
    return adopted


@dataclass(frozen=True)
class Social:
    """The policies that act between shoppers: referral and word of mouth, and group buying."""

    referral: Referral | None
    """The ``policies.referral`` section (``None``: group buying only, no word of mouth)."""
    group_buying: GroupBuying | None
    """The ``policies.promotions.group_buying`` section."""


class ReferralProgram(Lever[Social]):
    """Social graph as arrays; word of mouth, referral bonus and group buying.

    Call order in a day: :meth:`word_of_mouth` right after the journey's visits (the model
    calls it), :meth:`offers` whenever a discount is asked, :meth:`on_orders` and
    :meth:`after_orders` after every booking; :meth:`results` at the end.

    Built from ``policies.referral`` and ``policies.promotions.group_buying`` (:class:`Social`);
    reads the satisfaction and the stacking rule of the same levers. Word of mouth and referrals
    reach friends whoever they are: the program is not limited to a scope, and the arms of an
    A/B test share one (see :class:`simulator.levers.arms.ArmedLevers`).
    """

    key = "referral"
    title = "referral, word of mouth and group buying"
    config_type = Referral
    kpi_prefixes = ("referral_", "group_buying_")
    cost_fields = ("referral_bonuses",)
    booked_cost_kpis = ("referral_bonus_cost",)
    shared_across_arms = True
    count_streams = ("referral", "word_of_mouth", "group_buying")

    def __init__(self, config: Social, model: CommerceModel, levers: Levers) -> None:
        super().__init__(config, model, levers)
        referral = config.referral
        pop = model.population
        size = pop.size
        days = model.horizon_days
        self.referral: Referral | None = referral
        """The referral section (``None``: group buying only)."""
        self.group: GroupBuying | None = config.group_buying
        self.n_channels = len(model.channel_agents)
        self.friends: FriendArray | None = None
        self.degree = 0
        if referral is not None:
            self.friends = build_friends(
                referral.graph, size, referral.degree, referral.rewire_probability, model.rng
            )
            self.degree = referral.degree if self.friends is None else self.friends.shape[1]
        self.referral_chance = (
            min(1.0, referral.referral_rate * (1.0 + referral.bonus_response * referral.referral_bonus))
            if referral is not None
            else 0.0
        )
        # Word-of-mouth and referred visitors arrive where unknown shoppers can go, by affinity.
        reaches = np.array([c.reaches_unknown for c in model.scenario.channels])
        if not reaches.any():
            reaches[:] = True
        weight = pop.personas.channel_weight * reaches
        none = weight.sum(axis=1) == 0
        weight[none] = reaches
        self.arrival_weight = weight

        self.referrer = np.full(size, -1, dtype=np.int32)
        """Who referred each shopper last (-1: never referred)."""
        self.referred_converted = np.zeros(size, dtype=np.int32)
        """Referred friends of each shopper who placed their first order."""
        self.word_of_mouth_decision_day = np.full(size, NO_DAY, dtype=np.int32)
        """Decision day of the shopper's last consideration started by word of mouth."""
        if self.group is not None:
            self.join_day = np.full(size, NO_DAY, dtype=np.int32)
            self.group_friend = np.full(size, -1, dtype=np.int32)
            """Friend each shopper brings to its orders on ``join_day`` (-1: none)."""
        self._booking_friends = False

        self.talkers = np.zeros(days)
        self.referrals_sent = np.zeros(days)
        self.referral_visits = np.zeros(days)
        self.referred_customers = np.zeros(days)
        self.referral_discount = np.zeros(days)
        self.word_of_mouth_visits = np.zeros(days)
        self.word_of_mouth_customers = np.zeros(days)
        self.group_orders = np.zeros(days)
        self.group_customers = np.zeros(days)
        self.group_discount = np.zeros(days)

    @classmethod
    def config_of(cls, policies: Policies) -> Social | None:
        """The referral section and group buying; ``None`` when neither is on."""
        group = policies.promotions.group_buying if policies.promotions else None
        if policies.referral is None and group is None:
            return None
        return Social(policies.referral, group)

    @classmethod
    def default_config(cls) -> Social:
        """Referral and word of mouth at the defaults, no group buying."""
        return Social(Referral(), None)

    @classmethod
    def requires(cls, config: Social) -> tuple[str, ...]:
        """Satisfaction decides who talks and refers (group buying alone needs none)."""
        return ("service",) if config.referral is not None else ()

    @classmethod
    def bytes_per_shopper(cls, config: Social) -> int:
        """Friends (``degree`` int32 ids), referrer, counters and group-buying state (bytes per shopper)."""
        degree = config.referral.degree if config.referral else GROUP_BUYING_DEGREE
        return 4 * degree + 4 * 3 + 4 + 4 + 4 * 2

    @classmethod
    def search_ranges(cls, config: Social | None, scenario: Scenario) -> dict[str, RangeSpec]:
        """The referral bonus, up to twice its current value (at least 50)."""
        if config is None or config.referral is None:
            return {}
        return {
            "referral.referral_bonus": {"low": 0.0, "high": max(50.0, 2 * config.referral.referral_bonus)}
        }

    # Friends ---------------------------------------------------------------------------------
    def _pick_friends(self, rng: np.random.Generator, shoppers: IntArray, size: int) -> FriendArray:
        """One random friend of each shopper (-1 when the shopper has none)."""
        if self.friends is None:
            if size < 2:
                return np.full(shoppers.size, -1, dtype=np.int32)
            return _others(rng, size, shoppers)
        width = self.friends.shape[1]
        if width == 0:
            return np.full(shoppers.size, -1, dtype=np.int32)
        return self.friends[shoppers, rng.integers(0, width, shoppers.size)]

    def expected_satisfaction(self, model: CommerceModel) -> np.float32:
        """Satisfaction expected from one order: the service's base less the return penalty."""
        satisfaction = self.levers.find(Satisfaction)
        if satisfaction is None:
            return np.float32(1.0)
        returned = model.scenario.economics.return_rate * satisfaction.return_penalty
        return np.float32(np.clip(satisfaction.base - returned, 0.0, 1.0))

    def _talkers(self, model: CommerceModel) -> IntArray:
        """Live customers satisfied enough to talk (start-of-day state)."""
        pop = model.population
        customers = np.flatnonzero(pop.last_purchase_day > NO_DAY)
        customers = customers[pop.alive[customers]]
        satisfaction = self.levers.find(Satisfaction)
        if satisfaction is None or self.referral is None:
            return customers
        score = satisfaction.score[customers]
        score = np.where(np.isnan(score), self.expected_satisfaction(model), score)
        return customers[score >= np.float32(self.referral.satisfaction_threshold)]

    # Daily work ------------------------------------------------------------------------------
    def word_of_mouth(self, model: CommerceModel) -> None:
        """Referrals and word of mouth bring prospects to visit (before the day's decisions)."""
        talkers = self._talkers_today(model)
        if talkers is None:
            return
        targets = self._refer(model, talkers)
        if targets is not None:
            self._visit(model, targets, REFERRAL)
        hearers = self._spread(model, talkers)
        if hearers is not None:
            self._visit(model, hearers, WORD_OF_MOUTH)
            self._heard(model, hearers)

    @classmethod
    def word_of_mouth_together(
        cls, batch: CommerceModel, members: Sequence[tuple[CommerceModel, int, ReferralProgram]]
    ) -> None:
        """Each world draws its own referrals and conversations; their visits start at once.

        The visits of every world's referrals start in one step, then those of the
        conversations, in the order of a world alone.
        """
        talking = [(w, o, lever, t) for w, o, lever in members if (t := lever._talkers_today(w)) is not None]
        if not talking:
            return
        referred = [(o, lever._refer(w, t)) for w, o, lever, t in talking]
        first = talking[0][2]
        first._visit_worlds(batch, referred, REFERRAL)
        heard = [(w, o, lever, lever._spread(w, t)) for w, o, lever, t in talking]
        first._visit_worlds(batch, [(o, hearers) for _, o, _, hearers in heard], WORD_OF_MOUTH)
        for w, _, lever, hearers in heard:
            if hearers is not None:
                lever._heard(w, hearers)

    def _visit_worlds(
        self, batch: CommerceModel, visitors: list[tuple[int, IntArray | None]], source: int
    ) -> None:
        """:meth:`_visit` of several worlds' visitors (ids in their world, after the world's offset)."""
        ids = [shoppers + offset for offset, shoppers in visitors if shoppers is not None]
        if ids:
            self._visit(batch, np.concatenate(ids) if len(ids) > 1 else ids[0], source)

    def _talkers_today(self, model: CommerceModel) -> IntArray | None:
        """Today's talkers (counted); ``None`` when there are none or referral is off."""
        if self.referral is None:
            return None
        talkers = self._talkers(model)
        self.talkers[model.day] = talkers.size
        return talkers if talkers.size else None

    def _refer(self, model: CommerceModel, talkers: IntArray) -> IntArray | None:
        """Referrals sent today: the friends who will visit (``None``: none)."""
        if self.referral_chance <= 0:
            return None
        pop = model.population
        day = model.day
        rng = model.crn.generator("referral", day)
        active = talkers[pop.state[talkers] == State.ACTIVE]
        senders = active[model.crn.uniform("refer", day, active) < self.referral_chance]
        if senders.size == 0:
            return None
        friends = self._pick_friends(rng, senders, pop.size)
        self.referrals_sent[day] += senders.size
        prospect = (friends >= 0) & (pop.state[friends] <= State.AWARE)
        unique, first = np.unique(friends[prospect], return_index=True)
        if unique.size == 0:
            return None
        targets = unique.astype(np.int64)
        self.referrer[targets] = senders[prospect][first]
        self.referral_visits[day] += targets.size
        return targets

    def _spread(self, model: CommerceModel, talkers: IntArray) -> IntArray | None:
        """Prospects who hear of the brand from talkers today (``None``: none)."""
        rate = self.referral.word_of_mouth_rate if self.referral is not None else 0.0
        if rate <= 0:
            return None
        pop = model.population
        rng = model.crn.generator("word_of_mouth", model.day)
        # Draw the conversations that get through rather than each prospect's hazard: a shopper
        # reached by independent conversations of hazard ``rate`` hears with chance
        # 1 - exp(-rate x talking friends), and the cost follows talkers, not the population.
        if self.friends is None:
            # Mean field: Poisson(rate x degree x talkers) conversations land uniformly, so each
            # shopper is reached at hazard rate x degree x share of talkers.
            reached = rng.integers(0, pop.size, rng.poisson(rate * self.degree * talkers.size))
        else:
            # Each (talker, friend) link gets through with chance 1 - exp(-rate), independently:
            # a binomial number of links, at distinct positions drawn uniformly (cost in
            # proportion to the links that get through, not to all of them).
            degree = self.friends.shape[1]
            links = talkers.size * degree
            through = rng.choice(links, rng.binomial(links, -np.expm1(-rate)), replace=False)
            reached = self.friends[talkers[through // degree], through % degree].astype(np.int64)
        hearers = np.unique(reached[pop.state[reached] <= State.AWARE])
        return hearers if hearers.size else None

    def _heard(self, model: CommerceModel, hearers: IntArray) -> None:
        """Count word of mouth's visitors, once they started considering."""
        self.word_of_mouth_visits[model.day] += hearers.size
        self.word_of_mouth_decision_day[hearers] = model.population.decision_day[hearers]

    def _visit(self, model: CommerceModel, shoppers: IntArray, source: int) -> None:
        """Prospects become aware (through ``source``) and start considering."""
        pop = model.population
        pop.funnel[shoppers] |= np.uint8(Funnel.AWARE)
        first_time = shoppers[pop.aware_channel[shoppers] < 0]
        pop.aware_channel[first_time] = self.n_channels + source
        via = choose_channel(model, shoppers, self.arrival_weight[pop.persona[shoppers]])
        start_consideration(model, shoppers, via)

    # Orders ----------------------------------------------------------------------------------
    def offers(
        self, model: CommerceModel, shoppers: IntArray, channels: IntArray | None, first: BoolArray
    ) -> list[FloatArray]:
        """Friend discount (referred first orders) and group discount available to each order.

        One offer: the two combined by the stacking rule when both apply (``best`` or ``add``).
        """
        return [self._coupon(model, shoppers, first, self.levers.pricing.stacking)]

    def _coupon(
        self, model: CommerceModel, shoppers: IntArray, first: BoolArray, stacking: str
    ) -> FloatArray:
        offers: list[FloatArray] = []
        if self.referral is not None and self.referral.friend_discount > 0:
            referred = first & (self.referrer[shoppers] >= 0)
            offers.append(np.where(referred, self.referral.friend_discount, 0.0))
        if self.group is not None:
            # Drawn even without a discount: friends still join, and on_orders needs the draw.
            if self._booking_friends:
                grouped = np.ones(shoppers.size, dtype=np.bool_)
            else:
                grouped = self._brings_friend(model, shoppers)
            if self.group.discount > 0:
                offers.append(np.where(grouped, self.group.discount, 0.0))
        if not offers:
            return np.zeros(shoppers.size)
        if len(offers) == 1:
            return offers[0]
        return combine_discounts(offers, stacking, shoppers.size)

    def _brings_friend(self, model: CommerceModel, shoppers: IntArray) -> BoolArray:
        """Whether each shopper's order today brings a friend (drawn once a shopper a day)."""
        assert self.group is not None
        pop = model.population
        day = model.day
        fresh = shoppers[self.join_day[shoppers] != day]
        if fresh.size:
            rng = model.crn.generator("group_buying", day)
            self.join_day[fresh] = day
            self.group_friend[fresh] = -1
            hosts = fresh[model.crn.uniform("group_join", day, fresh) < self.group.join_rate]
            friends = self._pick_friends(rng, hosts, pop.size)
            ok = (friends >= 0) & (pop.state[friends] <= State.AWARE)
            self.group_friend[hosts[ok]] = friends[ok]
        return np.asarray(self.group_friend[shoppers] >= 0)

    def on_orders(self, model: CommerceModel, batch: OrderBatch) -> None:
        """Pay referral bonuses for referred first orders; count friends' group discounts.

        The discounts given are counted as the smaller of the offer and the discount the order
        got, times its list value.
        """
        shoppers, first = batch.shoppers, batch.first
        list_value, discount_rate = batch.list_value, batch.discount_rate
        day = model.day
        if self.referral is not None:
            # Considerations cannot overlap, so a first order on the decision day of a
            # word-of-mouth consideration closed that consideration.
            closed = first & (self.word_of_mouth_decision_day[shoppers] == day)
            if not self._booking_friends:
                self.word_of_mouth_customers[day] += np.count_nonzero(closed)
            referred = first & (self.referrer[shoppers] >= 0)
            if referred.any():
                np.add.at(self.referred_converted, self.referrer[shoppers[referred]], 1)
                count = int(referred.sum())
                self.referred_customers[day] += count
                model.program_costs["referral_bonuses"][day] += count * self.referral.referral_bonus
                given = np.minimum(self.referral.friend_discount, discount_rate[referred])
                self.referral_discount[day] += float((given * list_value[referred]).sum())
        if self.group is not None and self._booking_friends:
            given = np.minimum(self.group.discount, discount_rate)
            self.group_discount[day] += float((given * list_value).sum())

    def after_orders(self, model: CommerceModel, batch: OrderBatch) -> None:
        """Hosts bring their group-buying friends, who buy at once in the host's channel.

        A friend claimed by several hosts of the booking joins the first; friends' own orders
        bring nobody.
        """
        if self.group is None or self._booking_friends:
            return
        shoppers, day = batch.shoppers, model.day
        list_value, discount_rate = batch.list_value, batch.discount_rate
        friend = np.where(self.join_day[shoppers] == day, self.group_friend[shoppers], -1)
        hosts = friend >= 0
        if not hosts.any():
            return
        # One group a shopper a day: a second order the same day brings nobody.
        self.group_friend[shoppers[hosts]] = -1
        self.group_orders[day] += hosts.sum()
        given = np.minimum(self.group.discount, discount_rate[hosts])
        self.group_discount[day] += float((given * list_value[hosts]).sum())
        friends, via = friend[hosts].astype(np.int64), batch.channels[hosts]
        pop = model.population
        # The friend may have started considering or been claimed by another order since.
        free = pop.state[friends] <= State.AWARE
        friends, keep = np.unique(friends[free], return_index=True)
        via = via[free][keep]
        if friends.size:
            self._book_friends(model, friends, via)

    def _book_friends(self, model: CommerceModel, friends: IntArray, channels: IntArray) -> None:
        """Friends join their host's order in the same channel, at the group discount."""
        pop = model.population
        day = model.day
        pop.funnel[friends] |= np.uint8(Funnel.AWARE | Funnel.VISITED | Funnel.CARTED)
        first_time = friends[pop.aware_channel[friends] < 0]
        pop.aware_channel[first_time] = self.n_channels + GROUP_BUYING
        joined = np.bincount(channels, minlength=self.n_channels)
        model.ledger["visits"][day] += joined
        model.ledger["carts"][day] += joined
        self._booking_friends = True
        try:
            book_orders(model, friends, channels)
        finally:
            self._booking_friends = False
        self.group_customers[day] += friends.size

    # Results ---------------------------------------------------------------------------------
    def results(self, model: CommerceModel, daily_orders: pd.Series) -> LeverOutput:
        """Daily measures, KPIs and per-shopper columns of word of mouth, referrals and group buying.

        Counts are people and money is currency (agent figures times the population scale).
        Daily columns and KPIs (KPIs are the horizon totals): ``referral_talkers`` (satisfied
        live customers, daily only), ``referral_invitations`` (referrals sent),
        ``referral_visits`` (referred prospects who visited), ``referral_customers`` (first
        orders of referred shoppers, each paying a bonus), ``referral_word_of_mouth_visits``,
        ``referral_word_of_mouth_customers``, ``referral_discount_given`` (friend discount);
        KPIs ``referral_bonus_cost`` and ``referral_cost_per_customer`` ((bonuses + friend
        discounts) / referral customers); with group buying ``group_buying_orders`` (orders
        that brought a friend), ``group_buying_customers`` (friends who bought) and
        ``group_buying_discount_given`` (both sides). Per-shopper columns: ``referred`` and
        ``friends_referred`` (referred friends who placed a first order).
        """
        days = model.day
        scale = model.scale
        counts: dict[str, FloatArray] = {}
        columns: dict[str, Any] = {}
        if self.referral is not None:
            counts.update(
                referral_talkers=self.talkers,
                referral_invitations=self.referrals_sent,
                referral_visits=self.referral_visits,
                referral_customers=self.referred_customers,
                referral_word_of_mouth_visits=self.word_of_mouth_visits,
                referral_word_of_mouth_customers=self.word_of_mouth_customers,
                referral_discount_given=self.referral_discount,
            )
            columns["referred"] = self.referrer >= 0
            columns["friends_referred"] = self.referred_converted.copy()
        if self.group is not None:
            counts.update(
                group_buying_orders=self.group_orders,
                group_buying_customers=self.group_customers,
                group_buying_discount_given=self.group_discount,
            )
        frame = pd.DataFrame(
            {name: values[:days] * scale for name, values in counts.items()},
            index=pd.RangeIndex(days, name="day"),
        )
        summary = {name: float(frame[name].sum()) for name in counts if name != "referral_talkers"}
        if self.referral is not None:
            bonus_cost = float(model.program_costs["referral_bonuses"][:days].sum() * scale)
            cost = bonus_cost + summary["referral_discount_given"]
            customers = summary["referral_customers"]
            summary["referral_bonus_cost"] = bonus_cost
            summary["referral_cost_per_customer"] = cost / customers if customers > 0 else float("nan")
        return LeverOutput(daily=frame, summary=summary, columns=columns)
