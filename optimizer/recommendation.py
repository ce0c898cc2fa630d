"""A recommendation in words and tables: the sentence of the headline and the expected outcomes.

Used by the result objects of :mod:`optimizer.allocate` and :mod:`optimizer.search` and by the
reports, which display what the optimizer decided and never word it themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from simulator.common.display import format_kpi as _format
from simulator.common.figures import format_amount

__all__ = ["expected_frame", "recommendation_sentence"]


def _percent(value: float) -> str:
    return f"{value:+.1%}"


def recommendation_sentence(
    channels: Sequence[Mapping[str, Any]],
    expected: Mapping[str, Any] | None = None,
    objective: str = "profit",
    currency: str = "",
    policy_changes: int = 0,
) -> str:
    """The recommendation in plain words.

    For example ``"Move 120k CNY from search to crm: +8.0% profit, 95% interval +5.0% to
    +11.0%."`` The change in percent is the paired change (``expected[objective]["change"]``)
    over the current plan's mean.

    Parameters
    ----------
    channels
        Per channel: ``channel``, ``current_spend``, ``recommended_spend`` (currency).
    expected
        The plan's ``expected`` block (see the module docstring), or None.
    objective
        The metric whose change is stated.
    currency
        Currency code for the amounts.
    policy_changes
        Number of policy settings the plan sets (a policy search's recommendation); named in
        the sentence so that "keep the current split" does not read as "change nothing".
    """
    total = sum(abs(float(row["current_spend"])) for row in channels) or 1.0
    deltas = [
        (str(row["channel"]), float(row["recommended_spend"]) - float(row["current_spend"]))
        for row in channels
    ]
    tolerance = 1e-6 * total
    cuts = [(name, -delta) for name, delta in deltas if delta < -tolerance]
    adds = [(name, delta) for name, delta in deltas if delta > tolerance]

    def listing(moves: list[tuple[str, float]]) -> str:
        if len(moves) == 1:
            return moves[0][0]
        parts = [f"{name} ({format_amount(amount, currency)})" for name, amount in moves]
        return ", ".join(parts[:-1]) + " and " + parts[-1]

    cut_total, add_total = sum(a for _n, a in cuts), sum(a for _n, a in adds)
    if cuts and adds:
        moved = min(cut_total, add_total)
        text = f"Move {format_amount(moved, currency)} from {listing(cuts)} to {listing(adds)}"
        net = add_total - cut_total
        if abs(net) > tolerance:
            text += f" ({'add' if net > 0 else 'cut'} {format_amount(abs(net), currency)} in total)"
    elif adds:
        text = f"Spend {format_amount(add_total, currency)} more on {listing(adds)}"
    elif cuts:
        text = f"Spend {format_amount(cut_total, currency)} less on {listing(cuts)}"
    else:
        text = "Keep the current split"
    if policy_changes:
        text += (
            f" and apply the recommended policy ({policy_changes} setting{'s' if policy_changes > 1 else ''})"
        )
    outcome = (expected or {}).get(objective)
    if isinstance(outcome, Mapping) and "current" in outcome:
        base = abs(float(outcome["current"]["mean"]))
        change = outcome.get("change")
        if isinstance(change, Mapping) and base > 0:
            text += (
                f": {_percent(float(change['mean']) / base)} {objective}, 95% interval "
                f"{_percent(float(change['low']) / base)} to {_percent(float(change['high']) / base)}"
            )
        elif "recommended" in outcome:
            text += (
                f": expected {objective} {_format(objective, outcome['recommended']['mean'])} against "
                f"{_format(objective, outcome['current']['mean'])} now"
            )
    return text + "."


def _number_or_nan(value: Any) -> float:
    """A JSON number, or NaN where the JSON holds null (an interval that could not be computed)."""
    return float("nan") if value is None else float(value)


def expected_frame(expected: Mapping[str, Any]) -> pd.DataFrame:
    """The ``expected`` block of a plan as a long table: ``metric``, ``plan``, ``mean``, ``low``, ``high``."""
    rows = [
        {"metric": metric, "plan": plan, **{k: _number_or_nan(stats.get(k)) for k in ("mean", "low", "high")}}
        for metric, plans in expected.items()
        for plan, stats in plans.items()
    ]
    return pd.DataFrame(rows, columns=["metric", "plan", "mean", "low", "high"])
