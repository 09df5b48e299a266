"""``py-zmq``: the original ZeroMQ design, PUSH/PULL over ``ipc://``, one pickled message
per read.

A PUSH socket hands each message to ONE reader, so the writer sends one message per read
of every reader: ``expect_reads(readers, reads_each)`` sets how many the next ``write``
sends (``readers * reads_each``); without it a write sends one message per reader. Every
message is pickled afresh, as the original did: that cost is what this design measures.

Bugs of the original, fixed here:

* PUSH deals messages round-robin among the readers connected *at that moment*, so a
  write that starts before every reader has connected hands the early ones too many. The
  writer waits (up to ``timeout``) until ``readers`` peers have completed the ZeroMQ
  handshake, watching the socket's monitor.
* The original wrote every message before the readers began: past the high-water mark
  (1000 messages) the writer blocked forever. The high-water marks are unlimited here, and
  the harness runs the write while the readers read; round-robin over pipes that never
  fill also gives each reader exactly its share.
* Every blocking call has a timeout and raises ``IPCTimeoutError`` instead of hanging.

The socket file is ``<tempdir>/ipcb_pyzmq_<name>.sock``; the writer removes it in cleanup.
With ``endpoint="tcp://host:port"`` the writer binds that address instead and the readers
connect to it, from any machine (the harness does this when readers are on other nodes).
"""

from __future__ import annotations

import pickle
import time
from pathlib import Path
from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from .._core import IPCError, IPCTimeoutError
from ..base import IPCBackend
from ._names import temp_path

# sockaddr_un.sun_path holds 108 bytes, the terminating NUL included.
_MAX_SOCKET_PATH = 107


class PickleZeroMQBackend(IPCBackend):
    """pickle + pyzmq PUSH/PULL: every read consumes one message."""

    consumes_messages = True

    def __init__(self, readers: int = 1, timeout: float = 30.0,
                 endpoint: str | None = None) -> None:
        if readers < 1:
            raise ValueError(f"readers must be >= 1, got {readers}")
        if endpoint is not None and not endpoint.startswith("tcp://"):
            raise ValueError(f"py-zmq: endpoint {endpoint!r}: give tcp://host:port, or "
                             "None for an ipc:// socket in the temp dir")
        self._tcp = endpoint
        self.readers = readers
        self.timeout = timeout
        self._ctx: zmq.Context[zmq.Socket[bytes]] | None = None
        self._sock: zmq.Socket[bytes] | None = None
        self._monitor: zmq.Socket[bytes] | None = None
        self._path: Path | None = None
        self._endpoint = ""
        self._is_writer = False
        self._connected = 0
        self._next: tuple[int, int] | None = None

    def get_name(self) -> str:
        return "ZeroMQ (pickle)"

    def expect_reads(self, readers: int, reads_each: int) -> None:
        if readers < 1 or reads_each < 0:
            raise ValueError(f"expect_reads: need readers >= 1 and reads_each >= 0, got "
                             f"{readers}, {reads_each}")
        self._next = (readers, reads_each)

    def initialize(self, name: str, is_writer: bool) -> None:
        path: Path | None = None
        if self._tcp is not None:
            temp_path("pyzmq", name)  # checks the name, as for ipc
            self._endpoint = self._tcp
        else:
            path = temp_path("pyzmq", name, ".sock")
            if len(str(path).encode()) > _MAX_SOCKET_PATH:
                raise ValueError(
                    f"py-zmq: socket path {path} is longer than {_MAX_SOCKET_PATH} bytes, "
                    "the limit of a Unix socket address: use a shorter name or TMPDIR"
                )
            self._endpoint = f"ipc://{path}"
        self._is_writer = is_writer
        ms = int(self.timeout * 1000)
        self._ctx = zmq.Context()
        if is_writer:
            if path is not None and path.exists():
                raise IPCError(
                    f"py-zmq: {path} already exists: another writer uses the name "
                    f"{name!r}, or a crashed run left it "
                    "(python -m ipc_benchmark.leftovers --remove)"
                )
            sock = self._ctx.socket(zmq.PUSH)
            sock.setsockopt(zmq.SNDHWM, 0)
            sock.setsockopt(zmq.SNDTIMEO, ms)
            # Messages still queued at cleanup get this long to reach their readers.
            sock.setsockopt(zmq.LINGER, ms)
            self._sock = sock
            # The monitor must exist before any reader connects, or it misses the event.
            self._monitor = sock.get_monitor_socket(
                zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED
            )
            sock.bind(self._endpoint)
            self._path = path
        else:
            sock = self._ctx.socket(zmq.PULL)
            sock.setsockopt(zmq.RCVHWM, 0)
            sock.setsockopt(zmq.RCVTIMEO, ms)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(self._endpoint)
            self._sock = sock

    def _sock_or_raise(self) -> zmq.Socket[bytes]:
        if self._sock is None:
            raise IPCError("py-zmq: not initialized (call initialize first)")
        return self._sock

    def _wait_for_readers(self, readers: int) -> None:
        """Block until ``readers`` peers have connected, counting the monitor's events."""
        assert self._monitor is not None
        deadline = time.monotonic() + self.timeout
        while self._connected < readers:
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0 or not self._monitor.poll(left_ms):
                raise IPCTimeoutError(
                    f"py-zmq: {self._connected} of {readers} readers connected to "
                    f"{self._endpoint} within {self.timeout} s"
                )
            event = recv_monitor_message(self._monitor)["event"]
            if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self._connected += 1
            else:
                self._connected = max(0, self._connected - 1)

    def write(self, data: dict[str, Any]) -> None:
        if not self._is_writer:
            raise IPCError("py-zmq: write() on a reader")
        sock = self._sock_or_raise()
        readers, reads_each = self._next or (self.readers, 1)
        self._next = None
        self._wait_for_readers(readers)
        for sent in range(readers * reads_each):
            try:
                sock.send(pickle.dumps(data, protocol=5))
            except zmq.Again:
                raise IPCTimeoutError(
                    f"py-zmq: message {sent + 1} of {readers * reads_each} not accepted "
                    f"within {self.timeout} s"
                ) from None

    def read(self) -> dict[str, Any] | None:
        """The next message; blocks up to ``timeout``, then raises IPCTimeoutError."""
        sock = self._sock_or_raise()
        try:
            blob = sock.recv()
        except zmq.Again:
            raise IPCTimeoutError(
                f"py-zmq: no message from {self._endpoint} within {self.timeout} s "
                "(the writer sends one per read: did it expect this many reads?)"
            ) from None
        result: dict[str, Any] = pickle.loads(blob)
        return result

    def cleanup(self) -> None:
        if self._monitor is not None and self._sock is not None:
            self._sock.disable_monitor()
        for sock in (self._monitor, self._sock):
            if sock is not None:
                sock.close()
        self._monitor = self._sock = None
        if self._ctx is not None:
            self._ctx.term()
            self._ctx = None
        path, self._path = self._path, None
        if path is not None:
            path.unlink(missing_ok=True)  # libzmq removes it on close; this is for sure
