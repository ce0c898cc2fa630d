"""A report for every measurement folder: built from the saved folder alone, numbers as saved."""

from __future__ import annotations

import re
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from scenario_factory import small

from reports import ReportError, build_report
from simulator.common.display import format_kpi, format_range
from simulator.common.format import format_value
from simulator.measure.abtest import ab_test
from simulator.measure.attribution import evaluate_attribution
from simulator.measure.clv import customer_lifetime_value, simulate_for_clv
from simulator.measure.incrementality import incrementality, save_incrementality
from simulator.measure.replicate import replicate

REPORT_FILES = {"report.html", "report.md", "summary.png", "report.xlsx"}


def built(folder: Path) -> tuple[set[str], str]:
    """Build the report of ``folder``: the names of the files written and the HTML."""
    written = {path.name for path in build_report(folder)}
    assert REPORT_FILES <= written
    return written, (folder / "report.html").read_text(encoding="utf-8")


def title(html: str) -> str:
    match = re.search(r"<h1>(.*?)</h1>", html)
    assert match is not None
    return match.group(1)


def test_replications_report(tmp_path: Path) -> None:
    scenario = small(agents=600, days=30)
    variants = {"more_search": {"channels": {"search": {"daily_spend": 7200}}}}
    result = replicate(scenario, [1, 2, 3], variants)
    result.save(tmp_path)
    written, html = built(tmp_path)
    assert title(html) == f"Replications report: {scenario.name}"
    assert "report_paired_differences.png" in written
    summary = result.summary().loc[("more_search", "profit")]
    change = format_range("profit", summary["diff"], summary["diff_ci_low"], summary["diff_ci_high"], True)
    assert f"more_search - base: profit {change}" in html  # the headline
    assert f"<td>{change}</td>" in html
    book = pd.read_excel(tmp_path / "report.xlsx", sheet_name=None)
    assert {"replications", "runs"} <= set(book)


def test_incrementality_report(tmp_path: Path) -> None:
    table = incrementality(small(agents=600, days=30), [1, 2], channels=["search", "crm"])
    save_incrementality(table, tmp_path)
    written, html = built(tmp_path)
    assert title(html).startswith("Incrementality report: ")
    assert "report_incrementality.png" in written
    rows = table.set_index("channel") if "channel" in table.columns else table
    search = rows.loc["search"]
    roi = format_range("roi", search["roi"], search["roi_ci_low"], search["roi_ci_high"])
    assert f"<td>{roi}</td>" in html
    assert "ROI (ratio, break-even 0)" in html
    sheet = openpyxl.load_workbook(tmp_path / "report.xlsx")["incrementality"]
    assert sheet.freeze_panes == "B2"
    headers = [cell.value for cell in sheet[1]]
    assert "incremental profit" in headers and "roi" in headers


def test_clv_report(tmp_path: Path) -> None:
    result, traits = simulate_for_clv(small(agents=1500, days=120), seed=3)
    report = customer_lifetime_value(result, traits)
    report.save(tmp_path)
    written, html = built(tmp_path)
    assert title(html) == f"Lifetime-value report: {result.scenario.name}"
    assert {"report_retention.png", "report_clv_by_channel.png", "report_repurchase.png"} <= written
    groups = report.groups.reset_index()
    channels = groups[groups["dimension"] == "acquisition_channel"]
    # Customers of the real market (agents x scale), not the simulated agents.
    customers = format_value(channels["customers"].sum(), "count")
    assert f"{customers} customers (real market)" in html
    assert int(channels["customers"].sum()) > len(report.customers)
    truth = format_kpi("clv_true", report.customers["clv_true"].mean())
    assert f"Lifetime value per customer: {truth} " in html


def test_attribution_report(tmp_path: Path) -> None:
    report = evaluate_attribution(small(agents=800, days=30), [1, 2])
    report.save(tmp_path)
    written, html = built(tmp_path)
    assert title(html) == f"Attribution report: {report.scenario.name}"
    assert "report_attribution.png" in written
    errors = report.errors("conversions")["mean_abs_error"].astype(float)
    closest = str(errors.idxmin())
    assert (
        f"Closest to the truth: {closest.replace('_', ' ')} ({format_value(errors[closest], 'percent')}"
        in html
    )


def test_abtest_report(tmp_path: Path) -> None:
    result = ab_test(small(agents=1000, days=30), {"retention": {"offer_discount": 0.1}}, [1, 2])
    result.save(tmp_path)
    written, html = built(tmp_path)
    assert title(html) == f"A/B-test report: {result.scenario.name}"
    assert "report_ab_lift.png" in written
    profit = result.pooled.loc["profit"]
    relative = format_value(profit["relative_lift"], "percent", signed=True)
    assert f"<td>{relative}</td>" in html
    significant = [str(m).replace("_", " ") for m, r in result.pooled.iterrows() if bool(r["significant"])]
    if significant:
        assert f"level: {', '.join(significant)}." in html
    else:
        assert "No outcome differs significantly between the arms" in html


def test_a_broken_measurement_is_a_one_line_error(tmp_path: Path) -> None:
    table = incrementality(small(agents=400, days=20), [1], channels=["search"])
    save_incrementality(table, tmp_path)
    (tmp_path / "manifest.json").unlink()  # assembled by hand: read as it is
    (tmp_path / "incrementality.json").write_text("{", encoding="utf-8")
    with pytest.raises(ReportError, match=r"incrementality.json: cannot be read back") as error:
        build_report(tmp_path)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "report.html").exists()
