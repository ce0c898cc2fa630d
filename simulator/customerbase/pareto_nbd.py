"""The Pareto/NBD model of repeat buying (Schmittlein, Morrison and Colombo 1987).

While alive a customer buys at a Poisson rate ``lambda`` (gamma distributed across customers,
shape ``r``, rate ``alpha``) and stays alive for an exponential lifetime of rate ``mu`` (gamma,
shape ``s``, rate ``beta``), unobserved. Unlike the BG/NBD model, dropping out can happen at any
time, not only right after a purchase. Inputs are the BG/NBD ones (``x``, ``t_x``, ``T`` in time
units of ``time_unit_days`` days).

**Likelihood.** Following Fader and Hardie's note "A note on deriving the Pareto/NBD model and
related expressions" (2005, eqs. 18-20), with ``lambda`` and ``mu`` integrated out,

``L = Gamma(r+x) alpha^r beta^s / Gamma(r) * [1 / ((alpha+T)^(r+x) (beta+T)^s) + s/(r+s+x) A0]``,
``A0 = (r+s+x) integral_(t_x)^T (alpha+y)^-(r+x) (beta+y)^-(s+1) dy = F(t_x) - F(T)``.

The note writes ``F(y)`` with ``2F1(r+s+x, s+1; r+s+x+1; (alpha-beta)/(alpha+y)) /
(alpha+y)^(r+s+x)`` (``alpha >= beta``) or ``2F1(r+s+x, r+x; r+s+x+1; (beta-alpha)/(beta+y)) /
(beta+y)^(r+s+x)``; both hypergeometric terms grow like ``(1-z)^-(r+x)`` and overflow for
customers with many purchases. Euler's transformation ``2F1(a, b; c; z) = (1-z)^(c-a-b) 2F1(c-a,
c-b; c; z)`` turns them into ``2F1(1, r+x; r+s+x+1; z)`` and ``2F1(1, s+1; r+s+x+1; z)``, whose
series have positive terms bounded by a geometric series, so

- ``alpha >= beta``: ``F(y) = (alpha+y)^-(r+x) (beta+y)^-s 2F1(1, r+x; r+s+x+1; (alpha-beta)/(alpha+y))``;
- ``alpha < beta``: ``F(y) = (alpha+y)^-(r+x-1) (beta+y)^-(s+1) 2F1(1, s+1; r+s+x+1; (beta-alpha)/(beta+y))``,

evaluated in logarithms; ``A0 = F(t_x) (1 - F(T)/F(t_x))`` is formed with ``log1p``. The tests
check it against direct numerical integration.

**Forecasts** (same note): ``P(alive | x, t_x, T) = [Gamma(r+x) alpha^r beta^s / (Gamma(r)
(alpha+T)^(r+x) (beta+T)^s)] / L`` (eq. 22); ``E[Y(t) | x, t_x, T] = P(alive) (r+x)(beta+T) /
((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)]`` (eq. 41); ``E[X(t)] = r beta / (alpha
(s-1)) [1 - (beta/(beta+t))^(s-1)]`` (eq. 27), with the limit ``log`` form at ``s = 1``.
``P(X(t) = x)`` mixes the negative binomial count over the lifetime ``min(tau, t)``, integrated
numerically over ``tau`` (Gauss-Legendre in the lifetime's distribution function).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import gammaln, hyp2f1, xlogy

from .fitting import (
    MIN_REPEAT_CUSTOMERS,
    FitResult,
    check_repeat_customers,
    fit_positive_parameters,
    pool_rows,
    weighted_sum,
)

__all__ = ["ParetoNBDParameters", "fit_pareto_nbd", "pareto_nbd_log_likelihood"]

FloatArray = npt.NDArray[np.float64]
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(96)


@dataclass(frozen=True)
class ParetoNBDParameters:
    """Pareto/NBD parameters.

    Attributes
    ----------
    r : float
        Gamma shape of the purchase rate (unitless).
    alpha : float
        Gamma rate of the purchase rate (time units).
    s : float
        Gamma shape of the dropout rate (unitless).
    beta : float
        Gamma rate of the dropout rate (time units).
    time_unit_days : float
        Length of the time unit (days; 7 = weeks).
    """

    r: float
    alpha: float
    s: float
    beta: float
    time_unit_days: float = 7.0

    def log_likelihood_of(self, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike) -> FloatArray:  # noqa: N803
        """Log-likelihood of each customer's ``(x, t_x, T)``; see :func:`pareto_nbd_log_likelihood`."""
        return pareto_nbd_log_likelihood((self.r, self.alpha, self.s, self.beta), x, t_x, T)

    def probability_alive(self, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike) -> FloatArray:  # noqa: N803
        """Chance that each customer is still alive at ``T`` (0-1)."""
        alive, total = _log_terms((self.r, self.alpha, self.s, self.beta), x, t_x, T)
        result: FloatArray = np.exp(alive - total)
        return result

    def conditional_expected_transactions(
        self,
        t: npt.ArrayLike,
        x: npt.ArrayLike,
        t_x: npt.ArrayLike,
        T: npt.ArrayLike,  # noqa: N803
    ) -> FloatArray:
        """Expected purchases in the next ``t`` time units given ``(x, t_x, T)`` (count)."""
        t, x, T = (np.asarray(v, dtype=np.float64) for v in (t, x, T))
        if_alive = (self.r + x) / (self.alpha + T) * _lifetime_exposure(self.s, self.beta + T, t)
        result: FloatArray = self.probability_alive(x, t_x, T) * if_alive
        return result

    def expected_transactions(self, t: npt.ArrayLike) -> FloatArray:
        """Expected repeat purchases of a customer in the ``t`` time units after the first (count)."""
        result: FloatArray = (
            self.r / self.alpha * _lifetime_exposure(self.s, self.beta, np.asarray(t, np.float64))
        )
        return result

    def count_probability(self, count: npt.ArrayLike, t: npt.ArrayLike) -> FloatArray:
        """``P(X(t) = count)``: chance of exactly ``count`` repeat purchases in ``t`` time units (0-1)."""
        x, t = np.broadcast_arrays(np.asarray(count, np.float64), np.asarray(t, np.float64))
        r, alpha, s, beta = self.r, self.alpha, self.s, self.beta

        log_head = gammaln(r + x) - gammaln(r) - gammaln(x + 1)

        def nbd(u: FloatArray) -> FloatArray:
            share = u / (alpha + u)
            result: FloatArray = np.exp(log_head + r * np.log1p(-share) + xlogy(x, share))
            return result

        survive = (beta / (beta + t)) ** s
        # Dying at tau < t: integrate over v = P(tau <= u) in [0, 1 - survive], u = beta((1-v)^(-1/s) - 1).
        upper = 1 - survive
        total = survive * nbd(t)
        for node, weight in zip(_NODES, _WEIGHTS, strict=True):
            v = upper * (node + 1) / 2
            u = beta * np.expm1(-np.log1p(-v) / s)
            total = total + weight * upper / 2 * nbd(np.minimum(u, t))
        result: FloatArray = total
        return result


