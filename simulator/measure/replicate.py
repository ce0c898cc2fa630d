"""Replications: a scenario and its variants run on the same list of seeds.

Every variant (another budget, a lever on or off) is simulated on the *same* seeds as the
baseline, so the difference between a variant and the baseline is paired seed by seed
(common random numbers) and its confidence interval is much narrower than with independent
runs. Runs can go to worker processes; results are sorted by (variant, seed), so they are
identical whatever the number of workers.

>>> from simulator import load_scenario
>>> from simulator.measure.replicate import replicate
>>> base = load_scenario("scenarios/omnichannel_retailer.yaml")  # doctest: +SKIP
>>> more_search = {"channels": {"search": {"daily_spend": 9000}}}
>>> reps = replicate(base, seeds=[1, 2, 3], variants={"more_search": more_search})  # doctest: +SKIP
>>> reps.summary().loc[("more_search", "profit")]  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..common.format import format_frame
from ..common.reading import open_results, read_result_csv, read_result_json
from ..config.scenario import Scenario, ScenarioError, parse_scenario, read_yaml_file
from ..engine.batch import batch_groups, batch_size, simulate_batch
from ..engine.results import SimulationResult, write_files
from ..engine.simulate import MEMORY_HEADROOM, available_memory_bytes, check_memory, simulate
from .executor import check_workers, get_executor
from .saved import json_writer, saved_scenario, scenario_document

__all__ = [
    "BASELINE",
    "CHANNEL_TOTALS",
    "CYCLE_TOTALS",
    "HEADLINE_KPIS",
    "REPLICATION_FILES",
    "ReplicationResult",
    "SeedScenario",
    "apply_patch",
    "check_seeds",
    "check_workers",
    "confidence_interval",
    "load_patch",
    "replicate",
    "write_tables",
]

BASELINE = "base"
"""Name of the unpatched scenario among the variants of a replication."""

CHANNEL_TOTALS = ("spend", "orders", "new_customers", "revenue", "contribution")
"""Per-channel horizon totals kept from each run (currency and people of the real market)."""

REPLICATION_FILES = ("replications.csv", "summary.csv", "replication_channels.csv", "replications.json")
"""Files written by :meth:`ReplicationResult.save` (also ``replication_cycles.csv`` with cycles)."""
REPLICATION_DOCUMENT = REPLICATION_FILES[3]
CYCLES_FILE = "replication_cycles.csv"

DIFF_COLUMNS = ("diff", "diff_ci_low", "diff_ci_high")
HEADLINE_KPIS = ("revenue", "profit", "marketing_spend", "roi", "orders", "new_customers", "customers_end")
"""KPIs shown by :meth:`ReplicationResult.to_text`."""

FloatValues = Sequence[float] | np.ndarray[Any, Any] | pd.Series
"""Values to summarize, one per seed."""

Patch = Mapping[str, Any]
"""A variant: a nested mapping deep-merged into the scenario (see :func:`apply_patch`)."""


def _argument_error(field: str, message: str, source: str = "replicate") -> ScenarioError:
    return ScenarioError(source, field, message)


def load_patch(path: str | Path) -> dict[str, Any]:
    """Read a variant patch from a YAML file.

    Parameters
    ----------
    path
        YAML file holding a mapping of scenario fields to change, e.g.
        ``channels: {search: {daily_spend: 9000}}``.

    Returns
    -------
    dict
        The patch, to pass to :func:`apply_patch` or as a variant of :func:`replicate`.

    Raises
    ------
    ScenarioError
        When the file cannot be read, is not YAML, or is not a mapping.
    """
    source = str(path)
    data = read_yaml_file(path, "variant")
    if not isinstance(data, dict) or not data:
        raise ScenarioError(
            source,
            "",
            "a variant must be a non-empty mapping of scenario fields to change, "
            "e.g. 'channels: {search: {daily_spend: 9000}}'",
        )
    return data


def _merge(target: dict[str, Any], patch: Mapping[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def apply_patch(scenario: Scenario, patch: Patch, source: str = "<variant>") -> Scenario:
    """Return the scenario with a patch deep-merged into it, validated like a scenario file.

    Parameters
    ----------
    scenario
        The scenario to change.
    patch
        Nested mapping of fields to change. Mappings are merged key by key, anything else
        replaces the value. ``channels`` may be a mapping ``{channel name: {field: value}}``
        that patches channels by name (a list replaces the whole channel list).
    source
        Name of the patch (its file), used in error messages.

    Raises
    ------
    ScenarioError
        One line naming ``source`` and the field: an unknown channel name (``channels.NAME``)
        or any rule of the scenario schema that the patched scenario breaks; a top-level field
        given as null (``channels: null`` would otherwise be ignored).
    """
    if not isinstance(patch, Mapping):
        raise ScenarioError(source, "", "a variant must be a mapping of scenario fields to change")
    data = scenario.model_dump(mode="python")
    patch = dict(patch)
    for key, value in patch.items():
        if value is None:
            raise ScenarioError(
                source,
                key,
                "is empty (null); a variant changes a field by giving its new value - "
                "leave the field out to keep the scenario's",
            )
    channel_patch = patch.pop("channels", None)
    if isinstance(channel_patch, Mapping):
        by_name = {channel["name"]: channel for channel in data["channels"]}
        for name, changes in channel_patch.items():
            if name not in by_name:
                raise ScenarioError(
                    source,
                    f"channels.{name}",
                    f"unknown channel '{name}'; channels are: {', '.join(by_name)}",
                )
            if not isinstance(changes, Mapping):
                raise ScenarioError(
                    source, f"channels.{name}", "must be a mapping of channel fields to change"
                )
            _merge(by_name[name], changes)
    elif channel_patch is not None:
        data["channels"] = copy.deepcopy(channel_patch)
    _merge(data, patch)
    return parse_scenario(data, source)


def confidence_interval(values: FloatValues, confidence: float = 0.95) -> tuple[float, float, float, float]:
    """Mean, standard error and t-distribution confidence interval of independent draws.

    Parameters
    ----------
    values
        One value per seed (NaN values are left out).
    confidence
        Coverage of the interval (share, e.g. 0.95).

    Returns
    -------
    tuple of float
        ``(mean, standard_error, ci_low, ci_high)``; the error and interval are NaN with
        fewer than two values.
    """
    array = np.asarray(values, dtype=np.float64)
    array = array[~np.isnan(array)]
    if array.size == 0:
        return (math.nan,) * 4
    mean = float(array.mean())
    if array.size < 2:
        return mean, math.nan, math.nan, math.nan
    se = float(array.std(ddof=1) / math.sqrt(array.size))
    half = float(stats.t.ppf(0.5 + confidence / 2, array.size - 1)) * se
    return mean, se, mean - half, mean + half


CYCLE_TOTALS = ("revenue", "profit", "spend", "orders", "new_customers")
"""Daily totals summed per cycle when :func:`replicate` is given ``cycle_days``."""

RunTotals = tuple[dict[str, float], dict[str, list[float]], list[list[float]]]

SeedScenario = Callable[[Scenario, int], Scenario]
"""The scenario a variant runs on a seed (``per_seed`` of :func:`replicate`), e.g. the variant with
one posterior member's channel parameters (:class:`simulator.calibrate.PosteriorEnsemble`)."""

