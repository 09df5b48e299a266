"""Shared fixtures: unique store names, running code in a child interpreter, and what
an aborted MPI job leaves in /tmp."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipc_benchmark.leftovers import find_leftovers

#: What MPICH leaves when a job is aborted: mpiexec's topology file for its proxies and
#: the ranks' shared-memory segments. A job that ends normally removes both.
MPICH_LEFTOVERS = ((Path("/tmp"), "hydra_hwloc_xmlfile_*"), (Path("/dev/shm"), "mpich_shm_*"))


def mpich_files() -> set[Path]:
    return {p for base, pattern in MPICH_LEFTOVERS for p in base.glob(pattern)}


def pytest_sessionstart(session: pytest.Session) -> None:
    """Starts MPI in this process before any test: a test that loads the mpi-bcast backend
    imports mpi4py, which starts it, and this process's own segment (removed at exit)
    must not count as a leftover of that test."""
    try:
        from mpi4py import MPI  # noqa: F401
    except ImportError:
        pass  # no mpi extra: the MPI tests skip themselves


@pytest.fixture
def aborted_mpi_job() -> Iterator[None]:
    """For a test that aborts its MPI job on purpose: removes what its jobs left (they have
    ended by the time the test returns, and tests run one at a time)."""
    before = mpich_files()
    yield
    for path in mpich_files() - before:
        path.unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def no_mpi_leftovers() -> Iterator[None]:
    """Fails a test whose MPI job left MPICH's files behind."""
    before = mpich_files()
    yield
    left = sorted(str(p) for p in mpich_files() - before)
    assert not left, f"an aborted MPI job left {left}: give the test aborted_mpi_job"


@pytest.fixture
def unique_name() -> str:
    """A store name no other test (or concurrent run) uses."""
    return f"t{os.getpid()}_{uuid.uuid4().hex[:10]}"


def run_python(code: str, *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Runs `code` in a fresh interpreter, so that a crash is a failed exit, not ours."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def store(unique_name: str) -> Iterator[str]:
    """A store name; the test fails if anything of it is left in /dev/shm or /tmp."""
    yield unique_name
    left = [p.name for p in find_leftovers() if unique_name in p.name]
    assert left == [], f"the test left {left} behind"
