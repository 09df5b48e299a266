"""LMDBBackend vs the original design (py-lmdb: the whole dict pickled, protocol 5, into
one value), writer and reader in separate processes, GC on, the seed-0 payload.

    python benchmarks/lmdb_store.py [--size 10000] [--big 1000000] [--rounds 3]

(Not named lmdb.py: run as a script, it would shadow the `lmdb` package.)

The machine this runs on is shared, and its speed drifts by 2x within seconds. So ours
and the reference are interleaved sample by sample: one writer process holds a store of
each and times a write to ours, then one to the reference, and so on; one reader process
does the same with full reads and with get(key) (batches of 100 random keys per sample,
the per-call mean of each batch). Writes are timed with the same dict again, and with a
dict whose every value changed. Each round uses fresh processes and stores; samples are
pooled over rounds. Targets (issue 4): full read <= 0.6x and write <= 0.5x the original;
get(key) median <= 2 us at 10^4 and 10^6 entries.

The reference keeps py-lmdb's default of fsyncing every commit, ours does not by default:
writes are therefore also shown like for like, both without fsync (the reference with
sync=False) and both with it (ours with durable=True).
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import time
import uuid
from typing import Any, Callable

import lmdb
from _bench import Table, ctx, in_process, join_all, receive

from ipc_benchmark import LMDBBackend
from ipc_benchmark.base import IPCBackend
from ipc_benchmark.reference.lmdb_backend import PickleLMDBBackend
from ipc_benchmark.utils import generate_test_dict

class PickleLMDBNoSync(PickleLMDBBackend):
    """The reference writing with sync=False, the choice of the original's later version
    (py-lmdb's default, which the reference keeps, fsyncs every commit)."""

    def initialize(self, name: str, is_writer: bool) -> None:
        super().initialize(name, is_writer)
        if is_writer and self._env is not None and self._path is not None:
            self._env.close()
            self._env = lmdb.open(str(self._path), map_size=self.map_size, subdir=True, sync=False)


KINDS = ("ours", "reference")
#: Writes are also compared like for like: both without fsync, and both with it.
WRITE_KINDS = (*KINDS, "reference, no fsync", "ours, durable")
BACKENDS: dict[str, Callable[[], IPCBackend]] = {
    "ours": LMDBBackend,
    "reference": PickleLMDBBackend,
    "reference, no fsync": PickleLMDBNoSync,
    "ours, durable": lambda: LMDBBackend(durable=True),
}
Samples = dict[str, list[float]]


def interleaved(calls: dict[str, Callable[[], Any]], count: int, per_sample: int = 1,
                warmup: int = 3) -> Samples:
    """Seconds per call of each function, sampled in turn: one sample of each, `count`
    times (the order alternating), each the mean of `per_sample` calls. Results are
    freed outside the timer."""
    for fn in calls.values():
        for _ in range(warmup):
            fn()
    out: Samples = {kind: [] for kind in calls}
    clock = time.perf_counter_ns
    for i in range(count):
        for kind in (list(calls) if i % 2 == 0 else list(reversed(calls))):
            fn = calls[kind]
            start = clock()
            result = fn()
            for _ in range(per_sample - 1):
                fn()
            end = clock()
            del result
            out[kind].append((end - start) / per_sample / 1e9)
    return out


def writer(kinds: tuple[str, ...], names: dict[str, str], size: int, samples: int,
           done: Any, out: Any) -> None:
    data = generate_test_dict(size)
    if samples:
        kinds = (*kinds, *(k for k in WRITE_KINDS if k not in kinds))
    stores = {kind: BACKENDS[kind]() for kind in kinds}
    for kind, store in stores.items():
        store.initialize(names[kind], True)
        store.write(data)
    if samples:
        def writes(store: IPCBackend, dicts: list[dict[str, Any]]) -> Callable[[], None]:
            it = itertools.cycle(dicts)
            return lambda: store.write(next(it))

        other = generate_test_dict(size, seed=1)
        same = {k: writes(s, [data]) for k, s in stores.items()}
        out.put(("write, same dict", interleaved(same, samples)))
        new = {k: writes(s, [other, data]) for k, s in stores.items()}
        out.put(("write, all values new", interleaved(new, samples)))
        for store in stores.values():
            store.write(data)
    out.put(("written", {}))
    done.wait(1200)
    for store in stores.values():
        store.cleanup()


def reader(kinds: tuple[str, ...], names: dict[str, str], size: int, samples: int,
           batches: int, out: Any) -> None:
    stores = {kind: BACKENDS[kind]() for kind in kinds}
    for kind, store in stores.items():
        store.initialize(names[kind], False)
        # Reading the whole snapshot once also maps every page, as a long-running
        # reader has.
        while store.read() is None:
            time.sleep(0.001)
    if samples:
        out.put(("read", interleaved({k: s.read for k, s in stores.items()}, samples)))
    # The reference's get unpickles everything: a few samples of it say enough.
    keys = [f"key_{random.randrange(size)}" for _ in range(100 * batches)]
    pos = {k: itertools.count() for k in stores}

    def batch_of(kind: str) -> Callable[[], None]:
        get = stores[kind].get

        def run() -> None:
            b = next(pos[kind]) % batches
            for key in keys[b * 100 : (b + 1) * 100]:
                get(key)
        return run

    per = {k: batch_of(k) for k in stores}
    got: Samples = {}
    if "ours" in per:
        got.update(interleaved({"ours": per["ours"]}, batches))
    if "reference" in per:
        got.update(interleaved({"reference": per["reference"]}, 3, warmup=1))
    out.put((f"get@{size}", {k: [x / 100 for x in xs] for k, xs in got.items()}))
    for store in stores.values():
        store.cleanup()


def measure(kinds: tuple[str, ...], size: int, samples: int, batches: int) -> dict[str, Samples]:
    names = {kind: f"bench_{uuid.uuid4().hex[:8]}" for kind in WRITE_KINDS}
    done, out = ctx.Event(), ctx.Queue()
    results: dict[str, Samples] = {}
    w = in_process(writer, kinds, names, size, samples, done, out)
    while "written" not in results:  # writes are timed with no reader running
        what, xs = receive(out, [w])
        results[what] = xs
    r = in_process(reader, kinds, names, size, samples, batches, out)
    while f"get@{size}" not in results:
        what, xs = receive(out, [w, r])
        results[what] = xs
    done.set()
    join_all([w, r])
    del results["written"]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=1_000_000, help="entries for the large get() case")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--batches", type=int, default=300, help="get() samples per round")
    args = parser.parse_args()
    for name in ("size", "big", "rounds", "samples", "batches"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")

    pooled: dict[tuple[str, str], list[float]] = {}
    per_round: dict[tuple[str, str], list[float]] = {}
    for r in range(args.rounds):
        runs = [(KINDS, args.size, args.samples), (("ours",), args.big, 0)]
        for kinds, size, samples in runs:
            for what, by_kind in measure(kinds, size, samples, args.batches).items():
                for kind, xs in by_kind.items():
                    pooled.setdefault((kind, what), []).extend(xs)
                    per_round.setdefault((kind, what), []).append(statistics.median(xs))
        print(f"round {r + 1}/{args.rounds} done", flush=True)

    n, big = args.size, args.big
    t = Table(f"LMDBBackend vs py-lmdb (pickle, protocol 5), {args.rounds} rounds")
    t.add(f"read {n}", pooled["ours", "read"], pooled["reference", "read"], "<= 0.60x")
    for what in ("write, same dict", "write, all values new"):
        t.add(f"{what} {n}", pooled["ours", what], pooled["reference", what], "<= 0.50x")
    for what in ("write, same dict", "write, all values new"):
        t.add(f"  both no fsync: {what}", pooled["ours", what],
              pooled["reference, no fsync", what], "(like for like)")
        t.add(f"  both fsync: {what}", pooled["ours, durable", what],
              pooled["reference", what], "(like for like)")
    t.add(f"get(key) at {n}", pooled["ours", f"get@{n}"], pooled["reference", f"get@{n}"], "<= 2 us")
    t.add(f"get(key) at {big}", pooled["ours", f"get@{big}"], None, "<= 2 us")
    t.print()

    print("\nper round: ours/reference of the round's medians (get: ours, us)")
    for what in ("read", "write, same dict", "write, all values new"):
        ratios = [a / b for a, b in zip(per_round["ours", what], per_round["reference", what])]
        print(f"  {what:<24}" + " ".join(f"{x:.2f}" for x in ratios))
    for size in (n, big):
        print(f"  {'get(key) at ' + str(size):<24}"
              + " ".join(f"{x * 1e6:.2f}" for x in per_round["ours", f"get@{size}"]))


if __name__ == "__main__":
    main()
