"""Plausibility check: a simulated world's headline KPIs against published benchmark ranges.

The ranges live in one data file, ``plausibility_ranges.yaml`` next to this module, each with
its public sources (publication, year, the figure quoted) or, where no public figure exists,
the domain document's figure marked as such; ``docs/benchmarks.md`` explains every range. They
are plausibility bounds, not targets: a value inside ``[low, high]`` is **ok**, below is
**low**, above is **high**, and a value the run cannot measure (a horizon shorter than a
year for the one-year KPIs) is **n/a**.

The check runs the scenario on a few seeds and, on the same seeds (common random numbers), the
paired variants that some KPIs need:

- ``without_NAME`` for each channel of a kind with an incremental-ROAS range (search, social,
  marketplace, crm) that has media spend: the channel's media spend at 0, as
  :mod:`simulator.measure.incrementality` does;
- ``without_retention`` when the scenario sends day-7/30 messages: the lift they give to
  repurchase within 60 days;
- ``without_checkout_simplification`` when the scenario simplifies checkout: its lift.

How each KPI is measured is the ``measured_as`` field of its range; where that differs from the
public definition, ``docs/benchmarks.md`` says how. Every value comes with a confidence interval
over the seeds (t-distribution of the per-seed values, paired where a variant is involved).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from ..config.scenario import ChannelKind, Scenario
from ..engine.results import SimulationResult
from .clv import repurchase_curve
from .incrementality import planned_spend
from .replicate import BASELINE, ReplicationResult, apply_patch, confidence_interval, replicate, write_tables

__all__ = [
    "PLAUSIBILITY_FILES",
    "RANGES_FILE",
    "BenchmarkRange",
    "PlausibilityReport",
    "Source",
    "check_plausibility",
    "load_ranges",
    "measure_plausibility",
    "plausibility_variants",
    "run_measures",
]

RANGES_FILE = Path(__file__).with_name("plausibility_ranges.yaml")
"""The ranges and their sources (package data)."""

PLAUSIBILITY_FILES = ("plausibility.csv",)
"""Files written by :meth:`PlausibilityReport.save`."""

YEAR_DAYS = 365
"""Horizon the one-year KPIs need (days)."""

IROAS_KINDS = ("search", "social", "marketplace", "crm")
"""Channel kinds with an incremental-ROAS range (``incremental_roas_KIND``)."""

WITHOUT_RETENTION = "without_retention"
WITHOUT_CHECKOUT = "without_checkout_simplification"
VERDICTS = ("ok", "low", "high", "n/a")

PREFIX = "plausibility_"
"""Prefix of the per-run figures :func:`run_measures` adds to a run's KPIs."""


@dataclass(frozen=True)
class Source:
    """One public source of a range: who published what, when, where, and the figure quoted."""

    name: str
    publisher: str
    year: int | None
    url: str
    figure: str


@dataclass(frozen=True)
class BenchmarkRange:
    """A documented plausibility range of one KPI (see ``plausibility_ranges.yaml``).

    Attributes
    ----------
    kpi : str
        Identifier, e.g. ``blended_roas``.
    label : str
        What it is, in words.
    unit : str
        ``ratio``, ``share`` (0-1) or ``days``.
    low, high : float
        The bounds (in ``unit``).
    applies_to : str
        ``all`` or a channel kind: the KPI is checked per channel (incremental ROAS) or per kind
        (first-touch shares) of that kind, and skipped when the scenario has none.
    needs : str or None
        The policy (``policies.NAME``) without which the KPI is not checked.
    basis : str
        ``public``, ``public+domain`` or ``domain`` (no public figure: the domain document's).
    domain_value : float or None
        The figure of ``docs/domain.md``, where it gives one.
    definition : str
        The KPI as the sources define it.
    measured_as : str
        How the check measures it on a simulation.
    sources : tuple of Source
        The public sources.
    note : str
        How the bounds were set.
    """

    kpi: str
    label: str
    unit: str
    low: float
    high: float
    applies_to: str
    needs: str | None
    basis: str
    domain_value: float | None
    definition: str
    measured_as: str
    sources: tuple[Source, ...] = field(default_factory=tuple)
    note: str = ""

    def verdict(self, value: float) -> str:
        """``ok`` inside ``[low, high]``, ``low`` below, ``high`` above, ``n/a`` for NaN."""
        if not math.isfinite(value):
            return "n/a"
        if value < self.low:
            return "low"
        return "high" if value > self.high else "ok"


