"""Figures and budget-allocation reports built from saved results (reports never simulate).

>>> from reports import build_report
>>> build_report("out/")  # doctest: +SKIP
"""

from .figures import (
    attribution_vs_truth,
    funnel,
    loyalty_tiers,
    optimization_history,
    outcome_comparison,
    param_importances,
    pareto_front,
    response_curves,
    retention_heatmap,
    revenue_and_spend,
    spend_comparison,
)
from .report import ReportError, build_report, recommendation_sentence

__all__ = [
    "ReportError",
    "attribution_vs_truth",
    "build_report",
    "funnel",
    "loyalty_tiers",
    "optimization_history",
    "outcome_comparison",
    "param_importances",
    "pareto_front",
    "recommendation_sentence",
    "response_curves",
    "retention_heatmap",
    "revenue_and_spend",
    "spend_comparison",
]
