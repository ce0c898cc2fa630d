"""Benchmark of the allocation LP (optimizer.lp): model size, speed, and accuracy against SLSQP.

Usage::

    python3 benchmarks/bench_allocation.py [--quick] [--repeats N] [--seed N]

1. Speed: a plan of 5 channels x 52 weeks with 20-segment curves (one per channel and week,
   seasonal), carryover, weekly budget caps, bounds and a share rule. Model build time and solve
   time (PuLP's hand-over to the solver included) with CBC and HiGHS, median of several runs.
2. Accuracy: on smooth saturating curves (Hill, shape <= 1, and exponential), three allocations
   of the same budget under the same bounds, each scored on the *smooth* curves: scipy's SLSQP
   started from the current plan (what Robyn and PyMC-Marketing do, with exact gradients), the
   LP on 20-segment piecewise-linear approximations, the LP refined around its answer
   (solve_allocation_refined: REFINE_ROUNDS more solves with the knots split by
   REFINE_SUBDIVISIONS within one segment of the spend) and the continuous optimum (marginal
   returns equalized by bisection on the Lagrange multiplier). Section 1 also times the refined
   LP on the weekly plan.

See benchmarks/README.md. No figures are stored: run it and read the output.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from optimizer import (  # noqa: E402
    Allocation,
    PiecewiseLinear,
    ShareRule,
    available_solvers,
    solve_allocation,
    solve_allocation_refined,
)
from optimizer.pwl import Response  # noqa: E402

CHANNELS = ("search", "social", "marketplace", "crm", "display")
SEGMENTS = 20
WEEKS = 52
SOLVE_TARGET_SECONDS = 0.100
GAP_TARGET = 0.005
REFINE_ROUNDS = 2
REFINE_SUBDIVISIONS = 10


# --------------------------------------------------------------------------- 1. speed


def exponential(top: float, half: float) -> Response:
    """Exponential saturation ``top * (1 - exp(-x / half))``."""
    return lambda x: top * (1 - np.exp(-x / half))


def weekly_plan(rng: np.random.Generator) -> dict[str, object]:
    """5 channels x 52 weeks: seasonal exponential-saturation curves, carryover, caps, rules."""
    curves: dict[str, list[PiecewiseLinear]] = {}
    responses: dict[str, list[Response]] = {}
    weeks = np.arange(WEEKS)
    for name in CHANNELS:
        top = rng.uniform(40_000, 160_000)  # weekly gross margin at saturation
        half = rng.uniform(8_000, 40_000)  # spend scale of saturation
        season = 1 + 0.3 * np.sin(2 * np.pi * (weeks - rng.uniform(0, WEEKS)) / WEEKS)
        responses[name] = [exponential(top * s, half) for s in season]
        curves[name] = [
            PiecewiseLinear.from_function(response, 5 * half, SEGMENTS) for response in responses[name]
        ]
    yearly = 3_000_000.0
    return {
        "curves": curves,
        "responses": responses,
        "budget": yearly,
        "periods": WEEKS,
        "carryover": {name: float(rng.uniform(0.1, 0.6)) for name in CHANNELS},
        "period_budgets": [yearly / WEEKS * 1.5] * WEEKS,
        "bounds": {"crm": (50_000.0, 300_000.0), "display": (None, 400_000.0)},
        "shares": [ShareRule(("social",), minimum=0.15)],
    }


def smooth_profit(allocation: Allocation, responses: dict[str, list[Response]]) -> float:
    """Profit of a weekly plan scored on the smooth curves at its effective spend."""
    effective = allocation.effective_spend
    margin = sum(
        float(np.asarray(response(np.array(effective.loc[name, week])), dtype=float))
        for name, weekly in responses.items()
        for week, response in enumerate(weekly)
    )
    return margin - allocation.total_spend()


def bench_speed(repeats: int, seed: int) -> dict[str, float]:
    plan = weekly_plan(np.random.default_rng(seed))
    curves = plan.pop("curves")
    responses = plan.pop("responses")
    print(
        f"\n1. Speed: {len(CHANNELS)} channels x {WEEKS} weeks x {SEGMENTS} segments "
        f"({len(CHANNELS) * WEEKS * (SEGMENTS + 1)} segment variables + "
        f"{len(CHANNELS) * WEEKS} effective-spend variables),\n   carryover, weekly caps, 2 bounds, "
        f"1 share rule; median of {repeats} runs after one warm-up; refined = {REFINE_ROUNDS} more "
        f"rounds, {REFINE_SUBDIVISIONS} subdivisions"
    )
    print(
        f"{'solver':<16}{'build ms':>10}{'solve ms':>10}{'total ms':>10}{'wall ms':>10}"
        f"{'objective':>16}{'smooth profit':>16}"
    )
    medians: dict[str, float] = {}
    for refined in (False, True):
        for solver in sorted(available_solvers()):

            def run(solver: str = solver, refined: bool = refined) -> Allocation:
                if refined:
                    return solve_allocation_refined(
                        curves,  # type: ignore[arg-type]
                        responses,  # type: ignore[arg-type]
                        solver=solver,
                        rounds=REFINE_ROUNDS,
                        subdivisions=REFINE_SUBDIVISIONS,
                        **plan,  # type: ignore[arg-type]
                    )
                return solve_allocation(curves, solver=solver, **plan)  # type: ignore[arg-type]

            run()  # warm-up
            builds, solves, walls = [], [], []
            for _ in range(repeats):
                started = time.perf_counter()
                allocation = run()
                walls.append(time.perf_counter() - started)
                builds.append(allocation.build_seconds)
                solves.append(allocation.solve_seconds)
            build, solve = statistics.median(builds), statistics.median(solves)
            if not refined:
                medians[solver] = solve
            print(
                f"{solver + (' refined' if refined else ''):<16}{1000 * build:>10.1f}{1000 * solve:>10.1f}"
                f"{1000 * (build + solve):>10.1f}{1000 * statistics.median(walls):>10.1f}"
                f"{allocation.objective:>16,.0f}{smooth_profit(allocation, responses):>16,.0f}"  # type: ignore[arg-type]
            )
    print(
        "solve = PuLP's solve call: the hand-over of the model to the solver (CBC: an MPS file and a "
        "process; HiGHS: highspy calls), the solve and reading the solution and duals back;\n"
        "refined: build and solve summed over the rounds; wall = the whole call (checks, curve "
        "refinement, shadow prices); objective on the LP's own curves, smooth profit on the exponential "
        "curves they approximate."
    )
    return medians


# --------------------------------------------------------------------------- 2. accuracy


@dataclass
class Instance:
    """One channel-mix problem on smooth curves: profit = sum of gross margin - budget."""

    name: str
    tops: np.ndarray  # gross margin at saturation
    halves: np.ndarray  # spend at half saturation (Hill) or saturation scale (exponential)
    shapes: np.ndarray  # Hill shape (<= 1); 0 means exponential saturation
    current: np.ndarray  # current spend per channel
    lower: np.ndarray
    upper: np.ndarray
    budget: float

    def response(self, i: int, x: np.ndarray | float) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if self.shapes[i] == 0:
            return np.asarray(self.tops[i] * (1 - np.exp(-x / self.halves[i])))
        power = np.power(np.maximum(x, 0.0), self.shapes[i])
        return np.asarray(self.tops[i] * power / (power + self.halves[i] ** self.shapes[i]))

    def curve(self, i: int) -> Response:
        """Channel ``i``'s smooth response as a function of spend alone."""
        return lambda x: self.response(i, x)

    def marginal(self, i: int, x: np.ndarray | float) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if self.shapes[i] == 0:
            return np.asarray(self.tops[i] / self.halves[i] * np.exp(-x / self.halves[i]))
        s, h = self.shapes[i], self.halves[i] ** self.shapes[i]
        with np.errstate(divide="ignore", invalid="ignore"):
            value = self.tops[i] * s * h * np.power(x, s - 1) / (np.power(x, s) + h) ** 2
        return np.asarray(np.where(x > 0, value, np.inf if s < 1 else self.tops[i] / h))

    def profit(self, spend: np.ndarray) -> float:
        return float(sum(self.response(i, spend[i]) for i in range(spend.size)) - spend.sum())


