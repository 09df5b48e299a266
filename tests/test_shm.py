"""SharedMemoryBackend across processes: ordering, atomicity, growth, crashes, cleanup."""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import signal
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipc_benchmark import SharedMemoryBackend, StoreClosedError
from ipc_benchmark.utils import generate_test_dict

from .stores import assert_no_torn_reads, assert_reader_attaches_before_writer

SHM = Path("/dev/shm")
ctx = mp.get_context("spawn")


def segments(name: str) -> list[str]:
    return sorted(p.name for p in SHM.iterdir() if p.name.startswith(f"ipcb_shm_{name}"))


@pytest.fixture
def store(unique_name: str) -> Iterator[str]:
    """A store name; the test fails if anything of it is left in /dev/shm afterwards."""
    yield unique_name
    assert segments(unique_name) == [], "the test left segments behind"


def reader(name: str) -> SharedMemoryBackend:
    r = SharedMemoryBackend()
    r.initialize(name, False)
    return r


def writer(name: str) -> SharedMemoryBackend:
    w = SharedMemoryBackend()
    w.initialize(name, True)
    return w


# --- processes ----------------------------------------------------------------------


def publish_big_until_killed(name: str, mib: int) -> None:
    w = writer(name)
    i = 0
    while True:
        i += 1
        blob = bytes([i % 256]) * (mib << 20)
        w.write({"seed": i, "blob": blob, "digest": hashlib.blake2b(blob).hexdigest()})


# --- tests --------------------------------------------------------------------------


def test_reader_can_attach_before_the_writer_exists(store: str) -> None:
    assert_reader_attaches_before_writer("shm", store)


def test_snapshots_grow_without_limit(store: str) -> None:
    w, r = writer(store), reader(store)
    try:
        for size in (10, 100_000, 100 * 1024 * 1024):
            blob = os.urandom(1024) * (size // 1024) if size >= 1024 else b"x" * size
            w.write({"blob": blob, "size": size})
            got = r.read()
            assert got is not None and got["size"] == size and got["blob"] == blob
            assert segments(store) == [f"ipcb_shm_{store}", f"ipcb_shm_{store}.{w.version}"]
    finally:
        w.cleanup()
        r.cleanup()


def test_no_torn_reads_under_continuous_rewrites(store: str) -> None:
    assert_no_torn_reads("shm", store, min_reads=200)


def test_writer_killed_mid_write(store: str) -> None:
    # Large snapshots make the window between creating a segment and publishing it long
    # (tens of ms), so the kill below lands inside it.
    p = ctx.Process(target=publish_big_until_killed, args=(store, 32))
    p.start()
    r = reader(store)
    try:
        r.wait_for_update(1, timeout=60)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            v = r.version
            if (SHM / f"ipcb_shm_{store}.{v + 1}").exists() and r.version == v:
                os.kill(p.pid, signal.SIGKILL)
                break
        else:
            pytest.fail("never caught the writer between creating and publishing")
        p.join(30)
        assert p.exitcode == -signal.SIGKILL
        assert r.version == v, "the writer published before the kill landed"
        assert (SHM / f"ipcb_shm_{store}.{v + 1}").exists(), "no half-written segment"
        d = r.read()
        assert d is not None and d["seed"] == v
        assert hashlib.blake2b(d["blob"]).hexdigest() == d["digest"]
        # A new writer takes over the name, removes the half-written segment and goes on
        # from the last version; readers see no gap.
        w = writer(store)
        try:
            assert r.read() == d
            assert segments(store) == [f"ipcb_shm_{store}", f"ipcb_shm_{store}.{v}"]
            w.write({"after": "restart"})
            assert r.version == v + 1 and r.read() == {"after": "restart"}
            assert segments(store) == [f"ipcb_shm_{store}", f"ipcb_shm_{store}.{v + 1}"]
        finally:
            w.cleanup()
    finally:
        if p.is_alive():
            p.kill()
        r.cleanup()


def test_close_semantics_and_restart(store: str) -> None:
    w, r = writer(store), reader(store)
    w.write({"gen": 1})
    assert r.read() == {"gen": 1}
    w.cleanup()
    assert segments(store) == []
    with pytest.raises(StoreClosedError, match="the writer closed this store"):
        r.read()
    with pytest.raises(StoreClosedError):
        r.wait_for_update(1, timeout=5)
    w2 = writer(store)  # a restarted writer: the reader follows it
    w2.write({"gen": 2})
    assert r.read() == {"gen": 2} and r.version == 1
    w2.cleanup()
    r.cleanup()


def test_segments_are_private_and_prefixed(store: str) -> None:
    w = writer(store)
    w.write({"a": 1})
    for name in segments(store):
        assert stat.S_IMODE((SHM / name).stat().st_mode) == 0o600
        assert name.startswith("ipcb_")
    w.cleanup()


def test_get_and_keys_read_one_key(store: str) -> None:
    data = generate_test_dict(1000)
    with writer(store) as w, reader(store) as r:
        w.write(data)
        assert r.keys() == list(data)
        assert r.get("key_999") == data["key_999"]
        assert r.get("missing") is None and r.get("missing", 0) == 0


def test_writer_dropped_without_cleanup_removes_segments(store: str) -> None:
    w = writer(store)
    w.write({"a": 1})
    del w  # garbage collection must not leak the segments
    assert segments(store) == []
