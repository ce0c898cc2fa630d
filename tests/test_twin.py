"""The customer-base twin in the engine: posterior draws, starting state, arrivals, the history file.

A twin here is built by hand: a history table (``first_day``, ``last_day``, ``frequency``...),
one or two personas holding BG/NBD parameters in days, and a bare market (one channel with no
checkout friction, no media, no levers) unless a test needs more.
"""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.special import softmax

from simulator import ScenarioError, load_scenario, parse_scenario, simulate
from simulator.config.customer_base import write_customer_histories
from simulator.customerbase.bgnbd import BGNBDParameters, bgnbd_log_likelihood, probability_alive
from simulator.data import load_orders
from simulator.engine.lifetime import expected_discounted_purchases
from simulator.engine.model import CommerceModel
from simulator.engine.population import ShopperPopulation, State

ROOT = Path(__file__).resolve().parents[1]


def persona(r: float, alpha_days: float, a: float, b: float, share: float = 1.0, **more: object) -> dict:
    """A persona holding BG/NBD parameters in days."""
    return {
        "share": share,
        "basket_value": {"mean": 50.0, "sigma": 0.3},
        "repurchase": {"mean_days_between": alpha_days / r, "shape": r},
        "dropout": {"mean": a / (a + b), "concentration": a + b},
        **more,
    }


def histories(x: np.ndarray, t_x: np.ndarray, age: np.ndarray, money: float = 40.0) -> pd.DataFrame:
    """History rows from per-customer ``x``, ``t_x`` and ``T`` (days)."""
    first = -1 - age.astype(np.int64)
    return pd.DataFrame(
        {
            "customer_id": [f"k{i}" for i in range(x.size)],
            "first_day": first,
            "last_day": first + t_x.astype(np.int64),
            "frequency": x.astype(np.int64),
            "revenue": (x + 1) * money,
            "monetary_value": np.where(x > 0, money, np.nan),
        }
    )


def twin(
    tmp_path: Path,
    frame: pd.DataFrame,
    personas: dict,
    days: int = 30,
    agents: int | None = None,
    channels: list[dict] | None = None,
    name: str = "twin.yaml",
    **customer_base: object,
):
    write_customer_histories(frame, tmp_path / "customers.parquet")
    size = len(frame)
    agents = agents or size
    data = {
        "name": "twin test",
        "horizon_days": days,
        "seed": 3,
        "start_date": "2024-03-01",
        "population": {
            "agents": agents,
            "scale": size / agents,
            "initial_aware_share": 0.0,
            "personas": personas,
        },
        "channels": channels
        or [{"name": "shop", "kind": "owned", "checkout_friction": 0.0, "retention_effect": 0.0}],
        "customer_base": {"file": "customers.parquet", **customer_base},
    }
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_scenario(path)


def test_traits_are_drawn_from_the_bgnbd_posterior(tmp_path):
    """Identical histories: the shares alive and the mean traits are the posterior's (Fader et al. 2005)."""
    n = 40_000
    x, t_x, age = np.full(n, 3.0), np.full(n, 100.0), np.full(n, 200.0)
    r, alpha, a, b = 0.8, 40.0, 1.2, 3.0
    scenario = twin(tmp_path, histories(x, t_x, age), {"s": persona(r, alpha, a, b)}, rate_factor=2.0)
    pop = ShopperPopulation(scenario, np.random.default_rng(1))
    p_alive = float(probability_alive(BGNBDParameters(r, alpha, a, b, 1.0), 3.0, 100.0, 200.0))
    assert 0.2 < p_alive < 0.8
    se = np.sqrt(p_alive * (1 - p_alive) / n)
    assert pop.alive.mean() == pytest.approx(p_alive, abs=4 * se)
    alive, dead = pop.alive, ~pop.alive
    rate = pop.purchase_rate.astype(np.float64) / 2.0  # rate_factor 2
    # lambda | alive ~ gamma(r + x, alpha + T); | dead ~ gamma(r + x, alpha + t_x). Relative SE of a
    # mean of gamma(3.8) draws over ~20,000 customers is about 0.4%.
    assert rate[alive].mean() == pytest.approx((r + 3) / (alpha + 200), rel=0.02)
    assert rate[dead].mean() == pytest.approx((r + 3) / (alpha + 100), rel=0.02)
    # p | alive ~ beta(a, b + x); | dead ~ beta(a + 1, b + x - 1).
    drop = pop.dropout_prob.astype(np.float64)
    assert drop[alive].mean() == pytest.approx(a / (a + b + 3), abs=0.006)
    assert drop[dead].mean() == pytest.approx((a + 1) / (a + b + 3), abs=0.006)


