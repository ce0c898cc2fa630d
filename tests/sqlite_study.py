"""Read an Optuna SQLite study that another process may still be creating, without writing to it."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any


def _stamped(db: Path) -> bool:
    """Whether Optuna has finished creating the file: its alembic version row is written."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=60) as connection:
            return connection.execute("SELECT COUNT(*) FROM alembic_version").fetchone()[0] > 0
    except sqlite3.Error:
        return False


def study_trials(db: Path, name: str | None = None) -> list[Any]:
    """The trials of study ``name`` (default: every study) in the SQLite file ``db``; none before it exists.

    Optuna's ``RDBStorage`` writes when it opens a file whose version rows are missing (it stamps
    ``alembic_version``, even with ``skip_table_creation``), so opening it while ``optimize``
    creates the file made one of them fail with "UNIQUE constraint failed: alembic_version"
    (seen once in a full test run). The file is opened only once that row exists.
    """
    import optuna

    if not db.exists() or not _stamped(db):
        return []
    try:
        backend = optuna.storages.RDBStorage(f"sqlite:///{db}", skip_table_creation=True)
        if name is not None:
            return list(backend.get_all_trials(backend.get_study_id_from_name(name), deepcopy=False))
        return [t for s in backend.get_all_studies() for t in backend.get_all_trials(s._study_id)]
    except Exception:  # noqa: BLE001 - the study itself is not created yet
        return []
