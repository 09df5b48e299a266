"""``py-lmdb``: the original LMDB design, the whole dict pickled into one value.

The environment is a directory ``<tempdir>/ipcb_pylmdb_<name>``; the writer creates it
and removes it in cleanup. Readers open it read-only.

LMDB's map is a ceiling on the file size, not memory used, so the default of 1 GiB costs
nothing. A pickle that does not fit doubles it (the original failed instead); readers
adopt the new size when LMDB tells them it changed.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path
from typing import Any

import lmdb

from .._core import IPCError
from ..base import IPCBackend
from ._names import temp_path

_KEY = b"data"


class PickleLMDBBackend(IPCBackend):
    """pickle + py-lmdb, one key holding the whole snapshot."""

    def __init__(self, map_size: int = 1 << 30) -> None:
        self.map_size = map_size
        self._env: lmdb.Environment | None = None
        self._path: Path | None = None
        self._is_writer = False

    def get_name(self) -> str:
        return "LMDB (pickle)"

    def initialize(self, name: str, is_writer: bool) -> None:
        path = temp_path("pylmdb", name)
        self._is_writer = is_writer
        if is_writer:
            try:
                path.mkdir()
            except FileExistsError:
                raise IPCError(
                    f"py-lmdb: {path} already exists: another writer uses the name "
                    f"{name!r}, or a crashed run left it "
                    "(python -m ipc_benchmark.leftovers --remove)"
                ) from None
            self._path = path  # ours to remove from here on, even if open fails
            self._env = lmdb.open(str(path), map_size=self.map_size, subdir=True)
        else:
            if not path.is_dir():
                raise IPCError(
                    f"py-lmdb: no environment {path}: has the writer initialized {name!r}?"
                )
            self._env = lmdb.open(str(path), readonly=True, create=False, subdir=True)

    def _env_or_raise(self) -> lmdb.Environment:
        if self._env is None:
            raise IPCError("py-lmdb: not initialized (call initialize first)")
        return self._env

    def write(self, data: dict[str, Any]) -> None:
        if not self._is_writer:
            raise IPCError("py-lmdb: write() on a reader")
        env = self._env_or_raise()
        blob = pickle.dumps(data, protocol=5)
        while True:
            try:
                with env.begin(write=True) as txn:
                    txn.put(_KEY, blob)
                return
            except lmdb.MapFullError:
                env.set_mapsize(2 * env.info()["map_size"])

    def read(self) -> dict[str, Any] | None:
        env = self._env_or_raise()
        try:
            with env.begin() as txn:
                blob = txn.get(_KEY)
        except lmdb.MapResizedError:
            env.set_mapsize(0)  # 0 = adopt the size the writer set
            with env.begin() as txn:
                blob = txn.get(_KEY)
        if blob is None:
            return None
        result: dict[str, Any] = pickle.loads(blob)
        return result

    def cleanup(self) -> None:
        env, self._env = self._env, None
        if env is not None:
            env.close()
        path, self._path = self._path, None
        if self._is_writer and path is not None:
            shutil.rmtree(path, ignore_errors=True)