_KINDS = {kind.value for kind in ChannelKind}
_NEEDS = ("checkout_simplification", "winback", "loyalty", "retention")
_UNITS = ("ratio", "share", "days")
_BASES = ("public", "public+domain", "domain")


def load_ranges(path: str | Path = RANGES_FILE) -> list[BenchmarkRange]:
    """Read and check the ranges file.

    Parameters
    ----------
    path
        The YAML file; default the package's ``plausibility_ranges.yaml``.

    Returns
    -------
    list of BenchmarkRange
        In file order.

    Raises
    ------
    ValueError
        One line naming the file, the entry and the field at fault: an unknown KPI (one the
        check cannot measure), a missing field, ``low`` above ``high``, an unknown unit, kind,
        policy or basis, a public range without sources.
    """
    source = str(path)
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("ranges"), list):
        raise ValueError(f"{source}: ranges: must be a list of ranges")
    ranges = []
    seen: set[str] = set()
    for i, entry in enumerate(data["ranges"]):
        where = f"{source}: ranges[{i}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: must be a mapping")
        kpi = str(entry.get("kpi", ""))
        where = f"{where}({kpi})"
        if kpi not in _MEASURES:
            raise ValueError(f"{where}.kpi: the check cannot measure '{kpi}'; known: {', '.join(_MEASURES)}")
        if kpi in seen:
            raise ValueError(f"{where}.kpi: given twice")
        seen.add(kpi)
        for name in ("label", "unit", "low", "high", "applies_to", "basis", "definition", "measured_as"):
            if entry.get(name) is None:
                raise ValueError(f"{where}.{name}: missing")
        low, high = float(entry["low"]), float(entry["high"])
        if not low <= high:
            raise ValueError(f"{where}.low: {low:g} is above high {high:g}")
        checks = (
            ("unit", entry["unit"], _UNITS),
            ("applies_to", entry["applies_to"], ("all", *sorted(_KINDS))),
            ("basis", entry["basis"], _BASES),
            ("needs", entry.get("needs") or _NEEDS[0], _NEEDS),
        )
        for name, value, allowed in checks:
            if value not in allowed:
                raise ValueError(f"{where}.{name}: '{value}' is not one of {', '.join(allowed)}")
        sources = tuple(
            Source(
                name=str(s["name"]),
                publisher=str(s["publisher"]),
                year=None if s.get("year") is None else int(s["year"]),
                url=str(s["url"]),
                figure=str(s["figure"]),
            )
            for s in entry.get("sources") or []
        )
        if entry["basis"] != "domain" and not sources:
            raise ValueError(f"{where}.sources: a {entry['basis']} range needs its sources")
        domain = entry.get("domain_value")
        ranges.append(
            BenchmarkRange(
                kpi=kpi,
                label=str(entry["label"]),
                unit=str(entry["unit"]),
                low=low,
                high=high,
                applies_to=str(entry["applies_to"]),
                needs=entry.get("needs"),
                basis=str(entry["basis"]),
                domain_value=None if domain is None else float(domain),
                definition=str(entry["definition"]),
                measured_as=" ".join(str(entry["measured_as"]).split()),
                sources=sources,
                note=" ".join(str(entry.get("note", "")).split()),
            )
        )
    return ranges


# Per-run figures ----------------------------------------------------------------------------------
def _kind_of(result: SimulationResult) -> dict[str, str]:
    return {c.name: c.kind.value for c in result.scenario.channels}


