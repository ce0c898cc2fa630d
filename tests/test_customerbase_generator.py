"""An order-log generator independent of the simulator, from the textbook processes, and its own checks.

Each customer makes a first purchase at an entry time drawn uniformly over the first
``entry_days`` days (continuous time, in days), then repeat purchases as a Poisson process of
rate ``lambda`` per time unit, ``lambda ~ gamma(r, rate alpha)``, until they drop out:

- ``"bgnbd"``: after each repeat purchase with chance ``p ~ beta(a, b)`` (Fader, Hardie and Lee 2005);
- ``"pareto"``: at an exponential lifetime of rate ``mu ~ gamma(s, rate beta)`` (Schmittlein et al. 1987).

Every purchase is worth ``z ~ gamma(p, rate nu)``, ``nu ~ gamma(q, rate gamma)`` (gamma-gamma).
Orders carry calendar dates (the day of the continuous time) from ``2020-01-01``; the fitted
models see them through :mod:`simulator.data.orders` like any order log. Segments of a mixture are
generated one after the other with their own parameters.

This module also builds the shipped sample order log ``scenarios/examples/orders_sample.csv``
(:func:`sample_order_log`) and checks that the shipped file is what the seed gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import betaln

START = pd.Timestamp("2020-01-01")
SAMPLE = Path(__file__).resolve().parent.parent / "scenarios" / "examples" / "orders_sample.csv"


@dataclass(frozen=True)
class Segment:
    """One group of customers: its share and the true parameters (rates per ``unit`` days)."""

    share: float
    r: float
    alpha: float
    a: float = 1.0  # BG/NBD dropout
    b: float = 1.0
    s: float = 1.0  # Pareto/NBD dropout
    beta: float = 1.0
    p: float = 6.0  # gamma-gamma spend
    q: float = 4.0
    gamma: float = 15.0
    dropout: str = "bgnbd"


def generate(
    segments: list[Segment],
    customers: int,
    days: int,
    entry_days: int,
    seed: int,
    unit: float = 7.0,
    timestamps: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Orders of ``customers`` customers observed for ``days`` days.

    Dates are days (``2020-01-03``), or with ``timestamps`` times to the second
    (``2020-01-03T13:45:12``).

    Returns
    -------
    tuple
        The order log (``order_id``, ``customer_id``, ``date``, ``revenue``) and the truth per
        customer (``segment``, ``entry``, ``rate``, ``alive_at_end``).
    """
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(customers, [seg.share for seg in segments])
    ids, times, values, truth = [], [], [], []
    first_id = 0
    for index, (seg, n) in enumerate(zip(segments, counts, strict=True)):
        entry = rng.uniform(0, entry_days, n)
        rate = rng.gamma(seg.r, 1 / seg.alpha, n) / unit  # purchases per day
        nu = rng.gamma(seg.q, 1 / seg.gamma, n)
        if seg.dropout == "bgnbd":
            drop = rng.beta(seg.a, seg.b, n)
            death = np.full(n, np.inf)
        else:
            drop = np.zeros(n)
            death = entry + rng.exponential(1.0, n) / (rng.gamma(seg.s, 1 / seg.beta, n) / unit)
        who = np.arange(n)
        clock = entry.copy()
        ids.append(who + first_id)
        times.append(entry)
        values.append(rng.gamma(seg.p, 1 / nu))
        alive = np.ones(n, dtype=bool)
        active = who
        while active.size:
            clock[active] += rng.exponential(1.0, active.size) / rate[active]
            bought = active[(clock[active] < days) & (clock[active] < death[active])]
            died = active[(clock[active] < days) & (clock[active] >= death[active])]
            alive[died] = False
            ids.append(bought + first_id)
            times.append(clock[bought])
            values.append(rng.gamma(seg.p, 1 / nu[bought]))
            gone = rng.random(bought.size) < drop[bought]
            alive[bought[gone]] = False
            active = bought[~gone]
        alive &= death >= days
        truth.append(
            pd.DataFrame({"segment": index, "entry": entry, "rate": rate * unit, "alive_at_end": alive})
        )
        first_id += n
    customer = np.concatenate(ids)
    time = np.concatenate(times)
    order = np.lexsort((time, customer))
    dates = START + pd.to_timedelta(
        np.floor(time[order] * (86_400 if timestamps else 1)), unit="s" if timestamps else "D"
    )
    orders = pd.DataFrame(
        {
            "order_id": np.arange(order.size),
            "customer_id": [f"C{c:06d}" for c in customer[order]],
            "date": dates.strftime("%Y-%m-%dT%H:%M:%S" if timestamps else "%Y-%m-%d"),
            "revenue": np.round(np.concatenate(values)[order], 2),
        }
    )
    table = pd.concat(truth, ignore_index=True)
    table.index = pd.Index([f"C{c:06d}" for c in range(customers)], name="customer_id")
    return orders, table


def sample_order_log() -> pd.DataFrame:
    """The shipped sample: 1,000 customers of two segments, 2 years (seed 15)."""
    segments = [
        Segment(0.35, r=2.0, alpha=8.0, a=0.5, b=8.0, p=4.0, q=6.0, gamma=60.0),
        Segment(0.65, r=0.4, alpha=12.0, a=1.5, b=2.0, p=6.0, q=4.0, gamma=15.0),
    ]
    orders, _ = generate(segments, 1_000, 730, 182, seed=15)
    return orders


def test_shipped_sample_is_what_the_seed_gives():
    shipped = pd.read_csv(SAMPLE, dtype={"customer_id": str, "date": str})
    pd.testing.assert_frame_equal(shipped, sample_order_log(), check_dtype=False)


def test_share_without_repeat_purchase_follows_the_bgnbd_formula():
    """Everyone entering at 0 and watched for t: P(X(t)=0) = (alpha/(alpha+t))^r B(a,b)/B(a,b) (eq. 8)."""
    seg = Segment(1.0, r=0.8, alpha=6.0, a=1.2, b=3.0)
    orders, _ = generate([seg], 40_000, 182, 1, seed=3)
    per_customer = orders.groupby("customer_id").size() - 1
    t = (182 - 0.5) / 7
    expected = (seg.alpha / (seg.alpha + t)) ** seg.r
    # Standard error of a share at n = 40,000 is at most 0.0025.
    assert (per_customer == 0).mean() == pytest.approx(expected, abs=0.01)
    none = (seg.alpha / (seg.alpha + t)) ** seg.r
    one = np.exp(betaln(seg.a, seg.b + 1) - betaln(seg.a, seg.b)) * seg.r * none * t / (seg.alpha + t)
    one += np.exp(betaln(seg.a + 1, seg.b) - betaln(seg.a, seg.b)) * (1 - none)
    assert (per_customer == 1).mean() == pytest.approx(one, abs=0.01)


def test_mean_spend_follows_the_gamma_gamma_process():
    seg = Segment(1.0, r=1.0, alpha=2.0, p=3.0, q=5.0, gamma=40.0)
    orders, _ = generate([seg], 20_000, 100, 1, seed=4)
    # E[z] = p gamma / (q - 1) = 30 per order; spread across customers keeps the mean within 1.5%.
    assert orders["revenue"].mean() == pytest.approx(30.0, rel=0.015)
