"""A forked child (a DataLoader worker) leaves its parent's stores alone: it cannot use
the copies it inherited, and ending it, however it ends, closes and removes nothing of
the parent's. Each backend, its writer and its reader, with children made by os.fork and
by multiprocessing's fork context."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipc_benchmark import IPCBackend, WriterExistsError

from .forks import (
    BACKENDS,
    assert_readable,
    in_child,
    on_disk,
    open_backend,
    publish,
    read_report,
)

fork_ctx = mp.get_context("fork")
ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")


@pytest.fixture(params=sorted(BACKENDS))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(unique_name: str) -> Iterator[str]:
    """A store name; the test fails if anything of it is left behind."""
    yield unique_name
    assert on_disk(unique_name) == set(), "the test left files behind"


def worker(holder: list[IPCBackend], opener: int, report: int, how: str) -> None:
    """A multiprocessing worker; it ends by sys.exit, by returning or by os._exit."""
    then = {"sys.exit": "cleanup", "return": "drop", "os._exit": "keep"}[how]
    in_child(holder, opener, report, then)
    if how == "sys.exit":
        sys.exit(0)
    if how == "os._exit":
        os._exit(0)


def run_child(holder: list[IPCBackend], how: str) -> tuple[int, list[str]]:
    """Forks a child that uses and then lets go of the stores in `holder` as `how` says;
    returns its exit code and the problems it reported."""
    rfd, wfd = os.pipe()
    if how.startswith("mp "):
        p = fork_ctx.Process(target=worker, args=(holder, os.getpid(), wfd, how[3:]))
        p.start()
        os.close(wfd)
        problems = read_report(rfd)
        p.join(30)
        assert p.exitcode is not None, "the child did not end"
        return p.exitcode, problems
    then = how.removeprefix("os.fork, ")
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(rfd)
            in_child(holder, os.getppid(), wfd, then)
            code = 0
        finally:
            os._exit(code)  # never back into pytest
    os.close(wfd)
    problems = read_report(rfd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), problems


@pytest.mark.parametrize(
    "how",
    [
        "os.fork, drop",
        "os.fork, cleanup",
        "os.fork, keep",
        "mp sys.exit",
        "mp return",
        "mp os._exit",
    ],
)
def test_an_inherited_store_is_inert(kind: str, store: str, how: str) -> None:
    # The list is the stores' only reference, so that a child that empties its copy
    # drops them (no local names them).
    holder = [open_backend(kind, store, True), open_backend(kind, store, False)]
    try:
        publish(kind, holder[0], holder[1], {"v": 1})
        files = on_disk(store)
        code, problems = run_child(holder, how)
        # A negative code is the signal that ended the child (a panic, an abort).
        assert (code, problems) == (0, [])
        assert on_disk(store) == files, "the child removed some of the parent's files"
        with pytest.raises(WriterExistsError):  # the parent's writer still holds its lock
            open_backend(kind, store, True)
        # The parent carries on: it publishes, its reader and a new one read.
        publish(kind, holder[0], holder[1], {"v": 2})
        assert_readable(kind, store, {"v": 2})
    finally:
        for s in reversed(holder):
            s.cleanup()


def test_the_end_of_a_child_process_changes_nothing(kind: str, store: str) -> None:
    """The child ends with sys.exit in its own interpreter, whose finalization drops the
    inherited stores; this process reads the store meanwhile, from outside."""
    with subprocess.Popen(
        [sys.executable, "-m", "tests.forks", kind, store],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as writer:
        assert writer.stdin is not None and writer.stdout is not None
        line = writer.stdout.readline()
        assert line, "the writer process died"
        report = json.loads(line)
        try:
            assert report == {"status": 0, "problems": [], "kept": True}
            assert_readable(kind, store, {"v": 2})
        finally:
            writer.stdin.write("done\n")
            writer.stdin.close()
            assert writer.wait(30) == 0


def open_own(kind: str, name: str, report: int) -> None:
    """In a child: a reader of its own works, a writer of its own is refused."""
    problems = []
    try:
        assert_readable(kind, name, {"v": 1})
    except BaseException as e:  # reported to the parent
        problems.append(f"reader: {e!r}")
    try:
        open_backend(kind, name, True).cleanup()
        problems.append("a second writer was let in")
    except WriterExistsError:
        pass
    except BaseException as e:  # reported to the parent
        problems.append(f"writer: {e!r}")
    os.write(report, json.dumps(problems).encode())


def test_a_child_opens_stores_of_its_own(kind: str, store: str) -> None:
    w, r = open_backend(kind, store, True), open_backend(kind, store, False)
    try:
        publish(kind, w, r, {"v": 1})
        rfd, wfd = os.pipe()
        p = fork_ctx.Process(target=open_own, args=(kind, store, wfd))
        p.start()
        os.close(wfd)
        assert read_report(rfd) == []
        p.join(30)
        assert p.exitcode == 0
        publish(kind, w, r, {"v": 2})
    finally:
        r.cleanup()
        w.cleanup()


def write_when_told(kind: str, name: str, go: int, report: int) -> None:
    """In a child: once the parent's writer is gone, becomes the writer itself."""
    problems = []
    assert os.read(go, 1) == b"g"
    try:
        w = open_backend(kind, name, True)
        r = open_backend(kind, name, False)
        publish(kind, w, r, {"v": 7})
        r.cleanup()
        w.cleanup()
    except BaseException as e:  # reported to the parent
        problems.append(repr(e))
    os.write(report, json.dumps(problems).encode())


