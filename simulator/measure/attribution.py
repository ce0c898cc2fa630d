"""Attribution models graded against the simulator's ground truth.

Models (credit of each converting path split over channels; see :func:`attribute`):

``first_touch``, ``last_touch``
    All credit to the first / last touch of the path. The last touch is the order itself, in
    the channel where the order closed.
``linear``
    Equal credit to every touch (a channel touching the shopper three times gets three shares).
``position_based``
    40% to the first touch, 40% to the last, 20% split over the touches between (a path of
    one touch gives it everything, of two touches half each); weights configurable.
``time_decay``
    Touch weight ``2 ** (-(conversion day - touch day) / half_life_days)``, normalized per path.
``markov``
    First-order Markov chain over start, channels, conversion and null, fitted on converting
    and non-converting paths (consecutive touches of one channel collapsed into one state).
    A channel's removal effect is the relative fall in the chance to reach conversion from
    start when every transition into the channel goes to null instead; credit is the removal
    effects normalized to sum to 1, times the total.
``shapley``
    Exact Shapley value over all ``2 ** C`` coalitions of channels, with the coalition
    conversion value ``v(S)`` = conversions (or revenue) of the converting paths whose set of
    channels is a subset of ``S``. For this characteristic function the Shapley value gives
    each path's value in equal parts to its distinct channels (a sum of unanimity games), which
    the tests check against the enumeration.

Ground truth (:func:`true_incremental`): the same seeds are run as they are and with one
channel's media spend removed (``daily_spend`` and every ``budget_plan`` period at 0); the
channel's incremental conversions (new customers) and first-order revenue are the paired
differences, averaged over seeds with their standard error. Channels that spend nothing have
a truth of exactly 0 and are not re-run. Conversions that happen without any spend (organic
discovery and visits, pre-existing awareness) belong to no channel's spend, so the comparison
is in *shares*: each model's share of credit per channel against the channel's share of the
summed incremental conversions (:func:`evaluate_attribution`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..common.format import frame_text
from ..common.reading import open_results, read_result_csv, read_result_json
from ..common.tables import write_table
from ..config.scenario import Scenario
from ..engine.results import SimulationResult, write_files
from ..engine.simulate import simulate
from ..engine.touchpaths import TouchKind, TouchPaths
from .executor import get_executor
from .saved import json_writer, saved_scenario, scenario_document

__all__ = [
    "BASES",
    "MODELS",
    "AttributionReport",
    "attribute",
    "attribution_files",
    "evaluate_attribution",
    "markov_removal_effects",
    "shapley_values",
    "true_incremental",
    "without_spend",
]

MODELS = ("first_touch", "last_touch", "linear", "position_based", "time_decay", "markov", "shapley")
"""Attribution models, in table order."""
BASES = ("conversions", "revenue")
"""What is attributed: conversions (people) and first-order revenue (currency)."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class _PathArrays:
    """Touch paths as flat arrays (converted and open paths), in the path tables' order."""

    touch_path: IntArray
    touch_channel: IntArray
    touch_day: IntArray
    position: IntArray
    length: IntArray
    converted: npt.NDArray[np.bool_]
    conversion_day: IntArray
    value: FloatArray
    n_channels: int

    @classmethod
    def from_paths(cls, paths: TouchPaths, basis: str) -> _PathArrays:
        if basis not in BASES:
            raise ValueError(f"basis must be one of {', '.join(BASES)}, got {basis!r}")
        table, touches = paths.paths, paths.touches
        converted = table["converted"].to_numpy(dtype=np.bool_)
        per_path = np.ones(len(table)) if basis == "conversions" else table["value"].to_numpy(np.float64)
        return cls(
            touch_path=touches["path_id"].to_numpy(np.int64),
            touch_channel=touches["channel"].cat.codes.to_numpy().astype(np.int64),
            touch_day=touches["day"].to_numpy(np.int64),
            position=touches["position"].to_numpy(np.int64),
            length=table["touches"].to_numpy(np.int64),
            converted=converted,
            conversion_day=table["day"].to_numpy(np.int64),
            value=np.where(converted, per_path, 0.0) * paths.scale,
            n_channels=len(paths.channels),
        )


