"""SharedMemoryBackend: snapshots in POSIX shared memory, published atomically."""

from __future__ import annotations

from ._core import ShmStore
from .base import IPCBackend
from .snapshot import Snapshot


class SharedMemoryBackend(ShmStore, IPCBackend):
    """A dictionary in /dev/shm, for processes on one machine:
    ``SharedMemoryBackend(trust_uid=None)``.

    Each write publishes a complete new snapshot in its own segment and then switches a
    small head segment to it, so readers never see a partial write; ``get`` decodes one
    top-level key straight from shared memory, and ``version`` is one atomic load.
    Segments are named ``/dev/shm/ipcb_shm_<name>[.<version>]`` and removed by the
    writer's ``cleanup()``. A reader reads only a store of its own user, or also one of
    the user ``trust_uid``; segments others can write to are refused whoever owns them
    (``UntrustedStoreError``). The methods are implemented in Rust (``_core.ShmStore``);
    docs/design.md explains the protocol.
    """

    def get_name(self) -> str:
        return "SharedMemory"

    def snapshot(self) -> Snapshot:
        """The latest snapshot, held, as a read-only Mapping (see ``Snapshot``)."""
        return Snapshot(self.hold_snapshot())
