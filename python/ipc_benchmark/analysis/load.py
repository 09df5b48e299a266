"""Reading result files (docs/results-schema.md) into checked, typed records.

Everything the rest of the analysis needs is checked here, once, so that a bad file stops
the run with one line naming the file and the field, never a traceback from deep inside
a plot. What is not needed (raw samples, versions) is not required.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..harness.outcome import HARNESSES, IMPLEMENTATIONS, SCHEMA_VERSION, STATUSES, WORKLOADS

#: The fields of a ``write`` / ``read`` block this analysis uses.
STAT_FIELDS = ("median", "min", "max", "mean", "std", "p90", "p99")


class InputError(Exception):
    """A file the analysis cannot use; the message names the file and the problem."""


@dataclass(frozen=True)
class Stats:
    """A ``write`` or ``read`` block, in seconds; ``count`` is the number of samples."""

    median: float
    min: float
    max: float
    mean: float
    std: float
    p90: float
    p99: float
    count: int


@dataclass(frozen=True)
class Record:
    """One entry of ``results``, with the harness of its file.

    For a failed record the time fields are None whatever the file holds: what was
    measured before a failure is not a measurement of the backend.
    """

    source: Path
    harness: str
    backend: str
    data_size: int
    workload: str
    status: str
    error: str | None
    display_name: str
    implementation: str
    reference: str | None
    payload_bytes: int | None
    write: Stats | None
    read: Stats | None
    #: The original benchmark's fields, as the file gives them.
    write_time: float | None
    avg_read_time: float | None
    throughput: float | None
    aggregate_reads_per_s: float | None
    verified: bool

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class ResultFile:
    path: Path
    metadata: dict[str, Any]
    records: list[Record]

    @property
    def harness(self) -> str:
        return str(self.metadata["harness"])

    @property
    def config(self) -> dict[str, Any]:
        config = self.metadata.get("config")
        return config if isinstance(config, dict) else {}


def load(path: Path) -> ResultFile:
    """Read and check one result file; InputError says what is wrong with it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file (run the benchmark first: "
                         "mpiexec -n 4 python benchmark_mpi.py)") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a result file") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file, so not a result file") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read it: {e.strerror or e}") from None
    if not text.strip():
        raise InputError(f"{path}: the file is empty (was the benchmark interrupted "
                         "before it wrote its results?)")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON: {e.msg} at line {e.lineno}, "
                         f"column {e.colno}") from None
    except RecursionError:
        raise InputError(f"{path}: not a result file (JSON nested too deeply)") from None
    return parse(path, document)


def parse(path: Path, document: Any) -> ResultFile:
    """Check a decoded document against the schema, version 1."""
    if not isinstance(document, dict) or "schema_version" not in document:
        raise InputError(f"{path}: not a benchmark result file (a JSON object with "
                         "'schema_version', 'metadata' and 'results' is expected: "
                         "docs/results-schema.md)")
    version = document["schema_version"]
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise InputError(f"{path}: schema_version {version!r}; this analysis reads "
                         f"version {SCHEMA_VERSION} (docs/results-schema.md)")
    metadata = document.get("metadata")
    if not isinstance(metadata, dict):
        raise InputError(f"{path}: 'metadata' is missing or not an object")
    harness = metadata.get("harness")
    if harness not in HARNESSES:
        raise InputError(f"{path}: metadata.harness is {harness!r}, expected one of "
                         f"{', '.join(map(repr, HARNESSES))}")
    results = document.get("results")
    if not isinstance(results, list):
        raise InputError(f"{path}: 'results' is missing or not a list")
    config = metadata.get("config")
    default_workload = config.get("workload") if isinstance(config, dict) else None
    records = [_record(path, i, entry, harness, default_workload)
               for i, entry in enumerate(results)]
    return ResultFile(path, metadata, records)


class _Fields:
    """Typed access to one JSON object; errors name the file and the field's path."""

    def __init__(self, path: Path, where: str, obj: dict[str, Any]) -> None:
        self.path, self.where, self.obj = path, where, obj

    def fail(self, key: str, expected: str) -> InputError:
        value = self.obj.get(key, "<missing>")
        shown = value if value == "<missing>" else repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        return InputError(f"{self.path}: {self.where}.{key}: expected {expected}, "
                          f"got {shown}")

    def text(self, key: str, choices: tuple[str, ...] | None = None,
             optional: bool = False) -> str | None:
        value = self.obj.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, str) or (choices is not None and value not in choices):
            expected = " or ".join(map(repr, choices)) if choices else "a string"
            raise self.fail(key, expected + (" or null" if optional else ""))
        return value

    def count(self, key: str, optional: bool = False, least: int = 0) -> int | None:
        value = self.obj.get(key)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise self.fail(key, f"an integer >= {least}" + (" or null" if optional else ""))
        return value

    def number(self, key: str) -> float | None:
        """A finite, non-negative float, or None."""
        value = self.obj.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or value < 0:
            raise self.fail(key, "a non-negative number or null")
        return float(value)

    def stats(self, key: str) -> Stats | None:
        block = self.obj.get(key)
        if block is None:
            return None
        if not isinstance(block, dict):
            raise self.fail(key, "an object of statistics or null")
        inner = _Fields(self.path, f"{self.where}.{key}", block)
        values: dict[str, float] = {}
        for name in STAT_FIELDS:
            value = inner.number(name)
            if value is None:
                raise inner.fail(name, "a non-negative number")
            values[name] = value
        samples = block.get("samples")
        count = len(samples) if isinstance(samples, list) else 0
        return Stats(count=count, **values)


def _record(path: Path, index: int, entry: Any, harness: str,
            default_workload: Any) -> Record:
    where = f"results[{index}]"
    if not isinstance(entry, dict):
        raise InputError(f"{path}: {where}: expected an object, got {type(entry).__name__}")
    f = _Fields(path, where, entry)
    backend = f.text("backend")
    size = f.count("data_size", least=1)
    assert backend is not None and size is not None  # not optional: checked above
    # Name the record in later messages, now that it can be named.
    f.where = f"{where} ({backend}, {size} entries)"
    workload = entry.get("workload", default_workload)
    if workload not in WORKLOADS:
        raise f.fail("workload", " or ".join(map(repr, WORKLOADS)))
    status = f.text("status", STATUSES)
    ok = status == "ok"
    write, read = f.stats("write"), f.stats("read")
    if ok and (write is None or read is None):
        raise f.fail("read" if read is None else "write",
                     "statistics (the record's status is 'ok')")
    implementation = f.text("implementation", IMPLEMENTATIONS, optional=True)
    return Record(
        source=path,
        harness=harness,
        backend=backend,
        data_size=size,
        workload=str(workload),
        status=str(status),
        error=f.text("error", optional=True),
        display_name=f.text("display_name", optional=True) or backend,
        # Files written before a field existed still load: a missing implementation
        # makes the backend a user's, the one kind nothing is assumed about.
        implementation=implementation or "user",
        reference=f.text("reference", optional=True),
        payload_bytes=f.count("payload_bytes", optional=True),
        write=write if ok else None,
        read=read if ok else None,
        write_time=f.number("write_time") if ok else None,
        avg_read_time=f.number("avg_read_time") if ok else None,
        throughput=f.number("throughput") if ok else None,
        aggregate_reads_per_s=f.number("aggregate_reads_per_s") if ok else None,
        verified=entry.get("verified") is True,
    )
