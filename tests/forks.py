"""What the fork tests share: a writer and a reader of each backend, what a forked child
tries with the copies it inherited, and the parent's checks afterwards.

Run as a script (``python -m tests.forks KIND NAME``), it is a writer process whose
forked child ends with ``sys.exit``, so that the interpreter's own finalization drops
the inherited stores; tests/test_fork.py reads the store from outside meanwhile.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from pathlib import Path
from typing import Any

from ipc_benchmark import (
    IPCBackend,
    LMDBBackend,
    SharedMemoryBackend,
    UsageError,
    ZeroMQBackend,
)
from ipc_benchmark.leftovers import find_leftovers

#: Every backend, and ZeroMQ in both modes: (class, constructor options).
BACKENDS: dict[str, tuple[type[Any], dict[str, Any]]] = {
    "shm": (SharedMemoryBackend, {}),
    "lmdb": (LMDBBackend, {}),
    "zmq": (ZeroMQBackend, {}),
    "zmq-push": (ZeroMQBackend, {"mode": "push", "timeout": 10.0}),
}


def open_backend(kind: str, name: str, is_writer: bool) -> Any:
    cls, options = BACKENDS[kind]
    store = cls(**options)
    store.initialize(name, is_writer)
    return store


def publish(kind: str, w: Any, r: Any, data: dict[str, Any]) -> None:
    """Writes `data` and waits until reader `r` has it."""
    before = r.version
    if kind == "zmq-push":
        w.expect_reads(1, 1)
    w.write(data)
    if kind == "zmq":
        r.wait_for_update(before, timeout=10)
    assert r.read() == data


def assert_readable(kind: str, name: str, data: dict[str, Any]) -> None:
    """A reader opened now sees `data` (push mode has no current snapshot to ask for)."""
    if kind == "zmq-push":
        return
    r = open_backend(kind, name, False)
    try:
        if kind == "zmq":
            r.wait_for_update(0, timeout=10)
        assert r.read() == data and r.get("v") == data["v"]
    finally:
        r.cleanup()


def on_disk(name: str) -> set[Path]:
    """Every file and directory of store `name` (segments, LMDB dir, socket dir)."""
    found: set[Path] = set()
    for top in find_leftovers():
        if name in top.name:
            found.add(top)
            if top.is_dir():
                found.update(top.rglob("*"))
    return found


def misuse(stores: list[IPCBackend], opener: int) -> list[str]:
    """Uses each inherited store every way there is; returns what did not raise the
    UsageError that names the process that opened it (empty when all is well)."""
    expected = (
        f"this store was opened in process {opener}; open a new one in this process "
        f"({os.getpid()})"
    )
    uses: dict[str, Any] = {
        "write": lambda s: s.write({"v": -1}),
        "read": lambda s: s.read(),
        "get": lambda s: s.get("v"),
        "keys": lambda s: s.keys(),
        "version": lambda s: s.version,
        "wait_for_update": lambda s: s.wait_for_update(0, timeout=0.01),
    }
    problems = []
    for i, store in enumerate(stores):
        for what, use in uses.items():
            try:
                use(store)
            except UsageError as e:
                if expected not in str(e):
                    problems.append(f"store {i} {what}: {e}")
            except BaseException as e:  # reported to the parent
                problems.append(f"store {i} {what}: {e!r}")
            else:
                problems.append(f"store {i} {what}: no error")
    return problems


def in_child(holder: list[IPCBackend], opener: int, report: int, then: str) -> None:
    """What a forked child does with the stores in `holder`: misuses them, then lets go
    of them as `then` says ("cleanup", "drop" the last reference, or "keep"), and
    writes the problems it met, as JSON, to the pipe `report`."""
    problems = misuse(holder, opener)
    try:
        if then == "cleanup":
            for store in holder:
                store.cleanup()
        elif then == "drop":
            holder.clear()  # the child's copy of the list: the parent's keeps its stores
            gc.collect()
    except BaseException as e:  # reported to the parent
        problems.append(f"{then}: {e!r}")
    os.write(report, json.dumps(problems).encode())
    os.close(report)


def read_report(fd: int) -> list[str]:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    assert chunks, "the child reported nothing"
    problems: list[str] = json.loads(b"".join(chunks))
    return problems


def main(kind: str, name: str) -> None:
    """The writer process of the sys.exit test; talks to the test on stdin/stdout."""
    w, r = open_backend(kind, name, True), open_backend(kind, name, False)
    publish(kind, w, r, {"v": 1})
    files = on_disk(name)
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        problems = misuse([w, r], os.getppid())
        os.write(wfd, json.dumps(problems).encode())
        sys.exit(0)  # the interpreter's finalization drops w and r here
    os.close(wfd)
    problems = read_report(rfd)
    _, status = os.waitpid(pid, 0)
    kept = on_disk(name) == files
    publish(kind, w, r, {"v": 2})
    print(json.dumps({"status": status, "problems": problems, "kept": kept}))
    sys.stdout.flush()
    sys.stdin.readline()  # the test has read the store from outside
    w.cleanup()
    r.cleanup()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
