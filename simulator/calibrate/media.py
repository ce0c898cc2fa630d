"""``run.py calibrate --media``: channel response calibrated to an order log and a media history.

What is calibrated. Each channel's **response strength**: a multiplier on its
``awareness_per_impression``, the parameter through which its spend wins new customers; and a
multiplier on the channels' ``organic_discovery`` (the market's baseline). Every other channel
parameter (cost, click-through, carryover, saturation) stays as the base scenario says. The
scenario simulated is the base scenario with the media history's spend (``budget_plan`` per
channel, dates from the history's first date; channels without rows in the history have no
paid media) and its population starts at the first date (the base scenario's population, not a
customer-base twin).

How (this module; README "Media history and lift tests"):

1. **Emulator by simulation.** Around a centre (first the base scenario), the agent-based model
   runs on a few seeds as it is, once per channel with that channel's spend removed (the
   ``without`` variants of :mod:`simulator.measure.incrementality`) and once per channel with its
   awareness effect removed (``awareness_per_impression`` 0, spend kept), on common random
   numbers. Per channel, the weekly new customers give its contribution ``g_c`` (base minus
   without) and its awareness part ``h_c`` (base minus unaware), both smoothed on the channel's
   own spend; the rest ``n`` is base minus every contribution, smoothed in time. A channel's
   strength ``s_c`` scales its awareness part, the organic factor ``a`` the rest:
   ``y_t = a n_t + baseline shape_t + sum_c (g_ct - h_ct + s_c h_ct)``. The baseline shape (level,
   trend and start-up ramps, free) is every shape a constant spend could produce.
2. **Fit.** Weighted least squares on the calibration weeks of the data (new customers per week
   counted as the data count them: a customer's first order in the log), plus one row per lift
   test (the test itself run in the emulator - the centre with the test's spend change - gives
   its effect on new customers over the weeks it covers, the awareness share of it scaled by the
   strength; the way PyMC-Marketing's ``add_lift_test_measurements`` adds lift tests as extra
   likelihood terms) and a prior row per strength and for ``a``: normal around the base
   scenario's value with standard deviation :data:`PRIOR_SD` (100%) - the base scenario's channel
   settings are the prior belief, as Meridian takes ROI priors. The centre moves to the fit (at
   most halving or doubling a parameter per step) and the emulator is measured again
   (``iterations``), so the linear model is taken where the answer is.
3. **Posterior ensemble.** The sampling distribution of the fit - a normal with the Newey-West
   (Bartlett weights, heteroskedasticity- and autocorrelation-consistent) covariance - is the
   approximate posterior (Laplace approximation). ``members`` parameter sets are drawn from it
   (strengths below 0 set to 0) and saved in ``posterior.parquet``; the calibrated
   ``scenario.yaml`` is its centre.
4. **Incremental ROAS** of each channel per member: its incremental revenue over the whole
   history at the centre, measured as :func:`simulator.measure.incrementality` measures it (base
   minus without, paired seeds), plus ``(s_c - 1)`` times the revenue of its awareness part,
   each drawn from its sampling error over the seeds; the 95% interval is the 2.5-97.5%
   quantiles over members.
5. **Identified?** A channel whose strength keeps more than half its prior standard deviation
   (:data:`IDENTIFIED_SHRINKAGE`) is **not identified by the data**, and the note says which
   parameter (its ``awareness_per_impression`` strength) and why, decided from the data
   (:func:`not_identified_reason`): its weekly spend over the calibration weeks never varies
   (coefficient of variation below :data:`SPEND_VARIES`), so the data cannot tell its effect from
   the baseline; or its spend varies but most of its contribution comes through clicks (the
   awareness part's share below :data:`AWARENESS_SHARE`), which the calibration keeps as the base
   scenario has them; or else its awareness effect is small next to the weekly noise. Its ROAS
   interval rests on the prior; a lift test narrows it.
6. **Hold-out.** With ``holdout_weeks``, the last weeks are not fitted; each member predicts them
   with the actual spend (plus the fit's residual noise) and the report gives the coverage of the
   95% predictive interval and the MAPE (and the same over the calibration weeks, in-sample).
   Weekly new customers are predicted by the emulator (the fitted linear model, no new runs).
   **Orders and revenue** (``predict_members``, ``--predict-members``; default
   :data:`PREDICT_MEMBERS`, 0 = off) are predicted by simulation, a posterior predictive check:
   ``predict_members`` members evenly spaced over the ensemble (member ``m_k`` of ``k = 0..K-1``,
   :func:`predictive_members`), member ``m_k``'s scenario (:func:`media_scenario` with its
   strengths and organic factor: the history's spend) run over the whole history on seed
   ``seed + k``; weekly orders and revenue are counted as the log counts them (one row per order,
   its revenue, on the order's day, times ``population.scale`` as the log's rows are times its
   ``weight``). The prediction is the median over the members, the 95% predictive interval their
   2.5-97.5% quantiles (with 20 members, about the second smallest and largest), the MAPE that of
   the median. The band holds parameter uncertainty and simulation noise (each member on its own
   seed). The repeat-purchase and basket parameters are the base scenario's, not calibrated
   (``calibrate`` without ``--media`` fits those to the order log): a miss of orders or revenue
   where new customers fit points at them.
7. **Per acquisition channel** (``by_channel``, ``--by-channel``; off by default). When the order
   log has a ``channel`` column naming the scenario's channels, the targets can be the weekly new
   customers of each acquisition channel instead of their sum. The attribution assumed: a
   customer's acquisition channel is the channel of their first order (the first row of their
   earliest day in the log), as the simulator records it in ``orders.csv`` - the channel the
   order closed in, not the one that made the shopper aware. The emulator counts its runs' new
   customers the same way; each series gets its own baseline shapes and residual standard
   deviation, the organic factor and strengths are shared, and a week's rows are one Newey-West
   score. Off by default because on the recovery world (tests/test_media_calibration.py) it
   pushed display's strength below 0: the split of new customers between channels rests on
   settings the calibration keeps fixed (click-through, affinities), and the per-channel series
   weigh that misfit heavily.
8. **Lift tests in ROAS.** Each lift test's measured effect (new customers) is converted to a ROAS
   with the channel's incremental revenue per incremental new customer over the history at the
   centre: ``effect x revenue per new customer / spend_change``, its standard error alike; the
   report puts it next to the calibrated ROAS.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import yaml

from ..common.output import write_files
from ..config.scenario import Scenario, ScenarioError, parse_scenario
from ..data import LiftTest, MediaHistory, OrderLog
from ..engine.simulate import simulate
from ..measure.executor import get_executor

__all__ = [
    "MEDIA_CALIBRATION_FILES",
    "NOT_IDENTIFIED",
    "PREDICT_MEMBERS",
    "PREDICTED_MEASURES",
    "MediaCalibration",
    "acquisition_series",
    "not_identified_reason",
    "calibrate_media",
    "media_scenario",
    "predictive_members",
    "weekly_new_customers",
    "weekly_orders",
]

MEDIA_CALIBRATION_FILES = (
    "scenario.yaml",
    "posterior.parquet",
    "media_calibration.json",
    "media_channels.csv",
    "media_holdout.csv",
)
"""Files ``calibrate --media --out`` writes."""
NOT_IDENTIFIED = "not identified by the data"
SPEND_VARIES = 0.05
"""Smallest coefficient of variation of a channel's weekly spend over the calibration weeks
(ratio) for its spend to count as varying: below it the data cannot tell the channel from the
baseline."""
AWARENESS_SHARE = 0.5
"""Share of a channel's contribution to new customers owed to its awareness effect (ratio) below
which its new customers come mostly through clicks, which the calibration does not fit."""
IDENTIFIED_SHRINKAGE = 0.5
"""Largest posterior standard deviation of a channel's strength, as a share of the prior's, of an
identified channel: the data must at least halve the prior uncertainty."""
NEWEY_WEST_LAGS = 4
SMOOTHING_DECAYS = (0.0, 0.7, 0.93)
"""Weekly carry-over of the spend features a channel's contribution is smoothed on (share/week)."""
NUISANCE = 2 * 3
"""Free baseline shape columns of the design (level, trend and ramps: :func:`_design`)."""
PRIOR_SD = 1.0
"""Prior standard deviation of each channel's strength and of the organic factor, relative to the
base scenario's value (ratio): the base scenario's channel settings are the prior belief, give or
take 100%, the way Meridian and PyMC-Marketing take ROI or coefficient priors."""
OFFSET = 1 + NUISANCE
"""Column of the first channel in the design of one target series (:func:`_offset`)."""
WEEK = 7
PREDICT_MEMBERS = 20
"""Default number of posterior members simulated for the predictive check of orders and revenue."""
PREDICTED_MEASURES = ("orders", "revenue")
"""Weekly measures the simulated members predict (orders: count; revenue: currency)."""
FloatArray = npt.NDArray[np.float64]


