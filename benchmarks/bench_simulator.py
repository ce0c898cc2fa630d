"""Performance benchmark of the vectorized simulator, against a one-object-per-shopper Mesa model.

Usage::

    python3 benchmarks/bench_simulator.py [--quick] [--scenario FILE] [--seed N]

Every measurement runs in a fresh Python subprocess pinned to one CPU core, with the BLAS/OpenMP
thread pools set to one thread before numpy is imported, so the figures are single-core figures
and each process's peak resident memory (``VmHWM`` on Linux, else ``ru_maxrss``) belongs to one
population size only. See benchmarks/README.md for what is measured and the targets.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)
# One core: set before numpy is imported (numpy is only imported inside the worker functions).
for _variable in THREAD_VARIABLES:
    os.environ[_variable] = "1"

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _path in (str(ROOT), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

DEFAULT_SCENARIO = ROOT / "scenarios" / "omnichannel_retailer.yaml"

# (agents, days, runs): every size is stepped over the same horizon so that the cost per
# shopper-day compares like with like; small sizes are repeated (different seeds) for a few seconds
# of timed stepping.
FULL_PLAN: dict[str, Any] = {
    "sizes": [(10_000, 60, 20), (100_000, 60, 6), (1_000_000, 60, 3)],
    "object": (10_000, 365),
    "reference_runs": 20,
}
QUICK_PLAN: dict[str, Any] = {
    "sizes": [(10_000, 20, 10), (100_000, 20, 3), (1_000_000, 20, 1)],
    "object": (10_000, 120),
    "reference_runs": 10,
}

# Every lever on (issue: the benchmark "with every lever on"): the scenario's own policies plus
# these, and a campaign inside the benchmark's horizon.
EXTRA_LEVERS: dict[str, Any] = {
    "service": {"delivery_days": 2, "free_returns": True},
    "referral": {
        "word_of_mouth_rate": 0.001,
        "referral_rate": 0.01,
        "referral_bonus": 30,
        "friend_discount": 0.15,
    },
    "checkout_simplification": {"conversion_lift": 0.25, "cost_per_day": 500},
}
BENCH_CAMPAIGN = {"name": "bench_sale", "start_day": 10, "days": 7, "discount": 0.15, "kind": "flash"}
LEVER_PLAN: dict[str, Any] = {"full": [(100_000, 60, 3), (1_000_000, 60, 2)], "quick": [(1_000_000, 20, 1)]}

TARGET_SHOPPER_DAYS_PER_S = 10e6
TARGET_PEAK_BYTES = 1.5e9
TARGET_AGENTS = 1_000_000
FLAT_BAND = 1.5
"""Cost per shopper-day counts as flat when the 1M / 10k ratio is within [1 / 1.5, 1.5]."""
ORDERS_TOLERANCE = 0.15
COMPARED_TOTALS = ("visits", "carts", "orders", "new_customers", "repeat_orders", "revenue")
MIB = 2**20


# ----------------------------------------------------------------------------------------------
# Worker side: runs in a fresh subprocess.
# ----------------------------------------------------------------------------------------------


def _pin_to_one_core() -> int | None:
    if not hasattr(os, "sched_setaffinity"):
        return None
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return core


def _peak_rss_bytes() -> int:
    """Peak resident memory of this process (bytes).

    On Linux, ``VmHWM`` from /proc: ``ru_maxrss`` is kept across exec, so a child started from a
    larger parent would report the parent's peak (tests/test_scale.py measured a child of a 700 MB
    parent at 725 MB by ``ru_maxrss`` and 10 MB by ``VmHWM``). Elsewhere ``ru_maxrss``.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # bytes on macOS, KiB on Linux


