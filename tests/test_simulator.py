"""Behaviour and invariants of the simulator core."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd
import pytest
from scenario_factory import BUNDLED, assert_money_adds_up, bundled_dict, small, uniform_market
from scipy.special import hyp2f1

from simulator import CommerceModel, ScenarioWarning, State, parse_scenario, simulate
from simulator.engine.population import NO_DAY


@pytest.fixture(scope="module")
def result():
    return simulate(small(agents=8000, days=120, levers=False), seed=3)


def test_same_seed_gives_identical_frames(result):
    again = simulate(small(agents=8000, days=120, levers=False), seed=3)
    pd.testing.assert_frame_equal(result.daily, again.daily)
    pd.testing.assert_frame_equal(result.channels, again.channels)
    pd.testing.assert_frame_equal(result.customers, again.customers)
    assert result.summary == again.summary


def test_different_seed_gives_different_results(result):
    other = simulate(small(agents=8000, days=120, levers=False), seed=4)
    assert not result.daily["orders"].equals(other.daily["orders"])
    assert result.summary["revenue"] != other.summary["revenue"]


def test_population_is_conserved_every_day(result):
    states = result.daily[[s.name.lower() for s in State]]
    people = result.scenario.population.agents * result.scenario.population.scale
    np.testing.assert_allclose(states.sum(axis=1), people, rtol=1e-12)
    assert (states >= 0).all().all()


def test_money_adds_up(result):
    daily = result.daily
    profit = daily["revenue"] - daily["discounts"] - daily["cogs"] - daily["fees"] - daily["fulfilment"]
    np.testing.assert_allclose(profit - daily["spend"], daily["profit"], rtol=1e-9, atol=1e-6)
    kpis = result.summary
    assert kpis["program_costs"] == 0  # no levers: the core identity
    assert_money_adds_up(result)
    # Per-shopper margins are the order contributions; channel fixed costs are the rest of the fees.
    scale = result.scenario.population.scale
    fixed = sum(c.fixed_cost_per_day for c in result.scenario.channels) * result.scenario.horizon_days
    assert result.customers["margin"].sum() * scale - fixed == pytest.approx(
        kpis["profit"] + kpis["marketing_spend"], rel=1e-9
    )
    # Spend is exactly the plan.
    planned = sum(c.daily_spend for c in result.scenario.channels) * result.scenario.horizon_days
    assert kpis["marketing_spend"] == pytest.approx(planned)


def test_orders_and_customers_are_consistent(result):
    customers = result.customers
    scale = result.scenario.population.scale
    assert customers["orders"].sum() * scale == pytest.approx(result.summary["orders"])
    new = customers["first_purchase_day"].ge(0).fillna(False)
    assert new.sum() * scale == pytest.approx(result.summary["new_customers"])
    assert (customers.loc[new, "acquisition_channel"] != "none").all()
    assert (customers.loc[new, "orders"] >= 1).all()


def test_zero_spend_leaves_only_organic_sales():
    data = bundled_dict(levers=False)
    for channel in data["channels"]:
        channel["daily_spend"] = 0
    data["population"].update(agents=5000, scale=400)
    data["horizon_days"] = 90
    organic = simulate(parse_scenario(data), seed=5)
    assert organic.summary["marketing_spend"] == 0
    assert organic.channels["impressions"].sum() == 0
    assert organic.channels["reach"].sum() == 0
    assert organic.summary["orders"] > 0  # organic discovery, organic visits and repeat buyers

    for channel in data["channels"]:
        channel["organic_discovery"] = 0
        channel["organic_visit_rate"] = 0
    data["population"].update(initial_customer_share=0, initial_aware_share=0)
    nothing = simulate(parse_scenario(data), seed=5)
    assert nothing.summary["orders"] == 0
    assert nothing.summary["revenue"] == 0


@pytest.mark.parametrize("mean_frequency", [0.1, 0.5, 1.0, 2.0, 4.0])
def test_reach_follows_poisson_curve(mean_frequency):
    """Daily reach at mean frequency m is 1 - exp(-m), averaged over 10 independent days."""
    agents, days = 100_000, 10
    cost_per_mille = 10.0
    spend = mean_frequency * agents * cost_per_mille / 1000
    scenario = uniform_market(
        agents,
        [{"name": "ads", "daily_spend": spend, "cost_per_mille": cost_per_mille, "frequency_cap": 100}],
        days=days,
    )
    model = CommerceModel(scenario, seed=11)
    model.run()
    ledger = model.channel_agents[0].ledger
    np.testing.assert_allclose(ledger["impressions"], mean_frequency * agents)
    reach_share = ledger["reach"].mean() / agents
    assert reach_share == pytest.approx(1 - np.exp(-mean_frequency), rel=0.01)


def test_reach_with_audience_share_saturates_at_the_audience():
    agents = 100_000
    scenario = uniform_market(
        agents,
        [
            {
                "name": "ads",
                "daily_spend": 2.0 * agents * 10 / 1000,
                "cost_per_mille": 10,
                "audience_share": 0.4,
            }
        ],
        days=10,
    )
    model = CommerceModel(scenario, seed=2)
    model.run()
    audience = model.population.audience[0].sum()
    m = 2.0 * agents / audience
    reach = model.channel_agents[0].ledger["reach"].mean()
    assert reach / audience == pytest.approx(1 - np.exp(-m), rel=0.01)


@pytest.mark.slow
def test_response_to_spend_is_increasing_and_concave():
    """What social's spend buys rises with spend, by less for each extra step (paired seeds)."""
    base = bundled_dict(levers=False)
    base["population"].update(agents=30_000, scale=2_000_000 / 30_000)
    base["horizon_days"] = 120
    levels = [0.0, 1.0, 2.0, 3.0, 4.0]
    seeds = [1, 2, 3]
    visits, aware, customers = [], [], []
    for level in levels:
        data = copy.deepcopy(base)
        social = next(c for c in data["channels"] if c["name"] == "social")
        social["daily_spend"] = 5000 * level
        runs = [simulate(parse_scenario(data), seed=s) for s in seeds]
        visits.append(np.mean([r.channel_totals().loc["social", "visits"] for r in runs]))
        aware.append(np.mean([r.channel_totals().loc["social", "new_aware"] for r in runs]))
        customers.append(np.mean([r.summary["new_customers"] for r in runs]))
    for outcome in (visits, aware):
        steps = np.diff(outcome)
        assert (steps > 0).all(), outcome
        assert (np.diff(steps) < 0).all(), outcome
    # New customers (all channels) are noisier: rising overall, the first step worth most.
    assert customers[-1] > customers[2] > customers[0], customers
    assert customers[1] - customers[0] > (customers[4] - customers[1]) / 3, customers


