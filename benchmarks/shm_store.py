"""SharedMemoryBackend vs the original design (py-shm: pickle into one segment).

    python benchmarks/shm_store.py [--size 10000] [--big 1000000] [--rounds 3]

Writer and reader are separate processes, the GC is on, the payload is the benchmark's
seed-0 dict. Targets (issue 3): write <= 0.4x and full read <= 0.6x the original;
get(key) median <= 1 us at 10^4 and 10^6 entries; version <= 200 ns.
"""

from __future__ import annotations

import argparse
import random
import uuid
from typing import Any

from _bench import Table, ctx, in_process, join_all, per_call, receive, sample

from ipc_benchmark import SharedMemoryBackend
from ipc_benchmark.reference.shm_backend import PickleSharedMemoryBackend
from ipc_benchmark.utils import generate_test_dict

BACKENDS = {"ours": SharedMemoryBackend, "reference": PickleSharedMemoryBackend}


def writer(kind: str, name: str, size: int, samples: int, ready: Any, done: Any, out: Any) -> None:
    data = generate_test_dict(size)
    w = BACKENDS[kind]()
    w.initialize(name, True)
    w.write(data)
    ready.set()  # a reader is attached while the writes are timed
    out.put(("write", kind, sample(lambda: w.write(data), samples)))
    done.wait(600)
    w.cleanup()


def reader(kind: str, name: str, size: int, samples: int, ready: Any, out: Any,
           probe: bool) -> None:
    ready.wait(600)  # the original design cannot attach before its writer exists
    r = BACKENDS[kind]()
    r.initialize(name, False)
    r.wait_for_update(0, timeout=600)
    out.put(("read", kind, sample(r.read, samples)))
    if probe:
        # Random keys, 100 per sample: each get finds its entry where the last one
        # left the caches, as a reader probing a large store would.
        batches = [[f"key_{random.randrange(size)}" for _ in range(100)] for _ in range(300)]
        out.put((f"get@{size}", kind, per_call(r.get, batches)))
        out.put(("version", kind, per_call(lambda _: r.version, [[None] * 1000] * 300)))
    r.cleanup()


def measure(kind: str, size: int, samples: int, probe: bool) -> dict[str, list[float]]:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    ready, done, out = ctx.Event(), ctx.Event(), ctx.Queue()
    w = in_process(writer, kind, name, size, samples, ready, done, out)
    r = in_process(reader, kind, name, size, samples, ready, out, probe)
    results: dict[str, list[float]] = {}
    expected = 2 + (2 if probe else 0)
    while len(results) < expected:
        what, _, xs = receive(out, [w, r])
        results[what] = xs
    done.set()
    join_all([w, r])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=1_000_000, help="entries for the large get() case")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()

    pooled: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for kind in ("ours", "reference"):
            for what, xs in measure(kind, args.size, args.samples, kind == "ours").items():
                pooled.setdefault((kind, what), []).extend(xs)
    big = measure("ours", args.big, 5, True)

    t = Table(f"SharedMemoryBackend, {args.size} entries")
    t.add(f"write {args.size}", pooled["ours", "write"], pooled["reference", "write"], "<= 0.40x")
    t.add(f"read {args.size}", pooled["ours", "read"], pooled["reference", "read"], "<= 0.60x")
    t.add(f"get(key) at {args.size}", pooled["ours", f"get@{args.size}"], None, "<= 1 us")
    t.add(f"get(key) at {args.big}", big[f"get@{args.big}"], None, "<= 1 us")
    t.add("version", pooled["ours", "version"], None, "<= 200 ns")
    t.print()


if __name__ == "__main__":
    main()
