"""Media histories, lift tests and the calibration of channel response (simulator.calibrate.media).

The recovery world is tests/fixtures/media/truth.yaml: search flights, social pauses, display
steps up, radio never changes. It is simulated for two years (seed 5); the calibration sees only
its exported orders.csv and media.csv and a base scenario whose channels all have the same
awareness per impression (0.01; the truth has 0.02, 0.01, 0.004, 0.006).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import simulator as sim
from simulator.calibrate import NOT_IDENTIFIED, calibrate_media
from simulator.calibrate.media import MediaCalibration, media_scenario
from simulator.config.scenario import parse_scenario
from simulator.data import LiftTest, MediaError, load_lift_tests, load_media, load_orders
from simulator.measure.incrementality import planned_spend

FIXTURES = Path(__file__).parent / "fixtures" / "media"
TRUTH = FIXTURES / "truth.yaml"
WORLD_SEED = 5
SEEDS = (1, 2, 3)
HOLDOUT_WEEKS = 16
BASE_AWARENESS = 0.01


@pytest.mark.parametrize(
    ("name", "column"),
    [
        ("wrong_missing_spend.csv", "'spend'"),
        ("wrong_negative_spend.csv", "'spend'"),
        ("wrong_non_numeric_spend.csv", "'spend'"),
        ("wrong_negative_impressions.csv", "'impressions'"),
        ("wrong_bad_date.csv", "'date'"),
        ("wrong_duplicate.csv", "appear twice"),
        ("wrong_gap.csv", "gap of 2 days"),
        ("wrong_channel_missing_date.csv", "'social' has no row for 2024-01-02"),
        ("wrong_empty.csv", "no rows"),
    ],
)
def test_bad_media_file_is_one_line_naming_file_and_field(name: str, column: str) -> None:
    with pytest.raises(MediaError) as caught:
        load_media(FIXTURES / name)
    message = str(caught.value)
    assert "\n" not in message
    assert name in message and column in message


def test_unknown_channel_is_named_with_the_scenarios_channels() -> None:
    media = load_media(FIXTURES / "wrong_unknown_channel.csv")
    with pytest.raises(
        MediaError, match=r"unknown channel 'tiktok' \(the scenario's channels are: search, social"
    ):
        media.check_channels(["search", "social", "display", "radio"])


def test_daily_and_weekly_histories() -> None:
    daily = load_media(FIXTURES / "valid_daily.csv")
    assert (daily.frequency, daily.days, daily.channels) == ("daily", 3, ["search", "social"])
    assert daily.daily_spend()["search"].tolist() == [10.0, 12.0, 0.0]
    weekly = load_media(FIXTURES / "valid_weekly.csv")
    assert (weekly.frequency, weekly.days) == ("weekly", 14)
    spread = weekly.daily_spend()
    assert spread["search"].tolist() == [10.0] * 7 + [12.0] * 7
    assert spread.sum().tolist() == pytest.approx([154.0, 70.0])


@pytest.mark.parametrize(
    ("name", "column"),
    [
        ("wrong_lift_missing_column.csv", "'standard_error'"),
        ("wrong_lift_end_before_start.csv", "'end'"),
        ("wrong_lift_zero_error.csv", "'standard_error'"),
        ("wrong_lift_zero_change.csv", "'spend_change'"),
        ("wrong_lift_unknown_channel.csv", "'channel'"),
    ],
)
def test_bad_lift_test_file_is_one_line(name: str, column: str) -> None:
    with pytest.raises(MediaError) as caught:
        load_lift_tests(FIXTURES / name, channels=["search", "social"])
    message = str(caught.value)
    assert "\n" not in message and name in message and column in message


def test_lift_test_file() -> None:
    (test,) = load_lift_tests(FIXTURES / "lift_valid.csv", channels=["search"])
    assert (test.channel, test.spend_change, test.effect, test.standard_error) == ("search", -22.0, -3.0, 1.0)
    assert test.end - test.start == pd.Timedelta(days=1)


def test_media_scenario_replays_the_history() -> None:
    truth = sim.load_scenario(TRUTH)
    media = load_media(FIXTURES / "valid_daily.csv")
    data = truth.model_dump(mode="json", exclude_none=True)
    data["channels"] = [c for c in data["channels"] if c["name"] in ("search", "social")]
    for persona in data["population"]["personas"].values():
        persona["channel_affinity"] = {"search": 1.0, "social": 1.0}
    replay = media_scenario(parse_scenario(data, "two channels"), media, {"search": 2.0})
    assert replay.horizon_days == 3 and str(replay.start_date) == "2024-01-01"
    by_name = {c.name: c for c in replay.channels}
    assert by_name["search"].awareness_per_impression == pytest.approx(0.04)
    assert by_name["social"].awareness_per_impression == pytest.approx(0.01)
    result = sim.simulate(replay, seed=1)
    spend = result.channels["spend"].unstack("channel")
    assert spend["search"].tolist() == [10.0, 12.0, 0.0] and spend["social"].tolist() == [5.0, 5.0, 6.0]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The truth simulated for two years; its orders.csv and media.csv."""
    out = tmp_path_factory.mktemp("world")
    sim.simulate(sim.load_scenario(TRUTH), seed=WORLD_SEED).save(out, overwrite=True)
    return out


def test_simulate_writes_its_media_history(world: Path) -> None:
    truth = sim.load_scenario(TRUTH)
    media = load_media(world / "media.csv")
    assert media.frequency == "daily" and media.days == truth.horizon_days
    assert media.channels == ["display", "radio", "search", "social"]
    assert str(media.first_date.date()) == str(truth.start_date)
    replay = media_scenario(truth, media)
    for channel, again in zip(truth.channels, replay.channels, strict=True):
        assert planned_spend(channel, truth.horizon_days) == pytest.approx(
            planned_spend(again, truth.horizon_days)
        )


