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
from .stats import summarize

#: The version of docs/results-schema.md that both harnesses write.
SCHEMA_VERSION = 2

#: The values of ``metadata.harness``, ``workload``, ``status`` and ``implementation``.
HARNESSES = ("python", "rust")
WORKLOADS: tuple[str, ...] = get_args(Workload)
STATUSES = ("ok", "failed")
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
    first_ns: int | None = None  # start of this reader's first timed read
    last_ns: int | None = None  # end of its last timed read
    verified: bool | None = None  # None on the writer


@dataclass
class CaseOutcome:
    failures: list[tuple[str, Failure]]  # (phase, failure), in the order they happened
    reports: list[RankReport] | None  # by rank, on rank 0 only; None if nothing measured
    display_name: str
    read_cap: ReadCap | None = None  # when the timed reads were capped


def record(spec: BackendSpec, size: float, workload: str, outcome: CaseOutcome,
           payload_bytes: int | None, payload: Payload = "seed",
           memcpy_ns: list[int] | None = None) -> dict[str, Any]:
    """One entry of ``results``: the original's fields first, then ours. ``size`` is in
    the payload's unit: entries, or MiB of weights."""
    reports = outcome.reports or []
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
    error = None
    if outcome.failures:
        _, first_failure = outcome.failures[0]
        error = f"rank {first_failure.rank}: {first_failure.message}"
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
        "status": "ok" if ok else "failed",
        "error": error,
        "payload_bytes": payload_bytes,
        "write": write,
        "read": read,
        "read_cap": None if outcome.read_cap is None else outcome.read_cap._asdict(),
        "memcpy": summarize(memcpy_ns or []),
        "aggregate_reads_per_s": aggregate,
        "verified": verified,
    }


def write_results(path: Path, meta: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """Write the file whole, through a temporary name, so a reader never sees half of it."""
    document = {"schema_version": SCHEMA_VERSION, "metadata": meta, "results": records}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", encoding="utf-8") as f:
        json.dump(document, f, indent=1, allow_nan=False)
        f.write("\n")
    os.replace(partial, path)
