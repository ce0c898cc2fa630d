"""What the customer-base models share: the model interface, maximum likelihood, fit results.

Every model is fitted by maximum likelihood on transformed parameters (logarithms of positive
parameters, log-odds of mixing weights) with L-BFGS-B. Standard errors come from the observed
information: the Hessian of the total log-likelihood at the estimate (central differences of
the analytic gradient where the model has one, else of the log-likelihood), inverted and carried
to the natural parameters by the delta method. The 95% intervals are Wald intervals on the
transformed scale mapped back (``exp(log(theta) +- 1.96 se / theta)`` for a positive parameter),
so they stay inside the parameter's range and are asymmetric.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Literal, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.optimize import minimize
from scipy.stats import chi2, norm

__all__ = [
    "FitResult",
    "IdentificationError",
    "LikelihoodSurface",
    "RepeatBuyingModel",
    "check_repeat_customers",
    "fit_positive_parameters",
    "maximize_log_likelihood",
    "observed_information",
    "pool_rows",
    "weighted_sum",
]

FloatArray = npt.NDArray[np.float64]
Scale = Literal["log", "logit"]
ModelT = TypeVar("ModelT")

# Below about this many customers with a repeat purchase the repeat-buying models are not identified.
MIN_REPEAT_CUSTOMERS = 100


class IdentificationError(ValueError):
    """The data cannot identify the model (too few customers with repeat purchases)."""


class RepeatBuyingModel(Protocol):
    """A fitted model of repeat buying: its likelihood and forecasts.

    Times (``t``, ``t_x``, ``T``) are in units of ``time_unit_days`` days; ``x`` is the number of
    repeat purchases, ``t_x`` the time of the last one since the first purchase (0 when
    ``x = 0``), ``T`` the time from the first purchase to the end of the calibration period.
    """

    @property
    def time_unit_days(self) -> float:
        """Length of the time unit (days)."""
        ...

    def log_likelihood_of(self, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike) -> FloatArray:  # noqa: N803
        """Log-likelihood of each customer's ``(x, t_x, T)``."""
        ...

    def expected_transactions(self, t: npt.ArrayLike) -> FloatArray:
        """Expected repeat purchases of a new customer in the ``t`` time units after the first."""
        ...

    def count_probability(self, count: npt.ArrayLike, t: npt.ArrayLike) -> FloatArray:
        """Chance of exactly ``count`` repeat purchases in the ``t`` time units after the first."""
        ...

    def conditional_expected_transactions(
        self,
        t: npt.ArrayLike,
        x: npt.ArrayLike,
        t_x: npt.ArrayLike,
        T: npt.ArrayLike,  # noqa: N803
    ) -> FloatArray:
        """Expected purchases in the next ``t`` time units given the history ``(x, t_x, T)``."""
        ...

    def probability_alive(self, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike) -> FloatArray:  # noqa: N803
        """Chance that each customer is still active at ``T`` (0-1)."""
        ...


@dataclass(frozen=True)
class LikelihoodSurface:
    """The maximized log-likelihood kept with a fit, for profile-likelihood intervals.

    Attributes
    ----------
    total : callable
        Total log-likelihood at transformed parameters.
    phi : numpy.ndarray
        The estimate (transformed scale).
    covariance : numpy.ndarray
        Covariance of ``phi`` (inverse observed information).
    coordinates : tuple
        For each named parameter, ``(index into phi, link)`` with link ``"exp"`` (the parameter
        is ``exp(phi[i])``), ``"expit"`` (``1 / (1 + exp(-phi[i]))``) or ``"1-expit"``; ``None``
        when the parameter is not a function of one coordinate (it keeps its Wald interval).
    gradient : callable or None
        Gradient of ``total`` (finite differences when ``None``).
    scale : float
        Number of customers (divides the objective).
    """

    total: Callable[[FloatArray], float]
    phi: FloatArray
    covariance: FloatArray
    coordinates: tuple[tuple[int, str] | None, ...]
    gradient: Callable[[FloatArray], FloatArray] | None = None
    scale: float = 1.0


