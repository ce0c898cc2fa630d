"""Uncertainty-aware allocation: ``allocate --posterior`` and ``optimize --posterior``.

The posterior folders are tests/fixtures/posterior (written by its make_fixtures.py): ``valid``
is a small calibrated centre with a 40-member ensemble whose channel strengths spread widely;
each ``wrong_*`` folder breaks one thing.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import simulator as sim
from optimizer.allocate import AllocationResult
from optimizer.uncertainty import parameter_share
from simulator.calibrate import PosteriorEnsemble
from simulator.calibrate.media import media_scenario
from simulator.config.scenario import ScenarioError, parse_scenario
from simulator.data import load_media
from simulator.measure.replicate import apply_patch, replicate
from simulator.measure.saved import scenario_document

FIXTURES = Path(__file__).parent / "fixtures" / "posterior"
VALID = FIXTURES / "valid"
MEDIA = Path(__file__).parent / "fixtures" / "media"


@pytest.fixture(scope="module")
def ensemble() -> PosteriorEnsemble:
    return PosteriorEnsemble.load(VALID)


def test_a_member_is_the_scenario_the_calibration_builds_from_its_parameters() -> None:
    # A base scenario and a media history, as calibrate --media has them; the centre and the
    # members are media_scenario of their parameter vectors.
    truth = sim.load_scenario(MEDIA / "truth.yaml")
    data = truth.model_dump(mode="json", exclude_none=True)
    data["channels"] = [c for c in data["channels"] if c["name"] in ("search", "social")]
    for persona in data["population"]["personas"].values():
        persona["channel_affinity"] = {"search": 1.0, "social": 1.0}
    base = parse_scenario(data, "two channels")
    media = load_media(MEDIA / "valid_daily.csv")
    centre_strengths, centre_organic = {"search": 1.3, "social": 0.7}, 1.2
    centre = media_scenario(base, media, centre_strengths, centre_organic)
    rows = []
    for member, (search, social, organic) in enumerate([(0.5, 2.0, 0.8), (2.5, 0.3, 1.6)]):
        row = {"member": member, "organic_factor": organic}
        for name, strength in (("search", search), ("social", social)):
            aware = next(c for c in base.channels if c.name == name).awareness_per_impression
            row |= {f"strength_{name}": strength, f"awareness_per_impression_{name}": aware * strength}
        rows.append(row)
    ensemble = PosteriorEnsemble(
        Path("<test>"),
        centre,
        pd.DataFrame(rows).set_index("member")[
            ["organic_factor", "awareness_per_impression_search", "awareness_per_impression_social"]
        ],
        ("search", "social"),
        centre_organic,
    )
    for row in rows:
        built = ensemble.scenario(int(row["member"]))
        expected = media_scenario(
            base,
            media,
            {"search": row["strength_search"], "social": row["strength_social"]},
            row["organic_factor"],
        )
        for got, want in zip(built.channels, expected.channels, strict=True):
            assert got.awareness_per_impression == want.awareness_per_impression
            assert got.organic_discovery == pytest.approx(want.organic_discovery, rel=1e-12)
        # everything else is the centre's
        same = {k: v for k, v in scenario_document(built).items() if k != "channels"}
        assert same == {k: v for k, v in scenario_document(centre).items() if k != "channels"}


def test_seed_picks_its_member_and_keeps_a_variants_spend(ensemble: PosteriorEnsemble) -> None:
    seeds = list(range(200))
    members = ensemble.members_of(seeds)
    assert members == ensemble.members_of(seeds)  # deterministic
    assert len(set(members)) > len(ensemble) * 0.9  # 200 draws reach nearly all 40 members
    more = apply_patch(ensemble.centre, {"channels": {"working": {"daily_spend": 999.0}}})
    run = ensemble.on_seed(more, 7)
    member = ensemble.members.loc[ensemble.member_of(7)]
    working = next(c for c in run.channels if c.name == "working")
    assert working.daily_spend == 999.0
    assert working.awareness_per_impression == member["awareness_per_impression_working"]
    dud = next(c for c in run.channels if c.name == "dud")  # not in the ensemble: the centre's
    assert dud.awareness_per_impression == 0.0


def _runs(ensemble: PosteriorEnsemble, batch: int | None) -> pd.DataFrame:
    variant = {"channels": {"working": {"daily_spend": 300.0}}}
    return replicate(
        ensemble.centre, [3, 4, 5], {"more": variant}, per_seed=ensemble.on_seed, batch=batch
    ).runs


def test_paired_runs_share_the_member_of_their_seed_in_batches_or_alone(ensemble: PosteriorEnsemble) -> None:
    batched, alone = _runs(ensemble, None), _runs(ensemble, 1)
    pd.testing.assert_frame_equal(batched, alone, check_exact=True)
    more = apply_patch(ensemble.centre, {"channels": {"working": {"daily_spend": 300.0}}})
    for seed in (3, 5):
        member = ensemble.member_of(seed)
        for name, scenario in (("base", ensemble.centre), ("more", more)):
            direct = sim.simulate(ensemble.apply(scenario, member), seed=seed).summary
            assert batched.loc[(name, seed), "profit"] == direct["profit"]
    # ... and not the centre's world
    centre = replicate(ensemble.centre, [3, 4, 5]).runs
    assert not np.array_equal(centre["profit"].to_numpy(), batched.loc["base", "profit"].to_numpy())


def test_parameter_share() -> None:
    assert parameter_share(2.0, 1.0) == pytest.approx(0.75)
    assert parameter_share(1.0, 2.0) == 0.0
    assert math.isnan(parameter_share(0.0, 0.0))


@pytest.fixture(scope="module")
def allocated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    from run import main

    out = tmp_path_factory.mktemp("allocate") / "out"
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status = main(["allocate", "--posterior", str(VALID), "--out", str(out), "--report", "--no-progress"])
    assert status == 0
    return out, printed.getvalue()


def test_allocate_posterior_widens_the_verdicts_interval_and_says_why(allocated: tuple[Path, str]) -> None:
    out, printed = allocated
    data: dict[str, Any] = json.loads((out / "allocation.json").read_text())
    posterior = data["posterior"]
    print(json.dumps({k: v for k, v in posterior.items() if k != "member_choice"}, indent=1))
    # the verdict's interval is the one across members ...
    change = data["expected"]["profit"]["change"]
    assert change["high"] - change["low"] == pytest.approx(posterior["width_members"])
    assert posterior["change_members"] == pytest.approx(change)
    # ... wider than with the centre alone on the same seeds
    assert posterior["width_members"] > posterior["width_centre"] > 0
    share = posterior["parameter_share"]
    assert share == pytest.approx(1 - (posterior["width_centre"] / posterior["width_members"]) ** 2)
    ensemble = PosteriorEnsemble.load(VALID)
    assert posterior["members_used"] == ensemble.members_of(posterior["seeds"])
    assert posterior["ensemble_members"] == 40 and posterior["folder"] == str(VALID)
    assert data["seeds"] == len(posterior["seeds"])
    sentence = f"parameter uncertainty accounts for {round(100 * share)}% of its variance"
    assert sentence in printed and "across posterior members" in printed
    assert f"narrow only the simulation noise ({round(100 * (1 - share))}% of the variance)" in printed
    report = (out / "report.html").read_text()
    assert sentence in report and "both plans alike" in report


def test_allocate_posterior_result_round_trips(allocated: tuple[Path, str]) -> None:
    out, printed = allocated
    loaded = AllocationResult.load(out)
    saved = json.loads((out / "allocation.json").read_text())
    assert loaded.to_dict() == {k: v for k, v in saved.items() if k != "state"}
    assert loaded.posterior == saved["posterior"]
    assert loaded.to_text() in printed


BAD = [
    ("wrong_missing_parquet", "posterior.parquet", "missing"),
    ("wrong_not_parquet", "posterior.parquet", "not a readable parquet file"),
    ("wrong_missing_summary", "media_calibration.json", "missing"),
    ("wrong_summary_organic_zero", "media_calibration.json", "organic_factor"),
    ("wrong_missing_scenario", "scenario.yaml", "missing"),
    ("wrong_one_member", "posterior.parquet", "member"),
    ("wrong_duplicate_member", "posterior.parquet", "member"),
    ("wrong_no_organic_column", "posterior.parquet", "organic_factor"),
    ("wrong_no_awareness_column", "posterior.parquet", "awareness_per_impression_working"),
    ("wrong_no_channel_column", "posterior.parquet", "strength_NAME"),
    ("wrong_unknown_channel", "posterior.parquet", "strength_tv"),
    ("wrong_awareness_above_one", "posterior.parquet", "awareness_per_impression_working"),
    ("wrong_negative_organic", "posterior.parquet", "organic_factor"),
]


def _fails_cleanly(arguments: list[str], file: str, field: str, capsys: pytest.CaptureFixture[str]) -> None:
    from run import main

    status = main(arguments)
    captured = capsys.readouterr()
    error = captured.err.strip()
    assert status == 2, error
    assert len(error.splitlines()) == 1 and error.startswith("error: ")
    assert file in error and field in error, error
    assert captured.out == ""


@pytest.mark.parametrize(("folder", "file", "field"), BAD)
def test_allocate_bad_posterior_is_one_line_and_writes_nothing(
    folder: str, file: str, field: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    _fails_cleanly(
        ["allocate", "--posterior", str(FIXTURES / folder), "--out", str(out)], file, field, capsys
    )
    assert not out.exists()


def test_allocate_posterior_folder_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    _fails_cleanly(
        ["allocate", "--posterior", str(tmp_path / "nowhere"), "--out", str(out)],
        "nowhere",
        "no such folder",
        capsys,
    )
    assert not out.exists()


def test_a_scenario_without_the_ensembles_channels_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The ensemble's channels must be the scenario's: a bundled scenario has none of them.
    for command in ("allocate", "optimize"):
        out = tmp_path / command
        arguments = [command, str(MEDIA / "truth.yaml"), "--posterior", str(VALID), "--out", str(out)]
        _fails_cleanly(arguments, "posterior.parquet", "strength_working", capsys)
        assert not out.exists()


def test_member_out_of_the_ensemble(ensemble: PosteriorEnsemble) -> None:
    with pytest.raises(ScenarioError, match="no member 999"):
        ensemble.scenario(999)


def _ensemble_for(scenario: sim.Scenario, members: int = 12, spread: float = 1.0) -> PosteriorEnsemble:
    """An ensemble over every channel of ``scenario``, strengths spread log-normally."""
    rng = np.random.default_rng(11)
    table = pd.DataFrame({"organic_factor": np.exp(rng.normal(0.0, 0.2, members))})
    for channel in scenario.channels:
        strength = np.exp(rng.normal(0.0, spread, members))
        table[f"awareness_per_impression_{channel.name}"] = np.minimum(
            1.0, channel.awareness_per_impression * strength
        )
    table.index = pd.Index(range(members), name="member")
    return PosteriorEnsemble(Path("<test>"), scenario, table, tuple(scenario.channel_names), 1.0)


def test_optimize_posterior_checks_across_members_and_round_trips(tmp_path: Path) -> None:
    from scenario_factory import small

    from optimizer.search import OptimizationResult, optimize, search_settings

    scenario = small("fashion_social_brand", agents=500, days=30)
    settings = search_settings(
        scenario,
        {
            "trials": 2,
            "seeds": 2,
            "budget": {"candidates": 1, "levels": [0, 1, 2], "seeds": 2},
            "confirm_seeds": 4,
        },
    )
    ensemble = _ensemble_for(scenario)
    result = optimize(scenario, settings, posterior=ensemble)
    posterior = result.posterior
    assert posterior is not None
    assert posterior["members_used"] == ensemble.members_of(posterior["seeds"])
    assert len(posterior["seeds"]) == 4 and posterior["on_centre"] == ["trials", "selection"]
    change = result.comparison.loc[settings.objective[0]]
    assert posterior["width_members"] == pytest.approx(change["change_high"] - change["change_low"])
    # the budget split measured its curves (across members: replicate per_seed, tested above)
    assert result.curves is not None
    text = result.to_text()
    assert "across posterior members" in text and "on the centre scenario alone: trials, selection" in text
    result.save(tmp_path)
    loaded = OptimizationResult.load(tmp_path)
    assert loaded.to_dict() == result.to_dict() and loaded.to_text() == text
