"""The two payloads a run can share (``--payload``): what each case writes, how readers
check it, the unit of its size, and when its timed reads are capped.

``seed``: the original benchmark's dict of ``data_size`` entries (``utils.generate_test_dict``).
``training``: a trainer's state with ``data_size`` MiB of float32 weights (``training.py``,
which needs NumPy; imported only for that payload).
"""

from __future__ import annotations

import mmap
import time
from typing import Any, Literal, NamedTuple, Protocol

from ..utils import generate_test_dict
from .training_layout import MIB, float_count
from .workload import Checker

Payload = Literal["seed", "training"]
PAYLOADS: tuple[Payload, ...] = ("seed", "training")

#: The record's ``size_unit`` for each payload: what ``data_size`` counts.
SIZE_UNITS: dict[str, str] = {"seed": "entries", "training": "MiB"}

#: MiB the messages of one case may carry, all readers together, before the timed reads
#: of a message-per-read backend are capped (see ``read_cap``); ``--message-budget-mb``.
MESSAGE_BUDGET_MB = 4096
#: Timed reads per reader that a capped case still makes.
MIN_CAPPED_READS = 5


class ReadChecker(Protocol):
    first_mismatch: str | None

    def check_full(self, index: int, value: Any) -> None: ...

    def check_key(self, index: int, key: str, value: Any) -> None: ...


def _training() -> Any:
    try:
        from . import training
    except ImportError as e:
        raise RuntimeError(f"--payload training needs NumPy ({e}): pip install numpy") from None
    return training


def generate(payload: Payload, size: float, seed: int) -> dict[str, Any]:
    """The payload of one case: ``size`` in the payload's unit."""
    if payload == "training":
        result: dict[str, Any] = _training().generate(size, seed)
        return result
    return generate_test_dict(int(size), seed)


def checker(payload: Payload, expected: dict[str, Any]) -> ReadChecker:
    if payload == "training":
        found: ReadChecker = _training().TrainingChecker(expected)
        return found
    return Checker(expected)


class ReadCap(NamedTuple):
    """The record's ``read_cap``."""

    iterations: int  # timed reads per reader
    reason: str


def read_cap(payload: Payload, size: float, readers: int, warmup: int, iterations: int,
             message_per_read: bool, budget_mb: int = MESSAGE_BUDGET_MB) -> ReadCap | None:
    """The cap on the timed reads of a case, or None when it is not capped.

    A message-per-read backend moves one whole payload per read (``py-zmq`` also pickles
    each one), so 100 MiB x 3 readers x 105 reads would take minutes and, with unbounded
    queues, many GiB. Such a case of the training payload makes at most as many reads
    (warm-up included) as ``budget_mb`` MiB of weights allow over all readers,
    and never fewer than ``MIN_CAPPED_READS`` timed ones. Both harnesses apply the same
    rule to every message-per-read backend, so a Rust backend and its reference still
    make the same number of reads. The seed payload is never capped.
    """
    if payload != "training" or not message_per_read or readers < 1:
        return None
    weight_bytes = float_count(size) * 4
    reads_each = budget_mb * MIB // (readers * weight_bytes)
    capped = max(MIN_CAPPED_READS, reads_each - warmup)
    if capped >= iterations:
        return None
    return ReadCap(capped, f"one message per read: {readers} readers x {size} MiB per "
                           f"message, capped to {budget_mb} MiB of messages per case (at "
                           f"least {MIN_CAPPED_READS} timed reads; --message-budget-mb)")


def copy_baseline(payload: Payload, expected: dict[str, Any], warmup: int,
                  repeat: int) -> list[int] | None:
    """The record's ``memcpy`` samples (ns): each copies every weight array into one
    fresh anonymous mapping, page faults included, as a store that writes or a reader
    that copies must. The yardstick of a read or write of the arrays; None for the seed
    payload. ``warmup`` untimed copies first."""
    if payload != "training":
        return None
    import numpy as np

    arrays = [a.reshape(-1).view(np.uint8) for a in expected["weights"].values()]
    total = sum(a.size for a in arrays)
    samples = []
    for i in range(warmup + repeat):
        start = time.perf_counter_ns()
        fresh = mmap.mmap(-1, total)
        dst = np.frombuffer(fresh, dtype=np.uint8)
        at = 0
        for a in arrays:
            dst[at:at + a.size] = a
            at += a.size
        end = time.perf_counter_ns()
        del dst  # the mapping cannot close while a view exports it
        fresh.close()
        if i >= warmup:
            samples.append(end - start)
    return samples
