"""The objective registry: what the allocation and the policy search can maximize.

Every objective is one :class:`Objective` entry in :data:`OBJECTIVES`: the summary KPI it
reads (``SimulationResult.summary``), its running value during a simulation (what a trial
reports to Optuna for pruning), what the budget LP maximizes for it and whether the LP
subtracts spend, its label and unit. Everything else is derived from the registry: the
``--objective`` choices of ``run.py allocate`` and ``run.py optimize``, the metrics every
trial records and the final check compares, the LP's objective and the report's labels. A new
objective is a new entry here (and its name in the scenario schema's list,
:data:`simulator.config.search.SEARCH_OBJECTIVES`, which a test holds equal to this registry).

- ``profit`` (currency): profit after media, discounts, cost of goods, fees, fulfilment and
  program costs.
- ``roi`` (ratio, search only): profit per unit of marketing spend.
- ``revenue`` (currency): order value before returns.
- ``new_customers`` (people): people of the market who bought for the first time.
- ``realized_value`` (currency): margin realized in the horizon by the customers acquired in it.
- ``realized_value_per_customer`` (currency, search only): the same per customer acquired.
- ``lifetime_value`` (currency): expected lifetime value of the customers acquired: the margin
  realized in the horizon plus each customer's expected remaining margin at the horizon's end,
  from their simulated state, discounted.
- ``lifetime_value_per_customer`` (currency, search only): the same per customer acquired.

The LP works on response curves that add up across channels, so it maximizes totals: for
``roi`` it maximizes profit at the fixed budget (ROI = profit / budget), for a value per
customer the total value (:attr:`Objective.lp`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from simulator.config.scenario import ScenarioError
from simulator.engine.lifetime import expected_lifetime_value
from simulator.measure.replicate import BASELINE, confidence_interval

if TYPE_CHECKING:
    from simulator.engine.model import CommerceModel

__all__ = [
    "ALLOCATION_OBJECTIVES",
    "COMPARED_METRICS",
    "COST_METRICS",
    "OBJECTIVES",
    "SEARCH_OBJECTIVES",
    "Objective",
    "get_objective",
    "metric_frame",
    "metric_values",
    "paired_changes",
]

Unit = Literal["currency", "ratio", "people"]


@dataclass(frozen=True)
class Objective:
    """One thing the allocation or the search can maximize.

    Attributes
    ----------
    name : str
        Name in scenario files, on the command line and in output files.
    kpi : str
        The ``SimulationResult.summary`` KPI it reads.
    label : str
        Readable name for reports and figures.
    unit : str
        ``currency``, ``ratio`` or ``people`` (a value per customer is in currency).
    running : callable or None
        Its value so far from a model mid-simulation (days ``0 .. model.day - 1``), equal to the
        summary value at the end of the horizon: what a trial reports for pruning. ``None``:
        no running value, so trials searching it are not pruned.
    per : str or None
        Summary KPI the ``kpi`` is divided by (``new_customers`` for a value per customer).
    lp : str or None
        The objective the budget LP maximizes for this one (``None``: itself). The LP sums
        channel curves, so it maximizes totals; only objectives without ``lp`` can be an
        allocation's objective.
    subtract_spend : bool
        The response curves measure ``kpi`` plus the channel's spend (contribution before the
        spend pays for itself) and the LP subtracts spend (profit).
    measure : str or None
        The measure of return of an allocation for this objective, a name of
        :data:`simulator.common.measures.MEASURES` (``roi`` for profit, ``roas`` for revenue...);
        its marginal form is ``marginal_<measure>``. None for objectives the LP does not
        maximize itself (their :attr:`lp_objective` has one).
    """

    name: str
    kpi: str
    label: str
    unit: Unit
    running: Callable[[CommerceModel], float] | None
    per: str | None = None
    lp: str | None = None
    subtract_spend: bool = False
    measure: str | None = None

    @property
    def spend_measure(self) -> str:
        """Name of the measure of return of an allocation for this objective (``roi``, ``roas``...)."""
        measure = self.lp_objective.measure
        assert measure is not None, self.name
        return measure

    @property
    def marginal_measure(self) -> str:
        """Name of the marginal measure of return (``marginal_roi``...)."""
        return f"marginal_{self.spend_measure}"

    def per_spend(self, outcome_per_unit: float) -> float:
        """A response curve's outcome per unit of spend (or its slope) as this objective's measure.

        The curves of ``profit`` measure contribution (profit before the channel's spend), so
        ROI is that per unit minus 1 (break-even 0); new customers are counted per 1,000 of
        spend; the others are the ratio itself.
        """
        entry = self.lp_objective
        value = float(outcome_per_unit) - (1.0 if entry.subtract_spend else 0.0)
        return value * 1000.0 if self.spend_measure.endswith("_per_1000") else value

    @property
    def allocatable(self) -> bool:
        """Whether the budget LP can maximize this objective itself (a total, not a ratio)."""
        return self.lp is None

    @property
    def lp_objective(self) -> Objective:
        """The objective the budget LP maximizes for this one."""
        return self if self.lp is None else OBJECTIVES[self.lp]

    def value(self, summary: Mapping[str, float]) -> float:
        """Its value in one run's summary KPIs (NaN for a value per customer without customers)."""
        self.require(summary)
        kpi = float(summary[self.kpi])
        if self.per is None:
            return kpi
        count = float(summary[self.per])
        return kpi / count if count > 0 else math.nan

    def values(self, runs: pd.DataFrame) -> pd.Series:
        """Its value in every row of a table of summary KPIs (e.g. ``ReplicationResult.runs``)."""
        self.require(runs.columns)
        kpi = runs[self.kpi]
        if self.per is None:
            return kpi.rename(self.name)
        count = runs[self.per]
        return (kpi / count.where(count > 0)).rename(self.name)

    def require(self, reported: Container[str]) -> None:
        """Raise a one-line error when the simulator does not report the KPI this objective reads.

        Raises
        ------
        ScenarioError
            When ``reported`` (summary KPI names) lacks :attr:`kpi`.
        """
        if self.kpi not in reported:
            raise ScenarioError(
                "objective",
                self.name,
                f"reads the summary KPI '{self.kpi}', which this simulator does not report",
            )


# --------------------------------------------------------------------------- running values


def _days(model: CommerceModel, field: str) -> float:
    """Total of a ledger field over the days simulated so far (agent units)."""
    return float(model.ledger[field][: model.day].sum())


def _running_profit(model: CommerceModel) -> float:
    contribution = sum(
        _days(model, f) * (1 if f == "revenue" else -1)
        for f in ("revenue", "discounts", "cogs", "fees", "fulfilment", "spend")
    )
    program = sum(float(costs[: model.day].sum()) for costs in model.program_costs.values())
    return (contribution - program) * model.scale


def _running_roi(model: CommerceModel) -> float:
    spend = _days(model, "spend") * model.scale
    return _running_profit(model) / spend if spend > 0 else math.nan


def _running_revenue(model: CommerceModel) -> float:
    return _days(model, "revenue") * model.scale


def _running_new_customers(model: CommerceModel) -> float:
    return _days(model, "new_customers") * model.scale


def _acquired(model: CommerceModel) -> tuple[int, float]:
    """Customers acquired so far (agents) and the margin they realized (agent units)."""
    population = model.population
    acquired = population.first_purchase_day >= 0
    return int(acquired.sum()), float(population.contribution[acquired].sum())


def _running_realized_value(model: CommerceModel) -> float:
    return _acquired(model)[1] * model.scale


def _running_realized_value_per_customer(model: CommerceModel) -> float:
    customers, value = _acquired(model)
    return value / customers if customers else math.nan


def _running_lifetime_value(model: CommerceModel) -> float:
    return expected_lifetime_value(model).total


def _running_lifetime_value_per_customer(model: CommerceModel) -> float:
    return expected_lifetime_value(model).per_customer


# --------------------------------------------------------------------------- the registry


def _registry(*entries: Objective) -> dict[str, Objective]:
    return {entry.name: entry for entry in entries}


# fmt: off
OBJECTIVES: Mapping[str, Objective] = _registry(
    Objective("profit", "profit", "profit", "currency", _running_profit, subtract_spend=True, measure="roi"),
    Objective("roi", "roi", "ROI (profit / marketing spend)", "ratio", _running_roi, lp="profit"),
    Objective("revenue", "revenue", "revenue", "currency", _running_revenue, measure="roas"),
    Objective("new_customers", "new_customers", "new customers", "people", _running_new_customers,
              measure="new_customers_per_1000"),
    Objective("realized_value", "acquired_customer_value", "realized value of customers won", "currency",
              _running_realized_value, measure="realized_value_per_spend"),
    Objective("realized_value_per_customer", "acquired_customer_value", "realized value per customer won",
              "currency", _running_realized_value_per_customer, per="new_customers", lp="realized_value"),
    Objective("lifetime_value", "expected_lifetime_value", "expected lifetime value", "currency",
              _running_lifetime_value, measure="lifetime_value_per_spend"),
    Objective("lifetime_value_per_customer", "expected_lifetime_value_per_customer",
              "expected lifetime value per customer", "currency", _running_lifetime_value_per_customer,
              lp="lifetime_value"),
)
# fmt: on
"""Every objective, in the order outputs list them."""

SEARCH_OBJECTIVES = tuple(OBJECTIVES)
"""Names the policy search can maximize (all of them)."""

ALLOCATION_OBJECTIVES = tuple(name for name, entry in OBJECTIVES.items() if entry.allocatable)
"""Names the budget allocation can maximize (totals the LP can add up across channels)."""

COST_METRICS = ("marketing_spend", "program_costs")
"""Summary KPIs compared next to the objectives; they are costs, so a change is higher or lower."""

COMPARED_METRICS = (*OBJECTIVES, *COST_METRICS)
"""Metrics of the checks against the current plan (those the simulator reports)."""


def get_objective(name: str) -> Objective:
    """The registry entry of ``name``.

    Raises
    ------
    ValueError
        One line listing the objectives, for a name that is not one of them.
    """
    try:
        return OBJECTIVES[str(name)]
    except KeyError:
        raise ValueError(f"unknown objective {name!r}; objectives are: {', '.join(OBJECTIVES)}") from None


def metric_values(summary: Mapping[str, float]) -> dict[str, float]:
    """One run's summary KPIs -> :data:`COMPARED_METRICS` (objectives whose KPI it reports)."""
    values = {e.name: e.value(summary) for e in OBJECTIVES.values() if e.kpi in summary}
    return values | {k: float(summary[k]) for k in COST_METRICS if k in summary}


def metric_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """A table of summary KPIs (one row per run) -> one column per metric of :data:`COMPARED_METRICS`."""
    frame = pd.DataFrame(index=runs.index)
    for entry in OBJECTIVES.values():
        if entry.kpi in runs:
            frame[entry.name] = entry.values(runs).to_numpy(dtype=np.float64)
    for name in COST_METRICS:
        if name in runs:
            frame[name] = runs[name]
    return frame


def paired_changes(runs: pd.DataFrame, variant: str) -> pd.DataFrame:
    """Per metric: the current plan's and ``variant``'s means with 95% intervals, and the paired change.

    Parameters
    ----------
    runs
        Metrics (:func:`metric_frame`) per (``variant``, ``seed``), the current plan being the
        baseline variant; every variant ran on the same seeds.
    variant
        The variant compared with the current plan.

    Returns
    -------
    pandas.DataFrame
        One row per metric: ``current``, ``recommended`` and ``change`` (recommended minus
        current, seed by seed), each with ``_low`` and ``_high`` (95% t-interval over the seeds);
        ``attrs["seeds"]`` is the number of seeds.
    """
    base = runs.xs(BASELINE, level="variant")
    other = runs.xs(variant, level="variant")
    rows = []
    for metric in runs.columns:
        row: dict[str, Any] = {"metric": metric}
        for part, values in (("current", base[metric]), ("recommended", other[metric])):
            mean, _, low, high = confidence_interval(values.to_numpy())
            row |= {part: mean, f"{part}_low": low, f"{part}_high": high}
        mean, _, low, high = confidence_interval((other[metric] - base[metric]).to_numpy())
        row |= {"change": mean, "change_low": low, "change_high": high}
        rows.append(row)
    table = pd.DataFrame(rows).set_index("metric")
    table.attrs["seeds"] = len(base)
    return table
