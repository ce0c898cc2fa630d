"""``calibrate --media --report``: the media calibration's report and its not-identified notes.

The world is the recovery world of tests/test_media_calibration.py cut to 3,000 agents and 42
weeks (display's step comes after the first year, so its spend never varies here), calibrated
from a base with every channel's awareness per impression at 0.01, with a made-up lift test of radio
(for the report's table; recovery is tests/test_media_calibration.py's), per acquisition channel
(``--by-channel``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

import simulator as sim
from simulator.calibrate import NOT_IDENTIFIED
from simulator.calibrate.media import AWARENESS_SHARE, SPEND_VARIES, acquisition_series, not_identified_reason
from simulator.data import load_orders
from tests.command_line import run

TRUTH = Path(__file__).parent / "fixtures" / "media" / "truth.yaml"
AGENTS, DAYS, HOLDOUT_WEEKS = 3000, 294, 6
LIFT = "channel,start,end,spend_change,effect,standard_error\nradio,2024-06-03,2024-08-25,-8400,-60,20\n"


def test_reason_names_the_parameter_and_follows_the_data() -> None:
    constant = not_identified_reason("radio", 0.0, 0.9, 10.0, 50.0)
    assert constant == (
        f"radio: awareness_per_impression strength {NOT_IDENTIFIED}: its spend never varies, "
        "so the data cannot tell its effect from the baseline"
    )
    assert "hardly varies (3%)" in not_identified_reason("tv", 0.03, 0.9, 10.0, 50.0)
    clicks = not_identified_reason("search", 1.0, AWARENESS_SHARE - 0.2, 10.0, 50.0)
    assert clicks.startswith(f"search: awareness_per_impression strength {NOT_IDENTIFIED} (its spend varies")
    assert "70% of its new customers come through clicks, which the calibration does not fit" in clicks
    noisy = not_identified_reason("social", 0.5, AWARENESS_SHARE + 0.2, 12.0, 60.0)
    assert "its awareness effect, 12 new customers a week, is small next to the weekly noise of 60" in noisy
    assert "spend never varies" not in not_identified_reason("x", SPEND_VARIES, 0.9, 1.0, 1.0)


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small world simulated, then calibrated with ``--report``; the output folder."""
    folder = tmp_path_factory.mktemp("media_report")
    truth = sim.load_scenario(TRUTH).with_overrides(agents=AGENTS, days=DAYS)
    data = truth.model_dump(mode="json", exclude_none=True)
    (folder / "truth.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    for channel in data["channels"]:
        channel["awareness_per_impression"] = 0.01
    (folder / "base.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    (folder / "lift.csv").write_text(LIFT)
    simulated = run("simulate", folder / "truth.yaml", "--seed", "5", "--out", folder / "world")
    assert simulated.returncode == 0, simulated.stderr
    result = run(
        "calibrate", folder / "base.yaml", "--orders", folder / "world" / "orders.csv",
        "--media", folder / "world" / "media.csv", "--lift-tests", folder / "lift.csv",
        "--holdout-weeks", HOLDOUT_WEEKS, "--log-scale", truth.population.scale, "--seeds", "2",
        "--members", "50", "--workers", "2", "--no-progress", "--by-channel",
        "--out", folder / "out", "--report",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (folder / "out" / "stdout.txt").write_text(result.stdout)
    return folder / "out"


@pytest.mark.slow
def test_report_holds_validation_figure_roas_and_flags(calibrated: Path) -> None:
    files = {p.name for p in calibrated.iterdir()}
    assert {"report.html", "report.md", "summary.png", "report.xlsx", "report_media_fit.png"} <= files
    report = json.loads((calibrated / "media_calibration.json").read_text())
    markdown = (calibrated / "report.md").read_text()
    html = (calibrated / "report.html").read_text()
    assert "## Media calibration" in markdown and "<h2>Media calibration</h2>" in html
    assert "![Weekly new customers, actual and predicted](report_media_fit.png)" in markdown
    assert '<img alt="Weekly new customers, actual and predicted" src="data:image/png;base64,iVB' in html
    # validation: the hold-out MAPE and coverage as the JSON has them, and what is not predicted
    check = report["holdout"]
    assert check["weeks"] == HOLDOUT_WEEKS
    row = next(line for line in markdown.splitlines() if line.startswith("| hold-out weeks"))
    assert f"{check['mape']:.1%}" in row and f"{check['coverage']:.1%}" in row
    assert "Predicted: new customers, orders, revenue per week" in markdown  # orders, revenue: simulated
    # --by-channel and the log's channel column: new customers per acquisition channel were the targets
    assert report["targets"] == ["search", "social", "display", "radio"]
    assert "| acquisition channel | new customers, hold-out |" in markdown
    orders = pd.read_csv(calibrated.parent / "world" / "orders.csv").sort_values("date", kind="stable")
    firsts = orders.drop_duplicates("customer_id")
    holdout_start = pd.Timestamp("2024-01-01") + pd.Timedelta(weeks=DAYS // 7 - HOLDOUT_WEEKS)
    held = pd.to_datetime(firsts["date"]) >= holdout_start
    scale = sim.load_scenario(TRUTH).with_overrides(agents=AGENTS, days=DAYS).population.scale
    for name, count in firsts[held].groupby("channel").size().items():
        assert report["acquisition_channels"][name]["actual"] == pytest.approx(count * scale)
    # the ROAS table: every channel with its interval; radio's lift test as measured and as a ROAS
    lines = markdown.splitlines()
    header = lines.index(next(line for line in lines if line.startswith("| channel | spend |")))
    table = lines[header + 2 : lines.index("", header)]
    for name, channel in report["channels"].items():
        line = next(line for line in table if line.startswith(f"| {name} |"))
        assert f"{channel['roas']:.2f} [{channel['roas_low']:.2f}, {channel['roas_high']:.2f}]" in line
        assert ("| yes |" in line) == channel["identified"]
    (lift,) = report["lift_tests"]
    assert lift["roas"] == pytest.approx(lift["effect"] * lift["revenue_per_new_customer"] / -8400)
    radio = next(line for line in table if line.startswith("| radio |"))
    assert "-60 ± 20 new customers" in radio and f"{lift['roas']:.2f} ± {lift['roas_se']:.2f}" in radio


@pytest.mark.slow
def test_constant_spend_is_named_with_its_reason_everywhere(calibrated: Path) -> None:
    channels = pd.read_csv(calibrated / "media_channels.csv", index_col="channel")
    assert channels.loc["display", "spend_cv"] == pytest.approx(0.0, abs=1e-12)
    assert not channels.loc["display", "identified"]
    reason = (
        f"display: awareness_per_impression strength {NOT_IDENTIFIED}: its spend never varies, "
        "so the data cannot tell its effect from the baseline"
    )
    report = json.loads((calibrated / "media_calibration.json").read_text())
    assert report["channels"]["display"]["note"] == reason
    assert reason in (calibrated / "stdout.txt").read_text()
    assert reason in (calibrated / "report.md").read_text()
    for name, row in channels.iterrows():  # every note names its channel and the parameter
        note = "" if row["identified"] else f"{name}: awareness_per_impression strength {NOT_IDENTIFIED}"
        assert str(report["channels"][name]["note"]).startswith(note)


@pytest.mark.slow
def test_bad_media_calibration_json_is_refused_in_one_line(calibrated: Path, tmp_path: Path) -> None:
    folder = tmp_path / "hand"
    folder.mkdir()
    for name in ("media_holdout.csv", "media_channels.csv"):
        (folder / name).write_bytes((calibrated / name).read_bytes())
    report = json.loads((calibrated / "media_calibration.json").read_text())
    report["holdout"] = {"weeks": 6, "coverage": "most", "mape": 0.1}
    (folder / "media_calibration.json").write_text(json.dumps(report))
    result = run("report", folder)
    assert result.returncode == 2
    expected = r"error: .*media_calibration.json: holdout: must be null or an object .*\n"
    assert re.fullmatch(expected, result.stderr)
    assert not any(p.name.startswith("report") or p.name == "summary.png" for p in folder.iterdir())


def test_report_refuses_a_folder_holding_a_report_before_calibrating(tmp_path: Path) -> None:
    fixtures = Path(__file__).parent / "fixtures"
    arguments = [
        "calibrate", TRUTH, "--orders", fixtures / "orders" / "cdnow_sample.csv",
        "--media", fixtures / "media" / "valid_daily.csv", "--report",
    ]  # fmt: skip
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("an earlier report")
    again = run(*arguments, "--out", out)
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1
    assert "report.html" in again.stderr and again.stdout == ""  # refused before any run
    assert [p.name for p in out.iterdir()] == ["report.html"]


@pytest.mark.parametrize(
    ("channels", "expected"),
    [
        (None, "the order log has no channel column"),
        (["search", "tiktok", "search"], "channels the scenario does not have (tiktok)"),
        (["search", "", "radio"], "1 first orders have no channel"),
    ],
)
def test_acquisition_series_falls_back_to_one_series(
    channels: list[str] | None, expected: str, tmp_path: Path
) -> None:
    rows = ["customer_id,date,revenue" + (",channel" if channels else "")]
    for i, day in enumerate(("2024-01-01", "2024-01-02", "2024-01-09")):
        rows.append(f"c{i},{day},10" + (f",{channels[i]}" if channels else ""))
    (tmp_path / "orders.csv").write_text("\n".join(rows) + "\n")
    log = load_orders(tmp_path / "orders.csv", today="2030-01-01")
    start = (pd.Timestamp("2024-01-01") - pd.Timestamp("1970-01-01")).days
    targets, note = acquisition_series(log, sim.load_scenario(TRUTH), start, 2)
    assert targets is None and expected in note


def test_acquisition_channel_is_the_first_orders(tmp_path: Path) -> None:
    (tmp_path / "orders.csv").write_text(
        "customer_id,date,revenue,channel\n"
        "a,2024-01-03,10,radio\n"  # a's first order; its later search order does not count
        "a,2024-01-10,10,search\n"
        "b,2024-01-09,10,social\n"
        "b,2024-01-02,10,search\n"  # b's first order is the earlier one, whatever the file order
        "c,2023-12-30,10,radio\n"  # before the history: not a new customer of it
    )
    log = load_orders(tmp_path / "orders.csv", today="2030-01-01")
    start = (pd.Timestamp("2024-01-01") - pd.Timestamp("1970-01-01")).days
    targets, note = acquisition_series(log, sim.load_scenario(TRUTH), start, 2)
    assert targets is not None and "the channel of a customer's first order" in note
    assert {k: v.tolist() for k, v in targets.items()} == {
        "search": [1],
        "social": [],
        "display": [],
        "radio": [2],
    }
