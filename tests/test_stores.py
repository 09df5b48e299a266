"""What SharedMemoryBackend and LMDBBackend promise alike, tested once for both."""

from __future__ import annotations

import os
import time

import pytest

from ipc_benchmark import (
    InvalidNameError,
    IPCTimeoutError,
    StoreClosedError,
    UsageError,
)

from .stores import KINDS, ctx, open_store, try_to_write


@pytest.fixture(params=sorted(KINDS))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_second_writer_is_refused_until_the_first_is_gone(kind: str, store: str) -> None:
    w = open_store(kind, store, True)
    w.write({"a": 1})
    out = ctx.Queue()
    p = ctx.Process(target=try_to_write, args=(kind, store, out))
    p.start()
    what, message = out.get(timeout=60)
    p.join(30)
    assert what == "exists" and f"pid {os.getpid()}" in message and store in message
    w.write({"a": 2})  # the first writer is unaffected
    with open_store(kind, store, False) as r:
        assert r.read() == {"a": 2}
    w.cleanup()
    # Once it is gone, another process may write.
    p = ctx.Process(target=try_to_write, args=(kind, store, out))
    p.start()
    assert out.get(timeout=60) == ("became writer", "")
    p.join(30)


def test_wait_for_update_sleeps_instead_of_spinning(kind: str, store: str) -> None:
    w, r = open_store(kind, store, True), open_store(kind, store, False)
    w.write({"a": 1})
    cpu0, t0 = time.process_time(), time.monotonic()
    with pytest.raises(IPCTimeoutError, match="newer than 1"):
        r.wait_for_update(1, timeout=1.0)
    waited, cpu = time.monotonic() - t0, time.process_time() - cpu0
    assert waited >= 1.0
    assert cpu < 0.1, f"waiting used {cpu:.3f} s of CPU"
    w.cleanup()
    with pytest.raises(StoreClosedError):
        r.wait_for_update(1, timeout=5)
    r.cleanup()


@pytest.mark.parametrize(
    ("name", "why"),
    [("", "empty"), ("a/b", "'/'"), ("..", "'.'"), ("x.1", "'.'"), ("x" * 201, "201 bytes")],
)
def test_bad_names_are_refused(kind: str, name: str, why: str) -> None:
    for is_writer in (True, False):
        with pytest.raises(InvalidNameError, match=why) as info:
            KINDS[kind]().initialize(name, is_writer)
        assert isinstance(info.value, ValueError)


def test_misuse_is_explained(kind: str, store: str) -> None:
    b = KINDS[kind]()
    with pytest.raises(UsageError, match="initialize"):
        b.read()
    b.initialize(store, False)
    with pytest.raises(UsageError, match="only the writer"):
        b.write({"a": 1})
    with pytest.raises(UsageError, match="already initialised"):
        b.initialize(store, False)
    w = open_store(kind, store, True)
    with pytest.raises(TypeError, match="takes a dict, got list"):
        w.write([1, 2])
    w.cleanup()
    b.cleanup()
    b.cleanup()  # idempotent
