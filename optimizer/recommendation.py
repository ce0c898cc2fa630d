"""A recommendation in words and tables: the verdict, the headline sentence, the expected outcomes.

Used by the result objects of :mod:`optimizer.allocate` and :mod:`optimizer.search` and by the
reports, which display what the optimizer decided and never word it themselves.

The verdict (:func:`decide`) is one of three decisions, the first thing every output says:

- ``recommend``: the paired change of the objective on fresh seeds has a 95% interval above
  zero, and no guard-rail metric is significantly worse (its interval wholly on the worse side).
- ``keep current plan``: nothing beat the current plan, a guard-rail got worse, the check did
  no better than the current plan on average, or even the top of the interval is below the
  smallest gain worth acting on (``min_gain``).
- ``not confirmed: run larger``: the check leans towards a gain worth having but its interval
  reaches zero; the verdict says how much larger a run would confirm a change of that size.

Only a ``recommend`` verdict is worded as an instruction ("Move 120k CNY from search to crm");
the others describe the plan tried ("the plan tried moved ...").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from simulator.common.display import format_kpi as _format
from simulator.common.figures import format_amount
from simulator.common.format import format_percent
from simulator.common.measures import MEASURES, measure_header

from .objectives import OBJECTIVES

__all__ = [
    "DECISIONS",
    "KEEP",
    "RECOMMEND",
    "RUN_LARGER",
    "Verdict",
    "cell",
    "decide",
    "expected_frame",
    "headline",
    "plan_header",
    "recommendation_sentence",
    "significantly_worse",
    "verdict_from_dict",
]

RECOMMEND, KEEP, RUN_LARGER = "recommend", "keep current plan", "not confirmed: run larger"
DECISIONS = (RECOMMEND, KEEP, RUN_LARGER)
"""The three decisions of a verdict."""

MAX_CHECK_SEEDS = 100
"""Most fresh seeds a check can use (``closed_loop.seeds``, ``search.confirm_seeds``)."""

COST_METRICS = frozenset({"marketing_spend", "program_costs"})
"""Metrics that get worse when they rise (the others are worse when they fall)."""


@dataclass(frozen=True)
class Verdict:
    """What to do with the plan found, and why.

    Attributes
    ----------
    decision : str
        One of :data:`DECISIONS`.
    reason : str
        Why, with the figures (one sentence, no trailing period).
    next_step : str
        What to run to settle an unconfirmed change (empty otherwise).
    """

    decision: str
    reason: str
    next_step: str = ""

    @property
    def confirmed(self) -> bool:
        """Whether the plan is recommended (the only verdict worded as an instruction)."""
        return self.decision == RECOMMEND

    @property
    def plan_name(self) -> str:
        """What tables and figures call the plan found: ``recommended`` only when it is."""
        return "recommended" if self.confirmed else "tested plan"

    def line(self) -> str:
        """The verdict as the first line of a printout: ``Verdict: keep current plan - why. Next: ...``."""
        text = f"Verdict: {self.decision} - {self.reason}."
        return text + (f" Next: {self.next_step}." if self.next_step else "")

    def title(self) -> str:
        """The decision capitalized, for titles: ``Keep current plan``."""
        return self.decision[:1].upper() + self.decision[1:]

    def to_dict(self) -> dict[str, str]:
        """The ``verdict`` field of ``allocation.json`` and ``recommendation.json``."""
        return {"decision": self.decision, "reason": self.reason, "next_step": self.next_step}


def verdict_from_dict(data: object) -> Verdict:
    """The verdict of a saved ``verdict`` field; an unreadable or missing one is never a recommendation."""
    if isinstance(data, Mapping) and data.get("decision") in DECISIONS:
        return Verdict(str(data["decision"]), str(data.get("reason", "")), str(data.get("next_step", "")))
    return Verdict(
        RUN_LARGER, "the results file holds no verdict (written by an older version); run it again"
    )


def cell(table: pd.DataFrame, row: Any, column: str) -> float:
    """One number of a table (NaN stays NaN)."""
    return float(table.loc[[row], [column]].to_numpy(dtype=np.float64)[0, 0])


def significantly_worse(table: pd.DataFrame, metric: str) -> bool:
    """Whether ``metric`` got significantly worse: its change's interval wholly on the worse side."""
    if metric in COST_METRICS:
        return cell(table, metric, "change_low") > 0
    return cell(table, metric, "change_high") < 0


