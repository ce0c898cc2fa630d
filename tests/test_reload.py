"""Every result type survives save and load: a saved folder becomes the same object again."""

from __future__ import annotations

import json
import math
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure
from scenario_factory import small, three_channel_market

from optimizer.allocate import AllocationResult, allocate_budget
from optimizer.search import OptimizationResult, optimize, search_settings
from optimizer.settings import allocation_settings
from simulator import ABTestResult, AttributionReport, ReplicationResult, SimulationResult, simulate
from simulator.common.output import IncompleteOutputError, OutputError
from simulator.measure.abtest import ab_test
from simulator.measure.attribution import evaluate_attribution
from simulator.measure.clv import CLVReport, customer_lifetime_value, simulate_for_clv
from simulator.measure.incrementality import (
    incrementality,
    incrementality_text,
    load_incrementality,
    save_incrementality,
)
from simulator.measure.replicate import replicate
from simulator.measure.saved import scenario_document


def same_frame(saved: pd.DataFrame, loaded: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(saved, loaded, check_exact=True)


def same_kpis(saved: dict[str, float], loaded: dict[str, float]) -> None:
    assert list(saved) == list(loaded)
    for name, value in saved.items():
        assert (math.isnan(value) and math.isnan(loaded[name])) or value == loaded[name], name


@pytest.fixture(scope="module")
def simulation() -> SimulationResult:
    return simulate(small(agents=1500, days=120), seed=4)


def test_simulation_round_trip(simulation: SimulationResult, tmp_path: Path) -> None:
    simulation.save(tmp_path / "sim")
    loaded = SimulationResult.load(tmp_path / "sim")
    assert loaded.scenario == simulation.scenario and loaded.seed == simulation.seed
    same_kpis(simulation.summary, loaded.summary)
    for name in ("daily", "channels", "levers"):
        same_frame(getattr(simulation, name), getattr(loaded, name))
    # The engine's own columns keep their dtypes (categories of personas, states and channels,
    # nullable purchase days); a lever's per-shopper columns come back as values: categories
    # in sorted order, floats as float64 (the folder does not say more).
    core = [c for c in simulation.customers.columns if c in loaded.customers.columns][:10]
    same_frame(simulation.customers[core], loaded.customers[core])
    pd.testing.assert_frame_equal(
        simulation.customers, loaded.customers, check_dtype=False, check_categorical=False
    )
    assert set(loaded.tables) == set(simulation.tables) == {"campaigns", "winback", "retargeting"}
    for name, table in simulation.tables.items():
        same_frame(table, loaded.tables[name])
    # The loaded result draws and displays like the one that ran.
    assert isinstance(loaded.plot_revenue_and_spend(), Figure)
    assert isinstance(loaded.plot_loyalty_tiers(), Figure)
    assert loaded._repr_html_() == simulation._repr_html_()
    pd.testing.assert_frame_equal(loaded.channel_totals(), simulation.channel_totals())


def test_lever_tables_are_declared(simulation: SimulationResult) -> None:
    # load reads the tables the active levers declare (Lever.tables): each one they report.
    from simulator.levers.registry import lever_tables

    declared = lever_tables(simulation.scenario.policies)
    assert set(declared) == set(simulation.tables)
    for name, index in declared.items():
        assert list(simulation.tables[name].index.names) == list(index)


def test_load_refuses_a_partial_or_foreign_folder(simulation: SimulationResult, tmp_path: Path) -> None:
    out = tmp_path / "sim"
    simulation.save(out)
    with (out / "daily.csv").open("a", encoding="utf-8") as handle:
        handle.write("tampered\n")
    with pytest.raises(IncompleteOutputError, match="daily.csv"):
        SimulationResult.load(out)
    with pytest.raises(OutputError, match="no such folder"):
        SimulationResult.load(tmp_path / "missing")
    replication = tmp_path / "other"
    replication.mkdir()
    with pytest.raises(OutputError, match="holds no summary.json; expected the folder written by simulate"):
        SimulationResult.load(replication)


def test_replication_round_trip(tmp_path: Path) -> None:
    scenario = small(agents=600, days=30)
    result = replicate(scenario, [1, 2, 3], {"more_search": {"channels": {"search": {"daily_spend": 7200}}}})
    result.save(tmp_path / "rep")
    loaded = ReplicationResult.load(tmp_path / "rep")
    assert loaded.scenario == result.scenario and loaded.seeds == result.seeds
    assert loaded.variants == result.variants
    same_frame(result.runs, loaded.runs)
    same_frame(result.channels, loaded.channels)
    same_frame(result.summary(), loaded.summary())
    assert loaded.to_text() == result.to_text()


def test_incrementality_round_trip(tmp_path: Path) -> None:
    table = incrementality(small(agents=600, days=30), [1, 2], channels=["search", "crm"])
    save_incrementality(table, tmp_path / "inc")
    loaded = load_incrementality(tmp_path / "inc")
    same_frame(table, loaded)
    assert loaded.attrs == table.attrs
    assert incrementality_text(loaded, "CNY") == incrementality_text(table, "CNY")


def test_clv_round_trip(tmp_path: Path) -> None:
    result, traits = simulate_for_clv(small(agents=1500, days=120), seed=3)
    report = customer_lifetime_value(result, traits)
    report.save(tmp_path / "clv")
    loaded = CLVReport.load(tmp_path / "clv")
    for name in ("customers", "groups", "retention", "repurchase"):
        same_frame(getattr(report, name), getattr(loaded, name))
    assert loaded.bgnbd == report.bgnbd
    assert (loaded.discount_rate, loaded.horizon_days) == (report.discount_rate, report.horizon_days)
    assert (loaded.scenario, loaded.currency) == (result.scenario.name, result.scenario.economics.currency)
    assert loaded.to_text("CNY") == report.to_text("CNY")


def test_attribution_round_trip(tmp_path: Path) -> None:
    report = evaluate_attribution(small(agents=800, days=30), [1, 2])
    report.save(tmp_path / "attr", paths=True)
    loaded = AttributionReport.load(tmp_path / "attr")
    assert loaded.scenario == report.scenario and loaded.seeds == report.seeds
    assert loaded.models == report.models
    same_frame(report.truth, loaded.truth)
    for basis, credit in report.credit.items():
        pd.testing.assert_frame_equal(credit, loaded.credit[basis], check_names=False)
    same_frame(report.tidy(), loaded.tidy())
    assert loaded.to_text() == report.to_text()
    assert loaded.paths is not None and report.paths is not None
    pd.testing.assert_frame_equal(report.paths.paths, loaded.paths.paths, check_dtype=False)
    pd.testing.assert_frame_equal(report.paths.touches, loaded.paths.touches, check_dtype=False)
    # Without --paths the report loads without them, and says so when asked to write them.
    report.save(tmp_path / "bare")
    bare = AttributionReport.load(tmp_path / "bare")
    assert bare.paths is None
    with pytest.raises(ValueError, match="no touch paths"):
        bare.save(tmp_path / "again", paths=True)


def test_abtest_round_trip(tmp_path: Path) -> None:
    patch = {"retention": {"offer_discount": 0.1}}  # the levers without 'policies:' (both accepted)
    result = ab_test(small(agents=1000, days=30), patch, [1, 2])
    assert result.treatment.policies.retention is not None
    assert result.treatment.policies.retention.offer_discount == 0.1
    result.save(tmp_path / "ab")
    loaded = ABTestResult.load(tmp_path / "ab")
    assert loaded.scenario == result.scenario and loaded.treatment == result.treatment
    same_frame(result.arms, loaded.arms)
    same_frame(result.table, loaded.table)
    same_frame(result.pooled, loaded.pooled)
    assert loaded.to_text() == result.to_text()
    document = json.loads((tmp_path / "ab" / "abtest.json").read_text(encoding="utf-8"))
    assert document["scenario"] == result.scenario.name  # the old key keeps its meaning


def test_clv_warns_when_a_bgnbd_parameter_sits_at_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    from simulator.customerbase.bgnbd import BGNBDParameters, parameters_at_bound
    from simulator.measure import clv

    at_bound = BGNBDParameters(r=0.5, alpha=3.0, a=math.exp(-12), b=math.exp(12))
    assert parameters_at_bound(at_bound) == {"a": "lower", "b": "upper"}
    assert parameters_at_bound(BGNBDParameters(r=0.5, alpha=3.0, a=0.8, b=2.0)) == {}
    monkeypatch.setattr(clv, "fit_bgnbd", lambda *args, **kwargs: at_bound)
    result, traits = simulate_for_clv(small(agents=800, days=60), seed=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        customer_lifetime_value(result, traits)
    messages = [str(w.message) for w in caught if issubclass(w.category, clv.FitWarning)]
    assert len(messages) == 1 and "a=6.14e-06 (lower bound)" in messages[0] and "b=1.63e+05" in messages[0]


def test_simulation_orders_round_trip(simulation: SimulationResult, tmp_path: Path) -> None:
    # simulate --out writes the order log calibrate reads (orders.csv or orders.parquet); load
    # turns it back into the result's orders: shopper ids, days, channels and first orders.
    assert len(simulation.orders) > 0
    for log_format in ("csv", "parquet"):
        out = tmp_path / log_format
        simulation.save(out, orders_format=log_format)
        same_frame(simulation.orders, SimulationResult.load(out).orders)


# Budget allocation and policy search -----------------------------------------------------------


@pytest.fixture(scope="module")
def allocation() -> AllocationResult:
    """A small allocation (three channels, one dud) that runs in a few seconds."""
    scenario = three_channel_market(agents=1000, days=30)
    settings = allocation_settings(
        scenario,
        {
            "budget_mode": "at_most",
            "response": {"seeds": 2, "levels": [0, 0.5, 1, 2]},
            "closed_loop": {"rounds": 1, "seeds": 3},
            "portfolio": {"cycle_days": 14},
        },
    )
    return allocate_budget(scenario, settings)


@pytest.fixture(scope="module")
def search() -> OptimizationResult:
    """A 2-trial policy search with a budget split (curves) that runs in a few seconds."""
    scenario = small("fashion_social_brand", agents=500, days=30)
    settings = search_settings(
        scenario,
        {
            "trials": 2,
            "seeds": 2,
            "budget": {"candidates": 1, "levels": [0, 1, 2], "seeds": 1},
            "confirm_seeds": 2,
        },
    )
    return optimize(scenario, settings)


def _same_frames(loaded: object, original: object, names: tuple[str, ...]) -> None:
    for name in names:
        got, want = getattr(loaded, name), getattr(original, name)
        pd.testing.assert_frame_equal(got, want, check_exact=True, obj=name)
        assert got.attrs.keys() == want.attrs.keys(), name


def test_an_allocation_comes_back_from_its_folder(allocation: AllocationResult, tmp_path: Path) -> None:
    allocation.save(tmp_path)
    loaded = AllocationResult.load(tmp_path)
    _same_frames(loaded, allocation, ("table", "plan", "rounds", "comparison", "portfolio"))
    assert loaded.final_gap == allocation.final_gap
    assert loaded.comparison.attrs == allocation.comparison.attrs
    assert loaded.verdict == allocation.verdict
    assert loaded.to_dict() == allocation.to_dict()
    assert loaded.to_text() == allocation.to_text()
    assert loaded.headline() == allocation.headline()
    assert loaded.settings == allocation.settings
    assert scenario_document(loaded.scenario) == scenario_document(allocation.scenario)
    # The curves are rebuilt: the same values on the grid and at the measured points.
    pd.testing.assert_frame_equal(loaded.response_table(), allocation.response_table(), check_exact=True)
    pd.testing.assert_frame_equal(loaded.measurements(), allocation.measurements(), check_exact=True)
    pd.testing.assert_frame_equal(loaded.allocation.spend, allocation.allocation.spend, check_exact=True)
    pd.testing.assert_series_equal(loaded.allocation.outcome, allocation.allocation.outcome, check_exact=True)
    assert loaded.shadow_prices == allocation.shadow_prices
    # ... and the runs behind them are not saved.
    assert loaded.curves.replication.runs.empty and loaded.curves.seeds == allocation.curves.seeds
    # Loading and saving again writes the same files.
    loaded.save(tmp_path / "again")
    for name in ("allocation.csv", "allocation.json", "response_curves.csv", "response_measurements.csv"):
        assert (tmp_path / "again" / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_saving_only_adds_a_state_to_allocation_json(allocation: AllocationResult, tmp_path: Path) -> None:
    allocation.save(tmp_path)
    data = json.loads((tmp_path / "allocation.json").read_text())
    assert set(data) - set(allocation.to_dict()) == {"state"}
    assert {k: v for k, v in data.items() if k != "state"} == json.loads(json.dumps(allocation.to_dict()))


def test_a_search_comes_back_from_its_folder(search: OptimizationResult, tmp_path: Path) -> None:
    assert search.curves is not None  # the budget split measured curves
    search.save(tmp_path)
    loaded = OptimizationResult.load(tmp_path)
    _same_frames(loaded, search, ("trials", "pareto", "candidates", "comparison", "channels"))
    assert loaded.comparison.attrs == search.comparison.attrs
    assert loaded.verdict == search.verdict
    assert loaded.to_dict() == search.to_dict()
    assert loaded.to_text() == search.to_text()
    assert loaded.headline() == search.headline()
    assert (loaded.chosen, loaded.policy, loaded.plan) == (search.chosen, search.policy, search.plan)
    assert loaded.timings == search.timings
    assert loaded.settings == search.settings
    assert scenario_document(loaded.scenario) == scenario_document(search.scenario)
    assert loaded.curves is not None
    pd.testing.assert_frame_equal(
        loaded.curves.response_table(), search.curves.response_table(), check_exact=True
    )
    loaded.save(tmp_path / "again")
    for name in ("recommendation.json", "trials.csv", "pareto.csv", "response_curves.csv"):
        assert (tmp_path / "again" / name).read_bytes() == (tmp_path / name).read_bytes(), name


def _one_line_error(load: object, folder: Path) -> str:
    with pytest.raises(OutputError) as caught:
        load(folder)  # type: ignore[operator]
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(folder))
    return message


@pytest.mark.parametrize(
    ("fixture", "name"),
    [
        ("allocation", "allocation.json"),
        ("allocation", "response_curves.csv"),
        ("search", "recommendation.json"),
        ("search", "trials.csv"),
        ("search", "pareto.csv"),
    ],
)
def test_a_missing_or_truncated_file_is_a_one_line_error(
    request: pytest.FixtureRequest, tmp_path: Path, fixture: str, name: str
) -> None:
    result = request.getfixturevalue(fixture)
    result.save(tmp_path / "missing")
    (tmp_path / "missing" / name).unlink()
    assert name in _one_line_error(type(result).load, tmp_path / "missing")
    result.save(tmp_path / "cut")
    text = (tmp_path / "cut" / name).read_bytes()
    (tmp_path / "cut" / name).write_bytes(text[: len(text) // 2])
    assert "truncated" in _one_line_error(type(result).load, tmp_path / "cut")


def test_without_a_manifest_a_cut_file_is_still_a_one_line_error(
    allocation: AllocationResult, search: OptimizationResult, tmp_path: Path
) -> None:
    for result, name in ((allocation, "allocation.json"), (search, "trials.csv")):
        folder = tmp_path / name
        result.save(folder)
        (folder / "manifest.json").unlink()
        text = (folder / name).read_text()
        (folder / name).write_text(text[: len(text) // 2])
        assert name in _one_line_error(type(result).load, folder)


def test_a_folder_saved_without_a_state_says_to_run_again(
    allocation: AllocationResult, tmp_path: Path
) -> None:
    allocation.save(tmp_path / "new")
    old = tmp_path / "old"
    shutil.copytree(tmp_path / "new", old)
    (old / "manifest.json").unlink()
    data = json.loads((old / "allocation.json").read_text())
    del data["state"]
    (old / "allocation.json").write_text(json.dumps(data))
    assert "run allocate again" in _one_line_error(AllocationResult.load, old)
    assert "no such folder" in _one_line_error(AllocationResult.load, tmp_path / "nowhere")
