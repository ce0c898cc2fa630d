"""The search space: policy parameters by path, their default ranges, and reading ``search:``.

A parameter is a dotted path into the scenario's ``policies`` with a range (the schema, with
an example, is :class:`simulator.config.search.SearchSettings`). List items are picked in
brackets, by position or by ``name``; a path ending in ``enabled`` switches a lever (or one
campaign) on or off. ``search: default`` (or no ``parameters``) searches the ranges of
:func:`default_parameters`, built from the levers the scenario has.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from simulator.common.format import format_number, format_percent
from simulator.config.scenario import Scenario, ScenarioError, error_from_validation
from simulator.config.search import ParameterRange, SearchSettings
from simulator.levers.registry import default_search_ranges, levers_with_defaults
from simulator.measure.replicate import apply_patch

__all__ = [
    "LEVERS_WITH_DEFAULTS",
    "apply_policy",
    "default_parameters",
    "parameter_value",
    "parameter_words",
    "policy_table",
    "search_settings",
]


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


# --------------------------------------------------------------------------- in words

LEVER_WORDS = {
    "loyalty": "loyalty program",
    "promotions": "promotions",
    "retention": "CRM retention messages",
    "winback": "win-back",
    "retargeting": "retargeting",
    "referral": "referral program",
    "service": "service",
    "checkout_simplification": "checkout simplification",
}
"""Levers by their name in words."""

FIELD_WORDS = {
    "tiers": "tier",
    "campaigns": "campaign",
    "offers": "offer",
    "touch_days": "message",
    "first_order_coupon": "first-order coupon",
    "group_buying": "group buying",
    "points_per_currency": "points per unit spent",
    "min_spend": "minimum spend to reach it",
    "min_orders": "minimum orders to reach it",
    "start_day": "first day",
    "offer_discount": "discount of the offer",
    "frequency_cap": "ads per shopper per day at most",
    "referral_bonus": "bonus per referred first order",
    "enabled": "on",
}
"""Fields and lists of the policies in words (others: underscores as spaces)."""

_SHARE_SUFFIXES = ("discount", "coupon", "_rate", "_share", "_lift")


def parameter_words(path: str) -> str:
    """A policy parameter path in words.

    ``loyalty.tiers[gold].discount`` reads ``loyalty program, gold tier: discount``; a switch
    (``...enabled``) is the lever or item itself: ``checkout simplification``.
    """
    parts = _split_path(path)
    lever = str(parts[0])
    words = [LEVER_WORDS.get(lever, lever.replace("_", " "))]
    pending = ""
    for position, part in enumerate(parts[1:], start=1):
        if isinstance(part, int):
            words.append(f"{pending} {part + 1}".strip())
            last = position == len(parts) - 1
            pending = "day after the order" if last and parts[position - 1] == "touch_days" else ""
        elif part.startswith("["):
            words.append(f"{part[1:-1]} {pending}".strip())
            pending = ""
        else:
            if pending:
                words.append(pending)
            pending = FIELD_WORDS.get(part, part.replace("_", " "))
    if pending == "on":
        return ", ".join(words)
    return ", ".join(words) + (f": {pending}" if pending else "")


def parameter_value(path: str, value: Any) -> str:
    """A policy value for reading: shares as percentages, switches as on/off, numbers short."""
    name = str(_split_path(path)[-1])
    if isinstance(value, bool) or name == "enabled":
        return "on" if value else "off"
    if isinstance(value, float) and name.endswith(_SHARE_SUFFIXES) and 0 <= value <= 1:
        return format_percent(value)
    if isinstance(value, float):
        return format_number(value)
    return str(value)


def policy_table(policy: Mapping[str, Any], current: Scenario | None = None) -> list[dict[str, str]]:
    """The chosen policy for reading: per parameter its path, the setting in words and the value.

    With ``current`` (the scenario searched), also the current value, in the same format.
    """
    rows = []
    policies = current.policies.model_dump(mode="python") if current is not None else None
    for path, value in policy.items():
        row = {"parameter": path, "setting": parameter_words(path), "value": parameter_value(path, value)}
        if policies is not None:
            try:
                now, _ = _resolve(policies, path)
            except KeyError:
                now = None
            row["current"] = parameter_value(path, now) if now is not None else "not set"
        rows.append(row)
    return rows


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
        Settings given by the caller (``trials``, ``seeds``, ``objective``); ``None`` values
        are ignored.

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
    if data is None:
        section = scenario.search
        raw: Any = {} if section is None else section.model_dump(mode="python", exclude_unset=True)
    else:
        raw = {} if data == "default" else data
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
    typed = {path: _typed(scenario, policies, path, spec, source) for path, spec in space.items()}
    settings = settings.model_copy(update={"parameters": typed})
    object.__setattr__(settings, "_source", source)
    return settings


def _typed(
    scenario: Scenario, policies: dict[str, Any], path: str, spec: ParameterRange, source: str
) -> ParameterRange:
    """One parameter checked against the policies, with its ``type`` set.

    The path must exist, the range must suit the kind of value, and each end of the range (each
    choice) must leave a valid scenario on its own.
    """
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
    return spec.model_copy(update={"type": kind})
