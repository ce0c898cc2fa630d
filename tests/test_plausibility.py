"""The plausibility check (simulator/measure/plausibility.py) and the bundled worlds against it.

The ranges come from the package's data file only: no test restates a bound.
"""

from __future__ import annotations

import copy
import math
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from scenario_factory import BUNDLED, ROOT, bundled_dict, small

from simulator import parse_scenario
from simulator.measure.plausibility import (
    RANGES_FILE,
    check_plausibility,
    load_ranges,
    plausibility_variants,
)

RANGES = load_ranges()
BY_KPI = {r.kpi: r for r in RANGES}
CHECK_AGENTS = 20_000
"""A modest size for CI: the three bundled worlds in about two minutes."""


# The ranges file ----------------------------------------------------------------------------------
def test_every_range_is_documented_with_its_sources():
    docs = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    for benchmark in RANGES:
        assert f"`{benchmark.kpi}`" in docs, benchmark.kpi
        if benchmark.basis == "domain":
            assert benchmark.domain_value is not None, benchmark.kpi
        else:
            assert benchmark.sources, benchmark.kpi
        for source in benchmark.sources:
            assert source.figure and source.url.startswith("http"), (benchmark.kpi, source.name)
            assert f"({source.url})" in docs, (benchmark.kpi, source.url)


def test_ranges_file_is_package_data():
    assert RANGES_FILE.parent == ROOT / "simulator" / "measure"
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'"simulator\.measure"\s*=\s*\[\s*"plausibility_ranges\.yaml"\s*\]', pyproject)


def test_verdicts_follow_the_bounds():
    benchmark = BY_KPI["blended_roas"]
    assert benchmark.verdict(benchmark.low) == "ok" and benchmark.verdict(benchmark.high) == "ok"
    assert benchmark.verdict(benchmark.low * 0.99) == "low"
    assert benchmark.verdict(benchmark.high * 1.01) == "high"
    assert benchmark.verdict(math.nan) == "n/a"


def _write(tmp_path: Path, change) -> Path:
    data = yaml.safe_load(RANGES_FILE.read_text(encoding="utf-8"))
    change(data["ranges"])
    path = tmp_path / "ranges.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r[0].update(kpi="session_conversion_rate"), "ranges[0](session_conversion_rate).kpi"),
        (lambda r: r[1].update(low=r[1]["high"] + 1), "ranges[1](marketing_spend_share_of_revenue).low"),
        (lambda r: r[2].update(applies_to="television"), "ranges[2](incremental_roas_search).applies_to"),
        (lambda r: r[0].pop("measured_as"), "ranges[0](blended_roas).measured_as: missing"),
        (lambda r: r[0].update(sources=[]), "ranges[0](blended_roas).sources"),
        (lambda r: r.append(copy.deepcopy(r[0])), "(blended_roas).kpi: given twice"),
    ],
    ids=["unknown_kpi", "low_above_high", "unknown_kind", "missing_field", "no_sources", "twice"],
)
def test_a_bad_ranges_file_is_refused_in_one_line(tmp_path, change, message):
    path = _write(tmp_path, change)
    with pytest.raises(ValueError) as error:
        load_ranges(path)
    assert str(error.value).startswith(f"{path}: ")
    assert message in str(error.value) and "\n" not in str(error.value)


# Variants -----------------------------------------------------------------------------------------
def test_variants_switch_off_one_thing_each():
    scenario = small("electronics_marketplace", agents=2000, days=30)
    variants = plausibility_variants(scenario)
    measured = [c.name for c in scenario.channels]  # every channel kind of this world has a range
    assert set(variants) == {
        *(f"without_{name}" for name in measured),
        "without_retention",
        "without_checkout_simplification",
    }
    for name in measured:
        channels = {c.name: c for c in variants[f"without_{name}"].channels}
        assert channels[name].daily_spend == 0 and not channels[name].budget_plan
        others = [c for c in scenario.channels if c.name != name]
        assert all(channels[c.name] == c for c in others)
    assert variants["without_retention"].policies.retention is None
    assert variants["without_retention"].policies.winback == scenario.policies.winback
    assert variants["without_checkout_simplification"].policies.checkout_simplification is None
    # Only the variants the given ranges need.
    only = plausibility_variants(scenario, [BY_KPI["blended_roas"], BY_KPI["crm_followup_repurchase_lift"]])
    assert set(only) == {"without_retention"}


