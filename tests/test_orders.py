"""Order logs: loading, validation with one-line errors, purchase occasions, period splits (data.orders)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from simulator.customerbase.bgnbd import fit_bgnbd_model
from simulator.customerbase.fitting import IdentificationError
from simulator.data import OrderLogError, load_orders, parse_column_map, split_periods

FIXTURES = Path(__file__).parent / "fixtures" / "orders"


def _error(name: str, **kwargs: object) -> OrderLogError:
    with pytest.raises(OrderLogError) as caught:
        load_orders(FIXTURES / name, **kwargs)  # type: ignore[arg-type]
    error = caught.value
    assert "\n" not in str(error)
    assert str(error).startswith(str(FIXTURES / name))
    return error


@pytest.mark.parametrize(
    ("name", "row", "column", "words"),
    [
        ("bad_date.csv", 3, "date", "unparsable date '2021-13-45'"),
        ("negative_revenue.csv", 4, "revenue", "-5 is not allowed"),
        ("nonnumeric_revenue.csv", 2, "revenue", "'ten' is not a number"),
        ("future_date.csv", 3, "date", "2999-01-07 is in the future"),
        ("duplicate_order_id.csv", 4, "order_id", "order id 'A2' repeats the order of row 2"),
        ("missing_customer.csv", 2, "customer_id", "missing customer id"),
    ],
)
def test_bad_rows_name_file_row_and_column(name, row, column, words):
    error = _error(name)
    assert (error.row, error.column) == (row, column)
    assert f"row {row}, column '{column}'" in str(error)
    assert words in str(error)


def test_missing_column_names_it_and_the_columns_found():
    error = _error("missing_column.csv")
    assert error.column == "revenue" and error.row is None
    assert "column 'revenue': missing" in str(error) and "customer_id, date, amount" in str(error)


def test_a_mapped_column_that_is_missing_says_what_it_was_mapped_from():
    error = _error("missing_column.csv", columns="revenue=total")
    assert error.column == "total" and "mapped from revenue" in str(error)


@pytest.mark.parametrize(
    ("name", "words"), [("empty.csv", "the file is empty"), ("header_only.csv", "no orders")]
)
def test_empty_files(name, words):
    assert words in str(_error(name))


def test_orders_all_on_one_day_are_refused():
    error = _error("one_day.csv")
    assert error.column == "date" and "every order is on one day (2021-03-01)" in str(error)


def test_future_is_relative_to_today_given():
    error = _error("small_log.csv", today="2021-02-20")
    assert (error.row, error.column) == (8, "date")
    assert len(load_orders(FIXTURES / "small_log.csv", today="2021-02-28").orders) == 8


def test_missing_file_and_unknown_type(tmp_path):
    with pytest.raises(OrderLogError, match="no such file"):
        load_orders(tmp_path / "nothing.csv")
    other = tmp_path / "orders.xlsx"
    other.write_text("x")
    with pytest.raises(OrderLogError, match="unknown file type '.xlsx'"):
        load_orders(other)


def test_column_map_parsing():
    assert parse_column_map("customer_id=cust, date=ts") == {"customer_id": "cust", "date": "ts"}
    assert parse_column_map(None) == {}
    for text, words in [
        ("customer=cust", "unknown name 'customer'"),
        ("date", "'date' is not name=column"),
        ("date=ts,date=t2", "'date' is mapped twice"),
        ("date=ts,revenue=ts", "column 'ts' is mapped to two names"),
    ]:
        with pytest.raises(OrderLogError, match=words) as caught:
            parse_column_map(text)
        assert str(caught.value).startswith("--columns: ")


def test_mapped_columns_and_date_format():
    log = load_orders(
        FIXTURES / "mapped_columns.csv",
        columns="customer_id=cust,date=ts,revenue=amount",
        date_format="%d/%m/%Y",
    )
    orders = log.orders
    assert list(orders["date"].dt.strftime("%Y-%m-%d")) == [
        "2021-01-31",
        "2021-01-31",
        "2021-02-01",
        "2021-02-15",
    ]
    assert orders["revenue"].tolist() == [10.5, 4.5, 3.0, 6.0]
    assert log.customers == 2
    # Without the format the day-first dates are not ISO 8601: row 1 is named.
    error = _error("mapped_columns.csv", columns="customer_id=cust,date=ts,revenue=amount")
    assert (error.row, error.column) == (1, "ts")


def test_same_day_orders_are_one_purchase_occasion():
    log = load_orders(FIXTURES / "small_log.csv")
    occasions = log.occasions()
    c1 = occasions[occasions["customer"] == log.customer_ids.get_loc("c1")]
    assert c1["orders"].tolist() == [2, 1, 1]
    assert c1["revenue"].tolist() == [15.0, 7.0, 9.0]
    assert occasions["orders"].sum() == 8 and occasions["revenue"].sum() == log.orders["revenue"].sum()


def test_split_summarizes_customers_and_keeps_late_ones_apart():
    split = split_periods(
        load_orders(FIXTURES / "small_log.csv"), calibration_end="2021-01-31", time_unit_days=7
    )
    table = split.customers
    assert list(table.index) == ["c1", "c2"]
    c1, c2 = table.loc["c1"], table.loc["c2"]
    # c1: occasions on Jan 1 (two orders, 15) and Jan 20 (7) in calibration, Feb 10 (9) in hold-out.
    assert (c1["frequency"], c1["recency_days"], c1["T_days"]) == (1, 19, 30)
    assert c1["recency"] == pytest.approx(19 / 7) and c1["T"] == pytest.approx(30 / 7)
    assert (c1["monetary_value"], c1["first_revenue"], c1["calibration_revenue"]) == (7.0, 15.0, 22.0)
    assert (c1["holdout_frequency"], c1["holdout_revenue"]) == (1, 9.0)
    assert (c2["frequency"], c2["recency_days"], c2["T_days"], c2["holdout_frequency"]) == (0, 0, 21, 1)
    assert np.isnan(c2["monetary_value"])
    # c3 first bought in the hold-out: an acquisition there, not a fitted customer.
    assert list(split.late_customers.index) == ["c3"]
    assert split.late_customers.loc["c3", "holdout_frequency"] == 2
    assert split.holdout_days == 28 and split.holdout_length == pytest.approx(4.0)
    assert split.calibration_days == 31
    # Repeat occasions by day: c1 on Jan 20 (day 19) and Feb 10 (day 40), c2 on Feb 28 (day 58).
    repeat = split.repeat_by_day
    assert repeat.sum() == 3 and repeat[[19, 40, 58]].tolist() == [1, 1, 1]


def test_split_by_holdout_days_equals_split_by_end_date():
    log = load_orders(FIXTURES / "small_log.csv")
    by_days = split_periods(log, holdout_days=28)
    by_date = split_periods(log, calibration_end="2021-01-31")
    pd.testing.assert_frame_equal(by_days.customers, by_date.customers)
    whole = split_periods(log)
    assert whole.holdout_days == 0 and len(whole.late_customers) == 0
    assert whole.customers["holdout_frequency"].sum() == 0


def test_holdout_longer_than_the_data_is_refused():
    log = load_orders(FIXTURES / "small_log.csv")
    with pytest.raises(
        OrderLogError, match="a hold-out of 58 days does not fit in the data, which spans 58 days"
    ):
        split_periods(log, holdout_days=58)
    with pytest.raises(OrderLogError, match="the calibration end 2020-12-31 is outside the data"):
        split_periods(log, calibration_end="2020-12-31")
    with pytest.raises(ValueError, match="not both"):
        split_periods(log, holdout_days=5, calibration_end="2021-01-31")


def test_too_few_repeat_customers_cannot_identify_the_model():
    split = split_periods(load_orders(FIXTURES / "few_repeaters.csv"))
    assert split.repeat_customers == 20
    with pytest.raises(OrderLogError) as caught:
        split.check_identifiable()
    message = str(caught.value)
    assert message.startswith(str(FIXTURES / "few_repeaters.csv")) and "cannot be identified" in message
    split.check_identifiable(minimum=20)
    table = split.customers
    with pytest.raises(IdentificationError, match="only 20 customers made a repeat purchase"):
        fit_bgnbd_model(table["frequency"], table["recency"], table["T"])


def test_parquet_with_integer_ids_and_timestamps(tmp_path):
    path = tmp_path / "orders.parquet"
    table = pa.table(
        {
            "customer_id": pa.array([5, 5, 9], pa.int64()),
            "date": pa.array(pd.to_datetime(["2021-01-01 10:00", "2021-01-03 00:00", "2021-01-02 00:00"])),
            "revenue": pa.array([1.0, 2.0, 3.0]),
        }
    )
    pq.write_table(table, path)
    log = load_orders(path)
    assert list(log.customer_ids) == [5, 9] and log.orders["day"].tolist() == [18628, 18630, 18629]
    bad = tmp_path / "bad.parquet"
    pq.write_table(table.set_column(2, "revenue", pa.array([1.0, -2.0, 3.0])), bad)
    with pytest.raises(OrderLogError, match=r"bad.parquet: row 2, column 'revenue'"):
        load_orders(bad)


def test_time_zone_offsets_are_converted_to_utc(tmp_path):
    path = tmp_path / "zones.csv"
    path.write_text("customer_id,date,revenue\na,2021-01-01T23:30:00-02:00,1\nb,2021-01-01T10:00:00Z,2\n")
    log = load_orders(path)
    assert log.orders["date"].dt.strftime("%Y-%m-%d %H:%M").tolist() == [
        "2021-01-02 01:30",
        "2021-01-01 10:00",
    ]


def test_cdnow_sample_summary_matches_the_published_counts():
    """Fader, Hardie and Lee (2005): 2,357 customers, 2,457 repeat purchases in the 39 calibration weeks."""
    split = split_periods(load_orders(FIXTURES / "cdnow_sample.csv"), calibration_end="1997-09-30")
    table = split.customers
    assert len(table) == 2357 and table["frequency"].sum() == 2457
    assert split.repeat_customers == 946 and split.holdout_length == pytest.approx(39.0)
    assert table["T"].max() == pytest.approx(38 + 6 / 7) and table["first_date"].max() == pd.Timestamp(
        "1997-03-25"
    )