def _periods(spend: FloatArray) -> list[dict[str, float]]:
    """Runs of equal daily spend as budget periods."""
    change = np.flatnonzero(np.r_[True, spend[1:] != spend[:-1]])
    ends = np.r_[change[1:] - 1, spend.size - 1]
    return [
        {"start_day": int(s), "end_day": int(e), "daily_spend": float(spend[s])}
        for s, e in zip(change, ends, strict=True)
    ]


def media_scenario(
    base: Scenario,
    media: MediaHistory,
    strengths: dict[str, float] | None = None,
    organic: float = 1.0,
) -> Scenario:
    """The base scenario with the media history's spend and the given response strengths.

    Parameters
    ----------
    base
        The base scenario.
    media
        The media history: its days are the horizon, its first date ``start_date``.
    strengths
        Multiplier of each channel's ``awareness_per_impression`` (ratio; default 1; capped so the
        parameter stays at most 1).
    organic
        Multiplier of every channel's ``organic_discovery`` (ratio).

    Returns
    -------
    Scenario
        Channels in the history spend as it says (``budget_plan``); the others have no paid media.
    """
    data = base.model_dump(mode="json", exclude_none=True)
    data["horizon_days"] = media.days
    data["start_date"] = media.first_date.date().isoformat()
    daily = media.daily_spend()
    for channel in data["channels"]:
        name = channel["name"]
        channel["daily_spend"] = 0.0
        channel["budget_plan"] = _periods(daily[name].to_numpy(np.float64)) if name in daily else []
        factor = (strengths or {}).get(name, 1.0)
        channel["awareness_per_impression"] = min(1.0, channel.get("awareness_per_impression", 0.05) * factor)
        channel["organic_discovery"] = min(1.0, channel.get("organic_discovery", 0.0) * organic)
    return parse_scenario(data, f"{getattr(base, '_source', '<scenario>')} (media history)")


def _variant(scenario: Scenario, name: str, change: dict[str, Any], label: str) -> Scenario:
    data = scenario.model_dump(mode="json", exclude_none=True)
    for channel in data["channels"]:
        if channel["name"] == name:
            channel.update(change)
    return parse_scenario(data, f"{label}_{name}")


