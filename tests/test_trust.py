"""Who may touch a store: objects of another user, objects others can write to, and links
planted where a store's files go are refused, never used or followed.

The tests run as root; "another user" is ``nobody``, reached with ``setpriv``. Tests that
need it skip (saying why) where that is not possible. Every test removes what it or
``nobody`` planted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ipc_benchmark import (
    IPCError,
    IPCOSError,
    LMDBBackend,
    SharedMemoryBackend,
    UntrustedStoreError,
    ZeroMQBackend,
)

SHM = Path("/dev/shm")
TMP = Path(tempfile.gettempdir())
BACKENDS: dict[str, Callable[..., Any]] = {
    "shm": SharedMemoryBackend,
    "lmdb": LMDBBackend,
    "zmq": ZeroMQBackend,
}
AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def store_paths(kind: str, name: str) -> list[Path]:
    """Where a named store of `kind` keeps its objects (the head, or the directory)."""
    return {
        "shm": [SHM / f"ipcb_shm_{name}"],
        "lmdb": [TMP / f"ipcb_lmdb_{name}"],
        "zmq": [TMP / f"ipcb_zmq_{name}"],
    }[kind]


def leftovers(name: str) -> list[Path]:
    return sorted(p for base in (SHM, TMP) for p in base.iterdir() if name in p.name)


def remove(path: Path) -> None:
    """Removes what a test planted, whoever owns it (root may)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


@pytest.fixture
def planted(unique_name: str) -> Iterator[list[Path]]:
    """Paths the test plants; removed afterwards, then nothing of the store may be left."""
    paths: list[Path] = []
    yield paths
    for path in paths:
        remove(path)
    assert leftovers(unique_name) == [], "the test left files behind"


def run_as_nobody(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AS_NOBODY, sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )


@pytest.fixture(scope="module")
def nobody() -> int:
    """The uid of `nobody`, once it is known that this process can act as that user."""
    if os.geteuid() != 0:
        pytest.skip("acting as another user needs root")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    probe = run_as_nobody("import os, ipc_benchmark; print(os.geteuid())")
    if probe.returncode != 0:
        pytest.skip(f"nobody cannot run this interpreter with ipc_benchmark: {probe.stderr}")
    return int(probe.stdout)


def plant_as_nobody(code: str, *args: str) -> None:
    done = run_as_nobody("import os, sys; os.umask(0)\n" + code, *args)
    assert done.returncode == 0, done.stderr


def open_store(kind: str, name: str, is_writer: bool, **options: Any) -> Any:
    store = BACKENDS[kind](**options)
    store.initialize(name, is_writer)
    return store


def refused(kind: str, name: str, is_writer: bool, **options: Any) -> str:
    """The message of the UntrustedStoreError that opening (and reading) raises."""
    with pytest.raises(UntrustedStoreError) as caught:
        store = open_store(kind, name, is_writer, **options)
        try:
            store.read()
        finally:
            store.cleanup()
    return str(caught.value)


# --- the error --------------------------------------------------------------------------


def test_untrusted_store_error_is_a_permission_error() -> None:
    assert issubclass(UntrustedStoreError, IPCError)
    assert issubclass(UntrustedStoreError, IPCOSError)  # what such refusals raised before
    assert issubclass(UntrustedStoreError, PermissionError)


def test_trust_uid_is_an_option_of_every_backend() -> None:
    for make in BACKENDS.values():
        assert make().trust_uid is None
        assert make(trust_uid=65534).trust_uid == 65534


# --- another user's objects -------------------------------------------------------------

PLANT_FILE = """
path, mode = sys.argv[1], int(sys.argv[2], 8)
fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
os.write(fd, b"planted by nobody".ljust(4096, b"."))
os.close(fd)
"""


@pytest.mark.parametrize("mode", ["666", "600"])
def test_shm_writer_never_takes_over_another_users_head(
    nobody: int, unique_name: str, planted: list[Path], mode: str
) -> None:
    head = SHM / f"ipcb_shm_{unique_name}"
    planted.append(head)
    plant_as_nobody(PLANT_FILE, str(head), mode)
    message = refused("shm", unique_name, True)
    assert str(head) in message and f"uid {nobody} (nobody)" in message, message
    assert f"mode 0{mode}" in message, message
    # Untouched: neither initialised as a head nor resized.
    assert head.read_bytes() == b"planted by nobody".ljust(4096, b".")
    # Its readers are refused too, trusted or not when others can write to it.
    assert str(head) in refused("shm", unique_name, False)
    if mode == "666":
        trusted = refused("shm", unique_name, False, trust_uid=nobody)
        assert "other users can write to it" in trusted, trusted


@pytest.mark.parametrize("kind", ["zmq", "lmdb"])
@pytest.mark.parametrize("mode", ["777", "700"])
def test_writer_never_uses_a_directory_of_another_user(
    nobody: int, unique_name: str, planted: list[Path], kind: str, mode: str
) -> None:
    (directory,) = store_paths(kind, unique_name)
    planted.append(directory)
    plant_as_nobody("os.mkdir(sys.argv[1], int(sys.argv[2], 8))", str(directory), mode)
    message = refused(kind, unique_name, True)
    assert str(directory) in message and "nobody" in message and f"0{mode}" in message
    assert list(directory.iterdir()) == [], "the writer created files in it"


WRITER = """
import sys
from ipc_benchmark import LMDBBackend, SharedMemoryBackend, ZeroMQBackend
kind, name = sys.argv[1], sys.argv[2]
store = {"shm": SharedMemoryBackend, "lmdb": LMDBBackend, "zmq": ZeroMQBackend}[kind]()
store.initialize(name, True)
store.write({"owner": "nobody"})
print("ready", flush=True)
sys.stdin.readline()
store.cleanup()
"""


