"""What the four peers share: base.py's rule for a process forked from the one that
opened the store."""

from __future__ import annotations

import os
from abc import abstractmethod

from .._core import UsageError
from ..base import IPCBackend


class PeerBackend(IPCBackend):
    """An IPCBackend that remembers the process that opened it.

    In a child forked from that process, ``cleanup`` only lets go of the inherited
    objects (``_let_go``): stopping the writer's server or unlinking its segments there
    would pull the store from under the parent, which keeps using it. Every other method
    raises UsageError there (``_check_process``).
    """

    _owner_pid: int | None = None
    _is_writer = False

    def _opened(self, is_writer: bool) -> None:
        """Call at the start of initialize."""
        self._owner_pid = os.getpid()
        self._is_writer = is_writer

    def _in_forked_child(self) -> bool:
        return self._owner_pid is not None and os.getpid() != self._owner_pid

    def _check_process(self) -> None:
        if self._in_forked_child():
            raise UsageError(f"{self.get_name()}: opened by process {self._owner_pid}, "
                             f"so process {os.getpid()} (a fork of it) cannot use it; "
                             "open the store again in the child")

    def _check_writer(self) -> None:
        """``_check_process``, and that this end is the writer: what ``write`` needs."""
        self._check_process()
        if not self._is_writer:
            raise UsageError(f"{self.get_name()}: write() on a reader")

    def cleanup(self) -> None:
        if self._in_forked_child():
            self._let_go()
        else:
            self._close()
        self._owner_pid = None

    @abstractmethod
    def _close(self) -> None:
        """Release everything; the writer also removes what it created."""

    @abstractmethod
    def _let_go(self) -> None:
        """Drop the inherited objects without touching the store."""
