"""Every figure of the toolkit, gathered for the reports (drawn from plain tables; never simulates).

The figures live beside what they draw - :mod:`simulator.engine.figures` (simulation results),
:mod:`simulator.measure.figures` (retention, attribution), :mod:`optimizer.figures`
(recommendations) - on the shared helpers of :mod:`simulator.common.figures`.
"""

from optimizer.figures import (
    optimization_history,
    outcome_comparison,
    param_importances,
    pareto_front,
    response_curves,
    spend_comparison,
)
from simulator.common.figures import FUNNEL_STAGES, format_amount
from simulator.engine.figures import TIER_MOVES, funnel, loyalty_tiers, revenue_and_spend, tier_columns
from simulator.measure.figures import attribution_vs_truth, retention_heatmap

__all__ = [
    "FUNNEL_STAGES",
    "TIER_MOVES",
    "attribution_vs_truth",
    "format_amount",
    "funnel",
    "loyalty_tiers",
    "optimization_history",
    "outcome_comparison",
    "param_importances",
    "pareto_front",
    "response_curves",
    "retention_heatmap",
    "revenue_and_spend",
    "spend_comparison",
    "tier_columns",
]
