"""Tidy results of a simulation: daily totals, daily per channel, per shopper, and KPIs.

All counts are people and all money is currency of the real market: agent figures multiplied
by the population ``scale``.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..common.output import OutputError, OutputExistsError, check_output_folder, write_files
from ..common.tables import TABLE_FORMATS, lazy_chunks, write_table, write_table_chunks
from ..config.scenario import Scenario
from ..levers.referral import SOCIAL_SOURCES
from .channels import LEDGER_FIELDS
from .economics import FOLLOW_UP_WINDOWS
from .lifetime import expected_lifetime_value
from .population import NO_DAY, Funnel, State
from .touchpaths import TouchPaths

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .model import CommerceModel

__all__ = [
    "ORDER_LOG_FORMATS",
    "OutputExistsError",
    "SimulationResult",
    "check_output_folder",
    "collect_results",
    "media_table",
    "order_log_table",
    "write_files",
    "write_order_log",
]

CHANNEL_TABLE_COLUMNS = (
    "spend",
    "new_aware",
    "visits",
    "carts",
    "orders",
    "new_customers",
    "revenue",
    "contribution",
)
"""Per-channel totals of :meth:`SimulationResult.channel_table` (and of the report)."""
MONEY_FIELDS = ("spend", "order_value", "revenue", "discounts", "cogs", "fees", "fulfilment")
STATE_COLUMNS = [s.name.lower() for s in State]
RESULT_FILES = (
    "summary.json",
    "daily.csv",
    "channels_daily.csv",
    "customers.csv",
    "customers.parquet",
    "levers_daily.csv",
    "scenario.yaml",
    "orders.csv",
    "orders.parquet",
    "media.csv",
)
ORDER_LOG_FORMATS = TABLE_FORMATS
"""File types of the order log ``simulate --out`` writes (``orders.csv`` or ``orders.parquet``)."""


@dataclass
class SimulationResult:
    """What one simulation produced.

    Attributes
    ----------
    scenario : Scenario
        The scenario as simulated (after overrides).
    seed : int
        Seed of the run.
    daily : pandas.DataFrame
        One row per ``day``: channel totals, ``profit`` and the number of shoppers in each state.
    channels : pandas.DataFrame
        One row per (``day``, ``channel``): spend, impressions, reach, new aware, visits, carts,
        orders, revenue, fees, new customers... and the channel's ``contribution`` after spend.
    customers : pandas.DataFrame
        One row per ``shopper_id`` at the end: persona, state, acquisition channel, orders,
        spend (revenue net of discounts) and margin (contribution before marketing).
    summary : dict
        Scalar KPIs for the whole horizon (see :func:`summarize`), including each lever's.
    levers : pandas.DataFrame
        One row per ``day``: program costs and each active lever's daily measures (members by
        loyalty tier, points, CRM messages, win-back offers, retargeting, referrals...).
    tables : dict of pandas.DataFrame
        Lever tables, e.g. ``campaigns`` (one row per campaign) and ``winback`` (per segment).
    paths : TouchPaths or None
        Touch paths before each conversion and of shoppers who never bought, when recorded
        (``simulate(..., record_paths=True)``; see :mod:`simulator.engine.touchpaths`).
    orders : pandas.DataFrame
        One row per ``order_id`` (one agent's order, standing for ``scale`` real orders): ``day``,
        ``shopper_id``, ``channel``, ``revenue`` (net of discounts, 0 when returned) and ``margin``
        (contribution before marketing), both per order (currency), and ``first`` (the shopper's
        first order). Empty when the model kept no order log.
    """

    scenario: Scenario
    seed: int
    daily: pd.DataFrame
    channels: pd.DataFrame
    customers: pd.DataFrame
    summary: dict[str, float] = field(default_factory=dict)
    levers: pd.DataFrame = field(default_factory=pd.DataFrame)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    paths: TouchPaths | None = None
    orders: pd.DataFrame = field(default_factory=pd.DataFrame)

    def channel_totals(self) -> pd.DataFrame:
        """Totals per channel over the horizon, with ``last_touch_roas`` and contribution per channel.

        Orders (their revenue, contribution and new customers) are booked in the channel they
        were placed through, their last touch: ``last_touch_roas`` (revenue / spend) is an
        attribution figure, not what the channel's spend adds (see
        :mod:`simulator.measure.incrementality` and :mod:`simulator.common.measures`).
        """
        totals = self.channels.groupby(level="channel", sort=False).sum()
        totals["last_touch_roas"] = totals["revenue"] / totals["spend"].where(totals["spend"] > 0)
        return totals

    def save(
        self,
        out_dir: str | Path,
        overwrite: bool = False,
        orders_format: str | None = None,
        table_format: str = "csv",
    ) -> list[Path]:
        """Write ``summary.json``, ``daily.csv``, ``channels_daily.csv``, ``customers`` and the order log.

        The per-shopper and per-order tables are written in ``table_format``: ``customers.csv`` and
        ``orders.csv``, or ``customers.parquet`` and ``orders.parquet`` with ``"parquet"``
        (``orders_format`` sets the order log's alone), converted and written 250,000 rows at a
        time (:func:`simulator.common.tables.write_table`). The order log has the columns
        ``run.py calibrate`` reads (:func:`order_log_table`); ``media.csv`` holds the daily spend
        per channel that ``calibrate --media`` reads (:func:`media_table`). Written in one output
        transaction (:mod:`simulator.common.output`): staged on the folder's own file system and
        sealed by ``manifest.json``, so a failure or a kill never leaves half the results.

        Raises
        ------
        OutputExistsError
            When ``out_dir`` already holds one of these files and ``overwrite`` is false.
        """
        summary = {"scenario": self.scenario.name, "seed": self.seed, "kpis": _jsonable(self.summary)}
        writers: dict[str, Callable[[Path], object]] = {
            "summary.json": lambda path: path.write_text(json.dumps(summary, indent=2), encoding="utf-8"),
            "daily.csv": self.daily.to_csv,
            "channels_daily.csv": self.channels.to_csv,
            f"customers.{table_format}": lambda path: write_table(self.customers, path),
            "levers_daily.csv": self.levers.to_csv,
            "scenario.yaml": lambda path: write_scenario(self.scenario, path),
        }
        for table_name, table in self.tables.items():
            writers[f"{table_name}.csv"] = table.to_csv
        writers[f"orders.{orders_format or table_format}"] = lambda path: write_order_log(self, path)
        writers["media.csv"] = lambda path: media_table(self).to_csv(path, index=False)
        return write_files(out_dir, writers, overwrite)

    @classmethod
    def load(cls, folder: str | Path) -> SimulationResult:
        """Read a ``simulate --out`` folder back into the result that wrote it.

        The folder is checked against its ``manifest.json`` first (a partial, truncated or
        changed folder is refused). Tables come back with their index and the dtypes the
        simulation gave them (categories of personas, states and channels, nullable purchase
        days); money and counts are the saved figures of the real market. The orders come back
        from ``orders.csv`` or ``orders.parquet`` (:func:`order_log_table` read in reverse; empty
        for a folder written before simulate saved them). Not saved, hence ``None``: the touch paths.

        Parameters
        ----------
        folder
            The ``--out`` folder of ``simulate`` (or of :meth:`save`).

        Returns
        -------
        SimulationResult
            The same tables, KPIs and scenario; ``.plot_*()`` and the notebook display work.

        Raises
        ------
        simulator.common.output.OutputError
            One line naming the folder or file: missing, partial, or not written by ``simulate``.
        """
        import warnings

        from ..common.reading import open_results, read_result_csv, read_result_json
        from ..config.scenario import ScenarioWarning, load_scenario
        from ..levers.registry import lever_tables

        order_logs = {f"orders.{log_format}" for log_format in ORDER_LOG_FORMATS}
        customer_files = {f"customers.{table_format}" for table_format in TABLE_FORMATS}
        # one order log or none; the customers in one of the table formats
        needed = [name for name in RESULT_FILES if name not in order_logs | customer_files]
        path = open_results(folder, needed, "simulate --out")
        with warnings.catch_warnings():  # the scenario warned when it was simulated
            warnings.simplefilter("ignore", ScenarioWarning)
            scenario = load_scenario(path / "scenario.yaml")
        summary = read_result_json(path, "summary.json")
        kpis = summary.get("kpis", {})
        channels = read_result_csv(path, "channels_daily.csv", columns=["day", "channel"])
        channels["channel"] = pd.Categorical(channels["channel"], categories=scenario.channel_names)
        channels = channels.set_index(["day", "channel"])
        tables = {}
        for name, index in lever_tables(scenario.policies).items():
            if (path / f"{name}.csv").is_file():
                tables[name] = read_result_csv(path, f"{name}.csv", index)
        ids_as_text = {"customer_id": str}  # a twin's customer ids as written (leading zeros kept)
        if (path / "customers.csv").is_file():
            customers = read_result_csv(path, "customers.csv", ["shopper_id"], dtypes=ids_as_text)
        elif (path / "customers.parquet").is_file():
            customers = _read_parquet(path / "customers.parquet")
        else:
            raise OutputError(
                f"{path}: holds no customers.csv or customers.parquet; "
                "expected the folder written by simulate --out"
            )
        customers = _customer_dtypes(customers, scenario)
        orders = pd.DataFrame()
        for log_format in ORDER_LOG_FORMATS:
            if (path / f"orders.{log_format}").is_file():
                orders = _orders_of_log(path / f"orders.{log_format}", customers, scenario)
        return cls(
            scenario=scenario,
            seed=int(summary.get("seed", scenario.seed)),
            daily=read_result_csv(path, "daily.csv", ["day"]),
            channels=channels,
            customers=customers,
            summary={str(k): float("nan") if v is None else float(v) for k, v in kpis.items()},
            levers=read_result_csv(path, "levers_daily.csv", ["day"]),
            tables=tables,
            orders=orders,
        )

    def kpi_table(self) -> pd.DataFrame:
        """The KPIs as a two-column table (``kpi``, ``value``) for display."""
        return pd.DataFrame({"value": pd.Series(self.summary)}).rename_axis("kpi")

    def channel_table(self) -> pd.DataFrame:
        """Per-channel totals as the report shows them: spend, funnel, revenue, last-touch ROAS and CAC.

        Columns ``spend``, ``new_aware``, ``visits``, ``carts``, ``orders``, ``new_customers``,
        ``revenue``, ``contribution`` (currency and people of the real market over the
        horizon; orders credited to the channel they were placed through, their last touch),
        ``last_touch_roas`` (revenue / spend) and ``last_touch_cac`` (spend / new customers):
        attribution figures, not what the channel's spend adds.
        """
        totals = self.channels.groupby(level="channel", sort=False)[list(CHANNEL_TABLE_COLUMNS)].sum()
        totals["last_touch_roas"] = totals["revenue"] / totals["spend"].where(totals["spend"] > 0)
        totals["last_touch_cac"] = totals["spend"] / totals["new_customers"].where(
            totals["new_customers"] > 0
        )
        return totals

    def _repr_html_(self) -> str:
        from ..common.display import HEADLINE_KPIS, html_table, kpi_table_html

        scenario = self.scenario
        population = scenario.population
        title = (
            f"<p><b>{html.escape(scenario.name)}</b>: seed {self.seed}, {scenario.horizon_days} days, "
            f"{population.agents:,} agents x scale {population.scale:,.4g} "
            f"(money in {html.escape(scenario.economics.currency)}, counts in people of the real market)</p>"
        )
        headline = kpi_table_html(self.summary, HEADLINE_KPIS, "Key figures")
        channels = html_table(
            self.channel_table(),
            caption="Per channel over the horizon (orders credited to their last touch)",
            readable_headers=True,
        )
        others = [name for name in self.summary if name not in HEADLINE_KPIS]
        details = (
            f"<details><summary>All {len(self.summary)} KPIs</summary>"
            + kpi_table_html(self.summary, others)
            + "</details>"
        )
        layout = '<div style="display: flex; flex-wrap: wrap; align-items: flex-start">'
        return f"<div>{title}{layout}{headline}{channels}</div>{details}</div>"

    # Figures: drawn from the result's tables by simulator.engine.figures (imported on first use,
    # so that simulating never loads matplotlib).
    def plot_revenue_and_spend(self) -> Figure:
        """Daily revenue and marketing spend, campaigns shaded: the report's figure.

        Returns
        -------
        matplotlib.figure.Figure
            :func:`simulator.engine.figures.revenue_and_spend` of :attr:`daily` and the ``campaigns``
            table.
        """
        from . import figures

        campaigns = self.tables.get("campaigns")
        return figures.revenue_and_spend(self.daily, campaigns, currency=self.scenario.economics.currency)

    def plot_funnel(self) -> Figure:
        """The funnel per channel (aware, considering, cart, order, repeat): the report's figure.

        Returns
        -------
        matplotlib.figure.Figure
            :func:`simulator.engine.figures.funnel` of :attr:`channels`.
        """
        from . import figures

        return figures.funnel(self.channels)

    def plot_loyalty_tiers(self) -> Figure:
        """Loyalty members by tier per day: the report's figure (needs the loyalty lever on).

        Returns
        -------
        matplotlib.figure.Figure
            :func:`simulator.engine.figures.loyalty_tiers` of :attr:`levers`.

        Raises
        ------
        ValueError
            When the scenario has no loyalty program.
        """
        from . import figures

        return figures.loyalty_tiers(self.levers)


def _customer_dtypes(customers: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """``customers.csv`` as read, with the dtypes :func:`collect_results` gives the columns."""
    known: dict[str, Any] = {
        "persona": pd.CategoricalDtype(list(scenario.population.personas)),
        "state": pd.CategoricalDtype(STATE_COLUMNS),
        "first_purchase_day": "Int32",
        "last_purchase_day": "Int32",
        "orders": np.int32,
    }
    frame = customers.astype({k: v for k, v in known.items() if k in customers.columns})
    for column in frame.columns:
        if column == "customer_id":  # a customer-base twin's: whom each agent stands for
            frame[column] = frame[column].astype(object)
        elif column not in known and not pd.api.types.is_numeric_dtype(frame[column]):
            frame[column] = pd.Categorical(frame[column])  # channels, loyalty tiers, reasons
    return frame


def _read_parquet(path: Path) -> pd.DataFrame:
    """A Parquet table the toolkit wrote (index restored), or a one-line error naming the file."""
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError, ImportError) as exc:
        raise OutputError(f"{path}: cannot be read as Parquet ({exc})") from None


def _orders_of_log(path: Path, customers: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """``SimulationResult.orders`` from the order log :func:`write_order_log` wrote.

    The reverse of :func:`order_log_table`: customer ids back to shopper ids (through
    ``customers.csv``'s ``customer_id`` for a customer-base twin), dates back to days, and
    ``first`` where an order falls on its shopper's first purchase day (the first such order).
    """
    from ..common.reading import read_result_csv

    columns = ["order_id", "customer_id", "date", "revenue", "channel", "margin"]
    if path.suffix == ".parquet":
        log = _read_parquet(path)
        missing = [c for c in columns if c not in log.columns]
        if missing:
            raise OutputError(f"{path}: missing column {missing[0]} (as the toolkit writes it)")
    else:
        log = read_result_csv(path.parent, path.name, columns=columns, dtypes={"customer_id": str})
    if "customer_id" in customers.columns:
        ids = pd.Index(customers["customer_id"].astype(str))
    else:
        ids = pd.Index(customers.index.astype(str))
    shopper = ids.get_indexer(pd.Index(log["customer_id"].astype(str)))
    days = (pd.to_datetime(log["date"]) - pd.Timestamp(scenario.start_date)).dt.days.to_numpy(np.int64)
    unknown = np.flatnonzero((shopper < 0) | (days < 0))
    if unknown.size:
        raise OutputError(
            f"{path}: row {int(unknown[0]) + 1} names a customer or date not in this folder's "
            "customers.csv and scenario (as the toolkit writes it)"
        )
    first_day = customers["first_purchase_day"].to_numpy(dtype=np.float64, na_value=np.nan)
    on_first_day = days == first_day[shopper]
    key = np.where(on_first_day, shopper, -1 - np.arange(shopper.size))  # others never repeat
    first = on_first_day & ~pd.Series(key).duplicated().to_numpy()
    return pd.DataFrame(
        {
            "day": days.astype(np.int32),
            "shopper_id": shopper.astype(np.int32),
            "channel": pd.Categorical(log["channel"].astype(str), categories=scenario.channel_names),
            "revenue": log["revenue"].to_numpy(np.float64),
            "margin": log["margin"].to_numpy(np.float64),
            "first": first,
        },
        index=pd.Index(log["order_id"].to_numpy(np.int64), name="order_id"),
    )


def order_log_table(result: SimulationResult, start: int = 0, stop: int | None = None) -> pd.DataFrame:
    """The simulated orders as an order log that ``run.py calibrate`` reads.

    One row per agent order (with ``population.scale`` above 1, a sample of the market's orders:
    calibrate it with ``--log-scale`` = the scale): ``order_id``; ``customer_id`` (the shopper id,
    or for a customer-base twin the customer's own id, and ``new-<shopper id>`` for its new
    customers); ``date`` (ISO date, ``start_date`` + day); ``revenue`` (net of discounts, 0 when
    returned, currency); ``channel``; ``margin`` (contribution before marketing, currency).
    ``start`` and ``stop`` select the orders ``start`` to ``stop - 1`` (default all).
    """
    orders = result.orders.iloc[start:stop]
    shopper = orders["shopper_id"].to_numpy(np.int64)
    if "customer_id" in result.customers.columns:
        ids = result.customers["customer_id"].to_numpy(dtype=object)[shopper]
    else:
        ids = shopper
    first_day = np.datetime64(result.scenario.start_date, "D")
    dates = (first_day + orders["day"].to_numpy(np.int64).astype("timedelta64[D]")).astype(str)
    return pd.DataFrame(
        {
            "order_id": orders.index.to_numpy(),
            "customer_id": ids,
            "date": dates,
            "revenue": orders["revenue"].to_numpy(),
            "channel": orders["channel"].astype(str).to_numpy(),
            "margin": orders["margin"].to_numpy(),
        }
    )


def media_table(result: SimulationResult) -> pd.DataFrame:
    """The simulated media history in the format ``run.py calibrate --media`` reads.

    One row per date and channel (daily, dates from ``start_date``): ``date`` (ISO date),
    ``channel``, ``spend`` (currency), ``impressions``, and the outcomes booked to the channel
    (its last touch): ``visits``, ``orders``, ``new_customers`` (people) and ``revenue`` (net of
    discounts and returns, currency), all of the real market; see :mod:`simulator.data.media`.
    ``run.py simulate --compare-to`` compares a simulation with such a table.
    """
    channels = result.channels.reset_index()
    start = np.datetime64(result.scenario.start_date, "D")
    dates = (start + channels["day"].to_numpy(np.int64).astype("timedelta64[D]")).astype(str)
    return pd.DataFrame(
        {
            "date": dates,
            "channel": channels["channel"].astype(str).to_numpy(),
            "spend": channels["spend"].to_numpy(np.float64),
            **{
                name: channels[name].to_numpy(np.float64)
                for name in ("impressions", "visits", "orders", "new_customers", "revenue")
            },
        }
    )


def write_order_log(result: SimulationResult, path: Path) -> None:
    """Write :func:`order_log_table` as CSV or Parquet, by the suffix, 250,000 orders at a time."""
    parquet = path.suffix.lower() == ".parquet"

    def chunk(start: int, stop: int) -> pd.DataFrame:
        table = order_log_table(result, start, stop)
        return table.assign(customer_id=table["customer_id"].astype(str)) if parquet else table

    write_table_chunks(lazy_chunks(len(result.orders), chunk), path, index=False)


def write_scenario(scenario: Scenario, path: Path) -> None:
    """Write the scenario as simulated (overrides applied) as YAML, for reports and reruns."""
    import yaml

    data = scenario.model_dump(mode="json", exclude_none=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _jsonable(values: dict[str, float]) -> dict[str, float | None]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in values.items()}


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else float("nan")


def summarize(
    daily: pd.DataFrame, customers: pd.DataFrame, funnel: np.ndarray, scale: float
) -> dict[str, float]:
    """Compute the horizon KPIs.

    Parameters
    ----------
    daily
        The daily totals (already scaled).
    customers
        The per-shopper table (agent rows).
    funnel
        Per-shopper :class:`~simulator.engine.population.Funnel` flags.
    scale
        People per agent.
    """
    total = daily.sum()
    revenue = float(total["revenue"])
    spend = float(total["spend"])
    program_costs = float(total["program_costs"])
    gross_profit = revenue - float(total["discounts"]) - float(total["cogs"])
    profit = float(total["profit"])
    orders = float(total["orders"])
    new_customers = float(total["new_customers"])

    def ever(flag: Funnel) -> np.ndarray:
        return (funnel & np.uint8(flag)) > 0

    aware, visited, carted = ever(Funnel.AWARE), ever(Funnel.VISITED), ever(Funnel.CARTED)
    prospects_visited = visited & aware
    prospects_carted = carted & prospects_visited
    prospects_ordered = ever(Funnel.ORDERED) & prospects_carted
    buyers = customers["orders"] > 0
    first_day = customers["first_purchase_day"]
    acquired = (first_day >= 0).fillna(False).to_numpy(dtype=bool)
    last = daily.iloc[-1]
    return {
        "revenue": revenue,
        "discounts": float(total["discounts"]),
        "cogs": float(total["cogs"]),
        "gross_profit": gross_profit,
        "fees": float(total["fees"]),
        "fulfilment": float(total["fulfilment"]),
        "marketing_spend": spend,
        "program_costs": program_costs,
        "profit": profit,
        # The measures of simulator.common.measures: roi break-even 0, roas revenue per unit of spend.
        "roi": _ratio(profit, spend),
        "roas": _ratio(revenue, spend),
        "cac": _ratio(spend, new_customers),
        "aov": _ratio(float(total["order_value"]), orders),
        "orders": orders,
        "new_customers": new_customers,
        "acquired_customer_value": float(customers["margin"].to_numpy()[acquired].sum() * scale),
        "repeat_orders": float(total["repeat_orders"]),
        "returns": float(total["returns"]),
        "conversion_aware_to_visit": _ratio(float(prospects_visited.sum()), float(aware.sum())),
        "conversion_visit_to_cart": _ratio(float(prospects_carted.sum()), float(prospects_visited.sum())),
        "conversion_cart_to_order": _ratio(float(prospects_ordered.sum()), float(prospects_carted.sum())),
        "checkout_rate": _ratio(orders, float(total["carts"])),
        "abandoned_carts": float(total["abandoned_carts"]),
        "cart_recovery_rate": _ratio(float(total["recovered_carts"]), float(total["abandoned_carts"])),
        "repurchase_rate": _ratio(float((customers["orders"] >= 2).sum()), float(buyers.sum())),
        "customers_end": float(last["active"] + last["lapsed"] + last["churned"]),
        "active_end": float(last["active"]),
        "lapsed_end": float(last["lapsed"]),
        "churned_end": float(last["churned"]),
        "people": float(len(customers) * scale),
    }


def _optional_day(days: np.ndarray) -> pd.arrays.IntegerArray:
    """Days as a nullable integer column: empty where the event never happened."""
    return pd.arrays.IntegerArray(days.astype(np.int32), days == NO_DAY)


def collect_results(model: CommerceModel) -> SimulationResult:
    """Build the tidy :class:`SimulationResult` of a finished model."""
    scale = model.scale
    days = np.arange(model.day)
    names = [c.name for c in model.channel_agents]
    frames = []
    for channel in model.channel_agents:
        frame = pd.DataFrame({f: channel.ledger[f][: model.day] * scale for f in LEDGER_FIELDS})
        frame.insert(0, "channel", channel.name)
        frame.insert(0, "day", days)
        frames.append(frame)
    channels = pd.concat(frames, ignore_index=True)
    channels["contribution"] = (
        channels["revenue"]
        - channels["discounts"]
        - channels["cogs"]
        - channels["fees"]
        - channels["fulfilment"]
        - channels["spend"]
    )
    channels["channel"] = pd.Categorical(channels["channel"], categories=names)
    channels = channels.sort_values(["day", "channel"]).set_index(["day", "channel"])

    daily = channels.groupby(level="day").sum()
    daily = daily.rename(columns={"contribution": "profit"})
    program = sum(model.program_costs[f][: model.day] for f in model.program_costs) * scale
    daily["program_costs"] = program
    daily["profit"] -= daily["program_costs"]
    states = pd.DataFrame(model.state_counts[: model.day] * scale, columns=STATE_COLUMNS, index=daily.index)
    daily = pd.concat([daily, states], axis=1)

    pop = model.population
    channel_names = np.array(["none", *names], dtype=object)
    aware_sources = np.array(["none", *names, *SOCIAL_SOURCES], dtype=object)
    customers = pd.DataFrame(
        {
            "persona": pd.Categorical.from_codes(pop.persona.astype(np.int64), pd.Index(pop.personas.names)),
            "state": pd.Categorical.from_codes(pop.state.astype(np.int64), pd.Index(STATE_COLUMNS)),
            "alive": pop.alive,
            "aware_channel": pd.Categorical(aware_sources[pop.aware_channel.astype(np.int64) + 1]),
            "acquisition_channel": pd.Categorical(
                channel_names[pop.acquisition_channel.astype(np.int64) + 1]
            ),
            "first_purchase_day": _optional_day(pop.first_purchase_day),
            "last_purchase_day": _optional_day(pop.last_purchase_day),
            "orders": pop.orders,
            "spend": pop.revenue,
            "margin": pop.contribution,
        },
        index=pd.RangeIndex(pop.size, name="shopper_id"),
    )
    if pop.twin is not None:  # a customer-base twin: whom each agent stands for
        ids = pop.twin.histories.ids[pop.twin.row.clip(0)].astype(object)
        new = pop.twin.row < 0
        ids[new] = [f"new-{shopper}" for shopper in np.flatnonzero(new)]
        customers.insert(0, "customer_id", ids)
    summary = _with_lifetime_value(model, summarize(daily, customers, pop.funnel, scale))
    summary.update(_repurchase_windows(model, daily))
    levers = model.levers.results(model, daily["orders"])
    summary.update(levers.summary)
    for name, values in levers.columns.items():
        customers[name] = values
    return SimulationResult(
        scenario=model.scenario,
        seed=int(model.seed),
        daily=daily,
        channels=channels,
        customers=customers,
        summary=summary,
        levers=levers.daily,
        tables=levers.tables,
        orders=_orders_frame(model, names),
        paths=model.touches.collect(model) if model.touches is not None else None,
    )


def _orders_frame(model: CommerceModel, channel_names: list[str]) -> pd.DataFrame:
    """The model's order log as one row per order (empty when it kept none)."""
    log = model.order_log
    columns = ("day", "shopper", "channel", "revenue", "margin", "first")
    dtypes = (np.int32, np.int32, np.int8, np.float64, np.float64, np.bool_)
    arrays = {
        name: (
            np.concatenate(getattr(log, name))
            if log is not None and getattr(log, name)
            else np.empty(0, dtype)
        )
        for name, dtype in zip(columns, dtypes, strict=True)
    }
    return pd.DataFrame(
        {
            "day": arrays["day"],
            "shopper_id": arrays["shopper"],
            "channel": pd.Categorical.from_codes(arrays["channel"].astype(np.int64), pd.Index(channel_names)),
            "revenue": arrays["revenue"],
            "margin": arrays["margin"],
            "first": arrays["first"],
        },
        index=pd.RangeIndex(arrays["day"].size, name="order_id"),
    )


def _with_lifetime_value(model: CommerceModel, summary: dict[str, float]) -> dict[str, float]:
    """The KPIs with the expected lifetime value after ``acquired_customer_value``.

    ``expected_lifetime_value``: margin of the customers acquired in the horizon, realized and
    expected over ``economics.value_horizon_days`` more, discounted to each acquisition day
    (currency); ``expected_lifetime_value_per_customer``: per new customer (currency per
    customer). See :mod:`simulator.engine.lifetime`.
    """
    value = expected_lifetime_value(model)
    kpis = {
        "expected_lifetime_value": value.total,
        "expected_lifetime_value_per_customer": value.per_customer,
    }
    names = list(summary)
    at = names.index("acquired_customer_value") + 1
    return {**{k: summary[k] for k in names[:at]}, **kpis, **{k: summary[k] for k in names[at:]}}


def _repurchase_windows(model: CommerceModel, daily: pd.DataFrame) -> dict[str, float]:
    """Share of orders followed by the same shopper's next order within 7, 30 and 60 days.

    For each window only orders placed at least that many days before the end count, so every
    counted order had its full window.
    """
    kpis = {}
    for column, window in enumerate(FOLLOW_UP_WINDOWS):
        last = model.day - 1 - window
        orders = float(daily["orders"].iloc[: last + 1].sum() / model.scale) if last >= 0 else 0.0
        within = float(model.repeat_followups[: last + 1, column].sum()) if last >= 0 else 0.0
        kpis[f"repurchase_within_{window}_days"] = _ratio(within, orders)
    return kpis
