"""The training payload's performance targets of issue 18, checked against the records:
each target is a ratio of two medians measured in the same run, and a limit it must not
exceed. The memcpy a ratio is taken against is the one the writer timed in the same case
(the record's ``memcpy`` block), never a figure from elsewhere."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from ..backends import all_backends
from ..formatting import fmt_time
from .dataset import Dataset, Group
from .load import Size, fmt_size

#: Our backends whose read is held against their reference's read and must stay flat.
FLAT_READS = ("shm", "zmq")
#: Our backend whose read is held against a memcpy of the arrays.
COPY_READ = "lmdb"
#: Our backend whose write is held against a memcpy and against the original's write.
COPY_WRITE = "shm"
#: Read at the largest size / the reference's read there.
READ_VS_REFERENCE = 0.01
#: Read at the largest size / read at the smallest ("flat": no per-byte work on read).
FLAT = 3.0
#: LMDB read, and shared memory write, / one memcpy of the arrays.
VS_MEMCPY = 1.5
#: Shared memory write / the reference's write.
WRITE_VS_REFERENCE = 0.5


@dataclass(frozen=True)
class Figure:
    """One median a ratio is made of: what it is, in seconds, or why it is missing."""

    what: str
    seconds: float | None
    missing: str | None = None


@dataclass(frozen=True)
class Target:
    name: str
    limit: float
    numerator: Figure
    denominator: Figure

    @property
    def ratio(self) -> float | None:
        a, b = self.numerator.seconds, self.denominator.seconds
        return None if a is None or b is None or b <= 0 else a / b

    @property
    def missing(self) -> str | None:
        """Why there is no ratio: the first figure missing."""
        why = self.numerator.missing or self.denominator.missing
        if why is None and self.ratio is None:
            why = f"{self.denominator.what} is 0"
        return why

    @property
    def met(self) -> bool | None:
        ratio = self.ratio
        return None if ratio is None else ratio <= self.limit


def _figure(g: Group, backend: str, size: Size, op: str) -> Figure:
    """The median of ``op`` ("read", "write" or "memcpy", the copy the writer timed in
    the backend's case) of the backend at that size."""
    at = f"{fmt_size(size)} {g.unit}"
    what = (f"memcpy median in `{backend}`'s case, {at}" if op == "memcpy"
            else f"`{backend}` {op} median, {at}")
    r = g.series.get(backend, {}).get(size)
    if r is None:
        return Figure(what, None, f"missing: no `{backend}` record at {at}")
    if not r.ok:
        return Figure(what, None, f"missing: `{backend}` {r.status} at {at}")
    stats = {"read": r.read, "write": r.write, "memcpy": r.memcpy}[op]
    if stats is None:
        return Figure(what, None, f"missing: no {op} measured in `{backend}`'s case at {at}")
    return Figure(what, stats.median)


def _reference(g: Group, backend: str) -> str | None:
    """The original backend ours replaces: as its records name it, else (no record of
    ours in the group) as backends.json does."""
    named = [r.reference for r in g.series.get(backend, {}).values() if r.reference]
    named += [b.reference for b in all_backends() if b.name == backend and b.reference]
    return named[0] if named else None


def targets(g: Group) -> list[Target]:
    """Every target of one group (training payload), in the issue's order."""
    small, large = g.sizes[0], g.largest_size()
    found = []
    for ours in FLAT_READS:
        ref = _reference(g, ours)
        versus = (_figure(g, ref, large, "read") if ref is not None else
                  Figure("reference read median", None,
                         f"missing: `{ours}` names no reference backend"))
        found.append(Target(f"`{ours}` read / `{ref or 'reference'}` read, "
                            f"{fmt_size(large)} {g.unit}",
                            READ_VS_REFERENCE, _figure(g, ours, large, "read"), versus))
    for ours in FLAT_READS:
        found.append(Target(f"`{ours}` read, {fmt_size(large)} / {fmt_size(small)} {g.unit}",
                            FLAT, _figure(g, ours, large, "read"),
                            _figure(g, ours, small, "read")))
    for size in g.sizes:
        found.append(Target(f"`{COPY_READ}` read / memcpy, {fmt_size(size)} {g.unit}",
                            VS_MEMCPY, _figure(g, COPY_READ, size, "read"),
                            _figure(g, COPY_READ, size, "memcpy")))
    for size in g.sizes:
        found.append(Target(f"`{COPY_WRITE}` write / memcpy, {fmt_size(size)} {g.unit}",
                            VS_MEMCPY, _figure(g, COPY_WRITE, size, "write"),
                            _figure(g, COPY_WRITE, size, "memcpy")))
    ref = _reference(g, COPY_WRITE)
    for size in g.sizes:
        write = _figure(g, COPY_WRITE, size, "write")
        versus = (_figure(g, ref, size, "write") if ref is not None else
                  Figure("reference write median", None,
                         f"missing: `{COPY_WRITE}` names no reference backend"))
        found.append(Target(f"`{COPY_WRITE}` write / `{ref or 'reference'}` write, "
                            f"{fmt_size(size)} {g.unit}",
                            WRITE_VS_REFERENCE, write, versus))
    return found


def training_groups(dataset: Dataset) -> list[Group]:
    """One group per harness and workload of the training payload, at its full reader
    count (the headline count: the issue's targets are for 1 writer + 3 readers)."""
    return dataset.groups(payload="training")


def fmt_ratio(ratio: float) -> str:
    """3 significant digits: the read target's limit is 0.01x."""
    return f"{ratio:.3g}x"


def _yes_no(met: bool | None) -> str | None:
    return None if met is None else "yes" if met else "no"


def table_rows(g: Group) -> list[list[str]]:
    """The report's rows: target, measured ratio, limit, met, and the two figures."""
    rows = []
    for t in targets(g):
        ratio = t.ratio
        measured = t.missing if ratio is None else fmt_ratio(ratio)
        met = _yes_no(t.met) or "-"
        figures = [f"{f.what}: {fmt_time(f.seconds)}" if f.missing is None else f.missing
                   for f in (t.numerator, t.denominator)]
        rows.append([t.name, measured or "-", f"<= {fmt_ratio(t.limit)}", met, *figures])
    return rows


HEADER = ["target", "measured ratio", "limit", "met", "numerator", "denominator"]
CSV_HEADER = ["harness", "workload", "payload", "readers", "target", "ratio", "limit", "met",
              "numerator", "numerator_s", "denominator", "denominator_s", "missing"]


def write_csv(dataset: Dataset, out: Path) -> Path | None:
    """training_targets.csv, the report's rows with the figures in seconds; None (and
    no file) without training records. An empty cell is a value not measured."""
    path = out / "training_targets.csv"
    groups = training_groups(dataset)
    if not groups:
        # A file from an earlier analysis of other data would be mistaken for this one's.
        path.unlink(missing_ok=True)
        return None
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_HEADER)
        for g in groups:
            for t in targets(g):
                row: list[object] = [
                    g.harness, g.workload, g.payload, g.readers, t.name.replace("`", ""),
                    t.ratio, t.limit, _yes_no(t.met), t.numerator.what.replace("`", ""),
                    t.numerator.seconds, t.denominator.what.replace("`", ""),
                    t.denominator.seconds, t.missing]
                writer.writerow(["" if v is None else v for v in row])
    return path
