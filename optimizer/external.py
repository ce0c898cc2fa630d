"""Response curves from another model (for example an MMM): read them, run the LP, write the answer.

``run.py allocate --curves FILE --budget B`` splits a budget on hand-made or imported response
curves instead of simulated ones: nothing is simulated. The file (CSV or Parquet) has one row per
point of a channel's curve:

- ``channel`` (text);
- ``spend`` (number >= 0): total spend of the channel over the plan (currency); each channel's
  points start at spend 0;
- ``outcome`` (number): the channel's gross contribution at that spend, before media spend
  (currency) - the objective is profit, outcome minus spend;
- ``standard_error`` (optional, >= 0): the outcome's standard error; reported, not optimized on.

Each channel's points must rise and flatten (concave and non-decreasing), as the LP's
piecewise-linear curves must (:class:`optimizer.pwl.PiecewiseLinear`). Every problem is one
:class:`CurvesError` line naming the file, the channel or row and the column.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from simulator.common.output import write_files

from .lp import Allocation, solve_allocation
from .pwl import PiecewiseLinear

__all__ = [
    "CURVES_COLUMNS",
    "EXTERNAL_FILES",
    "CurvesError",
    "ExternalAllocation",
    "allocate_on_curves",
    "load_curves",
]

CURVES_COLUMNS = ("channel", "spend", "outcome")
"""Required columns of a curves file (optional: ``standard_error``)."""
EXTERNAL_FILES = ("allocation.csv", "allocation.json", "report.md")
"""Files ``allocate --curves --out`` writes."""
SOURCE_NOTE = "response curves from FILE (another model); nothing was simulated"


class CurvesError(ValueError):
    """A curves file that cannot be used; the message is one line naming file, row or channel, column."""

    def __init__(self, source: str, message: str, where: str | None = None) -> None:
        prefix = f"{source}: {where}" if where else source
        super().__init__(" ".join(f"{prefix}: {message}".splitlines()))


def load_curves(path: str | Path) -> dict[str, PiecewiseLinear]:
    """Read and validate a curves file (see the module docstring).

    Returns
    -------
    dict of str to PiecewiseLinear
        Each channel's curve (knots: spend, currency; values: gross contribution, currency).

    Raises
    ------
    CurvesError
        A missing file or column, a non-numeric or negative spend, a channel without a point at
        spend 0, two points at one spend, or a curve that is not concave and non-decreasing.
    """
    source = str(path)
    file = Path(path)
    if not file.is_file():
        raise CurvesError(source, "no such file (give a .csv or .parquet file)")
    try:
        frame = pd.read_parquet(file) if file.suffix.lower() in (".parquet", ".pq") else pd.read_csv(file)
    except Exception as error:  # noqa: BLE001 - any reader failure is one line on bad input
        raise CurvesError(source, f"cannot be read as a table ({str(error).splitlines()[0]})") from None
    for column in CURVES_COLUMNS:
        if column not in frame.columns:
            raise CurvesError(
                source, f"missing column (needed: {', '.join(CURVES_COLUMNS)})", f"column '{column}'"
            )
    if frame.empty:
        raise CurvesError(source, "the file has no rows")
    for column in ("spend", "outcome", *(["standard_error"] if "standard_error" in frame.columns else [])):
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(np.float64)
        bad = np.flatnonzero(~np.isfinite(values) | ((values < 0) if column != "outcome" else False))
        if bad.size:
            allowed = "a number" if column == "outcome" else "a number >= 0"
            raise CurvesError(
                source,
                f"'{frame[column].iloc[bad[0]]}' is not allowed ({allowed})",
                f"row {bad[0] + 1}, column '{column}'",
            )
        frame[column] = values
    curves = {}
    for name, points in frame.groupby(frame["channel"].astype(str), sort=False):
        points = points.sort_values("spend")
        where = f"channel '{name}'"
        if points["spend"].duplicated().any():
            raise CurvesError(source, "two points at one spend (one outcome per spend)", where)
        if points["spend"].iloc[0] != 0:
            raise CurvesError(
                source, "the curve must start at spend 0 (give its outcome without spend)", where
            )
        try:
            curves[name] = PiecewiseLinear(points["spend"].to_numpy(), points["outcome"].to_numpy())
        except ValueError as error:
            raise CurvesError(source, str(error), where) from None
    return curves


@dataclass
class ExternalAllocation:
    """The LP's answer on external curves."""

    allocation: Allocation
    budget: float
    source: str

    def table(self) -> pd.DataFrame:
        """One row per channel: spend, share, outcome, outcome per spend, marginal outcome."""
        return self.allocation.to_frame()

    def text(self) -> str:
        """The plan as text, saying where the curves came from."""
        table = self.table()
        lines = [
            f"Budget {self.budget:,.0f} split on {SOURCE_NOTE.replace('FILE', self.source)}.",
            f"Spend {self.allocation.total_spend():,.0f} of the budget (more would not pay: next units"
            " below 1); expected profit (outcome - spend): "
            f"{self.allocation.objective:,.0f}",
            "channel         spend     share   outcome  marginal outcome per unit (pays above 1)",
        ]
        for name, row in table.iterrows():
            lines.append(
                f"{name:<12} {row['spend']:10,.0f} {row['share']:8.1%} {row['outcome']:10,.0f}"
                f"  {row['marginal_outcome']:.2f}"
            )
        return "\n".join(lines)

    def save(self, out_dir: str | Path, overwrite: bool = False) -> list[Path]:
        """Write :data:`EXTERNAL_FILES` (the report is Markdown, marked as external curves)."""
        table = self.table()
        summary = {
            "source": SOURCE_NOTE.replace("FILE", self.source),
            "simulated": False,
            "budget": self.budget,
            "profit": self.allocation.objective,
            "spend": {str(k): float(v) for k, v in table["spend"].items()},
        }
        report = "# Budget allocation on external response curves\n\n" + (
            f"**Curves from another model ({self.source}); nothing was simulated**: the plan is only as good "
            "as those curves, and there is no closed-loop check.\n\n```\n" + self.text() + "\n```\n"
        )
        writers: dict[str, Callable[[Path], object]] = {
            "allocation.csv": table.to_csv,
            "allocation.json": lambda p: p.write_text(json.dumps(summary, indent=2), encoding="utf-8"),
            "report.md": lambda p: p.write_text(report, encoding="utf-8"),
        }
        return write_files(out_dir, writers, overwrite)


def allocate_on_curves(path: str | Path, budget: float, solver: str = "auto") -> ExternalAllocation:
    """Split ``budget`` (currency) across the channels of a curves file to maximize profit (no simulation)."""
    curves = load_curves(path)
    allocation = solve_allocation(curves, budget, budget_mode="at_most", solver=solver)  # type: ignore[arg-type]
    return ExternalAllocation(allocation, budget, str(path))