def _heuristic_weights(
    arrays: _PathArrays, model: str, half_life_days: float, position_weights: tuple[float, float, float]
) -> FloatArray:
    """Weight of each touch within its path (the weights of a path add up to 1)."""
    length = arrays.length[arrays.touch_path]
    position = arrays.position
    first, last = position == 0, position == length - 1
    if model == "first_touch":
        return np.asarray(first, dtype=np.float64)
    if model == "last_touch":
        return np.asarray(last, dtype=np.float64)
    if model == "linear":
        return 1.0 / length
    if model == "position_based":
        w_first, w_middle, w_last = position_weights
        middle = w_middle / np.maximum(length - 2, 1)
        weight = np.where(first, w_first, np.where(last, w_last, middle))
        # Short paths have no middle: share the ends' weight (one touch: all; two touches: by ends).
        two = length == 2
        weight = np.where(two, np.where(first, w_first, w_last) / (w_first + w_last), weight)
        return np.where(length == 1, 1.0, weight)
    if model == "time_decay":
        age = (arrays.conversion_day[arrays.touch_path] - arrays.touch_day).astype(np.float64)
        raw = np.exp2(-age / half_life_days)
        total = np.bincount(arrays.touch_path, weights=raw, minlength=arrays.length.size)
        return raw / total[arrays.touch_path]
    raise ValueError(f"unknown heuristic model {model!r}")


def _collapsed_states(arrays: _PathArrays) -> tuple[IntArray, IntArray]:
    """Touches with repeats of the previous touch's channel in the same path removed."""
    path, channel = arrays.touch_path, arrays.touch_channel
    keep = np.ones(path.size, dtype=np.bool_)
    keep[1:] = (path[1:] != path[:-1]) | (channel[1:] != channel[:-1])
    return path[keep], channel[keep]


def markov_removal_effects(
    path: IntArray, channel: IntArray, converted: npt.NDArray[np.bool_], n_channels: int
) -> FloatArray:
    """Removal effect of each channel in a first-order Markov chain of paths.

    Parameters
    ----------
    path, channel
        Path id and channel index of each touch, in time order within each path; path ids are
        ``0..len(converted) - 1`` and every path has at least one touch.
    converted
        Whether each path ended in a conversion (else in null).
    n_channels
        Number of channels (C).

    Returns
    -------
    numpy.ndarray
        ``1 - P(conversion | channel removed) / P(conversion)`` per channel (share 0-1); zeros
        when no path converts.
    """
    start, conversion, null = n_channels, n_channels + 1, n_channels + 2
    n_states = n_channels + 3
    counts = np.zeros((n_states, n_states))
    if path.size == 0:
        return np.zeros(n_channels)
    first = np.ones(path.size, dtype=np.bool_)
    first[1:] = path[1:] != path[:-1]
    last = np.ones(path.size, dtype=np.bool_)
    last[:-1] = path[1:] != path[:-1]
    np.add.at(counts, (np.full(int(first.sum()), start), channel[first]), 1.0)
    inner = ~last
    np.add.at(counts, (channel[inner], channel[np.flatnonzero(inner) + 1]), 1.0)
    ends = np.where(converted[path[last]], conversion, null)
    np.add.at(counts, (channel[last], ends), 1.0)
    rows = counts.sum(axis=1, keepdims=True)
    transition = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    transient = [*range(n_channels), start]

    def conversion_chance(removed: int | None) -> float:
        matrix = transition.copy()
        if removed is not None:
            matrix[:, removed] = 0.0  # moves into the removed channel end in null instead
        q = matrix[np.ix_(transient, transient)]
        r = matrix[transient, conversion]
        absorbed = np.linalg.solve(np.eye(len(transient)) - q, r)
        return float(absorbed[-1])

    base = conversion_chance(None)
    if base <= 0:
        return np.zeros(n_channels)
    return np.array([1.0 - conversion_chance(c) / base for c in range(n_channels)])


