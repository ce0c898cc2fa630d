"""Expected lifetime value from the true simulated state (simulator/engine/lifetime.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scenario_factory import small

from simulator import CommerceModel, Scenario, ScenarioWarning, simulate
from simulator.engine.lifetime import (
    daily_discount_factor,
    expected_discounted_purchases,
    expected_lifetime_value,
    latent_traits,
    mean_days_between_orders,
)
from simulator.engine.results import collect_results


def with_value_settings(scenario: Scenario, rate: float, days: int) -> Scenario:
    economics = scenario.economics.model_copy(
        update={"value_discount_rate": rate, "value_horizon_days": days}
    )
    return scenario.model_copy(update={"economics": economics})


@pytest.fixture(scope="module")
def market() -> Scenario:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScenarioWarning)
        return small(agents=6000, days=120)


def test_realized_part_is_the_margin_of_acquired_customers_discounted_to_acquisition(
    market: Scenario,
) -> None:
    result = simulate(with_value_settings(market, 0.1, 0), seed=4)
    orders = result.orders
    first = result.customers["first_purchase_day"].to_numpy(dtype=float, na_value=np.nan)[
        orders["shopper_id"]
    ]
    acquired = first >= 0
    delta = daily_discount_factor(0.1)
    expected = (orders["margin"][acquired] * delta ** (orders["day"][acquired] - first[acquired])).sum()
    kpis = result.summary
    assert kpis["expected_lifetime_value"] == pytest.approx(expected * market.population.scale, rel=1e-9)
    per_customer = kpis["expected_lifetime_value"] / kpis["new_customers"]
    assert kpis["expected_lifetime_value_per_customer"] == pytest.approx(per_customer, rel=1e-12)
    # Without discounting it is the margin of the customers acquired.
    flat = simulate(with_value_settings(market, 0.0, 0), seed=4).summary
    assert flat["expected_lifetime_value"] == pytest.approx(flat["acquired_customer_value"], rel=1e-9)


def test_remaining_value_grows_with_the_value_horizon_and_shrinks_with_discounting(market: Scenario) -> None:
    model = CommerceModel(market, seed=4)
    model.run()
    values = {}
    for rate, days in ((0.1, 0), (0.1, 180), (0.1, 365), (0.5, 365)):
        model.scenario = with_value_settings(market, rate, days)
        values[rate, days] = expected_lifetime_value(model)
    assert values[0.1, 0].remaining == 0
    assert 0 < values[0.1, 180].remaining < values[0.1, 365].remaining
    assert values[0.5, 365].remaining < values[0.1, 365].remaining
    assert values[0.1, 365].customers == pytest.approx(collect_results(model).summary["new_customers"])


def test_the_running_value_changes_nothing_and_ends_at_the_kpi(market: Scenario) -> None:
    model = CommerceModel(market, seed=6)
    running = []
    while model.running:
        model.step()
        if model.day % 30 == 0:
            running.append(expected_lifetime_value(model).per_customer)
    followed = collect_results(model)
    plain = simulate(market, seed=6)
    pd.testing.assert_frame_equal(followed.daily, plain.daily)
    pd.testing.assert_frame_equal(followed.customers, plain.customers)
    assert followed.summary == plain.summary
    assert running[-1] == plain.summary["expected_lifetime_value_per_customer"]
    assert all(np.isfinite(running)) and len(running) == 4


def test_renewal_mean_of_a_constant_chance_is_its_inverse() -> None:
    chance = np.array([0.01, 0.05, 0.3])
    days = mean_days_between_orders(np.repeat(chance[:, None], 40, axis=1), chance)
    np.testing.assert_allclose(days, 1 / chance)
    # An extra chance on day 3 shortens the wait; none ever: never again.
    spiked = np.full((1, 10), 0.01)
    spiked[0, 2] = 0.5
    assert mean_days_between_orders(spiked, np.array([0.01]))[0] < 100
    assert np.isinf(mean_days_between_orders(np.zeros((1, 5)), np.array([0.0]))[0])


@pytest.mark.slow
@pytest.mark.parametrize("levers", [False, True], ids=["levers_off", "levers_on"])
def test_expected_orders_predict_what_the_next_year_brings(levers: bool) -> None:
    """Orders of the customers acquired in a year, predicted on day 365, against the next 365 days.

    Measured at 20,000 agents on seeds 1-5 (actual / predicted): levers off 0.974-1.005; with
    the omnichannel retailer's levers 1.033-1.077, where the projection without the levers'
    lasting effects (CRM windows, win-back, recovered carts, loyalty's member price) predicts
    2.4-2.5 times too few. The stationary renewal leaves out interactions (win-back carts
    that retargeting recovers) and where a customer stands in the current cycle.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScenarioWarning)
        scenario = small("omnichannel_retailer", agents=20_000, days=730, levers=levers)
    actual = predicted = bare = 0.0
    for seed in (1, 2):
        model = CommerceModel(scenario, seed=seed)
        for _ in range(365):
            model.step()
        acquired = np.flatnonzero(model.population.first_purchase_day >= 0)
        traits = latent_traits(model).iloc[acquired]
        predicted += expected_discounted_purchases(
            traits["order_chance"], traits["dropout_per_order"], traits["alive_chance"], 365, 1.0
        ).sum()
        chance = -np.expm1(-traits["purchase_rate"] * traits["rate_lift"]) * traits["checkout_pass"]
        bare += expected_discounted_purchases(chance, traits["dropout_prob"], traits["alive"], 365, 1.0).sum()
        logged = sum(days.size for days in model.order_log.day)
        model.run()
        later = np.concatenate(model.order_log.shopper)[logged:]
        actual += np.bincount(later, minlength=model.population.size)[acquired].sum()
    assert actual / predicted == pytest.approx(1.0, abs=0.1 if levers else 0.05)
    if levers:
        assert actual / bare > 2.0
