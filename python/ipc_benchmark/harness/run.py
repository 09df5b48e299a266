"""The run: every (size, backend, reader count) case in turn, then the result file and
the summary."""

from __future__ import annotations

import os
import secrets
import struct
import sys
import traceback
from datetime import datetime, timezone
from typing import Any

from mpi4py import MPI

from .. import backends
from ..registry import BackendSpec
from . import nodes, payloads, report, results
from .case import WRITER, Case
from .config import Config
from .outcome import CaseOutcome, Failure, record, skipped_outcome, write_results
from .sync import Sync

#: Exit status when the run cannot start (too few ranks, a reader count or a node
#: override that does not fit, no address for ZeroMQ).
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


def find_nodes(comm: MPI.Comm, start: Sync) -> nodes.Nodes:
    """Which ranks share a node: MPI's shared-memory split, unless the test override is
    set (NodeError if it does not fit)."""
    override = os.environ.get(nodes.NODE_ENV)
    if override is not None:
        return nodes.from_override(override, comm.Get_size())
    shared = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.Get_rank())
    try:
        lowest = shared.bcast(comm.Get_rank(), root=0)  # every rank of it is here already
    finally:
        shared.Free()
    labels = start.allgather_fixed("start: nodes", struct.pack("<q", lowest), 8)
    return nodes.Nodes(nodes.numbered([struct.unpack("<q", b)[0] for b in labels]),
                       forced=False)


def _zmq_host(config: Config, found: nodes.Nodes, start: Sync) -> str:
    """Rank 0 picks the address; every rank gets it, or the reason there is none
    (NodeError on every rank)."""
    answer = b""
    if start.rank == WRITER:
        try:
            host = nodes.zmq_host(config.zmq_host, config.zmq_interface)
            if nodes.is_loopback(host) and not found.forced:
                raise nodes.NodeError(
                    f"ZeroMQ would bind {host}, a loopback address that readers on other "
                    "nodes cannot reach: give --zmq-host or --zmq-interface")
            answer = b"+" + host.encode()
        except nodes.NodeError as e:
            answer = b"-" + str(e).encode()[:250]
    answer = start.bcast_small("start: zmq host", answer, 256)
    if answer[:1] != b"+":
        raise nodes.NodeError(answer[1:].decode(errors="replace"))
    return answer[1:].decode()


def _groups(comm: MPI.Comm, counts: list[int]) -> dict[int, MPI.Comm | None]:
    """For each reader count k, the communicator of ranks 0..k (None on the others)."""
    rank = comm.Get_rank()
    return {k: _none_if_null(comm.Split(0 if rank <= k else MPI.UNDEFINED, rank))
            for k in counts}


def _none_if_null(comm: MPI.Comm) -> MPI.Comm | None:
    return None if comm == MPI.COMM_NULL else comm