def shapley_values(coalition_value: Callable[[int], float], n_players: int) -> FloatArray:
    """Exact Shapley values of a cooperative game, enumerating all ``2 ** n_players`` coalitions.

    Parameters
    ----------
    coalition_value
        ``v(S)`` of a coalition given as a bit mask (bit ``i`` set: player ``i`` is in it);
        ``v(0)`` should be 0.
    n_players
        Number of players (at most 16).

    Returns
    -------
    numpy.ndarray
        Each player's Shapley value; they add up to ``v(all) - v(0)``.
    """
    if not 0 < n_players <= 16:
        raise ValueError(f"exact Shapley values need 1-16 players, got {n_players}")
    size = 1 << n_players
    values = np.array([coalition_value(mask) for mask in range(size)], dtype=np.float64)
    members = np.array([bin(mask).count("1") for mask in range(size)])
    weight = np.array(
        [
            math.factorial(k) * math.factorial(n_players - k - 1) / math.factorial(n_players)
            for k in range(n_players)
        ]
    )
    result = np.zeros(n_players)
    masks = np.arange(size)
    for player in range(n_players):
        without = masks[(masks >> player) & 1 == 0]
        gain = values[without | (1 << player)] - values[without]
        result[player] = float(np.sum(weight[members[without]] * gain))
    return result


def _shapley_credit(arrays: _PathArrays) -> FloatArray:
    converted_touch = arrays.converted[arrays.touch_path]
    path, channel = arrays.touch_path[converted_touch], arrays.touch_channel[converted_touch]
    bits = np.zeros(arrays.length.size, dtype=np.int64)
    np.bitwise_or.at(bits, path, np.left_shift(1, channel))
    n = arrays.n_channels
    by_set = np.bincount(bits[arrays.converted], weights=arrays.value[arrays.converted], minlength=1 << n)
    # v(S) = value of the paths whose channel set is a subset of S (sum over subsets, per bit).
    subset_sum = by_set.copy()
    for bit in range(n):
        has = (np.arange(1 << n) >> bit) & 1 == 1
        subset_sum[has] += subset_sum[np.flatnonzero(has) ^ (1 << bit)]
    return shapley_values(lambda mask: float(subset_sum[mask]), n)


def attribute(
    paths: TouchPaths,
    basis: str = "conversions",
    half_life_days: float = 7.0,
    position_weights: tuple[float, float, float] = (0.4, 0.2, 0.4),
    models: Sequence[str] = MODELS,
) -> pd.DataFrame:
    """Credit each channel with conversions or revenue under each attribution model.

    Parameters
    ----------
    paths
        Recorded touch paths (``simulate(..., record_paths=True).paths``).
    basis
        ``conversions`` (people: each converting path is worth ``scale``) or ``revenue``
        (first-order revenue net of discounts, currency of the real market).
    half_life_days
        Half-life of the time-decay model (days).
    position_weights
        Shares of the first touch, the touches between and the last touch (position-based).
    models
        Which models to run (names from :data:`MODELS`).

    Returns
    -------
    pandas.DataFrame
        Index ``channel``, one column per model; each column adds up to the total attributed.
    """
    if half_life_days <= 0:
        raise ValueError(f"half_life_days must be positive, got {half_life_days}")
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValueError(f"unknown attribution model(s) {unknown}; choose from {', '.join(MODELS)}")
    arrays = _PathArrays.from_paths(paths, basis)
    n = arrays.n_channels
    total = float(arrays.value.sum())
    credit: dict[str, FloatArray] = {}
    for model in models:
        if model == "markov":
            path, channel = _collapsed_states(arrays)
            effect = markov_removal_effects(path, channel, arrays.converted, n)
            scale = effect.sum()
            credit[model] = effect / scale * total if scale > 0 else np.zeros(n)
        elif model == "shapley":
            credit[model] = _shapley_credit(arrays)
        else:
            weight = _heuristic_weights(arrays, model, half_life_days, position_weights)
            credit[model] = np.bincount(
                arrays.touch_channel, weights=weight * arrays.value[arrays.touch_path], minlength=n
            ).astype(np.float64)
    return pd.DataFrame(credit, index=pd.Index(paths.channels, name="channel"))


