"""Figures and budget-allocation reports built from saved results.

Nothing is exported yet: the reports issue builds this package.
"""

__all__: list[str] = []
