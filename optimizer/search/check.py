"""The check: the chosen policy and plan against the current ones, on another set of fresh seeds.

The chosen candidate and the current policies and plan run on fresh paired seeds;
``recommendation.json`` reports both with 95% intervals and the paired change, and the verdict
(:func:`search_verdict`) recommends the candidate only when the change of the first objective
has an interval above 0 and neither a second objective nor a guard-rail got significantly worse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from simulator.config.scenario import Scenario
from simulator.config.search import SearchSettings
from simulator.measure.replicate import SeedScenario, replicate

from ..objectives import metric_frame, paired_changes
from ..recommendation import Verdict, cell, decide
from .result import number_text

__all__ = ["confirm", "noise_notes", "search_verdict", "spend_note"]


def confirm(
    scenario: Scenario,
    candidates: Mapping[str, Scenario],
    chosen: str,
    seeds: Sequence[int],
    *,
    workers: int,
    progress: bool,
    per_seed: SeedScenario | None = None,
    label: str = "final check",
) -> pd.DataFrame:
    """The comparison of the chosen candidate (or the current plan) with the current plan.

    ``per_seed`` gives the scenario both run on a seed (a posterior member's: the same for both,
    see :func:`simulator.measure.replicate.replicate`).
    """
    check = replicate(
        scenario,
        seeds,
        {"recommended": candidates.get(chosen, scenario)},
        workers=workers,
        progress=progress,
        label=label,
        per_seed=per_seed,
    )
    return paired_changes(metric_frame(check.runs), "recommended")


def search_verdict(comparison: pd.DataFrame, settings: SearchSettings, chosen: str, agents: int) -> Verdict:
    """The verdict on the chosen candidate (:func:`optimizer.recommendation.decide`).

    The first objective decides; a second objective and the guard-rails must not get
    significantly worse. The current policies and plan, chosen, are kept untried.
    """
    guard_rails = [*settings.objective[1:], *settings.guard_rails]
    return decide(
        comparison,
        settings.objective[0],
        tried=chosen != "current",
        guard_rails=list(dict.fromkeys(guard_rails)),
        min_gain=settings.min_gain,
        seeds=int(comparison.attrs.get("seeds", 0)),
        agents=agents,
        seeds_option="search.confirm_seeds",
        untried_reason="no candidate beat the current policies and plan on the selection seeds",
    )


def noise_notes(comparison: pd.DataFrame, objectives: Sequence[str], chosen: str) -> list[str]:
    """Say which objectives' changes, beyond the first (the verdict's), are within the noise."""
    notes = []
    seeds = comparison.attrs.get("seeds", 0)
    for name in objectives[1:] if chosen != "current" else []:
        change, low, high = (cell(comparison, name, k) for k in ("change", "change_low", "change_high"))
        if low <= 0 <= high:
            notes.append(
                f"the change in {name} ({number_text(change, True, name)}) is within the noise of "
                f"{seeds} seeds [{number_text(low, True, name)}, {number_text(high, True, name)}]"
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
