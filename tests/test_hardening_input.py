"""Hostile input: one line and exit 2, never a hang, a crash or a silent surprise.

Covers issue 19 items 5 (alias bombs), 6 (inf, NaN and absurd numbers), 7 (attribution with no
incremental value), 10 (value horizon), 14 (deep nesting, /dev/zero) and 18 (duplicate keys,
``channels: null`` in a variant, FIFOs). Fixtures: ``tests/fixtures/hostile/``.
"""

from __future__ import annotations

import copy
import math
import os
import subprocess
import warnings
from pathlib import Path
from typing import Any

import pytest

from simulator import ScenarioError, load_scenario, simulate
from simulator.config.scenario import MAX_YAML_BYTES, parse_scenario, read_yaml_file
from simulator.measure.replicate import apply_patch, load_patch
from tests.command_line import run
from tests.scenario_factory import ROOT

HOSTILE = ROOT / "tests" / "fixtures" / "hostile"
SMALL = ROOT / "tests" / "fixtures" / "small_valid.yaml"


def one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith("warning: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"


YAML_ATTACKS = [
    ("billion_laughs.yaml", "aliases expand to more than 100,000 values"),
    ("deep_nesting.yaml", "nests deeper than 64 levels"),
    ("duplicate_keys.yaml", "duplicate key 'horizon_days' at line 6"),
    ("recursive_alias.yaml", "an alias refers to a value that contains it"),
    ("inf_scale.yaml", "population.scale: must be a finite number"),
]


@pytest.mark.parametrize(("name", "message"), YAML_ATTACKS, ids=[n for n, _m in YAML_ATTACKS])
def test_hostile_scenarios_are_refused_in_one_line(name: str, message: str, tmp_path: Path) -> None:
    """validate (fast) and simulate (which used to hang or crash) refuse, naming the file."""
    path = HOSTILE / name
    one_line_error(run("validate", path, timeout=30), f"error: {path}: ", message)
    out = tmp_path / "out"
    simulated = run("simulate", path, "--out", out, timeout=30)
    one_line_error(simulated, f"error: {path}: ", message)
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["allocate", SMALL, "--constraints", HOSTILE / "constraints_bomb.yaml"], "aliases expand"),
        (["replicate", SMALL, "--variant", HOSTILE / "variant_bomb.yaml"], "aliases expand"),
        (["abtest", SMALL, "--variant", HOSTILE / "variant_bomb.yaml"], "aliases expand"),
        (
            ["replicate", SMALL, "--variant", HOSTILE / "variant_channels_null.yaml"],
            "channels: is empty (null)",
        ),
    ],
    ids=["constraints_bomb", "variant_bomb_replicate", "variant_bomb_abtest", "variant_channels_null"],
)
def test_hostile_side_files_are_refused(args: list[str | Path], message: str) -> None:
    one_line_error(run(*args, "--agents", "200", "--days", "5", timeout=60), message)


def test_special_files_never_hang(tmp_path: Path) -> None:
    """A FIFO (nobody writing), /dev/zero, a folder, a file over the size limit: refused at once."""
    fifo = tmp_path / "scenario.yaml"
    os.mkfifo(fifo)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# padding\n" * (MAX_YAML_BYTES // 10 + 1))
    cases = [
        (fifo, "is a named pipe (FIFO), not a regular file"),
        (Path("/dev/zero"), "is a device, not a regular file"),
        (tmp_path, "is a directory"),
        (big, "more than the 1,048,576 allowed"),
    ]
    for path, message in cases:
        one_line_error(run("validate", path, timeout=20), f"error: {path}: ", message)
    with pytest.raises(ScenarioError, match="named pipe"):
        load_patch(fifo)
    one_line_error(run("abtest", SMALL, "--variant", fifo, timeout=20), "named pipe")


