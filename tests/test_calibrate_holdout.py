"""The twin's forecast of a hold-out period: on generated logs, on the CDNOW sample, and on its own output.

**Twin against closed form.** On the three logs of the independent generator at the recovery
test's pre-registered seed (:mod:`test_customerbase_recovery`: BG/NBD, Pareto/NBD and a 2-segment
mixture, 20,000 customers, the second year held out) and on the CDNOW sample (39 weeks held out),
``run.py calibrate`` on the small omnichannel base forecasts the hold-out's repeat orders with
the twin (10 seeds) and in closed form with the same fitted model. The twin is a simulation of
that model, so its mean carries Monte Carlo error: it must be no worse than the closed form up
to twice the standard error of its mean over the seeds, ``|twin - actual| <= |closed form -
actual| + 2 sd / sqrt(10)``.

**Round trip.** The omnichannel scenario as shipped (100,000 agents standing for 2 million
people, a year, seed 7) writes its order log; ``calibrate`` on its first nine months (to
2025-09-30, 92 days held out, ``--log-scale 20``) must forecast the last three months' repeat
orders of the customers known at the calibration end within the twin's own 95% interval.
Measured: actual 216,440; twin 211,768 [206,319, 217,217] (-2.2%); closed form 209,885 (-3.0%).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_bad_input import ROOT
from test_customerbase_generator import generate
from test_customerbase_recovery import CUSTOMERS, SEED, SETS

from run import main
from simulator import load_scenario
from simulator.calibrate import calibrate
from simulator.data import load_orders

BASE = ROOT / "tests" / "fixtures" / "small_valid.yaml"
CDNOW = ROOT / "tests" / "fixtures" / "orders" / "cdnow_sample.csv"
SEEDS = 10


def _generated(tmp_path: Path, name: str) -> Path:
    orders, _ = generate(SETS[name], CUSTOMERS, 728, 84, seed=SEED)
    path = tmp_path / f"{name}.csv"
    orders.to_csv(path, index=False)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("case", [*SETS, "cdnow"])
def test_twin_forecast_of_the_holdout_is_no_worse_than_the_closed_form(case, tmp_path):
    if case == "cdnow":
        log, period = load_orders(CDNOW), {"calibration_end": "1997-09-30"}
    else:
        log, period = load_orders(_generated(tmp_path, case)), {"holdout_days": 364}
    calibration = calibrate(load_scenario(BASE), log, seeds=SEEDS, max_segments=2, **period)
    block = calibration.holdout["repeat_orders"]
    actual, closed = block["actual"], block["predicted_closed_form"]
    twin, sd = block["predicted"]["mean"], block["predicted"]["sd"]
    assert abs(twin - actual) <= abs(closed - actual) + 2 * sd / np.sqrt(SEEDS), block


@pytest.mark.slow
def test_round_trip_simulate_calibrate_forecasts_its_own_last_three_months(tmp_path):
    simulated = tmp_path / "simulated"
    assert (
        main(
            [
                "simulate",
                str(ROOT / "scenarios" / "omnichannel_retailer.yaml"),
                "--out",
                str(simulated),
                "--no-progress",
            ]
        )
        == 0
    )
    scale = load_scenario(simulated / "scenario.yaml").population.scale
    assert scale == 20
    twin = tmp_path / "twin"
    code = main(
        [
            "calibrate",
            str(simulated / "scenario.yaml"),
            "--orders",
            str(simulated / "orders.csv"),
            "--calibration-end",
            "2025-09-30",
            "--log-scale",
            str(scale),
            "--out",
            str(twin),
            "--no-progress",
        ]
    )
    assert code == 0
    report = json.loads((twin / "calibration.json").read_text())
    assert report["orders"]["holdout_days"] == 92
    block = report["holdout"]["repeat_orders"]
    low, high = block["predicted"]["low"], block["predicted"]["high"]
    assert low <= block["actual"] <= high, block