def _repeat_buyers_model(
    shape: float, mean_days: float, dropout_mean: float, concentration: float, days: int
):
    """Every shopper made a first purchase on day -1; no marketing, no friction."""
    scenario = uniform_market(
        20_000,
        [{"name": "shop", "checkout_friction": 0.0, "retention_effect": 0.0}],
        days=days,
        initial_customer_share=1.0,
    )
    data = scenario.model_dump(mode="python")
    data["population"]["personas"]["everyone"]["repurchase"] = {
        "mean_days_between": mean_days,
        "shape": shape,
    }
    data["population"]["personas"]["everyone"]["dropout"] = {
        "mean": dropout_mean,
        "concentration": concentration,
    }
    model = CommerceModel(parse_scenario(data), seed=8)
    pop = model.population
    pop.last_purchase_day[:] = -1
    pop.first_purchase_day[:] = -1
    pop.state[:] = State.ACTIVE
    model.run()
    return model


def test_one_time_buyer_share_matches_gamma_poisson():
    r, mean_days, days = 0.5, 40.0, 120
    model = _repeat_buyers_model(r, mean_days, dropout_mean=0.3, concentration=6, days=days)
    alpha = r * mean_days  # gamma rate parameter in days
    expected = (alpha / (alpha + days)) ** r
    one_time = np.mean(model.population.orders == 0)
    assert one_time == pytest.approx(expected, abs=0.012)


