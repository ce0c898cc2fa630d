"""Figures of simulation results and recommendations, drawn from plain tables.

Every function takes pandas DataFrames with the columns documented in its docstring - the
columns of the files that ``run.py simulate``, ``clv``, ``attribution``, ``allocate`` and
``optimize`` write - so a saved output folder can be plotted without any simulator object.

Convention: every function returns the :class:`matplotlib.figure.Figure` it drew on and never
calls ``plt.show()``. Single-panel figures take an optional ``ax`` to draw into (a panel of a
larger figure); multi-panel figures take an optional ``fig`` (a figure or sub-figure) to fill.
Without them, a new figure is made with :class:`~matplotlib.figure.Figure` directly, outside
pyplot's global state, so nothing needs closing and figures can be made in worker threads or
processes. Save with ``fig.savefig(...)`` (PNG, SVG, PDF).

A ``day`` column may also be the index (as in ``SimulationResult.daily``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.container import BarContainer
from matplotlib.figure import Figure, FigureBase
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, PercentFormatter

if TYPE_CHECKING:
    import optuna

__all__ = [
    "FUNNEL_STAGES",
    "TIER_MOVES",
    "attribution_vs_truth",
    "format_amount",
    "funnel",
    "loyalty_tiers",
    "optimization_history",
    "outcome_comparison",
    "param_importances",
    "pareto_front",
    "response_curves",
    "retention_heatmap",
    "revenue_and_spend",
    "spend_comparison",
    "tier_columns",
]

FUNNEL_STAGES: tuple[tuple[str, str], ...] = (
    ("aware", "new_aware"),
    ("considering", "visits"),
    ("cart", "carts"),
    ("order", "orders"),
    ("repeat", "repeat_orders"),
)
"""Funnel stages and the ``channels_daily.csv`` column counting each one per channel."""

PLAN_COLORS = {"current": "#8c8c8c", "recommended": "#1f77b4"}
METRIC_LABELS = {
    "profit": "profit",
    "roi": "ROI (profit / marketing spend)",
    "roas": "ROAS (revenue / marketing spend)",
    "revenue": "revenue",
    "marketing_spend": "marketing spend",
    "new_customers": "new customers",
    "acquired_customer_value": "margin from customers won",
    "clv": "lifetime value per customer",
}
"""Readable titles of outcome metrics; other metric names are shown with spaces for underscores."""
METRIC_SHORT = {"roi": "ROI", "roas": "ROAS", "acquired_customer_value": "margin"}
"""Axis names of metrics whose title is too long for an axis."""
RATIO_METRICS = frozenset({"roi", "roas"})
COUNT_METRICS = frozenset({"orders", "new_customers", "customers_end", "active_end", "churned_end"})
"""Metrics counted in people or orders rather than currency."""


def _metric_axis(metric: str, currency: str) -> str:
    """Axis label of a metric with its unit: ``profit (CNY)``, ``ROI (ratio)``, ``new customers (people)``."""
    name = METRIC_SHORT.get(metric, metric.replace("_", " "))
    if metric in RATIO_METRICS:
        return f"{name} (ratio)"
    if metric in COUNT_METRICS:
        return f"{name} (people)" if metric != "orders" else f"{name} (orders)"
    return name + _unit(currency)


SINGLE_SIZE = (8.0, 4.5)


def format_amount(value: float, currency: str = "") -> str:
    """A money amount or count, short: ``1.2M``, ``120k``, ``950``, with the currency after it.

    Parameters
    ----------
    value
        The amount (currency or people).
    currency
        Currency code to append (e.g. ``"CNY"``), or empty.
    """
    if not math.isfinite(value):
        return "n/a"
    size = abs(value)
    for threshold, suffix in ((1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if size >= threshold:
            scaled = value / threshold
            text = f"{scaled:,.1f}".removesuffix(".0") if abs(scaled) < 100 else f"{scaled:,.0f}"
            text += suffix
            break
    else:
        text = f"{value:,.0f}" if size >= 10 or size == 0 else f"{value:.2g}"
    return f"{text} {currency}" if currency else text


def _money_axis(ax: Axes, axis: str = "y") -> None:
    formatter = FuncFormatter(lambda value, _pos: format_amount(float(value)))
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(formatter)


def _unit(currency: str) -> str:
    return f" ({currency})" if currency else " (currency)"


def _single(ax: Axes | None, figsize: tuple[float, float] = SINGLE_SIZE) -> tuple[Figure, Axes]:
    """The axes to draw into and its root figure; a new figure when ``ax`` is None."""
    if ax is None:
        fig = Figure(figsize=figsize, layout="constrained")
        return fig, fig.add_subplot()
    root = ax.get_figure(root=True)
    if not isinstance(root, Figure):
        raise ValueError("ax must belong to a figure")
    return root, ax


def _root(fig: FigureBase) -> Figure:
    root = fig.get_figure(root=True) if not isinstance(fig, Figure) else fig
    if not isinstance(root, Figure):
        raise ValueError("fig must belong to a figure")
    return root


def _panels(
    fig: FigureBase | None, count: int, panel_size: tuple[float, float]
) -> tuple[FigureBase, list[Axes]]:
    """``count`` panels in rows of up to three."""
    columns = min(count, 3)
    rows = math.ceil(count / columns)
    if fig is None:
        fig = Figure(figsize=(panel_size[0] * columns, panel_size[1] * rows), layout="constrained")
    grid = fig.subplots(rows, columns, squeeze=False)
    axes: list[Axes] = list(grid.ravel())
    for extra in axes[count:]:
        extra.set_visible(False)
    return fig, axes[:count]


def _table(frame: pd.DataFrame, required: Iterable[str], what: str) -> pd.DataFrame:
    """``frame`` with its named index levels as columns, checked for the required columns."""
    if any(name is not None for name in frame.index.names):
        frame = frame.reset_index()
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise ValueError(
            f"{what}: missing column(s) {', '.join(missing)}; has {', '.join(map(str, frame.columns))}"
        )
    return frame


def _channel_order(values: pd.Series) -> list[str]:
    """Channels in order of appearance (or category order), as strings."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.astype(str))
        return [str(c) for c in values.cat.categories if str(c) in present]
    return [str(c) for c in pd.unique(values.astype(str))]


