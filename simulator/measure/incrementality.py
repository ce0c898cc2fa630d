"""Ground-truth incrementality of each channel, measured by re-simulating without it.

Because the market is simulated, the true effect of a channel's media spend is known: run the
scenario as it is, run it again with the channel's spend removed, and with the spend raised by a
small step, on the same seeds, and take the paired differences. This is how Google's
Aggregate Marketing System Simulator (AMSS; Zhang and Vaver, 2017) defines a channel's ROAS
(outcome with the spend minus outcome without it, over the spend) and its marginal ROAS (the
same for a small extra step of spend).

Definitions, per channel, over the horizon (money in currency of the real market):

- ``spend``: the channel's planned media spend (``daily_spend`` and ``budget_plan``); fixed
  running costs are not removed - the channel's storefront stays, only its media stops.
- ``incremental_orders / _revenue / _profit / _customers``: base run minus the run without the
  channel's media spend, seed by seed (customers are new customers won).
- ``roas`` = incremental revenue / spend.
- ``roi`` = incremental profit / spend: what each unit of media spend brings back after
  discounts, cost of goods, fees, fulfilment, knock-on costs and the media itself. **Break-even
  0**: above 0 the spend pays for itself, -1 means it brings nothing back (the same measure as
  the summary KPI ``roi``, see :mod:`simulator.common.measures`).
- ``marginal_roas`` and ``marginal_roi``: the same for the extra ``step`` x spend (run with the
  spend x (1 + step) minus the base run, over step x spend); a channel is worth expanding while
  its marginal ROI is above 0.
- ``marginal_minus_roi`` = marginal ROI - ROI: below 0 for a channel with diminishing returns.

Each figure comes with a ``*_ci_low`` / ``*_ci_high`` confidence interval over the seeds
(t-distribution of the paired per-seed values).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..common.format import format_interval, format_money, unit_of
from ..common.output import write_files
from ..common.reading import open_results, read_result_csv, read_result_json
from ..config.scenario import Channel, Scenario, ScenarioError
from .replicate import (
    BASELINE,
    ReplicationResult,
    apply_patch,
    confidence_interval,
    replicate,
)
from .saved import json_writer

__all__ = [
    "INCREMENTALITY_FILES",
    "load_incrementality",
    "INCREMENTALITY_METRICS",
    "channel_variants",
    "incrementality",
    "measure_incrementality",
    "incrementality_text",
    "planned_spend",
    "save_incrementality",
]

INCREMENTALITY_METRICS = (
    "incremental_orders",
    "incremental_revenue",
    "incremental_profit",
    "incremental_customers",
    "roas",
    "roi",
    "marginal_roas",
    "marginal_roi",
    "marginal_minus_roi",
)
"""The measures of :func:`incrementality`, each with ``_ci_low`` and ``_ci_high`` columns."""

DEFAULT_STEP = 0.1

INCREMENTALITY_FILES = ("incrementality.csv", "incrementality.json")
"""Files written by :func:`save_incrementality`."""


def planned_spend(channel: Channel, horizon_days: int) -> float:
    """Media spend of a channel over the horizon, from ``daily_spend`` and ``budget_plan`` (currency)."""
    plan = np.full(horizon_days, channel.daily_spend, dtype=np.float64)
    for period in channel.budget_plan:
        plan[period.start_day : min(period.end_day, horizon_days - 1) + 1] = period.daily_spend
    return float(plan.sum())


def _scaled_spend(channel: Channel, factor: float) -> dict[str, object]:
    periods = [
        period.model_dump() | {"daily_spend": period.daily_spend * factor} for period in channel.budget_plan
    ]
    return {"daily_spend": channel.daily_spend * factor, "budget_plan": periods}


def _check_channels(scenario: Scenario, channels: Sequence[str] | None, source: str) -> list[str]:
    names = scenario.channel_names
    if channels is None:
        return names
    chosen = list(channels)
    if not chosen:
        raise ScenarioError(
            source, "channels", f"give at least one channel; channels are: {', '.join(names)}"
        )
    for name in chosen:
        if name not in names:
            raise ScenarioError(
                source, "channels", f"unknown channel '{name}'; channels are: {', '.join(names)}"
            )
    return list(dict.fromkeys(chosen))


def _check_step(step: float, source: str) -> float:
    if not (isinstance(step, int | float) and 0 < step <= 1):
        raise ScenarioError(source, "step", f"must be a share of spend in (0, 1], got {step!r}")
    return float(step)


def channel_variants(
    scenario: Scenario, channels: Sequence[str] | None = None, step: float = DEFAULT_STEP
) -> dict[str, Scenario]:
    """The variants that measure each channel: ``without_NAME`` and ``step_NAME``.

    Parameters
    ----------
    scenario
        The base scenario.
    channels
        Channel names to measure; default all.
    step
        Relative rise of spend for the marginal figures (share, in (0, 1]; 0.1 = +10%).

    Returns
    -------
    dict of str to Scenario
        ``without_NAME`` has the channel's media spend at 0 (every budget period too);
        ``step_NAME`` has it multiplied by ``1 + step``.

    Raises
    ------
    ScenarioError
        For an unknown channel name or a step outside (0, 1].
    """
    source = str(getattr(scenario, "_source", "<scenario>"))
    names = _check_channels(scenario, channels, source)
    step = _check_step(step, source)
    by_name = {c.name: c for c in scenario.channels}
    variants = {}
    for name in names:
        for label, factor in (("without", 0.0), ("step", 1.0 + step)):
            patch = {"channels": {name: _scaled_spend(by_name[name], factor)}}
            variants[f"{label}_{name}"] = apply_patch(scenario, patch, f"{source} ({label}_{name})")
    return variants


def measure_incrementality(
    replication: ReplicationResult,
    channels: Sequence[str] | None = None,
    step: float = DEFAULT_STEP,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Per-channel incrementality from a replication that holds the :func:`channel_variants`.

    Parameters
    ----------
    replication
        Runs of the base scenario and of ``without_NAME`` / ``step_NAME`` on the same seeds.
    channels
        Channels to report; default all.
    step
        The step the ``step_NAME`` variants were built with (share).
    confidence
        Coverage of the intervals (share).

    Returns
    -------
    pandas.DataFrame
        One row per ``channel``: ``spend`` and each of :data:`INCREMENTALITY_METRICS` with its
        ``_ci_low`` / ``_ci_high`` (see the module docstring for the definitions), ``seeds``.
    """
    scenario = replication.scenario
    source = str(getattr(scenario, "_source", "<scenario>"))
    names = _check_channels(scenario, channels, source)
    step = _check_step(step, source)
    runs = replication.runs
    base = runs.xs(BASELINE, level="variant")
    by_name = {c.name: c for c in scenario.channels}
    rows = []
    for name in names:
        without = runs.xs(f"without_{name}", level="variant")
        stepped = runs.xs(f"step_{name}", level="variant")
        spend = planned_spend(by_name[name], scenario.horizon_days)
        extra = step * spend
        per_seed = {
            "incremental_orders": base["orders"] - without["orders"],
            "incremental_revenue": base["revenue"] - without["revenue"],
            "incremental_profit": base["profit"] - without["profit"],
            "incremental_customers": base["new_customers"] - without["new_customers"],
        }
        if spend > 0:
            per_seed["roas"] = per_seed["incremental_revenue"] / spend
            per_seed["roi"] = per_seed["incremental_profit"] / spend
            per_seed["marginal_roas"] = (stepped["revenue"] - base["revenue"]) / extra
            per_seed["marginal_roi"] = (stepped["profit"] - base["profit"]) / extra
            per_seed["marginal_minus_roi"] = per_seed["marginal_roi"] - per_seed["roi"]
        row: dict[str, float | str] = {"channel": name, "spend": spend}
        for metric in INCREMENTALITY_METRICS:
            values = per_seed.get(metric)
            mean, _, low, high = (
                confidence_interval(values.to_numpy(), confidence) if values is not None else (np.nan,) * 4
            )
            row |= {metric: mean, f"{metric}_ci_low": low, f"{metric}_ci_high": high}
        row["seeds"] = float(len(base))
        rows.append(row)
    table = pd.DataFrame(rows).set_index("channel")
    table.attrs.update({"step": step, "confidence": confidence, "seeds": list(replication.seeds)})
    table.attrs.update({"scenario": scenario.name, "currency": scenario.economics.currency})
    table.attrs["horizon_days"] = scenario.horizon_days
    return table


