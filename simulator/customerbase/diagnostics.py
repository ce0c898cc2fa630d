"""Standard diagnostics of a fitted repeat-buying model, and hold-out forecast errors.

The checks of Fader, Hardie and Lee (2005), for any :class:`.fitting.RepeatBuyingModel`:

- **Frequency histogram**: customers with 0, 1, ..., ``max_count - 1`` and ``max_count``+
  repeat purchases in the calibration period, actual and expected, ``sum_i P(X(T_i) = x)``.
- **Tracking**: repeat purchases per day (and cumulative) over the calibration and hold-out
  periods, actual and expected. The cohort entered at different times: a customer whose first
  purchase was on day ``s`` contributes ``E[X((d - s) / unit)]`` repeat purchases by the end of day
  ``d``, so the expected cumulative curve is the convolution of the daily counts of first
  purchases with ``E[X(k / unit)]``, ``k = 0, 1, ...`` days. :func:`weekly` sums it by week.
- **Conditional expectations**: mean hold-out purchases of the customers with 0, 1, ..., 7+
  repeat purchases in the calibration period, actual and ``E[Y(t*) | x, t_x, T]``.

:func:`holdout_errors` sums up a per-customer forecast against what happened.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from .fitting import RepeatBuyingModel

__all__ = ["conditional_expectations", "frequency_histogram", "holdout_errors", "tracking", "weekly"]

FloatArray = npt.NDArray[np.float64]


def frequency_histogram(
    model: RepeatBuyingModel,
    frequency: npt.ArrayLike,
    T: npt.ArrayLike,  # noqa: N803 - the model's standard notation
    max_count: int = 7,
) -> pd.DataFrame:
    """Customers by number of repeat purchases in the calibration period, actual and expected.

    Parameters
    ----------
    model
        A fitted model.
    frequency
        Repeat purchases per customer (count).
    T
        Time from each customer's first purchase to the calibration end (time units).
    max_count
        The last bin holds ``max_count`` or more purchases.

    Returns
    -------
    pandas.DataFrame
        Index ``repeat_purchases`` (``"0"`` .. ``"<max>+"``): ``actual`` and ``expected`` (people).
    """
    x = np.asarray(frequency, dtype=np.int64)
    ages, counts = np.unique(np.asarray(T, dtype=np.float64), return_counts=True)
    bins = np.arange(max_count)
    chances = model.count_probability(bins[:, None], ages[None, :])
    expected = chances @ counts.astype(np.float64)
    expected = np.append(expected, x.size - expected.sum())
    actual = np.bincount(np.minimum(x, max_count), minlength=max_count + 1).astype(np.float64)
    labels = [str(b) for b in bins] + [f"{max_count}+"]
    return pd.DataFrame(
        {"actual": actual, "expected": expected}, index=pd.Index(labels, name="repeat_purchases")
    )


def tracking(
    model: RepeatBuyingModel,
    first_day: npt.ArrayLike,
    repeat_by_day: npt.ArrayLike,
    calibration_days: int,
) -> pd.DataFrame:
    """Repeat purchases per day, actual and expected, over the calibration and hold-out periods.

    Parameters
    ----------
    model
        A fitted model (its ``time_unit_days`` converts days).
    first_day
        Day of each customer's first purchase, counted from the first day of the log (whole days).
    repeat_by_day
        Actual repeat purchases of these customers on each day ``0 .. D`` (count).
    calibration_days
        Number of days in the calibration period (days ``0 .. calibration_days - 1``).

    Returns
    -------
    pandas.DataFrame
        Index ``day``: ``period`` (``"calibration"`` or ``"holdout"``), ``actual``,
        ``expected``, ``cumulative_actual``, ``cumulative_expected`` (repeat purchases).
    """
    actual = np.asarray(repeat_by_day, dtype=np.float64)
    days = actual.size
    entered = np.bincount(np.asarray(first_day, dtype=np.int64), minlength=days)[:days].astype(np.float64)
    per_customer = model.expected_transactions(np.arange(days) / model.time_unit_days)
    cumulative = np.convolve(entered, per_customer)[:days]
    return pd.DataFrame(
        {
            "period": np.where(np.arange(days) < calibration_days, "calibration", "holdout"),
            "actual": actual,
            "expected": np.diff(cumulative, prepend=0.0),
            "cumulative_actual": np.cumsum(actual),
            "cumulative_expected": cumulative,
        },
        index=pd.RangeIndex(days, name="day"),
    )


def weekly(daily: pd.DataFrame, days: int = 7) -> pd.DataFrame:
    """Sum a :func:`tracking` table by week (or any number of days).

    Parameters
    ----------
    daily
        The output of :func:`tracking`.
    days
        Days per period (7 = weeks); the last period may be shorter.

    Returns
    -------
    pandas.DataFrame
        Index ``week`` (0, 1, ...): ``actual``, ``expected`` (sums) and the cumulative columns at
        the period's end; ``period`` is the period of its first day.
    """
    week = np.asarray(daily.index, dtype=np.int64) // days
    grouped = daily.groupby(week)
    table = pd.DataFrame(
        {
            "period": grouped["period"].first(),
            "actual": grouped["actual"].sum(),
            "expected": grouped["expected"].sum(),
            "cumulative_actual": grouped["cumulative_actual"].last(),
            "cumulative_expected": grouped["cumulative_expected"].last(),
        }
    )
    table.index.name = "week"
    return table


def conditional_expectations(
    model: RepeatBuyingModel,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,  # noqa: N803 - the model's standard notation
    holdout_frequency: npt.ArrayLike,
    holdout_length: float,
    max_count: int = 7,
) -> pd.DataFrame:
    """Mean hold-out purchases by calibration frequency, actual and expected.

    Parameters
    ----------
    model
        A fitted model.
    frequency, recency, T
        Per customer, the calibration summary (count, time units, time units).
    holdout_frequency
        Purchases of each customer in the hold-out period (count).
    holdout_length
        Length of the hold-out period (time units).
    max_count
        The last group holds ``max_count`` or more calibration purchases.

    Returns
    -------
    pandas.DataFrame
        Index ``repeat_purchases`` (``"0"`` .. ``"<max>+"``): ``customers`` (people), ``actual``
        and ``expected`` (mean hold-out purchases per customer).
    """
    x = np.asarray(frequency, dtype=np.float64)
    expected = model.conditional_expected_transactions(holdout_length, x, recency, T)
    group = np.minimum(x, max_count).astype(np.int64)
    people = np.bincount(group, minlength=max_count + 1).astype(np.float64)
    actual = np.bincount(group, weights=np.asarray(holdout_frequency, np.float64), minlength=max_count + 1)
    forecast = np.bincount(group, weights=expected, minlength=max_count + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        table = pd.DataFrame(
            {"customers": people, "actual": actual / people, "expected": forecast / people},
            index=pd.Index([str(b) for b in range(max_count)] + [f"{max_count}+"], name="repeat_purchases"),
        )
    return table


def holdout_errors(expected: npt.ArrayLike, actual: npt.ArrayLike) -> dict[str, float]:
    """How far a per-customer forecast of the hold-out is from what happened.

    Parameters
    ----------
    expected
        Forecast per customer (purchases or currency).
    actual
        What each customer did in the hold-out (same unit).

    Returns
    -------
    dict
        ``customers``; ``expected_total`` and ``actual_total``; ``error_total`` (expected -
        actual) and ``relative_error_total`` (that over the actual total, a share);
        ``mean_absolute_error`` and ``root_mean_squared_error`` per customer; ``correlation``
        of expected and actual across customers.
    """
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    total_e, total_a = float(e.sum()), float(a.sum())
    return {
        "customers": float(e.size),
        "expected_total": total_e,
        "actual_total": total_a,
        "error_total": total_e - total_a,
        "relative_error_total": (total_e - total_a) / total_a if total_a else float("nan"),
        "mean_absolute_error": float(np.mean(np.abs(e - a))),
        "root_mean_squared_error": float(np.sqrt(np.mean((e - a) ** 2))),
        "correlation": float(np.corrcoef(e, a)[0, 1]) if e.size > 1 else float("nan"),
    }
