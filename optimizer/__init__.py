"""Budget allocation (linear programming) and policy search (Optuna) on top of the simulator.

The allocation core, :func:`solve_allocation` (and :func:`solve_allocation_refined` for smooth
response functions), works on response curves only (:class:`PiecewiseLinear`) and does not import
the simulator. What the allocation and the search maximize is the objective registry
(:mod:`optimizer.objectives`). Budget allocation on the simulator (:func:`allocate_budget`,
:mod:`optimizer.allocate`, reading the scenario's ``allocation:`` section with
:func:`allocation_settings`) and the policy search (:func:`optimize`, :mod:`optimizer.search`,
reading ``search:`` with :func:`search_settings`) are imported on first use, so
``import optimizer`` stays light. The settings' schemas belong to the scenario file
(:mod:`simulator.config.allocation`, :mod:`simulator.config.search`).
"""

from typing import Any

from optimizer.lp import (
    Allocation,
    ConstraintError,
    ShadowPrice,
    ShareRule,
    available_solvers,
    solve_allocation,
    solve_allocation_refined,
)
from optimizer.pwl import PiecewiseLinear

__all__ = [
    "Allocation",
    "AllocationResult",
    "AllocationSettings",
    "ConstraintError",
    "OptimizationResult",
    "PiecewiseLinear",
    "SearchSettings",
    "ShadowPrice",
    "ShareRule",
    "allocate_budget",
    "allocation_settings",
    "apply_policy",
    "available_solvers",
    "default_parameters",
    "optimize",
    "search_settings",
    "solve_allocation",
    "solve_allocation_refined",
]

_LAZY = {
    "AllocationResult": "optimizer.allocate",
    "allocate_budget": "optimizer.allocate",
    "allocation_settings": "optimizer.settings",
    "AllocationSettings": "simulator.config.allocation",
    "OptimizationResult": "optimizer.search",
    "optimize": "optimizer.search",
    "SearchSettings": "simulator.config.search",
    "apply_policy": "optimizer.search",
    "default_parameters": "optimizer.search",
    "search_settings": "optimizer.search",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'optimizer' has no attribute {name!r}")
