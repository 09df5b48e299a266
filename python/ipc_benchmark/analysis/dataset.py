"""All records of the given files, grouped the way tables and plots use them, and the
warnings about what is missing, failed or not comparable."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .load import SIZE_UNITS, InputError, Record, ResultFile, Size, fmt_size, load

HARNESS_LABELS = {"python": "Python harness", "rust": "native harness"}

#: Metadata that must agree between files for their records to be compared fairly.
COMPARABLE = ("readers", "cpu_cores", "host")
COMPARABLE_CONFIG = ("iterations", "seed")


#: The payloads in the order tables and figures show them.
PAYLOADS = tuple(SIZE_UNITS)


@dataclass(frozen=True)
class Group:
    """The records of one harness, workload, payload and reader count: what one table or
    panel shows. Sizes of one group share a unit (entries or MiB)."""

    harness: str
    workload: str
    #: backend -> size -> record, backends in the order they first appear.
    series: dict[str, dict[Size, Record]]
    sizes: list[Size]
    payload: str = "seed"
    readers: int = 1
    #: Whether the label names the payload: when the dataset holds more than one, or
    #: the one it holds is not the seed's (whose files had no payload before).
    show_payload: bool = False

    @property
    def unit(self) -> str:
        return SIZE_UNITS[self.payload]

    @property
    def label(self) -> str:
        payload = f", {self.payload} payload" if self.show_payload else ""
        return f"{HARNESS_LABELS[self.harness]}, {self.workload} workload{payload}"

    @property
    def readers_text(self) -> str:
        return f"1 writer + {self.readers} reader{'s' if self.readers != 1 else ''}"

    def ok(self, backend: str, size: Size) -> Record | None:
        """The backend's record at that size if it succeeded; None otherwise."""
        rec = self.series.get(backend, {}).get(size)
        return rec if rec is not None and rec.ok else None

    def failed_backends(self) -> list[str]:
        return [b for b, by_size in self.series.items()
                if any(not r.ok for r in by_size.values())]

    def largest_size(self) -> Size:
        return self.sizes[-1]


@dataclass
class Dataset:
    files: list[ResultFile]
    records: list[Record]
    warnings: list[str] = field(default_factory=list)

    @property
    def harnesses(self) -> list[str]:
        return sorted({r.harness for r in self.records})

    @property
    def primary_harness(self) -> str:
        """The harness the recommendation and the main plots use: the Python harness
        when present, because its reads produce Python objects, as users' reads do; the
        native harness's reads stop at a Rust value."""
        return "python" if "python" in self.harnesses else "rust"

    @property
    def payloads(self) -> list[str]:
        present = {r.payload for r in self.records}
        return [p for p in PAYLOADS if p in present]

    def payload_shown(self) -> bool:
        return self.payloads != ["seed"]

    def headline_readers(self, harness: str, workload: str, payload: str) -> int | None:
        """The reader count the tables and the size figures show for that harness,
        workload and payload: the largest measured, the run with every reader (the only
        one a version 1 file has). The other counts are the scaling figure's."""
        counts = [r.readers for r in self.records
                  if (r.harness, r.workload, r.payload) == (harness, workload, payload)]
        return max(counts) if counts else None

    def reader_counts(self, harness: str, workload: str, payload: str) -> list[int]:
        return sorted({r.readers for r in self.records
                       if (r.harness, r.workload, r.payload) == (harness, workload, payload)})

    def groups(self, harness: str | None = None, payload: str | None = None,
               every_reader_count: bool = False) -> list[Group]:
        """One group per (harness, workload, payload) present, at its headline reader
        count (or one per reader count too); the primary harness first, then payloads
        in PAYLOADS order, "full" before "get", fewer readers first."""
        keys = sorted({(r.harness, r.workload, r.payload, r.readers) for r in self.records},
                      key=lambda k: (k[0] != self.primary_harness, k[0], PAYLOADS.index(k[2]),
                                     k[1], k[3]))
        return [self.group(h, w, p, n) for h, w, p, n in keys
                if (harness is None or h == harness) and (payload is None or p == payload)
                and (every_reader_count or n == self.headline_readers(h, w, p))]

    def group(self, harness: str, workload: str, payload: str = "seed",
              readers: int | None = None) -> Group:
        """The records of that harness, workload, payload and reader count (default: the
        headline count)."""
        if readers is None:
            readers = self.headline_readers(harness, workload, payload) or 1
        series: dict[str, dict[Size, Record]] = {}
        for r in self.records:
            if (r.harness, r.workload, r.payload, r.readers) == \
                    (harness, workload, payload, readers):
                series.setdefault(r.backend, {})[r.data_size] = r
        sizes = sorted({size for by_size in series.values() for size in by_size})
        return Group(harness, workload, series, sizes, payload, readers,
                     self.payload_shown())


