"""The report of an output folder: files written, self-contained, escaped, numbers as in the JSON."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import optuna
import pandas as pd
import pytest
import yaml

import reports.report
from reports import ReportError, build_report, recommendation_sentence
from simulator import OutputExistsError, simulate
from simulator.common.output import seal_folder
from tests.scenario_factory import ROOT, small

REPORT_FILES = ("report.html", "report.md", "summary.png", "report.xlsx")


@pytest.fixture(scope="session")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulation's saved outputs, plus its scenario file (as simulate will save it)."""
    folder = tmp_path_factory.mktemp("simulated") / "out"
    simulate(small(agents=2000, days=45), seed=3).save(folder)
    scenario = yaml.safe_load((ROOT / "scenarios" / "omnichannel_retailer.yaml").read_text())
    scenario["description"] = "Test market <script>alert('x')</script> & friends"
    (folder / "scenario.yaml").write_text(yaml.safe_dump(scenario, sort_keys=False), encoding="utf-8")
    seal_folder(folder)  # edited by hand after writing: sealed again, or the report refuses it
    return folder


def allocation() -> dict[str, Any]:
    return {
        "verdict": {
            "decision": "recommend",
            "reason": "profit +80,000 [+50,000, +110,000] (+8.0%) on 3 fresh paired seeds, above zero",
            "next_step": "",
        },
        "scenario": "Omnichannel retailer",
        "objective": "profit",
        "currency": "CNY",
        "horizon_days": 45,
        "seeds": [1, 2, 3],
        "budget": 600_000.0,
        "channels": [
            {
                "channel": "search",
                "current_spend": 300_000.0,
                "recommended_spend": 180_000.0,
                "current_outcome": 410_000.0,
                "recommended_outcome": 330_000.0,
                "marginal_roi": 0.35,
            },
            {
                "channel": "crm",
                "current_spend": 100_000.0,
                "recommended_spend": 220_000.0,
                "current_outcome": 190_000.0,
                "recommended_outcome": 350_000.0,
                "marginal_roi": 0.12,
            },
            {
                "channel": "stores",
                "current_spend": 200_000.0,
                "recommended_spend": 200_000.0,
                "current_outcome": 260_000.0,
                "recommended_outcome": 260_000.0,
                "marginal_roi": 0.05,
            },
        ],
        "expected": {
            "profit": {
                "current": {"mean": 1_000_000.0, "low": 950_000.0, "high": 1_050_000.0},
                "recommended": {"mean": 1_080_000.0, "low": 1_020_000.0, "high": 1_140_000.0},
                "change": {"mean": 80_000.0, "low": 50_000.0, "high": 110_000.0},
            },
            "roi": {
                "current": {"mean": 1.67, "low": 1.58, "high": 1.75},
                "recommended": {"mean": 1.8, "low": 1.7, "high": 1.9},
            },
        },
    }


def write_allocation(folder: Path) -> dict[str, Any]:
    plan = allocation()
    (folder / "allocation.json").write_text(json.dumps(plan), encoding="utf-8")
    rows = [
        {
            "channel": c["channel"],
            "spend": s,
            "outcome": c["current_outcome"] * (s / c["current_spend"]) ** 0.5,
        }
        for c in plan["channels"]
        for s in (50_000.0, 150_000.0, 250_000.0, 350_000.0)
    ]
    pd.DataFrame(rows).to_csv(folder / "response_curves.csv", index=False)
    return plan


