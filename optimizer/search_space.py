"""Policy-search settings: the ``search:`` section of a scenario file.

A parameter is a dotted path into the scenario's ``policies`` with a range. List items are
picked in brackets, by position or by ``name``; a path ending in ``enabled`` switches a lever
(or one campaign) on or off.

.. code-block:: yaml

    search:
      objective: profit                      # profit | roi | clv, or two: [roi, clv]
      trials: 100                            # finished trials the study should reach
      seeds: 3                               # paired seeds every trial is simulated on
      sampler: tpe                           # tpe | nsga2 | random
      parameters:                            # omitted (or `search: default`): every lever's default range
        promotions.first_order_coupon.discount: {low: 0.0, high: 0.3}
        promotions.campaigns[spring_sale].start_day: {low: 40, high: 110}
        loyalty.tiers[gold].min_spend: {low: 1200, high: 2800, step: 100}
        loyalty.points_per_currency: {low: 0.2, high: 5, log: true}
        winback.offers[0].coupon: {low: 0, high: 0.3}
        retargeting.frequency_cap: {low: 1, high: 4}
        checkout_simplification.enabled: {type: bool}
        loyalty.tier_rule: {choices: [spend, spend_or_orders]}
      pruning: {enabled: true, interval_days: 30, warmup_steps: 2, startup_trials: 5}
      budget: {split: true, candidates: 3, levels: [0, 0.5, 1, 2], seeds: 2}
      confirm_seeds: 5                       # fresh seeds of the final check

``search: default`` is the same with every field at its default: the parameters are built by
:func:`default_parameters` from the levers the scenario has.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import Field, ValidationError, field_validator, model_validator

from simulator.config.scenario import Scenario, ScenarioError, error_from_validation
from simulator.config.scenario import StrictModel as _Strict
from simulator.levers.registry import default_search_ranges, levers_with_defaults
from simulator.measure.replicate import apply_patch

__all__ = [
    "BudgetSearch",
    "Metric",
    "ParameterRange",
    "Pruning",
    "SearchSettings",
    "apply_policy",
    "default_parameters",
    "search_settings",
]


class Metric(StrEnum):
    """What a policy is scored on (mean over the trial's seeds, over the horizon)."""

    PROFIT = "profit"
    """Profit after media, discounts, cost of goods, fees, fulfilment and program costs (currency)."""
    ROI = "roi"
    """Profit per unit of marketing spend (ratio)."""
    CLV = "clv"
    """Lifetime value per customer: margin earned over the horizon from the customers acquired
    in it, divided by their number (realized, currency per customer)."""


class ParameterRange(_Strict):
    """The values one policy parameter may take."""

    type: Literal["float", "int", "bool", "categorical"] | None = Field(
        default=None,
        description="Kind of value; default: from the current value (bool, int or float) or 'choices'.",
    )
    low: float | None = Field(default=None, description="Smallest value (same unit as the parameter).")
    high: float | None = Field(default=None, description="Largest value (same unit as the parameter).")
    step: float | None = Field(default=None, gt=0, description="Grid step between low and high.")
    log: bool = Field(default=False, description="Sample on a log scale (low must be > 0).")
    choices: list[Any] | None = Field(default=None, min_length=1, description="Values to choose from.")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.type in ("bool", "categorical") or self.choices is not None:
            if self.low is not None or self.high is not None:
                raise ValueError("give either low/high (a range) or choices, not both")
            if self.type == "categorical" and self.choices is None:
                raise ValueError("a categorical parameter needs 'choices'")
            return self
        if self.low is None or self.high is None:
            raise ValueError("give low and high (a range), choices (a list), or type: bool")
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError("low and high must be finite numbers")
        if self.low > self.high:
            raise ValueError(f"low ({self.low:g}) is above high ({self.high:g})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log-scale range needs low > 0, got {self.low:g}")
        if self.log and self.step is not None:
            raise ValueError("give step or log, not both")
        return self


class Pruning(_Strict):
    """Early stopping of trials that are clearly worse than the median (single objective only)."""

    enabled: bool = Field(default=True, description="Stop clearly bad trials early (yes/no).")
    interval_days: int = Field(
        default=30, ge=1, le=366, description="Days between intermediate reports (days)."
    )
    warmup_steps: int = Field(
        default=2,
        ge=0,
        description="Reports a trial makes before it can be stopped (reports; first check at the next).",
    )
    """With monthly reports, 2 means a trial can first be stopped after its third month. Over 40
    random policies of the default space on the omnichannel scenario (20,000 agents, a year,
    3 seeds), the rank correlation of running profit with final profit was 0.70, 0.69 and 0.79
    after months 1, 2 and 3; the five best policies at the end ranked at most 28th, 21st and
    17th of 41 at those months, so the median (21st) would have kept them all from month 3 on
    but only just at month 2."""
    startup_trials: int = Field(
        default=5, ge=0, description="Finished trials before any trial can be stopped (trials)."
    )


class BudgetSearch(_Strict):
    """Budget split of the best policies with the allocation LP on curves measured once."""

    split: bool = Field(default=True, description="Split the budget with the LP (yes/no).")
    candidates: int = Field(
        default=3, ge=1, le=20, description="Best policies that get an LP budget split (policies)."
    )
    levels: list[float] = Field(
        default=[0.0, 0.5, 1.0, 2.0],
        min_length=3,
        description="Spend levels of the response curves, as multiples of current spend (with 0 and 1).",
    )
    seeds: int = Field(default=2, ge=1, le=50, description="Paired seeds per curve level.")

    @field_validator("levels")
    @classmethod
    def _levels(cls, levels: list[float]) -> list[float]:
        if 0 not in levels or 1 not in levels or any(level < 0 for level in levels):
            raise ValueError("levels are multiples of current spend >= 0 and must include 0 and 1")
        if len(set(levels)) != len(levels):
            raise ValueError("levels must be distinct")
        return levels


class SearchSettings(_Strict):
    """Policy-search settings (see the module docstring for an example)."""

    objective: list[Metric] = Field(
        default=[Metric.PROFIT],
        min_length=1,
        max_length=2,
        description="One metric (profit, roi, clv), or two for a Pareto front (e.g. [roi, clv]).",
    )
    trials: int = Field(default=50, ge=1, le=100_000, description="Finished trials to reach (trials).")
    seeds: int = Field(default=3, ge=1, le=50, description="Paired seeds every trial is scored on.")
    sampler: Literal["tpe", "nsga2", "random"] = Field(
        default="tpe",
        description=(
            "Optuna sampler: tpe (one or two objectives), nsga2 (two objectives, needs several "
            "generations of 20 trials) or random."
        ),
    )
    parameters: dict[str, ParameterRange] | None = Field(
        default=None, description="Policy path -> range; default: every lever's default range."
    )
    pruning: Pruning = Field(default_factory=Pruning, description="Early stopping of bad trials.")
    budget: BudgetSearch = Field(default_factory=BudgetSearch, description="Budget split of the best.")
    confirm_seeds: int = Field(
        default=5, ge=2, le=100, description="Fresh paired seeds of the final comparison (seeds)."
    )

    @field_validator("objective", mode="before")
    @classmethod
    def _one_or_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        if len(set(self.objective)) != len(self.objective):
            raise ValueError("the two objectives must differ")
        return self

    @property
    def multi(self) -> bool:
        """Whether two objectives are searched at once (a Pareto front)."""
        return len(self.objective) == 2


# --------------------------------------------------------------------------- paths

_SEGMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[[^\]]+\])*)")
_ITEM = re.compile(r"\[([^\]]+)\]")


