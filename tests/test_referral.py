"""Word of mouth, referrals and group buying on the social graph (simulator/levers/referral.py)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scenario_factory import assert_money_adds_up, small, uniform_market
from scipy.optimize import least_squares

from simulator import CommerceModel, ScenarioWarning, parse_scenario, simulate
from simulator.levers.referral import ReferralProgram, build_friends

SEEDS = [1, 2, 3]


def market(agents: int, days: int, policies: dict[str, Any], **population: Any) -> dict[str, Any]:
    """One persona and one organic channel with instant, frictionless checkout; no returns."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScenarioWarning)
        scenario = uniform_market(
            agents,
            [{"name": "shop", "organic_visit_rate": 0.02, "checkout_friction": 0.0, "retention_effect": 0.0}],
            days=days,
            **population,
        )
    data = scenario.model_dump(mode="python")
    data["economics"].update(return_rate=0.0, shipping_fee=0.0)
    data["policies"] = policies
    return data


def run(data: dict[str, Any], seed: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScenarioWarning)
        return simulate(parse_scenario(data), seed=seed)


# The graph --------------------------------------------------------------------------------------
@pytest.mark.parametrize("graph", ["small_world", "random"])
def test_graph_has_the_configured_degree_and_no_self_loops(graph):
    size, degree = 20_000, 10
    friends = build_friends(graph, size, degree, 0.1, np.random.default_rng(1))
    assert friends.shape == (size, degree)
    assert friends.dtype == np.int32
    assert friends.min() >= 0 and friends.max() < size
    assert not (friends == np.arange(size)[:, None]).any()
    # Every shopper is somebody's friend about `degree` times on average.
    in_degree = np.bincount(friends.ravel(), minlength=size)
    assert in_degree.mean() == degree


def test_small_world_lattice_is_symmetric_and_rewiring_adds_shortcuts():
    size, degree = 5_000, 6
    lattice = build_friends("small_world", size, degree, 0.0, np.random.default_rng(2))
    links = set(zip(np.repeat(np.arange(size), degree).tolist(), lattice.ravel().tolist(), strict=True))
    assert all((b, a) in links for a, b in links)
    assert np.all(np.bincount(lattice.ravel(), minlength=size) == degree)
    # Friends of friends are often friends on the lattice (clustering), much less after rewiring.
    rewired = build_friends("small_world", size, degree, 1.0, np.random.default_rng(2))

    def clustering(friends):
        sets = [set(row) for row in friends[:500].tolist()]
        shared = [len(sets[i] & set(friends[j].tolist())) for i in range(500) for j in sets[i]]
        return np.mean(shared) / degree

    assert clustering(lattice) > 0.4
    assert clustering(rewired) < 0.05


def test_small_populations_and_odd_degrees_still_have_no_self_loops():
    for size, degree in [(2, 10), (4, 10), (5, 3), (11, 7)]:
        friends = build_friends("small_world", size, degree, 0.0, np.random.default_rng(0))
        assert friends.shape == (size, min(degree, size - 1))
        assert not (friends == np.arange(size)[:, None]).any()
        assert all(len(set(row)) == len(row) for row in friends.tolist())
    assert build_friends("fully_mixed", 100, 10, 0.1, np.random.default_rng(0)) is None


def test_friends_mix_personas_and_the_graph_lives_on_the_model():
    model = CommerceModel(small(agents=6000, days=5, policies={"referral": {"degree": 8}}), seed=4)
    friends = model.levers.find(ReferralProgram).friends
    assert friends.shape == (6000, 8)
    assert friends.nbytes == 6000 * 8 * 4
    persona = model.population.persona
    same = (persona[friends] == persona[:, None]).mean()
    shares = model.population.personas.share
    assert same == pytest.approx((shares**2).sum(), abs=0.03)


# Bass diffusion ---------------------------------------------------------------------------------
def bass_scenario(agents: int, days: int, p: float, q: float, degree: int = 10) -> dict[str, Any]:
    """Everyone aware, organic visit hazard p, instant purchase, word of mouth only, no churn."""
    data = market(
        agents,
        days,
        {
            "referral": {
                "graph": "fully_mixed",
                "degree": degree,
                "word_of_mouth_rate": q / degree,
                "satisfaction_threshold": 0.0,
            }
        },
        initial_aware_share=1.0,
        awareness_memory_days=1e9,
    )
    data["channels"][0]["organic_visit_rate"] = p
    persona = data["population"]["personas"]["everyone"]
    persona.update(consideration_days=(0, 0), cart_rate=1.0, dropout={"mean": 0.0, "concentration": 4})
    return data


