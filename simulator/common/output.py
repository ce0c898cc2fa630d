"""Output folders written all at once: one transaction per command, sealed by a manifest.

Every command that writes results (and its report) goes through one :class:`OutputTransaction`:

1. The files are written into a staging folder on the target's own file system: a hidden
   folder next to ``--out`` (``.NAME.staging-PID-XXXX``) when the parent is on the same device,
   else a hidden folder inside ``--out`` itself (``--out`` is a mount point, e.g. a Docker
   volume), so the final moves are renames, never copies across devices.
2. When every file is complete it is flushed to disk and described in ``manifest.json``:
   the file list with sizes (bytes) and SHA-256 hashes.
3. A new ``--out`` folder appears in one rename of the staging folder: absent or complete.
   Into an existing folder, a manifest marked ``"complete": false`` is put in place first,
   the files are moved in, files of the folder's old manifest that the command replaces are
   removed (``--overwrite``), and the complete manifest is put in place last - the atomic
   final marker. A writer killed at any moment leaves either the old folder, or a folder
   whose manifest says it is incomplete, or the new complete folder.

:func:`verify_folder` checks a folder against its manifest; the report and any loader of
results call it and refuse a partial or truncated folder with a one-line message. A folder
without a manifest (assembled by hand) is read as it is.

Files not listed in a manifest are never removed: with ``--overwrite`` only the files the old
manifest lists are replaced as a whole, so an Optuna study database kept in the folder
(``study.db``, which is not listed) survives and a rerun resumes it.

The lowest layer: this module imports nothing else of the toolkit. See docs/hardening.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .files import read_regular_file

__all__ = [
    "MANIFEST",
    "IncompleteOutputError",
    "OutputError",
    "OutputExistsError",
    "OutputTransaction",
    "check_output_folder",
    "committed_folders",
    "in_transaction",
    "locate",
    "seal_folder",
    "verify_folder",
    "write_file_atomically",
    "write_files",
]

MANIFEST = "manifest.json"
"""Name of the completion manifest inside every folder the toolkit writes."""
MANIFEST_FORMAT = 1
MANIFEST_LIMIT = 16 << 20
"""Largest manifest read (bytes)."""
_STAGING = re.compile(r"^\.(?P<name>.*)\.staging-(?P<pid>\d+)-[A-Za-z0-9_]+$")
_CHUNK = 1 << 20


class OutputError(Exception):
    """An output folder that cannot be written or read as results (one line; exit status 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split("\n")))


class OutputExistsError(OutputError, FileExistsError):
    """The output folder already holds results that would be overwritten."""


class IncompleteOutputError(OutputError):
    """A results folder whose manifest says it is incomplete, or whose files do not match it."""


# ----------------------------------------------------------------------------- manifest
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _describe(path: Path) -> dict[str, Any]:
    return {"bytes": path.stat().st_size, "sha256": _sha256(path)}


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    """The folder's manifest, ``None`` when there is none; a damaged one is an error."""
    path = folder / MANIFEST
    if not path.exists():
        return None
    try:
        data = json.loads(read_regular_file(path, MANIFEST_LIMIT).decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise IncompleteOutputError(
            f"{path}: cannot be read as a manifest ({exc}); the folder's results are not trustworthy"
        ) from None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict) or not all(
        isinstance(entry, dict)
        and isinstance(entry.get("bytes"), int)
        and isinstance(entry.get("sha256"), str)
        and _plain_name(name)
        for name, entry in files.items()
    ):
        raise IncompleteOutputError(f"{path}: is not a manifest of this toolkit (no valid file list)")
    manifest: dict[str, Any] = data
    return manifest


def _plain_name(name: str) -> bool:
    return bool(name) and name not in {".", "..", MANIFEST} and "/" not in name and "\0" not in name