def _split_path(path: str) -> list[str | int]:
    """``loyalty.tiers[gold].discount`` -> ``['loyalty', 'tiers', 'gold'(item), 'discount']``.

    Items in brackets come back as ``int`` (a position) or as ``'[name]'`` (a name).
    """
    parts: list[str | int] = []
    for piece in path.split("."):
        match = _SEGMENT.fullmatch(piece)
        if match is None:
            raise KeyError(f"'{piece}' is not a field name (letters, digits, _) with optional [item]s")
        parts.append(match.group(1))
        for item in _ITEM.findall(match.group(2)):
            parts.append(int(item) if item.lstrip("-").isdigit() else f"[{item}]")
    return parts


def _child(node: Any, key: str | int, where: str) -> tuple[Any, str | int]:
    """The child of ``node`` at ``key`` and the concrete key (list position) it sits at."""
    if isinstance(key, int) or key.startswith("["):
        if not isinstance(node, list):
            raise KeyError(f"{where} is not a list")
        if isinstance(key, int):
            if not 0 <= key < len(node):
                raise KeyError(f"{where} has {len(node)} item(s); [{key}] is not one of them")
            return node[key], key
        name = key[1:-1]
        for index, item in enumerate(node):
            if isinstance(item, dict) and item.get("name") == name:
                return item, index
        names = [str(item.get("name")) for item in node if isinstance(item, dict) and "name" in item]
        listed = (
            f"; names are: {', '.join(names)}" if names else " (its items have no names; use [0], [1]...)"
        )
        raise KeyError(f"{where} has no item named '{name}'{listed}")
    if not isinstance(node, dict):
        raise KeyError(f"{where} has no field '{key}'")
    if key not in node:
        raise KeyError(f"{where} has no field '{key}'; fields are: {', '.join(node)}")
    if node[key] is None:
        raise KeyError(f"the scenario has no {where}.{key}; add that lever to policies or drop the parameter")
    return node[key], key


