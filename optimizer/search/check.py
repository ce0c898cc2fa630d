"""The check: the chosen policy and plan against the current ones, on another set of fresh seeds.

The chosen candidate and the current policies and plan run on fresh paired seeds;
``recommendation.json`` reports both with 95% intervals and the paired change, and calls a
change a win only when its interval excludes 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from simulator.config.scenario import Scenario
from simulator.measure.replicate import replicate

from ..objectives import metric_frame, paired_changes
from .result import number_text
from .selection import cell

__all__ = ["confirm", "noise_notes", "spend_note"]


def confirm(
    scenario: Scenario,
    candidates: Mapping[str, Scenario],
    chosen: str,
    seeds: Sequence[int],
    *,
    workers: int,
    progress: bool,
) -> pd.DataFrame:
    """The comparison of the chosen candidate (or the current plan) with the current plan."""
    check = replicate(
        scenario,
        seeds,
        {"recommended": candidates.get(chosen, scenario)},
        workers=workers,
        progress=progress,
        label="final check",
    )
    return paired_changes(metric_frame(check.runs), "recommended")


def noise_notes(comparison: pd.DataFrame, objectives: Sequence[str], chosen: str) -> list[str]:
    """Say when the current plan is kept, and which objectives' changes are within the noise."""
    notes = []
    if chosen == "current":
        notes.append("no candidate beat the current plan on the selection seeds; the current plan is kept")
    seeds = comparison.attrs.get("seeds", 0)
    for name in objectives:
        change, low, high = (cell(comparison, name, k) for k in ("change", "change_low", "change_high"))
        if low <= 0 <= high:
            notes.append(
                f"the change in {name} ({number_text(change, True)}) is within the noise of {seeds} seeds "
                f"[{number_text(low, True)}, {number_text(high, True)}]: not a demonstrated win"
            )
    return notes


def spend_note(comparison: pd.DataFrame, current_media: float, recommended_media: float) -> list[str]:
    """Say how much of a change in marketing spend the levers buy, beyond the media plan.

    ``marketing_spend`` is everything paid to channels: the media plan plus what the levers buy
    there (retargeting ads, CRM messages and win-back offers), so a policy can raise it while the
    budget plan stays the same.
    """
    if "marketing_spend" not in comparison.index:
        return []
    change = cell(comparison, "marketing_spend", "change")
    media = recommended_media - current_media
    levers = change - media
    if abs(levers) < 0.005 * max(abs(cell(comparison, "marketing_spend", "current")), 1.0):
        return []
    return [
        f"marketing_spend counts what the levers buy on the channels (retargeting ads, CRM messages, "
        f"offers) as well as the media plan: of its change {change:+,.0f}, the media plan is "
        f"{media:+,.0f} and the levers {levers:+,.0f}"
    ]
