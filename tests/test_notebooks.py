"""The notebooks in notebooks/ run top to bottom (nbclient), are stored without outputs, and show figures."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.scenario_factory import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TIMEOUT_SECONDS = 600
"""Per cell; each notebook takes one to three minutes on two cores."""


def test_the_two_notebooks_are_there() -> None:
    assert [p.name for p in NOTEBOOKS] == ["budget_allocation.ipynb", "quickstart.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_runs_top_to_bottom(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    # As Jupyter opens it: the kernel starts in notebooks/; the first cell puts the repository
    # root first on sys.path, so this checkout's packages are the ones tested.
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=TIMEOUT_SECONDS,
        resources={"metadata": {"path": str(path.parent)}},
    )
    started = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the cell and the traceback, on any error
    seconds = time.perf_counter() - started
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert len(images) >= 3, "the figures did not display"
    # The result objects display as tables (their _repr_html_), not as reprs.
    assert any("Key figures" in h or "Spend per channel" in h for h in html)
    print(f"{path.name}: {seconds:.0f} s")
