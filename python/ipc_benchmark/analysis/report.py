"""report.md: the recommendation, the environment, the figures and the tables. Every
figure in it comes from the records; nothing is typed in."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..backends import properties
from ..formatting import fmt_rate, fmt_ratio, fmt_time
from .compare import harness_pairs, peer_pairs, speedups
from .dataset import HARNESS_LABELS, Dataset
from .load import Record, fmt_size
from .recommend import Recommendation, peer_findings
from .tables import (by_size, fmt_signed_bytes, markdown, memory_cell, rate_cell, read_cell,
                     update_cell, write_cell)
from .targets import HEADER as TARGETS_HEADER, table_rows, training_groups

#: Metadata shown in the environment table, in this order (docs/results-schema.md).
ENVIRONMENT = ("harness", "created_utc", "host", "os", "cpu_model", "cpu_cores", "ranks",
               "readers", "ranks_per_core", "idle_wait", "python", "mpi_library",
               "package_version", "git_commit", "versions")
CONFIG = ("workload", "backends", "sizes", "iterations", "warmup", "repeat", "seed",
          "payload", "array_mb", "reader_counts", "nodes", "zmq_host")
#: The columns of the table of every backend ("Every backend"), after backend and impl.
EVERY_BACKEND = ("status", "verified", "read median", "read p99", "write median",
                 "write p99", "update median", "update p99", "reads/s (all readers)",
                 "peak RSS per reader")
#: A failure's or skip's reason is cut to this many characters in that table.
REASON_CHARS = 70


@dataclass(frozen=True)
class Plot:
    """A figure as the report shows it (plots.py draws them)."""

    name: str
    #: None when the figure was skipped; ``caption`` then says why.
    path: Path | None
    caption: str


def _show(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    if isinstance(value, list):
        return " ".join(map(str, value))
    return " ".join(str(value).split())  # one line, runs of blanks collapsed


def environment(dataset: Dataset) -> str:
    header = ["", *(f"`{f.path.name}`" for f in dataset.files)]
    rows = [[key] + [_show(f.metadata.get(key)) for f in dataset.files]
            for key in ENVIRONMENT]
    # A commit is found by its first 12 digits; all 40 make the table too wide.
    rows[ENVIRONMENT.index("git_commit")][1:] = [
        c[:12] for c in rows[ENVIRONMENT.index("git_commit")][1:]]
    rows += [[f"config.{key}"] + [_show(f.config.get(key)) for f in dataset.files]
             for key in CONFIG]
    rows.append(["command line"] + [_show(f.metadata.get("command_line"))
                                    for f in dataset.files])
    return markdown(header, rows, left=len(header))


def recommendation(recs: list[Recommendation], dataset: Dataset) -> str:
    rows = [[r.question, f"`{r.backend}`" if r.backend else "none", r.evidence] for r in recs]
    table = markdown(["question", "backend", "evidence"], rows, left=3)
    names = list(dict.fromkeys(r.backend for r in dataset.records))
    props = []
    for name in names:
        p = properties(name)
        props.append([f"`{name}`"] + (["unknown"] * 3 + ["not a built-in backend"]
                                      if p is None else
                                      [_show(p.persistent), _show(p.across_machines),
                                       _show(p.message_per_read), p.note]))
    findings = peer_findings(dataset)
    peers = ["Against the peers (the libraries people already use):",
             "\n".join(f"- {f}" for f in findings)] if findings else []
    return "\n\n".join([
        f"From the {HARNESS_LABELS[dataset.primary_harness]}'s records: medians at the "
        "largest size measured; a backend that failed at any size is not a candidate "
        "(rules: `python/ipc_benchmark/analysis/recommend.py`).",
        table,
        *peers,
        "Properties of each backend's kind (`python/ipc_benchmark/backends.json`):",
        markdown(["backend", "persistent", "across machines", "one message per read",
                  "why"], props, left=5),
    ])


def _speedup_tables(dataset: Dataset) -> str:
    parts = []
    for g in dataset.groups(dataset.primary_harness):
        rows = []
        for (backend, ref), pairs in speedups(g).items():
            for p in pairs:
                cells = [fmt_ratio(p.ratio(op)) for op in ("read", "write")]
                rows.append([f"`{backend}`", f"`{ref}`", str(p.size), *cells])
        if rows:
            parts += [f"{g.label}, {g.readers_text}:",
                      markdown(["backend", "vs", g.unit, "read speedup", "write speedup"],
                               rows, left=2)]
    if not parts:
        return "No Rust backend ran with its reference backend at the same size."
    return "\n\n".join(["Reference median / Rust median (above 1: the Rust backend is "
                        "faster)."] + parts)


def _harness_table(dataset: Dataset, skipped: str | None) -> str:
    pairs = harness_pairs(dataset)
    if not pairs:
        return skipped or "No backend ran under both harnesses."
    rows = []
    # Sizes in entries as before; with the training payload too, each size names its unit.
    mixed = dataset.payload_shown()
    for (workload, backend), ps in pairs.items():
        for p in ps:
            a = p.base.read.median if p.base.read else None
            b = p.fast.read.median if p.fast.read else None
            size = p.base.size_text() if mixed else str(p.size)
            rows.append([f"`{backend}`", workload, size, fmt_time(a), fmt_time(b),
                         fmt_ratio(p.ratio("read"))])
    return markdown(["backend", "workload", "size" if mixed else "entries",
                     "read median, Python harness", "read median, native harness",
                     "Python / native"], rows, left=2)


def _latency_table(dataset: Dataset) -> str:
    parts = []
    for g in dataset.groups():
        size = g.largest_size()
        rows = []
        for b in g.series:
            r = g.ok(b, size)
            if r is None or r.read is None:
                status = g.series[b][size].status.upper() if size in g.series[b] else \
                    "not measured"
                rows.append([f"`{b}`", "-", "-", "-", "-", "-", status])
                continue
            st = r.read
            rows.append([f"`{b}`", fmt_time(st.min), fmt_time(st.median), fmt_time(st.p90),
                         fmt_time(st.p99), fmt_time(st.max), str(st.count)])
        parts += [f"{g.label}, {fmt_size(size)} {g.unit}:",
                  markdown(["backend", "min", "p50", "p90", "p99", "max", "reads"], rows)]
    return "\n\n".join(parts)


def _failures(dataset: Dataset) -> str:
    failed = [r for r in dataset.records if not r.ok]
    if not failed:
        return "None: every record is `ok`."
    return "\n".join(f"- `{r.backend}`, {r.size_text()}, "
                     f"{HARNESS_LABELS[r.harness]}, {r.workload} workload"
                     + (f", {r.payload} payload" if dataset.payload_shown() else "")
                     + f", {r.readers} readers (`{r.source.name}`): "
                     + ("skipped: " if r.status == "skipped" else "")
                     + (r.error or "no error recorded")
                     for r in failed)


def _brief(text: str | None) -> str:
    text = " ".join((text or "no reason recorded").split())
    return text if len(text) <= REASON_CHARS else text[:REASON_CHARS - 3] + "..."


def _status(r: Record) -> str:
    if r.status != "ok":
        return f"{r.status}: {_brief(r.error)}"
    status = "ok"
    if r.read_cap is not None:
        status += f", reads capped at {r.read_cap.iterations}"
    if r.cross_node:
        status += ", readers on other nodes"
    return status


def _every_backend_row(r: Record) -> list[str]:
    cells = [f"`{r.backend}`", r.implementation, _status(r),
             ("yes" if r.verified else "NO") if r.ok else "-"]
    if not r.ok:
        return cells + ["-"] * (len(EVERY_BACKEND) - 2)
    lat = r.update_latency
    peak = r.memory.reader_peak() if r.memory is not None else None
    return cells + [
        fmt_time(r.read.median if r.read else None), fmt_time(r.read.p99 if r.read else None),
        fmt_time(r.write.median if r.write else None),
        fmt_time(r.write.p99 if r.write else None),
        fmt_time(lat.median if lat else None), fmt_time(lat.p99 if lat else None),
        fmt_rate(r.aggregate_reads_per_s), fmt_signed_bytes(peak)]


def every_backend(dataset: Dataset) -> str:
    """One table per workload, payload and size of every backend measured there (ours,
    the references, the peers, users'), at the headline reader count."""
    parts = []
    for g in dataset.groups(dataset.primary_harness):
        for size in g.sizes:
            rows = [_every_backend_row(by_size[size]) for by_size in g.series.values()
                    if size in by_size]
            notes = sorted({f"`{r.backend}`: {r.update_latency_note}"
                            for by_size in g.series.values()
                            if (r := by_size.get(size)) is not None
                            and r.update_latency is None and r.update_latency_note})
            parts += [f"{g.label}, {fmt_size(size)} {g.unit}, {g.readers_text}:",
                      markdown(["backend", "impl", *EVERY_BACKEND], rows, left=4)]
            if notes:
                parts.append("Update latency not measured: " + "; ".join(notes) + ".")
    return "\n\n".join(
        ["Times are medians and p99s per operation; update latency runs from the writer "
         "starting `write()` to a reader holding the new snapshot; peak RSS is the largest "
         "reader's. `-`: not measured."] + parts)


def _training_targets(dataset: Dataset) -> str:
    parts = ["The training payload's targets of issue 18 (rules: "
             "`python/ipc_benchmark/analysis/targets.py`): each a ratio of two medians of "
             "the same run, met when it is at most the limit. memcpy is the writer's copy of "
             "all the weights into fresh memory, timed in the case of the record named. "
             "Figures in seconds: `training_targets.csv`."]
    for g in training_groups(dataset):
        parts += [f"{g.label}, {g.readers_text}:",
                  markdown(TARGETS_HEADER, table_rows(g), left=len(TARGETS_HEADER))]
    return "\n\n".join(parts)


def _peer_tables(dataset: Dataset) -> str:
    parts = []
    for g in dataset.groups(dataset.primary_harness, every_reader_count=True):
        rows = []
        for (backend, peer), pairs in peer_pairs(g).items():
            for p in pairs:
                mine = p.fast.memory.reader_peak() if p.fast.memory else None
                theirs = p.base.memory.reader_peak() if p.base.memory else None
                memory = fmt_ratio(theirs / mine) if mine and theirs is not None else "-"
                rows.append([f"`{backend}`", f"`{peer}`", str(p.size),
                             *[fmt_ratio(p.ratio(op)) for op in ("read", "write", "update")],
                             memory])
        if rows:
            parts += [f"{g.label}, {g.readers_text}:",
                      markdown(["backend", "vs peer", g.unit, "read speedup",
                                "write speedup", "update latency speedup",
                                "peer RSS / ours"], rows, left=2)]
    if not parts:
        return "No Rust backend ran with a peer at the same size."
    return "\n\n".join(["Peer median / Rust median (above 1: the Rust backend is faster); "
                         "peak RSS per reader, peer / ours (above 1: ours needs less)."]
                        + parts)


def _scaling_tables(dataset: Dataset) -> str:
    parts = []
    h = dataset.primary_harness
    for g in dataset.groups(h):
        counts = dataset.reader_counts(h, g.workload, g.payload)
        if len(counts) < 2:
            continue
        groups = {n: dataset.group(h, g.workload, g.payload, n) for n in counts}
        size = g.largest_size()
        rows = []
        for b in g.series:
            row = [f"`{b}`"]
            for n in counts:
                r = groups[n].series.get(b, {}).get(size)
                row.append("-" if r is None else r.status.upper() if not r.ok else
                           f"{fmt_time(r.write.median if r.write else None)} / "
                           f"{fmt_rate(r.aggregate_reads_per_s)}")
            rows.append(row)
        parts += [f"{g.label}, {fmt_size(size)} {g.unit}, write median / reads per second "
                  "of all readers together:",
                  markdown(["backend", *(f"{n} reader{'s' if n != 1 else ''}"
                                         for n in counts)], rows)]
    return "\n\n".join(parts) if parts else (
        "One reader count only (run the harness with --readers 1,2,3 for a scaling curve).")


def _plots(plots: list[Plot]) -> str:
    parts = []
    for p in plots:
        if p.path is None:
            parts.append(f"**{p.name}**: {p.caption}.")
        else:
            parts.append(f"![{p.name}]({p.path.name})\n\n*{p.caption}*")
    return "\n\n".join(parts)


def render(dataset: Dataset, recs: list[Recommendation], plots: list[Plot]) -> str:
    sources = "\n".join(
        f"- `{f.path}`: {HARNESS_LABELS[f.harness]}, "
        f"{', '.join(sorted({r.workload for r in f.records})) or 'no'} workload, "
        f"{', '.join(sorted({r.payload for r in f.records})) or 'no'} payload, "
        f"{len(f.records)} records, created {f.metadata.get('created_utc', '-')}"
        for f in dataset.files)
    harness_skip = next((p.caption for p in plots
                         if p.name == "harness_comparison.png" and p.path is None), None)
    sections: list[tuple[str, str]] = [
        ("Recommendation", recommendation(recs, dataset)),
    ]
    if dataset.warnings:
        sections.append(("Notes on the input", "\n".join(f"- {w}" for w in dataset.warnings)))

    def per_group(cell: Callable[[Record], str]) -> str:
        return "\n\n".join(f"{g.label}, {g.readers_text}:\n\n{by_size(g, cell)}"
                            for g in dataset.groups())

    sections += [
        ("Every backend", every_backend(dataset)),
    ]
    if "training" in dataset.payloads:
        sections.append(("Training payload against the issue's targets",
                         _training_targets(dataset)))
    sections += [
        ("Environment", environment(dataset)),
        ("Figures", _plots(plots)),
        ("Write time (median)", per_group(write_cell)),
        ("Read time (median / p99)", per_group(read_cell)),
        ("Throughput (per reader / all readers together)", per_group(rate_cell)),
        ("Read latency at the largest size", _latency_table(dataset)),
        ("Update latency (median / p99)", per_group(update_cell)),
        ("Memory per reader (peak RSS / RSS growth over the timed reads)",
         per_group(memory_cell)),
        ("Reader scaling", _scaling_tables(dataset)),
        ("Rust backends against their references", _speedup_tables(dataset)),
        ("Rust backends against the peers", _peer_tables(dataset)),
        ("Python harness against the native harness", _harness_table(dataset, harness_skip)),
        ("Failures and skipped cases", _failures(dataset)),
    ]
    head = ("# IPC benchmark report\n\nWritten by `analyze_results.py` from:\n\n" + sources
            + "\n\nTimes are per operation; `-` is a value not measured, FAILED a failed "
              "case, SKIPPED one that did not run (docs/results-schema.md). The CSVs "
              "beside this file hold every record.")
    return "\n\n".join([head] + [f"## {title}\n\n{body}" for title, body in sections]) + "\n"


def write_report(path: Path, dataset: Dataset, recs: list[Recommendation],
                 plots: list[Plot]) -> Path:
    path.write_text(render(dataset, recs, plots), encoding="utf-8")
    return path
