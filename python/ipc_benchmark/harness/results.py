"""The result file: docs/results-schema.md, version 1."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import socket
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import _core
from ..registry import BackendSpec
from .case import CaseOutcome
from .config import Config
from .stats import summarize

SCHEMA_VERSION = 1


def usable_cores() -> int:
    """Logical CPUs this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def git_commit() -> str | None:
    """HEAD of the checkout the package runs from; None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
            capture_output=True, text=True, timeout=10, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def _distribution_versions() -> dict[str, str]:
    versions = {"ipc-core": _core.__version__}
    for dist in ("mpi4py", "lmdb", "pyzmq"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass  # not installed: its backends were not run either
    return versions


def metadata(config: Config, command_line: list[str], ranks: int, idle_wait: bool,
             mpi_library: str, created: datetime) -> dict[str, Any]:
    cores = usable_cores()
    return {
        "harness": "python",
        "created_utc": created.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command_line": command_line,
        "host": socket.gethostname(),
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "cpu_model": cpu_model(),
        "cpu_cores": cores,
        "ranks": ranks,
        "readers": ranks - 1,
        "ranks_per_core": round(ranks / cores, 3),
        "idle_wait": idle_wait,
        "python": platform.python_version(),
        "mpi_library": " ".join(mpi_library.strip().splitlines()[0].split()),
        "package_version": _core.__version__,
        "git_commit": git_commit(),
        "versions": _distribution_versions(),
        "config": {
            "backends": [spec.name for spec in config.backends],
            "sizes": config.sizes,
            "iterations": config.iterations,
            "warmup": config.warmup,
            "repeat": config.repeat,
            "seed": config.seed,
            "workload": config.workload,
        },
    }


def record(spec: BackendSpec, size: int, workload: str, outcome: CaseOutcome,
           payload_bytes: int | None) -> dict[str, Any]:
    """One entry of ``results``: the original's fields first, then ours."""
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
        "status": "ok" if ok else "failed",
        "error": error,
        "payload_bytes": payload_bytes,
        "write": write,
        "read": read,
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
