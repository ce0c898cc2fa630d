"""Agent-based simulation of shoppers moving across marketing and sales channels.

The public API: load a scenario, simulate it, read tidy pandas results.

>>> from simulator import load_scenario, simulate
>>> result = simulate(load_scenario("scenarios/omnichannel_retailer.yaml"), seed=1)  # doctest: +SKIP
>>> result.summary["roi"]  # doctest: +SKIP
"""

from .config.scenario import Scenario, ScenarioError, ScenarioWarning, load_scenario, parse_scenario
from .engine.batch import BatchModel, simulate_batch
from .engine.channels import ChannelAgent
from .engine.model import CommerceModel
from .engine.population import Funnel, ShopperPopulation, State
from .engine.results import OutputExistsError, SimulationResult
from .engine.simulate import check_memory, simulate
from .measure.abtest import ABTestResult, ab_test
from .measure.attribution import AttributionReport, evaluate_attribution
from .measure.clv import customer_lifetime_value, simulate_for_clv
from .measure.incrementality import incrementality
from .measure.replicate import ReplicationResult, replicate

__version__ = "0.1.0"
"""The toolkit's version (``commerce-sim --version``; the package metadata reads it from here)."""

__all__ = [
    "__version__",
    "ABTestResult",
    "AttributionReport",
    "BatchModel",
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
    "customer_lifetime_value",
    "evaluate_attribution",
    "incrementality",
    "load_scenario",
    "parse_scenario",
    "replicate",
    "simulate",
    "simulate_batch",
    "simulate_for_clv",
]
