"""The run: every (size, backend) case in turn, then the result file and the summary."""

from __future__ import annotations

import os
import secrets
import sys
import traceback
from datetime import datetime, timezone
from typing import Any

from mpi4py import MPI

from ..registry import BackendSpec
from . import payloads, report, results
from .case import WRITER, Case
from .config import Config
from .outcome import CaseOutcome, Failure, record, write_results
from .sync import Sync

#: Exit status when the run cannot start (too few ranks, ranks on several hosts).
USAGE_EXIT = 2
#: Exit status of a job aborted because of a bug in the harness.
INTERNAL_EXIT = 4
#: Seconds the ranks may take to reach each other at start.
STARTUP_TIMEOUT = 120.0


def run(config: Config, command_line: list[str]) -> int:
    """Run the benchmark on MPI.COMM_WORLD. The exit status is the same on every rank:
    0, 1 if any case failed, 2 if the run could not start; a phase that times out aborts
    the job (sync.TIMEOUT_EXIT) after rank 0 saved the results so far."""
    try:
        return _run(config, command_line)
    except Exception:
        # A bug in the harness itself (backend errors are caught per case): the other
        # ranks would wait for this one until their timeout, so end the job now.
        report.say(f"ipc_benchmark: rank {MPI.COMM_WORLD.Get_rank()}: internal error, "
                   f"aborting the MPI job:\n{traceback.format_exc()}")
        MPI.COMM_WORLD.Abort(INTERNAL_EXIT)
        raise  # not reached: Abort ends the process


def _run(config: Config, command_line: list[str]) -> int:
    comm = MPI.COMM_WORLD
    rank, ranks = comm.Get_rank(), comm.Get_size()
    lead = rank == WRITER
    created = datetime.now(timezone.utc)
    if ranks < 2:
        report.say("benchmark_mpi.py needs at least 2 MPI ranks, one writer and one or more "
                   "readers: mpiexec -n 4 python benchmark_mpi.py")
        return USAGE_EXIT
    cores = results.usable_cores()
    idle_wait = config.idle_wait if config.idle_wait is not None else ranks > cores
    sync = Sync(comm, config.timeout, idle_wait)
    # Ranks reach the first collective as fast as they start and import, which on a busy,
    # oversubscribed machine can take longer than a short --timeout allows for a phase.
    start = Sync(comm, max(config.timeout, STARTUP_TIMEOUT), idle_wait)

    # Shared memory, and the clock that the aggregate rate compares across ranks, are
    # both local to one machine.
    hosts = {h.rstrip(b"\0").decode() for h in start.allgather_fixed(
        "start", MPI.Get_processor_name().encode()[:256], 256)}
    if len(hosts) > 1:
        if lead:
            report.say(f"benchmark_mpi.py: all ranks must run on one host; got "
                       f"{', '.join(sorted(hosts))}")
        return USAGE_EXIT
    # Store names unique to this run, so that concurrent runs never meet; every OS object
    # of the run has "_b<run id>_" in its name.
    token = f"{os.getpid():x}{secrets.token_hex(3)}".encode()
    run_id = start.bcast_small("start", token).decode()

    records: list[dict[str, Any]] = []
    current: tuple[BackendSpec, float] | None = None

    def save() -> bool:
        meta = results.metadata(config, command_line, ranks, idle_wait,
                                MPI.Get_library_version(), created)
        try:
            write_results(config.output, meta, records)
        except OSError as e:
            report.say(f"benchmark_mpi.py: cannot write {config.output}: {e}")
            return False
        report.say(f"results: {config.output}")
        return True

    def save_before_abort(message: str) -> None:
        if current is not None:
            spec, size = current
            outcome = CaseOutcome([("abort", Failure(rank, f"TimeoutError: {message}; "
                                                            "the job was aborted"))],
                                  None, spec.display_name)
            records.append(record(spec, size, config.workload, outcome, None,
                                  config.payload))
        save()

    if lead:
        sync.on_abort = save_before_abort
        readers = f"{ranks - 1} reader" + ("s" if ranks > 2 else "")
        report.say(f"ipc_benchmark: run {run_id}: {ranks} ranks (1 writer, {readers}) on "
                   f"{cores} cores, "
                   f"idle wait {'on' if idle_wait else 'off'}, workload {config.workload}\n"
                   f"  backends: {' '.join(spec.name for spec in config.backends)}\n"
                   f"  payload {config.payload}, sizes "
                   f"({payloads.SIZE_UNITS[config.payload]}): "
                   f"{' '.join(map(str, config.data_sizes()))}")
        for note in config.unavailable:
            report.say(f"  skipped (not available): {note}")

    failed = 0
    total = len(config.data_sizes()) * len(config.backends)
    step = 0
    for size in config.data_sizes():
        expected = payloads.generate(config.payload, size, config.seed)
        for spec in config.backends:
            step += 1
            current = (spec, size)
            # The writer times the copy the case is measured against while the readers
            # wait for it in the case's first barrier.
            memcpy_ns = (payloads.copy_baseline(config.payload, expected, 1, config.repeat)
                         if lead else None)
            outcome = Case(sync, config, spec, size, expected, f"b{run_id}_{step}").run()
            failed += bool(outcome.failures)
            if lead:
                rec = record(spec, size, config.workload, outcome,
                             spec.payload_bytes(expected), config.payload, memcpy_ns)
                records.append(rec)
                report.say(report.progress_line(step, total, rec))
    current = None

    if lead:
        failed += not save()
        report.say(report.summary(records, ranks - 1), sys.stdout)
    return 1 if failed else 0
