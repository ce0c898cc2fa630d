"""Touch paths: which channels touched each shopper, and when, before a conversion.

Recording is off by default (``simulate(..., record_paths=True)`` turns it on). When on, the
model holds a :class:`TouchRecorder` as ``model.touches`` and three mechanisms write to it:

- :func:`simulator.engine.exposure.deliver_impressions` - one *exposure* touch per shopper, channel
  and day the shopper was hit (however many impressions landed);
- :func:`simulator.engine.journey.start_consideration` - one *visit* touch with the channel that
  brought the visit (ads, organic visits, word of mouth and referrals, retargeted browsers);
- :func:`simulator.engine.economics.book_orders` - a first order (a *conversion*: the shopper becomes
  a customer) closes the shopper's path: its touches, in time order, plus an *order* touch with
  the channel where the order closed, go to the conversion log. Every order, first or repeat,
  starts a new empty path.

Memory is bounded: each shopper keeps only the last ``depth`` touches of its current path in a
ring buffer of packed touches (day, kind and channel in one int32: ``depth`` x 4 bytes, plus 8
bytes a shopper for the count and the first touch), and the path's first touch apart,
so a path longer than ``depth`` keeps its first touch and its last ``depth``. The log grows
with conversions only (at most ``depth + 2`` touches each). At the end of the run the current
paths of shoppers who never bought (no first order, not a customer before day 0) become
non-converting paths (ending in *null*), which the Markov model needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from .population import NO_DAY

if TYPE_CHECKING:
    from .model import CommerceModel

__all__ = ["DEFAULT_DEPTH", "TouchKind", "TouchPaths", "TouchRecorder", "recorder_bytes_per_shopper"]

DEFAULT_DEPTH = 16
"""Touches kept per shopper in the ring buffer (the path's first touch is kept apart)."""

IntArray = npt.NDArray[np.int64]


class TouchKind(IntEnum):
    """What a touch was."""

    EXPOSURE = 0
    VISIT = 1
    ORDER = 2


def recorder_bytes_per_shopper(depth: int = DEFAULT_DEPTH) -> int:
    """Bytes per shopper that a :class:`TouchRecorder` keeps (ring buffer, first touch, count)."""
    return depth * 4 + 4 + 4


def _pack(channel: int | npt.NDArray[np.integer], day: int, kind: TouchKind) -> npt.NDArray[np.int32]:
    """One touch as an int32: day in the high 16 bits, kind in the next 8, channel in the low 8."""
    return np.asarray((day << 16) | (int(kind) << 8) | np.asarray(channel, dtype=np.int32), dtype=np.int32)


def _unpack(
    packed: npt.NDArray[np.int32],
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int16], npt.NDArray[np.int8]]:
    return (
        (packed & 0xFF).astype(np.int8),
        (packed >> 16).astype(np.int16),
        ((packed >> 8) & 0xFF).astype(np.int8),
    )


@dataclass
class TouchPaths:
    """Recorded touch paths of one simulation, as two tidy tables.

    Attributes
    ----------
    paths : pandas.DataFrame
        One row per ``path_id``: ``shopper_id``, ``converted`` (a first order closed the path),
        ``day`` (of the conversion; the last simulated day for open paths), ``channel`` (where
        the order closed; missing for open paths), ``value`` (revenue net of discounts of the
        first order, agent units: currency of one agent) and ``touches`` (path length,
        including the order touch). Converted paths come first, in the order they closed.
    touches : pandas.DataFrame
        One row per touch: ``path_id``, ``position`` (0 = first), ``channel``, ``day`` and
        ``kind`` (exposure, visit, order), in time order within each path.
    channels : list of str
        Channel names; the categorical codes of ``channel`` index this list.
    scale : float
        People per agent: multiply counts and values by it for the real market.
    """

    paths: pd.DataFrame
    touches: pd.DataFrame
    channels: list[str]
    scale: float

    @property
    def conversions(self) -> pd.DataFrame:
        """The converted paths only."""
        return self.paths[self.paths["converted"]]


