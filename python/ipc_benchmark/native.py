"""What the three Rust-backed backends share: delegation to a `_core` store object."""

from __future__ import annotations

from operator import attrgetter
from typing import Any

from ._core import UsageError

# The IPCBackend methods a native store implements under the same name and signature.
_FORWARDED = ("write", "read", "get", "keys", "wait_for_update")


class _Unopened:
    """Stands in for the store before initialize() and after cleanup(), so that misuse
    gets a clear message instead of an AttributeError on None."""

    def __init__(self, backend: str) -> None:
        self._backend = backend

    def __getattr__(self, attr: str) -> Any:
        raise UsageError(f"{self._backend}: call initialize(name, is_writer) before using it")

    def close(self) -> None:
        pass


class NativeBackendMixin:
    """Gives an IPCBackend subclass the methods of a `_core` store.

    Once a store is open, its (native) methods are bound straight onto the instance: a
    Python-level forwarding method would cost about as much as a whole ``get`` does.
    Before ``initialize`` and after ``cleanup`` the class-level methods below apply, and
    they explain what is wrong.
    """

    _store: Any

    def _reset(self) -> None:
        for name in _FORWARDED:
            self.__dict__.pop(name, None)
        self._store = _Unopened(type(self).__name__)

    def _open(self, store: Any) -> None:
        if not isinstance(self._store, _Unopened):
            store.close()
            raise UsageError(
                f"{type(self).__name__}: already initialised; call cleanup() first"
            )
        self._store = store
        for name in _FORWARDED:
            setattr(self, name, getattr(store, name))

    def write(self, data: dict[str, Any]) -> None:
        self._store.write(data)

    def read(self) -> dict[str, Any] | None:
        return self._store.read()  # type: ignore[no-any-return]

    def get(self, key: str, default: Any = None) -> Any:
        return self._store.get(key, default)

    def keys(self) -> list[str]:
        return self._store.keys()  # type: ignore[no-any-return]

    #: The latest version, 0 before the first write (a C-level getter: no Python frame).
    version = property(attrgetter("_store.version"))

    def wait_for_update(self, after_version: int, timeout: float) -> int:
        return self._store.wait_for_update(after_version, timeout)  # type: ignore[no-any-return]

    def cleanup(self) -> None:
        store = self._store
        self._reset()
        store.close()
