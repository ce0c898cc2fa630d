"""A latent-class BG/NBD model: a finite mixture of BG/NBD segments.

Customers belong to one of ``K`` segments, unobserved; segment ``k`` holds a share ``w_k`` of the
customers and follows the BG/NBD model with its own ``(r_k, alpha_k, a_k, b_k)``
(:mod:`.bgnbd`). A customer's likelihood is ``sum_k w_k L_k(x, t_x, T)``; the posterior chance of
belonging to segment ``k`` is ``w_k L_k / sum_j w_j L_j``. Each segment's parameters can become
a persona of the simulator.

**Fitting.** Maximum likelihood: a few EM rounds (responsibilities, then a weighted BG/NBD fit
per segment) from each of several starts (segments cut by the observed purchase rate ``x /
(T + 1)``, and random soft assignments from a seeded generator); from the start that got
furthest, a direct L-BFGS-B search over all parameters with the analytic gradient. Segments are numbered by
their mean purchase rate ``r / alpha``, lowest first. Standard errors come from the observed
information of the mixture likelihood (:mod:`.fitting`); the weights' intervals are on the
log-odds scale. :func:`select_latent_classes` fits 1 to 4 segments and keeps the count with the
lowest BIC.

**Forecasts** mix the segments' BG/NBD forecasts: with the weights for a new customer
(``E[X(t)]``, ``P(X(t) = x)``), with the posterior segment chances for a customer with a history
(``E[Y(t) | x, t_x, T]``, ``P(alive)``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import logsumexp, softmax

from .bgnbd import BGNBDParameters, PooledHistories, bgnbd_log_likelihood
from .bgnbd import conditional_expected_transactions as _bgnbd_conditional
from .bgnbd import count_probability as _bgnbd_count
from .bgnbd import expected_transactions as _bgnbd_expected
from .bgnbd import probability_alive as _bgnbd_alive
from .fitting import (
    MIN_REPEAT_CUSTOMERS,
    FitResult,
    LikelihoodSurface,
    check_repeat_customers,
    inverse_information,
    maximize_log_likelihood,
    natural_covariance,
    observed_information,
    weighted_sum,
)

__all__ = ["LatentClassBGNBD", "fit_latent_class", "select_latent_classes"]

FloatArray = npt.NDArray[np.float64]
_EM_ROUNDS = 6


@dataclass(frozen=True)
class LatentClassBGNBD:
    """A mixture of BG/NBD segments.

    Attributes
    ----------
    classes : tuple of BGNBDParameters
        Each segment's parameters (same time unit), by mean purchase rate, lowest first.
    weights : tuple of float
        Each segment's share of the customers (0-1, summing to 1).
    time_unit_days : float
        Length of the time unit (days; 7 = weeks).
    """

    classes: tuple[BGNBDParameters, ...]
    weights: tuple[float, ...]
    time_unit_days: float = 7.0

    def class_log_likelihoods(self, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike) -> FloatArray:  # noqa: N803
        """Log-likelihood of each customer under each segment, shape ``(customers, K)``."""
        return np.stack([bgnbd_log_likelihood(c, x, t_x, T) for c in self.classes], axis=-1)

    def posterior(self, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike) -> FloatArray:  # noqa: N803
        """Chance that each customer belongs to each segment, shape ``(customers, K)`` (0-1)."""
        joint = self.class_log_likelihoods(x, t_x, T) + np.log(self.weights)
        result: FloatArray = softmax(joint, axis=-1)
        return result

    def log_likelihood_of(self, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike) -> FloatArray:  # noqa: N803
        """Log-likelihood of each customer's ``(x, t_x, T)`` under the mixture."""
        result: FloatArray = logsumexp(self.class_log_likelihoods(x, t_x, T) + np.log(self.weights), axis=-1)
        return result

    def expected_transactions(self, t: npt.ArrayLike) -> FloatArray:
        """Expected repeat purchases of a new customer in the ``t`` time units after the first."""
        result: FloatArray = sum(
            (w * _bgnbd_expected(c, t) for c, w in zip(self.classes, self.weights, strict=True)),
            start=np.zeros(np.shape(t)),
        )
        return result

    def count_probability(self, count: npt.ArrayLike, t: npt.ArrayLike) -> FloatArray:
        """``P(X(t) = count)`` for a new customer (0-1)."""
        shape = np.broadcast_shapes(np.shape(count), np.shape(t))
        result: FloatArray = sum(
            (w * _bgnbd_count(c, count, t) for c, w in zip(self.classes, self.weights, strict=True)),
            start=np.zeros(shape),
        )
        return result

    def conditional_expected_transactions(
        self,
        t: npt.ArrayLike,
        x: npt.ArrayLike,
        t_x: npt.ArrayLike,
        T: npt.ArrayLike,  # noqa: N803
    ) -> FloatArray:
        """Expected purchases in the next ``t`` time units given ``(x, t_x, T)`` (count)."""
        each = np.stack([_bgnbd_conditional(c, t, x, t_x, T) for c in self.classes], axis=-1)
        result: FloatArray = (self.posterior(x, t_x, T) * each).sum(axis=-1)
        return result

    def probability_alive(self, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike) -> FloatArray:  # noqa: N803
        """Chance that each customer is still alive at ``T`` (0-1)."""
        each = np.stack([_bgnbd_alive(c, x, t_x, T) for c in self.classes], axis=-1)
        result: FloatArray = (self.posterior(x, t_x, T) * each).sum(axis=-1)
        return result

    def assign(self, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike) -> npt.NDArray[np.int64]:  # noqa: N803
        """Most likely segment of each customer (0 .. K-1)."""
        return np.asarray(self.posterior(x, t_x, T).argmax(axis=-1), dtype=np.int64)


