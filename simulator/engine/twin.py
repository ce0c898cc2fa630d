"""The customer-base twin in the engine: real customers' traits from their posterior, new customers' arrivals.

A scenario with a ``customer_base`` (:mod:`simulator.config.customer_base`) starts from real
customers. For every seed the engine draws, from the model's ``rng``:

1. **Which customers** the agents stand for: all of them, or a systematic sample of
   ``population.agents`` (every ``N / agents``-th row of the history file from a random start;
   ``run.py calibrate`` sorts the file by history, so the sample is stratified).
2. **Each customer's segment** (persona), from the posterior chance of each segment given the
   history, ``w_k L_k(x, t_x, T) / sum_j w_j L_j(x, t_x, T)`` (:mod:`simulator.customerbase.latent_class`).
3. **Alive or not**, from the segment's ``P(alive | x, t_x, T)``, and the latent traits from the
   BG/NBD posterior (Fader, Hardie and Lee 2005): a customer alive at the start has purchase rate
   ``lambda ~ gamma(r + x, alpha + T)`` and dropout chance ``p ~ beta(a, b + x)``; one who dropped
   out right after the last purchase has ``lambda ~ gamma(r + x, alpha + t_x)`` and
   ``p ~ beta(a + 1, b + x - 1)`` (matters only if a lever brings the customer back). Times are days
   (``x`` repeat occasions, ``t_x`` days from the first to the last, ``T`` days from the first to
   the day before day 0). The daily repeat-purchase rate is ``lambda x rate_factor``.
4. **Spend per purchase**, from the gamma-gamma posterior ``nu ~ gamma(q + p x, gamma + x m_x)``:
   the customer's orders have mean list value ``spend_factor x p / nu`` (lognormal around it with
   the persona's ``basket_value.sigma``).

Drawing anew for each seed, instead of once for all, makes the spread of results over seeds
include what the history leaves unknown about each customer (the traits of a customer with one
purchase are far from certain), so an interval over seeds is a forecast interval.

New customers are agents after the existing ones of their persona. With ``acquisition.mode:
observed`` their number is Poisson (``new_customers_per_day / scale x horizon_days``), their
personas drawn by the personas' shares, each with a day of first purchase drawn uniformly over the
horizon (a Poisson stream); until that day they are outside the market (no channel reaches
them); on it they buy in a channel drawn by affinity (:func:`arrive`), without a checkout to
pass (the rate is of purchases). A referral can bring one forward. With ``mode: journey`` they
are ``acquisition.prospects`` ordinary prospects. Their traits come from their persona (the
segment's population distribution).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from scipy.special import softmax

from ..config.customer_base import AcquisitionMode, CustomerHistories, read_customer_histories
from ..config.scenario import Persona, Scenario, resolve_customer_file
from ..customerbase.bgnbd import BGNBDParameters, bgnbd_log_likelihood, probability_alive
from .population import NO_DAY

if TYPE_CHECKING:
    from .model import CommerceModel

__all__ = ["TwinLayout", "arrive", "segment_parameters", "twin_layout"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_TINY = 1e-9
"""Smallest beta parameter used: a persona's dropout mean of 0 or 1 makes one of them 0."""


def segment_parameters(persona: Persona) -> BGNBDParameters:
    """A persona's BG/NBD parameters in days (``time_unit_days = 1``).

    ``r`` = ``repurchase.shape``; ``alpha`` = ``shape x mean_days_between`` (days);
    ``a``, ``b`` = ``dropout.mean`` and ``1 - mean`` times ``dropout.concentration`` (at least 1e-9).
    """
    shape = persona.repurchase.shape
    mean, concentration = persona.dropout.mean, persona.dropout.concentration
    return BGNBDParameters(
        r=shape,
        alpha=shape * persona.repurchase.mean_days_between,
        a=max(mean * concentration, _TINY),
        b=max((1.0 - mean) * concentration, _TINY),
        time_unit_days=1.0,
    )


