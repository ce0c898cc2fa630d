"""Real data in: order logs read, validated and summarized for the customer-base models.

A low layer: it imports nothing else of the toolkit.
"""

from .media import LiftTest, MediaError, MediaHistory, load_lift_tests, load_media
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
    "LiftTest",
    "MediaError",
    "MediaHistory",
    "load_lift_tests",
    "load_media",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "OrderLog",
    "OrderLogError",
    "PeriodSplit",
    "load_orders",
    "parse_column_map",
    "split_periods",
]