LEVERS_WITH_DEFAULTS = levers_with_defaults()
"""Levers that can be switched on with all their fields at the defaults (``Lever.enable_with_defaults``
in :mod:`simulator.levers.registry`; the loyalty program: regular, silver, gold and diamond tiers as
in :class:`simulator.config.policies.Loyalty`)."""


def _resolve(policies: dict[str, Any], path: str) -> tuple[Any, list[str | int]]:
    """The current value at ``path`` in a ``policies`` dump and the concrete key list to it."""
    parts = _split_path(path)
    if parts[-1] == "enabled":
        target = parts[:-1]
        if len(target) == 1 and isinstance(target[0], str) and target[0] in LEVERS_WITH_DEFAULTS:
            if target[0] not in policies:
                raise KeyError(f"policies has no lever '{target[0]}'")
            return policies[target[0]] is not None, [*target, "enabled"]
        node: Any = policies
        keys: list[str | int] = []
        where = "policies"
        for key in target:
            node, concrete = _child(node, key, where)
            keys.append(concrete)
            where += f".{key}" if isinstance(key, str) and not key.startswith("[") else f"{key}"
        if len(keys) == 1 or isinstance(keys[-1], int):
            return True, [*keys, "enabled"]
        raise KeyError("'enabled' switches a lever or a list item (e.g. a campaign) on or off")
    node = policies
    keys = []
    where = "policies"
    for key in parts:
        node, concrete = _child(node, key, where)
        keys.append(concrete)
        where += f".{key}" if isinstance(key, str) and not key.startswith("[") else f"[{key}]"
    if isinstance(node, dict | list):
        raise KeyError(f"{where} is a group of settings, not one value; name one of its fields")
    return node, keys


def apply_policy(scenario: Scenario, values: Mapping[str, Any], source: str = "<policy>") -> Scenario:
    """The scenario with policy parameters set, validated like a scenario file.

    Parameters
    ----------
    scenario
        The scenario whose ``policies`` are changed.
    values
        Parameter path (see the module docstring) -> value. ``...enabled: false`` removes a lever
        or a list item; ``enabled: true`` on a lever the scenario lacks adds it with its defaults.
    source
        Name used in error messages (e.g. ``trial 12``).

    Raises
    ------
    ScenarioError
        When a path does not exist in the scenario, or the changed scenario breaks a rule.
    """
    policies = scenario.policies.model_dump(mode="python")
    removals: list[tuple[Any, Any]] = []
    for path, value in values.items():
        try:
            _, keys = _resolve(policies, path)
        except KeyError as error:
            raise ScenarioError(source, f"policies.{path}", str(error.args[0])) from None
        if keys[-1] == "enabled":
            lever = keys[:-1]
            if len(lever) == 1 and lever[0] in LEVERS_WITH_DEFAULTS:
                if not value:
                    policies[str(lever[0])] = None
                elif policies[str(lever[0])] is None:
                    policies[str(lever[0])] = {}
                continue
            if not value:
                parent: Any = policies
                for key in lever[:-1]:
                    parent = parent[key]
                removals.append((parent, parent[lever[-1]]))
            continue
        parent = policies
        for key in keys[:-1]:
            parent = parent[key]
        parent[keys[-1]] = value
    for container, item in removals:
        if isinstance(container, list):
            container[:] = [x for x in container if x is not item]
        else:
            for key in [k for k, v in container.items() if v is item]:
                container[key] = None
    return apply_patch(scenario, {"policies": policies}, source)


# --------------------------------------------------------------------------- defaults