def bass_step(adopted: np.ndarray, p: float, q: float) -> np.ndarray:
    return adopted + (1 - adopted) * (1 - np.exp(-(p + q * adopted)))


@pytest.mark.slow
def test_word_of_mouth_adoption_follows_the_bass_recursion():
    agents, days, p, q = 100_000, 120, 0.01, 0.1
    result = run(bass_scenario(agents, days, p, q), seed=5)
    adopted = np.concatenate([[0.0], result.daily["new_customers"].cumsum().to_numpy() / agents])
    assert adopted[-1] > 0.99

    fit = least_squares(
        lambda x: adopted[1:] - bass_step(adopted[:-1], *x), x0=[0.05, 0.05], bounds=([0, 0], [1, 5])
    )
    p_hat, q_hat = fit.x
    assert p_hat == pytest.approx(p, rel=0.05)
    assert q_hat == pytest.approx(q, rel=0.05)
    # The whole simulated S-curve stays close to the deterministic recursion.
    path = [0.0]
    for _ in range(days):
        path.append(float(bass_step(np.array(path[-1]), p, q)))
    assert np.abs(adopted - np.array(path)).max() < 0.015
    # Every adoption after the first day came through a visit; word of mouth brought most.
    assert result.summary["referral_word_of_mouth_customers"] > 0.5 * agents


# Spread on the graph ----------------------------------------------------------------------------
def referral_policy(**changes: Any) -> dict[str, Any]:
    return {"referral": {"referral_rate": 0.01, **changes}}


def test_denser_graph_spreads_word_of_mouth_faster():
    """Same word-of-mouth rate per friend, 20 friends against 4: faster adoption (paired seeds)."""
    by_day = 45
    for seed in SEEDS:
        outcomes = []
        for degree in (4, 20):
            scenario = small(agents=20_000, days=60, policies=referral_policy(degree=degree))
            result = simulate(scenario, seed=seed)
            levers = result.levers.loc[:by_day]
            social = levers["referral_word_of_mouth_customers"].sum() + levers["referral_customers"].sum()
            outcomes.append(
                (levers["referral_word_of_mouth_visits"].sum(), social, result.summary["new_customers"])
            )
        (sparse_visits, sparse_social, sparse_new), (dense_visits, dense_social, dense_new) = outcomes
        assert dense_visits > 3 * sparse_visits
        assert dense_social > 2 * sparse_social
        assert dense_new > sparse_new


def test_word_of_mouth_visitors_are_labelled_and_buy_in_real_channels():
    result = simulate(small(agents=10_000, days=60, policies=referral_policy(degree=20)), seed=2)
    customers = result.customers
    heard = customers["aware_channel"] == "word_of_mouth"
    assert heard.sum() > 0
    bought = heard & customers["first_purchase_day"].notna()
    assert bought.sum() > 0
    names = set(result.scenario.channel_names)
    assert set(customers.loc[bought, "acquisition_channel"].astype(str)) <= names
    assert customers["referred"].dtype == bool


def test_better_service_brings_more_word_of_mouth():
    for seed in SEEDS:
        visits = []
        for service in ({"delivery_days": 7}, {"delivery_days": 1, "free_returns": True}):
            policies = {"referral": {"degree": 10}, "service": service}
            result = simulate(small(agents=10_000, days=60, policies=policies), seed=seed)
            visits.append(result.summary["referral_word_of_mouth_visits"])
        assert visits[1] > 1.2 * visits[0], visits


# Referral bonus ---------------------------------------------------------------------------------
def test_referral_bonus_raises_referrals_and_its_cost_is_booked():
    bonus = 50.0
    for seed in SEEDS:
        plain_policy = referral_policy(referral_rate=0.03)
        plain = simulate(small(agents=10_000, days=60, policies=plain_policy), seed=seed)
        generous = referral_policy(referral_rate=0.03, referral_bonus=bonus, friend_discount=0.1)
        paid = simulate(small(agents=10_000, days=60, policies=generous), seed=seed)
        assert paid.summary["referral_invitations"] > 1.5 * plain.summary["referral_invitations"]
        assert plain.summary["referral_bonus_cost"] == 0
        kpis = paid.summary
        assert kpis["referral_customers"] > 0
        assert kpis["referral_bonus_cost"] == pytest.approx(bonus * kpis["referral_customers"])
        assert kpis["program_costs"] == pytest.approx(kpis["referral_bonus_cost"])
        booked = paid.levers["program_cost_referral_bonuses"].sum()
        assert booked == pytest.approx(kpis["referral_bonus_cost"])
        assert_money_adds_up(paid)
        scale = paid.scenario.population.scale
        assert paid.customers["friends_referred"].sum() * scale == pytest.approx(kpis["referral_customers"])


