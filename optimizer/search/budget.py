"""Budget split of the search: response curves measured once, under the best policy, and the LP.

Response curves are measured once, under the best policy found, on their own seeds, and the
allocation LP (:func:`optimizer.allocate.solve_on_curves`, with the scenario's ``allocation:``
constraints) splits the budget on them. Re-measuring curves for every trial would cost about
30 simulations a trial; curves under one policy are an approximation for the others, which
the selection checks by simulation. The LP maximizes the total the first objective stands for
(:attr:`optimizer.objectives.Objective.lp`: profit for ROI, the total value for a value per
customer).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from simulator.config.allocation import AllocationSettings
from simulator.config.scenario import Scenario
from simulator.config.search import SearchSettings
from simulator.measure.replicate import SeedScenario

from ..allocate import check_constraints, solve_on_curves
from ..curves import ResponseCurves, measure_response
from ..objectives import get_objective
from ..settings import allocation_settings

__all__ = ["BudgetSplit", "lp_settings", "split_budget"]


@dataclass(frozen=True)
class BudgetSplit:
    """The LP's plan and the curves it was solved on (both ``None`` without a budget split)."""

    curves: ResponseCurves | None
    plan: dict[str, Any] | None
    curve_seconds: float
    lp_seconds: float


def lp_settings(scenario: Scenario, settings: SearchSettings, solver: str) -> AllocationSettings | None:
    """The allocation settings of the budget split (``None`` when the search does not split).

    The constraints are checked before any simulation is spent (one-line errors naming
    ``allocation.FIELD``).
    """
    if not settings.budget.split:
        return None
    objective = get_objective(settings.objective[0]).lp_objective.name
    allocation = allocation_settings(scenario, objective=objective)
    check_constraints(scenario, allocation, solver)
    return allocation


def split_budget(
    scenario: Scenario,
    center: Scenario,
    settings: SearchSettings,
    allocation: AllocationSettings | None,
    seeds: Sequence[int],
    *,
    workers: int,
    solver: str,
    progress: bool,
    per_seed: SeedScenario | None = None,
) -> BudgetSplit:
    """Measure response curves under ``center`` (the best policy) and split the budget on them.

    ``per_seed`` gives the scenario of each run on a seed (a posterior member's, see
    :func:`optimizer.curves.measure_response`).
    """
    if allocation is None:
        return BudgetSplit(None, None, 0.0, 0.0)
    started = time.perf_counter()
    curves = measure_response(
        center,
        seeds,
        allocation.objective,
        settings.budget.levels,
        workers=workers,
        progress=progress,
        cycle_days=1 if allocation.periods > 1 else None,
        per_seed=per_seed,
    )
    curve_seconds = time.perf_counter() - started
    started = time.perf_counter()
    _, plan = solve_on_curves(scenario, allocation, curves, solver)
    return BudgetSplit(curves, plan, curve_seconds, time.perf_counter() - started)
