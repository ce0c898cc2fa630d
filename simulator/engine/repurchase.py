"""Repeat purchases, dropout and the lifecycle states that follow from recency.

Repeat buying follows the BG/NBD story (Fader, Hardie and Lee, 2005): while alive, a customer
buys at an individual daily rate (gamma distributed across shoppers); after each *repeat*
purchase the customer drops out for good with an individual probability (beta distributed).
Channels with a ``retention_effect`` raise the rate of the customers they reach: a customer
saturated with a channel's messages buys ``1 + retention_effect`` times as often.

Observable states follow recency: active until ``lapsed_after_days`` without a purchase,
lapsed until ``churned_after_days``, then churned. A dropped-out customer is not told apart
from a live one by the states - exactly as in real data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .journey import checkout, choose_channel
from .population import NO_DAY, State

if TYPE_CHECKING:
    from .model import CommerceModel

__all__ = ["repeat_purchases", "update_lifecycle_states"]


def repeat_purchases(model: CommerceModel) -> None:
    """Live customers buy again at their individual rate; repeat buyers may drop out."""
    pop = model.population
    crn = model.crn
    day = model.day
    candidates = np.flatnonzero(pop.alive & (pop.last_purchase_day > NO_DAY) & (pop.last_purchase_day < day))
    candidates = candidates[pop.state[candidates] >= int(State.ACTIVE)]
    if candidates.size == 0:
        return
    rate = pop.purchase_rate[candidates] * model.levers.repurchase_factor(model, candidates)
    refractory = pop.personas.refractory_days[pop.persona[candidates]]
    refractory = np.maximum(refractory, model.levers.refractory_days(model, candidates))
    if refractory.any():
        since = day - pop.last_purchase_day[candidates]
        rate = rate * np.clip(since / np.maximum(refractory, 1e-9), 0.0, 1.0)
    lift = np.ones(candidates.size)
    for channel in model.channel_agents:
        effect = channel.config.retention_effect
        if effect > 0:
            stock = pop.ad_stock[channel.index][candidates]  # the channel's row: fast 1-D indexing
            lift += effect * stock / (1.0 + stock)
    buying = crn.uniform("repurchase", day, candidates) < -np.expm1(-rate * lift)
    buyers = candidates[buying]
    if buyers.size == 0:
        return
    weights = pop.personas.channel_weight[pop.persona[buyers]] * (1.0 + pop.ad_stock[:, buyers].T)
    channels = choose_channel(model, buyers, weights, "repeat_channel")
    bought = checkout(model, buyers, channels, "repeat_checkout")
    repeaters = buyers[bought]
    dropout = pop.dropout_prob[repeaters] * model.levers.dropout_factor(model, repeaters)
    drops = crn.uniform("dropout", day, repeaters) < dropout
    pop.alive[repeaters[drops]] = False


def update_lifecycle_states(model: CommerceModel) -> None:
    """Move customers to lapsed or churned when their recency crosses a threshold today."""
    pop = model.population
    cycle = model.scenario.lifecycle
    last = pop.last_purchase_day
    lapsing = np.flatnonzero(last == model.day - cycle.lapsed_after_days)
    lapsing = lapsing[pop.state[lapsing] == State.ACTIVE]
    pop.state[lapsing] = State.LAPSED
    churning = np.flatnonzero(last == model.day - cycle.churned_after_days)
    churning = churning[pop.state[churning] == State.LAPSED]
    pop.state[churning] = State.CHURNED
