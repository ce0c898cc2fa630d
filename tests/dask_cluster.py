"""A real Dask cluster on localhost for the tests and the cluster benchmark.

One ``dask scheduler`` and ``workers`` separate ``dask worker`` processes (one thread each, no
nanny), started from this virtual environment with the repository (and tests/) on their
``PYTHONPATH`` - the commands of README "Running on a cluster" - and stopped on leaving.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START_SECONDS = 120
"""Longest wait for the scheduler to listen and the workers to join it."""


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cluster_env() -> dict[str, str]:
    """The environment of the scheduler and workers: this code first on ``PYTHONPATH``."""
    inherited = [path for path in os.environ.get("PYTHONPATH", "").split(os.pathsep) if path]
    paths = [str(ROOT), str(ROOT / "tests"), *inherited]
    return os.environ | {"PYTHONPATH": os.pathsep.join(paths), "OMP_NUM_THREADS": "1"}


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in reversed(processes):
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for process in processes:
        try:
            process.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def local_cluster(workers: int, dashboard: bool = False) -> Iterator[str]:
    """Start a scheduler and ``workers`` worker processes; yield the scheduler's address.

    Raises
    ------
    RuntimeError
        The cluster did not start within :data:`START_SECONDS` (with the end of its log).
    """
    from distributed import Client

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = [sys.executable, "-m", "dask"]
    board = ["--dashboard-address", f"127.0.0.1:{free_port()}"] if dashboard else ["--no-dashboard"]
    log = tempfile.NamedTemporaryFile("w+b", prefix="dask-cluster-", suffix=".log", delete=False)  # noqa: SIM115
    processes: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> None:
        command = [*dask, *args]
        processes.append(
            subprocess.Popen(command, cwd=ROOT, env=cluster_env(), stdout=log, stderr=subprocess.STDOUT)
        )

    try:
        start("scheduler", "--host", "127.0.0.1", "--port", str(port), *board)
        deadline = time.monotonic() + START_SECONDS
        while not _listening(port):
            if processes[0].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Dask scheduler did not start: {_tail(log.name)}")
            time.sleep(0.2)
        for k in range(workers):
            options = ["--nthreads", "1", "--no-nanny", "--no-dashboard", "--death-timeout", "60"]
            start("worker", address, *options, "--name", f"w{k}")
        with Client(address, timeout=30, set_as_default=False) as client:
            try:
                client.wait_for_workers(workers, timeout=START_SECONDS)
            except TimeoutError:
                raise RuntimeError(f"the Dask workers did not join: {_tail(log.name)}") from None
        yield address
    finally:
        _stop(processes)
        log.close()
        Path(log.name).unlink(missing_ok=True)


def _tail(path: str) -> str:
    return " | ".join(Path(path).read_text(errors="replace").strip().splitlines()[-5:])