def fit_latent_class(
    x: npt.ArrayLike,
    t_x: npt.ArrayLike,
    T: npt.ArrayLike,  # noqa: N803 - the model's standard notation
    classes: int = 2,
    time_unit_days: float = 7.0,
    random_starts: int = 3,
    seed: int = 0,
    min_repeat_customers: int = MIN_REPEAT_CUSTOMERS,
) -> FitResult[LatentClassBGNBD]:
    """Fit a mixture of ``classes`` BG/NBD segments by maximum likelihood (see the module docstring).

    Parameters
    ----------
    x, t_x, T
        Per customer (time units); see :func:`.bgnbd.fit_bgnbd_model`.
    classes
        Number of segments (1-6).
    time_unit_days
        Length of the time unit (days), recorded in the model.
    random_starts
        Random soft assignments tried besides the purchase-rate start.
    seed
        Seed of the random starts.
    min_repeat_customers
        The fewest customers with a repeat purchase accepted (people).

    Returns
    -------
    FitResult
        Parameters ``r[k]``, ``alpha[k]``, ``a[k]``, ``b[k]`` and ``weight[k]`` of each segment
        ``k = 1 .. K`` (``weight`` only with ``K > 1``), ``K - 1`` free weights.

    Raises
    ------
    IdentificationError
        With fewer than ``min_repeat_customers`` repeat customers.
    ValueError
        On a segment count outside 1-6, or when no start converges.
    """
    if not 1 <= classes <= 6:
        raise ValueError(f"the number of segments must be 1 to 6, got {classes}")
    check_repeat_customers(x, min_repeat_customers, "latent-class BG/NBD")
    pooled = PooledHistories.of(x, t_x, T)
    counts = pooled.weight
    n = float(counts.sum())
    k = classes

    def unpack(phi: FloatArray) -> tuple[FloatArray, FloatArray]:
        theta = np.exp(phi[: 4 * k]).reshape(k, 4)
        weights = softmax(np.concatenate([[0.0], phi[4 * k :]]))
        return theta, weights

    def combined(phi: FloatArray) -> tuple[float, FloatArray]:
        theta, weights = unpack(phi)
        each = [pooled.log_likelihood_and_gradient(theta[j]) for j in range(k)]
        with np.errstate(divide="ignore"):
            logs = np.stack([ll for ll, _ in each], axis=-1) + np.log(weights)
        mixture = logsumexp(logs, axis=-1)
        resp = np.exp(logs - mixture[:, None]) * counts[:, None]
        parts = [weighted_sum(resp[:, j], each[j][1]) * theta[j] for j in range(k)]
        mixing = resp.sum(axis=0)[1:] - n * weights[1:]
        return float(weighted_sum(counts, mixture)), np.concatenate([*parts, mixing])

    def total(phi: FloatArray) -> float:
        return combined(phi)[0]

    def gradient(phi: FloatArray) -> FloatArray:
        return combined(phi)[1]

    # EM from every start, then the direct search from the best of them.
    best: tuple[float, FloatArray] | None = None
    for resp in _starts(pooled, k, random_starts, seed):
        try:
            phi = _em(pooled, resp)
        except ValueError:
            continue
        ll = total(phi)
        if best is None or ll > best[0]:
            best = (ll, phi)
    if best is None:
        raise ValueError(f"no start of the {k}-segment fit converged")
    phi, ll = maximize_log_likelihood(total, best[1], scale=n, combined=combined, tolerance=1e-12)
    best = (ll, phi)
    ll, phi = best
    phi = _ordered(phi, k)

    def to_natural(point: FloatArray) -> FloatArray:
        theta, weights = unpack(point)
        return np.concatenate([theta.reshape(-1), weights]) if k > 1 else theta.reshape(-1)

    information = observed_information(total, phi, gradient)
    covariance = natural_covariance(phi, information, to_natural)
    estimates = to_natural(phi)
    theta, weights = unpack(phi)
    model = LatentClassBGNBD(
        tuple(BGNBDParameters(*(float(v) for v in row), time_unit_days=time_unit_days) for row in theta),  # type: ignore[arg-type,misc]
        tuple(float(w) for w in weights),
        time_unit_days,
    )
    names = tuple(f"{name}[{j + 1}]" for j in range(k) for name in ("r", "alpha", "a", "b"))
    scales: tuple[str, ...] = ("log",) * (4 * k)
    if k > 1:
        names += tuple(f"weight[{j + 1}]" for j in range(k))
        scales += ("logit",) * k
    coordinates: list[tuple[int, str] | None] = [(i, "exp") for i in range(4 * k)]
    if k == 2:  # weight[1] = 1 - expit(eta), weight[2] = expit(eta)
        coordinates += [(4 * k, "1-expit"), (4 * k, "expit")]
    elif k > 2:
        coordinates += [None] * k
    surface = LikelihoodSurface(total, phi, inverse_information(information), tuple(coordinates), gradient, n)
    return FitResult(model, names, estimates, covariance, scales, ll, int(n), 5 * k - 1, surface)  # type: ignore[arg-type]


