"""The posterior ensemble of ``calibrate --media`` as scenarios: a member's scenario, a seed's member.

``run.py calibrate BASE --orders LOG --media FILE --out DIR`` writes the calibrated centre
(``DIR/scenario.yaml``) and the posterior ensemble (``DIR/posterior.parquet``, see
:mod:`simulator.calibrate.media`): one row per ``member`` with the ``organic_factor``
(multiplier of the base scenario's ``organic_discovery``) and, per channel ``NAME`` of the media
history, ``strength_NAME`` (multiplier of the base scenario's ``awareness_per_impression``) and
``awareness_per_impression_NAME`` (the member's parameter itself). ``DIR/media_calibration.json``
holds the centre's ``organic_factor``.

**A member's scenario** is a scenario (the centre, or a variant of it: another budget, other
policies) with each channel of the ensemble at the member's ``awareness_per_impression`` and
every channel's ``organic_discovery`` times the member's organic factor over the centre's:
exactly the scenario the calibration builds from the member's parameter vector
(:func:`simulator.calibrate.media.media_scenario`), with the variant's spend and policies kept.
Channels not in the ensemble (no paid media in the history) keep their parameters.

**A seed's member** (:meth:`PosteriorEnsemble.member_of`) is drawn from the ensemble by a
generator seeded with the seed alone (:data:`MEMBER_STREAM`): the same seed always runs the same
member, whichever variant runs on it, so a paired difference (plan minus current plan on a seed)
compares two plans in one member's world. Over several seeds the members are independent draws
from the ensemble (with replacement), and the interval over seeds holds the parameters'
uncertainty as well as the simulation noise (README "Media history and lift tests").
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config.scenario import Scenario, ScenarioError, ScenarioWarning, load_scenario, parse_scenario

__all__ = ["MEMBER_STREAM", "MIN_MEMBERS", "POSTERIOR_FILE", "PosteriorEnsemble"]

POSTERIOR_FILE = "posterior.parquet"
SUMMARY_FILE = "media_calibration.json"
SCENARIO_FILE = "scenario.yaml"
MIN_MEMBERS = 2
"""Fewest members an ensemble needs (a spread needs two)."""
MEMBER_STREAM = 0x706F737465726F72
"""Second key of the generator that draws a seed's member (``default_rng([seed, MEMBER_STREAM])``),
so the choice of member is independent of every draw of the simulation on that seed."""
STRENGTH, AWARENESS = "strength_", "awareness_per_impression_"
HOW = "--posterior takes the --out folder of 'run.py calibrate BASE --orders LOG --media FILE'"


def _error(source: Path | str, field: str, message: str) -> ScenarioError:
    return ScenarioError(str(source), field, message)


def _read_members(path: Path) -> pd.DataFrame:
    """``posterior.parquet`` checked: members, organic factor, each channel's two columns."""
    if not path.is_file():
        raise _error(path, "", f"missing; {HOW}")
    try:
        table = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same one-line error
        raise _error(path, "", f"not a readable parquet file ({type(exc).__name__}); {HOW}") from None
    for column in ("member", "organic_factor"):
        if column not in table.columns:
            columns = ", ".join(map(str, table.columns))
            raise _error(path, column, f"column missing; the columns are: {columns}")
    channels = [str(c)[len(STRENGTH) :] for c in table.columns if str(c).startswith(STRENGTH)]
    if not channels:
        raise _error(path, f"{STRENGTH}NAME", "no channel column; expected strength_NAME per channel")
    for name in channels:
        if f"{AWARENESS}{name}" not in table.columns:
            message = f"column missing (channel '{name}' has {STRENGTH}{name})"
            raise _error(path, f"{AWARENESS}{name}", message)
    if len(table) < MIN_MEMBERS:
        raise _error(path, "member", f"{len(table)} member(s); the ensemble needs at least {MIN_MEMBERS}")
    members = pd.to_numeric(table["member"], errors="coerce")
    if members.isna().any() or (members != members.round()).any() or members.duplicated().any():
        raise _error(path, "member", "must be distinct whole numbers, one per row")
    for column, low, high in [("organic_factor", 0.0, math.inf)] + [
        (f"{AWARENESS}{name}", 0.0, 1.0) for name in channels
    ]:
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(np.float64)
        bad = ~np.isfinite(values) | (values < low) | (values > high)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            allowed = f"between {low:g} and {high:g}" if math.isfinite(high) else f"at least {low:g}"
            message = f"row {row} is {table[column].iloc[row]!r}; must be a number {allowed}"
            raise _error(path, column, message)
    frame = table[["organic_factor", *(f"{AWARENESS}{n}" for n in channels)]].astype(np.float64)
    frame.index = pd.Index(members.astype(np.int64).to_numpy(), name="member")
    frame.attrs["channels"] = channels
    return frame


def _centre_organic(folder: Path) -> float:
    """The centre's organic factor (``media_calibration.json``: ``organic_factor``), above 0."""
    path = folder / SUMMARY_FILE
    if not path.is_file():
        raise _error(path, "", f"missing (it holds the centre's organic_factor); {HOW}")
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("organic_factor")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        raise _error(path, "", f"not a JSON object written by calibrate --media; {HOW}") from None
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or value <= 0:
        raise _error(
            path,
            "organic_factor",
            f"is {value!r}; the centre's organic factor must be a number above 0 "
            "(the members' organic factors are applied relative to it)",
        )
    return float(value)


