"""Common random numbers: each shopper's draws depend only on the seed, the day and the mechanism.

Comparing two runs on the same seed (a budget change, a lever on) measures the effect of the
change only if both runs use the same random numbers for the same decisions. With one shared
generator, one extra draw (a few more impressions bought) shifts every later draw, and the two
runs soon differ everywhere. Here a shopper's uniform for a mechanism on a day is a hash of
(seed, mechanism, channel, day, shopper) - a counter-based generator in the spirit of
Random123 (Salmon et al., 2011) built on the SplitMix64 finalizer - so a shopper facing the
same decision in both runs draws the same number, whatever happened to other shoppers.
Counts (how many impressions land where) come from small generators keyed the same way.
"""

from __future__ import annotations

import functools
import zlib
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from numpy.random.bit_generator import ISeedSequence

__all__ = ["CommonRandomNumbers", "keyed_uniform", "keyed_uniforms", "seed_states", "uniform_keys"]

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TO_UNIT = 2.0**-53
_GOLDEN_U64 = np.uint64(_GOLDEN)
_SHIFT_53 = np.uint64(11)


def _mix_int(value: int) -> int:
    """SplitMix64 finalizer on one Python integer (64-bit wrap-around)."""
    value &= _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


def _mix(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """SplitMix64 finalizer, element-wise (in place on a fresh array)."""
    values ^= values >> np.uint64(30)
    values *= _MIX1
    values ^= values >> np.uint64(27)
    values *= _MIX2
    values ^= values >> np.uint64(31)
    return values


def keyed_uniform(
    shoppers: npt.NDArray[np.integer[Any]], key: np.uint64 | npt.NDArray[np.uint64]
) -> npt.NDArray[np.float64]:
    """Uniforms in [0, 1) of shoppers under a key (one key, or one per shopper: a batch of worlds)."""
    # In place on one fresh array; array arithmetic wraps around modulo 2**64 without warning.
    values = np.array(shoppers, dtype=np.uint64)
    values *= _GOLDEN_U64
    values += key
    return _to_unit(values)


def keyed_uniforms(
    shoppers: npt.NDArray[np.integer[Any]], keys: npt.NDArray[np.uint64]
) -> npt.NDArray[np.float64]:
    """Uniforms of shoppers under several keys at once: row ``k`` is ``keyed_uniform(shoppers, keys[k])``.

    ``keys``: one key per row (k,), or one per row and shopper (k, n: a batch of worlds).
    """
    base = np.array(shoppers, dtype=np.uint64)
    base *= _GOLDEN_U64
    values = base + (keys[:, None] if keys.ndim == 1 else keys)
    return _to_unit(values)


def _to_unit(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.float64]:
    """Mix keyed counters (in place) and map them to [0, 1) with 53 bits."""
    _mix(values)
    values >>= _SHIFT_53
    unit = values.astype(np.float64)
    unit *= _TO_UNIT
    return unit


@functools.lru_cache(maxsize=256)
def _name_key(mechanism: str) -> int:
    return _mix_int(zlib.crc32(mechanism.encode("utf-8")))


def _mechanism_key(mechanism: str, day: int, index: int) -> int:
    """The part of a key that does not depend on the seed."""
    return _mix_int(_name_key(mechanism) ^ _mix_int(int(index) ^ _mix_int(int(day) + 1)))


def uniform_keys(
    seed_keys: npt.NDArray[np.uint64], mechanism: str, day: int, index: int = 0
) -> npt.NDArray[np.uint64]:
    """The keys of ``mechanism``'s uniforms on ``day`` of several runs at once, one per seed key.

    ``seed_keys``: the runs' :attr:`CommonRandomNumbers.seed_key`. Each equals that run's
    :meth:`CommonRandomNumbers.uniform_key` (the same 64-bit arithmetic, element-wise).
    """
    return _mix(seed_keys ^ np.uint64(_mechanism_key(mechanism, day, index)))


_SEED_INIT_A = 0x43B0D7E5
_SEED_MULT_A = 0x931E8875
_SEED_INIT_B = 0x8B51F9DD
_SEED_MULT_B = 0x58F38DED
_SEED_MIX_L = np.uint32(0xCA01F9DD)
_SEED_MIX_R = np.uint32(0x4973F715)
_SEED_SHIFT = np.uint32(16)


def _hash_constants(start: int, mult: int, count: int) -> list[np.uint32]:
    """The successive hash constants of numpy's SeedSequence (they do not depend on the data)."""
    out = []
    for _ in range(count):
        out.append(np.uint32(start))
        start = (start * mult) & 0xFFFFFFFF
    return out


_HASH_A = _hash_constants(_SEED_INIT_A, _SEED_MULT_A, 17)
_HASH_B = _hash_constants(_SEED_INIT_B, _SEED_MULT_B, 9)


def _hashmix(value: npt.NDArray[np.uint32], step: int, constants: list[np.uint32]) -> npt.NDArray[np.uint32]:
    value = value ^ constants[step]
    value *= constants[step + 1]
    value ^= value >> _SEED_SHIFT
    return value


def seed_states(keys: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """The seed states numpy's PCG64 gets from integer seeds, for many keys in one pass (keys x 4).

    Row ``i`` equals ``numpy.random.SeedSequence(keys[i]).generate_state(4, numpy.uint64)``: the
    same hashing of the key's 32-bit words into a pool of 4 and out again (numpy's
    ``bit_generator.pyx``), element-wise over the keys, in 32-bit arithmetic that wraps around.
    ``tests/test_batch.py`` checks it against numpy.
    """
    keys = np.asarray(keys, dtype=np.uint64)
    zero = np.zeros(keys.size, dtype=np.uint32)
    words = [
        (keys & np.uint64(0xFFFFFFFF)).astype(np.uint32),
        (keys >> np.uint64(32)).astype(np.uint32),
        zero,
        zero,
    ]
    pool = [_hashmix(word, i, _HASH_A) for i, word in enumerate(words)]
    step = len(pool)
    for source in range(len(pool)):
        for target in range(len(pool)):
            if source != target:
                mixed = _SEED_MIX_L * pool[target] - _SEED_MIX_R * _hashmix(pool[source], step, _HASH_A)
                mixed ^= mixed >> _SEED_SHIFT
                pool[target] = mixed
                step += 1
    out = np.empty((keys.size, 8), dtype=np.uint32)
    for j in range(8):
        out[:, j] = _hashmix(pool[j % len(pool)], j, _HASH_B)
    return out.view(np.uint64)


class _SeedState(ISeedSequence):
    """A seed state worked out already (:func:`seed_states`), handed to a bit generator as is."""

    def __init__(self, state: npt.NDArray[np.uint64]) -> None:
        self._state = state

    def generate_state(self, n_words: int, dtype: Any = np.uint32) -> npt.NDArray[Any]:
        """The state given (PCG64 asks for 4 64-bit words)."""
        if n_words != self._state.size or np.dtype(dtype) != np.uint64:
            raise ValueError("a preseeded state is 4 64-bit words")
        return self._state


class CommonRandomNumbers:
    """Per-shopper random numbers keyed by (seed, mechanism, channel, day, shopper).

    Parameters
    ----------
    seed
        Seed of the run (integer >= 0).
    """

    def __init__(self, seed: int) -> None:
        self._seed_key = _mix_int(_mix_int(int(seed)) ^ 0x5EED5EED5EED5EED)
        self._day_keys: dict[tuple[str, int], np.uint64] = {}
        """Keys of the day in :attr:`_keys_day` by (mechanism, index): a day asks for each many times."""
        self._keys_day: int | None = None
        self._preseeded: dict[tuple[str, int], npt.NDArray[np.uint64]] = {}
        """Seed states of :meth:`bit_generator` worked out in advance, by (mechanism, index)."""
        self._preseeded_day: int | None = None

    @property
    def seed_key(self) -> int:
        """The run's key, from its seed: the last ingredient of every key (see :func:`uniform_keys`)."""
        return self._seed_key

    def _key(self, mechanism: str, day: int, index: int) -> int:
        return _mix_int(self._seed_key ^ _mechanism_key(mechanism, day, index))

    def uniform_key(self, mechanism: str, day: int, index: int) -> np.uint64:
        """The key of ``mechanism``'s uniforms on ``day`` (``index``: channel), before the shopper's id."""
        if day != self._keys_day:
            self._day_keys.clear()
            self._keys_day = day
        key = self._day_keys.get((mechanism, index))
        if key is None:
            key = self._day_keys[(mechanism, index)] = np.uint64(self._key(mechanism, day, index))
        return key

    def uniform(
        self, mechanism: str, day: int, shoppers: npt.NDArray[np.integer[Any]], index: int = 0
    ) -> npt.NDArray[np.float64]:
        """One uniform number in [0, 1) per shopper for ``mechanism`` on ``day`` (``index``: channel)."""
        return keyed_uniform(shoppers, self.uniform_key(mechanism, day, index))

    def uniforms(
        self, mechanism: str, day: int, shoppers: npt.NDArray[np.integer[Any]], count: int, first: int = 0
    ) -> npt.NDArray[np.float64]:
        """Uniforms of indices ``first`` .. ``first + count - 1`` at once (count x shoppers).

        Row ``k`` equals ``uniform(mechanism, day, shoppers, first + k)``.
        """
        keys = np.array([self.uniform_key(mechanism, day, first + k) for k in range(count)], dtype=np.uint64)
        return keyed_uniforms(shoppers, keys)

    def normal(
        self, mechanism: str, day: int, shoppers: npt.NDArray[np.integer[Any]], index: int = 0
    ) -> npt.NDArray[np.float64]:
        """One standard normal number per shopper (Box-Muller on two keyed uniforms)."""
        pair = self.uniforms(mechanism, day, shoppers, 2, 2 * index)
        radius = np.sqrt(-2.0 * np.log1p(-pair[0]))
        angle = 2.0 * np.pi * pair[1]
        return np.asarray(radius * np.cos(angle), dtype=np.float64)

    def gumbel(
        self, mechanism: str, day: int, shoppers: npt.NDArray[np.integer[Any]], channels: int
    ) -> npt.NDArray[np.float64]:
        """Standard Gumbel numbers, one per shopper and channel (shoppers x channels)."""
        scores = -np.log(-np.log(np.maximum(self.uniforms(mechanism, day, shoppers, channels), 2.0**-53)))
        return np.ascontiguousarray(scores.T)

    def preseed(self, mechanism: str, day: int, index: int, state: npt.NDArray[np.uint64]) -> None:
        """Give :meth:`bit_generator` the seed state of ``(mechanism, day, index)`` worked out already.

        ``state``: that key's :func:`seed_states` row (a batch of worlds works out every world's
        at once). Kept for ``day`` only.
        """
        if day != self._preseeded_day:
            self._preseeded.clear()
            self._preseeded_day = day
        self._preseeded[(mechanism, index)] = state

    def generator(self, mechanism: str, day: int, index: int = 0) -> np.random.Generator:
        """A generator for counts (e.g. impressions per persona) keyed like :meth:`uniform`."""
        return np.random.Generator(self.bit_generator(mechanism, day, index))

    def bit_generator(self, mechanism: str, day: int, index: int = 0) -> np.random.PCG64:
        """The bit generator behind :meth:`generator`; ``advance`` cuts it into disjoint stretches."""
        if day == self._preseeded_day:
            state = self._preseeded.get((mechanism, index))
            if state is not None:
                return np.random.PCG64(cast(np.random.SeedSequence, _SeedState(state)))
        return np.random.PCG64(self._key(mechanism, day, index))
