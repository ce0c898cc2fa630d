"""Budget allocation (linear programming) and policy search (Optuna) on top of the simulator.

Nothing is exported yet: the allocation and policy-search issues build this package.
"""

__all__: list[str] = []