def without_spend(scenario: Scenario, channel: str) -> Scenario:
    """The scenario with one channel's media spend removed (daily spend and budget plan at 0)."""
    data = scenario.model_dump(mode="python")
    for config in data["channels"]:
        if config["name"] == channel:
            config["daily_spend"] = 0.0
            for period in config["budget_plan"]:
                period["daily_spend"] = 0.0
            break
    else:
        raise ValueError(f"no channel named {channel!r}; channels: {', '.join(scenario.channel_names)}")
    return Scenario.model_validate(data)


def _outcomes(result: SimulationResult) -> tuple[float, float]:
    """New customers (people) and their first orders' revenue (currency) of a recorded run."""
    assert result.paths is not None
    conversions = result.paths.conversions
    return float(len(conversions) * result.paths.scale), float(
        conversions["value"].sum() * result.paths.scale
    )


@dataclass(frozen=True)
class _Run:
    """One run with touch paths (a task of the executor): the scenario, its seed, what to keep."""

    scenario: Scenario
    seed: int
    models: tuple[float, tuple[float, float, float]] | None = None
    """Half-life and position weights: attribute the paths (base runs); ``None`` for removals."""
    keep_paths: bool = False


@dataclass(frozen=True)
class _Outcome:
    """What a run hands back (small, picklable): its outcomes, models' credit, maybe its paths."""

    outcome: tuple[float, float]
    credit: dict[str, pd.DataFrame] | None
    paths: TouchPaths | None


def _run(task: _Run) -> _Outcome:
    result = simulate(task.scenario, seed=task.seed, record_paths=True)
    assert result.paths is not None
    credit = None
    if task.models is not None:
        half_life, weights = task.models
        credit = {basis: attribute(result.paths, basis, half_life, weights) for basis in BASES}
    return _Outcome(_outcomes(result), credit, result.paths if task.keep_paths else None)


def _horizon_spend(scenario: Scenario) -> dict[str, float]:
    """Media spend of each channel over the horizon (currency), budget plan included."""
    spend = {}
    for config in scenario.channels:
        plan = np.full(scenario.horizon_days, config.daily_spend)
        for period in config.budget_plan:
            plan[period.start_day : min(period.end_day, scenario.horizon_days - 1) + 1] = period.daily_spend
        spend[config.name] = float(plan.sum())
    return spend


def _removal_runs(scenario: Scenario, seeds: Sequence[int]) -> list[_Run]:
    """Each spending channel's scenario without its spend, on every seed (channel by channel)."""
    spending = [name for name, spend in _horizon_spend(scenario).items() if spend > 0]
    return [_Run(without_spend(scenario, name), seed) for name in spending for seed in seeds]


def _truth(scenario: Scenario, base: FloatArray, removals: Sequence[_Outcome]) -> pd.DataFrame:
    """The truth table from the base outcomes (seed x 2) and the removal runs' outcomes."""
    n = len(base)
    rows = []
    for name, spend in _horizon_spend(scenario).items():
        if spend <= 0:
            rows.append((name, 0.0, 0.0, 0.0, 0.0, spend))
            continue
        outcome = [run.outcome for run in removals[:n]]
        removals = removals[n:]
        delta = base - np.array(outcome)
        se = delta.std(axis=0, ddof=1) / math.sqrt(n) if n > 1 else np.full(2, np.nan)
        rows.append((name, *delta.mean(axis=0), *se, spend))
    frame = pd.DataFrame(
        [(name, conv, rev, conv_se, rev_se, spend) for name, conv, rev, conv_se, rev_se, spend in rows],
        columns=["channel", "conversions", "revenue", "conversions_se", "revenue_se", "spend"],
    )
    return frame.set_index("channel")


