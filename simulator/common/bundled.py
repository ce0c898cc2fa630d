"""The bundled scenarios and example files, found by name from any folder.

The repository's ``scenarios/`` folder (the three bundled scenarios and ``examples/``) is
installed with the package as ``simulator.bundled`` (``pyproject.toml`` maps the package to
that folder), so ``commerce-sim simulate omnichannel_retailer`` works from any directory after
``pip install .`` as after ``pip install -e .``. In a source checkout (a clone, or an editable
install) the checkout's own ``scenarios/`` folder is used, so edits to it count at once.

An input file is looked up as given first; only a path that does not exist is looked up among
the bundled files (:func:`resolve_input`):

- a bare name, with or without ``.yaml``: ``omnichannel_retailer``, ``omnichannel_retailer.yaml``;
- a path inside the bundled folder: ``examples/more_search.yaml``;
- the same path written from the repository root: ``scenarios/examples/more_search.yaml``.

The lowest layer: this module imports nothing else of the toolkit.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path, PurePath

__all__ = ["BUNDLED_PACKAGE", "bundled_folder", "bundled_scenarios", "resolve_input"]

BUNDLED_PACKAGE = "simulator.bundled"
"""The package the installed copy of ``scenarios/`` is (``pyproject.toml``: ``package-dir``)."""
FOLDER = "scenarios"
"""The folder of bundled files at the repository root."""


def bundled_folder() -> Path | None:
    """The folder of bundled scenarios: the checkout's ``scenarios/``, else the installed copy.

    Returns
    -------
    pathlib.Path or None
        The folder; None when neither is there (an installation without its data).
    """
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and (root / FOLDER).is_dir():
        return root / FOLDER  # a source checkout or an editable install
    # The installed copy: a folder of data inside the installed simulator package (a namespace
    # package without __init__.py, so it is found through its parent).
    parent, _, name = BUNDLED_PACKAGE.partition(".")
    path = Path(str(importlib.resources.files(parent) / name))
    return path if path.is_dir() else None


def bundled_scenarios() -> list[str]:
    """Names of the bundled scenarios (``omnichannel_retailer``...), sorted; empty without the folder."""
    folder = bundled_folder()
    if folder is None:
        return []
    return sorted(path.stem for path in folder.glob("*.yaml") if path.is_file())


def resolve_input(path: str | Path) -> Path:
    """The file to read for an input given on the command line or to a loader.

    Parameters
    ----------
    path
        A file path, or the name of a bundled file (see the module docstring).

    Returns
    -------
    pathlib.Path
        ``path`` itself when it exists or is not a bundled name; else the bundled file.
    """
    given = Path(path)
    if given.exists() or given.is_symlink() or given.is_absolute():
        return given
    folder = bundled_folder()
    if folder is None:
        return given
    parts = PurePath(path).parts
    if parts and parts[0] == FOLDER:
        parts = parts[1:]
    if not parts or any(part in ("..", ".") for part in parts):
        return given
    candidate = folder.joinpath(*parts)
    for option in (candidate, candidate.with_name(candidate.name + ".yaml")):
        if option.is_file():
            return option
    return given
