"""One parallel executor for every command that runs many simulations.

Replications, incrementality, A/B worlds, attribution, response curves, the closed-loop and
final checks and the policy-search workers all hand a function and a list of tasks to
:meth:`Executor.map`, which returns the results **in task order**: a task's result depends only
on the task (its scenario and seed), never on the worker that ran it, so a command gives the
same results with any number of workers.

Backends
--------
:func:`get_executor` is the one place that chooses a backend, from the ``scheduler`` address
(or the :data:`SCHEDULER_ENV` environment variable; default ``local``). A backend is a subclass
of :class:`Executor` that yields ``(task index, result)`` as tasks finish - the shape of
``concurrent.futures.as_completed`` and of Dask's ``distributed.as_completed`` over
``Client.map`` futures - plus one line in :data:`BACKENDS` keyed by the address scheme (for
example ``"tcp": DaskExecutor`` for ``tcp://HOST:PORT``). Callers never name a backend.

``local``
    One worker runs the tasks in this process; more run them in a pool of worker processes on
    this machine (fork where the platform has it - no re-import of the caller's script, which
    spawn needs - else spawn), at most :func:`available_cpus` of them (at least 2).

Progress and stopping
---------------------
With ``progress``, a tqdm bar labelled by the phase (``replications``, ``response curves``,
``final check`` ...) shows tasks done, the total and the time left. Ctrl-C (or any error)
stops submitting, cancels the tasks not started, stops the worker processes and re-raises,
so the command prints its usual interrupted message and leaves no process behind. Worker
processes ignore Ctrl-C (the main process decides) and end on the stop signal (SIGTERM), which
on Linux they also receive when the main process dies, even by SIGKILL (``PR_SET_PDEATHSIG``).
Tasks mapped with ``graceful=True`` (the Optuna trials) are instead interrupted at their next
:func:`check_stop`, so a trial cut off is marked failed rather than left running.

>>> from simulator.measure.executor import get_executor
>>> get_executor(workers=1).map(abs, [-2, 3, -1], label="demo")
[2, 3, 1]
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import numbers
import os
import signal
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from types import FrameType
from typing import Any, ClassVar, TypeVar

from ..config.scenario import ScenarioError

__all__ = [
    "BACKENDS",
    "SCHEDULER_ENV",
    "STOP_SECONDS",
    "Executor",
    "LocalExecutor",
    "MapOptions",
    "available_cpus",
    "check_stop",
    "check_workers",
    "get_executor",
    "progress_bar",
]

T = TypeVar("T")
R = TypeVar("R")

SCHEDULER_ENV = "COMMERCE_SIM_SCHEDULER"
"""Environment variable naming the scheduler when the caller gives none (default ``local``)."""

STOP_SECONDS = 10
"""A worker process told to stop is killed if it has not ended after this many seconds."""

_PR_SET_PDEATHSIG = 1
"""``prctl`` option (linux/prctl.h): the signal a process receives when its parent dies."""


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@contextlib.contextmanager
def progress_bar(
    total: int, label: str, unit: str = "run", show: bool = True, initial: int = 0
) -> Iterator[Any]:
    """A tqdm bar labelled by the phase: count, total, rate and time left; gone when done.

    Parameters
    ----------
    total
        Number of units the phase runs.
    label
        Name of the phase shown before the bar (``replications``, ``response curves`` ...).
    unit
        What one unit is (``run``, ``seed``, ``trial``).
    show
        Draw the bar (a disabled bar still counts).
    initial
        Units already done (a resumed study).
    """
    from tqdm.auto import tqdm

    with tqdm(total=total, initial=initial, desc=label, unit=unit, leave=False, disable=not show) as bar:
        yield bar


@dataclass(frozen=True)
class MapOptions:
    """How :meth:`Executor.map` waits and stops (see its parameters of the same names)."""

    tick: Callable[[], None] | None = None
    every: float = 1.0
    graceful: bool = False


class Executor(ABC):
    """Runs a function over tasks and returns the results in task order.

    Parameters
    ----------
    workers
        Tasks run at once (worker processes for the local backend).
    address
        The scheduler address the backend was chosen by (``local`` for the local backend).
    """

    name: ClassVar[str]
    """The address scheme this backend serves (its key in :data:`BACKENDS`)."""

    def __init__(self, workers: int, address: str) -> None:
        self.workers = workers
        self.address = address

    @classmethod
    def max_workers(cls) -> int | None:
        """Most workers this backend accepts (``None``: no limit of its own)."""
        return None

    def map(
        self,
        fn: Callable[[T], R],
        tasks: Iterable[T],
        *,
        label: str,
        unit: str = "run",
        progress: bool = False,
        tick: Callable[[], None] | None = None,
        every: float = 1.0,
        graceful: bool = False,
        weights: Sequence[int] | None = None,
    ) -> list[R]:
        """``[fn(task) for task in tasks]``, run by the backend's workers.

        Parameters
        ----------
        fn
            The work of one task; a module-level function (or a ``functools.partial`` of one), so
            worker processes can receive it. Its result must depend on the task only.
        tasks
            One argument of ``fn`` per task (picklable).
        label
            Name of the phase on the progress bar.
        unit
            What one task is on the progress bar (``run``, ``seed``...).
        progress
            Show the progress bar.
        tick
            Called about every ``every`` seconds (and after each task) while workers run, for
            progress that tasks report elsewhere (the trials of a shared Optuna study).
        every
            Seconds between calls of ``tick``.
        graceful
            When stopped, let each running task reach its next :func:`check_stop` (where it
            raises ``KeyboardInterrupt``, which the task may record) instead of ending it at once.
        weights
            How many ``unit`` each task counts for on the progress bar (a batch of runs counts
            its runs); default one each.

        Returns
        -------
        list
            The results in the order of ``tasks``, whatever order the workers finished in.

        Raises
        ------
        BaseException
            The first exception of a task, or ``KeyboardInterrupt``, after the other tasks
            were cancelled and the workers stopped.
        """
        items = list(tasks)
        counts = [1] * len(items) if weights is None else list(weights)
        results: dict[int, R] = {}
        with progress_bar(sum(counts), label, unit, progress) as bar:
            stream = self._completed(fn, items, MapOptions(tick, every, graceful))
            try:
                for index, result in stream:
                    results[index] = result
                    bar.update(counts[index])
            finally:
                stream.close()  # a stream left early (Ctrl-C, an error) stops its workers
        return [results[index] for index in range(len(items))]

    @abstractmethod
    def _completed(
        self, fn: Callable[[T], R], tasks: Sequence[T], options: MapOptions
    ) -> Generator[tuple[int, R], None, None]:
        """Yield ``(task index, result)`` as tasks finish; closing the generator stops the rest.

        A backend calls ``options.tick`` while it waits, and on a stop lets tasks reach
        :func:`check_stop` when ``options.graceful`` (else ends them at once).
        """


class LocalExecutor(Executor):
    """Runs tasks in this process for one worker (or one task), else in a pool of worker processes."""

    name = "local"

    @classmethod
    def max_workers(cls) -> int:
        """The CPUs this process may use, and at least 2 so the parallel path runs anywhere."""
        return max(available_cpus(), 2)

    def _completed(
        self, fn: Callable[[T], R], tasks: Sequence[T], options: MapOptions
    ) -> Generator[tuple[int, R], None, None]:
        if self.workers == 1 or len(tasks) <= 1:
            for index, task in enumerate(tasks):
                yield index, fn(task)
                if options.tick is not None:
                    options.tick()
            return
        wrapped = partial(_invoke, fn, options.graceful)
        yield from _in_pool(wrapped, tasks, min(self.workers, len(tasks)), options)


BACKENDS: dict[str, type[Executor]] = {"local": LocalExecutor}
"""Executor backends by scheduler address scheme (``local``; ``tcp`` would be Dask's)."""


def _backend(scheduler: str | None, source: str) -> tuple[type[Executor], str]:
    address = scheduler if scheduler is not None else os.environ.get(SCHEDULER_ENV, "") or "local"
    scheme = address.split("://", 1)[0] if "://" in address else address
    backend = BACKENDS.get(scheme)
    if backend is None:
        where = "scheduler" if scheduler is not None else SCHEDULER_ENV
        known = ", ".join(BACKENDS)
        raise ScenarioError(source, where, f"no executor backend serves '{address}'; backends: {known}")
    return backend, address


def check_workers(workers: int, source: str = "replicate", scheduler: str | None = None) -> int:
    """Validate a number of workers: a whole number from 1 to the backend's limit.

    The local backend accepts up to :meth:`LocalExecutor.max_workers` (the CPUs this process
    may use, at least 2): more processes than CPUs only share them, and a typo such as 1000
    would start 1000 processes.

    Raises
    ------
    ScenarioError
        One line naming ``source``, ``workers`` and what is allowed.
    """
    if isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or workers < 1:
        message = f"must be a whole number of at least 1, got {workers!r}"
        raise ScenarioError(source, "workers", message)
    limit = _backend(scheduler, source)[0].max_workers()
    if limit is not None and workers > limit:
        message = f"at most {limit} on this machine ({available_cpus()} CPU(s) available), got {workers}"
        raise ScenarioError(source, "workers", message)
    return int(workers)


def get_executor(workers: int = 1, scheduler: str | None = None, source: str = "executor") -> Executor:
    """The executor for ``workers`` workers on the backend ``scheduler`` names.

    Parameters
    ----------
    workers
        Tasks run at once (checked by :func:`check_workers`).
    scheduler
        Scheduler address; default the :data:`SCHEDULER_ENV` environment variable, else
        ``local``. Its scheme picks the backend in :data:`BACKENDS`.
    source
        Name used in error messages (the command or function).

    Raises
    ------
    ScenarioError
        One line for a bad number of workers or an address no backend serves.
    """
    backend, address = _backend(scheduler, source)
    return backend(check_workers(workers, source, scheduler), address)


# --------------------------------------------------------------------------- worker processes


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _in_pool(
    fn: Callable[[T], R], tasks: Sequence[T], workers: int, options: MapOptions
) -> Generator[tuple[int, R], None, None]:
    """Run the tasks in a pool of worker processes, yielding results as they finish.

    ``fn`` is the task wrapped by :func:`_invoke` (picklable: module-level functions).
    """
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=_context(), initializer=_worker_setup, initargs=(os.getpid(),)
    )
    complete = False
    try:
        futures: dict[Future[R], int] = {pool.submit(fn, task): i for i, task in enumerate(tasks)}
        pending: set[Future[R]] = set(futures)
        while pending:
            timeout = options.every if options.tick else None
            done, pending = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=futures.__getitem__):
                yield futures[future], future.result()
            if options.tick is not None:
                options.tick()
        complete = True
    finally:
        if complete:
            pool.shutdown(wait=True)
        else:
            _stop(pool)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel the tasks not started and end the worker processes (SIGTERM, then SIGKILL)."""
    processes = list((pool._processes or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + STOP_SECONDS
    for process in processes:
        process.join(max(deadline - time.monotonic(), 0.0))
        if process.is_alive():
            process.kill()
            process.join()


_in_task = False
"""In a worker process: whether a task is running."""

_graceful = False
"""In a worker process: whether the running task stops at :func:`check_stop` (else at once)."""

_stop_requested = False
"""In a worker process: whether the main process (or its death) asked it to stop."""


def check_stop() -> None:
    """A safe point of a long task: raise ``KeyboardInterrupt`` if the worker was told to stop.

    Tasks that record their own interruption (an Optuna trial marks itself failed) run with
    ``map(..., graceful=True)`` and call this between steps of their work, so the interruption
    never lands inside a database write. Outside a stopping worker process it does nothing.
    """
    if _stop_requested:
        raise KeyboardInterrupt


def _die_with_parent() -> None:
    """Linux: receive SIGTERM when the parent process dies, however it dies (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGTERM), 0, 0, 0)


