"""ZeroMQBackend: snapshots over ZeroMQ sockets, for readers on this or other machines."""

from __future__ import annotations

from ._core import ZmqStore
from .base import IPCBackend
from .native import NativeBackendMixin


class ZeroMQBackend(NativeBackendMixin, IPCBackend):
    """A dictionary published over ZeroMQ.

    ``mode="pubsub"`` (the default): the writer publishes each snapshot once; every reader
    keeps the newest in a background thread (no GIL held), so ``read`` returns the latest
    snapshot received without waiting, and a reader that joins late is sent the current
    one. ``stale`` tells a reader that the writer has stopped answering.

    ``mode="push"``: the original benchmark's design, kept for comparison: PUSH/PULL with
    one message per read. The writer needs ``expect_reads(readers, reads_each)`` before a
    write, which then waits for every reader to connect and sends one copy of one encoding
    per read; each ``read`` takes the next message, waiting up to ``timeout`` seconds.

    ``endpoint``: None for ``ipc://`` sockets in ``<tmp>/ipcb_zmq_<name>/`` (mode 0700 and
    0600, removed by the writer's cleanup), ``ipc://<dir>`` for another directory, or
    ``tcp://host:port`` (snapshots on ``port``, requests on ``port + 1``).
    """

    def __init__(self, mode: str = "pubsub", endpoint: str | None = None, timeout: float = 30.0) -> None:
        if mode not in ("pubsub", "push"):
            raise ValueError(f'mode must be "pubsub" or "push", got {mode!r}')
        self.mode = mode
        self.endpoint = endpoint
        self.timeout = timeout
        # In push mode every read consumes a message: harnesses must tell the writer
        # how many reads to serve (see IPCBackend.consumes_messages).
        self.consumes_messages = mode == "push"
        self._reset()

    def initialize(self, name: str, is_writer: bool) -> None:
        self._open(ZmqStore(name, is_writer, self.mode, self.endpoint, self.timeout))

    def expect_reads(self, readers: int, reads_each: int) -> None:
        if self.mode == "push":
            self._store.expect_reads(readers, reads_each)

    @property
    def stale(self) -> bool:
        """True when the writer has not answered for a second: the snapshot a reader holds
        may be outdated (the writer has stopped, or the network is down)."""
        return bool(self._store.stale)

    def get_name(self) -> str:
        return "ZeroMQ" if self.mode == "pubsub" else "ZeroMQ (push)"
