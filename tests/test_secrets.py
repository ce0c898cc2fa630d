"""Storage passwords never appear in printouts, files or errors, whatever characters they hold.

Covers issue 19 item 4: ``postgresql://u:ab/S3cr3t@host/db``, ``...?password=S3cr3t`` and
``user:ab@S3cr3t@host`` leaked whole or in half; every SQLAlchemy form is masked the same way.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import run as cli
from simulator.common.secrets import mask_secrets, mask_url, url_secrets
from tests.scenario_factory import ROOT

SMALL = ROOT / "tests" / "fixtures" / "small_valid.yaml"
SECRET = "S3cr3t"

# (URL, masked form): every storage URL form the issue lists, and the characters a password may hold.
FORMS = [
    ("postgresql://u:ab/S3cr3t@host/db", "postgresql://u:***@host/db"),
    ("postgresql://u@host/db?password=S3cr3t", "postgresql://u@host/db?password=***"),
    ("postgresql://user:ab@S3cr3t@host/db", "postgresql://user:***@host/db"),
    (
        "postgresql+psycopg2://u:S3cr3t@db.example:5432/shop",
        "postgresql+psycopg2://u:***@db.example:5432/shop",
    ),
    (
        "postgresql+psycopg2://u:a:b/S3cr3t?#x@h/db?sslmode=require",
        "postgresql+psycopg2://u:***@h/db?sslmode=require",
    ),
    ("mysql+pymysql://u:p%2FS3cr3t@h/db", "mysql+pymysql://u:***@h/db"),
    ("redis://:S3cr3t@h:6379/0", "redis://:***@h:6379/0"),
    (
        "postgresql://h/db?sslmode=require&PASSWORD=S3cr3t&x=1",
        "postgresql://h/db?sslmode=require&PASSWORD=***&x=1",
    ),
    ("postgresql://h/db?sslpassword=S3cr3t", "postgresql://h/db?sslpassword=***"),
    ("sqlite:////tmp/x/study.db?password=S3cr3t", "sqlite:////tmp/x/study.db?password=***"),
]
IDS = [
    "slash",
    "query",
    "at_sign",
    "sqlalchemy",
    "colon_question_hash",
    "percent",
    "no_user",
    "query_case",
    "ssl",
    "sqlite",
]


@pytest.mark.parametrize(("url", "masked"), FORMS, ids=IDS)
def test_mask_url_hides_the_whole_password(url: str, masked: str) -> None:
    assert mask_url(url) == masked
    assert SECRET not in mask_url(url)
    assert any(SECRET in secret for secret in url_secrets(url))


def test_urls_without_secrets_are_unchanged() -> None:
    for url in (
        "sqlite:///study.db",
        "sqlite:////abs/study.db",
        "postgresql://u@host:5432/db?sslmode=require",
    ):
        assert mask_url(url) == url
        assert url_secrets(url) == []


@pytest.mark.parametrize(("url", "masked"), FORMS, ids=IDS)
def test_mask_secrets_in_free_text(url: str, masked: str) -> None:
    """URLs in an error message, the password echoed by a driver, key=value pairs: all masked."""
    password = next(s for s in url_secrets(url) if SECRET in s)
    text = (
        f"cannot open {url}: (OperationalError) FATAL: password '{password}' rejected; "
        f"dsn host=h password={password} user=u"
    )
    shown = mask_secrets(text, [url])
    assert SECRET not in shown
    assert masked in shown
    assert "cannot open" in shown and "rejected" in shown


@pytest.mark.parametrize(("url", "masked"), FORMS[:-1], ids=IDS[:-1])
def test_optimize_storage_errors_never_print_the_password(
    url: str, masked: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The storage cannot be opened (no server, no driver): one line, exit 2, password masked."""
    status = cli.main(
        ["optimize", str(SMALL), "--trials", "1", "--agents", "200", "--days", "5", "--storage", url]
    )
    captured = capsys.readouterr()
    assert status == 2, captured.err
    assert SECRET not in captured.out + captured.err
    lines = [line for line in captured.err.splitlines() if not line.startswith("warning: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err


@pytest.mark.slow
def test_a_finished_optimize_leaks_no_secret_anywhere(tmp_path: Path) -> None:
    """A real study in SQLite with secret query parameters: stdout, stderr, JSON and report are clean."""
    url = f"sqlite:///{tmp_path / 'study.db'}?password={SECRET}&sslpassword=0ther{SECRET}"
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            "run.py",
            "optimize",
            str(SMALL),
            *("--trials", "2", "--agents", "300", "--days", "15", "--n-seeds", "2"),
            *("--storage", url, "--out", str(out), "--report"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    for path in out.iterdir():
        assert SECRET.encode() not in path.read_bytes(), path.name
    assert "password=***" in (out / "recommendation.json").read_text()
