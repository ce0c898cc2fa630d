"""Which process runs a trial, so a resume runs the trials cut off by a dead process at once.

A trial whose process dies (SIGKILL, a crash, the machine's out-of-memory killer) stays
``RUNNING`` in the study. Optuna's heartbeat fails it, but only once it has missed three
intervals and only in a process running trials at that moment (a journal file has no
heartbeat at all). So every trial records its owner when it starts - the system attribute
:data:`OWNER`: this machine's identity, the process id and the process's start time - and
resuming a study (:func:`retry_cut_off`) fails each running trial whose owner ran on this
machine and is gone, and enqueues its parameters again: the next trial any process starts
runs them, before any new policy is sampled. A trial owned by a process of another machine
is left to the heartbeat (this machine cannot see that process).

A trial stopped gracefully (Ctrl-C, SIGTERM, the main process dying: the executor's
``check_stop``) is failed by Optuna and enqueued again by the trial itself
(:func:`enqueue_again`) before it stops. Every retry carries Optuna's ``failed_trial`` and
``retry_history`` system attributes (those of :class:`optuna.storages.RetryFailedTrialCallback`,
which the heartbeat's retries also use); a trial is run at most :data:`MAX_RETRY` more times.

The machine's identity is its host name, boot id and process-id namespace (Linux ``/proc``),
so two containers or two machines of the same name never take each other's processes for
their own; elsewhere no identity is recorded and the heartbeat alone applies.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import socket
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

__all__ = ["MAX_RETRY", "OWNER", "OwnerSampler", "enqueue_again", "record_owner", "retry_cut_off"]

OWNER = "owner"
"""System attribute of a trial: ``{"host": ..., "pid": ..., "started": ...}`` of its process."""

MAX_RETRY = 2
"""Most times the parameters of a failed (cut-off) trial are run again."""

_RETRY_HISTORY = "retry_history"
_FAILED_TRIAL = "failed_trial"


@functools.cache
def _host() -> str | None:
    """The machine as its processes see it: host name and a digest of boot id and pid namespace."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return None
    digest = hashlib.sha256(f"{boot} {namespace}".encode()).hexdigest()[:16]
    return f"{socket.gethostname()} {digest}"


def _started(pid: int) -> int | None:
    """Start time of a live process (clock ticks after boot); ``None``: gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    if fields[0] in ("Z", "X"):  # dead, waiting for its parent to read its exit status
        return None
    return int(fields[19])  # field 22 of proc(5); fields[0] is field 3


def _owner() -> dict[str, Any] | None:
    """The owner record of this process (``None`` where the machine has no identity)."""
    host = _host()
    if host is None:
        return None
    pid = os.getpid()
    return {"host": host, "pid": pid, "started": _started(pid)}


def _gone(owner: Any) -> bool:
    """Whether ``owner`` is a process of this machine that no longer runs (else it may run)."""
    if not isinstance(owner, dict) or owner.get("host") is None or owner.get("host") != _host():
        return False
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid == os.getpid():
        return False
    return _started(pid) != owner.get("started")  # gone, or its id now names a new process


def record_owner(study: optuna.Study, trial_id: int) -> None:
    """Record this process as the owner of a trial that starts (nothing where it has no identity)."""
    owner = _owner()
    if owner is not None:
        study._storage.set_trial_system_attr(trial_id, OWNER, owner)


class OwnerSampler(optuna.samplers.BaseSampler):
    """Mixin of the study's samplers: each trial records its owner as it starts.

    Optuna calls :meth:`before_trial` right after it creates the trial (or takes a waiting one),
    before sampling anything, so the trial is owned for nearly all of its life.
    """

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Record the owner, then the sampler's own preparation."""
        record_owner(study, trial._trial_id)
        super().before_trial(study, trial)


def enqueue_again(study: optuna.Study, trial: FrozenTrial) -> None:
    """Add a waiting trial with the parameters of a failed one, unless it ran :data:`MAX_RETRY` times.

    The copy keeps the parameters, distributions and user attributes, and the system attributes
    but the owner; ``failed_trial`` names the first trial of the series and ``retry_history``
    every trial of it. Also the heartbeat's callback (same attributes as Optuna's own).
    """
    history = [*trial.system_attrs.get(_RETRY_HISTORY, []), trial.number]
    if len(history) > MAX_RETRY:
        return
    attrs = {key: value for key, value in trial.system_attrs.items() if key != OWNER}
    attrs |= {_FAILED_TRIAL: history[0], _RETRY_HISTORY: history}
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.WAITING,
            params=trial.params,
            distributions=trial.distributions,
            user_attrs=trial.user_attrs,
            system_attrs=attrs,
        )
    )


def retry_cut_off(study: optuna.Study) -> list[int]:
    """Fail the running trials of dead processes of this machine and enqueue them again.

    Each is failed with one state change that only one process can make (two processes
    resuming at once do not both retry it); a trial already enqueued again (stopped after it
    enqueued itself) is only failed.

    Returns
    -------
    list of int
        The numbers of the trials failed.
    """
    if _host() is None:
        return []
    trials = study.get_trials(deepcopy=False)
    retried = {number for t in trials for number in t.system_attrs.get(_RETRY_HISTORY, [])}
    failed = []
    for trial in trials:
        if trial.state != TrialState.RUNNING or not _gone(trial.system_attrs.get(OWNER)):
            continue
        with contextlib.suppress(UpdateFinishedTrialError):  # another process failed it first
            if study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                failed.append(trial.number)
                if trial.number not in retried:
                    enqueue_again(study, trial)
    return failed