def _grouped_bars(
    ax: Axes,
    groups: Sequence[str],
    series: Sequence[tuple[str, Sequence[float], dict[str, Any]]],
) -> list[BarContainer]:
    """Bars of several series side by side in each group (one group per x tick)."""
    positions = np.arange(len(groups), dtype=np.float64)
    width = 0.8 / max(len(series), 1)
    bars = []
    for k, (label, heights, style) in enumerate(series):
        offset = (k - (len(series) - 1) / 2) * width
        bars.append(
            ax.bar(positions + offset, np.asarray(heights, dtype=np.float64), width, label=label, **style)
        )
    ax.set_xticks(positions, list(groups))
    return bars


# Recommendation figures ----------------------------------------------------------------------
def spend_comparison(table: pd.DataFrame, *, currency: str = "", ax: Axes | None = None) -> Figure:
    """Current against recommended spend per channel, as side-by-side bars.

    Parameters
    ----------
    table
        One row per channel: ``channel``, ``current_spend`` and ``recommended_spend`` (currency
        over the plan's horizon).
    currency
        Currency code for the axis label.
    ax
        Axes to draw into; a new figure when None.
    """
    data = _table(table, ("channel", "current_spend", "recommended_spend"), "spend_comparison")
    fig, ax = _single(ax)
    bars = _grouped_bars(
        ax,
        data["channel"].astype(str).tolist(),
        [
            ("current", data["current_spend"].tolist(), {"color": PLAN_COLORS["current"]}),
            ("recommended", data["recommended_spend"].tolist(), {"color": PLAN_COLORS["recommended"]}),
        ],
    )
    for container, column in zip(bars, ("current_spend", "recommended_spend"), strict=True):
        ax.bar_label(container, labels=[format_amount(float(v)) for v in data[column]], fontsize=8)
    ax.set_title("Marketing spend per channel: current and recommended")
    ax.set_xlabel("channel")
    ax.set_ylabel("spend" + _unit(currency))
    _money_axis(ax)
    ax.legend()
    return fig


