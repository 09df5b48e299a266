"""LMDBBackend: snapshots in an LMDB database, one record per top-level key."""

from __future__ import annotations

import os
from pathlib import Path

from ._core import LmdbStore
from .base import IPCBackend
from .native import NativeBackendMixin


class LMDBBackend(NativeBackendMixin, IPCBackend):
    """A dictionary in LMDB, for processes on one machine, that outlives them.

    Each write replaces the whole snapshot in one LMDB transaction (rewriting only the
    keys whose values changed), so readers see the old snapshot or the new one, never a
    mix; ``get`` reads and decodes one key's record straight from LMDB's memory map.

    ``path``: the directory of the store. Its data survives the processes: a reader
    started after the writer exited reads the last snapshot, and a new writer carries on
    from it. The directory is never deleted, unless ``remove_on_cleanup=True``. Without
    a path, the store lives in ``<tempdir>/ipcb_lmdb_<name>`` and the writer's
    ``cleanup()`` removes it.

    ``durable``: fsync every write. Off by default (as the original's later version
    chose): a write is then as safe as the OS page cache, which a process crash does not
    lose but a system crash may; the writer's ``cleanup()`` flushes once.

    ``max_readers``: reader slots in a new database (one per reading thread); slots
    of killed readers are reclaimed.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        durable: bool = False,
        remove_on_cleanup: bool = False,
        max_readers: int | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.durable = durable
        self.remove_on_cleanup = remove_on_cleanup
        self.max_readers = max_readers
        self._reset()

    def initialize(self, name: str, is_writer: bool) -> None:
        """``name`` picks the temp-dir store; with a ``path`` it only labels messages."""
        self._open(
            LmdbStore(
                name,
                is_writer,
                path=self.path,
                durable=self.durable,
                remove_on_cleanup=self.remove_on_cleanup,
                max_readers=self.max_readers,
            )
        )

    def get_name(self) -> str:
        return "LMDB"
