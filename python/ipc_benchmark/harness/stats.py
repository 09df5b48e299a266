"""Summary statistics of timed samples, as docs/results-schema.md defines them."""

from __future__ import annotations

import math
from typing import Any


def nearest_rank(sorted_samples: list[float], percent: float) -> float:
    """The nearest-rank percentile: the smallest sample with at least ``percent`` % of the
    samples at or below it."""
    if not sorted_samples:
        raise ValueError("no samples")
    rank = max(1, math.ceil(percent / 100 * len(sorted_samples)))
    return sorted_samples[rank - 1]


def median(sorted_samples: list[float]) -> float:
    n = len(sorted_samples)
    if n == 0:
        raise ValueError("no samples")
    mid = n // 2
    return sorted_samples[mid] if n % 2 else (sorted_samples[mid - 1] + sorted_samples[mid]) / 2


def summarize(samples_ns: list[int]) -> dict[str, Any] | None:
    """The ``write`` / ``read`` block: seconds, with the raw samples; None if no samples."""
    if not samples_ns:
        return None
    samples = [ns / 1e9 for ns in samples_ns]
    ordered = sorted(samples)
    mean = math.fsum(samples) / len(samples)
    variance = math.fsum((s - mean) ** 2 for s in samples) / len(samples)  # population
    return {
        "median": median(ordered),
        "min": ordered[0],
        "max": ordered[-1],
        "mean": mean,
        "std": math.sqrt(variance),
        "p90": nearest_rank(ordered, 90),
        "p99": nearest_rank(ordered, 99),
        "samples": samples,
    }
