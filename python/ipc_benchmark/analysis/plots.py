"""The figures. Each function draws one PNG and returns what report.md says about it;
a figure the data cannot support is skipped (and an old copy removed), with the reason."""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.ticker import EngFormatter

from .compare import Pair, harness_pairs, speedups
from .dataset import HARNESS_LABELS, Dataset, Group
from .load import SIZE_UNITS, Record, Stats, fmt_size
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


def named(name: str, payload: str) -> str:
    """The file of a figure for one payload: the seed's keeps the original name
    (write_performance.png), another payload's gets a suffix (write_performance_training.png)."""
    if payload == "seed":
        return name
    stem, dot, ext = name.rpartition(".")
    return f"{stem}_{payload}{dot}{ext}"


def _left_out(group: Group) -> list[str]:
    notes = []
    for backend, by_size in group.series.items():
        for status in ("failed", "skipped"):
            bad = sorted(r.data_size for r in by_size.values() if r.status == status)
            if bad:
                notes.append(f"{label(backend)} {status} at {', '.join(map(str, bad))} "
                             f"{group.unit}")
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
    log = size_axis(ax, group.sizes, group.unit)
    span = float(group.sizes[-1] - group.sizes[0]) or float(group.sizes[0])
    for k, (b, sizes) in enumerate(drawn.items()):
        stats = [st for s in sizes if (st := _stats(group.series[b][s], op)) is not None]
        mid = [st.median for st in stats]
        low = [st.median - st.min for st in stats]
        high = [st.p90 - st.median for st in stats]
        ax.errorbar(dodge(sizes, k, len(drawn), log, span), mid, yerr=[low, high],
                    capsize=3, elinewidth=1, **styles.line(b))
    value_axis(ax, values, f"time per {op}", "s")


def _drawable(dataset: Dataset, payload: str) -> list[Group]:
    """The primary harness's groups of that payload with at least one successful
    record, at their headline reader count."""
    return [g for g in dataset.groups(dataset.primary_harness, payload)
            if any(r.ok for by_size in g.series.values() for r in by_size.values())]


def _where(dataset: Dataset, payload: str) -> str:
    """The primary harness, and the payload when the data has more than the seed's."""
    shown = f", {payload} payload" if dataset.payload_shown() else ""
    return HARNESS_LABELS[dataset.primary_harness] + shown


def _nothing(out: Path, name: str, dataset: Dataset, payload: str) -> Plot:
    return _skip(out, name, f"skipped: no successful record to plot "
                            f"({_where(dataset, payload)})")


def _by_workload(dataset: Dataset, styles: Styles, out: Path, name: str, op: str,
                 title: str, extra: list[str], payload: str) -> Plot:
    name = named(name, payload)
    groups = _drawable(dataset, payload)
    if not groups:
        return _nothing(out, name, dataset, payload)
    if op == "write":
        # A write is the same whatever the readers do; one panel, the first workload's.
        groups = groups[:1]
    whiskers = WHISKERS.replace("latency_distribution.png",
                                named("latency_distribution.png", payload))
    caption = [(whiskers + "; lower is better. " + " ".join(extra)).rstrip()]
    for g in groups:
        caption += _left_out(g)
    fig, axes = figure(len(groups), caption)
    for ax, g in zip(axes, groups):
        _timeline(ax, g, styles, op)
        ax.set_title(f"{title}\n{g.label}, {g.readers_text}")
    return Plot(name, finish(fig, axes, caption, out / name), " ".join(caption))


def write_performance(dataset: Dataset, styles: Styles, out: Path,
                      payload: str = "seed") -> Plot:
    return _by_workload(dataset, styles, out, "write_performance.png", "write",
                        "Write: one complete snapshot",
                        ["Message backends (one message per read) time one write that "
                         "serves every read."], payload)


def read_performance(dataset: Dataset, styles: Styles, out: Path,
                     payload: str = "seed") -> Plot:
    workloads = {g.workload for g in dataset.groups(dataset.primary_harness, payload)}
    return _by_workload(dataset, styles, out, "read_performance.png", "read",
                        "Read: fetch and decode (all readers' reads pooled)",
                        ["A 'get' read decodes one random key."] if "get" in workloads else [],
                        payload)