def default_parameters(scenario: Scenario) -> dict[str, ParameterRange]:
    """Sensible ranges for every lever the scenario has (``search: default``).

    Discounts and coupons from 0 to 30% (or twice the current value), loyalty points rate 0.2-5
    per unit (log scale), tier thresholds within 0.6-1.4x of their current value and never
    past the middle of the neighbouring thresholds (so any combination is valid), campaign
    depth, start within 30 days of its current start and on/off (promotion frequency), CRM
    message days, win-back coupon per offer, retargeting frequency cap 1-4, referral bonus up
    to twice the current (at least 50), and checkout simplification on/off. A scenario without
    a loyalty program gets ``loyalty.enabled``: the default program (four tiers) on or off.
    Each lever declares its ranges (``Lever.search_ranges``, :mod:`simulator.levers.registry`).
    """
    return {path: ParameterRange(**spec) for path, spec in default_search_ranges(scenario).items()}


# --------------------------------------------------------------------------- reading and checking


def _kind(spec: ParameterRange, current: Any) -> str:
    if spec.type is not None:
        return spec.type
    if spec.choices is not None:
        return "categorical"
    if isinstance(current, bool):
        return "bool"
    if isinstance(current, int) and float(spec.low or 0).is_integer() and float(spec.high or 0).is_integer():
        return "int"
    return "float"


def search_settings(scenario: Scenario, data: Any = None, **overrides: Any) -> SearchSettings:
    """Read and check the search settings of a scenario against its policies.

    Parameters
    ----------
    scenario
        The scenario; its ``search:`` section is used unless ``data`` is given.
    data
        A mapping of settings (or ``'default'``) that replaces the scenario's section.
    **overrides
        Settings given on the command line (``trials``, ``seeds``, ``objective``); ``None``
        values are ignored.

    Returns
    -------
    SearchSettings
        With ``parameters`` filled in (the defaults when the section names none) and each
        parameter's ``type`` set.

    Raises
    ------
    ScenarioError
        One line naming the file and ``search.FIELD``: a range with low above high, an unknown
        objective, a parameter path the scenario's policies lack, or a range end that makes the
        scenario invalid on its own.
    """
    source = str(getattr(scenario, "_source", "<scenario>"))
    raw = scenario.search if data is None else data
    if raw is None or raw == "default":
        raw = {}
    if not isinstance(raw, dict):
        raise ScenarioError(source, "search", "must be 'default' or a mapping of search settings")
    merged = copy.deepcopy(raw) | {k: v for k, v in overrides.items() if v is not None}
    try:
        settings = SearchSettings.model_validate(merged)
    except ValidationError as exc:
        raise error_from_validation(source, exc, merged, SearchSettings, "search") from None
    given = settings.parameters
    space = default_parameters(scenario) if given is None else given
    if not space:
        raise ScenarioError(source, "search.parameters", "no parameters to search; name at least one")
    policies = scenario.policies.model_dump(mode="python")
    typed: dict[str, ParameterRange] = {}
    for path, spec in space.items():
        field = f"search.parameters.{path}"
        try:
            current, _ = _resolve(policies, path)
        except KeyError as error:
            raise ScenarioError(source, field, str(error.args[0])) from None
        kind = _kind(spec, current)
        if kind == "bool" and (spec.low is not None or spec.choices is not None):
            raise ScenarioError(source, field, "a yes/no parameter takes no range or choices")
        if kind in ("float", "int") and spec.low is None:
            raise ScenarioError(source, field, f"a {kind} parameter needs low and high")
        if kind == "int" and not (float(spec.low or 0).is_integer() and float(spec.high or 0).is_integer()):
            raise ScenarioError(source, field, "an int parameter needs whole-number low and high")
        typed[path] = spec.model_copy(update={"type": kind})
        ends = {"choices": spec.choices} if kind == "categorical" else {"low": spec.low, "high": spec.high}
        for end, value in ends.items():
            for one in value if isinstance(value, list) else [value] if value is not None else []:
                one = int(one) if kind == "int" else one
                try:
                    apply_policy(scenario, {path: one}, source)
                except ScenarioError as error:
                    raise ScenarioError(
                        source, f"{field}.{end}", f"{one!r} makes the scenario invalid ({error.message})"
                    ) from None
    settings = settings.model_copy(update={"parameters": typed})
    object.__setattr__(settings, "_source", source)
    return settings