def pareto_nbd_log_likelihood(
    params: tuple[float, float, float, float],
    x: npt.ArrayLike,
    t_x: npt.ArrayLike,
    T: npt.ArrayLike,  # noqa: N803 - the model's standard notation
) -> FloatArray:
    """Log-likelihood of each customer's ``(x, t_x, T)`` (see the module docstring).

    Parameters
    ----------
    params
        ``(r, alpha, s, beta)``, ``alpha`` and ``beta`` in the time unit of ``t_x`` and ``T``.
    x, t_x, T
        Per customer: repeat purchases, time of the last one since the first purchase, time
        from the first purchase to the end of the calibration period (time units).

    Returns
    -------
    numpy.ndarray
        Log-likelihood per customer.
    """
    return _log_terms(params, x, t_x, T)[1]


def fit_pareto_nbd(
    x: npt.ArrayLike,
    t_x: npt.ArrayLike,
    T: npt.ArrayLike,  # noqa: N803 - the model's standard notation
    time_unit_days: float = 7.0,
    min_repeat_customers: int = MIN_REPEAT_CUSTOMERS,
) -> FitResult[ParetoNBDParameters]:
    """Fit the Pareto/NBD model by maximum likelihood, with observed-information standard errors.

    Parameters
    ----------
    x, t_x, T
        Per customer (time units); customers with equal rows are computed once.
    time_unit_days
        Length of the time unit (days), recorded in the model.
    min_repeat_customers
        The fewest customers with a repeat purchase accepted (people).

    Returns
    -------
    FitResult
        Estimates of ``r``, ``alpha``, ``s``, ``beta`` (``alpha``, ``beta`` in time units).

    Raises
    ------
    IdentificationError
        With fewer than ``min_repeat_customers`` repeat customers.
    """
    check_repeat_customers(x, min_repeat_customers, "Pareto/NBD")
    rows, weight, _ = pool_rows(x, t_x, T)

    def total(phi: FloatArray) -> float:
        theta = np.exp(phi)
        ll = pareto_nbd_log_likelihood((theta[0], theta[1], theta[2], theta[3]), *rows)
        return float(weighted_sum(weight, ll))

    # Start from the scale of the data: alpha, beta of the order of the mean observation time.
    start = np.log(
        np.array([1.0, max(float(np.mean(rows[2])), 1e-3), 1.0, max(float(np.mean(rows[2])), 1e-3)])
    )
    theta, covariance, ll, surface = fit_positive_parameters(total, start, float(weight.sum()))
    r, alpha, s, beta = (float(v) for v in theta)
    return FitResult(
        ParetoNBDParameters(r, alpha, s, beta, time_unit_days),
        ("r", "alpha", "s", "beta"),
        theta,
        covariance,
        ("log",) * 4,
        ll,
        int(weight.sum()),
        surface=surface,
    )


