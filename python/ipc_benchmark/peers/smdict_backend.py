"""``shared-memory-dict``: shared-memory-dict 0.7.2, as its README uses it.

A ``SharedMemoryDict(name, size)`` keeps the whole dict as one pickle in one POSIX
shared-memory segment, ``/dev/shm/sm_<name>``; every access unpickles it (after copying
the whole segment out), and every change re-pickles it whole. The writer creates the
segment at its first write, sized for twice that snapshot's pickle (the size is fixed at
creation: a later snapshot that does not fit fails with the library's "exceeds available
storage"), and ``write`` is ``smd.update(data)`` followed by deleting the top-level keys
the previous snapshot had and this one lacks. Readers attach once the segment exists;
``read`` is ``dict(smd.items())`` (one unpickle; ``dict(smd)`` would unpickle once per
key) and ``get`` is ``smd.get(key)``.

Readers take no lock (the library locks writers only, and only with
``SHARED_MEMORY_USE_LOCK=1``, a lock that forked processes share): a read during a write
can unpickle a half-written buffer. The benchmark's phases never overlap a read with a
write, so it does not see this; docs/benchmark.md says so.

Cleanup: the writer unlinks the segment (``smd.shm.unlink()``, as the README does);
readers close theirs, after telling Python's resource tracker that the segment is not
theirs: before Python 3.13 merely attaching registers it, and the tracker would unlink
it when the reader exits.
"""

from __future__ import annotations

import pickle
from multiprocessing import resource_tracker
from pathlib import Path
from typing import Any

from .._core import IPCError
from ..reference._names import os_name
from . import SMD_SEGMENT_PREFIX as SEGMENT_PREFIX
from . import require
from ._base import PeerBackend

require("shared_memory_dict")

KIND = "smd"
#: Room above the first snapshot's pickle, as a factor.
SIZE_FACTOR = 2
MIN_SIZE = 4096


class SharedMemoryDictBackend(PeerBackend):
    """shared-memory-dict: one pickled dict in one shared-memory segment."""

    def __init__(self) -> None:
        self._name: str | None = None
        self._smd: Any = None
        self._written: set[str] = set()

    def get_name(self) -> str:
        return "shared-memory-dict 0.7.2"

    def initialize(self, name: str, is_writer: bool) -> None:
        self._opened(is_writer)
        self._name = os_name(KIND, name)  # checks the name
        if is_writer and Path("/dev/shm", SEGMENT_PREFIX + self._name).exists():
            raise IPCError(f"shared-memory-dict: /dev/shm/{SEGMENT_PREFIX}{self._name} "
                           "already exists (an open store, or a crashed run's: "
                           "`ipc-bench clean` removes those)")

    def _attached(self) -> Any:
        """The dict, attaching a reader once the writer has created it; None before."""
        self._check_process()
        if self._smd is not None:
            return self._smd
        if self._name is None:
            raise IPCError("shared-memory-dict: not initialized, or already cleaned up")
        if not Path("/dev/shm", SEGMENT_PREFIX + self._name).exists():
            return None  # the constructor would create it, with the reader's size
        from shared_memory_dict import SharedMemoryDict

        smd = SharedMemoryDict(name=self._name, size=MIN_SIZE)  # attaches: size unused
        resource_tracker.unregister(smd.shm._name, "shared_memory")
        self._smd = smd
        return smd

    def write(self, data: dict[str, Any]) -> None:
        self._check_writer()
        if self._name is None:
            raise IPCError("shared-memory-dict: not initialized, or already cleaned up")
        if self._smd is None:
            from shared_memory_dict import SharedMemoryDict

            size = max(MIN_SIZE, SIZE_FACTOR * len(pickle.dumps(data, protocol=5)))
            self._smd = SharedMemoryDict(name=self._name, size=size)
        smd = self._smd
        smd.update(data)
        for stale in self._written - data.keys():
            smd.pop(stale, None)
        self._written = set(data)

    def read(self) -> dict[str, Any] | None:
        smd = self._attached()
        return None if smd is None else dict(smd.items())

    def get(self, key: str, default: Any = None) -> Any:
        smd = self._attached()
        return default if smd is None else smd.get(key, default)

    def _let_go(self) -> None:
        smd, self._smd = self._smd, None
        self._name = None
        if smd is not None:
            smd.cleanup()  # closes the mapping; the segment stays

    def _close(self) -> None:
        smd, self._smd = self._smd, None
        self._name = None
        if smd is None:
            return
        if self._is_writer:
            smd.shm.unlink()
        smd.cleanup()
