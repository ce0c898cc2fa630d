"""Running a scenario: ``simulate(scenario, seed=...)``."""

from __future__ import annotations

import functools
import os
import warnings

from ..config.scenario import Scenario, ScenarioError
from .model import CommerceModel
from .population import MemoryEstimate, estimate_memory
from .results import SimulationResult, collect_results
from .touchpaths import TouchRecorder

__all__ = [
    "MEMORY_HEADROOM",
    "PILOT_ABOVE_AGENTS",
    "PILOT_AGENTS",
    "available_memory_bytes",
    "check_memory",
    "estimate_run_memory",
    "process_memory_bytes",
    "simulate",
]

MEMORY_HEADROOM = 0.8
"""Share of the available memory a simulation may plan to use (without an explicit limit)."""
PILOT_AGENTS = 5_000
"""Agents of the pilot run that measures a scenario's orders and touches per shopper-day."""
PILOT_ABOVE_AGENTS = 500_000
"""Runs of more agents than this estimate their order log and touches on a pilot run first
(a 5,000-agent run of the same horizon: a few seconds, a few % of the run's time); smaller runs assume
:data:`~simulator.engine.population.DEFAULT_ORDERS_PER_SHOPPER_DAY`."""


def available_memory_bytes() -> int:
    """Memory the operating system can give this process now (bytes)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    pages = os.sysconf("SC_AVPHYS_PAGES") if hasattr(os, "sysconf") else 0
    return int(pages * os.sysconf("SC_PAGE_SIZE")) if pages else 8 * 2**30


def process_memory_bytes() -> int:
    """Resident memory of this process now (bytes; 0 where ``/proc`` is not available)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


@functools.lru_cache(maxsize=8)
def _pilot(scenario_json: str, record_paths: bool) -> tuple[float, float]:
    """Orders and touches per shopper-day of a :data:`PILOT_AGENTS`-agent run of the scenario."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the scenario's own warnings were shown when it was loaded
        pilot = Scenario.model_validate_json(scenario_json).with_overrides(agents=PILOT_AGENTS)
    model = CommerceModel(pilot)
    if record_paths:
        model.touches = TouchRecorder(model.population.size, pilot.channel_names)
    try:
        model.run()
        orders = sum(day.size for day in model.order_log.day) if model.order_log is not None else 0
        touches = len(model.touches.collect(model).touches) if model.touches is not None else 0
    finally:
        model.release()
    shopper_days = pilot.simulated_agents * pilot.horizon_days
    return orders / shopper_days, touches / shopper_days


def estimate_run_memory(
    scenario: Scenario, record_paths: bool = False, pilot: bool | None = None
) -> MemoryEstimate:
    """Estimate the peak memory a simulation of ``scenario`` adds to this process (bytes, by part).

    Parameters
    ----------
    scenario
        The validated scenario.
    record_paths
        Whether the run records touch paths.
    pilot
        Measure the orders (and touches) per shopper-day on a :data:`PILOT_AGENTS`-agent run of
        the scenario; default: for runs of more than :data:`PILOT_ABOVE_AGENTS` agents. A
        customer-base twin is never piloted (its agents are its customers).
    """
    agents = scenario.simulated_agents
    days = scenario.horizon_days
    orders = touches = None
    if pilot is None:
        pilot = agents > PILOT_ABOVE_AGENTS
    if pilot and scenario.customer_base is None and agents > PILOT_AGENTS:
        per_order, per_touch = _pilot(scenario.model_dump_json(), record_paths)
        orders, touches = per_order * agents * days, per_touch * agents * days
    return estimate_memory(
        agents,
        len(scenario.channels),
        days,
        scenario.policies,
        orders=orders,
        touches=touches,
        record_paths=record_paths,
    )


def check_memory(
    scenario: Scenario,
    source: str = "<scenario>",
    record_paths: bool = False,
    limit_bytes: int | None = None,
) -> int:
    """Estimate a run's peak memory and refuse it before allocating when it cannot fit.

    Parameters
    ----------
    scenario
        The validated scenario.
    source
        File name for the error message.
    record_paths
        Whether the run records touch paths (they count in the estimate).
    limit_bytes
        Most resident memory the whole process may reach (bytes), e.g. ``run.py simulate
        --memory-limit``; default: what it holds now plus 80% of the memory available now.

    Returns
    -------
    int
        The estimate of what the run adds (bytes).

    Raises
    ------
    ScenarioError
        When the process's resident memory plus the estimate exceeds the limit.
    """
    agents = scenario.simulated_agents
    held = process_memory_bytes()
    if limit_bytes is None:
        room = MEMORY_HEADROOM * available_memory_bytes()
        how = (
            f"{room / MEMORY_HEADROOM / 2**30:,.1f} GiB is available "
            "(the limit is 80% of it; --memory-limit sets another)"
        )
    else:
        room = limit_bytes - held
        how = (
            f"the limit is {limit_bytes / 2**30:,.1f} GiB (--memory-limit) "
            f"and this process holds {held / 2**30:,.1f} GiB"
        )
    # Without a single order or touch first: a run that cannot fit even so is refused at once,
    # before any pilot run.
    channels, days = len(scenario.channels), scenario.horizon_days
    floor = estimate_memory(
        agents, channels, days, scenario.policies, orders=0, touches=0, record_paths=record_paths
    )
    need = floor.total if floor.total > room else estimate_run_memory(scenario, record_paths).total
    if need > room:
        most = max(int(agents * max(room, 0) / need), 0)
        raise ScenarioError(
            source,
            "population.agents",
            f"{agents:,} agents need {'at least' if need == floor.total else 'about'} "
            f"{need / 2**30:,.1f} GiB but {how}; use at most about "
            f"{most:,} agents (raise population.scale to keep the market size)",
        )
    return need


def simulate(
    scenario: Scenario,
    seed: int | None = None,
    progress: bool = False,
    record_paths: bool = False,
    memory_limit: int | None = None,
) -> SimulationResult:
    """Simulate a scenario over its horizon.

    Parameters
    ----------
    scenario
        A validated scenario (see :func:`simulator.load_scenario`).
    seed
        Seed of the run; defaults to ``scenario.seed``. The same seed gives identical results.
    progress
        Show a progress bar over days.
    record_paths
        Record every shopper's touch path (:mod:`simulator.engine.touchpaths`) into
        ``SimulationResult.paths``; costs memory (72 bytes a shopper and about 70 a touch)
        and some speed.
    memory_limit
        Most resident memory the process may reach (bytes); default 80% of the memory available
        (see :func:`check_memory`).

    Returns
    -------
    SimulationResult
        Daily totals, daily per channel, per shopper, and summary KPIs.
    """
    check_memory(scenario, record_paths=record_paths, limit_bytes=memory_limit)
    model = CommerceModel(scenario, seed=seed)
    if record_paths:
        model.touches = TouchRecorder(model.population.size, scenario.channel_names)
    try:
        model.run(progress=progress)
        return collect_results(model)
    finally:
        model.release()
