"""One backend at one dict size: the protocol every rank follows.

Rank 0 writes, the other ranks read. Each phase ends in ``Sync.agree``, a barrier that
also tells every rank whether any rank failed, so all ranks take the same path:

1. construct the backend (every rank);
2. initialize the writer, then the readers (create before attach);
3. measure. Shared-store backends: the writer does ``warmup`` untimed and ``repeat``
   timed writes; the readers wait, untimed, until they hold a snapshot (ZeroMQ pubsub
   delivers in the background, so it may still be arriving after the barrier; every
   case has a fresh store, so any snapshot is the one written); then they do ``warmup``
   untimed and ``iterations`` timed reads.
   Message backends (``consumes_messages``): the writer is told to expect
   ``readers x (warmup + iterations)`` reads and does one timed write while the readers
   read. A message backend's timed reads of a large training payload may be capped
   (``payloads.read_cap``);
4. collect every rank's samples on rank 0 (after any failure too: what was measured is
   kept);
5. clean up the readers, then the writer, wherever initialize was called (after any
   failure too).

After a failure the remaining measuring phases are skipped. Readers check every read
outside the timed region; a mismatch fails the case with ``VerificationError``.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from dataclasses import asdict
from typing import Any, Callable

from ..base import IPCBackend
from ..registry import BackendSpec
from .config import Config
from . import payloads
from .outcome import CaseOutcome, Failure, RankReport
from .sync import Sync
from .workload import VerificationError, random_keys

WRITER = 0


class Case:
    def __init__(self, sync: Sync, config: Config, spec: BackendSpec, size: float,
                 expected: dict[str, Any], store_name: str) -> None:
        self.sync = sync
        self.config = config
        self.spec = spec
        self.size = size
        self.expected = expected
        self.store_name = store_name
        self.is_writer = sync.rank == WRITER
        self.readers = sync.size - 1
        #: "py-zmq, 10 MiB": how messages name the case.
        self.label = f"{spec.name}, {size} {payloads.SIZE_UNITS[config.payload]}"
        #: Timed reads per reader: ``config.iterations`` unless ``read_cap`` is set.
        self.iterations = config.iterations
        self.read_cap: payloads.ReadCap | None = None
        self.backend: IPCBackend | None = None
        self.initialized = False  # initialize was called on this rank
        self.report = RankReport()
        self.failures: list[tuple[str, Failure]] = []

    # The phases.

    def run(self) -> CaseOutcome:
        writer, reader = self.is_writer, not self.is_writer
        ok = self._step("construct", True, self._construct)
        ok = ok and self._step("initialize writer", writer, self._initialize)
        ok = ok and self._step("initialize readers", reader, self._initialize)
        measured = ok
        if ok and self._backend().consumes_messages:
            self._step("write while reading", True,
                       self._write_serving_reads if writer else self._read_all)
        elif ok and self._step("write", writer, self._write_all):
            ok = self._step("settle", reader, self._settle)
            ok and self._step("read", reader, self._read_all)
        reports = self._collect() if measured else None
        display_name = self._display_name()
        # Only what initialize may have opened needs cleaning up; a backend that never
        # got that far is merely dropped.
        opened = self.initialized
        self._step("cleanup readers", reader and opened, self._cleanup)
        self._step("cleanup writer", writer and opened, self._cleanup)
        self.backend = None
        return CaseOutcome(self.failures, reports, display_name, self.read_cap)

    def _step(self, phase: str, mine: bool, action: Callable[[], None]) -> bool:
        """Run ``action`` if this rank takes part, then agree with every rank on the
        outcome; True when no rank failed."""
        error = None
        if mine:
            try:
                action()
            except Exception as e:
                error = f"{type(e).__name__}: {e}"
                # A backend's bug wants its traceback; a wrong read, the message only.
                detail = error if isinstance(e, VerificationError) else traceback.format_exc()
                print(f"ipc_benchmark: rank {self.sync.rank}: {self.label}: {phase} "
                      f"failed: {detail}", file=sys.stderr, flush=True)
        label = f"{self.label}: {phase}"
        failures = self.sync.agree(label, error)
        self.failures.extend((phase, f) for f in failures)
        return not failures

    def _backend(self) -> IPCBackend:
        assert self.backend is not None, "phase run without a backend"
        return self.backend

    def _construct(self) -> None:
        self.backend = self.spec.create(timeout=self.config.timeout / 2)
        config = self.config
        self.read_cap = payloads.read_cap(config.payload, self.size, self.readers,
                                          config.warmup, config.iterations,
                                          self.backend.consumes_messages,
                                          config.message_budget_mb)
        if self.read_cap is not None:
            self.iterations = self.read_cap.iterations

    def _initialize(self) -> None:
        self.initialized = True  # before the call: a failing initialize may leave things
        self._backend().initialize(self.store_name, self.is_writer)

    def _cleanup(self) -> None:
        backend, self.backend = self.backend, None
        if backend is not None:
            backend.cleanup()

    def _display_name(self) -> str:
        if self.spec.implementation != "user" or self.backend is None:
            return self.spec.display_name
        try:
            return self.backend.get_name()
        except Exception:
            return self.spec.display_name  # a broken get_name is not worth failing over

    # The measurements.

    def _write_all(self) -> None:
        backend, data, clock = self._backend(), self.expected, time.perf_counter_ns
        for _ in range(self.config.warmup):
            backend.write(data)
        for _ in range(self.config.repeat):
            start = clock()
            backend.write(data)
            end = clock()
            self.report.write_ns.append(end - start)

    def _write_serving_reads(self) -> None:
        backend, clock = self._backend(), time.perf_counter_ns
        backend.expect_reads(self.readers, self.config.warmup + self.iterations)
        start = clock()
        backend.write(self.expected)
        end = clock()
        self.report.write_ns.append(end - start)

    def _settle(self) -> None:
        """Wait until this reader holds a snapshot, sleeping in ``wait_for_update``
        between looks rather than spinning. What it holds is checked by the reads."""
        backend = self._backend()
        deadline = time.monotonic() + self.config.timeout / 2
        while backend.read() is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise VerificationError(
                    f"no snapshot arrived within {self.config.timeout / 2:.0f} s of the write"
                )
            try:
                backend.wait_for_update(backend.version, timeout=min(left, 1.0))
            except TimeoutError:
                pass  # look again until the deadline

    def _read_all(self) -> None:
        backend, clock = self._backend(), time.perf_counter_ns
        warmup, total = self.config.warmup, self.config.warmup + self.iterations
        checker = payloads.checker(self.config.payload, self.expected)
        keys = None
        if self.config.workload == "get":
            keys = random_keys(self.expected, total, self.config.seed, self.sync.rank)
        report = self.report
        for i in range(total):
            if keys is not None:
                key = keys[i]
                start = clock()
                value = backend.get(key)
                end = clock()
                checker.check_key(i, key, value)
            else:
                start = clock()
                value = backend.read()
                end = clock()
                checker.check_full(i, value)
            # Free the result here, not when the next read replaces it inside the timer.
            del value
            if i >= warmup:
                report.read_ns.append(end - start)
                if report.first_ns is None:
                    report.first_ns = start
                report.last_ns = end
        report.verified = checker.first_mismatch is None
        if checker.first_mismatch is not None:
            raise VerificationError(checker.first_mismatch)

    def _collect(self) -> list[RankReport] | None:
        label = f"{self.label}: collect"
        gathered = self.sync.gather(label, json.dumps(asdict(self.report)).encode())
        if gathered is None:
            return None
        return [RankReport(**json.loads(blob)) for blob in gathered]