@pytest.mark.parametrize("kind", ["shm", "lmdb", "zmq"])
def test_a_child_writes_once_the_parents_writer_is_gone(kind: str, store: str) -> None:
    w, r = open_backend(kind, store, True), open_backend(kind, store, False)
    publish(kind, w, r, {"v": 1})
    go_r, go_w = os.pipe()
    rfd, wfd = os.pipe()
    p = fork_ctx.Process(target=write_when_told, args=(kind, store, go_r, wfd))
    p.start()
    os.close(wfd)
    r.cleanup()
    w.cleanup()
    os.write(go_w, b"g")
    assert read_report(rfd) == []
    p.join(30)
    assert p.exitcode == 0
    for fd in (go_r, go_w):
        os.close(fd)


def in_poll(tid: int) -> bool:
    """Whether thread `tid` of this process is blocked in poll (x86-64 numbers)."""
    return Path(f"/proc/self/task/{tid}/syscall").read_text().split()[0] in ("7", "271")


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="reads x86-64 syscall numbers")
def test_a_store_busy_in_another_thread_at_the_fork_does_not_hang_the_child(store: str) -> None:
    """A thread of the parent was inside a call on the store (a push-mode read waiting
    for its message, holding the store's lock) when the parent forked: in the child,
    that thread is gone and the lock stays taken. Using the store there is still an
    error, and cleanup() still returns."""
    w = open_backend("zmq-push", store, True)
    r = open_backend("zmq-push", store, False)
    tids: list[int] = []
    got: list[object] = []

    def read() -> None:
        tids.append(threading.get_native_id())
        got.append(r.read())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        while not (tids and in_poll(tids[0])):  # the read holds the lock while it polls
            reader.join(0.001)
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 1
            signal.alarm(10)  # a hang ends the child, which then reports nothing
            try:
                os.close(rfd)
                in_child([r], os.getppid(), wfd, "cleanup")
                code = 0
            finally:
                os._exit(code)
        os.close(wfd)
        assert read_report(rfd) == []
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
        w.expect_reads(1, 1)
        w.write({"v": 1})
        reader.join(10)
        assert got == [{"v": 1}]
    finally:
        reader.join(10)
        r.cleanup()
        w.cleanup()