@dataclass(frozen=True)
class FitResult(Generic[ModelT]):
    """A fitted model with its estimates, their uncertainty and the fit figures.

    Attributes
    ----------
    model : object
        The fitted model (its parameters at the estimates), ready to forecast.
    names : tuple of str
        Parameter names.
    estimates : numpy.ndarray
        Maximum-likelihood estimates (natural scale).
    covariance : numpy.ndarray
        Their covariance from the observed information (natural scale, delta method); NaN
        when the information matrix is not positive definite (a flat or boundary optimum).
    scales : tuple of str
        Scale of each parameter's interval: ``"log"`` (positive) or ``"logit"`` (0-1).
    log_likelihood : float
        Maximized total log-likelihood.
    customers : int
        Number of customers fitted (the sample size of the BIC).
    free_parameters : int or None
        Number of free parameters when not every named one is free (``None``: all are).
    surface : LikelihoodSurface or None
        The likelihood, for :meth:`profile_interval`.
    """

    model: ModelT
    names: tuple[str, ...]
    estimates: FloatArray
    covariance: FloatArray
    scales: tuple[Scale, ...]
    log_likelihood: float
    customers: int
    free_parameters: int | None = None
    surface: LikelihoodSurface | None = None

    @property
    def parameters(self) -> int:
        """Number of free parameters (mixing weights that sum to one count one less)."""
        return len(self.names) if self.free_parameters is None else self.free_parameters

    @property
    def standard_errors(self) -> FloatArray:
        """Standard error of each estimate (natural scale)."""
        return np.sqrt(np.diag(self.covariance))

    @property
    def bic(self) -> float:
        """Bayesian information criterion, ``k ln(n) - 2 LL`` (lower is better)."""
        return self.parameters * float(np.log(self.customers)) - 2 * self.log_likelihood

    @property
    def aic(self) -> float:
        """Akaike information criterion, ``2 k - 2 LL`` (lower is better)."""
        return 2 * self.parameters - 2 * self.log_likelihood

    def interval(self, level: float = 0.95) -> tuple[FloatArray, FloatArray]:
        """Wald interval of each parameter on its transformed scale, mapped back (see module).

        Parameters
        ----------
        level
            Coverage (0-1).

        Returns
        -------
        tuple of numpy.ndarray
            Lower and upper bounds (natural scale).
        """
        z = float(norm.ppf(0.5 + level / 2))
        lower = np.empty(len(self.names))
        upper = np.empty(len(self.names))
        rows = zip(self.estimates, self.standard_errors, self.scales, strict=True)
        for i, (value, se, scale) in enumerate(rows):
            if scale == "log":
                spread = z * se / value
                lower[i], upper[i] = value * np.exp(-spread), value * np.exp(spread)
            else:
                centre = np.log(value / (1 - value))
                spread = z * se / (value * (1 - value))
                lower[i], upper[i] = _expit(centre - spread), _expit(centre + spread)
        return lower, upper

    def profile_interval(self, level: float = 0.95) -> tuple[FloatArray, FloatArray]:
        """Profile-likelihood interval of each parameter (Wald where no profile is possible).

        The bounds are where twice the drop of the log-likelihood, maximized over the other
        parameters, reaches the ``level`` quantile of chi-square with one degree of freedom
        (3.84 at 95%). Unlike the Wald interval it follows a skewed or flat likelihood, as the
        dropout parameters of a mixture segment often have; an interval reaching the search box
        (``exp(+-15)``) is open on that side (0 or infinity).

        Parameters
        ----------
        level
            Coverage (0-1).

        Returns
        -------
        tuple of numpy.ndarray
            Lower and upper bounds (natural scale).
        """
        lower, upper = self.interval(level)
        surface = self.surface
        if surface is None:
            return lower, upper
        target = float(chi2.ppf(level, 1))
        for i, where in enumerate(surface.coordinates):
            if where is None:
                continue
            index, link = where
            bounds = [_profile_bound(surface, index, side, target) for side in (-1.0, 1.0)]
            values = sorted(_link(link, b) for b in bounds)
            lower[i], upper[i] = values
        return lower, upper

    def table(self, level: float = 0.95, method: Literal["wald", "profile"] = "wald") -> pd.DataFrame:
        """The estimates as a table.

        Parameters
        ----------
        level
            Coverage of the interval (0-1).
        method
            ``"wald"`` (:meth:`interval`) or ``"profile"`` (:meth:`profile_interval`).

        Returns
        -------
        pandas.DataFrame
            Index ``parameter``: ``estimate``, ``se``, ``lower``, ``upper``.
        """
        lower, upper = self.interval(level) if method == "wald" else self.profile_interval(level)
        return pd.DataFrame(
            {"estimate": self.estimates, "se": self.standard_errors, "lower": lower, "upper": upper},
            index=pd.Index(self.names, name="parameter"),
        )

    def summary(self, level: float = 0.95, method: Literal["wald", "profile"] = "wald") -> str:
        """Parameters with standard errors and intervals, log-likelihood, BIC, as text.

        Parameters
        ----------
        level
            Coverage of the interval (0-1).
        method
            Kind of interval, as in :meth:`table`.

        Returns
        -------
        str
            A printable report.
        """
        table = self.table(level, method)
        percent = f"{100 * level:g}%"
        unit = getattr(self.model, "time_unit_days", None)
        lines = [
            f"{type(self.model).__name__}: {self.customers:,} customers"
            + (f", time unit {unit:g} days" if unit is not None else ""),
            f"{'parameter':<12}{'estimate':>12}{'se':>12}{percent + ' low':>12}{percent + ' high':>12}",
        ]
        for name, row in table.iterrows():
            lines.append(
                f"{name!s:<12}{row['estimate']:>12.4g}{row['se']:>12.4g}{row['lower']:>12.4g}{row['upper']:>12.4g}"
            )
        lines.append(
            f"log-likelihood {self.log_likelihood:,.2f}; {self.parameters} parameters; "
            f"BIC {self.bic:,.2f}; AIC {self.aic:,.2f}"
        )
        return "\n".join(lines)


