"""LMDBBackend across processes: persistence, atomicity, growth, crashes, errors, cleanup."""

from __future__ import annotations

import errno
import hashlib
import multiprocessing as mp
import os
import signal
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ipc_benchmark import IPCOSError, LMDBBackend
from ipc_benchmark.utils import generate_test_dict

from .conftest import run_python
from .stores import assert_no_torn_reads, assert_reader_attaches_before_writer

TMP = Path(tempfile.gettempdir())
ctx = mp.get_context("spawn")


def store_dir(name: str) -> Path:
    return TMP / f"ipcb_lmdb_{name}"


@pytest.fixture
def store(unique_name: str) -> Iterator[str]:
    """A store name; the test fails if its directory is left in the temp dir."""
    yield unique_name
    assert not store_dir(unique_name).exists(), "the test left its LMDB store behind"


@pytest.fixture(autouse=True, scope="module")
def no_leftovers() -> Iterator[None]:
    """Nothing of this module's stores may remain in the temp dir at the end."""
    yield
    left = sorted(p.name for p in TMP.glob(f"ipcb_lmdb_t{os.getpid()}_*"))
    assert left == [], f"LMDB stores left behind: {left}"


def reader(name: str, **options: Any) -> LMDBBackend:
    r = LMDBBackend(**options)
    r.initialize(name, False)
    return r


def writer(name: str, **options: Any) -> LMDBBackend:
    w = LMDBBackend(**options)
    w.initialize(name, True)
    return w


def big_snapshot(seed: int, mib: int) -> dict[str, Any]:
    blob = bytes([seed % 256]) * (mib << 20)
    return {"seed": seed, "blob": blob, "digest": hashlib.blake2b(blob).hexdigest()}


def intact(d: dict[str, Any] | None) -> bool:
    if d is None:
        return False
    digest: str = d["digest"]
    return hashlib.blake2b(d["blob"]).hexdigest() == digest


# --- processes ----------------------------------------------------------------------


def write_and_exit(name: str, path: str, data: dict[str, Any], times: int, remove: bool) -> None:
    w = writer(name, path=path, remove_on_cleanup=remove)
    for _ in range(times):
        w.write(data)
    w.cleanup()


def read_once(name: str, path: str | None, out: Any) -> None:
    r = reader(name, path=path)
    out.put((r.version, r.read(), r.keys()))
    r.cleanup()


def publish_growing_until_killed(name: str, mib: int) -> None:
    """Each snapshot is larger than the last, so each commit extends the data file: the
    test sees the file grow while the commit is under way."""
    w = writer(name)
    i = 0
    while True:
        i += 1
        w.write(big_snapshot(i, mib * i))


def read_then_hang(name: str, max_readers: int, ready: Any, loop: bool) -> None:
    """Takes a reader slot and keeps it (reading in a loop, or idle) until killed."""
    r = reader(name, max_readers=max_readers)
    assert r.read() is not None
    ready.set()
    while loop:
        assert r.read() is not None
    time.sleep(3600)


def read_and_report(name: str, max_readers: int, out: Any) -> None:
    try:
        r = reader(name, max_readers=max_readers)
        out.put(("ok", r.get("key_7")))
        r.cleanup()
    except Exception as e:  # reported to the test, which shows it
        out.put(("failed", f"{type(e).__name__}: {e}"))


def read_grown(name: str, attached: Any, go: Any, out: Any) -> None:
    r = reader(name)
    assert r.version == 0 and r.read() is None  # attached before the map grows
    attached.set()
    go.wait(120)
    d = r.read()
    out.put((r.version, d is not None and all(intact(v) for v in d.values())))
    r.cleanup()


def wait_then_report(name: str, attached: Any, out: Any) -> None:
    r = reader(name)
    attached.set()
    t0 = time.monotonic()
    version = r.wait_for_update(1, timeout=60)
    out.put((version, time.monotonic() - t0, r.get("a")))
    r.cleanup()


# --- tests --------------------------------------------------------------------------


