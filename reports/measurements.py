"""Report sections of the measurement commands: replicate, incrementality, clv, attribution, abtest.

Each measurement is read back with its own ``load`` (:mod:`simulator.measure`), which checks the
folder against its manifest, so the report draws exactly what the command saved and never
simulates. A folder is recognised by the document each command writes next to its tables:

====================  ==================  =================================================
file                  written by          section and figures
====================  ==================  =================================================
``replications.json`` ``replicate``       means and paired differences per variant
``incrementality.json`` ``incrementality`` ROI, marginal ROI and incremental profit per
                                          channel with 95% intervals
``clv.json``          ``clv``             retention by cohort, lifetime value per channel
                                          (truth or twin, and BG/NBD), second purchase curve
``attribution.json``  ``attribution``     attribution models against the truth
``abtest.json``       ``abtest``          lift per outcome with 95% intervals
====================  ==================  =================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from simulator.common.display import format_kpi, format_range
from simulator.common.format import format_frame, format_interval, format_value, unit_of
from simulator.common.measures import MEASURES, break_even_text, measure_header
from simulator.common.output import OutputError, locate
from simulator.config.scenario import ScenarioError
from simulator.measure import figures
from simulator.measure.abtest import ABTestResult
from simulator.measure.attribution import AttributionReport
from simulator.measure.clv import CLVReport
from simulator.measure.incrementality import load_incrementality
from simulator.measure.replicate import BASELINE, ReplicationResult

from .parts import ReportFigure, ReportTable, Section

__all__ = ["MEASUREMENTS", "Measured", "Measurement", "measurement_sections"]

REPLICATED_KPIS = ("profit", "revenue", "roi", "marketing_spend", "new_customers", "orders", "customers_end")
"""KPIs of the replications table and its figure, in this order."""
DIFFERENCE = ("diff", "diff_ci_low", "diff_ci_high")
"""Columns of a paired difference from the baseline in :meth:`ReplicationResult.summary`."""
INCREMENTALITY_MEASURES = (
    "spend",
    "incremental_profit",
    "roi",
    "marginal_roi",
    "incremental_revenue",
    "roas",
    "incremental_customers",
)
"""Columns of the incrementality table (with intervals where saved)."""
CLV_COLUMNS = (
    "customers",
    "orders_per_customer",
    "realized_margin",
    "remaining_value_{label}",
    "clv_{label}",
    "remaining_value_bgnbd",
    "clv_bgnbd",
)
"""Columns of the lifetime-value table per acquisition channel (per customer but ``customers``);
``{label}`` is the first estimate's: ``true`` (a simulation) or ``twin`` (``clv --orders``)."""
CLV_SOURCES = {
    "true": ("truth", "the simulated truth", "The truth comes from each shopper's simulated state"),
    "twin": (
        "twin",
        "the customer-base twin",
        "The twin simulates each real customer of the order log from the fitted model",
    ),
}
"""Per label of a lifetime-value folder: the first estimate's short name, its name in a sentence
and where it comes from."""
HEADERS = {
    "remaining_value_true": "remaining value (truth)",
    "clv_true": "lifetime value (truth)",
    "remaining_value_twin": "remaining value (twin)",
    "clv_twin": "lifetime value (twin)",
    "remaining_value_bgnbd": "remaining value (BG/NBD)",
    "clv_bgnbd": "lifetime value (BG/NBD)",
    "customers": "customers (people)",
    "mean_abs_error": "mean absolute error",
}
"""Column headers that are not just the name with spaces."""


@dataclass(frozen=True)
class Measurement:
    """A kind of measurement folder: the file that marks it, its report's name, its sections."""

    marker: str
    title: str
    sections: Callable[[Path], tuple[str, list[Section]]]
    """Reads the folder back: the scenario's name and the report's sections."""


def _table(frame: pd.DataFrame, label: str, **options: object) -> ReportTable:
    """A report table of ``frame`` (index as the first column), numbers formatted by unit."""
    shown = format_frame(frame, **options)  # type: ignore[arg-type]
    return ReportTable(
        [label, *(_header(str(c)) for c in shown.columns)],
        [[str(name), *row] for name, row in zip(shown.index, shown.itertuples(index=False), strict=True)],
    )