@dataclass(frozen=True)
class PosteriorEnsemble:
    """The members of a media calibration's posterior, as scenarios.

    Attributes
    ----------
    folder : pathlib.Path
        The ``calibrate --media --out`` folder.
    centre : Scenario
        The scenario the members are applied to by default (``scenario.yaml`` of the folder, or
        the scenario given to :meth:`load`).
    members : pandas.DataFrame
        One row per member (index ``member``): ``organic_factor`` (ratio to the base scenario)
        and each channel's ``awareness_per_impression_NAME`` (0-1).
    channels : tuple of str
        The channels of the ensemble (those of the media history).
    organic_factor : float
        The centre's organic factor (ratio to the base scenario).
    """

    folder: Path
    centre: Scenario
    members: pd.DataFrame
    channels: tuple[str, ...]
    organic_factor: float

    @classmethod
    def load(cls, folder: str | Path, scenario: Scenario | None = None) -> PosteriorEnsemble:
        """Read a ``calibrate --media --out`` folder.

        Parameters
        ----------
        folder
            The folder (``posterior.parquet``, ``media_calibration.json`` and, unless
            ``scenario`` is given, ``scenario.yaml``).
        scenario
            The scenario to apply the members to (default the folder's ``scenario.yaml``); it
            must have every channel of the ensemble.

        Raises
        ------
        ScenarioError
            One line naming the file and field: no such folder, a file missing or unreadable,
            a column missing, fewer than :data:`MIN_MEMBERS` members, a value out of range, or
            a channel of the ensemble that the scenario does not have.
        """
        path = Path(folder)
        if not path.is_dir():
            raise _error(path, "", f"no such folder; {HOW}")
        members = _read_members(path / POSTERIOR_FILE)
        channels = tuple(members.attrs["channels"])
        organic = _centre_organic(path)
        if scenario is None:
            if not (path / SCENARIO_FILE).is_file():
                raise _error(path / SCENARIO_FILE, "", f"missing (the calibrated centre); {HOW}")
            scenario = load_scenario(path / SCENARIO_FILE)
        return cls(path, scenario, members, channels, organic).for_scenario(scenario)

    def for_scenario(self, scenario: Scenario) -> PosteriorEnsemble:
        """The ensemble applied to ``scenario`` by default (its :attr:`centre`).

        Raises
        ------
        ScenarioError
            For a channel of the ensemble that ``scenario`` does not have.
        """
        known = scenario.channel_names
        for name in self.channels:
            if name not in known:
                raise _error(
                    self.folder / POSTERIOR_FILE,
                    f"{STRENGTH}{name}",
                    f"channel '{name}' is not in the scenario {getattr(scenario, '_source', '')}; "
                    f"its channels are: {', '.join(known)}",
                )
        return dataclasses.replace(self, centre=scenario)

    def __len__(self) -> int:
        return len(self.members)

    def member_of(self, seed: int) -> int:
        """The member a run on ``seed`` uses (drawn from the ensemble by the seed alone)."""
        position = int(np.random.default_rng([int(seed), MEMBER_STREAM]).integers(len(self.members)))
        return int(self.members.index[position])

    def members_of(self, seeds: Sequence[int]) -> list[int]:
        """The member of each seed, in order."""
        return [self.member_of(seed) for seed in seeds]

    def apply(self, scenario: Scenario, member: int) -> Scenario:
        """``scenario`` with ``member``'s channel parameters (its spend and policies kept).

        Raises
        ------
        ScenarioError
            For a member not in the ensemble.
        """
        if member not in self.members.index:
            raise _error(self.folder / POSTERIOR_FILE, "member", f"no member {member}")
        values = self.members.loc[member].to_numpy(np.float64)
        row = dict(zip(map(str, self.members.columns), values.tolist(), strict=True))
        ratio = row["organic_factor"] / self.organic_factor
        data: dict[str, Any] = scenario.model_dump(mode="json", exclude_none=True)
        for channel in data["channels"]:
            name = channel["name"]
            if name in self.channels:
                channel["awareness_per_impression"] = row[f"{AWARENESS}{name}"]
            channel["organic_discovery"] = min(1.0, channel.get("organic_discovery", 0.0) * ratio)
        source = f"{getattr(scenario, '_source', '<scenario>')} (posterior member {member})"
        with warnings.catch_warnings():  # the scenario's own warnings were said when it was read
            warnings.simplefilter("ignore", ScenarioWarning)
            return parse_scenario(data, source)

    def scenario(self, member: int) -> Scenario:
        """The centre with ``member``'s parameters."""
        return self.apply(self.centre, member)

    def on_seed(self, scenario: Scenario, seed: int) -> Scenario:
        """``scenario`` with the parameters of the member of ``seed``.

        A ``per_seed`` of :func:`simulator.measure.replicate.replicate`.
        """
        return self.apply(scenario, self.member_of(seed))