def test_write_read_get_keys(store: str) -> None:
    data = generate_test_dict(1000)
    data = {"zzz": 1, **data, "": [None], "é" * 300: (1, 2)}
    with writer(store) as w, reader(store) as r:
        assert r.read() is None and r.version == 0 and r.keys() == []
        w.write(data)
        assert r.read() == data
        assert r.keys() == list(data)
        assert r.get("key_999") == data["key_999"]
        assert r.get("") == [None] and r.get("é" * 300) == (1, 2)
        assert r.get("missing") is None and r.get("missing", 0) == 0
        assert (w.version, r.version) == (1, 1)
        w.write({"x": 1})
        assert r.read() == {"x": 1} and r.get("key_1") is None


def test_reader_can_attach_before_the_writer_exists(store: str) -> None:
    assert_reader_attaches_before_writer("lmdb", store)


def test_data_persists_across_a_restart(store: str, tmp_path: Path) -> None:
    path = str(tmp_path / "store")
    data = generate_test_dict(500, seed=7)
    p = ctx.Process(target=write_and_exit, args=(store, path, data, 3, False))
    p.start()
    p.join(60)
    assert p.exitcode == 0
    # A reader started after the writer exited reads its last snapshot.
    out = ctx.Queue()
    p = ctx.Process(target=read_once, args=(store, path, out))
    p.start()
    version, got, keys = out.get(timeout=60)
    p.join(30)
    assert (version, got, keys) == (3, data, list(data))
    assert (tmp_path / "store" / "data.mdb").exists(), "a path the user gave is kept"
    # A new writer carries on from the stored version.
    w = writer(store, path=path)
    assert w.version == 3
    w.write({"after": "restart"})
    assert reader(store, path=path).version == 4
    w.cleanup()
    assert reader(store, path=path).read() == {"after": "restart"}
    # Only when asked is it removed, and only what the store consists of.
    (tmp_path / "store" / "notes.txt").write_text("the user's")
    p = ctx.Process(target=write_and_exit, args=(store, path, {"a": 1}, 1, True))
    p.start()
    p.join(60)
    assert p.exitcode == 0
    assert sorted(os.listdir(path)) == ["notes.txt"]


def test_no_torn_reads_under_continuous_rewrites(store: str) -> None:
    assert_no_torn_reads("lmdb", store, min_reads=100)


def test_the_map_grows_past_1_gib(store: str) -> None:
    # Two 320 MiB values, rewritten once: copy-on-write keeps the old snapshot until the
    # new one commits, so the map must hold 1.25 GiB (it starts at 64 MiB).
    attached, go, out = ctx.Event(), ctx.Event(), ctx.Queue()
    p = ctx.Process(target=read_grown, args=(store, attached, go, out))
    p.start()
    w = writer(store)
    try:
        assert attached.wait(60)
        for seed in (1, 2):
            w.write({"a": big_snapshot(seed, 320), "b": big_snapshot(seed + 10, 320)})
        size = (store_dir(store) / "data.mdb").stat().st_size
        assert size > 1 << 30, f"data file of only {size} bytes"
        go.set()  # the reader, whose map is still the initial one, reads now
        assert out.get(timeout=120) == (2, True)
        p.join(60)
        assert p.exitcode == 0
    finally:
        go.set()
        if p.is_alive():
            p.kill()
        w.cleanup()


def test_writer_killed_mid_write(store: str) -> None:
    p = ctx.Process(target=publish_growing_until_killed, args=(store, 16))
    p.start()
    r = reader(store)
    data_file = store_dir(store) / "data.mdb"
    try:
        r.wait_for_update(1, timeout=60)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            v = r.version
            committed = data_file.stat().st_size
            # The next commit is under way once the file grows past what the last one
            # wrote, while the version has not moved.
            while time.monotonic() < deadline and data_file.stat().st_size == committed:
                pass
            if r.version == v:
                p.kill()
                break
        else:
            pytest.fail("never caught the writer committing")
        p.join(30)
        assert p.exitcode == -signal.SIGKILL
        assert r.version == v, "the writer published before the kill landed"
        d = r.read()
        assert d is not None and d["seed"] == v and intact(d)
        # A new writer takes over: LMDB recovers the dead writer's lock, the version
        # goes on, readers see no gap.
        w = writer(store)
        try:
            assert w.version == v and r.read() == d
            w.write({"after": "restart"})
            assert r.version == v + 1 and r.read() == {"after": "restart"}
        finally:
            w.cleanup()
    finally:
        if p.is_alive():
            p.kill()
        r.cleanup()


