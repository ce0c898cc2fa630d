"""Replications on common random numbers, and ground-truth incrementality per channel."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scenario_factory import small, three_channel_market

import run
from simulator import ScenarioError, simulate
from simulator.measure.incrementality import incrementality
from simulator.measure.replicate import apply_patch, confidence_interval, load_patch, replicate

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = Path("tests") / "fixtures" / "variants"  # relative to ROOT, as a user would type it
VALID = Path("tests") / "fixtures" / "small_valid.yaml"
MORE_SEARCH = {"channels": {"search": {"daily_spend": 7200.0}}}  # +20% on the 6000 a day


# Patches ------------------------------------------------------------------------------------
def test_patch_by_channel_name_changes_only_that_field() -> None:
    base = small(agents=1000, days=20)
    patched = apply_patch(base, MORE_SEARCH)
    assert patched.channels[0].daily_spend == 7200.0
    assert patched.model_dump()["channels"][1:] == base.model_dump()["channels"][1:]
    assert patched.population == base.population


def test_patch_turns_a_lever_on() -> None:
    base = small(agents=1000, days=20, levers=False)
    assert base.policies.checkout_simplification is None
    patched = apply_patch(base, {"policies": {"checkout_simplification": {}}})
    assert patched.policies.checkout_simplification is not None


def test_patch_with_unknown_channel_names_file_and_field() -> None:
    path = VARIANTS / "wrong_variant_unknown_channel.yaml"
    with pytest.raises(ScenarioError) as error:
        apply_patch(small(agents=1000, days=20), load_patch(ROOT / path), str(path))
    message = str(error.value)
    assert message.startswith(f"{path}: channels.seach: unknown channel 'seach'; channels are: search, ")
    assert "\n" not in message


def test_patch_breaking_the_schema_names_the_patch_file() -> None:
    path = str(VARIANTS / "wrong_variant_negative_spend.yaml")
    with pytest.raises(ScenarioError, match=r"wrong_variant_negative_spend.yaml: channels\[0\]\(search\)"):
        apply_patch(small(agents=1000, days=20), load_patch(ROOT / path), path)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"seeds": []}, "replicate: seeds: give at least one seed"),
        ({"seeds": [1, 1]}, "replicate: seeds: seed 1 is given twice"),
        ({"seeds": [1], "workers": 0}, "replicate: workers: must be a whole number of at least 1, got 0"),
        ({"seeds": [1], "variants": {"base": {}}}, "replicate: variants: 'base' is the unpatched scenario"),
    ],
)
def test_bad_replication_arguments_are_one_line(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(ScenarioError) as error:
        replicate(small(agents=500, days=5), **arguments)  # type: ignore[arg-type]
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


# Statistics ---------------------------------------------------------------------------------
def test_confidence_interval_is_the_t_interval() -> None:
    mean, se, low, high = confidence_interval([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5
    assert se == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 2)
    assert high - mean == pytest.approx(3.182446 * se, rel=1e-6)  # t(0.975, 3 df)
    assert low == pytest.approx(2 * mean - high)
    assert np.isnan(confidence_interval([5.0])[1])


# Replications -------------------------------------------------------------------------------
def test_result_is_the_same_for_one_or_two_workers_and_matches_simulate() -> None:
    base = small(agents=2000, days=30)
    one = replicate(base, [3, 1], {"more_search": MORE_SEARCH}, workers=1)
    two = replicate(base, [3, 1], {"more_search": MORE_SEARCH}, workers=2)
    pd.testing.assert_frame_equal(one.runs, two.runs)
    pd.testing.assert_frame_equal(one.channels, two.channels)
    pd.testing.assert_frame_equal(one.summary(), two.summary())
    assert list(one.runs.index) == [("base", 3), ("base", 1), ("more_search", 3), ("more_search", 1)]
    assert one.runs.loc[("base", 1)].to_dict() == pytest.approx(simulate(base, seed=1).summary, nan_ok=True)


def test_summary_differences_are_paired_by_seed() -> None:
    reps = replicate(small(agents=1500, days=30, levers=False), [1, 2, 3], {"more_search": MORE_SEARCH})
    summary = reps.summary(["profit", "marketing_spend"])
    paired = reps.paired("profit", "more_search")
    mean, se, low, high = confidence_interval(paired.to_numpy())
    row = summary.loc[("more_search", "profit")]
    assert (row["diff"], row["diff_se"], row["diff_ci_low"], row["diff_ci_high"]) == (mean, se, low, high)
    # Without levers (no retargeting ads) spend is planned: exactly 1,200 a day more for 30 days.
    assert summary.loc[("more_search", "marketing_spend"), "diff"] == pytest.approx(1200 * 30)
    assert np.isnan(summary.loc[("base", "profit"), "diff"])
    assert summary.loc[("base", "profit"), "ci_low"] < summary.loc[("base", "profit"), "mean"]


@pytest.mark.slow
def test_common_random_numbers_cut_the_variance_of_a_difference_at_least_5x() -> None:
    """+20% search spend on the bundled retailer: same seeds vs independent seeds."""
    base = small(agents=6000, days=90)
    seeds = list(range(1, 9))
    same = replicate(base, seeds, {"more_search": MORE_SEARCH}, workers=2)
    other = replicate(apply_patch(base, MORE_SEARCH), [s + 1000 for s in seeds], workers=2)
    paired = same.paired("profit", "more_search").to_numpy()
    independent = other.runs["profit"].to_numpy() - same.runs.loc["base", "profit"].to_numpy()
    ratio = independent.var(ddof=1) / paired.var(ddof=1)
    print(f"\nvariance of the profit difference, independent / paired seeds: {ratio:.1f}x")
    assert ratio >= 5


# Incrementality -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def measured() -> pd.DataFrame:
    return incrementality(three_channel_market(agents=4000, days=50), seeds=[1, 2, 3, 4, 5], workers=2)


def test_a_channel_with_zero_effect_has_a_true_roi_interval_covering_minus_one(
    measured: pd.DataFrame,
) -> None:
    # ROI is incremental profit / spend (break-even 0): spend that brings nothing back is -1.
    dud = measured.loc["dud"]
    assert dud["spend"] == 300.0 * 50
    assert dud["roi_ci_low"] <= -1 <= dud["roi_ci_high"]
    assert dud["incremental_orders_ci_low"] <= 0 <= dud["incremental_orders_ci_high"]
    assert dud["incremental_profit"] == pytest.approx(-dud["spend"])
    # The method tells a working channel apart: its interval excludes -1 (it brings something back).
    assert measured.loc["working", "roi_ci_low"] > -1
    assert measured.loc["working", "incremental_customers_ci_low"] > 0


def test_marginal_roi_is_below_average_roi_for_a_saturating_channel(measured: pd.DataFrame) -> None:
    saturated = measured.loc["saturated"]
    assert saturated["marginal_roi"] < saturated["roi"]
    assert saturated["marginal_minus_roi_ci_high"] < 0
    assert saturated["marginal_roas"] < saturated["roas"]


def test_incrementality_measures_are_consistent(measured: pd.DataFrame) -> None:
    for channel, row in measured.iterrows():
        assert row["roas"] == pytest.approx(row["incremental_revenue"] / row["spend"]), channel
        assert row["roi"] == pytest.approx(row["incremental_profit"] / row["spend"]), channel
        assert row["roi_ci_low"] <= row["roi"] <= row["roi_ci_high"]


def test_incrementality_rejects_unknown_channel_and_bad_step() -> None:
    scenario = three_channel_market(agents=500, days=5)
    with pytest.raises(ScenarioError, match="test: channels: unknown channel 'nope'; channels are: working"):
        incrementality(scenario, [1], channels=["nope"])
    with pytest.raises(ScenarioError, match=r"test: step: must be a share of spend in \(0, 1\]"):
        incrementality(scenario, [1], step=0)


# Command line -------------------------------------------------------------------------------
def test_cli_replicate_prints_summary_and_writes_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    variant = ROOT / VARIANTS / "variant_more_search.yaml"
    argv = ["replicate", str(ROOT / VALID), "--seeds", "1", "2", "--workers", "2", "--days", "15"]
    status = run.main([*argv, "--variant", str(variant), "--out", str(out), "--no-progress"])
    printed = capsys.readouterr().out
    assert status == 0
    assert "variant_more_search" in printed and "diff_ci_low" in printed
    runs = pd.read_csv(out / "replications.csv", index_col=["variant", "seed"])
    assert list(runs.index) == [
        ("base", 1),
        ("base", 2),
        ("variant_more_search", 1),
        ("variant_more_search", 2),
    ]
    summary = pd.read_csv(out / "summary.csv", index_col=["variant", "metric"])
    spend = runs["marketing_spend"]
    expected = spend.loc["variant_more_search"].mean() - spend.loc["base"].mean()
    assert summary.loc[("variant_more_search", "marketing_spend"), "diff"] == pytest.approx(expected)
    assert expected >= 1200 * 15  # the +1,200 a day, plus any retargeting ads it brings


def test_cli_incrementality_writes_one_row_per_channel(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["incrementality", str(ROOT / VALID), "--seeds", "1", "2", "--days", "10", "--agents", "1000"]
    status = run.main([*argv, "--channels", "search", "crm", "--out", str(out), "--no-progress"])
    printed = capsys.readouterr().out
    assert status == 0
    assert "marginal ROI (break-even 0)" in printed and "-1 = it brings nothing back" in printed
    table = pd.read_csv(out / "incrementality.csv", index_col="channel")
    assert list(table.index) == ["search", "crm"]
    assert {"roi", "roi_ci_low", "roi_ci_high", "marginal_roi"} <= set(table.columns)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            ["replicate", "--seeds"],
            "error: run.py replicate: argument --seeds: expected at least one argument",
        ),
        (
            ["replicate", "--workers", "0"],
            "error: run.py replicate: argument --workers: must be at least 1, got 0",
        ),
        (
            ["incrementality", "--workers", "0"],
            "error: run.py incrementality: argument --workers: must be at least 1",
        ),
        (
            ["incrementality", "--channels", "nope"],
            f"error: {ROOT / VALID}: channels: unknown channel 'nope'",
        ),
        (["incrementality", "--seeds", "4", "4"], "error: replicate: seeds: seed 4 is given twice"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2_nothing_written(
    extra: list[str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command, *options = extra
    out = tmp_path / "out"
    argv = [command, str(ROOT / VALID), "--days", "5", "--agents", "500", "--out", str(out), *options]
    try:
        status = run.main(argv)
    except SystemExit as exit_:  # argparse usage errors
        status = int(exit_.code or 0)
    printed = capsys.readouterr()
    assert status == 2, printed.err
    assert printed.err.count("\n") == 1 and printed.err.startswith(expected), printed.err
    assert printed.out == ""
    assert not out.exists()


def test_cli_variant_with_unknown_channel_real_command_line(tmp_path: Path) -> None:
    out = tmp_path / "out"
    variant = VARIANTS / "wrong_variant_unknown_channel.yaml"
    result = subprocess.run(
        [sys.executable, "run.py", "replicate", str(VALID), "--variant", str(variant), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    expected = f"error: {variant}: channels.seach: unknown channel 'seach'; channels are: search, social,"
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(expected), result.stderr
    assert result.stdout == ""
    assert not out.exists()
