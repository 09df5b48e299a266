"""The figures. Each function draws one PNG and returns what report.md says about it;
a figure the data cannot support is skipped (and an old copy removed), with the reason."""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes

from .compare import Pair, harness_pairs, speedups
from .dataset import HARNESS_LABELS, Dataset, Group
from .load import Record, Stats
from .plotstyle import (Styles, dodge, figure, finish, label, ratio_axis, seconds, size_axis,
                        value_axis)
from .report import Plot

#: The spread drawn around each median. p90 rather than p99 as the upper end: on an
#: oversubscribed machine a few reads wait for a core, their p99 whiskers would hide every
#: line under them; the tail has its own figure, latency_distribution.png.
WHISKERS = ("point: median; whisker: fastest (min) to p90 (p99 and the slowest: "
            "latency_distribution.png)")


def _skip(out: Path, name: str, why: str) -> Plot:
    (out / name).unlink(missing_ok=True)  # a stale figure would contradict the report
    return Plot(name, None, why)


def _left_out(group: Group) -> list[str]:
    notes = []
    for backend, by_size in group.series.items():
        failed = sorted(r.data_size for r in by_size.values() if not r.ok)
        if failed:
            notes.append(f"{label(backend)} failed at {', '.join(map(str, failed))} entries")
    return [f"Not plotted ({group.label}): " + "; ".join(notes) + "."] if notes else []


def _stats(r: Record, op: str) -> Stats | None:
    return r.write if op == "write" else r.read


def _timeline(ax: Axes, group: Group, styles: Styles, op: str) -> None:
    """Median time of ``op`` per size, one line per backend, whiskers min to p90."""
    drawn = {b: [s for s in group.sizes if group.ok(b, s)] for b in group.series}
    drawn = {b: sizes for b, sizes in drawn.items() if sizes}
    values = []
    for b, sizes in drawn.items():
        for s in sizes:
            st = _stats(group.series[b][s], op)
            if st is not None:
                values += [st.min, st.p90]
    log = size_axis(ax, group.sizes)
    span = float(group.sizes[-1] - group.sizes[0]) or float(group.sizes[0])
    for k, (b, sizes) in enumerate(drawn.items()):
        stats = [st for s in sizes if (st := _stats(group.series[b][s], op)) is not None]
        mid = [st.median for st in stats]
        low = [st.median - st.min for st in stats]
        high = [st.p90 - st.median for st in stats]
        ax.errorbar(dodge(sizes, k, len(drawn), log, span), mid, yerr=[low, high],
                    capsize=3, elinewidth=1, **styles.line(b))
    value_axis(ax, values, f"time per {op}", "s")


def _drawable(dataset: Dataset) -> list[Group]:
    """The primary harness's groups with at least one successful record."""
    return [g for g in dataset.groups(dataset.primary_harness)
            if any(r.ok for by_size in g.series.values() for r in by_size.values())]


def _nothing(out: Path, name: str, dataset: Dataset) -> Plot:
    return _skip(out, name, "skipped: no successful record to plot "
                            f"({HARNESS_LABELS[dataset.primary_harness]})")


def _by_workload(dataset: Dataset, styles: Styles, out: Path, name: str, op: str,
                 title: str, extra: list[str]) -> Plot:
    groups = _drawable(dataset)
    if not groups:
        return _nothing(out, name, dataset)
    if op == "write":
        # A write is the same whatever the readers do; one panel, the first workload's.
        groups = groups[:1]
    caption = [WHISKERS + "; lower is better. " + " ".join(extra)]
    for g in groups:
        caption += _left_out(g)
    fig, axes = figure(len(groups), caption)
    for ax, g in zip(axes, groups):
        _timeline(ax, g, styles, op)
        ax.set_title(f"{title}\n{g.label}, {_readers(dataset, g)}")
    return Plot(name, finish(fig, axes, caption, out / name), " ".join(caption))


def _readers(dataset: Dataset, g: Group) -> str:
    readers = {f.metadata.get("readers") for f in dataset.files
               if f.harness == g.harness and any(r.workload == g.workload for r in f.records)}
    n = readers.pop() if len(readers) == 1 else None
    if not isinstance(n, int):
        return "readers differ between files"
    return f"1 writer + {n} reader{'s' if n != 1 else ''}"


def write_performance(dataset: Dataset, styles: Styles, out: Path) -> Plot:
    return _by_workload(dataset, styles, out, "write_performance.png", "write",
                        "Write: one complete snapshot",
                        ["Message backends (one message per read) time one write that "
                         "serves every read."])