def test_repeat_purchases_with_dropout_match_bgnbd_expectation():
    r, mean_days, days = 0.8, 30.0, 180
    dropout_mean, concentration = 0.3, 6.0
    a, b = dropout_mean * concentration, (1 - dropout_mean) * concentration
    model = _repeat_buyers_model(r, mean_days, dropout_mean, concentration, days)
    alpha = r * mean_days
    t = days
    expected = (
        (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, t / (alpha + t)))
    )
    observed = model.population.orders.mean()
    assert observed == pytest.approx(expected, rel=0.05)
    # Dropout matters: without it, the mean number of repeat purchases would be t / mean_days.
    assert observed < 0.8 * t / mean_days


def test_lifecycle_thresholds_follow_recency(result):
    customers = result.customers
    last_day = result.scenario.horizon_days - 1
    recency = last_day - customers["last_purchase_day"]
    cycle = result.scenario.lifecycle
    bought = customers["last_purchase_day"].notna() & customers["state"].isin(["active", "lapsed", "churned"])
    expected = np.where(
        recency[bought] >= cycle.churned_after_days,
        "churned",
        np.where(recency[bought] >= cycle.lapsed_after_days, "lapsed", "active"),
    )
    assert (customers.loc[bought, "state"].astype(str).to_numpy() == expected).all()


def test_dropped_out_customers_never_buy_again():
    model = _repeat_buyers_model(1.0, 10.0, dropout_mean=0.5, concentration=4, days=60)
    pop = model.population
    dead = ~pop.alive
    assert dead.any()
    # A dropped-out shopper's last purchase is the repeat purchase that ended it.
    assert (pop.orders[dead] >= 1).all()
    assert (pop.last_purchase_day[dead] > NO_DAY).all()


def test_personas_differ_in_behaviour(result):
    by_persona = result.customers.groupby("persona", observed=True)
    buyers = result.customers[result.customers["orders"] > 0]
    aov = (
        buyers.groupby("persona", observed=True)["spend"].sum()
        / buyers.groupby("persona", observed=True)["orders"].sum()
    )
    assert aov["searcher"] > aov["bargain_hunter"]
    channel_mix = pd.crosstab(buyers["persona"], buyers["acquisition_channel"], normalize="index")
    assert channel_mix.loc["impulse", "social"] > channel_mix.loc["searcher", "social"]
    assert channel_mix.loc["searcher", "search"] > channel_mix.loc["impulse", "search"]
    assert len(by_persona) == 4


def test_crm_reaches_only_known_shoppers():
    model = CommerceModel(small(agents=5000, days=1, levers=False), seed=1)
    crm = next(c for c in model.channel_agents if c.name == "crm")
    known_before = model.population.known.copy()
    model.step()
    touched = model.population.fatigue[crm.index] > 0
    assert touched.any()
    assert not (touched & ~known_before).any()


def test_warns_outside_three_to_five_channels():
    data = bundled_dict(levers=False)
    data["channels"] = data["channels"][:2]
    for persona in data["population"]["personas"].values():
        persona["channel_affinity"] = {
            k: v for k, v in persona["channel_affinity"].items() if k in {"search", "social"}
        }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parse_scenario(data, "two.yaml")
    assert any(issubclass(w.category, ScenarioWarning) and "2 channels" in str(w.message) for w in caught)


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_bundled_scenarios_run(path):
    name = path.stem
    outcome = simulate(small(name, agents=4000, days=45), seed=1)
    assert outcome.summary["orders"] > 0
    assert outcome.summary["marketing_spend"] > 0
    assert 3 <= len(outcome.scenario.channels) <= 5
