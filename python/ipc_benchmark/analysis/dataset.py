"""All records of the given files, grouped the way tables and plots use them, and the
warnings about what is missing, failed or not comparable."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .load import InputError, Record, ResultFile, load

HARNESS_LABELS = {"python": "Python harness", "rust": "native harness"}

#: Metadata that must agree between files for their records to be compared fairly.
COMPARABLE = ("readers", "cpu_cores", "host")
COMPARABLE_CONFIG = ("iterations", "seed")


@dataclass(frozen=True)
class Group:
    """The records of one harness and one workload: what one table or panel shows."""

    harness: str
    workload: str
    #: backend -> size -> record, backends in the order they first appear.
    series: dict[str, dict[int, Record]]
    sizes: list[int]

    @property
    def label(self) -> str:
        return f"{HARNESS_LABELS[self.harness]}, {self.workload} workload"

    def ok(self, backend: str, size: int) -> Record | None:
        """The backend's record at that size if it succeeded; None otherwise."""
        rec = self.series.get(backend, {}).get(size)
        return rec if rec is not None and rec.ok else None

    def failed_backends(self) -> list[str]:
        return [b for b, by_size in self.series.items()
                if any(not r.ok for r in by_size.values())]

    def largest_size(self) -> int:
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

    def groups(self, harness: str | None = None) -> list[Group]:
        """One group per (harness, workload) present, "full" before "get"."""
        keys = sorted({(r.harness, r.workload) for r in self.records},
                      key=lambda k: (k[0] != self.primary_harness, k[0], k[1]))
        return [self.group(h, w) for h, w in keys if harness is None or h == harness]

    def group(self, harness: str, workload: str) -> Group:
        series: dict[str, dict[int, Record]] = {}
        for r in self.records:
            if (r.harness, r.workload) == (harness, workload):
                series.setdefault(r.backend, {})[r.data_size] = r
        sizes = sorted({size for by_size in series.values() for size in by_size})
        return Group(harness, workload, series, sizes)


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
    chosen: dict[tuple[str, str, str, int], Record] = {}
    for f in files:
        if not f.records:
            warnings.append(f"{f.path}: no records in 'results'")
        for r in f.records:
            key = (r.harness, r.workload, r.backend, r.data_size)
            earlier = chosen.get(key)
            if earlier is not None:
                warnings.append(
                    f"{r.backend} at {r.data_size} entries ({HARNESS_LABELS[r.harness]}, "
                    f"{r.workload} workload) is in {earlier.source} and {r.source}: "
                    f"using {r.source}")
            chosen[key] = r
    if not chosen:
        names = ", ".join(str(f.path) for f in files)
        raise InputError(f"{names}: no records to analyze")
    dataset = Dataset(files, list(chosen.values()), warnings)
    warnings += _incomplete(dataset) + _incomparable(files) + _oversubscribed(files)
    return dataset


def _incomplete(dataset: Dataset) -> list[str]:
    notes = []
    for g in dataset.groups():
        for backend, by_size in g.series.items():
            missing = [s for s in g.sizes if s not in by_size]
            if missing:
                notes.append(f"{g.label}: {backend} has no record at "
                             f"{_sizes(missing)} entries")
            failed = [r for r in by_size.values() if not r.ok]
            if failed:
                notes.append(
                    f"{g.label}: {backend} failed at {_sizes([r.data_size for r in failed])} "
                    f"entries ({failed[0].error or 'no error recorded'}); "
                    "left out of plots and recommendations")
            unverified = [r.data_size for r in by_size.values() if r.ok and not r.verified]
            if unverified:
                notes.append(f"{g.label}: {backend} at {_sizes(unverified)} entries is "
                             "'ok' but not verified: its reads were not checked")
    return notes


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


def _sizes(sizes: list[int]) -> str:
    return ", ".join(str(s) for s in sorted(sizes))
