"""Figures of recommendations: spend, response curves, outcomes with intervals, Pareto front, Optuna's charts.

Convention: every function returns the :class:`matplotlib.figure.Figure` it drew on and never
calls ``plt.show()``. Single-panel figures take an optional ``ax`` to draw into (a panel of a
larger figure); multi-panel figures take an optional ``fig`` (a figure or sub-figure) to fill.
Without them, a new figure is made with :class:`~matplotlib.figure.Figure` directly, outside
pyplot's global state, so nothing needs closing and figures can be made in worker threads or
processes. Save with ``fig.savefig(...)`` (PNG, SVG, PDF).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure, FigureBase
from matplotlib.ticker import MaxNLocator, ScalarFormatter

if TYPE_CHECKING:
    import optuna

from optimizer.objectives import OBJECTIVES
from simulator.common.figures import (
    METRIC_LABELS,
    METRIC_SHORT,
    PLAN_COLORS,
    RATIO_METRICS,
    AmountFormatter,
    channel_order,
    checked_table,
    format_amount,
    grouped_bars,
    metric_axis,
    money_axis,
    panels,
    root_figure,
    single_axes,
    unit_suffix,
)
from simulator.common.format import format_value, unit_of
from simulator.common.measures import MEASURES, break_even_text

__all__ = [
    "OUTCOME_LABELS",
    "PARETO_DEFAULT",
    "optimization_history",
    "outcome_comparison",
    "param_importances",
    "pareto_front",
    "response_curves",
    "curve_label",
    "spend_comparison",
    "trial_history",
]

OUTCOME_LABELS = METRIC_LABELS | {name: entry.label for name, entry in OBJECTIVES.items()}
"""Readable titles of outcomes: the objectives' labels (:mod:`optimizer.objectives`) and other KPIs'."""
PARETO_DEFAULT = ("roi", "realized_value_per_customer")
"""The trade-off drawn for a single-objective study: return on spend against value per customer."""


def spend_comparison(
    table: pd.DataFrame, *, currency: str = "", plan_label: str = "recommended", ax: Axes | None = None
) -> Figure:
    """Current against recommended spend per channel, as side-by-side bars.

    Parameters
    ----------
    table
        One row per channel: ``channel``, ``current_spend`` and ``recommended_spend`` (currency
        over the plan's horizon).
    currency
        Currency code for the axis label.
    plan_label
        Name of the plan in the legend and title: ``recommended``, or ``tested plan`` for a plan
        whose verdict is not ``recommend``.
    ax
        Axes to draw into; a new figure when None.
    """
    data = checked_table(table, ("channel", "current_spend", "recommended_spend"), "spend_comparison")
    fig, ax = single_axes(ax)
    bars = grouped_bars(
        ax,
        data["channel"].astype(str).tolist(),
        [
            ("current", data["current_spend"].tolist(), {"color": PLAN_COLORS["current"]}),
            (plan_label, data["recommended_spend"].tolist(), {"color": PLAN_COLORS["recommended"]}),
        ],
    )
    for container, column in zip(bars, ("current_spend", "recommended_spend"), strict=True):
        ax.bar_label(container, labels=[format_amount(float(v)) for v in data[column]], fontsize=8)
    ax.set_title(f"Marketing spend per channel: current and {plan_label}")
    ax.set_xlabel("channel")
    ax.set_ylabel("spend" + unit_suffix(currency))
    money_axis(ax)
    ax.legend()
    return fig


def curve_label(objective: str) -> str:
    """What a response curve of ``objective`` measures, for its axis.

    For ``profit`` the curves measure the channel's incremental contribution (profit before
    its own spend), so that the next unit pays when its slope is above 1 (marginal ROI above 0);
    the figure's title says so.
    """
    entry = OBJECTIVES.get(objective)
    if entry is None:
        return f"incremental {objective.replace('_', ' ')}"
    entry = entry.lp_objective
    if entry.subtract_spend:
        return "incremental contribution"
    return f"incremental {entry.label}"


def response_curves(
    curves: pd.DataFrame,
    points: pd.DataFrame,
    observed: pd.DataFrame | None = None,
    *,
    outcome_label: str = "incremental contribution",
    marginal: str = "marginal_roi",
    currency: str = "",
    x_currency: str | None = None,
    plan_label: str = "recommended",
    fig: FigureBase | None = None,
) -> Figure:
    """Each channel's response curve with its current and planned spend marked.

    One panel per channel (in the order of ``points``), drawn over the measured range; the
    marginal measure of return at the planned spend is written next to the planned point with
    its break-even (:mod:`simulator.common.measures`).

    Parameters
    ----------
    curves
        The curves, long: ``channel``, ``spend`` (currency over the horizon) and ``outcome``
        (the channel's incremental outcome at that spend, e.g. contribution in currency).
    points
        One row per channel: ``channel``, ``current_spend``, ``recommended_spend``,
        ``current_outcome``, ``recommended_outcome`` and the ``marginal`` column.
    observed
        Optional simulated measurements the curves were fitted to: ``channel``, ``spend``,
        ``outcome`` and the 95% interval ``low``, ``high``.
    outcome_label
        What ``outcome`` measures, for the y axis.
    marginal
        The column of ``points`` holding the marginal measure (``marginal_roi``: incremental
        profit of the next unit of spend, break-even 0; ``marginal_roas``...).
    currency
        Unit of the outcome axis (a currency code; empty for people).
    x_currency
        Currency of the spend axis (default: ``currency``).
    plan_label
        Name of the planned spend in the legend (``recommended``, or ``tried`` for a plan that
        is not recommended).
    fig
        Figure or sub-figure to fill; a new figure when None.
    """
    curves = checked_table(curves, ("channel", "spend", "outcome"), "response_curves: curves")
    points = checked_table(
        points,
        ("channel", "current_spend", "recommended_spend", "current_outcome", "recommended_outcome", marginal),
        "response_curves: points",
    )
    if observed is not None:
        observed = checked_table(
            observed, ("channel", "spend", "outcome", "low", "high"), "response_curves: observed"
        )
    spend_unit = unit_suffix(currency if x_currency is None else x_currency)
    measure = MEASURES.get(marginal)
    marginal_text = (measure.label if measure else marginal.replace("_", " ")) + (
        f" (ratio, {measure.break_even_note})" if measure else ""
    )
    channels = channel_order(points["channel"])
    fig, axes = panels(fig, len(channels), (4.2, 3.4))
    for ax, channel in zip(axes, channels, strict=True):
        curve = curves[curves["channel"].astype(str) == channel].sort_values("spend")
        point = points[points["channel"].astype(str) == channel].iloc[0]
        ax.plot(curve["spend"], curve["outcome"], color="#1f77b4", label="response curve")
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
            label=plan_label,
        )
        ax.annotate(
            f"{marginal_text.split(' (')[0]} {format_value(point[marginal], unit_of(marginal))}",
            (float(point["recommended_spend"]), float(point["recommended_outcome"])),
            textcoords="offset points",
            xytext=(6, -14),
            fontsize=8,
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.8},
        )
        ax.set_title(channel)
        ax.set_xlabel("spend" + spend_unit)
        ax.set_ylabel(outcome_label + unit_suffix(currency), fontsize=8)
        money_axis(ax, "x")
        money_axis(ax)
    if axes:
        axes[0].legend(fontsize=8)
    defined = " (contribution: profit before the channel's spend)" if "contribution" in outcome_label else ""
    at_star = f"{measure.label}, {measure.break_even_note}" if measure else marginal_text
    fig.suptitle(f"Response curves{defined}; star: {at_star}", fontsize=10)
    return root_figure(fig)


def outcome_comparison(table: pd.DataFrame, *, currency: str = "", fig: FigureBase | None = None) -> Figure:
    """Expected outcomes of the current and recommended plans with their intervals.

    One panel per metric (units differ); in each, a bar per plan at the mean with whiskers
    from ``low`` to ``high``.

    Parameters
    ----------
    table
        One row per (metric, plan): ``metric`` (e.g. ``profit``, ``roi``), ``plan``
        (``current`` or ``recommended``), ``mean``, and the interval ``low``, ``high`` (95% over
        seeds), in the metric's unit (currency for money, a ratio for ROI).
    currency
        Currency code for the money metrics' axis labels.
    fig
        Figure or sub-figure to fill; a new figure when None.
    """
    data = checked_table(table, ("metric", "plan", "mean", "low", "high"), "outcome_comparison")
    metrics = channel_order(data["metric"])
    fig, axes = panels(fig, len(metrics), (3.4, 3.4))
    for ax, metric in zip(axes, metrics, strict=True):
        rows = data[data["metric"].astype(str) == metric]
        plans = rows["plan"].astype(str).tolist()
        means = rows["mean"].to_numpy(np.float64)
        errors = np.vstack(
            [means - rows["low"].to_numpy(np.float64), rows["high"].to_numpy(np.float64) - means]
        )
        colors = [PLAN_COLORS.get(plan, PLAN_COLORS["recommended"]) for plan in plans]
        bars = ax.bar(plans, means, yerr=errors, capsize=6, color=colors)
        ratio = metric in RATIO_METRICS or (metric in OBJECTIVES and OBJECTIVES[metric].unit == "ratio")
        amount = not ratio
        ax.bar_label(
            bars,
            labels=[format_amount(m) if amount else format_value(m, unit_of(metric)) for m in means],
            fontsize=8,
            label_type="center",
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.8},
        )
        ax.set_title(OUTCOME_LABELS.get(metric, metric.replace("_", " ")))
        ax.set_xlabel("plan")
        ax.set_ylabel(metric_axis(metric, currency))
        if amount:
            money_axis(ax)
    fig.suptitle("Expected outcome of each plan (95% interval)")
    return root_figure(fig)


def pareto_front(
    trials: pd.DataFrame,
    chosen: int | None = None,
    *,
    objectives: Sequence[str] = PARETO_DEFAULT,
    ax: Axes | None = None,
) -> Figure:
    """Two objectives of every policy tried, the Pareto front joined, the chosen one marked.

    Parameters
    ----------
    trials
        One row per trial: ``number`` (Optuna trial number), a column per objective (e.g.
        ``roi``, a ratio, and ``realized_value_per_customer``, currency per customer) and
        ``pareto`` (bool: on the Pareto front).
    chosen
        Trial number of the chosen policy, marked with a star; None for no mark.
    objectives
        The two columns drawn, across and up (names of :data:`optimizer.objectives.OBJECTIVES`).
    ax
        Axes to draw into; a new figure when None.
    """
    x, y = objectives
    data = checked_table(trials, ("number", x, y, "pareto"), "pareto_front")
    fig, ax = single_axes(ax)
    on_front = data["pareto"].astype(bool)
    ax.scatter(data.loc[~on_front, x], data.loc[~on_front, y], color="#bbbbbb", s=18, label="other trials")
    front = data[on_front].sort_values(x)
    ax.plot(front[x], front[y], "o-", color="#1f77b4", markersize=5, label="Pareto front")
    if chosen is not None:
        pick = data[data["number"] == chosen]
        if pick.empty:
            raise ValueError(f"pareto_front: chosen trial {chosen} is not among the trials")
        ax.plot(pick[x], pick[y], "*", color="#d62728", markersize=16, label=f"chosen (trial {chosen})")
    x_label, y_label = (
        OUTCOME_LABELS.get(m, m.replace("_", " ")) + (f", {break_even_text(m)}" if break_even_text(m) else "")
        for m in (x, y)
    )
    ax.set_title(f"Policies tried: {METRIC_SHORT.get(x, x_label)} against {METRIC_SHORT.get(y, y_label)}")
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.legend()
    return fig


def trial_history(
    trials: pd.DataFrame,
    objective: str,
    chosen: int | None = None,
    *,
    currency: str = "",
    ax: Axes | None = None,
) -> Figure:
    """A single-objective search: each trial's objective, the best so far, the chosen trial marked.

    Parameters
    ----------
    trials
        ``trials.csv`` of ``optimize``: ``number`` (Optuna trial number), the ``objective``
        column and optionally ``state`` (only ``COMPLETE`` trials are drawn) and ``invalid``.
    objective
        The searched objective (a name of :data:`optimizer.objectives.OBJECTIVES`), maximized.
    chosen
        Trial number whose policy was chosen (a star); None for no mark.
    currency
        Currency code for a money objective's axis.
    ax
        Axes to draw into; a new figure when None.
    """
    data = checked_table(trials, ("number", objective), "trial_history")
    if "state" in data.columns:
        data = data[data["state"].astype(str) == "COMPLETE"]
    data = data.sort_values("number")
    values = data[objective].to_numpy(np.float64)
    fig, ax = single_axes(ax)
    ax.plot(data["number"], values, "o", color="#8c8c8c", markersize=5, label="trial")
    best = np.fmax.accumulate(np.where(np.isfinite(values), values, -np.inf))
    ax.step(data["number"], best, where="post", color="#1f77b4", label="best so far")
    if chosen is not None:
        pick = data[data["number"] == chosen]
        if pick.empty:
            raise ValueError(f"trial_history: chosen trial {chosen} is not among the finished trials")
        ax.plot(
            pick["number"],
            pick[objective],
            "*",
            color="#d62728",
            markersize=16,
            label=f"chosen (trial {chosen})",
        )
    ax.set_xlabel("trial")
    ax.set_ylabel(metric_axis(objective, currency))
    if unit_of(objective) in ("money", "count"):
        money_axis(ax)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"Policy search: {OUTCOME_LABELS.get(objective, objective)} per trial")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
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
    _restyle(ax)
    # Long policy paths label the bars of the importance plot: size the figure to its labels
    # and let the layout make room for them instead of cutting them off at the left edge.
    labels = len(ax.get_yticklabels())
    fig.set_size_inches(9.0, max(4.8, 0.28 * labels + 1.6))
    fig.tight_layout()
    return fig


def _restyle(ax: Axes) -> None:
    """Optuna's chart in the toolkit's look: white background, light grid, no offset or 1e6 axes."""
    figure = ax.get_figure(root=True)
    if figure is not None:
        figure.set_facecolor("white")
    ax.set_facecolor("white")
    ax.grid(alpha=0.3, color="#cccccc")
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_color("#444444")
    ax.tick_params(colors="#222222")
    for axis in (ax.xaxis, ax.yaxis):
        axis.label.set_color("#222222")
        large = max(abs(float(v)) for v in axis.get_view_interval()) >= 10_000
        if large and isinstance(axis.get_major_formatter(), ScalarFormatter):
            axis.set_major_formatter(AmountFormatter())
    if ax.get_xlabel() == "Hyperparameter Importance":
        ax.set_xlabel("importance (share of the objective explained)")
    if ax.get_ylabel() == "Hyperparameter":
        ax.set_ylabel("policy setting")


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
