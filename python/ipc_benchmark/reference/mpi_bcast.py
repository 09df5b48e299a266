"""``mpi-bcast``: the original author's next experiment, ``comm.bcast`` of the dict.

mpi4py pickles the dict on the root and unpickles it on every other rank. One broadcast
reaches every reader at once, so a write serves ``reads_each`` reads of each reader by
broadcasting ``reads_each`` times (``expect_reads``); each ``read`` receives one.

MPI rules this backend must follow, which the other backends do not have:

* The constructor duplicates the communicator (so the broadcasts never mix with the
  harness's own collectives) and is therefore collective: every rank must construct it
  at the same point.
* The writer must be rank ``root`` of the communicator; every other rank is a reader, and
  all of them must read as many times as the writer broadcasts. A reader that stops
  early leaves the others blocked in MPI, where no timeout reaches (the harness aborts
  the job after its own timeout).

It creates no OS objects; ``name`` is accepted for the interface's sake.
"""

from __future__ import annotations

from typing import Any

from mpi4py import MPI

from .._core import IPCError
from ..base import IPCBackend


class MPIBcastBackend(IPCBackend):
    """pickle + mpi4py ``comm.bcast``: every read receives one broadcast."""

    consumes_messages = True

    def __init__(self, comm: MPI.Comm | None = None, root: int = 0) -> None:
        base = MPI.COMM_WORLD if comm is None else comm
        if not 0 <= root < base.Get_size():
            raise ValueError(f"mpi-bcast: root {root} is not a rank of a communicator of "
                             f"{base.Get_size()}")
        self._comm: MPI.Comm | None = base.Dup()
        self.root = root
        self._bcasts_next = 1
        self._is_writer = False

    def get_name(self) -> str:
        return "MPI bcast (pickle)"

    def _comm_or_raise(self) -> MPI.Comm:
        if self._comm is None:
            raise IPCError("mpi-bcast: already cleaned up")
        return self._comm

    def initialize(self, name: str, is_writer: bool) -> None:
        rank = self._comm_or_raise().Get_rank()
        if is_writer != (rank == self.root):
            role = "the writer" if is_writer else "a reader"
            raise ValueError(f"mpi-bcast: rank {rank} cannot be {role}: the writer must be "
                             f"the broadcast root, rank {self.root}")
        self._is_writer = is_writer

    def expect_reads(self, readers: int, reads_each: int) -> None:
        comm = self._comm_or_raise()
        if readers != comm.Get_size() - 1:
            raise ValueError(f"mpi-bcast: a broadcast reaches all {comm.Get_size() - 1} "
                             f"other ranks, so readers must be that many, not {readers}")
        if reads_each < 0:
            raise ValueError(f"reads_each must be >= 0, got {reads_each}")
        self._bcasts_next = reads_each

    def write(self, data: dict[str, Any]) -> None:
        if not self._is_writer:
            raise IPCError("mpi-bcast: write() on a reader")
        comm = self._comm_or_raise()
        count, self._bcasts_next = self._bcasts_next, 1
        for _ in range(count):
            comm.bcast(data, root=self.root)

    def read(self) -> dict[str, Any] | None:
        result: dict[str, Any] | None = self._comm_or_raise().bcast(None, root=self.root)
        return result

    def cleanup(self) -> None:
        comm, self._comm = self._comm, None
        if comm is not None:
            # MPICH frees a communicator locally; no rank waits for the others here.
            comm.Free()
