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
``tcp://HOST:PORT``
    A Dask ``distributed`` scheduler (the optional extra ``pip install -e ".[cluster]"``): every
    task is submitted to the cluster, whose workers run them (``--workers`` does not limit them;
    for ``optimize`` it is the number of trial processes). Dask's dashboard shows the tasks by
    the name of their function. The workers must import the same version of the toolkit
    (README "Running on a cluster"); the results are identical to a local run because each
    task is a pure function of its scenario and seed.

:func:`use_scheduler` sets the address for a block of code (``run.py --scheduler``), so the
measures and searches that build their executors deep inside need no scheduler parameter.

Progress and stopping
---------------------
With ``progress``, a tqdm bar labelled by the phase (``replications``, ``response curves``,
``final check`` ...) shows tasks done, the total and the time left. Ctrl-C (or any error)
stops submitting, cancels the tasks not started, stops the worker processes and re-raises,
so the command prints its usual interrupted message and leaves no process behind. Worker
processes ignore Ctrl-C (the main process decides) and end on the stop signal (SIGTERM), which
on Linux they also receive when the main process dies, even by SIGKILL (``PR_SET_PDEATHSIG``).
Tasks mapped with ``graceful=True`` (the Optuna trials) are instead interrupted at their next
:func:`check_stop`, so a trial cut off is marked failed rather than left running. The main
process likewise takes an interrupt only outside the caller's ``tick`` (which reads the study):
an interrupt in the middle of an SQLite read would keep its read lock while the stopped
workers wait to write their failed trials.

On a Dask cluster a stop cancels the tasks not finished; Dask cannot end a running task, so a
task already running finishes on its worker and its result is dropped, but a graceful task sees
its cancellation at its next :func:`check_stop` (also when the main process dies: the scheduler
cancels the tasks of a client that disconnects).

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
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial
from types import FrameType
from typing import Any, ClassVar, TypeVar

from ..config.scenario import ScenarioError

__all__ = [
    "BACKENDS",
    "CONNECT_SECONDS",
    "SCHEDULER_ENV",
    "STOP_SECONDS",
    "DaskExecutor",
    "Executor",
    "LocalExecutor",
    "MapOptions",
    "available_cpus",
    "check_stop",
    "check_workers",
    "get_executor",
    "graceful_stop",
    "progress_bar",
    "use_scheduler",
]

T = TypeVar("T")
R = TypeVar("R")

SCHEDULER_ENV = "COMMERCE_SIM_SCHEDULER"
"""Environment variable naming the scheduler when the caller gives none (default ``local``)."""

STOP_SECONDS = 10
"""A worker process told to stop is killed if it has not ended after this many seconds."""

CONNECT_SECONDS = 10
"""Longest wait for a Dask scheduler to answer before the command stops with a one-line error."""