def pool_rows(*columns: npt.ArrayLike) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]:
    """Pool identical customer rows: the distinct rows, their counts and each customer's row.

    Returns
    -------
    tuple
        Distinct rows (one per column, shape ``(columns, rows)``), counts (float) and the
        index of each customer's row.
    """
    data = np.stack([np.asarray(c, dtype=np.float64) for c in columns])
    rows, inverse, counts = np.unique(data, axis=1, return_inverse=True, return_counts=True)
    return rows, counts.astype(np.float64), inverse.reshape(-1)


def weighted_sum(weights: FloatArray, values: FloatArray) -> FloatArray:
    """``sum_i weights[i] * values[i]`` over the first axis, without BLAS.

    A BLAS dot product starts threads that, on a small shared machine, cost more than the sum
    (a likelihood search makes thousands of them).
    """
    result: FloatArray = np.sum(weights.reshape(weights.shape + (1,) * (values.ndim - 1)) * values, axis=0)
    return result


def check_repeat_customers(x: npt.ArrayLike, minimum: int, model: str) -> None:
    """Raise :class:`IdentificationError` when fewer than ``minimum`` customers bought again.

    Parameters
    ----------
    x
        Repeat purchases per customer (count).
    minimum
        The fewest customers with a repeat purchase accepted (people).
    model
        The model's name, for the message.
    """
    repeaters = int(np.count_nonzero(np.asarray(x, dtype=np.float64) > 0))
    if repeaters < minimum:
        raise IdentificationError(
            f"only {repeaters} customers made a repeat purchase: the {model} model cannot be "
            f"identified with fewer than about {minimum} (use a longer calibration period or more customers)"
        )


_BOX = 15.0


