"""report.md: the recommendation, the environment, the figures and the tables. Every
figure in it comes from the records; nothing is typed in."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..formatting import fmt_ratio, fmt_time
from .compare import harness_pairs, speedups
from .dataset import HARNESS_LABELS, Dataset
from ..backends import properties
from .recommend import Recommendation
from .tables import by_size, markdown, rate_cell, read_cell, write_cell

#: Metadata shown in the environment table, in this order (docs/results-schema.md).
ENVIRONMENT = ("harness", "created_utc", "host", "os", "cpu_model", "cpu_cores", "ranks",
               "readers", "ranks_per_core", "idle_wait", "python", "mpi_library",
               "package_version", "git_commit", "versions")
CONFIG = ("workload", "backends", "sizes", "iterations", "warmup", "repeat", "seed")


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
    return "\n\n".join([
        f"From the {HARNESS_LABELS[dataset.primary_harness]}'s records: medians at the "
        "largest size measured; a backend that failed at any size is not a candidate "
        "(rules: `python/ipc_benchmark/analysis/recommend.py`).",
        table,
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
            parts += [f"{g.label}:", markdown(["backend", "vs", "entries", "read speedup",
                                               "write speedup"], rows, left=2)]
    if not parts:
        return "No Rust backend ran with its reference backend at the same size."
    return "\n\n".join(["Reference median / Rust median (above 1: the Rust backend is "
                        "faster)."] + parts)


def _harness_table(dataset: Dataset, skipped: str | None) -> str:
    pairs = harness_pairs(dataset)
    if not pairs:
        return skipped or "No backend ran under both harnesses."
    rows = []
    for (workload, backend), ps in pairs.items():
        for p in ps:
            a = p.base.read.median if p.base.read else None
            b = p.fast.read.median if p.fast.read else None
            rows.append([f"`{backend}`", workload, str(p.size), fmt_time(a), fmt_time(b),
                         fmt_ratio(p.ratio("read"))])
    return markdown(["backend", "workload", "entries", "read median, Python harness",
                     "read median, native harness", "Python / native"], rows, left=2)


def _latency_table(dataset: Dataset) -> str:
    parts = []
    for g in dataset.groups():
        size = g.largest_size()
        rows = []
        for b in g.series:
            r = g.ok(b, size)
            if r is None or r.read is None:
                rows.append([f"`{b}`", "-", "-", "-", "-", "-", "FAILED" if b in
                             g.failed_backends() else "not measured"])
                continue
            st = r.read
            rows.append([f"`{b}`", fmt_time(st.min), fmt_time(st.median), fmt_time(st.p90),
                         fmt_time(st.p99), fmt_time(st.max), str(st.count)])
        parts += [f"{g.label}, {size} entries:",
                  markdown(["backend", "min", "p50", "p90", "p99", "max", "reads"], rows)]
    return "\n\n".join(parts)


def _failures(dataset: Dataset) -> str:
    failed = [r for r in dataset.records if not r.ok]
    if not failed:
        return "None: every record is `ok`."
    return "\n".join(f"- `{r.backend}`, {r.data_size} entries, "
                     f"{HARNESS_LABELS[r.harness]}, {r.workload} workload "
                     f"(`{r.source.name}`): {r.error or 'no error recorded'}"
                     for r in failed)


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
        f"{len(f.records)} records, created {f.metadata.get('created_utc', '-')}"
        for f in dataset.files)
    harness_skip = next((p.caption for p in plots
                         if p.name == "harness_comparison.png" and p.path is None), None)
    sections: list[tuple[str, str]] = [
        ("Recommendation", recommendation(recs, dataset)),
    ]
    if dataset.warnings:
        sections.append(("Notes on the input", "\n".join(f"- {w}" for w in dataset.warnings)))
    sections += [
        ("Environment", environment(dataset)),
        ("Figures", _plots(plots)),
        ("Write time (median)", "\n\n".join(
            f"{g.label}:\n\n{by_size(g, write_cell)}" for g in dataset.groups())),
        ("Read time (median / p99)", "\n\n".join(
            f"{g.label}:\n\n{by_size(g, read_cell)}" for g in dataset.groups())),
        ("Throughput (per reader / all readers together)", "\n\n".join(
            f"{g.label}:\n\n{by_size(g, rate_cell)}" for g in dataset.groups())),
        ("Read latency at the largest size", _latency_table(dataset)),
        ("Rust backends against their references", _speedup_tables(dataset)),
        ("Python harness against the native harness", _harness_table(dataset, harness_skip)),
        ("Failures", _failures(dataset)),
    ]
    head = ("# IPC benchmark report\n\nWritten by `analyze_results.py` from:\n\n" + sources
            + "\n\nTimes are per operation; `-` is a value not measured, FAILED a failed "
              "case (docs/results-schema.md). The CSVs beside this file hold every "
              "record.")
    return "\n\n".join([head] + [f"## {title}\n\n{body}" for title, body in sections]) + "\n"


def write_report(path: Path, dataset: Dataset, recs: list[Recommendation],
                 plots: list[Plot]) -> Path:
    path.write_text(render(dataset, recs, plots), encoding="utf-8")
    return path
