"""The CSV summaries (one row per record, every harness, workload, payload and reader
count; memory: one row per rank) and the Markdown tables of report.md (one row per
backend, one column per size)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Callable

from ..formatting import fmt_bytes, fmt_rate, fmt_time
from .dataset import Dataset, Group
from .load import Record, Stats, fmt_size
from .targets import write_csv as write_targets_csv

_IDENTITY = ["harness", "workload", "backend", "display_name", "implementation", "reference",
             "data_size", "status", "payload", "size_unit", "readers", "cross_node"]
_STATS = ["median", "min", "p90", "p99", "max", "mean", "std"]
_MEMORY = ["harness", "workload", "payload", "size_unit", "data_size", "readers", "backend",
           "implementation", "role", "rank", "peak_rss_bytes", "rss_growth_bytes"]


def _identity(r: Record) -> list[object]:
    return [r.harness, r.workload, r.backend, r.display_name, r.implementation,
            r.reference, r.data_size, r.status, r.payload, r.size_unit, r.readers,
            r.cross_node]


def _memory_rows(r: Record) -> list[list[object]]:
    if r.memory is None:
        return []
    head = [r.harness, r.workload, r.payload, r.size_unit, r.data_size, r.readers, r.backend,
            r.implementation]
    ranks = [("writer", r.memory.writer)] if r.memory.writer is not None else []
    ranks += [("reader", m) for m in r.memory.readers]
    return [head + [role, m.rank, m.peak_rss, m.rss_growth] for role, m in ranks]


def _stats(s: Stats | None) -> list[object]:
    if s is None:
        return [None] * (len(_STATS) + 1)
    return [s.median, s.min, s.p90, s.p99, s.max, s.mean, s.std, s.count]


def write_csvs(dataset: Dataset, out: Path) -> list[Path]:
    """write_summary.csv, read_summary.csv, memory_summary.csv and, with training
    records, training_targets.csv (targets.py). The original's columns
    (write_time, avg_read_time, throughput) keep their names and meaning; times are in
    seconds, memory in bytes, an empty cell is a value not measured (every time of a
    failed or skipped record)."""
    write_header = _IDENTITY + ["write_time"] + [f"write_{s}_s" for s in _STATS] + [
        "writes", "payload_bytes", "error"]
    read_header = _IDENTITY + ["avg_read_time", "throughput"] + [
        f"read_{s}_s" for s in _STATS] + ["reads", "aggregate_reads_per_s", "verified",
                                          "error", "read_cap_iterations", "read_cap_reason",
                                          "update_latency_median_s", "update_latency_p99_s",
                                          "update_latency_samples", "update_latency_note"]
    write_rows, read_rows, memory_rows = [], [], []
    for r in dataset.records:
        write_rows.append(_identity(r) + [r.write_time] + _stats(r.write) + [
            r.payload_bytes, r.error])
        cap, lat = r.read_cap, r.update_latency
        read_rows.append(_identity(r) + [r.avg_read_time, r.throughput] + _stats(r.read) + [
            r.aggregate_reads_per_s, r.verified, r.error,
            cap.iterations if cap else None, cap.reason if cap else None,
            lat.median if lat else None, lat.p99 if lat else None,
            lat.count if lat else None, r.update_latency_note])
        memory_rows += _memory_rows(r)
    paths = []
    for name, header, rows in (("write_summary.csv", write_header, write_rows),
                               ("read_summary.csv", read_header, read_rows),
                               ("memory_summary.csv", _MEMORY, memory_rows)):
        path = out / name
        with open(path, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows([["" if v is None else v for v in row] for row in rows])
        paths.append(path)
    targets = write_targets_csv(dataset, out)
    return paths + ([targets] if targets is not None else [])


def markdown(header: list[str], rows: list[list[str]], left: int = 1) -> str:
    """A Markdown table; the first ``left`` columns are names (left-aligned), the rest
    numbers (right-aligned)."""
    def clean(cell: str) -> str:
        return cell.replace("|", "\\|").replace("\n", " ")

    align = [":--" if i < left else "--:" for i in range(len(header))]
    lines = [header, align] + rows
    return "\n".join("| " + " | ".join(clean(c) for c in line) + " |" for line in lines)


def by_size(group: Group, cell: Callable[[Record], str]) -> str:
    """Backends down, sizes across; FAILED (or SKIPPED) for a record that did not
    succeed, "-" for none."""
    header = ["backend", "impl"] + [f"{fmt_size(s)} {group.unit}" for s in group.sizes]
    rows = []
    for backend, records in group.series.items():
        impl = next(iter(records.values())).implementation
        row = [f"`{backend}`", impl]
        for size in group.sizes:
            r = records.get(size)
            row.append("-" if r is None else cell(r) if r.ok else r.status.upper())
        rows.append(row)
    return markdown(header, rows, left=2)


def write_cell(r: Record) -> str:
    return fmt_time(r.write.median if r.write else None)


def read_cell(r: Record) -> str:
    if r.read is None:
        return "-"
    return f"{fmt_time(r.read.median)} / {fmt_time(r.read.p99)}"


def rate_cell(r: Record) -> str:
    return f"{fmt_rate(r.throughput)} / {fmt_rate(r.aggregate_reads_per_s)}"


def fmt_signed_bytes(n: int | None) -> str:
    """Bytes with a unit; a negative growth keeps its sign."""
    if n is None:
        return "-"
    return f"-{fmt_bytes(-n)}" if n < 0 else fmt_bytes(n)


def update_cell(r: Record) -> str:
    lat = r.update_latency
    if lat is None:
        return "-"
    return f"{fmt_time(lat.median)} / {fmt_time(lat.p99)}"


def memory_cell(r: Record) -> str:
    if r.memory is None:
        return "-"
    return (f"{fmt_signed_bytes(r.memory.reader_peak())} / "
            f"{fmt_signed_bytes(r.memory.reader_growth())}")