def _worker_setup(parent: int) -> None:
    """Initializer of every worker process: the main process decides when workers stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole terminal group
    signal.signal(signal.SIGTERM, _on_stop)
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before the death signal was set
        os._exit(128 + signal.SIGTERM)


def _on_stop(signum: int, frame: FrameType | None) -> None:
    """SIGTERM in a worker: end now, or let a graceful task reach :func:`check_stop`.

    Linux sends the death signal again each time one of the dying parent's threads exits, so
    later SIGTERMs are ignored; a graceful task that does not reach a safe point within
    :data:`STOP_SECONDS` (stuck in a database lock, say) is ended by a watchdog thread.
    """
    global _stop_requested
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if not (_in_task and _graceful):
        os._exit(128 + signum)
    _stop_requested = True
    logging.disable(logging.WARNING)  # the main process says why the work stopped

    def watchdog() -> None:
        time.sleep(STOP_SECONDS)
        os._exit(128 + signum)

    threading.Thread(target=watchdog, name="stop-watchdog", daemon=True).start()


def _invoke(fn: Callable[[T], R], graceful: bool, task: T) -> R:
    """One task in a worker process; a graceful task told to stop ends the process after it."""
    global _in_task, _graceful
    try:
        _in_task, _graceful = True, graceful
        return fn(task)
    except KeyboardInterrupt:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(128 + signal.SIGTERM)
    finally:
        _in_task = False
