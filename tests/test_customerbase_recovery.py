"""Recovery and hold-out forecasts on order logs from the independent generator (n = 20,000 customers).

Three parameter sets, each a log of 20,000 customers entering over 12 weeks, two years of orders
with times of day, the first year for calibration and the second as hold-out:

- ``bgnbd``: the BG/NBD process at the CDNOW estimates, gamma-gamma spend at the CDNOW estimates;
- ``pareto``: the Pareto/NBD process at the CDNOW estimates, other gamma-gamma spend;
- ``mixture``: two BG/NBD segments (60% occasional and fickle, 40% frequent and loyal).

The logs go through the loader and the period split like any order log, summarized by
timestamp (``exact_times``): the models are continuous-time processes, and counting occasions by
day merges same-day purchases of frequent buyers, which biases ``r`` and ``alpha`` upward
(:func:`test_day_occasions_bias_the_rate_parameters`; figures in :mod:`simulator.customerbase`).

**How recovery is judged.** The three sets report 27 parameters with 95% profile-likelihood
intervals (:meth:`FitResult.profile_interval`; the Wald interval of a mixture segment's dropout
``a``, ``b`` can be useless, e.g. ``[0, 4e43]`` when the estimate runs off to ``a, b -> infinity``):
4 + 3 (BG/NBD and gamma-gamma), 4 + 3 (Pareto/NBD and gamma-gamma), 10 + 3 (two segments with
their weights, and gamma-gamma). Asking all 27 to hold the truth in one log is a lottery:
with calibrated intervals that happens in only ``0.95^27 = 25%`` of logs. The bound is derived
before looking: if each interval holds the truth with chance 0.95, independently, the number
holding it is Binomial(27, 0.95), and ``P(fewer than 23) = 1.0%`` (``scipy.stats.binom.cdf(22,
27, 0.95)``), so the test asks for at least 23. (The intervals of one fit are correlated, which
widens the spread of the count a little; the bound stays a 1-2% event for a correct method.)
Each point estimate must also lie within 4 standard errors of the truth (a 0.2% event over the
27 for a normal estimate). The seed is 15, chosen before any result and kept: an earlier version
of this test moved to seed 16 after seed 15 missed three intervals narrowly, which is picking
the seed by its outcome; it is undone here. :func:`test_interval_coverage_over_seeds` measures
the coverage of the fast models' intervals over 20 logs instead of judging one.

**Measured** (seed 15): 24 of the 27 profile intervals hold the truth - BG/NBD set 6 of 7
(``r`` 0.2355 against 0.243, 1.99 SE low), Pareto/NBD set 7 of 7, mixture 11 of 13 (the frequent
segment's ``r`` 3.50 against 4.0 and ``alpha`` 18.2 against 20, 3.05 and 2.49 SE low, along the
ridge where their ratio, the mean rate 0.192 against 0.200 a week, is kept); the largest distance
is 3.05 SE. The occasional segment's dropout ``a``, ``b`` (truth 2, 2) runs off to about 1,600
and 1,300, a dropout chance of 0.55 the same for everyone: at 0.03 purchases a week (about 1.5
in the calibration year while alive) the data cannot tell beta(2, 2) from a point, and the
profile interval ``[0, 3.3e6]`` says so.
Over seeds 100-119 the Wald intervals held the truth 19 or 20 times of 20 for every parameter.
Segments: BIC chooses 2 of 1-3, and the fitted model assigns 91.8% of customers to their true
segment, as the true parameters do (91.9%); weights 0.580 / 0.420 against 0.6 / 0.4.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_customerbase_generator import Segment, generate

from simulator.customerbase import (
    BGNBDParameters,
    LatentClassBGNBD,
    expected_revenue,
    fit_bgnbd_model,
    fit_gamma_gamma,
    fit_latent_class,
    fit_pareto_nbd,
    holdout_errors,
    select_latent_classes,
)
from simulator.data import load_orders, split_periods

SEED = 15
CUSTOMERS = 20_000
SETS = {
    "bgnbd": [Segment(1.0, r=0.243, alpha=4.414, a=0.793, b=2.426, p=6.25, q=3.74, gamma=15.44)],
    "pareto": [
        Segment(1.0, r=0.55, alpha=10.58, s=0.61, beta=11.67, p=3.0, q=8.0, gamma=200.0, dropout="pareto")
    ],
    "mixture": [
        Segment(0.6, r=0.6, alpha=20.0, a=2.0, b=2.0),
        Segment(0.4, r=4.0, alpha=20.0, a=0.3, b=10.0),
    ],
}


def _load(tmp_path_factory, name: str, timestamps: bool = True):
    orders, truth = generate(SETS[name], CUSTOMERS, 728, 84, seed=SEED, timestamps=timestamps)
    path = tmp_path_factory.mktemp(name) / "orders.csv"
    orders.to_csv(path, index=False)
    split = split_periods(load_orders(path), holdout_days=364, exact_times=timestamps)
    return split, truth


@pytest.fixture(scope="module", params=list(SETS))
def generated(request, tmp_path_factory):
    split, truth = _load(tmp_path_factory, request.param)
    return request.param, split, truth


def _inside(fit, truth: list[float]) -> pd.DataFrame:
    table = fit.table(method="profile")
    table["truth"] = truth
    table["inside"] = (table["lower"] <= table["truth"]) & (table["truth"] <= table["upper"])
    return table


def _fit(name: str, split):
    table = split.customers
    x, t_x, T = table["frequency"], table["recency"], table["T"]
    if name == "bgnbd":
        return fit_bgnbd_model(x, t_x, T)
    if name == "pareto":
        return fit_pareto_nbd(x, t_x, T)
    return fit_latent_class(x, t_x, T, classes=2)


def _truth(name: str) -> list[float]:
    segments = SETS[name]
    if name == "bgnbd":
        return [segments[0].r, segments[0].alpha, segments[0].a, segments[0].b]
    if name == "pareto":
        return [segments[0].r, segments[0].alpha, segments[0].s, segments[0].beta]
    values = [v for seg in segments for v in (seg.r, seg.alpha, seg.a, seg.b)]
    return values + [seg.share for seg in segments]


MIN_COVERED = 23
"""Intervals of the 27 that must hold the truth: P(Binomial(27, 0.95) < 23) = 1.0%."""
MAX_STANDARD_ERRORS = 4.0


@pytest.fixture(scope="module")
def recovery_tables(tmp_path_factory):
    """Each set's parameter table (estimate, se, profile interval, truth) with its gamma-gamma rows."""
    tables = {}
    for name in SETS:
        split, _ = _load(tmp_path_factory, name)
        fit = _fit(name, split)
        spend = fit_gamma_gamma(split.customers["frequency"], split.customers["monetary_value"])
        seg = SETS[name][0]
        tables[name] = pd.concat([_inside(fit, _truth(name)), _inside(spend, [seg.p, seg.q, seg.gamma])])
    return pd.concat(tables, names=["set"])


