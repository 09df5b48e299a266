"""Numbers as the harness's log and the analysis's report show them: "-" for a missing
value, and a unit that keeps 3 significant digits readable."""

from __future__ import annotations


def _scaled(value: float, units: tuple[tuple[str, float], ...], below: str) -> str:
    """`value` in the first unit it reaches (3 significant digits), else `below`."""
    for unit, scale in units:
        if value >= scale:
            return f"{value / scale:.3g}{unit}"
    return below


def fmt_time(seconds: float | None) -> str:
    """A duration with a unit that keeps 3 significant digits readable."""
    if seconds is None:
        return "-"
    units = ((" s", 1.0), (" ms", 1e-3), (" us", 1e-6))
    return _scaled(seconds, units, f"{seconds / 1e-9:.3g} ns")


def fmt_rate(per_s: float | None) -> str:
    if per_s is None:
        return "-"
    return _scaled(per_s, (("M/s", 1e6), ("k/s", 1e3)), f"{per_s:.3g}/s")


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    return _scaled(n, ((" MB", 1e6), (" kB", 1e3)), f"{n} B")


def fmt_ratio(ratio: float | None) -> str:
    """A ratio of two medians, e.g. "0.42x"."""
    return "-" if ratio is None else f"{ratio:.2f}x"
