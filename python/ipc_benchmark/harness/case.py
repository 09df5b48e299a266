"""One backend at one dict size and reader count: the protocol every rank follows.

Rank 0 writes, the first ``readers`` other ranks read; the other ranks sit the case out
but pass every barrier with the rest. Each phase ends in ``Sync.agree``, a barrier that
also tells every rank whether any rank failed, so all ranks take the same path:

0. when readers are on other nodes and the backend takes an ``endpoint`` (the ZeroMQ
   backends), the writer picks two free tcp ports on ``--zmq-host`` and tells every rank;
1. construct the backend (every active rank; a backend that takes ``comm``, mpi-bcast,
   gets the communicator of the active ranks);
2. initialize the writer, then the readers (create before attach);
3. measure. Shared-store backends: the writer does ``warmup`` untimed and ``repeat``
   timed writes; the readers wait, untimed, until they hold a snapshot (ZeroMQ pubsub
   delivers in the background, so it may still be arriving after the barrier; every
   case has a fresh store, so any snapshot is the one written); then they do ``warmup``
   untimed and ``iterations`` timed reads; then, when every reader is on the writer's
   node, the update-latency phase (updates.py).
   Message backends (``consumes_messages``): the writer is told to expect
   ``readers x (warmup + iterations)`` reads and does one timed write while the readers
   read. A message backend's timed reads of a large training payload may be capped
   (``payloads.read_cap``);
4. collect every rank's samples and memory (memory.py) on rank 0 (after any failure too:
   what was measured is kept);
5. clean up the readers, then the writer, wherever initialize was called (after any
   failure too).

After a failure the remaining measuring phases are skipped. Readers check every read
outside the timed region; a mismatch fails the case with ``VerificationError``.
"""

from __future__ import annotations

import inspect
import json
import sys
import time
import traceback
from dataclasses import asdict
from typing import Any, Callable

from mpi4py import MPI

from ..base import IPCBackend
from ..registry import BackendSpec, BackendUnavailable
from . import memory
from . import payloads
from .config import Config
from .nodes import free_port_pair, tcp_endpoint
from .outcome import NOTE_FAILED, CaseOutcome, Failure, RankReport
from .sync import Sync
from .updates import UpdateReader, marked
from .workload import VerificationError, random_keys

WRITER = 0

NOTE_MESSAGES = ("every read consumes a message the writer sent for it: there is no "
                 "newer snapshot for a reader to wait for")
NOTE_CROSS_NODE = ("readers on other nodes than the writer: their CLOCK_MONOTONIC is not "
                   "the writer's")
NOTE_OFF = "--updates 0: no update phase"