def select_latent_classes(
    x: npt.ArrayLike,
    t_x: npt.ArrayLike,
    T: npt.ArrayLike,  # noqa: N803 - the model's standard notation
    max_classes: int = 4,
    time_unit_days: float = 7.0,
    seed: int = 0,
    min_repeat_customers: int = MIN_REPEAT_CUSTOMERS,
) -> tuple[FitResult[LatentClassBGNBD], pd.DataFrame]:
    """Fit 1 to ``max_classes`` segments and keep the count with the lowest BIC.

    Parameters
    ----------
    x, t_x, T
        Per customer (time units).
    max_classes
        Most segments tried (1-6).
    time_unit_days
        Length of the time unit (days).
    seed
        Seed of the random starts.
    min_repeat_customers
        The fewest customers with a repeat purchase accepted (people).

    Returns
    -------
    tuple
        The chosen fit, and a table indexed by ``segments``: ``log_likelihood``,
        ``parameters``, ``bic``, ``chosen``.
    """
    fits = []
    for k in range(1, max_classes + 1):
        try:
            fits.append(
                fit_latent_class(
                    x, t_x, T, k, time_unit_days, seed=seed, min_repeat_customers=min_repeat_customers
                )
            )
        except ValueError:
            if k == 1:
                raise
    bics = np.array([fit.bic for fit in fits])
    chosen = int(np.argmin(bics))
    table = pd.DataFrame(
        {
            "log_likelihood": [fit.log_likelihood for fit in fits],
            "parameters": [fit.parameters for fit in fits],
            "bic": bics,
            "chosen": np.arange(len(fits)) == chosen,
        },
        index=pd.Index([len(fit.model.classes) for fit in fits], name="segments"),
    )
    return fits[chosen], table


