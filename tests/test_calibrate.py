"""``run.py calibrate`` and ``run.py clv --orders``: bad input, outputs, the twin, CLV of real customers.

The slow hold-out and round-trip checks are in tests/test_calibrate_holdout.py.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_bad_input import FIXTURES as SCENARIO_FIXTURES
from test_bad_input import ROOT, assert_bad_input, finish, start
from test_customerbase_generator import Segment, generate

from run import main
from simulator import SimulationResult, load_scenario
from simulator.calibrate import CALIBRATION_FILES, calibrate
from simulator.calibrate.clv import order_log_clv
from simulator.common.output import MANIFEST
from simulator.data import load_orders, split_periods
from simulator.measure.clv import CLV_FILES

ORDERS = Path("tests") / "fixtures" / "orders"  # relative to ROOT, as a user would type it
BASE = SCENARIO_FIXTURES / "small_valid.yaml"
SAMPLE = Path("scenarios") / "examples" / "orders_sample.csv"
LATE = ORDERS / "late_customers.csv"
LATE_END = "2020-05-30"


def late_customer_log() -> pd.DataFrame:
    """The shipped fixture late_customers.csv: 400 customers entering over 240 days (seed 21)."""
    segment = Segment(1.0, r=2.0, alpha=10.0, a=0.5, b=5.0, p=5.0, q=4.0, gamma=30.0)
    orders, _ = generate([segment], 400, 240, 240, seed=21)
    return orders


def test_late_customer_fixture_is_what_the_seed_gives():
    shipped = pd.read_csv(ROOT / LATE, dtype={"customer_id": str, "date": str})
    pd.testing.assert_frame_equal(shipped, late_customer_log(), check_dtype=False)


# (id, order log, extra arguments of calibrate, words of the one-line error)
CASES = [
    ("missing_column", "missing_column.csv", [], ["column 'revenue': missing", "customer_id, date, amount"]),
    ("unparsable_date", "bad_date.csv", [], ["row 3, column 'date'", "unparsable date '2021-13-45'"]),
    ("negative_revenue", "negative_revenue.csv", [], ["row 4, column 'revenue'", "-5 is not allowed"]),
    (
        "non_numeric_revenue",
        "nonnumeric_revenue.csv",
        [],
        ["row 2, column 'revenue'", "'ten' is not a number"],
    ),
    ("empty_file", "empty.csv", [], ["the file is empty"]),
    ("header_only", "header_only.csv", [], ["no orders"]),
    ("one_day", "one_day.csv", [], ["column 'date'", "every order is on one day"]),
    ("future_date", "future_date.csv", [], ["row 3, column 'date'", "is in the future"]),
    ("duplicate_order_id", "duplicate_order_id.csv", [], ["row 4, column 'order_id'", "repeats the order"]),
    ("missing_customer", "missing_customer.csv", [], ["row 2, column 'customer_id'", "missing customer id"]),
    (
        "too_few_repeaters",
        "few_repeaters.csv",
        [],
        ["only 20 customers bought again", "cannot be identified"],
    ),
    ("unmapped_columns", "mapped_columns.csv", [], ["column 'customer_id': missing", "--columns"]),
    (
        "holdout_too_long",
        "late_customers.csv",
        ["--holdout-days", "400"],
        ["hold-out of 400 days does not fit"],
    ),
    (
        "calibration_end_outside",
        "late_customers.csv",
        ["--calibration-end", "2030-01-01"],
        ["calibration end 2030-01-01 is outside the data"],
    ),
    ("no_such_file", "does_not_exist.csv", [], ["no such file"]),
    (
        "bad_column_map",
        "mapped_columns.csv",
        ["--columns", "client=cust"],
        ["--columns", "unknown name 'client'"],
    ),
]
CLV_CASES = {"missing_column", "unparsable_date", "too_few_repeaters", "bad_column_map"}
VALID_LOGS = {"cdnow_sample.csv", "small_log.csv", "mapped_columns.csv", "late_customers.csv"}


@pytest.mark.parametrize(("case", "log", "extra", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_order_log_is_refused_on_the_command_line(case, log, extra, words, tmp_path):
    path = ORDERS / log
    out, clv_out = tmp_path / "out", tmp_path / "clv"
    before = sorted(tmp_path.iterdir())
    # Both commands at once: independent, and each pays the imports.
    processes = [start("calibrate", BASE, "--orders", path, *extra, "--out", out)]
    if case in CLV_CASES:  # clv --orders reads logs the same way: a few cases show it
        processes.append(start("clv", "--orders", path, *extra, "--out", clv_out))
    results = [finish(process) for process in processes]
    source = "--columns" if case == "bad_column_map" else str(path)
    for result in results:
        assert_bad_input(result, f"error: {source}: ", *words)
        assert result.stdout == ""
    assert sorted(tmp_path.iterdir()) == before, "something was written"


def test_every_bad_order_log_fixture_has_a_cli_case():
    used = {c[1] for c in CASES}
    on_disk = {p.name for p in (ROOT / ORDERS).glob("*.csv")}
    assert on_disk - VALID_LOGS <= used, f"fixtures without a CLI case: {sorted(on_disk - VALID_LOGS - used)}"


def test_a_broken_history_file_makes_the_twin_invalid(tmp_path):
    twin = tmp_path / "twin"
    assert (
        main(
            [
                "calibrate",
                str(ROOT / BASE),
                "--orders",
                str(ROOT / LATE),
                "--out",
                str(twin),
                "--calibration-end",
                LATE_END,
                "--seeds",
                "2",
                "--max-segments",
                "1",
                "--no-progress",
            ]
        )
        == 0
    )
    (twin / "customers.parquet").write_bytes(b"not parquet")
    result = finish(start("validate", twin / "scenario.yaml"))
    assert_bad_input(result, f"error: {twin / 'scenario.yaml'}: customer_base.file: ", "cannot be read")


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    """The shipped sample log, its last 182 days held out, on the small omnichannel base.

    What the command prints is kept next to the output folder, in ``printed.txt``.
    """
    out = tmp_path_factory.mktemp("calibrated") / "out"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(
            [
                "calibrate",
                str(ROOT / BASE),
                "--orders",
                str(ROOT / SAMPLE),
                "--holdout-days",
                "182",
                "--seeds",
                "4",
                "--max-segments",
                "2",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
    assert code == 0
    (out.parent / "printed.txt").write_text(printed.getvalue(), encoding="utf-8")
    return out


def test_calibrate_writes_the_twin_the_fits_and_the_diagnostics(calibrated):
    assert sorted(p.name for p in calibrated.iterdir()) == sorted([*CALIBRATION_FILES, MANIFEST])
    report = json.loads((calibrated / "calibration.json").read_text())
    assert report["validated"] is True and report["note"] == ""
    assert set(report["models"]) == {"bgnbd", "pareto_nbd", "latent_class", "gamma_gamma"}
    for model in report["models"].values():
        for stats in model["parameters"].values():
            assert stats["lower"] <= stats["estimate"] <= stats["upper"] and stats["se"] > 0
    tried = report["segments"]["tried"]
    assert [t["segments"] for t in tried] == [1, 2]
    chosen = min(tried, key=lambda t: t["bic"])["segments"]
    assert report["segments"]["chosen"] == chosen
    printed = (calibrated.parent / "printed.txt").read_text(encoding="utf-8")
    choice = "; ".join(
        f"{t['segments']}: {t['bic']:,.0f}{' (chosen)' if t['segments'] == chosen else ''}" for t in tried
    )
    assert f"segments by BIC (lowest chosen): {choice}\n" in printed
    scenario = load_scenario(calibrated / "scenario.yaml")
    assert len(scenario.persona_names) == chosen
    customers = pd.read_parquet(calibrated / "customers.parquet")
    split = split_periods(load_orders(ROOT / SAMPLE), holdout_days=182)
    assert len(customers) == len(split.customers) == scenario.population.agents
    assert scenario.start_date == (split.calibration_end + pd.Timedelta(days=1)).date()
    assert (customers["last_day"] <= -1).all()
    histogram = pd.read_csv(calibrated / "frequency_histogram.csv")
    assert histogram["actual"].sum() == pytest.approx(histogram["expected"].sum())


def test_holdout_block_states_actual_twin_and_closed_form(calibrated):
    report = json.loads((calibrated / "calibration.json").read_text())
    holdout = report["holdout"]
    split = split_periods(load_orders(ROOT / SAMPLE), holdout_days=182)
    assert holdout["days"] == 182 and len(holdout["seeds"]) == 4
    repeat, revenue = holdout["repeat_orders"], holdout["revenue"]
    assert repeat["actual"] == split.customers["holdout_frequency"].sum()
    assert revenue["actual"] == pytest.approx(split.customers["holdout_revenue"].sum())
    runs = pd.read_csv(calibrated / "holdout_seeds.csv")
    for block, column in ((repeat, "repeat_orders"), (revenue, "revenue")):
        predicted = block["predicted"]
        assert predicted["mean"] == pytest.approx(runs[column].mean())
        assert predicted["low"] < predicted["mean"] < predicted["high"]
        assert block["error"] == pytest.approx(predicted["mean"] - block["actual"])
        assert block["closed_form_error"] == pytest.approx(block["predicted_closed_form"] - block["actual"])


def test_the_twin_scenario_works_with_every_command(calibrated, tmp_path):
    twin = str(calibrated / "scenario.yaml")
    assert main(["validate", twin]) == 0
    out = tmp_path / "sim"
    assert main(["simulate", twin, "--days", "15", "--out", str(out), "--no-progress"]) == 0
    orders = pd.read_csv(out / "orders.csv", dtype={"customer_id": str})
    sample_ids = set(pd.read_parquet(calibrated / "customers.parquet")["customer_id"])
    assert set(orders["customer_id"]) <= sample_ids  # no new customers: the sample's entry ended
    # load maps the customers' ids back to the twin's agents: the same orders as the run's.
    loaded = SimulationResult.load(out)
    assert (
        len(loaded.orders) == len(orders)
        and loaded.orders["first"].sum() <= loaded.orders["shopper_id"].nunique()
    )
    ids = loaded.customers["customer_id"].to_numpy(dtype=object)[loaded.orders["shopper_id"].to_numpy()]
    assert (ids == orders["customer_id"].to_numpy(dtype=object)).all()
    assert (
        main(
            [
                "allocate",
                twin,
                "--days",
                "15",
                "--rounds",
                "0",
                "--out",
                str(tmp_path / "alloc"),
                "--no-progress",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "optimize",
                twin,
                "--days",
                "15",
                "--trials",
                "2",
                "--n-seeds",
                "1",
                "--no-budget",
                "--out",
                str(tmp_path / "opt"),
                "--no-progress",
            ]
        )
        == 0
    )


def test_without_a_holdout_the_forecast_is_unvalidated(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        [
            "calibrate",
            str(ROOT / BASE),
            "--orders",
            str(ROOT / LATE),
            "--seeds",
            "2",
            "--max-segments",
            "1",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    assert "unvalidated" in capsys.readouterr().out
    report = json.loads((out / "calibration.json").read_text())
    assert report["validated"] is False and report["holdout"] is None and "unvalidated" in report["note"]
    assert not (out / "holdout_seeds.csv").exists() and not (out / "conditional_expectations.csv").exists()


def test_late_customers_count_as_holdout_acquisitions_and_are_not_fitted():
    log = load_orders(ROOT / LATE)
    calibration = calibrate(
        load_scenario(ROOT / BASE), log, calibration_end=LATE_END, seeds=3, max_segments=1
    )
    first = log.orders.groupby("customer_id")["date"].min()
    late = set(first[first > pd.Timestamp(LATE_END)].index)
    assert len(late) == 153
    assert calibration.holdout["new_customers"]["actual"] == len(late)
    assert not late & set(calibration.histories["customer_id"])
    # The twin's new customers arrive at the rate of the calibration period's last 90 days.
    rate = calibration.twin.customer_base.acquisition.new_customers_per_day
    window = first[
        (first > pd.Timestamp(LATE_END) - pd.Timedelta(days=90)) & (first <= pd.Timestamp(LATE_END))
    ]
    assert rate == pytest.approx(len(window) / 90)
    assert calibration.holdout["new_customers"]["predicted"]["mean"] > 0


def test_same_seed_same_calibration():
    log = load_orders(ROOT / LATE)
    base = load_scenario(ROOT / BASE)
    one = calibrate(base, log, calibration_end=LATE_END, seeds=2, max_segments=1)
    two = calibrate(base, log, calibration_end=LATE_END, seeds=2, max_segments=1)
    assert one.to_dict() == two.to_dict()
    pd.testing.assert_frame_equal(one.holdout_runs, two.holdout_runs)


def test_report_has_a_calibration_section(calibrated, tmp_path):
    from reports import build_report

    written = build_report(calibrated)
    assert calibrated / "report.html" in written
    text = (calibrated / "report.md").read_text()
    assert "## Calibration" in text and "hold-out" in text.lower()
    assert (calibrated / "report_calibration_tracking.png").exists()


@pytest.fixture(scope="module")
def sample_clv():
    return order_log_clv(load_orders(ROOT / SAMPLE), seeds=4, max_segments=2)


def test_clv_of_an_order_log_has_the_shape_of_the_simulated_case(sample_clv, tmp_path):
    report = sample_clv
    report.save(tmp_path / "clv")
    assert sorted(p.name for p in (tmp_path / "clv").iterdir()) == sorted([*CLV_FILES, MANIFEST])
    customers = report.customers
    log = load_orders(ROOT / SAMPLE)
    assert len(customers) == log.customers
    np.testing.assert_allclose(
        customers["clv_twin"], customers["realized_margin_discounted"] + customers["remaining_value_twin"]
    )
    np.testing.assert_allclose(
        customers["clv_bgnbd"], customers["realized_margin_discounted"] + customers["remaining_value_bgnbd"]
    )
    # Probabilities, up to rounding (a mixture's P(alive) sums chances that add to 1).
    assert customers["p_alive_bgnbd"].between(0, 1 + 1e-12).all() and customers["alive"].between(0, 1).all()
    assert (customers["orders"] == log.orders.groupby("customer_id").size().reindex(customers.index)).all()
    for dimension in ("acquisition_month", "acquisition_channel", "persona"):
        group = report.group(dimension)
        assert group["customers"].sum() == log.customers
        assert group["clv_twin_total"].sum() == pytest.approx(customers["clv_twin"].sum())


def test_clv_of_an_order_log_twin_and_closed_form_agree(sample_clv):
    """Both are forecasts of the same fitted model: their totals agree within 10%.

    The twin's total over 4 seeds varies by about 2-3% (1,000 customers; its posterior draws
    and buying), and buying at most once a day loses up to 2% against the continuous model:
    10% is more than 3 times that.
    """
    customers = sample_clv.customers
    twin, model = customers["remaining_value_twin"].sum(), customers["remaining_value_bgnbd"].sum()
    assert twin == pytest.approx(model, rel=0.10)
    # Customers the model expects to buy more are the ones the twin sees buying more.
    assert np.corrcoef(customers["remaining_value_twin"], customers["remaining_value_bgnbd"])[0, 1] > 0.8


def test_clv_cli_with_orders_writes_the_clv_files(tmp_path):
    out = tmp_path / "clv"
    code = main(
        [
            "clv",
            str(ROOT / BASE),
            "--orders",
            str(ROOT / LATE),
            "--seeds",
            "2",
            "--max-segments",
            "1",
            "--value-horizon",
            "90",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([*CLV_FILES, MANIFEST])
    table = pd.read_csv(out / "clv_customers.csv")
    assert {"customer_id", "clv_twin", "clv_bgnbd", "p_alive_bgnbd"} <= set(table.columns)


def test_clv_of_an_order_log_reloads_and_reports(sample_clv, tmp_path):
    """A ``clv --orders`` folder (``*_twin`` columns, customer ids as text) reads back as saved and reports.

    The report's lifetime-value section follows the folder's label: the twin's columns, not the
    simulator's ``clv_true`` (which such a folder does not have).
    """
    from reports import build_report
    from simulator.measure.clv import CLVReport

    out = tmp_path / "clv"
    sample_clv.save(out)
    loaded = CLVReport.load(out)
    assert (loaded.label, loaded.model_text) == ("twin", sample_clv.model_text)
    assert loaded.scenario == sample_clv.scenario and loaded.currency == ""
    for name in ("customers", "groups", "retention", "repurchase"):
        pd.testing.assert_frame_equal(getattr(sample_clv, name), getattr(loaded, name), check_exact=True)
    assert loaded.to_text() == sample_clv.to_text()

    written = build_report(out)
    assert out / "report.html" in written and (out / "report_clv_by_channel.png").exists()
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "Lifetime-value report" in text and "lifetime value (twin)" in text
    assert "from the customer-base twin" in text and "truth" not in text
