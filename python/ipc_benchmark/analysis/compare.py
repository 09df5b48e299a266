"""Pairs of records worth comparing: a Rust backend against the reference it replaces,
a Rust backend against each peer (the libraries people already use), and one backend
under the Python harness against the same under the native harness. A pair is always of
the same workload, payload, reader count and size."""

from __future__ import annotations

from dataclasses import dataclass

from .dataset import Dataset, Group
from .load import Record, Size


@dataclass(frozen=True)
class Pair:
    """Two successful records of the same workload and size; ``ratio`` is how many
    times faster ``fast`` is than ``base`` (base median / fast median, > 1: faster)."""

    workload: str
    size: Size
    base: Record
    fast: Record

    def ratio(self, op: str) -> float | None:
        """``op``: "read", "write" or "update" (update latency)."""
        mine, theirs = median(self.fast, op), median(self.base, op)
        if mine is None or theirs is None or mine <= 0:
            return None
        return theirs / mine


def median(r: Record, op: str) -> float | None:
    """The median of the record's ``write`` or ``read`` samples, or of its update
    latency ("update"), in seconds."""
    if op == "update":
        return r.update_latency.median if r.update_latency is not None else None
    stats = r.write if op == "write" else r.read
    return stats.median if stats is not None else None


def speedups(group: Group) -> dict[tuple[str, str], list[Pair]]:
    """(Rust backend, its reference) -> one pair per size where both succeeded.

    The reference must be a reference backend of the same group: a native-harness record
    names the Python reference it replaces, which only the other harness runs, and which
    shares its name ("mpi-bcast"); that comparison is the harness comparison's.
    """
    found: dict[tuple[str, str], list[Pair]] = {}
    for backend, by_size in group.series.items():
        for size, r in sorted(by_size.items()):
            if r.implementation != "rust" or r.reference is None or not r.ok:
                continue
            ref = group.ok(r.reference, size)
            if ref is None or ref.implementation != "reference":
                continue
            found.setdefault((backend, r.reference), []).append(
                Pair(group.workload, size, ref, r))
    return found


def peer_pairs(group: Group) -> dict[tuple[str, str], list[Pair]]:
    """(Rust backend, peer) -> one pair (peer as ``base``, ours as ``fast``) per size where
    both succeeded in this group."""
    found: dict[tuple[str, str], list[Pair]] = {}
    ours = [b for b, by_size in group.series.items()
            if any(r.implementation == "rust" for r in by_size.values())]
    peers = [b for b, by_size in group.series.items()
             if any(r.implementation == "peer" for r in by_size.values())]
    for backend in ours:
        for peer in peers:
            for size in group.sizes:
                mine, theirs = group.ok(backend, size), group.ok(peer, size)
                if mine is not None and theirs is not None:
                    found.setdefault((backend, peer), []).append(
                        Pair(group.workload, size, theirs, mine))
    return found


def harness_pairs(dataset: Dataset) -> dict[tuple[str, str], list[Pair]]:
    """(workload label, backend) -> one pair (Python harness, native harness) per size
    where both harnesses ran the backend successfully, at the Python harness's headline
    reader count. The label is the workload, with the payload when the data mixes them."""
    found: dict[tuple[str, str], list[Pair]] = {}
    if {"python", "rust"} - set(dataset.harnesses):
        return found
    for py in dataset.groups("python"):
        native = dataset.group("rust", py.workload, py.payload, py.readers)
        workload = f"{py.workload}, {py.payload}" if py.show_payload else py.workload
        for backend in py.series:
            for size in py.sizes:
                a, b = py.ok(backend, size), native.ok(backend, size)
                if a is not None and b is not None:
                    found.setdefault((workload, backend), []).append(
                        Pair(py.workload, size, a, b))
    return found
