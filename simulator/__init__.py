"""Agent-based simulation of shoppers moving across marketing and sales channels.

The public API: load a scenario, simulate it, read tidy pandas results.

>>> from simulator import load_scenario, simulate
>>> result = simulate(load_scenario("scenarios/omnichannel_retailer.yaml"), seed=1)  # doctest: +SKIP
>>> result.summary["roi"]  # doctest: +SKIP
"""

from .abtest import ABTestResult, ab_test
from .attribution import AttributionReport, evaluate_attribution
from .channels import ChannelAgent
from .engine import check_memory, simulate
from .model import CommerceModel
from .population import Funnel, ShopperPopulation, State
from .replicate import ReplicationResult
from .results import OutputExistsError, SimulationResult
from .scenario import Scenario, ScenarioError, ScenarioWarning, load_scenario, parse_scenario

__all__ = [
    "ABTestResult",
    "AttributionReport",
    "ChannelAgent",
    "CommerceModel",
    "Funnel",
    "OutputExistsError",
    "ReplicationResult",
    "Scenario",
    "ScenarioError",
    "ScenarioWarning",
    "ShopperPopulation",
    "SimulationResult",
    "State",
    "ab_test",
    "check_memory",
    "evaluate_attribution",
    "load_scenario",
    "parse_scenario",
    "simulate",
]
