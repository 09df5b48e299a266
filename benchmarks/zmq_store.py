"""ZeroMQBackend vs the original design (py-zmq: PUSH/PULL, one pickle per message).

    python benchmarks/zmq_store.py [--size 10000] [--rounds 3]

Separate processes, GC on, the benchmark's seed-0 dict. Targets (issue 5), at 10000
entries: a pubsub write with 4 readers <= 1.5x one with 1 reader; push mode serving
3 readers x 100 reads >= 20x faster than the original (which pickles every message);
a full read <= 0.6x the original's read.
"""

from __future__ import annotations

import argparse
import uuid
from typing import Any

from _bench import Table, ctx, in_process, join_all, receive, sample

from ipc_benchmark import ZeroMQBackend
from ipc_benchmark.reference.zmq_backend import PickleZeroMQBackend
from ipc_benchmark.utils import generate_test_dict


def make(kind: str, readers: int) -> Any:
    if kind == "pubsub":
        return ZeroMQBackend()
    if kind == "push":
        return ZeroMQBackend(mode="push", timeout=300)
    return PickleZeroMQBackend(readers=readers, timeout=300)


def pubsub_reader(name: str, acks: Any, stop: Any, out: Any, samples: int) -> None:
    """Acknowledges every version it receives; the first reader also times reads."""
    r = make("pubsub", 1)
    r.initialize(name, False)
    version = r.wait_for_update(0, timeout=300)
    if out is not None:
        out.put(("read", sample(r.read, samples)))
    acks.put(version)
    while not stop.is_set():
        try:
            version = r.wait_for_update(version, timeout=0.5)
        except TimeoutError:
            continue
        acks.put(version)
    r.cleanup()


def pubsub_write(size: int, readers: int, samples: int) -> tuple[list[float], list[float]]:
    """Write times with `readers` subscribers, and (from one of them) read times.

    Each write is timed alone, after every reader has received the previous one: the
    pace of a trainer that publishes now and then, rather than a saturated link whose
    backlog (4 readers' transfers on 2 cores) would be charged to whichever call ran.
    """
    name = f"bench_{uuid.uuid4().hex[:8]}"
    data = generate_test_dict(size)
    w = make("pubsub", readers)
    w.initialize(name, True)
    w.write(data)
    acks, stop, out = ctx.Queue(), ctx.Event(), ctx.Queue()
    procs = [in_process(pubsub_reader, name, acks, stop, out if i == 0 else None, samples)
             for i in range(readers)]
    reads = receive(out, procs, timeout=600)[1]

    def all_received(version: int) -> None:
        seen = 0
        while seen < readers:
            if acks.get(timeout=300) >= version:
                seen += 1

    all_received(1)
    writes = []
    for version in range(2, samples + 2):
        writes += sample(lambda: w.write(data), 1, warmup=0)
        all_received(version)
    stop.set()
    join_all(procs)
    w.cleanup()
    return writes, reads


def message_reader(kind: str, name: str, reads: int, ready: Any, out: Any) -> None:
    r = make(kind, 1)
    r.initialize(name, False)
    ready.put(1)
    out.put(sample(r.read, reads, warmup=0))
    r.cleanup()


def message_write(kind: str, size: int, readers: int, reads: int) -> tuple[float, list[float]]:
    """One write serving readers x reads, timed while the readers pull; their reads."""
    name = f"bench_{uuid.uuid4().hex[:8]}"
    data = generate_test_dict(size)
    w = make(kind, readers)
    w.initialize(name, True)
    ready, out = ctx.Queue(), ctx.Queue()
    procs = [in_process(message_reader, kind, name, reads, ready, out) for _ in range(readers)]
    for _ in procs:
        ready.get(timeout=300)
    w.expect_reads(readers, reads)
    [elapsed] = sample(lambda: w.write(data), 1, warmup=0)
    read_times = [t for _ in procs for t in receive(out, procs, timeout=600)]
    join_all(procs)
    w.cleanup()
    return elapsed, read_times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()

    w1: list[float] = []
    w4: list[float] = []
    reads: list[float] = []
    push: list[float] = []
    orig: list[float] = []
    orig_reads: list[float] = []
    for _ in range(args.rounds):
        writes, rs = pubsub_write(args.size, 1, args.samples)
        w1 += writes
        reads += rs
        w4 += pubsub_write(args.size, 4, args.samples)[0]
        push.append(message_write("push", args.size, 3, 100)[0])
        elapsed, rs = message_write("reference", args.size, 3, 100)
        orig.append(elapsed)
        orig_reads += rs

    t = Table(f"ZeroMQBackend, {args.size} entries")
    t.add("pubsub write, 4 readers vs 1", w4, w1, "<= 1.50x")
    t.add("push write, 3 readers x 100 reads", push, orig, "<= 0.05x (20x faster)")
    t.add("full read (pubsub vs original)", reads, orig_reads, "<= 0.60x")
    t.print()


if __name__ == "__main__":
    main()