def random_instance(rng: np.random.Generator, name: str) -> Instance:
    count = len(CHANNELS)
    current = rng.uniform(50_000, 400_000, count)
    halves = current * rng.uniform(0.5, 3.0, count)
    # A spend of `current` returns 1.2x to 4x its cost: an ordinary media plan.
    shapes = np.where(rng.random(count) < 0.5, rng.uniform(0.5, 1.0, count), 0.0)
    tops = np.empty(count)
    for i in range(count):
        saturation = (
            1 - np.exp(-current[i] / halves[i])
            if shapes[i] == 0
            else current[i] ** shapes[i] / (current[i] ** shapes[i] + halves[i] ** shapes[i])
        )
        tops[i] = rng.uniform(1.2, 4.0) * current[i] / saturation
    budget = float(current.sum() * rng.uniform(0.8, 1.3))
    return Instance(name, tops, halves, shapes, current, 0.3 * current, 3.0 * current, budget)


def new_channel_instance(rng: np.random.Generator) -> Instance:
    """A channel not used yet (current spend 0, Hill shape 0.6): SLSQP starts where its slope is infinite."""
    instance = random_instance(rng, "new channel at 0")
    instance.shapes[-1] = 0.6
    instance.halves[-1] = 150_000.0
    instance.tops[-1] = 900_000.0
    instance.current[-1] = 0.0
    instance.lower[-1] = 0.0
    instance.upper[-1] = 600_000.0
    return instance


