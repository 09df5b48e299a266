"""LMDBBackend: snapshots in an LMDB database, one record per top-level key."""

from __future__ import annotations

from ._core import LmdbStore
from .base import IPCBackend
from .snapshot import Snapshot


class LMDBBackend(LmdbStore, IPCBackend):
    """A dictionary in LMDB, for processes on one machine, that outlives them:
    ``LMDBBackend(path=None, durable=False, remove_on_cleanup=False, max_readers=None,
    trust_uid=None)``.

    Each write replaces the whole snapshot in one LMDB transaction (rewriting only the
    keys whose values changed, or every key once more than a sixteenth of them did,
    which is then cheaper), so readers see the old snapshot or the new one, never a
    mix; ``get`` reads and decodes one key's record straight from LMDB's memory map.

    ``path``: the directory of the store. Its data survives the processes: a reader
    started after the writer exited reads the last snapshot, and a new writer carries on
    from it. The directory is never deleted, unless ``remove_on_cleanup=True``. Without
    a path, the store lives in ``<tempdir>/ipcb_lmdb_<name>`` and the writer's
    ``cleanup()`` removes it; ``initialize``'s name picks it (with a path, the name only
    labels messages).

    ``durable``: fsync every write. Off by default (as the original's later version
    chose): a write is then as safe as the OS page cache, which a process crash does not
    lose but a system crash may; the writer's ``cleanup()`` flushes once.

    ``max_readers``: reader slots in a new database (one per reading thread); slots
    of killed readers are reclaimed.

    ``trust_uid``: a reader also reads a store (directory and files) of this user; by
    default only its own. Anything others can write to is refused whoever owns it
    (``UntrustedStoreError``); a writer uses only a directory of its own.

    The methods are implemented in Rust (``_core.LmdbStore``); docs/design.md explains
    the layout.
    """

    def get_name(self) -> str:
        return "LMDB"

    def snapshot(self) -> Snapshot:
        """The latest snapshot, held, as a read-only Mapping (see ``Snapshot``)."""
        return Snapshot(self.hold_snapshot())