def _header(name: str) -> str:
    if name in MEASURES:
        return measure_header(name)
    return HEADERS.get(name, name.replace("_", " "))


def _interval_cells(frame: pd.DataFrame, names: tuple[str, ...]) -> pd.DataFrame:
    """``mean [low, high]`` per cell of the measures with ``_ci_low`` / ``_ci_high`` columns."""
    cells = {}
    for name in names:
        if name not in frame.columns:
            continue
        low, high = frame.get(f"{name}_ci_low"), frame.get(f"{name}_ci_high")
        cells[name] = [
            format_range(name, float(frame[name].iloc[k]), float(low.iloc[k]), float(high.iloc[k]))
            if low is not None and high is not None
            else format_kpi(name, frame[name].iloc[k])
            for k in range(len(frame))
        ]
    return pd.DataFrame(cells, index=frame.index)


# replicate -----------------------------------------------------------------------------------
def _replications(folder: Path) -> tuple[str, list[Section]]:
    result = ReplicationResult.load(folder)
    metrics = [m for m in REPLICATED_KPIS if m in result.runs.columns]
    summary = result.summary(metrics).reset_index()
    currency = result.scenario.economics.currency
    section = Section("Replications")
    section.paragraphs.append(
        f"{len(result.variants)} variant(s) of scenario {result.scenario.name}, each run on the same "
        f"{len(result.seeds)} seed(s) ({', '.join(map(str, result.seeds))}); money in {currency}. "
        "A variant's difference from the baseline is paired seed by seed (common random numbers), "
        "so it is measured much more precisely than either mean."
    )
    rows = summary.set_index(["variant", "metric"])
    others = [v for v in result.variants if v != BASELINE]
    if others and "profit" in metrics:
        changes = (f"{v} - {BASELINE}: profit {_cell(rows, v, 'profit', DIFFERENCE, True)}" for v in others)
        section.paragraphs[0] = "; ".join(changes) + ". " + section.paragraphs[0]
    means = pd.DataFrame(
        {
            variant: [_cell(rows, variant, m, ("mean", "ci_low", "ci_high")) for m in metrics]
            for variant in result.variants
        },
        index=metrics,
    )
    section.tables.append(
        ReportTable(
            ["KPI (mean, 95% interval)", *means.columns],
            [[_header(m), *means.loc[m]] for m in metrics],
        )
    )
    if others:
        differences = pd.DataFrame(
            {variant: [_cell(rows, variant, m, DIFFERENCE, True) for m in metrics] for variant in others},
            index=metrics,
        )
        section.tables.append(
            ReportTable(
                [f"KPI (variant - {BASELINE}, paired, 95% interval)", *others],
                [[_header(m), *differences.loc[m]] for m in metrics],
            )
        )
        shown_metrics = metrics[:3]  # profit, revenue, ROI: one row of panels
        shown = summary[summary["metric"].isin(shown_metrics)]
        section.figures.append(
            ReportFigure(
                "paired_differences",
                "Differences from the baseline",
                f"Each variant minus {BASELINE} on the same seeds, with its 95% interval; "
                "an interval clear of zero is a difference the seeds confirm.",
                lambda f: figures.paired_differences(shown, currency=currency, fig=f),
                size=(
                    3.8 * min(3, len(shown_metrics)),
                    (0.5 * len(others) + 2.0) * -(-len(shown_metrics) // 3),
                ),
            )
        )
        first = others[0]
        section.key_figures += [
            (f"{_header(m)}, {first} - {BASELINE}", _cell(rows, first, m, DIFFERENCE, True))
            for m in metrics[:4]
        ]
    section.sheets["replications"] = summary
    section.sheets["runs"] = result.runs
    return result.scenario.name, [section]


def _cell(
    rows: pd.DataFrame, variant: str, metric: str, columns: tuple[str, str, str], signed: bool = False
) -> str:
    """``mean [low, high]`` of ``variant`` on ``metric`` from the three ``columns`` of ``rows``."""
    mean, low, high = rows.loc[(variant, metric), list(columns)].to_numpy(dtype=np.float64)
    return format_range(metric, float(mean), float(low), float(high), signed)


# incrementality ------------------------------------------------------------------------------
def _incrementality(folder: Path) -> tuple[str, list[Section]]:
    table = load_incrementality(folder)
    if "channel" in table.columns:
        table = table.set_index("channel")
    currency = str(table.attrs.get("currency", ""))
    seeds = table.attrs.get("seeds") or []
    section = Section("True incrementality per channel")
    lead = ""
    if "roi" in table.columns and table["roi"].notna().any():
        best = str(table["roi"].astype(float).idxmax())
        columns = [c for c in ("roi", "roi_ci_low", "roi_ci_high") if c in table.columns]
        mean, low, high = [*table.loc[best, columns].to_numpy(np.float64), np.nan, np.nan][:3]
        sure = "above break-even" if low > 0 else "its interval reaches break-even"
        roi = format_range("roi", float(mean), float(low), float(high))
        lead = f"Highest ROI: {best}, {roi} ({sure}). "
    section.paragraphs.append(
        lead
        + f"Each channel's spend removed on {len(seeds)} paired seed(s) ({', '.join(map(str, seeds))}) of "
        f"scenario {table.attrs.get('scenario', '?')} over {table.attrs.get('horizon_days', '?')} days; "
        f"money in {currency}. ROI = incremental profit / spend ({break_even_text('roi')}); marginal "
        f"ROI: the same for the next {format_value(table.attrs.get('step', 0.1), 'percent')} of spend."
    )
    section.tables.append(
        ReportTable(
            ["channel", *(_header(n) for n in INCREMENTALITY_MEASURES if n in table.columns)],
            [
                [str(channel), *cells]
                for channel, cells in _interval_cells(table, INCREMENTALITY_MEASURES).iterrows()
            ],
        )
    )
    section.figures.append(
        ReportFigure(
            "incrementality",
            "Incrementality per channel",
            "Mean and 95% interval over the paired seeds; the grey line is break-even for ROI and "
            "no effect for profit.",
            lambda f: figures.incrementality_bars(table, currency=currency, fig=f),
            size=(12.6, 0.5 * len(table) + 2.2),
        )
    )
    section.key_figures += [(f"ROI of {c}", format_kpi("roi", row["roi"])) for c, row in table.iterrows()]
    section.sheets["incrementality"] = table
    return str(table.attrs.get("scenario", "")), [section]


# clv -----------------------------------------------------------------------------------------
def _clv(folder: Path) -> tuple[str, list[Section]]:
    report = CLVReport.load(folder)
    currency = report.currency
    money, unit = (f" {currency}", f" ({currency})") if currency else ("", "")
    label = report.label  # "twin" for clv --orders: its columns are *_twin, not *_true
    short, named, origin = CLV_SOURCES.get(label, (label, label, f"The {label} estimate"))
    section = Section("Customer lifetime value")
    groups = report.groups.reset_index() if "dimension" not in report.groups.columns else report.groups
    customers = float(groups.loc[groups["dimension"] == "acquisition_channel", "customers"].sum())
    per_customer = report.customers
    first, estimate = per_customer[f"clv_{label}"].mean(), per_customer["clv_bgnbd"].mean()
    model = f" ({report.model_text})" if report.model_text else ""
    section.paragraphs.append(
        f"Lifetime value per customer: {format_kpi('clv', first)}{money} from {named}, "
        f"{format_kpi('clv_bgnbd', estimate)}{money} estimated by BG/NBD "
        f"({format_value(estimate / first - 1 if first else None, 'percent', signed=True)}). "
        f"Scenario {report.scenario}: {format_value(customers, 'count')} customers (real market); "
        f"value per customer{f' in {currency}' if currency else ''}, the remaining value over "
        f"{report.horizon_days} days discounted at {format_value(report.discount_rate, 'percent')} a "
        f"year. {origin}; the BG/NBD estimate{model} sees only the orders, as a real analysis would."
    )
    columns = [c.format(label=label) for c in CLV_COLUMNS if c.format(label=label) in groups.columns]
    by_channel = groups[groups["dimension"] == "acquisition_channel"].set_index("group")[columns]
    by_channel.index.name = "acquisition channel"
    section.tables.append(_table(by_channel, "acquisition channel"))
    retention, repurchase = report.retention, report.repurchase
    section.figures += [
        ReportFigure(
            "retention",
            "Retention by cohort",
            "Share of each acquisition month's new customers buying again k months later.",
            lambda f: figures.retention_heatmap(retention, ax=f.add_subplot()),
            size=(7.0, 5.0),
        ),
        ReportFigure(
            "clv_by_channel",
            "Lifetime value per customer",
            f"Per acquisition channel: margin realized so far plus the expected remaining value of "
            f"{named}, next to the BG/NBD estimate of the same total.",
            lambda f: figures.clv_by_group(groups, currency=currency, label=label, ax=f.add_subplot()),
            size=(9.0, 4.8),
        ),
        ReportFigure(
            "repurchase",
            "Second purchase",
            "Share of new customers with a second purchase within d days of the first (Kaplan-Meier).",
            lambda f: figures.repurchase_curve(repurchase, ax=f.add_subplot()),
            size=(8.0, 4.5),
        ),
    ]
    section.key_figures += [
        ("customers", format_value(customers, "count")),
        (
            f"realized margin per customer{unit}",
            format_kpi("realized_margin", per_customer["realized_margin"].mean()),
        ),
        (f"lifetime value per customer, {short}{unit}", format_kpi("clv", first)),
        (f"lifetime value per customer, BG/NBD{unit}", format_kpi("clv_bgnbd", estimate)),
    ]
    section.sheets["clv_groups"] = groups
    section.sheets["retention"] = retention
    return report.scenario, [section]


# attribution ---------------------------------------------------------------------------------
def _attribution(folder: Path) -> tuple[str, list[Section]]:
    report = AttributionReport.load(folder)
    tidy = report.tidy()
    section = Section("Attribution against the truth")
    errors = report.errors("conversions")
    errors.index = [str(model).replace("_", " ") for model in errors.index]
    error = errors["mean_abs_error"].astype(float) if "mean_abs_error" in errors.columns else None
    lead = ""
    if error is not None:
        closest, furthest = str(error.idxmin()), str(error.idxmax())
        lead = (
            f"Closest to the truth: {closest} ({format_value(error[closest], 'percent')} off per channel "
            f"on average); furthest: {furthest} ({format_value(error[furthest], 'percent')}). "
        )
        section.key_figures += [
            (f"closest model: {closest}", format_value(error[closest], "percent") + " off"),
            (f"furthest model: {furthest}", format_value(error[furthest], "percent") + " off"),
        ]
    section.paragraphs.append(
        lead + f"Scenario {report.scenario.name}, {len(report.seeds)} seed(s) "
        f"({', '.join(map(str, report.seeds))}). First table: each model's share of the new customers per "
        "channel, next to the true incremental share (the customers lost when the channel's spend is "
        "removed on the same seeds). Second table: each model's error in share (model - truth, "
        "percentage points) per channel and its mean absolute error."
    )
    shares = report.table("conversions")
    shown = shares[[c for c in shares.columns if not c.endswith("_se") and c != "truth"]]
    section.tables.append(_table(shown, "channel", units={c: "percent" for c in shown.columns}))
    section.tables.append(_table(errors, "model", units={c: "percent" for c in errors.columns}))
    section.figures.append(
        ReportFigure(
            "attribution",
            "Attribution against the truth",
            "Share of new customers credited to each channel by each attribution model, next to the "
            "true incremental share (the same seeds without the channel's spend); 95% interval in red.",
            lambda f: figures.attribution_vs_truth(tidy, ax=f.add_subplot()),
            size=(10.0, 4.8),
        )
    )
    section.sheets["attribution"] = tidy
    return report.scenario.name, [section]


# abtest --------------------------------------------------------------------------------------
def _abtest(folder: Path) -> tuple[str, list[Section]]:
    result = ABTestResult.load(folder)
    pooled = result.pooled
    section = Section(f"A/B test: {result.variant}")
    significant = [str(m).replace("_", " ") for m, r in pooled.iterrows() if bool(r["significant"])]
    level = format_value(result.alpha, "percent")
    lead = (
        f"Significant at the {level} level: {', '.join(significant)}. "
        if significant
        else f"No outcome differs significantly between the arms (level {level}). "
    )
    section.paragraphs.append(
        lead + f"Treatment ({result.variant}) on {format_value(result.treatment_share, 'percent')} of the "
        f"simulated shoppers of scenario {result.scenario.name}, control on the rest, over "
        f"{len(result.seeds)} seed(s) ({', '.join(map(str, result.seeds))}). The last column is the sample "
        f"each arm would need to detect a {format_value(result.mde, 'percent')} relative lift with "
        f"{format_value(result.power, 'percent')} power, counted in simulated agents (each stands for the "
        "scenario's scale of people)."
    )
    rows = []
    for metric, row in pooled.iterrows():
        name = str(metric)
        unit = "number" if unit_of(name) == "count" else unit_of(name)  # a mean per shopper
        rows.append(
            [
                name.replace("_", " "),
                format_value(row["control_mean"], unit),
                format_value(row["treatment_mean"], unit),
                format_interval(row["lift"], row["ci_low"], row["ci_high"], unit, signed=True),
                format_value(row["relative_lift"], "percent", signed=True),
                format_value(row["p_value"], "probability"),
                "yes" if bool(row["significant"]) else "no",
                format_value(row.get("sample_size_per_arm"), "count"),
            ]
        )
    section.tables.append(
        ReportTable(
            [
                "outcome per shopper",
                "control",
                "treatment",
                "lift (95% interval)",
                "relative lift",
                "p-value",
                "significant",
                "agents needed per arm",
            ],
            rows,
        )
    )
    section.figures.append(
        ReportFigure(
            "ab_lift",
            "Lift per outcome",
            "Treatment against control: relative lift with its 95% interval; an interval clear of zero "
            "is significant at the 5% level.",
            lambda f: figures.ab_lift(pooled, ax=f.add_subplot()),
            size=(8.0, 0.55 * len(pooled) + 2.2),
        )
    )
    section.key_figures += [
        (f"lift of {str(m).replace('_', ' ')}", format_value(r["relative_lift"], "percent", signed=True))
        for m, r in pooled.head(5).iterrows()
    ]
    section.sheets["abtest"] = pooled
    section.sheets["arms"] = result.arms
    return result.scenario.name, [section]


MEASUREMENTS = (
    Measurement("replications.json", "Replications", _replications),
    Measurement("incrementality.json", "Incrementality", _incrementality),
    Measurement("clv.json", "Lifetime-value", _clv),
    Measurement("attribution.json", "Attribution", _attribution),
    Measurement("abtest.json", "A/B-test", _abtest),
)
"""Every measurement a report can show, in the order of its sections."""


@dataclass
class Measured:
    """What a folder's measurements contribute to its report."""

    kinds: list[str]
    """Titles of the measurements found (``Incrementality``...), in report order."""
    scenario: str
    """Name of the scenario measured (the first measurement's)."""
    sections: list[Section]


def measurement_sections(folder: Path, error: Callable[[Path, str], Exception]) -> Measured:
    """The report sections of every measurement saved in ``folder``.

    Parameters
    ----------
    folder
        The results folder.
    error
        Builds the exception raised when a measurement cannot be read back (a file and a
        one-line reason).
    """
    measured = Measured([], "", [])
    for measurement in MEASUREMENTS:
        if locate(folder, measurement.marker) is None:
            continue
        try:
            scenario, sections = measurement.sections(folder)
        except (OutputError, ScenarioError, KeyError, ValueError) as exc:
            raise error(folder / measurement.marker, f"cannot be read back ({exc})") from exc
        measured.kinds.append(measurement.title)
        measured.scenario = measured.scenario or scenario
        measured.sections += sections
    return measured
