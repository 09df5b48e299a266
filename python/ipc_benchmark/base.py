"""The interface every backend implements, native or pure Python."""

from __future__ import annotations

import hashlib
import time
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Any

from ._core import IPCTimeoutError, serialize
from .snapshot import DictHeld, Snapshot


class IPCBackend(ABC):
    """One shared dictionary: a single writer publishes snapshots, any number of readers
    read them.

    Subclasses implement the five methods of the original benchmark. ``get``, ``keys``,
    ``version`` and ``wait_for_update`` have defaults built on ``read()``, so a
    pure-Python backend works unchanged; the native backends override them with versions
    that neither copy nor decode the whole snapshot.
    """

    @property
    def consumes_messages(self) -> bool:
        """True for message-passing backends in which every read consumes one message
        (the original ZeroMQ PUSH/PULL design, or an MPI broadcast): the writer must send
        one message per read, so a harness calls ``expect_reads`` on the writer and lets
        its single ``write`` run while the readers read. A subclass sets it as a class
        attribute, or computes it (ZeroMQBackend does, from its mode)."""
        return False

    def expect_reads(self, readers: int, reads_each: int) -> None:
        """Tell a message-consuming writer how many reads its next write must serve."""

    @abstractmethod
    def initialize(self, name: str, is_writer: bool) -> None:
        """Create (writer) or attach to (reader) the store called ``name``."""

    @abstractmethod
    def write(self, data: dict[Any, Any]) -> None:
        """Publish ``data`` as the new snapshot."""

    @abstractmethod
    def read(self) -> dict[Any, Any] | None:
        """The latest snapshot, or None if nothing has been written yet."""

    @abstractmethod
    def cleanup(self) -> None:
        """Release everything; the writer also removes what it created.

        In a process forked from the one that opened the store (a DataLoader worker),
        this only lets go of the inherited copy, silently, so that a worker's generic
        teardown may call it: the store belongs to the parent, which keeps using it.
        Every other method raises UsageError there.
        """

    @abstractmethod
    def get_name(self) -> str:
        """A short display name, as used in results."""

    def get(self, key: str, default: Any = None) -> Any:
        """The value of one top-level key of the latest snapshot."""
        snapshot = self.read()
        return default if snapshot is None else snapshot.get(key, default)

    def keys(self) -> list[Any]:
        """The top-level keys of the latest snapshot, in insertion order."""
        snapshot = self.read()
        return [] if snapshot is None else list(snapshot)

    def snapshot(self) -> Snapshot:
        """The latest snapshot as a read-only Mapping pinned to its version, which
        decodes a key only when it is accessed; a context manager that releases it (see
        ``Snapshot``). The default holds a ``read()`` (a private copy); the native
        backends hold the snapshot itself."""
        # One read, labelled by what it read: asking ``version`` would read again, and
        # might see a newer snapshot than the one held.
        data = self.read()
        return Snapshot(DictHeld(data, self._observe(data)))

    @property
    def version(self) -> int:
        """0 before the first write, then larger with every snapshot this process observes.

        The default cannot see the writer's counter, so it reads the whole snapshot and
        counts the distinct ones it has seen: two identical writes in a row count once.
        """
        return self._observe(self.read())

    def _observe(self, snapshot: dict[str, Any] | None) -> int:
        """The version of ``snapshot``, just read, by the counting ``version`` describes."""
        if snapshot is None:
            return getattr(self, "_observed_version", 0)
        digest = hashlib.blake2b(serialize(snapshot), digest_size=16).digest()
        if digest != getattr(self, "_observed_digest", None):
            self._observed_digest = digest
            self._observed_version = getattr(self, "_observed_version", 0) + 1
        return int(self._observed_version)

    def wait_for_update(self, after_version: int, timeout: float) -> int:
        """Block until ``version`` exceeds ``after_version``; return the new version.

        Raises IPCTimeoutError after ``timeout`` seconds. The default polls with a
        growing pause (up to 10 ms); native backends wait on the store instead.
        """
        deadline = time.monotonic() + timeout
        pause = 0.0002
        while True:
            current = self.version
            if current > after_version:
                return current
            left = deadline - time.monotonic()
            if left <= 0:
                raise IPCTimeoutError(
                    f"{self.get_name()}: no version newer than {after_version} "
                    f"within {timeout} s"
                )
            time.sleep(min(pause, left))
            pause = min(pause * 2, 0.01)

    def __enter__(self) -> IPCBackend:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()
