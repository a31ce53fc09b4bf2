"""Deterministic randomness: every decision draws from a stream named by what it decides.

A stream is seeded from the province seed and a path such as ("household", 812), so a
household, a visit or a registration can be regenerated on its own, in any order, by any
process, without keeping earlier draws. Python's `hash()` is salted per process, hence blake2b.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from itertools import accumulate
from typing import Generic, TypeVar

T = TypeVar("T")


def stream(seed: int, *path: int | str) -> random.Random:
    digest = hashlib.blake2b(repr((seed, *path)).encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def scramble(number: int, modulus: int, salt: int, multiplier: int) -> int:
    """A bijection of [0, modulus) when modulus is a power of ten and multiplier is coprime to ten:
    distinct inputs give distinct identifiers that nevertheless look random. Each kind of
    identifier uses its own multiplier, so one person's numbers do not share digits."""
    return (number * multiplier + salt) % modulus


class Weighted(Generic[T]):
    """A fixed table of choices and relative weights, with cumulative weights computed once."""

    def __init__(self, table: Sequence[tuple[T, float]]) -> None:
        self.values: tuple[T, ...] = tuple(value for value, _ in table)
        self.weights: tuple[float, ...] = tuple(weight for _, weight in table)
        self.cumulative: tuple[float, ...] = tuple(accumulate(self.weights))

    def pick(self, rng: random.Random) -> T:
        return rng.choices(self.values, cum_weights=self.cumulative)[0]

    def share(self, value: T) -> float:
        """The probability of `value` (tests compare generated frequencies with it)."""
        return (
            sum(w for v, w in zip(self.values, self.weights, strict=True) if v == value) / self.cumulative[-1]
        )
