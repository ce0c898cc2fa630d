"""The Optuna study: its storage, creating or resuming it, and running trials until enough finish.

Studies last: the storage holds every finished trial; the same search resumes the study until
``trials`` trials have finished; several processes, or machines pointed at one database server
or one shared file system, share a study (Optuna's pattern: one ``study.optimize`` per
process). A study is refused when it was run with another market, seeds, objectives or search
space (its fingerprint).

Storages (README "Running on a cluster"):

- ``sqlite:///PATH`` - one file, for the processes of one machine (the default, in ``--out``);
- ``postgresql://USER:PASSWORD@HOST:PORT/DB`` (or any SQLAlchemy URL Optuna's ``RDBStorage``
  takes) - a database server shared by machines; needs a driver (``psycopg2-binary``, in the
  ``cluster`` extra). A process that dies leaves its trial running; after three heartbeat
  intervals without its heartbeat (:data:`HEARTBEAT_SECONDS`, or :data:`HEARTBEAT_ENV`) another
  process marks it failed and runs its parameters again (at most twice);
- ``journal:PATH`` (``journal:///ABSOLUTE/PATH``) - Optuna's journal file, an append-only log
  that processes on machines sharing a file system (NFS) append to under a file lock. It has no
  heartbeat: the trial of a process of another machine that died stays ``RUNNING`` (it never
  counts as finished).

Resuming a study on a machine fails at once the running trials of that machine's processes that
died, and runs their parameters again before any new trial (:mod:`~optimizer.search.owners`),
whatever the storage.

Every URL shown (printout, errors, ``recommendation.json``) has its password masked by
:func:`simulator.common.secrets.mask_url`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import optuna
import sqlalchemy
from optuna.storages.journal import JournalFileBackend

from simulator.common.format import format_value, unit_of
from simulator.common.secrets import mask_secrets, mask_url, url_secrets
from simulator.config.scenario import Scenario, ScenarioError
from simulator.config.search import SearchSettings
from simulator.measure.executor import check_stop, check_workers, get_executor, graceful_stop, progress_bar

from .owners import OwnerSampler, enqueue_again, retry_cut_off
from .trials import FINISHED, finished, prunes, trial_objective

__all__ = [
    "HEARTBEAT_ENV",
    "HEARTBEAT_SECONDS",
    "JOURNAL",
    "absolute_storage",
    "check_storage",
    "default_study_name",
    "heartbeat_seconds",
    "run_search",
    "study_location",
]

HEARTBEAT_SECONDS = 10
"""Seconds between a running trial's heartbeats in a database storage (default)."""

HEARTBEAT_ENV = "COMMERCE_SIM_HEARTBEAT_SECONDS"
"""Environment variable setting the heartbeat interval in seconds (a whole number, 1 to 3600).

A trial without a heartbeat for three intervals (30 s by default) belongs to a process that
died: it is failed and its parameters are run again. A shorter interval notices a dead process
sooner; an interval shorter than a busy machine can keep would fail trials still running.
"""

_MAX_HEARTBEAT = 3600

JOURNAL = "journal:"
"""Prefix of an Optuna journal file storage: ``journal:PATH`` or ``journal:///ABSOLUTE/PATH``."""

_SQLITE = "sqlite:///"

_MEMORY: dict[str, optuna.storages.BaseStorage] = {}
"""In-memory storages by study name (no ``storage`` given: nothing lasts beyond the process)."""


# --------------------------------------------------------------------------- storage


def _journal_path(url: str) -> Path:
    """The file of a ``journal:`` storage URL (``journal:///abs/log`` or ``journal:rel/log``)."""
    rest = url.removeprefix(JOURNAL)
    return Path(rest.removeprefix("//") if rest.startswith("///") else rest)


def absolute_storage(url: str) -> str:
    """The storage URL with a relative SQLite or journal file made absolute.

    Worker processes (on a cluster, in another working directory) and the printed dashboard
    command then name the same file. Other URLs are returned unchanged.

    >>> absolute_storage("journal:///shared/study.log")
    'journal:///shared/study.log'
    """
    if url.startswith(JOURNAL):
        return f"{JOURNAL}//{_journal_path(url).resolve()}"
    if url.startswith(_SQLITE) and url != f"{_SQLITE}:memory:":
        return f"{_SQLITE}{Path(url.removeprefix(_SQLITE)).resolve()}"
    return url


def check_storage(url: str | None) -> None:
    """Open the storage once, so a bad URL is refused before anything is said about the study.

    Raises
    ------
    ScenarioError
        One line, password masked, when the storage cannot be opened.
    """
    if url is not None:
        _storage(url)


def study_location(url: str | None, study_name: str) -> str:
    """Where the study is and the command that watches it live (password masked).

    Parameters
    ----------
    url
        The storage URL (``None``: in memory, nothing to watch).
    study_name
        The study's name.

    Returns
    -------
    str
        ``study 'NAME' in URL`` and, on a second line, the ``optuna-dashboard`` command (the
        ``dashboard`` extra); a masked password has to be typed in its place.
    """
    if url is None:
        return f"study '{study_name}' in memory (give --out or --storage to keep and watch it)"
    shown = mask_url(absolute_storage(url))
    target = str(_journal_path(shown)) if shown.startswith(JOURNAL) else shown
    hint = " (put the password in place of ***)" if url_secrets(url) else ""
    return f"study '{study_name}' in {shown}\nwatch it: optuna-dashboard '{target}'{hint}"


