"""Figures are checked by their titles, labels, legends and plotted data, not by pixels."""

from __future__ import annotations

import io
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np
import optuna
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.figure import Figure

from reports import figures

CHANNELS = ["search", "social", "crm"]


def legend_texts(ax: Axes) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None
    return [text.get_text() for text in legend.get_texts()]


def bar_heights(ax: Axes, container: int) -> list[float]:
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    return [float(patch.get_height()) for patch in bars[container]]


def renders(fig: Figure) -> None:
    fig.savefig(io.BytesIO(), format="png", dpi=40)


@pytest.fixture
def plan() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "channel": CHANNELS,
            "current_spend": [300_000.0, 200_000.0, 100_000.0],
            "recommended_spend": [180_000.0, 200_000.0, 220_000.0],
            "current_outcome": [420_000.0, 250_000.0, 180_000.0],
            "recommended_outcome": [330_000.0, 250_000.0, 300_000.0],
            "marginal_roi": [1.45, 1.2, 0.94],
        }
    )


def test_format_amount() -> None:
    assert figures.format_amount(120_000) == "120k"
    assert figures.format_amount(1_250_000, "CNY") == "1.2M CNY"
    assert figures.format_amount(-80_000) == "-80k"
    assert figures.format_amount(950) == "950"
    assert figures.format_amount(float("nan")) == "n/a"


def test_spend_comparison_bars_are_the_input(plan: pd.DataFrame) -> None:
    fig = figures.spend_comparison(plan, currency="CNY")
    (ax,) = fig.axes
    assert bar_heights(ax, 0) == plan["current_spend"].tolist()
    assert bar_heights(ax, 1) == plan["recommended_spend"].tolist()
    assert [t.get_text() for t in ax.get_xticklabels()] == CHANNELS
    assert legend_texts(ax) == ["current", "recommended"]
    assert ax.get_ylabel() == "spend (CNY)"
    assert "current and recommended" in ax.get_title()
    renders(fig)


def test_draws_into_a_given_axes(plan: pd.DataFrame) -> None:
    fig = Figure()
    left, right = fig.subplots(1, 2)
    assert figures.spend_comparison(plan, ax=right) is fig
    assert not left.has_data() and right.has_data()


def test_missing_column_is_named(plan: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="missing column\\(s\\) recommended_spend"):
        figures.spend_comparison(plan.drop(columns="recommended_spend"))


def test_response_curves_one_panel_per_channel(plan: pd.DataFrame) -> None:
    spend = np.linspace(0, 400_000, 9)
    curves = pd.concat(
        [
            pd.DataFrame({"channel": c, "spend": spend, "outcome": k * np.sqrt(spend)})
            for c, k in zip(CHANNELS, (800, 600, 900), strict=True)
        ]
    )
    observed = pd.DataFrame(
        {
            "channel": "search",
            "spend": [100_000.0, 300_000.0],
            "outcome": [2.5e5, 4.4e5],
            "low": [2.3e5, 4.1e5],
            "high": [2.7e5, 4.7e5],
        }
    )
    fig = figures.response_curves(curves, plan, observed, currency="CNY")
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == CHANNELS
    for ax, channel, row in zip(axes, CHANNELS, plan.itertuples(), strict=True):
        curve = ax.get_lines()[0]
        expected = curves[curves["channel"] == channel]
        np.testing.assert_allclose(curve.get_xdata(), expected["spend"])
        np.testing.assert_allclose(curve.get_ydata(), expected["outcome"])
        markers = {line.get_label(): (line.get_xdata()[0], line.get_ydata()[0]) for line in ax.get_lines()}
        assert markers["current"] == (row.current_spend, row.current_outcome)
        assert markers["recommended"] == (row.recommended_spend, row.recommended_outcome)
        assert f"marginal ROI {row.marginal_roi:.2f}" in [t.get_text() for t in ax.texts]
        assert ax.get_xlabel() == "spend (CNY)"
        # The curves of profit measure contribution before the channel's spend (slope 1 = break-even).
        assert ax.get_ylabel() == "incremental contribution (CNY)"
    assert "break-even 0" in fig.get_suptitle() and "profit before the channel's spend" in fig.get_suptitle()
    assert "simulated (95% interval)" in legend_texts(axes[0])
    renders(fig)


