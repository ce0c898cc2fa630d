"""Policy search with Optuna, budget split with the LP, and a check on fresh seeds.

:func:`optimize` answers "which loyalty and promotion policies should I run, with which budget
split?":

1. **Search.** Optuna samples policy parameters from the ranges of the scenario's ``search:``
   section (:mod:`optimizer.search_space`); every trial is simulated on the *same* seeds
   (common random numbers), so trials differ only by their policy. The seeds run side by side
   month by month; their mean running value of the objective is reported to Optuna, which
   stops clearly bad trials early (median pruning; single objective only, as Optuna prunes
   only single-objective studies). Each trial keeps profit, ROI and lifetime value per seed
   and their 95% t-intervals as user attributes. Two objectives give a Pareto front
   (multi-objective TPE by default, or NSGA-II).
   A policy the schema refuses (e.g. overlapping campaigns without a stacking rule) is a
   pruned trial with the reason in its ``invalid`` attribute, never a crash.
2. **Budget.** Response curves are measured once, under the best policy found, on their own
   seeds, and the allocation LP (:func:`optimizer.allocate.solve_on_curves`, with the
   scenario's ``allocation:`` constraints) splits the budget on them. Re-measuring curves for
   every trial would cost about 30 simulations a trial; curves under one policy are an
   approximation for the others, which step 3 checks by simulation.
3. **Selection.** The best few policies, each with the current plan and with the LP plan, the
   current policies with the LP plan, and the current plan itself run on fresh paired seeds;
   the best by the objective (two objectives: the largest sum of relative paired changes) is
   chosen. Keeping the current plan is a possible answer.
4. **Check.** The chosen policy and plan and the current ones run on another set of fresh
   paired seeds; ``recommendation.json`` reports both with 95% intervals and the paired
   change, and calls a change a win only when its interval excludes 0.

Studies last: the storage (an SQLite file in the output folder by default, or any database
URL) holds every finished trial; rerunning the same command resumes the study until
``trials`` trials have finished; several processes (``workers``), or machines pointed at one
database server, share a study (Optuna's pattern: one ``study.optimize`` per process).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import multiprocessing
import re
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import optuna
import pandas as pd

from simulator.config.scenario import Scenario, ScenarioError
from simulator.engine.model import CommerceModel
from simulator.engine.results import collect_results, write_files
from simulator.engine.simulate import check_memory
from simulator.measure.replicate import BASELINE, confidence_interval, replicate

from .allocate import solve_on_curves
from .curves import ResponseCurves, apply_plan, current_plan, measure_response
from .search_space import Metric, SearchSettings, apply_policy, search_settings
from .settings import Objective, allocation_settings

__all__ = [
    "OPTIMIZATION_FILES",
    "OptimizationResult",
    "mask_password",
    "optimize",
    "running_metrics",
    "score_policy",
]

COST_METRICS = ("marketing_spend", "program_costs")
"""Compared metrics that are costs: their verdict says higher / lower, not better / worse."""

OPTIMIZATION_FILES = ("recommendation.json", "trials.csv", "pareto.csv", "response_curves.csv")
"""Files written by :meth:`OptimizationResult.save`."""

STUDY_FILE = "study.db"
"""Default SQLite file of the study, in the output folder."""

METRICS = ("profit", "roi", "clv")
"""Metrics every trial records (see :class:`~optimizer.search_space.Metric`)."""

COMPARED = ("profit", "roi", "clv", "revenue", "marketing_spend", "program_costs", "new_customers")
"""Metrics of the final comparison (``clv`` per customer; the others are summary KPIs)."""

CURVE_SEED_OFFSET, SELECT_SEED_OFFSET, CONFIRM_SEED_OFFSET = 10_000, 20_000, 30_000
"""Seeds of the curve runs, the selection runs and the final check start here (plus the
scenario's seed); trials use the scenario's seed onwards, so the four sets never overlap."""

HEARTBEAT_SECONDS, GRACE_SECONDS = 10, 30
"""A trial whose process stops sending heartbeats for the grace period is failed and retried."""

LP_OBJECTIVE = {Metric.PROFIT: Objective.PROFIT, Metric.ROI: Objective.PROFIT, Metric.CLV: Objective.CLV}
"""What the budget LP maximizes for each search metric (at a fixed budget, ROI = profit / budget)."""


# --------------------------------------------------------------------------- scoring


def running_metrics(model: CommerceModel) -> dict[str, float]:
    """Profit, ROI and lifetime value per customer of a model so far (days ``0 .. model.day - 1``).

    The same figures as ``SimulationResult.summary`` (``profit``, ``roi``,
    ``acquired_customer_value / new_customers``) at the end of the horizon, without building
    the result tables: what a trial reports to Optuna month by month.
    """
    day = model.day
    ledger = model.ledger
    contribution = sum(
        float(ledger[f][:day].sum()) * (1 if f == "revenue" else -1)
        for f in ("revenue", "discounts", "cogs", "fees", "fulfilment", "spend")
    )
    program = sum(float(costs[:day].sum()) for costs in model.program_costs.values())
    profit = (contribution - program) * model.scale
    spend = float(ledger["spend"][:day].sum()) * model.scale
    population = model.population
    acquired = population.first_purchase_day >= 0
    customers = int(acquired.sum())
    value = float(population.contribution[acquired].sum())
    return {
        "profit": profit,
        "roi": profit / spend if spend > 0 else math.nan,
        "clv": value / customers if customers else math.nan,
    }


def _summary_metrics(summary: Mapping[str, float]) -> dict[str, float]:
    customers = summary["new_customers"]
    clv = summary["acquired_customer_value"] / customers if customers > 0 else math.nan
    return {
        "profit": float(summary["profit"]),
        "roi": float(summary["roi"]),
        "clv": float(clv),
        **{k: float(summary[k]) for k in COMPARED if k in summary and k not in METRICS},
    }


def score_policy(
    scenario: Scenario,
    seeds: Sequence[int],
    objective: Metric | str = Metric.PROFIT,
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
        Metric whose running mean over the seeds is passed to ``report``.
    interval_days
        Days between reports.
    report
        Called as ``report(step, value)`` after every ``interval_days`` days (``step`` counts
        from 0); it may raise (e.g. :class:`optuna.TrialPruned`) to stop the runs.

    Returns
    -------
    pandas.DataFrame
        One row per seed: ``profit``, ``roi``, ``clv`` (lifetime value per customer) and the
        other compared KPIs over the horizon.
    """
    metric = Metric(objective)
    models = [CommerceModel(scenario, seed=seed) for seed in seeds]
    try:
        step = 0
        horizon = scenario.horizon_days
        while models[0].day < horizon:
            stop = min(models[0].day + interval_days, horizon)
            for model in models:
                while model.day < stop:
                    model.step()
            if report is not None and stop < horizon:
                values = [running_metrics(model)[metric] for model in models]
                report(step, float(np.nanmean(values)) if not np.all(np.isnan(values)) else -math.inf)
                step += 1
        rows = [_summary_metrics(collect_results(model).summary) for model in models]
    finally:
        for model in models:
            model.release()
    return pd.DataFrame(rows, index=pd.Index(list(seeds), name="seed"))


# --------------------------------------------------------------------------- storage


def mask_password(url: str) -> str:
    """A storage URL with its password replaced by ``***`` (``postgresql://user:***@host/db``)."""
    return re.sub(r"(?<=://)([^:/@]*):([^@/]*)@", r"\1:***@", url)


def _password(url: str) -> str | None:
    match = re.search(r"://[^:/@]*:([^@/]*)@", url)
    return match.group(1) if match and match.group(1) else None


def _storage(url: str | None) -> optuna.storages.BaseStorage:
    """The study storage; errors become one line with the password masked."""
    if url is None:
        return optuna.storages.InMemoryStorage()
    shown = mask_password(url)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if url.startswith("sqlite:///"):
                folder = Path(url.removeprefix("sqlite:///")).parent
                if not folder.is_dir():
                    raise FileNotFoundError(f"folder {folder} does not exist")
            return optuna.storages.RDBStorage(
                url,
                engine_kwargs={"connect_args": {"timeout": 60}} if url.startswith("sqlite") else None,
                heartbeat_interval=HEARTBEAT_SECONDS,
                grace_period=GRACE_SECONDS,
                failed_trial_callback=optuna.storages.RetryFailedTrialCallback(max_retry=2),
            )
    except Exception as exc:  # noqa: BLE001 - any driver, network or URL failure is bad input
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        secret = _password(url)
        if secret:
            reason = reason.replace(secret, "***")
        if len(reason) > 200:
            reason = reason[:197] + "..."
        raise ScenarioError("--storage", "", f"{shown} cannot be opened ({reason})") from None


def _fingerprint(scenario: Scenario, settings: SearchSettings, seeds: Sequence[int]) -> str:
    """What makes trials comparable: the market, the seeds, the objectives and the space."""
    data = {
        "scenario": scenario.model_dump(mode="json", exclude={"search", "allocation", "seed"}),
        "seeds": list(seeds),
        "objective": [str(m) for m in settings.objective],
        "parameters": {k: v.model_dump(mode="json") for k, v in (settings.parameters or {}).items()},
        "interval_days": settings.pruning.interval_days,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
"""Trial states counted towards the requested number (a crashed trial is retried instead)."""


def _finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(deepcopy=False, states=FINISHED)


# --------------------------------------------------------------------------- the search


@dataclass(frozen=True)
class _Job:
    """Everything a worker process needs to run trials (picklable)."""

    scenario: Scenario
    settings: SearchSettings
    seeds: tuple[int, ...]
    storage: str | None
    study_name: str
    sampler_seed: int


def _sampler(settings: SearchSettings, seed: int) -> optuna.samplers.BaseSampler:
    """TPE by default, for one or two objectives.

    With two objectives NSGA-II spends its first generation (20 trials) sampling at random and
    needs several generations to improve on it; with a budget of a few dozen trials, TPE's
    multi-objective mode gives a wider front: 4 policies against NSGA-II's 2 on the bundled
    omnichannel scenario (5,000 agents, 180 days, 30 trials, same seeds for both).
    """
    if settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if settings.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=10, multivariate=True)


def _pruner(settings: SearchSettings) -> optuna.pruners.BasePruner:
    pruning = settings.pruning
    if settings.multi or not pruning.enabled:
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(
        n_startup_trials=pruning.startup_trials, n_warmup_steps=pruning.warmup_steps
    )


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


def _objective(job: _Job) -> Callable[[optuna.Trial], float | tuple[float, float]]:
    settings = job.settings
    metrics = [Metric(m) for m in settings.objective]
    prune = not settings.multi and settings.pruning.enabled

    def objective(trial: optuna.Trial) -> float | tuple[float, float]:
        values = _suggest(trial, settings)
        try:
            scenario = apply_policy(job.scenario, values, f"trial {trial.number}")
        except ScenarioError as error:
            trial.set_user_attr("invalid", str(error))
            raise optuna.TrialPruned(str(error)) from None

        def report(step: int, value: float) -> None:
            if prune:
                trial.report(value, step)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"below the median at day {(step + 1) * interval}")

        interval = settings.pruning.interval_days
        started = time.perf_counter()
        try:
            runs = score_policy(scenario, job.seeds, metrics[0], interval, report)
        finally:
            trial.set_user_attr("sim_seconds", time.perf_counter() - started)
        for metric in METRICS:
            mean, _, low, high = confidence_interval(runs[metric].to_numpy())
            trial.set_user_attr(metric, _finite(mean))
            trial.set_user_attr(f"{metric}_low", _finite(low))
            trial.set_user_attr(f"{metric}_high", _finite(high))
            trial.set_user_attr(f"{metric}_by_seed", [_finite(v) for v in runs[metric]])
        scores = [float(runs[m].mean()) for m in metrics]
        scores = [s if math.isfinite(s) else -1e300 for s in scores]
        return scores[0] if len(scores) == 1 else (scores[0], scores[1])

    return objective


