"""Policy search with Optuna, budget split with the LP, and a check on fresh seeds.

:func:`optimize` answers "which loyalty and promotion policies should I run, with which budget
split?", in four phases, each a module of this package:

1. **Search** (:mod:`~optimizer.search.study`, :mod:`~optimizer.search.trials`). Optuna
   samples policy parameters from the ranges of the scenario's ``search:`` section
   (:mod:`~optimizer.search.space`); every trial is simulated on the *same* seeds (common
   random numbers), so trials differ only by their policy. The seeds run side by side month by
   month; their mean running value of the objective is reported to Optuna, which stops clearly
   bad trials early (median pruning; single objective only, as Optuna prunes only
   single-objective studies). Each trial keeps every objective
   (:data:`optimizer.objectives.OBJECTIVES`) per seed and its 95% t-interval as user
   attributes. Two objectives give a Pareto front (multi-objective TPE by default, or NSGA-II).
   A policy the schema refuses (e.g. overlapping campaigns without a stacking rule) is a
   pruned trial with the reason in its ``invalid`` attribute, never a crash.
2. **Budget** (:mod:`~optimizer.search.budget`). Response curves are measured once, under the
   best policy found, on their own seeds, and the allocation LP splits the budget on them.
3. **Selection** (:mod:`~optimizer.search.selection`). The best few policies, each with the
   current plan and with the LP plan, the current policies with the LP plan, and the current
   plan itself run on fresh paired seeds; the best by the objective is chosen.
4. **Check** (:mod:`~optimizer.search.check`). The chosen policy and plan and the current ones
   run on another set of fresh paired seeds (with a posterior ensemble, one member per seed for
   both, as are the budget curves; trials and selection run on the centre); the result
   (:class:`~optimizer.search.result.OptimizationResult`) reports both with 95% intervals and
   the paired change, and its verdict (``recommend``, ``keep current plan`` or ``not confirmed:
   run larger``) recommends the candidate only when the first objective's change has an
   interval above 0 and no second objective or guard-rail got significantly worse.

Studies last: the storage (an SQLite file, or any database URL) holds every finished trial;
the same search resumes the study until ``trials`` trials have finished; several processes
(``workers``), or machines pointed at one database server, share a study.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import optuna
import pandas as pd

from simulator.common.secrets import mask_url
from simulator.config.scenario import Scenario, ScenarioError
from simulator.config.search import SearchSettings
from simulator.engine.simulate import check_memory

from ..allocate import jsonable
from ..curves import current_plan
from ..uncertainty import posterior_document
from .budget import BudgetSplit, lp_settings, split_budget
from .check import confirm, noise_notes, search_verdict, spend_note
from .result import OPTIMIZATION_FILES, OptimizationResult, channel_table, trial_number
from .selection import select, variants
from .space import apply_policy, default_parameters, search_settings
from .study import absolute_storage, check_storage, default_study_name, run_search, study_location
from .trials import candidate_trials, noise_groups, score_policy, trial_params, trials_table

if TYPE_CHECKING:
    from simulator.calibrate.posterior import PosteriorEnsemble

__all__ = [
    "OPTIMIZATION_FILES",
    "STUDY_FILE",
    "OptimizationResult",
    "absolute_storage",
    "apply_policy",
    "check_storage",
    "default_parameters",
    "default_study_name",
    "noise_groups",
    "optimize",
    "score_policy",
    "search_settings",
    "study_location",
]

STUDY_FILE = "study.db"
"""Default SQLite file of a study, in an output folder."""

CURVE_SEED_OFFSET, SELECT_SEED_OFFSET, CONFIRM_SEED_OFFSET = 10_000, 20_000, 30_000
"""Seeds of the curve runs, the selection runs and the final check start here (plus the
scenario's seed); trials use the scenario's seed onwards, so the four sets never overlap."""

_T = TypeVar("_T")


def optimize(
    scenario: Scenario,
    settings: SearchSettings | None = None,
    *,
    storage: str | None = None,
    study_name: str | None = None,
    workers: int = 1,
    solver: str = "auto",
    progress: bool = False,
    posterior: PosteriorEnsemble | None = None,
) -> OptimizationResult:
    """Search policies with Optuna, split the budget with the LP, and check on fresh seeds.

    Parameters
    ----------
    scenario
        The market, its current policies and plan; ``scenario.seed`` seeds the sampler and the
        simulations (same seed and one worker give the same recommendation).
    settings
        The search (default: the scenario's ``search:`` section, see
        :class:`simulator.config.search.SearchSettings`).
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
    posterior
        A media calibration's posterior ensemble (:class:`simulator.calibrate.PosteriorEnsemble`,
        applied to ``scenario``): the budget curves and the final check run the member of each
        seed (both plans of a seed the same member), so the check's interval and the verdict hold
        parameter uncertainty; the check runs again on ``scenario`` alone on the same seeds and
        :attr:`OptimizationResult.posterior` says how much of the interval the parameters
        account for. The trials and the selection run on ``scenario`` alone.

    Returns
    -------
    OptimizationResult
        The recommendation, every trial, the Pareto front and the check against the current plan.

    Raises
    ------
    ScenarioError
        One line for bad search settings (see :func:`~optimizer.search.space.search_settings`),
        allocation constraints that cannot hold, or a storage that cannot be opened (its
        password masked).
    """
    settings = _settings(scenario, settings, workers, storage)
    allocation = lp_settings(scenario, settings, solver)
    name = study_name or default_study_name(scenario, settings)
    found = _search(scenario, settings, storage, name, workers, progress)
    center = next(iter(found.policies.values()), scenario)
    per_seed = posterior.on_seed if posterior is not None else None
    split = split_budget(
        scenario,
        center,
        settings,
        allocation,
        _seeds(scenario, CURVE_SEED_OFFSET, settings.budget.seeds),
        workers=workers,
        solver=solver,
        progress=progress,
        per_seed=per_seed,
    )
    candidates = variants(scenario, found.policies, split.plan)
    select_seeds = _seeds(scenario, SELECT_SEED_OFFSET, settings.seeds)
    (table, chosen), selection_seconds = _timed(
        select,
        scenario,
        candidates,
        select_seeds,
        settings.objective,
        guard_rails=settings.guard_rails,
        workers=workers,
        progress=progress,
    )
    confirm_seeds = _seeds(scenario, CONFIRM_SEED_OFFSET, settings.confirm_seeds)
    comparison, check_seconds = _timed(
        confirm,
        scenario,
        candidates,
        chosen,
        confirm_seeds,
        workers=workers,
        progress=progress,
        per_seed=per_seed,
    )
    uncertainty = None
    if posterior is not None:
        centre, centre_seconds = _timed(
            confirm,
            scenario,
            candidates,
            chosen,
            confirm_seeds,
            workers=workers,
            progress=progress,
            label="final check on the centre scenario",
        )
        check_seconds += centre_seconds
        uncertainty = posterior_document(
            posterior,
            confirm_seeds,
            comparison,
            centre,
            settings.objective[0],
            on_members=("budget curves", "final check"),
            on_centre=("trials", "selection"),
        )
    timings = found.timings | {"curves": split.curve_seconds, "lp": split.lp_seconds}
    timings |= {"selection": selection_seconds, "check": check_seconds}
    result = _result(scenario, settings, name, storage, found, split, table, comparison, chosen, timings)
    result.posterior = None if uncertainty is None else dict(jsonable(uncertainty))
    return result


# --------------------------------------------------------------------------- phases


def _settings(
    scenario: Scenario, settings: SearchSettings | None, workers: int, storage: str | None
) -> SearchSettings:
    """The settings with the parameters filled in, after the checks that need no simulation."""
    settings = settings if settings is not None else search_settings(scenario)
    if settings.parameters is None:
        settings = search_settings(scenario, settings.model_dump(mode="json", exclude={"parameters"}))
    if workers > 1 and storage is None:
        raise ScenarioError(
            "workers", "", f"{workers} worker processes share a study through a storage; give its URL"
        )
    check_memory(scenario)
    return settings


def _seeds(scenario: Scenario, offset: int, count: int) -> list[int]:
    return [scenario.seed + offset + i for i in range(count)]


def _timed(function: Callable[..., _T], *args: Any, **kwargs: Any) -> tuple[_T, float]:
    started = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - started


@dataclass(frozen=True)
class _Found:
    """What the search phase hands on: the study, its trials and the best policies."""

    study: optuna.Study
    trials: pd.DataFrame
    candidates: list[optuna.trial.FrozenTrial]
    policies: dict[str, Scenario]
    timings: dict[str, float]
    notes: list[str]


def _search(
    scenario: Scenario,
    settings: SearchSettings,
    storage: str | None,
    name: str,
    workers: int,
    progress: bool,
) -> _Found:
    """Run the trials; the trial table, the best policies and what the reader should know."""
    seeds = _seeds(scenario, 0, settings.seeds)
    study, wall = run_search(scenario, settings, seeds, storage, name, workers, progress)
    trials = trials_table(study, settings)
    simulation = float(trials["sim_seconds"].fillna(0.0).sum())
    timings = {
        "search_wall": wall,
        "trial_simulation": simulation,
        "search_overhead": max(wall * max(workers, 1) - simulation, 0.0),
    }
    candidates = candidate_trials(study, settings)
    notes: list[str] = []
    if not candidates:
        notes.append("no trial completed; only the current policies with the LP plan were compared")
    invalid = int(trials["invalid"].notna().sum())
    if invalid:
        notes.append(
            f"{invalid} trial(s) proposed a policy the scenario schema refuses (see trials.csv 'invalid')"
        )
    policies = {
        f"trial {t.number}": apply_policy(scenario, trial_params(t, settings), f"trial {t.number}")
        for t in candidates
    }
    return _Found(study, trials, candidates, policies, timings, notes)


def _result(
    scenario: Scenario,
    settings: SearchSettings,
    name: str,
    storage: str | None,
    found: _Found,
    split: BudgetSplit,
    table: pd.DataFrame,
    comparison: pd.DataFrame,
    chosen: str,
    timings: Mapping[str, float],
) -> OptimizationResult:
    """The recommendation: the chosen policy and plan, per-channel spend, and the notes."""
    current = current_plan(scenario)
    plan = split.plan
    recommended = plan if plan is not None and chosen.endswith("lp") else current
    totals = {channel: float(np.sum(spend)) for channel, spend in recommended.items()}
    channels = channel_table(current, totals, split.curves)
    media = channels[["current_spend", "recommended_spend"]].sum()
    notes = found.notes + noise_notes(comparison, settings.objective, chosen)
    outside = [str(n) for n in channels.index if not channels.get("within_measured_range", {}).get(n, True)]
    if outside:
        notes.append(
            f"{', '.join(outside)}: the plan's spend is OUTSIDE the range the response curves measured "
            "(the allocation constraints force it there)"
        )
    notes += spend_note(comparison, float(media["current_spend"]), float(media["recommended_spend"]))
    number = trial_number(chosen)
    chosen_trial = next((t for t in found.candidates if t.number == number), None)
    return OptimizationResult(
        scenario=scenario,
        settings=settings,
        study_name=name,
        storage=mask_url(storage) if storage is not None else None,
        trials=found.trials,
        pareto=found.trials[found.trials["pareto"]].copy(),
        candidates=table,
        comparison=comparison,
        chosen=chosen,
        policy=trial_params(chosen_trial, settings) if chosen_trial is not None else {},
        plan=totals,
        channels=channels,
        curves=split.curves,
        timings=dict(timings),
        verdict=search_verdict(comparison, settings, chosen, scenario.population.agents),
        notes=notes,
    )