def incrementality(
    scenario: Scenario,
    seeds: Sequence[int],
    channels: Sequence[str] | None = None,
    step: float = DEFAULT_STEP,
    workers: int = 1,
    progress: bool = False,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """True incremental outcome, ROAS, ROI and marginal ROI of each channel, with intervals.

    Runs the base scenario, and for each channel the scenario without the channel's media
    spend and with it raised by ``step``, all on the same seeds (2 x channels + 1 variants).

    Parameters
    ----------
    scenario
        The scenario as it is (the base).
    seeds
        Seeds of the paired runs (at least one; two or more for intervals).
    channels
        Channels to measure; default all.
    step
        Relative rise of spend for the marginal figures (share in (0, 1]; 0.1 = +10%).
    workers
        Worker processes; the result does not depend on it.
    progress
        Show a progress bar over runs.
    confidence
        Coverage of the intervals (share).

    Returns
    -------
    pandas.DataFrame
        One row per ``channel``, see :func:`measure_incrementality` and the module docstring:
        ``roi`` is incremental profit per unit of media spend (break-even 0; -1 = brings
        nothing back).

    Raises
    ------
    ScenarioError
        One line for an unknown channel, a step outside (0, 1], an empty seed list or
        ``workers`` below 1.
    """
    variants = channel_variants(scenario, channels, step)
    replication = replicate(
        scenario, seeds, variants, workers=workers, progress=progress, label="incrementality"
    )
    return measure_incrementality(replication, channels, step, confidence)


def incrementality_text(table: pd.DataFrame, currency: str = "") -> str:
    """A per-channel incrementality table as text: each measure as ``mean [low, high]``.

    Parameters
    ----------
    table
        The result of :func:`incrementality`.
    currency
        Currency code shown in the title.
    """
    step = float(table.attrs.get("step", DEFAULT_STEP))
    confidence = float(table.attrs.get("confidence", 0.95))
    seeds = table.attrs.get("seeds", [])
    columns = {
        "spend": "spend",
        "incremental_orders": "incr. orders",
        "incremental_customers": "incr. customers",
        "incremental_revenue": "incr. revenue",
        "incremental_profit": "incr. profit",
        "roas": "ROAS",
        "roi": "ROI (break-even 0)",
        "marginal_roas": "marginal ROAS",
        "marginal_roi": "marginal ROI (break-even 0)",
    }

    def cell(row: pd.Series, metric: str) -> str:
        if metric == "spend":
            return format_money(row[metric])
        low, high = row[f"{metric}_ci_low"], row[f"{metric}_ci_high"]
        return format_interval(row[metric], low, high, unit_of(metric))

    shown = pd.DataFrame(
        {label: [cell(row, metric) for _, row in table.iterrows()] for metric, label in columns.items()},
        index=table.index,
    )
    lines = [
        f"True incrementality per channel ({currency}; {len(seeds)} paired seeds, "
        f"{confidence:.0%} intervals; marginal = +{step:.0%} spend)",
        "ROI = incremental profit / spend (break-even 0: above 0 the spend pays for itself; -1 = it brings "
        "nothing back); ROAS = incremental revenue / spend (pays when above 1 / contribution margin)",
    ]
    return "\n".join(lines) + "\n" + shown.T.to_string()


def save_incrementality(table: pd.DataFrame, out_dir: str | Path, overwrite: bool = False) -> list[Path]:
    """Write ``incrementality.csv`` (one row per channel) and ``incrementality.json`` into ``out_dir``.

    ``incrementality.json`` holds the table's ``attrs``: step, confidence, seeds, scenario
    name, currency and horizon (what :func:`load_incrementality` gives back).

    Raises
    ------
    OutputExistsError
        When the file exists and ``overwrite`` is false.
    """
    writers: dict[str, Callable[[Path], object]] = {
        INCREMENTALITY_FILES[0]: table.to_csv,
        INCREMENTALITY_FILES[1]: json_writer(dict(table.attrs)),
    }
    return write_files(out_dir, writers, overwrite)


def load_incrementality(folder: str | Path) -> pd.DataFrame:
    """Read an ``incrementality --out`` folder back: the table of :func:`incrementality` with its ``attrs``.

    Raises
    ------
    simulator.common.output.OutputError
        One line naming the folder or file: missing, partial, or not written by ``incrementality``.
    """
    path = open_results(folder, INCREMENTALITY_FILES, "incrementality --out")
    table = read_result_csv(path, INCREMENTALITY_FILES[0], ["channel"])
    table.attrs.update(read_result_json(path, INCREMENTALITY_FILES[1]))
    return table