def _change_text(table: pd.DataFrame, metric: str) -> str:
    change, low, high = (cell(table, metric, k) for k in ("change", "change_low", "change_high"))
    base = abs(cell(table, metric, "current"))

    def one(value: float) -> str:
        shown = _format(metric, abs(value))
        return shown if not math.isfinite(value) else (f"-{shown}" if value < 0 else f"+{shown}")

    text = f"{metric} {one(change)} [{one(low)}, {one(high)}]"
    if base > 0 and math.isfinite(change):
        text += f" ({change / base:+.1%})"
    return text


def decide(
    table: pd.DataFrame,
    objective: str,
    *,
    tried: bool = True,
    guard_rails: Sequence[str] = (),
    min_gain: float = 0.01,
    seeds: int = 0,
    agents: int = 0,
    seeds_option: str = "closed_loop.seeds",
    untried_reason: str = "no plan found did better than the current one",
) -> Verdict:
    """The verdict on a plan from its check against the current plan on fresh paired seeds.

    Parameters
    ----------
    table
        One row per metric (at least ``objective`` and the guard-rails): ``current`` (mean of
        the current plan), ``change``, ``change_low`` and ``change_high`` (the paired change,
        plan minus current, with its 95% interval).
    objective
        The metric the plan maximizes (higher is better).
    tried
        Whether a plan other than the current one was checked; ``False`` keeps the current plan
        with ``untried_reason``.
    guard_rails
        Metrics that must not get significantly worse (costs: must not rise significantly).
    min_gain
        Smallest change worth acting on, as a share of the current value: when even the top
        of the interval is below it, a larger run is not worth it and the current plan is kept.
    seeds, agents
        Size of the check (paired seeds, agents per run), for the next step of an unconfirmed
        change.
    seeds_option
        The setting that holds the number of check seeds, named in the next step.
    untried_reason
        Why nothing was checked, when ``tried`` is false.
    """
    if not tried:
        return Verdict(KEEP, untried_reason)
    worse = [metric for metric in guard_rails if metric in table.index and significantly_worse(table, metric)]
    if worse:
        shown = "; ".join(_change_text(table, metric) for metric in worse)
        return Verdict(KEEP, f"guard-rail significantly worse on {seeds} fresh paired seeds: {shown}")
    change, low, high = (cell(table, objective, k) for k in ("change", "change_low", "change_high"))
    checked = _change_text(table, objective)
    if math.isfinite(low) and low > 0:
        return Verdict(RECOMMEND, f"{checked} on {seeds} fresh paired seeds, the interval above zero")
    if not math.isfinite(change) or change <= 0:
        return Verdict(
            KEEP, f"the plan tried did no better than the current one: {checked} on {seeds} fresh seeds"
        )
    worth = min_gain * abs(cell(table, objective, "current"))
    if math.isfinite(high) and high < worth:
        return Verdict(
            KEEP,
            f"any gain is below the {min_gain:.1%} worth acting on: {checked} on {seeds} fresh seeds",
        )
    # To confirm a gain of size g the interval's half-width must shrink below g: k times the runs
    # narrow it by sqrt(k). The gain to confirm is the one measured, or the smallest worth acting
    # on when the measured one is smaller still (confirming a gain not worth having is no use).
    target = max(change, worth)
    half = (high - low) / 2 if math.isfinite(high - low) else math.inf
    factor = max(2, math.ceil((half / target) ** 2)) if math.isfinite(half) and target > 0 else 4
    options = [f"--agents {factor * agents}"] if agents else []
    # Check seeds go up to MAX_CHECK_SEEDS (the settings' limit); past it only more agents help.
    options += [f"{seeds_option}: {factor * seeds}"] if seeds and factor * seeds <= MAX_CHECK_SEEDS else []
    size = "this size" if target == change else f"of {min_gain:.1%}, the smallest worth acting on"
    step = f"about {factor}x the runs would narrow the interval enough to confirm a gain {size}"
    step += f": rerun with {' or '.join(options)}" if options else ""
    return Verdict(RUN_LARGER, f"{checked} on {seeds} fresh seeds: the interval reaches zero", step)


def _percent(value: float) -> str:
    return format_percent(value, signed=True)


def _moves(channels: Sequence[Mapping[str, Any]], currency: str) -> tuple[str, str, str]:
    """The plan's moves: ``(kind, amount, detail)``, kind one of move / more / less / none."""
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
        moved = format_amount(min(cut_total, add_total), currency)
        detail = f"from {listing(cuts)} to {listing(adds)}"
        net = add_total - cut_total
        if abs(net) > tolerance:
            detail += f" ({'add' if net > 0 else 'cut'} {format_amount(abs(net), currency)} in total)"
        return "move", moved, detail
    if adds:
        return "more", format_amount(add_total, currency), listing(adds)
    if cuts:
        return "less", format_amount(cut_total, currency), listing(cuts)
    return "none", "", ""


