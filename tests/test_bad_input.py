"""Bad input gets one clear line on stderr, exit status 2, no traceback and nothing written.

Every case runs the real command line (``python run.py validate|simulate``) as a subprocess.
The scenario fixtures in tests/fixtures are small copies of scenarios/omnichannel_retailer.yaml
(2,000 agents, 20 days) with exactly one problem each.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path("tests") / "fixtures"  # relative to ROOT, as a user would type it
VALID = FIXTURES / "small_valid.yaml"
MEMORY_LIMIT = 4 * 2**30  # a run that tried to allocate 100 billion agents would fail under this


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def start(*args: str | Path, limit_memory: bool = False) -> subprocess.Popen[str]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "run.py", *map(str, args)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        preexec_fn=_limit_memory if limit_memory else None,
    )


def finish(process: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return finish(start(*args))


def assert_one_line(stderr: str, prefix: str) -> str:
    assert stderr.count("\n") == 1 and stderr.endswith("\n"), f"not one line: {stderr!r}"
    assert stderr.startswith(prefix), stderr
    assert "Traceback" not in stderr
    return stderr


def assert_bad_input(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    line = assert_one_line(result.stderr, "error: ")
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"


def _directory(tmp_path: Path) -> Path:
    folder = tmp_path / "a_folder.yaml"
    folder.mkdir()
    return folder


def _unreadable(tmp_path: Path) -> Path:
    path = tmp_path / "locked.yaml"
    shutil.copyfile(ROOT / VALID, path)
    path.chmod(0)
    return path


# (id, fixture name or a function making the path in tmp_path, field named or "" for the file, rule text)
CASES = [
    ("wrong_type", "wrong_type_agents.yaml", "population.agents", "valid integer"),
    (
        "negative_value",
        "wrong_negative_daily_spend.yaml",
        "channels[0](search).daily_spend",
        "greater than or equal to 0",
    ),
    ("missing_value", "wrong_missing_horizon.yaml", "horizon_days", "required field is missing"),
    (
        "unknown_key",
        "wrong_unknown_key.yaml",
        "channels[0](search).dailly_spend",
        "unknown field; did you mean 'daily_spend'",
    ),
    ("channels_empty", "wrong_channels_empty.yaml", "channels", "the channel list is empty"),
    ("channels_over_8", "wrong_channels_nine.yaml", "channels", "at most 8"),
    (
        "channels_duplicate",
        "wrong_channels_duplicate.yaml",
        "channels[4](crm).name",
        "duplicate channel name 'crm'",
    ),
    ("persona_shares", "wrong_persona_shares.yaml", "population.personas", "must sum to 1"),
    ("file_missing", "wrong_does_not_exist.yaml", "", "file not found"),
    ("file_is_directory", _directory, "", "is a directory"),
    pytest.param(
        "file_unreadable",
        _unreadable,
        "",
        "cannot be read",
        marks=pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file"),
        id="file_unreadable",
    ),
    ("file_empty", "wrong_empty.yaml", "", "the file is empty"),
    ("yaml_syntax", "wrong_yaml_syntax.yaml", "", "is not valid YAML at line 17"),
    ("yaml_binary", "wrong_binary.yaml", "", "is not a text file"),
    ("too_many_agents", "wrong_too_many_agents.yaml", "population.agents", "GiB is available"),
    (
        "affinity_unknown_channel",
        "wrong_affinity_unknown_channel.yaml",
        "population.personas.impulse.channel_affinity.tv",
        "unknown channel 'tv'; channels are: search, social",
    ),
    (
        "budget_past_horizon",
        "wrong_budget_past_horizon.yaml",
        "channels[1](social).budget_plan[1].start_day",
        "past the horizon of 20 days",
    ),
    (
        "tiers_not_increasing",
        "wrong_policy_tiers_not_increasing.yaml",
        "policies.loyalty.tiers[2](gold)",
        "thresholds must increase from tier silver",
    ),
    (
        "discount_over_100_percent",
        "wrong_policy_discount_over_100.yaml",
        "policies.promotions.campaigns[0](spring_sale).discount",
        "less than or equal to 1",
    ),
    (
        "campaign_past_horizon",
        "wrong_policy_campaign_past_horizon.yaml",
        "policies.promotions.campaigns[0](spring_sale).days",
        "past the horizon of 20 days",
    ),
    (
        "campaign_unknown_channel",
        "wrong_policy_campaign_unknown_channel.yaml",
        "policies.promotions.campaigns[0](spring_sale).channels",
        "unknown channel 'tiktok'",
    ),
    (
        "campaigns_overlap_without_stacking",
        "wrong_policy_campaigns_overlap.yaml",
        "policies.promotions.stacking",
        "overlap on the same shoppers; set stacking",
    ),
    (
        "retention_unknown_channel",
        "wrong_policy_retention_unknown_channel.yaml",
        "policies.retention.channel",
        "unknown channel 'email'",
    ),
]
CASE_IDS = [c[0] if isinstance(c, tuple) else c.id for c in CASES]


@pytest.mark.parametrize(("case", "scenario", "field", "rule"), CASES, ids=CASE_IDS)
def test_bad_scenario_is_refused(
    case: str, scenario: str | Callable[[Path], Path], field: str, rule: str, tmp_path: Path
) -> None:
    path = FIXTURES / scenario if isinstance(scenario, str) else scenario(tmp_path)
    out = tmp_path / "out"
    before = sorted(tmp_path.iterdir())
    # Both commands at once: they are independent and each pays ~1.5 s of imports.
    validating = start("validate", path, limit_memory=True)
    simulating = start("simulate", path, "--out", out, limit_memory=True)
    validated, simulated = finish(validating), finish(simulating)

    where = f"error: {path}: {field}: " if field else f"error: {path}: "
    for result in (validated, simulated):
        assert_bad_input(result, where, rule)
        assert result.stdout == "", f"printed output for bad input: {result.stdout!r}"
    assert not out.exists()
    assert sorted(tmp_path.iterdir()) == before, "something was written next to --out"


def test_every_bad_fixture_has_a_case() -> None:
    used = {c[1] for c in CASES if isinstance(c, tuple) and isinstance(c[1], str)}
    on_disk = {p.name for p in (ROOT / FIXTURES).glob("wrong_*.yaml")}
    assert on_disk <= used, f"fixtures without a test: {sorted(on_disk - used)}"


@pytest.mark.parametrize(("name", "count"), [("one", 1), ("two", 2), ("six", 6), ("eight", 8)])
def test_channel_count_outside_three_to_five_warns(name: str, count: int, tmp_path: Path) -> None:
    path = FIXTURES / f"warn_channels_{name}.yaml"
    validating = start("validate", path)
    simulating = start("simulate", path, "--days", "5", "--agents", "500", "--out", tmp_path / "out")
    validated, simulated = finish(validating), finish(simulating)

    assert validated.returncode == 0, validated.stderr
    line = assert_one_line(validated.stderr, f"warning: {path}: channels: ")
    assert f"{count} channel{'s' if count > 1 else ''} given" in line
    assert "3-5" in line
    assert validated.stdout.startswith(f"ok: {path}: ")

    assert simulated.returncode == 0, simulated.stderr
    assert simulated.stderr == validated.stderr
    assert (tmp_path / "out" / "summary.json").is_file()


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["simulate", VALID, "--agents", "0"], ["argument --agents", "must be at least 1, got 0"]),
        (["simulate", VALID, "--seed", "-1"], ["argument --seed", "must be between 0 and 2**63 - 1"]),
        (["simulate", VALID, "--days", "4000"], [f"{VALID}: horizon_days: ", "less than or equal to 3650"]),
        (["frobnicate", VALID], ["invalid choice: 'frobnicate'", "simulate"]),
        ([], ["required: command"]),
    ],
    ids=["agents_0", "seed_negative", "days_over_limit", "unknown_subcommand", "no_subcommand"],
)
def test_usage_error_is_one_line(args: list[str | Path], fragments: list[str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    extra = ["--out", out] if args and args[0] == "simulate" else []
    result = run(*args, *extra)
    assert_bad_input(result, *fragments)
    assert result.stdout == ""
    assert not out.exists()


def test_out_is_a_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_bytes(b"not a folder\n")
    result = run("simulate", VALID, "--days", "5", "--agents", "500", "--out", out)
    assert_bad_input(result, f"error: {out}: ", "not a folder")
    assert result.stdout == ""
    assert out.read_bytes() == b"not a folder\n"


def test_existing_results_are_kept_unless_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    old = b'{"kept": "byte for byte"}\n'
    (out / "summary.json").write_bytes(old)
    tiny = ["simulate", VALID, "--days", "5", "--agents", "500", "--out", out]

    refused = run(*tiny)
    assert_bad_input(refused, f"error: {out}: ", "summary.json", "--overwrite")
    assert refused.stdout == ""
    assert (out / "summary.json").read_bytes() == old
    assert sorted(p.name for p in out.iterdir()) == ["summary.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "staging files left behind"

    replaced = run(*tiny, "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert replaced.stderr == ""
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["seed"] == 7 and "revenue" in summary["kpis"]
    expected = ["channels_daily.csv", "customers.csv", "daily.csv", "levers_daily.csv", "manifest.json"]
    expected += ["media.csv", "orders.csv", "scenario.yaml", "summary.json"]
    assert sorted(p.name for p in out.iterdir()) == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
