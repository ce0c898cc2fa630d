"""Concave piecewise-linear response curves, the form the allocation LP works with.

A channel's response - expected outcome (gross margin, revenue, customers...) as a function of
its spend - is concave and non-decreasing once saturation sets in. Written as a list of knots and
the outcome at each knot, it becomes a sum of segments whose slopes fall from one segment to the
next, which a linear program can maximize exactly (see :mod:`optimizer.lp`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, overload

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
# A smooth response: vectorized function of spend (currency) returning the outcome.
Response = Callable[[FloatArray], npt.ArrayLike]

# Slopes may rise by this much (relative to the largest slope) and still count as concave, so that
# curves sampled from a concave function in floating point are accepted.
_CONCAVITY_TOLERANCE = 1e-9


@dataclass(frozen=True)
class PiecewiseLinear:
    """Concave, non-decreasing piecewise-linear response of one channel: outcome at spend ``x``.

    Parameters
    ----------
    knots : numpy.ndarray
        Spend levels (currency over the curve's period), strictly increasing, ``knots[0] == 0``,
        at least two of them.
    values : numpy.ndarray
        Outcome at each knot (units of the outcome: currency of gross margin, customers...).
        ``values[0]`` is the outcome at zero spend (0 for an incremental curve). Slopes between
        knots must be non-negative and non-increasing: the curve is concave and non-decreasing.

    Notes
    -----
    Beyond the last knot the curve is flat: more spend brings nothing more. The arrays are
    copied to read-only float arrays.

    Examples
    --------
    >>> curve = PiecewiseLinear.from_function(lambda x: 1000 * (1 - np.exp(-x / 500)), upper=2000)
    >>> round(float(curve(500.0)), 1)
    632.1
    """

    knots: FloatArray
    values: FloatArray

    def __post_init__(self) -> None:
        knots = np.array(self.knots, dtype=np.float64)
        values = np.array(self.values, dtype=np.float64)
        if knots.ndim != 1 or values.shape != knots.shape or knots.size < 2:
            raise ValueError(
                f"knots and values must be 1-D arrays of the same length, at least 2; "
                f"got shapes {knots.shape} and {values.shape}"
            )
        if not (np.isfinite(knots).all() and np.isfinite(values).all()):
            raise ValueError("knots and values must be finite numbers")
        if knots[0] != 0:
            raise ValueError(f"the first knot must be spend 0, got {knots[0]:g}")
        if (np.diff(knots) <= 0).any():
            raise ValueError("knots must be strictly increasing")
        slopes = np.diff(values) / np.diff(knots)
        tolerance = _CONCAVITY_TOLERANCE * max(1.0, float(np.abs(slopes).max()))
        if (slopes < -tolerance).any():
            raise ValueError("the curve must be non-decreasing: a slope between knots is negative")
        if (np.diff(slopes) > tolerance).any():
            raise ValueError("the curve must be concave: slopes between knots must not increase")
        knots.setflags(write=False)
        values.setflags(write=False)
        object.__setattr__(self, "knots", knots)
        object.__setattr__(self, "values", values)

    @overload
    def __call__(self, spend: float) -> float: ...

    @overload
    def __call__(self, spend: npt.ArrayLike) -> float | FloatArray: ...

    def __call__(self, spend: npt.ArrayLike) -> float | FloatArray:
        """Outcome at ``spend`` (linear interpolation; flat beyond the last knot).

        Parameters
        ----------
        spend : float or array-like
            Spend, currency, at least 0.

        Returns
        -------
        float or numpy.ndarray
            A float for a scalar ``spend``, an array of the same shape otherwise.
        """
        result = np.interp(np.asarray(spend, dtype=np.float64), self.knots, self.values)
        return float(result) if np.ndim(result) == 0 else result

    @property
    def slopes(self) -> FloatArray:
        """Outcome per unit of spend on each segment, ``len(knots) - 1`` values, non-increasing."""
        slopes: FloatArray = np.diff(self.values) / np.diff(self.knots)
        return slopes

    @property
    def widths(self) -> FloatArray:
        """Spend covered by each segment, currency."""
        widths: FloatArray = np.diff(self.knots)
        return widths

    @property
    def upper(self) -> float:
        """The last knot: spend beyond which the curve is flat."""
        return float(self.knots[-1])

    def marginal(self, spend: float) -> float:
        """Marginal outcome per unit of spend at ``spend``: the right derivative.

        At a knot this is the slope of the segment that *starts* there, i.e. the return of the
        next unit of spend; beyond the last knot it is 0.

        Parameters
        ----------
        spend : float
            Spend, currency, at least 0.

        Returns
        -------
        float
            Outcome per unit of spend.
        """
        segment = int(np.searchsorted(self.knots, spend, side="right")) - 1
        slopes = self.slopes
        return float(slopes[segment]) if 0 <= segment < slopes.size else 0.0

    @classmethod
    def from_function(
        cls,
        response: Callable[[FloatArray], npt.ArrayLike],
        upper: float,
        segments: int = 20,
        spacing: Literal["linear", "geometric"] = "linear",
        first_width: float | None = None,
    ) -> PiecewiseLinear:
        """Sample a response function at ``segments + 1`` knots from 0 to ``upper``.

        Parameters
        ----------
        response : callable
            Vectorized function of spend (currency) returning the outcome.
        upper : float
            Last knot, currency; the curve is flat beyond it, so choose it above any spend the
            allocation may consider.
        segments : int, default 20
            Number of linear segments.
        spacing : {"linear", "geometric"}, default "linear"
            ``"linear"``: equal widths. ``"geometric"``: widths growing by a constant factor,
            so that knots are dense at low spend, where a saturating curve bends most.
        first_width : float, optional
            With ``spacing="geometric"``, the width of the first segment, currency; by default
            ``upper / segments ** 2``.

        Returns
        -------
        PiecewiseLinear
            The upper concave hull of the sampled points (see :meth:`from_points`), so a response
            that is not exactly concave still gives a valid curve.
        """
        if not (np.isfinite(upper) and upper > 0):
            raise ValueError(f"upper must be a positive spend, got {upper!r}")
        if segments < 1:
            raise ValueError(f"segments must be at least 1, got {segments}")
        if spacing == "linear":
            knots = np.linspace(0.0, upper, segments + 1)
        elif spacing == "geometric":
            first = upper / segments**2 if first_width is None else first_width
            if not 0 < first < upper:
                raise ValueError(f"first_width must be between 0 and upper, got {first!r}")
            knots = np.concatenate(([0.0], _geometric_knots(first, upper, segments)))
        else:
            raise ValueError(f"spacing must be 'linear' or 'geometric', got {spacing!r}")
        values = np.asarray(response(knots), dtype=np.float64)
        return cls.from_points(knots, values)

    def refined_around(
        self,
        response: Response,
        points: npt.ArrayLike,
        subdivisions: int = 10,
    ) -> PiecewiseLinear:
        """The curve with dense knots added around ``points``, sampled again from ``response``.

        Around each point, the segment that holds it and the segment on either side (so at least
        one segment each way) are each split into ``subdivisions`` equal parts, and the point
        itself becomes a knot. Every knot of this curve is kept, and the outcome at every knot is
        ``response`` there. Applied again around a nearby point, the window is one *fine* segment
        each way, so each round narrows it by ``subdivisions``.

        Parameters
        ----------
        response : callable
            Vectorized function of spend (currency) returning the outcome: the smooth curve this
            piecewise-linear one approximates.
        points : array-like
            Spend levels, currency, where the curve should be accurate (an allocation's effective
            spend); those beyond the last knot are clipped to it.
        subdivisions : int, default 10
            Parts each segment of a window is split into.

        Returns
        -------
        PiecewiseLinear
            The upper concave hull of the samples (see :meth:`from_points`): the curve stays
            concave, as the LP needs, even for a response that is not. Knots closer than
            ``1e-9 * upper`` to a kept knot are dropped, so that no slope rests on round-off.
        """
        if subdivisions < 1:
            raise ValueError(f"subdivisions must be at least 1, got {subdivisions}")
        centres = np.clip(np.asarray(points, dtype=np.float64).ravel(), 0.0, self.upper)
        if not np.isfinite(centres).all():
            raise ValueError("points must be finite spend levels")
        last = self.knots.size - 1
        parts = np.linspace(0.0, 1.0, subdivisions + 1)
        candidates = [centres]
        for centre in centres:
            segment = min(int(np.searchsorted(self.knots, centre, side="right")) - 1, last - 1)
            window = self.knots[max(segment - 1, 0) : min(segment + 2, last) + 1]
            candidates.append((window[:-1, None] + np.diff(window)[:, None] * parts).ravel())
        new = np.unique(np.concatenate(candidates))
        # Drop new knots within round-off of one of the curve's own knots or of the previous new one.
        tolerance = 1e-9 * self.upper
        nearest = np.minimum(
            np.abs(new - self.knots[np.clip(np.searchsorted(self.knots, new), 0, last)]),
            np.abs(new - self.knots[np.clip(np.searchsorted(self.knots, new) - 1, 0, last)]),
        )
        new = new[nearest > tolerance]
        new = new[np.concatenate(([True], np.diff(new) > tolerance))]
        knots = np.sort(np.concatenate((self.knots, new)))
        return PiecewiseLinear.from_points(knots, np.asarray(response(knots), dtype=np.float64))

    @classmethod
    def from_points(cls, spend: npt.ArrayLike, outcome: npt.ArrayLike) -> PiecewiseLinear:
        """Upper concave hull of measured (spend, outcome) points, made non-decreasing.

        Points measured at the same spend (replications) are averaged first. The hull is the
        smallest concave curve above every point; it is cut at the highest point and flat beyond
        it, so it never decreases.

        Parameters
        ----------
        spend : array-like
            Spend levels, currency, at least 0; must include 0.
        outcome : array-like
            Outcome measured at each spend level.

        Returns
        -------
        PiecewiseLinear
        """
        spend_array = np.asarray(spend, dtype=np.float64).ravel()
        outcome_array = np.asarray(outcome, dtype=np.float64).ravel()
        if spend_array.shape != outcome_array.shape:
            raise ValueError("spend and outcome must have the same length")
        if not (np.isfinite(spend_array).all() and np.isfinite(outcome_array).all()):
            raise ValueError("spend and outcome must be finite numbers")
        if (spend_array < 0).any():
            raise ValueError("spend must be at least 0")
        levels, inverse = np.unique(spend_array, return_inverse=True)
        if levels.size < 2 or levels[0] != 0:
            raise ValueError("points must include spend 0 and at least one positive spend")
        means = np.bincount(inverse, weights=outcome_array) / np.bincount(inverse)
        top = int(np.argmax(means))
        if top == 0:
            # Nothing beats zero spend: a flat curve.
            return cls(np.array([0.0, levels[-1]]), np.array([means[0], means[0]]))
        hull = _upper_hull(levels[: top + 1], means[: top + 1])
        return cls(levels[hull], means[hull])


def _geometric_knots(first: float, upper: float, segments: int) -> FloatArray:
    """Knots 1..segments whose widths grow by a constant factor, the first ``first`` wide."""
    if segments == 1:
        return np.array([upper])
    # Solve first * (g**n - 1) / (g - 1) = upper for the growth factor g by bisection.
    low, high = 1.0 + 1e-12, 2.0
    while first * (high**segments - 1) / (high - 1) < upper:
        high *= 2
    for _ in range(200):
        growth = (low + high) / 2
        if first * (growth**segments - 1) / (growth - 1) < upper:
            low = growth
        else:
            high = growth
    widths = first * growth ** np.arange(segments)
    knots: FloatArray = np.cumsum(widths)
    knots[-1] = upper
    return knots


def _upper_hull(x: FloatArray, y: FloatArray) -> list[int]:
    """Indices of the upper concave hull of points sorted by ``x`` (Andrew's monotone chain)."""
    hull: list[int] = []
    for index in range(x.size):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            # Drop b when it lies on or below the chord from a to the new point.
            cross = (x[b] - x[a]) * (y[index] - y[a]) - (y[b] - y[a]) * (x[index] - x[a])
            if cross >= 0:
                hull.pop()
            else:
                break
        hull.append(index)
    return hull