# The check on worlds ------------------------------------------------------------------------------
def test_a_world_spending_one_percent_of_revenue_is_flagged():
    """Far too little marketing for the revenue: ROAS far above the range, spend share below."""
    data = bundled_dict()
    for channel in data["channels"]:
        channel["daily_spend"] = channel["daily_spend"] * 0.02
    for lever in ("retargeting", "winback", "retention"):
        data["policies"].pop(lever)
    scenario = parse_scenario(data, "cheap.yaml").with_overrides(agents=10_000)
    ranges = [BY_KPI["blended_roas"], BY_KPI["marketing_spend_share_of_revenue"]]
    report = check_plausibility(scenario, [1], ranges=ranges)
    table = report.table.set_index("kpi")
    assert table.loc["blended_roas", "value"] > 40
    assert table.loc["marketing_spend_share_of_revenue", "value"] < 0.025
    assert table.loc["blended_roas", "verdict"] == "high"
    assert table.loc["marketing_spend_share_of_revenue", "verdict"] == "low"
    assert list(report.flagged["kpi"]) == ["blended_roas", "marketing_spend_share_of_revenue"]
    assert "flagged: blended_roas, marketing_spend_share_of_revenue" in report.to_text()


@pytest.mark.slow
@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_bundled_world_is_inside_every_range(path):
    scenario = small(path.stem, agents=CHECK_AGENTS, days=365)
    seed = scenario.seed
    report = check_plausibility(scenario, [seed, seed + 1], workers=2)
    table = report.table
    kinds = {c.kind.value for c in scenario.channels}
    # Every range that applies to this world was checked...
    expected = {
        r.kpi
        for r in RANGES
        if (r.needs is None or getattr(scenario.policies, r.needs) is not None)
        and (r.applies_to == "all" or r.applies_to in kinds)
    }
    assert set(table["kpi"]) == expected
    # ... and found inside its range.
    assert report.flagged.empty, "\n" + report.to_text()


# Command line -------------------------------------------------------------------------------------
def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "run.py", "check-plausibility", *map(str, args)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_command_prints_the_table_and_writes_it(tmp_path):
    out = tmp_path / "out"
    done = _cli("tests/fixtures/small_valid.yaml", "--agents", "1000", "--seeds", "1", "2", "--out", out)
    assert done.returncode == 0, done.stderr
    assert "kpi" in done.stdout and "verdict" in done.stdout
    table = pd.read_csv(out / "plausibility.csv", keep_default_na=False)
    assert set(table["verdict"]) <= {"ok", "low", "high", "n/a"}
    # A 20-day horizon cannot measure the one-year KPIs.
    one_year = table[table["kpi"].isin(["repeat_purchase_rate_365d", "lapsed_share_365d"])]
    assert len(one_year) == 2 and (one_year["verdict"] == "n/a").all()
    # The fixture has every kind with a range but no policies: no lever KPI is checked.
    assert "crm_followup_repurchase_lift" not in set(table["kpi"])
    assert set(table.loc[table["kpi"].str.startswith("incremental_roas_"), "channel"]) == {
        "search",
        "social",
        "marketplace",
        "crm",
    }


def test_command_refuses_bad_input_in_one_line(tmp_path):
    done = _cli("tests/fixtures/small_valid.yaml", "--seeds", "1", "1", "--out", tmp_path / "out")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "seed 1 is given twice" in done.stderr
    assert done.stdout == "" and not (tmp_path / "out").exists()
