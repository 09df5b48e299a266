"""The result file's ``metadata``: the host, the versions, the run's configuration
(docs/results-schema.md; the records and the file itself: outcome.py)."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import socket
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import _core
from .config import Config
from .nodes import Nodes


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
             mpi_library: str, created: datetime, reader_counts: list[int], nodes: Nodes,
             zmq_host: str | None) -> dict[str, Any]:
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
            "sizes": config.data_sizes(),
            "iterations": config.iterations,
            "warmup": config.warmup,
            "repeat": config.repeat,
            "seed": config.seed,
            "workload": config.workload,
            "payload": config.payload,
            "array_mb": config.array_mb,
            "reader_counts": reader_counts,
            "updates": config.updates,
            "nodes": nodes.as_json(),
            "zmq_host": zmq_host,
        },
    }
