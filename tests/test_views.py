"""Arrays read from the stores: views of the snapshot's memory (shared memory, ZeroMQ),
kept alive by the snapshot they came from; copies from LMDB; int keys and the pickle
fallback through every store."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

from ipc_benchmark import (
    IPCBackend,
    LMDBBackend,
    PickleFallbackError,
    SharedMemoryBackend,
    ZeroMQBackend,
)
from ipc_benchmark.leftovers import find_leftovers

from .stores import ctx

KINDS: dict[str, type[IPCBackend]] = {
    "shm": SharedMemoryBackend,
    "lmdb": LMDBBackend,
    "zmq": ZeroMQBackend,
}
#: Stores whose reads view the snapshot's memory; LMDB copies.
VIEWS = {"shm", "zmq"}


@pytest.fixture(params=sorted(KINDS))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def open_store(kind: str, name: str, is_writer: bool, **options: Any) -> Any:
    s = KINDS[kind](**options)
    s.initialize(name, is_writer)
    return s


def write_and_wait(w: Any, r: Any, data: dict[Any, Any]) -> None:
    w.write(data)
    r.wait_for_update(int(w.version) - 1, timeout=30)


def state(step: int) -> dict[Any, Any]:
    """A trainer's state at `step`: weights that name the step, scalars, int keys."""
    return {
        "weights": np.full((64, 32), step, np.float32),
        "bias": np.arange(10, dtype=np.int64) + step,
        "step": np.int64(step),
        "loss": np.float32(1 / (step + 1)),
        "per_epoch": {1: 0.5, 2: 0.25},
        7: "an int key",
    }


def shm_mappings(name: str) -> list[tuple[int, int]]:
    """The address ranges of this process's mappings of the store's data segments
    (replaced or removed ones included: /proc names them `(deleted)`)."""
    ranges = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            if f"/dev/shm/ipcb_shm_{name}." in line:
                lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                ranges.append((lo, hi))
    return ranges


def test_arrays_view_the_snapshot_and_two_gets_share_it(kind: str, store: str) -> None:
    w, r = open_store(kind, store, True), open_store(kind, store, False)
    try:
        write_and_wait(w, r, state(1))
        a, b = r.get("weights"), r.get("weights")
        assert a.dtype == np.float32 and a.shape == (64, 32) and (a == 1).all()
        assert not a.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            a[0, 0] = 5
        assert np.shares_memory(a, b) == (kind in VIEWS)
        whole = r.read()
        assert np.shares_memory(whole["weights"], a) == (kind in VIEWS)
        assert type(whole["step"]) is np.int64 and whole["step"] == 1
        assert type(whole["loss"]) is np.float32
        assert r.get(7) == "an int key" and r.get("7") is None
        assert r.keys() == ["weights", "bias", "step", "loss", "per_epoch", 7]
        assert whole["per_epoch"] == {1: 0.5, 2: 0.25}
        # A writable copy is one call away.
        c = np.array(a)
        c[0, 0] = 5
        assert c[0, 0] == 5 and a[0, 0] == 1
        if kind == "shm":
            address = a.__array_interface__["data"][0]
            assert any(lo <= address < hi for lo, hi in shm_mappings(store))
    finally:
        r.cleanup()
        w.cleanup()


def test_a_snapshots_arrays_share_memory_and_outlive_it(kind: str, store: str) -> None:
    w, r = open_store(kind, store, True), open_store(kind, store, False)
    try:
        write_and_wait(w, r, state(1))
        with r.snapshot() as s:
            a, b = s["weights"], s.get("weights")
            assert np.shares_memory(a, b) == (kind in VIEWS)
            assert s["step"] == 1 and s[7] == "an int key" and 7 in s
            assert list(s) == ["weights", "bias", "step", "loss", "per_epoch", 7]
        for step in range(2, 30):
            write_and_wait(w, r, state(step))
        assert (a == 1).all() and (b == 1).all()
        assert (r.get("weights") == 29).all()
    finally:
        r.cleanup()
        w.cleanup()


def write_steps_then_clean_up(kind: str, name: str, first: int, count: int) -> None:
    w = open_store(kind, name, True)
    for step in range(first, first + count):
        w.write(state(step))
    w.cleanup()


