"""Running the twin: the engine factors, and the forecast of the hold-out period.

**Engine factors.** A calibrated purchase rate is a rate of *purchases*; the engine's rate is
of repeat *attempts*: an attempt goes to a channel and may be abandoned at checkout, channels'
messages (``retention_effect``) and the levers raise it. The order log was produced under the
base scenario's operation (its channels, spend and levers), so :func:`measure_factors` runs the
twin under that operation and sets ``rate_factor`` so that its existing customers buy at their
calibrated rates: from a pilot run with the drawn traits, the purchases of the existing
customers ``O`` against what those traits give in the bare BG/NBD story in days, ``A(m) =
sum_i alive_i q_i (1 - (1 - q_i p_i)^H) / (q_i p_i)``, ``q_i = 1 - exp(-m lambda_i)``, the
multiplier ``m`` solving ``A(m) = O`` is what the operation does to a calibrated rate, and
``rate_factor`` divides by it (pilots at the new factor refine it). The pilot runs over the
period the twin forecasts (the hold-out period; without one the twin's horizon, at most a
year): levers whose effect builds up (CRM messages after each order, win-back offers to
customers who lapse) make the multiplier depend on the period. ``spend_factor`` is
the ratio of the calibrated spend of the pilot's orders to their net revenue (returns,
discounts and shipping included). Both are properties of the engine under the base operation;
they use no hold-out data. Changing spend or levers in the twin then changes buying relative
to the observed operation.

**Hold-out forecast.** :func:`simulate_holdout` runs the twin over the hold-out period with
``seeds`` seeds. For each seed the fitted parameters are first drawn from their estimated
sampling distribution (normal on the transformed scale, the fits' observed-information
covariance), so the spread over seeds holds the estimation error, what each customer's history
leaves unknown (the engine's posterior draws) and the randomness of buying. The forecast of a
quantity is the mean over seeds, and its 95% interval the prediction interval of one more seed,
``mean +- t(0.975, n - 1) sd sqrt(1 + 1/n)``. :func:`closed_form_holdout` is the same fitted
model's closed-form forecast (``E[Y(t) | x, t_x, T]`` summed over customers, times the
gamma-gamma expected spend for revenue).

Counted quantities: **repeat orders**, the purchase occasions (customer-days) in the hold-out of
the customers known at the calibration end; **revenue**, their revenue in the hold-out;
**new customers**, customers whose first purchase is in the hold-out.

**Measured** (``calibrate`` on ``tests/fixtures/small_valid.yaml``, 20 seeds, at most 2
segments; the generator's logs of ``tests/test_customerbase_recovery.py`` at its seed 15, 20,000
customers, the second year held out; the CDNOW sample, 39 weeks held out). Repeat orders in the
hold-out, the twin's mean (sd over seeds) against the closed form of the same fitted model:

==========  =======  ================  ===========  ==========  =================
log         actual   twin (sd)         closed form  twin error  closed-form error
==========  =======  ================  ===========  ==========  =================
BG/NBD      15,478   15,623 (351)      15,560       +0.9%       +0.5%
Pareto/NBD  16,019   16,212 (205)      16,183       +1.2%       +1.0%
mixture     65,847   65,685 (1,271)    66,607       -0.2%       +1.2%
CDNOW       1,882    1,639 (141)       1,653        -12.9%      -12.2%
==========  =======  ================  ===========  ==========  =================

Revenue: +3.9% and +2.7%, +1.7% and +1.7%, -1.4% and -0.0%, -16.0% and -15.6%. The twin and the
closed form differ by less than twice the twin's Monte Carlo error in every case (the check of
``tests/test_calibrate_holdout.py``, with 10 seeds); both under-forecast CDNOW's second period.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.optimize import brentq
from scipy.special import softmax
from scipy.stats import t as student_t

from ..config.scenario import Scenario, ScenarioWarning, parse_scenario
from ..customerbase import expected_revenue
from ..engine.lifetime import expected_discounted_purchases
from ..engine.model import CommerceModel
from ..engine.population import NO_DAY
from .models import TIME_UNIT_DAYS, CustomerBaseFit
from .twin import Segment, mean_spend, segments_of, twin_personas

__all__ = [
    "PILOT_DAYS",
    "Factors",
    "TwinOutcome",
    "closed_form_holdout",
    "forecast_interval",
    "measure_factors",
    "run_twin",
    "simulate_holdout",
]

PILOT_DAYS = 365
"""Longest pilot run without a hold-out period (days); with one, the pilot runs over its length."""
PILOT_TOLERANCE = 0.005
"""A pilot round buying within this share of the bare story's expectation ends the measurement."""
PILOT_ROUNDS = 4
"""Most pilot rounds."""
PILOT_ORDERS = 20_000
"""Repeat orders of the existing customers a pilot round gathers (agent orders), seeds permitting."""
PILOT_SEEDS = 8
"""Most pilot runs in a round."""

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class TwinOutcome:
    """What the existing customers and the new ones did in one twin run (people and currency).

    Attributes
    ----------
    repeat_orders : float
        Purchase occasions (customer-days) of the existing customers.
    revenue : float
        Their revenue, net of discounts (returned orders count 0).
    new_customers : float
        First purchases of new customers.
    per_customer : pandas.DataFrame
        Per existing agent: ``row`` (of the history file), ``orders`` (occasions), ``revenue``,
        ``margin`` (contribution before marketing), ``discounted_margin`` (each order's margin
        discounted to the day before day 0, see :func:`run_twin`) and ``alive`` (drawn at the start).
    """

    repeat_orders: float
    revenue: float
    new_customers: float
    per_customer: pd.DataFrame