def test_customers_without_repeat_purchase_are_alive(tmp_path):
    n = 2000
    frame = histories(np.zeros(n), np.zeros(n), np.full(n, 50.0))
    pop = ShopperPopulation(
        twin(tmp_path, frame, {"s": persona(0.5, 20.0, 0.5, 2.0)}), np.random.default_rng(2)
    )
    assert pop.alive.all()


def test_segments_are_drawn_by_their_posterior_chance(tmp_path):
    rng = np.random.default_rng(5)
    n = 30_000
    x = rng.poisson(2.0, n).astype(np.float64)
    age = rng.integers(60, 300, n).astype(np.float64)
    t_x = np.where(x > 0, np.floor(age * rng.random(n)), 0.0)
    t_x = np.maximum(t_x, x)  # at most one occasion a day
    age = np.maximum(age, t_x)
    slow, fast = (0.6, 140.0, 2.0, 2.0), (3.0, 60.0, 0.3, 8.0)
    personas = {"slow": persona(*slow, share=0.6), "fast": persona(*fast, share=0.4)}
    pop = ShopperPopulation(twin(tmp_path, histories(x, t_x, age), personas), np.random.default_rng(3))
    twin_rows = pop.twin.row
    expected = softmax(
        np.stack([bgnbd_log_likelihood(BGNBDParameters(*p, 1.0), x, t_x, age) for p in (slow, fast)], axis=-1)
        + np.log([0.6, 0.4]),
        axis=-1,
    )
    fast_block = pop.persona == 1
    # Each agent's persona is its segment; the share in the fast segment is the mean posterior chance.
    assert fast_block.mean() == pytest.approx(expected[:, 1].mean(), abs=4 * np.sqrt(0.25 / n))
    # Customers with many purchases land in the fast segment more often than those with none.
    rows_fast = twin_rows[fast_block]
    assert x[rows_fast].mean() > x.mean()


def test_same_seed_same_twin_and_seeds_differ(tmp_path):
    rng = np.random.default_rng(7)
    n = 3000
    x = rng.poisson(1.0, n).astype(np.float64)
    age = rng.integers(40, 200, n).astype(np.float64)
    t_x = np.minimum(np.maximum(np.floor(age * rng.random(n)), x), age) * (x > 0)
    personas = {"a": persona(0.6, 80.0, 1.0, 3.0, 0.5), "b": persona(2.0, 50.0, 0.4, 5.0, 0.5)}
    scenario = twin(
        tmp_path, histories(x, t_x, age), personas, days=40, acquisition={"new_customers_per_day": 3.0}
    )
    one, two, other = simulate(scenario, seed=4), simulate(scenario, seed=4), simulate(scenario, seed=5)
    pd.testing.assert_frame_equal(one.daily, two.daily)
    pd.testing.assert_frame_equal(one.orders, two.orders)
    assert not one.orders.equals(other.orders)


def test_existing_customers_start_as_their_history_left_them(tmp_path):
    x = np.array([0, 2, 5, 1, 0], dtype=np.float64)
    age = np.array([10, 100, 300, 400, 200], dtype=np.float64)
    t_x = np.array([0, 95, 100, 10, 0], dtype=np.float64)
    frame = histories(x, t_x, age)
    scenario = twin(tmp_path, frame, {"s": persona(0.5, 30.0, 1.0, 2.0)})
    scenario = scenario.model_copy(update={"lifecycle": scenario.lifecycle.model_copy()})
    pop = ShopperPopulation(scenario, np.random.default_rng(0))
    order = pop.twin.row
    np.testing.assert_array_equal(pop.first_purchase_day, frame["first_day"].to_numpy()[order])
    np.testing.assert_array_equal(pop.last_purchase_day, frame["last_day"].to_numpy()[order])
    assert pop.known.all() and (pop.orders == 0).all()
    recency = -frame["last_day"].to_numpy()[order]
    cycle = scenario.lifecycle
    expected = np.where(
        recency >= cycle.churned_after_days,
        State.CHURNED,
        np.where(recency >= cycle.lapsed_after_days, State.LAPSED, State.ACTIVE),
    )
    np.testing.assert_array_equal(pop.state, expected)


