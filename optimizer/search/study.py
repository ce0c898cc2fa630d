"""The Optuna study: its storage, creating or resuming it, and running trials until enough finish.

Studies last: the storage (an SQLite file or any database URL) holds every finished trial; the
same search resumes the study until ``trials`` trials have finished; several processes, or
machines pointed at one database server, share a study (Optuna's pattern: one
``study.optimize`` per process). A study is refused when it was run with another market, seeds,
objectives or search space (its fingerprint).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import optuna

from simulator.common.format import format_value, unit_of
from simulator.common.secrets import mask_secrets, mask_url
from simulator.config.scenario import Scenario, ScenarioError
from simulator.config.search import SearchSettings
from simulator.measure.executor import check_workers, get_executor, progress_bar

from .trials import FINISHED, finished, prunes, trial_objective

__all__ = ["HEARTBEAT_SECONDS", "default_study_name", "run_search"]

HEARTBEAT_SECONDS, GRACE_SECONDS = 10, 30
"""A trial whose process stops sending heartbeats for the grace period is failed and retried."""

_MEMORY: dict[str, optuna.storages.BaseStorage] = {}
"""In-memory storages by study name (no ``storage`` given: nothing lasts beyond the process)."""


# --------------------------------------------------------------------------- storage


def _storage(url: str | None) -> optuna.storages.BaseStorage:
    """The study storage; errors become one line with the password masked."""
    if url is None:
        return optuna.storages.InMemoryStorage()
    shown = mask_url(url)
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
        reason = mask_secrets(" ".join(f"{type(exc).__name__}: {exc}".split()), [url])
        if len(reason) > 200:
            reason = reason[:197] + "..."
        raise ScenarioError("storage", "", f"{shown} cannot be opened ({reason})") from None


def _backend(job: _Job) -> optuna.storages.BaseStorage:
    return _storage(job.storage) if job.storage is not None else _MEMORY[job.study_name]


def default_study_name(scenario: Scenario, settings: SearchSettings) -> str:
    """``<scenario file stem>-<objectives>``, so the same command finds its study again."""
    source = str(getattr(scenario, "_source", "") or "")
    stem = Path(source).stem if source and not source.startswith("<") else scenario.name
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("_") or "scenario"
    return f"{stem}-{'-'.join(settings.objective)}"


def _fingerprint(scenario: Scenario, settings: SearchSettings, seeds: Sequence[int]) -> str:
    """What makes trials comparable: the market, the seeds, the objectives and the space."""
    data = {
        "scenario": scenario.model_dump(mode="json", exclude={"search", "allocation", "seed"}),
        "seeds": list(seeds),
        "objective": list(settings.objective),
        "parameters": {k: v.model_dump(mode="json") for k, v in (settings.parameters or {}).items()},
        "interval_days": settings.pruning.interval_days,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _open_study(
    scenario: Scenario,
    settings: SearchSettings,
    seeds: Sequence[int],
    storage: str | None,
    study_name: str,
) -> optuna.Study:
    """Create the study, or load it to resume; refuse one that was run with other settings."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    backend = _storage(storage)
    if storage is None:
        _MEMORY[study_name] = backend
    directions = ["maximize"] * len(settings.objective)
    shown = mask_url(storage) if storage is not None else "memory"
    try:
        study = optuna.create_study(
            study_name=study_name, storage=backend, directions=directions, load_if_exists=True
        )
    except Exception as exc:  # noqa: BLE001 - a storage that fails now is bad input, said in one line
        raise ScenarioError(
            "storage", "", f"{shown}: cannot create the study ({type(exc).__name__})"
        ) from None
    if list(study.directions) != [optuna.study.StudyDirection.MAXIMIZE] * len(directions):
        raise ScenarioError(
            "study_name", "", f"study '{study_name}' in {shown} has other objectives; choose another name"
        )
    fingerprint = _fingerprint(scenario, settings, seeds)
    known = study.user_attrs.get("fingerprint")
    if known is None:
        study.set_user_attr("fingerprint", fingerprint)
        study.set_user_attr("objective", list(settings.objective))
        study.set_user_attr("scenario", scenario.name)
    elif known != fingerprint:
        raise ScenarioError(
            "study_name",
            "",
            f"study '{study_name}' in {shown} was run with another scenario, seeds or search space; "
            "choose another study name or storage",
        )
    return study


