"""What a case leaves behind, and the result file it goes into (docs/results-schema.md).

No MPI here: the analysis imports ``SCHEMA_VERSION`` and the enumerations of the
records' fields from this module, and the tests build records without ``mpiexec``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, get_args

from ..backends import Implementation
from ..registry import BackendSpec
from .config import Workload
from .payloads import PAYLOADS, SIZE_UNITS, Payload, ReadCap
from .stats import median, nearest_rank, summarize

#: The update-latency note of a case that failed before its update phase ended.
NOTE_FAILED = "not measured: the case failed before the update phase ended"

#: The version of docs/results-schema.md that both harnesses write.
SCHEMA_VERSION = 2

#: The values of ``metadata.harness``, ``workload``, ``status`` and ``implementation``.
HARNESSES = ("python", "rust")
WORKLOADS: tuple[str, ...] = get_args(Workload)
#: "skipped": the case did not run (a peer whose package is not installed, a one-host
#: backend with readers on other nodes); ``error``
#: says why.
STATUSES = ("ok", "failed", "skipped")
IMPLEMENTATIONS: tuple[str, ...] = get_args(Implementation)
#: The values of ``payload`` (also ``metadata.config.payload``) and ``size_unit``.
PAYLOAD_NAMES: tuple[str, ...] = PAYLOADS
SIZE_UNIT_NAMES: tuple[str, ...] = tuple(SIZE_UNITS.values())


class Failure(NamedTuple):
    rank: int
    message: str  # "ExcType: message"


@dataclass
class RankReport:
    """What one rank measured; sent to rank 0 after the measuring phases."""

    write_ns: list[int] = field(default_factory=list)
    read_ns: list[int] = field(default_factory=list)
    first_ns: int | None = None  # start of this reader's first timed read (wall clock)
    last_ns: int | None = None  # end of its last timed read
    verified: bool | None = None  # None on the writer
    #: Highest resident set over the case, and what that covers (memory.py); the
    #: resident set's growth over the timed writes (writer) or reads (readers). Bytes.
    peak_rss: int | None = None
    peak_scope: str | None = None
    rss_growth: int | None = None
    #: The update-latency phase, CLOCK_MONOTONIC in ns: when the writer started each
    #: update's write, and when this reader held it; how the reader waited.
    update_start_ns: list[int] = field(default_factory=list)
    update_end_ns: list[int] = field(default_factory=list)
    update_wait: str | None = None
    update_failed_polls: int = 0  # polls whose read raised (a torn snapshot)


@dataclass
class CaseOutcome:
    failures: list[tuple[str, Failure]]  # (phase, failure), in the order they happened
    reports: list[RankReport] | None  # by rank, on rank 0 only; None if nothing measured
    display_name: str
    readers: int  # active readers: ranks 1 to readers
    cross_node: bool = False  # some active reader is on another node than the writer
    update_note: str | None = None  # why there is no update latency
    skipped: str | None = None  # why the case did not run
    read_cap: ReadCap | None = None  # when the timed reads were capped


def skipped_outcome(spec: BackendSpec, readers: int, cross_node: bool, reason: str) -> CaseOutcome:
    """The outcome of a case that was not run."""
    return CaseOutcome([], None, spec.display_name, readers, cross_node, None, reason)


def record(spec: BackendSpec, size: float, workload: str, outcome: CaseOutcome,
           payload_bytes: int | None, payload: Payload = "seed",
           memcpy_ns: list[int] | None = None) -> dict[str, Any]:
    """One entry of ``results``: the original's fields first, then ours. ``size`` is in
    the payload's unit: entries, or MiB of weights."""
    reports = (outcome.reports or [])[: outcome.readers + 1]  # the writer, the active
    write_ns = [ns for r in reports for ns in r.write_ns]
    read_ns = [ns for r in reports for ns in r.read_ns]
    readers = reports[1:]
    write, read = summarize(write_ns), summarize(read_ns)
    ok = not outcome.failures
    verified = bool(readers) and all(r.verified for r in readers)
    aggregate = None
    if ok and read is not None:
        first = min(r.first_ns for r in readers if r.first_ns is not None)
        last = max(r.last_ns for r in readers if r.last_ns is not None)
        aggregate = len(read_ns) / ((last - first) / 1e9) if last > first else None
    error = outcome.skipped
    if outcome.failures:
        _, first_failure = outcome.failures[0]
        error = f"rank {first_failure.rank}: {first_failure.message}"
    status = "skipped" if outcome.skipped is not None else "ok" if ok else "failed"
    latency = update_latency(reports) if ok else None
    return {
        "backend": spec.name,
        "data_size": size,
        "write_time": write["median"] if ok and write else None,
        "avg_read_time": read["mean"] if ok and read else None,
        "throughput": 1 / read["mean"] if ok and read and read["mean"] > 0 else None,
        "display_name": outcome.display_name,
        "implementation": spec.implementation,
        "reference": spec.reference,
        "workload": workload,
        "payload": payload,
        "size_unit": SIZE_UNITS[payload],
        "status": status,
        "error": error,
        "payload_bytes": payload_bytes,
        "write": write,
        "read": read,
        "read_cap": None if outcome.read_cap is None else outcome.read_cap._asdict(),
        "memcpy": summarize(memcpy_ns or []),
        "aggregate_reads_per_s": aggregate,
        "verified": verified,
        "readers": outcome.readers,
        "cross_node": outcome.cross_node,
        "memory": memory_block(reports),
        "update_latency": latency,
        "update_latency_note": None if latency is not None or outcome.skipped else (
            outcome.update_note or NOTE_FAILED),
    }


def memory_block(reports: list[RankReport]) -> dict[str, Any] | None:
    """Each active rank's peak and growth of its resident set; None if none reported."""
    if not reports or reports[0].peak_rss is None:
        return None
    scopes = {r.peak_scope for r in reports if r.peak_scope is not None}
    return {
        "writer": {"peak_rss": reports[0].peak_rss, "rss_growth": reports[0].rss_growth},
        "readers": [{"rank": rank, "peak_rss": r.peak_rss, "rss_growth": r.rss_growth}
                    for rank, r in enumerate(reports) if rank > 0],
        "peak_scope": "case" if scopes == {"case"} else "process",
    }


def update_latency(reports: list[RankReport]) -> dict[str, Any] | None:
    """Reader end - writer start of every update, over every reader, in seconds; None
    without any."""
    if not reports:
        return None
    starts = reports[0].update_start_ns
    samples = [(end - start) / 1e9 for r in reports[1:]
               for start, end in zip(starts, r.update_end_ns)]
    if not samples:
        return None
    ordered = sorted(samples)
    waits = sorted({r.update_wait for r in reports[1:] if r.update_wait is not None})
    return {"median": median(ordered), "p99": nearest_rank(ordered, 99),
            "wait": ",".join(waits) or None,
            "failed_polls": sum(r.update_failed_polls for r in reports[1:]),
            "samples": samples}


def write_results(path: Path, meta: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """Write the file whole, through a temporary name, so a reader never sees half of it."""
    document = {"schema_version": SCHEMA_VERSION, "metadata": meta, "results": records}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", encoding="utf-8") as f:
        json.dump(document, f, indent=1, allow_nan=False)
        f.write("\n")
    os.replace(partial, path)
