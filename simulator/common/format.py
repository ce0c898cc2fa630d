"""Numbers for people to read: one rule per unit, used by every printout, table and report.

Every number the toolkit shows (terminal printouts, notebook tables, report tables, figure
labels) goes through this module, so a value looks the same wherever it appears:

==============  =====================================  ======================================
unit            rule                                   examples
==============  =====================================  ======================================
``count``       whole number, thousands separators     ``1,234``, ``0``, ``-12``
``money``       thousands separators; whole units      ``1,234,567``, ``123.45``, ``0.50``
                from 1,000 up, two decimals below
``ratio``       two decimals                           ``8.51``, ``28.60``, ``-0.25``
``percent``     a share as a percent, one decimal      ``12.3%``, ``0.4%``, ``100.0%``
``days``        whole days, one decimal when needed    ``30``, ``12.5``
``probability`` three decimals, tiny ones as a bound   ``0.474``, ``<0.001``
``number``      no known unit: whole from 100 up, two  ``1,234``, ``12.34``, ``0.0123``
                decimals from 1, three significant
                digits below
==============  =====================================  ======================================

Missing values (``None``, NaN, infinities) are ``n/a`` in every unit; a change can be shown
with its sign (``signed=True``: ``+1,234``, ``+4.7%``). :func:`unit_of` tells the unit of a KPI
or column from its name (``revenue`` is money, ``orders`` a count, ``roi`` a ratio,
``repurchase_rate`` a percent, ``start_day`` days), :func:`format_value` formats by unit and
:func:`format_frame` formats a whole table, column by column (or row by row for a table of
KPIs). :func:`short_amount` is the compact form for figure axes and labels (``1.2M``).

The lowest layer: this module imports nothing else of the toolkit but the names of the
measures of return (:mod:`simulator.common.measures`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Literal, get_args

import numpy as np
import pandas as pd

from .measures import MEASURES

__all__ = [
    "MISSING",
    "Unit",
    "format_count",
    "format_days",
    "format_frame",
    "format_interval",
    "format_money",
    "format_number",
    "format_percent",
    "format_probability",
    "format_ratio",
    "format_value",
    "frame_text",
    "readable_name",
    "short_amount",
    "unit_of",
]

Unit = Literal["count", "money", "ratio", "percent", "days", "probability", "number"]
"""The units numbers are shown in (see the module docstring for each one's rule)."""
UNITS: tuple[str, ...] = get_args(Unit)
MISSING = "n/a"
"""How a missing value (None, NaN, an infinity) is shown, in every unit."""


def _finite(value: object) -> float | None:
    """The value as a finite float; None when it is missing or not a number."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer | np.floating):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _sign(text: str, number: float, signed: bool) -> str:
    return f"+{text}" if signed and number > 0 else text


def format_count(value: object, signed: bool = False) -> str:
    """A count (people, orders, visits) as a whole number with thousands separators: ``1,234``."""
    number = _finite(value)
    if number is None:
        return MISSING
    rounded = round(number)
    return _sign(f"{rounded:,d}" if rounded != 0 else "0", rounded, signed)


def format_money(value: object, currency: str = "", signed: bool = False, exact: bool = False) -> str:
    """An amount of money: whole units from 1,000 up, two decimals below; ``1,234,567``, ``123.45``, ``0``.

    Parameters
    ----------
    value
        The amount (currency).
    currency
        Currency code written after the amount (``1,234 CNY``); empty for none.
    signed
        Show a ``+`` on positive amounts (a change).
    exact
        Show an amount someone set (a budget, a bound) as it was given: whole units when it is
        whole, else two decimals at any size (``3,500.50``).
    """
    number = _finite(value)
    if number is None:
        return MISSING
    number = 0.0 if number == 0 else number  # nothing is "0", never "-0" or "0.00"
    whole = number == 0 or (abs(number) >= 999.995 and not (exact and abs(number - round(number)) >= 0.005))
    text = f"{number:,.0f}" if whole or (exact and number.is_integer()) else f"{number:,.2f}"
    text = _sign(text.replace("-0.00", "0.00"), number, signed)
    return f"{text} {currency}" if currency else text


def format_ratio(value: object, signed: bool = False) -> str:
    """A ratio (ROI, ROAS, a multiple) with two decimals: ``8.51``, ``28.60``."""
    number = _finite(value)
    if number is None:
        return MISSING
    return _sign(f"{number:,.2f}".replace("-0.00", "0.00"), number, signed)


def format_percent(value: object, signed: bool = False, decimals: int | None = 1) -> str:
    """A share (0-1) as a percent with one decimal: ``0.123`` -> ``12.3%``.

    Parameters
    ----------
    value
        The share.
    signed
        Show a ``+`` on positive shares (a change, in percentage points).
    decimals
        Decimals of the percent; None for the shortest exact form of a limit someone set
        (up to four significant digits: ``40%``, ``12.5%``).
    """
    number = _finite(value)
    if number is None:
        return MISSING
    if decimals is None:
        text = f"{100 * number:.4g}%"
    else:
        text = f"{number:.{decimals}%}"
        zero = f"{0:.{decimals}%}"
        text = zero if text == "-" + zero else text
    return _sign(text, number, signed)


def format_days(value: object, signed: bool = False) -> str:
    """A number of days (or a day number): whole when it is whole, else one decimal: ``30``, ``12.5``."""
    number = _finite(value)
    if number is None:
        return MISSING
    text = f"{number:,.0f}" if abs(number - round(number)) < 0.05 else f"{number:,.1f}"
    return _sign(text, number, signed)


def format_probability(value: object) -> str:
    """A probability (a p-value) with three decimals; below 0.001 as ``<0.001``."""
    number = _finite(value)
    if number is None:
        return MISSING
    return "<0.001" if 0 < number < 0.0005 else f"{number:.3f}"


def format_number(value: object, signed: bool = False) -> str:
    """A number of no known unit: whole from 100 up, two decimals from 1, three significant digits below."""
    number = _finite(value)
    if number is None:
        return MISSING
    size = abs(number)
    if size >= 99.995 or number.is_integer():
        text = f"{number:,.0f}"
    elif size >= 0.9995:
        text = f"{number:,.2f}"
    else:
        decimals = min(12, 2 - math.floor(math.log10(size)))
        text = f"{number:.{decimals}f}"
    return _sign(text, number, signed)


_BY_UNIT: dict[str, Callable[[object, bool], str]] = {
    "count": format_count,
    "money": lambda v, signed: format_money(v, signed=signed),
    "ratio": format_ratio,
    "percent": format_percent,
    "days": format_days,
    "probability": lambda v, _signed: format_probability(v),
    "number": format_number,
}


def format_value(value: object, unit: str = "number", signed: bool = False) -> str:
    """A value for display in its unit (see the module docstring); text is shown as it is.

    Parameters
    ----------
    value
        The value: a number (missing ones are ``n/a``), or anything else, shown with ``str``.
    unit
        ``count``, ``money``, ``ratio``, ``percent``, ``days``, ``probability`` or ``number``.
    signed
        Show a ``+`` on positive values (a change).
    """
    if value is not None and _finite(value) is None and not _is_missing_number(value):
        return str(value)
    try:
        formatter = _BY_UNIT[unit]
    except KeyError:
        raise ValueError(f"unit must be one of {', '.join(UNITS)}, got {unit!r}") from None
    return formatter(value, signed)


def format_interval(
    mean: object, low: object, high: object, unit: str = "number", signed: bool = False
) -> str:
    """``mean [low, high]`` in one unit; the mean alone when the interval is missing.

    Parameters
    ----------
    mean, low, high
        The estimate and the ends of its interval.
    unit
        Their unit (see :func:`format_value`).
    signed
        Show a ``+`` on positive values (a change).
    """
    shown = format_value(mean, unit, signed)
    if _finite(mean) is None or (_finite(low) is None and _finite(high) is None):
        return shown
    return f"{shown} [{format_value(low, unit, signed)}, {format_value(high, unit, signed)}]"


def _is_missing_number(value: object) -> bool:
    if isinstance(value, float | np.floating):
        return not math.isfinite(value)
    return value is None or value is pd.NA or value is pd.NaT


# Units by name -------------------------------------------------------------------------------
RATIO_NAMES = frozenset(name for name in MEASURES if not name.endswith("_per_1000"))
"""The measures of return (:data:`simulator.common.measures.MEASURES`: ``roi``, ``roas``,
``marginal_roi``, ``last_touch_roas``...) are ratios; so is every name ending in ``_roi``,
``_roas`` or ``_per_spend``. ``new_customers_per_1000`` is a number of people."""
PERCENT_WORDS = ("rate", "conversion", "share", "_pct", "p_alive", "repurchase_within", "relative_lift")
"""A name holding one of these is a share (0-1), shown as a percent."""
PERCENT_NAMES = frozenset(
    {"discount", "coupon", "converted", "repeat_buyer", "alive", "step", "lift", "after_vs_before"}
)
"""Shares and relative changes named by a word (a campaign's ``discount`` depth and ``lift``)."""
DAY_WORDS = ("_day", "days", "day_", "half_life")
COUNT_WORDS = (
    "orders",
    "customers",
    "visits",
    "reach",
    "impressions",
    "carts",
    "returns",
    "new_aware",
    "aware",
    "people",
    "members",
    "offers",
    "responses",
    "wins",
    "ads",
    "messages",
    "referrals",
    "agents",
    "trials",
    "seeds",
    "sample_size",
    "_end",
    "tier_",
    "unaware",
    "considering",
    "active",
    "lapsed",
    "churned",
    "touches",
    "paths",
)
"""A name holding one of these (and not ``_per_``) is a count of people or events."""
MONEY_WORDS = (
    "revenue",
    "profit",
    "spend",
    "cost",
    "cogs",
    "fees",
    "fulfilment",
    "discounts",
    "discount_given",
    "margin",
    "value",
    "cac",
    "aov",
    "contribution",
    "clv",
    "liability",
    "budget",
    "bonus",
    "price",
)
"""A name holding one of these is an amount of money (or money per customer)."""


def unit_of(name: str) -> Unit:
    """The unit of a KPI or column, from its name (the rules of the module docstring).

    Parameters
    ----------
    name
        The KPI or column name, e.g. ``revenue``, ``repurchase_rate``, ``roi``, ``orders``.

    Returns
    -------
    str
        ``percent`` for shares and rates, ``ratio`` for measures of return, ``probability``
        for p-values, ``days`` for days, ``money`` for amounts (also per customer), ``count``
        for people and events, else ``number`` (counts per customer, unknown names).
    """
    name = name.lower().rsplit(".", 1)[-1]  # a policy parameter: its last part
    if name == "p_value":
        return "probability"
    if name in PERCENT_NAMES or name.endswith("_share") or any(w in name for w in PERCENT_WORDS):
        return "percent"
    if name in RATIO_NAMES or name.endswith(("_roi", "_roas", "_per_spend")):
        return "ratio"
    if "_per_" in name:  # money per customer or per day is money; orders per customer a number
        return "money" if unit_of(name.split("_per_")[0]) == "money" else "number"
    if any(word in name for word in DAY_WORDS) or name == "day":
        return "days"
    if any(word in name for word in MONEY_WORDS):
        return "money"
    if name in {"n", "count"} or name.startswith("n_") or any(word in name for word in COUNT_WORDS):
        return "count"
    return "number"


def format_frame(
    frame: pd.DataFrame,
    *,
    by_row: bool = False,
    units: Mapping[str, str] | None = None,
    signed: bool = False,
) -> pd.DataFrame:
    """Every cell of a table as text, each number in the unit of its column (or row).

    Parameters
    ----------
    frame
        The table.
    by_row
        Take the unit from the row's label instead of the column's (a table of KPIs, one per row).
    units
        Units by column (or row) name that override :func:`unit_of`.
    signed
        Show a ``+`` on positive numbers (a table of changes).

    Returns
    -------
    pandas.DataFrame
        Same index and columns, text cells (``n/a`` for missing numbers).
    """
    chosen = dict(units or {})

    def unit(name: object) -> str:
        key = str(name[-1] if isinstance(name, tuple) else name)
        return chosen.get(key) or unit_of(key)

    if by_row:
        rows = [
            [format_value(v, unit(label), signed) for v in row]
            for label, row in zip(frame.index, frame.itertuples(index=False), strict=True)
        ]
        return pd.DataFrame(rows, index=frame.index, columns=frame.columns, dtype=object)
    return pd.DataFrame(
        {column: [format_value(v, unit(column), signed) for v in frame[column]] for column in frame.columns},
        index=frame.index,
        dtype=object,
    ).reindex(columns=frame.columns)


def frame_text(frame: pd.DataFrame, **options: object) -> str:
    """A table as terminal text, numbers formatted by :func:`format_frame` (``options`` go to it)."""
    shown = format_frame(frame, **options)  # type: ignore[arg-type]
    return shown.to_string()


def short_amount(value: object, currency: str = "") -> str:
    """A money amount or count, short, for figure axes and labels: ``1.2M``, ``120k``, ``950``.

    Parameters
    ----------
    value
        The amount (currency or people).
    currency
        Currency code to append (e.g. ``"CNY"``), or empty.
    """
    number = _finite(value)
    if number is None:
        return MISSING
    size = abs(number)
    for threshold, suffix in ((1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if size >= threshold:
            scaled = number / threshold
            text = f"{scaled:,.1f}".removesuffix(".0") if abs(scaled) < 100 else f"{scaled:,.0f}"
            text += suffix
            break
    else:
        text = f"{number:,.0f}" if size >= 10 or size == 0 else f"{number:.2g}"
    return f"{text} {currency}" if currency else text


ACRONYMS = {"roi": "ROI", "roas": "ROAS", "cac": "CAC", "aov": "AOV", "clv": "CLV"}
"""Words of measure names written in capitals for people."""


def readable_name(name: str) -> str:
    """A measure's name for people: ``marginal_roi`` -> ``marginal ROI``, ``aov`` -> ``AOV``."""
    return " ".join(ACRONYMS.get(word, word) for word in name.split("_"))
