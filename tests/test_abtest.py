"""A/B tests inside one world: calibration, power, arms, money and the command line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scenario_factory import small
from test_bad_input import FIXTURES, VALID, assert_bad_input, run

from simulator import ScenarioError, simulate
from simulator.measure.abtest import (
    METRICS,
    ab_test,
    compare_arms,
    sample_size_per_arm,
    simulate_ab,
    treatment_scenario,
)

STRONG = {
    "policies": {
        "checkout_simplification": {"conversion_lift": 1.0},
        "promotions": {"first_order_coupon": {"discount": 0.5}},
    }
}
"""A variant with a large effect on conversion: a much simpler checkout and a deep first-order coupon."""


def test_identical_arms_are_the_plain_simulation() -> None:
    """With the same policies in both arms, the world is exactly the plain simulation's.

    The arms split every question and every program by shopper, and each pays its share of the
    fixed costs, so nothing may change: not one order, not one unit of money.
    """
    scenario = small(agents=3000, days=90)
    plain = simulate(scenario, seed=5)
    split = simulate_ab(scenario, scenario, seed=5)
    shoppers = split.shoppers
    assert np.array_equal(shoppers["orders"].to_numpy(), plain.customers["orders"].to_numpy())
    assert np.array_equal(shoppers["revenue"].to_numpy(), plain.customers["spend"].to_numpy())
    for kpi in ("revenue", "orders", "marketing_spend", "program_costs", "profit"):
        assert split.world.summary[kpi] == pytest.approx(plain.summary[kpi], rel=1e-12), kpi

    # Money adds up across arms: the lever costs the arms carry are the world's program costs
    # plus the CRM messages, win-back offers and retargeting ads booked on the channels.
    scale = scenario.population.scale
    carried = float(shoppers["lever_cost"].sum()) * scale
    kpis = split.world.summary
    on_channels = sum(
        kpis[f"{arm}_{cost}"]
        for arm in ("control", "treatment")
        for cost in ("crm_message_cost", "winback_offer_cost", "retargeting_cost")
    )
    assert on_channels > 0
    assert carried == pytest.approx(kpis["program_costs"] + on_channels, rel=1e-9)
    margin = float((shoppers["profit"] + shoppers["lever_cost"]).sum()) * scale
    assert margin == pytest.approx(float(plain.customers["margin"].sum()) * scale, rel=1e-12)


def test_arms_have_the_requested_share_and_change_with_the_seed() -> None:
    scenario = small(agents=2000, days=20, levers=False)
    first = simulate_ab(scenario, scenario, seed=1, treatment_share=0.3).shoppers["arm"]
    again = simulate_ab(scenario, scenario, seed=1, treatment_share=0.3).shoppers["arm"]
    other = simulate_ab(scenario, scenario, seed=2, treatment_share=0.3).shoppers["arm"]
    assert (first == "treatment").sum() == 600
    assert first.equals(again)
    assert not first.equals(other)
    # Personas are contiguous blocks of ids: a random split mixes them into both arms.
    persona = simulate(scenario, seed=1).customers["persona"]
    shares = (first == "treatment").groupby(persona, observed=True).mean()
    assert shares.between(0.2, 0.4).all(), shares


def test_same_seed_same_result() -> None:
    scenario = small(agents=1500, days=30)
    one = ab_test(scenario, STRONG, seeds=[3, 4])
    two = ab_test(scenario, STRONG, seeds=[3, 4], workers=2)
    pd.testing.assert_frame_equal(one.table, two.table)
    pd.testing.assert_frame_equal(one.pooled, two.pooled)


def test_strong_variant_is_detected_with_the_right_sign() -> None:
    scenario = small(agents=6000, days=60)
    result = ab_test(scenario, STRONG, seeds=[11, 12, 13, 14], workers=2)
    for metric in ("converted", "orders"):
        row = result.pooled.loc[metric]
        # Lifts of about +50% on 6,000 shoppers x 4 worlds: p-values far below 0.01 whatever the draw.
        assert row["lift"] > 0 and row["p_value"] < 0.01, (metric, row)
    assert result.pooled.loc["revenue", "ci_low"] > 0
    # The treatment pays for the coupon: revenue per order grows less than orders do.
    pooled = result.pooled
    assert pooled.loc["revenue", "relative_lift"] < pooled.loc["orders", "relative_lift"]
    assert "converted" in result.to_text()


@pytest.mark.slow
def test_a_a_test_rejects_at_about_the_nominal_rate() -> None:
    """Identical arms over 60 worlds: each test should reject in about 5% of them.

    If the tests are calibrated, the number of rejections of one metric is Binomial(60, 0.05):
    3 expected, and 9 or more has probability 0.3% (1.4% for any of the 5 metrics). Shoppers
    interfering through the shared market, or a wrong variance, would show as more rejections;
    a test that never rejects is broken too (no rejection in 300 tests, even perfectly
    correlated, has probability below 5%). The seeds are fixed, so the test is deterministic.
    """
    scenario = small(agents=2000, days=60)
    seeds = list(range(100, 160))
    result = ab_test(scenario, {}, seeds=seeds, workers=2)
    counts = {metric: result.rejections(metric) for metric in METRICS}
    assert all(count <= 8 for count in counts.values()), counts
    assert sum(counts.values()) >= 1, counts
    # The p-values of one metric over the worlds are about uniform.
    p_values = result.table.xs("profit", level="metric")["p_value"]
    assert 0.35 < p_values.mean() < 0.65, p_values.describe()


def test_statistics_against_hand_computed_values() -> None:
    """Welch's t-test and the two-proportion z-test on known moments; sample size formulas."""
    rows = []
    for arm, mean, var, rate in (("control", 10.0, 25.0, 0.10), ("treatment", 11.0, 36.0, 0.12)):
        for metric in METRICS:
            is_rate = metric in ("converted", "repeat_buyer")
            rows.append((arm, metric, 1000.0, rate if is_rate else mean, 0.0 if is_rate else var))
    moments = pd.DataFrame(rows, columns=["arm", "metric", "n", "mean", "var"]).set_index(["arm", "metric"])
    table = compare_arms(moments, mde=0.05)

    profit = table.loc["profit"]
    se = math.sqrt(25 / 1000 + 36 / 1000)
    df = (25 / 1000 + 36 / 1000) ** 2 / ((25 / 1000) ** 2 / 999 + (36 / 1000) ** 2 / 999)
    from scipy import stats

    assert profit["lift"] == pytest.approx(1.0)
    assert profit["se"] == pytest.approx(se)
    assert profit["p_value"] == pytest.approx(2 * stats.t.sf(1 / se, df))
    assert profit["relative_lift"] == pytest.approx(0.1)
    assert profit["sample_size_per_arm"] == math.ceil((1.959964 + 0.841621) ** 2 * 61 / 0.5**2)

    converted = table.loc["converted"]
    pooled = 0.11
    z = 0.02 / math.sqrt(pooled * (1 - pooled) * 2 / 1000)
    assert converted["p_value"] == pytest.approx(2 * stats.norm.sf(z))
    assert converted["test"] == "two_proportion_z"
    # 10% -> 10.5%: the textbook figure is about 57,800 per arm.
    assert sample_size_per_arm(0.10, 0, 0, 0.05, rate=True) == pytest.approx(57_760, rel=0.01)
    assert math.isnan(sample_size_per_arm(0.0, 1.0, 1.0, 0.05, rate=False))