def far_from_current_instance(rng: np.random.Generator) -> Instance:
    """The current plan spends the least where returns are highest; the budget doubles."""
    instance = random_instance(rng, "budget x2, plan far off")
    order = np.argsort(instance.tops / instance.halves)  # steepest first-unit return last
    instance.current = np.sort(instance.current)[::-1][np.argsort(order)]
    instance.lower = 0.3 * instance.current
    instance.upper = 6.0 * instance.current
    instance.budget = float(instance.current.sum() * 2.0)
    return instance


def slsqp(instance: Instance) -> tuple[np.ndarray, str, float]:
    """scipy SLSQP from the current plan (scaled to the budget), exact gradients, budget equality."""
    count = instance.current.size
    start = np.clip(
        instance.current * instance.budget / max(instance.current.sum(), 1.0), instance.lower, instance.upper
    )
    scale = instance.budget  # optimize shares of the budget: SLSQP's tolerances are absolute

    def objective(share: np.ndarray) -> float:
        return -instance.profit(share * scale) / scale

    def gradient(share: np.ndarray) -> np.ndarray:
        spend = share * scale
        return -np.array([instance.marginal(i, spend[i]) - 1 for i in range(count)], dtype=float)

    started = time.perf_counter()
    result = minimize(
        objective,
        start / scale,
        jac=gradient,
        method="SLSQP",
        bounds=list(zip(instance.lower / scale, instance.upper / scale, strict=True)),
        constraints=[
            {"type": "eq", "fun": lambda share: share.sum() - 1.0, "jac": lambda share: np.ones(count)}
        ],
        options={"maxiter": 500, "ftol": 1e-12},
    )
    seconds = time.perf_counter() - started
    return np.asarray(result.x) * scale, str(result.message), seconds


def continuous_optimum(instance: Instance) -> np.ndarray:
    """Equalize marginal returns: spend_i(lam) = clip(marginal_i^-1(lam)), bisection on lam for the budget."""
    count = instance.current.size

    def spend_at(lam: float) -> np.ndarray:
        spend = np.empty(count)
        for i in range(count):
            low, high = float(instance.lower[i]), float(instance.upper[i])
            if instance.marginal(i, low) <= lam:
                spend[i] = low
            elif instance.marginal(i, high) >= lam:
                spend[i] = high
            else:
                for _ in range(200):
                    middle = (low + high) / 2
                    low, high = (middle, high) if instance.marginal(i, middle) > lam else (low, middle)
                spend[i] = (low + high) / 2
        return spend

    low, high = 1e-12, 1e6
    for _ in range(300):
        middle = np.sqrt(low * high)
        low, high = (middle, high) if spend_at(middle).sum() > instance.budget else (low, middle)
    return spend_at(np.sqrt(low * high))


def lp_allocation(instance: Instance, solver: str, refined: bool = False) -> tuple[np.ndarray, float, float]:
    """The LP on 20-segment approximations of the smooth curves over [0, upper bound], refined or not.

    Returns the spend, the seconds in the solver calls (summed over the rounds) and the wall time of
    the whole call (checks, model building, curve refinement).
    """
    responses = {CHANNELS[i]: instance.curve(i) for i in range(instance.current.size)}
    curves = {
        name: PiecewiseLinear.from_function(response, float(instance.upper[i]), SEGMENTS)
        for i, (name, response) in enumerate(responses.items())
    }
    bounds = {CHANNELS[i]: (float(instance.lower[i]), float(instance.upper[i])) for i in range(len(curves))}
    started = time.perf_counter()
    if refined:
        allocation = solve_allocation_refined(
            curves,
            responses,
            instance.budget,
            bounds=bounds,
            solver=solver,
            rounds=REFINE_ROUNDS,
            subdivisions=REFINE_SUBDIVISIONS,
        )
    else:
        allocation = solve_allocation(curves, instance.budget, bounds=bounds, solver=solver)  # type: ignore[arg-type]
    wall = time.perf_counter() - started
    return allocation.spend[0].to_numpy(), allocation.solve_seconds, wall


@dataclass
class Accuracy:
    """Worst gaps to the optimum and shortfalls behind SLSQP, per LP variant."""

    worst_gap: dict[str, float]
    behind: dict[str, int]
    worst_shortfall: dict[str, float]  # relative to the optimum's profit; <= 0 when never behind