def _storage(url: str | None, heartbeat: int | None = None) -> optuna.storages.BaseStorage:
    """The study storage; errors become one line with the password masked.

    ``heartbeat`` (seconds; default :func:`heartbeat_seconds`) is the main process's, so trial
    processes elsewhere (a cluster's workers) keep the same interval.
    """
    if url is None:
        return optuna.storages.InMemoryStorage()
    shown = mask_url(url)
    heartbeat = heartbeat or heartbeat_seconds()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if url.startswith((_SQLITE, JOURNAL)):
                file = _journal_path(url) if url.startswith(JOURNAL) else Path(url.removeprefix(_SQLITE))
                if not file.parent.is_dir():
                    raise FileNotFoundError(f"folder {file.parent} does not exist")
            if url.startswith(JOURNAL):
                backend = JournalFileBackend(str(_journal_path(url)))
                return optuna.storages.JournalStorage(backend)
            sqlite = url.startswith("sqlite")
            storage = optuna.storages.RDBStorage(
                url,
                # pysqlite's own transactions would begin at the first write (see below)
                engine_kwargs={"connect_args": {"timeout": 60, "isolation_level": None}} if sqlite else None,
                heartbeat_interval=heartbeat,
                grace_period=3 * heartbeat,
                failed_trial_callback=enqueue_again,
            )
            if sqlite:
                sqlalchemy.event.listen(storage.engine, "begin", _begin_immediate)
            return storage
    except Exception as exc:  # noqa: BLE001 - any driver, network or URL failure is bad input
        reason = mask_secrets(" ".join(f"{type(exc).__name__}: {exc}".split()), [url])
        if len(reason) > 200:
            reason = reason[:197] + "..."
        if isinstance(exc, ImportError):  # the database driver
            reason += '; install the drivers of the cluster extra: pip install -e ".[cluster]"'
        raise ScenarioError("storage", "", f"{shown} cannot be opened ({reason})") from None


def _begin_immediate(connection: sqlalchemy.engine.Connection) -> None:
    """Begin every SQLite transaction of the study holding the file's write lock.

    Optuna changes a trial's state by reading it and then writing it (a waiting trial becomes
    running only if it is still waiting). pysqlite begins its transaction at the first write,
    so two processes could both read "waiting" and both take the trial: two workers resuming a
    study ran the same retried trial, and the second to finish failed with "Cannot tell a
    COMPLETE trial". Begun immediately (SQLAlchemy's recipe for pysqlite), each read-and-write
    is one transaction that the other processes wait for (up to the 60 s busy timeout).
    """
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def heartbeat_seconds() -> int:
    """The heartbeat interval: :data:`HEARTBEAT_ENV` if set, else :data:`HEARTBEAT_SECONDS`.

    Raises
    ------
    ScenarioError
        One line when the variable is not a whole number from 1 to 3600.
    """
    text = os.environ.get(HEARTBEAT_ENV, "").strip()
    if not text:
        return HEARTBEAT_SECONDS
    if not text.isdigit() or not 1 <= int(text) <= _MAX_HEARTBEAT:
        message = f"must be a whole number of seconds from 1 to {_MAX_HEARTBEAT}, got {text!r}"
        raise ScenarioError(HEARTBEAT_ENV, "", message)
    return int(text)


def _backend(job: _Job) -> optuna.storages.BaseStorage:
    return _storage(job.storage, job.heartbeat) if job.storage is not None else _MEMORY[job.study_name]


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
    heartbeat: int


class _Random(OwnerSampler, optuna.samplers.RandomSampler):
    """Random sampling; trials record their owner."""


class _NSGAII(OwnerSampler, optuna.samplers.NSGAIISampler):
    """NSGA-II; trials record their owner."""


class _TPE(OwnerSampler, optuna.samplers.TPESampler):
    """TPE; trials record their owner."""


def _sampler(settings: SearchSettings, seed: int) -> optuna.samplers.BaseSampler:
    """TPE by default, for one or two objectives; every trial records its owner process.

    With two objectives NSGA-II spends its first generation (20 trials) sampling at random and
    needs several generations to improve on it; with a budget of a few dozen trials, TPE's
    multi-objective mode gives a wider front: 4 policies against NSGA-II's 2 on the bundled
    omnichannel scenario (5,000 agents, 180 days, 30 trials, same seeds for both).
    """
    seed %= 2**32  # Optuna's samplers (numpy RandomState) take seeds below 2**32; scenario seeds go to 2**63
    if settings.sampler == "random":
        return _Random(seed=seed)
    if settings.sampler == "nsga2":
        return _NSGAII(seed=seed, population_size=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _TPE(seed=seed, n_startup_trials=10, multivariate=True)


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
    callbacks.append(lambda _s, _t: check_stop())  # a worker told to stop starts no other trial
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
    resumed study does not repeat the policies it started with. Trials left running by dead
    processes of this machine are failed and their parameters run first
    (:func:`~optimizer.search.owners.retry_cut_off`). Returns the study and the wall time of the
    trials (seconds).
    """
    workers = check_workers(workers, "optimize")
    study = _open_study(scenario, settings, seeds, storage, study_name)
    if storage is not None:
        retry_cut_off(study)
    done = len(finished(study))
    sampler_seed = scenario.seed + done
    job = _Job(scenario, settings, tuple(seeds), storage, study_name, sampler_seed, heartbeat_seconds())
    study = optuna.load_study(study_name=study_name, storage=_backend(job))
    started = time.perf_counter()
    total = settings.trials
    with progress_bar(total, "trials", "trial", progress, min(len(finished(study)), total)) as bar:

        def show(current: optuna.Study) -> None:
            bar.n = min(len(finished(current)), total)
            bar.set_postfix_str(f"best {_best_text(current, settings)}", refresh=False)
            bar.refresh()

        if workers == 1 or storage is None:
            with graceful_stop():  # Ctrl-C stops the trial at its next day, never inside a save
                _run_trials(job, show)
        else:
            _in_processes(job, workers, lambda: show(study))
            show(study)
    return study, time.perf_counter() - started