def throughput(dataset: Dataset, styles: Styles, out: Path, payload: str = "seed") -> Plot:
    name = named("throughput.png", payload)
    groups = _drawable(dataset, payload)
    if not groups:
        return _nothing(out, name, dataset, payload)
    caption = ["Reads per second of one reader: 1 / mean read time (the original's "
               "'throughput'); higher is better. Its spread is that of "
               f"{named('read_performance.png', payload)}."]
    for g in groups:
        caption += _left_out(g)
    fig, axes = figure(len(groups), caption)
    for ax, g in zip(axes, groups):
        size_axis(ax, g.sizes, g.unit)
        values = []
        for b in g.series:
            pts = [(s, r.throughput) for s in g.sizes
                   if (r := g.ok(b, s)) is not None and r.throughput is not None]
            if pts:
                ax.plot([s for s, _ in pts], [v for _, v in pts], **styles.line(b))
                values += [v for _, v in pts]
        value_axis(ax, values, "reads per second, per reader", "/s")
        ax.set_title(f"Throughput\n{g.label}, {g.readers_text}")
    return Plot(name, finish(fig, axes, caption, out / name), " ".join(caption))


def speedup(dataset: Dataset, styles: Styles, out: Path, payload: str = "seed") -> Plot:
    name = named("speedup.png", payload)
    panels: list[tuple[str, str, dict[tuple[str, str], list[Pair]]]] = []
    groups = dataset.groups(dataset.primary_harness, payload)
    unit = SIZE_UNITS[payload]
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
                                f"at the same size ({_where(dataset, payload)})")
    caption = ["Speedup = reference median / Rust median at each size (above 1: the Rust "
               "backend is faster). Medians only; the spread is in the time plots.",
               "py-zmq's write serves every read (one message per read), so its write "
               "ratios compare different work."]
    fig, axes = figure(len(panels), caption)
    for ax, (title, op, pairs) in zip(axes, panels):
        sizes = sorted({p.size for ps in pairs.values() for p in ps})
        size_axis(ax, sizes, unit)
        ratios = []
        for (backend, ref), ps in pairs.items():
            pts = [(p.size, r) for p in ps if (r := p.ratio(op)) is not None]
            style = styles.line(backend) | {"label": f"{label(backend)} vs {label(ref)}"}
            ax.plot([s for s, _ in pts], [r for _, r in pts], **style)
            ratios += [r for _, r in pts]
        ratio_axis(ax, ratios, "speedup (x times faster)")
        shown = f", {payload} payload" if dataset.payload_shown() else ""
        ax.set_title(f"Rust backend vs the reference it replaces\n{title} "
                     f"({HARNESS_LABELS[dataset.primary_harness]}{shown})")
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
        log = size_axis(ax, sizes, ps[0].base.size_unit)
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


