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

#: MPICH's mpiexec writes the machine's topology here for its proxies, one file per job,
#: and removes it when the job ends normally, but not when the job is aborted.
HYDRA_TOPOLOGY = "hydra_hwloc_xmlfile_*"


def hydra_files() -> set[Path]:
    return set(Path("/tmp").glob(HYDRA_TOPOLOGY))


@pytest.fixture
def aborted_mpi_job() -> Iterator[None]:
    """For a test that aborts its MPI job on purpose: removes the topology files its jobs
    left (they have ended by the time the test returns)."""
    before = hydra_files()
    yield
    for path in hydra_files() - before:
        path.unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def no_mpi_leftovers() -> Iterator[None]:
    """Fails a test whose MPI job left a topology file behind."""
    before = hydra_files()
    yield
    left = sorted(str(p) for p in hydra_files() - before)
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
