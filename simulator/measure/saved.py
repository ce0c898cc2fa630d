"""What the measurement results share when they are saved and read back.

Each result (replications, incrementality, attribution, A/B test, lifetime value) writes a
small JSON document next to its tables - the scenario as run, the seeds and the settings - so
that its ``load`` can rebuild the same object from the folder alone.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config.scenario import Scenario, ScenarioWarning, parse_scenario

__all__ = ["json_writer", "saved_scenario", "scenario_document"]


def scenario_document(scenario: Scenario) -> dict[str, Any]:
    """The scenario as run, as a JSON-ready mapping (what ``scenario.yaml`` holds)."""
    document: dict[str, Any] = scenario.model_dump(mode="json", exclude_none=True)
    return document


def saved_scenario(data: Any, source: str) -> Scenario:
    """A scenario saved by :func:`scenario_document`, validated again (without repeating its warnings)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScenarioWarning)
        return parse_scenario(data, source)


def json_writer(document: Any) -> Callable[[Path], object]:
    """A writer of ``document`` as indented JSON (non-finite numbers as ``null``)."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    text = json.dumps(clean(document), indent=2)
    return lambda path: path.write_text(text, encoding="utf-8")