def _base() -> sim.Scenario:
    data = sim.load_scenario(TRUTH).model_dump(mode="json", exclude_none=True)
    for channel in data["channels"]:
        channel["awareness_per_impression"] = BASE_AWARENESS
    return parse_scenario(data, "base")


def _calibrate(world: Path, lift_tests: list[LiftTest]) -> MediaCalibration:
    log = load_orders(world / "orders.csv", today="2030-01-01")
    media = load_media(world / "media.csv")
    scale = sim.load_scenario(TRUTH).population.scale
    return calibrate_media(
        _base(), log, media, lift_tests, holdout_weeks=HOLDOUT_WEEKS, seeds=SEEDS, weight=scale, workers=2
    )


@pytest.fixture(scope="module")
def calibrated(world: Path) -> MediaCalibration:
    return _calibrate(world, [])


@pytest.fixture(scope="module")
def truth_roas() -> pd.Series:
    """Incremental ROAS of every channel of the truth, as incrementality measures it."""
    return sim.incrementality(sim.load_scenario(TRUTH), seeds=list(SEEDS), workers=2)["roas"]


@pytest.mark.slow
def test_recovery_of_incremental_roas_and_holdout(
    calibrated: MediaCalibration, truth_roas: pd.Series
) -> None:
    table = calibrated.channels
    print(calibrated.text())
    print(truth_roas)
    for name, row in table.iterrows():
        assert row["roas_low"] <= truth_roas[name] <= row["roas_high"], (
            name,
            truth_roas[name],
            row.to_dict(),
        )
    check = calibrated.summary["holdout"]
    assert check["weeks"] == HOLDOUT_WEEKS and check["coverage"] >= 0.8
    assert len(calibrated.posterior) >= 20
    assert {f"roas_{name}" for name in table.index} <= set(calibrated.posterior.columns)


@pytest.mark.slow
def test_constant_spend_is_not_identified(calibrated: MediaCalibration) -> None:
    table = calibrated.channels
    radio = table.loc["radio"]
    assert radio["spend_cv"] == pytest.approx(0.0, abs=1e-12)
    assert not radio["identified"]
    note = "radio: awareness_per_impression strength not identified by the data: its spend never varies"
    assert calibrated.summary["channels"]["radio"]["note"].startswith(note)
    lines = calibrated.text().splitlines()
    assert NOT_IDENTIFIED in next(line for line in lines if line.strip().startswith("radio "))
    assert any(line.strip().startswith(note) for line in lines)
    width = table["roas_high"] - table["roas_low"]
    assert width["radio"] > width.drop("radio").max()
    assert table.loc[["social", "display"], "identified"].all()


def _radio_lift_test(world: Path) -> LiftTest:
    """A hold-out of radio in weeks 60-79 of the truth: new customers lost then, paired over seeds."""
    truth = sim.load_scenario(TRUTH)
    first, last = 60 * 7, 80 * 7 - 1
    data = truth.model_dump(mode="json", exclude_none=True)
    radio = next(c for c in data["channels"] if c["name"] == "radio")
    radio["budget_plan"] = [{"start_day": first, "end_day": last, "daily_spend": 0.0}]
    off = parse_scenario(data, "radio off")
    effects = []
    for seed in (7, 8, 9):
        runs = [
            sim.simulate(s, seed=seed).daily["new_customers"].iloc[first : last + 1].sum()
            for s in (truth, off)
        ]
        effects.append(runs[1] - runs[0])
    start = pd.Timestamp(truth.start_date)
    return LiftTest(
        "radio",
        start + pd.Timedelta(days=first),
        start + pd.Timedelta(days=last),
        -radio["daily_spend"] * (last - first + 1),
        float(np.mean(effects)),
        float(np.std(effects, ddof=1) / np.sqrt(len(effects))),
    )


@pytest.mark.slow
def test_lift_test_narrows_the_unidentified_channel(
    world: Path, calibrated: MediaCalibration, truth_roas: pd.Series
) -> None:
    lift = _radio_lift_test(world)
    with_lift = _calibrate(world, [lift])
    before, after = calibrated.channels.loc["radio"], with_lift.channels.loc["radio"]
    print(lift, before.to_dict(), after.to_dict())
    assert after["roas_high"] - after["roas_low"] < before["roas_high"] - before["roas_low"]
    assert after["roas_low"] <= truth_roas["radio"] <= after["roas_high"]
    assert after["lift_tests"] == 1


MEDIA_BAD = sorted(p.name for p in FIXTURES.glob("wrong_*.csv") if not p.name.startswith("wrong_lift"))
LIFT_BAD = sorted(p.name for p in FIXTURES.glob("wrong_lift_*.csv"))


@pytest.mark.parametrize(
    ("option", "name"), [("--media", n) for n in MEDIA_BAD] + [("--lift-tests", n) for n in LIFT_BAD]
)
def test_calibrate_media_bad_file_exits_2_with_one_line_and_writes_nothing(
    option: str, name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from run import main

    files = {"--media": FIXTURES / "valid_daily.csv", "--lift-tests": None, option: FIXTURES / name}
    arguments = [str(TRUTH), "--orders", str(FIXTURES.parent / "orders" / "cdnow_sample.csv")]
    for flag, path in files.items():
        if path is not None:
            arguments += [flag, str(path)]
    out = tmp_path / "out"
    status = main(["calibrate", *arguments, "--out", str(out)])
    error = capsys.readouterr().err.strip()
    assert status == 2
    assert len(error.splitlines()) == 1 and name in error
    assert not out.exists()