def _run_trials(job: _Job, progress: Callable[[optuna.Study], None] | None = None) -> None:
    """Run trials on the shared study until ``settings.trials`` have finished (any process)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(
        study_name=job.study_name,
        storage=_storage(job.storage) if job.storage is not None else _MEMORY[job.study_name],
        sampler=_sampler(job.settings, job.sampler_seed),
        pruner=_pruner(job.settings),
    )
    target = job.settings.trials
    if len(_finished(study)) >= target:
        return
    callbacks: list[Callable[[optuna.Study, optuna.trial.FrozenTrial], None]] = [
        optuna.study.MaxTrialsCallback(target, states=FINISHED)
    ]
    if progress is not None:
        callbacks.append(lambda s, _: progress(s))
    study.optimize(_objective(job), callbacks=callbacks, gc_after_trial=False)


_MEMORY: dict[str, optuna.storages.BaseStorage] = {}
"""In-memory storages by study name (no ``storage`` given: nothing lasts beyond the process)."""


def _worker(job: _Job) -> None:
    _run_trials(job)


def _best_text(study: optuna.Study, settings: SearchSettings) -> str:
    trials = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not trials:
        return "-"
    if settings.multi:
        return f"{len(study.best_trials)} on the front"
    return f"{max(t.values[0] for t in trials):,.4g}"


@contextlib.contextmanager
def _bar(total: int, show: bool, done: int) -> Iterator[Any]:
    from tqdm.auto import tqdm

    with tqdm(total=total, initial=done, desc="trials", unit="trial", leave=False, disable=not show) as bar:
        yield bar


def _search(job: _Job, workers: int, progress: bool) -> tuple[optuna.Study, float]:
    """Run the trials (in this process, or in ``workers`` processes); return the study and wall time."""
    storage = _storage(job.storage) if job.storage is not None else _MEMORY[job.study_name]
    study = optuna.load_study(study_name=job.study_name, storage=storage)
    started = time.perf_counter()
    total = job.settings.trials
    with _bar(total, progress, min(len(_finished(study)), total)) as bar:

        def show(current: optuna.Study) -> None:
            bar.n = min(len(_finished(current)), total)
            bar.set_postfix_str(f"best {_best_text(current, job.settings)}", refresh=False)
            bar.refresh()

        if workers == 1 or job.storage is None:
            _run_trials(job, show)
        else:
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
            seeds = [job.sampler_seed + 1000 * k for k in range(workers)]
            start = context.Process  # type: ignore[attr-defined]
            processes = [start(target=_worker, args=(_with_seed(job, s),)) for s in seeds]
            for process in processes:
                process.start()
            try:
                while any(p.is_alive() for p in processes):
                    time.sleep(1.0)
                    show(study)
            finally:
                for process in processes:
                    if process.is_alive():
                        process.terminate()
                    process.join()
            show(study)
            failed = [p.exitcode for p in processes if p.exitcode not in (0, None)]
            if failed and len(_finished(study)) < total:
                raise RuntimeError(f"{len(failed)} worker process(es) stopped with exit code {failed[0]}")
    return study, time.perf_counter() - started


def _with_seed(job: _Job, seed: int) -> _Job:
    return _Job(job.scenario, job.settings, job.seeds, job.storage, job.study_name, seed)


def _open_study(
    scenario: Scenario,
    settings: SearchSettings,
    seeds: Sequence[int],
    storage: str | None,
    study_name: str,
) -> tuple[optuna.Study, bool]:
    """Create the study, or load it to resume; refuse one that was run with other settings."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    backend = _storage(storage)
    if storage is None:
        _MEMORY[study_name] = backend
    directions = ["maximize"] * len(settings.objective)
    fingerprint = _fingerprint(scenario, settings, seeds)
    shown = mask_password(storage) if storage is not None else "memory"
    try:
        study = optuna.create_study(
            study_name=study_name, storage=backend, directions=directions, load_if_exists=True
        )
    except Exception as exc:  # noqa: BLE001 - a storage that fails now is bad input, said in one line
        raise ScenarioError(
            "--storage", "", f"{shown}: cannot create the study ({type(exc).__name__})"
        ) from None
    if list(study.directions) != [optuna.study.StudyDirection.MAXIMIZE] * len(directions):
        raise ScenarioError(
            "--study-name", "", f"study '{study_name}' in {shown} has other objectives; choose another name"
        )
    known = study.user_attrs.get("fingerprint")
    resumed = known is not None
    if known is None:
        study.set_user_attr("fingerprint", fingerprint)
        study.set_user_attr("objective", [str(m) for m in settings.objective])
        study.set_user_attr("scenario", scenario.name)
    elif known != fingerprint:
        raise ScenarioError(
            "--study-name",
            "",
            f"study '{study_name}' in {shown} was run with another scenario, seeds or search space; "
            "choose another --study-name or --out",
        )
    return study, resumed


