"""Touch-path recording, attribution models and their grading against the true increments."""

from __future__ import annotations

import importlib.util
import itertools
import math
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest
from scenario_factory import ROOT, small

from simulator import simulate
from simulator.engine.touchpaths import TouchKind, TouchPaths, TouchRecorder
from simulator.measure.attribution import (
    MODELS,
    AttributionReport,
    attribute,
    evaluate_attribution,
    markov_removal_effects,
    shapley_values,
    true_incremental,
    without_spend,
)

CHANNELS = ["a", "b", "c"]


def _cli() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run", ROOT / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def exit_status(argv: Sequence[str]) -> int:
    """Exit status of ``run.py ARGV`` run in this process (usage errors exit through SystemExit)."""
    try:
        return int(_cli().main(argv))
    except SystemExit as stop:
        return int(stop.code or 0)


def hand_made(paths: list[tuple[list[int], list[int], bool, float]], scale: float = 1.0) -> TouchPaths:
    """TouchPaths from (channels, days, converted, value); a converted path's last touch is its order."""
    rows, touches = [], []
    for path_id, (channels, days, converted, value) in enumerate(paths):
        rows.append(
            {
                "shopper_id": path_id,
                "converted": converted,
                "day": days[-1],
                "channel": CHANNELS[channels[-1]] if converted else None,
                "value": value,
                "touches": len(channels),
            }
        )
        for position, (channel, day) in enumerate(zip(channels, days, strict=True)):
            kind = "order" if converted and position == len(channels) - 1 else "exposure"
            touches.append((path_id, position, CHANNELS[channel], day, kind))
    table = pd.DataFrame(rows).rename_axis("path_id")
    table["channel"] = pd.Categorical(table["channel"], categories=CHANNELS)
    frame = pd.DataFrame(touches, columns=["path_id", "position", "channel", "day", "kind"])
    frame["channel"] = pd.Categorical(frame["channel"], categories=CHANNELS)
    return TouchPaths(paths=table, touches=frame, channels=CHANNELS, scale=scale)


# Recording ----------------------------------------------------------------------------------


def test_ring_buffer_keeps_the_first_touch_and_the_last_depth_touches_in_time_order() -> None:
    recorder = TouchRecorder(size=3, channels=CHANNELS, depth=4)
    shopper = np.array([1])
    for day in range(7):  # 7 touches in a buffer of 4: touches 1 and 2 are lost, 0 is kept apart
        recorder.record(shopper, day % 3, day, TouchKind.EXPOSURE if day % 2 else TouchKind.VISIT)
    recorder.record(np.array([0, 2]), np.array([2, 1]), 3, TouchKind.VISIT)
    recorder.on_orders(np.array([1, 0]), np.array([2, 0]), np.array([True, False]), np.array([50.0, 9.0]), 8)
    assert recorder.count.tolist() == [0, 0, 1]  # every order starts a new path

    class _Model:  # the two attributes collect() reads
        day = 9
        scale = 2.0

        class population:  # noqa: N801 - stands in for ShopperPopulation
            first_purchase_day = np.array([5, 8, -(2**30)], dtype=np.int32)

    paths = recorder.collect(_Model())  # type: ignore[arg-type]
    assert paths.paths["converted"].tolist() == [True, False]
    assert paths.paths["shopper_id"].tolist() == [1, 2]
    assert paths.paths["touches"].tolist() == [6, 1]
    first = paths.touches[paths.touches["path_id"] == 0]
    assert first["day"].tolist() == [0, 3, 4, 5, 6, 8]
    assert first["channel"].tolist() == ["a", "a", "b", "c", "a", "c"]
    assert first["kind"].tolist() == ["visit", "exposure", "visit", "exposure", "visit", "order"]
    assert first["position"].tolist() == list(range(6))
    assert paths.paths.loc[0, "value"] == 50.0
    second = paths.touches[paths.touches["path_id"] == 1]
    assert second["channel"].tolist() == ["b"] and second["kind"].tolist() == ["visit"]


@pytest.fixture(scope="module")
def recorded() -> tuple[object, object]:
    scenario = small(agents=6000, days=60, levers=True)
    return simulate(scenario, seed=3), simulate(scenario, seed=3, record_paths=True)