def test_merge_keys_and_small_aliases_still_work(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\nlist: [*b, *b]\n")
    assert read_yaml_file(path, "test") == {
        "base": {"x": 1, "y": 2},
        "other": {"x": 1, "y": 3},
        "list": [{"x": 1, "y": 2}, {"x": 1, "y": 2}],
    }


def test_null_in_a_variant_patch_is_an_error() -> None:
    scenario = load_scenario(SMALL)
    with pytest.raises(ScenarioError, match="economics: is empty"):
        apply_patch(scenario, {"economics": None}, "v.yaml")
    with pytest.raises(ScenarioError, match="channels: is empty"):
        apply_patch(scenario, {"channels": None}, "v.yaml")


# ----------------------------------------------------------------------------- numbers
def _numeric_leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    if isinstance(node, dict):
        return [leaf for k, v in node.items() for leaf in _numeric_leaves(v, (*path, k))]
    if isinstance(node, list):
        return [leaf for i, v in enumerate(node) for leaf in _numeric_leaves(v, (*path, i))]
    if isinstance(node, float | int) and not isinstance(node, bool):
        return [(path, node)]
    return []


def _full_scenario() -> dict[str, Any]:
    """The small scenario with every lever of the bundled scenarios switched on (20 days)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_scenario(SMALL).model_dump(mode="json")
        for name in ("omnichannel_retailer", "fashion_social_brand", "electronics_marketplace"):
            policies = load_scenario(ROOT / "scenarios" / f"{name}.yaml").model_dump(mode="json")["policies"]
            for key, value in policies.items():
                if data["policies"].get(key) is None and value is not None:
                    data["policies"][key] = value
    promotions = data["policies"]["promotions"]
    promotions["campaigns"] = [
        dict(c, start_day=2, days=5, channels=None) for c in promotions["campaigns"][:1]
    ]
    data["policies"]["retargeting"]["channels"] = ["search", "social"]
    for offer in data["policies"]["winback"]["offers"]:
        offer["channel"] = "crm"
    data["policies"]["retention"]["channel"] = "crm"
    parse_scenario(data)
    return data


FULL = _full_scenario()
FLOAT_FIELDS = [
    path
    for path, value in _numeric_leaves(FULL)
    if isinstance(value, float) or path[-1] in {"mean", "scale", "daily_spend", "min_spend"}
]


@pytest.mark.parametrize("text", [".inf", "-.inf", ".nan", "1e308", "-1e308"])
def test_every_float_field_refuses_non_finite_and_huge_numbers(text: str) -> None:
    """All float fields of a scenario with every lever on: .inf, .nan, 1e308 are refused by name."""
    import yaml

    value = yaml.safe_load(text)
    assert len(FLOAT_FIELDS) > 150
    for path in FLOAT_FIELDS:
        data = copy.deepcopy(FULL)
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        with pytest.raises(ScenarioError) as refused:
            parse_scenario(data, "hostile.yaml")
        field = refused.value.field  # the one field changed, by name: channels[0](search).daily_spend
        names = [str(p) for p in path if isinstance(p, str)]
        assert field.startswith(names[0]) and field.endswith(names[-1]), (path, str(refused.value))


@pytest.mark.slow
@pytest.mark.parametrize("value", [1e15, 1e-320])
def test_extreme_but_finite_numbers_run_or_are_refused(value: float) -> None:
    """No field at 1e15 or a tiny positive value crashes the simulation or gives infinite KPIs.

    Issue 19: ``lam value too large`` and ``cannot convert float infinity`` (exit 1), and KPIs of
    ``inf``, came from such values in daily_spend, prices, scale and fixed costs.
    """
    data = load_scenario(SMALL).with_overrides(agents=300, days=8).model_dump(mode="json")
    data["policies"] = copy.deepcopy(FULL["policies"])
    crashes, infinite = [], []
    for path, _old in _numeric_leaves(data):
        if isinstance(_old, int) and not isinstance(_old, bool):
            continue
        changed = copy.deepcopy(data)
        node = changed
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = simulate(parse_scenario(changed, "extreme.yaml"))
        except ScenarioError:
            continue
        except Exception as exc:  # noqa: BLE001 - collected and reported all at once
            crashes.append(f"{'.'.join(map(str, path))}: {type(exc).__name__}: {exc}")
            continue
        bad = [k for k, v in result.summary.items() if isinstance(v, float) and math.isinf(v)]
        if bad:
            infinite.append(f"{'.'.join(map(str, path))}: {bad[:3]}")
    assert not crashes, crashes
    assert not infinite, infinite


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"population": {"agents": 1_000_000_000, "scale": 1.0}}, "population.agents", "shopper-days"),
        ({"population": {"scale": 1e9}}, "population.scale", "a market may hold at most"),
        (
            {"channels": {0: {"cost_per_click": 1e-9}}},
            "channels[0](search).daily_spend",
            "impressions per person",
        ),
    ],
    ids=["agents_x_days", "market", "impressions"],
)
def test_size_bounds(change: dict[str, Any], field: str, message: str) -> None:
    data = copy.deepcopy(FULL)
    for key, values in change.items():
        for inner, value in values.items():
            if isinstance(value, dict):
                data[key][inner].update(value)
            else:
                data[key][inner] = value
    with pytest.raises(ScenarioError) as refused:
        parse_scenario(data, "big.yaml")
    assert refused.value.field == field
    assert message in refused.value.message


def test_value_horizon_is_bounded() -> None:
    one_line_error(run("clv", SMALL, "--value-horizon", "1000000000"), "--value-horizon", "at most 3650")


# ----------------------------------------------------------------------------- degenerate runs
def test_attribution_with_no_incremental_value_does_not_crash(tmp_path: Path) -> None:
    """Spend-free channels: the truth is 0 for every channel; shares are NaN, the run succeeds."""
    import yaml

    data = load_scenario(SMALL).model_dump(mode="json", exclude_none=True)
    for channel in data["channels"]:
        channel["daily_spend"] = 0.0
    path = tmp_path / "no_spend.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = run("attribution", path, "--agents", "400", "--days", "20", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert "true shares and the models' errors are undefined" in result.stdout
    assert (tmp_path / "out" / "attribution.csv").exists()


def test_one_trial_with_a_seed_beyond_32_bits_reports(tmp_path: Path) -> None:
    """Issue 19 items 8 and 9: a degenerate but valid search (one trial) with a seed >= 2**32 runs,
    and its report says why the importance chart is missing instead of failing."""
    out = tmp_path / "opt"
    result = run(
        "optimize", ROOT / "scenarios" / "omnichannel_retailer.yaml", "--agents", "300", "--days", "20",
        "--trials", "1", "--seed", str(2**32 + 5), "--no-progress", "--out", out, "--report", timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    html = (out / "report.html").read_text()
    assert "Parameter importances need at least two finished trials; this study has 1." in html