@dataclass(frozen=True)
class Factors:
    """The measured engine factors and the pilot figures behind them."""

    rate_factor: float
    spend_factor: float
    pilot_days: int
    rounds: list[dict[str, float]]


def run_twin(
    scenario: Scenario, seed: int, days: int | None = None, daily_discount: float | None = None
) -> tuple[TwinOutcome, CommerceModel]:
    """Run a twin for ``days`` (default its horizon) and count what its customers did.

    ``daily_discount`` discounts each order's margin by ``daily_discount^(day + 1)`` in
    ``per_customer.discounted_margin`` (default: the scenario's ``economics.value_discount_rate``).

    Returns
    -------
    tuple
        The outcome (real-market units) and the finished model.
    """
    if days is not None and days != scenario.horizon_days:
        with warnings.catch_warnings():  # the runs are meant to be shorter: no warning of a cut calendar
            warnings.simplefilter("ignore", ScenarioWarning)
            scenario = scenario.with_overrides(days=days)
    model = CommerceModel(scenario, seed=seed)
    pop = model.population
    twin = pop.twin
    assert twin is not None, "the scenario has no customer_base"
    alive = pop.alive.copy()
    try:
        model.run()
    finally:
        model.release()
    log = model.order_log
    assert log is not None
    shopper = np.concatenate(log.shopper).astype(np.int64) if log.shopper else np.empty(0, np.int64)
    day = np.concatenate(log.day).astype(np.int64) if log.day else np.empty(0, np.int64)
    revenue = np.concatenate(log.revenue) if log.revenue else np.empty(0)
    margin = np.concatenate(log.margin) if log.margin else np.empty(0)
    existing = twin.existing
    mine = existing[shopper]
    n = pop.size
    delta = model.value_discount if daily_discount is None else daily_discount
    occasions = np.unique(shopper[mine] * (model.horizon_days + 1) + day[mine]) // (model.horizon_days + 1)
    orders = np.bincount(occasions, minlength=n)
    spent = np.bincount(shopper[mine], weights=revenue[mine], minlength=n)
    earned = np.bincount(shopper[mine], weights=margin[mine], minlength=n)
    discounted = np.bincount(shopper[mine], weights=margin[mine] * delta ** (day[mine] + 1.0), minlength=n)
    ids = np.flatnonzero(existing)
    per_customer = pd.DataFrame(
        {
            "row": twin.row[ids],
            "orders": orders[ids],
            "revenue": spent[ids],
            "margin": earned[ids],
            "discounted_margin": discounted[ids],
            "alive": alive[ids],
        }
    )
    scale = model.scale
    new = int(np.count_nonzero(~existing & (pop.first_purchase_day != NO_DAY)))
    outcome = TwinOutcome(
        repeat_orders=float(orders.sum() * scale),
        revenue=float(spent.sum() * scale),
        new_customers=float(new * scale),
        per_customer=per_customer,
    )
    return outcome, model