def load_all(paths: list[Path]) -> Dataset:
    """Load every file; InputError lists every file that cannot be used, one per line."""
    files, errors = [], []
    for path in paths:
        try:
            files.append(load(path))
        except InputError as e:
            errors.append(str(e))
    if errors:
        raise InputError("\n".join(errors))
    return build(files)


def build(files: list[ResultFile]) -> Dataset:
    warnings: list[str] = []
    chosen: dict[tuple[str, str, str, int, str, Size], Record] = {}
    for f in files:
        if not f.records:
            warnings.append(f"{f.path}: no records in 'results'")
        for r in f.records:
            key = (r.harness, r.workload, r.payload, r.readers, r.backend, r.data_size)
            earlier = chosen.get(key)
            if earlier is not None:
                warnings.append(
                    f"{r.backend} at {r.size_text()} ({HARNESS_LABELS[r.harness]}, "
                    f"{r.workload} workload, {r.payload} payload, {r.readers} readers) "
                    f"is in {earlier.source} and {r.source}: using {r.source}")
            chosen[key] = r
    if not chosen:
        names = ", ".join(str(f.path) for f in files)
        raise InputError(f"{names}: no records to analyze")
    dataset = Dataset(files, list(chosen.values()), warnings)
    warnings += _incomplete(dataset) + _incomparable(files) + _oversubscribed(files)
    return dataset


def _incomplete(dataset: Dataset) -> list[str]:
    """What is missing, failed, skipped, unverified or capped; a note that holds at
    several reader counts is given once, naming them."""
    notes: dict[tuple[str, str], list[int]] = {}
    for g in dataset.groups(every_reader_count=True):
        for backend, by_size in g.series.items():
            found = []
            missing = [s for s in g.sizes if s not in by_size]
            if missing:
                found.append(f"{backend} has no record at {_sizes(missing)} {g.unit}")
            for status, what in (("failed", "failed"), ("skipped", "was skipped")):
                bad = [r for r in by_size.values() if r.status == status]
                if bad:
                    found.append(
                        f"{backend} {what} at {_sizes([r.data_size for r in bad])} {g.unit} "
                        f"({bad[0].error or 'no reason recorded'}); "
                        "left out of plots and recommendations")
            unverified = [r.data_size for r in by_size.values() if r.ok and not r.verified]
            if unverified:
                found.append(f"{backend} at {_sizes(unverified)} {g.unit} is "
                             "'ok' but not verified: its reads were not checked")
            capped = [r for r in by_size.values() if r.ok and r.read_cap is not None]
            if capped:
                cap = capped[0].read_cap
                assert cap is not None
                found.append(f"{backend} at {_sizes([r.data_size for r in capped])} "
                             f"{g.unit}: timed reads capped at {cap.iterations} "
                             f"({cap.reason})")
            for text in found:
                notes.setdefault((g.label, text), []).append(g.readers)
    out = []
    for (label, text), readers in notes.items():
        # One reader count (a version 1 file, or no --readers list): as before.
        counts = ", ".join(map(str, readers))
        where = label if len(readers) == 1 and readers[0] == max(
            r.readers for r in dataset.records) else f"{label}, with {counts} readers"
        out.append(f"{where}: {text}")
    return out


def _incomparable(files: list[ResultFile]) -> list[str]:
    """Files whose settings differ: their records can be shown, but side by side they
    compare different things."""
    if len(files) < 2:
        return []
    notes = []
    settings = [(key, {str(f.path): f.metadata.get(key) for f in files}) for key in COMPARABLE]
    settings += [(key, {str(f.path): f.config.get(key) for f in files})
                 for key in COMPARABLE_CONFIG]
    for key, values in settings:
        if len({repr(v) for v in values.values()}) > 1:
            shown = ", ".join(f"{v} in {p}" for p, v in values.items())
            notes.append(f"the files differ in {key} ({shown}): comparisons between "
                         "them are not like for like")
    return notes


def _oversubscribed(files: list[ResultFile]) -> list[str]:
    notes = []
    for f in files:
        per_core = f.metadata.get("ranks_per_core")
        if isinstance(per_core, (int, float)) and per_core > 1:
            notes.append(f"{f.path}: {f.metadata.get('ranks')} ranks on "
                         f"{f.metadata.get('cpu_cores')} cores: ranks waited for a core, "
                         "which widens the spread (p90, p99)")
    return notes


def _sizes(sizes: list[Size]) -> str:
    return ", ".join(fmt_size(s) for s in sorted(sizes))
