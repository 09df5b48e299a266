"""The native MPI harness (crates/ipc-mpi-bench), run the way users run it: under mpiexec.

`make test` builds target/release/ipc-mpi-bench before pytest runs (`make native`).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ipc_benchmark import backends
from ipc_benchmark.utils import generate_test_dict, serialize

ROOT = Path(__file__).resolve().parent.parent
BINARY = ROOT / "target" / "release" / "ipc-mpi-bench"
# The mpich wheel's launcher, beside the interpreter: the MPI the binary is linked to.
MPIEXEC = Path(sys.executable).parent / "mpiexec"

SIZES = [1, 10, 100]
ITERATIONS = 5
WARMUP = 2


def run_harness(
    ranks: int, out: Path, *extra: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    if not BINARY.exists():
        pytest.fail(f"{BINARY} is missing: build it with `make native`")
    if "--timeout" not in extra:
        extra = ("--timeout", "30", *extra)
    cmd = [str(MPIEXEC), "-n", str(ranks), str(BINARY), "--output", str(out), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def check_stats(block: dict[str, Any], count: int) -> None:
    samples = block["samples"]
    assert len(samples) == count
    assert all(s > 0 for s in samples)
    assert block["min"] == min(samples) and block["max"] == max(samples)
    assert block["min"] <= block["median"] <= block["max"]
    assert block["median"] <= block["p90"] <= block["p99"] <= block["max"]
    assert math.isclose(block["mean"], sum(samples) / count, rel_tol=1e-9)
    assert block["std"] >= 0


@pytest.mark.parametrize("ranks", [2, 3])
def test_mpi_bcast_run_writes_the_schema(ranks: int, tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = run_harness(
        ranks, out, "--backends", "mpi-bcast", "--sizes", ",".join(map(str, SIZES)),
        "--iterations", str(ITERATIONS), "--warmup", str(WARMUP), "--repeat", "2",
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())

    assert doc["schema_version"] == 2
    meta = doc["metadata"]
    assert meta["harness"] == "rust"
    assert meta["python"] is None
    assert (meta["ranks"], meta["readers"]) == (ranks, ranks - 1)
    assert meta["ranks_per_core"] == pytest.approx(ranks / meta["cpu_cores"])
    assert meta["mpi_library"].startswith("MPICH")
    assert meta["git_commit"] is None or len(meta["git_commit"]) == 40
    assert meta["created_utc"].endswith("Z")
    assert meta["config"] == {
        "backends": ["mpi-bcast"], "sizes": SIZES, "iterations": ITERATIONS,
        "warmup": WARMUP, "repeat": 2, "seed": 0, "workload": "full",
        "reader_counts": [ranks - 1], "updates": 20,
        "nodes": {"count": 1, "rank_node": [0] * ranks, "forced": False}, "zmq_host": None,
    }

    results = doc["results"]
    assert [(r["backend"], r["data_size"]) for r in results] == [
        ("mpi-bcast", s) for s in SIZES
    ]
    for r in results:
        assert r["status"] == "ok" and r["error"] is None, r["error"]
        assert r["verified"] is True
        assert (r["implementation"], r["reference"], r["workload"]) == ("rust", None, "full")
        # The same payload as Python's, byte for byte, so the same encoded size.
        assert r["payload_bytes"] == len(serialize(generate_test_dict(r["data_size"])))
        # A push backend: one timed write serves every read.
        check_stats(r["write"], 1)
        check_stats(r["read"], (ranks - 1) * ITERATIONS)
        assert r["write_time"] == r["write"]["median"]
        assert r["avg_read_time"] == pytest.approx(r["read"]["mean"])
        assert r["throughput"] == pytest.approx(1 / r["avg_read_time"])
        assert r["aggregate_reads_per_s"] > 0


def test_get_workload(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = run_harness(2, out, "--backends", "shm,lmdb,zmq,zmq-push,mpi-bcast", "--sizes", "50",
                       "--iterations", "4", "--workload", "get", "--seed", "7")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["metadata"]["config"]["workload"] == "get"
    assert [r["backend"] for r in doc["results"]] == ["shm", "lmdb", "zmq", "zmq-push", "mpi-bcast"]
    native = backends.of_harness("rust")
    for record in doc["results"]:
        assert (record["workload"], record["status"], record["verified"]) == ("get", "ok", True)
        assert len(record["read"]["samples"]) == 4
        # What the record says about its backend is backends.json's native entry.
        facts = native[record["backend"]]
        assert (record["display_name"], record["implementation"], record["reference"]) == (
            facts.display_name, facts.implementation, facts.reference)


def test_bad_arguments_fail_fast(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = run_harness(2, out, "--backends", "nope", timeout=30)
    assert proc.returncode != 0
    assert "unknown backend" in proc.stderr
    assert not out.exists()


def test_a_failing_backend_is_reported_and_the_run_goes_on(tmp_path: Path) -> None:
    # `fault` (a self-test backend) fails every read; mpi-bcast after it must still run.
    out = tmp_path / "results.json"
    proc = run_harness(3, out, "--backends", "fault,mpi-bcast", "--sizes", "10",
                       "--iterations", "3")
    assert proc.returncode == 1, proc.stderr
    assert "some records failed" in proc.stderr
    failed, ok = json.loads(out.read_text())["results"]
    assert (failed["backend"], failed["status"], failed["verified"]) == ("fault", "failed", False)
    assert failed["display_name"] == backends.of_harness("rust")["fault"].display_name
    assert failed["error"] == "rank 1: read: warm-up read 0: fault: injected read failure"
    assert failed["write_time"] is None and failed["avg_read_time"] is None
    assert failed["read"] is None
    assert len(failed["write"]["samples"]) == 5  # measured before the failure: kept
    assert (ok["backend"], ok["status"], ok["verified"]) == ("mpi-bcast", "ok", True)


@pytest.mark.usefixtures("aborted_mpi_job")
def test_a_wait_that_times_out_aborts_the_job(tmp_path: Path) -> None:
    # Rank 0 gives up first (other ranks wait 2 s longer); reading 10000 entries three
    # times takes far longer than 0.1 ms.
    out = tmp_path / "results.json"
    # mpi-bcast creates no OS objects, so the abort leaves nothing of ours behind.
    proc = run_harness(3, out, "--backends", "mpi-bcast", "--sizes", "10,10000",
                       "--timeout", "0.0001", timeout=30)
    assert proc.returncode == 3, proc.stderr  # the exit status for a timeout
    assert "rank 0: timed out after" in proc.stderr and "aborting the job" in proc.stderr
    # The file is still written: its last record is the case the run was in, failed.
    last = json.loads(out.read_text())["results"][-1]
    assert (last["status"], last["verified"]) == ("failed", False)
    assert last["error"].startswith("rank 0: timed out after")
    assert last["error"].endswith("the job was aborted")