def bench_accuracy(instances: list[Instance], solver: str) -> Accuracy:
    print(
        f"\n2. Accuracy on smooth curves ({len(CHANNELS)} channels, budget equality, bounds 0.3x-3x current "
        f"unless said; LP with {solver}; refined = {REFINE_ROUNDS} more rounds, {REFINE_SUBDIVISIONS} "
        "subdivisions):\n   profit = gross margin - spend, each plan scored on the smooth curves"
    )
    header = (
        f"{'instance':<24}{'SLSQP':>12}{'LP':>12}{'refined':>12}{'optimum':>12}{'LP gap':>10}"
        f"{'ref. gap':>10}{'SLSQP gap':>10}{'ref.-SLSQP':>11}{'LP ms':>7}{'ref. ms':>8}{'ref. wall':>10}"
        f"{'SLSQP ms':>9}  SLSQP message"
    )
    print(header)
    variants = ("LP", "refined")
    result = Accuracy(
        dict.fromkeys(variants, 0.0), dict.fromkeys(variants, 0), dict.fromkeys(variants, -np.inf)
    )
    for instance in instances:
        slsqp_spend, message, slsqp_seconds = slsqp(instance)
        lp_spend, lp_seconds, _ = lp_allocation(instance, solver)
        refined_spend, refined_seconds, refined_wall = lp_allocation(instance, solver, refined=True)
        best = continuous_optimum(instance)
        slsqp_value, lp_value, refined_value, optimum = (
            instance.profit(spend) for spend in (slsqp_spend, lp_spend, refined_spend, best)
        )
        feasible = abs(slsqp_spend.sum() - instance.budget) <= 1e-6 * instance.budget
        gaps = {}
        for variant, value in (("LP", lp_value), ("refined", refined_value)):
            gaps[variant] = (optimum - value) / abs(optimum)
            result.worst_gap[variant] = max(result.worst_gap[variant], gaps[variant])
            shortfall = (slsqp_value - value) / abs(optimum)
            result.worst_shortfall[variant] = max(result.worst_shortfall[variant], shortfall)
            result.behind[variant] += shortfall > 1e-9
        slsqp_gap = (optimum - slsqp_value) / abs(optimum)
        note = "" if feasible else " (budget not met)"
        print(
            f"{instance.name:<24}{slsqp_value:>12,.0f}{lp_value:>12,.0f}{refined_value:>12,.0f}{optimum:>12,.0f}"
            f"{gaps['LP']:>10.1e}{gaps['refined']:>10.1e}{slsqp_gap:>10.1e}"
            f"{refined_value - slsqp_value:>11,.2f}"
            f"{1000 * lp_seconds:>7.1f}{1000 * refined_seconds:>8.1f}{1000 * refined_wall:>10.1f}"
            f"{1000 * slsqp_seconds:>9.1f}  {message}{note}"
        )
    print(
        "gap = (optimum - plan) / optimum, relative, in profit (a negative gap would mean a plan beat the "
        "bisection optimum);\nref.-SLSQP = refined LP's profit minus SLSQP's, currency; ref. ms = solver "
        "calls summed over the rounds, ref. wall = the whole call"
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and instances")
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed runs per solver (default 7, quick 3)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the random curves")
    arguments = parser.parse_args(argv)
    repeats = arguments.repeats or (3 if arguments.quick else 7)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core; CBC's process inherits it
    print(f"solvers available: {', '.join(available_solvers())}; one CPU core; seed {arguments.seed}")

    medians = bench_speed(repeats, arguments.seed)

    rng = np.random.default_rng(arguments.seed)
    count = 3 if arguments.quick else 8
    instances = [random_instance(rng, f"random {k + 1}") for k in range(count)]
    instances += [new_channel_instance(rng), far_from_current_instance(rng)]
    solver = "highs" if "highs" in medians else "cbc"
    accuracy = bench_accuracy(instances, solver)

    print("\nTargets")
    for name, seconds in medians.items():
        verdict = "MET" if seconds < SOLVE_TARGET_SECONDS else "NOT MET"
        print(
            f"  {name} solves the 5 x 52 x 20 plan in under {1000 * SOLVE_TARGET_SECONDS:.0f} ms: {verdict}"
        )
    for variant in ("LP", "refined"):
        label = "LP" if variant == "LP" else "refined LP"
        worst = accuracy.worst_gap[variant]
        print(
            f"  {label} within {100 * GAP_TARGET:.1f}% of the continuous optimum on every instance (worst "
            f"{worst:.1e} relative): {'MET' if worst <= GAP_TARGET else 'NOT MET'}"
        )
        behind, shortfall = accuracy.behind[variant], accuracy.worst_shortfall[variant]
        verdict = "MET" if behind == 0 else f"NOT MET ({behind} of {len(instances)} behind by more than 1e-9"
        if behind:
            verdict += f", by at most {shortfall:.1e} of the optimum's profit)"
        print(f"  {label} at least SLSQP from the current plan on every instance: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