def test_bare_twin_buys_as_the_bgnbd_story_in_days(tmp_path):
    """No friction, media or levers: the twin's purchases are what its drawn traits give.

    Each customer alive at the start with daily chance ``q = 1 - exp(-lambda)`` and dropout
    ``p`` buys ``sum_(s < H) q (1 - q p)^s`` times in expectation
    (:func:`expected_discounted_purchases` without discounting). The total over 20,000
    customers varies about as a Poisson count (measured: sd 1.0% of about 7,460 over 12 seeds,
    mean gap -0.08% +- 0.28%), so it must lie within 4 sd, taking the variance as twice the mean.
    The closed-form BG/NBD forecast of the same customers is up to 2% more: buying at most once
    a day is the continuous process seen by day, which loses about ``lambda / 2`` of it.
    """
    rng = np.random.default_rng(11)
    n, days = 20_000, 120
    r, alpha, a, b = 0.5, 70.0, 0.8, 2.5
    x = rng.poisson(1.2, n).astype(np.float64)
    age = rng.integers(100, 360, n).astype(np.float64)
    t_x = np.where(x > 0, np.maximum(np.floor(age * rng.random(n)), x), 0.0)
    scenario = twin(tmp_path, histories(x, t_x, age), {"s": persona(r, alpha, a, b)}, days=days)
    model = CommerceModel(scenario, seed=8)
    pop = model.population
    q = -np.expm1(-pop.purchase_rate.astype(np.float64))
    expected = expected_discounted_purchases(
        q, pop.dropout_prob.astype(np.float64), pop.alive, days, 1.0
    ).sum()
    model.run()
    bought = float(pop.orders.sum())
    assert abs(bought - expected) < 4 * np.sqrt(2 * expected), (bought, expected)
    closed = BGNBDParameters(r, alpha, a, b, 1.0).conditional_expected_transactions(days, x, t_x, age).sum()
    assert 0 < closed - expected < 0.02 * closed, (expected, closed)


def test_observed_new_customers_arrive_at_the_rate_outside_the_market_until_then(tmp_path):
    n, days, rate = 2000, 60, 25.0
    frame = histories(np.ones(n), np.full(n, 20.0), np.full(n, 90.0))
    channels = [
        {
            "name": "shop",
            "kind": "owned",
            "checkout_friction": 0.0,
            "daily_spend": 50.0,
            "audience_share": 1.0,
        },
        {"name": "mail", "kind": "crm", "reaches_unknown": False, "daily_spend": 5.0},
    ]
    scenario = twin(
        tmp_path,
        frame,
        {"s": persona(0.5, 40.0, 1.0, 2.0)},
        days=days,
        channels=channels,
        acquisition={"mode": "observed", "new_customers_per_day": rate},
    )
    model = CommerceModel(scenario, seed=2)
    pop = model.population
    new = pop.twin.row < 0
    assert abs(new.sum() - rate * days) < 4 * np.sqrt(rate * days)
    assert not pop.audience[:, new].any() and (pop.state[new] == State.UNAWARE).all()
    model.run()
    # Every new customer bought first on the day drawn for it (no referral here), in the audience after.
    np.testing.assert_array_equal(pop.first_purchase_day[new], pop.arrival_day[new])
    np.testing.assert_array_equal(pop.audience[:, new], pop.pending_audience[:, new])
    result_new = model.ledger["new_customers"].sum()
    assert result_new == new.sum()


def test_more_customers_than_agents_is_a_scaled_sample(tmp_path):
    n = 1000
    x = np.repeat(np.arange(10.0), 100)  # sorted by frequency, as calibrate writes the file
    frame = histories(x, x * 3, np.full(n, 200.0))
    scenario = twin(tmp_path, frame, {"s": persona(0.5, 30.0, 1.0, 2.0)}, agents=100)
    assert scenario.population.scale == 10
    pop = ShopperPopulation(scenario, np.random.default_rng(4))
    assert pop.size == 100 and np.unique(pop.twin.row).size == 100
    # A systematic sample of a file sorted by frequency holds every frequency ten times.
    np.testing.assert_array_equal(np.bincount(x[pop.twin.row].astype(int)), np.full(10, 10))
    with pytest.raises(ScenarioError, match="population.agents"):
        scenario.with_overrides(agents=2000)
    assert scenario.with_overrides(agents=50).population.scale == 20


@pytest.mark.parametrize(
    ("change", "column", "words"),
    [
        ({"last_day": 0}, "last_day", "at most -1"),
        ({"first_day": -1, "last_day": -5}, "first_day", "not be after"),
        ({"frequency": -1}, "frequency", ">= 0"),
        ({"frequency": 1.5}, "frequency", "whole number"),
        ({"frequency": 50}, "frequency", "exceeds the days"),
        ({"revenue": -3.0}, "revenue", ">= 0"),
        ({"customer_id": "k0"}, "customer_id", "appears twice"),
    ],
)
def test_a_bad_history_file_is_refused_naming_column_and_row(tmp_path, change, column, words):
    frame = histories(np.array([1.0, 2.0, 0.0]), np.array([5.0, 30.0, 0.0]), np.array([40.0, 90.0, 10.0]))
    for key, value in change.items():
        frame[key] = frame[key].astype(object)
        frame.loc[1, key] = value
    with pytest.raises(ScenarioError) as error:
        twin(tmp_path, frame, {"s": persona(0.5, 30.0, 1.0, 2.0)})
    message = str(error.value)
    assert "customer_base.file" in message and f"column '{column}'" in message and "row 2" in message
    assert words in message and "\n" not in message


