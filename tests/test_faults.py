"""Faults from outside: a full disk, timeouts too long to add to a clock, names no file
can have. Each must be an ordinary, named error (or, for a huge timeout, a long wait),
never a panic, and must leave the store usable."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from ipc_benchmark import (
    InvalidNameError,
    IPCTimeoutError,
    LMDBBackend,
    SharedMemoryBackend,
    UsageError,
    ZeroMQBackend,
)

BACKENDS = [SharedMemoryBackend, LMDBBackend, ZeroMQBackend]

#: Runs in a private mount namespace with a 24 MiB tmpfs at argv[1]: fills the disk
#: under an LMDB store and reports what happened, as JSON.
FULL_DISK = textwrap.dedent(
    """
    import json, os, sys
    from ipc_benchmark import IPCOSError, LMDBBackend

    disk = sys.argv[1]
    w = LMDBBackend(path=os.path.join(disk, "store"), remove_on_cleanup=True)
    w.initialize("full", True)
    r = LMDBBackend(path=os.path.join(disk, "store"))
    r.initialize("full", False)
    w.write({"v": 1, "blob": b"a" * (2 << 20)})
    # Leave about 1 MiB free.
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    with open(os.path.join(disk, "filler"), "wb") as f:
        f.write(b"\\0" * (free - (1 << 20)))
    out = {}
    for size_mib in (4, 20):
        try:
            w.write({"v": 2, "blob": b"b" * (size_mib << 20)})
            out[f"write {size_mib}"] = "ok"
        except IPCOSError as e:
            out[f"write {size_mib}"] = [e.errno, str(e)]
    out["read while full"] = r.read()["v"]
    os.remove(os.path.join(disk, "filler"))
    w.write({"v": 3, "blob": b"c" * (4 << 20)})
    got = r.read()
    out["read after freeing"] = [got["v"], len(got["blob"])]
    r.cleanup()
    w.cleanup()
    out["left"] = os.listdir(disk)
    print(json.dumps(out))
    """
)


def test_a_full_disk_is_enospc_naming_the_file(tmp_path: Path) -> None:
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("needs unshare (util-linux) for a private tmpfs")
    disk = tmp_path / "disk"
    disk.mkdir()
    script = (
        f"mount -t tmpfs -o size=24m tmpfs {disk} || exit 77; "
        f'exec {sys.executable} -c "$0" {disk}'
    )
    proc = subprocess.run(
        [unshare, "-m", "--propagation", "private", "sh", "-c", script, FULL_DISK],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode == 77 or "unshare failed" in proc.stderr:
        pytest.skip(f"no private mount namespace here: {proc.stderr.strip()[-300:]}")
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout)
    for size in (4, 20):
        errno, message = out[f"write {size}"]
        assert errno == 28, message  # ENOSPC, not EIO
        assert f"{disk}/store/data.mdb" in message and "bytes" in message, message
    assert out["read while full"] == 1
    assert out["read after freeing"] == [3, 4 << 20]
    assert out["left"] == []


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("timeout", [1e19, 9.3e18, 1.7e308, float("inf")])
def test_huge_timeouts_mean_wait_for_ever(backend: Any, timeout: float, unique_name: str) -> None:
    """Waiting "for ever" for a version that exists returns at once; no overflow panics."""
    w = backend()
    w.initialize(unique_name, True)
    r = backend()
    try:
        r.initialize(unique_name, False)
        w.write({"a": 1})
        assert r.wait_for_update(0, timeout) == 1
    finally:
        r.cleanup()
        w.cleanup()


def test_huge_zeromq_timeouts_are_taken(unique_name: str) -> None:
    w = ZeroMQBackend(mode="push", timeout=9.3e18)
    r = ZeroMQBackend(mode="push", timeout=9.3e18)
    try:
        w.initialize(unique_name, True)
        r.initialize(unique_name, False)
        w.expect_reads(1, 1)
        w.write({"a": 1})
        assert r.read() == {"a": 1}
        with pytest.raises(UsageError, match="cannot be counted"):
            w.expect_reads(sys.maxsize, 4)
    finally:
        r.cleanup()
        w.cleanup()


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_timeouts_are_value_errors(backend: Any, unique_name: str) -> None:
    w, r = backend(), backend()
    w.initialize(unique_name, True)
    try:
        r.initialize(unique_name, False)
        for bad in (-1.0, float("nan"), -float("inf")):
            with pytest.raises(ValueError, match="timeout"):
                r.wait_for_update(0, bad)
        with pytest.raises(IPCTimeoutError):
            r.wait_for_update(0, 0.0)
    finally:
        r.cleanup()
        w.cleanup()


@pytest.mark.parametrize("backend", BACKENDS)
def test_names_no_file_can_have_are_invalid_names(backend: Any) -> None:
    for bad in ("\udcff", "a\ud800b"):
        with pytest.raises(InvalidNameError, match="surrogate"):
            backend().initialize(bad, True)
