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

from ..harness.outcome import HARNESSES, IMPLEMENTATIONS, WORKLOADS

#: The fields of a ``write`` / ``read`` block this analysis uses.
STAT_FIELDS = ("median", "min", "max", "mean", "std", "p90", "p99")
#: The schema versions this analysis reads. Version 1 files (from before the payload,
#: reader-count, memory and update-latency fields) still load: see ``_record``.
VERSIONS = (1, 2)
#: Statuses of a record: "skipped" (version 2) is a case that did not run, with the
#: reason in ``error``.
STATUSES = ("ok", "failed", "skipped")
#: Implementation groups the analysis knows. Listed here, not only taken from
#: backends.json, so that a file naming peers loads whatever this checkout's registry
#: holds; "peer" is the group of the libraries people already use (Redis, ...).
KNOWN_IMPLEMENTATIONS: tuple[str, ...] = tuple(dict.fromkeys(
    (*IMPLEMENTATIONS, "rust", "reference", "peer", "user")))
#: Each payload and the unit of its ``data_size``: entries of the seed's dict, MiB
#: (2**20 bytes) of float32 weights in the training payload.
SIZE_UNITS = {"seed": "entries", "training": "MiB"}
#: A record's ``data_size``: a whole count of entries, or MiB of weights, which may be
#: fractional (0.25 MiB in the tests' runs). A whole number of MiB is an int, so that
#: 1 and 1.0 are the same size.
Size = int | float


def fmt_size(size: Size, grouped: bool = False) -> str:
    """A size as labels show it: 10000 (or 10,000 with ``grouped``), 0.25."""
    if isinstance(size, int):
        return f"{size:,}" if grouped else str(size)
    return f"{size:.4g}"


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
class ReadCap:
    """The timed reads were capped at ``iterations`` (an original design too slow to
    finish in reasonable time at this size); ``reason`` says why."""

    iterations: int
    reason: str


@dataclass(frozen=True)
class RankMemory:
    """One rank's resident set, in bytes: its peak over the case, and its growth over
    the timed reads (negative when memory was given back). None: not measured."""

    rank: int | None
    peak_rss: int | None
    rss_growth: int | None


@dataclass(frozen=True)
class Memory:
    writer: RankMemory | None
    readers: tuple[RankMemory, ...]

    def reader_peak(self) -> int | None:
        """The largest peak RSS of any reader: what one reader may need."""
        values = [m.peak_rss for m in self.readers if m.peak_rss is not None]
        return max(values) if values else None

    def reader_growth(self) -> int | None:
        """The largest RSS growth of any reader over the timed reads."""
        values = [m.rss_growth for m in self.readers if m.rss_growth is not None]
        return max(values) if values else None


@dataclass(frozen=True)
class Latency:
    """Update latency, in seconds: from the writer starting ``write()`` to a reader
    holding the new snapshot."""

    median: float
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
    data_size: Size
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
    #: Schema 2; a version 1 record is a seed payload record whose readers are the
    #: file's, with no memory or update latency measured.
    payload: str = "seed"
    size_unit: str = "entries"
    readers: int = 1
    cross_node: bool = False
    read_cap: ReadCap | None = None
    memory: Memory | None = None
    update_latency: Latency | None = None
    update_latency_note: str | None = None
    #: Training payload: the writer's copies of all the weights into fresh memory, timed
    #: in the same case (the yardstick of reads and writes of the arrays).
    memcpy: Stats | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def size_text(self) -> str:
        """``data_size`` with its unit: "1000 entries", "10 MiB"."""
        return f"{fmt_size(self.data_size)} {self.size_unit}"


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
    """Check a decoded document against the schema, version 1 or 2."""
    if not isinstance(document, dict) or "schema_version" not in document:
        raise InputError(f"{path}: not a benchmark result file (a JSON object with "
                         "'schema_version', 'metadata' and 'results' is expected: "
                         "docs/results-schema.md)")
    version = document["schema_version"]
    if version not in VERSIONS or isinstance(version, bool):
        readable = " and ".join(map(str, VERSIONS))
        raise InputError(f"{path}: schema_version {version!r}; this analysis reads "
                         f"versions {readable} (docs/results-schema.md)")
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
    config = config if isinstance(config, dict) else {}
    defaults = _Defaults(
        workload=config.get("workload"),
        payload=config.get("payload") or "seed",
        readers=metadata.get("readers"))
    records = [_record(path, i, entry, harness, defaults)
               for i, entry in enumerate(results)]
    return ResultFile(path, metadata, records)


