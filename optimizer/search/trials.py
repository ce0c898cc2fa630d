"""Trials: one policy scored on the trial seeds, and the table of every trial of a study.

Every trial is simulated on the *same* seeds (common random numbers), so trials differ only by
their policy. The seeds run side by side month by month; their mean running value of the
first objective (:attr:`optimizer.objectives.Objective.running`) is reported to Optuna, which
stops clearly bad trials early. Each trial keeps every objective's mean, 95% t-interval and
per-seed values as user attributes. A policy the schema refuses is a pruned trial with the
reason in its ``invalid`` attribute, never a crash.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import optuna
import pandas as pd

from simulator.config.scenario import Scenario, ScenarioError
from simulator.config.search import SearchSettings
from simulator.engine.batch import BatchModel, batch_size, batchable
from simulator.engine.model import CommerceModel
from simulator.engine.results import collect_results
from simulator.measure.executor import check_stop
from simulator.measure.replicate import confidence_interval

from ..objectives import OBJECTIVES, get_objective, metric_values
from .owners import enqueue_again
from .space import apply_policy

__all__ = ["FINISHED", "noise_groups", "score_policy"]

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
"""Trial states counted towards the requested number (a crashed trial is retried instead)."""


def score_policy(
    scenario: Scenario,
    seeds: Sequence[int],
    objective: str = "profit",
    interval_days: int = 30,
    report: Callable[[int, float], None] | None = None,
) -> pd.DataFrame:
    """Simulate a scenario on several seeds side by side, reporting the running objective.

    Parameters
    ----------
    scenario
        The scenario with the policy to score.
    seeds
        Seeds (common random numbers: score every policy on the same ones).
    objective
        Objective (a name of :data:`~optimizer.objectives.OBJECTIVES`) whose running mean over
        the seeds is passed to ``report``; an objective without a running value is not reported.
    interval_days
        Days between reports.
    report
        Called as ``report(step, value)`` after every ``interval_days`` days (``step`` counts
        from 0); it may raise (e.g. :class:`optuna.TrialPruned`) to stop the runs.

    Returns
    -------
    pandas.DataFrame
        One row per seed: every objective the simulator reports (a value per customer in
        currency per customer) and the costs, over the horizon
        (:func:`~optimizer.objectives.metric_values`).
    """
    running = get_objective(objective).running
    models = [CommerceModel(scenario, seed=seed) for seed in seeds]
    steppers = _steppers(scenario, models)
    try:
        step = 0
        horizon = scenario.horizon_days
        while models[0].day < horizon:
            stop = min(models[0].day + interval_days, horizon)
            for stepper in steppers:
                while stepper.day < stop:
                    check_stop()  # a worker process told to stop fails the trial here
                    stepper.step()
            if report is not None and running is not None and stop < horizon:
                values = [running(model) for model in models]
                report(step, float(np.nanmean(values)) if not np.all(np.isnan(values)) else -math.inf)
                step += 1
        rows = [metric_values(collect_results(model).summary) for model in models]
    finally:
        for stepper in steppers:
            stepper.release()
    return pd.DataFrame(rows, index=pd.Index(list(seeds), name="seed"))


def _steppers(scenario: Scenario, models: list[CommerceModel]) -> list[CommerceModel]:
    """The trial's seeds stepped as batches of worlds where they can be (bit-identical to alone).

    As many seeds per batch as :func:`~simulator.engine.batch.batch_size` allows (memory, and the
    size beyond which batches stop paying); a scenario with a customer base steps each seed alone.
    """
    if len(models) == 1 or not batchable([scenario]):
        return list(models)
    size = batch_size(scenario)
    groups = [models[k : k + size] for k in range(0, len(models), size)]
    return [BatchModel(group) if len(group) > 1 else group[0] for group in groups]


# --------------------------------------------------------------------------- one trial


def _suggest(trial: optuna.Trial, settings: SearchSettings) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for path, spec in (settings.parameters or {}).items():
        if spec.type == "bool":
            values[path] = trial.suggest_categorical(path, [False, True])
        elif spec.type == "categorical":
            values[path] = trial.suggest_categorical(path, spec.choices or [])
        elif spec.type == "int":
            step = int(spec.step) if spec.step else 1
            values[path] = trial.suggest_int(
                path, int(spec.low or 0), int(spec.high or 0), step=step, log=spec.log
            )
        else:
            values[path] = trial.suggest_float(
                path, float(spec.low or 0), float(spec.high or 0), step=spec.step, log=spec.log
            )
    return values


def prunes(settings: SearchSettings) -> bool:
    """Whether trials are stopped early: one objective, pruning on, and a running value to report."""
    first = get_objective(settings.objective[0])
    return not settings.multi and settings.pruning.enabled and first.running is not None


def trial_objective(
    scenario: Scenario, settings: SearchSettings, seeds: Sequence[int]
) -> Callable[[optuna.Trial], float | tuple[float, float]]:
    """The function Optuna calls per trial: sample a policy, simulate it, return the objectives.

    A trial stopped (``KeyboardInterrupt``: Ctrl-C, or a worker told to stop at ``check_stop``)
    enqueues its parameters again before Optuna marks it failed, so the study's next trial, in
    this run or the resumed one, runs them (:func:`~optimizer.search.owners.enqueue_again`).
    """
    metrics = list(settings.objective)
    prune = prunes(settings)
    interval = settings.pruning.interval_days

    def objective(trial: optuna.Trial) -> float | tuple[float, float]:
        try:
            return scored(trial)
        except KeyboardInterrupt as stop:
            try:
                enqueue_again(trial.study, trial.study._storage.get_trial(trial._trial_id))
            finally:
                raise stop  # the stop wins over a failure to enqueue

    def scored(trial: optuna.Trial) -> float | tuple[float, float]:
        values = _suggest(trial, settings)
        try:
            policy = apply_policy(scenario, values, f"trial {trial.number}")
        except ScenarioError as error:
            trial.set_user_attr("invalid", str(error))
            raise optuna.TrialPruned(str(error)) from None

        def report(step: int, value: float) -> None:
            if prune:
                trial.report(value, step)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"below the median at day {(step + 1) * interval}")

        started = time.perf_counter()
        try:
            runs = score_policy(policy, seeds, metrics[0], interval, report)
        finally:
            trial.set_user_attr("sim_seconds", time.perf_counter() - started)
        for metric in OBJECTIVES:
            if metric not in runs:
                continue
            mean, _, low, high = confidence_interval(runs[metric].to_numpy())
            trial.set_user_attr(metric, _finite(mean))
            trial.set_user_attr(f"{metric}_low", _finite(low))
            trial.set_user_attr(f"{metric}_high", _finite(high))
            trial.set_user_attr(f"{metric}_by_seed", [_finite(v) for v in runs[metric]])
        for metric in metrics:
            if metric not in runs:  # left out because the simulator does not report its KPI
                get_objective(metric).require(())
        scores = [float(runs[m].mean()) for m in metrics]
        scores = [s if math.isfinite(s) else -1e300 for s in scores]
        return scores[0] if len(scores) == 1 else (scores[0], scores[1])

    return objective


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


# --------------------------------------------------------------------------- the study's trials


def finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Trials counted towards the requested number (:data:`FINISHED`)."""
    return study.get_trials(deepcopy=False, states=FINISHED)


