"""The simulator's daily rules written the classic Mesa way: one ``mesa.Agent`` object per shopper.

This is the baseline the vectorized simulator (``simulator.CommerceModel``) is measured against in
``bench_simulator.py``. It reads the same :class:`simulator.config.scenario.Scenario` and follows the same
mechanisms, in the same order within a shopper's day, but in plain Python, one shopper at a time:

1. channels buy media (same spend plan and auction pressure,
   :func:`simulator.engine.channels.impressions_bought`)
   and work out how many impressions an eligible shopper of each persona gets on average today;
2. exposure (:mod:`simulator.engine.exposure`): adstock decays at each channel's carryover; each shopper of a
   channel's audience (and, for channels that only reach known shoppers, who is known) receives
   Poisson(m x persona weight) impressions; impressions past the frequency cap are wasted, the rest are
   discounted by fatigue from recent exposures and added to the ad stock; an unaware shopper becomes
   aware with ``awareness_per_impression`` per effective impression; then organic discovery;
3. journey (:mod:`simulator.engine.journey`): aware prospects forget, or visit at a hazard of
   ``click_through_rate x (1 - carryover) x ad stock`` plus organic visit rates and start considering
   (hesitation timer, channels compared, opt-in); at the end of the hesitation they cart, pick the
   compared channel they like best (affinity, at random) and check out or abandon at its friction;
4. orders are booked with the same economics (:mod:`simulator.engine.economics`);
5. repeat purchases (:mod:`simulator.engine.repurchase`) at the individual gamma rate raised by the channels'
   retention effect, dropout after repeat purchases with the individual beta probability;
6. lifecycle: customers lapse and churn by recency.

Shoppers do not interact within a day except through the number of known shoppers a CRM channel can
reach, which is taken at dawn (as the vectorized model does, before anyone visits or buys), so stepping
shopper by shopper in random order draws from the same distribution as the vectorized model. Random
draws come in a different order (Python's ``random`` of the Mesa model), so the two agree in
distribution, not draw for draw.

Strategy levers (a scenario's optional ``policies:`` section: loyalty, promotions, win-back...) are not
reproduced; :func:`policies_in_use` names those a scenario turns on, so a comparison can say so.
"""

from __future__ import annotations

import math
from typing import Any

import mesa

from simulator.config.scenario import Channel, Scenario
from simulator.engine.channels import LEDGER_FIELDS, impressions_bought
from simulator.engine.population import NO_DAY, Funnel, PersonaTable, State

__all__ = ["LEDGER_FIELDS", "ObjectChannel", "ObjectCommerceModel", "ObjectShopper", "policies_in_use"]

NEVER = int(NO_DAY)
UNAWARE, AWARE, CONSIDERING = int(State.UNAWARE), int(State.AWARE), int(State.CONSIDERING)
ACTIVE, LAPSED, CHURNED = int(State.ACTIVE), int(State.LAPSED), int(State.CHURNED)
SEEN, VISITED, CARTED = int(Funnel.AWARE), int(Funnel.VISITED), int(Funnel.CARTED)
ORDERED, REPEATED = int(Funnel.ORDERED), int(Funnel.REPEATED)
LARGE_POISSON_MEAN = 30.0
"""Above this mean, impressions per shopper are drawn with numpy instead of Knuth's method."""


def policies_in_use(scenario: Scenario) -> list[str]:
    """Names of the strategy levers the scenario turns on (none of them is modelled here)."""
    policies = getattr(scenario, "policies", None)
    if policies is None:
        return []
    return sorted(policies.model_dump(exclude_none=True))