def test_recording_changes_nothing_and_is_reproducible(recorded: tuple[object, object]) -> None:
    plain, with_paths = recorded
    assert plain.paths is None  # type: ignore[attr-defined]
    pd.testing.assert_frame_equal(plain.channels, with_paths.channels)  # type: ignore[attr-defined]
    pd.testing.assert_frame_equal(plain.customers, with_paths.customers)  # type: ignore[attr-defined]
    again = simulate(with_paths.scenario, seed=3, record_paths=True)  # type: ignore[attr-defined]
    assert again.paths is not None
    pd.testing.assert_frame_equal(again.paths.paths, with_paths.paths.paths)  # type: ignore[attr-defined]
    pd.testing.assert_frame_equal(again.paths.touches, with_paths.paths.touches)  # type: ignore[attr-defined]
    other = simulate(with_paths.scenario, seed=4, record_paths=True)  # type: ignore[attr-defined]
    assert other.paths is not None and not other.paths.touches.equals(again.paths.touches)


def test_recorded_paths_match_the_simulation(recorded: tuple[object, object]) -> None:
    _, result = recorded
    paths = result.paths  # type: ignore[attr-defined]
    customers = result.customers  # type: ignore[attr-defined]
    scale = result.scenario.population.scale  # type: ignore[attr-defined]
    conversions = paths.conversions
    # One converted path per new customer, closed in the channel and on the day of the first order.
    assert len(conversions) * scale == pytest.approx(result.summary["new_customers"])  # type: ignore[attr-defined]
    new = customers.loc[conversions["shopper_id"]]
    assert (new["first_purchase_day"].to_numpy() == conversions["day"].to_numpy()).all()
    assert (new["acquisition_channel"].astype(str).to_numpy() == conversions["channel"].astype(str)).all()
    last = paths.touches.groupby("path_id").tail(1).set_index("path_id")
    assert (last.loc[conversions.index, "kind"] == "order").all()
    assert (last.loc[conversions.index, "channel"].to_numpy() == conversions["channel"].to_numpy()).all()
    assert conversions["value"].sum() > 0
    # Touches are in time order, never after the conversion, and at most depth + 2 per path.
    steps = paths.touches.groupby("path_id")["day"].diff().dropna()
    assert (steps >= 0).all()
    assert paths.paths["touches"].max() <= 16 + 2
    assert (paths.touches.groupby("path_id").size() == paths.paths["touches"]).all()
    # Open paths belong to shoppers who never bought; they end without an order.
    open_paths = paths.paths[~paths.paths["converted"]]
    assert len(open_paths) > len(conversions)
    assert customers.loc[open_paths["shopper_id"], "orders"].eq(0).all()
    assert not (last.loc[open_paths.index, "kind"] == "order").any()
    # Every kind of touch is recorded, and visits come from every channel reaching unknown shoppers.
    assert set(paths.touches["kind"]) == {"exposure", "visit", "order"}


# Models -------------------------------------------------------------------------------------


def test_heuristic_models_on_hand_made_paths() -> None:
    paths = hand_made(
        [
            ([0, 1, 1, 2], [0, 7, 14, 14], True, 100.0),
            ([1], [3], True, 40.0),
            ([0, 2], [0, 0], False, 0.0),
        ],
        scale=10.0,
    )
    credit = attribute(paths, "conversions", half_life_days=7.0)
    assert credit.sum().to_numpy() == pytest.approx(np.full(len(MODELS), 20.0))  # 2 conversions x scale
    assert credit["first_touch"].tolist() == [10.0, 10.0, 0.0]
    assert credit["last_touch"].tolist() == [0.0, 10.0, 10.0]
    assert credit["linear"].to_numpy() == pytest.approx([2.5, 15.0, 2.5])
    assert credit["position_based"].to_numpy() == pytest.approx([4.0, 12.0, 4.0])
    decay = np.array([0.25, 0.5, 1.0, 1.0])  # ages 14, 7, 0, 0 days at a 7-day half-life
    decay /= decay.sum()
    assert credit["time_decay"].to_numpy() == pytest.approx(
        10 * np.array([decay[0], decay[1] + decay[2] + 1.0, decay[3]])
    )
    revenue = attribute(paths, "revenue")
    assert revenue["last_touch"].tolist() == [0.0, 400.0, 1000.0]
    assert revenue["shapley"].to_numpy() == pytest.approx([1000 / 3, 1000 / 3 + 400, 1000 / 3])
    two = attribute(hand_made([([0, 2], [0, 1], True, 1.0)]), models=["position_based"])
    assert two["position_based"].tolist() == [0.5, 0.0, 0.5]


