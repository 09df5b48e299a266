"""Python and Rust processes share one store: for every backend, a Python writer with a
Rust reader and a Rust writer with a Python reader (the Rust side is
crates/ipc-core/examples/peer.rs, built by `make native`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ipc_benchmark import IPCBackend, LMDBBackend, SharedMemoryBackend, ZeroMQBackend
from ipc_benchmark.utils import generate_test_dict, serialize

PEER = Path(__file__).parents[1] / "target" / "release" / "examples" / "peer"
BACKENDS: dict[str, type[IPCBackend]] = {
    "shm": SharedMemoryBackend,
    "zmq": ZeroMQBackend,
    "lmdb": LMDBBackend,
}
ENTRIES, SEED = 3000, 42


@pytest.fixture(scope="module")
def peer() -> Path:
    assert PEER.exists(), f"{PEER} is missing: build it with `make native`"
    return PEER


@pytest.mark.parametrize("kind", BACKENDS)
def test_python_writes_rust_reads(kind: str, peer: Path, unique_name: str) -> None:
    w = BACKENDS[kind]()
    w.initialize(unique_name, True)
    try:
        w.write(generate_test_dict(ENTRIES, SEED))
        proc = subprocess.run([str(peer), "read", kind, unique_name, str(ENTRIES), str(SEED)],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == ["ok", "1"]
    finally:
        w.cleanup()


@pytest.mark.parametrize("kind", BACKENDS)
def test_rust_writes_python_reads(kind: str, peer: Path, unique_name: str) -> None:
    proc = subprocess.Popen([str(peer), "write", kind, unique_name, str(ENTRIES), str(SEED)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "ready"
        r = BACKENDS[kind]()
        r.initialize(unique_name, False)
        try:
            assert r.wait_for_update(0, timeout=30) == 1
            got = r.read()
            assert got is not None
            # Byte-identical encodings: same keys, order, types and float bits.
            assert serialize(got) == serialize(generate_test_dict(ENTRIES, SEED))
            assert r.get("key_7") == got["key_7"]
        finally:
            r.cleanup()
    finally:
        proc.stdin.write("\n")
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0
