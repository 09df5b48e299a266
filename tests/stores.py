"""What the shared-memory and LMDB tests share: opening a store by kind, self-checking
snapshots, and the processes of the torn-read and attach-before-write tests.

Process targets take the store kind as a string, since spawned processes receive
their arguments pickled.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import random
import time
from typing import Any

from ipc_benchmark import IPCBackend, LMDBBackend, SharedMemoryBackend, WriterExistsError

ctx = mp.get_context("spawn")

KINDS: dict[str, type[IPCBackend]] = {"shm": SharedMemoryBackend, "lmdb": LMDBBackend}


def open_store(kind: str, name: str, is_writer: bool, **options: Any) -> Any:
    store = KINDS[kind](**options)
    store.initialize(name, is_writer)
    return store


def self_checking(n: int, seed: int) -> dict[str, Any]:
    """A dict whose 'digest' entry is a hash of everything else: a reader can tell a
    torn snapshot (parts of two writes) from a whole one."""
    rng = random.Random(seed)
    body = {f"k{i}": [rng.random(), seed, "x" * rng.randrange(50)] for i in range(n)}
    digest = hashlib.blake2b(repr(sorted(body.items())).encode(), digest_size=16).hexdigest()
    return {"seed": seed, "digest": digest, **body}


def is_whole(d: dict[str, Any]) -> bool:
    body = {k: v for k, v in d.items() if k not in ("seed", "digest")}
    return bool(d["digest"] == hashlib.blake2b(repr(sorted(body.items())).encode(), digest_size=16).hexdigest())


def write_later(kind: str, name: str, data: dict[str, Any], go: Any, done: Any) -> None:
    go.wait(30)
    w = open_store(kind, name, True)
    w.write(data)
    done.wait(30)
    w.cleanup()


def rewrite_forever(kind: str, name: str, ready: Any, stop: Any, sizes: tuple[int, int]) -> None:
    """Alternates two self-checking dicts of different sizes as fast as it can."""
    w = open_store(kind, name, True)
    variants = [self_checking(sizes[0], 1), self_checking(sizes[1], 2)]
    w.write(variants[0])
    ready.set()
    i = 0
    while not stop.is_set():
        i += 1
        w.write(variants[i % 2])
    w.cleanup()


def check_reads(kind: str, name: str, seconds: float, out: Any) -> None:
    """Reads for `seconds`, counting reads, torn snapshots and the variants seen."""
    r = open_store(kind, name, False)
    reads = torn = 0
    seen: set[int] = set()
    last_version = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        d = r.read()
        assert d is not None
        v = r.version
        reads += 1
        torn += not is_whole(d)
        seen.add(d["seed"])
        if v < last_version:
            torn += 1  # a version going backwards is as wrong as a torn read
        last_version = v
    r.cleanup()
    out.put((reads, torn, sorted(seen)))


def assert_no_torn_reads(kind: str, name: str, min_reads: int) -> None:
    """A writer rewrites continuously while two readers check every read for 4 s."""
    ready, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
    w = ctx.Process(target=rewrite_forever, args=(kind, name, ready, stop, (2000, 500)))
    w.start()
    assert ready.wait(60)
    readers = [ctx.Process(target=check_reads, args=(kind, name, 4.0, out)) for _ in range(2)]
    for p in readers:
        p.start()
    results = [out.get(timeout=120) for _ in readers]
    stop.set()
    for p in [*readers, w]:
        p.join(60)
        assert p.exitcode == 0
    for reads, torn, seen in results:
        assert torn == 0
        assert reads >= min_reads, f"only {reads} reads in 4 s"
        assert seen == [1, 2], "the reader never saw the writer switch snapshots"


def assert_reader_attaches_before_writer(kind: str, name: str) -> None:
    r = open_store(kind, name, False)
    assert r.read() is None and r.version == 0 and r.keys() == [] and r.get("a", 1) == 1
    go, done = ctx.Event(), ctx.Event()
    p = ctx.Process(target=write_later, args=(kind, name, {"a": [1, 2]}, go, done))
    p.start()
    try:
        go.set()
        assert r.wait_for_update(0, timeout=30) == 1
        assert r.read() == {"a": [1, 2]} and r.get("a") == [1, 2]
    finally:
        done.set()
        p.join(30)
        r.cleanup()
    assert p.exitcode == 0


def try_to_write(kind: str, name: str, out: Any) -> None:
    """Tries to become the writer of `name`; reports how that went."""
    try:
        open_store(kind, name, True)
    except WriterExistsError as e:
        out.put(("exists", str(e)))
    else:
        out.put(("became writer", ""))
