"""The result of a policy search: the recommendation, the trials, the check, and its files."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.common.format import format_value, unit_of
from simulator.common.reading import open_results, read_result_csv, read_result_json
from simulator.config.scenario import Scenario
from simulator.config.search import SearchSettings
from simulator.engine.results import write_files
from simulator.measure.saved import saved_scenario, scenario_document

from ..allocate import (
    curves_document,
    curves_from_document,
    frame_document,
    frame_from_document,
    jsonable,
    rebuilding,
    saved_state,
)
from ..curves import ResponseCurves
from ..objectives import COST_METRICS, OBJECTIVES, get_objective
from ..recommendation import Verdict, headline, verdict_from_dict
from ..uncertainty import posterior_lines
from .space import policy_table, search_settings

__all__ = ["OPTIMIZATION_FILES", "OptimizationResult", "channel_table", "number_text", "trial_number"]

OPTIMIZATION_FILES = ("recommendation.json", "trials.csv", "pareto.csv", "response_curves.csv")
"""Files written by :meth:`OptimizationResult.save`."""


@dataclass
class OptimizationResult:
    """The recommended policy and budget split, the search that found it and the final check.

    Attributes
    ----------
    scenario : Scenario
        The scenario searched (overrides applied).
    settings : SearchSettings
        The search settings used.
    study_name : str
        Name of the Optuna study.
    storage : str or None
        Storage URL of the study, password masked (``None``: in memory, not kept).
    trials : pandas.DataFrame
        One row per trial (``number``): ``state``, every objective
        (:data:`~optimizer.objectives.OBJECTIVES`) with its 95% interval over the trial's seeds,
        ``pareto`` (on the Pareto front, or the best for one objective), ``invalid`` (why a
        policy was refused), ``sim_seconds``, and one column per parameter.
    pareto : pandas.DataFrame
        The Pareto-optimal trials (for one objective: the best trial), same columns.
    candidates : pandas.DataFrame
        The selection runs: per candidate (policy x plan), mean and 95% interval of each
        metric and the paired change from the current plan.
    comparison : pandas.DataFrame
        The final check on fresh seeds: per metric, current and recommended mean with
        intervals, and the paired change with its interval.
    chosen : str
        The chosen candidate (``current``, ``current+lp``, ``trial N``, ``trial N+lp``).
    policy : dict
        The chosen policy's parameters (empty when the current policies are kept).
    plan : dict
        Recommended total spend per channel over the horizon (currency).
    channels : pandas.DataFrame
        Per channel: current and recommended spend (currency) and, with curves, the curve's
        outcome at each, the marginal measure of return at the recommended spend (for profit:
        ``marginal_roi``, break-even 0), the largest measured spend and whether the plan stays
        within it.
    curves : ResponseCurves or None
        The response curves the LP used.
    timings : dict
        Seconds spent: search wall time, simulation within trials (process-seconds), other
        work of the search (sampler, storage), curves, LP, selection and check runs.
    verdict : Verdict
        ``recommend``, ``keep current plan`` or ``not confirmed: run larger``, with the reason
        and what to run next (:func:`optimizer.recommendation.decide` on the first objective;
        a second objective and the guard-rails must not get significantly worse).
    notes : list of str
        What the reader should know (differences within the noise, invalid trials...).
    posterior : dict or None
        With a posterior ensemble (``optimize --posterior``): its folder, the members used on
        the check's seeds and how much of the check's interval is parameter uncertainty
        (:func:`optimizer.uncertainty.posterior_document`); ``None`` without.
    """

    scenario: Scenario
    settings: SearchSettings
    study_name: str
    storage: str | None
    trials: pd.DataFrame
    pareto: pd.DataFrame
    candidates: pd.DataFrame
    comparison: pd.DataFrame
    chosen: str
    policy: dict[str, Any]
    plan: dict[str, float]
    channels: pd.DataFrame
    curves: ResponseCurves | None
    timings: dict[str, float]
    verdict: Verdict
    notes: list[str] = field(default_factory=list)
    posterior: dict[str, Any] | None = None

    @property
    def objective(self) -> list[str]:
        """The searched objectives (names of :data:`~optimizer.objectives.OBJECTIVES`)."""
        return list(self.settings.objective)

    def significance(self, metric: str) -> str:
        """``better``, ``worse`` or ``within the noise``: the paired change's 95% interval vs 0.

        For costs (:data:`COST_METRICS`: marketing spend, program costs) a rise is ``higher``
        and a fall ``lower``: whether paying more is worth it is what profit and ROI say.
        """
        row = self.comparison.loc[metric]
        up, down = ("higher", "lower") if metric in COST_METRICS else ("better", "worse")
        if row["change_low"] > 0:
            return up
        if row["change_high"] < 0:
            return down
        return "within the noise"

    def to_dict(self) -> dict[str, Any]:
        """Everything of ``recommendation.json`` (the report reads it; see :mod:`reports.report`)."""
        c = self.comparison
        chosen_trial = trial_number(self.chosen)
        return {
            "verdict": self.verdict.to_dict(),
            "headline": self.headline(),
            "scenario": self.scenario.name,
            "objective": str(self.objective[0]),
            "objectives": [str(m) for m in self.objective],
            "currency": self.scenario.economics.currency,
            "horizon_days": self.scenario.horizon_days,
            "seeds": int(c.attrs.get("seeds", 0)),
            "budget": float(sum(self.plan.values())),
            "chosen": self.chosen,
            "chosen_trial": chosen_trial,
            "policy": {k: _finite(v) for k, v in self.policy.items()},
            "policy_table": policy_table(self.policy, self.scenario),
            "plan": {k: float(v) for k, v in self.plan.items()},
            "channels": [{str(k): _finite(v) for k, v in row.items()} for row in _rows(self.channels)],
            "expected": {
                metric: {
                    part: {
                        "mean": _finite(c.loc[metric, part]),
                        "low": _finite(c.loc[metric, f"{part}_low"]),
                        "high": _finite(c.loc[metric, f"{part}_high"]),
                    }
                    for part in ("current", "recommended", "change")
                }
                for metric in c.index
            },
            "significance": {metric: self.significance(metric) for metric in c.index},
            "guard_rails": list(self.settings.guard_rails),
            "agents": self.scenario.population.agents,
            "metrics": {
                name: f"{entry.label} over the horizon ({entry.unit})"
                for name, entry in OBJECTIVES.items()
                if name in c.index
            },
            "candidates": [{str(k): _finite(v) for k, v in row.items()} for row in _rows(self.candidates)],
            "study_name": self.study_name,
            "storage": self.storage,
            "trials": {
                "finished": int(self.trials["state"].isin(["COMPLETE", "PRUNED"]).sum()),
                "complete": int((self.trials["state"] == "COMPLETE").sum()),
                "pruned": int((self.trials["state"] == "PRUNED").sum()),
                "invalid": int(self.trials["invalid"].notna().sum()),
                "pareto": int(len(self.pareto)),
                "pareto_groups": int(self.pareto["noise_group"].nunique()) if len(self.pareto) else 0,
                "seeds_per_trial": self.settings.seeds,
            },
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "notes": list(self.notes),
        } | ({} if self.posterior is None else {"posterior": jsonable(self.posterior)})

    def headline(self) -> str:
        """The verdict and the plan in one sentence (the report's headline)."""
        channels = [{str(k): v for k, v in row.items()} for row in _rows(self.channels)]
        currency = self.scenario.economics.currency
        expected = {
            str(metric): {
                part: {
                    "mean": _finite(self.comparison.loc[metric, part]),
                    "low": _finite(self.comparison.loc[metric, f"{part}_low"]),
                    "high": _finite(self.comparison.loc[metric, f"{part}_high"]),
                }
                for part in ("current", "recommended", "change")
            }
            for metric in self.comparison.index
        }
        return headline(self.verdict, channels, expected, self.objective[0], currency, len(self.policy))

    def to_text(self) -> str:
        """The verdict first, the plan, the comparison with intervals, and the search in brief."""
        currency = self.scenario.economics.currency
        info = self.to_dict()["trials"]
        lines = [
            self.verdict.line(),
            f"Policy search: {self.scenario.name} ({self.scenario.horizon_days} days, {currency}; "
            f"objective {' and '.join(map(str, self.objective))}); study '{self.study_name}' "
            f"({self.storage or 'in memory'})",
            f"Trials: {info['finished']} finished ({info['complete']} complete, {info['pruned']} pruned, "
            f"of which {info['invalid']} invalid policies), {self.settings.seeds} paired seeds each; "
            f"{'Pareto front' if self.settings.multi else 'best'}: {info['pareto']} trial(s)"
            + (
                f" in {info['pareto_groups']} group(s) apart beyond the noise (pareto.csv noise_group)"
                if self.settings.multi
                else ""
            ),
            f"Chosen: {self.chosen}",
        ]
        if self.policy:
            lines.append("Policy (current -> chosen):")
            lines += [
                f"  {row['setting']}: {row['current']} -> {row['value']}"
                for row in policy_table(self.policy, self.scenario)
            ]
        lines.append(f"Budget (spend over the horizon, {currency}): current -> chosen")
        for row in _rows(self.channels):
            outside = "" if row.get("within_measured_range", True) else "  OUTSIDE the measured range"
            lines.append(
                f"  {row['channel']:<16} {row['current_spend']:>14,.0f} -> {row['recommended_spend']:>14,.0f}"
                + outside
            )
        c = self.comparison
        members = " across posterior members (one per seed)" if self.posterior is not None else ""
        lines.append(
            f"Check on {c.attrs.get('seeds', 0)} fresh paired seeds{members} (95% intervals): "
            f"{self.verdict.plan_name} vs current"
        )
        width = max([16, *(len(str(metric)) for metric in c.index)])
        for metric in c.index:
            r = c.loc[metric]
            current, recommended, change, low, high = (
                number_text(r[key], key.startswith("change"), str(metric))
                for key in ("current", "recommended", "change", "change_low", "change_high")
            )
            lines.append(
                f"  {metric:<{width}} {current} -> {recommended}: "
                f"change {change} [{low}, {high}]  {self.significance(metric)}"
            )
        if self.posterior is not None:
            lines += posterior_lines(self.posterior)
        t = self.timings
        lines.append(
            f"Time: search {t['search_wall']:.0f} s (simulation {t['trial_simulation']:.0f} process-s, "
            f"optimizer {t['search_overhead']:.0f} process-s), curves {t['curves']:.0f} s, "
            f"LP {t['lp']:.1f} s, selection {t['selection']:.0f} s, check {t['check']:.0f} s"
        )
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)

    def save(self, out_dir: str | Path, overwrite: bool = False) -> list[Path]:
        """Write ``recommendation.json``, ``trials.csv``, ``pareto.csv`` (and ``response_curves.csv``).

        ``recommendation.json`` holds :meth:`to_dict` and, under ``state``, what :meth:`load`
        rebuilds the result from: the scenario as searched, the settings, the tables (the types
        of ``trials.csv`` and ``pareto.csv``, the other tables whole), the timings unrounded and
        the curves. Staged in a temporary folder and moved in place together.

        Raises
        ------
        OutputExistsError
            When ``out_dir`` already holds one of these files and ``overwrite`` is false.
        """
        state = {
            "scenario": scenario_document(self.scenario),
            "settings": self.settings.model_dump(mode="json"),
            "tables": {
                "trials": frame_document(self.trials, rows=False),
                "pareto": frame_document(self.pareto, rows=False),
                **{name: frame_document(getattr(self, name)) for name in _TABLES},
            },
            "timings": self.timings,
            "curves": None if self.curves is None else curves_document(self.curves),
        }
        document = self.to_dict() | {"state": jsonable(state)}
        texts = {
            "recommendation.json": json.dumps(document, indent=2, allow_nan=False),
            "trials.csv": self.trials.to_csv(index=False),
            "pareto.csv": self.pareto.to_csv(index=False),
        }
        if self.curves is not None:
            texts["response_curves.csv"] = self.curves.response_table().to_csv(index=False)
        writers = {name: (lambda path, text=text: path.write_text(text)) for name, text in texts.items()}
        return write_files(out_dir, writers, overwrite)

    @classmethod
    def load(cls, folder: str | Path) -> OptimizationResult:
        """Read an ``optimize --out`` folder back into the result that wrote it.

        The folder is checked against its ``manifest.json`` first (a partial, truncated or
        changed folder is refused). The trials and the Pareto front come from ``trials.csv`` and
        ``pareto.csv`` with their saved types; the rest from ``recommendation.json`` (its
        ``state``, see :meth:`save`). So :meth:`to_dict`, :meth:`to_text` and :meth:`headline`
        are those of the result saved.

        Left out: the Optuna study is not opened (:attr:`study_name` and :attr:`storage` say
        where it is, e.g. ``study.db`` in the folder); the simulation runs behind the curves
        (``curves.replication`` holds the scenario and the curve seeds but no runs). Numbers
        that were not finite come back as NaN, and a missing value in a column of objects as
        NaN or ``None``.

        Parameters
        ----------
        folder
            The ``--out`` folder of ``optimize`` (or of :meth:`save`).

        Raises
        ------
        simulator.common.output.OutputError
            One line naming the folder or file: missing, partial, written before results could
            be loaded, or not written by ``optimize``.
        """
        path = open_results(folder, OPTIMIZATION_FILES[:3], "optimize --out")
        data = read_result_json(path, OPTIMIZATION_FILES[0])
        source = str(path / OPTIMIZATION_FILES[0])
        state = saved_state(data, source, "optimize")
        saved = state.get("curves")
        if saved is not None:
            open_results(path, OPTIMIZATION_FILES[3:], "optimize --out")
        with rebuilding(source):
            scenario = saved_scenario(state["scenario"], source)
            settings = search_settings(scenario, state["settings"])
            tables = {name: frame_from_document(state["tables"][name]) for name in _TABLES}
            timings = {str(k): float(v) for k, v in dict(state["timings"]).items()}
            curves = None if saved is None else curves_from_document(saved, scenario)
            verdict = verdict_from_dict(data["verdict"])
            policy = dict(data["policy"])
            plan = {str(k): float(v) for k, v in dict(data["plan"]).items()}
        read = {}
        for name in ("trials", "pareto"):
            with rebuilding(str(path / f"{name}.csv")):
                table = read_result_csv(path, f"{name}.csv")
                read[name] = frame_from_document(state["tables"][name], table)
        return cls(
            scenario=scenario,
            settings=settings,
            study_name=str(data["study_name"]),
            storage=None if data.get("storage") is None else str(data["storage"]),
            chosen=str(data["chosen"]),
            policy=policy,
            plan=plan,
            curves=curves,
            timings=timings,
            verdict=verdict,
            notes=[str(note) for note in data["notes"]],
            posterior=None if data.get("posterior") is None else dict(data["posterior"]),
            **read,
            **tables,
        )