@pytest.fixture(scope="module")
def built(simulated: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """The report of the simulation with an allocation next to it, built once for several tests."""
    folder = tmp_path_factory.mktemp("built") / "out"
    shutil.copytree(simulated, folder)
    write_allocation(folder)
    return folder, build_report(folder)


def minimal_plan(folder: Path) -> None:
    """An allocation with only the required keys: one figure, so a quick report."""
    plan = {
        "channels": [
            {k: c[k] for k in ("channel", "current_spend", "recommended_spend")}
            for c in allocation()["channels"]
        ]
    }
    folder.mkdir(exist_ok=True)
    (folder / "allocation.json").write_text(json.dumps(plan), encoding="utf-8")


def test_report_of_a_simulation(built: tuple[Path, list[Path]]) -> None:
    folder, written = built
    assert {p.name for p in written} >= set(REPORT_FILES)
    assert all(p.parent == folder and p.stat().st_size > 0 for p in written)
    html = (folder / "report.html").read_text(encoding="utf-8")
    markdown = (folder / "report.md").read_text(encoding="utf-8")
    summary = json.loads((folder / "summary.json").read_text())
    # KPI names for people, money with its currency (the plan's, CNY).
    labels = {"profit": "profit (CNY)", "revenue": "revenue (CNY)"}
    labels |= {"marketing_spend": "marketing spend (CNY)", "orders": "orders"}
    for kpi, label in labels.items():
        shown = f"{summary['kpis'][kpi]:,.0f}"
        assert f"<td>{shown}</td>" in html
        assert f"| {label} | {shown} |" in markdown
    assert f"<td>{summary['kpis']['roi']:.2f}</td>" in html
    # Self-contained: every image is embedded, nothing is fetched.
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html)
    assert "http://" not in html and "https://" not in html
    sources = re.findall(r'src="([^"]*)"', html)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    for name in ("revenue_and_spend", "funnel", "loyalty_tiers", "spend_comparison"):
        assert f"](report_{name}.png)" in markdown
        assert (folder / f"report_{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert (folder / "summary.png").read_bytes()[:4] == b"\x89PNG"
    # Atomic: nothing staged is left next to the folder.
    assert [p.name for p in folder.parent.iterdir()] == ["out"]


def test_refuses_to_overwrite(built: tuple[Path, list[Path]], tmp_path: Path) -> None:
    folder, _written = built
    before = (folder / "report.html").read_bytes()
    with pytest.raises(OutputExistsError, match="already holds report.html"):
        build_report(folder)
    assert (folder / "report.html").read_bytes() == before
    quick = tmp_path / "quick"
    minimal_plan(quick)
    build_report(quick)
    plan = json.loads((quick / "allocation.json").read_text())
    plan["channels"][0]["recommended_spend"] = 240_000.0
    (quick / "allocation.json").write_text(json.dumps(plan), encoding="utf-8")
    build_report(quick, overwrite=True)
    # Without a verdict in the file the plan is not confirmed, so it is described, not ordered.
    html = (quick / "report.html").read_text(encoding="utf-8")
    assert "The plan tried moved 60k from search to crm (add 60k in total)." in html
    assert "Move 60k" not in html


def test_scenario_text_is_escaped(built: tuple[Path, list[Path]]) -> None:
    folder, _written = built
    html = (folder / "report.html").read_text(encoding="utf-8")
    markdown = (folder / "report.md").read_text(encoding="utf-8")
    assert "<script" not in html
    assert "Test market &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; friends" in html
    assert "<script" not in markdown.split("```yaml")[0]
    assert "Test market &lt;script&gt;" in markdown


def test_allocation_numbers_match_the_json(built: tuple[Path, list[Path]]) -> None:
    folder, written = built
    plan = allocation()
    sentence = "Recommend: Move 120k CNY from search to crm: +8.0% profit, 95% interval +5.0% to +11.0%."
    html = (folder / "report.html").read_text(encoding="utf-8")
    markdown = (folder / "report.md").read_text(encoding="utf-8")
    assert f'<p class="headline">{sentence}</p>' in html
    assert f"**{sentence}**" in markdown
    for row in plan["channels"]:
        spends = f"<td>{row['current_spend']:,.0f}</td><td>{row['recommended_spend']:,.0f}</td>"
        assert f"<td>{row['channel']}</td>{spends}" in html
    assert (
        "| profit | 1,000,000 [950,000, 1,050,000] | 1,080,000 [1,020,000, 1,140,000] "
        "| +80,000 [+50,000, +110,000] |"
    ) in markdown
    assert "| ROI (ratio, break-even 0) | 1.67 [1.58, 1.75] | 1.80 [1.70, 1.90] |  |" in markdown
    assert "<td>+80,000 [+50,000, +110,000]</td>" in html
    # The headline is said once, at the top.
    assert html.count(sentence) == 1 and markdown.count(sentence) == 1
    for name in ("spend_comparison", "outcome_comparison", "response_curves"):
        assert folder / f"report_{name}.png" in written
    book = pd.read_excel(folder / "report.xlsx", sheet_name=None)
    assert set(book) == {"KPIs", "channels", "allocation", "expected"}
    # Headers for people (current_spend -> current spend), numbers as they are.
    written = pd.DataFrame(plan["channels"]).rename(columns=lambda c: c.replace("_", " "))
    pd.testing.assert_frame_equal(book["allocation"], written, check_dtype=False)
    kpis = book["KPIs"].set_index("kpi")["value"]
    summary = json.loads((folder / "summary.json").read_text())["kpis"]
    assert kpis["profit"] == pytest.approx(summary["profit"])
    expected = book["expected"].set_index(["metric", "plan"])
    assert expected.loc[("profit", "change"), "high"] == 110_000.0
    channels = book["channels"].set_index("channel")
    daily = pd.read_csv(folder / "channels_daily.csv")
    assert channels.loc["search", "spend"] == pytest.approx(
        daily.loc[daily["channel"] == "search", "spend"].sum()
    )


def test_recommendation_with_policy_search(tmp_path: Path) -> None:
    folder = tmp_path / "opt"
    folder.mkdir()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name="policy", storage=f"sqlite:///{folder / 'study.db'}", directions=["maximize", "maximize"]
    )
    study.optimize(
        lambda t: (t.suggest_float("discount", 0, 0.3), 1 - t.suggest_float("points", 0, 1)), n_trials=8
    )
    trials = pd.DataFrame(
        {
            "number": range(8),
            "roi": [t.values[0] for t in study.trials],
            "realized_value_per_customer": [t.values[1] for t in study.trials],
        }
    )
    trials.to_csv(folder / "trials.csv", index=False)
    front = [t.number for t in study.best_trials]
    trials[trials["number"].isin(front)].to_csv(folder / "pareto.csv", index=False)
    recommendation = {
        "channels": allocation()["channels"],
        "policy": {"discount": 0.15, "tier_thresholds": "[2, 5, 10]"},
        "chosen_trial": front[0],
        "objectives": ["roi", "realized_value_per_customer"],
        "study_name": "policy",
        "storage": "sqlite:///study.db",
        "currency": "CNY",
    }
    (folder / "recommendation.json").write_text(json.dumps(recommendation), encoding="utf-8")
    written = {p.name for p in build_report(folder)}
    for name in ("pareto_front", "optimization_history", "param_importances", "spend_comparison"):
        assert f"report_{name}.png" in written
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert f"Chosen policy: trial {front[0]}." in html
    assert "<td>tier_thresholds</td><td>[2, 5, 10]</td>" in html
    # No verdict in the file: not confirmed, first line and headline say so, the plan is described.
    assert "<h1>Not confirmed: run larger - Policy-search report" in html
    assert "The plan tried moved 120k CNY from search to crm and changed the policy (2 settings)." in html
    assert "policy" in pd.read_excel(folder / "report.xlsx", sheet_name=None)


