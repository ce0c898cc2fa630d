"""The lever contract, checked for every registered lever (in the spirit of scikit-learn's check_estimator).

Every lever of ``simulator.levers.registry.REGISTRY`` - and a toy lever written here, the free
shipping weekend, which plugs in through the registry alone - must:

- declare itself: a unique key, a title, KPIs under its prefixes, valid default search ranges;
- change nothing when it is registered but off (bit-identical to no lever);
- give, split into identical A/B arms, exactly the plain simulation's orders and revenue;
- book the costs it reports: what it books in program costs and channel spend while it runs is
  what its cost KPIs say, in its own program-cost ledgers only, and the money adds up;
- allocate no more memory per shopper than it declares for the memory estimate;
- declare a well-formed lasting effect (multipliers >= 0, chances 0-1, one row per customer).

A lever is exercised in the first bundled scenario that turns it on (shrunk), else in the bare
market with its configuration at the defaults, given through a ``Policies`` extended with the
lever's field when the schema has none (how the toy lever gets its configuration).
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel, ConfigDict, create_model
from scenario_factory import assert_money_adds_up, small

from simulator import CommerceModel, Scenario, ScenarioWarning, simulate
from simulator.config.policies import Policies
from simulator.config.search import ParameterRange
from simulator.engine.lifetime import LastingEffect, customer_base
from simulator.engine.population import estimate_memory_bytes
from simulator.engine.results import SimulationResult, collect_results
from simulator.levers import registry
from simulator.levers.base import BoolArray, IntArray, Lever, LeverOutput, OrderBatch, daily_frame
from simulator.levers.composite import Levers
from simulator.measure.abtest import simulate_ab

AGENTS, DAYS, SEED = 4000, 120, 3
BUNDLED_ORDER = ("fashion_social_brand", "omnichannel_retailer", "electronics_marketplace")


# The toy lever: everything a new lever needs besides one registry line ------------------------
class FreeShippingWeekendConfig(BaseModel):
    """Free shipping on the weekend (what would be a class in simulator/config/policies.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    weekend_days: tuple[int, ...] = (5, 6)
    """Days of the week (day index modulo 7) that ship free."""
    cost_per_order: float = 4.0
    """What the seller pays the carrier per weekend order (currency per order)."""


class FreeShippingWeekend(Lever[FreeShippingWeekendConfig]):
    """On the weekend every order ships free (no fee, no shipping friction); the seller pays per order."""

    key = "free_shipping_weekend"
    config_type = FreeShippingWeekendConfig
    cost_fields = ("free_shipping",)
    booked_cost_kpis = ("free_shipping_weekend_cost",)

    def __init__(self, config: FreeShippingWeekendConfig, model: CommerceModel, levers: Levers) -> None:
        super().__init__(config, model, levers)
        self.orders = np.zeros(model.horizon_days)

    def _weekend(self, model: CommerceModel) -> bool:
        return model.day % 7 in self.config.weekend_days

    def ships_free(self, model: CommerceModel, shoppers: IntArray) -> BoolArray | None:
        return np.ones(shoppers.size, dtype=np.bool_) if self._weekend(model) else None

    def on_orders(self, model: CommerceModel, batch: OrderBatch) -> None:
        if self._weekend(model):
            self.orders[model.day] += batch.size
            model.program_costs["free_shipping"][model.day] += batch.size * self.config.cost_per_order

    def results(self, model: CommerceModel, daily_orders: pd.Series) -> LeverOutput:
        daily = daily_frame(model, {"free_shipping_weekend_orders": self.orders})
        cost = float(model.program_costs["free_shipping"][: model.day].sum() * model.scale)
        summary = {
            "free_shipping_weekend_orders": float(daily["free_shipping_weekend_orders"].sum()),
            "free_shipping_weekend_cost": cost,
        }
        return LeverOutput(daily=daily, summary=summary)


class NeutralConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Neutral(Lever[NeutralConfig]):
    """The base class's answers only: on, it must be indistinguishable from no lever."""

    key = "neutral"
    config_type = NeutralConfig


@pytest.fixture(scope="module", autouse=True)
def toy_registered() -> Iterator[None]:
    """The toy lever joins the registry (its one registry line) for the whole module."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(registry, "REGISTRY", (*registry.REGISTRY, FreeShippingWeekend))
        yield


LEVERS: list[type[Lever[Any]]] = [*registry.REGISTRY, FreeShippingWeekend]


def lever_id(kind: type[Lever[Any]]) -> str:
    return kind.key


# Scenarios ---------------------------------------------------------------------------------------
def shrunk(name: str, levers: bool = True) -> Scenario:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScenarioWarning)
        return small(name, agents=AGENTS, days=DAYS, levers=levers)


def with_policies(scenario: Scenario, values: dict[str, Any]) -> Scenario:
    """The scenario with these policies; a field the schema lacks extends ``Policies`` (toy levers)."""
    extra = {key: (Any, None) for key in values if key not in Policies.model_fields}
    schema = create_model("ExtendedPolicies", __base__=Policies, **extra) if extra else Policies
    return scenario.model_copy(update={"policies": schema(**values)})


def scenario_for(kind: type[Lever[Any]]) -> Scenario:
    """The first bundled scenario that turns the lever on, else the bare market with its defaults."""
    for name in BUNDLED_ORDER:
        scenario = shrunk(name)
        if kind.config_of(scenario.policies) is not None:
            return scenario
    return with_policies(shrunk(BUNDLED_ORDER[0], levers=False), {kind.key: kind.default_config()})


class Run:
    """One simulation with every lever's hooks instrumented to see what it books, and when."""

    def __init__(self, scenario: Scenario) -> None:
        self.model = CommerceModel(scenario, seed=SEED)
        self.booked: defaultdict[type[Lever[Any]], float] = defaultdict(float)
        self.ledgers: defaultdict[type[Lever[Any]], set[str]] = defaultdict(set)
        self._nested: list[float] = []
        assert isinstance(self.model.levers, Levers)
        for program in self.model.levers.programs:
            for hook in ("word_of_mouth", "on_orders", "daily", "end_of_day"):
                setattr(program, hook, self._watch(program, getattr(program, hook)))
        self.model.run()
        self.result = collect_results(self.model)

    def _spent(self) -> tuple[float, dict[str, float]]:
        model = self.model
        day = min(model.day, model.horizon_days - 1)
        ledgers = {name: float(costs[day]) for name, costs in model.program_costs.items()}
        return sum(ledgers.values()) + float(model.ledger["spend"][day].sum()), ledgers

    def _watch(self, program: Lever[Any], hook: Callable[..., None]) -> Callable[..., None]:
        def watched(*args: Any) -> None:
            before, ledgers = self._spent()
            self._nested.append(0.0)
            hook(*args)
            inner = self._nested.pop()
            after, changed = self._spent()
            self.booked[type(program)] += (after - before) - inner
            if self._nested:
                self._nested[-1] += after - before
            if not inner:  # only this lever ran: any ledger that moved is its own
                self.ledgers[type(program)] |= {n for n, v in changed.items() if v != ledgers[n]}

        return watched

    def program(self, kind: type[Lever[Any]]) -> Lever[Any]:
        assert isinstance(self.model.levers, Levers)
        found = self.model.levers.find(kind)
        assert found is not None, f"{kind.key} is not on in this run"
        return found


_cache: dict[tuple[str, str], Any] = {}


def cached(kind: type[Lever[Any]], what: str, make: Callable[[Scenario], Any]) -> Any:
    """One run of ``what`` per scenario, shared by the levers exercised in it."""
    scenario = scenario_for(kind)
    key = (what, scenario.name + "|" + repr(scenario.policies))
    if key not in _cache:
        _cache[key] = make(scenario)
    return _cache[key]


def run_for(kind: type[Lever[Any]]) -> Run:
    run: Run = cached(kind, "run", Run)
    return run


def same_world(one: SimulationResult, other: SimulationResult) -> None:
    """Bit-identical days, channels, customers and KPIs (lever tables aside)."""
    pd.testing.assert_frame_equal(one.daily, other.daily, check_exact=True)
    pd.testing.assert_frame_equal(one.channels, other.channels, check_exact=True)
    pd.testing.assert_series_equal(pd.Series(one.summary), pd.Series(other.summary), check_exact=True)


# The contract ------------------------------------------------------------------------------------
def test_the_registry_lists_each_lever_once_with_what_it_declares() -> None:
    keys = [kind.key for kind in registry.REGISTRY]
    assert len(set(keys)) == len(keys)
    fields = registry.program_cost_fields()
    assert len(set(fields)) == len(fields)
    for kind in registry.REGISTRY:
        assert kind.title and kind.kpi_prefixes, kind
        assert kind.config_of(Policies()) is None, f"{kind.key} must be off in empty policies"
    assert FreeShippingWeekend.title == "free shipping weekend"  # defaults from the key
    assert registry.lever_of_kpi("free_shipping_weekend_cost") is FreeShippingWeekend


@pytest.mark.parametrize("kind", LEVERS, ids=lever_id)
def test_a_registered_lever_that_is_off_changes_nothing(kind: type[Lever[Any]]) -> None:
    bare = shrunk(BUNDLED_ORDER[0], levers=False)
    with_it = simulate(bare, seed=SEED)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(registry, "REGISTRY", tuple(k for k in registry.REGISTRY if k is not kind))
        without = simulate(bare, seed=SEED)
    same_world(with_it, without)


def test_a_lever_with_only_neutral_answers_changes_nothing() -> None:
    bare = shrunk(BUNDLED_ORDER[0], levers=False)
    plain = simulate(bare, seed=SEED)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(registry, "REGISTRY", (*registry.REGISTRY, Neutral))
        neutral = simulate(with_policies(bare, {"neutral": NeutralConfig()}), seed=SEED)
    same_world(plain, neutral)


@pytest.mark.parametrize("kind", LEVERS, ids=lever_id)
def test_identical_arms_are_the_plain_simulation(kind: type[Lever[Any]]) -> None:
    scenario = scenario_for(kind)
    plain = run_for(kind).result
    split = cached(kind, "arms", lambda s: simulate_ab(s, s, seed=SEED))
    shoppers = split.shoppers
    np.testing.assert_array_equal(shoppers["orders"].to_numpy(), plain.customers["orders"].to_numpy())
    np.testing.assert_array_equal(shoppers["revenue"].to_numpy(), plain.customers["spend"].to_numpy())
    for kpi in ("revenue", "orders", "discounts", "marketing_spend", "program_costs", "profit"):
        assert split.world.summary[kpi] == pytest.approx(plain.summary[kpi], rel=1e-12, abs=1e-9), kpi
    # What the arms carry is the world's program costs plus the levers' spend on the channels.
    carried = float(shoppers["lever_cost"].sum()) * scenario.population.scale
    media = cached(
        kind, "media", lambda s: simulate(s.model_copy(update={"policies": Policies()}), seed=SEED)
    )
    media = media.summary
    on_channels = split.world.summary["marketing_spend"] - media["marketing_spend"]
    assert carried == pytest.approx(split.world.summary["program_costs"] + on_channels, rel=1e-9, abs=1e-6)


@pytest.mark.parametrize("kind", LEVERS, ids=lever_id)
def test_the_lever_books_the_costs_it_reports(kind: type[Lever[Any]]) -> None:
    run = run_for(kind)
    result = run.result
    output = run.program(kind).results(run.model, result.daily["orders"])
    assert all(name.startswith(kind.kpi_prefixes) for name in output.summary), list(output.summary)
    reported = sum(output.summary.get(name, 0.0) for name in kind.booked_cost_kpis)
    booked = run.booked[kind] * run.model.scale
    assert booked == pytest.approx(reported, rel=1e-9, abs=1e-6)
    assert run.ledgers[kind] <= set(kind.cost_fields), run.ledgers[kind]
    assert_money_adds_up(result)


@pytest.mark.parametrize("kind", LEVERS, ids=lever_id)
def test_the_memory_estimate_covers_what_the_lever_allocates(kind: type[Lever[Any]]) -> None:
    run = run_for(kind)
    program = run.program(kind)
    size = run.model.population.size
    per_shopper = [
        value.nbytes
        for value in vars(program).values()
        if isinstance(value, np.ndarray) and size in value.shape
    ]
    declared = kind.bytes_per_shopper(program.config)
    assert sum(per_shopper) <= declared * size, (sum(per_shopper) / size, declared)
    # The simulation's estimate counts it: the same policies without the lever need that much less.
    scenario = run.model.scenario
    policies = scenario.policies
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(registry, "REGISTRY", tuple(k for k in registry.REGISTRY if k is not kind))
        remaining = {k for k, _ in registry.active_levers(policies)}
        without = estimate_memory_bytes(AGENTS, len(scenario.channels), DAYS, policies)
    with_it = estimate_memory_bytes(AGENTS, len(scenario.channels), DAYS, policies)
    # The lever, and any lever on only because it requires it.
    dropped = sum(k.bytes_per_shopper(c) for k, c in registry.active_levers(policies) if k not in remaining)
    assert dropped >= declared
    assert with_it - without == AGENTS * dropped


@pytest.mark.parametrize("kind", LEVERS, ids=lever_id)
def test_the_lasting_effect_is_well_formed(kind: type[Lever[Any]]) -> None:
    run = run_for(kind)
    model = run.model
    customers = customer_base(model, np.flatnonzero(model.population.last_purchase_day >= -90))
    assert customers.days > run.program(kind).lasting_days(model)
    effect = run.program(kind).lasting_effect(model, customers)
    if effect is None:
        return
    shapes = {"rate_by_recency": 2, "extra_orders": 2, "revival": 2}
    for name, values in vars(effect).items():
        if values is None:
            continue
        rows = (customers.size, customers.days) if shapes.get(name) == 2 else (customers.size,)
        assert values.shape == rows, name
        assert np.isfinite(values).all() and (values >= 0).all(), name
        if name in ("extra_orders", "revival"):
            assert (values <= 1).all(), name
    # Combined with the others, the set of levers gives every field as arrays.
    combined = model.levers.lasting_effect(model, customers)
    assert all(isinstance(v, np.ndarray) for v in vars(combined).values())
    assert isinstance(combined, LastingEffect)


@pytest.mark.parametrize("kind", registry.REGISTRY, ids=lever_id)
def test_default_search_ranges_are_valid_ranges_of_the_lever(kind: type[Lever[Any]]) -> None:
    scenario = scenario_for(kind)
    for config in (kind.config_of(scenario.policies), None):
        for path, spec in kind.search_ranges(config, scenario).items():
            assert path.split(".")[0] in Policies.model_fields, path
            ParameterRange(**spec)


# The toy lever does what it says -----------------------------------------------------------------
def test_free_shipping_weekend_lifts_weekend_checkout_when_shipping_costs_something() -> None:
    bare = shrunk(BUNDLED_ORDER[0], levers=False)
    economics = bare.economics.model_copy(update={"shipping_fee": 8.0, "shipping_friction": 0.3})
    market = bare.model_copy(update={"economics": economics})
    plain = simulate(market, seed=SEED)
    weekend = simulate(
        with_policies(market, {"free_shipping_weekend": FreeShippingWeekendConfig()}), seed=SEED
    )
    days = plain.daily.index.to_numpy()
    saturday_sunday = np.isin(days % 7, (5, 6))

    def checkout_rate(result: SimulationResult, on: np.ndarray) -> float:
        return float(result.daily["orders"][on].sum() / result.daily["carts"][on].sum())

    # The same world until the first weekend (days 5 and 6).
    pd.testing.assert_series_equal(plain.daily["orders"].iloc[:5], weekend.daily["orders"].iloc[:5])
    # Shipping friction 0.3 is lifted on the weekend: checkout x 1 / 0.7 then, unchanged otherwise.
    lift = checkout_rate(weekend, saturday_sunday) / checkout_rate(plain, saturday_sunday)
    assert lift == pytest.approx(1 / 0.7, abs=0.1)
    assert checkout_rate(weekend, ~saturday_sunday) == pytest.approx(
        checkout_rate(plain, ~saturday_sunday), rel=0.05
    )
    kpis = weekend.summary
    weekend_orders = weekend.daily["orders"][saturday_sunday].sum()
    assert kpis["free_shipping_weekend_orders"] == pytest.approx(weekend_orders)
    assert kpis["free_shipping_weekend_cost"] == pytest.approx(4.0 * weekend_orders)
    assert kpis["program_costs"] == pytest.approx(kpis["free_shipping_weekend_cost"])
    assert weekend.levers["program_cost_free_shipping"].sum() == pytest.approx(kpis["program_costs"])
    assert_money_adds_up(weekend)