def response_curves(
    curves: pd.DataFrame,
    points: pd.DataFrame,
    observed: pd.DataFrame | None = None,
    *,
    outcome_label: str = "incremental profit",
    currency: str = "",
    fig: FigureBase | None = None,
) -> Figure:
    """Each channel's fitted response curve with its current and recommended spend marked.

    One panel per channel (in the order of ``points``); the marginal ROI at the recommended
    spend is written next to the recommended point.

    Parameters
    ----------
    curves
        The fitted curves, long: ``channel``, ``spend`` (currency over the horizon) and
        ``outcome`` (the channel's incremental outcome at that spend, e.g. profit in currency).
    points
        One row per channel: ``channel``, ``current_spend``, ``recommended_spend``,
        ``current_outcome``, ``recommended_outcome`` and ``marginal_roi`` (extra outcome per
        extra unit of spend at the recommended spend; ratio).
    observed
        Optional simulated measurements the curves were fitted to: ``channel``, ``spend``,
        ``outcome`` and the 95% interval ``low``, ``high``.
    outcome_label
        What ``outcome`` measures, for the y axis.
    currency
        Currency code for the axis labels.
    fig
        Figure or sub-figure to fill; a new figure when None.
    """
    curves = _table(curves, ("channel", "spend", "outcome"), "response_curves: curves")
    points = _table(
        points,
        (
            "channel",
            "current_spend",
            "recommended_spend",
            "current_outcome",
            "recommended_outcome",
            "marginal_roi",
        ),
        "response_curves: points",
    )
    if observed is not None:
        observed = _table(
            observed, ("channel", "spend", "outcome", "low", "high"), "response_curves: observed"
        )
    channels = _channel_order(points["channel"])
    fig, axes = _panels(fig, len(channels), (4.2, 3.4))
    for ax, channel in zip(axes, channels, strict=True):
        curve = curves[curves["channel"].astype(str) == channel].sort_values("spend")
        point = points[points["channel"].astype(str) == channel].iloc[0]
        ax.plot(curve["spend"], curve["outcome"], color="#1f77b4", label="fitted curve")
        if observed is not None:
            measured = observed[observed["channel"].astype(str) == channel]
            if len(measured):
                ax.errorbar(
                    measured["spend"],
                    measured["outcome"],
                    yerr=[measured["outcome"] - measured["low"], measured["high"] - measured["outcome"]],
                    fmt=".",
                    color="#555555",
                    capsize=2,
                    label="simulated (95% interval)",
                )
        ax.plot(
            [point["current_spend"]],
            [point["current_outcome"]],
            "o",
            color=PLAN_COLORS["current"],
            markersize=8,
            label="current",
        )
        ax.plot(
            [point["recommended_spend"]],
            [point["recommended_outcome"]],
            "*",
            color="#d62728",
            markersize=13,
            label="recommended",
        )
        ax.annotate(
            f"marginal ROI {point['marginal_roi']:.2f}",
            (float(point["recommended_spend"]), float(point["recommended_outcome"])),
            textcoords="offset points",
            xytext=(6, -14),
            fontsize=8,
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.8},
        )
        ax.set_title(channel)
        ax.set_xlabel("spend" + _unit(currency))
        ax.set_ylabel(outcome_label + _unit(currency))
        _money_axis(ax, "x")
        _money_axis(ax)
    if axes:
        axes[0].legend(fontsize=8)
    fig.suptitle("Response curves: current and recommended spend")
    return _root(fig)