@dataclass(frozen=True)
class TwinLayout:
    """Where each agent of a twin comes from and its drawn traits (one entry per agent).

    Agents come in persona blocks (persona order); in each block the existing customers first,
    then the new-customer agents.

    Attributes
    ----------
    counts : numpy.ndarray
        Agents per persona.
    row : numpy.ndarray
        Row of the history file each agent stands for (-1: a new customer).
    purchase_rate : numpy.ndarray
        Repeat-purchase attempts per day of a live customer (rate x ``rate_factor``).
    dropout_prob : numpy.ndarray
        Chance of dropping out after a repeat purchase (0-1).
    alive : numpy.ndarray
        Alive at the start.
    basket_log_mean : numpy.ndarray
        Mean of the log list value of an order (log currency).
    arrival_day : numpy.ndarray
        Day of a new customer's first purchase (observed acquisition), else ``NO_DAY``.
    histories : CustomerHistories
        The history file.
    """

    counts: IntArray
    row: IntArray
    purchase_rate: npt.NDArray[np.float32]
    dropout_prob: npt.NDArray[np.float32]
    alive: npt.NDArray[np.bool_]
    basket_log_mean: FloatArray
    arrival_day: npt.NDArray[np.int32]
    histories: CustomerHistories

    @property
    def existing(self) -> npt.NDArray[np.bool_]:
        """Whether each agent is an existing customer."""
        result: npt.NDArray[np.bool_] = self.row >= 0
        return result


