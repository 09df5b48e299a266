"""What the store benchmarks share: timing, processes, and the printed table.

Every figure is a median over samples taken after warm-up; the spread printed next to
it is the 10th-90th percentile. Ours and the reference run in alternating rounds, so
that drift on a busy machine hits both alike; a ratio is ours/reference (below 1 is
faster), from the medians of all rounds pooled.
"""

from __future__ import annotations

import multiprocessing as mp
import statistics
import sys
import time
from collections.abc import Callable
from queue import Empty
from typing import Any

ctx = mp.get_context("spawn")


def sample(fn: Callable[[], Any], count: int, batch: int = 1, warmup: int = 3) -> list[float]:
    """Seconds per call of ``fn``: ``count`` samples, each the mean over ``batch`` calls
    (for calls too short to time one by one). Results are freed outside the timer."""
    for _ in range(warmup):
        fn()
    out = []
    clock = time.perf_counter_ns
    for _ in range(count):
        if batch == 1:
            start = clock()
            result = fn()
            end = clock()
            del result
        else:
            start = clock()
            for _ in range(batch):
                fn()
            end = clock()
        out.append((end - start) / batch / 1e9)
    return out


def per_call(fn: Callable[[Any], Any], batches: list[list[Any]]) -> list[float]:
    """Seconds per call of ``fn(arg)``, one sample per batch of arguments: for calls too
    short to time one by one. Only a plain ``for`` loop runs around the calls."""
    for arg in batches[0]:
        fn(arg)  # warm-up
    out = []
    clock = time.perf_counter_ns
    for batch in batches:
        start = clock()
        for arg in batch:
            fn(arg)
        out.append((clock() - start) / len(batch) / 1e9)
    return out


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def spread(xs: list[float]) -> tuple[float, float]:
    if len(xs) < 2:
        return xs[0], xs[0]
    q = statistics.quantiles(xs, n=10)
    return q[0], q[-1]


def fmt(seconds: float) -> str:
    for unit, scale in (("s", 1), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if seconds >= scale or unit == "ns":
            return f"{seconds / scale:.3g} {unit}"
    return str(seconds)


def in_process(target: Callable[..., Any], *args: Any) -> mp.process.BaseProcess:
    p = ctx.Process(target=target, args=args)
    p.start()
    return p


def wait_until(ready: Callable[[], bool], procs: list[Any], timeout: float = 1200) -> None:
    """Returns once ``ready()`` (which may block for up to a second) is true; fails at
    once, instead of waiting out the timeout, if one of ``procs`` has died."""
    deadline = time.monotonic() + timeout
    while not ready():
        dead = [p for p in procs if p.exitcode not in (None, 0)]
        if dead:
            raise SystemExit(f"benchmark process {dead[0].name} died (exit {dead[0].exitcode})")
        if time.monotonic() > deadline:
            raise SystemExit(f"no result within {timeout:.0f} s")


def receive(queue: Any, procs: list[Any], timeout: float = 1200) -> Any:
    """The next result from ``queue``, waited for as ``wait_until`` waits."""
    got: list[Any] = []

    def ready() -> bool:
        try:
            got.append(queue.get(timeout=1))
            return True
        except Empty:
            return False

    wait_until(ready, procs, timeout)
    return got[0]


def join_all(procs: list[Any], timeout: float = 600) -> None:
    for p in procs:
        p.join(timeout)
        if p.exitcode != 0:
            raise SystemExit(f"benchmark process {p.name} failed (exit {p.exitcode})")


class Table:
    """Rows of (what, ours, reference, target) printed with ratios and spreads."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.rows: list[tuple[str, list[float], list[float] | None, str]] = []

    def add(self, what: str, ours: list[float], ref: list[float] | None = None,
            target: str = "") -> None:
        self.rows.append((what, ours, ref, target))

    def print(self) -> None:
        print(f"\n{self.title}  (python {sys.version.split()[0]}; medians, p10-p90)")
        head = f"{'measurement':<38} {'ours':>10} {'p10-p90':>19} {'reference':>10} {'ratio':>6}  target"
        print(head)
        print("-" * len(head))
        for what, ours, ref, target in self.rows:
            lo, hi = spread(ours)
            line = f"{what:<38} {fmt(median(ours)):>10} {fmt(lo) + '-' + fmt(hi):>19}"
            if ref is not None:
                ratio = median(ours) / median(ref)
                line += f" {fmt(median(ref)):>10} {ratio:>6.3g}"
            else:
                line += f" {'':>10} {'':>6}"
            print(f"{line}  {target}")