def outcome_comparison(table: pd.DataFrame, *, currency: str = "", fig: FigureBase | None = None) -> Figure:
    """Expected outcomes of the current and recommended plans with their intervals.

    One panel per metric (units differ); in each, a bar per plan at the mean with whiskers
    from ``low`` to ``high``.

    Parameters
    ----------
    table
        One row per (metric, plan): ``metric`` (e.g. ``profit``, ``roi``, ``clv``), ``plan``
        (``current`` or ``recommended``), ``mean``, and the interval ``low``, ``high`` (95% over
        seeds), in the metric's unit (currency for money, a ratio for ROI).
    currency
        Currency code for the money metrics' axis labels.
    fig
        Figure or sub-figure to fill; a new figure when None.
    """
    data = _table(table, ("metric", "plan", "mean", "low", "high"), "outcome_comparison")
    metrics = _channel_order(data["metric"])
    fig, axes = _panels(fig, len(metrics), (3.4, 3.4))
    for ax, metric in zip(axes, metrics, strict=True):
        rows = data[data["metric"].astype(str) == metric]
        plans = rows["plan"].astype(str).tolist()
        means = rows["mean"].to_numpy(np.float64)
        errors = np.vstack(
            [means - rows["low"].to_numpy(np.float64), rows["high"].to_numpy(np.float64) - means]
        )
        colors = [PLAN_COLORS.get(plan, "#2ca02c") for plan in plans]
        bars = ax.bar(plans, means, yerr=errors, capsize=6, color=colors)
        amount = metric not in RATIO_METRICS
        ax.bar_label(
            bars,
            labels=[format_amount(m) if amount else f"{m:.2f}" for m in means],
            fontsize=8,
            label_type="center",
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.8},
        )
        ax.set_title(METRIC_LABELS.get(metric, metric.replace("_", " ")))
        ax.set_xlabel("plan")
        ax.set_ylabel(_metric_axis(metric, currency))
        if amount:
            _money_axis(ax)
    fig.suptitle("Expected outcome, current and recommended plan (95% interval)")
    return _root(fig)


def pareto_front(trials: pd.DataFrame, chosen: int | None = None, *, ax: Axes | None = None) -> Figure:
    """ROI against lifetime value of every policy tried, the Pareto front joined, the chosen one marked.

    Parameters
    ----------
    trials
        One row per trial: ``number`` (Optuna trial number), ``roi`` (ratio), ``clv`` (lifetime
        value per customer, currency) and ``pareto`` (bool: on the Pareto front).
    chosen
        Trial number of the chosen policy, marked with a star; None for no mark.
    ax
        Axes to draw into; a new figure when None.
    """
    data = _table(trials, ("number", "roi", "clv", "pareto"), "pareto_front")
    fig, ax = _single(ax)
    on_front = data["pareto"].astype(bool)
    ax.scatter(
        data.loc[~on_front, "roi"], data.loc[~on_front, "clv"], color="#bbbbbb", s=18, label="other trials"
    )
    front = data[on_front].sort_values("roi")
    ax.plot(front["roi"], front["clv"], "o-", color="#1f77b4", markersize=5, label="Pareto front")
    if chosen is not None:
        pick = data[data["number"] == chosen]
        if pick.empty:
            raise ValueError(f"pareto_front: chosen trial {chosen} is not among the trials")
        ax.plot(
            pick["roi"], pick["clv"], "*", color="#d62728", markersize=16, label=f"chosen (trial {chosen})"
        )
    ax.set_title("Policies tried: ROI against customer lifetime value")
    ax.set_xlabel("ROI (profit / marketing spend)")
    ax.set_ylabel("lifetime value per customer")
    ax.legend()
    return fig


def _optuna_figure(draw: Callable[[], Axes], title: str) -> Figure:
    """Run an ``optuna.visualization.matplotlib`` function and detach its figure from pyplot."""
    import matplotlib.pyplot as plt
    from optuna.exceptions import ExperimentalWarning

    # Optuna's plots switch pyplot to the 'ggplot' style globally; rc_context puts every
    # setting back afterwards, so later figures (and a notebook's own) keep their look.
    with warnings.catch_warnings(), matplotlib.rc_context():
        warnings.simplefilter("ignore", ExperimentalWarning)
        ax = draw()
    fig = ax.get_figure(root=True)
    if not isinstance(fig, Figure):
        raise ValueError("optuna returned axes without a figure")
    plt.close(fig)
    # Optuna titles some plots on the left ("Hyperparameter Importances"); one title, centred.
    ax.set_title("", loc="left")
    ax.set_title("", loc="right")
    ax.set_title(title)
    # Long policy paths label the bars of the importance plot: size the figure to its labels
    # and let the layout make room for them instead of cutting them off at the left edge.
    labels = len(ax.get_yticklabels())
    fig.set_size_inches(9.0, max(4.8, 0.28 * labels + 1.6))
    fig.tight_layout()
    return fig


