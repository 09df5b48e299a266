"""The codec and the benchmark's test data."""

from __future__ import annotations

from typing import Any

from ._core import deserialize, serialize

__all__ = ["serialize", "deserialize", "generate_test_dict"]

_MASK64 = (1 << 64) - 1


def _splitmix64(state: int) -> tuple[int, int]:
    """One SplitMix64 step: (new state, output). Mirrors ipc-core's payload.rs."""
    state = (state + 0x9E3779B97F4A7C15) & _MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return state, z ^ (z >> 31)


def generate_test_dict(size: int, seed: int = 0) -> dict[str, Any]:
    """The benchmark payload: ``size`` entries of a small nested dict.

    Seed 0 is the original benchmark's data; any other seed draws each entry's integer
    (31 bits, so its square fits in 64) from SplitMix64, exactly as ipc-core does.
    """
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    if not 0 <= seed <= _MASK64:
        raise ValueError(f"seed must fit in 64 unsigned bits, got {seed}")
    if seed == 0:
        return {
            f"key_{i}": {"value": i, "squared": i * i, "text": f"test_value_{i}", "float": i / 3}
            for i in range(size)
        }
    out: dict[str, Any] = {}
    state = seed
    for i in range(size):
        state, r = _splitmix64(state)
        v = r >> 33
        out[f"key_{i}"] = {"value": v, "squared": v * v, "text": f"test_value_{v}", "float": v / 3}
    return out
