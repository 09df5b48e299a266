"""The answer to "which backend should I use?", computed from the records.

Rules, written down because the report states only their results:

* Only the primary harness counts (``Dataset.primary_harness``): the Python harness when
  given, since its reads produce Python objects as a user's program does.
* A backend that failed at any size of a workload is not a candidate for it.
* "Fastest" compares medians (of reads, or of writes) at the largest size measured, where
  the transport's cost is least hidden by fixed overheads; the evidence also says at how
  many of the sizes the same backend is fastest, and whether the runner-up's median is
  inside the winner's own spread (at or below its p90), i.e. not a clear lead.
* Persistence and reaching other machines are properties of the backend's kind
  (``backends.json``); among the backends that have one, the fastest full reader is named.
* Update latency and memory (peak RSS of a reader) are ranked the same way, on their
  medians and on the largest reader's peak, where the records have them (schema 2).
* Each payload gets its own questions; the seed's keep their original wording, another
  payload's name it. Tables and questions use each group's headline reader count.
* Peers (``implementation: "peer"``) are candidates like any backend. Beside the
  answers, ``peer_findings`` says where a peer beats every Rust backend measured with it
  (same harness, workload, payload, readers and size) on read, write, update latency or
  reader memory, and what that peer loses there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..backends import Properties, properties
from ..formatting import fmt_bytes, fmt_ratio, fmt_time
from .compare import median
from .dataset import Dataset, Group
from .load import Record, Size, Stats, fmt_size

#: What a backend is ranked on: op -> (what the evidence calls it, "time" or "bytes").
MEASURES = {"read": ("read", "time"), "write": ("write", "time"),
            "update": ("update latency", "time"), "memory": ("peak RSS per reader", "bytes")}


@dataclass(frozen=True)
class Recommendation:
    question: str
    #: The backend recommended, or None when the data cannot name one.
    backend: str | None
    evidence: str


def candidates(group: Group) -> list[str]:
    failed = set(group.failed_backends())
    return [b for b in group.series if b not in failed]


def value(r: Record, op: str) -> float | None:
    """What ``op`` ranks (lower is better): a median time in seconds ("read", "write",
    "update") or the largest reader's peak RSS in bytes ("memory")."""
    if op == "memory":
        peak = r.memory.reader_peak() if r.memory is not None else None
        return None if peak is None else float(peak)
    return median(r, op)


def shown(v: float, op: str) -> str:
    return fmt_bytes(int(v)) if MEASURES[op][1] == "bytes" else fmt_time(v)


def _spread(r: Record, op: str) -> Stats | None:
    """The block whose p90 tells whether a lead is clear (times of reads and writes)."""
    return r.read if op == "read" else r.write if op == "write" else None


def ranking(group: Group, op: str, size: Size, among: list[str]) -> list[tuple[float, str]]:
    """(value, backend) of ``op`` at ``size``, best first, for the backends measured
    there."""
    ranked = []
    for backend in among:
        rec = group.ok(backend, size)
        v = value(rec, op) if rec is not None else None
        if v is not None:
            ranked.append((v, backend))
    return sorted(ranked)


def fastest(group: Group, op: str, what: str, among: list[str] | None = None
            ) -> tuple[str | None, str]:
    """The backend with the lowest ``op`` (see ``value``), and the sentence that shows
    it; ``what`` names the measure in that sentence."""
    pool = candidates(group) if among is None else among
    sizes = [s for s in group.sizes if ranking(group, op, s, pool)]
    if not sizes:
        return None, f"no successful measurement ({group.label})"
    size = sizes[-1]
    ranked = ranking(group, op, size, pool)
    best_value, best = ranked[0]
    kind = "" if op == "memory" else " median"
    text = f"{what}{kind} {shown(best_value, op)} at {fmt_size(size)} {group.unit}"
    if len(ranked) > 1:
        next_value, runner_up = ranked[1]
        text += f"; next `{runner_up}` {shown(next_value, op)}"
        if best_value > 0:
            text += f" ({fmt_ratio(next_value / best_value)})"
        rec = group.ok(best, size)
        stats = None if rec is None else _spread(rec, op)
        if stats is not None and next_value <= stats.p90:
            text += ", within the winner's spread (its p90): no clear lead"
    wins = sum(1 for s in sizes if ranking(group, op, s, pool)[0][1] == best)
    best_word = "smallest" if op == "memory" else "fastest"
    text += f"; {best_word} at {wins} of {len(sizes)} sizes ({group.label}, {group.readers_text})"
    return best, text


def _by_property(group: Group, has: Callable[[Properties], bool], which: str
                 ) -> tuple[str | None, str]:
    """The fastest full reader among the candidates whose kind ``has`` the property;
    ``which`` completes "backends that ..." in the evidence."""
    pool = [b for b in candidates(group) if (p := properties(b)) is not None and has(p)]
    if not pool:
        return None, (f"no measured backend that {which} ran without failing "
                      "(see the properties table)")
    best, text = fastest(group, "read", "read", pool)
    listed = ", ".join(f"`{b}`" for b in pool)
    return best, f"backends that {which}: {listed}; the fastest full reader of them: {text}"