def _write_manifest(path: Path, files: Mapping[str, Mapping[str, Any]], complete: bool) -> None:
    data = {"format": MANIFEST_FORMAT, "complete": complete, "files": dict(sorted(files.items()))}
    with path.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())


def verify_folder(folder: str | Path) -> dict[str, Any] | None:
    """Check a results folder against its ``manifest.json``.

    Parameters
    ----------
    folder
        The ``--out`` folder of a command.

    Returns
    -------
    dict or None
        The manifest (``files``: name -> ``{"bytes", "sha256"}``), or ``None`` when the folder
        has none (assembled by hand; nothing to check).

    Raises
    ------
    IncompleteOutputError
        When the manifest says the writing was cut off, or a listed file is missing, has
        another size (truncated) or another content; one line naming the folder and the file.
    """
    folder = Path(folder)
    transaction = _OPEN.get(_key(folder))
    if transaction is not None and transaction.overwrite:
        return None  # the old files are being replaced as a whole; nothing of them is read
    manifest = _read_manifest(folder)
    if manifest is None:
        return None
    if manifest.get("complete") is not True:
        raise IncompleteOutputError(
            f"{folder}: incomplete results (the writing was cut off); "
            "rerun the command with --overwrite to write them again"
        )
    for name, entry in manifest["files"].items():
        path = folder / name
        if not path.is_file():
            raise IncompleteOutputError(
                f"{folder}: {name} is missing (listed in {MANIFEST}); the folder is partial, "
                "rerun the command with --overwrite"
            )
        size = path.stat().st_size
        if size != entry["bytes"]:
            raise IncompleteOutputError(
                f"{folder}: {name} has {size} bytes, {entry['bytes']} were written (truncated or "
                "changed); rerun the command with --overwrite"
            )
        if _sha256(path) != entry["sha256"]:
            raise IncompleteOutputError(
                f"{folder}: {name} was changed after it was written (its SHA-256 differs from "
                f"{MANIFEST}); rerun the command with --overwrite"
            )
    return manifest


def seal_folder(folder: str | Path, names: Iterable[str] | None = None) -> Path:
    """Write the manifest of a folder assembled by hand, so loaders can check it later.

    Parameters
    ----------
    folder
        The folder.
    names
        Files to list (default: every regular file in the folder except hidden ones).

    Returns
    -------
    pathlib.Path
        The manifest written.
    """
    folder = Path(folder)
    if names is None:
        names = sorted(
            p.name
            for p in folder.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.name != MANIFEST
        )
    files = {name: _describe(folder / name) for name in names}
    staged = folder / f".{MANIFEST}.{os.getpid()}"
    _write_manifest(staged, files, complete=True)
    os.replace(staged, folder / MANIFEST)
    return folder / MANIFEST


# ----------------------------------------------------------------------------- checks
def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(path.anchor or ".")


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _probe_writable(folder: Path, out: Path) -> None:
    """Create and remove a hidden folder in ``folder``: the one sure test of writing there."""
    try:
        probe = tempfile.mkdtemp(prefix=".probe-", dir=folder)
    except OSError as exc:
        raise OutputError(
            f"{out}: cannot write under {folder} ({_reason(exc)}); choose another --out"
        ) from None
    os.rmdir(probe)


