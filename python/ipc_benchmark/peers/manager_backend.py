"""``manager``: a dict served by a ``multiprocessing.managers`` server of the writer.

The writer starts the server (_manager_server.py) as its child, listening on a Unix
socket in its private 0700 directory (_private.py) with a random 32-byte authkey kept in
that directory, mode 0600; readers, which find the directory from the store name, check
it and read the key from there. The key never appears on a command line or in the
environment.

Use, as in Python's documentation: ``write`` is ``proxy.update(data)``, then deletes the
top-level keys the previous snapshot had and this one lacks; ``read`` is ``proxy.copy()``
(one round trip; ``dict(proxy)`` would make one per key) and ``get`` is
``proxy.get(key)``. Every call is a request to the server process, which pickles the
answer. A reader may see a snapshot half replaced: ``update`` is one request, but the
deletions of stale keys follow it. Before the first write the dict is empty and ``read``
returns None, so an empty snapshot reads as None too.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .._core import IPCError
from . import _private
from ._base import PeerBackend
from ._manager_server import AUTHKEY, SOCKET, StoreManager

#: Seconds a started server may take to accept a connection.
START_TIMEOUT_S = 10.0
KIND = "manager"


class ManagerBackend(PeerBackend):
    """A ``multiprocessing.managers`` DictProxy to one dict in the writer's server."""

    def __init__(self, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self._proxy: Any = None
        self._server: subprocess.Popen[bytes] | None = None
        self._dir: Path | None = None
        self._written: set[str] = set()

    def get_name(self) -> str:
        return "multiprocessing.Manager dict"

    def initialize(self, name: str, is_writer: bool) -> None:
        self._opened(is_writer)
        directory = _private.private_dir(KIND, name)
        _private.socket_path(directory, SOCKET)  # checks its length
        if is_writer:
            self._dir = _private.create_private_dir(directory)
            try:
                _private.write_secret(directory / AUTHKEY, secrets.token_bytes(32))
                self._start_server(directory)
            except BaseException:
                self._close()
                raise
        else:
            _private.check_private_dir(directory)
            self._proxy = self._connect(directory).store()

    @staticmethod
    def _connect(directory: Path) -> StoreManager:
        authkey = (directory / AUTHKEY).read_bytes()
        manager = StoreManager(address=str(directory / SOCKET), authkey=authkey)
        manager.connect()
        return manager

    def _start_server(self, directory: Path) -> None:
        log = directory / "server.log"
        env = dict(os.environ, IPCB_MANAGER_PARENT=str(os.getpid()))
        with open(log, "ab") as errors:
            self._server = subprocess.Popen(
                [sys.executable, "-m", "ipc_benchmark.peers._manager_server",
                 str(directory)],
                stdin=subprocess.DEVNULL, stdout=errors, stderr=errors, env=env)
        _private.write_pid(directory, self._server.pid)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self._server.poll() is not None:
                raise IPCError(f"manager: the server exited with status "
                               f"{self._server.returncode} at start; its log ({log}) "
                               f"ends:\n{_private.log_tail(log)}")
            if (directory / SOCKET).exists():
                try:
                    self._proxy = self._connect(directory).store()
                    return
                except (ConnectionError, EOFError):
                    pass  # the socket exists before the server accepts on it
            if time.monotonic() > deadline:
                raise IPCError(f"manager: the server did not accept connections within "
                               f"{START_TIMEOUT_S:.0f} s; its log ({log}) ends:\n"
                               f"{_private.log_tail(log)}")
            time.sleep(0.02)  # a server's start-up has nothing to wait on but this

    def _store(self) -> Any:
        self._check_process()
        if self._proxy is None:
            raise IPCError("manager: not initialized, or already cleaned up")
        return self._proxy

    def write(self, data: dict[str, Any]) -> None:
        self._check_writer()
        store = self._store()
        store.update(data)
        for stale in self._written - data.keys():
            store.pop(stale, None)
        self._written = set(data)

    def read(self) -> dict[str, Any] | None:
        snapshot: dict[str, Any] = self._store().copy()
        return snapshot or None

    def get(self, key: str, default: Any = None) -> Any:
        return self._store().get(key, default)

    def _let_go(self) -> None:
        # A proxy's finalizer does nothing in a process other than its creator's.
        self._proxy, self._server, self._dir = None, None, None

    def _close(self) -> None:
        # Drop the proxy first: its finalizer tells the server to release the dict.
        self._proxy = None
        server, self._server = self._server, None
        if server is not None:
            _private.stop_process(server)
        directory, self._dir = self._dir, None
        if directory is not None:
            _private.remove_dir(directory)
