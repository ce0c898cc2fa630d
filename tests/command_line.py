"""The command line run from the checkout, as the hardening tests run it.

``run`` starts ``run.py`` of this checkout with the checkout on ``PYTHONPATH`` (so a worktree's
code wins over an installed copy) and its working directory at the checkout's root; the ``cli``
fixture of ``conftest.py`` runs it from the test's own folder instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.scenario_factory import ROOT


def run(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python run.py ARGS`` from the checkout's root; its completed process (text output)."""
    return subprocess.run(
        [sys.executable, "run.py", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