@pytest.mark.slow
def test_fitted_parameters_recover_the_truth_within_their_intervals(recovery_tables):
    table = recovery_tables
    assert len(table) == 27
    assert int(table["inside"].sum()) >= MIN_COVERED, table.to_string()
    distance = (table["estimate"] - table["truth"]).abs() / table["se"]
    assert (distance < MAX_STANDARD_ERRORS).all(), table.assign(distance=distance).to_string()


COVERAGE_SEEDS = range(100, 120)
"""The 20 logs of the coverage test: seeds 100-119, fixed before any run."""
MIN_COVERED_OF_20 = 16
"""Logs of the 20 whose interval must hold the truth, per parameter: with calibrated 95% intervals
P(Binomial(20, 0.95) < 16) = 0.26%, so for the 7 parameters together about 1.8%."""


@pytest.mark.slow
def test_interval_coverage_over_seeds(tmp_path):
    """The fast models' 95% Wald intervals (what ``summary()`` reports) hold the truth in about 95% of logs.

    BG/NBD and gamma-gamma at the CDNOW estimates, 20 logs of 20,000 customers (the ``bgnbd`` set).
    """
    seg = SETS["bgnbd"][0]
    truth = np.array([seg.r, seg.alpha, seg.a, seg.b, seg.p, seg.q, seg.gamma])
    covered = np.zeros(truth.size, dtype=np.int64)
    for seed in COVERAGE_SEEDS:
        orders, _ = generate(SETS["bgnbd"], CUSTOMERS, 728, 84, seed=seed, timestamps=True)
        path = tmp_path / f"orders_{seed}.csv"
        orders.to_csv(path, index=False)
        table = split_periods(load_orders(path), holdout_days=364, exact_times=True).customers
        fits = [
            fit_bgnbd_model(table["frequency"], table["recency"], table["T"]),
            fit_gamma_gamma(table["frequency"], table["monetary_value"]),
        ]
        lower = np.concatenate([fit.interval()[0] for fit in fits])
        upper = np.concatenate([fit.interval()[1] for fit in fits])
        covered += (lower <= truth) & (truth <= upper)
    names = ["r", "alpha", "a", "b", "p", "q", "gamma"]
    assert (covered >= MIN_COVERED_OF_20).all(), dict(zip(names, covered.tolist(), strict=True))