_scheduler: ContextVar[str | None] = ContextVar("scheduler", default=None)
"""The address set by :func:`use_scheduler` (``None``: none set)."""

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
    source
        Name used in error messages (the command or function).
    """

    name: ClassVar[str]
    """The address scheme this backend serves (its key in :data:`BACKENDS`)."""

    def __init__(self, workers: int, address: str, source: str = "executor") -> None:
        self.workers = workers
        self.address = address
        self.source = source

    @classmethod
    def max_workers(cls) -> int | None:
        """Most workers this backend accepts (``None``: no limit of its own)."""
        return None

    def describe(self) -> str | None:
        """One line telling where the tasks run (``None`` for this machine's processes)."""
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
            progress that tasks report elsewhere (the trials of a shared Optuna study). A
            Ctrl-C or SIGTERM arriving while it runs takes effect when it returns, so it never
            cuts a read of that shared state in half.
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
                _tick(options)
            return
        wrapped = partial(_invoke, fn, options.graceful)
        yield from _in_pool(wrapped, tasks, min(self.workers, len(tasks)), options)


class DaskExecutor(Executor):
    """Runs every task on the Dask ``distributed`` cluster whose scheduler is at ``address``.

    Each :meth:`~Executor.map` connects a client (at most :data:`CONNECT_SECONDS` seconds),
    submits the tasks under keys named after their function, yields results as they finish
    and closes the client; a stop cancels the tasks not finished.
    """

    name = "tcp"

    def describe(self) -> str:
        """``Dask scheduler ADDRESS: N workers, M threads; dashboard URL`` (connects to it).

        Raises
        ------
        ScenarioError
            One line when Dask is not installed or the scheduler does not answer.
        """
        with _dask_client(self.address, self.source) as client:
            info = client.scheduler_info(n_workers=-1)
            workers = info["workers"]
            threads = sum(int(worker.get("nthreads", 0)) for worker in workers.values())
            dashboard = client.dashboard_link if "dashboard" in info["services"] else None
        where = f"dashboard {dashboard}" if dashboard else "no dashboard (install bokeh on the scheduler)"
        return f"Dask scheduler {self.address}: {len(workers)} worker(s), {threads} thread(s); {where}"

    def _completed(
        self, fn: Callable[[T], R], tasks: Sequence[T], options: MapOptions
    ) -> Generator[tuple[int, R], None, None]:
        from distributed import as_completed

        with _dask_client(self.address, self.source) as client:
            keys = [f"{_task_name(fn)}-{uuid.uuid4().hex[:8]}-{i}" for i in range(len(tasks))]
            futures = client.map(partial(_dask_invoke, fn, options.graceful), tasks, key=keys, pure=False)
            index = {future.key: i for i, future in enumerate(futures)}
            stream = as_completed(futures, loop=client.loop)
            complete = False
            try:
                next_tick = time.monotonic() + options.every
                while not stream.is_empty():
                    ready = stream.next_batch(block=options.tick is None)
                    for future in sorted(ready, key=lambda f: index[f.key]):
                        yield index[future.key], future.result()
                    if options.tick is not None and (ready or time.monotonic() >= next_tick):
                        _tick(options)
                        next_tick = time.monotonic() + options.every
                    if not ready:
                        time.sleep(0.05)
                complete = True
            finally:
                if not complete:
                    client.cancel(futures)


BACKENDS: dict[str, type[Executor]] = {"local": LocalExecutor, "tcp": DaskExecutor}
"""Executor backends by scheduler address scheme: ``local``, ``tcp`` (a Dask scheduler)."""


@contextlib.contextmanager
def use_scheduler(address: str | None) -> Iterator[None]:
    """Executors made in the block without a ``scheduler`` use ``address`` (``None``: unchanged).

    Parameters
    ----------
    address
        A scheduler address (``local``, ``tcp://HOST:PORT``); it wins over :data:`SCHEDULER_ENV`.
    """
    token = _scheduler.set(address) if address is not None else None
    try:
        yield
    finally:
        if token is not None:
            _scheduler.reset(token)


def _backend(scheduler: str | None, source: str) -> tuple[type[Executor], str]:
    given = scheduler if scheduler is not None else _scheduler.get()
    address = given if given is not None else os.environ.get(SCHEDULER_ENV, "") or "local"
    scheme = address.split("://", 1)[0] if "://" in address else address
    backend = BACKENDS.get(scheme)
    if backend is None:
        where = "scheduler" if given is not None else SCHEDULER_ENV
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
        Scheduler address; default the one :func:`use_scheduler` set, else the
        :data:`SCHEDULER_ENV` environment variable, else ``local``. Its scheme picks the
        backend in :data:`BACKENDS`.
    source
        Name used in error messages (the command or function).

    Raises
    ------
    ScenarioError
        One line for a bad number of workers or an address no backend serves.
    """
    backend, address = _backend(scheduler, source)
    return backend(check_workers(workers, source, scheduler), address, source)


# --------------------------------------------------------------------------- interrupts


_HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""Interrupts the main process holds while a tick runs (Ctrl-C, and ``kill``'s default)."""


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """In the main thread: a SIGINT or SIGTERM arriving in the block takes effect once it ends.

    A tick reads shared state (the trials of an Optuna study); an interrupt raised in the middle
    of that read would keep its database cursor alive in the traceback while the stop waits for
    the graceful workers - and an SQLite cursor left open holds the file's read lock, so the
    workers could not record their stopped trials as failed before being killed. Held, the
    interrupt is raised right after the read, where nothing is open. A second one of the same
    signal during the block takes effect at once (a tick stuck on a lock stays interruptible).
    Python handlers only: a signal ignored or left to the system is not touched.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous: dict[int, Callable[[int, FrameType | None], Any]] = {}

    def hold(signum: int, frame: FrameType | None) -> None:
        if signum in held:
            previous[signum](signum, frame)
        held.append(signum)

    for signum in _HELD_SIGNALS:
        handler = signal.getsignal(signum)
        if callable(handler):
            previous[signum] = handler
            signal.signal(signum, hold)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in dict.fromkeys(held):
            signal.raise_signal(number)


def _tick(options: MapOptions) -> None:
    """Call the caller's progress function, with interrupts held until it returns."""
    if options.tick is not None:
        with _interrupts_held():
            options.tick()


# --------------------------------------------------------------------------- Dask


@contextlib.contextmanager
def _dask_client(address: str, source: str) -> Iterator[Any]:
    """A Dask client of the scheduler at ``address``, closed on leaving; one-line errors."""
    try:
        from distributed import Client
    except ImportError:
        message = f"'{address}' is a Dask scheduler; install Dask: pip install -e \".[cluster]\""
        raise ScenarioError(source, "scheduler", message) from None
    try:
        client = Client(address, timeout=CONNECT_SECONDS, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        reason = " ".join(str(exc).split())[:160]
        message = f"no Dask scheduler answers at '{address}' within {CONNECT_SECONDS} s ({reason})"
        raise ScenarioError(source, "scheduler", message) from None
    try:
        yield client
    finally:
        client.close()


def _task_name(fn: Callable[..., Any]) -> str:
    """The name of a task's function for Dask's keys and dashboard (``one_run``)."""
    while isinstance(fn, partial):
        fn = fn.func
    return getattr(fn, "__name__", "task").strip("_") or "task"


_dask_task = threading.local()
"""In a Dask worker thread: ``(worker, key)`` of the graceful task it runs (else unset)."""


def _dask_invoke(fn: Callable[[T], R], graceful: bool, task: T) -> R:
    """One task on a Dask worker; a graceful task notes its key so :func:`check_stop` sees a cancel."""
    if not graceful:
        return fn(task)
    from distributed import get_worker

    worker = get_worker()
    _dask_task.current = (worker, worker.get_current_task())
    try:
        return fn(task)
    except KeyboardInterrupt:  # cancelled: nobody waits for the result; the trial recorded its stop
        raise RuntimeError("task cancelled by the main process") from None
    finally:
        _dask_task.current = None


def _dask_cancelled() -> bool:
    """In a graceful task on a Dask worker: whether the scheduler released (cancelled) it."""
    current = getattr(_dask_task, "current", None)
    if current is None:
        return False
    worker, key = current
    state = worker.state.tasks.get(key)
    return state is None or state.state in ("cancelled", "released")


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
            _tick(options)
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
    never lands inside a database write. On a Dask worker it raises once the task was
    cancelled. Elsewhere it does nothing.
    """
    if _stop_requested or _dask_cancelled():
        raise KeyboardInterrupt


@contextlib.contextmanager
def graceful_stop() -> Iterator[None]:
    """In the main process: Ctrl-C and SIGTERM stop the block's work at its next :func:`check_stop`.

    For graceful work run in this process (``optimize --workers 1``: the trials run here), so an
    interruption never lands inside a database write (an Optuna trial being saved). The first
    signal asks the work to stop; a second one acts at once. When the block ends after a signal,
    the signal takes effect then: the previous handler is called (``run.py``'s SIGTERM handler),
    else ``KeyboardInterrupt`` is raised. Outside the main thread it changes nothing.
    """
    global _stop_requested
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def ask(signum: int, frame: FrameType | None) -> None:
        global _stop_requested
        if received:  # a second signal: at once
            raise KeyboardInterrupt
        received.append(signum)
        _stop_requested = True
        logging.disable(logging.WARNING)  # the command says why the work stopped

    for sig in previous:
        signal.signal(sig, ask)
    try:
        yield
    except KeyboardInterrupt:
        if not received:
            raise
        # the work stopped because it was asked to: the signal itself is delivered below
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop_requested = False
        if received:
            logging.disable(logging.NOTSET)
    if received:
        handler = previous[signal.Signals(received[0])]
        if callable(handler) and handler is not signal.default_int_handler:
            handler(received[0], None)
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
