"""The backend registry: names, lazy loading, and backends that are not there."""

from __future__ import annotations

from typing import Any

import pytest

from ipc_benchmark import IPCBackend
from ipc_benchmark.registry import (
    BUILTIN,
    BackendSpec,
    BackendUnavailable,
    default_backends,
    resolve,
    user_spec,
)


def test_the_table_of_the_schema() -> None:
    """backends.json's Python entries: these names, implementations and references."""
    table = {name: (s.implementation, s.reference) for name, s in BUILTIN.items()}
    assert table == {
        "shm": ("rust", "py-shm"), "lmdb": ("rust", "py-lmdb"), "zmq": ("rust", "py-zmq"),
        "zmq-push": ("rust", "py-zmq"), "py-shm": ("reference", None),
        "py-lmdb": ("reference", None), "py-zmq": ("reference", None),
        "mpi-bcast": ("reference", None), "redis": ("peer", None),
        "manager": ("peer", None), "ultradict": ("peer", None),
        "shared-memory-dict": ("peer", None),
    }


def test_reference_backends_are_available_and_built() -> None:
    available, _ = default_backends()
    names = [s.name for s in available]
    assert {"py-shm", "py-lmdb", "py-zmq", "mpi-bcast"} <= set(names)
    for name in ("py-shm", "py-lmdb", "py-zmq"):
        backend = BUILTIN[name].create(timeout=5)
        assert isinstance(backend, IPCBackend)
        assert backend.get_name() == BUILTIN[name].display_name
    assert BUILTIN["py-zmq"].create(timeout=5).timeout == 5  # type: ignore[attr-defined]


def test_options_reach_the_builtins_that_take_them() -> None:
    """The harness hands every backend the case's communicator and ZeroMQ endpoint; each
    built-in class gets those its constructor takes, a user's class none."""
    tcp = "tcp://127.0.0.1:5555"
    ours: Any = BUILTIN["zmq"].create(timeout=5, endpoint=tcp, comm=None)
    reference: Any = BUILTIN["py-zmq"].create(timeout=5, endpoint=tcp)
    assert (ours.endpoint, reference._tcp) == (tcp, tcp)
    default: Any = BUILTIN["zmq"].create(timeout=5, endpoint=None)
    assert default.endpoint is None
    assert isinstance(BUILTIN["py-shm"].create(timeout=5, endpoint=tcp), IPCBackend)
    user = user_spec("tests.user_backends:FileBackend")
    assert isinstance(user.create(timeout=5, endpoint=tcp), IPCBackend)


def test_a_missing_rust_class_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    ghost = BackendSpec("ghost", "rust", "Ghost (Rust)", "py-shm", "ipc_benchmark:GhostBackend")
    monkeypatch.setitem(BUILTIN, "ghost", ghost)
    reason = ghost.unavailable_reason()
    assert reason == "ghost: ipc_benchmark has no GhostBackend (the Rust backend is not " \
                     "built into this version)"
    with pytest.raises(BackendUnavailable, match="GhostBackend"):
        ghost.create(timeout=1)


def test_every_builtin_is_available_or_says_why() -> None:
    available, missing = default_backends()
    assert {s.name for s in available} | set(missing) == set(BUILTIN)
    for name, reason in missing.items():
        assert reason.startswith(f"{name}: ")


def test_user_specs() -> None:
    spec = resolve("tests.user_backends:FileBackend")
    assert (spec.implementation, spec.reference, spec.display_name) == ("user", None,
                                                                         "FileBackend")
    assert spec.unavailable_reason() is None
    assert spec.payload_bytes({"a": 1}) is None  # the harness cannot know its encoding
    assert "not an IPCBackend subclass" in str(
        resolve("tests.user_backends:NotABackend").unavailable_reason())
    assert "cannot import" in str(resolve("tests.no_such_module:X").unavailable_reason())
    assert "has no Nope" in str(resolve("tests.user_backends:Nope").unavailable_reason())


@pytest.mark.parametrize("bad", ["module", "module:", ":Class", "m:not-an-identifier"])
def test_malformed_user_specs(bad: str) -> None:
    with pytest.raises(ValueError, match="expected 'module:Class'"):
        user_spec(bad)


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown backend 'nope': choose from shm, lmdb"):
        resolve("nope")
