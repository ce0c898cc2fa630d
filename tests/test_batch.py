"""Many worlds in one step: a world stepped in a batch gives bit-identical results to the same world alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scenario_factory import BUNDLED, small

from simulator import Scenario, ScenarioError, simulate
from simulator.engine.batch import BATCH_SHOPPERS, BatchModel, batch_size, batchable, simulate_batch
from simulator.engine.model import CommerceModel
from simulator.engine.population import estimate_memory_bytes
from simulator.engine.results import SimulationResult
from simulator.engine.streams import CommonRandomNumbers, seed_states, uniform_keys
from simulator.measure.replicate import replicate

FRAMES = ("daily", "channels", "customers", "orders", "levers")


def _more_spend(scenario: Scenario, factor: float) -> Scenario:
    """The first channel's daily spend (outside its budget periods) times ``factor``."""
    first = scenario.channels[0]
    channels = [first.model_copy(update={"daily_spend": first.daily_spend * factor}), *scenario.channels[1:]]
    return scenario.model_copy(update={"channels": channels})


def _levers_on(scenario: Scenario) -> list[str]:
    return [name for name, value in scenario.policies if value is not None]


def _one_lever_off(scenario: Scenario) -> Scenario:
    """The scenario with its first lever that is on turned off."""
    off = {_levers_on(scenario)[0]: None}
    return scenario.model_copy(update={"policies": scenario.policies.model_copy(update=off)})


def _assert_identical(alone: SimulationResult, batched: SimulationResult, folder: Path) -> None:
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(alone, name), getattr(batched, name), check_exact=True)
    assert alone.tables.keys() == batched.tables.keys()
    for key, table in alone.tables.items():
        pd.testing.assert_frame_equal(table, batched.tables[key], check_exact=True)
    # The files a user gets, byte for byte (daily.csv, channels_daily.csv, summary.json, ...).
    alone.save(folder / "alone")
    batched.save(folder / "batched")
    written = sorted(p.name for p in (folder / "alone").iterdir() if p.suffix in (".csv", ".json"))
    assert {"daily.csv", "channels_daily.csv", "summary.json"} <= set(written)
    for name in written:
        if name == "manifest.json":  # names the run's time
            continue
        assert (folder / "alone" / name).read_bytes() == (folder / "batched" / name).read_bytes(), name


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_worlds_in_a_batch_are_bit_identical_to_worlds_alone(path, tmp_path):
    """Three seeds, a spend variant and a lever variant of a bundled scenario, levers on, a full year."""
    base = small(path.stem, agents=600, days=365)
    assert len(_levers_on(base)) >= 4
    runs = [(base, 11), (base, 12), (base, 13), (_more_spend(base, 1.5), 11), (_one_lever_off(base), 12)]
    batched = simulate_batch(runs)
    for k, ((scenario, seed), together) in enumerate(zip(runs, batched, strict=True)):
        alone = simulate(scenario, seed=seed)
        assert alone.summary["orders"] > 0
        _assert_identical(alone, together, tmp_path / str(k))
    # The worlds really differ: seeds, spend and levers each change the outcome.
    profits = [r.summary["profit"] for r in batched]
    assert len(set(profits)) == len(profits)
    assert batched[3].summary["marketing_spend"] > batched[0].summary["marketing_spend"]


def _policies(scenario: Scenario, **levers: dict[str, object]) -> Scenario:
    """The scenario with some levers' settings changed (``None``: the lever off)."""
    update = {}
    for name, changes in levers.items():
        current = getattr(scenario.policies, name)
        update[name] = None if changes is None else current.model_copy(update=changes)
    return scenario.model_copy(update={"policies": scenario.policies.model_copy(update=update)})


