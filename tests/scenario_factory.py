"""Small scenarios built in code for behaviour tests (valid by construction, easy to vary)."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulator import Scenario, ScenarioWarning, SimulationResult, load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = sorted((ROOT / "scenarios").glob("*.yaml"))


def bundled(name: str = "omnichannel_retailer") -> Scenario:
    return load_scenario(ROOT / "scenarios" / f"{name}.yaml")


def bundled_dict(name: str = "omnichannel_retailer", levers: bool = True) -> dict[str, Any]:
    """A bundled scenario as a dict; ``levers=False`` drops its policies (the bare market)."""
    data: dict[str, Any] = yaml.safe_load((ROOT / "scenarios" / f"{name}.yaml").read_text())
    if not levers:
        data.pop("policies", None)
    return data


def small(
    name: str = "omnichannel_retailer",
    agents: int = 5000,
    days: int = 60,
    levers: bool = True,
    **changes: Any,
) -> Scenario:
    """A bundled scenario shrunk to ``agents`` and ``days`` (the market size is kept).

    Top-level ``changes`` replace fields before shrinking; campaigns past the shorter horizon
    are cut as ``--days`` does on the command line.
    """
    data = copy.deepcopy(bundled_dict(name, levers=levers))
    for key, value in changes.items():
        data[key] = value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScenarioWarning)
        return parse_scenario(data, "test").with_overrides(agents=agents, days=days)


def uniform_market_dict(
    agents: int, channels: list[dict[str, Any]], days: int = 30, **population: Any
) -> dict[str, Any]:
    """The scenario file of :func:`uniform_market` as a dict (to change further or save as YAML)."""
    persona = {
        "share": 1.0,
        "basket_value": {"mean": 100.0, "sigma": 0.0},
        "consideration_days": [1, 1],
        "cart_rate": 0.2,
        "repurchase": {"mean_days_between": 60, "shape": 1.0},
        "dropout": {"mean": 0.3, "concentration": 4},
    }
    pop = {"agents": agents, "scale": 1.0, "initial_aware_share": 0.0, "personas": {"everyone": persona}}
    pop.update(population)
    return {
        "name": "uniform test market",
        "horizon_days": days,
        "seed": 1,
        "population": pop,
        "channels": [{"kind": "social", **c} for c in channels],
    }


def uniform_market(
    agents: int, channels: list[dict[str, Any]], days: int = 30, **population: Any
) -> Scenario:
    """One persona with no channel preference; channels given as dicts of overrides."""
    return parse_scenario(uniform_market_dict(agents, channels, days, **population), "test")


def three_channel_market(agents: int = 6000, days: int = 60) -> Scenario:
    """Identical storefronts; 'saturated' hits auction pressure early; 'dud' buys nothing."""
    return uniform_market(
        agents,
        [
            {"name": "working", "daily_spend": 150.0, "awareness_per_impression": 0.05},
            {
                "name": "saturated",
                "daily_spend": 300.0,
                "saturation_spend": 30.0,  # impressions flatten out far below the spend
                "awareness_per_impression": 0.05,
            },
            {
                "name": "dud",
                "daily_spend": 300.0,
                "awareness_per_impression": 0.0,
                "click_through_rate": 1e-9,  # the schema needs > 0
                "retention_effect": 0.0,
            },
        ],
        days=days,
    )


def assert_money_adds_up(result: SimulationResult) -> None:
    """Revenue - discounts - cogs - fees - fulfilment - marketing - program costs = profit."""
    kpis = result.summary
    identity = (
        kpis["revenue"]
        - kpis["discounts"]
        - kpis["cogs"]
        - kpis["fees"]
        - kpis["fulfilment"]
        - kpis["marketing_spend"]
        - kpis["program_costs"]
    )
    assert identity == pytest.approx(kpis["profit"], rel=1e-9, abs=1e-6)
