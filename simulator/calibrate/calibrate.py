"""``run.py calibrate``: an order log in, a calibrated customer-base twin out, checked on a hold-out.

:func:`calibrate` cuts the log into a calibration and a hold-out period
(:func:`simulator.data.split_periods`, purchase occasions by day), fits the customer-base models on
the calibration period (:mod:`.models`), builds the twin scenario (:mod:`.twin`), measures the
engine factors in pilot runs and forecasts the hold-out with the twin and in closed form
(:mod:`.holdout`). :meth:`Calibration.save` writes (all or nothing, :data:`CALIBRATION_FILES`):

- ``scenario.yaml``: the twin (``validate``, ``simulate``, ``allocate``, ``optimize`` accept it),
  and ``customers.parquet``, the customers' histories it starts from;
- ``calibration.json``: the log and the periods, every model's parameters with standard errors
  and 95% intervals, the segment counts tried (BIC) and the one chosen, the twin's settings and
  the ``holdout`` block: for ``repeat_orders`` and ``revenue`` (and ``new_customers``) in the
  hold-out, ``actual``, ``predicted`` by the twin (``mean``, ``low``, ``high``: the 95% interval
  over seeds) and ``predicted_closed_form``, with both errors. Without a hold-out the block is
  ``null`` and ``validated`` is false: the forecast is unvalidated;
- the diagnostics as CSV: ``parameters.csv``, ``segments.csv``, ``frequency_histogram.csv``,
  ``tracking_daily.csv``, ``tracking_weekly.csv``, ``conditional_expectations.csv`` (with a
  hold-out), ``acquisition.csv`` (first purchases per day), ``holdout_seeds.csv`` (one row per
  seed).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ..common.output import write_files
from ..config.customer_base import write_customer_histories
from ..config.scenario import Scenario, parse_scenario
from ..data import OrderLog, split_periods
from .holdout import (
    PILOT_DAYS,
    Factors,
    actual_holdout,
    closed_form_holdout,
    forecast_interval,
    measure_factors,
    simulate_holdout,
    with_factors,
)
from .models import TIME_UNIT_DAYS, CustomerBaseFit, fit_customer_base
from .twin import MAX_AGENTS, acquisition_curve, customer_histories, twin_scenario_data

__all__ = ["CALIBRATION_FILES", "CUSTOMERS_FILE", "Calibration", "calibrate"]

CUSTOMERS_FILE = "customers.parquet"
CALIBRATION_FILES = (
    "scenario.yaml",
    CUSTOMERS_FILE,
    "calibration.json",
    "parameters.csv",
    "segments.csv",
    "frequency_histogram.csv",
    "tracking_daily.csv",
    "tracking_weekly.csv",
    "conditional_expectations.csv",
    "acquisition.csv",
    "holdout_seeds.csv",
)
"""Files ``calibrate --out`` may write (``conditional_expectations.csv`` and ``holdout_seeds.csv``
only with a hold-out period)."""
UNVALIDATED = (
    "no hold-out period: the twin's forecast is unvalidated (give --holdout-days or --calibration-end)"
)


@dataclass
class Calibration:
    """A calibrated twin and how well it forecasts the hold-out.

    Attributes
    ----------
    base : Scenario
        The base scenario.
    twin : Scenario
        The twin, ready to simulate (its history file is a temporary copy while this object lives).
    data : dict
        The twin as ``scenario.yaml`` holds it (history file :data:`CUSTOMERS_FILE`).
    histories : pandas.DataFrame
        The customers' histories (``customers.parquet``).
    fit : CustomerBaseFit
        The fitted models.
    factors : Factors
        The measured engine factors.
    holdout : dict or None
        The ``holdout`` block of ``calibration.json`` (``None`` without a hold-out).
    holdout_runs : pandas.DataFrame or None
        The twin's hold-out outcome per seed.
    log : OrderLog
        The order log.
    """

    base: Scenario
    twin: Scenario
    data: dict[str, Any]
    histories: pd.DataFrame
    fit: CustomerBaseFit
    factors: Factors
    holdout: dict[str, Any] | None
    holdout_runs: pd.DataFrame | None
    log: OrderLog
    _folder: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    @property
    def validated(self) -> bool:
        """Whether the forecast was checked on a hold-out period."""
        return self.holdout is not None

    def to_dict(self) -> dict[str, Any]:
        """``calibration.json`` as a dict (see the module docstring)."""
        split = self.fit.split
        population = self.twin.population
        base = self.twin.customer_base
        assert base is not None
        result: dict[str, Any] = _finite(
            {
                "orders": {
                    "file": split.source,
                    "orders": len(self.log.orders),
                    "customers": self.log.customers,
                    "first_date": split.start.date().isoformat(),
                    "last_date": split.holdout_end.date().isoformat(),
                    "calibration_end": split.calibration_end.date().isoformat(),
                    "calibration_days": split.calibration_days,
                    "holdout_days": split.holdout_days,
                    "calibration_customers": len(split.customers),
                    "repeat_customers": split.repeat_customers,
                    "holdout_new_customers": len(split.late_customers),
                    "people_per_customer": base.weight,
                    "purchase_occasions": "customer-days (orders of a customer on one day are one occasion)",
                },
                **self.fit.summary(),
                "twin": {
                    "scenario": "scenario.yaml",
                    "customers_file": CUSTOMERS_FILE,
                    "start_date": self.twin.start_date.isoformat(),
                    "agents": population.agents,
                    "scale": population.scale,
                    "personas": self.twin.persona_names,
                    "rate_factor": base.rate_factor,
                    "spend_factor": base.spend_factor,
                    "pilot_days": self.factors.pilot_days,
                    "pilot": self.factors.rounds,
                    "new_customers_per_day": base.acquisition.new_customers_per_day,
                    "lifecycle": {
                        "lapsed_after_days": self.twin.lifecycle.lapsed_after_days,
                        "churned_after_days": self.twin.lifecycle.churned_after_days,
                        "from": "base scenario"
                        if "lifecycle" in self.base.model_fields_set
                        else "inter-purchase times (80th and 95th percentiles)",
                    },
                },
                "validated": self.validated,
                "note": "" if self.validated else UNVALIDATED,
                "holdout": self.holdout,
            }
        )
        return result

    def to_text(self) -> str:
        """A plain-text summary: the data, the chosen model, the twin and the hold-out check."""
        split = self.fit.split
        lines = [
            f"{split.source}: {len(self.log.orders):,} orders of {self.log.customers:,} customers, "
            f"{split.start.date()} to {split.holdout_end.date()}",
            f"calibration to {split.calibration_end.date()} ({split.calibration_days} days, "
            f"{len(split.customers):,} customers, {split.repeat_customers:,} bought again); hold-out "
            f"{split.holdout_days} days, {len(split.late_customers):,} new customers in it",
            "",
            self.fit.chosen.summary(),
            _segment_choice(self.fit.segments),
            "",
            self.fit.spend.summary(),
            "",
            f"twin: {self.twin.population.agents:,} agents x scale {self.twin.population.scale:.4g}, "
            f"{len(self.twin.persona_names)} segment(s), day 0 = {self.twin.start_date}, "
            f"rate_factor {self.factors.rate_factor:.3f}, spend_factor {self.factors.spend_factor:.3f}",
        ]
        if self.holdout is None:
            lines += ["", UNVALIDATED]
            return "\n".join(lines)
        lines += ["", f"hold-out check ({split.holdout_days} days, {len(self.holdout['seeds'])} seeds):"]
        for name in ("repeat_orders", "revenue"):
            block = self.holdout[name]
            predicted = block["predicted"]
            twin = f"{predicted['mean']:,.1f} [{predicted['low']:,.1f}, {predicted['high']:,.1f}]"
            closed = block["predicted_closed_form"]
            lines.append(
                f"  {name.replace('_', ' '):<14} actual {block['actual']:,.1f}; twin {twin} "
                f"({_percent(block['relative_error'])}); closed form {closed:,.1f} "
                f"({_percent(block['closed_form_relative_error'])})"
            )
        return "\n".join(lines)

    def writers(self) -> dict[str, Callable[[Path], object]]:
        """File name -> writer of every output file."""
        data = self.data

        def scenario_yaml(path: Path) -> None:
            path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")

        def json_file(path: Path) -> None:
            path.write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")

        writers: dict[str, Callable[[Path], object]] = {
            "scenario.yaml": scenario_yaml,
            CUSTOMERS_FILE: lambda path: write_customer_histories(self.histories, path),
            "calibration.json": json_file,
            "parameters.csv": lambda path: self.fit.parameters().to_csv(path, index=False),
            "segments.csv": self.fit.segments.to_csv,
        }
        for name, table in self.fit.diagnostics().items():
            writers[name] = table.to_csv
        writers["acquisition.csv"] = acquisition_curve(self.fit.split).to_csv
        if self.holdout_runs is not None:
            writers["holdout_seeds.csv"] = self.holdout_runs.to_csv
        return writers

    def save(self, out_dir: str | Path, overwrite: bool = False) -> list[Path]:
        """Write the outputs into ``out_dir``, all or none (see the module docstring).

        Raises
        ------
        simulator.OutputExistsError
            When ``out_dir`` holds one of :data:`CALIBRATION_FILES` and ``overwrite`` is false.
        """
        return write_files(out_dir, self.writers(), overwrite)


def calibrate(
    base: Scenario,
    log: OrderLog,
    holdout_days: int | None = None,
    calibration_end: dt.date | str | None = None,
    seeds: int = 10,
    max_segments: int = 4,
    max_agents: int = MAX_AGENTS,
    draw_parameters: bool = True,
    weight: float = 1.0,
    forecast_days: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> Calibration:
    """Calibrate a customer-base twin on an order log and check it on the hold-out period.

    Parameters
    ----------
    base
        The base scenario (channels, economics, levers, how customers meet channels), as loaded.
    log
        The order log.
    holdout_days, calibration_end
        The hold-out period: its length (days) or the calibration's last day; neither: none.
    seeds
        Twin runs of the hold-out (>= 2 for an interval).
    max_segments
        Most latent-class segments tried (1-4, chosen by BIC).
    max_agents
        Most agents for existing customers (a sample above it).
    draw_parameters
        Draw the fitted parameters from their sampling distribution for each hold-out run.
    weight
        People each customer of the log stands for: 1 for a complete log, the simulation's
        ``population.scale`` for the order log of a simulation (counts and money are then of
        the simulated market).
    forecast_days
        Without a hold-out, the period the twin is for, over which the engine factors are
        measured (default: its horizon, at most a year).
    progress
        Called with a line of text at each step.

    Raises
    ------
    simulator.data.OrderLogError
        On a hold-out that does not fit in the data or too few repeat customers.
    simulator.ScenarioError
        When the twin scenario is not valid (e.g. a base scenario whose calendar does not fit).
    """
    say = progress or (lambda _message: None)
    split = split_periods(
        log, holdout_days=holdout_days, calibration_end=calibration_end, time_unit_days=TIME_UNIT_DAYS
    )
    split.check_identifiable()
    say(
        f"fitting BG/NBD, Pareto/NBD, 1-{max_segments} latent classes and gamma-gamma "
        f"on {len(split.customers):,} customers"
    )
    fit = fit_customer_base(split, max_segments=max_segments, seed=base.seed)
    histories = customer_histories(split)
    folder = tempfile.TemporaryDirectory(prefix="twin-")
    path = Path(folder.name) / CUSTOMERS_FILE
    write_customer_histories(histories, path)
    data = twin_scenario_data(base, fit, log, CUSTOMERS_FILE, max_agents=max_agents, weight=weight)
    twin = parse_scenario(data, str(Path(folder.name) / "scenario.yaml"))
    pilot_days = split.holdout_days or forecast_days or min(PILOT_DAYS, twin.horizon_days)
    say(f"measuring the engine factors in pilot runs ({pilot_days} days)")
    factors = measure_factors(twin, seed=base.seed + 10_000, days=pilot_days)
    twin = with_factors(twin, factors.rate_factor, factors.spend_factor)
    data["customer_base"] |= {"rate_factor": factors.rate_factor, "spend_factor": factors.spend_factor}
    holdout: dict[str, Any] | None = None
    runs: pd.DataFrame | None = None
    if split.holdout_days > 0:
        seed_list = [base.seed + k for k in range(seeds)]
        say(f"simulating the {split.holdout_days}-day hold-out on {seeds} seeds")
        runs = simulate_holdout(twin, base, fit, seed_list, draw=draw_parameters)
        holdout = _holdout_block(fit, runs, seed_list, draw_parameters, twin)
    return Calibration(base, twin, data, histories, fit, factors, holdout, runs, log, folder)


def _holdout_block(
    fit: CustomerBaseFit, runs: pd.DataFrame, seeds: list[int], drawn: bool, twin: Scenario
) -> dict[str, Any]:
    base = twin.customer_base
    assert base is not None
    actual = actual_holdout(fit, base.weight)
    closed = closed_form_holdout(fit, base.weight)
    closed["new_customers"] = base.acquisition.new_customers_per_day * fit.split.holdout_days
    block: dict[str, Any] = {
        "days": fit.split.holdout_days,
        "start": (fit.split.calibration_end + pd.Timedelta(days=1)).date().isoformat(),
        "end": fit.split.holdout_end.date().isoformat(),
        "seeds": seeds,
        "parameter_uncertainty": drawn,
        "interval": "95% prediction interval of one more seed: mean +- t(0.975, n-1) sd sqrt(1 + 1/n)",
    }
    for name in ("repeat_orders", "revenue", "new_customers"):
        predicted = forecast_interval(runs[name])
        value = actual[name]
        block[name] = {
            "actual": value,
            "predicted": {key: predicted[key] for key in ("mean", "low", "high", "sd")},
            "predicted_closed_form": closed[name],
            "error": predicted["mean"] - value,
            "relative_error": _relative(predicted["mean"], value),
            "closed_form_error": closed[name] - value,
            "closed_form_relative_error": _relative(closed[name], value),
            "actual_inside_interval": bool(predicted["low"] <= value <= predicted["high"]),
        }
    return block


def _segment_choice(segments: pd.DataFrame) -> str:
    """One line: the BIC of each latent-class segment count tried, the chosen one marked."""
    tried = [
        f"{k}: {bic:,.0f}{' (chosen)' if chosen else ''}"
        for k, bic, chosen in zip(segments.index, segments["bic"], segments["chosen"], strict=True)
    ]
    return "segments by BIC (lowest chosen): " + "; ".join(tried)


def _percent(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:+.1%}"


def _relative(predicted: float, actual: float) -> float:
    return (predicted - actual) / actual if actual else float("nan")


def _finite(value: Any) -> Any:
    """JSON-safe: NaN and infinities become ``None``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
