"""The answer to "which backend should I use?", computed from the records.

Rules, written down because the report states only their results:

* Only the primary harness counts (``Dataset.primary_harness``): the Python harness when
  given, since its reads produce Python objects as a user's program does.
* A backend that failed at any size of a workload is not a candidate for it.
* "Fastest" compares medians (of reads, or of writes) at the largest size measured, where
  the transport's cost is least hidden by fixed overheads; the evidence also says at how
  many of the sizes the same backend is fastest, and whether the runner-up's median is
  inside the winner's own spread (at or below its p90), i.e. not a clear lead.
* Persistence and reaching other machines are properties of the backend's kind
  (``backends.json``); among the backends that have one, the fastest full reader is named.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..formatting import fmt_ratio, fmt_time
from .compare import median
from .dataset import Dataset, Group
from ..backends import Properties, properties


@dataclass(frozen=True)
class Recommendation:
    question: str
    #: The backend recommended, or None when the data cannot name one.
    backend: str | None
    evidence: str


def candidates(group: Group) -> list[str]:
    failed = set(group.failed_backends())
    return [b for b in group.series if b not in failed]


def ranking(group: Group, op: str, size: int, among: list[str]) -> list[tuple[float, str]]:
    """(median, backend) of ``op`` at ``size``, fastest first, for the backends measured
    there."""
    ranked = []
    for backend in among:
        rec = group.ok(backend, size)
        value = median(rec, op) if rec is not None else None
        if value is not None:
            ranked.append((value, backend))
    return sorted(ranked)


def fastest(group: Group, op: str, what: str, among: list[str] | None = None
            ) -> tuple[str | None, str]:
    """The backend with the lowest median ``op`` ("read" or "write") time, and the
    sentence that shows it."""
    pool = candidates(group) if among is None else among
    sizes = [s for s in group.sizes if ranking(group, op, s, pool)]
    if not sizes:
        return None, f"no successful measurement ({group.label})"
    size = sizes[-1]
    ranked = ranking(group, op, size, pool)
    best_value, best = ranked[0]
    text = f"{what} median {fmt_time(best_value)} at {size} entries"
    if len(ranked) > 1:
        next_value, runner_up = ranked[1]
        text += f"; next `{runner_up}` {fmt_time(next_value)}"
        if best_value > 0:
            text += f" ({fmt_ratio(next_value / best_value)})"
        rec = group.ok(best, size)
        stats = None if rec is None else rec.read if op == "read" else rec.write
        if stats is not None and next_value <= stats.p90:
            text += ", within the winner's spread (its p90): no clear lead"
    wins = sum(1 for s in sizes if ranking(group, op, s, pool)[0][1] == best)
    text += f"; fastest at {wins} of {len(sizes)} sizes ({group.label})"
    return best, text


def _by_property(group: Group, has: Callable[[Properties], bool], which: str
                 ) -> tuple[str | None, str]:
    """The fastest full reader among the candidates whose kind ``has`` the property;
    ``which`` completes "backends that ..." in the evidence."""
    pool = [b for b in candidates(group) if (p := properties(b)) is not None and has(p)]
    if not pool:
        return None, (f"no measured backend that {which} ran without failing "
                      "(see the properties table)")
    best, text = fastest(group, "read", "read", pool)
    listed = ", ".join(f"`{b}`" for b in pool)
    return best, f"backends that {which}: {listed}; the fastest full reader of them: {text}"


def recommend(dataset: Dataset) -> list[Recommendation]:
    groups = {g.workload: g for g in dataset.groups(dataset.primary_harness)}
    full, get = groups.get("full"), groups.get("get")
    out = []

    def add(question: str, answer: tuple[str | None, str]) -> None:
        out.append(Recommendation(question, *answer))

    not_measured = (None, "not measured: no `full` workload records were given")
    add("Fastest full read", fastest(full, "read", "read") if full else not_measured)
    add("Fastest single-key read", fastest(get, "read", "get") if get else (
        None, "not measured: no `get` workload records were given "
              "(run benchmark_mpi.py --workload get)"))
    writes = full or get
    assert writes is not None  # a dataset has at least one group
    add("Fastest write", fastest(writes, "write", "write"))
    add("Persistence (data outlives the processes)",
        _by_property(full, lambda p: p.persistent, "persist") if full else not_measured)
    add("Works across machines",
        _by_property(full, lambda p: p.across_machines, "reach other machines")
        if full else not_measured)
    return out
