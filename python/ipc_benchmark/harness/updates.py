"""The update-latency phase: how long after the writer starts ``write()`` a waiting reader
holds the new snapshot.

Before each update every rank passes a barrier, so the previous update has reached every
reader and each reader is waiting for the next one: what is measured is what a waiting
reader sees, never a queue of updates. The writer takes ``CLOCK_MONOTONIC`` just before
``write()``; a reader takes it once it has read the whole new snapshot. Both clocks are
the same clock only on one machine, so the phase runs only when every active reader is on
the writer's node.

How a reader learns of the update depends on what its backend offers (``WAITS``): its
own ``wait_for_update`` (the native stores sleep on the store), else polling its own
``version``, else polling ``read()`` until the snapshot carries the update's mark. A
polling reader may read while the writer writes: a backend without a publish protocol
(the reference ``py-shm``) then hands it a torn snapshot, which raises. Such a poll is
counted (``failed_polls``) and the reader polls again, as a reader that copes would.
"""

from __future__ import annotations

import inspect
import time
from typing import Any, Literal

from ..base import IPCBackend
from .workload import VerificationError

Wait = Literal["wait_for_update", "version", "read"]

#: The key the update phase adds to the payload; its value is the update's number.
MARK = "__update__"

#: Pause between polls when waiting ranks sleep (idle wait); none otherwise.
_POLL_PAUSE = 50e-6


def wait_method(backend: IPCBackend) -> Wait:
    """How a reader of ``backend`` waits: the most direct means it implements itself."""
    cls = type(backend)
    if inspect.getattr_static(cls, "wait_for_update") is not IPCBackend.wait_for_update:
        return "wait_for_update"
    if inspect.getattr_static(cls, "version") is not IPCBackend.__dict__["version"]:
        return "version"
    return "read"


def marked(expected: dict[str, Any], update: int) -> dict[str, Any]:
    """The payload of update ``update``: the case's dict plus its mark."""
    data = dict(expected)
    data[MARK] = update
    return data


def _mark_of(value: Any) -> Any:
    return value.get(MARK) if isinstance(value, dict) else None


class UpdateReader:
    """One reader's side of the phase."""

    def __init__(self, backend: IPCBackend, timeout: float, idle_wait: bool) -> None:
        self.backend = backend
        self.method = wait_method(backend)
        self.timeout = timeout
        self.pause = _POLL_PAUSE if idle_wait else 0.0
        self.seen = 0
        self.failed_polls = 0

    def baseline(self) -> None:
        """The version before the first update (read before the writer starts it)."""
        if self.method != "read":
            self.seen = self.backend.version

    def receive(self, update: int) -> int:
        """Waits for update ``update``, reads it whole; returns CLOCK_MONOTONIC in ns."""
        backend = self.backend
        deadline = time.monotonic() + self.timeout
        while True:
            if self.method == "wait_for_update":
                left = deadline - time.monotonic()
                if left > 0:
                    self.seen = backend.wait_for_update(self.seen, timeout=left)
            elif self.method == "version":
                version = backend.version
                if version <= self.seen:
                    self._pause(update, deadline)
                    continue
                self.seen = version
            try:
                value = backend.read()
            except Exception:
                if self.method == "wait_for_update":
                    raise  # the backend's own protocol should never tear
                self.failed_polls += 1
                self._pause(update, deadline)
                continue
            if _mark_of(value) == update:
                end = time.monotonic_ns()
                del value
                return end
            del value
            self._pause(update, deadline)

    def _pause(self, update: int, deadline: float) -> None:
        if time.monotonic() > deadline:
            raise VerificationError(f"update {update} did not arrive within {self.timeout:g} s "
                                    f"(waiting by {self.method})")
        if self.pause:
            time.sleep(self.pause)