def weekly_new_customers(first_days: npt.NDArray[np.int64], weeks: int, weight: float = 1.0) -> FloatArray:
    """New customers per week from each customer's first order day (day 0 = first media date) (people)."""
    days = first_days[(first_days >= 0) & (first_days < weeks * WEEK)]
    return np.bincount(days // WEEK, minlength=weeks).astype(np.float64) * weight


def weekly_orders(
    days: npt.NDArray[np.int64], revenue: FloatArray, weeks: int, weight: float = 1.0
) -> FloatArray:
    """Orders and revenue per week from each order's day (day 0 = first media date).

    Returns a 2 x weeks array: orders per week (count) and revenue per week (currency), each order
    counting ``weight`` times (orders outside the weeks are left out).
    """
    inside = (days >= 0) & (days < weeks * WEEK)
    week = days[inside] // WEEK
    return np.array(
        [
            np.bincount(week, minlength=weeks).astype(np.float64) * weight,
            np.bincount(week, weights=revenue[inside], minlength=weeks) * weight,
        ]
    ).reshape(2, weeks)


def _run_orders(weeks: int, task: tuple[Scenario, int]) -> FloatArray:
    """Weekly orders and revenue of one run, counted as in a log (:func:`weekly_orders`; 2 x weeks)."""
    scenario, seed = task
    orders = simulate(scenario, seed=seed).orders
    if not len(orders):
        return np.zeros((2, weeks))
    return weekly_orders(
        orders["day"].to_numpy(np.int64),
        orders["revenue"].to_numpy(np.float64),
        weeks,
        scenario.population.scale,
    )


def predictive_members(members: int, count: int) -> list[int]:
    """The ``count`` members of an ensemble of ``members`` the predictive check simulates, evenly spaced."""
    return [k * members // count for k in range(count)]


def _run(weeks: int, targets: tuple[str, ...] | None, task: tuple[Scenario, int]) -> tuple[FloatArray, float]:
    """Weekly new customers (counted as in a log: first order per shopper) and revenue of one run.

    The new customers are one series (``targets`` None) or one per acquisition channel in
    ``targets``: the channel of the shopper's first order (series x weeks, people).
    """
    scenario, seed = task
    result = simulate(scenario, seed=seed)
    orders = result.orders
    scale = scenario.population.scale
    if targets is None:
        first = (
            orders.groupby("shopper_id")["day"].min().to_numpy(np.int64)
            if len(orders)
            else np.zeros(0, np.int64)
        )
        return weekly_new_customers(first, weeks, scale)[None, :], float(result.summary["revenue"])
    firsts = orders.sort_values(["shopper_id", "day"], kind="stable").drop_duplicates("shopper_id")
    channel = firsts["channel"].astype(str).to_numpy()
    day = firsts["day"].to_numpy(np.int64)
    weekly = np.array([weekly_new_customers(day[channel == name], weeks, scale) for name in targets])
    return weekly.reshape(len(targets), weeks), float(result.summary["revenue"])


def _smooth_basis(spend: FloatArray) -> FloatArray:
    """The weekly spend carried over at :data:`SMOOTHING_DECAYS`, each also times the time trend."""
    trend = np.linspace(0.0, 1.0, spend.size)
    columns = []
    for decay in SMOOTHING_DECAYS:
        stock = np.zeros(spend.size)
        carried = 0.0
        for week in range(spend.size):
            carried = carried * decay + float(spend[week])
            stock[week] = carried
        peak = stock.max()
        if peak > 0:
            columns += [stock / peak, stock / peak * trend]
    return np.column_stack(columns) if columns else np.zeros((spend.size, 0))


def _smooth_on_spend(raw: FloatArray, spend: FloatArray) -> FloatArray:
    """Project a channel's weekly effect on :func:`_smooth_basis` of its weekly spend.

    The mean over a few seeds is noisy, and noise in a regressor biases its coefficient to 0
    (errors in variables). A channel's effect follows its spend, so it is projected on the
    channel's weekly spend carried over at a few decays per week, each also times the time trend
    (awareness builds up over the history).
    """
    basis = _smooth_basis(spend)
    if basis.shape[1] == 0:
        return np.zeros_like(raw)
    return np.asarray(basis @ np.linalg.lstsq(basis, raw, rcond=None)[0], dtype=np.float64)


@dataclass
class Emulator:
    """Runs around a centre on the same seeds: as it is, and per channel without spend or awareness.

    ``without`` runs have the channel's spend at 0; ``unaware`` runs keep the spend with its
    ``awareness_per_impression`` at 0.
    """

    base: FloatArray
    """Weekly new customers per seed and target series (seeds x series x weeks, people)."""
    without: dict[str, FloatArray]
    unaware: dict[str, FloatArray]
    revenue: FloatArray
    """Revenue over the history per seed (currency)."""
    revenue_without: dict[str, FloatArray]
    revenue_unaware: dict[str, FloatArray]
    lifts: list[FloatArray] = field(default_factory=list)
    """Weekly new customers per seed of each lift test's variant (its spend change applied)."""

    def effects(self, runs: dict[str, FloatArray], weekly_spend: pd.DataFrame) -> dict[str, FloatArray]:
        """Base minus ``runs`` per channel, mean over seeds, smoothed on the channel's spend.

        Each channel's effect is a series x weeks array (people/week), each series smoothed.
        """
        out = {}
        for name, other in runs.items():
            spend = weekly_spend[name].to_numpy(np.float64)
            mean = (self.base - other).mean(axis=0)
            out[name] = np.array([_smooth_on_spend(series, spend) for series in mean]).reshape(mean.shape)
        return out

    def rest(self, contributions: dict[str, FloatArray]) -> FloatArray:
        """New customers not owed to any one channel's spend, smoothed in time (series x weeks, people/week).

        The mean of the runs minus every channel's contribution, projected on a cubic in time
        and two early decays (the shoppers aware at the start buy in the first weeks).
        """
        shape = self.base.shape[1:]
        weeks = shape[1]
        raw = self.base.mean(axis=0) - sum(contributions.values(), np.zeros(shape))
        t = np.arange(weeks, dtype=np.float64)
        tau = t / max(weeks - 1, 1)
        basis = np.column_stack([np.ones(weeks), tau, tau**2, tau**3, np.exp(-t / 2.0), np.exp(-t / 8.0)])
        smooth = [basis @ np.linalg.lstsq(basis, series, rcond=None)[0] for series in raw]
        return np.asarray(smooth, dtype=np.float64).reshape(shape)


def _offset(series: int) -> int:
    """Column of the first channel in the design of ``series`` target series."""
    return 1 + NUISANCE * series


def _design(rest: FloatArray, awareness: dict[str, FloatArray]) -> FloatArray:
    """Columns: the rest ``n``, the free baseline shapes, each channel's awareness effect ``h_c``.

    The baseline's shape is not known exactly (it rests on the base scenario's organic settings
    and on when the history starts): it gets a free level, linear trend and start-up ramps - every
    shape a constant spend produces under the smoothing of :func:`_smooth_on_spend`. A channel
    whose spend never varies therefore looks exactly like the baseline: the data say nothing of
    it and its strength keeps the wide interval of its prior.

    With several target series (new customers per acquisition channel), each series gets its own
    baseline shapes; the organic factor and the strengths are shared. Returns series x weeks x
    columns.
    """
    series, weeks = rest.shape
    design = np.zeros((series, weeks, _offset(series) + len(awareness)))
    for i in range(series):
        scale = max(float(np.abs(rest[i]).mean()), 1e-9)
        design[i, :, 0] = rest[i]
        design[i, :, 1 + NUISANCE * i : 1 + NUISANCE * (i + 1)] = _smooth_basis(np.ones(weeks)) * scale
        for j, effect in enumerate(awareness.values()):
            design[i, :, _offset(series) + j] = effect[i]
    return design


def _emulate(
    centre: Scenario,
    channels: Sequence[str],
    seeds: Sequence[int],
    weeks: int,
    workers: int,
    label: str,
    progress: bool,
    lift_tests: Sequence[LiftTest] = (),
    media: MediaHistory | None = None,
    targets: tuple[str, ...] | None = None,
) -> Emulator:
    variants = [centre]
    variants += [
        _variant(centre, name, {"daily_spend": 0.0, "budget_plan": []}, "without") for name in channels
    ]
    variants += [_variant(centre, name, {"awareness_per_impression": 0.0}, "unaware") for name in channels]
    if lift_tests and media is not None:
        variants += [_lift_variant(centre, media, test) for test in lift_tests]
    tasks = [(variant, seed) for variant in variants for seed in seeds]
    results = get_executor(workers, source="calibrate --media").map(
        partial(_run, weeks, targets), tasks, label=label, progress=progress
    )
    per = len(seeds)
    weekly = [np.array([r[0] for r in results[i * per : (i + 1) * per]]) for i in range(len(variants))]
    revenue = [np.array([r[1] for r in results[i * per : (i + 1) * per]]) for i in range(len(variants))]
    k = len(channels)
    return Emulator(
        weekly[0],
        dict(zip(channels, weekly[1 : 1 + k], strict=True)),
        dict(zip(channels, weekly[1 + k : 1 + 2 * k], strict=True)),
        revenue[0],
        dict(zip(channels, revenue[1 : 1 + k], strict=True)),
        dict(zip(channels, revenue[1 + k : 1 + 2 * k], strict=True)),
        weekly[1 + 2 * k :],
    )


def _test_days(test: LiftTest, media: MediaHistory) -> tuple[int, int]:
    return int((test.start - media.first_date).days), int((test.end - media.first_date).days)


def _lift_variant(centre: Scenario, media: MediaHistory, test: LiftTest) -> Scenario:
    """The centre with the test's spend change spread evenly over its days (spend kept >= 0)."""
    first, last = _test_days(test, media)
    spend = media.daily_spend()[test.channel].to_numpy(np.float64).copy()
    spend[first : last + 1] = np.maximum(
        spend[first : last + 1] + test.spend_change / (last - first + 1), 0.0
    )
    return _variant(centre, test.channel, {"daily_spend": 0.0, "budget_plan": _periods(spend)}, "lift")


@dataclass
class Fit:
    """Weighted least squares with a Newey-West covariance."""

    estimate: FloatArray
    covariance: FloatArray
    sigma: float
    """Residual standard deviation of weekly new customers, all series summed (people/week)."""
    sigmas: FloatArray
    """Residual standard deviation of each target series (people/week)."""


def _fit(
    y: FloatArray, design: FloatArray, lift_x: FloatArray, lift_y: FloatArray, lift_se: FloatArray
) -> Fit:
    """Weighted least squares of series x weeks targets; rows of a week are one Newey-West score."""
    series, weeks, k = design.shape
    flat = design.reshape(series * weeks, k)
    ols = np.linalg.lstsq(flat, y.reshape(-1), rcond=None)[0]
    residual = y - design @ ols
    dof = max(series * weeks - k, 1) / series
    sigmas = np.maximum(np.sqrt(np.sum(residual**2, axis=1) / dof), 1e-9)
    sigma = max(float(np.sqrt(np.sum(residual.sum(axis=0) ** 2) / dof)), 1e-9)
    weighted = (design / sigmas[:, None, None]).reshape(series * weeks, k)
    scaled = (y / sigmas[:, None]).reshape(-1)
    x = np.vstack([weighted, lift_x / lift_se[:, None]]) if lift_y.size else weighted
    target = np.r_[scaled, lift_y / lift_se] if lift_y.size else scaled
    estimate = np.linalg.lstsq(x, target, rcond=None)[0]
    bread = np.linalg.pinv(x.T @ x)
    errors = (y - design @ estimate) / sigmas[:, None]
    scores = ((design / sigmas[:, None, None]) * errors[:, :, None]).sum(axis=0)
    meat = scores.T @ scores
    for lag in range(1, NEWEY_WEST_LAGS + 1):
        weight = 1.0 - lag / (NEWEY_WEST_LAGS + 1)
        cross = scores[lag:].T @ scores[:-lag]
        meat += weight * (cross + cross.T)
    if lift_y.size:
        lifted = lift_x / lift_se[:, None]
        meat += lifted.T @ lifted
    return Fit(
        np.asarray(estimate, dtype=np.float64),
        np.asarray(bread @ meat @ bread, dtype=np.float64),
        sigma,
        np.asarray(sigmas, dtype=np.float64),
    )


def _check_lift_tests(tests: Sequence[LiftTest], media: MediaHistory, channels: Sequence[str]) -> None:
    daily = media.daily_spend()
    for test in tests:
        first, last = _test_days(test, media)
        if first < 0 or last >= media.days:
            raise ScenarioError(
                "--lift-tests",
                "start",
                f"the test of '{test.channel}' ({test.start.date()} to {test.end.date()}) is outside the "
                f"media history ({media.first_date.date()} plus {media.days} days)",
            )
        if test.channel not in channels:
            raise ScenarioError(
                "--lift-tests", "channel", f"channel '{test.channel}' has no spend in the media history"
            )
        if float(daily[test.channel].to_numpy()[first : last + 1].sum()) <= 0 and test.spend_change < 0:
            raise ScenarioError(
                "--lift-tests", "spend_change", f"'{test.channel}' spent nothing to cut during its test"
            )


def _lift_rows(
    tests: Sequence[LiftTest],
    media: MediaHistory,
    channels: Sequence[str],
    emulator: Emulator,
    contributions: dict[str, FloatArray],
    awareness: dict[str, FloatArray],
    offset: int = OFFSET,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """One row per lift test, from the test run in the emulator.

    The centre with the test's spend change (a run per seed) gives the test's effect on new
    customers over the weeks it covers, ``E``; the share of it owed to the channel's awareness is
    taken as the awareness part's share of the channel's contribution in those weeks,
    ``H / G``. The effect at strength ``s`` is ``E (1 - H/G) + s E H/G``: the row's target is the
    measured effect minus the fixed part. ``contributions`` and ``awareness`` are the channels'
    effects on all new customers (weeks); the runs' series are summed.
    """
    rows, effects, errors = [], [], []
    for test, runs in zip(tests, emulator.lifts, strict=True):
        first, last = _test_days(test, media)
        weeks = slice(first // WEEK, last // WEEK + 1)
        per_seed = (runs - emulator.base).sum(axis=1)[:, weeks].sum(axis=1)
        effect = float(per_seed.mean())
        # the emulator's own error of the test's effect adds to the test's
        noise = float(per_seed.std(ddof=1) / math.sqrt(per_seed.size)) if per_seed.size > 1 else 0.0
        total = float(contributions[test.channel][weeks].sum())
        share = float(np.clip(awareness[test.channel][weeks].sum() / total, 0.0, 1.0)) if total > 0 else 0.0
        row = np.zeros(offset + len(channels))
        row[offset + list(channels).index(test.channel)] = effect * share
        rows.append(row)
        effects.append(test.effect - effect * (1.0 - share))
        errors.append(math.hypot(test.standard_error, noise))
    return (
        np.array(rows).reshape(-1, offset + len(channels)),
        np.array(effects, dtype=np.float64),
        np.array(errors, dtype=np.float64),
    )


def acquisition_series(
    log: OrderLog, base: Scenario, start: int, weeks: int
) -> tuple[dict[str, npt.NDArray[np.int64]] | None, str]:
    """Each customer's first-order day per acquisition channel, when the log can give them.

    The acquisition channel of a customer is the channel of their first order (the first row
    of their earliest day in the log), as the simulator records it in ``orders.csv``. The model
    produces new customers in the scenario's channels only, so the log must name a channel the
    scenario has for every first order in the history.

    Parameters
    ----------
    log
        The order log.
    base
        The base scenario (its channels).
    start
        The media history's first day (days since 1970-01-01).
    weeks
        Weeks of the history.

    Returns
    -------
    tuple
        ``{channel: first-order days (day 0 = start)}`` for every channel of the scenario, or
        ``None`` when the log cannot give them, and a sentence saying which and why.
    """
    orders = log.orders
    if "channel" not in orders.columns:
        return None, "the order log has no channel column: the new customers of all channels are one series"
    order = np.lexsort((np.arange(len(orders)), orders["day"].to_numpy(), orders["customer"].to_numpy()))
    firsts = orders.iloc[order].drop_duplicates("customer")
    days = firsts["day"].to_numpy(np.int64) - start
    inside = (days >= 0) & (days < weeks * WEEK)
    channel = firsts["channel"][inside]
    blank = channel.isna() | (channel.astype(str).str.strip() == "")
    if blank.any():
        return None, (
            f"{int(blank.sum())} first orders have no channel: the new customers of all channels "
            "are one series"
        )
    unknown = sorted(set(channel.astype(str)) - set(base.channel_names))
    if unknown:
        return None, (
            f"first orders in channels the scenario does not have ({', '.join(unknown[:3])}): the new "
            "customers of all channels are one series"
        )
    names = channel.astype(str).to_numpy()
    return {name: days[inside][names == name] for name in base.channel_names}, (
        "weekly new customers per acquisition channel (the channel of a customer's first order in the "
        "log, as the simulator records it), each a target of the fit"
    )


def _check(weeks: pd.DataFrame, prefix: str = "") -> dict[str, Any]:
    """Coverage of the 95% interval and MAPE of a weekly measure over some weeks (ratios).

    The measure's columns are ``actual``, ``predicted``, ``low`` and ``high`` after ``prefix``
    (none: new customers; ``orders_``, ``revenue_``).
    """
    actual, predicted = weeks[f"{prefix}actual"], weeks[f"{prefix}predicted"]
    inside = (actual >= weeks[f"{prefix}low"]) & (actual <= weeks[f"{prefix}high"])
    nonzero = actual > 0
    mape = float((abs(predicted - actual) / actual)[nonzero].mean())
    return {"weeks": len(weeks), "coverage": float(inside.mean()), "mape": mape}


def _series_check(
    series: FloatArray,
    fixed: FloatArray,
    design: FloatArray,
    fit: Fit,
    names: tuple[str, ...] | None,
    fitted: int,
    holdout_weeks: int,
) -> dict[str, dict[str, float | None]]:
    """Per acquisition channel, new customers actual and predicted at the centre ({} with one series).

    Over the hold-out weeks (the calibration weeks without a hold-out): their sum, the MAPE of
    the weekly values and the channel's residual standard deviation in the fit.
    """
    if names is None:
        return {}
    weeks = slice(fitted, None) if holdout_weeks > 0 else slice(0, fitted)
    predicted = fixed + design @ fit.estimate
    out: dict[str, dict[str, float | None]] = {}
    for i, name in enumerate(names):
        actual, model = series[i, weeks], predicted[i, weeks]
        nonzero = actual > 0
        out[name] = {
            "actual": float(actual.sum()),
            "predicted": float(model.sum()),
            "mape": float((abs(model - actual) / actual)[nonzero].mean()) if nonzero.any() else None,
            "residual_sd": float(fit.sigmas[i]),
        }
    return out


def _lift_summary(
    tests: Sequence[LiftTest],
    media: MediaHistory,
    channels: Sequence[str],
    emulator: Emulator,
    contributions: dict[str, FloatArray],
    awareness: dict[str, FloatArray],
    fit: Fit,
) -> list[dict[str, Any]]:
    """Each lift test as given, as the calibrated model has it, and converted to a ROAS.

    ``model_effect`` is the test run in the emulator at the fitted strength (new customers);
    ``revenue_per_new_customer`` the channel's incremental revenue per incremental new customer over
    the history at the centre (currency per person), which turns the measured effect and its
    standard error into ``roas`` and ``roas_se`` (revenue / spend change).
    """
    x, y, _ = _lift_rows(
        tests, media, channels, emulator, contributions, awareness, fit.estimate.size - len(channels)
    )
    out = []
    for i, test in enumerate(tests):
        fixed_part = test.effect - float(y[i])
        model = fixed_part + float(x[i] @ fit.estimate)
        gained = float((emulator.base - emulator.without[test.channel]).sum(axis=(1, 2)).mean())
        revenue = float((emulator.revenue - emulator.revenue_without[test.channel]).mean())
        per_customer = revenue / gained if gained > 0 else math.nan
        out.append(
            {
                "channel": test.channel,
                "start": str(test.start.date()),
                "end": str(test.end.date()),
                "spend_change": test.spend_change,
                "effect": test.effect,
                "standard_error": test.standard_error,
                "model_effect": model,
                "revenue_per_new_customer": None if math.isnan(per_customer) else per_customer,
                "roas": None if math.isnan(per_customer) else test.effect * per_customer / test.spend_change,
                "roas_se": None
                if math.isnan(per_customer)
                else test.standard_error * per_customer / abs(test.spend_change),
            }
        )
    return out


def _draw_mean(rng: np.random.Generator, per_seed: FloatArray, size: int) -> FloatArray:
    """Draws of a mean over seeds from its normal sampling distribution."""
    mean = float(per_seed.mean())
    error = float(per_seed.std(ddof=1) / math.sqrt(per_seed.size))
    return rng.normal(mean, error, size=size) if error > 0 else np.full(size, mean)


def _prior_rows(
    organic: float, strengths: Sequence[float], offset: int = OFFSET
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The prior as rows: organic factor and strengths (relative to the base) ~ normal(1, PRIOR_SD).

    The columns are relative to the current centre, whose factors are ``organic`` and
    ``strengths``: a row ``centre x s = 1`` with standard error ``PRIOR_SD``.
    """
    columns = offset + len(strengths)
    rows = np.zeros((1 + len(strengths), columns))
    rows[0, 0] = organic
    for i, strength in enumerate(strengths):
        rows[1 + i, offset + i] = strength
    return rows, np.ones(rows.shape[0]), np.full(rows.shape[0], PRIOR_SD)


def not_identified_reason(
    name: str, spend_cv: float, awareness_share: float, awareness_weekly: float, noise: float
) -> str:
    """Why a channel's strength is not identified by the data, naming the parameter, in one line.

    Parameters
    ----------
    name
        The channel.
    spend_cv
        Coefficient of variation of its weekly spend over the calibration weeks (ratio).
    awareness_share
        Share of its contribution to new customers owed to its awareness effect over the
        calibration weeks, at the centre (ratio).
    awareness_weekly
        Its awareness effect, mean over the calibration weeks (new customers per week).
    noise
        Residual standard deviation of the fit (new customers per week).

    Returns
    -------
    str
        ``"NAME: awareness_per_impression strength not identified by the data (reason)"``; the
        reason is the first that holds of: the spend never varies (:data:`SPEND_VARIES`), the
        new customers come mostly through clicks (:data:`AWARENESS_SHARE`), the awareness effect
        is small next to the weekly noise.
    """
    head = f"{name}: awareness_per_impression strength {NOT_IDENTIFIED}"
    if spend_cv < SPEND_VARIES:
        varies = "never varies" if spend_cv < 1e-9 else f"hardly varies ({spend_cv:.0%})"
        return f"{head}: its spend {varies}, so the data cannot tell its effect from the baseline"
    if awareness_share < AWARENESS_SHARE:
        return (
            f"{head} (its spend varies {spend_cv:.0%} but {1 - awareness_share:.0%} of its new customers "
            "come through clicks, which the calibration does not fit)"
        )
    return (
        f"{head} (its spend varies {spend_cv:.0%} but its awareness effect, {awareness_weekly:.3g} new "
        f"customers a week, is small next to the weekly noise of {noise:.3g})"
    )


@dataclass
class MediaCalibration:
    """The calibrated channels, the posterior ensemble and the hold-out check.

    Attributes
    ----------
    centre : Scenario
        The calibrated scenario (the ensemble's centre).
    posterior : pandas.DataFrame
        One row per ``member``: ``organic_factor`` and each channel's ``strength_NAME``
        (multiplier of the base's awareness), ``awareness_per_impression_NAME`` and ``roas_NAME``.
    channels : pandas.DataFrame
        One row per channel: ``spend`` (currency), ``spend_cv`` (coefficient of variation of weekly
        spend over the calibration weeks), ``awareness_share`` (share of its contribution to new
        customers owed to its awareness, ratio), ``strength`` and its ``strength_se``, ``roas``
        (centre), ``roas_low`` / ``roas_high`` (95% interval), ``identified``, ``lift_tests`` and
        ``note`` (why it is not identified, naming the parameter; empty when identified).
    holdout : pandas.DataFrame
        One row per week: ``date``, weekly new customers ``actual``, ``predicted`` (the centre),
        ``low`` / ``high`` (95% predictive interval), ``holdout``; with the predictive check, per
        measure of :data:`PREDICTED_MEASURES` ``orders_actual``, ``orders_predicted`` (median of
        the simulated members), ``orders_low`` / ``orders_high`` (their 2.5-97.5% quantiles), the
        same for ``revenue_``.
    summary : dict
        ``media_calibration.json``.
    """

    centre: Scenario
    posterior: pd.DataFrame
    channels: pd.DataFrame
    holdout: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        """The channels' ROAS with intervals and the hold-out check, as lines of text."""
        lines = [
            "Incremental ROAS per channel (revenue / spend over the history; 95% interval over the ensemble):"
        ]
        for name, row in self.channels.iterrows():
            note = "" if row["identified"] else f"  <- {NOT_IDENTIFIED}"
            lines.append(
                f"  {name:<14} {row['roas']:8.2f}  [{row['roas_low']:.2f}, {row['roas_high']:.2f}]"
                f"  lift tests {int(row['lift_tests'])}{note}"
            )
        lines += [f"  {row['note']}" for _, row in self.channels.iterrows() if not row["identified"]]
        check = self.summary.get("holdout")
        predictive = self.summary.get("predictive") or {}
        for key, label in (("fit", "Calibration weeks (in-sample)"), ("holdout", "Hold-out")):
            block = self.summary.get(key)
            if not block:
                continue
            lines.append(
                f"{label} ({block['weeks']} weeks): weekly new customers inside the 95% interval "
                f"{block['coverage']:.0%}, MAPE {block['mape']:.1%}"
            )
            for measure, measured in (predictive.get(key) or {}).items():
                lines.append(
                    f"  weekly {measure} ({predictive['members']} simulated members): inside the 95% "
                    f"interval {measured['coverage']:.0%}, MAPE {measured['mape']:.1%}"
                )
        if not check:
            lines.append("No hold-out weeks: the forecast is unvalidated (give --holdout-weeks).")
        return "\n".join(lines)

    def save(self, out_dir: str | Path, overwrite: bool = False) -> list[Path]:
        """Write :data:`MEDIA_CALIBRATION_FILES` into ``out_dir``, all or none."""
        data = self.centre.model_dump(mode="json", exclude_none=True)
        writers: dict[str, Callable[[Path], object]] = {
            "scenario.yaml": lambda p: p.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8"),
            "posterior.parquet": lambda p: self.posterior.to_parquet(p, index=False),
            "media_calibration.json": lambda p: p.write_text(
                json.dumps(self.summary, indent=2), encoding="utf-8"
            ),
            "media_channels.csv": self.channels.to_csv,
            "media_holdout.csv": self.holdout.to_csv,
        }
        return write_files(out_dir, writers, overwrite)


def calibrate_media(
    base: Scenario,
    log: OrderLog,
    media: MediaHistory,
    lift_tests: Sequence[LiftTest] = (),
    holdout_weeks: int = 0,
    seeds: Sequence[int] = (1, 2, 3),
    iterations: int = 2,
    members: int = 200,
    weight: float = 1.0,
    seed: int = 0,
    workers: int = 1,
    progress: bool = False,
    on_round: Callable[[str], None] | None = None,
    by_channel: bool = False,
    predict_members: int = PREDICT_MEMBERS,
) -> MediaCalibration:
    """Calibrate the channels' response strengths to an order log and a media history.

    Parameters
    ----------
    base
        The base scenario (its channels named as in the media history).
    log
        The order log (new customers per week are counted from it).
    media
        The media history.
    lift_tests
        Lift tests used as extra calibration targets.
    holdout_weeks
        Last weeks kept out of the fit and forecast (weeks).
    seeds
        Seeds of the emulator runs (at least two).
    iterations
        Emulator centres (at least 1; the fit moves the centre between them).
    members
        Size of the posterior ensemble (at least 20).
    weight
        Real customers per customer of the log (``population.scale`` of a simulated log).
    seed
        Seed of the ensemble draws; the predictive check runs its ``k``-th member on seed
        ``seed + k``.
    workers
        Worker processes of the runs.
    progress
        Show progress bars.
    on_round
        Called with one line per round of emulator runs (runs, seconds, where the centre moved).
    by_channel
        Fit the weekly new customers of each acquisition channel (the channel of a customer's
        first order) when the log has a ``channel`` column naming the scenario's channels
        (:func:`acquisition_series`); else, and by default, the weekly new customers of all
        channels together. Off by default: on the recovery world it biased display's strength
        (README "Media history and lift tests").
    predict_members
        Posterior members simulated over the history to predict weekly orders and revenue (0 =
        no predictive check; else 2 to ``members``): the module's step 6.

    Returns
    -------
    MediaCalibration

    Raises
    ------
    ScenarioError
        One line for a channel unknown to the scenario, too few seeds or members, a number of
        predictive members out of range, a hold-out leaving fewer fitted weeks than parameters,
        or a lift test outside the history.
    """
    media.check_channels(base.channel_names)
    if len(seeds) < 2:
        raise ScenarioError(
            "calibrate --media", "seeds", "give at least 2 seeds (the ROAS interval needs them)"
        )
    if members < 20:
        raise ScenarioError(
            "calibrate --media", "members", f"the ensemble needs at least 20 members, got {members}"
        )
    if predict_members != 0 and not 2 <= predict_members <= members:
        raise ScenarioError(
            "calibrate --media",
            "predict_members",
            f"got {predict_members}; give 0 (no predictive check) or 2 to the ensemble's {members} members",
        )
    channels = [name for name in base.channel_names if name in media.channels]
    weeks = media.days // WEEK
    fitted = weeks - holdout_weeks
    if holdout_weeks < 0 or fitted < 3 * (OFFSET + len(channels)):
        raise ScenarioError(
            "calibrate --media",
            "holdout_weeks",
            f"{holdout_weeks} hold-out weeks of {weeks} leave {fitted} to fit "
            f"{OFFSET + len(channels)} parameters; "
            f"keep at least {3 * (OFFSET + len(channels))} weeks",
        )
    occasions = log.occasions()
    start = int((media.first_date - pd.Timestamp("1970-01-01")).days)
    first = occasions.groupby("customer")["day"].min().to_numpy(np.int64) - start
    actual = weekly_new_customers(first, weeks, weight)
    targets, targets_note = (
        acquisition_series(log, base, start, weeks)
        if by_channel
        else (None, "the new customers of all channels are one series (--by-channel not given)")
    )
    observed = (
        np.array([weekly_new_customers(d, weeks, weight) for d in targets.values()])
        if targets is not None
        else actual[None, :]
    )
    names = tuple(targets) if targets is not None else None
    offset = _offset(observed.shape[0])

    daily = media.daily_spend()
    weekly_spend = daily.groupby(daily.index // WEEK).sum()
    _check_lift_tests(lift_tests, media, channels)
    strengths = dict.fromkeys(channels, 1.0)
    organic = 1.0
    per_round = (1 + 2 * len(channels) + len(lift_tests)) * len(seeds)
    for step in range(iterations):
        centre = media_scenario(base, media, strengths, organic)
        label = f"media calibration {step + 1}/{iterations}"
        started = time.perf_counter()
        emulator = _emulate(
            centre, channels, seeds, weeks, workers, label, progress, lift_tests, media, names
        )
        by_series = emulator.effects(emulator.without, weekly_spend)
        aware_by_series = emulator.effects(emulator.unaware, weekly_spend)
        contributions = {name: effect.sum(axis=0) for name, effect in by_series.items()}
        awareness = {name: effect.sum(axis=0) for name, effect in aware_by_series.items()}
        fixed_by_series = sum((by_series[n] - aware_by_series[n] for n in channels), np.zeros(observed.shape))
        design_by_series = _design(emulator.rest(by_series), aware_by_series)
        lift_x, lift_y, lift_se = _lift_rows(
            lift_tests, media, channels, emulator, contributions, awareness, offset
        )
        prior_x, prior_y, prior_se = _prior_rows(organic, [strengths[name] for name in channels], offset)
        fit = _fit(
            observed[:, :fitted] - fixed_by_series[:, :fitted],
            design_by_series[:, :fitted],
            np.vstack([lift_x, prior_x]),
            np.r_[lift_y, prior_y],
            np.r_[lift_se, prior_se],
        )
        if on_round is not None:
            fitted_values = ", ".join(
                f"{name} {strengths[name] * fit.estimate[offset + i]:.3g}" for i, name in enumerate(channels)
            )
            seconds = time.perf_counter() - started
            on_round(
                f"{label}: {per_round} runs ({per_round // len(seeds)} scenarios x {len(seeds)} seeds, "
                f"{weeks} weeks, {base.population.agents:,} agents) in {seconds:.1f} s; "
                f"fit: organic {organic * fit.estimate[0]:.3g}, strengths {fitted_values}"
            )
        if step < iterations - 1:  # move the centre, at most halving or doubling a parameter per step
            organic *= float(np.clip(fit.estimate[0], 0.5, 2.0))
            for i, name in enumerate(channels):
                strengths[name] *= float(np.clip(fit.estimate[offset + i], 0.5, 2.0))

    rng = np.random.default_rng(seed)
    draws = rng.multivariate_normal(fit.estimate, fit.covariance, size=members, method="eigh")
    positive = [0, *range(offset, offset + len(channels))]
    draws[:, positive] = np.clip(draws[:, positive], 0.0, None)
    se = np.sqrt(np.diag(fit.covariance))

    # Incremental revenue of each channel at the last centre, per seed (as incrementality measures it).
    by_name = {c.name: c for c in centre.channels}
    posterior = pd.DataFrame({"member": np.arange(members), "organic_factor": organic * draws[:, 0]})
    rows = []
    for i, name in enumerate(channels):
        spend = float(daily[name].sum())
        # ROAS of a member: incremental revenue at the centre plus (strength - 1) x the revenue
        # of the channel's awareness effect, each drawn from its error over the seeds.
        incremental = _draw_mean(rng, emulator.revenue - emulator.revenue_without[name], members)
        aware = _draw_mean(rng, emulator.revenue - emulator.revenue_unaware[name], members)
        strength = draws[:, offset + i]
        roas = (incremental + (strength - 1.0) * aware) / spend if spend > 0 else np.full(members, np.nan)
        mean = float((emulator.revenue - emulator.revenue_without[name]).mean())
        mean_aware = float((emulator.revenue - emulator.revenue_unaware[name]).mean())
        posterior[f"strength_{name}"] = strengths[name] * strength
        posterior[f"awareness_per_impression_{name}"] = np.minimum(
            1.0, by_name[name].awareness_per_impression * strength
        )
        posterior[f"roas_{name}"] = roas
        relative = strengths[name] * se[offset + i] / PRIOR_SD
        series = weekly_spend[name].to_numpy()[:fitted]  # the weeks the data fit
        spend_cv = float(series.std() / series.mean()) if series.mean() > 0 else 0.0
        total = float(contributions[name][:fitted].sum())
        share = float(np.clip(awareness[name][:fitted].sum() / total, 0.0, 1.0)) if total > 0 else 0.0
        identified = bool(relative <= IDENTIFIED_SHRINKAGE)
        reason = not_identified_reason(
            name, spend_cv, share, float(awareness[name][:fitted].mean()), fit.sigma
        )
        rows.append(
            {
                "channel": name,
                "spend": spend,
                "spend_cv": spend_cv,
                "awareness_share": share,
                "strength": strengths[name] * float(fit.estimate[offset + i]),
                "strength_se": strengths[name] * float(se[offset + i]),
                "sd_over_prior": float(relative),
                "roas": (mean + (float(fit.estimate[offset + i]) - 1.0) * mean_aware) / spend
                if spend > 0
                else math.nan,
                "roas_low": float(np.quantile(roas, 0.025)),
                "roas_high": float(np.quantile(roas, 0.975)),
                "identified": identified,
                "lift_tests": sum(t.channel == name for t in lift_tests),
                "note": "" if identified else reason,
            }
        )
    table = pd.DataFrame(rows).set_index("channel")

    # Every member's weekly new customers with the actual spend, plus the residual noise.
    fixed = fixed_by_series.sum(axis=0)
    design = design_by_series.sum(axis=0)
    predicted = fixed + draws @ design.T + rng.normal(0.0, fit.sigma, size=(members, weeks))
    dates = media.first_date + pd.to_timedelta(np.arange(weeks) * WEEK, unit="D")
    holdout = pd.DataFrame(
        {
            "date": dates.date.astype(str),
            "actual": actual,
            "predicted": fixed + design @ fit.estimate,
            "low": np.quantile(predicted, 0.025, axis=0),
            "high": np.quantile(predicted, 0.975, axis=0),
            "holdout": np.arange(weeks) >= fitted,
        }
    ).rename_axis("week")
    check = _check(holdout[holdout["holdout"]]) if holdout_weeks > 0 else None
    predictive = None
    if predict_members:
        started = time.perf_counter()
        chosen = predictive_members(members, predict_members)
        tasks = [
            (
                media_scenario(
                    base,
                    media,
                    {name: float(posterior[f"strength_{name}"].iloc[m]) for name in channels},
                    float(posterior["organic_factor"].iloc[m]),
                ),
                seed + k,
            )
            for k, m in enumerate(chosen)
        ]
        simulated = np.array(
            get_executor(workers, source="calibrate --media").map(
                partial(_run_orders, weeks), tasks, label="posterior predictive", progress=progress
            )
        )  # members x measures x weeks
        log_orders = weekly_orders(
            log.orders["day"].to_numpy(np.int64) - start,
            log.orders["revenue"].to_numpy(np.float64),
            weeks,
            weight,
        )
        for i, measure in enumerate(PREDICTED_MEASURES):
            holdout[f"{measure}_actual"] = log_orders[i]
            holdout[f"{measure}_predicted"] = np.median(simulated[:, i], axis=0)
            holdout[f"{measure}_low"] = np.quantile(simulated[:, i], 0.025, axis=0)
            holdout[f"{measure}_high"] = np.quantile(simulated[:, i], 0.975, axis=0)
        predictive = {
            "members": predict_members,
            "member_ids": chosen,
            "seeds": [seed + k for k in range(predict_members)],
            "method": "posterior predictive check: each member's scenario with the history's spend simulated "
            "over the whole history on its own seed; median and 2.5-97.5% quantiles over the members "
            "(parameter uncertainty and simulation noise; repeat purchase and basket parameters are the "
            "base scenario's, not calibrated)",
            "fit": {m: _check(holdout[~holdout["holdout"]], f"{m}_") for m in PREDICTED_MEASURES},
            "holdout": {m: _check(holdout[holdout["holdout"]], f"{m}_") for m in PREDICTED_MEASURES}
            if holdout_weeks > 0
            else None,
        }
        if on_round is not None:
            on_round(
                f"posterior predictive: {predict_members} runs ({weeks} weeks, "
                f"{base.population.agents:,} agents) in {time.perf_counter() - started:.1f} s"
            )

    final = {
        name: strengths[name] * max(float(fit.estimate[offset + i]), 0.0) for i, name in enumerate(channels)
    }
    centre_scenario = media_scenario(base, media, final, organic * max(float(fit.estimate[0]), 0.0))
    summary = {
        "method": "emulator by simulation, weighted least squares with lift tests, Newey-West covariance, "
        "normal posterior ensemble (simulator/calibrate/media.py)",
        "media": {"source": media.source, "frequency": media.frequency, "days": media.days, "weeks": weeks},
        "orders": log.source,
        "outcome": "weekly new customers (first order of a customer in the log)",
        "targets": list(targets) if targets is not None else ["all channels"],
        "targets_note": targets_note,
        "acquisition_channels": _series_check(
            observed, fixed_by_series, design_by_series, fit, names, fitted, holdout_weeks
        ),
        "seeds": list(seeds),
        "iterations": iterations,
        "members": members,
        "residual_sd": fit.sigma,
        "organic_factor": organic * float(fit.estimate[0]),
        "runs": per_round * iterations,
        "predicted": ["new_customers", *PREDICTED_MEASURES] if predictive else ["new_customers"],
        "not_predicted": ""
        if predictive
        else "orders and revenue (--predict-members 0): the channel "
        "strengths act on acquisition; orders and revenue also rest on repeat purchases and basket "
        "values, which this calibration keeps as the base scenario has them (calibrate without --media "
        "fits those to the order log)",
        "predicted_note": "new customers: the emulator at the centre, band over the ensemble plus the fit's "
        "residual noise"
        + (
            f"; orders and revenue: the median of {predict_members} simulated posterior members, band their "
            "2.5-97.5% quantiles (parameter uncertainty and simulation noise); their repeat purchase and "
            "basket parameters are the base scenario's, not calibrated, so a miss there points at them"
            if predictive
            else ""
        ),
        "channels": {
            name: {
                key: (None if isinstance(v, float) and not math.isfinite(v) else v) for key, v in row.items()
            }
            for name, row in table.to_dict(orient="index").items()
        },
        "lift_tests": _lift_summary(lift_tests, media, channels, emulator, contributions, awareness, fit),
        "fit": _check(holdout[~holdout["holdout"]]),
        "holdout": check,
        "validated": check is not None,
        "predictive": predictive,
    }
    return MediaCalibration(centre_scenario, posterior, table, holdout, summary)
