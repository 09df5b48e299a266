"""The reference backends directly, across processes, without MPI (mpi-bcast needs MPI:
tests/test_benchmark_mpi.py runs it)."""

from __future__ import annotations

import json
import pickle
import socket
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from ipc_benchmark import PREFIX, IPCError, IPCTimeoutError
from ipc_benchmark.harness import training
from ipc_benchmark.reference._names import os_name
from ipc_benchmark.reference.lmdb_backend import PickleLMDBBackend
from ipc_benchmark.reference.shm_backend import PickleSharedMemoryBackend
from ipc_benchmark.reference.zmq_backend import PickleZeroMQBackend
from ipc_benchmark.utils import generate_test_dict

from .conftest import run_python

SHM = Path("/dev/shm")
TMP = Path(tempfile.gettempdir())


@pytest.fixture(autouse=True)
def leaves_nothing(unique_name: str) -> object:
    """Every OS object a test creates has its unique name in it; none may survive it."""
    yield
    left = [p for base in (SHM, TMP) for p in base.glob(f"{PREFIX}*{unique_name}*")]
    assert left == [], "the test left OS objects behind"


def reader_script(backend: str, name: str, body: str) -> str:
    """A child interpreter that attaches a reader of ``backend`` to ``name``."""
    module, cls = backend.rsplit(".", 1)
    return textwrap.dedent(f"""
        import json, sys
        from {module} import {cls}
        r = {cls}()
        r.initialize({name!r}, False)
    """) + textwrap.dedent(body)


# Names