def test_outcome_comparison_bars_and_intervals() -> None:
    table = pd.DataFrame(
        {
            "metric": ["profit", "profit", "roi", "roi", "new_customers", "new_customers"],
            "plan": ["current", "recommended"] * 3,
            "mean": [1.0e6, 1.08e6, 2.0, 2.2, 1500.0, 1600.0],
            "low": [0.9e6, 1.0e6, 1.8, 2.05, 1400.0, 1450.0],
            "high": [1.1e6, 1.15e6, 2.2, 2.3, 1600.0, 1750.0],
        }
    )
    fig = figures.outcome_comparison(table, currency="CNY")
    profit, roi, customers = [ax for ax in fig.axes if ax.get_visible()]
    assert profit.get_title() == "profit" and profit.get_ylabel() == "profit (CNY)"
    assert roi.get_ylabel() == "ROI (ratio, break-even 0)"
    # Counts are people, not money.
    assert customers.get_title() == "new customers"
    assert customers.get_ylabel() == "new customers (people)"
    assert bar_heights(customers, 0) == [1500.0, 1600.0]
    assert bar_heights(profit, 0) == [1.0e6, 1.08e6]
    assert bar_heights(roi, 0) == [2.0, 2.2]
    assert [t.get_text() for t in roi.get_xticklabels()] == ["current", "recommended"]
    (errorbar,) = [c for c in roi.containers if isinstance(c, ErrorbarContainer)]
    whiskers = errorbar.lines[2][0].get_segments()
    # pytest 9's approx compares flat sequences only.
    assert [y for s in whiskers for y in (s[0][1], s[1][1])] == pytest.approx([1.8, 2.2, 2.05, 2.3])
    renders(fig)


def test_pareto_front_joins_the_front_and_marks_the_choice() -> None:
    trials = pd.DataFrame(
        {
            "number": [0, 1, 2, 3, 4],
            "roi": [1.0, 2.5, 1.5, 2.0, 0.8],
            "realized_value_per_customer": [300.0, 150.0, 200.0, 260.0, 120.0],
            "pareto": [True, True, False, True, False],
        }
    )
    fig = figures.pareto_front(trials, chosen=3)
    (ax,) = fig.axes
    front, chosen = ax.get_lines()
    assert list(front.get_xdata()) == [1.0, 2.0, 2.5]
    assert list(front.get_ydata()) == [300.0, 260.0, 150.0]
    assert (chosen.get_xdata()[0], chosen.get_ydata()[0]) == (2.0, 260.0)
    assert legend_texts(ax) == ["other trials", "Pareto front", "chosen (trial 3)"]
    assert ax.get_title() == "Policies tried: ROI against realized value per customer won"
    assert ax.get_xlabel().startswith("ROI") and ax.get_ylabel() == "realized value per customer won"
    with pytest.raises(ValueError, match="chosen trial 9"):
        figures.pareto_front(trials, chosen=9)
    # A study of two other objectives draws those, labelled from the objective registry.
    other = trials.rename(columns={"roi": "profit", "realized_value_per_customer": "new_customers"})
    (ax,) = figures.pareto_front(other, objectives=("profit", "new_customers")).axes
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("profit", "new customers")
    assert list(ax.get_lines()[0].get_ydata()) == [300.0, 260.0, 150.0]


@pytest.fixture(scope="module")
def study() -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=1), direction="maximize")
    study.optimize(
        lambda t: t.suggest_float("discount", 0, 0.3) - t.suggest_float("points", 0, 1) ** 2, n_trials=12
    )
    return study


def test_optuna_figures_without_experimental_warnings(study: optuna.Study) -> None:
    before = dict(matplotlib.rcParams)
    with warnings.catch_warnings():
        warnings.simplefilter("error", optuna.exceptions.ExperimentalWarning)
        history = figures.optimization_history(study)
        importances = figures.param_importances(study)
    # Optuna's 'ggplot' style does not leak into the figures drawn after these.
    assert dict(matplotlib.rcParams) == before
    (ax,) = history.axes
    assert ax.get_title() == "Policy search: optimization history"
    assert ax.get_xlabel() == "Trial"
    assert "Best Value" in legend_texts(ax)
    (bars,) = importances.axes
    # One title (Optuna's own left-hand title removed, it overlapped ours).
    assert [bars.get_title(loc=loc) for loc in ("left", "center", "right")] == [
        "",
        "Policy search: parameter importances",
        "",
    ]
    assert sorted(t.get_text() for t in bars.get_yticklabels()) == ["discount", "points"]
    assert sum(p.get_width() for p in bars.patches) == pytest.approx(1.0)
    renders(history)
    renders(importances)


def test_funnel_sums_each_stage_per_channel() -> None:
    rows = []
    for day in range(3):
        for k, channel in enumerate(CHANNELS):
            rows.append(
                {
                    "day": day,
                    "channel": channel,
                    "new_aware": 1000.0 * (k + 1),
                    "visits": 400.0 * (k + 1),
                    "carts": 100.0 + k,
                    "orders": 50.0 + k,
                    "repeat_orders": 20.0 + k,
                }
            )
    channels_daily = pd.DataFrame(rows).set_index(["day", "channel"])
    fig = figures.funnel(channels_daily)
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["aware", "considering", "cart", "order", "repeat"]
    assert legend_texts(ax) == CHANNELS
    for k in range(len(CHANNELS)):
        assert bar_heights(ax, k) == [
            3000.0 * (k + 1),
            1200.0 * (k + 1),
            3 * (100.0 + k),
            3 * (50.0 + k),
            3 * (20.0 + k),
        ]
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "funnel stage"
    renders(fig)