@dataclass(frozen=True)
class _Defaults:
    """What a record may leave to its file: version 1 records have no payload and no
    reader count of their own (all readers read), and may omit the workload."""

    workload: Any
    payload: Any
    readers: Any


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

    def integer(self, key: str) -> int | None:
        """Any integer (an RSS growth may be negative), or None."""
        value = self.obj.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, "an integer or null")
        return value

    def inner(self, key: str) -> _Fields | None:
        """The object under ``key`` for typed access, None when null or missing."""
        block = self.obj.get(key)
        if block is None:
            return None
        if not isinstance(block, dict):
            raise self.fail(key, "an object or null")
        return _Fields(self.path, f"{self.where}.{key}", block)

    def size(self, key: str, whole: bool) -> Size:
        """A positive size: an integer when ``whole``, else any finite number > 0 (an
        int when it is whole, so that 1.0 MiB and 1 MiB are one size)."""
        value = self.obj.get(key)
        if not whole and isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, bool) and isinstance(value, int) and value >= 1:
            return value
        if not whole and isinstance(value, float) and math.isfinite(value) and value > 0:
            return value
        raise self.fail(key, "an integer >= 1" if whole else "a number > 0")

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


def _memory(f: _Fields) -> Memory | None:
    block = f.inner("memory")
    if block is None:
        return None

    def rank(m: _Fields) -> RankMemory:
        return RankMemory(rank=m.count("rank", optional=True),
                          peak_rss=m.count("peak_rss", optional=True),
                          rss_growth=m.integer("rss_growth"))

    writer = block.inner("writer")
    readers = block.obj.get("readers", [])
    if not isinstance(readers, list):
        raise block.fail("readers", "a list of objects")
    entries = []
    for i, entry in enumerate(readers):
        if not isinstance(entry, dict):
            raise InputError(f"{f.path}: {block.where}.readers[{i}]: expected an object, "
                             f"got {type(entry).__name__}")
        entries.append(rank(_Fields(f.path, f"{block.where}.readers[{i}]", entry)))
    return Memory(writer=None if writer is None else rank(writer), readers=tuple(entries))


def _latency(f: _Fields) -> Latency | None:
    block = f.inner("update_latency")
    if block is None:
        return None
    median, p99 = block.number("median"), block.number("p99")
    if median is None or p99 is None:
        raise block.fail("median" if median is None else "p99", "a non-negative number")
    samples = block.obj.get("samples")
    return Latency(median, p99, len(samples) if isinstance(samples, list) else 0)


def _read_cap(f: _Fields) -> ReadCap | None:
    block = f.inner("read_cap")
    if block is None:
        return None
    iterations = block.count("iterations", least=1)
    reason = block.text("reason")
    assert iterations is not None and reason is not None  # not optional: checked above
    return ReadCap(iterations, reason)


def _record(path: Path, index: int, entry: Any, harness: str,
            defaults: _Defaults) -> Record:
    where = f"results[{index}]"
    if not isinstance(entry, dict):
        raise InputError(f"{path}: {where}: expected an object, got {type(entry).__name__}")
    f = _Fields(path, where, entry)
    backend = f.text("backend")
    payload = entry.get("payload", defaults.payload)
    # Entries are counted; MiB of weights may be a fraction of one.
    size = f.size("data_size", whole=payload != "training")
    assert backend is not None  # not optional: checked above
    # Name the record in later messages, now that it can be named.
    f.where = f"{where} ({backend})"
    if payload not in SIZE_UNITS:
        raise f.fail("payload", " or ".join(map(repr, SIZE_UNITS)))
    f.where = f"{where} ({backend}, {fmt_size(size)} {SIZE_UNITS[payload]})"
    unit = entry.get("size_unit", SIZE_UNITS[payload])
    if unit != SIZE_UNITS[payload]:
        raise f.fail("size_unit", f"{SIZE_UNITS[payload]!r} (the {payload} payload's)")
    workload = entry.get("workload", defaults.workload)
    if workload not in WORKLOADS:
        raise f.fail("workload", " or ".join(map(repr, WORKLOADS)))
    readers = entry.get("readers", defaults.readers)
    if isinstance(readers, bool) or not isinstance(readers, int) or readers < 1:
        raise f.fail("readers", "an integer >= 1 (or metadata.readers in a version 1 file)")
    status = f.text("status", STATUSES)
    ok = status == "ok"
    write, read = f.stats("write"), f.stats("read")
    if ok and (write is None or read is None):
        raise f.fail("read" if read is None else "write",
                     "statistics (the record's status is 'ok')")
    implementation = f.text("implementation", KNOWN_IMPLEMENTATIONS, optional=True)
    cross_node = entry.get("cross_node", False)
    if not isinstance(cross_node, bool):
        raise f.fail("cross_node", "true or false")
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
        payload=str(payload),
        size_unit=str(unit),
        readers=readers,
        cross_node=cross_node,
        read_cap=_read_cap(f),
        # As with the times: what a failed case measured is not the backend's.
        memory=_memory(f) if ok else None,
        update_latency=_latency(f) if ok else None,
        update_latency_note=f.text("update_latency_note", optional=True),
        memcpy=f.stats("memcpy") if ok else None,
    )