def test_scenario_rules_of_a_customer_base(tmp_path):
    frame = histories(np.array([1.0, 0.0]), np.array([5.0, 0.0]), np.array([40.0, 10.0]))
    scenario = twin(tmp_path, frame, {"s": persona(0.5, 30.0, 1.0, 2.0)})
    data = scenario.model_dump(mode="json")
    bad_share = {**data, "population": {**data["population"], "initial_customer_share": 0.1}}
    with pytest.raises(ScenarioError, match="initial_customer_share"):
        parse_scenario(bad_share, str(tmp_path / "twin.yaml"))
    bad_scale = {**data, "population": {**data["population"], "scale": 3.0}}
    with pytest.raises(ScenarioError, match="population.scale: must be people per agent"):
        parse_scenario(bad_scale, str(tmp_path / "twin.yaml"))
    missing = {**data, "customer_base": {**data["customer_base"], "file": str(tmp_path / "none.parquet")}}
    with pytest.raises(ScenarioError, match="customer_base.file.*no such file"):
        parse_scenario(missing, str(tmp_path / "twin.yaml"))


def test_the_history_file_is_found_next_to_the_scenario(tmp_path, monkeypatch):
    frame = histories(np.array([1.0, 0.0]), np.array([5.0, 0.0]), np.array([40.0, 10.0]))
    twin(tmp_path, frame, {"s": persona(0.5, 30.0, 1.0, 2.0)})
    monkeypatch.chdir(ROOT)
    scenario = load_scenario(tmp_path / "twin.yaml")
    assert Path(scenario.customer_base.file) == (tmp_path / "customers.parquet").resolve()


def test_starting_on_keeps_budget_periods_and_campaigns_on_their_dates():
    from scenario_factory import bundled

    base = bundled("omnichannel_retailer")  # campaigns on days 75, 160, 240 and 313
    later = base.starting_on(base.start_date + dt.timedelta(days=200))
    campaigns = {c.name: (c.start_day, c.days) for c in later.policies.promotions.campaigns}
    assert campaigns == {"members_week": (40, 7), "singles_day_flash": (113, 2)}
    assert later.start_date == dt.date(2025, 7, 20)
    cut = base.starting_on(base.start_date + dt.timedelta(days=243))  # members_week started on day 240
    assert {c.name: (c.start_day, c.days) for c in cut.policies.promotions.campaigns}["members_week"] == (
        0,
        4,
    )


def test_simulate_writes_an_order_log_that_calibrate_reads(tmp_path):
    from scenario_factory import small

    scenario = small(agents=3000, days=30, start_date="2024-02-01")
    result = simulate(scenario)
    written = result.save(tmp_path / "csv")
    assert tmp_path / "csv" / "orders.csv" in written
    log = load_orders(tmp_path / "csv" / "orders.csv", today="2030-01-01")
    assert len(log.orders) == len(result.orders)
    assert log.first_date >= pd.Timestamp("2024-02-01") and log.last_date <= pd.Timestamp("2024-03-01")
    np.testing.assert_allclose(log.orders["revenue"].sum(), result.orders["revenue"].sum())
    result.save(tmp_path / "parquet", orders_format="parquet")
    again = load_orders(tmp_path / "parquet" / "orders.parquet", today="2030-01-01")
    pd.testing.assert_frame_equal(again.orders[["revenue", "day"]], log.orders[["revenue", "day"]])


def test_a_twin_writes_its_customers_own_ids(tmp_path):
    n = 200
    frame = histories(np.ones(n), np.full(n, 10.0), np.full(n, 60.0))
    scenario = twin(
        tmp_path,
        frame,
        {"s": persona(2.0, 30.0, 0.5, 4.0)},
        days=20,
        acquisition={"mode": "observed", "new_customers_per_day": 5.0},
    )
    result = simulate(scenario, seed=1)
    ids = result.customers["customer_id"]
    assert set(ids[ids.str.startswith("k")]) == set(frame["customer_id"])
    assert ids.str.startswith("new-").sum() == (result.customers["first_purchase_day"] >= 0).sum()
    assert (result.customers.loc[ids.str.startswith("k"), "first_purchase_day"] < 0).all()