def latency_distribution(dataset: Dataset, styles: Styles, out: Path,
                         payload: str = "seed") -> Plot:
    name = named("latency_distribution.png", payload)
    groups = _drawable(dataset, payload)
    if not groups:
        return _nothing(out, name, dataset, payload)
    caption = ["Per-read times of every reader at the largest size: markers at p50 "
               "(median), p90 and p99; the grey line spans fastest to slowest read. "
               "Number: the median."]
    rows_per_group = []
    for g in groups:
        size = g.largest_size()
        rows = [(b, r.read) for b in g.series
                if (r := g.ok(b, size)) is not None and r.read is not None]
        missing = [f"{label(b)} ({r.status if (r := g.series[b].get(size)) else 'not measured'})"
                   for b in g.series if g.ok(b, size) is None]
        if missing:
            caption.append(f"Not plotted ({g.label}, {size} {g.unit}): "
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
        ax.set_title(f"Read latency at {fmt_size(size, grouped=True)} {g.unit}\n"
                     f"{g.label}, all readers' reads pooled")
    return Plot(name, finish(fig, axes, caption, out / name), " ".join(caption))


def _memory_panel(ax: Axes, g: Group, styles: Styles, which: str) -> list[float]:
    size_axis(ax, g.sizes, g.unit)
    values: list[float] = []
    for b in g.series:
        pts = []
        for s in g.sizes:
            r = g.ok(b, s)
            if r is None or r.memory is None:
                continue
            v = r.memory.reader_peak() if which == "peak" else r.memory.reader_growth()
            if v is not None:
                pts.append((s, float(v)))
        if pts:
            ax.plot([s for s, _ in pts], [v for _, v in pts], **styles.line(b))
            values += [v for _, v in pts]
    return values


def memory(dataset: Dataset, styles: Styles, out: Path, payload: str = "seed") -> Plot:
    """Per reader: peak RSS, and RSS growth over the timed reads, against payload size."""
    name = named("memory.png", payload)
    groups = [g for g in _drawable(dataset, payload)
              if any(r.ok and r.memory is not None and r.memory.readers
                     for by_size in g.series.values() for r in by_size.values())]
    if not groups:
        return _skip(out, name, "skipped: no record with memory measured "
                                f"({_where(dataset, payload)}; result files of schema "
                                "version 2 have it)")
    g = groups[0]  # what a reader holds does not depend on the workload much: one
    caption = ["Per reader, the largest of the readers' values: peak RSS over the case "
               "(left) and RSS growth over the timed reads (right, below 0: memory given "
               "back); lower is better. Peak RSS includes the interpreter and the "
               "libraries, the same for every backend."] + _left_out(g)
    fig, axes = figure(2, caption)
    for ax, which, title, axis_name in (
            (axes[0], "peak", "Peak RSS per reader", "peak RSS"),
            (axes[1], "growth", "RSS growth per reader over the timed reads", "RSS growth")):
        values = _memory_panel(ax, g, styles, which)
        if which == "growth" and any(v <= 0 for v in values):
            ax.axhline(0.0, color="0.3", linewidth=1)
            ax.yaxis.set_major_formatter(EngFormatter(unit="B"))
            ax.set_ylabel(axis_name)
        else:
            value_axis(ax, values, axis_name, "B")
        ax.set_title(f"{title}\n{g.label}, {g.readers_text}")
    return Plot(name, finish(fig, axes, caption, out / name), " ".join(caption))


def update_latency(dataset: Dataset, styles: Styles, out: Path,
                   payload: str = "seed") -> Plot:
    """How long after the writer starts write() a reader holds the new snapshot."""
    name = named("update_latency.png", payload)
    groups = [g for g in _drawable(dataset, payload)
              if any(r.ok and r.update_latency is not None
                     for by_size in g.series.values() for r in by_size.values())]
    if not groups:
        return _skip(out, name, "skipped: no record with update latency measured "
                                f"({_where(dataset, payload)})")
    g = groups[0]
    caption = ["Update latency: from the writer starting write() to a reader holding the "
               "new snapshot (woken, or polling, then a full read). Point: median; "
               "whisker: up to p99; lower is better."]
    notes = sorted({f"{label(r.backend)}: {r.update_latency_note}"
                    for by_size in g.series.values() for r in by_size.values()
                    if r.ok and r.update_latency is None and r.update_latency_note})
    if notes:
        caption.append("Not measured: " + "; ".join(notes) + ".")
    caption += _left_out(g)
    fig, axes = figure(1, caption)
    ax = axes[0]
    log = size_axis(ax, g.sizes, g.unit)
    span = float(g.sizes[-1] - g.sizes[0]) or float(g.sizes[0])
    series = {}
    for b in g.series:
        pts = [(s, lat) for s in g.sizes if (r := g.ok(b, s)) is not None
               and (lat := r.update_latency) is not None]
        if pts:
            series[b] = pts
    values: list[float] = []
    for k, (b, pts) in enumerate(series.items()):
        xs = dodge([s for s, _ in pts], k, len(series), log, span)
        mid = [lat.median for _, lat in pts]
        high = [lat.p99 - lat.median for _, lat in pts]
        ax.errorbar(xs, mid, yerr=[[0.0] * len(mid), high], capsize=3, elinewidth=1,
                    **styles.line(b))
        values += mid + [lat.p99 for _, lat in pts]
    value_axis(ax, values, "update latency", "s")
    ax.set_title(f"Update latency\n{g.label}, {g.readers_text}")
    return Plot(name, finish(fig, axes, caption, out / name), " ".join(caption))


#: The scaling figure's columns: what is plotted against the number of readers.
SCALING = (("write", "write median", "s"),
           ("aggregate", "reads per second, all readers together", "/s"),
           ("per_reader", "reads per second, per reader", "/s"))


def _scaling_value(r: Record, what: str) -> float | None:
    if what == "write":
        return r.write.median if r.write is not None else None
    return r.aggregate_reads_per_s if what == "aggregate" else r.throughput


def scaling(dataset: Dataset, styles: Styles, out: Path, payload: str = "seed") -> Plot:
    """Write time and read throughput against the number of readers: one row of panels
    per size, of the primary harness's first workload."""
    name = named("scaling.png", payload)
    harness = dataset.primary_harness
    firsts = _drawable(dataset, payload)
    if not firsts:
        return _nothing(out, name, dataset, payload)
    workload = firsts[0].workload
    counts = dataset.reader_counts(harness, workload, payload)
    if len(counts) < 2:
        return _skip(out, name, f"skipped: one reader count only ({counts[0]}) "
                                f"({_where(dataset, payload)}; run with --readers 1,2,3)")
    groups = dataset.groups(harness, payload, every_reader_count=True)
    groups = [g for g in groups if g.workload == workload]
    sizes = sorted({s for g in groups for s in g.sizes})
    unit = SIZE_UNITS[payload]
    caption = ["Against the number of active readers (the others wait): write median, "
               "and read throughput of all readers together (reads / span of the timed "
               "reads) and of one reader (1 / mean read time). A store whose reads do "
               "not contend keeps the per-reader rate flat and the total growing."]
    caption += list(dict.fromkeys(note for g in groups for note in _left_out(g)))
    fig, axes = figure(len(sizes) * len(SCALING), caption, columns=len(SCALING))
    shown = f", {payload} payload" if dataset.payload_shown() else ""
    for row, size in enumerate(sizes):
        for col, (what, axis_name, axis_unit) in enumerate(SCALING):
            ax = axes[row * len(SCALING) + col]
            values: list[float] = []
            backends = list(dict.fromkeys(b for g in groups for b in g.series))
            for b in backends:
                pts = []
                for g in groups:
                    r = g.ok(b, size)
                    v = _scaling_value(r, what) if r is not None else None
                    if v is not None:
                        pts.append((g.readers, v))
                if pts:
                    ax.plot([n for n, _ in pts], [v for _, v in pts], **styles.line(b))
                    values += [v for _, v in pts]
            ax.set_xticks(counts, [str(n) for n in counts])
            ax.set_xlabel("readers")
            value_axis(ax, values, axis_name, axis_unit)
            ax.set_title(f"{axis_name.split(',')[0].capitalize()} at "
                         f"{fmt_size(size, grouped=True)} {unit}\n"
                         f"{HARNESS_LABELS[harness]}, {workload} workload{shown}",
                         fontsize=10)
    return Plot(name, finish(fig, axes, caption, out / name), " ".join(caption))


#: Drawn once per payload present, in this order.
PER_PAYLOAD = (write_performance, read_performance, throughput, speedup,
               latency_distribution, memory, update_latency, scaling)


def all_plots(dataset: Dataset, out: Path) -> list[Plot]:
    styles = Styles(dataset)
    plots = []
    for payload in dataset.payloads:
        for draw in PER_PAYLOAD[:4]:
            plots.append(draw(dataset, styles, out, payload))
        if payload == dataset.payloads[0]:
            # Where the seed's report had it: after the speedups. Mixes payloads (one
            # panel row per workload and payload).
            plots.append(harness_comparison(dataset, out))
        for draw in PER_PAYLOAD[4:]:
            plots.append(draw(dataset, styles, out, payload))
    # A payload's figures from an earlier run would contradict this report (each
    # drawing function is named after its file).
    for payload in SIZE_UNITS:
        if payload not in dataset.payloads:
            for draw in PER_PAYLOAD:
                (out / named(f"{draw.__name__}.png", payload)).unlink(missing_ok=True)
    return plots
