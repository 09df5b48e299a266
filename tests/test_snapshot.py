"""`store.snapshot()`: a read-only Mapping pinned to one version, decoded key by key, and
held (its memory kept) until released, whatever the writer does meanwhile."""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Mapping
from typing import Any

import pytest

from ipc_benchmark import (
    IPCBackend,
    LMDBBackend,
    SharedMemoryBackend,
    Snapshot,
    UsageError,
    ZeroMQBackend,
)
from ipc_benchmark.leftovers import find_leftovers

from .stores import ctx

KINDS: dict[str, type[IPCBackend]] = {
    "shm": SharedMemoryBackend,
    "lmdb": LMDBBackend,
    "zmq": ZeroMQBackend,
}
#: How often the shared-memory writer looks for dead readers (ipc_core::shm::CHECK_INTERVAL).
CHECK_INTERVAL = 0.1


@pytest.fixture(params=sorted(KINDS))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def open_store(kind: str, name: str, is_writer: bool) -> Any:
    store = KINDS[kind]()
    store.initialize(name, is_writer)
    return store


def write_and_wait(w: Any, r: Any, data: dict[Any, Any]) -> int:
    """Writes `data` and waits until the reader sees it (ZeroMQ delivers it later)."""
    w.write(data)
    version = int(w.version)
    r.wait_for_update(version - 1, timeout=30)
    return version


def numbered(n: int, size: int = 50) -> dict[str, Any]:
    """Snapshot `n`: every value names `n`, so a mix of two snapshots shows."""
    return {"n": n, **{f"k{i}": [n, i, f"{i}:{n}"] for i in range(size)}}


def test_a_snapshot_is_a_mapping_of_one_version(kind: str, store: str) -> None:
    w, r = open_store(kind, store, True), open_store(kind, store, False)
    try:
        write_and_wait(w, r, {"a": 1, "b": [1, 2], "c": {"x": "y"}})
        with r.snapshot() as s:
            assert isinstance(s, Mapping) and isinstance(s, Snapshot)
            assert s.version == 1
            assert s["a"] == 1 and s.get("b") == [1, 2] and s.get("zz", 5) == 5
            with pytest.raises(KeyError):
                s["zz"]
            assert "c" in s and "zz" not in s and 3 not in s and None not in s
            assert len(s) == 3 and list(s) == ["a", "b", "c"]
            assert list(s.keys()) == ["a", "b", "c"]
            assert dict(s.items()) == {"a": 1, "b": [1, 2], "c": {"x": "y"}}
            assert list(s.values()) == [1, [1, 2], {"x": "y"}]
            assert s.to_dict() == {"a": 1, "b": [1, 2], "c": {"x": "y"}}
            assert s == {"a": 1, "b": [1, 2], "c": {"x": "y"}}
            with pytest.raises(TypeError):
                s["a"] = 2  # type: ignore[index]
            # The store moves on; the snapshot does not.
            write_and_wait(w, r, {"a": 2})
            assert r.get("a") == 2 and r.version == 2
            assert s["a"] == 1 and len(s) == 3 and s.version == 1
    finally:
        r.cleanup()
        w.cleanup()


def test_before_the_first_write_a_snapshot_is_empty(kind: str, store: str) -> None:
    w, r = open_store(kind, store, True), open_store(kind, store, False)
    try:
        with r.snapshot() as s:
            assert s.version == 0 and len(s) == 0 and s.get("a") is None and list(s) == []
    finally:
        r.cleanup()
        w.cleanup()


def test_use_after_release_raises_usage_error(kind: str, store: str) -> None:
    w, r = open_store(kind, store, True), open_store(kind, store, False)
    try:
        write_and_wait(w, r, {"a": 1})
        with r.snapshot() as s:
            assert s["a"] == 1
        assert s.released
        for use in (
            lambda: s["a"],
            lambda: s.get("a"),
            lambda: len(s),
            lambda: list(s),
            lambda: "a" in s,
            lambda: s.version,
            lambda: s.to_dict(),
        ):
            with pytest.raises(UsageError, match="release"):
                use()
        s.release()  # idempotent
        with pytest.raises(UsageError, match="released"), s:
            pass
        # The store itself is unaffected.
        assert r.get("a") == 1
    finally:
        r.cleanup()
        w.cleanup()


def test_a_snapshot_outlives_the_stores_cleanup(kind: str, store: str) -> None:
    w, r = open_store(kind, store, True), open_store(kind, store, False)
    write_and_wait(w, r, numbered(1))
    s = r.snapshot()
    r.cleanup()
    with pytest.raises(UsageError):
        r.snapshot()  # a closed store takes no new one
    w.cleanup()
    assert [p.name for p in find_leftovers() if store in p.name] == []
    # Decoded only now, from what the snapshot holds.
    assert s.to_dict() == numbered(1) and s["k7"] == [1, 7, "7:1"]
    s.release()


