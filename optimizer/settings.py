"""Reading the ``allocation:`` section of a scenario and checking it against the scenario.

The settings' schema (:class:`~simulator.config.allocation.AllocationSettings`, with an
example) belongs to the scenario file; here it is merged with the values given in code or on
the command line and checked against the scenario's channels.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from simulator.config.allocation import AllocationSettings
from simulator.config.scenario import Scenario, ScenarioError, error_from_validation

__all__ = ["allocation_settings", "settings_source"]


def allocation_settings(
    scenario: Scenario,
    data: Any = None,
    source: str | None = None,
    **overrides: Any,
) -> AllocationSettings:
    """Read and check the allocation settings of a scenario.

    Parameters
    ----------
    scenario
        The scenario; its ``allocation:`` section is used unless ``data`` is given.
    data
        A mapping of settings that replaces the scenario's section (e.g. a constraints file).
    source
        The file ``data`` came from (default: the scenario's file).
    **overrides
        Settings given by the caller (``budget``, ``objective``, ``periods``...); ``None``
        values are ignored.

    Raises
    ------
    ScenarioError
        One line naming the file, ``allocation.FIELD`` and what is allowed; also for channel
        names that are not in the scenario.
    """
    scenario_source = str(getattr(scenario, "_source", "<scenario>"))
    if data is None:
        section = scenario.allocation
        data = {} if section is None else section.model_dump(mode="python", exclude_unset=True)
        source = scenario_source
    source = source or scenario_source
    if not isinstance(data, dict):
        raise ScenarioError(source, "allocation", "must be a mapping of allocation settings")
    merged = dict(data) | {k: v for k, v in overrides.items() if v is not None}
    try:
        settings = AllocationSettings.model_validate(merged)
    except ValidationError as exc:
        raise error_from_validation(source, exc, merged, AllocationSettings, "allocation") from None
    names = scenario.channel_names
    named: list[tuple[str, str]] = [(f"bounds.{c}", c) for c in settings.bounds]
    named += [(f"locked[{i}]", c) for i, c in enumerate(settings.locked)]
    named += [(f"min_presence.{c}", c) for c in settings.min_presence]
    named += [(f"shares[{i}].channels", c) for i, rule in enumerate(settings.shares) for c in rule.channels]
    for field, channel in named:
        if channel not in names:
            raise ScenarioError(
                source,
                f"allocation.{field}",
                f"channel '{channel}' is not in the scenario; channels are: {', '.join(names)}",
            )
    object.__setattr__(settings, "_source", source)  # for error messages; not a field
    return settings


def settings_source(settings: AllocationSettings, scenario: Scenario) -> str:
    """The file the settings came from (the scenario's file unless read from another)."""
    return str(getattr(settings, "_source", None) or getattr(scenario, "_source", "<scenario>"))