# --------------------------------------------------------------------------- the result


@dataclass
class OptimizationResult:
    """The recommended policy and budget split, the search that found it and the final check.

    Attributes
    ----------
    scenario : Scenario
        The scenario searched (overrides applied).
    settings : SearchSettings
        The search settings used.
    study_name : str
        Name of the Optuna study.
    storage : str or None
        Storage URL of the study, password masked (``None``: in memory, not kept).
    trials : pandas.DataFrame
        One row per trial (``number``): ``state``, ``profit``, ``roi``, ``clv`` with their 95%
        intervals over the trial's seeds, ``pareto`` (on the Pareto front, or the best for one
        objective), ``invalid`` (why a policy was refused), ``sim_seconds``, and one column per
        parameter.
    pareto : pandas.DataFrame
        The Pareto-optimal trials (for one objective: the best trial), same columns.
    candidates : pandas.DataFrame
        The selection runs: per candidate (policy x plan), mean and 95% interval of each
        metric and the paired change from the current plan.
    comparison : pandas.DataFrame
        The final check on fresh seeds: per metric, current and recommended mean with
        intervals, and the paired change with its interval.
    chosen : str
        The chosen candidate (``current``, ``current+lp``, ``trial N``, ``trial N+lp``).
    policy : dict
        The chosen policy's parameters (empty when the current policies are kept).
    plan : dict
        Recommended total spend per channel over the horizon (currency).
    channels : pandas.DataFrame
        Per channel: current and recommended spend and, with curves, the fitted outcome at each
        and the marginal ROI at the recommended spend.
    curves : ResponseCurves or None
        The response curves the LP used.
    timings : dict
        Seconds spent: search wall time, simulation within trials (process-seconds), other
        work of the search (sampler, storage), curves, LP, selection and check runs.
    notes : list of str
        What the reader should know (differences within the noise, invalid trials...).
    """

    scenario: Scenario
    settings: SearchSettings
    study_name: str
    storage: str | None
    trials: pd.DataFrame
    pareto: pd.DataFrame
    candidates: pd.DataFrame
    comparison: pd.DataFrame
    chosen: str
    policy: dict[str, Any]
    plan: dict[str, float]
    channels: pd.DataFrame
    curves: ResponseCurves | None
    timings: dict[str, float]
    notes: list[str] = field(default_factory=list)

    @property
    def objective(self) -> list[Metric]:
        """The searched metrics."""
        return list(self.settings.objective)

    def verdict(self, metric: str) -> str:
        """``better``, ``worse`` or ``within the noise``: the paired change's 95% interval vs 0.

        For costs (:data:`COST_METRICS`: marketing spend, program costs) a rise is ``higher``
        and a fall ``lower``: whether paying more is worth it is what profit and ROI say.
        """
        row = self.comparison.loc[metric]
        up, down = ("higher", "lower") if metric in COST_METRICS else ("better", "worse")
        if row["change_low"] > 0:
            return up
        if row["change_high"] < 0:
            return down
        return "within the noise"

    def to_dict(self) -> dict[str, Any]:
        """Everything of ``recommendation.json`` (the report reads it; see :mod:`reports.report`)."""
        c = self.comparison
        chosen_trial = _trial_number(self.chosen)
        return {
            "scenario": self.scenario.name,
            "objective": str(self.objective[0]),
            "objectives": [str(m) for m in self.objective],
            "currency": self.scenario.economics.currency,
            "horizon_days": self.scenario.horizon_days,
            "seeds": int(c.attrs.get("seeds", 0)),
            "budget": float(sum(self.plan.values())),
            "chosen": self.chosen,
            "chosen_trial": chosen_trial,
            "policy": {k: _finite(v) for k, v in self.policy.items()},
            "plan": {k: float(v) for k, v in self.plan.items()},
            "channels": [{str(k): _finite(v) for k, v in row.items()} for row in _rows(self.channels)],
            "expected": {
                metric: {
                    part: {
                        "mean": _finite(c.loc[metric, part]),
                        "low": _finite(c.loc[metric, f"{part}_low"]),
                        "high": _finite(c.loc[metric, f"{part}_high"]),
                    }
                    for part in ("current", "recommended", "change")
                }
                for metric in c.index
            },
            "verdict": {metric: self.verdict(metric) for metric in c.index},
            "metrics": {
                "profit": "profit over the horizon (currency)",
                "roi": "profit / marketing spend (ratio)",
                "clv": "margin from the customers acquired in the horizon per customer (currency)",
            },
            "candidates": [{str(k): _finite(v) for k, v in row.items()} for row in _rows(self.candidates)],
            "study_name": self.study_name,
            "storage": self.storage,
            "trials": {
                "finished": int(self.trials["state"].isin(["COMPLETE", "PRUNED"]).sum()),
                "complete": int((self.trials["state"] == "COMPLETE").sum()),
                "pruned": int((self.trials["state"] == "PRUNED").sum()),
                "invalid": int(self.trials["invalid"].notna().sum()),
                "pareto": int(len(self.pareto)),
                "pareto_groups": int(self.pareto["noise_group"].nunique()) if len(self.pareto) else 0,
                "seeds_per_trial": self.settings.seeds,
            },
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "notes": list(self.notes),
        }

    def to_text(self) -> str:
        """The recommendation, the comparison with intervals and verdicts, and the search in brief."""
        currency = self.scenario.economics.currency
        info = self.to_dict()["trials"]
        lines = [
            f"Policy search: {self.scenario.name} ({self.scenario.horizon_days} days, {currency}; "
            f"objective {' and '.join(map(str, self.objective))}); study '{self.study_name}' "
            f"({self.storage or 'in memory'})",
            f"Trials: {info['finished']} finished ({info['complete']} complete, {info['pruned']} pruned, "
            f"of which {info['invalid']} invalid policies), {self.settings.seeds} paired seeds each; "
            f"{'Pareto front' if self.settings.multi else 'best'}: {info['pareto']} trial(s)"
            + (
                f" in {info['pareto_groups']} group(s) apart beyond the noise (pareto.csv noise_group)"
                if self.settings.multi
                else ""
            ),
            f"Chosen: {self.chosen}",
        ]
        if self.policy:
            lines.append("Policy:")
            lines += [f"  {k} = {_show(v)}" for k, v in self.policy.items()]
        lines.append("Budget (spend over the horizon):")
        for row in _rows(self.channels):
            lines.append(
                f"  {row['channel']:<16} {row['current_spend']:>14,.0f} -> {row['recommended_spend']:>14,.0f}"
            )
        c = self.comparison
        lines.append(
            f"Check on {c.attrs.get('seeds', 0)} fresh paired seeds (95% intervals): recommended vs current"
        )
        for metric in c.index:
            r = c.loc[metric]
            lines.append(
                f"  {metric:<16} {_num(r['current'])} -> {_num(r['recommended'])}: "
                f"change {_num(r['change'], True)} "
                f"[{_num(r['change_low'], True)}, {_num(r['change_high'], True)}]  {self.verdict(metric)}"
            )
        t = self.timings
        lines.append(
            f"Time: search {t['search_wall']:.0f} s (simulation {t['trial_simulation']:.0f} process-s, "
            f"optimizer {t['search_overhead']:.0f} process-s), curves {t['curves']:.0f} s, "
            f"LP {t['lp']:.1f} s, selection {t['selection']:.0f} s, check {t['check']:.0f} s"
        )
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)

    def save(self, out_dir: str | Path, overwrite: bool = False) -> list[Path]:
        """Write ``recommendation.json``, ``trials.csv``, ``pareto.csv`` (and ``response_curves.csv``).

        Staged in a temporary folder and moved in place together.

        Raises
        ------
        OutputExistsError
            When ``out_dir`` already holds one of these files and ``overwrite`` is false.
        """
        texts = {
            "recommendation.json": json.dumps(self.to_dict(), indent=2, allow_nan=False),
            "trials.csv": self.trials.to_csv(index=False),
            "pareto.csv": self.pareto.to_csv(index=False),
        }
        if self.curves is not None:
            texts["response_curves.csv"] = self.curves.response_table().to_csv(index=False)
        writers = {name: (lambda path, text=text: path.write_text(text)) for name, text in texts.items()}
        return write_files(out_dir, writers, overwrite)


