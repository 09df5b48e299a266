"""The sizes and the layout of the ``training`` payload (training.py builds it). No NumPy
here, so that the command line and the read cap work without it."""

from __future__ import annotations

import math

#: 1 MiB: ``--array-mb`` counts these.
MIB = 1 << 20
#: Hidden blocks of the model: each a (hidden, hidden) weight and a (hidden,) bias.
BLOCKS = 4
#: The smallest payload: one block row of each kind needs 2 floats, times the blocks.
MIN_FLOATS = 2 * BLOCKS
#: The largest ``--array-mb`` taken: a typo should be an error, not an exhausted machine.
MAX_MB = 16384


def float_count(array_mb: float) -> int:
    """Float32 values in ``array_mb`` MiB, rounded down (x 2**20 / 4 is exact in binary)."""
    return math.floor(array_mb * MIB / 4)


def check_array_mb(array_mb: float) -> None:
    """ValueError naming the problem when ``array_mb`` cannot be a training payload."""
    if math.isnan(array_mb):
        raise ValueError("array size is not a number (nan)")
    if array_mb > MAX_MB:
        raise ValueError(f"array size must be at most {MAX_MB} MiB, got {array_mb}")
    if float_count(array_mb) < MIN_FLOATS:
        raise ValueError(
            f"array size must hold at least {MIN_FLOATS} float32 values "
            f"({MIN_FLOATS * 4} bytes), got {array_mb} MiB"
        )


def hidden_width(floats: int) -> int:
    """The largest power of two ``h`` whose blocks (``BLOCKS`` x (h*h + h) floats) fit."""
    h = 1
    while BLOCKS * ((2 * h) * (2 * h) + 2 * h) <= floats:
        h *= 2
    return h


def layout(floats: int) -> list[tuple[str, tuple[int, ...]]]:
    """The weight arrays, in order: an embedding (vocab, h) that takes what the blocks
    leave, the blocks, and ``tail`` for the floats that do not fill an embedding row
    (only when the size is not a multiple of h floats: never for whole MiB)."""
    if floats < MIN_FLOATS:
        raise ValueError(f"need at least {MIN_FLOATS} floats, got {floats}")
    h = hidden_width(floats)
    rest = floats - BLOCKS * (h * h + h)
    arrays: list[tuple[str, tuple[int, ...]]] = [("embed.weight", (rest // h, h))]
    for i in range(BLOCKS):
        arrays += [(f"blocks.{i}.weight", (h, h)), (f"blocks.{i}.bias", (h,))]
    if rest % h:
        arrays.append(("tail", (rest % h,)))
    return arrays
