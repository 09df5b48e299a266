"""What one benchmark run does: every rank parses the same command line into this."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

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
    #: Notes for the log: default backends that are not available here, and why.
    unavailable: tuple[str, ...] = ()

    def data_sizes(self) -> list[float]:
        """The ``data_size`` of each case, in the payload's unit (entries or MiB)."""
        return list(self.sizes) if self.array_mb is None else list(self.array_mb)
