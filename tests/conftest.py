"""Shared test set-up: a headless figure backend, and the command line run as a user runs it.

New tests take the command line from the ``cli`` fixture instead of writing their own
``subprocess.run`` helper; small scenarios come from :func:`scenario_factory.small`.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")  # before any test imports pyplot: no window, same pixels everywhere

# Ctrl-C as in a terminal, even when the suite was started with SIGINT ignored (a background job
# of a shell without job control: `cmd &` in a script). Python then installs no KeyboardInterrupt
# handler and the processes the tests start inherit the ignore, so the tests of Ctrl-C would wait
# forever for an interrupt that never comes (seen: a CI run started that way hung in
# test_executor). A handled signal is reset to the default on exec, so the children get it too.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

ROOT = Path(__file__).resolve().parents[1]

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """Run ``run.py`` with arguments in a fresh folder (``cwd`` to choose another); its result.

    The folder is the test's ``tmp_path``, so bundled scenarios are found by name, not by a path
    relative to the checkout, and anything a command writes without ``--out`` would show there.
    """

    def run(
        *args: str | Path, cwd: Path | None = None, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(ROOT / "run.py"), *map(str, args)],
            capture_output=True,
            text=True,
            cwd=cwd or tmp_path,
            timeout=timeout,
        )

    return run
