"""IPCBackend's defaults, on a pure-Python backend like the ones users write."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from ipc_benchmark import IPCBackend, IPCError, IPCTimeoutError

_STORES: dict[str, dict[str, Any]] = {}


class DictBackend(IPCBackend):
    """A user's backend written against the original five-method interface only."""

    def initialize(self, name: str, is_writer: bool) -> None:
        self.name = name
        if is_writer:
            _STORES.pop(name, None)

    def write(self, data: dict[str, Any]) -> None:
        _STORES[self.name] = dict(data)

    def read(self) -> dict[str, Any] | None:
        snapshot = _STORES.get(self.name)
        return None if snapshot is None else dict(snapshot)

    def cleanup(self) -> None:
        _STORES.pop(self.name, None)

    def get_name(self) -> str:
        return "dict"


def test_the_five_methods_are_required() -> None:
    class Incomplete(IPCBackend):
        def read(self) -> dict[str, Any] | None:
            return None

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()  # type: ignore[abstract]


def test_defaults_build_on_read() -> None:
    w, r = DictBackend(), DictBackend()
    w.initialize("s", True)
    r.initialize("s", False)
    assert r.read() is None and r.version == 0 and r.keys() == [] and r.get("a", 5) == 5
    w.write({"a": 1, "b": 2})
    assert r.get("a") == 1 and r.get("zz") is None and r.keys() == ["a", "b"]
    assert r.version == 1 and r.version == 1  # probing does not bump it
    w.write({"a": 1, "b": 3})
    assert r.version == 2
    w.cleanup()


def test_wait_for_update_returns_the_new_version() -> None:
    w, r = DictBackend(), DictBackend()
    w.initialize("wait", True)
    r.initialize("wait", False)
    writer = threading.Timer(0.05, w.write, args=({"x": 1},))
    writer.start()
    assert r.wait_for_update(0, timeout=10) == 1
    writer.join()
    w.cleanup()


def test_wait_for_update_times_out_clearly() -> None:
    r = DictBackend()
    r.initialize("never", False)
    with pytest.raises(IPCTimeoutError, match="no version newer than 0 within 0.05 s") as info:
        r.wait_for_update(0, timeout=0.05)
    assert isinstance(info.value, TimeoutError) and isinstance(info.value, IPCError)


def test_context_manager_cleans_up() -> None:
    with DictBackend() as b:
        b.initialize("ctx", True)
        b.write({"a": 1})
        assert "ctx" in _STORES
    assert "ctx" not in _STORES


def test_default_snapshot_is_one_read_labelled_by_what_it_read() -> None:
    class Moving(DictBackend):
        """The writer publishes between any two reads."""

        reads = 0

        def read(self) -> dict[str, Any] | None:
            self.reads += 1
            self.write({"n": self.reads})
            return super().read()

    b = Moving()
    b.initialize("moving", True)
    with b.snapshot() as snap:
        assert b.reads == 1
        assert dict(snap) == {"n": 1}
        assert snap.version == 1  # the version of the data held, not of a later read
    b.cleanup()