def twin_layout(scenario: Scenario, rng: np.random.Generator) -> TwinLayout:
    """Draw a twin's agents and their traits for one seed (see the module docstring).

    Parameters
    ----------
    scenario
        A scenario with a ``customer_base``.
    rng
        The model's generator.
    """
    settings = scenario.customer_base
    assert settings is not None
    histories = read_customer_histories(resolve_customer_file(scenario))
    personas = [scenario.population.personas[name] for name in scenario.persona_names]
    params = [segment_parameters(p) for p in personas]
    weights = np.array([p.share for p in personas], dtype=np.float64)
    weights /= weights.sum()

    rows = _sample_rows(histories.size, scenario.population.agents, rng)
    x = histories.frequency[rows].astype(np.float64)
    t_x = histories.recency_days[rows].astype(np.float64)
    age = histories.age_days[rows].astype(np.float64)
    k = len(personas)
    if k > 1:
        joint = np.stack([bgnbd_log_likelihood(c, x, t_x, age) for c in params], axis=-1) + np.log(weights)
        chances = softmax(joint, axis=-1)
        segment = (rng.random(rows.size)[:, None] > np.cumsum(chances, axis=-1)[:, :-1]).sum(axis=-1)
    else:
        segment = np.zeros(rows.size, dtype=np.int64)

    new_count = _new_customers(scenario, rng)
    new_segment = _new_segments(scenario, new_count, weights, rng)

    order = np.argsort(segment, kind="stable")
    counts_old = np.bincount(segment, minlength=k)
    counts_new = np.bincount(new_segment, minlength=k)
    counts = counts_old + counts_new
    n = int(counts.sum())
    row = np.full(n, -1, dtype=np.int64)
    agent_segment = np.repeat(np.arange(k), counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    old_slots = np.concatenate([np.arange(s, s + c) for s, c in zip(starts, counts_old, strict=True)])
    row[old_slots] = rows[order]
    existing = row >= 0

    rate = np.empty(n)
    dropout = np.empty(n)
    alive = np.ones(n, dtype=np.bool_)
    seg_old = agent_segment[existing]
    xo, to, ao = x[order], t_x[order], age[order]
    r, alpha, a, b = (np.array([getattr(c, f) for c in params]) for f in ("r", "alpha", "a", "b"))
    p_alive = np.empty(xo.size)
    for j, c in enumerate(params):
        here = seg_old == j
        p_alive[here] = probability_alive(c, xo[here], to[here], ao[here])
    alive_old = rng.random(xo.size) < p_alive
    horizon = np.where(alive_old, ao, to)
    rate[existing] = rng.gamma(r[seg_old] + xo, 1.0 / (alpha[seg_old] + horizon))
    dropout[existing] = np.where(
        alive_old,
        rng.beta(a[seg_old], b[seg_old] + xo),
        rng.beta(a[seg_old] + 1.0, np.maximum(b[seg_old] + xo - 1.0, _TINY)),
    )
    alive[existing] = alive_old
    seg_new = agent_segment[~existing]
    rate[~existing] = rng.gamma(r[seg_new], 1.0 / alpha[seg_new])
    dropout[~existing] = rng.beta(a[seg_new], b[seg_new])

    sigma = np.array([p.basket_value.sigma for p in personas])[agent_segment]
    mean_spend = np.empty(n)
    spend = settings.spend
    if spend is not None:
        repeats = np.zeros(n)
        repeats[existing] = xo
        money = np.zeros(n)
        money[existing] = np.nan_to_num(histories.monetary_value[rows[order]], nan=0.0)
        nu = rng.gamma(spend.q + spend.p * repeats, 1.0 / (spend.gamma + repeats * money))
        mean_spend[:] = spend.p / nu
    else:
        mean_spend[:] = np.array([p.basket_value.mean for p in personas])[agent_segment]
    basket_log_mean = np.log(mean_spend * settings.spend_factor) - sigma**2 / 2

    arrival = np.full(n, NO_DAY, dtype=np.int32)
    if settings.acquisition.mode == AcquisitionMode.observed and new_count:
        arrival[~existing] = rng.integers(0, scenario.horizon_days, new_count).astype(np.int32)
    return TwinLayout(
        counts=counts.astype(np.int64),
        row=row,
        purchase_rate=(rate * settings.rate_factor).astype(np.float32),
        dropout_prob=dropout.astype(np.float32),
        alive=alive,
        basket_log_mean=basket_log_mean,
        arrival_day=arrival,
        histories=histories,
    )


def _sample_rows(customers: int, agents: int, rng: np.random.Generator) -> IntArray:
    """All rows, or a systematic sample of ``agents`` of them from a random start."""
    if agents >= customers:
        return np.arange(customers, dtype=np.int64)
    step = customers / agents
    picked: IntArray = np.floor(rng.uniform(0.0, step) + step * np.arange(agents)).astype(np.int64)
    return np.minimum(picked, customers - 1)


def _new_customers(scenario: Scenario, rng: np.random.Generator) -> int:
    settings = scenario.customer_base
    assert settings is not None
    acquisition = settings.acquisition
    if acquisition.mode == AcquisitionMode.journey:
        return acquisition.prospects
    if acquisition.mode == AcquisitionMode.none:
        return 0
    mean = acquisition.new_customers_per_day / scenario.population.scale * scenario.horizon_days
    return int(rng.poisson(mean)) if mean > 0 else 0


def _new_segments(scenario: Scenario, count: int, weights: FloatArray, rng: np.random.Generator) -> IntArray:
    """Personas of the new-customer agents: drawn by share, or split by largest remainder (journey)."""
    settings = scenario.customer_base
    assert settings is not None
    k = weights.size
    if settings.acquisition.mode == AcquisitionMode.journey:
        exact = weights * count
        per = np.floor(exact).astype(np.int64)
        per[np.argsort(per - exact)[: count - int(per.sum())]] += 1
    else:
        per = rng.multinomial(count, weights) if count else np.zeros(k, dtype=np.int64)
    segments: IntArray = np.repeat(np.arange(k), per)
    return segments


def arrive(model: CommerceModel) -> None:
    """Today's new customers (observed acquisition) make their first purchase.

    Each buys in a channel drawn by the persona's affinity (times 1 + ad stock, as a repeat
    purchase) and joins the channels' audiences it was drawn into; one a referral already brought
    in is skipped.
    """
    pop = model.population
    if pop.arrival_order is None or pop.arrival_day is None:
        return
    days = pop.arrival_day[pop.arrival_order]
    lo, hi = np.searchsorted(days, [model.day, model.day + 1])
    if hi <= lo:
        return
    arrivers = pop.arrival_order[lo:hi]
    arrivers = arrivers[pop.first_purchase_day[arrivers] == NO_DAY]
    _join_audience(model, pop.arrival_order[lo:hi])
    if arrivers.size == 0:
        return
    from .economics import book_orders
    from .journey import choose_channel

    weights = pop.personas.channel_weight[pop.persona[arrivers]] * (1.0 + pop.ad_stock[:, arrivers].T)
    channels = choose_channel(model, arrivers, weights, "arrival_channel")
    book_orders(model, arrivers, channels)


def _join_audience(model: CommerceModel, shoppers: IntArray) -> None:
    """New customers join the audiences they were drawn into (kept aside until their first purchase)."""
    pop = model.population
    assert pop.pending_audience is not None
    joining = pop.pending_audience[:, shoppers]
    pop.audience[:, shoppers] = joining
    persona = pop.persona[shoppers].astype(np.int64)
    for c in range(joining.shape[0]):
        model.audience_per_persona[c] += np.bincount(
            persona[joining[c]], minlength=model.audience_per_persona.shape[1]
        )