@pytest.mark.parametrize(
    ("patch", "field", "fragment"),
    [
        ({"channels": {"search": {"daily_spend": 9000}}}, "channels", "only 'policies'"),
        ({"channels": {"seach": {"daily_spend": 9000}}}, "channels.seach", "unknown channel 'seach'"),
        ({"horizon_days": 30}, "horizon_days", "run.py replicate"),
        ({"policies": {"referral": {"referral_rate": 0.01}}}, "policies.referral", "friends"),
        ({"policies": {"retention": {"channel": "nowhere"}}}, "policies.retention", "nowhere"),
    ],
    ids=["channel_spend", "unknown_channel", "horizon", "referral", "unknown_policy_channel"],
)
def test_patches_that_cannot_be_split_are_refused(
    patch: dict[str, object], field: str, fragment: str
) -> None:
    scenario = small(agents=500, days=20)
    with pytest.raises(ScenarioError) as error:
        treatment_scenario(scenario, patch, "variant.yaml")
    message = str(error.value)
    assert message.startswith(f"variant.yaml: {field}"), message
    assert fragment in message and "\n" not in message


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"seeds": []}, "seeds"),
        ({"workers": 0}, "workers"),
        ({"mde": 0.0}, "mde"),
        ({"treatment_share": 1.0}, "treatment_share"),
        ({"alpha": 0.7}, "alpha"),
    ],
)
def test_bad_design_is_refused(options: dict[str, object], field: str) -> None:
    with pytest.raises(ScenarioError, match=f"^abtest: {field}: "):
        ab_test(small(agents=500, days=20), {}, **options)  # type: ignore[arg-type]