@pytest.mark.parametrize("mid_read", [False, True])
def test_killed_readers_slots_are_reclaimed(store: str, mid_read: bool) -> None:
    # Four reader slots: the writer's thread takes one, three hung readers the rest.
    # Without stale slots being cleared, every later reader would fail (MDB_READERS_FULL).
    w = writer(store, max_readers=4)
    current = generate_test_dict(5000)
    w.write(current)
    try:
        for round_ in range(2):
            hung = []
            for _ in range(3):
                ready = ctx.Event()
                p = ctx.Process(target=read_then_hang, args=(store, 4, ready, mid_read))
                p.start()
                assert ready.wait(60)
                hung.append(p)
            for p in hung:
                p.kill()
                p.join(30)
            out = ctx.Queue()
            fresh = [ctx.Process(target=read_and_report, args=(store, 4, out)) for _ in range(3)]
            for p in fresh:
                p.start()
            results = [out.get(timeout=60) for _ in fresh]
            for p in fresh:
                p.join(30)
            assert results == [("ok", current["key_7"])] * 3
            current = generate_test_dict(5000, seed=round_ + 1)
            w.write(current)  # the writer goes on too
    finally:
        w.cleanup()


def test_bad_paths_are_clear_errors(store: str, tmp_path: Path) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("not a directory")
    for is_writer in (True, False):
        with pytest.raises(IPCOSError, match="a_file") as info:
            LMDBBackend(path=a_file / "store").initialize(store, is_writer)
        assert info.value.errno == errno.ENOTDIR
    # sysfs refuses new directories to everyone, root included.
    with pytest.raises(IPCOSError, match="/sys/ipcb_lmdb_test") as info:
        LMDBBackend(path="/sys/ipcb_lmdb_test/store").initialize(store, True)
    assert info.value.errno in (errno.EPERM, errno.EACCES, errno.EROFS)
    with pytest.raises(ValueError, match="max_readers must be at least 1, got 0"):
        LMDBBackend(max_readers=0)


def test_permission_errors_name_the_path(store: str) -> None:
    # The store's directory is private (0700). Another user is refused; as root, the
    # check runs in a child that gives up its privileges first.
    w = writer(store)
    w.write({"a": 1})
    try:
        mode = store_dir(store).stat().st_mode & 0o777
        assert mode == 0o700, oct(mode)
        code = textwrap.dedent(f"""
            import errno, os
            from ipc_benchmark import IPCOSError, LMDBBackend
            if os.geteuid() == 0:  # after the imports: the interpreter may be root's
                os.setgid(65534)
                os.setuid(65534)
            for is_writer in (False, True):
                try:
                    LMDBBackend().initialize({store!r}, is_writer)
                except IPCOSError as e:
                    assert e.errno in (errno.EACCES, errno.EPERM), e
                    assert {str(store_dir(store))!r} in str(e), e
                    print("refused:", e)
                else:
                    raise SystemExit("a stranger opened the store")
            """)
        result = run_python(code)
        assert result.returncode == 0, result.stderr
        assert result.stdout.count("refused:") == 2, result.stdout
    finally:
        w.cleanup()


def test_wait_for_update_wakes_on_a_write_from_another_process(store: str) -> None:
    w = writer(store)
    w.write({"a": 1})
    attached, out = ctx.Event(), ctx.Queue()
    p = ctx.Process(target=wait_then_report, args=(store, attached, out))
    p.start()
    try:
        assert attached.wait(60)
        w.write({"a": 2})
        version, waited, value = out.get(timeout=60)
        assert (version, value) == (2, 2) and waited < 30
    finally:
        p.join(30)
        w.cleanup()


def test_durable_writes_work_alike(store: str) -> None:
    with writer(store, durable=True) as w, reader(store) as r:
        w.write({"a": 1})
        assert r.read() == {"a": 1}


def test_writer_dropped_without_cleanup_removes_its_store(store: str) -> None:
    w = writer(store)
    w.write({"a": 1})
    del w
    assert not store_dir(store).exists()
