"""Reading input files safely: regular files only, of bounded size, never hanging.

A FIFO opened for reading blocks until someone writes to it, and ``/dev/zero`` never ends;
:func:`read_regular_file` opens without blocking, checks the kind and size first and reads at
most the limit, so a bad path is a one-line error instead of a hang or a ``MemoryError``.

The lowest layer: this module imports nothing else of the toolkit.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["InputFileError", "read_regular_file"]


class InputFileError(OSError):
    """A path that is not a readable regular file within the size limit; ``str`` is the reason."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_regular_file(path: str | Path, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes.

    Parameters
    ----------
    path
        The file.
    limit
        Largest size accepted (bytes).

    Raises
    ------
    FileNotFoundError
        When there is no such file.
    InputFileError
        When the path is a directory, FIFO, device or socket, or the file is larger than
        ``limit`` (also when it grows past it while being read); the message is the reason.
    OSError
        When the file cannot be opened or read (permissions...).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        handle = os.open(path, flags)
    except IsADirectoryError:
        raise InputFileError("is a directory") from None
    try:
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode):
            raise InputFileError(f"is {_kind(info.st_mode)}, not a regular file")
        if info.st_size > limit:
            raise InputFileError(f"is {info.st_size:,} bytes, more than the {limit:,} allowed")
        chunks, size = [], 0
        while chunk := os.read(handle, min(1 << 20, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise InputFileError(f"grew past the {limit:,} bytes allowed while being read")
        return b"".join(chunks)
    finally:
        os.close(handle)