def true_incremental(
    scenario: Scenario,
    seeds: Sequence[int],
    base_results: Sequence[SimulationResult] | None = None,
    progress: bool = False,
    workers: int = 1,
) -> pd.DataFrame:
    """True incremental new customers and first-order revenue of each channel's spend.

    Parameters
    ----------
    scenario
        The scenario as run.
    seeds
        Seeds of the paired runs (common random numbers: the base and each removal share them).
    base_results
        Base runs already made on ``seeds`` with ``record_paths=True`` (re-run when ``None``).
    progress
        Show a progress bar over the runs (phase ``attribution``).
    workers
        Worker processes for the runs (see :func:`~simulator.measure.executor.check_workers`);
        the result does not depend on it.

    Returns
    -------
    pandas.DataFrame
        Index ``channel``; columns ``conversions`` and ``revenue`` (mean paired difference, people
        and currency over the horizon), ``conversions_se`` and ``revenue_se`` (standard errors
        over seeds; NaN with one seed) and ``spend`` (media spend over the horizon, currency).
    """
    seeds = list(seeds)
    if not seeds:
        raise ValueError("at least one seed is needed")
    tasks = [] if base_results is not None else [_Run(scenario, seed) for seed in seeds]
    tasks += _removal_runs(scenario, seeds)
    runs = get_executor(workers, source="attribution").map(
        _run, tasks, label="attribution", progress=progress
    )
    if base_results is None:
        base = np.array([run.outcome for run in runs[: len(seeds)]])
        runs = runs[len(seeds) :]
    else:
        base = np.array([_outcomes(result) for result in base_results])
    return _truth(scenario, base, runs)