def test_markov_removal_effects_by_hand() -> None:
    # a->b converts, b converts, a alone drops: P(conv) = 2/3 * 1/2 + 1/3 = 2/3;
    # without a: 1/3 (effect 1/2); without b: 0 (effect 1).
    path = np.array([0, 0, 1, 2])
    channel = np.array([0, 1, 1, 0])
    effects = markov_removal_effects(path, channel, np.array([True, True, False]), 3)
    assert effects == pytest.approx([0.5, 1.0, 0.0])
    credit = attribute(
        hand_made([([0, 1], [0, 1], True, 1.0), ([1], [0], True, 1.0), ([0], [0], False, 0.0)])
    )
    assert credit["markov"].to_numpy() == pytest.approx([2 / 3, 4 / 3, 0.0])
    # Repeats of one channel are one state: the same answer with a repeated touch.
    repeated = attribute(
        hand_made([([0, 0, 1], [0, 1, 2], True, 1.0), ([1], [0], True, 1.0), ([0], [0], False, 0.0)])
    )
    assert repeated["markov"].to_numpy() == pytest.approx(credit["markov"].to_numpy())


def test_shapley_enumeration_matches_known_games() -> None:
    # Glove game: player 0 holds a left glove, players 1 and 2 right gloves: (2/3, 1/6, 1/6).
    def glove(mask: int) -> float:
        return float(bool(mask & 1) and bool(mask & 6))

    assert shapley_values(glove, 3) == pytest.approx([2 / 3, 1 / 6, 1 / 6])
    # Coalition conversion value = sum of unanimity games: each path's value split equally.
    rng = np.random.default_rng(5)
    sets = [frozenset(s) for s in (rng.choice(5, rng.integers(1, 5), replace=False) for _ in range(40))]
    values = rng.random(len(sets))

    def conversion_value(mask: int) -> float:
        return float(sum(v for s, v in zip(sets, values, strict=True) if all(mask >> c & 1 for c in s)))

    expected = np.zeros(5)
    for s, v in zip(sets, values, strict=True):
        for c in s:
            expected[c] += v / len(s)
    result = shapley_values(conversion_value, 5)
    assert result == pytest.approx(expected)
    assert result.sum() == pytest.approx(conversion_value(31))
    with pytest.raises(ValueError, match="1-16 players"):
        shapley_values(glove, 0)


def test_bad_model_arguments_are_refused() -> None:
    paths = hand_made([([0], [0], True, 1.0)])
    with pytest.raises(ValueError, match="unknown attribution model"):
        attribute(paths, models=["u_shaped"])
    with pytest.raises(ValueError, match="basis"):
        attribute(paths, basis="profit")
    with pytest.raises(ValueError, match="half_life_days"):
        attribute(paths, half_life_days=0)


# Truth --------------------------------------------------------------------------------------


def test_without_spend_and_truth_of_a_channel_that_spends_nothing() -> None:
    scenario = small(agents=3000, days=40, levers=False)
    silent = without_spend(scenario, "stores")
    stores = silent.channels[silent.channel_names.index("stores")]
    assert stores.daily_spend == 0 and all(p.daily_spend == 0 for p in stores.budget_plan)
    assert silent.channels[0] == scenario.channels[0]
    with pytest.raises(ValueError, match="no channel named"):
        without_spend(scenario, "tv")
    truth = true_incremental(silent, [1, 2])
    assert truth.loc["stores", ["conversions", "revenue", "spend"]].tolist() == [0.0, 0.0, 0.0]
    assert truth.loc["search", "spend"] == pytest.approx(scenario.channels[0].daily_spend * 40)
    assert np.isfinite(truth.loc["search", "conversions_se"])


