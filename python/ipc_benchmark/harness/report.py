"""What rank 0 prints on stderr: one line per step, and the summary tables at the end."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from ..formatting import fmt_bytes, fmt_rate, fmt_ratio, fmt_time


def _median(block: dict[str, Any] | None) -> float | None:
    return None if block is None else float(block["median"])


def progress_line(step: int, total: int, rec: dict[str, Any]) -> str:
    head = (f"[{step:>{len(str(total))}}/{total}] {rec['backend']:<12} "
            f"{rec['data_size']:>7} {rec['size_unit']}, {rec['readers']} readers")
    if rec["status"] != "ok":
        return f"{head}  {rec['status'].upper()}  {rec['error']}"
    return (f"{head}  ok  write {fmt_time(rec['write_time'])}  "
            f"read median {fmt_time(_median(rec['read']))}  "
            f"p99 {fmt_time(rec['read']['p99'])}  "
            f"all readers {fmt_rate(rec['aggregate_reads_per_s'])}")


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        # Names left-aligned, numbers right-aligned.
        cells = [c.ljust(w) if i < 2 else c.rjust(w)
                 for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def summary(records: list[dict[str, Any]], readers: int) -> str:
    """The median table, and Rust/reference ratios where both sides ran."""
    rows = [["backend", "impl", "size", "readers", "payload", "write median",
             "read median", "read p99", "reads/s (all readers)", "update median",
             "reader peak RSS", "status"]]
    for r in records:
        ok = r["status"] == "ok"
        latency = r["update_latency"]
        peaks = [m["peak_rss"] for m in r["memory"]["readers"]] if r["memory"] else []
        rows.append([
            r["backend"], r["implementation"], f"{r['data_size']} {r['size_unit']}",
            str(r["readers"]),
            fmt_bytes(r["payload_bytes"]),
            fmt_time(_median(r["write"]) if ok else None),
            fmt_time(_median(r["read"]) if ok else None),
            fmt_time(r["read"]["p99"] if ok and r["read"] else None),
            fmt_rate(r["aggregate_reads_per_s"]),
            fmt_time(latency["median"] if latency else None),
            fmt_bytes(max(peaks) if peaks else None),
            "ok" if ok else r["status"].upper(),
        ])
    plural = "s" if readers > 1 else ""
    text = [f"Medians, 1 writer + {readers} reader{plural} (per case: the readers "
            "column):", _table(rows)]
    copies = {f"{r['data_size']} {r['size_unit']}": _median(r["memcpy"])
              for r in records if r.get("memcpy")}
    if copies:
        text.append("One copy of the weights into fresh memory (memcpy, median of the "
                    "writer's): " + ", ".join(f"{size} {fmt_time(t)}"
                                              for size, t in copies.items()))
    ratios = ratio_rows(records)
    if ratios:
        text += ["", "Rust / reference, medians (below 1: Rust is faster):",
                 _table([["backend", "vs", "size", "readers", "write", "read"]] + ratios)]
    for status in ("failed", "skipped"):
        these = [r for r in records if r["status"] == status]
        if these:
            text += ["", f"{len(these)} of {len(records)} {status}:"]
            text += [f"  {r['backend']}, {r['data_size']} {r['size_unit']}, "
                     f"{r['readers']} readers: {r['error']}" for r in these]
    return "\n".join(text)


def ratio_rows(records: list[dict[str, Any]]) -> list[list[str]]:
    ok = {(r["backend"], r["data_size"], r["workload"], r["readers"]): r
          for r in records if r["status"] == "ok"}
    rows = []
    for (name, size, workload, readers), r in ok.items():
        ref = ok.get((r["reference"], size, workload, readers)) if r["reference"] else None
        if r["implementation"] != "rust" or ref is None:
            continue
        cells = []
        for block in ("write", "read"):
            mine, theirs = _median(r[block]), _median(ref[block])
            cells.append(fmt_ratio(mine / theirs if mine is not None and theirs else None))
        rows.append([name, r["reference"], str(size), str(readers), *cells])
    return rows


def say(text: str, stream: TextIO | None = None) -> None:
    print(text, file=stream or sys.stderr, flush=True)