def run_measures(result: SimulationResult) -> dict[str, float]:
    """The figures of one run that the check reads beyond its summary KPIs.

    A module-level function, so that :func:`~simulator.measure.replicate.replicate` can send it
    to worker processes. Names start with ``plausibility_``:

    - ``first_touch_KIND``: share of the customers acquired in the horizon whose first touch
      was a channel of that kind, among those whose first touch was recorded in the horizon;
    - ``repeat_365``, ``median_days_to_second``: the Kaplan-Meier share with a second order
      within 364 days of the first, and the day at which the curve reaches half of it (NaN
      with a horizon under a year);
    - ``lapsed_share_day0``: share of day-0 customers with no order in the horizon (NaN with a
      horizon under a year);
    - ``first_attempt_pass``: share of carts checked out at the first attempt;
    - ``first_order_margin``: mean contribution of first orders (currency per order);
    - ``points_redemption``, ``member_share``: loyalty points redeemed / issued over the later
      half of the horizon, members at the end / customers with an order in the horizon (NaN
      without a loyalty program).
    """
    figures: dict[str, float] = {}
    customers = result.customers
    first = customers["first_purchase_day"].to_numpy(dtype=np.float64, na_value=np.nan)
    acquired = first >= 0
    aware = customers["aware_channel"].astype(str).to_numpy()
    recorded = acquired & (aware != "none")
    kinds = _kind_of(result)
    for kind in sorted(set(kinds.values())):
        of_kind = np.isin(aware, [name for name, k in kinds.items() if k == kind])
        figures[f"first_touch_{kind}"] = _share(of_kind & recorded, recorded)
    horizon = len(result.daily)
    repeat, median = math.nan, math.nan
    if horizon >= YEAR_DAYS and acquired.any():
        curve = _year_curve(repurchase_curve(result), result.scenario.population.scale)
        repeat = float(curve.iloc[-1])
        if repeat > 0:
            median = float(curve.index.to_numpy()[np.argmax(curve.to_numpy() >= repeat / 2)])
    figures["repeat_365"], figures["median_days_to_second"] = repeat, median
    day0 = first < 0
    lapsed = math.nan
    if horizon >= YEAR_DAYS:
        lapsed = _share(day0 & (customers["orders"].to_numpy() == 0), day0)
    figures["lapsed_share_day0"] = lapsed
    totals = result.daily[["carts", "abandoned_carts"]].sum()
    figures["first_attempt_pass"] = _ratio(totals["carts"] - totals["abandoned_carts"], totals["carts"])
    orders = result.orders
    first_orders = orders.loc[orders["first"], "margin"] if len(orders) else pd.Series(dtype=float)
    figures["first_order_margin"] = float(first_orders.mean()) if len(first_orders) else math.nan
    levers = result.levers
    if "points_issued" in levers.columns:
        # The programme starts on day 0 with no members: over the later half its flows are
        # closer to those of a running programme (points issued then redeemed later balance
        # points issued earlier and redeemed in the window).
        points = levers[["points_issued", "points_redeemed"]].iloc[horizon // 2 :].sum()
        figures["points_redemption"] = _ratio(points["points_redeemed"], points["points_issued"])
        buyers = float((customers["orders"] > 0).sum() * result.scenario.population.scale)
        figures["member_share"] = _ratio(result.summary["loyalty_members_end"], buyers)
    else:
        figures["points_redemption"] = figures["member_share"] = math.nan
    return {PREFIX + name: value for name, value in figures.items()}


MIN_AT_RISK = 30
"""Agents at risk below which the Kaplan-Meier tail is extrapolated instead of read."""
TAIL_DAYS = 60
"""Days of well-observed hazard that the extrapolated tail continues."""


def _year_curve(curve: pd.DataFrame, scale: float) -> pd.Series:
    """The Kaplan-Meier repurchase share up to day YEAR_DAYS - 1, with a steady tail.

    In a one-year horizon only the customers acquired in the first days are observed for a
    whole year, so the curve's last days rest on a handful of agents and can jump by one
    event. From the last day with at least :data:`MIN_AT_RISK` agents at risk, the curve goes
    on at the mean daily hazard of the :data:`TAIL_DAYS` days before it.
    """
    share = curve["repurchased_share"].loc[: YEAR_DAYS - 1]
    at_risk = curve["at_risk"].loc[: YEAR_DAYS - 1] / scale
    steady = np.flatnonzero(at_risk.to_numpy() >= MIN_AT_RISK)
    if steady.size == 0:
        return share.ffill()
    stop = int(steady[-1])
    if stop == share.size - 1:
        return share
    survival = 1.0 - share.to_numpy()
    start = max(stop - TAIL_DAYS, 0)
    hazard = (
        -math.log(survival[stop] / survival[start]) / (stop - start)
        if stop > start and survival[stop] > 0
        else 0.0
    )
    days = np.arange(share.size) - stop
    tail = 1.0 - survival[stop] * np.exp(-hazard * days)
    return pd.Series(np.where(days > 0, tail, share.to_numpy()), index=share.index)


def _share(mask: np.ndarray[Any, Any], among: np.ndarray[Any, Any]) -> float:
    count = int(np.count_nonzero(among))
    return float(np.count_nonzero(mask & among) / count) if count else math.nan


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator > 0 else math.nan


# Variants -----------------------------------------------------------------------------------------
def _measured_channels(scenario: Scenario) -> list[str]:
    """Channels whose incremental ROAS is checked: kinds with a range, with media spend."""
    return [
        c.name
        for c in scenario.channels
        if c.kind.value in IROAS_KINDS and planned_spend(c, scenario.horizon_days) > 0
    ]


_VARIANT_OF = {
    "crm_followup_repurchase_lift": (WITHOUT_RETENTION, "retention"),
    "checkout_simplification_conversion_lift": (WITHOUT_CHECKOUT, "checkout_simplification"),
}
"""KPIs measured against a variant without one policy: the variant's name and the policy."""


def plausibility_variants(
    scenario: Scenario, ranges: Sequence[BenchmarkRange] | None = None
) -> dict[str, Scenario]:
    """The paired variants the check runs next to the scenario.

    Parameters
    ----------
    scenario
        The scenario checked.
    ranges
        The ranges to check; default those of the package's file. Only the variants they need
        are built.

    Returns
    -------
    dict of str to Scenario
        ``without_NAME`` (the channel's media spend at 0, every budget period too) for each
        channel whose incremental ROAS is checked; ``without_retention`` and
        ``without_checkout_simplification`` when the scenario has those policies and their
        lift is checked.
    """
    ranges = load_ranges() if ranges is None else ranges
    source = str(getattr(scenario, "_source", "<scenario>"))
    variants = {}
    for benchmark, channel in _checked(ranges, scenario):
        if channel:
            patch = {"channels": {channel: {"daily_spend": 0.0, "budget_plan": []}}}
            variants[f"without_{channel}"] = apply_patch(scenario, patch, f"{source} (without_{channel})")
        elif benchmark.kpi in _VARIANT_OF:
            variant, policy = _VARIANT_OF[benchmark.kpi]
            variants[variant] = apply_patch(scenario, {"policies": {policy: None}}, f"{source} ({variant})")
    return variants


# The check ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Runs:
    """Per-seed KPIs of the scenario (``base``) and of its variants (rows by seed)."""

    scenario: Scenario
    base: pd.DataFrame
    variants: Mapping[str, pd.DataFrame]

    def column(self, name: str, variant: str = BASELINE) -> pd.Series:
        """A KPI on each seed (NaN when the runs do not have it)."""
        frame = self.base if variant == BASELINE else self.variants[variant]
        return frame[name] if name in frame.columns else pd.Series(math.nan, index=frame.index)


_Measure = Callable[[_Runs, str], pd.Series]
"""Computes one KPI per seed from the runs, for a channel ('' when not per channel)."""


def _divide(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    return numerator / denominator.where(denominator > 0)


def _iroas(runs: _Runs, channel: str) -> pd.Series:
    scenario = runs.scenario
    config = next(c for c in scenario.channels if c.name == channel)
    lost = runs.column("revenue") - runs.column("revenue", f"without_{channel}")
    return lost / planned_spend(config, scenario.horizon_days)


def _lift(variant: str, kpi: str) -> _Measure:
    return lambda runs, channel: _divide(runs.column(kpi), runs.column(kpi, variant)) - 1.0


def _ratio_of(numerator: str, denominator: str) -> _Measure:
    return lambda runs, channel: _divide(runs.column(numerator), runs.column(denominator))


def _figure(name: str) -> _Measure:
    return lambda runs, channel: runs.column(name)


_MEASURES: dict[str, _Measure] = {
    "blended_roas": _ratio_of("revenue", "marketing_spend"),
    "marketing_spend_share_of_revenue": _ratio_of("marketing_spend", "revenue"),
    **{f"incremental_roas_{kind}": _iroas for kind in IROAS_KINDS},
    "cac_to_first_order_margin": _ratio_of("cac", f"{PREFIX}first_order_margin"),
    "repeat_purchase_rate_365d": _figure(f"{PREFIX}repeat_365"),
    "median_days_to_second_order": _figure(f"{PREFIX}median_days_to_second"),
    "lapsed_share_365d": _figure(f"{PREFIX}lapsed_share_day0"),
    "cart_abandonment_rate": lambda runs, channel: 1.0 - runs.column(f"{PREFIX}first_attempt_pass"),
    "cart_recovery_rate": _figure("cart_recovery_rate"),
    "checkout_simplification_conversion_lift": _lift(WITHOUT_CHECKOUT, f"{PREFIX}first_attempt_pass"),
    "crm_order_rate_per_recipient": _ratio_of("winback_wins", "winback_offers"),
    "return_rate": _ratio_of("returns", "orders"),
    "loyalty_member_share": _figure(f"{PREFIX}member_share"),
    "points_redemption_rate": _figure(f"{PREFIX}points_redemption"),
    **{
        f"first_touch_share_{kind}": _figure(f"{PREFIX}first_touch_{kind}")
        for kind in ("search", "social", "offline")
    },
    "crm_followup_repurchase_lift": _lift(WITHOUT_RETENTION, "repurchase_within_60_days"),
}
"""How each KPI of the ranges file is computed from the runs, per seed."""


def _checked(ranges: Sequence[BenchmarkRange], scenario: Scenario) -> list[tuple[BenchmarkRange, str]]:
    """The (range, channel) pairs that apply to the scenario; channel '' when not per channel."""
    kinds = {c.kind.value for c in scenario.channels}
    measured = _measured_channels(scenario)
    pairs = []
    for benchmark in ranges:
        if benchmark.needs is not None and getattr(scenario.policies, benchmark.needs) is None:
            continue
        if benchmark.applies_to == "all":
            pairs.append((benchmark, ""))
        elif benchmark.kpi.startswith("incremental_roas_"):
            pairs += [
                (benchmark, c.name)
                for c in scenario.channels
                if c.kind.value == benchmark.applies_to and c.name in measured
            ]
        elif benchmark.applies_to in kinds:
            pairs.append((benchmark, ""))
    return pairs


@dataclass
class PlausibilityReport:
    """The KPIs of a simulated world next to their documented ranges.

    Attributes
    ----------
    scenario : Scenario
        The scenario checked.
    seeds : list of int
        The seeds of the runs.
    table : pandas.DataFrame
        One row per checked KPI (and channel, for incremental ROAS): ``kpi``, ``channel``
        (empty unless per channel), ``label``, ``value`` (mean over seeds) with ``ci_low`` /
        ``ci_high`` (95% over seeds), ``low``, ``high``, ``unit``, ``verdict`` (ok, low, high,
        n/a), ``basis`` and ``domain_value``.
    information : pandas.DataFrame
        Figures shown without a range (no public figure exists): customers at the end by
        recency (active, lapsed, churned; share of all customers).
    """

    scenario: Scenario
    seeds: list[int]
    table: pd.DataFrame
    information: pd.DataFrame

    @property
    def flagged(self) -> pd.DataFrame:
        """The rows whose verdict is not ``ok``."""
        return self.table[self.table["verdict"] != "ok"]

    def to_text(self) -> str:
        """The table as text: KPI, value [95% interval], range, verdict."""
        lines = [
            f"{self.scenario.name}: plausibility against docs/benchmarks.md "
            f"({self.scenario.population.agents:,} agents, {self.scenario.horizon_days} days, "
            f"seeds {', '.join(map(str, self.seeds))}; value = mean [95% interval over seeds])"
        ]
        rows = []
        for _, row in self.table.iterrows():
            name = row["kpi"] + (f" [{row['channel']}]" if row["channel"] else "")
            value = _number(row["value"], row["unit"])
            if math.isfinite(row["ci_low"]):
                value += f" [{_number(row['ci_low'], row['unit'])}, {_number(row['ci_high'], row['unit'])}]"
            span = f"{_number(row['low'], row['unit'])} - {_number(row['high'], row['unit'])}"
            basis = "" if row["basis"] == "public" else f"({row['basis']})"
            rows.append((name, value, span, row["verdict"], basis))
        widths = [max(len(r[k]) for r in rows) for k in range(4)] if rows else [0] * 4
        header = ("kpi", "value", "range", "verdict")
        widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        for row_text in rows:
            cells = [c.ljust(w) for c, w in zip(row_text[:4], widths, strict=True)]
            lines.append("  ".join(cells) + ("  " + row_text[4] if row_text[4] else ""))
        flagged = len(self.flagged)
        lines.append(
            f"{len(rows) - flagged} of {len(rows)} KPIs inside their range"
            + (f"; flagged: {', '.join(self.flagged['kpi'])}" if flagged else "")
        )
        if len(self.information):
            lines.append("\nInformation only (no public figure; see docs/benchmarks.md):")
            for name, row in self.information.iterrows():
                lines.append(f"  {name:34s} {_number(row['value'], 'share')}")
        return "\n".join(lines)

    def save(self, out_dir: str | Path, overwrite: bool = False) -> list[Path]:
        """Write ``plausibility.csv`` (one row per checked KPI) into ``out_dir``.

        Raises
        ------
        OutputExistsError
            When the file exists and ``overwrite`` is false.
        """
        return write_tables(
            out_dir, {PLAUSIBILITY_FILES[0]: self.table.set_index(["kpi", "channel"])}, overwrite
        )


def _number(value: float, unit: str) -> str:
    if not math.isfinite(value):
        return "n/a"
    if unit == "days":
        return f"{value:.0f}"
    if unit == "share":
        return f"{value:.1%}" if abs(value) >= 0.01 else f"{value:.2%}"
    return f"{value:.2f}"


def measure_plausibility(
    replication: ReplicationResult, ranges: Sequence[BenchmarkRange] | None = None, confidence: float = 0.95
) -> PlausibilityReport:
    """The plausibility table of a replication that holds the :func:`plausibility_variants`.

    Parameters
    ----------
    replication
        Runs of the scenario and its variants on the same seeds, with :func:`run_measures`
        among their KPIs.
    ranges
        The ranges; default :func:`load_ranges` of the package's file.
    confidence
        Coverage of the intervals (share).
    """
    scenario = replication.scenario
    ranges = load_ranges() if ranges is None else ranges
    runs_table = replication.runs
    frames = {
        variant: runs_table[runs_table.index.get_level_values("variant") == variant].droplevel("variant")
        for variant in replication.variants
    }
    runs = _Runs(scenario, frames[BASELINE], frames)
    rows = []
    for benchmark, channel in _checked(ranges, scenario):
        values = _MEASURES[benchmark.kpi](runs, channel)
        mean, _, low, high = confidence_interval(values.to_numpy(dtype=np.float64), confidence)
        rows.append(
            {
                "kpi": benchmark.kpi,
                "channel": channel,
                "label": benchmark.label,
                "value": mean,
                "ci_low": low,
                "ci_high": high,
                "low": benchmark.low,
                "high": benchmark.high,
                "unit": benchmark.unit,
                "verdict": benchmark.verdict(mean),
                "basis": benchmark.basis,
                "domain_value": math.nan if benchmark.domain_value is None else benchmark.domain_value,
            }
        )
    states = runs.base[["active_end", "lapsed_end", "churned_end"]].mean().to_numpy()
    information = pd.DataFrame(
        {"value": states / states.sum()},
        index=pd.Index(
            ["customers_active_end (<30 days)", "customers_lapsed_end", "customers_churned_end"],
            name="figure",
        ),
    )
    return PlausibilityReport(
        scenario=scenario, seeds=list(replication.seeds), table=pd.DataFrame(rows), information=information
    )


def check_plausibility(
    scenario: Scenario,
    seeds: Sequence[int],
    workers: int = 1,
    progress: bool = False,
    ranges: Sequence[BenchmarkRange] | None = None,
) -> PlausibilityReport:
    """Simulate a scenario and its paired variants and check its KPIs against the ranges.

    Parameters
    ----------
    scenario
        The scenario (its size and horizon as given: shrink it with ``with_overrides``).
    seeds
        Seeds of the runs (two or more for intervals).
    workers
        Worker processes; the result does not depend on it.
    progress
        Show a progress bar over runs.
    ranges
        The ranges; default the package's file.

    Returns
    -------
    PlausibilityReport
        The table of KPIs, ranges and verdicts.

    Raises
    ------
    ScenarioError
        One line for an empty or repeated seed list, ``workers`` below 1, or a run too large for
        the memory.
    """
    ranges = load_ranges() if ranges is None else ranges
    variants = plausibility_variants(scenario, ranges)
    replication = replicate(
        scenario,
        seeds,
        variants,
        workers=workers,
        progress=progress,
        measure=run_measures,
        label="plausibility",
    )
    return measure_plausibility(replication, ranges)
