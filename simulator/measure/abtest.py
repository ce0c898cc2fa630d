"""A/B tests inside one world: shoppers split at random into control and treatment.

The treatment is a patch of the scenario's ``policies`` (any lever but the social ones: see
:mod:`simulator.levers.arms`). Both arms live in the same simulated market - same channels, same ad
stock, same seasons - so the difference between them is the effect of the policy on the
shoppers who get it, measured the way a strategist's own A/B test would measure it:

- **outcome per shopper** over the horizon: ``profit`` (order contribution less the arm's lever
  costs per shopper; channels' media spend is shared by both arms and left out), ``revenue``
  (net of discounts), ``orders``, ``converted`` (ordered at least once) and ``repeat_buyer``
  (placed a repeat order); money in currency per shopper of the real market;
- **lift** = treatment mean - control mean, with a 95% interval and a p-value: Welch's t-test
  for means, the two-proportion z-test for rates; ``relative_lift`` = lift / control mean;
- **sample size** per arm that detects a relative lift of ``mde`` with the chosen ``alpha`` and
  ``power``, from the observed variances (means) or rates;
- over several seeds (independent worlds), per-seed results and their inverse-variance
  pooled estimate (rows with seed ``all``).

Lever costs are known per arm, not per shopper (a perk, a message and an ad are booked per arm
and day): each shopper carries the mean lever cost of its arm. The mean lift of ``profit`` is
exact; its interval leaves out the spread of lever costs between shoppers of an arm, which is
small next to the spread of order margins.

>>> from simulator import load_scenario
>>> from simulator.measure.abtest import ab_test
>>> base = load_scenario("scenarios/omnichannel_retailer.yaml")  # doctest: +SKIP
>>> coupon = {"policies": {"promotions": {"first_order_coupon": {"discount": 0.3}}}}
>>> ab_test(base, coupon, seeds=[1, 2]).pooled.loc["converted", "p_value"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..common.format import format_count, format_frame, format_percent, format_probability
from ..common.reading import open_results, read_result_csv, read_result_json
from ..config.scenario import Scenario, ScenarioError
from ..engine.model import CommerceModel
from ..engine.population import Funnel
from ..engine.results import SimulationResult, collect_results, write_files
from ..engine.simulate import check_memory
from ..levers.arms import ARM_NAMES, ArmedLevers, assign_arms
from .executor import check_workers, get_executor
from .replicate import Patch, apply_patch, check_seeds
from .saved import saved_scenario, scenario_document

__all__ = [
    "ABTEST_FILES",
    "METRICS",
    "RATE_METRICS",
    "ABRun",
    "ABTestResult",
    "ab_test",
    "compare_arms",
    "sample_size_per_arm",
    "simulate_ab",
    "treatment_scenario",
]

ABTEST_FILES = ("abtest.csv", "abtest.json", "abtest_arms.csv")
ARMS_FILE = ABTEST_FILES[2]
"""Files written by :meth:`ABTestResult.save`."""

METRICS = ("profit", "revenue", "orders", "converted", "repeat_buyer")
"""Outcomes per shopper compared between the arms."""

RATE_METRICS = ("converted", "repeat_buyer")
"""Outcomes that are 0/1 per shopper (compared as proportions)."""

POOLED = "all"
"""Seed label of the estimate pooled over seeds."""

PER_SHOPPER_UNITS = {
    "profit": "money",
    "revenue": "money",
    "orders": "number",
    "converted": "percent",
    "repeat_buyer": "percent",
}
"""How each outcome per shopper is shown: money, orders per shopper, shares of shoppers."""


def _argument_error(field: str, message: str) -> ScenarioError:
    return ScenarioError("abtest", field, message)


def treatment_scenario(scenario: Scenario, patch: Patch, source: str = "<variant>") -> Scenario:
    """The scenario of the treatment arm: ``scenario`` with a patch of its ``policies``.

    Parameters
    ----------
    scenario
        The control scenario.
    patch
        Nested mapping of fields to change (see :func:`simulator.measure.replicate.apply_patch`); only
        ``policies`` may change, and not ``policies.referral`` nor
        ``policies.promotions.group_buying``. The levers may be given under ``policies`` or at
        the top level (``{"retention": {...}}`` is ``{"policies": {"retention": {...}}}``). An
        empty patch gives an A/A test.
    source
        Name of the patch (its file), used in error messages.

    Raises
    ------
    ScenarioError
        One line naming ``source`` and the field: an unknown channel, a value the schema
        refuses, a field outside ``policies`` (channels and budgets are shared by the arms of
        one world: compare them with ``run.py replicate``), or a change of the social levers.
    """
    if not isinstance(patch, Mapping):
        raise ScenarioError(source, "", "a variant must be a mapping of scenario fields to change")
    levers = set(type(scenario.policies).model_fields)
    if patch and "policies" not in patch and set(map(str, patch)) <= levers:
        patch = {"policies": dict(patch)}  # levers at the top level: a patch of the policies
    treatment = apply_patch(scenario, patch, source) if patch else scenario
    for key in patch:
        if key != "policies":
            raise ScenarioError(
                source,
                str(key),
                "only 'policies' can be A/B tested inside one world (the arms share channels, "
                "budgets and market): give policy levers, under 'policies:' or at the top level "
                f"({', '.join(sorted(levers))}); compare other changes with 'run.py replicate --variant'",
            )
    before, after = scenario.policies, treatment.policies
    social = {
        "policies.referral": (before.referral, after.referral),
        "policies.promotions.group_buying": (
            before.promotions.group_buying if before.promotions else None,
            after.promotions.group_buying if after.promotions else None,
        ),
    }
    for field, (old, new) in social.items():
        if old != new:
            raise ScenarioError(
                source,
                field,
                "word of mouth, referrals and group buying reach friends in either arm, so they "
                "cannot be A/B tested by splitting shoppers; compare them with 'run.py replicate'",
            )
    return treatment


@dataclass
class ABRun:
    """One world with both arms.

    Attributes
    ----------
    seed : int
        Seed of the world.
    shoppers : pandas.DataFrame
        One row per ``shopper_id``: ``arm`` (``control`` / ``treatment``), the outcomes of
        :data:`METRICS` and ``lever_cost`` (the arm's lever costs per shopper); money in
        currency per shopper of the real market.
    world : SimulationResult
        The whole world's results (both arms; lever outputs prefixed with the arm).
    """

    seed: int
    shoppers: pd.DataFrame
    world: SimulationResult


def _check_share(treatment_share: float, agents: int) -> float:
    share = float(treatment_share)
    if not 0.0 < share < 1.0:
        raise _argument_error("treatment_share", f"must be a share strictly between 0 and 1, got {share:g}")
    treated = int(round(share * agents))
    if min(treated, agents - treated) < 2:
        raise _argument_error(
            "treatment_share", f"with {agents:,} agents a share of {share:g} leaves an arm under 2 shoppers"
        )
    return share


def simulate_ab(
    control: Scenario, treatment: Scenario, seed: int | None = None, treatment_share: float = 0.5
) -> ABRun:
    """Simulate one world whose shoppers are split between the control and treatment policies.

    Parameters
    ----------
    control
        The scenario (its policies are the control arm's).
    treatment
        The same scenario with the treatment arm's policies (see :func:`treatment_scenario`).
    seed
        Seed of the world; defaults to ``control.seed``.
    treatment_share
        Share of the shoppers in the treatment arm (strictly between 0 and 1).

    Returns
    -------
    ABRun
        Per-shopper outcomes with their arm, and the world's results.
    """
    share = _check_share(treatment_share, control.population.agents)
    policies = [control.policies, treatment.policies]
    model = CommerceModel(
        control, seed=seed, levers=lambda m: ArmedLevers(m, policies, assign_arms(m, share))
    )
    try:
        model.run()
        world = collect_results(model)
    finally:
        model.release()
    levers = model.levers
    assert isinstance(levers, ArmedLevers)
    pop = model.population
    # Lever costs are booked per arm: each shopper carries its arm's mean (agent units are
    # currency per person).
    per_shopper = levers.costs.sum(axis=1) / np.maximum(levers.sizes, 1)
    lever_cost = per_shopper[levers.arm]
    shoppers = pd.DataFrame(
        {
            "arm": pd.Categorical.from_codes(levers.arm.astype(np.int64), pd.Index(ARM_NAMES)),
            "profit": pop.contribution - lever_cost,
            "revenue": pop.revenue,
            "orders": pop.orders.astype(np.float64),
            "converted": (pop.orders > 0).astype(np.float64),
            "repeat_buyer": ((pop.funnel & np.uint8(Funnel.REPEATED)) > 0).astype(np.float64),
            "lever_cost": lever_cost,
        },
        index=pd.RangeIndex(pop.size, name="shopper_id"),
    )
    return ABRun(seed=int(model.seed), shoppers=shoppers, world=world)


def _arm_moments(shoppers: pd.DataFrame) -> pd.DataFrame:
    """Size, mean and variance (ddof 1) of each outcome in each arm."""
    grouped = shoppers.groupby("arm", observed=False)[list(METRICS)]
    moments = pd.concat(
        {"n": grouped.count().stack(), "mean": grouped.mean().stack(), "var": grouped.var(ddof=1).stack()},
        axis=1,
    )
    moments.index = moments.index.set_names(["arm", "metric"])
    return moments


def _run_seed(control: Scenario, treatment: Scenario, share: float, seed: int) -> pd.DataFrame:
    return _arm_moments(simulate_ab(control, treatment, seed, share).shoppers)


def sample_size_per_arm(
    control_mean: float,
    control_var: float,
    treatment_var: float,
    mde: float,
    rate: bool,
    alpha: float = 0.05,
    power: float = 0.8,
) -> float:
    """Simulated shoppers (agents) per arm to detect a relative lift of ``mde`` (two-sided test).

    The count is of agents, the units the arms are split into, from the variances per agent;
    it is not a number of people of the real market (each agent stands for ``scale`` people).

    Means: ``(z_(1-alpha/2) + z_power)^2 (var_c + var_t) / (mde x |mean_c|)^2``. Rates
    (``rate``; the variances are not used): ``p1`` the control rate, ``p2 = p1 (1 + mde)``,
    ``(z_(1-alpha/2) sqrt(2 pbar (1 - pbar)) + z_power sqrt(p1 q1 + p2 q2))^2 / (p2 - p1)^2``.

    Returns
    -------
    float
        Whole agents per arm (rounded up); NaN when the control mean is 0 or the lift cannot
        be reached (a rate above 1).
    """
    z_alpha = float(stats.norm.ppf(1 - alpha / 2))
    z_power = float(stats.norm.ppf(power))
    delta = mde * abs(control_mean)
    if not delta > 0:
        return math.nan
    if rate:
        p1, p2 = control_mean, control_mean * (1 + mde)
        if p2 >= 1:
            return math.nan
        pbar = (p1 + p2) / 2
        root = z_alpha * math.sqrt(2 * pbar * (1 - pbar)) + z_power * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
        return float(math.ceil(root**2 / (p2 - p1) ** 2))
    return float(math.ceil((z_alpha + z_power) ** 2 * (control_var + treatment_var) / delta**2))


def _p_value(statistic: float, difference: float, dist: Any) -> float:
    if math.isfinite(statistic):
        return float(2 * dist.sf(abs(statistic)))
    return 1.0 if difference == 0 else 0.0


def compare_arms(
    moments: pd.DataFrame, mde: float = 0.05, alpha: float = 0.05, power: float = 0.8
) -> pd.DataFrame:
    """Lift, interval, p-value and sample size per metric from the arms' sizes, means and variances.

    Parameters
    ----------
    moments
        Indexed by (``arm``, ``metric``) with ``n``, ``mean`` and ``var`` (per shopper).
    mde
        Minimum detectable effect, relative to the control mean (0.05 = 5%).
    alpha
        Significance level of the two-sided tests; intervals cover ``1 - alpha``.
    power
        Power the sample size is computed for.

    Returns
    -------
    pandas.DataFrame
        One row per ``metric``: ``control_mean``, ``treatment_mean``, ``lift``, ``se``,
        ``ci_low``, ``ci_high``, ``relative_lift``, ``p_value``, ``significant``, ``test``
        (``welch_t`` or ``two_proportion_z``), ``n_control``, ``n_treatment`` (agents) and
        ``sample_size_per_arm`` (agents per arm to detect ``mde``, not people; see
        :func:`sample_size_per_arm`).
    """
    rows = []
    values = moments[["n", "mean", "var"]].to_numpy(dtype=np.float64)
    arm_values = {key: tuple(float(v) for v in row) for key, row in zip(moments.index, values, strict=True)}
    for metric in METRICS:
        n_c, mean_c, var_c = arm_values[(ARM_NAMES[0], metric)]
        n_t, mean_t, var_t = arm_values[(ARM_NAMES[1], metric)]
        lift = mean_t - mean_c
        rate = metric in RATE_METRICS
        if rate:
            # Variances of 0/1 outcomes from the rates; the test pools the rates under H0.
            var_c, var_t = mean_c * (1 - mean_c), mean_t * (1 - mean_t)
            se = math.sqrt(var_c / n_c + var_t / n_t)
            pooled = (mean_c * n_c + mean_t * n_t) / (n_c + n_t)
            se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_t))
            statistic = lift / se0 if se0 > 0 else math.nan
            p_value = _p_value(statistic, lift, stats.norm)
            critical = float(stats.norm.ppf(1 - alpha / 2))
        else:
            a, b = var_c / n_c, var_t / n_t
            se = math.sqrt(a + b)
            df = (a + b) ** 2 / (a**2 / (n_c - 1) + b**2 / (n_t - 1)) if a + b > 0 else math.inf
            statistic = lift / se if se > 0 else math.nan
            p_value = _p_value(statistic, lift, stats.t(df))
            critical = float(stats.t.ppf(1 - alpha / 2, df))
        control_mean = mean_c
        rows.append(
            {
                "metric": metric,
                "control_mean": control_mean,
                "treatment_mean": mean_t,
                "lift": lift,
                "se": se,
                "ci_low": lift - critical * se,
                "ci_high": lift + critical * se,
                "relative_lift": lift / abs(control_mean) if control_mean != 0 else math.nan,
                "p_value": p_value,
                "significant": p_value < alpha,
                "test": "two_proportion_z" if rate else "welch_t",
                "n_control": int(n_c),
                "n_treatment": int(n_t),
                "sample_size_per_arm": sample_size_per_arm(
                    control_mean, var_c, var_t, mde, rate, alpha, power
                ),
            }
        )
    return pd.DataFrame(rows).set_index("metric")


def _pool(table: pd.DataFrame, arms: pd.DataFrame, mde: float, alpha: float, power: float) -> pd.DataFrame:
    """The comparison pooled over independent worlds (the only world's with one seed).

    Lifts are pooled with inverse-variance weights (fixed effect), with a normal interval and
    p-value; the arms' means and the sample size use all worlds' shoppers.
    """
    summed = arms.groupby(level=["arm", "metric"]).agg(
        n=("n", "sum"), mean=("mean", "mean"), var=("var", "mean")
    )
    pooled = compare_arms(summed, mde, alpha, power)
    if table.index.get_level_values("seed").nunique() == 1:
        return pooled
    critical = float(stats.norm.ppf(1 - alpha / 2))
    metrics = table.index.get_level_values("metric")
    lifts, ses = table["lift"].to_numpy(), table["se"].to_numpy()
    control = pooled["control_mean"].to_numpy()
    for i, metric in enumerate(METRICS):
        weight = 1 / ses[metrics == metric] ** 2
        if not np.isfinite(weight).all():
            continue
        lift = float((weight * lifts[metrics == metric]).sum() / weight.sum())
        se = float(1 / math.sqrt(weight.sum()))
        p_value = float(2 * stats.norm.sf(abs(lift / se)))
        relative = lift / abs(control[i]) if control[i] != 0 else math.nan
        pooled.loc[metric, ["lift", "se", "ci_low", "ci_high", "relative_lift", "p_value", "significant"]] = [
            lift,
            se,
            lift - critical * se,
            lift + critical * se,
            relative,
            p_value,
            p_value < alpha,
        ]
    pooled["test"] = pooled["test"] + "_pooled"
    return pooled


@dataclass
class ABTestResult:
    """An A/B test of a policy patch, over one or more worlds (seeds).

    Attributes
    ----------
    scenario : Scenario
        The control scenario.
    treatment : Scenario
        The treatment arm's scenario (the control with the patch).
    variant : str
        Name of the patch (its file).
    seeds : list of int
        Seeds of the worlds, in the order given.
    treatment_share, mde, alpha, power : float
        The design: share of shoppers treated, minimum detectable effect (relative), level and
        power of the tests.
    arms : pandas.DataFrame
        Indexed by (``seed``, ``arm``, ``metric``): ``n``, ``mean`` and ``var`` per shopper.
    table : pandas.DataFrame
        Indexed by (``seed``, ``metric``): the comparison of :func:`compare_arms` in each world.
    pooled : pandas.DataFrame
        Indexed by ``metric``: the comparison pooled over seeds (the only world's with one seed).
    """

    scenario: Scenario
    treatment: Scenario
    variant: str
    seeds: list[int]
    treatment_share: float
    mde: float
    alpha: float
    power: float
    arms: pd.DataFrame
    table: pd.DataFrame
    pooled: pd.DataFrame

    def rejections(self, metric: str) -> int:
        """Number of seeds whose test of ``metric`` rejects equal arms at level ``alpha``."""
        return int(self.table.xs(metric, level="metric")["significant"].sum())

    def tidy(self) -> pd.DataFrame:
        """Per-seed rows and the pooled rows (seed ``all``), indexed by (``seed``, ``metric``)."""
        per_seed = self.table.reset_index()
        per_seed["seed"] = per_seed["seed"].astype(str)
        if len(self.seeds) > 1:
            per_seed = pd.concat([per_seed, self.pooled.reset_index().assign(seed=POOLED)])
        return per_seed.set_index(["seed", "metric"])

    def to_text(self) -> str:
        """The pooled comparison as a readable table, with the design in a title line."""
        currency = self.scenario.economics.currency
        scenario = self.scenario
        seeds = ", ".join(map(str, self.seeds))
        title = (
            f"{scenario.name}: A/B test of {self.variant}, {scenario.horizon_days} days, "
            f"{scenario.population.agents:,} agents x {scenario.population.scale:g} people, "
            f"{self.treatment_share:.0%} treated, seed(s) {seeds}"
        )
        note = (
            f"per shopper (money in {currency}); lift = treatment - control, "
            f"{1 - self.alpha:.0%} interval; agents per arm needed = simulated shoppers (agents, not "
            f"people of the market) per arm to detect a {self.mde:.0%} relative lift at alpha "
            f"{self.alpha:g}, power {self.power:.0%}"
        )
        means = format_frame(
            self.pooled[["control_mean", "treatment_mean"]], by_row=True, units=PER_SHOPPER_UNITS
        )
        lifts = format_frame(
            self.pooled[["lift", "ci_low", "ci_high"]], by_row=True, units=PER_SHOPPER_UNITS, signed=True
        )
        shown = pd.concat([means, lifts], axis=1)
        shown["relative_lift"] = [format_percent(v, signed=True) for v in self.pooled["relative_lift"]]
        shown["p_value"] = [format_probability(v) for v in self.pooled["p_value"]]
        shown["agents_per_arm_needed"] = [format_count(v) for v in self.pooled["sample_size_per_arm"]]
        text = title + "\n" + note + "\n" + shown.to_string()
        if len(self.seeds) > 1:
            counts = ", ".join(f"{m} {self.rejections(m)}" for m in METRICS)
            text += (
                f"\npooled over {len(self.seeds)} worlds (inverse-variance); seeds where the test "
                f"rejects at {self.alpha:g}: {counts} of {len(self.seeds)}"
            )
        return text

    def save(self, out_dir: str | Path, overwrite: bool = False) -> list[Path]:
        """Write ``abtest.csv`` (per seed and pooled) and ``abtest.json`` (design and results).

        Files are staged in a temporary folder and moved in place only when all are complete.

        Raises
        ------
        OutputExistsError
            When ``out_dir`` already holds one of these files and ``overwrite`` is false.
        """
        tidy = self.tidy()
        document = {
            "scenario": self.scenario.name,
            "variant": self.variant,
            "seeds": self.seeds,
            "treatment_share": self.treatment_share,
            "mde": self.mde,
            "alpha": self.alpha,
            "power": self.power,
            "policies": {
                arm: scenario.policies.model_dump(mode="json", exclude_none=True)
                for arm, scenario in zip(ARM_NAMES, (self.scenario, self.treatment), strict=True)
            },
            "results": [_jsonable(row) for row in tidy.reset_index().to_dict(orient="records")],
            "control_scenario": scenario_document(self.scenario),
        }
        writers: dict[str, Callable[[Path], object]] = {
            "abtest.csv": tidy.to_csv,
            "abtest.json": lambda path: path.write_text(json.dumps(document, indent=2), encoding="utf-8"),
            ARMS_FILE: self.arms.to_csv,
        }
        return write_files(out_dir, writers, overwrite)

    @classmethod
    def load(cls, folder: str | Path) -> ABTestResult:
        """Read an ``abtest --out`` folder back (checked against its manifest).

        The per-seed comparisons and the arms' moments are read; the pooled comparison is
        computed from them again, as :func:`ab_test` does.

        Raises
        ------
        simulator.common.output.OutputError
            One line naming the folder or file: missing, partial, or not written by ``abtest``.
        """
        path = open_results(folder, ABTEST_FILES, "abtest --out")
        document = read_result_json(path, "abtest.json")
        source = str(path / "abtest.json")
        control = saved_scenario(document.get("control_scenario"), source)
        policies = (document.get("policies") or {}).get(ARM_NAMES[1])
        treatment = saved_scenario({**scenario_document(control), "policies": policies}, source)
        tidy = read_result_csv(path, "abtest.csv", columns=["seed", "metric"])
        per_seed = tidy[tidy["seed"].astype(str) != POOLED]
        table = per_seed.astype({"seed": np.int64}).set_index(["seed", "metric"])
        arms = read_result_csv(path, ARMS_FILE, columns=["seed", "arm", "metric"])
        arms = arms.astype({"arm": pd.CategoricalDtype(list(ARM_NAMES))}).set_index(["seed", "arm", "metric"])
        mde, alpha, power = (float(document[k]) for k in ("mde", "alpha", "power"))
        return cls(
            scenario=control,
            treatment=treatment,
            variant=str(document.get("variant", "")),
            seeds=[int(seed) for seed in document.get("seeds", [])],
            treatment_share=float(document["treatment_share"]),
            mde=mde,
            alpha=alpha,
            power=power,
            arms=arms,
            table=table,
            pooled=_pool(table, arms, mde, alpha, power),
        )


def _jsonable(row: Mapping[Hashable, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        out[str(key)] = value
    return out


def ab_test(
    scenario: Scenario,
    patch: Patch,
    seeds: Sequence[int] | None = None,
    treatment_share: float = 0.5,
    mde: float = 0.05,
    alpha: float = 0.05,
    power: float = 0.8,
    workers: int = 1,
    source: str = "<variant>",
    progress: bool = False,
) -> ABTestResult:
    """Run an A/B test of a policy patch: shoppers split at random inside each world.

    Parameters
    ----------
    scenario
        The control scenario.
    patch
        Changes of ``policies`` for the treatment arm (see :func:`treatment_scenario`); an
        empty mapping gives an A/A test.
    seeds
        Seeds of the worlds (at least one, distinct); default ``[scenario.seed]``.
    treatment_share
        Share of the shoppers in the treatment arm (strictly between 0 and 1).
    mde
        Minimum detectable effect for the sample size, relative to the control mean (0-10).
    alpha
        Level of the two-sided tests (0-0.5); intervals cover ``1 - alpha``.
    power
        Power of the sample size (0.5-1).
    workers
        Worker processes (at least 1); the result does not depend on it.
    source
        Name of the patch (its file), for messages and results.
    progress
        Show a progress bar over seeds.

    Returns
    -------
    ABTestResult

    Raises
    ------
    ScenarioError
        One line for a patch that cannot be A/B tested or breaks the schema, an empty or
        repeated seed list, ``workers`` out of range, or a design value out of range.
    """
    treatment = treatment_scenario(scenario, patch, source)
    seed_list = check_seeds([scenario.seed] if seeds is None else seeds, "abtest")
    workers = check_workers(workers, "abtest")
    share = _check_share(treatment_share, scenario.population.agents)
    for name, value, low, high in (
        ("mde", mde, 0.0, 10.0),
        ("alpha", alpha, 0.0, 0.5),
        ("power", power, 0.5, 1.0),
    ):
        if not (isinstance(value, int | float) and low < value < high):
            raise _argument_error(
                name, f"must be a number strictly between {low:g} and {high:g}, got {value!r}"
            )
    check_memory(treatment, source)

    run = partial(_run_seed, scenario, treatment, share)
    results = get_executor(workers, source="abtest").map(
        run, seed_list, label="A/B worlds", unit="seed", progress=progress
    )
    moments = dict(zip(seed_list, results, strict=True))

    arms = pd.concat(moments, names=["seed"])
    table = pd.concat(
        {seed: compare_arms(moments[seed], mde, alpha, power) for seed in seed_list}, names=["seed"]
    )
    return ABTestResult(
        scenario=scenario,
        treatment=treatment,
        variant=source,
        seeds=seed_list,
        treatment_share=share,
        mde=float(mde),
        alpha=float(alpha),
        power=float(power),
        arms=arms,
        table=table,
        pooled=_pool(table, arms, mde, alpha, power),
    )