class ObjectChannel(mesa.Agent):
    """One channel: its spend plan, its per-shopper constants and a ledger of run totals."""

    def __init__(self, model: ObjectCommerceModel, config: Channel, index: int) -> None:
        super().__init__(model)
        self.config = config
        self.index = index
        self.bit = 1 << index
        days = model.horizon_days
        plan = [config.daily_spend] * days
        for period in config.budget_plan:
            for day in range(period.start_day, min(period.end_day, days - 1) + 1):
                plan[day] = period.daily_spend
        self.spend_plan = plan
        self.impressions_plan = [float(v) for v in impressions_bought(config, plan)]
        table = model.personas
        weight = [float(w) for w in table.channel_weight[:, index]]
        self.weight = weight
        self.carryover = config.carryover
        self.visit_per_stock = config.click_through_rate * (1.0 - config.carryover)
        self.organic_visit = [config.organic_visit_rate * w for w in weight]
        self.discovery_chance = [
            -math.expm1(-config.organic_discovery * w) if config.reaches_unknown else 0.0 for w in weight
        ]
        self.reaches_unknown = config.reaches_unknown
        self.frequency_cap = config.frequency_cap
        self.fatigue = config.fatigue
        self.fatigue_memory_days = config.fatigue_memory_days
        self.awareness_per_impression = config.awareness_per_impression
        self.retention_effect = config.retention_effect
        self.checkout_pass = (1.0 - config.checkout_friction) * model.shipping_pass
        self.commission_rate = config.commission_rate
        self.fee_per_order = config.fee_per_order
        self.ledger = dict.fromkeys(LEDGER_FIELDS, 0.0)
        self.mean_hits = [0.0] * len(weight)
        """Mean impressions today of one eligible shopper of each persona."""
        self.no_hit = [1.0] * len(weight)
        """exp(-mean_hits): chance that an eligible shopper of each persona gets no impression today."""

    def step(self) -> None:
        """Buy today's media and spread it over the eligible shoppers, weighted by persona affinity."""
        model = self.model
        day = model.day
        impressions = self.impressions_plan[day] / model.scale
        self.ledger["spend"] += self.spend_plan[day] / model.scale
        self.ledger["impressions"] += impressions
        self.ledger["fees"] += self.config.fixed_cost_per_day / model.scale
        # Eligible shoppers per persona, counted at dawn (known ones only for CRM-like channels).
        eligible = model.audience_count[self.index] if self.reaches_unknown else model.known_count[self.index]
        total_weight = sum(e * w for e, w in zip(eligible, self.weight, strict=True))
        if impressions <= 0 or total_weight <= 0:
            self.mean_hits = [0.0] * len(self.weight)
        else:
            self.mean_hits = [impressions * w / total_weight for w in self.weight]
        self.no_hit = [math.exp(-m) for m in self.mean_hits]


