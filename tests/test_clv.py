"""Customer lifetime value, the order log, and the BG/NBD fit (measure.clv, customerbase.bgnbd)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scenario_factory import small, uniform_market
from scipy.special import hyp2f1

from run import main
from simulator import CommerceModel, ScenarioWarning, State, parse_scenario, simulate
from simulator.customerbase.bgnbd import (
    BGNBDParameters,
    conditional_expected_transactions,
    fit_bgnbd,
    rfm_from_transactions,
)
from simulator.engine.results import collect_results
from simulator.measure.clv import (
    CLV_FILES,
    customer_lifetime_value,
    daily_discount_factor,
    latent_traits,
    simulate_for_clv,
)

# Published BG/NBD estimates on the CDNOW data (Fader, Hardie and Lee 2005), time in weeks.
CDNOW = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
WEEKS = 39


def _cdnow_model(days: int, seed: int = 8) -> CommerceModel:
    """20,000 customers who all bought on day -1, repeat buying at the CDNOW parameters."""
    r, alpha, a, b = CDNOW.values()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScenarioWarning)
        scenario = uniform_market(
            20_000,
            [{"name": "shop", "checkout_friction": 0.0, "retention_effect": 0.0}],
            days=days,
            initial_customer_share=1.0,
        )
        data = scenario.model_dump(mode="python")
        persona = data["population"]["personas"]["everyone"]
        # Weekly rate ~ Gamma(r, alpha): daily rate ~ Gamma(r, 7 alpha), mean 7 alpha / r days apart.
        persona["repurchase"] = {"mean_days_between": 7 * alpha / r, "shape": r}
        persona["dropout"] = {"mean": a / (a + b), "concentration": a + b}
        model = CommerceModel(parse_scenario(data), seed=seed)
    pop = model.population
    pop.last_purchase_day[:] = -1
    pop.first_purchase_day[:] = -1
    pop.state[:] = State.ACTIVE
    return model


@pytest.fixture(scope="module")
def cdnow():
    model = _cdnow_model(WEEKS * 7)
    model.run()
    return collect_results(model)


def test_cdnow_share_without_repeat_purchase(cdnow):
    r, alpha = CDNOW["r"], CDNOW["alpha"]
    expected = (alpha / (alpha + WEEKS)) ** r  # 0.574: nobody repeats without a purchase
    no_repeat = float(np.mean(cdnow.customers["orders"] == 0))
    assert no_repeat == pytest.approx(expected, abs=0.012)
    assert 0.56 < no_repeat < 0.59


def test_bgnbd_fit_recovers_cdnow_parameters(cdnow):
    orders = cdnow.orders
    everyone = np.arange(len(cdnow.customers))
    # The first purchases (day -1) came before the log; the log holds the repeat purchases.
    rfm = rfm_from_transactions(
        np.concatenate([orders["shopper_id"], everyone]),
        np.concatenate([orders["day"], np.full(everyone.size, -1)]),
        end_day=WEEKS * 7 - 1,
    )
    assert (rfm["age"] == WEEKS).all()
    assert (rfm["x"].to_numpy() == cdnow.customers["orders"].to_numpy()).all()
    fit = fit_bgnbd(rfm["x"], rfm["t_x"], rfm["age"])
    assert fit.r == pytest.approx(CDNOW["r"], rel=0.10)
    assert fit.alpha == pytest.approx(CDNOW["alpha"], rel=0.10)
    assert fit.a == pytest.approx(CDNOW["a"], rel=0.30)
    assert fit.b == pytest.approx(CDNOW["b"], rel=0.30)
    assert fit.customers == 20_000


def test_conditional_expectation_matches_the_textbook_formula():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 12, 500).astype(float)
    T = rng.uniform(1, 60, 500)
    t_x = np.where(x > 0, rng.uniform(0, 1, 500) * T, 0.0)
    for r, alpha, a, b in [(0.243, 4.414, 0.793, 2.426), (1.2, 20.0, 2.5, 6.0)]:
        params = BGNBDParameters(r, alpha, a, b)
        t = 26.0
        z = t / (alpha + T + t)
        numerator = (
            (a + b + x - 1)
            / (a - 1)
            * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z))
        )
        denominator = 1 + (x > 0) * a / np.maximum(b + x - 1, 1e-9) * ((alpha + T) / (alpha + t_x)) ** (r + x)
        np.testing.assert_allclose(
            conditional_expected_transactions(params, t, x, t_x, T), numerator / denominator, rtol=1e-8
        )


def test_true_remaining_value_predicts_the_simulated_future():
    """Expected purchases from the true traits at day 182 match what happens in the next 182 days."""
    model = _cdnow_model(364, seed=3)
    for _ in range(182):
        model.step()
    report = customer_lifetime_value(collect_results(model), latent_traits(model), 0.0, horizon_days=182)
    logged = sum(a.size for a in model.order_log.day)
    model.run()
    future = np.concatenate(model.order_log.shopper)[logged:]
    actual = np.bincount(future, minlength=model.population.size)[report.customers.index]
    predicted = report.customers["future_orders_true"].to_numpy()
    assert actual.sum() == pytest.approx(predicted.sum(), rel=0.05)
    # By whether the customer is still alive: dead customers buy nothing and are predicted so.
    alive = report.customers["alive"].to_numpy(bool)
    assert actual[~alive].sum() == 0 and predicted[~alive].sum() == 0
    # BG/NBD, fitted on the transactions alone, gets close too in this pure BG/NBD market.
    assert report.customers["future_orders_bgnbd"].sum() == pytest.approx(actual.sum(), rel=0.15)


@pytest.fixture(scope="module")
def market():
    return simulate_for_clv(small(agents=6000, days=150), seed=2)


def test_order_log_adds_up_to_the_customer_table(market):
    result, _ = market
    orders, customers = result.orders, result.customers
    scale = result.scenario.population.scale
    assert len(orders) * scale == pytest.approx(result.summary["orders"])
    per_shopper = orders.groupby("shopper_id")[["revenue", "margin"]].sum()
    np.testing.assert_allclose(per_shopper["margin"], customers.loc[per_shopper.index, "margin"], rtol=1e-12)
    np.testing.assert_allclose(per_shopper["revenue"], customers.loc[per_shopper.index, "spend"], rtol=1e-12)
    counts = orders.groupby("shopper_id").size()
    assert (counts == customers.loc[counts.index, "orders"]).all()
    assert orders["first"].sum() * scale == pytest.approx(result.summary["new_customers"])
    firsts = orders[orders["first"]].set_index("shopper_id")
    assert (firsts["day"] == customers.loc[firsts.index, "first_purchase_day"]).all()


def test_same_seed_same_order_log_and_clv(market):
    result, traits = market
    again, again_traits = simulate_for_clv(small(agents=6000, days=150), seed=2)
    pd.testing.assert_frame_equal(result.orders, again.orders)
    pd.testing.assert_frame_equal(traits, again_traits)
    pd.testing.assert_frame_equal(
        customer_lifetime_value(result, traits).customers,
        customer_lifetime_value(again, again_traits).customers,
    )
    # The order log changes nothing else: simulate() gives the same tables.
    plain = simulate(small(agents=6000, days=150), seed=2)
    pd.testing.assert_frame_equal(plain.customers, result.customers)


def test_clv_columns_and_discounting(market):
    result, traits = market
    undiscounted = customer_lifetime_value(result, traits, discount_rate=0.0)
    report = customer_lifetime_value(result, traits, discount_rate=0.2)
    table = report.customers
    assert len(table) == int(result.customers["last_purchase_day"].notna().sum())
    np.testing.assert_allclose(table["realized_margin"], result.customers.loc[table.index, "margin"])
    plain = undiscounted.customers
    np.testing.assert_allclose(plain["realized_margin_discounted"], plain["realized_margin"])
    # Discounting shrinks positive values and never the first order's margin.
    assert (table["remaining_value_true"].abs() <= plain["remaining_value_true"].abs() + 1e-9).all()
    assert table["clv_true"].sum() < plain["clv_true"].sum()
    np.testing.assert_allclose(
        table["clv_true"], table["realized_margin_discounted"] + table["remaining_value_true"]
    )
    # Dropped-out customers buy nothing more unless a lever may bring them back (win-back).
    dead = ~table["alive"].astype(bool)
    comeback = traits.loc[table.index, "alive_chance"] > 0
    assert (table.loc[dead & ~comeback, "remaining_value_true"] == 0).all()
    assert (table.loc[dead & comeback, "remaining_value_true"] != 0).all()
    assert (dead & comeback).any() and (dead & ~comeback).any()
    assert table["p_alive_bgnbd"].between(0, 1).all()
    assert daily_discount_factor(0.1) ** 365 == pytest.approx(1 / 1.1)
    with pytest.raises(ValueError, match="discount rate"):
        customer_lifetime_value(result, traits, discount_rate=-0.1)


def test_groups_add_up_to_customers(market):
    result, traits = market
    report = customer_lifetime_value(result, traits)
    scale = result.scenario.population.scale
    total = report.customers["clv_true"].sum() * scale
    for dimension in ("acquisition_month", "acquisition_channel", "persona"):
        group = report.group(dimension)
        assert group["customers"].sum() == pytest.approx(len(report.customers) * scale)
        assert group["clv_true_total"].sum() == pytest.approx(total)
    assert set(report.group("persona").index) == set(result.scenario.persona_names)


def test_retention_matrix_matches_a_direct_count(market):
    result, traits = market
    matrix = customer_lifetime_value(result, traits).retention
    assert (matrix[0] == 1.0).all()
    assert ((matrix >= 0) & (matrix <= 1) | matrix.isna()).all().all()
    # 150 days = 5 whole months: month m's column k exists when m + k < 5.
    assert matrix.loc[0, 4] == matrix.loc[0, 4] and np.isnan(matrix.loc[1, 4])
    orders = result.orders
    first = result.customers["first_purchase_day"]
    new = first[first.notna() & (first >= 0)]
    cohort = new // 30
    for m, k in [(0, 1), (0, 3), (2, 2)]:
        members = cohort[cohort == m].index
        bought = orders[orders["shopper_id"].isin(members) & (orders["day"] // 30 == m + k)]["shopper_id"]
        assert matrix.loc[m, k] == pytest.approx(bought.nunique() / len(members))


def test_repurchase_curve_is_kaplan_meier(market):
    result, traits = market
    curve = customer_lifetime_value(result, traits).repurchase
    share = curve["repurchased_share"].dropna()
    assert (np.diff(share) >= -1e-12).all()
    assert 0 < share.iloc[-1] < 1
    # Among customers observed for a full 60 days, the plain share agrees with Kaplan-Meier.
    assert curve.loc[60, "repurchased_share"] == pytest.approx(
        curve.loc[60, "repurchased_share_complete"], abs=0.03
    )
    first = result.customers["first_purchase_day"]
    new = first[first.notna() & (first >= 0)].astype(int)
    orders = result.orders[result.orders["shopper_id"].isin(new.index)]
    second = orders[~orders["first"]].groupby("shopper_id")["day"].min()
    observed = new[new <= 149 - 30]
    within = (second.reindex(observed.index) - observed) <= 30
    assert curve.loc[30, "repurchased_share_complete"] == pytest.approx(within.mean())


def test_cli_writes_all_tables_or_nothing(tmp_path, capsys):
    scenario = "scenarios/omnichannel_retailer.yaml"
    out = tmp_path / "clv"
    assert (
        main(["clv", scenario, "--agents", "3000", "--days", "90", "--out", str(out), "--no-progress"]) == 0
    )
    printed = capsys.readouterr().out
    assert "By acquisition channel" in printed and "By persona" in printed and "Retention" in printed
    assert sorted(p.name for p in out.iterdir()) == sorted([*CLV_FILES, "manifest.json"])
    cohorts = pd.read_csv(out / "clv_cohorts.csv")
    assert set(cohorts["dimension"]) == {"acquisition_month", "acquisition_channel", "persona"}
    # Files already there: refused, exit 2.
    assert main(["clv", scenario, "--agents", "3000", "--days", "90", "--out", str(out)]) == 2
    bad = tmp_path / "bad"
    with pytest.raises(SystemExit) as stopped:
        main(["clv", scenario, "--discount-rate", "-0.1", "--out", str(bad)])
    assert stopped.value.code == 2
    assert not bad.exists()
    assert "discount-rate" in capsys.readouterr().err