def optimization_history(
    study: optuna.Study,
    *,
    target: Callable[[optuna.trial.FrozenTrial], float] | None = None,
    target_name: str = "Objective Value",
) -> Figure:
    """Optuna's optimization history (objective per trial and best so far).

    Parameters
    ----------
    study
        The study (single-objective, or multi-objective with ``target``).
    target
        Which value to plot, e.g. ``lambda t: t.values[0]``; required for multi-objective studies.
    target_name
        Label of the plotted value.
    """
    from optuna.visualization.matplotlib import plot_optimization_history

    return _optuna_figure(
        lambda: plot_optimization_history(study, target=target, target_name=target_name),
        "Policy search: optimization history",
    )


def param_importances(
    study: optuna.Study,
    *,
    target: Callable[[optuna.trial.FrozenTrial], float] | None = None,
    target_name: str = "Objective Value",
    evaluator: optuna.importance.BaseImportanceEvaluator | None = None,
    target_maximize: bool = True,
) -> Figure:
    """Optuna's parameter importances of a study.

    Parameters
    ----------
    study
        The study (single-objective, or multi-objective with ``target``).
    target
        Which value the importances explain; required for multi-objective studies.
    target_name
        Label of that value.
    evaluator
        Importance evaluator; by default PED-ANOVA, which needs no scikit-learn (Optuna's
        default, fANOVA, does).
    target_maximize
        With ``target`` and the default evaluator: whether high target values are the good
        ones (PED-ANOVA explains what makes a trial reach the best quantile, and takes a given
        target to be minimized, so it is negated here when maximized).
    """
    from optuna.importance import PedAnovaImportanceEvaluator
    from optuna.visualization.matplotlib import plot_param_importances

    def draw() -> Axes:
        if evaluator is not None:
            return plot_param_importances(study, evaluator=evaluator, target=target, target_name=target_name)
        explained = target
        if target is not None and target_maximize:
            # PED-ANOVA explains reaching *low* values of a given target.
            explained = lambda trial: -target(trial)  # noqa: E731
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "PedAnovaImportanceEvaluator computes", UserWarning)
            return plot_param_importances(
                study, evaluator=PedAnovaImportanceEvaluator(), target=explained, target_name=target_name
            )

    return _optuna_figure(
        draw,
        "Policy search: parameter importances",
    )