def read_performance(dataset: Dataset, styles: Styles, out: Path) -> Plot:
    workloads = {g.workload for g in dataset.groups(dataset.primary_harness)}
    return _by_workload(dataset, styles, out, "read_performance.png", "read",
                        "Read: fetch and decode (all readers' reads pooled)",
                        ["A 'get' read decodes one random key."] if "get" in workloads else [])


def throughput(dataset: Dataset, styles: Styles, out: Path) -> Plot:
    groups = _drawable(dataset)
    if not groups:
        return _nothing(out, "throughput.png", dataset)
    caption = ["Reads per second of one reader: 1 / mean read time (the original's "
               "'throughput'); higher is better. Its spread is that of "
               "read_performance.png."]
    for g in groups:
        caption += _left_out(g)
    fig, axes = figure(len(groups), caption)
    for ax, g in zip(axes, groups):
        size_axis(ax, g.sizes)
        values = []
        for b in g.series:
            pts = [(s, r.throughput) for s in g.sizes
                   if (r := g.ok(b, s)) is not None and r.throughput is not None]
            if pts:
                ax.plot([s for s, _ in pts], [v for _, v in pts], **styles.line(b))
                values += [v for _, v in pts]
        value_axis(ax, values, "reads per second, per reader", "/s")
        ax.set_title(f"Throughput\n{g.label}, {_readers(dataset, g)}")
    return Plot("throughput.png", finish(fig, axes, caption, out / "throughput.png"),
                " ".join(caption))


def speedup(dataset: Dataset, styles: Styles, out: Path) -> Plot:
    name = "speedup.png"
    panels: list[tuple[str, str, dict[tuple[str, str], list[Pair]]]] = []
    groups = dataset.groups(dataset.primary_harness)
    for g in groups:
        pairs = speedups(g)
        if pairs:
            panels.append((f"read, {g.workload} workload", "read", pairs))
    if panels:
        # Writes: the first workload's, as in write_performance.png.
        panels.append(("write", "write", speedups(groups[0])))
    panels = [p for p in panels if p[2]]
    if not panels:
        return _skip(out, name, "skipped: no Rust backend ran with its reference backend "
                                f"at the same size ({HARNESS_LABELS[dataset.primary_harness]})")
    caption = ["Speedup = reference median / Rust median at each size (above 1: the Rust "
               "backend is faster). Medians only; the spread is in the time plots.",
               "py-zmq's write serves every read (one message per read), so its write "
               "ratios compare different work."]
    fig, axes = figure(len(panels), caption)
    for ax, (title, op, pairs) in zip(axes, panels):
        sizes = sorted({p.size for ps in pairs.values() for p in ps})
        size_axis(ax, sizes)
        ratios = []
        for (backend, ref), ps in pairs.items():
            pts = [(p.size, r) for p in ps if (r := p.ratio(op)) is not None]
            style = styles.line(backend) | {"label": f"{label(backend)} vs {label(ref)}"}
            ax.plot([s for s, _ in pts], [r for _, r in pts], **style)
            ratios += [r for _, r in pts]
        ratio_axis(ax, ratios, "speedup (x times faster)")
        ax.set_title(f"Rust backend vs the reference it replaces\n{title} "
                     f"({HARNESS_LABELS[dataset.primary_harness]})")
    return Plot(name, finish(fig, axes, caption, out / name), " ".join(caption))


