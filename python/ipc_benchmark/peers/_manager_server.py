"""The server process of the ``manager`` peer: ``python -m
ipc_benchmark.peers._manager_server DIRECTORY``.

Serves one dict, as ``StoreManager().store()``, on ``DIRECTORY/manager.sock`` with the
authkey in ``DIRECTORY/authkey`` (manager_backend.py writes both; the directory is the
writer's private 0700 one). A process of its own rather than ``BaseManager.start()``: that
would fork (or re-import the main module of) an MPI rank, and the directory on this
process's command line is what lets ``ipc-bench clean`` recognise it. It exits when
the writer that started it dies, so a killed writer leaves no server behind.
"""

from __future__ import annotations

import os
import sys
from multiprocessing.managers import BaseManager, DictProxy
from pathlib import Path
from typing import Any, Callable

from ._private import exit_with_parent

SOCKET = "manager.sock"
AUTHKEY = "authkey"

_STORE: dict[str, Any] = {}


def _store() -> dict[str, Any]:
    return _STORE


class StoreManager(BaseManager):
    """A manager whose ``store()`` is the one dict of its server."""

    store: Callable[[], Any]  # set by register() below


StoreManager.register("store", callable=_store, proxytype=DictProxy)

def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m ipc_benchmark.peers._manager_server DIRECTORY",
              file=sys.stderr)
        return 2
    exit_with_parent(int(os.environ.get("IPCB_MANAGER_PARENT", os.getppid())))
    directory = Path(argv[1])
    authkey = (directory / AUTHKEY).read_bytes()
    manager = StoreManager(address=str(directory / SOCKET), authkey=authkey)
    manager.get_server().serve_forever()  # until SIGTERM
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