def test_referred_first_orders_get_the_friend_discount_and_pay_the_bonus():
    policies = {
        "referral": {
            "referral_rate": 0.05,
            "word_of_mouth_rate": 0.0,
            "referral_bonus": 30.0,
            "friend_discount": 0.1,
            "satisfaction_threshold": 0.0,
        }
    }
    result = run(market(20_000, 60, policies, initial_aware_share=0.2), seed=3)
    kpis = result.summary
    referred = kpis["referral_customers"]
    assert referred > 50
    # Baskets are worth exactly 100 and nothing is returned: every referred first order gives 10.
    assert kpis["discounts"] == pytest.approx(10.0 * referred)
    assert kpis["referral_discount_given"] == pytest.approx(10.0 * referred)
    assert kpis["referral_bonus_cost"] == pytest.approx(30.0 * referred)
    assert kpis["referral_cost_per_customer"] == pytest.approx(40.0)
    customers = result.customers
    assert customers["referred"].sum() >= referred
    assert (customers.loc[customers["referred"], "aware_channel"] != "none").all()


# Group buying -----------------------------------------------------------------------------------
def test_group_buying_brings_friends_who_buy_at_the_discount():
    group = {"promotions": {"group_buying": {"discount": 0.2, "join_rate": 0.3}}}
    with_groups = run(market(20_000, 60, group, initial_aware_share=0.3), seed=7)
    without = run(market(20_000, 60, {}, initial_aware_share=0.3), seed=7)
    kpis = with_groups.summary
    hosts, friends = kpis["group_buying_orders"], kpis["group_buying_customers"]
    assert hosts > 100
    assert 0 < friends <= hosts
    # Baskets are worth exactly 100, nothing is returned and group buying is the only offer.
    assert kpis["discounts"] == pytest.approx(20.0 * (hosts + friends))
    assert kpis["group_buying_discount_given"] == pytest.approx(kpis["discounts"])
    customers = with_groups.customers
    assert (customers["aware_channel"] == "group_buying").sum() <= friends
    assert kpis["new_customers"] > without.summary["new_customers"]
    # The friends' orders are carted and booked in the host's channel.
    assert kpis["orders"] <= with_groups.daily["carts"].sum()
    assert with_groups.levers["group_buying_orders"].sum() == hosts


def test_group_buying_on_the_graph_recruits_graph_friends():
    policies = {
        "referral": {"degree": 4, "rewire_probability": 0.0, "word_of_mouth_rate": 0.0},
        "promotions": {"group_buying": {"discount": 0.1, "join_rate": 0.5}},
    }
    model = CommerceModel(parse_scenario(market(5_000, 30, policies, initial_aware_share=0.3)), seed=2)
    program = model.levers.find(ReferralProgram)
    booked: list[tuple[np.ndarray, np.ndarray]] = []
    original = program.on_orders

    def spy(model, batch):
        shoppers = batch.shoppers
        friend = np.where(program.join_day[shoppers] == model.day, program.group_friend[shoppers], -1)
        booked.append((shoppers[friend >= 0], friend[friend >= 0]))
        original(model, batch)

    program.on_orders = spy
    model.run()
    hosts = np.concatenate([h for h, _ in booked])
    friends = np.concatenate([f for _, f in booked])
    assert hosts.size > 20
    assert (program.friends[hosts] == friends[:, None]).any(axis=1).all()


# Reproducibility --------------------------------------------------------------------------------
def test_same_seed_gives_identical_results_with_referral_on():
    policies = {
        **referral_policy(referral_bonus=20.0, friend_discount=0.1),
        "promotions": {"group_buying": {"discount": 0.1, "join_rate": 0.2}},
    }
    first = simulate(small(agents=5000, days=45, policies=policies), seed=9)
    again = simulate(small(agents=5000, days=45, policies=policies), seed=9)
    other = simulate(small(agents=5000, days=45, policies=policies), seed=10)
    for frame in ("daily", "channels", "customers", "levers"):
        pd.testing.assert_frame_equal(getattr(first, frame), getattr(again, frame))
    pd.testing.assert_series_equal(pd.Series(first.summary), pd.Series(again.summary))
    assert first.levers.index.equals(pd.RangeIndex(45, name="day"))
    assert first.summary["group_buying_orders"] > 0 and first.summary["referral_invitations"] > 0
    assert not first.levers["referral_word_of_mouth_visits"].equals(
        other.levers["referral_word_of_mouth_visits"]
    )
