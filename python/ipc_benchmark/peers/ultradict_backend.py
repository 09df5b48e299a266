"""``ultradict``: UltraDict 0.0.6, as its README uses it.

An UltraDict is a dict replicated in every process that opens it: each assignment
appends ``pickle((key, value))`` to a stream buffer in shared memory, and every access
first applies the entries it has not seen to its local copy. When the stream buffer is
full, the writer pickles the whole dict into a "full dump" segment and restarts the
stream. So a reader holds a decoded replica: a read copies it, and the cost of decoding
moves to the first access after a write.

The writer creates it at its first write (``UltraDict(name=..., create=True,
shared_lock=True, buffer_size=..., full_dump_size=...)``), sized from that snapshot's
pickle: the stream buffer and the fixed-size full dump both hold twice it, and a later
snapshot whose full dump does not fit fails with UltraDict's FullDumpMemoryFull. A fixed
full-dump size keeps every segment under a name of ours (``<name>``, ``<name>_memory``,
``<name>_full`` in /dev/shm), where a dynamic one gets a random name that a crash would
leave behind unnoticed. ``shared_lock=True`` (which needs the ``atomics`` package) makes
the writers' lock work across processes. ``write`` is ``ud.update(data)`` followed by
deleting the keys the previous snapshot had and this one lacks; readers attach once the
segments exist; ``read`` is ``dict(ud)`` (UltraDict's own ``copy()`` fails on Python
3.11) and ``get`` is ``ud.get(key)``.

Readers apply updates without the lock (by design, "opportunistically"); the benchmark
never overlaps reads with writes.

Importing UltraDict turns off multiprocessing's resource tracking of shared memory for
the whole process (it patches ``resource_tracker``), so the module is imported only when
a store is opened; segments a crash leaves are found by ``ipc-bench clean`` instead.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from .._core import IPCError
from ..reference._names import os_name
from . import require
from ._base import PeerBackend

require("UltraDict", "atomics")

KIND = "ud"
#: Stream buffer and full dump, each as a multiple of the first snapshot's pickle.
SIZE_FACTOR = 2
MIN_SIZE = 64 * 1024
#: The segments of an UltraDict called NAME: NAME, NAME_memory, NAME_full.
SEGMENT_SUFFIXES = ("", "_memory", "_full")


class UltraDictBackend(PeerBackend):
    """UltraDict: a dict streamed through shared memory into a replica per process."""

    def __init__(self) -> None:
        self._name: str | None = None
        self._ud: Any = None
        self._written: set[str] = set()

    def get_name(self) -> str:
        return "UltraDict 0.0.6"

    def initialize(self, name: str, is_writer: bool) -> None:
        self._opened(is_writer)
        self._name = os_name(KIND, name)  # checks the name
        if is_writer:
            taken = [s for s in self._segments() if s.exists()]
            if taken:
                raise IPCError(f"ultradict: {taken[0]} already exists (an open store, or "
                               "a crashed run's: `ipc-bench clean` removes those)")

    def _segments(self) -> list[Path]:
        assert self._name is not None
        return [Path("/dev/shm", self._name + suffix) for suffix in SEGMENT_SUFFIXES]

    def _attached(self) -> Any:
        """The dict, attaching a reader once the writer has created it; None before."""
        self._check_process()
        if self._ud is not None:
            return self._ud
        if self._name is None:
            raise IPCError("ultradict: not initialized, or already cleaned up")
        # The full dump is created last: once it exists, the others do.
        if not self._segments()[-1].exists():
            return None
        from UltraDict import UltraDict

        self._ud = UltraDict(name=self._name, create=False)
        return self._ud

    def write(self, data: dict[str, Any]) -> None:
        self._check_writer()
        if self._name is None:
            raise IPCError("ultradict: not initialized, or already cleaned up")
        if self._ud is None:
            from UltraDict import UltraDict

            size = max(MIN_SIZE, SIZE_FACTOR * len(pickle.dumps(data, protocol=5)))
            self._ud = UltraDict(name=self._name, create=True, shared_lock=True,
                                 buffer_size=size, full_dump_size=size)
        ud = self._ud
        ud.update(data)
        for stale in self._written - data.keys():
            del ud[stale]
        self._written = set(data)

    def read(self) -> dict[str, Any] | None:
        ud = self._attached()
        return None if ud is None else dict(ud)

    def get(self, key: str, default: Any = None) -> Any:
        ud = self._attached()
        return default if ud is None else ud.get(key, default)

    def _let_go(self) -> None:
        ud, self._ud = self._ud, None
        self._name = None
        if ud is not None:
            # The creator's copy would unlink the segments when closed or collected.
            ud.auto_unlink = False
            ud.close(unlink=False)

    def _close(self) -> None:
        ud, self._ud = self._ud, None
        self._name = None
        if ud is not None:
            ud.close(unlink=self._is_writer)