def harness_comparison(dataset: Dataset, out: Path) -> Plot:
    name = "harness_comparison.png"
    if {"python", "rust"} - set(dataset.harnesses):
        given = HARNESS_LABELS[dataset.harnesses[0]]
        make = ("mpiexec -n 4 python benchmark_mpi.py" if "python" not in dataset.harnesses
                else "make native, then mpiexec -n 4 target/release/ipc-mpi-bench")
        return _skip(out, name, f"skipped: needs files of both harnesses, only the {given}'s "
                                f"were given (the other's: {make})")
    pairs = harness_pairs(dataset)
    if not pairs:
        return _skip(out, name, "skipped: no backend ran successfully under both "
                                "harnesses with the same workload")
    colors = {"python": "tab:blue", "rust": "tab:orange"}
    caption = [WHISKERS + " (reads); dashed: median write. Same backend name, same "
               "payload; the Python harness decodes into Python objects, the native one "
               "into a Rust value."]
    # One row per workload, one column per backend, so that a backend's panels line up.
    workloads = list(dict.fromkeys(workload for workload, _ in pairs))
    rows = [[key for key in pairs if key[0] == w] for w in workloads]
    columns = max(len(row) for row in rows)
    fig, grid = figure(len(rows) * columns, caption, columns=columns)
    axes = []
    for r, row in enumerate(rows):
        for c, ax in enumerate(grid[r * columns:(r + 1) * columns]):
            if c < len(row):
                axes.append(ax)
            else:
                fig.delaxes(ax)
    for ax, key in zip(axes, [key for row in rows for key in row]):
        (workload, backend), ps = key, pairs[key]
        sizes = [p.size for p in ps]
        log = size_axis(ax, sizes)
        span = float(sizes[-1] - sizes[0]) or float(sizes[0])
        values: list[float] = []
        for k, (harness, recs) in enumerate((("python", [p.base for p in ps]),
                                              ("rust", [p.fast for p in ps]))):
            reads = [r.read for r in recs if r.read is not None]
            writes = [r.write.median for r in recs if r.write is not None]
            xs = dodge(sizes, k, 2, log, span)
            ax.errorbar(xs, [s.median for s in reads],
                        yerr=[[s.median - s.min for s in reads],
                              [s.p90 - s.median for s in reads]],
                        color=colors[harness], marker="o", capsize=3, linewidth=1.8,
                        label=f"read, {HARNESS_LABELS[harness]}")
            ax.plot(xs, writes, color=colors[harness], marker="s", linestyle="--",
                    markerfacecolor="white", label=f"write, {HARNESS_LABELS[harness]}")
            values += [s.min for s in reads] + [s.p90 for s in reads] + writes
        value_axis(ax, values, "time per operation", "s")
        first = ps[0]
        ax.set_title(f"{backend}, {workload} workload\nPython: {first.base.display_name}"
                     f" · native: {first.fast.display_name}", fontsize=10)
    return Plot(name, finish(fig, axes, caption, out / name), " ".join(caption))


def latency_distribution(dataset: Dataset, styles: Styles, out: Path) -> Plot:
    name = "latency_distribution.png"
    groups = _drawable(dataset)
    if not groups:
        return _nothing(out, name, dataset)
    caption = ["Per-read times of every reader at the largest size: markers at p50 "
               "(median), p90 and p99; the grey line spans fastest to slowest read. "
               "Number: the median."]
    rows_per_group = []
    for g in groups:
        size = g.largest_size()
        rows = [(b, r.read) for b in g.series
                if (r := g.ok(b, size)) is not None and r.read is not None]
        missing = [f"{label(b)} ({'not measured' if size not in g.series[b] else 'failed'})"
                   for b in g.series if g.ok(b, size) is None]
        if missing:
            caption.append(f"Not plotted ({g.label}, {size} entries): "
                           f"{', '.join(missing)}.")
        rows_per_group.append((g, size, rows))
    height = max(3.0, 1.4 + 0.42 * max(len(rows) for _, _, rows in rows_per_group))
    fig, axes = figure(len(groups), caption, height=height)
    # Drawn widest first, so that equal percentiles (few samples) all stay visible.
    marks = (("p99", "D", "tab:red", 9), ("p90", "^", "tab:orange", 7),
             ("p50", "o", "tab:blue", 5))
    for ax, (g, size, rows) in zip(axes, rows_per_group):
        rows = sorted(rows, key=lambda row: row[1].median, reverse=True)  # fastest on top
        ys = list(range(len(rows)))
        for y, (b, st) in zip(ys, rows):
            ax.plot([st.min, st.max], [y, y], color="0.6", linewidth=2, zorder=1)
            for key, marker, color, points in marks:
                ax.plot([getattr(st, "median" if key == "p50" else key)], [y],
                        marker=marker, color=color, linestyle="none", markersize=points,
                        label=key, zorder=2)
        ax.set_yticks(ys, [label(b) for b, _ in rows])
        ax.set_ylim(-0.7, len(rows) - 0.3)
        values = [v for _, st in rows for v in (st.min, st.max)]
        log = value_axis(ax, values, "time per read", "s", axis="x")
        # Room on the right for the numbers.
        if log:
            low, high = min(values), max(values)
            ax.set_xlim(low / 1.5, high * (high / low) ** 0.25)
        elif values:
            ax.set_xlim(0, max(values) * 1.25)
        for y, (_, st) in zip(ys, rows):
            ax.annotate(seconds(st.median), (st.max, y), xytext=(9, 0),
                        textcoords="offset points", va="center", fontsize=8, color="0.25")
        ax.set_title(f"Read latency at {size:,} entries\n{g.label}, all readers' "
                     "reads pooled")
    return Plot(name, finish(fig, axes, caption, out / name), " ".join(caption))


def all_plots(dataset: Dataset, out: Path) -> list[Plot]:
    styles = Styles(dataset)
    return [
        write_performance(dataset, styles, out),
        read_performance(dataset, styles, out),
        throughput(dataset, styles, out),
        speedup(dataset, styles, out),
        harness_comparison(dataset, out),
        latency_distribution(dataset, styles, out),
    ]