def recommend(dataset: Dataset) -> list[Recommendation]:
    out = []
    for payload in dataset.payloads:
        out += _questions(dataset, payload)
    return out


def _questions(dataset: Dataset, payload: str) -> list[Recommendation]:
    groups = {g.workload: g for g in dataset.groups(dataset.primary_harness, payload)}
    full, get = groups.get("full"), groups.get("get")
    out = []
    suffix = "" if payload == "seed" else f", {payload} payload"

    def add(question: str, answer: tuple[str | None, str]) -> None:
        out.append(Recommendation(question + suffix, *answer))

    not_measured = (None, "not measured: no `full` workload records were given")
    add("Fastest full read", fastest(full, "read", "read") if full else not_measured)
    add("Fastest single-key read", fastest(get, "read", "get") if get else (
        None, "not measured: no `get` workload records were given "
              "(run benchmark_mpi.py --workload get)"))
    writes = full or get
    if writes is None:  # only another harness measured this payload
        return out
    add("Fastest write", fastest(writes, "write", "write"))
    for op, question in (("update", "Lowest update latency"),
                         ("memory", "Least memory per reader")):
        if any(value(r, op) is not None for by_size in writes.series.values()
               for r in by_size.values() if r.ok):
            add(question, fastest(writes, op, MEASURES[op][0]))
    add("Persistence (data outlives the processes)",
        _by_property(full, lambda p: p.persistent, "persist") if full else not_measured)
    add("Works across machines",
        _by_property(full, lambda p: p.across_machines, "reach other machines")
        if full else not_measured)
    return out


def _best_ours(group: Group, op: str, size: Size) -> tuple[float, str] | None:
    ours = [b for b in candidates(group)
            if (r := group.ok(b, size)) is not None and r.implementation == "rust"]
    ranked = ranking(group, op, size, ours)
    return ranked[0] if ranked else None


def _peer_finding(group: Group, peer: str) -> str | None:
    """Where ``peer`` beats every Rust backend of the group, and what it loses there."""
    ops = ("read", "write", "update", "memory")
    wins: dict[str, list[Size]] = {}
    for size in group.sizes:
        rec = group.ok(peer, size)
        for op in ops:
            mine = _best_ours(group, op, size)
            theirs = value(rec, op) if rec is not None else None
            if mine is not None and theirs is not None and theirs < mine[0]:
                wins.setdefault(op, []).append(size)
    if not wins:
        return None
    name = {"read": f"{group.workload} read"} | {o: MEASURES[o][0] for o in ops[1:]}
    parts = []
    at = max(s for sizes in wins.values() for s in sizes)
    for op, sizes in wins.items():
        size = sizes[-1]
        rec = group.ok(peer, size)
        mine = _best_ours(group, op, size)
        assert rec is not None and mine is not None
        theirs = value(rec, op)
        assert theirs is not None
        parts.append(f"{name[op]} at {', '.join(map(fmt_size, sizes))} {group.unit} "
                     f"(at {fmt_size(size)}: {shown(theirs, op)} against `{mine[1]}`'s "
                     f"{shown(mine[0], op)})")
    losses = []
    rec = group.ok(peer, at)
    for op in ops:
        mine = _best_ours(group, op, at)
        theirs = value(rec, op) if rec is not None else None
        if mine is not None and theirs is not None and theirs > mine[0]:
            ratio = f", {fmt_ratio(theirs / mine[0])}" if mine[0] > 0 else ""
            losses.append(f"{name[op]} ({shown(theirs, op)} against `{mine[1]}`'s "
                          f"{shown(mine[0], op)}{ratio})")
    text = (f"{group.label}, {group.readers_text}: peer `{peer}` beats every Rust backend "
            f"on {'; '.join(parts)}.")
    if rec is not None and not rec.verified:
        text += " Its reads there were not verified."
    if losses:
        text += f" At {at} {group.unit} it loses on {'; '.join(losses)}."
    else:
        text += f" At {at} {group.unit} it loses on nothing measured."
    return text


def peer_findings(dataset: Dataset) -> list[str]:
    """Plain sentences: where each peer beats every Rust backend measured with it, and
    what it loses at that size; one sentence saying so when no peer wins anything. Empty
    when the data has no peer, or no Rust backend beside one."""
    found, compared = [], False
    for group in dataset.groups(dataset.primary_harness):
        peers = [b for b, by_size in group.series.items()
                 if any(r.implementation == "peer" for r in by_size.values())]
        ours = any(r.implementation == "rust" and r.ok
                   for by_size in group.series.values() for r in by_size.values())
        if not peers or not ours:
            continue
        compared = True
        for peer in peers:
            text = _peer_finding(group, peer)
            if text is not None:
                found.append(text)
    if compared and not found:
        return ["No peer beats our best Rust backend on any measure (read, write, update "
                "latency, peak RSS per reader) at any size measured."]
    return found
