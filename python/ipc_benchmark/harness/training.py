"""The ``training`` payload: the state a trainer shares, built bit for bit as the native
harness builds it (``crates/ipc-core/src/payload/training.rs``; docs/benchmark.md has the
layout).

Every number comes from one SplitMix64 stream seeded with ``--seed``: output ``k`` (from 1)
is ``mix(seed + k * GAMMA)``, so NumPy computes the stream a chunk at a time with uint64
arithmetic that wraps, exactly as Rust's ``wrapping_add``/``wrapping_mul`` do. Weights are
``((z >> 40) - 2**23) * 2**-30``: a 24-bit integer times a power of two, exact in float32,
so no rounding mode or library can make the two harnesses differ. NumPy's own generators
are not used: they cannot be reproduced outside NumPy.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import numpy.typing as npt

from .training_layout import BLOCKS, check_array_mb, float_count, hidden_width, layout

EPOCHS = 3
STEPS_PER_EPOCH = 500

_GAMMA = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
_MASK64 = (1 << 64) - 1
#: Floats generated per NumPy step: bounds the temporaries (8 bytes each, a few of them).
_CHUNK = 1 << 20


def _mix(z: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_MIX1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_MIX2)
    mixed: npt.NDArray[np.uint64] = z ^ (z >> np.uint64(31))
    return mixed


def _weights(seed: int, first: int, out: npt.NDArray[np.float32]) -> None:
    """Fill ``out`` with the weights of stream outputs ``first + 1``, ``first + 2``, ..."""
    flat = out.reshape(-1)
    for start in range(0, flat.size, _CHUNK):
        count = min(_CHUNK, flat.size - start)
        k = np.arange(first + start + 1, first + start + count + 1, dtype=np.uint64)
        z = _mix(k * np.uint64(_GAMMA) + np.uint64(seed))
        v = (z >> np.uint64(40)).astype(np.int32) - np.int32(1 << 23)
        flat[start:start + count] = v.astype(np.float32) * np.float32(2.0 ** -30)


def _output(seed: int, k: int) -> int:
    """Output ``k`` (from 1) of the stream, one at a time."""
    z = (seed + k * _GAMMA) & _MASK64
    z = ((z ^ (z >> 30)) * _MIX1) & _MASK64
    z = ((z ^ (z >> 27)) * _MIX2) & _MASK64
    return z ^ (z >> 31)


def generate(array_mb: float, seed: int = 0) -> dict[str, Any]:
    """The training payload with ``array_mb`` MiB of float32 weights."""
    check_array_mb(array_mb)
    if not 0 <= seed <= _MASK64:
        raise ValueError(f"seed must fit in 64 unsigned bits, got {seed}")
    floats = float_count(array_mb)
    weights: dict[str, npt.NDArray[np.float32]] = {}
    used = 0
    for name, shape in layout(floats):
        array = np.empty(shape, dtype=np.float32)
        _weights(seed, used, array)
        used += array.size
        weights[name] = array
    metrics: dict[int, dict[str, float]] = {}
    for epoch in range(1, EPOCHS + 1):
        # 53 random bits as a fraction of 1/8: exact, as is every step below.
        loss = 2.0 / epoch + (_output(seed, used + epoch) >> 11) / 2 ** 56
        metrics[epoch] = {"loss": loss, "accuracy": 1.0 - loss / 4.0}
    return {
        "step": np.int64(EPOCHS * STEPS_PER_EPOCH),
        "loss": np.float32(metrics[EPOCHS]["loss"]),
        "weights": weights,
        "config": {
            "model": "mlp",
            "hidden": hidden_width(floats),
            "blocks": BLOCKS,
            "optimizer": "adamw",
            "lr": 3e-4,
            "betas": [0.9, 0.999],
            "weight_decay": 0.01,
            "batch_size": 256,
            "epochs": EPOCHS,
            "milestones": [1, 2],
            "mixed_precision": True,
            "grad_clip": None,
        },
        "metrics": metrics,
    }


def mismatch(got: Any, want: Any, path: str = "data") -> str | None:
    """Where ``got`` differs from ``want``, or None: types exactly (a NumPy scalar must
    not come back as a Python number, an int key not as a str), arrays by dtype, shape
    and ``np.array_equal``, floats by their bits, dicts in order."""
    if type(got) is not type(want):
        return f"{path}: got {type(got).__name__}, expected {type(want).__name__}"
    if isinstance(want, np.ndarray):
        if got.dtype != want.dtype or got.shape != want.shape:
            return (f"{path}: got {got.dtype} {got.shape}, "
                    f"expected {want.dtype} {want.shape}")
        return None if np.array_equal(got, want) else f"{path}: the values differ"
    if isinstance(want, np.generic):
        return None if got.tobytes() == want.tobytes() else f"{path}: got {got!r}"
    if isinstance(want, float):
        same = struct.pack("<d", got) == struct.pack("<d", want)
        return None if same else f"{path}: got {got!r}, expected {want!r}"
    if isinstance(want, (list, tuple)):
        if len(got) != len(want):
            return f"{path}: got {len(got)} items, expected {len(want)}"
        for i, (g, w) in enumerate(zip(got, want)):
            found = mismatch(g, w, f"{path}[{i}]")
            if found is not None:
                return found
        return None
    if isinstance(want, dict):
        got_keys, want_keys = list(got), list(want)
        if [(type(k), k) for k in got_keys] != [(type(k), k) for k in want_keys]:
            return f"{path}: keys {got_keys!r}, expected {want_keys!r}"
        for k in want_keys:
            found = mismatch(got[k], want[k], f"{path}[{k!r}]")
            if found is not None:
                return found
        return None
    return None if got == want else f"{path}: got {got!r}, expected {want!r}"


class TrainingChecker:
    """Checks reads of the training payload; remembers the first mismatch. The same
    interface as ``workload.Checker``."""

    def __init__(self, expected: dict[str, Any]) -> None:
        self.expected = expected
        self.first_mismatch: str | None = None

    def check_full(self, index: int, value: Any) -> None:
        if self.first_mismatch is None:
            found = mismatch(value, self.expected)
            if found is not None:
                self.first_mismatch = f"read {index}: {found}"

    def check_key(self, index: int, key: str, value: Any) -> None:
        if self.first_mismatch is None:
            found = mismatch(value, self.expected[key], f"get({key!r})")
            if found is not None:
                self.first_mismatch = f"read {index}: {found}"