def test_a_held_view_survives_100_publishes_and_cleanup_in_another_process(
    kind: str, store: str
) -> None:
    w, r = open_store(kind, store, True), open_store(kind, store, False)
    write_and_wait(w, r, state(1))
    weights, bias = r.get("weights"), r.get("bias")
    w.cleanup()
    p = ctx.Process(target=write_steps_then_clean_up, args=(kind, store, 2, 120))
    p.start()
    p.join(60)
    assert p.exitcode == 0
    assert [q.name for q in find_leftovers() if store in q.name] == []
    r.cleanup()
    assert (weights == 1).all() and (bias == np.arange(10) + 1).all()
    if kind == "shm":
        # Still inside a mapping of a segment whose name is gone.
        address = weights.__array_interface__["data"][0]
        assert any(lo <= address < hi for lo, hi in shm_mappings(store))


def test_pickle_fallback_through_the_stores(kind: str, store: str) -> None:
    value = {"tags": {"a", "b"}}
    plain = open_store(kind, store, True)
    with pytest.raises(TypeError, match="pickle_fallback=True"):
        plain.write(value)
    plain.cleanup()
    w = open_store(kind, store, True, pickle_fallback=True)
    refusing = open_store(kind, store, False)
    trusting = open_store(kind, store, False, pickle_fallback=True)
    try:
        assert w.pickle_fallback and not refusing.pickle_fallback
        w.write(value)
        for r in (refusing, trusting):
            r.wait_for_update(0, timeout=30)
        with pytest.raises(PickleFallbackError, match="pickle_fallback=True"):
            refusing.get("tags")
        with pytest.raises(PickleFallbackError, match="pickle_fallback=True"), refusing.snapshot() as s:
            s["tags"]
        assert trusting.get("tags") == {"a", "b"}
        assert trusting.read() == value
        with trusting.snapshot() as s:
            assert s["tags"] == {"a", "b"}
    finally:
        refusing.cleanup()
        trusting.cleanup()
        w.cleanup()


def test_get_of_keys_no_snapshot_can_hold(kind: str, store: str) -> None:
    w, r = open_store(kind, store, True), open_store(kind, store, False)
    try:
        write_and_wait(w, r, {1: "one", "a": 2})
        assert r.get(1) == "one" and r.get(2**70, "absent") == "absent"
        assert r.get(True, "absent") == "absent"  # a bool is never a key
        assert r.keys() == [1, "a"]
    finally:
        r.cleanup()
        w.cleanup()


def test_shm_view_address_is_aligned(store: str) -> None:
    w, r = open_store("shm", store, True), open_store("shm", store, False)
    try:
        write_and_wait(w, r, {"x": np.zeros(100, np.complex128)})
        assert r.get("x").__array_interface__["data"][0] % 64 == 0
    finally:
        r.cleanup()
        w.cleanup()


def test_forked_child_arrays_of_the_parent_stay_readable(store: str) -> None:
    """A view inherited across fork reads the parent's held memory (the parent holds)."""
    w, r = open_store("shm", store, True), open_store("shm", store, False)
    try:
        write_and_wait(w, r, state(3))
        a = r.get("weights")
        pid = os.fork()
        if pid == 0:  # pragma: no cover - reports through its exit code
            os._exit(0 if (a == 3).all() else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        r.cleanup()
        w.cleanup()


def write_in_push_mode(name: str, reads: int, done: Any) -> None:
    w = open_store("zmq", name, True, mode="push", timeout=60)
    w.expect_reads(1, reads)
    w.write(state(1))  # waits for the reader, then sends `reads` messages of version 1
    done.wait(60)
    w.cleanup()


def test_push_mode_arrays_of_one_version_keep_their_own_message(store: str) -> None:
    """Each push-mode read takes a new message, of the same version: its arrays must view
    that message, kept alive by an owner of its own, not the previous message's."""
    done = ctx.Event()
    p = ctx.Process(target=write_in_push_mode, args=(store, 3, done))
    p.start()
    r = open_store("zmq", store, False, mode="push", timeout=60)
    try:
        a, b, c = r.get("weights"), r.get("weights"), r.read()["weights"]
        assert not np.shares_memory(a, b) and not np.shares_memory(b, c)
        assert a.base is not b.base
        del b
        assert (a == 1).all() and (c == 1).all()
    finally:
        done.set()
        p.join(30)
        r.cleanup()