class ObjectShopper(mesa.Agent):
    """One shopper with its own state, traits and per-channel memory, stepped one day at a time."""

    def __init__(self, model: ObjectCommerceModel, persona: int) -> None:
        super().__init__(model)
        scenario = model.scenario
        pop = scenario.population
        config = pop.personas[model.personas.names[persona]]
        rand = model.random
        n_channels = len(scenario.channels)
        self.persona = persona
        self.state = UNAWARE
        self.funnel = 0
        self.known = False
        self.ad_stock = [0.0] * n_channels
        self.fatigue = [0.0] * n_channels
        self.fatigue_day = [0] * n_channels
        self.audience = [rand.random() < c.audience_share for c in scenario.channels]
        self.decision_day = NEVER
        self.compare_mask = 0
        self.aware_channel = -1
        self.acquisition_channel = -1
        self.first_purchase_day = NEVER
        self.last_purchase_day = NEVER
        self.abandoned_cart_day = NEVER
        self.orders = 0
        self.revenue = 0.0
        self.contribution = 0.0
        shape = config.repurchase.shape
        self.purchase_rate = rand.gammavariate(shape, 1.0 / (shape * config.repurchase.mean_days_between))
        mean, conc = config.dropout.mean, config.dropout.concentration
        if mean <= 0.0 or mean >= 1.0:
            self.dropout_prob = mean
        else:
            self.dropout_prob = rand.betavariate(mean * conc, (1.0 - mean) * conc)
        self.alive = True
        # Day-0 state: existing customer, aware prospect, or unaware.
        draw = rand.random()
        if draw < pop.initial_customer_share:
            last = -rand.randint(1, 90)
            self.last_purchase_day = self.first_purchase_day = last
            self.state = model.lifecycle_state(last, 0)
            self.become_known()
        elif draw < pop.initial_customer_share + pop.initial_aware_share:
            self.state = AWARE
            self.funnel = SEEN
        for c in range(n_channels):
            if self.audience[c]:
                model.audience_count[c][persona] += 1

    # -- helpers --------------------------------------------------------------------------------------

    def become_known(self) -> None:
        """Leave contact details or buy: CRM-like channels can now reach this shopper."""
        if self.known:
            return
        self.known = True
        counts = self.model.known_count
        for c, reachable in enumerate(self.audience):
            if reachable:
                counts[c][self.persona] += 1

    def become_aware(self, channel: ObjectChannel) -> None:
        self.state = AWARE
        self.funnel |= SEEN
        if self.aware_channel < 0:
            self.aware_channel = channel.index
        channel.ledger["new_aware"] += 1

    def impressions(self, no_hit: float, mean: float) -> int:
        """Poisson number of impressions (Knuth's product of uniforms; numpy for large means)."""
        rand = self.model.random
        product = rand.random()
        if product <= no_hit:
            return 0
        if mean > LARGE_POISSON_MEAN:
            return int(self.model.rng.poisson(mean))
        hits = 1
        product *= rand.random()
        while product > no_hit:
            hits += 1
            product *= rand.random()
        return hits

    def choose(self, weights: list[float]) -> int:
        """Index drawn with probability proportional to ``weights``."""
        pick = self.model.random.random() * sum(weights)
        last = 0
        for index, weight in enumerate(weights):
            if weight > 0:
                last = index
                pick -= weight
                if pick < 0:
                    return index
        return last

    # -- the day --------------------------------------------------------------------------------------

    def step(self) -> None:
        """One day of this shopper: exposure, discovery, journey, repeat purchase, lifecycle."""
        model = self.model
        rand = model.random
        day = model.day
        persona = self.persona
        channels = model.channel_list
        stock = self.ad_stock

        # Exposure: adstock decay, then today's impressions of every channel that can reach us.
        for channel in channels:
            c = channel.index
            stock[c] *= channel.carryover
            mean = channel.mean_hits[persona]
            if mean > 0 and self.audience[c] and (channel.reaches_unknown or self.known):
                hits = self.impressions(channel.no_hit[persona], mean)
                if hits:
                    self.receive(channel, hits, day)
        # Organic discovery (channel by channel, as long as we are still unaware).
        if self.state == UNAWARE:
            for channel in channels:
                chance = channel.discovery_chance[persona]
                if chance > 0 and self.audience[channel.index] and rand.random() < chance:
                    self.become_aware(channel)
                    break

        # Journey: forget or visit; decide at the end of the hesitation.
        if self.state == AWARE:
            if rand.random() < model.forget_chance:
                self.state = UNAWARE
            else:
                hazards = [
                    ch.visit_per_stock * stock[ch.index] + ch.organic_visit[persona] for ch in channels
                ]
                total = sum(hazards)
                if total > 0 and rand.random() < -math.expm1(-total):
                    self.start_consideration(channels[self.choose(hazards)], day)
        if self.state == CONSIDERING and self.decision_day == day:
            self.decide(day)

        # Repeat purchase of a live customer who did not buy today.
        if self.alive and NEVER < self.last_purchase_day < day and self.state >= ACTIVE:
            self.maybe_repeat(day)

        # Lifecycle by recency.
        if self.state == ACTIVE and self.last_purchase_day == day - model.lapsed_after:
            self.state = LAPSED
        elif self.state == LAPSED and self.last_purchase_day == day - model.churned_after:
            self.state = CHURNED
        model.today_counts[self.state] += 1

    def receive(self, channel: ObjectChannel, hits: int, day: int) -> None:
        """Impressions land: frequency cap, fatigue, ad stock, awareness."""
        c = channel.index
        capped = min(hits, channel.frequency_cap)
        recent = self.fatigue[c] * math.exp(-(day - self.fatigue_day[c]) / channel.fatigue_memory_days)
        effect = capped * math.exp(-channel.fatigue * recent)
        self.fatigue[c] = recent + capped
        self.fatigue_day[c] = day
        self.ad_stock[c] += effect
        channel.ledger["reach"] += 1
        chance_per_impression = channel.awareness_per_impression
        if self.state == UNAWARE and chance_per_impression > 0:
            if self.model.random.random() < 1.0 - (1.0 - chance_per_impression) ** effect:
                self.become_aware(channel)

    def start_consideration(self, via: ObjectChannel, day: int) -> None:
        """Visit: hesitate a few days, compare other channels, maybe leave contact details."""
        model = self.model
        rand = model.random
        persona = self.persona
        self.state = CONSIDERING
        self.funnel |= VISITED
        self.decision_day = day + rand.randint(
            model.consideration_min[persona], model.consideration_max[persona]
        )
        mask = via.bit
        compare = model.compare_prob[persona]
        for channel in model.channel_list:
            if rand.random() < compare:
                mask |= channel.bit
        self.compare_mask = mask
        if rand.random() < model.opt_in_rate:
            self.become_known()
        via.ledger["visits"] += 1

    def decide(self, day: int) -> None:
        """End of hesitation: cart or leave; a cart goes to the preferred compared channel."""
        model = self.model
        persona = self.persona
        self.decision_day = NEVER
        if model.random.random() < model.cart_rate[persona]:
            mask = self.compare_mask
            channels = model.channel_list
            weights = [ch.weight[persona] if mask & ch.bit else 0.0 for ch in channels]
            if sum(weights) == 0:
                # Only zero-affinity channels compared: buy where the visit came from.
                weights = [1.0 if mask & ch.bit else 0.0 for ch in channels]
            if self.checkout(channels[self.choose(weights)], day):
                return
        if self.last_purchase_day > NEVER:
            self.state = model.lifecycle_state(self.last_purchase_day, day)
        else:
            self.state = AWARE

    def maybe_repeat(self, day: int) -> None:
        """Buy again at the individual rate, lifted by retention messages; maybe drop out after."""
        model = self.model
        rand = model.random
        stock = self.ad_stock
        channels = model.channel_list
        lift = 1.0
        for channel in channels:
            if channel.retention_effect > 0:
                s = stock[channel.index]
                lift += channel.retention_effect * s / (1.0 + s)
        if rand.random() >= -math.expm1(-self.purchase_rate * lift):
            return
        persona = self.persona
        weights = [ch.weight[persona] * (1.0 + stock[ch.index]) for ch in channels]
        if self.checkout(channels[self.choose(weights)], day) and rand.random() < self.dropout_prob:
            self.alive = False

    def checkout(self, channel: ObjectChannel, day: int) -> bool:
        """Check out or abandon the cart at the channel's friction; book the order."""
        self.funnel |= CARTED
        channel.ledger["carts"] += 1
        if self.model.random.random() < channel.checkout_pass:
            self.book_order(channel, day)
            return True
        self.abandoned_cart_day = day
        channel.ledger["abandoned_carts"] += 1
        return False

    def book_order(self, channel: ObjectChannel, day: int) -> None:
        """One order with its basket, return, commission, fee, cost of goods and fulfilment."""
        model = self.model
        econ = model.scenario.economics
        rand = model.random
        persona = self.persona
        basket = math.exp(model.basket_log_mean[persona] + model.basket_log_sigma[persona] * rand.gauss())
        paid = basket + econ.shipping_fee
        kept = rand.random() >= econ.return_rate
        revenue = basket + econ.shipping_fee if kept else 0.0
        cogs = basket * (1.0 - econ.gross_margin) if kept else 0.0
        fees = (channel.commission_rate * paid if kept else 0.0) + channel.fee_per_order
        fulfilment = econ.fulfilment_cost_per_order + (0.0 if kept else econ.return_cost_per_order)
        first = self.first_purchase_day == NEVER
        if first:
            self.first_purchase_day = day
            self.acquisition_channel = channel.index
            self.funnel |= ORDERED
        else:
            self.funnel |= ORDERED | REPEATED
        self.last_purchase_day = day
        self.state = ACTIVE
        self.become_known()
        self.orders += 1
        self.revenue += revenue
        self.contribution += revenue - cogs - fees - fulfilment
        ledger = channel.ledger
        ledger["orders"] += 1
        ledger["new_customers" if first else "repeat_orders"] += 1
        ledger["returns"] += 0 if kept else 1
        ledger["order_value"] += paid
        ledger["revenue"] += revenue
        ledger["cogs"] += cogs
        ledger["fees"] += fees
        ledger["fulfilment"] += fulfilment