class TouchRecorder:
    """Per-shopper ring buffers of recent touches and the log of closed paths.

    Parameters
    ----------
    size
        Number of shoppers.
    channels
        Channel names, in scenario order.
    depth
        Touches kept per shopper (the first touch of a longer path is kept apart).
    """

    def __init__(self, size: int, channels: list[str], depth: int = DEFAULT_DEPTH) -> None:
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self.depth = depth
        self.channel_names = list(channels)
        # One packed int32 a touch, so that recording a touch is one scattered write.
        self.buffer = np.zeros((size, depth), dtype=np.int32)
        """Ring buffer of packed touches, ``buffer[shopper, touch % depth]``."""
        self._buffer_flat = self.buffer.reshape(-1)
        self.count = np.zeros(size, dtype=np.int32)
        """Touches in each shopper's current path (since its last order)."""
        self.first = np.zeros(size, dtype=np.int32)
        """The packed first touch of each shopper's current path."""
        self._closed: list[
            tuple[IntArray, int, IntArray, npt.NDArray[np.float64], npt.NDArray[np.int64]]
        ] = []
        self._touches: list[tuple[npt.NDArray[np.int8], npt.NDArray[np.int16], npt.NDArray[np.int8]]] = []

    def record(
        self, shoppers: IntArray, channel: int | npt.NDArray[np.integer], day: int, kind: TouchKind
    ) -> None:
        """Append one touch to each shopper's path.

        Parameters
        ----------
        shoppers
            Shopper ids, each at most once.
        channel
            Channel index of the touch, one for all or one per shopper.
        day
            Day of the touch.
        kind
            Exposure or visit.
        """
        if shoppers.size == 0:
            return
        n = self.count[shoppers]
        packed = _pack(channel, day, kind)
        self._buffer_flat[shoppers * self.depth + n % self.depth] = packed
        starts = n == 0
        if starts.any():
            self.first[shoppers[starts]] = packed if packed.ndim == 0 else packed[starts]
        self.count[shoppers] = n + 1

    def on_orders(
        self,
        shoppers: IntArray,
        channels: IntArray,
        first: npt.NDArray[np.bool_],
        value: npt.NDArray[np.float64],
        day: int,
    ) -> None:
        """Close the paths of first orders into the log; every order starts a new path.

        Parameters
        ----------
        shoppers
            Ids of the ordering shoppers (each at most once).
        channels
            Channel index of each order.
        first
            Whether each order is the shopper's first (a conversion).
        value
            Revenue net of discounts of each order (agent units).
        day
            Day of the orders.
        """
        if first.any():
            converted = shoppers[first]
            order_channel = channels[first]
            lengths, touches = self._snapshot(converted, order_channel.astype(np.int8), day)
            self._touches.append(touches)
            self._closed.append((converted, day, order_channel, value[first].astype(np.float64), lengths))
        self.count[shoppers] = 0

    def _snapshot(
        self, shoppers: IntArray, order_channel: npt.NDArray[np.int8] | None, day: int
    ) -> tuple[IntArray, tuple[npt.NDArray[np.int8], npt.NDArray[np.int16], npt.NDArray[np.int8]]]:
        """The shoppers' current paths in time order: lengths and flat (channel, day, kind)."""
        depth = self.depth
        n = self.count[shoppers].astype(np.int64)
        kept = np.minimum(n, depth)
        lost = n > depth
        slots = (n - kept)[:, None] + np.arange(depth)
        rows = shoppers[:, None]
        flat = rows * depth + slots % depth
        width = depth + 2
        m = shoppers.size
        packed = np.zeros((m, width), dtype=np.int32)
        valid = np.zeros((m, width), dtype=np.bool_)
        packed[:, 0] = self.first[shoppers]
        valid[:, 0] = lost
        packed[:, 1:-1] = self._buffer_flat[flat]
        valid[:, 1:-1] = np.arange(depth) < kept[:, None]
        if order_channel is not None:
            packed[:, -1] = _pack(order_channel, day, TouchKind.ORDER)
            valid[:, -1] = True
        return valid.sum(axis=1).astype(np.int64), _unpack(packed[valid])

    def collect(self, model: CommerceModel) -> TouchPaths:
        """Close the open paths of shoppers who never bought and build the tidy tables."""
        pop = model.population
        never = np.flatnonzero((pop.first_purchase_day == NO_DAY) & (self.count > 0))
        open_lengths, open_touches = self._snapshot(never, None, model.day)
        empty_int = np.empty(0, dtype=np.int64)
        shoppers = np.concatenate([*(c[0] for c in self._closed), never, empty_int])
        days = np.concatenate(
            [
                *(np.full(c[0].size, c[1], dtype=np.int64) for c in self._closed),
                np.full(never.size, model.day - 1),
            ]
        )
        order_channel = np.concatenate([*(c[2] for c in self._closed), np.full(never.size, -1), empty_int])
        value = np.concatenate([*(c[3] for c in self._closed), np.zeros(never.size)])
        lengths = np.concatenate([*(c[4] for c in self._closed), open_lengths, empty_int])
        converted = np.zeros(shoppers.size, dtype=np.bool_)
        converted[: shoppers.size - never.size] = True
        logged = [*self._touches, open_touches]
        touch_channel = np.concatenate([t[0] for t in logged]).astype(np.int64)
        touch_day = np.concatenate([t[1] for t in logged]).astype(np.int64)
        touch_kind = np.concatenate([t[2] for t in logged]).astype(np.int64)

        names = pd.Index(self.channel_names)
        path_ids = np.arange(shoppers.size)
        paths = pd.DataFrame(
            {
                "shopper_id": shoppers,
                "converted": converted,
                "day": days,
                "channel": pd.Categorical.from_codes(order_channel, names),
                "value": value,
                "touches": lengths,
            },
            index=pd.RangeIndex(shoppers.size, name="path_id"),
        )
        starts = np.cumsum(lengths) - lengths
        touch_path = np.repeat(path_ids, lengths)
        touches = pd.DataFrame(
            {
                "path_id": touch_path,
                "position": np.arange(touch_path.size) - np.repeat(starts, lengths),
                "channel": pd.Categorical.from_codes(touch_channel, names),
                "day": touch_day,
                "kind": pd.Categorical.from_codes(touch_kind, pd.Index([k.name.lower() for k in TouchKind])),
            }
        )
        return TouchPaths(paths=paths, touches=touches, channels=list(self.channel_names), scale=model.scale)
