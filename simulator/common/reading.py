"""Reading a saved results folder back: checked against its manifest, one-line errors.

The ``load`` class methods of the result objects (:meth:`simulator.SimulationResult.load` and
the like) read the files their ``save`` wrote through these helpers: the folder is checked
against its ``manifest.json`` first (:func:`simulator.common.output.verify_folder`: a partial,
truncated or changed folder is refused), then each file is read with a message naming the
folder and the file when it is missing or unreadable.

The lowest layer: this module imports nothing else of the toolkit but :mod:`.output` and
:mod:`.files`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .files import InputFileError, read_regular_file
from .output import OutputError, verify_folder

__all__ = ["MAX_JSON_BYTES", "open_results", "read_result_csv", "read_result_json"]

MAX_JSON_BYTES = 256 << 20
"""Largest JSON file of results read (bytes)."""


def open_results(folder: str | Path, needed: Iterable[str], what: str) -> Path:
    """Check a results folder before reading it: it exists, matches its manifest, holds ``needed``.

    Parameters
    ----------
    folder
        The ``--out`` folder.
    needed
        Files that must be there.
    what
        The command that writes such folders, for messages (``simulate --out``).

    Raises
    ------
    simulator.common.output.OutputError
        One line naming the folder: missing, partial or changed (see
        :func:`~simulator.common.output.verify_folder`), or without one of ``needed``.
    """
    path = Path(folder)
    if not path.is_dir():
        raise OutputError(f"{path}: no such folder; expected the folder written by {what}")
    verify_folder(path)
    for name in needed:
        if not (path / name).is_file():
            raise OutputError(f"{path}: holds no {name}; expected the folder written by {what}")
    return path


def read_result_json(folder: Path, name: str) -> dict[str, Any]:
    """A JSON object of a results folder.

    Raises
    ------
    simulator.common.output.OutputError
        When it cannot be read or is not a JSON object (one line naming the file).
    """
    try:
        data = json.loads(read_regular_file(folder / name, MAX_JSON_BYTES).decode("utf-8"))
    except (OSError, InputFileError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise OutputError(f"{folder / name}: cannot be read as JSON ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise OutputError(f"{folder / name}: must hold a JSON object")
    return data


def read_result_csv(
    folder: Path,
    name: str,
    index: Sequence[str] = (),
    columns: Sequence[str] = (),
    dtypes: Mapping[str, type] | None = None,
) -> pd.DataFrame:
    """A table of a results folder, indexed by the ``index`` columns.

    Parameters
    ----------
    folder
        The results folder.
    name
        The CSV file.
    index
        Columns to index by (as ``save`` wrote them).
    columns
        Other columns that must be there.
    dtypes
        Types of columns read as they are written (``{"customer_id": str}`` keeps ids such as
        ``00042`` text); other columns as pandas infers them.

    Raises
    ------
    simulator.common.output.OutputError
        When the file cannot be read or lacks one of the columns (one line naming it).
    """
    path = folder / name
    try:
        if not path.is_file():
            raise InputFileError("is not a regular file")
        frame = pd.read_csv(path, dtype=dict(dtypes) if dtypes else None)
    except (OSError, InputFileError, UnicodeDecodeError, ValueError) as exc:
        raise OutputError(f"{path}: cannot be read as CSV ({exc})") from None
    missing = [c for c in (*index, *columns) if c not in frame.columns]
    if missing:
        raise OutputError(f"{path}: missing column {missing[0]} (as the toolkit writes it)")
    return frame.set_index(list(index)) if index else frame