def test_retention_heatmap_shows_the_matrix() -> None:
    matrix = pd.DataFrame(
        [[1.0, 0.38, 0.31], [1.0, 0.33, np.nan], [1.0, np.nan, np.nan]],
        index=pd.Index([0, 1, 2], name="acquisition_month"),
        columns=["0", "1", "2"],
    ).reset_index()
    fig = figures.retention_heatmap(matrix)
    ax = fig.axes[0]
    image = ax.get_images()[0].get_array()
    assert image is not None
    np.testing.assert_allclose(np.ma.filled(image, np.nan), matrix.drop(columns="acquisition_month"))
    assert sorted(t.get_text() for t in ax.texts) == sorted(["100%"] * 3 + ["38%", "31%", "33%"])
    assert ax.get_ylabel() == "acquisition month"
    assert ax.get_xlabel() == "months after first purchase"
    renders(fig)


def test_loyalty_tiers_stacks_the_tier_columns() -> None:
    levers = pd.DataFrame(
        {
            "day": [0, 1, 2],
            "tier_regular": [10.0, 20.0, 30.0],
            "tier_gold": [1.0, 2.0, 4.0],
            "members": [11.0, 22.0, 34.0],
            # Daily moves between tiers, as levers_daily.csv holds them: not tiers to stack.
            "tier_upgrades": [0.0, 5.0, 300.0],
            "tier_downgrades": [0.0, 1.0, 200.0],
        }
    )
    fig = figures.loyalty_tiers(levers)
    (ax,) = fig.axes
    assert legend_texts(ax) == ["regular", "gold"]
    assert len(ax.collections) == 2
    top = ax.collections[-1].get_paths()[0].vertices
    assert top[:, 1].max() == 34.0
    assert ax.get_ylabel() == "members (people)"
    with pytest.raises(ValueError, match="no tier_"):
        figures.loyalty_tiers(levers.drop(columns=["tier_regular", "tier_gold"]))
    assert figures.tier_columns(levers.columns) == ["tier_regular", "tier_gold"]


def test_revenue_and_spend_lines_and_campaigns() -> None:
    daily = pd.DataFrame({"revenue": [100.0, 120.0, 90.0, 150.0], "spend": [10.0, 11.0, 9.0, 12.0]})
    daily.index.name = "day"
    campaigns = pd.DataFrame({"campaign": ["spring_sale"], "start_day": [1], "end_day": [2]})
    fig = figures.revenue_and_spend(daily, campaigns, currency="CNY")
    revenue_ax, spend_ax = fig.axes
    (revenue,) = revenue_ax.get_lines()
    (spend,) = spend_ax.get_lines()
    assert list(revenue.get_ydata()) == daily["revenue"].tolist()
    assert list(spend.get_ydata()) == daily["spend"].tolist()
    assert legend_texts(revenue_ax) == ["revenue", "marketing spend", "campaign"]
    assert [t.get_text() for t in revenue_ax.texts] == ["spring_sale"]
    (span,) = revenue_ax.patches
    assert span.get_x() == 0.5 and span.get_width() == 2.0  # type: ignore[attr-defined]
    assert revenue_ax.get_ylabel() == "revenue per day (CNY)"
    assert spend_ax.get_ylabel() == "marketing spend per day (CNY)"
    renders(fig)


def test_attribution_truth_and_models() -> None:
    rows = [("truth", "search", 0.6, 0.01, 0.0), ("truth", "social", 0.4, 0.02, 0.0)]
    rows += [("last_touch", "search", 0.7, None, 0.1), ("last_touch", "social", 0.3, None, -0.1)]
    rows += [("last_touch", "mean_abs_error", None, None, 0.1)]
    attribution = pd.DataFrame(rows, columns=["source", "channel", "share", "share_se", "error"])
    attribution.insert(0, "basis", "conversions")
    fig = figures.attribution_vs_truth(attribution)
    (ax,) = fig.axes
    assert bar_heights(ax, 0) == [0.6, 0.4]
    assert bar_heights(ax, 1) == [0.7, 0.3]
    assert legend_texts(ax) == ["true incremental", "last touch (off by 10.0 pts)"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["search", "social"]
    assert "true incremental" in ax.get_title()
    with pytest.raises(ValueError, match="basis 'revenue'"):
        figures.attribution_vs_truth(attribution, basis="revenue")