class ObjectCommerceModel(mesa.Model):
    """The commerce model with one Python object per shopper; one :meth:`step` is one day.

    Parameters
    ----------
    scenario
        The validated scenario (the same one the vectorized model reads).
    seed
        Seed of Mesa's ``random.Random`` (and ``numpy`` generator); defaults to ``scenario.seed``.
    """

    def __init__(self, scenario: Scenario, seed: int | None = None) -> None:
        self.seed = scenario.seed if seed is None else seed
        super().__init__(rng=self.seed)
        self.scenario = scenario
        self.horizon_days = scenario.horizon_days
        pop = scenario.population
        self.scale = pop.scale
        self.day = 0
        econ = scenario.economics
        self.shipping_pass = 1.0 - (econ.shipping_friction if econ.shipping_fee > 0 else 0.0)
        self.forget_chance = 1.0 / pop.awareness_memory_days
        self.opt_in_rate = pop.opt_in_rate
        self.lapsed_after = scenario.lifecycle.lapsed_after_days
        self.churned_after = scenario.lifecycle.churned_after_days
        table = PersonaTable.from_scenario(scenario, pop.agents)
        self.personas = table
        self.basket_log_mean = [float(v) for v in table.basket_log_mean]
        self.basket_log_sigma = [float(v) for v in table.basket_log_sigma]
        self.consideration_min = [int(v) for v in table.consideration_min]
        self.consideration_max = [int(v) for v in table.consideration_max]
        self.compare_prob = [float(v) for v in table.compare_prob]
        self.cart_rate = [float(v) for v in table.cart_rate]
        n_personas = len(table.names)
        self.audience_count = [[0] * n_personas for _ in scenario.channels]
        self.known_count = [[0] * n_personas for _ in scenario.channels]
        self.channel_list = [ObjectChannel(self, config, i) for i, config in enumerate(scenario.channels)]
        for persona, (lo, hi) in enumerate(zip(table.start, table.stop, strict=True)):
            for _ in range(int(lo), int(hi)):
                ObjectShopper(self, persona)
        self.channel_set = self.agents_by_type[ObjectChannel]
        self.shopper_set = self.agents_by_type[ObjectShopper]
        self.today_counts = [0] * len(State)
        self.state_counts: list[list[int]] = []

    def lifecycle_state(self, last_purchase_day: int, day: int) -> int:
        """Observable state of a customer from the day of the last purchase."""
        recency = day - last_purchase_day
        if recency >= self.churned_after:
            return CHURNED
        if recency >= self.lapsed_after:
            return LAPSED
        return ACTIVE

    def step(self) -> None:
        """Simulate one day: channels buy media, then every shopper lives its day, in random order."""
        self.today_counts = [0] * len(State)
        self.channel_set.do("step")
        self.shopper_set.shuffle_do("step")
        self.state_counts.append(self.today_counts)
        self.day += 1
        if self.day >= self.horizon_days:
            self.running = False

    def run(self) -> None:
        """Run every remaining day of the horizon."""
        while self.day < self.horizon_days:
            self.step()

    def totals(self) -> dict[str, Any]:
        """Run totals over channels (agent units) and the state counts on the last day."""
        out: dict[str, Any] = {
            field: sum(ch.ledger[field] for ch in self.channel_list) for field in LEDGER_FIELDS
        }
        out["states_end"] = list(self.state_counts[-1]) if self.state_counts else []
        return out