Measure = Callable[[SimulationResult], Mapping[str, float]]
"""Extra per-run figures computed from the full result (a module-level function, so that worker
processes can receive it)."""


def _run_batch(
    cycle_days: int | None, measure: Measure | None, tasks: list[tuple[Scenario, int]]
) -> list[RunTotals]:
    """(variant, seed) runs stepped as one batch of worlds (or alone), returning small picklable totals."""
    if len(tasks) == 1:
        scenario, seed = tasks[0]
        return [_totals(simulate(scenario, seed=seed), cycle_days, measure)]
    return [_totals(result, cycle_days, measure) for result in simulate_batch(tasks)]


def _batches(scenarios: list[Scenario], workers: int, batch: int | None) -> list[list[int]]:
    """Runs (positions in ``scenarios``, one per run) stepped as one batch each.

    Runs whose worlds can share a batch (:func:`~simulator.engine.batch.batch_groups`) are cut
    into consecutive batches of at most ``batch`` runs (default: as many as pay and fit in each
    worker's share of the memory), spread over the workers; the others run alone.
    """
    chunks: list[list[int]] = []
    for group in batch_groups(scenarios):
        if len(group) == 1:
            size = 1
        elif batch is not None:
            size = batch
        else:
            budget = int(MEMORY_HEADROOM * available_memory_bytes() / workers)
            size = min(batch_size(scenarios[i], budget) for i in group)
            size = min(size, math.ceil(len(group) / workers))
        count = math.ceil(len(group) / size)
        bounds = [round(k * len(group) / count) for k in range(count + 1)]
        chunks += [group[lo:hi] for lo, hi in itertools.pairwise(bounds)]
    return chunks


