"""ZeroMQBackend across processes: late joiners, many readers, restarts, crashes, tcp."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import socket
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ipc_benchmark import (
    InvalidNameError,
    IPCError,
    IPCTimeoutError,
    UsageError,
    WriterExistsError,
    ZeroMQBackend,
)
from ipc_benchmark.utils import generate_test_dict

ctx = mp.get_context("spawn")


def socket_dir(name: str) -> Path:
    return Path(tempfile.gettempdir()) / f"ipcb_zmq_{name}"


@pytest.fixture
def store(unique_name: str) -> Iterator[str]:
    """A store name; the test fails if its socket directory is left behind."""
    yield unique_name
    assert not socket_dir(unique_name).exists(), "the test left socket files behind"


def free_port() -> int:
    """Two consecutive free ports (data and control), the first returned."""
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            if port >= 65000:
                continue
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
            return int(port)
    raise RuntimeError("no two consecutive free ports")


def open_backend(name: str, is_writer: bool, **options: Any) -> ZeroMQBackend:
    b = ZeroMQBackend(**options)
    b.initialize(name, is_writer)
    return b


# --- processes ----------------------------------------------------------------------


def reader_process(name: str, options: dict[str, Any], expect: dict[str, Any], out: Any) -> None:
    """Waits for `expect` to arrive and reports what it saw."""
    r = open_backend(name, False, **options)
    try:
        r.wait_for_update(0, timeout=30)
        deadline = time.monotonic() + 30
        while r.read() != expect and time.monotonic() < deadline:
            r.wait_for_update(r.version, timeout=max(0.01, deadline - time.monotonic()))
        out.put(("ok", r.read() == expect, r.version))
    except Exception as e:  # reported to the test, which fails with it
        out.put(("error", repr(e), 0))
    finally:
        r.cleanup()


def writer_process(name: str, data: dict[str, Any], ready: Any, stop: Any) -> None:
    w = open_backend(name, True)
    w.write(data)
    ready.set()
    stop.wait(60)
    w.cleanup()


def push_reader(name: str, reads: int, out: Any) -> None:
    r = open_backend(name, False, mode="push", timeout=30)
    try:
        got = [r.read() for _ in range(reads)]
        out.put(("ok", all(g == {"n": 1} for g in got), len(got)))
    except Exception as e:
        out.put(("error", repr(e), 0))
    finally:
        r.cleanup()


def connect_and_hang(name: str, connected: Any) -> None:
    r = open_backend(name, False)
    r.wait_for_update(0, timeout=30)
    connected.set()
    time.sleep(3600)  # killed by the test


# --- tests --------------------------------------------------------------------------


def test_late_joiner_gets_the_current_snapshot(store: str) -> None:
    w = open_backend(store, True)
    try:
        w.write({"step": 1})
        w.write({"step": 2})
        r = open_backend(store, False)  # joins after both writes
        try:
            assert r.wait_for_update(0, timeout=10) == 2
            assert r.read() == {"step": 2} and r.get("step") == 2 and r.keys() == ["step"]
            assert not r.stale
        finally:
            r.cleanup()
    finally:
        w.cleanup()


@pytest.mark.parametrize("readers", [1, 4])
def test_every_reader_sees_the_newest_snapshot(store: str, readers: int) -> None:
    data = generate_test_dict(2000)
    out = ctx.Queue()
    procs = [ctx.Process(target=reader_process, args=(store, {}, data, out)) for _ in range(readers)]
    for p in procs:
        p.start()
    w = open_backend(store, True)
    try:
        w.write({"warm": "up"})
        w.write(data)
        results = [out.get(timeout=60) for _ in procs]
    finally:
        for p in procs:
            p.join(30)
        w.cleanup()
    for status, equal, version in results:
        assert status == "ok", equal
        assert equal and version == 2


def test_writer_restart_is_followed(store: str) -> None:
    r = open_backend(store, False)
    try:
        ready, stop = ctx.Event(), ctx.Event()
        p = ctx.Process(target=writer_process, args=(store, {"run": 1}, ready, stop))
        p.start()
        assert ready.wait(60)
        first = r.wait_for_update(0, timeout=30)
        assert r.read() == {"run": 1}
        stop.set()
        p.join(30)
        # The writer is gone: the reader keeps its snapshot and can tell it is stale.
        deadline = time.monotonic() + 10
        while not r.stale and time.monotonic() < deadline:
            with pytest.raises(IPCTimeoutError, match="last heard from the writer"):
                r.wait_for_update(first, timeout=0.3)
        assert r.stale and r.read() == {"run": 1}
        # A new writer (versions count from 1 again) is picked up; the version this
        # reader reports keeps growing.
        ready, stop = ctx.Event(), ctx.Event()
        p = ctx.Process(target=writer_process, args=(store, {"run": 2}, ready, stop))
        p.start()
        assert ready.wait(60)
        assert r.wait_for_update(first, timeout=30) > first
        assert r.read() == {"run": 2} and not r.stale
        stop.set()
        p.join(30)
    finally:
        r.cleanup()


def test_a_crashed_reader_does_not_block_the_writer(store: str) -> None:
    w = open_backend(store, True)
    connected = ctx.Event()
    p = ctx.Process(target=connect_and_hang, args=(store, connected))
    p.start()
    try:
        w.write({"i": 0})
        assert connected.wait(60)
        os.kill(p.pid, signal.SIGKILL)
        p.join(30)
        live = open_backend(store, False)
        try:
            big = {"blob": b"x" * (1 << 20)}
            t0 = time.monotonic()
            for i in range(50):
                w.write({**big, "i": i})
            assert time.monotonic() - t0 < 20
            live.wait_for_update(0, timeout=10)
            deadline = time.monotonic() + 10
            while live.get("i") != 49 and time.monotonic() < deadline:
                live.wait_for_update(live.version, timeout=1)
            assert live.get("i") == 49
        finally:
            live.cleanup()
    finally:
        if p.is_alive():
            p.kill()
        w.cleanup()


def test_tcp_on_loopback(unique_name: str) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    w = open_backend(unique_name, True, endpoint=endpoint)
    r = open_backend(unique_name, False, endpoint=endpoint)
    try:
        w.write({"over": "tcp"})
        assert r.wait_for_update(0, timeout=10) == 1 and r.read() == {"over": "tcp"}
        with pytest.raises(WriterExistsError, match="in use"):
            open_backend(unique_name, True, endpoint=endpoint)
    finally:
        r.cleanup()
        w.cleanup()


def test_a_directory_the_user_named_keeps_everything_but_our_files(
        unique_name: str, tmp_path: Path) -> None:
    mine = tmp_path / "notes.txt"
    mine.write_text("not the store's")
    endpoint = f"ipc://{tmp_path}"
    w = open_backend(unique_name, True, endpoint=endpoint)
    r = open_backend(unique_name, False, endpoint=endpoint)
    try:
        w.write({"a": 1})
        assert r.wait_for_update(0, timeout=10) == 1 and r.read() == {"a": 1}
    finally:
        r.cleanup()
        w.cleanup()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert mine.read_text() == "not the store's"


def test_a_writer_that_fails_to_bind_leaves_nothing(store: str) -> None:
    # A directory where the data socket should go: the bind fails after the claim.
    (socket_dir(store) / "data").mkdir(parents=True)
    with pytest.raises(IPCError):
        open_backend(store, True)
    # The `store` fixture checks that the socket directory is gone.


def test_push_mode_serves_one_message_per_read(store: str) -> None:
    readers, reads = 3, 7
    out = ctx.Queue()
    procs = [ctx.Process(target=push_reader, args=(store, reads, out)) for _ in range(readers)]
    w = open_backend(store, True, mode="push", timeout=60)
    assert w.consumes_messages
    try:
        for p in procs:
            p.start()
        w.expect_reads(readers, reads)
        w.write({"n": 1})  # waits for all three readers, then sends 21 messages
        results = [out.get(timeout=60) for _ in procs]
    finally:
        for p in procs:
            p.join(30)
        w.cleanup()
    assert results == [("ok", True, reads)] * readers


def test_push_writer_times_out_waiting_for_readers(store: str) -> None:
    w = open_backend(store, True, mode="push", timeout=0.3)
    try:
        w.expect_reads(2, 1)
        with pytest.raises(IPCTimeoutError, match="waiting for 2 readers to connect \\(0 did\\)"):
            w.write({"n": 1})
    finally:
        w.cleanup()


def test_waits_use_no_cpu(store: str) -> None:
    w = open_backend(store, True)
    r = open_backend(store, False)
    try:
        w.write({"a": 1})
        r.wait_for_update(0, timeout=10)
        cpu0 = time.process_time()
        with pytest.raises(IPCTimeoutError):
            r.wait_for_update(1, timeout=1.0)
        assert time.process_time() - cpu0 < 0.1
    finally:
        r.cleanup()
        w.cleanup()


def test_socket_files_are_private(store: str) -> None:
    w = open_backend(store, True)
    try:
        d = socket_dir(store)
        assert stat.S_IMODE(d.stat().st_mode) == 0o700
        for name in ("data", "control"):
            assert stat.S_IMODE((d / name).stat().st_mode) == 0o600
        with pytest.raises(WriterExistsError, match=f"pid {os.getpid()}"):
            open_backend(store, True)
    finally:
        w.cleanup()


def test_reader_before_any_writer(store: str) -> None:
    r = open_backend(store, False)
    try:
        assert r.read() is None and r.version == 0 and r.stale
        with pytest.raises(IPCTimeoutError, match="has not been heard from"):
            r.wait_for_update(0, timeout=0.2)
    finally:
        r.cleanup()


@pytest.mark.parametrize(
    ("endpoint", "why"),
    [("tcp://localhost", "needs a port"), ("udp://x:1", "use ipc://"), ("tcp://h:99999", "port")],
)
def test_bad_endpoints(unique_name: str, endpoint: str, why: str) -> None:
    with pytest.raises(InvalidNameError, match=why):
        open_backend(unique_name, True, endpoint=endpoint)


def test_misuse(store: str) -> None:
    with pytest.raises(ValueError, match="mode"):
        ZeroMQBackend(mode="fanout")
    r = open_backend(store, False)
    with pytest.raises(UsageError, match="write\\(\\) is not available to a reader"):
        r.write({"a": 1})
    r.cleanup()
    with pytest.raises(UsageError, match="initialize"):
        r.read()