@dataclass
class AttributionReport:
    """Attribution models' credit per channel next to the true incremental contribution.

    Attributes
    ----------
    scenario : Scenario
        The scenario as run.
    seeds : list of int
        Seeds of the runs (models are averaged over the base runs of these seeds).
    truth : pandas.DataFrame
        :func:`true_incremental` of every channel.
    credit : dict of pandas.DataFrame
        By basis (``conversions``, ``revenue``): channel x model credit, mean over seeds.
    paths : TouchPaths or None
        The touch paths of the first seed's base run (None when loaded from a folder without them).
    """

    scenario: Scenario
    seeds: list[int]
    truth: pd.DataFrame
    credit: dict[str, pd.DataFrame]
    paths: TouchPaths | None
    models: list[str] = field(default_factory=lambda: list(MODELS))

    def table(self, basis: str = "conversions") -> pd.DataFrame:
        """Shares of credit per channel: the truth (with its standard error) and each model.

        The truth share is a channel's incremental value over the sum of all channels'
        incremental values; its standard error is the channel's standard error over that sum.
        """
        truth = self.truth[basis]
        total = float(truth.sum())
        credit = self.credit[basis]
        # No incremental value at all (a tiny or spend-free run): shares are undefined, not an error.
        table = pd.DataFrame(
            {
                "truth_share": truth / total if total != 0 else np.nan,
                "truth_share_se": self.truth[f"{basis}_se"] / abs(total) if total != 0 else np.nan,
            },
            index=truth.index,
        )
        for model in self.models:
            column = credit[model]
            table[model] = column / column.sum() if column.sum() > 0 else np.nan
        table.index.name = "channel"
        return table

    def errors(self, basis: str = "conversions") -> pd.DataFrame:
        """Per model: signed error of its share per channel (model - truth) and the mean absolute error."""
        table = self.table(basis)
        signed = table[self.models].sub(table["truth_share"], axis=0).T
        signed.index.name = "model"
        signed.insert(0, "mean_abs_error", signed.abs().mean(axis=1))
        return signed

    def tidy(self) -> pd.DataFrame:
        """One row per (basis, channel, source): credit, share, its standard error, signed error.

        ``source`` is ``truth`` or a model; rows with channel ``mean_abs_error`` hold each model's
        mean absolute error of shares in ``error``. Credit is in people (conversions) or currency
        (revenue); ``credit_se`` and ``share_se`` are the truth's standard errors over seeds.
        """
        frames = []
        for basis in BASES:
            table = self.table(basis)
            truth = pd.DataFrame(
                {
                    "source": "truth",
                    "credit": self.truth[basis],
                    "credit_se": self.truth[f"{basis}_se"],
                    "share": table["truth_share"],
                    "share_se": table["truth_share_se"],
                    "error": 0.0,
                }
            )
            models = pd.DataFrame(
                {
                    "source": np.repeat(self.models, len(table)),
                    "credit": self.credit[basis][self.models].to_numpy().T.ravel(),
                    "credit_se": np.nan,
                    "share": table[self.models].to_numpy().T.ravel(),
                    "share_se": np.nan,
                    "error": table[self.models].sub(table["truth_share"], axis=0).to_numpy().T.ravel(),
                },
                index=pd.Index(np.tile(table.index.to_numpy(), len(self.models)), name="channel"),
            )
            errors = pd.DataFrame(
                {"source": self.models, "error": self.errors(basis)["mean_abs_error"].to_numpy()},
                index=pd.Index(["mean_abs_error"] * len(self.models), name="channel"),
            )
            frame = pd.concat([truth, models, errors]).reset_index()
            frame.insert(0, "basis", basis)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)[
            ["basis", "channel", "source", "credit", "credit_se", "share", "share_se", "error"]
        ]

    def to_text(self, basis: str = "conversions") -> str:
        """The shares table and each model's errors as text for a terminal."""
        table = self.table(basis)
        errors = self.errors(basis)
        unit = (
            "new customers"
            if basis == "conversions"
            else f"first-order revenue ({self.scenario.economics.currency})"
        )
        shown = table.copy()
        shown.insert(0, "truth", self.truth[basis])
        truth_unit = "count" if basis == "conversions" else "money"
        lines = [
            f"Share of credit per channel - {unit}; truth = incremental {unit} when the channel's spend "
            f"is removed, {len(self.seeds)} seed(s) {', '.join(map(str, self.seeds))}",
            frame_text(shown, units=dict.fromkeys(shown.columns, "percent") | {"truth": truth_unit}),
            "error of share (model - truth, percentage points)",
            frame_text(errors, units=dict.fromkeys(errors.columns, "percent"), signed=True),
        ]
        if float(self.truth[basis].sum()) == 0:
            lines.append(
                f"Note: no channel's spend changed the {unit} on these seeds (truth 0 for all), so "
                "true shares and the models' errors are undefined (NaN); use more agents, days or seeds."
            )
        return "\n".join(lines)

    def save(
        self, out_dir: str | Path, overwrite: bool = False, paths: bool = False, table_format: str = "csv"
    ) -> list[Path]:
        """Write ``attribution.csv`` (:meth:`tidy`) and, with ``paths``, the first seed's touch paths.

        Also ``attribution_truth.csv`` (:attr:`truth`) and ``attribution.json`` (the scenario
        as run, the seeds and the models), so that :meth:`load` rebuilds the report.
        ``paths.csv`` has one row per path and ``touches.csv`` one row per touch
        (:class:`simulator.engine.touchpaths.TouchPaths`); ``paths.parquet`` and ``touches.parquet``
        with ``table_format="parquet"``. Files are staged in a temporary folder and moved in place
        only when all are written.

        Raises
        ------
        OutputExistsError
            When ``out_dir`` holds one of these files and ``overwrite`` is false.
        ValueError
            With ``paths`` when the report holds no touch paths (loaded without them).
        """
        document = {"scenario": scenario_document(self.scenario), "seeds": self.seeds, "models": self.models}
        writers: dict[str, Callable[[Path], object]] = {
            "attribution.csv": lambda path: self.tidy().to_csv(path, index=False),
            TRUTH_FILE: self.truth.to_csv,
            DOCUMENT_FILE: json_writer(document),
        }
        if paths:
            if self.paths is None:
                raise ValueError("this attribution report holds no touch paths to write")
            recorded = self.paths
            writers[f"paths.{table_format}"] = lambda path: write_table(recorded.paths, path)
            writers[f"touches.{table_format}"] = lambda path: write_table(recorded.touches, path, index=False)
        return write_files(out_dir, writers, overwrite)

    @classmethod
    def load(cls, folder: str | Path) -> AttributionReport:
        """Read an ``attribution --out`` folder back (checked against its manifest).

        The touch paths come back when the folder holds them (``--paths``), else ``paths`` is None.

        Raises
        ------
        simulator.common.output.OutputError
            One line naming the folder or file: missing, partial, or not written by ``attribution``.
        """
        path = open_results(folder, attribution_files(), "attribution --out")
        document = read_result_json(path, DOCUMENT_FILE)
        scenario = saved_scenario(document.get("scenario"), str(path / DOCUMENT_FILE))
        models = [str(m) for m in document.get("models", MODELS)]
        truth = read_result_csv(path, TRUTH_FILE, ["channel"])
        tidy = read_result_csv(path, "attribution.csv", columns=["basis", "channel", "source", "credit"])
        credit = {}
        for basis in BASES:
            rows = tidy[(tidy["basis"] == basis) & tidy["source"].isin(models)]
            rows = rows[rows["channel"] != "mean_abs_error"]
            table = rows.pivot(index="channel", columns="source", values="credit")
            credit[basis] = table.reindex(index=truth.index, columns=models).rename_axis(columns=None)
        paths = None
        if (path / "paths.csv").is_file() and (path / "touches.csv").is_file():
            paths = _read_paths(path, scenario)
        return cls(
            scenario=scenario,
            seeds=[int(s) for s in document.get("seeds", [])],
            truth=truth,
            credit=credit,
            paths=paths,
            models=models,
        )