@pytest.mark.parametrize("kind", sorted(BACKENDS))
def test_readers_read_another_users_store_only_when_told_to_trust_it(
    nobody: int, unique_name: str, planted: list[Path], kind: str
) -> None:
    planted.extend(store_paths(kind, unique_name))  # should the writer be killed
    writer = subprocess.Popen(
        [*AS_NOBODY, sys.executable, "-c", WRITER, kind, unique_name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd="/",
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
        message = refused(kind, unique_name, False)
        assert f"uid {nobody} (nobody)" in message and f"trust_uid={nobody}" in message
        # Trusting another uid is not trusting this one.
        refused(kind, unique_name, False, trust_uid=nobody + 1)
        reader = open_store(kind, unique_name, False, trust_uid=nobody)
        try:
            if kind == "zmq":
                reader.wait_for_update(0, 10.0)
            assert reader.read() == {"owner": "nobody"}
        finally:
            reader.cleanup()
        # A writer of this user does not take the store over.
        refused(kind, unique_name, True)
    finally:
        if writer.stdin is not None:
            writer.stdin.write("\n")
            writer.stdin.close()
        assert writer.wait(timeout=30) == 0
    assert leftovers(unique_name) == [], "nobody's writer left files behind"


# --- links planted where a store's objects go -------------------------------------------


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file of this user that a followed link would overwrite."""
    path = tmp_path / "victim"
    path.write_bytes(b"keep")
    return path


def test_shm_link_at_the_head_is_refused_not_followed(
    unique_name: str, planted: list[Path], victim: Path
) -> None:
    head = SHM / f"ipcb_shm_{unique_name}"
    planted.append(head)
    head.symlink_to(victim)
    for is_writer in (True, False):
        message = refused("shm", unique_name, is_writer)
        assert str(head) in message and "symbolic link" in message, message
    assert victim.read_bytes() == b"keep"


def test_zmq_link_at_the_socket_directory_is_refused_not_followed(
    unique_name: str, planted: list[Path], tmp_path: Path
) -> None:
    target = tmp_path / "target"
    target.mkdir(mode=0o700)
    (directory,) = store_paths("zmq", unique_name)
    planted.append(directory)
    directory.symlink_to(target)
    for is_writer in (True, False):
        message = refused("zmq", unique_name, is_writer)
        assert str(directory) in message and "symbolic link" in message, message
    assert list(target.iterdir()) == [], "sockets or the lock were created in the target"


def test_zmq_link_at_the_lock_file_is_refused_not_followed(
    unique_name: str, planted: list[Path], tmp_path: Path, victim: Path
) -> None:
    directory = tmp_path / "sockets"
    directory.mkdir(mode=0o700)
    (directory / "writer.lock").symlink_to(victim)
    with pytest.raises(UntrustedStoreError, match="symbolic link"):
        ZeroMQBackend(endpoint=f"ipc://{directory}").initialize(unique_name, True)
    assert victim.read_bytes() == b"keep"
    assert sorted(p.name for p in directory.iterdir()) == ["writer.lock"]


@pytest.mark.parametrize("file", ["ipcb_notify", "data.mdb", "lock.mdb"])
def test_lmdb_link_at_a_store_file_is_refused_not_followed(
    unique_name: str, tmp_path: Path, victim: Path, file: str
) -> None:
    directory = tmp_path / "store"
    directory.mkdir(mode=0o700)
    (directory / file).symlink_to(victim)
    for is_writer in (True, False):
        store = LMDBBackend(path=directory)
        with pytest.raises(UntrustedStoreError, match="symbolic link"):
            store.initialize(unique_name, is_writer)
            store.read()
    assert victim.read_bytes() == b"keep"


# --- objects others can write to ----------------------------------------------------------


def test_shm_head_others_can_write_to_is_refused(unique_name: str, planted: list[Path]) -> None:
    head = SHM / f"ipcb_shm_{unique_name}"
    planted.append(head)
    head.touch(mode=0o600)
    head.chmod(0o620)
    for is_writer in (True, False):
        message = refused("shm", unique_name, is_writer, **({} if is_writer else {"trust_uid": 0}))
        assert "mode 0620" in message and "other users can write to it" in message, message
    assert head.stat().st_size == 0


@pytest.mark.parametrize("mode", [0o770, 0o707], ids=oct)
def test_zmq_directory_others_can_write_to_is_refused(
    unique_name: str, tmp_path: Path, mode: int
) -> None:
    directory = tmp_path / "sockets"
    directory.mkdir()
    directory.chmod(mode)
    for is_writer in (True, False):
        with pytest.raises(UntrustedStoreError, match="other users can write to it"):
            ZeroMQBackend(endpoint=f"ipc://{directory}").initialize(unique_name, is_writer)
    assert list(directory.iterdir()) == []


def test_lmdb_store_others_can_write_to_is_refused(unique_name: str, tmp_path: Path) -> None:
    directory = tmp_path / "store"
    writer = LMDBBackend(path=directory, remove_on_cleanup=True)
    writer.initialize(unique_name, True)
    writer.write({"a": 1})
    try:
        for path, mode in [(directory, 0o777), (directory / "data.mdb", 0o666)]:
            path.chmod(mode)
            message = refused("lmdb", unique_name, False, path=directory)
            assert str(path) in message and "other users can write to it" in message
            path.chmod(0o700 if path == directory else 0o600)
        directory.chmod(0o777)
        second = LMDBBackend(path=directory)
        with pytest.raises(UntrustedStoreError, match="other users can write to it"):
            second.initialize(unique_name, True)
        directory.chmod(0o700)
        reader = open_store("lmdb", unique_name, False, path=directory)
        assert reader.read() == {"a": 1}
        reader.cleanup()
    finally:
        writer.cleanup()
