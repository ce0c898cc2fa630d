"""How much of a check's interval is parameter uncertainty (``--posterior``).

With a posterior ensemble (:class:`simulator.calibrate.PosteriorEnsemble`), each seed of a check
runs one member's world, both plans on the same member, so the interval of the paired change
holds the parameters' uncertainty as well as the simulation noise. The same two plans are run
again on the same seeds with the centre scenario alone (simulation noise only). Both intervals
are t-intervals over the same number of seeds, so their widths stand as the standard deviations
of the paired changes, and with the simulation noise the same in both (the same seeds), the
variance the members add is the difference of the squared widths:

``parameter share = (X^2 - Y^2) / X^2``

with ``X`` the width across members and ``Y`` with the centre alone (0 when ``Y >= X``: on these
seeds the members added nothing measurable). The figure is itself an estimate from a few seeds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from simulator.common.format import format_percent, format_value, unit_of

if TYPE_CHECKING:
    from simulator.calibrate.posterior import PosteriorEnsemble

__all__ = ["parameter_share", "posterior_document", "posterior_lines"]


def parameter_share(width_members: float, width_centre: float) -> float:
    """Share of the check's variance owed to the parameters (0-1; NaN without a width).

    Parameters
    ----------
    width_members
        Width of the 95% interval of the paired change across members (the KPI's unit).
    width_centre
        Width of the same interval with the centre scenario alone, on the same seeds.
    """
    if not (math.isfinite(width_members) and math.isfinite(width_centre)) or width_members <= 0:
        return math.nan
    return max(0.0, 1.0 - (width_centre / width_members) ** 2)


def _row(table: pd.DataFrame, kpi: str, prefix: str) -> dict[str, float]:
    values = table.loc[kpi, [prefix, f"{prefix}_low", f"{prefix}_high"]].to_numpy(dtype=float)
    return dict(zip(("mean", "low", "high"), (float(v) for v in values), strict=True))


def posterior_document(
    ensemble: PosteriorEnsemble,
    seeds: Sequence[int],
    members: pd.DataFrame,
    centre: pd.DataFrame,
    kpi: str,
    change: str = "change",
    on_members: Sequence[str] = ("response curves", "final check"),
    on_centre: Sequence[str] = (),
) -> dict[str, Any]:
    """The ``posterior`` block of ``allocation.json`` / ``recommendation.json``.

    Parameters
    ----------
    ensemble
        The posterior ensemble the check ran on.
    seeds
        The check's seeds.
    members, centre
        The check (one row per KPI, columns ``change``, ``change_low``, ``change_high`` or with
        another ``change`` prefix) across members and with the centre alone, on ``seeds``.
    kpi
        The KPI of the verdict (the objective).
    change
        Prefix of the paired change's columns (``diff`` in an allocation's comparison).
    on_members, on_centre
        The phases that ran one member per seed, and those that ran on the centre alone
        (besides the centre's rerun of the check), said in the text.
    """
    with_members = _row(members, kpi, change)
    alone = _row(centre, kpi, change)
    width_members = with_members["high"] - with_members["low"]
    width_centre = alone["high"] - alone["low"]
    return {
        "folder": str(ensemble.folder),
        "ensemble_members": len(ensemble),
        "channels": list(ensemble.channels),
        "member_choice": "seed s runs member draw of default_rng([s, MEMBER_STREAM]) "
        "(simulator/calibrate/posterior.py); both plans of a seed run the same member",
        "kpi": kpi,
        "seeds": [int(s) for s in seeds],
        "members_used": ensemble.members_of(seeds),
        "change_members": with_members,
        "change_centre": alone,
        "width_members": width_members,
        "width_centre": width_centre,
        "parameter_share": parameter_share(width_members, width_centre),
        "on_members": list(on_members),
        "on_centre": list(on_centre),
    }


def _number(value: Any) -> float:
    """A saved figure as a float (``None``, saved for NaN, as NaN)."""
    return math.nan if value is None else float(value)


def posterior_lines(document: Mapping[str, Any]) -> list[str]:
    """What the ensemble did to the check, in words (printout and report).

    The first line is the decomposition: "the check's 95% interval on profit is X wide across
    ensemble members against Y with the centre scenario alone: parameter uncertainty accounts
    for Z% of its variance".
    """
    kpi = str(document["kpi"])
    unit = unit_of(kpi)
    width_members, width_centre, share = (
        _number(document.get(key)) for key in ("width_members", "width_centre", "parameter_share")
    )
    used = list(document.get("members_used", []))
    distinct = len(set(used))
    head = (
        f"Posterior ({document['folder']}, {document['ensemble_members']} members): the check's 95% "
        f"interval on {kpi} is {format_value(width_members, unit)} wide across ensemble members "
        f"against {format_value(width_centre, unit)} with the centre scenario alone on the same "
        f"{len(used)} seeds: "
    )
    if not math.isfinite(share):
        head += "no interval to compare (the current plan was kept untried)"
    elif share == 0:
        head += (
            "parameter uncertainty adds no variance measurable on these seeds "
            "(the centre alone varied as much)"
        )
    else:
        head += f"parameter uncertainty accounts for {format_percent(share, decimals=0)} of its variance"
    centre = [_number(document["change_centre"][key]) for key in ("mean", "low", "high")]
    mean, low, high = (format_value(value, unit, signed=True) for value in centre)
    lines = [
        head,
        f"  members used (one per seed, {distinct} distinct): {', '.join(map(str, used))}; "
        f"{kpi} change with the centre alone {mean} [{low}, {high}]",
    ]
    lines.append(
        "  why: each seed ran one member of the calibrated posterior ensemble, both plans alike, so the "
        "interval and the verdict hold what the data leave uncertain about the channels' response "
        "as well as the simulation noise"
    )
    if math.isfinite(share) and share > 0:
        noise = format_percent(1 - share, decimals=0)
        lines.append(
            f"  more agents or seeds narrow only the simulation noise ({noise} "
            "of the variance); lift tests or more varied spend in the calibration narrow the parameters' part"
        )
    phases = f"  one member per seed: {', '.join(map(str, document.get('on_members', [])))}"
    on_centre = [str(part) for part in document.get("on_centre", [])]
    lines.append(phases + (f"; on the centre scenario alone: {', '.join(on_centre)}" if on_centre else ""))
    return lines
