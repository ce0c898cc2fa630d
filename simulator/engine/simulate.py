"""Running a scenario: ``simulate(scenario, seed=...)``."""

from __future__ import annotations

import os

from ..config.scenario import Scenario, ScenarioError
from .model import CommerceModel
from .population import estimate_memory_bytes
from .results import SimulationResult, collect_results
from .touchpaths import TouchRecorder

__all__ = ["available_memory_bytes", "check_memory", "simulate"]

MEMORY_HEADROOM = 0.8
"""Share of the available memory a simulation may plan to use."""


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


def check_memory(scenario: Scenario, source: str = "<scenario>") -> int:
    """Estimate a run's peak memory and refuse it before allocating when it cannot fit.

    Returns
    -------
    int
        The estimate (bytes).

    Raises
    ------
    ScenarioError
        When the estimate exceeds 80% of the memory available now.
    """
    agents = scenario.simulated_agents
    need = estimate_memory_bytes(agents, len(scenario.channels), scenario.horizon_days, scenario.policies)
    have = available_memory_bytes()
    if need > MEMORY_HEADROOM * have:
        most = int(agents * MEMORY_HEADROOM * have / need)
        raise ScenarioError(
            source,
            "population.agents",
            f"{agents:,} agents need about {need / 2**30:,.1f} GiB but "
            f"{have / 2**30:,.1f} GiB is available; use at most about {most:,} agents "
            "(raise population.scale to keep the market size)",
        )
    return need


def simulate(
    scenario: Scenario, seed: int | None = None, progress: bool = False, record_paths: bool = False
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
        ``SimulationResult.paths``; costs memory (about 70 bytes a shopper) and some speed.

    Returns
    -------
    SimulationResult
        Daily totals, daily per channel, per shopper, and summary KPIs.
    """
    check_memory(scenario)
    model = CommerceModel(scenario, seed=seed)
    if record_paths:
        model.touches = TouchRecorder(model.population.size, scenario.channel_names)
    try:
        model.run(progress=progress)
        return collect_results(model)
    finally:
        model.release()