def test_command_line_prints_and_writes(tmp_path: Path) -> None:
    variant = tmp_path / "coupon.yaml"
    variant.write_text(
        "policies:\n  promotions:\n    first_order_coupon: {discount: 0.3}\n", encoding="utf-8"
    )
    out = tmp_path / "out"
    args = ["abtest", VALID, "--variant", variant, "--seeds", "1", "2", "--agents", "800", "--days", "20"]
    done = run(*args, "--mde", "0.1", "--out", out)
    assert done.returncode == 0, done.stderr
    assert "A/B test of" in done.stdout and "agents_per_arm_needed" in done.stdout
    table = pd.read_csv(out / "abtest.csv", index_col=["seed", "metric"])
    assert set(table.index.get_level_values("seed").astype(str)) == {"1", "2", "all"}
    document = json.loads((out / "abtest.json").read_text(encoding="utf-8"))
    assert document["seeds"] == [1, 2] and document["mde"] == 0.1
    assert document["policies"]["treatment"]["promotions"]["first_order_coupon"]["discount"] == 0.3

    again = run(*args, "--out", out)
    assert_bad_input(again, f"error: {out}: ", "abtest.csv", "--overwrite")


@pytest.mark.parametrize(
    ("extra", "fragments"),
    [
        (["--variant", FIXTURES / "variants" / "wrong_variant_unknown_channel.yaml"], ["channels.seach"]),
        (
            ["--variant", FIXTURES / "variants" / "variant_more_search.yaml"],
            ["channels: ", "only 'policies'"],
        ),
        (["--variant", "V", "--seeds"], ["argument --seeds", "expected at least one argument"]),
        (["--variant", "V", "--workers", "0"], ["argument --workers", "must be at least 1"]),
        (["--variant", "V", "--mde", "0"], ["argument --mde", "between 0 and 10"]),
        (["--variant", "V", "--treatment-share", "1.5"], ["argument --treatment-share", "between 0 and 1"]),
        (
            ["--variant", "V", "--seed", "1", "--seeds", "2"],
            ["give --seeds (the values) or --seed (the first), not both"],
        ),
        ([], ["required: --variant"]),
    ],
    ids=[
        "unknown_channel",
        "channel_patch",
        "seeds_empty",
        "workers_0",
        "mde_0",
        "share",
        "seed_and_seeds",
        "no_variant",
    ],
)
def test_bad_abtest_input_is_one_line(extra: list[str | Path], fragments: list[str], tmp_path: Path) -> None:
    variant = tmp_path / "v.yaml"
    variant.write_text("policies:\n  checkout_simplification: {}\n", encoding="utf-8")
    out = tmp_path / "out"
    extra = [variant if part == "V" else part for part in extra]
    result = run("abtest", VALID, *extra, "--agents", "500", "--days", "10", "--out", out)
    assert_bad_input(result, *fragments)
    assert result.stdout == ""
    assert not out.exists()
