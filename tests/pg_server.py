"""A real PostgreSQL server for the storage tests, started and stopped by the tests themselves.

The server binaries are looked up on ``PATH`` and in Debian's ``/usr/lib/postgresql/*/bin``
(``.ci/run`` installs Debian's ``postgresql`` when neither has them). The cluster lives in a
fresh temporary folder (``initdb``), listens on 127.0.0.1 at a free port (and a socket in that
folder), and runs as an unprivileged account when the tests run as root (PostgreSQL refuses
root): ``postgres`` if it exists, else ``nobody``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from dask_cluster import free_port

USER = "optuna"
PASSWORD = "s3cr/t@Pg-pw"
"""The test password: holds ``/`` and ``@`` (percent-encoded in the URL as SQLAlchemy asks)."""


def server_binaries() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres`` (newest major version), if any."""
    found = shutil.which("pg_ctl")
    candidates = [Path(found).resolve().parent] if found else []
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: _major(p.parent.name))
    candidates += reversed(debian)
    for folder in candidates:
        if all((folder / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def _major(name: str) -> int:
    return int(name) if name.isdigit() else -1


def _account() -> dict[str, Any]:
    """``subprocess`` arguments running a command as an unprivileged user when we are root."""
    if os.geteuid() != 0:
        return {}
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    raise RuntimeError("running as root and neither the 'postgres' nor the 'nobody' account exists")


@contextlib.contextmanager
def postgres_server(binaries: Path) -> Iterator[str]:
    """Start a throw-away PostgreSQL cluster; yield its URL (user :data:`USER`, :data:`PASSWORD`)."""
    account = _account()
    folder = Path(tempfile.mkdtemp(prefix="commerce-pg-"))
    data, log, secret = folder / "data", folder / "server.log", folder / "password"
    secret.write_text(PASSWORD)
    if account:
        for path in (folder, secret):
            os.chown(path, account["user"], account["group"])
    port = free_port()
    run = {"capture_output": True, "text": True, "timeout": 120, "cwd": folder, **account}
    pg_ctl = [str(binaries / "pg_ctl"), "-D", str(data)]
    try:
        for command in (
            [str(binaries / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={secret}", "--no-locale"]
            + ["-E", "UTF8", "--auth-local=trust", "--auth-host=scram-sha-256"],
            [*pg_ctl, "-l", str(log), "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"]
            + ["-w", "-t", "60", "start"],
        ):
            done = subprocess.run(command, **run)
            if done.returncode != 0:
                tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
                raise RuntimeError(f"PostgreSQL did not start: {done.stderr.strip()[-500:]} {tail}")
        yield f"postgresql+psycopg://{USER}:{quote(PASSWORD, safe='/')}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "-w", "stop"], **run)  # no-op if it never started
        shutil.rmtree(folder, ignore_errors=True)
