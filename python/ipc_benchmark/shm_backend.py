"""SharedMemoryBackend: snapshots in POSIX shared memory, published atomically."""

from __future__ import annotations

from ._core import ShmStore
from .base import IPCBackend
from .native import NativeBackendMixin


class SharedMemoryBackend(NativeBackendMixin, IPCBackend):
    """A dictionary in /dev/shm, for processes on one machine.

    Each write publishes a complete new snapshot in its own segment and then switches a
    small head segment to it, so readers never see a partial write; ``get`` decodes one
    top-level key straight from shared memory. Segments are named
    ``/dev/shm/ipcb_shm_<name>[.<version>]`` and removed by the writer's ``cleanup()``.
    """

    def __init__(self) -> None:
        self._reset()

    def initialize(self, name: str, is_writer: bool) -> None:
        self._open(ShmStore(name, is_writer))

    def get_name(self) -> str:
        return "SharedMemory"
