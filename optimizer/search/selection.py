"""Selection: the best few policies, with the current plan and the LP plan, on fresh paired seeds.

The best few policies, each with the current plan and with the LP plan, the current policies
with the LP plan, and the current plan itself run on fresh paired seeds; the best by the
objective (two objectives: the largest sum of relative paired changes) is chosen. Keeping the
current plan is a possible answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from simulator.config.scenario import Scenario
from simulator.measure.replicate import replicate

from ..curves import apply_plan
from ..objectives import metric_frame, paired_changes
from ..recommendation import cell, significantly_worse

__all__ = ["select", "variants"]


def variants(
    scenario: Scenario, policies: Mapping[str, Scenario], plan: Mapping[str, Any] | None
) -> dict[str, Scenario]:
    """The candidates: ``current+lp``, and each policy ``trial N`` with the current and the LP plan."""
    found: dict[str, Scenario] = {}
    if plan is not None:
        found["current+lp"] = apply_plan(scenario, plan)
    for label, policy in policies.items():
        found[label] = policy
        if plan is not None:
            found[f"{label}+lp"] = apply_plan(policy, plan)
    return found


def _score(table: pd.DataFrame, objectives: Sequence[str]) -> float:
    """One objective: its paired change; two: the sum of their relative paired changes."""
    if len(objectives) == 1:
        return cell(table, objectives[0], "change")
    total = 0.0
    for name in objectives:
        change, current = (cell(table, name, k) for k in ("change", "current"))
        total += change / max(abs(current), 1e-12)
    return total


def select(
    scenario: Scenario,
    candidates: Mapping[str, Scenario],
    seeds: Sequence[int],
    objectives: Sequence[str],
    *,
    guard_rails: Sequence[str] = (),
    workers: int,
    progress: bool,
) -> tuple[pd.DataFrame, str]:
    """Run the candidates and the current plan on paired seeds; the table and the best candidate.

    The current plan is chosen unless a candidate's score (its paired change, or the sum of the
    relative changes of two objectives) is above 0; a candidate that makes a guard-rail metric
    significantly worse is never chosen (``guard_rail_worse`` in the table).
    """
    if not candidates:
        return pd.DataFrame(), "current"
    replication = replicate(
        scenario, seeds, candidates, workers=workers, progress=progress, label="selection"
    )
    runs = metric_frame(replication.runs)
    rows = []
    chosen, best = "current", 0.0
    for label in candidates:
        table = paired_changes(runs, label)
        score = _score(table, objectives)
        row: dict[str, Any] = {"candidate": label, "score": score}
        for name in objectives:
            row |= {name: table.loc[name, "recommended"]}
            row |= {
                f"{name}_{part}": table.loc[name, part] for part in ("change", "change_low", "change_high")
            }
        worse = [m for m in guard_rails if m in table.index and significantly_worse(table, m)]
        row["guard_rail_worse"] = ", ".join(worse)
        rows.append(row)
        if score > best and not worse:
            chosen, best = label, score
    return pd.DataFrame(rows).set_index("candidate"), chosen