def _plan_words(
    channels: Sequence[Mapping[str, Any]], currency: str, policy_changes: int, tried: bool
) -> str:
    """The plan as an instruction (``Move 120k CNY from ...``) or, tried, as a description."""
    kind, amount, detail = _moves(channels, currency)
    if tried:
        words = {
            "move": f"moved {amount} {detail}",
            "more": f"spent {amount} more on {detail}",
            "less": f"spent {amount} less on {detail}",
            "none": "kept the current split",
        }[kind]
        if policy_changes:
            words += f" and changed the policy ({policy_changes} setting{'s' if policy_changes > 1 else ''})"
        return words
    words = {
        "move": f"Move {amount} {detail}",
        "more": f"Spend {amount} more on {detail}",
        "less": f"Spend {amount} less on {detail}",
        "none": "Keep the current split",
    }[kind]
    if policy_changes:
        words += (
            f" and apply the recommended policy ({policy_changes} setting{'s' if policy_changes > 1 else ''})"
        )
    return words


def _outcome_words(expected: Mapping[str, Any] | None, objective: str) -> str:
    outcome = (expected or {}).get(objective)
    if not (isinstance(outcome, Mapping) and "current" in outcome):
        return ""
    base = abs(float(outcome["current"]["mean"] or 0.0))
    change = outcome.get("change")
    if (
        isinstance(change, Mapping)
        and base > 0
        and None not in (change["mean"], change["low"], change["high"])
    ):
        return (
            f": {_percent(float(change['mean']) / base)} {objective}, 95% interval "
            f"{_percent(float(change['low']) / base)} to {_percent(float(change['high']) / base)}"
        )
    if "recommended" in outcome:
        return (
            f": expected {objective} {_format(objective, outcome['recommended']['mean'])} against "
            f"{_format(objective, outcome['current']['mean'])} now"
        )
    return ""


def recommendation_sentence(
    channels: Sequence[Mapping[str, Any]],
    expected: Mapping[str, Any] | None = None,
    objective: str = "profit",
    currency: str = "",
    policy_changes: int = 0,
) -> str:
    """The plan as an instruction, for a confirmed plan (see :func:`headline` for any verdict).

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
    return (
        _plan_words(channels, currency, policy_changes, tried=False)
        + _outcome_words(expected, objective)
        + "."
    )


def headline(
    verdict: Verdict,
    channels: Sequence[Mapping[str, Any]],
    expected: Mapping[str, Any] | None = None,
    objective: str = "profit",
    currency: str = "",
    policy_changes: int = 0,
) -> str:
    """The headline of a printout or report: the verdict first, then the plan in words.

    ``recommend``: ``"Recommend: Move 120k CNY from search to crm: +8.0% profit, 95% interval
    +5.0% to +11.0%."``; otherwise the decision and its reason, then what the plan tried did
    (never an instruction), e.g. ``"Keep current plan: the plan tried did no better than the
    current one: ... The plan tried moved 400k CNY from search to marketplace."``
    """
    if verdict.confirmed:
        return f"{verdict.title()}: " + recommendation_sentence(
            channels, expected, objective, currency, policy_changes
        )
    text = f"{verdict.title()}: {verdict.reason}."
    kind = _moves(channels, currency)[0]
    if kind != "none" or policy_changes:
        text += f" The plan tried {_plan_words(channels, currency, policy_changes, tried=True)}."
    if verdict.next_step:
        text += f" Next: {verdict.next_step}."
    return text


def plan_header(column: str, currency: str, objective: str, plan: str = "recommended") -> str:
    """A column of a plan's channel table as a header with its unit.

    Spend in the currency, outcomes in the objective's unit, measures of return as ratios with
    their break-even (:func:`simulator.common.measures.measure_header`); ``plan`` names the plan
    (:attr:`Verdict.plan_name`). Other columns get spaces for underscores.
    """
    money = f" ({currency})" if currency else ""
    entry = OBJECTIVES.get(objective)
    outcome_unit = " (people)" if entry is not None and entry.unit == "people" else money
    headers = {
        "current_spend": f"current spend{money}",
        "recommended_spend": f"{plan} spend{money}",
        "change": f"change{money}",
        "change_pct": "change (%)",
        "current_outcome": f"outcome at current spend{outcome_unit}",
        "recommended_outcome": f"outcome at {plan} spend{outcome_unit}",
        "measured_max_spend": f"measured up to{money}",
        "within_measured_range": "within measured range",
        "curve": "curve (hill or measured points)",
        "portfolio": "portfolio rule",
        "portfolio_conflict": "rule against plan",
    }
    if column in MEASURES:
        return measure_header(column)
    return headers.get(column, column.replace("_", " "))


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