# --------------------------------------------------------------------------- running trials


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
    seed %= 2**32  # Optuna's samplers (numpy RandomState) take seeds below 2**32; scenario seeds go to 2**63
    if settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if settings.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=10, multivariate=True)


def _pruner(settings: SearchSettings) -> optuna.pruners.BasePruner:
    if not prunes(settings):
        return optuna.pruners.NopPruner()
    pruning = settings.pruning
    return optuna.pruners.MedianPruner(
        n_startup_trials=pruning.startup_trials, n_warmup_steps=pruning.warmup_steps
    )


def _run_trials(job: _Job, progress: Callable[[optuna.Study], None] | None = None) -> None:
    """Run trials on the shared study until ``settings.trials`` have finished (any process)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(
        study_name=job.study_name,
        storage=_backend(job),
        sampler=_sampler(job.settings, job.sampler_seed),
        pruner=_pruner(job.settings),
    )
    target = job.settings.trials
    if len(finished(study)) >= target:
        return
    callbacks: list[Callable[[optuna.Study, optuna.trial.FrozenTrial], None]] = [
        optuna.study.MaxTrialsCallback(target, states=FINISHED)
    ]
    if progress is not None:
        callbacks.append(lambda s, _: progress(s))
    objective = trial_objective(job.scenario, job.settings, job.seeds)
    study.optimize(objective, callbacks=callbacks, gc_after_trial=False)


def _worker(job: _Job) -> None:
    _run_trials(job)


def _best_text(study: optuna.Study, settings: SearchSettings) -> str:
    trials = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not trials:
        return "-"
    if settings.multi:
        return f"{len(study.best_trials)} on the front"
    return format_value(max(t.values[0] for t in trials), unit_of(settings.objective[0]))


def _in_processes(job: _Job, workers: int, show: Callable[[], None]) -> None:
    """Run the trials in ``workers`` processes sharing the study's storage (one task each).

    Each process runs ``study.optimize`` with its own sampler seed until the study holds
    ``settings.trials`` finished trials; ``show`` refreshes the progress every second. Stopped
    (Ctrl-C, the main process killed), a worker's trial stops at its next simulated day and is
    marked failed.
    """
    jobs = [replace(job, sampler_seed=job.sampler_seed + 1000 * k) for k in range(workers)]
    executor = get_executor(workers, source="optimize")
    executor.map(_worker, jobs, label="trials", unit="process", tick=show, graceful=True)


def run_search(
    scenario: Scenario,
    settings: SearchSettings,
    seeds: Sequence[int],
    storage: str | None,
    study_name: str,
    workers: int,
    progress: bool,
) -> tuple[optuna.Study, float]:
    """Open (or resume) the study and run trials until ``settings.trials`` have finished.

    The sampler is seeded with the scenario's seed plus the trials already finished, so a
    resumed study does not repeat the policies it started with. Returns the study and the wall
    time of the trials (seconds).
    """
    workers = check_workers(workers, "optimize")
    study = _open_study(scenario, settings, seeds, storage, study_name)
    done = len(finished(study))
    job = _Job(scenario, settings, tuple(seeds), storage, study_name, scenario.seed + done)
    study = optuna.load_study(study_name=study_name, storage=_backend(job))
    started = time.perf_counter()
    total = settings.trials
    with progress_bar(total, "trials", "trial", progress, min(len(finished(study)), total)) as bar:

        def show(current: optuna.Study) -> None:
            bar.n = min(len(finished(current)), total)
            bar.set_postfix_str(f"best {_best_text(current, settings)}", refresh=False)
            bar.refresh()

        if workers == 1 or storage is None:
            _run_trials(job, show)
        else:
            _in_processes(job, workers, lambda: show(study))
            show(study)
    return study, time.perf_counter() - started