@pytest.mark.parametrize("bad", ["", "a/b", "..", "a.b", "sp ace", "é", "x" * 201])
def test_names_are_checked_before_anything_is_created(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid store name"):
        os_name("pyshm", bad)
    for backend in (PickleSharedMemoryBackend(), PickleLMDBBackend(), PickleZeroMQBackend()):
        with pytest.raises(ValueError, match="invalid store name"):
            backend.initialize(bad, True)


def test_every_os_name_has_the_prefix() -> None:
    assert os_name("pyshm", "abc") == f"{PREFIX}pyshm_abc"


# py-shm


def test_shm_round_trip_and_cleanup(unique_name: str) -> None:
    w, r = PickleSharedMemoryBackend(), PickleSharedMemoryBackend()
    w.initialize(unique_name, True)
    assert (SHM / f"{PREFIX}pyshm_{unique_name}").exists()
    r.initialize(unique_name, False)
    assert r.read() is None
    data = generate_test_dict(50)
    w.write(data)
    assert r.read() == data and r.get("key_3") == data["key_3"]
    r.cleanup()
    w.cleanup()
    w.cleanup()  # twice is fine
    assert not (SHM / f"{PREFIX}pyshm_{unique_name}").exists()


def test_the_training_payload_is_pickled_in_band_at_protocol_5(unique_name: str) -> None:
    """As the original would: the arrays inside the one pickle, read back with their
    types (NumPy scalars, int keys) by py-shm and py-lmdb alike."""
    data = training.generate(1.5, 2)  # more than py-shm's first 1 MiB segment
    shm_writer, shm_reader = PickleSharedMemoryBackend(), PickleSharedMemoryBackend()
    shm_writer.initialize(unique_name, True)
    try:
        shm_reader.initialize(unique_name, False)
        shm_writer.write(data)
        raw = (SHM / f"{PREFIX}pyshm_{unique_name}").read_bytes()
        length = int.from_bytes(raw[:8], "little")
        assert raw[16:16 + length] == pickle.dumps(data, protocol=5)
        assert training.mismatch(shm_reader.read(), data) is None
        assert training.mismatch(shm_reader.get("metrics"), data["metrics"]) is None
        shm_reader.cleanup()
    finally:
        shm_writer.cleanup()
    # LMDB opens an environment once per process: the writer reads its own.
    lmdb = PickleLMDBBackend()
    lmdb.initialize(unique_name, True)
    try:
        lmdb.write(data)
        assert training.mismatch(lmdb.read(), data) is None
        assert training.mismatch(lmdb.get("weights"), data["weights"]) is None
    finally:
        lmdb.cleanup()


def test_shm_reader_exit_leaves_the_writers_segment(unique_name: str) -> None:
    """Before 3.13 an attached reader registered the segment with its resource tracker,
    which unlinked it when the reader exited: the original's readers broke the writer."""
    w = PickleSharedMemoryBackend()
    w.initialize(unique_name, True)
    try:
        w.write({"a": 1})
        child = run_python(reader_script(
            "ipc_benchmark.reference.shm_backend.PickleSharedMemoryBackend", unique_name,
            "print(json.dumps(r.read())); r.cleanup()"))
        assert child.returncode == 0, child.stderr
        assert json.loads(child.stdout) == {"a": 1}
        assert "leaked" not in child.stderr, child.stderr
        assert (SHM / f"{PREFIX}pyshm_{unique_name}").exists(), "the reader's exit unlinked it"
        # A second reader can still attach.
        again = run_python(reader_script(
            "ipc_benchmark.reference.shm_backend.PickleSharedMemoryBackend", unique_name,
            "print(json.dumps(r.read()))"))
        assert again.returncode == 0 and json.loads(again.stdout) == {"a": 1}, again.stderr
    finally:
        w.cleanup()


def test_shm_grows_and_readers_follow(unique_name: str) -> None:
    w = PickleSharedMemoryBackend(initial_capacity=64)
    r = PickleSharedMemoryBackend()
    w.initialize(unique_name, True)
    r.initialize(unique_name, False)
    try:
        w.write({"a": 1})
        assert r.read() == {"a": 1}
        big = generate_test_dict(500)
        w.write(big)  # far past 64 bytes: a new segment under the same name
        assert r.read() == big
        child = run_python(reader_script(
            "ipc_benchmark.reference.shm_backend.PickleSharedMemoryBackend", unique_name,
            "print(len(r.read()))"))
        assert child.returncode == 0 and child.stdout.strip() == "500", child.stderr
        w.write({"b": 2})  # smaller again: fits, no new segment
        assert r.read() == {"b": 2}
    finally:
        r.cleanup()
        w.cleanup()


def test_shm_errors_name_the_segment(unique_name: str) -> None:
    with pytest.raises(IPCError, match=f"no segment {PREFIX}pyshm_{unique_name}"):
        PickleSharedMemoryBackend().initialize(unique_name, False)
    w = PickleSharedMemoryBackend()
    w.initialize(unique_name, True)
    try:
        with pytest.raises(IPCError, match="already exists"):
            PickleSharedMemoryBackend().initialize(unique_name, True)
    finally:
        w.cleanup()


# py-lmdb


def test_lmdb_across_processes_with_growth(unique_name: str) -> None:
    w = PickleLMDBBackend(map_size=64 * 1024)
    w.initialize(unique_name, True)
    path = TMP / f"{PREFIX}pylmdb_{unique_name}"
    try:
        assert path.is_dir()
        big = generate_test_dict(2000)  # ~110 kB of pickle: more than the 64 KiB map
        w.write(big)
        child = run_python(reader_script(
            "ipc_benchmark.reference.lmdb_backend.PickleLMDBBackend", unique_name,
            "d = r.read(); print(len(d), d['key_1999']['value']); r.cleanup()"))
        assert child.returncode == 0, child.stderr
        assert child.stdout.split() == ["2000", "1999"]
    finally:
        w.cleanup()
    assert not path.exists()


def test_lmdb_reader_without_writer_says_so(unique_name: str) -> None:
    with pytest.raises(IPCError, match="has the writer initialized"):
        PickleLMDBBackend().initialize(unique_name, False)


# py-zmq

ZMQ = "ipc_benchmark.reference.zmq_backend.PickleZeroMQBackend"


def start_reader(name: str, body: str) -> subprocess.Popen[str]:
    code = reader_script(ZMQ, name, body).replace(f"{ZMQ.rsplit('.', 1)[1]}()",
                                                 "PickleZeroMQBackend(timeout=1.0)")
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_zmq_each_reader_gets_exactly_its_share(unique_name: str) -> None:
    w = PickleZeroMQBackend(timeout=30)
    w.initialize(unique_name, True)
    sock = TMP / f"{PREFIX}pyzmq_{unique_name}.sock"
    assert sock.exists()
    body = """
        got = [r.read() for _ in range(3)]
        try:
            r.read()
            extra = "a 4th message"
        except Exception as e:
            extra = type(e).__name__
        r.cleanup()
        print(json.dumps([got, extra]))
    """
    readers = [start_reader(unique_name, body) for _ in range(2)]
    try:
        w.expect_reads(2, 3)
        w.write({"n": 7})  # waits until both readers are connected
        for proc in readers:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            assert json.loads(out) == [[{"n": 7}] * 3, "IPCTimeoutError"]
    finally:
        for proc in readers:
            proc.kill()
        w.cleanup()
    assert not sock.exists()


def test_zmq_more_messages_than_the_high_water_mark(unique_name: str) -> None:
    """The original queued every message before anyone read: past 1000 it blocked."""
    w = PickleZeroMQBackend(timeout=30)
    w.initialize(unique_name, True)
    # The reader connects, then reads nothing until the writer has sent everything.
    reader = start_reader(unique_name, """
        sys.stdin.readline()
        print(sum(r.read()["i"] for _ in range(2500)))
        r.cleanup()
    """)
    try:
        w.expect_reads(1, 2500)
        w.write({"i": 1})
        reader.stdin.write("go\n")  # type: ignore[union-attr]
        reader.stdin.flush()  # type: ignore[union-attr]
        out, err = reader.communicate(timeout=60)
        assert reader.returncode == 0, err
        assert out.strip() == "2500"
    finally:
        reader.kill()
        w.cleanup()


def test_zmq_over_tcp(unique_name: str) -> None:
    """For readers on other machines: the writer binds the tcp endpoint, readers connect
    to it, and no socket file is made."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"tcp://127.0.0.1:{port}"
    w = PickleZeroMQBackend(timeout=30, endpoint=endpoint)
    r = PickleZeroMQBackend(timeout=30, endpoint=endpoint)
    w.initialize(unique_name, True)
    try:
        r.initialize(unique_name, False)
        w.expect_reads(1, 2)
        w.write({"over": "tcp"})  # waits until the reader is connected
        assert [r.read(), r.read()] == [{"over": "tcp"}] * 2
    finally:
        r.cleanup()
        w.cleanup()
    assert not (TMP / f"{PREFIX}pyzmq_{unique_name}.sock").exists()
    with pytest.raises(ValueError, match="give tcp://host:port"):
        PickleZeroMQBackend(endpoint="ipc:///tmp/x")


def test_zmq_writer_without_readers_times_out_clearly(unique_name: str) -> None:
    w = PickleZeroMQBackend(timeout=0.2)
    w.initialize(unique_name, True)
    try:
        with pytest.raises(IPCTimeoutError, match="0 of 1 readers connected"):
            w.write({"a": 1})
    finally:
        w.cleanup()


def test_zmq_reader_without_messages_times_out_clearly(unique_name: str) -> None:
    r = PickleZeroMQBackend(timeout=0.2)
    r.initialize(unique_name, False)
    try:
        with pytest.raises(IPCTimeoutError, match="no message .* within 0.2 s"):
            r.read()
    finally:
        r.cleanup()


def test_zmq_second_writer_is_refused(unique_name: str) -> None:
    w = PickleZeroMQBackend()
    w.initialize(unique_name, True)
    try:
        with pytest.raises(IPCError, match="already exists"):
            PickleZeroMQBackend().initialize(unique_name, True)
    finally:
        w.cleanup()
