"""Budget allocation (linear programming) and policy search (Optuna) on top of the simulator.

The allocation core, :func:`solve_allocation` (and :func:`solve_allocation_refined` for smooth
response functions), works on response curves only (:class:`PiecewiseLinear`) and does not import
the simulator.
"""

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
    "ConstraintError",
    "PiecewiseLinear",
    "ShadowPrice",
    "ShareRule",
    "available_solvers",
    "solve_allocation",
    "solve_allocation_refined",
]