def front(study: optuna.Study, settings: SearchSettings) -> list[optuna.trial.FrozenTrial]:
    """The Pareto front by the first objective (two objectives), or the best trial (one)."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return []
    if settings.multi:
        return sorted(study.best_trials, key=lambda t: t.values[0])
    return [max(complete, key=lambda t: t.values[0])]


def candidate_trials(study: optuna.Study, settings: SearchSettings) -> list[optuna.trial.FrozenTrial]:
    """The best few distinct policies: top by the objective, or spread along the Pareto front."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    count = settings.budget.candidates
    if settings.multi:
        on_front = front(study, settings)
        if len(on_front) <= count:
            ranked = on_front
        else:
            picks = np.unique(np.linspace(0, len(on_front) - 1, count).round().astype(int))
            ranked = [on_front[i] for i in picks]
    else:
        ranked = sorted(complete, key=lambda t: (-t.values[0], t.number))
    chosen: list[optuna.trial.FrozenTrial] = []
    seen: set[str] = set()
    for trial in ranked:
        key = json.dumps(trial.params, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            chosen.append(trial)
        if len(chosen) == count:
            break
    return chosen


def trial_params(trial: optuna.trial.FrozenTrial, settings: SearchSettings) -> dict[str, Any]:
    """A trial's parameters in the search space's order, as Python values."""
    params = trial.params
    return {path: params[path] for path in (settings.parameters or {}) if path in params}


def trials_table(study: optuna.Study, settings: SearchSettings) -> pd.DataFrame:
    """One row per trial: state, objectives with their intervals, front, noise group, parameters.

    The objectives are those searched and every other one the trials recorded (those whose KPI
    the simulator reports), in the registry's order.
    """
    front_trials = front(study, settings)
    on_front = {t.number for t in front_trials}
    ranked = sorted(front_trials, key=lambda t: -t.values[0])
    metrics: list[str] = list(settings.objective)
    seeds = [{m: t.user_attrs.get(f"{m}_by_seed", []) for m in metrics} for t in ranked]
    groups = noise_groups(seeds, metrics)
    group_of = {t.number: g for t, g in zip(ranked, groups, strict=True)}
    every = study.get_trials(deepcopy=False)
    recorded = [m for m in OBJECTIVES if m in metrics or any(m in t.user_attrs for t in every)]
    rows = []
    for trial in every:
        row: dict[str, Any] = {"number": trial.number, "state": trial.state.name}
        for metric in recorded:
            for suffix in ("", "_low", "_high"):
                value = trial.user_attrs.get(f"{metric}{suffix}")
                row[f"{metric}{suffix}"] = math.nan if value is None else value
        row["pareto"] = trial.number in on_front
        row["noise_group"] = group_of.get(trial.number)
        row["invalid"] = trial.user_attrs.get("invalid")
        row["sim_seconds"] = trial.user_attrs.get("sim_seconds", math.nan)
        row["last_step"] = trial.last_step
        row |= {f"param:{k}": v for k, v in trial.params.items()}
        rows.append(row)
    table = pd.DataFrame(rows)
    if "noise_group" in table:
        table["noise_group"] = table["noise_group"].astype("Int64")  # whole numbers, blank off the front
    return table


def noise_groups(by_seed: Sequence[Mapping[str, Sequence[float]]], metrics: Sequence[str]) -> list[int]:
    """Group policies whose paired differences are within the noise on every metric.

    Parameters
    ----------
    by_seed
        One mapping per policy, best first: metric -> values on the shared seeds (the same seeds,
        in the same order, for every policy).
    metrics
        The metrics compared (the objectives).

    Returns
    -------
    list of int
        A group number per policy, from 1. A policy starts a new group unless the 95% interval of
        its paired difference with the first policy of the current group covers 0 for every
        metric: a trade-off front of 4 policies in 2 groups offers 2 choices that the seeds can
        tell apart, not 4.
    """
    groups: list[int] = []
    group = 0
    leader: Mapping[str, Sequence[float]] | None = None
    for values in by_seed:
        same = leader is not None and all(
            len(values[m]) == len(leader[m]) > 0
            and _covers_zero(np.asarray(values[m], dtype=float) - np.asarray(leader[m], dtype=float))
            for m in metrics
        )
        if not same:
            leader, group = values, group + 1
        groups.append(group)
    return groups


def _covers_zero(differences: npt.NDArray[np.float64]) -> bool:
    _, _, low, high = confidence_interval(differences)
    if math.isnan(low):  # one seed: no interval; only identical values are the same
        return bool(np.all(differences == 0))
    return bool(low <= 0 <= high)
