"""allocate --curves: the LP on response curves from another model, with no simulation."""

from __future__ import annotations

from pathlib import Path

import pytest

from optimizer.external import CurvesError, allocate_on_curves, load_curves
from run import main

FIXTURES = Path(__file__).parent / "fixtures" / "curves"


def test_lp_answer_on_hand_made_curves(tmp_path: Path) -> None:
    # search slopes 2.5, 1.5, 0.5 and social 1.8, 0.9, 0.2 per unit: profit (outcome - spend) takes
    # every segment whose slope is above 1 - search to 2,000, social to 1,000 - and stops there.
    result = allocate_on_curves(FIXTURES / "valid.csv", budget=4000)
    spend = result.table()["spend"]
    assert spend["search"] == pytest.approx(2000) and spend["social"] == pytest.approx(1000)
    assert result.allocation.objective == pytest.approx(4000 + 1800 - 3000)
    status = main(
        [
            "allocate",
            "--curves",
            str(FIXTURES / "valid.csv"),
            "--budget",
            "2500",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert status == 0
    report = (tmp_path / "o" / "report.md").read_text(encoding="utf-8")
    assert "nothing was simulated" in report
    # a budget of 2,500 buys the steepest segments: search 1,000 (2.5), social 1,000 (1.8), search 500 (1.5)
    table = (tmp_path / "o" / "allocation.csv").read_text(encoding="utf-8")
    assert "search,1500" in table and "social,1000" in table


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("wrong_*.csv")))
def test_bad_curves_file_exits_2_with_one_line(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(CurvesError):
        load_curves(FIXTURES / name)
    out = tmp_path / "out"
    status = main(["allocate", "--curves", str(FIXTURES / name), "--budget", "1000", "--out", str(out)])
    error = capsys.readouterr().err.strip()
    assert status == 2 and len(error.splitlines()) == 1 and name in error
    assert not out.exists()