def test_worlds_with_different_lever_settings_in_one_batch_are_each_the_world_alone(tmp_path):
    """Levers that work for every world at once broadcast each world's own settings.

    Retargeting with other numbers (window, cap, response, decay, browse effect, coordination,
    price), on other channels, and off; referral and word of mouth with other rates; loyalty
    with other tier discounts; win-back with other coupons, costs, response and value
    thresholds, and with one offer less; service with slow delivery (its base satisfaction is
    below win-back's dissatisfied line).
    """
    base = small("fashion_social_brand", agents=800, days=150)
    retargeting = base.policies.retargeting
    assert retargeting is not None and retargeting.channels == ["social"] and retargeting.browse_effect > 0
    faster = {
        "window_days": 5,
        "frequency_cap": 3,
        "return_per_impression": 0.3,
        "decay_days": 2.5,
        "browse_effect": 0.4,
        "coordination_lift": 1.0,
        "cost_multiplier": 0.7,
    }
    loyalty = base.policies.loyalty
    assert loyalty is not None
    richer = [t.model_copy(update={"discount": min(0.5, 3 * t.discount)}) for t in loyalty.tiers]
    winback = base.policies.winback
    assert winback is not None and len(winback.offers) == 3
    generous = {
        "offers": [
            o.model_copy(update={"coupon": 2 * o.coupon, "cost_per_offer": 0.9}) for o in winback.offers
        ],
        "base_response": 2 * winback.base_response,
        "service_upgrade_effect": 1.7,
        "high_value_spend": 300.0,
        "low_value_spend": 50.0,
    }
    social = {"word_of_mouth_rate": 0.01, "referral_rate": 0.05}
    fewer = {"offers": winback.offers[:2]}
    runs = [
        (base, 31),
        (_policies(base, retargeting=faster, referral=social, winback=generous), 31),
        (_policies(base, retargeting={"channels": ["social", "marketplace"], "browse_effect": 0.0}), 32),
        (_policies(base, retargeting=None, loyalty={"tiers": richer}, service={"delivery_days": 10}), 32),
        (_policies(base, retargeting={"window_days": 21, "decay_days": 9.0}, winback=fewer), 33),
        (_policies(base, winback=generous), 34),
    ]
    batched = simulate_batch(runs)
    for k, ((scenario, seed), together) in enumerate(zip(runs, batched, strict=True)):
        _assert_identical(simulate(scenario, seed=seed), together, tmp_path / str(k))
    recovered = [r.summary.get("retargeting_recovered_orders", 0.0) for r in batched]
    assert recovered[0] > 0 and recovered[1] > 0 and recovered[4] > 0 and recovered[3] == 0
    assert recovered[1] != recovered[0]
    offers = [r.summary["winback_offers"] for r in batched]
    assert all(n > 0 for n in offers) and offers[1] != offers[0]


def test_a_batch_of_one_is_the_world_alone(tmp_path):
    scenario = small(agents=1500, days=60)
    _assert_identical(simulate(scenario, seed=5), simulate_batch([(scenario, 5)])[0], tmp_path)


def test_worlds_that_differ_beyond_spend_and_levers_are_refused():
    base = small(agents=500, days=20)
    other = small(agents=600, days=20)
    assert batchable([base, _more_spend(base, 2.0), _one_lever_off(base)])
    assert not batchable([base, other])
    with pytest.raises(ScenarioError, match="differ only in seed, channel spend and policies"):
        BatchModel([CommerceModel(base, seed=1), CommerceModel(other, seed=1)])


def test_a_started_world_cannot_join_a_batch():
    base = small(agents=500, days=20)
    started = CommerceModel(base, seed=1)
    started.step()
    with pytest.raises(ValueError, match="before their first day"):
        BatchModel([started, CommerceModel(base, seed=2)])


def test_batch_size_follows_the_memory_budget():
    scenario = small(agents=20_000, days=60)
    one = estimate_memory_bytes(scenario.simulated_agents, len(scenario.channels), 60, scenario.policies)
    assert batch_size(scenario, budget_bytes=one) == 1  # never below one world
    assert batch_size(scenario, budget_bytes=9 * one) == 8  # one world's worth kept for joining
    assert batch_size(scenario, budget_bytes=9 * one - 1) == 7
    # Beyond BATCH_SHOPPERS shoppers in all, more worlds stop paying (measured: benchmarks/README.md).
    assert batch_size(scenario, budget_bytes=100 * one) == BATCH_SHOPPERS // 20_000
    assert batch_size(scenario, budget_bytes=100 * one, shoppers=None) == 99