def check_output_folder(out: str | Path, overwrite: bool, files: Iterable[str] = ()) -> None:
    """Refuse an output folder that cannot hold results, or that holds them, unless overwriting.

    Called before a command's long work, so a bad ``--out`` costs nothing.

    Parameters
    ----------
    out
        The output folder.
    overwrite
        Whether result files already there may be replaced.
    files
        Names of the files the command writes.

    Raises
    ------
    OutputExistsError
        When ``out`` is a file, or holds one of ``files`` (or a cut-off write) and ``overwrite``
        is false.
    OutputError
        When ``out`` cannot be created or written: below a regular file, on a read-only file
        system, under ``/proc``...
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out}: exists and is not a folder; choose another --out")
    existing = _nearest_existing(out)
    if not existing.is_dir():
        raise OutputError(
            f"{out}: cannot be created: {existing} is a file, not a folder; choose another --out"
        )
    _probe_writable(existing, out)
    if overwrite or not out.is_dir():
        return
    manifest = _read_manifest(out) if (out / MANIFEST).exists() else None
    if manifest is not None and manifest.get("complete") is not True:
        raise OutputExistsError(
            f"{out}: holds results whose writing was cut off; pass --overwrite to replace them "
            "or choose another --out"
        )
    for name in files:
        if (out / name).exists():
            raise OutputExistsError(
                f"{out}: already holds {name}; choose another --out folder or pass --overwrite"
            )


# ----------------------------------------------------------------------------- transaction
_OPEN: dict[Path, OutputTransaction] = {}
_COMMITTED: list[Path] = []


def _key(folder: Path) -> Path:
    return Path(os.path.abspath(folder))


def in_transaction(folder: str | Path) -> bool:
    """Whether an output transaction is open on ``folder`` (its files may be staged, not there yet)."""
    return _key(Path(folder)) in _OPEN


def committed_folders() -> list[Path]:
    """Folders this process has committed results to, oldest first (for honest interrupt messages)."""
    return list(_COMMITTED)


def locate(folder: str | Path, name: str) -> Path | None:
    """Where to read result file ``name`` of ``folder`` now; ``None`` when it is not there.

    Inside an open transaction on ``folder`` this is the staged file when the transaction wrote
    it, nothing when the transaction replaces the old one (``--overwrite``), else the file in
    the folder. Without a transaction it is ``folder / name`` when that exists.
    """
    folder = Path(folder)
    transaction = _OPEN.get(_key(folder))
    if transaction is not None:
        if name in transaction.staged:
            return transaction.staged[name]
        if transaction.overwrite and name in transaction.old_files:
            return None
    path = folder / name
    return path if path.exists() else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_staging(folder: Path, name: str | None) -> None:
    """Remove staging folders of writers that died (killed) before they could clean up."""
    with contextlib.suppress(OSError):
        for entry in folder.iterdir():
            match = _STAGING.match(entry.name)
            if match is None or (name is not None and match["name"] != name):
                continue
            if entry.is_dir() and not entry.is_symlink() and not _pid_alive(int(match["pid"])):
                shutil.rmtree(entry, ignore_errors=True)


def _same_device(a: Path, b: Path) -> bool:
    return os.stat(a).st_dev == os.stat(b).st_dev


class OutputTransaction:
    """Files of one command written into a folder all at once (see the module docstring).

    Use as a context manager: files added inside are staged; leaving the block normally
    commits them, leaving it by an exception (or Ctrl-C) removes the staging folder and
    leaves ``out`` as it was. While open, :func:`write_files` on ``out`` adds to this
    transaction and :func:`locate` finds the staged files, so results and the report built
    from them are committed together.

    Parameters
    ----------
    out
        The output folder.
    overwrite
        Replace result files already there: the files the old manifest lists (the old results
        as a whole, or those ``replaces`` selects) are removed at commit.
    replaces
        Which files of the old manifest this transaction replaces when overwriting (default:
        all of them). The report passes its own files, so ``report --overwrite`` keeps the
        results it was built from.
    """

    def __init__(
        self, out: str | Path, overwrite: bool = False, replaces: Callable[[str], bool] | None = None
    ) -> None:
        self.out = Path(out)
        self.overwrite = overwrite
        self.replaces = replaces
        self.staged: dict[str, Path] = {}
        self.written: list[Path] = []
        self.old_files: dict[str, Any] = {}
        self._staging: Path | None = None
        self._inside = False

    # -- opening
    def __enter__(self) -> OutputTransaction:
        key = _key(self.out)
        if key in _OPEN:
            raise RuntimeError(f"{self.out}: a transaction is already open on this folder")
        if self.out.exists() and not self.out.is_dir():
            raise OutputExistsError(f"{self.out}: exists and is not a folder; choose another --out")
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(
                f"{self.out}: cannot be created ({_reason(exc)}); choose another --out"
            ) from None
        if self.out.is_dir():
            manifest = _read_manifest(self.out)
            if manifest is not None:
                self.old_files = dict(manifest["files"])
        self._staging = self._make_staging()
        _OPEN[key] = self
        return self

    def _make_staging(self) -> Path:
        target = _key(self.out)  # absolute, so that --out . has a real parent and name
        parent = target.parent
        exists = self.out.is_dir()
        prefix = f".{target.name}.staging-{os.getpid()}-"
        _remove_stale_staging(parent, target.name)
        if exists:
            _remove_stale_staging(self.out, None)
        attempts = [parent] if parent != target and (not exists or _same_device(target, parent)) else []
        if exists:
            attempts.append(self.out)  # a mount point, or a parent we may not write in
        problem: OSError | None = None
        for folder in attempts:
            try:
                staging = Path(tempfile.mkdtemp(prefix=prefix, dir=folder))
            except OSError as exc:
                problem = exc
                continue
            self._inside = folder in (self.out, target)
            return staging
        assert problem is not None
        raise OutputError(f"{self.out}: cannot be written ({_reason(problem)}); choose another --out")

    # -- adding
    def add(self, name: str, write: Callable[[Path], object]) -> Path:
        """Stage file ``name`` by calling ``write(path)``; returns the staged path."""
        if self._staging is None:
            raise RuntimeError("the transaction is not open")
        if not _plain_name(name):
            raise ValueError(f"{name!r} is not a plain file name")
        if name in self.staged:
            raise ValueError(f"{name} is written twice in one output transaction")
        path = self._staging / name
        try:
            write(path)
        except OSError as exc:
            raise OutputError(f"{self.out}: cannot write {name} ({_reason(exc)})") from None
        if not path.is_file():
            raise RuntimeError(f"the writer of {name} wrote no file")
        self.staged[name] = path
        return path

    # -- closing
    def __exit__(self, kind: type[BaseException] | None, *_rest: object) -> None:
        try:
            if kind is None:
                self.commit()
        finally:
            _OPEN.pop(_key(self.out), None)
            if self._staging is not None:
                shutil.rmtree(self._staging, ignore_errors=True)
                self._staging = None

    def _replaced(self, name: str) -> bool:
        return self.overwrite and (self.replaces is None or self.replaces(name))

    def commit(self) -> list[Path]:
        """Move the staged files into ``out`` (see the module docstring); returns their paths."""
        if self._staging is None:
            raise RuntimeError("the transaction is not open")
        staging = self._staging
        try:
            files = {}
            for name, path in self.staged.items():
                with path.open("rb") as handle:
                    os.fsync(handle.fileno())
                files[name] = _describe(path)
            kept = {n: e for n, e in self.old_files.items() if n not in files and not self._replaced(n)}
            removed = [n for n in self.old_files if n not in files and n not in kept]
            fresh = not self.out.exists() and not self._inside
            if not (fresh and self._rename_whole(staging, files)):
                self._merge(staging, files, kept, removed)
        except OSError as exc:
            raise OutputError(
                f"{self.out}: the results could not be moved in place ({_reason(exc)})"
            ) from None
        self.written = [self.out / name for name in self.staged]
        self.staged = {}
        _COMMITTED.append(self.out)
        return self.written

    def _rename_whole(self, staging: Path, files: Mapping[str, Any]) -> bool:
        """A new folder: the staging folder with its manifest becomes ``out`` in one rename."""
        _write_manifest(staging / MANIFEST, files, complete=True)
        try:
            os.rename(staging, self.out)
        except OSError:
            if not self.out.exists():
                raise
            (staging / MANIFEST).unlink()  # someone created the folder meanwhile: merge instead
            return False
        self._staging = None
        _fsync_folder(self.out.parent)
        return True

    def _merge(
        self, staging: Path, files: Mapping[str, Any], kept: Mapping[str, Any], removed: list[str]
    ) -> None:
        """An existing folder: incomplete marker first, files moved in, complete manifest last."""
        final = {**kept, **files}
        marker = staging / f".{MANIFEST}.new"
        _write_manifest(marker, {**self.old_files, **final}, complete=False)
        os.replace(marker, self.out / MANIFEST)
        _fsync_folder(self.out)
        for name in files:
            os.replace(staging / name, self.out / name)
        for name in removed:
            with contextlib.suppress(FileNotFoundError):
                (self.out / name).unlink()
        _write_manifest(marker, final, complete=True)
        os.replace(marker, self.out / MANIFEST)
        _fsync_folder(self.out)


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


@contextlib.contextmanager
def _transaction_for(
    out: Path, overwrite: bool, replaces: Callable[[str], bool] | None
) -> Iterator[tuple[OutputTransaction, bool]]:
    """The transaction open on ``out``, or a new one committed on leaving (second item True)."""
    open_one = _OPEN.get(_key(out))
    if open_one is not None:
        yield open_one, False
        return
    with OutputTransaction(out, overwrite, replaces) as transaction:
        yield transaction, True


def write_files(
    out_dir: str | Path,
    writers: Mapping[str, Callable[[Path], object]],
    overwrite: bool = False,
    *,
    replaces: Callable[[str], bool] | None = None,
) -> list[Path]:
    """Write files into a folder all at once (an :class:`OutputTransaction`).

    Parameters
    ----------
    out_dir
        The output folder (created if needed).
    writers
        File name -> function writing that file at the path it is given.
    overwrite
        Replace result files already in ``out_dir``: the old results listed in its manifest
        are removed as a whole (or those ``replaces`` selects), files it does not list are kept.
    replaces
        Which files of the old manifest an overwrite replaces (default: all).

    Returns
    -------
    list of pathlib.Path
        The files, in ``out_dir``. Inside an open transaction on ``out_dir`` the files are only
        staged (the paths returned are the staged ones) and appear when it commits.

    Raises
    ------
    OutputExistsError
        When ``out_dir`` already holds one of the files and ``overwrite`` is false; nothing is
        written then, nor when a writer fails.
    OutputError
        When the folder cannot be written (one line naming it and the reason).
    """
    out = Path(out_dir)
    check_output_folder(out, overwrite, tuple(writers))
    with _transaction_for(out, overwrite, replaces) as (transaction, own):
        staged = [transaction.add(name, write) for name, write in writers.items()]
        if not own:
            return staged
    return transaction.written


def write_file_atomically(path: str | Path, data: bytes, overwrite: bool = False) -> Path:
    """Write one file whole or not at all: a hidden temporary file beside it, renamed over it.

    Parameters
    ----------
    path
        The file.
    data
        Its content.
    overwrite
        Replace an existing file (never a folder or anything but a regular file).

    Raises
    ------
    OutputExistsError
        When ``path`` exists and ``overwrite`` is false, or is not a regular file.
    OutputError
        When the folder cannot be written (one line naming it and the reason).
    """
    path = Path(path)
    if os.path.lexists(path):
        if not path.is_file():
            raise OutputExistsError(f"{path}: exists and is not a regular file; choose another --out")
        if not overwrite:
            raise OutputExistsError(f"{path}: already exists; choose another --out or pass --overwrite")
    folder = path.parent
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        raise OutputError(f"{path}: cannot be created: {existing} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    except OSError as exc:
        raise OutputError(f"{path}: cannot be written ({_reason(exc)}); choose another --out") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except OSError as exc:
        raise OutputError(f"{path}: cannot be written ({_reason(exc)})") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    _fsync_folder(folder)
    return path
