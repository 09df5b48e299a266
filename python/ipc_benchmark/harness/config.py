"""What one benchmark run does: every rank parses the same command line into this."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..registry import BackendSpec
from .payloads import MESSAGE_BUDGET_MB, Payload

Workload = Literal["full", "get"]


@dataclass(frozen=True)
class Config:
    backends: list[BackendSpec]
    sizes: list[int]  # entries of the seed payload
    iterations: int  # timed reads per reader
    warmup: int  # untimed reads per reader, and untimed writes
    repeat: int  # timed writes
    seed: int
    output: Path
    workload: Workload
    idle_wait: bool | None  # None: on when ranks outnumber cores
    timeout: float  # seconds any one phase may take before the job is aborted
    payload: Payload = "seed"
    #: MiB of weights of each training case; None for the seed payload.
    array_mb: list[float] | None = None
    #: MiB of messages per case before message backends' reads are capped.
    message_budget_mb: int = MESSAGE_BUDGET_MB
    #: Active readers of each case, in order; None: every rank but the writer.
    reader_counts: list[int] | None = None
    #: Writes of the update-latency phase (0: no such phase).
    updates: int = 20
    #: Where the writer's ZeroMQ sockets bind when readers are on other nodes.
    zmq_host: str | None = None
    zmq_interface: str | None = None
    #: Notes for the log: default backends that are not available here, and why.
    unavailable: tuple[str, ...] = ()
    #: Backends in ``backends`` that are recorded as skipped rather than run (a peer
    #: whose package is missing), by name, with the reason.
    skip: dict[str, str] = field(default_factory=dict)
    #: Keyword arguments for the built-in backends whose constructors take them
    #: (``redis_url``), from the command line.
    backend_options: dict[str, Any] = field(default_factory=dict)

    def data_sizes(self) -> list[float]:
        """The ``data_size`` of each case, in the payload's unit (entries or MiB)."""
        return list(self.sizes) if self.array_mb is None else list(self.array_mb)
