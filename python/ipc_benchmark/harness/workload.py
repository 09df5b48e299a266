"""What the readers read, and how they check it.

Checks compare digests of our codec's encoding (blake2b, 16 bytes), so a value must match
in type and order too: a tuple that came back as a list, or a float that lost bits, is a
mismatch, where ``==`` would let both pass.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from .._core import serialize


class VerificationError(Exception):
    """A reader got something other than what the writer wrote."""


def digest(value: Any) -> bytes:
    return hashlib.blake2b(serialize(value), digest_size=16).digest()


def describe_mismatch(value: Any, want: bytes) -> str:
    """Why ``value`` is not the content whose digest is ``want``, for the error message."""
    if value is None:
        return "got None (nothing written?)"
    try:
        return f"digest {digest(value).hex()}, expected {want.hex()}"
    except (TypeError, ValueError) as e:
        return f"got a value the codec cannot encode ({e})"


def random_keys(expected: dict[str, Any], count: int, seed: int, rank: int) -> list[str]:
    """``count`` keys of ``expected`` drawn with replacement, the same for the same
    (seed, rank, size) on every run."""
    rng = random.Random(f"{seed}/{rank}/{len(expected)}")
    keys = list(expected)
    return [rng.choice(keys) for _ in range(count)]


class Checker:
    """Checks reads against the expected dict; remembers the first mismatch."""

    def __init__(self, expected: dict[str, Any]) -> None:
        self.expected = expected
        self._full = digest(expected)
        self._per_key: dict[str, bytes] = {}
        self.first_mismatch: str | None = None

    def _matches(self, value: Any, want: bytes) -> bool:
        try:
            return digest(value) == want
        except (TypeError, ValueError):
            return False

    def check_full(self, index: int, value: Any) -> None:
        want = self._full
        if self.first_mismatch is None and not self._matches(value, want):
            self.first_mismatch = (
                f"read {index} differs from the dict the writer wrote: "
                f"{describe_mismatch(value, want)}"
            )

    def check_key(self, index: int, key: str, value: Any) -> None:
        want = self._per_key.get(key)
        if want is None:
            want = self._per_key[key] = digest(self.expected[key])
        if self.first_mismatch is None and not self._matches(value, want):
            self.first_mismatch = (
                f"read {index}: get({key!r}) differs from the value the writer wrote: "
                f"{describe_mismatch(value, want)}"
            )
