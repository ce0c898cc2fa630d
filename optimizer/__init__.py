"""Budget allocation (linear programming) and policy search (Optuna) on top of the simulator.

The allocation core, :func:`solve_allocation` (and :func:`solve_allocation_refined` for smooth
response functions), works on response curves only (:class:`PiecewiseLinear`) and does not import
the simulator. Budget allocation on the simulator (:func:`allocate_budget`,
:mod:`optimizer.allocate`), the policy search (:func:`optimize`, :mod:`optimizer.search`) and its
settings (:mod:`optimizer.search_space`) are imported on first use, so ``import optimizer`` stays
light.
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
    "ConstraintError",
    "OptimizationResult",
    "PiecewiseLinear",
    "SearchSettings",
    "ShadowPrice",
    "ShareRule",
    "allocate_budget",
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
    "OptimizationResult": "optimizer.search",
    "optimize": "optimizer.search",
    "SearchSettings": "optimizer.search_space",
    "apply_policy": "optimizer.search_space",
    "default_parameters": "optimizer.search_space",
    "search_settings": "optimizer.search_space",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'optimizer' has no attribute {name!r}")
