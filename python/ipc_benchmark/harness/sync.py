"""Collectives that cannot hang, and that let waiting ranks sleep.

Every wait between ranks is a non-blocking MPI collective polled against a deadline. A
rank that passes the deadline says which phase it was waiting in and aborts the whole MPI
job: a stuck or dead rank ends the run with a message instead of hanging it.

With ``idle_wait`` a waiting rank sleeps between polls (50 us, doubling up to 1 ms), so
that on an oversubscribed machine it gives its core to the ranks doing the work; without
it, it polls in a busy loop, as MPI's own blocking barrier does.
"""

from __future__ import annotations

import struct
import sys
import time
from array import array
from typing import Callable

from mpi4py import MPI

from .outcome import Failure

#: Exit status of a job aborted because a phase timed out.
TIMEOUT_EXIT = 3

# Room for one rank's failure message in ``agree``; longer messages are cut.
_SLOT = 2048
_HEAD = struct.Struct("<BH")  # failed flag, message length
_FIRST_PAUSE = 50e-6
_MAX_PAUSE = 1e-3


class Sync:
    """Timed, failure-aware collectives over ``comm``."""

    def __init__(self, comm: MPI.Comm, timeout: float, idle_wait: bool) -> None:
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.timeout = timeout
        # When every rank waits, rank 0 should be the one to give up: it holds the
        # results and saves them first. The others wait a little longer.
        self._patience = timeout if self.rank == 0 else timeout + max(1.0, 0.05 * timeout)
        self.idle_wait = idle_wait
        #: Called with the timeout message just before the job is aborted (rank 0 saves
        #: the results so far).
        self.on_abort: Callable[[str], None] | None = None

    def wait(self, request: MPI.Request, phase: str) -> None:
        """Complete ``request``, or abort the job after ``timeout`` seconds."""
        deadline = time.monotonic() + self._patience
        pause = _FIRST_PAUSE
        while not request.Test():
            if time.monotonic() > deadline:
                self._abort(phase)
            if self.idle_wait:
                time.sleep(pause)
                pause = min(2 * pause, _MAX_PAUSE)

    def _abort(self, phase: str) -> None:
        message = (f"timed out after {self._patience:g} s waiting for the other ranks in "
                   f"'{phase}'")
        print(
            f"ipc_benchmark: rank {self.rank}: {message}: a rank is stuck (in a backend "
            "call?) or has died. Aborting the MPI job; raise --timeout if the phase is "
            "merely slow.",
            file=sys.stderr,
            flush=True,
        )
        if self.on_abort is not None:
            try:
                self.on_abort(message)
            except Exception as e:  # the abort must happen regardless
                print(f"ipc_benchmark: rank {self.rank}: while aborting: {e!r}",
                      file=sys.stderr, flush=True)
        self.comm.Abort(TIMEOUT_EXIT)

    def allgather_fixed(self, phase: str, data: bytes, slot: int) -> list[bytes]:
        """Every rank's ``data`` (at most ``slot`` bytes), padded with zeros to ``slot``."""
        if len(data) > slot:
            raise ValueError(f"{len(data)} bytes do not fit a slot of {slot}")
        send = bytearray(slot)
        send[: len(data)] = data
        recv = bytearray(slot * self.size)
        self.wait(self.comm.Iallgather([send, MPI.BYTE], [recv, MPI.BYTE]), phase)
        return [bytes(recv[i * slot : (i + 1) * slot]) for i in range(self.size)]

    def agree(self, phase: str, error: str | None) -> list[Failure]:
        """Barrier that also tells every rank which ranks failed (the same list on all)."""
        data = b""
        if error is not None:
            message = error.encode("utf-8")[: _SLOT - _HEAD.size]
            # A cut may split a character: drop the partial one.
            message = message.decode("utf-8", "ignore").encode("utf-8")
            data = _HEAD.pack(1, len(message)) + message
        failures = []
        for rank, slot in enumerate(self.allgather_fixed(phase, data, _SLOT)):
            failed, length = _HEAD.unpack_from(slot)
            if failed:
                text = slot[_HEAD.size : _HEAD.size + length].decode("utf-8")
                failures.append(Failure(rank, text))
        return failures

    def bcast_small(self, phase: str, data: bytes, slot: int = 64) -> bytes:
        """Rank 0's ``data`` (at most ``slot`` bytes), on every rank."""
        buf = bytearray(slot)
        if self.rank == 0:
            buf[: len(data)] = data
        self.wait(self.comm.Ibcast([buf, MPI.BYTE], root=0), phase)
        return bytes(buf).rstrip(b"\0")

    def gather(self, phase: str, data: bytes) -> list[bytes] | None:
        """Every rank's ``data`` on rank 0 (None elsewhere); any lengths."""
        lengths = array("q", [0]) * self.size
        request = self.comm.Iallgather([array("q", [len(data)]), MPI.INT64_T],
                                       [lengths, MPI.INT64_T])
        self.wait(request, phase)
        offsets = [sum(lengths[:i]) for i in range(self.size)]
        recv = bytearray(sum(lengths)) if self.rank == 0 else None
        recvspec = [recv, (list(lengths), offsets), MPI.BYTE] if recv is not None else None
        self.wait(self.comm.Igatherv([data, MPI.BYTE], recvspec, root=0), phase)
        if recv is None:
            return None
        return [bytes(recv[o : o + n]) for o, n in zip(offsets, lengths)]