def test_the_report_is_the_same_with_any_number_of_workers() -> None:
    scenario = small(agents=3000, days=40)
    one = evaluate_attribution(scenario, [1, 2], workers=1)
    two = evaluate_attribution(scenario, [1, 2], workers=2)
    pd.testing.assert_frame_equal(one.tidy(), two.tidy(), check_exact=True)
    alone = simulate(scenario, seed=1, record_paths=True).paths
    assert alone is not None
    for report in (one, two):  # the first seed's paths, as a run of its own records them
        assert report.paths.paths.equals(alone.paths) and report.paths.touches.equals(alone.touches)
    pd.testing.assert_frame_equal(true_incremental(scenario, [1, 2], workers=2), one.truth, check_exact=True)


# The done-when check --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def omnichannel_report() -> AttributionReport:
    """The bundled omnichannel retailer without levers, shrunk to 25,000 agents and 150 days."""
    return evaluate_attribution(small(agents=25_000, days=150, levers=False), seeds=[1, 2, 3])


def test_last_touch_over_credits_closing_channels_and_under_credits_awareness(
    omnichannel_report: AttributionReport,
) -> None:
    for basis in ("conversions", "revenue"):
        table = omnichannel_report.table(basis)
        truth, se, last = table["truth_share"], table["truth_share_se"], table["last_touch"]
        # Stores close orders (lowest checkout friction) and CRM touches known shoppers right
        # before they buy: last touch gives them far more than their spend adds.
        assert last["stores"] - truth["stores"] > max(0.1, 3 * se["stores"])
        assert last["crm"] > truth["crm"]
        # Social makes shoppers aware days before the visit that leads to the order.
        assert truth["social"] - last["social"] > max(0.1, 3 * se["social"])
        errors = omnichannel_report.errors(basis)["mean_abs_error"]
        assert errors.idxmax() == "last_touch"
        assert errors["linear"] < errors["last_touch"] / 2
    truth = omnichannel_report.truth
    assert (truth["conversions"] > 0).all() and (truth["spend"] > 0).all()
    tidy = omnichannel_report.tidy()
    assert len(tidy) == 2 * (5 * (1 + len(MODELS)) + len(MODELS))
    shares = tidy[tidy["channel"] != "mean_abs_error"].groupby(["basis", "source"])["share"].sum()
    assert shares.to_numpy() == pytest.approx(np.ones(len(shares)))


# Command line ---------------------------------------------------------------------------------


def test_cli_prints_the_table_and_writes_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "attr"
    scenario = str(ROOT / "scenarios" / "omnichannel_retailer.yaml")
    argv = [
        "attribution",
        scenario,
        "--agents",
        "3000",
        "--days",
        "30",
        "--seeds",
        "1",
        "2",
        "--workers",
        "2",
    ]
    assert exit_status([*argv, "--out", str(out), "--paths", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "last_touch" in printed and "mean_abs_error" in printed and "truth_share" in printed
    table = pd.read_csv(out / "attribution.csv")
    assert set(table["source"]) == {"truth", *MODELS}
    assert set(table["basis"]) == {"conversions", "revenue"}
    paths = pd.read_csv(out / "paths.csv")
    touches = pd.read_csv(out / "touches.csv")
    assert paths["converted"].any() and len(touches) == paths["touches"].sum()
    # Existing files are not replaced without --overwrite; bad input is one line, exit 2.
    assert exit_status([*argv, "--out", str(out)]) == 2
    assert "already holds attribution.csv" in capsys.readouterr().err
    assert exit_status([*argv, "--paths"]) == 2
    assert exit_status(["attribution", "no/such.yaml"]) == 2
    assert exit_status([*argv, "--half-life", "0"]) == 2
    assert exit_status([*argv, "--seed", "3"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("warning: ")]
    assert len(errors) == 4 and all(line.startswith("error") for line in errors)


def test_markov_on_simulated_paths_is_a_proper_split(recorded: tuple[object, object]) -> None:
    _, result = recorded
    credit = attribute(result.paths)  # type: ignore[attr-defined]
    total = len(result.paths.conversions) * result.paths.scale  # type: ignore[attr-defined]
    assert credit.sum().to_numpy() == pytest.approx(np.full(len(MODELS), total))
    assert (credit.to_numpy() >= -1e-9).all()
    assert math.isclose(credit["shapley"].sum(), total)
    assert list(itertools.chain(credit.columns)) == list(MODELS)
