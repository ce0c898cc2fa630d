"""The gamma-gamma model of spend per purchase (Fader, Hardie and Lee 2005, "RFM and CLV").

Each purchase of a customer is worth ``z ~ gamma(p, nu)`` (shape ``p``, rate ``nu``), so the
customer's mean spend is ``p / nu``; ``nu ~ gamma(q, gamma)`` across customers. Spend is taken as
independent of the purchase process (check it: the correlation of ``frequency`` and
``monetary_value`` across customers should be near zero). The observed summary of a customer with
``x >= 1`` repeat purchases is their mean value ``m_x`` (the first purchase left out, as in the
paper), ``m_x | nu ~ gamma(p x, nu x)``, so with ``nu`` integrated out

``f(m_x | x) = Gamma(p x + q) / (Gamma(p x) Gamma(q)) gamma^q m_x^(p x - 1) x^(p x)
/ (gamma + m_x x)^(p x + q)``,

and the expected spend per future purchase given ``(x, m_x)`` is

``E[Z | x, m_x] = p (gamma + x m_x) / (p x + q - 1)``, a weighted mean of the population mean
``p gamma / (q - 1)`` and ``m_x`` (finite for ``q > 1``). Customers with no repeat purchase get
the population mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import digamma, gammaln

from .fitting import (
    MIN_REPEAT_CUSTOMERS,
    FitResult,
    check_repeat_customers,
    fit_positive_parameters,
)

__all__ = ["GammaGammaParameters", "expected_revenue", "fit_gamma_gamma"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class GammaGammaParameters:
    """Gamma-gamma parameters of spend per purchase.

    Attributes
    ----------
    p : float
        Gamma shape of the value of a purchase (unitless).
    q : float
        Gamma shape of ``nu`` across customers (unitless).
    gamma : float
        Gamma rate of ``nu`` (currency).
    """

    p: float
    q: float
    gamma: float

    @property
    def mean_spend(self) -> float:
        """Population mean spend per purchase, ``p gamma / (q - 1)`` (currency; inf if ``q <= 1``)."""
        return self.p * self.gamma / (self.q - 1) if self.q > 1 else float("inf")

    def log_likelihood_of(self, x: npt.ArrayLike, m: npt.ArrayLike) -> FloatArray:
        """Log density of each customer's mean spend ``m`` over ``x >= 1`` purchases."""
        x, m = (np.asarray(v, dtype=np.float64) for v in (x, m))
        p, q, g = self.p, self.q, self.gamma
        result: FloatArray = (
            gammaln(p * x + q)
            - gammaln(p * x)
            - gammaln(q)
            + q * np.log(g)
            + (p * x - 1) * np.log(m)
            + p * x * np.log(x)
            - (p * x + q) * np.log(g + m * x)
        )
        return result

    def conditional_expected_spend(self, x: npt.ArrayLike, m: npt.ArrayLike) -> FloatArray:
        """Expected value of a future purchase given ``x`` purchases of mean value ``m`` (currency).

        Customers with ``x = 0`` (``m`` ignored) get the population mean.
        """
        x = np.asarray(x, dtype=np.float64)
        m = np.where(x > 0, np.asarray(m, dtype=np.float64), 0.0)
        result: FloatArray = self.p * (self.gamma + x * m) / (self.p * x + self.q - 1)
        return result


def fit_gamma_gamma(
    frequency: npt.ArrayLike,
    monetary_value: npt.ArrayLike,
    min_repeat_customers: int = MIN_REPEAT_CUSTOMERS,
) -> FitResult[GammaGammaParameters]:
    """Fit the gamma-gamma model on the customers with repeat purchases.

    Parameters
    ----------
    frequency
        Repeat purchases per customer (count); customers with 0 are left out.
    monetary_value
        Mean value of those repeat purchases (currency, > 0).
    min_repeat_customers
        The fewest customers with a repeat purchase accepted (people).

    Returns
    -------
    FitResult
        Estimates of ``p``, ``q``, ``gamma`` (currency) with observed-information errors.

    Raises
    ------
    IdentificationError
        With fewer than ``min_repeat_customers`` repeat customers.
    ValueError
        When a repeat customer's mean value is not > 0.
    """
    x_all = np.asarray(frequency, dtype=np.float64)
    m_all = np.asarray(monetary_value, dtype=np.float64)
    check_repeat_customers(x_all, min_repeat_customers, "gamma-gamma")
    keep = x_all > 0
    x, m = x_all[keep], m_all[keep]
    if not np.all(np.isfinite(m) & (m > 0)):
        raise ValueError("every repeat customer's mean purchase value must be > 0 for the gamma-gamma model")

    def total(phi: FloatArray) -> float:
        p, q, g = np.exp(phi)
        return float(GammaGammaParameters(p, q, g).log_likelihood_of(x, m).sum())

    def gradient(phi: FloatArray) -> FloatArray:
        p, q, g = np.exp(phi)
        common = digamma(p * x + q)
        d_p = x * (common - digamma(p * x) + np.log(m) + np.log(x) - np.log(g + m * x))
        d_q = common - digamma(q) + np.log(g) - np.log(g + m * x)
        d_g = q / g - (p * x + q) / (g + m * x)
        result: FloatArray = np.array([d_p.sum() * p, d_q.sum() * q, d_g.sum() * g])
        return result

    start = np.log(np.array([1.0, 2.0, float(np.mean(m))]))
    theta, covariance, ll, surface = fit_positive_parameters(total, start, float(x.size), gradient)
    p, q, g = (float(v) for v in theta)
    return FitResult(
        GammaGammaParameters(p, q, g),
        ("p", "q", "gamma"),
        theta,
        covariance,
        ("log",) * 3,
        ll,
        x.size,
        surface=surface,
    )


def expected_revenue(
    spend: GammaGammaParameters, transactions: npt.ArrayLike, x: npt.ArrayLike, m: npt.ArrayLike
) -> FloatArray:
    """Expected revenue of each customer: expected purchases times expected spend per purchase.

    Parameters
    ----------
    spend
        Fitted gamma-gamma parameters.
    transactions
        Expected purchases in the period, e.g. a model's ``conditional_expected_transactions`` (count).
    x, m
        Repeat purchases and their mean value in the calibration period (count, currency).

    Returns
    -------
    numpy.ndarray
        Expected revenue (currency).
    """
    result: FloatArray = np.asarray(transactions, dtype=np.float64) * spend.conditional_expected_spend(x, m)
    return result