def _run(config: Config, command_line: list[str]) -> int:
    comm = MPI.COMM_WORLD
    rank, ranks = comm.Get_rank(), comm.Get_size()
    lead = rank == WRITER
    created = datetime.now(timezone.utc)
    if ranks < 2:
        report.say("benchmark_mpi.py needs at least 2 MPI ranks, one writer and one or more "
                   "readers: mpiexec -n 4 python benchmark_mpi.py")
        return USAGE_EXIT
    counts = config.reader_counts or [ranks - 1]
    too_many = [k for k in counts if k > ranks - 1]
    if too_many:
        if lead:
            report.say(f"benchmark_mpi.py: --readers {','.join(map(str, too_many))}: "
                       f"{ranks} ranks have at most {ranks - 1} readers (one rank writes)")
        return USAGE_EXIT
    cores = results.usable_cores()
    idle_wait = config.idle_wait if config.idle_wait is not None else ranks > cores
    sync = Sync(comm, config.timeout, idle_wait)
    # Ranks reach the first collective as fast as they start and import, which on a busy,
    # oversubscribed machine can take longer than a short --timeout allows for a phase.
    start = Sync(comm, max(config.timeout, STARTUP_TIMEOUT), idle_wait)

    try:
        found = find_nodes(comm, start)
        cross = {k: found.cross_node(k) for k in counts}
        zmq_host = _zmq_host(config, found, start) if any(cross.values()) else None
    except nodes.NodeError as e:
        if lead:
            report.say(f"benchmark_mpi.py: {e}")
        return USAGE_EXIT
    # Store names unique to this run, so that concurrent runs never meet; every OS object
    # of the run has "_b<run id>_" in its name.
    token = f"{os.getpid():x}{secrets.token_hex(3)}".encode()
    run_id = start.bcast_small("start", token).decode()
    groups = _groups(comm, counts)

    records: list[dict[str, Any]] = []
    current: tuple[BackendSpec, float, int] | None = None

    def save() -> bool:
        meta = results.metadata(config, command_line, ranks, idle_wait,
                                MPI.Get_library_version(), created, counts, found, zmq_host)
        try:
            write_results(config.output, meta, records)
        except OSError as e:
            report.say(f"benchmark_mpi.py: cannot write {config.output}: {e}")
            return False
        report.say(f"results: {config.output}")
        return True

    def save_before_abort(message: str) -> None:
        if current is not None:
            spec, size, k = current
            outcome = CaseOutcome([("abort", Failure(rank, f"TimeoutError: {message}; "
                                                            "the job was aborted"))],
                                  None, spec.display_name, k, cross[k])
            records.append(record(spec, size, config.workload, outcome, None,
                                  config.payload))
        save()

    if lead:
        sync.on_abort = save_before_abort
        readers = f"{ranks - 1} reader" + ("s" if ranks > 2 else "")
        report.say(f"ipc_benchmark: run {run_id}: {ranks} ranks (1 writer, {readers}) on "
                   f"{cores} cores, {found.count} node{'s' if found.count > 1 else ''}"
                   f"{' (forced)' if found.forced else ''}, "
                   f"idle wait {'on' if idle_wait else 'off'}, workload {config.workload}\n"
                   f"  backends: {' '.join(spec.name for spec in config.backends)}\n"
                   f"  payload {config.payload}, sizes "
                   f"({payloads.SIZE_UNITS[config.payload]}): "
                   f"{' '.join(map(str, config.data_sizes()))}\n"
                   f"  readers: {' '.join(map(str, counts))}")
        if zmq_host is not None:
            report.say(f"  ZeroMQ across nodes: tcp://{zmq_host}")
        for note in config.unavailable:
            report.say(f"  skipped (not available): {note}")

    failed = 0
    total = len(config.data_sizes()) * len(config.backends) * len(counts)
    step = 0
    for size in config.data_sizes():
        expected = payloads.generate(config.payload, size, config.seed)
        for spec in config.backends:
            for k in counts:
                step += 1
                current = (spec, size, k)
                reason = _skip_reason(config, spec, cross[k])
                memcpy_ns = None
                if reason is not None:
                    outcome = skipped_outcome(spec, k, cross[k], reason)
                else:
                    # The writer times the copy the case is measured against while the
                    # readers wait for it in the case's first barrier.
                    if lead:
                        memcpy_ns = payloads.copy_baseline(config.payload, expected, 1,
                                                           config.repeat)
                    outcome = Case(sync, config, spec, size, expected, f"b{run_id}_{step}",
                                   readers=k, comm=groups[k], cross_node=cross[k],
                                   zmq_host=zmq_host).run()
                failed += bool(outcome.failures)
                if lead:
                    payload = None if reason is not None else spec.payload_bytes(expected)
                    rec = record(spec, size, config.workload, outcome, payload,
                                 config.payload, memcpy_ns)
                    records.append(rec)
                    report.say(report.progress_line(step, total, rec))
    current = None
    for group in groups.values():
        if group is not None:
            group.Free()

    if lead:
        failed += not save()
        report.say(report.summary(records, ranks - 1), sys.stdout)
    return 1 if failed else 0


def _skip_reason(config: Config, spec: BackendSpec, cross_node: bool) -> str | None:
    """Why a case cannot run: its package is missing (``config.skip``), or readers are
    on other nodes and the backend needs one host. A user's backend, whose properties
    nobody knows, runs regardless."""
    if spec.name in config.skip:
        return config.skip[spec.name]
    props = backends.properties(spec.name) if spec.implementation != "user" else None
    if cross_node and props is not None and not props.across_machines:
        return (f"readers on other nodes than the writer, and {spec.name} works on one "
                f"host only ({props.note})")
    return None
