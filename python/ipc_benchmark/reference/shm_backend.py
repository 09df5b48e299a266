"""``py-shm``: the original SharedMemory design, pickle in one shared-memory segment.

Layout of the segment (all little-endian)::

    0   u64  length of the pickle; 0 = nothing written yet
    8   u64  1 = replaced: the writer needed more room and created a new, larger segment
             under the same name; readers re-open it by name
    16  ...  the pickle (protocol 5)

There is no lock, as in the original: a reader must not read while the writer writes.
The harness keeps them apart with barriers.

Growth (the original's segment had a fixed size, and a larger dict failed): the writer
starts with ``initial_capacity`` bytes and, when a pickle does not fit, marks the old
segment replaced, unlinks it and creates one of at least twice the size under the same
name. Readers that still map the old one see the mark and re-attach.
"""

from __future__ import annotations

import pickle
import struct
import sys
import time
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import SharedMemory
from typing import Any

from .._core import IPCError, IPCTimeoutError
from ..base import IPCBackend
from ._names import os_name

HEADER = 16
_LENGTH = struct.Struct("<Q")
_REPLACED_AT = 8


def _attach(segment: str) -> SharedMemory:
    """Open an existing segment without handing it to multiprocessing's resource tracker.

    Before Python 3.13, merely opening a segment registers it with the tracker, which
    unlinks it when this process exits, even though the writer owns it: the original's
    readers destroyed the writer's segment that way.
    """
    if sys.version_info >= (3, 13):
        return SharedMemory(name=segment, track=False)
    # Keep the open from registering at all, rather than unregistering afterwards: when
    # the writer and readers share one tracker (multiprocessing children do), a
    # register/unregister pair from a reader would cancel the writer's registration, and
    # the tracker reports a KeyError when the writer's unlink unregisters it again.
    register = resource_tracker.register
    resource_tracker.register = lambda name, rtype: None
    try:
        return SharedMemory(name=segment)
    finally:
        resource_tracker.register = register


def _buf(shm: SharedMemory) -> memoryview:
    buf = shm.buf
    if buf is None:  # typeshed allows it: a closed segment
        raise IPCError(f"py-shm: segment {shm.name} is closed")
    return buf


class PickleSharedMemoryBackend(IPCBackend):
    """pickle + ``multiprocessing.shared_memory``, one segment behind a length header."""

    def __init__(self, timeout: float = 30.0, initial_capacity: int = 1 << 20) -> None:
        if initial_capacity < 1:
            raise ValueError(f"initial_capacity must be >= 1, got {initial_capacity}")
        self.timeout = timeout
        self.initial_capacity = initial_capacity
        self._shm: SharedMemory | None = None
        self._segment = ""
        self._is_writer = False

    def get_name(self) -> str:
        return "SharedMemory (pickle)"

    def initialize(self, name: str, is_writer: bool) -> None:
        self._segment = os_name("pyshm", name)
        self._is_writer = is_writer
        if is_writer:
            try:
                self._shm = SharedMemory(
                    name=self._segment, create=True, size=HEADER + self.initial_capacity
                )
            except FileExistsError:
                raise IPCError(
                    f"py-shm: segment {self._segment} already exists: another writer uses "
                    f"the name {name!r}, or a crashed run left it "
                    "(python -m ipc_benchmark.leftovers --remove)"
                ) from None
        else:
            try:
                self._shm = _attach(self._segment)
            except FileNotFoundError:
                raise IPCError(
                    f"py-shm: no segment {self._segment}: has the writer initialized "
                    f"{name!r}?"
                ) from None

    def _segment_or_raise(self) -> SharedMemory:
        if self._shm is None:
            raise IPCError("py-shm: not initialized (call initialize first)")
        return self._shm

    def write(self, data: dict[str, Any]) -> None:
        if not self._is_writer:
            raise IPCError("py-shm: write() on a reader")
        blob = pickle.dumps(data, protocol=5)
        shm = self._segment_or_raise()
        if HEADER + len(blob) > shm.size:
            shm = self._grow(len(blob))
        _buf(shm)[HEADER : HEADER + len(blob)] = blob
        # The length last, so that a header never announces bytes not yet copied.
        _LENGTH.pack_into(_buf(shm), 0, len(blob))

    def _grow(self, needed: int) -> SharedMemory:
        old = self._segment_or_raise()
        capacity = max(needed, 2 * (old.size - HEADER))
        _LENGTH.pack_into(_buf(old), _REPLACED_AT, 1)
        old.close()
        old.unlink()
        self._shm = None
        self._shm = SharedMemory(name=self._segment, create=True, size=HEADER + capacity)
        return self._shm

    def read(self) -> dict[str, Any] | None:
        shm = self._segment_or_raise()
        if _LENGTH.unpack_from(_buf(shm), _REPLACED_AT)[0]:
            shm = self._reattach()
        (length,) = _LENGTH.unpack_from(_buf(shm), 0)
        if length == 0:
            return None
        with _buf(shm)[HEADER : HEADER + length] as view:
            result: dict[str, Any] = pickle.loads(view)
        return result

    def _reattach(self) -> SharedMemory:
        """Follow the writer to its new segment; it may not exist yet for a moment."""
        self._segment_or_raise().close()
        self._shm = None
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                shm = _attach(self._segment)
            except FileNotFoundError:
                pass  # between the writer's unlink and its create
            else:
                if not _LENGTH.unpack_from(_buf(shm), _REPLACED_AT)[0]:
                    self._shm = shm
                    return shm
                shm.close()  # the old one, between the writer's mark and its unlink
            if time.monotonic() > deadline:
                raise IPCTimeoutError(
                    f"py-shm: the writer replaced {self._segment} but no new segment "
                    f"appeared within {self.timeout} s"
                )
            time.sleep(0.001)

    def cleanup(self) -> None:
        shm, self._shm = self._shm, None
        if shm is None:
            return
        shm.close()
        if self._is_writer:
            try:
                shm.unlink()
            except FileNotFoundError:
                pass  # already gone: cleanup is idempotent