def test_replications_are_the_same_in_batches_or_alone():
    """replicate() steps its runs in batches by default; the tables equal those of runs one by one."""
    base = small(agents=1000, days=90)
    variants = {"more_search": {"channels": {"search": {"daily_spend": 7200.0}}}}
    alone = replicate(base, seeds=[1, 2, 3], variants=variants, cycle_days=30, batch=1)
    for batch in (None, 2):
        together = replicate(base, seeds=[1, 2, 3], variants=variants, cycle_days=30, batch=batch)
        pd.testing.assert_frame_equal(alone.runs, together.runs, check_exact=True)
        pd.testing.assert_frame_equal(alone.channels, together.channels, check_exact=True)
        assert alone.cycles is not None and together.cycles is not None
        pd.testing.assert_frame_equal(alone.cycles, together.cycles, check_exact=True)
    with pytest.raises(ScenarioError, match="batch: must be a whole number of runs >= 1"):
        replicate(base, seeds=[1], batch=0)


def test_the_keys_of_many_runs_at_once_are_each_runs_own():
    """uniform_keys (a batch's keys of every world in one call) equals each run's uniform_key."""
    runs = [CommonRandomNumbers(seed) for seed in (0, 1, 7, 2**40 + 3, 2**63 - 1)]
    seed_keys = np.array([crn.seed_key for crn in runs], dtype=np.uint64)
    for mechanism, day, index in (("awareness", 0, 0), ("impressions", 364, 4), ("retarget", 17, 0)):
        keys = uniform_keys(seed_keys, mechanism, day, index)
        assert keys.tolist() == [int(crn.uniform_key(mechanism, day, index)) for crn in runs]
    assert len(set(keys.tolist())) == len(runs)


def test_several_indices_at_once_are_the_uniforms_one_by_one():
    """uniforms (several channels' draws in one call) equals uniform index by index, alone and in a batch."""
    shoppers = np.array([0, 5, 3, 999, 5, 42])
    crn = CommonRandomNumbers(3)
    rows = crn.uniforms("compare", 9, shoppers, 4, 1)
    assert rows.shape == (4, shoppers.size)
    for k in range(4):
        assert np.array_equal(rows[k], crn.uniform("compare", 9, shoppers, 1 + k))
    base = small(agents=500, days=5)
    worlds = [CommerceModel(base, seed=seed) for seed in (3, 4)]
    batch = BatchModel(worlds)
    ids = np.array([7, 499, 500, 507, 999, 2])  # world 0, then world 1, then world 0
    rows = batch.crn.uniforms("compare", 2, ids, 3)
    for k in range(3):
        assert np.array_equal(rows[k], batch.crn.uniform("compare", 2, ids, k))
        alone = [
            w.crn.uniform("compare", 2, np.array([i % 500]), k)[0]
            for w, i in zip([worlds[i // 500] for i in ids], ids, strict=True)
        ]
        assert rows[k].tolist() == alone
    batch.release()


def test_seed_states_of_many_keys_are_numpys():
    """seed_states (a batch's count generators seeded in one pass) equals numpy's SeedSequence."""
    rng = np.random.default_rng(4)
    keys = np.concatenate(
        [
            np.array([0, 1, 2**32 - 1, 2**32, 2**64 - 1], dtype=np.uint64),
            rng.integers(0, 2**64 - 1, 300, dtype=np.uint64),
        ]
    )
    states = seed_states(keys)
    for key, state in zip(keys.tolist(), states, strict=True):
        assert state.tolist() == np.random.SeedSequence(key).generate_state(4, np.uint64).tolist()
    crn = CommonRandomNumbers(8)
    expected = crn.bit_generator("impressions", 3, 2).random_raw(5)
    crn.preseed(
        "impressions",
        3,
        2,
        seed_states(uniform_keys(np.array([crn.seed_key], dtype=np.uint64), "impressions", 3, 2))[0],
    )
    assert np.array_equal(crn.bit_generator("impressions", 3, 2).random_raw(5), expected)