def _rows(frame: pd.DataFrame) -> list[dict[Any, Any]]:
    return list(frame.reset_index().to_dict(orient="records"))


def _finite(value: Any) -> Any:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


def _show(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _num(value: float, signed: bool = False) -> str:
    if not math.isfinite(value):
        return "n/a"
    text = f"{abs(value):,.0f}" if abs(value) >= 100 else f"{abs(value):,.3f}"
    sign = "-" if value < 0 else ("+" if signed else "")
    return sign + text


def _trial_number(name: str) -> int | None:
    match = re.fullmatch(r"trial (\d+)(\+lp)?", name)
    return int(match.group(1)) if match else None


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


def _trials_table(study: optuna.Study, settings: SearchSettings) -> pd.DataFrame:
    front_trials = _front(study, settings)
    front = {t.number for t in front_trials}
    ranked = sorted(front_trials, key=lambda t: -t.values[0])
    metrics = [str(m) for m in settings.objective]
    seeds = [{m: t.user_attrs.get(f"{m}_by_seed", []) for m in metrics} for t in ranked]
    groups = noise_groups(seeds, metrics)
    group_of = {t.number: g for t, g in zip(ranked, groups, strict=True)}
    rows = []
    for trial in study.get_trials(deepcopy=False):
        row: dict[str, Any] = {"number": trial.number, "state": trial.state.name}
        for metric in METRICS:
            for suffix in ("", "_low", "_high"):
                value = trial.user_attrs.get(f"{metric}{suffix}")
                row[f"{metric}{suffix}"] = math.nan if value is None else value
        row["pareto"] = trial.number in front
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


def _front(study: optuna.Study, settings: SearchSettings) -> list[optuna.trial.FrozenTrial]:
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return []
    if settings.multi:
        return sorted(study.best_trials, key=lambda t: t.values[0])
    return [max(complete, key=lambda t: t.values[0])]


def _candidate_trials(study: optuna.Study, settings: SearchSettings) -> list[optuna.trial.FrozenTrial]:
    """The best few distinct policies: top by the objective, or spread along the Pareto front."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    count = settings.budget.candidates
    if settings.multi:
        front = _front(study, settings)
        if len(front) <= count:
            ranked = front
        else:
            picks = np.unique(np.linspace(0, len(front) - 1, count).round().astype(int))
            ranked = [front[i] for i in picks]
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


def _metric_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Replication runs (summary KPIs) -> the compared metrics per (variant, seed)."""
    frame = pd.DataFrame(index=runs.index)
    for metric in COMPARED:
        if metric == "clv":
            customers = runs["new_customers"].where(runs["new_customers"] > 0)
            frame["clv"] = runs["acquired_customer_value"] / customers
        else:
            frame[metric] = runs[metric]
    return frame


def _compare(runs: pd.DataFrame, variant: str) -> pd.DataFrame:
    base = runs.xs(BASELINE, level="variant")
    other = runs.xs(variant, level="variant")
    rows = []
    for metric in COMPARED:
        cur = confidence_interval(base[metric].to_numpy())
        rec = confidence_interval(other[metric].to_numpy())
        diff = confidence_interval((other[metric] - base[metric]).to_numpy())
        rows.append(
            {
                "metric": metric,
                "current": cur[0],
                "current_low": cur[2],
                "current_high": cur[3],
                "recommended": rec[0],
                "recommended_low": rec[2],
                "recommended_high": rec[3],
                "change": diff[0],
                "change_low": diff[2],
                "change_high": diff[3],
            }
        )
    table = pd.DataFrame(rows).set_index("metric")
    table.attrs["seeds"] = len(base)
    return table


def _value(table: pd.DataFrame, row: str, column: str) -> float:
    return float(table.loc[[row], [column]].to_numpy(dtype=np.float64)[0, 0])


def _selection_score(table: pd.DataFrame, metrics: Sequence[Metric]) -> float:
    """One objective: its paired change; two: the sum of their relative paired changes."""
    if len(metrics) == 1:
        return _value(table, str(metrics[0]), "change")
    total = 0.0
    for metric in metrics:
        change, current = (_value(table, str(metric), k) for k in ("change", "current"))
        total += change / max(abs(current), 1e-12)
    return total


def default_study_name(scenario: Scenario, settings: SearchSettings) -> str:
    """``<scenario file stem>-<objectives>``, so the same command finds its study again."""
    source = str(getattr(scenario, "_source", "") or "")
    stem = Path(source).stem if source and not source.startswith("<") else scenario.name
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("_") or "scenario"
    return f"{stem}-{'-'.join(str(m) for m in settings.objective)}"


def optimize(
    scenario: Scenario,
    settings: SearchSettings | None = None,
    *,
    storage: str | None = None,
    study_name: str | None = None,
    workers: int = 1,
    solver: str = "auto",
    progress: bool = False,
) -> OptimizationResult:
    """Search policies with Optuna, split the budget with the LP, and check on fresh seeds.

    Parameters
    ----------
    scenario
        The market, its current policies and plan; ``scenario.seed`` seeds the sampler and the
        simulations (same seed and one worker give the same recommendation).
    settings
        The search (default: the scenario's ``search:`` section, see
        :mod:`optimizer.search_space`).
    storage
        Optuna storage URL (``sqlite:///path/study.db``, ``postgresql://user:pw@host/db``...);
        ``None`` keeps the study in memory (nothing lasts). An existing study of that name is
        resumed until ``settings.trials`` trials have finished.
    study_name
        Name of the study (default ``<scenario file>-<objectives>``).
    workers
        Processes running trials at once on the shared storage (needs a storage URL; with
        more than one the trial order, hence the result, depends on timing).
    solver
        LP solver: ``"auto"``, ``"cbc"`` or ``"highs"``.
    progress
        Show a progress bar with the best value so far.

    Returns
    -------
    OptimizationResult
        The recommendation, every trial, the Pareto front and the check against the current plan.

    Raises
    ------
    ScenarioError
        One line for bad search settings (see :func:`~optimizer.search_space.search_settings`),
        allocation constraints that cannot hold, or a storage that cannot be opened (its
        password masked).
    """
    settings = settings if settings is not None else search_settings(scenario)
    if settings.parameters is None:
        settings = search_settings(scenario, settings.model_dump(mode="json", exclude={"parameters"}))
    if workers > 1 and storage is None:
        raise ScenarioError(
            "--workers", "", "several worker processes share a study through --storage or --out"
        )
    check_memory(scenario)
    metrics = [Metric(m) for m in settings.objective]
    seed = scenario.seed
    trial_seeds = tuple(seed + i for i in range(settings.seeds))
    name = study_name or default_study_name(scenario, settings)
    lp_settings = None
    if settings.budget.split:
        lp_settings = allocation_settings(scenario, objective=str(LP_OBJECTIVE[metrics[0]]))
        from .allocate import check_constraints

        check_constraints(scenario, lp_settings, solver)
    study, _ = _open_study(scenario, settings, trial_seeds, storage, name)
    done = len(_finished(study))
    job = _Job(scenario, settings, trial_seeds, storage, name, seed + done)
    study, search_wall = _search(job, workers, progress)

    timings: dict[str, float] = {"search_wall": search_wall}
    trials = _trials_table(study, settings)
    ran_now = trials["sim_seconds"].fillna(0.0)
    timings["trial_simulation"] = float(ran_now.sum())
    timings["search_overhead"] = max(search_wall * max(workers, 1) - timings["trial_simulation"], 0.0)
    pareto = trials[trials["pareto"]].copy()
    candidates = _candidate_trials(study, settings)
    notes: list[str] = []
    if not candidates:
        notes.append("no trial completed; only the current policies with the LP plan were compared")
    invalid = int(trials["invalid"].notna().sum())
    if invalid:
        notes.append(
            f"{invalid} trial(s) proposed a policy the scenario schema refuses (see trials.csv 'invalid')"
        )

    policies = {
        f"trial {t.number}": apply_policy(scenario, _params(t, settings), f"trial {t.number}")
        for t in candidates
    }
    started = time.perf_counter()
    curves, plan = None, None
    if lp_settings is not None:
        center = next(iter(policies.values()), scenario)
        curve_seeds = [seed + CURVE_SEED_OFFSET + i for i in range(settings.budget.seeds)]
        curves = measure_response(
            center,
            curve_seeds,
            lp_settings.objective,
            settings.budget.levels,
            workers=workers,
            progress=progress,
            cycle_days=1 if lp_settings.periods > 1 else None,
        )
        timings["curves"] = time.perf_counter() - started
        started = time.perf_counter()
        _, plan = solve_on_curves(scenario, lp_settings, curves, solver)
    else:
        timings["curves"] = 0.0
    timings["lp"] = time.perf_counter() - started

    variants: dict[str, Scenario] = {}
    if plan is not None:
        variants["current+lp"] = apply_plan(scenario, plan)
    for label, policy_scenario in policies.items():
        variants[label] = policy_scenario
        if plan is not None:
            variants[f"{label}+lp"] = apply_plan(policy_scenario, plan)
    started = time.perf_counter()
    select_seeds = [seed + SELECT_SEED_OFFSET + i for i in range(settings.seeds)]
    candidates_table, chosen = _select(scenario, variants, select_seeds, metrics, workers, progress)
    timings["selection"] = time.perf_counter() - started

    started = time.perf_counter()
    confirm_seeds = [seed + CONFIRM_SEED_OFFSET + i for i in range(settings.confirm_seeds)]
    check = replicate(
        scenario,
        confirm_seeds,
        {"recommended": variants.get(chosen, scenario)},
        workers=workers,
        progress=progress,
    )
    comparison = _compare(_metric_runs(check.runs), "recommended")
    timings["check"] = time.perf_counter() - started

    notes += _noise_notes(comparison, metrics, chosen)
    current = current_plan(scenario)
    recommended = plan if plan is not None and chosen.endswith("lp") else current
    totals = {name: float(np.sum(spend)) for name, spend in recommended.items()}
    channels = _channel_table(current, totals, curves)
    media = channels[["current_spend", "recommended_spend"]].sum()
    notes += _spend_note(comparison, float(media["current_spend"]), float(media["recommended_spend"]))
    trial = _trial_number(chosen)
    chosen_trial = next((t for t in candidates if t.number == trial), None)
    return OptimizationResult(
        scenario=scenario,
        settings=settings,
        study_name=name,
        storage=mask_password(storage) if storage is not None else None,
        trials=trials,
        pareto=pareto,
        candidates=candidates_table,
        comparison=comparison,
        chosen=chosen,
        policy=_params(chosen_trial, settings) if chosen_trial is not None else {},
        plan=totals,
        channels=channels,
        curves=curves,
        timings=timings,
        notes=notes,
    )


def _select(
    scenario: Scenario,
    variants: Mapping[str, Scenario],
    seeds: Sequence[int],
    metrics: Sequence[Metric],
    workers: int,
    progress: bool,
) -> tuple[pd.DataFrame, str]:
    """Run the candidates and the current plan on paired seeds; the table and the best candidate.

    The current plan is chosen unless a candidate's score (see :func:`_selection_score`) is above 0.
    """
    if not variants:
        return pd.DataFrame(), "current"
    runs = _metric_runs(replicate(scenario, seeds, variants, workers=workers, progress=progress).runs)
    rows = []
    chosen, best = "current", 0.0
    for label in variants:
        table = _compare(runs, label)
        score = _selection_score(table, metrics)
        row: dict[str, Any] = {"candidate": label, "score": score}
        for metric in metrics:
            m = str(metric)
            row |= {m: table.loc[m, "recommended"]}
            row |= {f"{m}_{part}": table.loc[m, part] for part in ("change", "change_low", "change_high")}
        rows.append(row)
        if score > best:
            chosen, best = label, score
    return pd.DataFrame(rows).set_index("candidate"), chosen


def _noise_notes(comparison: pd.DataFrame, metrics: Sequence[Metric], chosen: str) -> list[str]:
    notes = []
    if chosen == "current":
        notes.append("no candidate beat the current plan on the selection seeds; the current plan is kept")
    seeds = comparison.attrs.get("seeds", 0)
    for metric in metrics:
        change, low, high = (
            _value(comparison, str(metric), k) for k in ("change", "change_low", "change_high")
        )
        if low <= 0 <= high:
            notes.append(
                f"the change in {metric} ({_num(change, True)}) is within the noise of {seeds} seeds "
                f"[{_num(low, True)}, {_num(high, True)}]: not a demonstrated win"
            )
    return notes


def _spend_note(comparison: pd.DataFrame, current_media: float, recommended_media: float) -> list[str]:
    """Say how much of a change in marketing spend the levers buy, beyond the media plan.

    ``marketing_spend`` is everything paid to channels: the media plan plus what the levers buy
    there (retargeting ads, CRM messages and win-back offers), so a policy can raise it while the
    budget plan stays the same.
    """
    if "marketing_spend" not in comparison.index:
        return []
    change = _value(comparison, "marketing_spend", "change")
    media = recommended_media - current_media
    levers = change - media
    if abs(levers) < 0.005 * max(abs(_value(comparison, "marketing_spend", "current")), 1.0):
        return []
    return [
        f"marketing_spend counts what the levers buy on the channels (retargeting ads, CRM messages, "
        f"offers) as well as the media plan: of its change {change:+,.0f}, the media plan is "
        f"{media:+,.0f} and the levers {levers:+,.0f}"
    ]


def _params(trial: optuna.trial.FrozenTrial, settings: SearchSettings) -> dict[str, Any]:
    """A trial's parameters in the search space's order, as Python values."""
    params = trial.params
    return {path: params[path] for path in (settings.parameters or {}) if path in params}


def _channel_table(
    current: Mapping[str, float], recommended: Mapping[str, float], curves: ResponseCurves | None
) -> pd.DataFrame:
    rows = []
    for name, now in current.items():
        row: dict[str, Any] = {
            "channel": name,
            "current_spend": now,
            "recommended_spend": recommended[name],
        }
        if curves is not None and name in curves.curves:
            curve = curves.curves[name]
            row["current_outcome"] = float(curve(now))
            row["recommended_outcome"] = float(curve(recommended[name]))
            row["marginal_roi"] = curve.marginal(recommended[name])
        rows.append(row)
    return pd.DataFrame(rows).set_index("channel")