def maximize_log_likelihood(
    total: Callable[[FloatArray], float],
    start: FloatArray,
    gradient: Callable[[FloatArray], FloatArray] | None = None,
    scale: float = 1.0,
    bound: float = _BOX,
    combined: Callable[[FloatArray], tuple[float, FloatArray]] | None = None,
    tolerance: float = 1e-13,
) -> tuple[FloatArray, float]:
    """Maximize a log-likelihood over transformed parameters with L-BFGS-B.

    Parameters
    ----------
    total
        Total log-likelihood at transformed parameters (``-inf`` or NaN where undefined).
    start
        Starting point (transformed scale).
    gradient
        Its gradient; finite differences when ``None``.
    scale
        Divisor of the objective (the number of customers), to keep it of order one.
    bound
        Box on every transformed parameter (``[-bound, bound]``).
    combined
        The log-likelihood and its gradient in one call (used instead of ``total`` and
        ``gradient`` in the search when given).
    tolerance
        Relative change of the objective at which the search stops.

    Returns
    -------
    tuple
        The maximizer (transformed scale) and the maximum.

    Raises
    ------
    ValueError
        When the search ends without converging.
    """

    def objective(phi: FloatArray) -> float:
        value = -total(phi) / scale
        return value if np.isfinite(value) else 1e300

    def jacobian(phi: FloatArray) -> FloatArray:
        assert gradient is not None
        g = -gradient(phi) / scale
        return np.where(np.isfinite(g), g, 0.0)

    def both(phi: FloatArray) -> tuple[float, FloatArray]:
        assert combined is not None
        value, g = combined(phi)
        if not np.isfinite(value):
            return 1e300, np.zeros_like(phi)
        return -value / scale, np.where(np.isfinite(g), -g / scale, 0.0)

    found = minimize(
        both if combined is not None else objective,
        np.asarray(start, dtype=np.float64),
        jac=True if combined is not None else (jacobian if gradient is not None else None),
        method="L-BFGS-B",
        bounds=[(-bound, bound)] * len(start),
        options={"maxiter": 2000, "ftol": tolerance, "gtol": 1e-8, "maxcor": 30},
    )
    if not found.success and not _converged_enough(found):
        raise ValueError(f"the likelihood search did not converge: {found.message}")
    return np.asarray(found.x, dtype=np.float64), -float(found.fun) * scale


def fit_positive_parameters(
    total: Callable[[FloatArray], float],
    start: FloatArray,
    scale: float,
    gradient: Callable[[FloatArray], FloatArray] | None = None,
    combined: Callable[[FloatArray], tuple[float, FloatArray]] | None = None,
) -> tuple[FloatArray, FloatArray, float, LikelihoodSurface]:
    """Maximize a likelihood of positive parameters searched on their logarithms.

    Parameters
    ----------
    total, gradient, combined
        Log-likelihood of the log-parameters, its gradient, or both at once
        (see :func:`maximize_log_likelihood`).
    start
        Starting log-parameters.
    scale
        Divisor of the objective (the number of customers).

    Returns
    -------
    tuple
        Estimates (natural scale), their covariance (observed information, delta method), the
        maximized log-likelihood and the likelihood surface (for profile intervals).
    """
    if combined is not None and gradient is None:

        def gradient(phi: FloatArray) -> FloatArray:
            assert combined is not None
            return combined(phi)[1]

    phi, ll = maximize_log_likelihood(total, start, gradient, scale=scale, combined=combined)
    information = observed_information(total, phi, gradient)
    covariance = natural_covariance(phi, information, np.exp)
    surface = LikelihoodSurface(
        total,
        phi,
        inverse_information(information),
        tuple((i, "exp") for i in range(phi.size)),
        gradient,
        scale,
    )
    return np.exp(phi), covariance, ll, surface


def inverse_information(information: FloatArray) -> FloatArray:
    """Inverse of the observed information (covariance of the transformed estimates); NaN if singular."""
    try:
        np.linalg.cholesky(information)
    except np.linalg.LinAlgError:
        return np.full(information.shape, np.nan)
    result: FloatArray = np.asarray(np.linalg.inv(information), dtype=np.float64)
    return result


def observed_information(
    total: Callable[[FloatArray], float],
    phi: FloatArray,
    gradient: Callable[[FloatArray], FloatArray] | None = None,
    step: float = 1e-4,
) -> FloatArray:
    """Observed information, ``-Hessian`` of the total log-likelihood, by central differences.

    Parameters
    ----------
    total
        Total log-likelihood at transformed parameters.
    phi
        Where (the estimate, transformed scale).
    gradient
        Analytic gradient of ``total``; when given the Hessian is its central difference,
        otherwise the second central difference of ``total``.
    step
        Difference step (transformed scale).

    Returns
    -------
    numpy.ndarray
        The symmetric information matrix.
    """
    k = phi.size
    hessian = np.empty((k, k))
    eye = np.eye(k) * step
    if gradient is not None:
        for j in range(k):
            hessian[:, j] = (gradient(phi + eye[j]) - gradient(phi - eye[j])) / (2 * step)
    else:
        centre = total(phi)
        for i in range(k):
            for j in range(i, k):
                if i == j:
                    value = (total(phi + eye[i]) - 2 * centre + total(phi - eye[i])) / step**2
                else:
                    value = (
                        total(phi + eye[i] + eye[j])
                        - total(phi + eye[i] - eye[j])
                        - total(phi - eye[i] + eye[j])
                        + total(phi - eye[i] - eye[j])
                    ) / (4 * step**2)
                hessian[i, j] = hessian[j, i] = value
    information: FloatArray = -(hessian + hessian.T) / 2
    return information


