"""What a backend can do by design, as opposed to how fast it ran.

The recommendation needs two facts no measurement gives: does the data outlive the
processes, and can readers sit on other machines. They follow from the kind of store,
so they are written down once here, keyed by registry name (registry.py,
docs/results-schema.md), and tests/test_analyze.py checks that every built-in backend has
an entry. A name not listed here (a user's ``module:Class``, a native-harness self-test
backend) is "unknown" and never recommended for either property.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Properties:
    #: The snapshot survives the writer and readers exiting (a file on disk).
    persistent: bool
    #: Readers can run on other machines than the writer, as the backend is built here.
    across_machines: bool
    #: Each read consumes a message the writer sent for it, so a write's time covers
    #: every read it serves and grows with the readers (docs/benchmark.md).
    message_per_read: bool
    #: Why, in a few words (shown in report.md).
    note: str


BACKENDS: dict[str, Properties] = {
    "shm": Properties(False, False, False,
                      "POSIX shared memory; the writer's cleanup removes it"),
    "lmdb": Properties(True, False, False,
                       "LMDB file; with a path it outlives the processes; one host "
                       "(LMDB's locks need a local file system)"),
    "zmq": Properties(False, True, False,
                      "publish/subscribe; tcp:// endpoints reach other hosts"),
    "zmq-push": Properties(False, True, True,
                           "PUSH/PULL, one message per read; tcp:// reaches other hosts"),
    "py-shm": Properties(False, False, False,
                         "pickle in multiprocessing.shared_memory"),
    "py-lmdb": Properties(True, False, False,
                          "pickle in an LMDB file; the reference removes it at cleanup, "
                          "the store itself persists"),
    "py-zmq": Properties(False, False, True,
                         "pickle over PUSH/PULL; built for ipc:// sockets only"),
    "mpi-bcast": Properties(False, True, True,
                            "MPI broadcast; readers on any node of one MPI job"),
}


def properties(backend: str) -> Properties | None:
    """The backend's properties, or None when they are unknown."""
    return BACKENDS.get(backend)