def measure_factors(scenario: Scenario, seed: int, days: int, max_rounds: int = PILOT_ROUNDS) -> Factors:
    """Measure ``rate_factor`` and ``spend_factor`` in pilot runs (see the module docstring).

    Each round runs the twin for ``days`` days on seeds ``seed, seed + 1, ...`` until the
    existing customers have bought :data:`PILOT_ORDERS` times (at most :data:`PILOT_SEEDS`
    seeds), pooling the runs; rounds go on until the pilot buys within
    :data:`PILOT_TOLERANCE` of the bare story's expectation (at most ``max_rounds``).

    Parameters
    ----------
    scenario
        The twin (its factors are the starting point, usually 1).
    seed
        First seed of the pilot runs.
    days
        Length of a pilot run (days): the period the twin will forecast.
    max_rounds
        Most pilot rounds.
    """
    base = scenario.customer_base
    assert base is not None
    rate_factor, spend_factor = base.rate_factor, base.spend_factor
    figures: list[dict[str, float]] = []
    current = scenario
    for _ in range(max_rounds):
        figure, multiplier, spend_ratio = _pilot(current, seed, days)
        figures.append(figure)
        if multiplier is None or abs(multiplier - 1.0) < PILOT_TOLERANCE:
            break
        # The pilot tried rate_factor x the calibrated rates and bought multiplier x them.
        rate_factor = min(max(rate_factor / multiplier, 1e-3), 100.0)
        if spend_ratio is not None:
            spend_factor = min(max(spend_factor * spend_ratio, 1e-3), 100.0)
        current = with_factors(scenario, rate_factor, spend_factor)
    return Factors(rate_factor, spend_factor, days, figures)


def _pilot(scenario: Scenario, seed: int, days: int) -> tuple[dict[str, float], float | None, float | None]:
    """One pilot round: its figures, the multiplier of the calibrated rates and the spend ratio.

    The multiplier is ``None`` when no existing customer bought (or the bare story cannot reach
    what they bought); the spend ratio (calibrated spend / net revenue) when they spent nothing.
    """
    base = scenario.customer_base
    assert base is not None
    observed = target = revenue = 0.0
    runs: list[tuple[FloatArray, FloatArray, FloatArray]] = []
    for offset in range(PILOT_SEEDS):
        outcome, model = run_twin(scenario, seed + offset, days)
        pop = model.population
        twin = pop.twin
        assert twin is not None and pop.basket_log_mean is not None
        ids = np.flatnonzero(twin.existing)
        orders = outcome.per_customer["orders"].to_numpy(np.float64)
        calibrated = pop.purchase_rate[ids].astype(np.float64) / base.rate_factor
        alive = outcome.per_customer["alive"].to_numpy(np.float64)
        runs.append((calibrated, pop.dropout_prob[ids].astype(np.float64), alive))
        observed += float(orders.sum())
        # Net revenue of the orders against their calibrated spend (mean list value / factor).
        sigma = pop.personas.basket_log_sigma[pop.persona[ids]]
        spend = np.exp(pop.basket_log_mean[ids] + sigma**2 / 2) / base.spend_factor
        target += float((orders * spend).sum())
        revenue += float(outcome.per_customer["revenue"].sum())
        if observed >= PILOT_ORDERS:
            break

    def bare(multiplier: float) -> float:
        total = 0.0
        for calibrated, dropout, alive in runs:
            chance = -np.expm1(-calibrated * multiplier)
            total += float(expected_discounted_purchases(chance, dropout, alive, days, 1.0).sum())
        return total

    figure = {
        "rate_factor": base.rate_factor,
        "spend_factor": base.spend_factor,
        "seeds": float(len(runs)),
        "repeat_orders": observed,
        "bare_expected": bare(1.0),
        "revenue": revenue,
        "calibrated_spend": target,
    }
    multiplier = None
    if observed > 0 and bare(1e3) >= observed:
        multiplier = float(brentq(lambda m: bare(m) - observed, 1e-4, 1e3, xtol=1e-6))
    return figure, multiplier, (target / revenue if revenue > 0 else None)


def with_factors(scenario: Scenario, rate_factor: float, spend_factor: float) -> Scenario:
    """The twin with other engine factors."""
    base = scenario.customer_base
    assert base is not None
    changed = base.model_copy(update={"rate_factor": rate_factor, "spend_factor": spend_factor})
    return _same_source(scenario.model_copy(update={"customer_base": changed}), scenario)


def with_model(
    scenario: Scenario,
    base: Scenario,
    segments: list[Segment],
    spend: tuple[float, float, float],
    money: float,
) -> Scenario:
    """The twin with other model parameters (its personas and gamma-gamma spend)."""
    data = scenario.model_dump(mode="python", exclude_none=True)
    data["population"]["personas"] = twin_personas(base, segments, spend, money)
    data["customer_base"]["spend"] = dict(zip(("p", "q", "gamma"), spend, strict=True))
    return parse_scenario(data, _source(scenario))