def _current_rss_bytes() -> int:
    """Resident memory of this process now (bytes; 0 where /proc is not available)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def _release(ref: Any) -> tuple[bool, int]:
    """Let a finished model go; say whether Mesa still kept it alive and what releasing it freed.

    Mesa 3.3 keeps every model that created an agent in the class-level ``mesa.Agent._ids``
    defaultdict (mesa issue #3179, fixed upstream by PR #3180), so a model and its population
    arrays outlive ``del model``. The benchmark drops that reference so each run's memory is its own.
    """
    import gc

    import mesa

    gc.collect()
    survivor = ref()
    if survivor is None:
        return False, 0
    before = _current_rss_bytes()
    ids = getattr(mesa.Agent, "_ids", None)
    if isinstance(ids, dict):
        ids.pop(survivor, None)
    survivor = None
    gc.collect()
    return True, max(before - _current_rss_bytes(), 0) if ref() is None else 0


def _load(spec: dict[str, Any]) -> tuple[Any, Any]:
    """The base scenario and the measured one, with levers off (default) or all on."""
    import copy

    from simulator import load_scenario, parse_scenario

    data = load_scenario(spec["scenario"]).model_dump(mode="python")
    if spec.get("levers") == "all":
        policies = data["policies"]
        for lever, settings in EXTRA_LEVERS.items():
            policies[lever] = policies.get(lever) or copy.deepcopy(settings)
        promotions = policies.get("promotions") or {"campaigns": []}
        promotions["stacking"] = promotions.get("stacking") or "best"
        promotions["group_buying"] = promotions.get("group_buying") or {"discount": 0.1, "join_rate": 0.05}
        promotions["campaigns"] = [BENCH_CAMPAIGN, *promotions.get("campaigns", [])]
        policies["promotions"] = promotions
        for lever in ("loyalty", "retention", "winback", "retargeting"):
            if not policies.get(lever):
                raise SystemExit(f"--levers all needs a scenario with a {lever} policy")
    else:
        data["policies"] = {}
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = parse_scenario(data, spec["scenario"])
        return base, base.with_overrides(agents=spec["agents"], days=spec["days"])


def _run_vectorized(spec: dict[str, Any]) -> dict[str, Any]:
    import weakref

    import numpy as np
    import tqdm.auto  # noqa: F401  (imported by CommerceModel.run; keep the import out of the timing)
    from object_model import policies_in_use

    from simulator import CommerceModel
    from simulator.engine.channels import LEDGER_FIELDS
    from simulator.engine.population import estimate_memory_bytes
    from simulator.engine.results import collect_results

    base, scenario = _load(spec)
    # Warm-up on a tiny copy: first calls of numpy routines and pydantic paths are not timed.
    warm = CommerceModel(base.with_overrides(agents=1000, days=20), seed=spec["seed"])
    warm.run()
    ref = weakref.ref(warm)
    warm = None
    _release(ref)
    baseline = _peak_rss_bytes()

    build, step, cpu, totals, leaks = [], [], [], [], []
    for run in range(spec["runs"]):
        t0 = time.perf_counter()
        model = CommerceModel(scenario, seed=spec["seed"] + run)
        t1 = time.perf_counter()
        c1 = time.process_time()
        model.run()
        c2 = time.process_time()
        t2 = time.perf_counter()
        build.append(t1 - t0)
        step.append(t2 - t1)
        cpu.append(c2 - c1)
        run_totals = {f: float(sum(ch.ledger[f].sum() for ch in model.channel_agents)) for f in LEDGER_FIELDS}
        run_totals["states_end"] = [int(v) for v in model.state_counts[-1]]
        totals.append(run_totals)
        if run == spec["runs"] - 1:
            break
        ref = weakref.ref(model)
        model = None
        leaks.append(_release(ref))
    peak_step = _peak_rss_bytes()
    # Evidence that every mechanism was on in the last run.
    mechanisms = {
        "channels": scenario.channel_names,
        "spend": [float(ch.ledger["spend"].sum()) for ch in model.channel_agents],
        "reach": [float(ch.ledger["reach"].sum()) for ch in model.channel_agents],
        "crm": [ch.name for ch in model.channel_agents if not ch.config.reaches_unknown],
        "organic": [ch.name for ch in model.channel_agents if ch.config.organic_discovery > 0],
        "repeat_orders": float(sum(ch.ledger["repeat_orders"].sum() for ch in model.channel_agents)),
        "policies": policies_in_use(scenario),
    }
    t3 = time.perf_counter()
    collect_results(model)  # the tables are built (counted in the peak) and dropped
    collect = time.perf_counter() - t3
    peak = _peak_rss_bytes()
    ref = weakref.ref(model)
    model = None
    leaks.append(_release(ref))
    return {
        "kind": "vectorized",
        "agents": spec["agents"],
        "days": spec["days"],
        "runs": spec["runs"],
        "build_s": build,
        "step_s": step,
        "cpu_s": cpu,
        "collect_s": collect,
        "totals": totals,
        "baseline_bytes": baseline,
        "peak_step_bytes": peak_step,
        "peak_bytes": peak,
        "leaked_models": sum(1 for leaked, _ in leaks if leaked),
        "released_models": len(leaks),
        "leak_freed_bytes": max((freed for _, freed in leaks), default=0),
        "estimate_bytes": estimate_memory_bytes(
            spec["agents"], len(scenario.channels), spec["days"], scenario.policies
        ),
        "numpy": np.__version__,
        "mechanisms": mechanisms,
    }


def _run_object(spec: dict[str, Any]) -> dict[str, Any]:
    import gc

    import mesa
    from object_model import ObjectCommerceModel, policies_in_use

    base, scenario = _load(spec)
    ObjectCommerceModel(base.with_overrides(agents=1000, days=3), seed=spec["seed"]).run()
    gc.collect()
    baseline = _peak_rss_bytes()
    t0 = time.perf_counter()
    model = ObjectCommerceModel(scenario, seed=spec["seed"])
    t1 = time.perf_counter()
    c1 = time.process_time()
    model.run()
    c2 = time.process_time()
    t2 = time.perf_counter()
    return {
        "kind": "object",
        "agents": spec["agents"],
        "days": spec["days"],
        "runs": 1,
        "build_s": [t1 - t0],
        "step_s": [t2 - t1],
        "cpu_s": [c2 - c1],
        "collect_s": 0.0,
        "totals": [model.totals()],
        "baseline_bytes": baseline,
        "peak_step_bytes": _peak_rss_bytes(),
        "peak_bytes": _peak_rss_bytes(),
        "mesa": mesa.__version__,
        "policies": policies_in_use(scenario),
    }


def worker_main(spec_json: str) -> None:
    spec = json.loads(spec_json)
    core = _pin_to_one_core()
    result = _run_vectorized(spec) if spec["kind"] == "vectorized" else _run_object(spec)
    result["core"] = core
    print(json.dumps(result))


# ----------------------------------------------------------------------------------------------
# Driver side: starts the workers and prints the report (never imports numpy itself).
# ----------------------------------------------------------------------------------------------


def _launch(spec: dict[str, Any], script: str = __file__, label: str | None = None) -> dict[str, Any]:
    """Run ``script --worker SPEC`` in a fresh one-thread process; its last output line as JSON."""
    if label is None:
        label = f"{spec['kind']} {spec['agents']:,} agents x {spec['days']} days x {spec['runs']} run(s)"
    print(f"  running {label} ...", file=sys.stderr, flush=True)
    env = dict(os.environ)
    env.update(dict.fromkeys(THREAD_VARIABLES, "1"))
    done = subprocess.run(
        [sys.executable, str(Path(script).resolve()), "--worker", json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"error: the {label} worker failed (exit status {done.returncode})")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _shopper_days(result: dict[str, Any]) -> float:
    return float(result["agents"] * result["days"] * result["runs"])


def _speed(result: dict[str, Any]) -> float:
    return _shopper_days(result) / sum(result["step_s"])


def _ns_per_shopper_day(result: dict[str, Any]) -> float:
    return 1e9 * sum(result["step_s"]) / _shopper_days(result)


def _row(name: str, result: dict[str, Any]) -> str:
    return (
        f"{name:<10} {result['agents']:>9,} {result['days']:>5} {result['runs']:>4} "
        f"{statistics.mean(result['build_s']):>8.3f} {sum(result['step_s']):>8.2f} "
        f"{_speed(result) / 1e6:>9.2f}M {_ns_per_shopper_day(result):>8.1f} "
        f"{sum(result['cpu_s']) / sum(result['step_s']):>5.2f} "
        f"{result['collect_s']:>7.2f} {result['baseline_bytes'] / MIB:>7.0f} "
        f"{result['peak_step_bytes'] / MIB:>8.0f} {result['peak_bytes'] / MIB:>8.0f}"
    )


def _fit_overhead(results: list[dict[str, Any]]) -> tuple[float, float]:
    """Least-squares fit of seconds per simulated day = fixed + marginal x agents."""
    xs = [float(r["agents"]) for r in results]
    ys = [sum(r["step_s"]) / (r["days"] * r["runs"]) for r in results]
    x_mean, y_mean = statistics.mean(xs), statistics.mean(ys)
    slope = sum((x - x_mean) * (y - y_mean) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - x_mean) ** 2 for x in xs
    )
    return y_mean - slope * x_mean, slope


def _verdict(met: bool) -> str:
    return "MET" if met else "NOT MET"


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}, {platform.system()}"


def driver_main(args: argparse.Namespace) -> None:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    plan = QUICK_PLAN if args.quick else FULL_PLAN
    scenario = str(Path(args.scenario).resolve())
    started = time.perf_counter()
    print(
        f"Simulator benchmark ({'quick' if args.quick else 'full'}), scenario {Path(scenario).name}, "
        f"seed {args.seed}",
        flush=True,
    )
    print(f"machine: {_machine()}", flush=True)

    sizes = []
    for agents, days, runs in plan["sizes"]:
        spec = {"kind": "vectorized", "scenario": scenario, "agents": agents, "days": days, "runs": runs}
        sizes.append(_launch({**spec, "seed": args.seed}))
    obj_agents, obj_days = plan["object"]
    common = {"scenario": scenario, "agents": obj_agents, "days": obj_days}
    reference = _launch(
        {**common, "kind": "vectorized", "runs": plan["reference_runs"], "seed": args.seed + 100}
    )
    obj = _launch({**common, "kind": "object", "runs": 1, "seed": args.seed + 1000})
    levers_on = [
        _launch(
            {
                "kind": "vectorized",
                "scenario": scenario,
                "agents": agents,
                "days": days,
                "runs": runs,
                "seed": args.seed,
                "levers": "all",
            }
        )
        for agents, days, runs in LEVER_PLAN["quick" if args.quick else "full"]
    ]

    core = sizes[0].get("core")
    print(
        f"one core: worker processes pinned to CPU {core if core is not None else '(pinning unavailable)'}; "
        f"{', '.join(THREAD_VARIABLES[:3])}=1; numpy {sizes[0]['numpy']}, mesa {obj['mesa']}"
    )
    print(
        "timer: time.perf_counter() around model.run() only (construction and result collection timed "
        "apart); memory: peak resident memory (VmHWM) of each fresh worker process"
    )
    print()
    print(
        "Vectorized simulator (simulator.CommerceModel), every core mechanism on, all channels spending, "
        "strategy levers off"
    )
    header = (
        f"{'model':<10} {'agents':>9} {'days':>5} {'runs':>4} {'build s':>8} {'step s':>8} "
        f"{'shop-d/s':>10} {'ns/sh-d':>8} {'cpu/w':>5} {'results':>7} {'base MB':>7} "
        f"{'peak MB':>8} {'+results':>8}"
    )
    print(header)
    print("-" * len(header))
    for result in sizes:
        print(_row("vectorized", result))
    for result in sizes:
        on = result["mechanisms"]
        spending = [n for n, v in zip(on["channels"], on["spend"], strict=True) if v > 0]
        crm_reach = sum(r for n, r in zip(on["channels"], on["reach"], strict=True) if n in on["crm"])
        print(
            f"  {result['agents']:>9,} agents: channels spending {len(spending)}/{len(on['channels'])} "
            f"({', '.join(spending)}); known-only (CRM) channels {', '.join(on['crm']) or 'none'} reached "
            f"{crm_reach:,.0f} shopper-days; "
            f"organic discovery via {len(on['organic'])} channels; {on['repeat_orders']:,.0f} repeat orders; "
            f"policies: {', '.join(on['policies']) or 'none'}"
        )
    leaky = [r for r in sizes if r["leaked_models"]]
    if leaky:
        worst = max(leaky, key=lambda r: r["leak_freed_bytes"])
        print(
            f"  leak: {sum(r['leaked_models'] for r in sizes)} of {sum(r['released_models'] for r in sizes)} "
            "finished CommerceModels were still alive after `model = None; gc.collect()` (held by Mesa's "
            "class-level mesa.Agent._ids, mesa#3179);\n"
            f"        releasing one {worst['agents']:,}-agent model freed "
            f"{worst['leak_freed_bytes'] / MIB:,.0f} MiB of resident memory; "
            "the benchmark pops mesa.Agent._ids between runs so each peak is one run's."
        )
    print(
        "  build s = mean construction time per run; step s = total stepping time over the runs;\n"
        "  cpu/w = CPU time / wall time while stepping; results = collect_results() time (last run);\n"
        "  base MB = process peak after imports and warm-up, before building; peak MB = process peak\n"
        "  after stepping; +results = process peak after collect_results() (MB = MiB)"
    )

    print()
    print("Every strategy lever on (the scenario's policies + referral, service, checkout, group buying)")
    print(header)
    print("-" * len(header))
    for result in levers_on:
        print(_row("levers on", result))
    print(f"  policies: {', '.join(levers_on[0]['mechanisms']['policies'])}")

    print()
    print(f"Side by side at {obj_agents:,} agents over {obj_days} days (levers off)")
    print(header)
    print("-" * len(header))
    print(_row("vectorized", reference))
    print(_row("object", obj))
    ratio = _speed(reference) / _speed(obj)
    print(
        f"  vectorized / object shopper-days per second: {_speed(reference) / 1e6:.2f}M / "
        f"{_speed(obj) / 1e6:.3f}M = {ratio:,.0f}x"
    )
    big_run = max(sizes, key=lambda r: r["agents"])
    print(
        f"  (estimate, object model not run at {big_run['agents']:,}: if it kept its {obj_agents:,}-agent "
        f"speed, the ratio at {big_run['agents']:,} agents would be {_speed(big_run) / _speed(obj):,.0f}x)"
    )

    print()
    print(
        f"Sanity check: same rules? {obj_agents:,} agents, {obj_days} days; vectorized = mean +- sd over "
        f"{reference['runs']} seeds, object = 1 seed"
    )
    print(f"{'total (agent units)':<24} {'vectorized':>25} {'object':>12} {'difference':>11}")
    for field in COMPARED_TOTALS:
        values = [t[field] for t in reference["totals"]]
        mean, spread = statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0
        mine = obj["totals"][0][field]
        diff = mine / mean - 1 if mean else float("nan")
        print(f"{field:<24} {mean:>13,.1f} +- {spread:>8,.1f} {mine:>12,.1f} {diff:>+10.1%}")
    states = ("unaware", "aware", "considering", "active", "lapsed", "churned")
    for i, state in enumerate(states):
        values = [t["states_end"][i] for t in reference["totals"]]
        mean, spread = statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0
        mine = obj["totals"][0]["states_end"][i]
        diff = mine / mean - 1 if mean else float("nan")
        print(f"{state + ' on last day':<24} {mean:>13,.1f} +- {spread:>8,.1f} {mine:>12,.1f} {diff:>+10.1%}")
    if obj["policies"]:
        print(
            f"  note: the scenario turns on {', '.join(obj['policies'])}; the object model does not "
            "reproduce strategy levers, so differences are expected"
        )
    orders_values = [t["orders"] for t in reference["totals"]]
    orders_mean = statistics.mean(orders_values)
    orders_diff = obj["totals"][0]["orders"] / orders_mean - 1
    orders_noise = statistics.stdev(orders_values) / orders_mean if len(orders_values) > 1 else 0.0
    print(
        f"  total orders differ by {orders_diff:+.1%} (tolerance +-{ORDERS_TOLERANCE:.0%}; one run's own "
        f"spread is +-{orders_noise:.1%}): {'OK' if abs(orders_diff) <= ORDERS_TOLERANCE else 'MISMATCH'}"
    )

    print()
    print("Targets")
    by_agents = {r["agents"]: r for r in sizes}
    big = by_agents.get(TARGET_AGENTS)
    small = sizes[0]
    if big is not None:
        speed = _speed(big)
        print(
            f"  >= {TARGET_SHOPPER_DAYS_PER_S / 1e6:.0f}M shopper-days/s at {TARGET_AGENTS:,} agents: "
            f"{speed / 1e6:.2f}M -> {_verdict(speed >= TARGET_SHOPPER_DAYS_PER_S)}"
        )
        if big["runs"] > 1:
            per_run = [big["agents"] * big["days"] / t / 1e6 for t in big["step_s"]]
            print(f"    per run: {', '.join(f'{v:.2f}M' for v in per_run)}")
        big_on = next((r for r in levers_on if r["agents"] == TARGET_AGENTS), None)
        if big_on is not None:
            speed_on = _speed(big_on)
            peak_on = big_on["peak_bytes"]
            print(
                f"  >= {TARGET_SHOPPER_DAYS_PER_S / 1e6:.0f}M shopper-days/s at {TARGET_AGENTS:,} agents "
                f"with every lever on: {speed_on / 1e6:.2f}M (levers off {speed / 1e6:.2f}M) -> "
                f"{_verdict(speed_on >= TARGET_SHOPPER_DAYS_PER_S)}; peak memory "
                f"{peak_on / MIB:,.0f} MiB -> {_verdict(peak_on < TARGET_PEAK_BYTES)}"
            )
        peak = big["peak_bytes"]
        print(
            f"  peak memory < {TARGET_PEAK_BYTES / 1e9:.1f} GB ({TARGET_PEAK_BYTES / MIB:,.0f} MiB) at "
            f"{TARGET_AGENTS:,} agents, {len(big['mechanisms']['channels'])} channels: "
            f"{peak / MIB:,.0f} MiB = {peak / 1e9:.2f} GB (whole process, results included) -> "
            f"{_verdict(peak < TARGET_PEAK_BYTES)}"
        )
        print(
            f"    (of which {big['baseline_bytes'] / MIB:,.0f} MiB is the interpreter, numpy, pandas, mesa "
            f"and warm-up; simulator.engine.population.estimate_memory_bytes() predicts "
            f"{big['estimate_bytes'] / MIB:,.0f} MiB for the simulation itself)"
        )
        ratio_flat = _ns_per_shopper_day(big) / _ns_per_shopper_day(small)
        flat = 1 / FLAT_BAND <= ratio_flat <= FLAT_BAND
        print(
            f"  cost per shopper-day flat from {small['agents']:,} to {big['agents']:,} agents: "
            f"{_ns_per_shopper_day(big):.1f} / {_ns_per_shopper_day(small):.1f} ns = ratio "
            f"{ratio_flat:.2f} (flat = within {1 / FLAT_BAND:.2f}-{FLAT_BAND:.2f}) -> {_verdict(flat)}"
        )
        print(
            f"    does not grow with the population (ratio <= {FLAT_BAND:.2f}): "
            f"{_verdict(ratio_flat <= FLAT_BAND)}"
        )
        fixed, marginal = _fit_overhead(sizes)
        share = fixed / (sum(small["step_s"]) / (small["days"] * small["runs"]))
        print(
            f"    fit over the {len(sizes)} sizes: {fixed * 1e3:.2f} ms fixed per simulated day + "
            f"{marginal * 1e9:.1f} ns per shopper-day; the fixed part is {share:.0%} of a day at "
            f"{small['agents']:,} agents"
        )
    print()
    print(f"wall time of the benchmark: {time.perf_counter() - started:.0f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (under a minute)")
    parser.add_argument("--scenario", default=str(DEFAULT_SCENARIO), help="scenario YAML file")
    parser.add_argument("--seed", type=int, default=1, help="first seed of the runs")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args.worker)
    else:
        driver_main(args)


if __name__ == "__main__":
    main()