@pytest.mark.slow
def test_segments_are_recovered(tmp_path_factory):
    split, truth = _load(tmp_path_factory, "mixture")
    table = split.customers
    x, t_x, T = table["frequency"], table["recency"], table["T"]
    chosen, criteria = select_latent_classes(x, t_x, T, max_classes=3)
    assert criteria["chosen"].idxmax() == 2 and len(chosen.model.classes) == 2
    actual = truth.loc[table.index, "segment"].to_numpy()
    true_model = LatentClassBGNBD(
        tuple(BGNBDParameters(s.r, s.alpha, s.a, s.b) for s in SETS["mixture"]),
        tuple(s.share for s in SETS["mixture"]),
    )
    best_possible = np.mean(true_model.assign(x, t_x, T) == actual)
    fitted = np.mean(chosen.model.assign(x, t_x, T) == actual)
    # The fitted segments sort customers as well as the true parameters would (within 0.5 points).
    assert fitted > best_possible - 0.005
    assert fitted > 0.9
    # Each segment's share of customers is its weight, within sampling error.
    posterior = chosen.model.posterior(x, t_x, T).mean(axis=0)
    np.testing.assert_allclose(posterior, chosen.model.weights, atol=0.01)


@pytest.mark.slow
def test_holdout_forecasts_on_generated_logs(generated):
    """Closed-form forecasts of the hold-out year against what the generator did (figures in the report)."""
    name, split, _ = generated
    table = split.customers
    x, t_x, T, m = table["frequency"], table["recency"], table["T"], table["monetary_value"]
    model = _fit(name, split).model
    expected = model.conditional_expected_transactions(split.holdout_length, x, t_x, T)
    purchases = holdout_errors(expected, table["holdout_frequency"])
    # Sampling noise of a hold-out total of ~10,000-40,000 purchases by 20,000 customers is a
    # few percent; a right model with recovered parameters lands within 5%.
    assert abs(purchases["relative_error_total"]) < 0.05, purchases
    spend = fit_gamma_gamma(x, m).model
    revenue = holdout_errors(expected_revenue(spend, expected, x, m), table["holdout_revenue"])
    assert abs(revenue["relative_error_total"]) < 0.06, revenue


@pytest.mark.slow
def test_day_occasions_bias_the_rate_parameters(tmp_path_factory):
    """The same log summarized by day: fewer repeat occasions, and r, alpha pushed up."""
    by_time, _ = _load(tmp_path_factory, "bgnbd")
    by_day, _ = _load(tmp_path_factory, "bgnbd", timestamps=False)
    assert by_day.customers["frequency"].sum() < by_time.customers["frequency"].sum()
    exact = fit_bgnbd_model(
        by_time.customers["frequency"], by_time.customers["recency"], by_time.customers["T"]
    )
    daily = fit_bgnbd_model(by_day.customers["frequency"], by_day.customers["recency"], by_day.customers["T"])
    assert daily.estimates[0] > exact.estimates[0] and daily.estimates[1] > exact.estimates[1]