def _totals(result: SimulationResult, cycle_days: int | None, measure: Measure | None) -> RunTotals:
    """A run's summary (with the extra ``measure`` figures), per-channel totals and per-cycle totals."""
    summary = dict(result.summary)
    if measure is not None:
        summary |= {name: float(value) for name, value in measure(result).items()}
    totals = result.channel_totals()
    channels = {name: [float(v) for v in totals.loc[name, list(CHANNEL_TOTALS)]] for name in totals.index}
    cycles: list[list[float]] = []
    if cycle_days is not None:
        daily = result.daily[list(CYCLE_TOTALS)]
        sums = daily.groupby(daily.index.to_numpy() // cycle_days).sum()
        cycles = [[float(v) for v in row] for row in sums.to_numpy()]
    return summary, channels, cycles


@dataclass
class ReplicationResult:
    """Runs of a scenario and its variants on the same seeds.

    Attributes
    ----------
    scenario : Scenario
        The baseline scenario (variant ``'base'``).
    seeds : list of int
        The seeds every variant ran on, in the order given.
    variants : dict of str to Scenario
        Every variant as simulated, the baseline first.
    runs : pandas.DataFrame
        One row per (``variant``, ``seed``): the summary KPIs of that run (money in currency,
        counts in people of the real market).
    channels : pandas.DataFrame
        One row per (``variant``, ``seed``, ``channel``): horizon totals of spend, orders,
        new customers, revenue and contribution after spend.
    cycles : pandas.DataFrame or None
        With ``cycle_days``: one row per (``variant``, ``seed``, ``cycle``) (cycle ``k`` covers
        days ``k x cycle_days`` to ``(k + 1) x cycle_days - 1``), the totals of
        :data:`CYCLE_TOTALS` over those days.
    """

    scenario: Scenario
    seeds: list[int]
    variants: dict[str, Scenario]
    runs: pd.DataFrame
    channels: pd.DataFrame
    cycles: pd.DataFrame | None = None

    def summary(self, metrics: Sequence[str] | None = None, confidence: float = 0.95) -> pd.DataFrame:
        """Mean and confidence interval per variant and KPI, and paired differences vs the baseline.

        Parameters
        ----------
        metrics
            KPIs to summarize (columns of :attr:`runs`); default all.
        confidence
            Coverage of the intervals (share, e.g. 0.95); t-distribution over seeds.

        Returns
        -------
        pandas.DataFrame
            Indexed by (``variant``, ``metric``), with ``mean``, ``se``, ``ci_low``, ``ci_high``
            over seeds, and for variants other than the baseline the paired difference
            ``diff = variant - base`` seed by seed with ``diff_se``, ``diff_ci_low``,
            ``diff_ci_high`` (NaN for the baseline).
        """
        names = list(self.runs.columns) if metrics is None else list(metrics)
        unknown = [m for m in names if m not in self.runs.columns]
        if unknown:
            raise _argument_error(
                "metrics", f"unknown KPI '{unknown[0]}'; KPIs are: {', '.join(self.runs.columns)}"
            )
        base = self.runs.loc[BASELINE]
        rows = []
        for variant in self.variants:
            runs = self.runs.loc[variant]
            for metric in names:
                mean, se, low, high = confidence_interval(runs[metric].to_numpy(), confidence)
                if variant == BASELINE:
                    diff = (math.nan,) * 4
                else:
                    paired = runs[metric].to_numpy() - base[metric].to_numpy()
                    diff = confidence_interval(paired, confidence)
                rows.append((variant, metric, mean, se, low, high, *diff))
        columns = ["variant", "metric", "mean", "se", "ci_low", "ci_high"]
        columns += ["diff", "diff_se", "diff_ci_low", "diff_ci_high"]
        return pd.DataFrame(rows, columns=columns).set_index(["variant", "metric"])

    def to_text(self, metrics: Sequence[str] = HEADLINE_KPIS, confidence: float = 0.95) -> str:
        """The summary of the headline KPIs as a text table (means, intervals, paired differences)."""
        shown = [m for m in metrics if m in self.runs.columns]
        table = self.summary(shown, confidence)[["mean", "ci_low", "ci_high", *DIFF_COLUMNS]]
        title = (
            f"{self.scenario.name}: {len(self.variants)} variant(s) x {len(self.seeds)} seed(s) "
            f"({', '.join(map(str, self.seeds))}); {confidence:.0%} intervals over seeds; "
            f"diff = variant - {BASELINE}, paired by seed"
        )
        levels = format_frame(table[["mean", "ci_low", "ci_high"]], by_row=True)
        text = pd.concat([levels, format_frame(table[list(DIFF_COLUMNS)], by_row=True, signed=True)], axis=1)
        text.loc[text.index.get_level_values("variant") == BASELINE, list(DIFF_COLUMNS)] = ""
        return title + "\n" + text.to_string()

    def _repr_html_(self) -> str:
        import html

        from ..common.display import html_table, range_column

        shown = [m for m in HEADLINE_KPIS if m in self.runs.columns]
        summary = self.summary(shown)
        columns: dict[str, list[str]] = {}
        for variant in self.variants:
            rows = summary[summary.index.get_level_values("variant") == variant].droplevel("variant")
            columns[f"{variant} (95% interval)"] = range_column(rows, ("mean", "ci_low", "ci_high"))
            if variant != BASELINE:
                paired = ("diff", "diff_ci_low", "diff_ci_high")
                columns[f"{variant} - {BASELINE}, paired"] = range_column(rows, paired, signed=True)
        title = (
            f"<p><b>{html.escape(self.scenario.name)}</b>: {len(self.variants)} variant(s) x "
            f"{len(self.seeds)} seed(s) ({', '.join(map(str, self.seeds))}); mean and 95% interval over "
            f"seeds, and each variant's difference from {BASELINE} paired seed by seed "
            f"(money in {html.escape(self.scenario.economics.currency)})</p>"
        )
        return title + html_table(pd.DataFrame(columns, index=shown), index_name="KPI")

    def paired(self, metric: str, variant: str) -> pd.Series:
        """Per-seed difference ``variant - base`` of one KPI (indexed by seed)."""
        values = self.runs[metric]
        difference = values.xs(variant, level="variant") - values.xs(BASELINE, level="variant")
        return pd.Series(difference, name=metric)

    def save(self, out_dir: str | Path, overwrite: bool = False) -> list[Path]:
        """Write ``replications.csv`` (one row per variant x seed), ``summary.csv`` and the rest.

        Also ``replication_channels.csv`` (per-channel totals), ``replications.json`` (the
        scenario and every variant as run, and the seeds) and, with cycles,
        ``replication_cycles.csv``: all :meth:`load` needs. Written in one output transaction.

        Raises
        ------
        OutputExistsError
            When ``out_dir`` already holds one of these files and ``overwrite`` is false.
        """
        tables = dict(zip(REPLICATION_FILES[:3], (self.runs, self.summary(), self.channels), strict=True))
        writers: dict[str, Callable[[Path], object]] = {name: table.to_csv for name, table in tables.items()}
        if self.cycles is not None:
            writers[CYCLES_FILE] = self.cycles.to_csv
        document = {
            "scenario": scenario_document(self.scenario),
            "seeds": self.seeds,
            "variants": {name: scenario_document(v) for name, v in self.variants.items() if name != BASELINE},
        }
        writers[REPLICATION_DOCUMENT] = json_writer(document)
        return write_files(out_dir, writers, overwrite)

    @classmethod
    def load(cls, folder: str | Path) -> ReplicationResult:
        """Read a ``replicate --out`` folder back (checked against its manifest).

        Raises
        ------
        simulator.common.output.OutputError
            One line naming the folder or file: missing, partial, or not written by ``replicate``.
        """
        path = open_results(folder, (*REPLICATION_FILES, REPLICATION_DOCUMENT), "replicate --out")
        document = read_result_json(path, REPLICATION_DOCUMENT)
        scenario = saved_scenario(document.get("scenario"), str(path / REPLICATION_DOCUMENT))
        variants = {BASELINE: scenario}
        for name, data in dict(document.get("variants") or {}).items():
            variants[str(name)] = saved_scenario(data, f"{path / REPLICATION_DOCUMENT}: variants.{name}")
        cycles = None
        if (path / CYCLES_FILE).is_file():
            cycles = read_result_csv(path, CYCLES_FILE, ["variant", "seed", "cycle"])
        return cls(
            scenario=scenario,
            seeds=[int(seed) for seed in document.get("seeds", [])],
            variants=variants,
            runs=read_result_csv(path, REPLICATION_FILES[0], ["variant", "seed"]),
            channels=read_result_csv(path, REPLICATION_FILES[2], ["variant", "seed", "channel"]),
            cycles=cycles,
        )


def write_tables(
    out_dir: str | Path, tables: Mapping[str, pd.DataFrame], overwrite: bool = False
) -> list[Path]:
    """Write CSV tables into a folder all at once (staged in a temporary folder, then moved).

    Raises
    ------
    OutputExistsError
        When ``out_dir`` already holds one of the files and ``overwrite`` is false.
    """
    return write_files(out_dir, {name: table.to_csv for name, table in tables.items()}, overwrite)


def check_seeds(seeds: Sequence[int], source: str = "replicate") -> list[int]:
    """Validate a list of seeds: at least one, whole numbers in [0, 2**63), no repeats.

    Raises
    ------
    ScenarioError
        One line naming ``source``, ``seeds`` and what is allowed.
    """
    seeds = list(seeds)
    if not seeds:
        raise _argument_error("seeds", "give at least one seed", source)
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**63:
            message = f"seeds must be whole numbers in 0 .. 2**63 - 1, got {seed!r}"
            raise _argument_error("seeds", message, source)
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise _argument_error("seeds", f"seed {repeated[0]} is given twice; give distinct seeds", source)
    return [int(s) for s in seeds]


def replicate(
    scenario: Scenario,
    seeds: Sequence[int],
    variants: Mapping[str, Patch | Scenario] | None = None,
    workers: int = 1,
    metrics: Sequence[str] | None = None,
    progress: bool = False,
    cycle_days: int | None = None,
    measure: Measure | None = None,
    label: str = "replications",
    batch: int | None = None,
    per_seed: SeedScenario | None = None,
) -> ReplicationResult:
    """Run a scenario and its variants on the same seeds (common random numbers).

    Parameters
    ----------
    scenario
        The baseline scenario; it runs as variant ``'base'``.
    seeds
        Seeds every variant runs on (at least one, distinct).
    variants
        Other variants by name: a patch (see :func:`apply_patch`) or a ready scenario.
    workers
        Worker processes (1 runs in this process; at most the CPUs, see
        :func:`~simulator.measure.executor.check_workers`). The result does not depend on it.
    metrics
        Summary KPIs to keep in :attr:`ReplicationResult.runs`; default all.
    progress
        Show a progress bar over runs.
    cycle_days
        When given (days, at least 1), also keep daily totals summed per cycle of that many
        days in :attr:`ReplicationResult.cycles`, e.g. 91 for quarters.
    measure
        When given, a module-level function of a run's :class:`~simulator.SimulationResult`
        returning extra figures by name; they join that run's KPIs in
        :attr:`ReplicationResult.runs` (figures from the per-shopper or order tables, which the
        runs do not keep).
    label
        Name of the phase on the progress bar (``incrementality``, ``final check``...).
    batch
        Runs stepped together as one batch of worlds (:mod:`simulator.engine.batch`); default
        as many as pay (up to :data:`~simulator.engine.batch.BATCH_SHOPPERS` shoppers in all) and
        fit in each worker's share of 80% of the available memory, spread evenly over the
        workers; 1 runs each alone. The result does not depend on it (a world in a
        batch is bit-identical to the world alone). Variants that differ in more than channel
        spend and policies run in batches of their own.
    per_seed
        When given, variant ``v`` runs on seed ``s`` as ``per_seed(v, s)`` instead of ``v``:
        every variant of a seed gets the same change (for a posterior ensemble, the same
        member's parameters), so the paired differences stay paired and their intervals hold
        the spread of what ``per_seed`` varies as well as the simulation noise. The result's
        :attr:`~ReplicationResult.variants` are the variants as given.

    Returns
    -------
    ReplicationResult
        Runs indexed by (``variant``, ``seed``), per-channel totals, and :meth:`~ReplicationResult.summary`.

    Raises
    ------
    ScenarioError
        One line for an empty or repeated seed list, ``workers`` out of range, a variant named
        ``'base'``, a patch with an unknown channel or that breaks the schema, or a run too
        large for the memory.
    """
    seed_list = check_seeds(seeds)
    workers = check_workers(workers)
    built: dict[str, Scenario] = {BASELINE: scenario}
    for name, variant in (variants or {}).items():
        if name == BASELINE:
            raise _argument_error(
                "variants", f"'{BASELINE}' is the unpatched scenario; name variants otherwise"
            )
        built[name] = variant if isinstance(variant, Scenario) else apply_patch(scenario, variant, name)
    for name, variant in built.items():
        check_memory(variant, name)
    if cycle_days is not None and (not isinstance(cycle_days, int) or cycle_days < 1):
        raise _argument_error("cycle_days", f"must be a whole number of days >= 1, got {cycle_days!r}")

    if batch is not None and (not isinstance(batch, int) or batch < 1):
        raise _argument_error("batch", f"must be a whole number of runs >= 1, got {batch!r}")
    tasks = [(name, seed) for name in built for seed in seed_list]
    scenarios = [built[name] if per_seed is None else per_seed(built[name], seed) for name, seed in tasks]
    groups = _batches(scenarios, workers, batch)
    runs_of = [[(scenarios[i], tasks[i][1]) for i in group] for group in groups]
    ordered = [tasks[i] for group in groups for i in group]
    # A run depends only on its scenario and seed, so it is the same in any process and any batch.
    totals = get_executor(workers, source="replicate").map(
        partial(_run_batch, cycle_days, measure),
        runs_of,
        label=label,
        progress=progress,
        weights=[len(runs) for runs in runs_of],
    )
    outcomes = dict(zip(ordered, [t for group in totals for t in group], strict=True))

    # Rows in (variant, seed) order as given, whatever order the workers finished in.
    index = pd.MultiIndex.from_tuples(tasks, names=["variant", "seed"])
    runs = pd.DataFrame([outcomes[task][0] for task in tasks], index=index)
    if metrics is not None:
        unknown = [m for m in metrics if m not in runs.columns]
        if unknown:
            raise _argument_error(
                "metrics", f"unknown KPI '{unknown[0]}'; KPIs are: {', '.join(runs.columns)}"
            )
        runs = runs[list(metrics)]
    channel_rows = [
        (name, seed, channel, *values)
        for name, seed in tasks
        for channel, values in outcomes[(name, seed)][1].items()
    ]
    channels = pd.DataFrame(channel_rows, columns=["variant", "seed", "channel", *CHANNEL_TOTALS]).set_index(
        ["variant", "seed", "channel"]
    )
    cycles = None
    if cycle_days is not None:
        cycle_rows = [
            (name, seed, cycle, *values)
            for name, seed in tasks
            for cycle, values in enumerate(outcomes[(name, seed)][2])
        ]
        cycles = pd.DataFrame(cycle_rows, columns=["variant", "seed", "cycle", *CYCLE_TOTALS]).set_index(
            ["variant", "seed", "cycle"]
        )
    return ReplicationResult(
        scenario=scenario, seeds=seed_list, variants=built, runs=runs, channels=channels, cycles=cycles
    )