def _read_paths(folder: Path, scenario: Scenario) -> TouchPaths:
    """The touch paths saved with ``--paths``, with the categories the recorder gives them."""
    channels = pd.CategoricalDtype(scenario.channel_names)
    paths = read_result_csv(folder, "paths.csv", ["path_id"]).astype({"channel": channels})
    touches = read_result_csv(folder, "touches.csv", columns=["path_id", "channel", "kind"])
    touches = touches.astype(
        {"channel": channels, "kind": pd.CategoricalDtype([k.name.lower() for k in TouchKind])}
    )
    return TouchPaths(
        paths=paths, touches=touches, channels=scenario.channel_names, scale=scenario.population.scale
    )


TRUTH_FILE = "attribution_truth.csv"
DOCUMENT_FILE = "attribution.json"


def attribution_files(paths: bool = False, table_format: str = "csv") -> tuple[str, ...]:
    """Names of the files :meth:`AttributionReport.save` writes."""
    files = ("attribution.csv", TRUTH_FILE, DOCUMENT_FILE)
    return (*files, f"paths.{table_format}", f"touches.{table_format}") if paths else files


def evaluate_attribution(
    scenario: Scenario,
    seeds: Sequence[int],
    half_life_days: float = 7.0,
    position_weights: tuple[float, float, float] = (0.4, 0.2, 0.4),
    progress: bool = False,
    workers: int = 1,
) -> AttributionReport:
    """Run the scenario on each seed with touch paths, attribute, and measure the truth.

    Parameters
    ----------
    scenario
        The scenario (shrink it with ``with_overrides`` for a quick look).
    seeds
        Seeds of the paired runs; one base run and one run per spending channel each.
    half_life_days
        Half-life of the time-decay model (days).
    position_weights
        First / middle / last shares of the position-based model.
    progress
        Show a progress bar over the runs (phase ``attribution``: count and time left).
    workers
        Worker processes for the runs (see :func:`~simulator.measure.executor.check_workers`);
        the report does not depend on it.

    Returns
    -------
    AttributionReport
        Models' credit and the truth, with :meth:`AttributionReport.table` of shares.
    """
    seeds = list(seeds)
    if not seeds:
        raise ValueError("at least one seed is needed")
    models = (half_life_days, position_weights)
    tasks = [_Run(scenario, seed, models, keep_paths=k == 0) for k, seed in enumerate(seeds)]
    tasks += _removal_runs(scenario, seeds)
    runs = get_executor(workers, source="attribution").map(
        _run, tasks, label="attribution", progress=progress
    )
    base, removals = runs[: len(seeds)], runs[len(seeds) :]
    credit = {}
    for basis in BASES:
        frames = [run.credit[basis] for run in base if run.credit is not None]
        credit[basis] = sum(frames[1:], frames[0]) / len(frames)
    truth = _truth(scenario, np.array([run.outcome for run in base]), removals)
    assert base[0].paths is not None
    return AttributionReport(scenario=scenario, seeds=seeds, truth=truth, credit=credit, paths=base[0].paths)