def draw_parameters(
    fit: CustomerBaseFit, rng: np.random.Generator
) -> tuple[list[Segment], tuple[float, float, float]]:
    """The chosen model's segments and gamma-gamma parameters, drawn from their sampling distribution.

    Normal on the transformed scale (logs of the positive parameters, log-odds of the weights
    against the first segment) with the fits' observed-information covariance; the estimates
    themselves when a covariance is not available (a flat or boundary optimum).
    """
    segments = segments_of(fit)
    spend = (fit.spend_model.p, fit.spend_model.q, fit.spend_model.gamma)
    surface = fit.chosen.surface
    if surface is not None and np.isfinite(surface.covariance).all():
        phi = rng.multivariate_normal(surface.phi, surface.covariance, method="eigh")
        k = len(segments)
        theta = np.exp(np.clip(phi[: 4 * k], -30.0, 30.0)).reshape(k, 4)
        weights = softmax(np.concatenate([[0.0], phi[4 * k :]])) if k > 1 else np.ones(1)
        segments = [
            Segment(float(w), *(float(v) for v in row)) for row, w in zip(theta, weights, strict=True)
        ]
    gamma_surface = fit.spend.surface
    if gamma_surface is not None and np.isfinite(gamma_surface.covariance).all():
        drawn = np.exp(rng.multivariate_normal(gamma_surface.phi, gamma_surface.covariance, method="eigh"))
        spend = (float(drawn[0]), float(drawn[1]), float(drawn[2]))
    return segments, spend


def simulate_holdout(
    twin: Scenario, base: Scenario, fit: CustomerBaseFit, seeds: list[int], draw: bool = True
) -> pd.DataFrame:
    """Run the twin over the hold-out period once per seed (see the module docstring).

    Parameters
    ----------
    twin
        The calibrated twin (engine factors measured).
    base
        The base scenario (for the personas of drawn parameters).
    fit
        The fitted models.
    seeds
        Seeds of the runs.
    draw
        Draw the parameters from their sampling distribution for each seed.

    Returns
    -------
    pandas.DataFrame
        Index ``seed``: ``repeat_orders``, ``revenue``, ``new_customers`` (people, currency).
    """
    days = fit.split.holdout_days
    rows = []
    money = mean_spend(fit)
    for seed in seeds:
        scenario = twin
        if draw:
            segments, spend = draw_parameters(fit, np.random.default_rng([seed, 15]))
            scenario = with_model(twin, base, segments, spend, money)
        outcome, _ = run_twin(scenario, seed, days)
        rows.append(
            {
                "seed": seed,
                "repeat_orders": outcome.repeat_orders,
                "revenue": outcome.revenue,
                "new_customers": outcome.new_customers,
            }
        )
    return pd.DataFrame(rows).set_index("seed")


def forecast_interval(values: npt.ArrayLike, level: float = 0.95) -> dict[str, float]:
    """Mean over seeds and the prediction interval of one more seed (normal, ``t`` quantile).

    Returns
    -------
    dict
        ``mean``, ``sd``, ``low``, ``high``, ``seeds``.
    """
    data = np.asarray(values, dtype=np.float64)
    n = data.size
    mean = float(data.mean())
    sd = float(data.std(ddof=1)) if n > 1 else float("nan")
    spread = float(student_t.ppf(0.5 + level / 2, n - 1)) * sd * np.sqrt(1 + 1 / n) if n > 1 else float("nan")
    return {"mean": mean, "sd": sd, "low": mean - spread, "high": mean + spread, "seeds": float(n)}


def closed_form_holdout(fit: CustomerBaseFit, weight: float = 1.0) -> dict[str, float]:
    """The chosen model's closed-form forecast of the hold-out: repeat orders and revenue.

    ``weight``: people each customer of the log stands for (the results are in people).

    Returns
    -------
    dict
        ``repeat_orders`` (sum of ``E[Y(t) | x, t_x, T]``) and ``revenue`` (times each
        customer's gamma-gamma expected spend), for the calibration customers.
    """
    x, t_x, age = fit.histories()
    length = fit.split.holdout_days / TIME_UNIT_DAYS
    expected = fit.model.conditional_expected_transactions(length, x, t_x, age)
    money = fit.split.customers["monetary_value"].to_numpy(np.float64)
    revenue = expected_revenue(fit.spend_model, expected, x, np.nan_to_num(money, nan=0.0))
    return {"repeat_orders": float(expected.sum()) * weight, "revenue": float(revenue.sum()) * weight}


def actual_holdout(fit: CustomerBaseFit, weight: float = 1.0) -> dict[str, float]:
    """What happened in the hold-out: the calibration customers' repeat orders and revenue, new customers.

    ``weight``: people each customer of the log stands for (the results are in people).
    """
    split = fit.split
    return {
        "repeat_orders": float(split.customers["holdout_frequency"].sum()) * weight,
        "revenue": float(split.customers["holdout_revenue"].sum()) * weight,
        "new_customers": float(len(split.late_customers)) * weight,
    }


def _source(scenario: Scenario) -> str:
    return str(getattr(scenario, "_source", "<scenario>"))


def _same_source(scenario: Scenario, like: Scenario) -> Scenario:
    object.__setattr__(scenario, "_source", _source(like))
    return scenario
