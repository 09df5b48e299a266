"""Users' backends for the harness tests, loaded with ``--backend tests.user_backends:X``.

They follow the original's extension story: a subclass of IPCBackend with the five
methods, nothing registered anywhere.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import threading
from pathlib import Path
from typing import Any

from mpi4py import MPI

from ipc_benchmark import PREFIX, IPCBackend


class FileBackend(IPCBackend):
    """The snapshot in one pickle file, replaced atomically on every write."""

    def initialize(self, name: str, is_writer: bool) -> None:
        self.path = Path(tempfile.gettempdir()) / f"{PREFIX}userfile_{name}.pkl"
        self.is_writer = is_writer

    def write(self, data: dict[str, Any]) -> None:
        partial = self.path.with_suffix(".partial")
        partial.write_bytes(pickle.dumps(data, protocol=5))
        os.replace(partial, self.path)

    def read(self) -> dict[str, Any] | None:
        try:
            blob = self.path.read_bytes()
        except FileNotFoundError:
            return None
        result: dict[str, Any] = pickle.loads(blob)
        return result

    def cleanup(self) -> None:
        if self.is_writer:
            self.path.unlink(missing_ok=True)

    def get_name(self) -> str:
        return "pickle file (user)"


class FailingWriteBackend(FileBackend):
    """Its writer fails on the first write."""

    def write(self, data: dict[str, Any]) -> None:
        raise RuntimeError("injected write failure")


class FailingReadBackend(FileBackend):
    """The last reader fails on its fourth read (the harness's settle read, one warm-up
    read, one timed read, then this); the other readers are fine."""

    reads = 0

    def read(self) -> dict[str, Any] | None:
        self.reads += 1
        comm = MPI.COMM_WORLD
        if comm.Get_rank() == comm.Get_size() - 1 and self.reads == 4:
            raise OSError("injected read failure")
        return super().read()


class CorruptingBackend(FileBackend):
    """Reads return the snapshot with one value changed, as a buggy store would."""

    def read(self) -> dict[str, Any] | None:
        data = super().read()
        if data:
            first = next(iter(data))
            data[first] = {**data[first], "value": -1}
        return data


class HangingBackend(IPCBackend):
    """Its last reader never returns from read(): a stuck backend. Creates nothing."""

    def initialize(self, name: str, is_writer: bool) -> None:
        pass

    def write(self, data: dict[str, Any]) -> None:
        self.data = data

    def read(self) -> dict[str, Any] | None:
        comm = MPI.COMM_WORLD
        if comm.Get_rank() == comm.Get_size() - 1:
            threading.Event().wait()  # forever: only the harness's timeout ends this
        return None

    def cleanup(self) -> None:
        pass

    def get_name(self) -> str:
        return "hangs"


class NotABackend:
    """Has the methods but not the base class: the harness must refuse it."""


class CorruptWeightsBackend(FileBackend):
    """Reads of the training payload return one weight changed by one bit, which
    equality of everything but the arrays would miss."""

    def read(self) -> dict[str, Any] | None:
        data = super().read()
        if data:
            bias = data["weights"]["blocks.1.bias"]
            bias.view("uint32")[0] ^= 1
        return data
