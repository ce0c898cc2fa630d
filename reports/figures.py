"""Every figure of the toolkit, gathered for the reports (drawn from plain tables; never simulates).

The figures live beside what they draw - :mod:`simulator.engine.figures` (simulation results),
:mod:`simulator.measure.figures` (retention, lifetime value, incrementality, attribution, A/B
tests, replications), :mod:`optimizer.figures` (recommendations) - on the shared helpers of
:mod:`simulator.common.figures`.
"""

from optimizer.figures import (
    optimization_history,
    outcome_comparison,
    param_importances,
    pareto_front,
    response_curves,
    spend_comparison,
    trial_history,
)
from simulator.common.figures import FUNNEL_STAGES, format_amount
from simulator.engine.figures import TIER_MOVES, funnel, loyalty_tiers, revenue_and_spend, tier_columns
from simulator.measure.figures import (
    ab_lift,
    attribution_vs_truth,
    clv_by_group,
    incrementality_bars,
    paired_differences,
    repurchase_curve,
    retention_heatmap,
)

__all__ = [
    "FUNNEL_STAGES",
    "TIER_MOVES",
    "ab_lift",
    "attribution_vs_truth",
    "clv_by_group",
    "format_amount",
    "funnel",
    "incrementality_bars",
    "loyalty_tiers",
    "optimization_history",
    "outcome_comparison",
    "paired_differences",
    "param_importances",
    "pareto_front",
    "repurchase_curve",
    "response_curves",
    "retention_heatmap",
    "revenue_and_spend",
    "spend_comparison",
    "tier_columns",
    "trial_history",
]