def test_a_snapshot_refuses_to_be_used_in_a_forked_child(store: str) -> None:
    w, r = open_store("shm", store, True), open_store("shm", store, False)
    try:
        write_and_wait(w, r, {"a": 1})
        with r.snapshot() as s:
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child reports through its exit code
                try:
                    s["a"]
                except UsageError as e:
                    os._exit(0 if "forked" in str(e) or "process" in str(e) else 2)
                except BaseException:
                    os._exit(3)
                os._exit(1)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
            assert s["a"] == 1  # the parent's is unaffected
    finally:
        r.cleanup()
        w.cleanup()


def read_snapshots(kind: str, name: str, seconds: float, out: Any) -> None:
    """Takes snapshots for `seconds`, reading some keys of each one by one; reports how
    many it took, how many the writer overtook while they were read, and any mix."""
    r = open_store(kind, name, False)
    rng = random.Random(0)
    taken = overtaken = 0
    mixed: list[str] = []
    r.wait_for_update(0, timeout=30)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with r.snapshot() as s:
            n = s["n"]
            for key in rng.sample(range(50), 10):
                value = s[f"k{key}"]
                if value != [n, key, f"{key}:{n}"]:
                    mixed.append(f"k{key} of snapshot {n}: {value!r}")
            overtaken += r.version > s.version
            taken += 1
    r.cleanup()
    out.put((taken, overtaken, mixed[:5]))


def test_every_key_of_a_snapshot_comes_from_its_version(kind: str, store: str) -> None:
    w = open_store(kind, store, True)
    w.write(numbered(1))
    out = ctx.Queue()
    reader = ctx.Process(target=read_snapshots, args=(kind, store, 2.0, out))
    reader.start()
    n = 1
    try:
        while reader.is_alive():
            n += 1
            w.write(numbered(n))
        taken, overtaken, mixed = out.get(timeout=30)
    finally:
        reader.join(30)
        w.cleanup()
    assert mixed == []
    assert taken > 10, f"{taken} snapshots"
    # The writer did move on while snapshots were being read: the test saw the race.
    assert overtaken > 0, f"{overtaken} of {taken} snapshots overtaken, {n} writes"


def write_more_then_clean_up(kind: str, name: str, first: int, count: int) -> None:
    w = open_store(kind, name, True)
    for n in range(first, first + count):
        w.write(numbered(n))
    w.cleanup()


def test_a_held_snapshot_survives_100_publishes_and_cleanup_in_another_process(
    kind: str, store: str
) -> None:
    w, r = open_store(kind, store, True), open_store(kind, store, False)
    write_and_wait(w, r, numbered(1))
    held = r.snapshot()
    w.cleanup()
    # A new writer, in another process, publishes 120 more snapshots (reusing the
    # memory it may reuse) and removes the store.
    p = ctx.Process(target=write_more_then_clean_up, args=(kind, store, 2, 120))
    p.start()
    p.join(60)
    assert p.exitcode == 0
    assert [q.name for q in find_leftovers() if store in q.name] == []
    for i in range(50):
        assert held[f"k{i}"] == [1, i, f"{i}:1"]
    assert held.to_dict() == numbered(1)
    held.release()
    r.cleanup()


def hold_three(name: str, out: Any, stop: Any) -> None:
    """Holds snapshots of versions 1, 2 and 3 (each in its own segment), then waits."""
    r = open_store("shm", name, False)
    held = []
    for version in (1, 2, 3):
        r.wait_for_update(version - 1, timeout=30)
        held.append(r.snapshot())
        out.put(held[-1].version)
    stop.wait(60)


def test_a_killed_holders_segments_are_reclaimed(store: str) -> None:
    w = open_store("shm", store, True)
    try:
        out, stop = ctx.Queue(), ctx.Event()
        p = ctx.Process(target=hold_three, args=(store, out, stop))
        p.start()
        for version in (1, 2, 3):
            w.write(numbered(version))
            assert out.get(timeout=60) == version
        w.write(numbered(4))
        stats = w.segment_stats()
        assert stats is not None and stats["held"] == 3, stats
        os.kill(p.pid, signal.SIGKILL)
        p.join(30)
        # The writer checks for dead readers once per CHECK_INTERVAL, at a write.
        killed, n = time.monotonic(), 4
        while time.monotonic() - killed < 10 * CHECK_INTERVAL:
            n += 1
            w.write(numbered(n))
            stats = w.segment_stats()
            assert stats is not None
            if stats["held"] == 0:
                break
            time.sleep(0.01)
        assert stats["held"] == 0 and stats["reclaimed"] == 1, stats
    finally:
        w.cleanup()


def test_a_pure_python_backend_snapshots_a_private_read(store: str) -> None:
    from ipc_benchmark.reference.shm_backend import PickleSharedMemoryBackend

    w, r = PickleSharedMemoryBackend(), PickleSharedMemoryBackend()
    w.initialize(store, True)
    r.initialize(store, False)
    try:
        w.write({"a": 1, "b": 2})
        with r.snapshot() as s:
            w.write({"a": 10})
            assert s.version == 1 and dict(s) == {"a": 1, "b": 2}
        with pytest.raises(UsageError):
            s["a"]
    finally:
        r.cleanup()
        w.cleanup()
