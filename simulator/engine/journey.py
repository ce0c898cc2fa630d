"""The path to a first purchase: forgetting, visits, consideration, cart and checkout.

Order within a day, after exposure:

1. :func:`forget_and_visit` - aware prospects forget the brand at ``1 / awareness_memory_days``
   per day; the others visit at a daily hazard made of each channel's ad stock times its
   click-through rate (spread over days by carryover) plus the channels' organic visit rates.
   A visit starts a consideration: the shopper hesitates for a persona-specific 1-3 days and
   compares the visited channel with a few others (``channels_compared``).
2. :func:`decide` - shoppers whose hesitation ends put an item in the cart (``cart_rate``) or
   leave; a cart goes to the compared channel the shopper likes best (affinity, at random) and
   checks out, or is abandoned at that channel's ``checkout_friction``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from .economics import book_orders
from .population import NO_DAY, Funnel, State
from .touchpaths import TouchKind

if TYPE_CHECKING:
    from .model import CommerceModel

__all__ = ["checkout", "choose_channel", "decide", "forget_and_visit", "return_to_resting_state"]

IntArray = npt.NDArray[np.int64]


def forget_and_visit(model: CommerceModel) -> None:
    """Aware prospects forget, or visit a channel and start considering."""
    pop = model.population
    crn, day = model.crn, model.day
    aware = np.flatnonzero(pop.state == int(State.AWARE))  # an int, not the IntEnum: 5x faster
    if aware.size == 0:
        return
    forget_chance = 1.0 / model.scenario.population.awareness_memory_days
    forgets = crn.uniform("forget", day, aware) < forget_chance
    pop.state[aware[forgets]] = State.UNAWARE
    aware = aware[~forgets]

    # Daily visit hazard per channel: paid (ad stock x click-through, spread by carryover) plus
    # organic (per persona). The total comes first, for every aware shopper; the split by
    # channel only for the few who visit.
    channels = model.channel_agents
    paid = [np.float32(ch.config.click_through_rate * (1.0 - ch.config.carryover)) for ch in channels]
    organic = np.array(
        [ch.config.organic_visit_rate * pop.personas.channel_weight[:, ch.index] for ch in channels],
        dtype=np.float32,
    )
    persona = pop.persona[aware]
    total = organic.sum(axis=0)[persona]
    for channel, rate in zip(channels, paid, strict=True):
        if rate > 0:
            total += rate * pop.ad_stock[channel.index][aware]
    draw = crn.uniform("visit", day, aware)
    # 1 - exp(-h) <= h: only draws below the hazard (with room for rounding) can be visits.
    maybe = np.flatnonzero(draw < total * np.float32(1.001))
    visits = maybe[draw[maybe] < -np.expm1(-total[maybe])]
    if visits.size == 0:
        return
    visitors = aware[visits]
    # Which channel brought the visit: proportional to its share of the hazard.
    hazards = organic[:, persona[visits]]
    for channel, rate in zip(channels, paid, strict=True):
        hazards[channel.index] += rate * pop.ad_stock[channel.index][visitors]
    cumulative = np.cumsum(hazards, axis=0)
    pick = crn.uniform("visit_channel", day, visitors) * cumulative[-1]
    via = (cumulative < pick).sum(axis=0).clip(max=len(channels) - 1)
    start_consideration(model, visitors, via)


def start_consideration(model: CommerceModel, shoppers: IntArray, via: npt.NDArray[np.int64]) -> None:
    """Move visitors into consideration: hesitation timer, channels compared, opt-in."""
    pop = model.population
    crn = model.crn
    table = pop.personas
    day = model.day
    persona = pop.persona[shoppers]
    n_channels = len(model.channel_agents)

    pop.state[shoppers] = State.CONSIDERING
    pop.funnel[shoppers] |= np.uint8(Funnel.VISITED)
    low, high = table.consideration_min[persona], table.consideration_max[persona]
    hesitation = low + (crn.uniform("hesitation", day, shoppers) * (high - low + 1)).astype(np.int64)
    pop.decision_day[shoppers] = day + hesitation
    compare_draws = crn.uniforms("compare", day, shoppers, n_channels)
    compared = compare_draws < table.compare_prob[persona]
    bits = (compared.T * (1 << np.arange(n_channels))).sum(axis=1)
    pop.compare_mask[shoppers] = (bits | (1 << via)).astype(np.uint8)
    opted = crn.uniform("opt_in", day, shoppers) < model.scenario.population.opt_in_rate
    pop.known[shoppers[opted]] = True
    model.add_to_ledger("visits", shoppers, via)
    if model.touches is not None:
        model.touches.record(shoppers, via, day, TouchKind.VISIT)
    model.schedule_decisions(shoppers, pop.decision_day[shoppers])


def choose_channel(
    model: CommerceModel, shoppers: IntArray, weights: npt.NDArray[np.float64], draw: str = "channel"
) -> npt.NDArray[np.int64]:
    """Draw one channel per shopper with probability proportional to ``weights`` (n x C).

    ``draw`` names the call site, so that each site has its own common random numbers.
    """
    # Gumbel-max: argmax(log w + Gumbel) is a draw proportional to w; zero weight never wins.
    with np.errstate(divide="ignore"):
        scores = np.log(weights) + model.crn.gumbel(draw, model.day, shoppers, weights.shape[1])
    return np.asarray(np.argmax(scores, axis=1), dtype=np.int64)


def checkout(
    model: CommerceModel, shoppers: IntArray, channels: IntArray, draw: str = "checkout"
) -> npt.NDArray[np.bool_]:
    """Carts check out or are abandoned at the channel's friction; book the orders.

    ``draw`` names the call site, so that each site has its own common random numbers.

    Returns
    -------
    numpy.ndarray
        Whether each cart became an order.
    """
    pop = model.population
    day = model.day
    success = model.levers.checkout_pass(model, shoppers, channels)
    bought: npt.NDArray[np.bool_] = model.crn.uniform(draw, day, shoppers) < success
    pop.funnel[shoppers] |= np.uint8(Funnel.CARTED)
    abandoned = shoppers[~bought]
    pop.abandoned_cart_day[abandoned] = day
    pop.abandoned_cart_channel[abandoned] = channels[~bought]
    model.add_to_ledger("carts", shoppers, channels)
    model.add_to_ledger("abandoned_carts", abandoned, channels[~bought])
    book_orders(model, shoppers[bought], channels[bought])
    return bought


def return_to_resting_state(model: CommerceModel, shoppers: IntArray) -> None:
    """Put shoppers who leave consideration without buying back where they belong."""
    pop = model.population
    customer = pop.last_purchase_day[shoppers] > NO_DAY
    pop.state[shoppers[~customer]] = State.AWARE
    if customer.any():
        returning = shoppers[customer]
        pop.state[returning] = model.lifecycle_state(pop.last_purchase_day[returning])


def decide(model: CommerceModel, shoppers: IntArray) -> None:
    """Shoppers at the end of their hesitation put an item in the cart and check out, or leave."""
    pop = model.population
    shoppers = shoppers[
        (pop.state[shoppers] == State.CONSIDERING) & (pop.decision_day[shoppers] == model.day)
    ]
    if shoppers.size == 0:
        return
    table = pop.personas
    persona = pop.persona[shoppers]
    first = pop.last_purchase_day[shoppers] == NO_DAY
    chance = table.cart_rate[persona] * model.levers.conversion_factor(model, shoppers, first)
    carted = model.crn.uniform("cart", model.day, shoppers) < chance
    leaving = shoppers[~carted]
    pop.browsed_day[leaving] = model.day
    buyers = shoppers[carted]
    if buyers.size:
        n_channels = len(model.channel_agents)
        masks = pop.compare_mask[buyers]
        compared = ((masks[:, None] >> np.arange(n_channels)) & 1).astype(np.bool_)
        weights = np.where(compared, table.channel_weight[pop.persona[buyers]], 0.0)
        # A shopper who compared only zero-affinity channels still buys where the visit came from.
        weights[weights.sum(axis=1) == 0] = compared[weights.sum(axis=1) == 0]
        channels = choose_channel(model, buyers, weights)
        bought = checkout(model, buyers, channels)
        leaving = np.concatenate([leaving, buyers[~bought]])
    pop.decision_day[shoppers] = NO_DAY
    return_to_resting_state(model, leaving)