def _log_terms(
    params: tuple[float, float, float, float],
    x: npt.ArrayLike,
    t_x: npt.ArrayLike,
    T: npt.ArrayLike,  # noqa: N803
) -> tuple[FloatArray, FloatArray]:
    """Log of the 'alive at T' part of the likelihood and log of the whole likelihood."""
    r, alpha, s, beta = (float(v) for v in params)
    x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = head - (r + x) * np.log(alpha + T) - s * np.log(beta + T)
    log_f_recency = _log_f(r, alpha, s, beta, x, t_x)
    log_f_age = _log_f(r, alpha, s, beta, x, T)
    with np.errstate(divide="ignore"):
        # A0 = F(t_x) - F(T) >= 0; zero when t_x = T.
        log_a0 = log_f_recency + np.log(-np.expm1(np.minimum(log_f_age - log_f_recency, 0.0)))
    dead = head + np.log(s) - np.log(r + s + x) + log_a0
    return alive, np.logaddexp(alive, dead)


def _log_f(r: float, alpha: float, s: float, beta: float, x: FloatArray, y: FloatArray) -> FloatArray:
    """``log F(y)`` of the module docstring (Euler-transformed, finite for any ``x``)."""
    c = r + s + x + 1
    if alpha >= beta:
        z = (alpha - beta) / (alpha + y)
        result: FloatArray = (
            -(r + x) * np.log(alpha + y) - s * np.log(beta + y) + np.log(hyp2f1(1.0, r + x, c, z))
        )
    else:
        z = (beta - alpha) / (beta + y)
        result = (
            -(r + x - 1) * np.log(alpha + y) - (s + 1) * np.log(beta + y) + np.log(hyp2f1(1.0, s + 1, c, z))
        )
    return result


def _lifetime_exposure(s: float, base: float | FloatArray, t: FloatArray) -> FloatArray:
    """``base/(s-1) [1 - (base/(base+t))^(s-1)]``, expected time alive in ``t``, times ``mu``'s mean.

    Stable at ``s = 1``, where it is ``base log(1 + t/base)``.
    """
    log_ratio = np.log1p(t / base)
    if abs(s - 1) < 1e-10:
        result: FloatArray = base * log_ratio
    else:
        result = -base * np.expm1(-(s - 1) * log_ratio) / (s - 1)
    return result
