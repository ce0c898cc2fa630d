"""The BG/NBD model of repeat buying: maximum-likelihood fit and per-customer forecasts.

The model of Fader, Hardie and Lee (2005), "Counting your customers the easy way": while alive,
a customer buys at a Poisson rate ``lambda`` (gamma distributed across customers, shape ``r``
and rate ``alpha``); after each *repeat* purchase the customer drops out for good with
probability ``p`` (beta distributed, ``a`` and ``b``). Each customer is summarized by

- ``x``: number of repeat purchases (purchases after the first);
- ``t_x``: time of the last repeat purchase, counted from the first purchase (0 when ``x = 0``);
- ``T``: time from the first purchase to the end of observation.

Times are in a unit of ``time_unit_days`` days (weeks by default, as in the paper), so ``alpha``
is in that unit too. The simulator follows the same story (:mod:`simulator.engine.repurchase`), but in
days: a live customer buys at most once a day, with chance ``1 - exp(-lambda_day)``, which is
the continuous model observed at daily resolution (a day with two purchases counts one); at
the rates of typical retail (a purchase every few weeks or months) the difference is negligible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betainc, betaln, digamma, gammaln, hyp2f1, xlogy

from .fitting import (
    MIN_REPEAT_CUSTOMERS,
    FitResult,
    check_repeat_customers,
    fit_positive_parameters,
    pool_rows,
    weighted_sum,
)

__all__ = [
    "BGNBDParameters",
    "bgnbd_gradient",
    "bgnbd_log_likelihood",
    "conditional_expected_transactions",
    "count_probability",
    "discounted_expected_transactions",
    "expected_transactions",
    "fit_bgnbd",
    "fit_bgnbd_model",
    "parameters_at_bound",
    "probability_alive",
    "rfm_from_transactions",
]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class BGNBDParameters:
    """Fitted BG/NBD parameters.

    Attributes
    ----------
    r : float
        Gamma shape of the purchase rate (unitless).
    alpha : float
        Gamma rate (scale of the rate's inverse) of the purchase rate, in time units.
    a, b : float
        Beta parameters of the dropout probability after each repeat purchase (unitless).
    time_unit_days : float
        Length of the time unit of ``alpha`` and of ``t_x``, ``T`` (days; 7 = weeks).
    log_likelihood : float
        Maximized log-likelihood (NaN when the parameters were given, not fitted).
    customers : int
        Number of customers the fit used.
    """

    r: float
    alpha: float
    a: float
    b: float
    time_unit_days: float = 7.0
    log_likelihood: float = float("nan")
    customers: int = 0

    @property
    def mean_purchase_rate_per_day(self) -> float:
        """Mean purchase rate of live customers, ``r / alpha`` (purchases per day)."""
        return self.r / self.alpha / self.time_unit_days

    @property
    def mean_dropout(self) -> float:
        """Mean chance of dropping out after a repeat purchase, ``a / (a + b)`` (0-1)."""
        return self.a / (self.a + self.b)

    def as_dict(self) -> dict[str, float]:
        """The parameters and fit figures as a flat dict."""
        return {
            "r": self.r,
            "alpha": self.alpha,
            "a": self.a,
            "b": self.b,
            "time_unit_days": self.time_unit_days,
            "log_likelihood": self.log_likelihood,
            "customers": float(self.customers),
        }

    def log_likelihood_of(self, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike) -> FloatArray:  # noqa: N803
        """Log-likelihood of each customer's ``(x, t_x, T)``; see :func:`bgnbd_log_likelihood`."""
        return bgnbd_log_likelihood(self, x, t_x, T)

    def expected_transactions(self, t: npt.ArrayLike) -> FloatArray:
        """Expected repeat purchases in ``t`` after the first; see :func:`expected_transactions`."""
        return expected_transactions(self, t)

    def count_probability(self, count: npt.ArrayLike, t: npt.ArrayLike) -> FloatArray:
        """``P(X(t) = count)``; see :func:`count_probability`."""
        return count_probability(self, count, t)

    def conditional_expected_transactions(
        self,
        t: npt.ArrayLike,
        x: npt.ArrayLike,
        t_x: npt.ArrayLike,
        T: npt.ArrayLike,  # noqa: N803
    ) -> FloatArray:
        """``E[Y(t) | x, t_x, T]``; see :func:`conditional_expected_transactions`."""
        return conditional_expected_transactions(self, t, x, t_x, T)

    def probability_alive(self, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike) -> FloatArray:  # noqa: N803
        """Chance of being alive at ``T``; see :func:`probability_alive`."""
        return probability_alive(self, x, t_x, T)


def rfm_from_transactions(
    customer: npt.ArrayLike, day: npt.ArrayLike, end_day: int, time_unit_days: float = 7.0
) -> pd.DataFrame:
    """Summarize a transaction log as BG/NBD inputs ``x``, ``t_x`` and ``age`` (the model's ``T``).

    Several transactions of a customer on one day count as one, as the model sees days.

    Parameters
    ----------
    customer
        Customer id of each transaction (integers).
    day
        Day of each transaction (integer days; may be negative for purchases before the
        simulated horizon).
    end_day
        Last day observed (days); ``age`` runs from the first purchase to the end of this day.
    time_unit_days
        Length of the time unit of ``t_x`` and ``age`` (days; 7 = weeks).

    Returns
    -------
    pandas.DataFrame
        One row per customer id (index ``shopper_id``): ``x`` (repeat purchases), ``t_x`` (time
        of the last repeat purchase) and ``age`` (time observed since the first purchase, the
        BG/NBD ``T``; a column named ``T`` would hide the frame's transpose), in time units;
        ``first_day`` (days).
    """
    ids = np.asarray(customer, dtype=np.int64)
    days = np.asarray(day, dtype=np.int64)
    if ids.shape != days.shape:
        raise ValueError("customer and day must have the same length")
    if days.size and days.max() > end_day:
        raise ValueError(f"a transaction on day {days.max()} is after end_day {end_day}")
    pairs = np.unique(np.stack([ids, days]), axis=1) if ids.size else np.empty((2, 0), dtype=np.int64)
    unique_ids, start, count = np.unique(pairs[0], return_index=True, return_counts=True)
    first = pairs[1][start]
    last = pairs[1][start + count - 1]
    return pd.DataFrame(
        {
            "x": (count - 1).astype(np.float64),
            "t_x": (last - first) / time_unit_days,
            "age": (end_day - first) / time_unit_days,
            "first_day": first,
        },
        index=pd.Index(unique_ids, name="shopper_id"),
    )


def bgnbd_log_likelihood(
    params: BGNBDParameters | tuple[float, float, float, float],
    x: npt.ArrayLike,
    t_x: npt.ArrayLike,
    T: npt.ArrayLike,  # noqa: N803 - the model's standard notation
) -> FloatArray:
    """Log-likelihood of each customer's ``(x, t_x, T)`` (Fader, Hardie and Lee 2005, eq. 6).

    Parameters
    ----------
    params
        ``(r, alpha, a, b)`` or fitted parameters; ``alpha`` in the time unit of ``t_x``, ``T``.
    x
        Repeat purchases (count).
    t_x
        Time of the last repeat purchase since the first purchase (time units; 0 when x = 0).
    T
        Time from the first purchase to the end of observation (time units).

    Returns
    -------
    numpy.ndarray
        Log-likelihood per customer.
    """
    r, alpha, a, b = _unpack(params)
    x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    repeat = x > 0
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
    survived = betaln(a, b + x) - (r + x) * np.log(alpha + T)
    # Dropped out right after the last repeat purchase (only possible when x > 0).
    dropped = betaln(a + 1, np.where(repeat, b + x - 1, b)) - (r + x) * np.log(alpha + t_x)
    ll: FloatArray = common + np.where(repeat, np.logaddexp(survived, dropped), survived)
    return ll


def bgnbd_gradient(
    params: BGNBDParameters | tuple[float, float, float, float],
    x: npt.ArrayLike,
    t_x: npt.ArrayLike,
    T: npt.ArrayLike,  # noqa: N803 - the model's standard notation
) -> FloatArray:
    """Gradient of each customer's log-likelihood with respect to ``(r, alpha, a, b)``.

    Parameters
    ----------
    params
        ``(r, alpha, a, b)`` or fitted parameters.
    x, t_x, T
        Per customer, as in :func:`bgnbd_log_likelihood` (time units).

    Returns
    -------
    numpy.ndarray
        Shape ``(customers, 4)``: derivatives by ``r``, ``alpha``, ``a``, ``b``.
    """
    r, alpha, a, b = _unpack(params)
    x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    repeat = x > 0
    b_dropped = np.where(repeat, b + x - 1, b)
    survived = betaln(a, b + x) - (r + x) * np.log(alpha + T)
    dropped = betaln(a + 1, b_dropped) - (r + x) * np.log(alpha + t_x)
    both = np.where(repeat, np.logaddexp(survived, dropped), survived)
    w_survived = np.exp(survived - both)
    w_dropped = np.where(repeat, np.exp(dropped - both), 0.0)
    psi_all = digamma(a + b + x)
    d_r = (
        digamma(r + x)
        - digamma(r)
        + np.log(alpha)
        - w_survived * np.log(alpha + T)
        - w_dropped * np.log(alpha + t_x)
    )
    d_alpha = r / alpha - (r + x) * (w_survived / (alpha + T) + w_dropped / (alpha + t_x))
    d_a = (
        digamma(a + b)
        - digamma(a)
        + w_survived * (digamma(a) - psi_all)
        + w_dropped * (digamma(a + 1) - psi_all)
    )
    d_b = (
        digamma(a + b)
        - digamma(b)
        + w_survived * (digamma(b + x) - psi_all)
        + w_dropped * (digamma(b_dropped) - psi_all)
    )
    return np.stack([d_r, d_alpha, d_a, d_b], axis=-1)


@dataclass(frozen=True)
class PooledHistories:
    """Customer histories pooled for fast likelihood evaluation.

    Customers with the same ``(x, t_x, T)`` are one row with a weight, and the special functions
    that depend on ``x`` only are evaluated once per distinct ``x``.

    Attributes
    ----------
    x, t_x, T : numpy.ndarray
        The distinct rows (time units).
    weight : numpy.ndarray
        Customers per row.
    x_values : numpy.ndarray
        The distinct values of ``x``.
    x_index : numpy.ndarray
        Index of each row's ``x`` in ``x_values``.
    """

    x: FloatArray
    t_x: FloatArray
    T: FloatArray
    weight: FloatArray
    x_values: FloatArray
    x_index: npt.NDArray[np.int64]

    @classmethod
    def of(cls, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike) -> PooledHistories:  # noqa: N803
        """Pool per-customer arrays (time units)."""
        rows, weight, _ = pool_rows(x, t_x, T)
        x_values, x_index = np.unique(rows[0], return_inverse=True)
        return cls(rows[0], rows[1], rows[2], weight, x_values, x_index.reshape(-1))

    def log_likelihood_and_gradient(self, theta: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Each row's BG/NBD log-likelihood and its gradient by ``(r, alpha, a, b)``.

        The same figures as :func:`bgnbd_log_likelihood` and :func:`bgnbd_gradient`.
        """
        r, alpha, a, b = (float(v) for v in theta)
        xs, at = self.x_values, self.x_index
        repeat_x = xs > 0
        b_dropped = np.where(repeat_x, b + xs - 1, b)
        log_beta = betaln(a, b)
        # Functions of x alone, then gathered per row.
        head = (gammaln(r + xs) - gammaln(r) + r * np.log(alpha) - log_beta)[at]
        beta_survived = betaln(a, b + xs)[at]
        beta_dropped = betaln(a + 1, b_dropped)[at]
        psi_all = digamma(a + b + xs)
        d_r_x = (digamma(r + xs) - digamma(r) + np.log(alpha))[at]
        d_a_survived = (digamma(a) - psi_all)[at]
        d_a_dropped = (digamma(a + 1) - psi_all)[at]
        d_b_survived = (digamma(b + xs) - psi_all)[at]
        d_b_dropped = (digamma(b_dropped) - psi_all)[at]
        x, repeat = self.x, repeat_x[at]
        log_age = np.log(alpha + self.T)
        log_recency = np.log(alpha + self.t_x)
        survived = beta_survived - (r + x) * log_age
        dropped = beta_dropped - (r + x) * log_recency
        both = np.where(repeat, np.logaddexp(survived, dropped), survived)
        w_survived = np.exp(survived - both)
        w_dropped = np.where(repeat, 1 - w_survived, 0.0)
        base_ab = digamma(a + b)
        gradient = np.stack(
            [
                d_r_x - w_survived * log_age - w_dropped * log_recency,
                r / alpha - (r + x) * (w_survived / (alpha + self.T) + w_dropped / (alpha + self.t_x)),
                base_ab - digamma(a) + w_survived * d_a_survived + w_dropped * d_a_dropped,
                base_ab - digamma(b) + w_survived * d_b_survived + w_dropped * d_b_dropped,
            ],
            axis=-1,
        )
        return head + both, gradient


def fit_bgnbd_model(
    x: npt.ArrayLike,
    t_x: npt.ArrayLike,
    T: npt.ArrayLike,  # noqa: N803 - the model's standard notation
    time_unit_days: float = 7.0,
    min_repeat_customers: int = MIN_REPEAT_CUSTOMERS,
) -> FitResult[BGNBDParameters]:
    """Fit the BG/NBD model with standard errors (observed information; see :mod:`.fitting`).

    Parameters
    ----------
    x, t_x, T
        Per customer: repeat purchases, time of the last repeat purchase and time observed
        since the first purchase (time units).
    time_unit_days
        Length of the time unit (days), recorded in the model.
    min_repeat_customers
        The fewest customers with a repeat purchase accepted (people).

    Returns
    -------
    FitResult
        Estimates of ``r``, ``alpha`` (time units), ``a``, ``b`` with standard errors.

    Raises
    ------
    IdentificationError
        With fewer than ``min_repeat_customers`` repeat customers.
    """
    check_repeat_customers(x, min_repeat_customers, "BG/NBD")
    pooled = PooledHistories.of(x, t_x, T)
    weight = pooled.weight

    def combined(phi: FloatArray) -> tuple[float, FloatArray]:
        theta = np.exp(phi)
        ll, per_row = pooled.log_likelihood_and_gradient(theta)
        return float(weighted_sum(weight, ll)), weighted_sum(weight, per_row) * theta

    def total(phi: FloatArray) -> float:
        return combined(phi)[0]

    theta, covariance, ll, surface = fit_positive_parameters(
        total, np.zeros(4), float(weight.sum()), combined=combined
    )
    customers = int(weight.sum())
    r, alpha, a, b = (float(v) for v in theta)
    model = BGNBDParameters(r, alpha, a, b, time_unit_days, ll, customers)
    names = ("r", "alpha", "a", "b")
    return FitResult(model, names, theta, covariance, ("log",) * 4, ll, customers, surface=surface)


def expected_transactions(params: BGNBDParameters, t: npt.ArrayLike) -> FloatArray:
    """Expected repeat purchases of a customer in the ``t`` time units after the first purchase.

    ``E[X(t)] = (a+b-1)/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))]``
    (Fader, Hardie and Lee 2005, eq. 9): the conditional expectation of a customer with no
    history (``x = t_x = T = 0``).

    Parameters
    ----------
    params
        Fitted parameters.
    t
        Time since the first purchase (time units, >= 0).

    Returns
    -------
    numpy.ndarray
        Expected repeat purchases (count).
    """
    t = np.asarray(t, dtype=np.float64)
    zero = np.zeros_like(t)
    return conditional_expected_transactions(params, t, zero, zero, zero)


def count_probability(params: BGNBDParameters, count: npt.ArrayLike, t: npt.ArrayLike) -> FloatArray:
    """Chance of exactly ``count`` repeat purchases in the ``t`` time units after the first.

    ``P(X(t) = x) = B(a, b+x)/B(a, b) NB(x; r, alpha, t) + [x>0] B(a+1, b+x-1)/B(a, b)
    P(NB(r, alpha, t) >= x)`` (Fader, Hardie and Lee 2005, eq. 8), where ``NB`` is the negative
    binomial count of a gamma(r, alpha) Poisson process over ``t``; its tail is the regularized
    incomplete beta ``I_(t/(alpha+t))(x, r)``.

    Parameters
    ----------
    params
        Fitted parameters.
    count
        Number of repeat purchases (whole, >= 0); broadcasts against ``t``.
    t
        Time since the first purchase (time units, >= 0).

    Returns
    -------
    numpy.ndarray
        Probabilities (0-1).
    """
    r, alpha, a, b = _unpack(params)
    x = np.asarray(count, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    share = t / (alpha + t)
    log_nb = gammaln(r + x) - gammaln(r) - gammaln(x + 1) + r * np.log1p(-share) + xlogy(x, share)
    alive = np.exp(betaln(a, b + x) - betaln(a, b) + log_nb)
    repeat = x > 0
    safe_x = np.where(repeat, x, 1.0)
    dropped = np.exp(betaln(a + 1, np.where(repeat, b + x - 1, b)) - betaln(a, b)) * betainc(safe_x, r, share)
    result: FloatArray = alive + np.where(repeat, dropped, 0.0)
    return result


LOG_BOUND = 12.0
"""The search of :func:`fit_bgnbd` keeps each parameter within ``exp(-12)`` .. ``exp(12)``."""


def parameters_at_bound(params: BGNBDParameters, tolerance: float = 1e-3) -> dict[str, str]:
    """The parameters of a :func:`fit_bgnbd` estimate that sit at a bound of its search.

    A parameter at ``exp(+-12)`` was not pinned down by the data (too few repeat purchases, or
    a horizon too short to see dropouts); the predictions that use it are not reliable.

    Returns
    -------
    dict of str to str
        Parameter name (``r``, ``alpha``, ``a``, ``b``) -> ``lower`` or ``upper``; empty when none.
    """
    found = {}
    for name in ("r", "alpha", "a", "b"):
        log_value = math.log(getattr(params, name))
        if abs(log_value) >= LOG_BOUND - tolerance:
            found[name] = "lower" if log_value < 0 else "upper"
    return found


def fit_bgnbd(
    x: npt.ArrayLike,
    t_x: npt.ArrayLike,
    T: npt.ArrayLike,  # noqa: N803 - the model's standard notation
    time_unit_days: float = 7.0,
) -> BGNBDParameters:
    """Fit the BG/NBD model by maximum likelihood.

    Customers with the same ``(x, t_x, T)`` are pooled with a weight, so a fit on a few
    hundred thousand customers takes about a second. The search runs on the logarithms of the
    parameters (L-BFGS-B from ``r = alpha = a = b = 1``).

    Parameters
    ----------
    x, t_x, T
        Per customer: repeat purchases, time of the last repeat purchase and time observed
        since the first purchase (time units); see :func:`rfm_from_transactions` (its ``age``).
    time_unit_days
        Length of the time unit of ``t_x`` and ``T`` (days), recorded in the result.

    Returns
    -------
    BGNBDParameters
        The estimates, the maximized log-likelihood and the number of customers.

    Raises
    ------
    ValueError
        With no customer, no repeat purchase at all, or when the search does not converge.
    """
    data = np.stack([np.asarray(v, dtype=np.float64) for v in (x, t_x, T)])
    if data.shape[1] == 0:
        raise ValueError("no customers to fit the BG/NBD model on")
    if not (data[0] > 0).any():
        raise ValueError("no customer made a repeat purchase: the BG/NBD model cannot be fitted")
    rows, weight = np.unique(data, axis=1, return_counts=True)
    total = float(weight.sum())

    def negative(log_params: FloatArray) -> float:
        params = np.exp(log_params)
        ll = bgnbd_log_likelihood((params[0], params[1], params[2], params[3]), *rows)
        value = -float(weight @ ll) / total
        return value if np.isfinite(value) else 1e300

    found = minimize(negative, np.zeros(4), method="L-BFGS-B", bounds=[(-LOG_BOUND, LOG_BOUND)] * 4)
    if not found.success:
        raise ValueError(f"the BG/NBD fit did not converge: {found.message}")
    r, alpha, a, b = (float(v) for v in np.exp(found.x))
    return BGNBDParameters(r, alpha, a, b, time_unit_days, -float(found.fun) * total, int(total))


def probability_alive(
    params: BGNBDParameters,
    x: npt.ArrayLike,
    t_x: npt.ArrayLike,
    T: npt.ArrayLike,  # noqa: N803 - the model's standard notation
) -> FloatArray:
    """Chance that each customer is still alive at ``T`` given ``(x, t_x, T)`` (0-1)."""
    r, alpha, a, b = _unpack(params)
    x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    return np.exp(-np.logaddexp(0.0, _log_odds_dead(r, alpha, a, b, x, t_x, T)))


def conditional_expected_transactions(
    params: BGNBDParameters,
    t: npt.ArrayLike,
    x: npt.ArrayLike,
    t_x: npt.ArrayLike,
    T: npt.ArrayLike,  # noqa: N803 - the model's standard notation
) -> FloatArray:
    """Expected purchases in the next ``t`` time units, ``E[Y(t) | x, t_x, T]``.

    The standard formula (Fader, Hardie and Lee 2005, eq. 10),

    ``(a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x) * 2F1(r+x, b+x; a+b+x-1; z)]
    / (1 + [x>0] * a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x))``, ``z = t/(alpha+T+t)``,

    evaluated with Euler's transformation ``(1-z)^(r+x) 2F1(r+x, b+x; c; z) =
    (1-z)^(a-1) 2F1(a+b-1-r, a-1; c; z)``, which stays finite for customers with many purchases.

    Parameters
    ----------
    params
        Fitted parameters.
    t
        Forecast period (time units); broadcasts against the customer arrays.
    x, t_x, T
        Per customer, as in :func:`fit_bgnbd` (time units).

    Returns
    -------
    numpy.ndarray
        Expected number of purchases per customer (count).
    """
    r, alpha, a, b = _unpack(params)
    t, x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (t, x, t_x, T))
    if abs(a - 1) < 1e-9:  # the formula's 0/0 at a = 1; its limit is continuous
        a = 1 + 1e-9
    c = a + b + x - 1
    z = t / (alpha + T + t)
    with np.errstate(invalid="ignore", over="ignore"):
        term = (1 - z) ** (a - 1) * hyp2f1(a + b - 1 - r, a - 1, c, z)
    expected_if_alive = c / (a - 1) * (1 - term)
    failed = ~np.isfinite(expected_if_alive)
    if failed.any():
        # With a, b in the hundreds the hypergeometric series overflows; the dropout chance is
        # then all but fixed at p = a/(a+b), and with lambda | alive ~ gamma(r+x, alpha+T),
        # E[Y(t)] = E[(1 - exp(-lambda p t)) / p] = (1 - ((alpha+T)/(alpha+T+p t))^(r+x)) / p,
        # the limit as a + b grows (error of order 1/(a+b)).
        p = a / (a + b)
        limit = -np.expm1(-(r + x) * np.log1p(p * t / (alpha + T))) / p
        expected_if_alive = np.where(failed, limit, expected_if_alive)
    result: FloatArray = expected_if_alive * np.exp(
        -np.logaddexp(0.0, _log_odds_dead(r, alpha, a, b, x, t_x, T))
    )
    return result


def discounted_expected_transactions(
    params: BGNBDParameters,
    x: npt.ArrayLike,
    t_x: npt.ArrayLike,
    T: npt.ArrayLike,  # noqa: N803 - the model's standard notation
    horizon_days: int,
    daily_discount: float,
    step_days: int = 7,
) -> FloatArray:
    """Discounted expected purchases over the next ``horizon_days`` days.

    ``sum_k daily_discount^(middle of step k) * (E[Y(t_k)] - E[Y(t_(k-1))])`` on a grid of
    ``step_days`` days (the last step may be shorter); customers with the same
    ``(x, t_x, T)`` are computed once.

    Parameters
    ----------
    params
        Fitted parameters.
    x, t_x, T
        Per customer (time units of ``params``).
    horizon_days
        Forecast horizon (days).
    daily_discount
        Discount factor per day, ``(1 + annual rate)^(-1/365)`` (0-1].
    step_days
        Grid step (days).

    Returns
    -------
    numpy.ndarray
        Discounted expected purchases per customer (count, valued at the start of the horizon).
    """
    data = np.stack([np.asarray(v, dtype=np.float64) for v in (x, t_x, T)])
    if data.shape[1] == 0 or horizon_days <= 0:
        return np.zeros(data.shape[1])
    rows, inverse = np.unique(data, axis=1, return_inverse=True)
    grid_days = np.unique(np.append(np.arange(0, horizon_days, step_days), horizon_days)).astype(np.float64)
    cumulative = conditional_expected_transactions(
        params, grid_days[:, None] / params.time_unit_days, rows[0], rows[1], rows[2]
    )
    cumulative[0] = 0.0
    weights = daily_discount ** ((grid_days[1:] + grid_days[:-1]) / 2)
    per_row = weights @ np.diff(cumulative, axis=0)
    values: FloatArray = per_row[inverse.reshape(-1)]
    return values


def _unpack(params: BGNBDParameters | tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    if isinstance(params, BGNBDParameters):
        return params.r, params.alpha, params.a, params.b
    r, alpha, a, b = params
    return float(r), float(alpha), float(a), float(b)


def _log_odds_dead(
    r: float,
    alpha: float,
    a: float,
    b: float,
    x: FloatArray,
    t_x: FloatArray,
    T: FloatArray,  # noqa: N803
) -> FloatArray:
    """Log of ``[x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)``; ``-inf`` when ``x = 0``."""
    repeat = x > 0
    safe = np.where(repeat, b + x - 1, 1.0)
    log_odds = np.log(a / safe) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return np.where(repeat, log_odds, -np.inf)