def test_a_failing_writer_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "out"
    minimal_plan(folder)

    def broken(*_args: object) -> object:
        def write(path: Path) -> None:
            path.write_bytes(b"half")
            raise RuntimeError("disk full")

        return write

    monkeypatch.setattr(reports.report, "_xlsx_writer", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        build_report(folder)
    assert [p.name for p in folder.iterdir()] == ["allocation.json"]
    assert [p.name for p in folder.parent.iterdir()] == ["out"]


def test_no_results_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="no such folder") as missing:
        build_report(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportError, match="no results to report") as empty:
        build_report(tmp_path / "empty")
    assert "\n" not in str(missing.value) and "\n" not in str(empty.value)
    assert not list((tmp_path / "empty").iterdir())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda plan: plan.pop("channels"), "allocation.json: channels: must be a non-empty list"),
        (
            lambda plan: plan["channels"][1].pop("recommended_spend"),
            r"channels\[1\]: missing recommended_spend",
        ),
        (
            lambda plan: plan["expected"]["profit"]["change"].pop("low"),
            r"expected.profit.change: must hold mean, low and high \(numbers, or null\)",
        ),
    ],
)
def test_bad_allocation_names_the_key(tmp_path: Path, change: Any, message: str) -> None:
    plan = allocation()
    change(plan)
    (tmp_path / "allocation.json").write_text(json.dumps(plan), encoding="utf-8")
    with pytest.raises(ReportError, match=message):
        build_report(tmp_path)


def test_recommendation_sentence_in_plain_words() -> None:
    def rows(*moves: tuple[str, float, float]) -> list[dict[str, Any]]:
        return [{"channel": c, "current_spend": a, "recommended_spend": b} for c, a, b in moves]

    assert recommendation_sentence(rows(("search", 100.0, 100.0))) == "Keep the current split."
    assert (
        recommendation_sentence(rows(("search", 300e3, 200e3), ("social", 100e3, 80e3), ("crm", 50e3, 170e3)))
        == "Move 120k from search (100k) and social (20k) to crm."
    )
    assert (
        recommendation_sentence(rows(("search", 300e3, 250e3), ("crm", 50e3, 150e3)), currency="EUR")
        == "Move 50k EUR from search to crm (add 50k EUR in total)."
    )
    expected = {"profit": {"current": {"mean": 2e6, "low": 0, "high": 0}, "recommended": {"mean": 2.1e6}}}
    assert recommendation_sentence(rows(("crm", 0.0, 10e3)), expected) == (
        "Spend 10k more on crm: expected profit 2,100,000 against 2,000,000 now."
    )