class Case:
    def __init__(self, sync: Sync, config: Config, spec: BackendSpec, size: float,
                 expected: dict[str, Any], store_name: str, *, readers: int,
                 comm: MPI.Comm | None, cross_node: bool, zmq_host: str | None) -> None:
        """``comm``: the communicator of the writer and the first ``readers`` readers
        (None on the ranks that sit the case out); ``zmq_host``: the address ZeroMQ
        binds when ``cross_node``."""
        self.sync = sync
        self.config = config
        self.spec = spec
        self.size = size
        self.expected = expected
        self.store_name = store_name
        self.is_writer = sync.rank == WRITER
        self.readers = readers
        #: Timed reads per reader: ``config.iterations`` unless ``read_cap`` is set.
        self.iterations = config.iterations
        self.read_cap: payloads.ReadCap | None = None
        self.active = sync.rank <= readers
        self.comm = comm
        self.cross_node = cross_node
        self.zmq_host = zmq_host
        self.endpoint: str | None = None
        self.port = 0
        self.backend: IPCBackend | None = None
        self.initialized = False  # initialize was called on this rank
        self.report = RankReport()
        self.failures: list[tuple[str, Failure]] = []
        self.update_reader: UpdateReader | None = None
        self.update_note: str | None = NOTE_FAILED

    # The phases.

    def run(self) -> CaseOutcome:
        writer, active = self.is_writer, self.active
        reader = active and not writer
        if active:
            self.report.peak_scope = memory.reset_peak()
        ok = True
        if self.cross_node and self.zmq_host is not None and self._takes("endpoint"):
            ok = self._step("choose tcp ports", writer, self._choose_port)
            if ok:
                port = self.sync.bcast_small(self._label("tcp ports"), str(self.port).encode())
                self.endpoint = tcp_endpoint(self.zmq_host, int(port))
        ok = ok and self._step("construct", active, self._construct)
        ok = ok and self._step("initialize writer", writer, self._initialize)
        ok = ok and self._step("initialize readers", reader, self._initialize)
        measured = ok
        if ok and self._consumes_messages():
            self.update_note = NOTE_MESSAGES
            self._cap_reads()
            self._step("write while reading", active,
                       self._write_serving_reads if writer else self._read_all)
        elif ok and self._step("write", writer, self._write_all):
            ok = self._step("settle", reader, self._settle)
            ok = ok and self._step("read", reader, self._read_all)
            if ok:
                self._measure_updates(writer, reader)
        if active:
            self.report.peak_rss = memory.peak_rss()
        reports = self._collect() if measured else None
        display_name = self._display_name()
        # Only what initialize may have opened needs cleaning up; a backend that never
        # got that far is merely dropped.
        opened = self.initialized
        self._step("cleanup readers", reader and opened, self._cleanup)
        self._step("cleanup writer", writer and opened, self._cleanup)
        self.backend = None
        return CaseOutcome(self.failures, reports, display_name, readers=self.readers,
                           cross_node=self.cross_node, update_note=self.update_note,
                           read_cap=self.read_cap)

    def _label(self, phase: str) -> str:
        unit = payloads.SIZE_UNITS[self.config.payload]
        return f"{self.spec.name}, {self.size} {unit}, {self.readers} readers: {phase}"

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
                print(f"ipc_benchmark: rank {self.sync.rank}: {self._label(phase)} failed: "
                      f"{detail}", file=sys.stderr, flush=True)
        failures = self.sync.agree(self._label(phase), error)
        self.failures.extend((phase, f) for f in failures)
        return not failures

    def _backend(self) -> IPCBackend:
        assert self.backend is not None, "phase run without a backend"
        return self.backend

    def _takes(self, option: str) -> bool:
        """Whether the built-in class takes ``option`` (the same answer on every rank)."""
        if self.spec.implementation == "user":
            return False
        try:
            return option in inspect.signature(self.spec.load()).parameters
        except (BackendUnavailable, TypeError, ValueError):
            return False

    def _consumes_messages(self) -> bool:
        """The writer's backend says; every rank learns it (the idle ones have none)."""
        mine = self.is_writer and self._backend().consumes_messages
        return self.sync.bcast_small(self._label("kind"), b"1" if mine else b"0") == b"1"

    def _cap_reads(self) -> None:
        """Every rank the same cap: it depends on the command line and the backend's kind
        only (payloads.read_cap)."""
        config = self.config
        self.read_cap = payloads.read_cap(config.payload, self.size, self.readers,
                                          config.warmup, config.iterations, True,
                                          config.message_budget_mb)
        if self.read_cap is not None:
            self.iterations = self.read_cap.iterations

    def _choose_port(self) -> None:
        assert self.zmq_host is not None
        self.port = free_port_pair(self.zmq_host)

    def _construct(self) -> None:
        self.backend = self.spec.create(timeout=self.config.timeout / 2, comm=self.comm,
                                        endpoint=self.endpoint, **self.config.backend_options)

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
        before = memory.rss()
        for _ in range(self.config.repeat):
            start = clock()
            backend.write(data)
            end = clock()
            self.report.write_ns.append(end - start)
        self._growth(before)

    def _write_serving_reads(self) -> None:
        backend, clock = self._backend(), time.perf_counter_ns
        backend.expect_reads(self.readers, self.config.warmup + self.iterations)
        before = memory.rss()
        start = clock()
        backend.write(self.expected)
        end = clock()
        self.report.write_ns.append(end - start)
        self._growth(before)

    def _growth(self, before: int | None) -> None:
        after = memory.rss()
        if before is not None and after is not None:
            self.report.rss_growth = after - before

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
        before = None
        for i in range(total):
            if i == warmup:
                before = memory.rss()
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
                # The aggregate's span is on the wall clock, which readers on several
                # nodes share (through NTP): this read's end on it, less the time since.
                wall_end = time.time_ns() - (clock() - end)
                if report.first_ns is None:
                    report.first_ns = wall_end - (end - start)
                report.last_ns = wall_end
        self._growth(before)
        report.verified = checker.first_mismatch is None
        if checker.first_mismatch is not None:
            raise VerificationError(checker.first_mismatch)

    def _measure_updates(self, writer: bool, reader: bool) -> None:
        """The update-latency phase: one step per update, so that the barrier of each
        lets the next start only once every reader holds the last."""
        if self.cross_node:
            self.update_note = NOTE_CROSS_NODE
            return
        if self.config.updates == 0:
            self.update_note = NOTE_OFF
            return
        if not self._step("update baseline", reader, self._update_baseline):
            return
        for update in range(1, self.config.updates + 1):
            def one(update: int = update) -> None:
                if writer:
                    self._update_write(update)
                else:
                    self._update_read(update)
            if not self._step(f"update {update}", writer or reader, one):
                return
        self.update_note = None

    def _update_baseline(self) -> None:
        self.update_reader = UpdateReader(self._backend(), self.config.timeout / 2,
                                          self.sync.idle_wait)
        self.update_reader.baseline()
        self.report.update_wait = self.update_reader.method

    def _update_write(self, update: int) -> None:
        data = marked(self.expected, update)
        start = time.monotonic_ns()
        self._backend().write(data)
        self.report.update_start_ns.append(start)

    def _update_read(self, update: int) -> None:
        assert self.update_reader is not None
        self.report.update_end_ns.append(self.update_reader.receive(update))
        self.report.update_failed_polls = self.update_reader.failed_polls

    def _collect(self) -> list[RankReport] | None:
        gathered = self.sync.gather(self._label("collect"),
                                    json.dumps(asdict(self.report)).encode())
        if gathered is None:
            return None
        return [RankReport(**json.loads(blob)) for blob in gathered]
