"""``store.snapshot()``: one version of a store, held, read key by key."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any, Protocol

from ._core import UsageError

Key = str | int

_MISSING = object()


class Held(Protocol):
    """What a ``Snapshot`` reads from: ``_core.HeldSnapshot`` for the native stores."""

    @property
    def version(self) -> int: ...

    @property
    def released(self) -> bool: ...

    def get(self, key: Key, default: Any = None) -> Any: ...

    def keys(self) -> list[Key]: ...

    def read(self) -> dict[Key, Any]: ...

    def release(self) -> None: ...


class Snapshot(Mapping[Key, Any]):
    """A read-only mapping pinned to one version of a store (``version``).

    Every key it returns comes from that one version, whatever the writer publishes
    meanwhile; a key's value is decoded only when it is accessed, through the snapshot's
    index, so reading two keys of a large snapshot costs two lookups, not a full read.
    Use it as a context manager: leaving the ``with`` block releases it (``release()``),
    and any use afterwards raises ``UsageError``. Arrays read from it stay valid after
    the release (each keeps its own memory alive). What a held snapshot pins, per store,
    is in docs/design.md ("Held snapshots"). In a process forked from the one that took
    it, it raises ``UsageError``: the memory is the parent's to hold.
    """

    __slots__ = ("_held", "_keys")

    def __init__(self, held: Held) -> None:
        self._held = held
        # The keys, in order, as a dict for `in`; listed once, when first needed.
        self._keys: dict[Key, None] | None = None

    @property
    def version(self) -> int:
        """The version it is pinned to; 0 if the store had none yet (then it is empty)."""
        return self._held.version

    @property
    def released(self) -> bool:
        return self._held.released

    def _key_set(self) -> dict[Key, None]:
        # `version` raises UsageError once released, or in a forked child.
        _ = self._held.version
        if self._keys is None:
            self._keys = dict.fromkeys(self._held.keys())
        return self._keys

    def __getitem__(self, key: Key) -> Any:
        value = self._held.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def get(self, key: Key, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` when absent."""
        return self._held.get(key, default)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str | int) or isinstance(key, bool):
            return False
        return key in self._key_set()

    def __iter__(self) -> Iterator[Key]:
        return iter(list(self._key_set()))

    def __len__(self) -> int:
        return len(self._key_set())

    def to_dict(self) -> dict[Key, Any]:
        """Every key decoded at once into a new dict (what ``read()`` returns)."""
        return self._held.read()

    def release(self) -> None:
        """Lets go of the snapshot; idempotent. Arrays read from it keep their memory."""
        self._held.release()

    def __enter__(self) -> Snapshot:
        if self._held.released:
            raise UsageError("snapshot(): this snapshot was already released")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "released" if self._held.released else f"version {self._held.version}"
        return f"<Snapshot, {state}>"


class DictHeld:
    """A held snapshot that is a dict already: what the pure-Python backends hold (their
    ``read()`` returns a private copy)."""

    __slots__ = ("_data", "_version")

    def __init__(self, data: dict[Key, Any] | None, version: int) -> None:
        self._data: dict[Key, Any] | None = {} if data is None else data
        self._version = version

    def _open(self) -> dict[Key, Any]:
        if self._data is None:
            raise UsageError("a snapshot: used after release()")
        return self._data

    @property
    def version(self) -> int:
        self._open()
        return self._version

    @property
    def released(self) -> bool:
        return self._data is None

    def get(self, key: Key, default: Any = None) -> Any:
        return self._open().get(key, default)

    def keys(self) -> list[Key]:
        return list(self._open())

    def read(self) -> dict[Key, Any]:
        return dict(self._open())

    def release(self) -> None:
        self._data = None