_TABLES = ("candidates", "comparison", "channels")
"""The tables of :class:`OptimizationResult` saved whole in the ``state`` of ``recommendation.json``."""


def _rows(frame: pd.DataFrame) -> list[dict[Any, Any]]:
    return list(frame.reset_index().to_dict(orient="records"))


def _finite(value: Any) -> Any:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


def number_text(value: float, signed: bool = False, name: str = "") -> str:
    """A value for the text summary in the unit of ``name`` (:mod:`simulator.common.format`)."""
    return format_value(value, unit_of(name) if name else "number", signed)


def trial_number(name: str) -> int | None:
    """The trial number of a candidate's name (``trial 12+lp`` -> 12); ``None`` for the current policies."""
    match = re.fullmatch(r"trial (\d+)(\+lp)?", name)
    return int(match.group(1)) if match else None


def channel_table(
    current: Mapping[str, float], recommended: Mapping[str, float], curves: ResponseCurves | None
) -> pd.DataFrame:
    """Per channel: current and recommended spend; with curves, the outcome at each and the marginal measure.

    The marginal measure is the objective's (``marginal_roi`` for profit: incremental profit of
    the next unit of spend, break-even 0); ``measured_max_spend`` is the largest spend the curve
    measured and ``within_measured_range`` whether the recommended spend stays within it.
    """
    rows = []
    for name, now in current.items():
        row: dict[str, Any] = {
            "channel": name,
            "current_spend": now,
            "recommended_spend": recommended[name],
        }
        if curves is not None and name in curves.curves:
            curve = curves.curves[name]
            entry = get_objective(curve.objective)
            row["current_outcome"] = float(curve(now))
            row["recommended_outcome"] = float(curve(recommended[name]))
            row[entry.marginal_measure] = entry.per_spend(curve.marginal(recommended[name]))
            row["measured_max_spend"] = curve.max_spend
            row["within_measured_range"] = curve.measured(recommended[name])
        rows.append(row)
    return pd.DataFrame(rows).set_index("channel")
