"""Real data in: order logs read, validated and summarized for the customer-base models.

A low layer: it imports nothing else of the toolkit.
"""

from .orders import (
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    OrderLog,
    OrderLogError,
    PeriodSplit,
    load_orders,
    parse_column_map,
    split_periods,
)

__all__ = [
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "OrderLog",
    "OrderLogError",
    "PeriodSplit",
    "load_orders",
    "parse_column_map",
    "split_periods",
]