def natural_covariance(
    phi: FloatArray,
    information: FloatArray,
    to_natural: Callable[[FloatArray], FloatArray],
    step: float = 1e-6,
) -> FloatArray:
    """Covariance of the natural parameters: ``J I^-1 J'`` with ``J = d natural / d phi``.

    NaN when the information is not positive definite.
    """
    k = phi.size
    base = to_natural(phi)
    inverse = inverse_information(information)
    if not np.isfinite(inverse).all():
        return np.full((base.size, base.size), np.nan)
    jac = np.empty((base.size, k))
    for j in range(k):
        shift = np.zeros(k)
        shift[j] = step
        jac[:, j] = (to_natural(phi + shift) - to_natural(phi - shift)) / (2 * step)
    covariance: FloatArray = jac @ inverse @ jac.T
    return (covariance + covariance.T) / 2


def _converged_enough(found: object) -> bool:
    """L-BFGS-B stops with an 'abnormal line search' when the objective is flat to rounding."""
    message = str(getattr(found, "message", ""))
    jac = np.asarray(getattr(found, "jac", np.array([np.inf])))
    return "ABNORMAL" in message and bool(np.all(np.abs(jac) < 1e-4))


def _expit(value: float) -> float:
    return float(1 / (1 + np.exp(-value)))


def _link(link: str, value: float) -> float:
    if link == "exp":
        return float(np.exp(value))
    share = _expit(value)
    return share if link == "expit" else 1 - share


def _profile(
    surface: LikelihoodSurface, index: int, value: float, start: FloatArray
) -> tuple[float, FloatArray]:
    """Log-likelihood maximized over the other coordinates with coordinate ``index`` held at ``value``."""
    keep = np.arange(surface.phi.size) != index

    def full(rest: FloatArray) -> FloatArray:
        point = np.empty(surface.phi.size)
        point[keep] = rest
        point[index] = value
        return point

    def partial(rest: FloatArray) -> float:
        return surface.total(full(rest))

    def partial_gradient(rest: FloatArray) -> FloatArray:
        assert surface.gradient is not None
        result: FloatArray = surface.gradient(full(rest))[keep]
        return result

    rest, ll = maximize_log_likelihood(
        partial,
        start[keep],
        partial_gradient if surface.gradient is not None else None,
        scale=surface.scale,
        tolerance=1e-12,
    )
    return ll, full(rest)


def _profile_bound(surface: LikelihoodSurface, index: int, side: float, target: float) -> float:
    """Where the profile deviance reaches ``target`` on one side of the estimate (transformed scale).

    The signed root of the deviance is close to linear in the coordinate, so the search steps
    on it (secant), starting from the Wald bound; the other coordinates start from their
    regression on this one (the covariance), then from the previous profile point.
    """
    top = surface.total(surface.phi)
    spread = float(np.sqrt(surface.covariance[index, index]))
    if not np.isfinite(spread) or spread <= 0:
        spread = 1.0
    slope = surface.covariance[:, index] / surface.covariance[index, index] if np.isfinite(spread) else 0.0
    root = np.sqrt(target)
    previous: tuple[float, float] = (0.0, 0.0)  # (distance, signed root of the deviance)
    distance = spread * root
    start = surface.phi + slope * side * distance
    for _ in range(30):
        value = float(surface.phi[index] + side * distance)
        if abs(value) >= _BOX:
            return side * _BOX
        try:
            ll, start = _profile(surface, index, value, start)
        except ValueError:
            return side * _BOX
        current = float(np.sqrt(max(2 * (top - ll), 0.0)))
        if abs(current - root) < 1e-3:
            return value
        if current > previous[1] + 1e-9:
            step = (root - current) * (distance - previous[0]) / (current - previous[1])
        else:  # flat profile: move out fast
            step = distance
        previous = (distance, current)
        distance = max(distance + float(np.clip(step, -distance / 2, 2 * distance + 1.0)), 1e-6)
    return float(surface.phi[index] + side * distance)