def _starts(pooled: PooledHistories, k: int, random_starts: int, seed: int) -> list[FloatArray]:
    """Initial responsibilities: cut by observed purchase rate, then random soft assignments."""
    size = pooled.weight.size
    if k == 1:
        return [np.ones((size, 1))]
    score = pooled.x / (pooled.T + 1)
    order = np.argsort(score, kind="stable")
    counts = pooled.weight
    share = np.empty(size)
    share[order] = (np.cumsum(counts[order]) - counts[order] / 2) / counts.sum()
    group = np.minimum((share * k).astype(np.int64), k - 1)
    cut = np.full((size, k), 0.1 / (k - 1))
    cut[np.arange(size), group] = 0.9
    rng = np.random.default_rng(seed)
    return [cut] + [rng.dirichlet(np.ones(k), size=size) for _ in range(random_starts)]


def _em(pooled: PooledHistories, resp: FloatArray) -> FloatArray:
    """A few EM rounds from responsibilities; returns the transformed parameter vector."""
    k = resp.shape[1]
    counts = pooled.weight
    start = np.zeros((k, 4))
    logs = np.zeros((counts.size, k))
    for _ in range(_EM_ROUNDS):
        weighted = resp * counts[:, None]
        weights = weighted.sum(axis=0) / counts.sum()
        for j in range(k):

            def segment(phi: FloatArray, w: FloatArray = weighted[:, j]) -> tuple[float, FloatArray]:
                theta = np.exp(phi)
                ll, per_row = pooled.log_likelihood_and_gradient(theta)
                return float(weighted_sum(w, ll)), weighted_sum(w, per_row) * theta

            def value(
                phi: FloatArray, f: Callable[[FloatArray], tuple[float, FloatArray]] = segment
            ) -> float:
                return f(phi)[0]

            start[j], _ = maximize_log_likelihood(
                value,
                start[j],
                scale=max(float(weighted[:, j].sum()), 1.0),
                combined=segment,
                tolerance=1e-9,
            )
            logs[:, j] = pooled.log_likelihood_and_gradient(np.exp(start[j]))[0]
        resp = softmax(logs + np.log(np.maximum(weights, 1e-300)), axis=-1)
    weights = np.maximum((resp * counts[:, None]).sum(axis=0) / counts.sum(), 1e-6)
    logits = np.log(weights[1:] / weights[0])
    return np.concatenate([start.reshape(-1), np.clip(logits, -14.0, 14.0)])


def _ordered(phi: FloatArray, k: int) -> FloatArray:
    """Renumber the segments by mean purchase rate ``r / alpha``, lowest first."""
    theta = phi[: 4 * k].reshape(k, 4)
    logits = np.concatenate([[0.0], phi[4 * k :]])
    order = np.argsort(theta[:, 0] - theta[:, 1], kind="stable")
    logits = logits[order] - logits[order][0]
    return np.concatenate([theta[order].reshape(-1), logits[1:]])
