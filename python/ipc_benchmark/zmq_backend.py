"""ZeroMQBackend: snapshots over ZeroMQ sockets, for readers on this or other machines."""

from __future__ import annotations

from ._core import ZmqStore
from .base import IPCBackend
from .snapshot import Snapshot


class ZeroMQBackend(ZmqStore, IPCBackend):
    """A dictionary published over ZeroMQ: ``ZeroMQBackend(mode="pubsub", endpoint=None,
    timeout=30.0, trust_uid=None)``.

    ``mode="pubsub"`` (the default): the writer publishes each snapshot once; every reader
    keeps the newest in a background thread (no GIL held), so ``read`` returns the latest
    snapshot received without waiting, and a reader that joins late is sent the current
    one. ``stale`` tells a reader that the writer has stopped answering.

    ``mode="push"``: the original benchmark's design, kept for comparison: PUSH/PULL with
    one message per read (``consumes_messages`` is then True). The writer needs
    ``expect_reads(readers, reads_each)`` before a write, which then waits for every
    reader to connect and sends one copy of one encoding per read; each ``read`` takes
    the next message, waiting up to ``timeout`` seconds.

    ``endpoint``: None for ``ipc://`` sockets in ``<tmp>/ipcb_zmq_<name>/`` (mode 0700 and
    0600, removed by the writer's cleanup), ``ipc://<dir>`` for another directory (the
    cleanup removes only the store's files there), or
    ``tcp://host:port`` (snapshots on ``port``, requests on ``port + 1``).

    ``trust_uid``: a reader also reads from ``ipc://`` sockets (and their directory) of
    this user; by default only its own. Anything others can write to is refused whoever
    owns it (``UntrustedStoreError``); a writer binds only in a directory of its own.
    tcp endpoints have no owner to check.

    The methods are implemented in Rust (``_core.ZmqStore``); docs/design.md explains the
    protocol.
    """

    def get_name(self) -> str:
        return "ZeroMQ" if self.mode == "pubsub" else "ZeroMQ (push)"

    def snapshot(self) -> Snapshot:
        """The latest snapshot, held, as a read-only Mapping (see ``Snapshot``)."""
        return Snapshot(self.hold_snapshot())