# Simulation figures -------------------------------------------------------------------------
def funnel(channels_daily: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """The funnel per channel: aware -> considering -> cart -> order -> repeat, over the horizon.

    Each stage is the channel's total in ``channels_daily.csv`` (log scale, since stages
    differ by orders of magnitude): **aware** = ``new_aware`` (people who first heard of the
    brand through the channel), **considering** = ``visits`` (visits the channel brought; each
    visit starts a consideration), **cart** = ``carts`` (carts placed at the channel),
    **order** = ``orders`` (all orders closed at the channel, first and repeat) and
    **repeat** = ``repeat_orders``. These are per-channel *events*, not one cohort of people
    followed through the same channel: a shopper may become aware through social, visit through
    search and order on the marketplace, so a channel's later stage can exceed its earlier one
    (CRM reaches only known shoppers, so it has orders but few new aware). The outputs hold no
    per-channel count of people in each stage (``customers.csv`` keeps only each shopper's
    ``aware_channel`` and ``acquisition_channel``).

    Parameters
    ----------
    channels_daily
        One row per (``day``, ``channel``) with ``new_aware``, ``visits``, ``carts``,
        ``orders`` and ``repeat_orders`` (people / events of the real market).
    ax
        Axes to draw into; a new figure when None.
    """
    columns = [column for _stage, column in FUNNEL_STAGES]
    data = _table(channels_daily, ("channel", *columns), "funnel")
    channels = _channel_order(data["channel"])
    totals = (
        data.assign(channel=data["channel"].astype(str))
        .groupby("channel")[columns]
        .sum()
        .reindex(channels)
        .to_numpy(np.float64)
    )
    fig, ax = _single(ax, (9.0, 4.5))
    _grouped_bars(
        ax,
        [stage for stage, _column in FUNNEL_STAGES],
        [(channel, list(counts), {}) for channel, counts in zip(channels, totals, strict=True)],
    )
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    _money_axis(ax)
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_title("Funnel per channel over the horizon")
    ax.set_xlabel("funnel stage")
    ax.set_ylabel("people / events (log scale)")
    ax.legend(title="channel", fontsize=8)
    return fig


def retention_heatmap(matrix: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """Cohort retention: share of each acquisition month's customers buying k months later.

    Parameters
    ----------
    matrix
        :func:`simulator.measure.clv.retention_matrix` (``retention_matrix.csv``): index
        ``acquisition_month`` (or a column of that name), columns ``0, 1, ...`` (months later),
        shares 0-1; empty (NaN) where a month is not wholly observed.
    ax
        Axes to draw into; a new figure when None.
    """
    if "acquisition_month" in matrix.columns:
        matrix = matrix.set_index("acquisition_month")
    shares = matrix.to_numpy(np.float64)
    fig, ax = _single(ax, (7.0, 5.0))
    image = ax.imshow(np.ma.masked_invalid(shares), cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    for (row, column), share in np.ndenumerate(shares):
        if np.isfinite(share):
            ax.text(
                column,
                row,
                f"{share:.0%}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if share > 0.6 else "black",
            )
    ax.set_xticks(np.arange(shares.shape[1]), [str(c) for c in matrix.columns])
    ax.set_yticks(np.arange(shares.shape[0]), [str(i) for i in matrix.index])
    ax.set_title("Retention by acquisition cohort")
    ax.set_xlabel("months after first purchase")
    ax.set_ylabel("acquisition month")
    fig.colorbar(image, ax=ax, label="share buying again", format=PercentFormatter(1.0))
    return fig


TIER_MOVES = ("tier_upgrades", "tier_downgrades")
"""Columns of ``levers_daily.csv`` that start with ``tier_`` but count daily moves between tiers."""


def tier_columns(columns: Iterable[object]) -> list[str]:
    """The ``tier_<name>`` member-count columns among ``columns``, in order (tier moves left out)."""
    return [str(c) for c in columns if str(c).startswith("tier_") and str(c) not in TIER_MOVES]


def loyalty_tiers(levers_daily: pd.DataFrame, *, ax: Axes | None = None) -> Figure:
    """Loyalty members by tier over time, stacked.

    Parameters
    ----------
    levers_daily
        ``levers_daily.csv``: one row per ``day`` with a ``tier_<name>`` column per tier
        (members, people), lowest tier first. The daily tier moves ``tier_upgrades`` and
        ``tier_downgrades`` (see :data:`TIER_MOVES`) are not tiers and are left out.
    ax
        Axes to draw into; a new figure when None.
    """
    data = _table(levers_daily, ("day",), "loyalty_tiers")
    tiers = tier_columns(data.columns)
    if not tiers:
        raise ValueError("loyalty_tiers: no tier_<name> columns (is the loyalty program on?)")
    fig, ax = _single(ax)
    ax.stackplot(
        data["day"].to_numpy(),
        *[data[column].to_numpy(np.float64) for column in tiers],
        labels=[column.removeprefix("tier_") for column in tiers],
    )
    ax.set_title("Loyalty members by tier")
    ax.set_xlabel("day")
    ax.set_ylabel("members (people)")
    _money_axis(ax)
    ax.legend(title="tier", loc="upper left")
    return fig


def revenue_and_spend(
    daily: pd.DataFrame, campaigns: pd.DataFrame | None = None, *, currency: str = "", ax: Axes | None = None
) -> Figure:
    """Daily revenue and marketing spend, with promotion campaigns shaded.

    Revenue is on the left axis and spend on the right one (spend is often a few percent of
    revenue).

    Parameters
    ----------
    daily
        ``daily.csv``: one row per ``day`` with ``revenue`` and ``spend`` (currency per day).
    campaigns
        Optional ``campaigns.csv``: ``campaign``, ``start_day``, ``end_day`` (inclusive).
    currency
        Currency code for the axis labels.
    ax
        Axes to draw revenue into (spend goes to a twin axis); a new figure when None.
    """
    data = _table(daily, ("day", "revenue", "spend"), "revenue_and_spend")
    fig, ax = _single(ax, (9.0, 4.5))
    (revenue_line,) = ax.plot(data["day"], data["revenue"], color="#1f77b4", label="revenue")
    spend_ax = ax.twinx()
    (spend_line,) = spend_ax.plot(data["day"], data["spend"], color="#ff7f0e", label="marketing spend")
    handles: list[Any] = [revenue_line, spend_line]
    if campaigns is not None and len(campaigns):
        table = _table(campaigns, ("campaign", "start_day", "end_day"), "revenue_and_spend: campaigns")
        starts = table["start_day"].to_numpy(np.float64)
        ends = table["end_day"].to_numpy(np.float64)
        for k, name in enumerate(table["campaign"].astype(str)):
            span = ax.axvspan(
                starts[k] - 0.5,
                ends[k] + 0.5,
                color="#2ca02c",
                alpha=0.15,
                label="campaign" if k == 0 else None,
            )
            if k == 0:
                handles.append(span)
            ax.annotate(
                name,
                (starts[k], 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(2, -12),
                textcoords="offset points",
                fontsize=8,
                color="#2ca02c",
            )
    ax.set_title("Daily revenue and marketing spend")
    ax.set_xlabel("day")
    ax.set_ylabel("revenue per day" + _unit(currency))
    spend_ax.set_ylabel("marketing spend per day" + _unit(currency))
    _money_axis(ax)
    _money_axis(spend_ax)
    ax.set_ylim(bottom=0)
    spend_ax.set_ylim(bottom=0)
    ax.legend(handles=handles, labels=[h.get_label() for h in handles], loc="lower right")
    return fig


def attribution_vs_truth(
    attribution: pd.DataFrame, basis: str = "conversions", *, ax: Axes | None = None
) -> Figure:
    """Each attribution model's share of credit per channel next to the true incremental share.

    The truth is drawn first, with its 95% interval (1.96 standard errors over seeds) when
    known; each model's legend entry gives its mean absolute error of shares.

    Parameters
    ----------
    attribution
        ``attribution.csv`` (:meth:`simulator.AttributionReport.tidy`): ``basis``, ``channel``,
        ``source`` (``truth`` or a model), ``share`` (0-1), ``share_se``, and rows with channel
        ``mean_abs_error`` holding each model's mean absolute error in ``error``.
    basis
        ``conversions`` (new customers) or ``revenue`` (first-order revenue).
    ax
        Axes to draw into; a new figure when None.
    """
    data = _table(attribution, ("basis", "channel", "source", "share"), "attribution_vs_truth")
    data = data[data["basis"] == basis]
    if data.empty:
        raise ValueError(f"attribution_vs_truth: no rows with basis {basis!r}")
    errors = data[data["channel"] == "mean_abs_error"].set_index("source")
    shares = data[data["channel"] != "mean_abs_error"]
    channels = _channel_order(shares["channel"])
    sources = _channel_order(shares["source"])
    table = shares.pivot(index="channel", columns="source", values="share").loc[channels]
    series: list[tuple[str, Sequence[float], dict[str, Any]]] = []
    for source in sources:
        if source == "truth":
            style: dict[str, Any] = {"color": "black"}
            if "share_se" in shares.columns:
                se = shares[shares["source"] == "truth"].set_index("channel").loc[channels, "share_se"]
                style["yerr"] = 1.96 * se.to_numpy(np.float64)
                style["capsize"] = 3
                style["ecolor"] = "#d62728"
            series.append(("true incremental", table[source].tolist(), style))
        else:
            label = source
            if "error" in errors.columns and source in errors.index:
                label = f"{source} (MAE {errors['error'].astype(float)[source]:.3f})"
            series.append((label, table[source].tolist(), {}))
    fig, ax = _single(ax, (10.0, 4.8))
    _grouped_bars(ax, channels, series)
    unit = "new customers" if basis == "conversions" else basis
    ax.set_title(f"Attribution models against the true incremental contribution ({unit})")
    ax.set_xlabel("channel")
    ax.set_ylabel(f"share of credit ({unit})")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.legend(fontsize=7, ncols=2)
    return fig
