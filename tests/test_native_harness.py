"""The native MPI harness (crates/ipc-mpi-bench), run the way users run it: under mpiexec.

`make test` builds target/release/ipc-mpi-bench before pytest runs (`make native`).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ipc_benchmark import backends
from ipc_benchmark.harness import training
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
        "payload": "seed", "array_mb": None,
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
        assert (r["payload"], r["size_unit"], r["read_cap"], r["memcpy"]) == (
            "seed", "entries", None, None)
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


NATIVE = ["shm", "lmdb", "zmq", "zmq-push", "mpi-bcast"]


@pytest.mark.parametrize("workload", ["full", "get"])
def test_the_training_payload_runs_on_every_backend(workload: str, tmp_path: Path) -> None:
    """Arrays, NumPy scalars and int keys through every native backend; readers check
    each array by its digest. Sizes in MiB, fractions allowed."""
    out = tmp_path / "results.json"
    proc = run_harness(3, out, "--backends", ",".join(NATIVE), "--payload", "training",
                       "--array-mb", "0.01,0.25", "--seed", "3", "--workload", workload,
                       "--iterations", "3", "--warmup", "1", "--repeat", "2")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["schema_version"] == 2
    config = doc["metadata"]["config"]
    assert (config["payload"], config["array_mb"], config["sizes"]) == (
        "training", [0.01, 0.25], [0.01, 0.25])
    assert [(r["backend"], r["data_size"]) for r in doc["results"]] == [
        (b, s) for b in NATIVE for s in (0.01, 0.25)]
    for r in doc["results"]:
        assert (r["status"], r["verified"], r["workload"]) == ("ok", True, workload), r["error"]
        assert (r["payload"], r["size_unit"], r["read_cap"]) == ("training", "MiB", None)
        check_stats(r["memcpy"], 2)  # the copy baseline: --repeat copies
        # The Python harness's payload, byte for byte: the same encoded size.
        payload = training.generate(r["data_size"], 3)
        assert r["payload_bytes"] == len(serialize(payload))
        check_stats(r["read"], 2 * 3)
    assert "0.25 MiB" in proc.stdout


def test_message_backends_are_capped_by_the_message_budget(tmp_path: Path) -> None:
    """The Python harness's rule: 0.25 MiB to 2 readers within 4 MiB is 8 reads each,
    1 of them warm-up, so 7 timed reads instead of 20 where a read takes a message."""
    out = tmp_path / "results.json"
    proc = run_harness(3, out, "--backends", "zmq-push,mpi-bcast,shm", "--payload",
                       "training", "--array-mb", "0.25", "--message-budget-mb", "4",
                       "--iterations", "20", "--warmup", "1", "--repeat", "2")
    assert proc.returncode == 0, proc.stderr
    push, bcast, shm = json.loads(out.read_text())["results"]
    for r in (push, bcast):
        assert r["verified"] is True and r["read_cap"]["iterations"] == 7, r
        assert "2 readers x 0.25 MiB" in r["read_cap"]["reason"]
        check_stats(r["read"], 2 * 7)
    assert shm["read_cap"] is None and shm["verified"] is True
    check_stats(shm["read"], 2 * 20)


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


def run_with_env(ranks: int, out: Path, env: dict[str, str], *extra: str
                 ) -> subprocess.CompletedProcess[str]:
    cmd = [str(MPIEXEC), "-n", str(ranks), str(BINARY), "--output", str(out),
           "--timeout", "30", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, cwd=ROOT,
                          env={**os.environ, **env})


SMALL = ["--sizes", "10", "--iterations", "3", "--warmup", "1", "--repeat", "2"]


def test_memory_update_latency_and_reader_counts(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = run_harness(3, out, *SMALL, "--readers", "1,2", "--updates", "4",
                       "--backends", "shm,lmdb,mpi-bcast")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["metadata"]["config"]["reader_counts"] == [1, 2]
    got = {(r["backend"], r["readers"]): r for r in doc["results"]}
    assert sorted(got) == sorted((b, k) for b in ("shm", "lmdb", "mpi-bcast") for k in (1, 2))
    for (name, k), r in got.items():
        assert (r["status"], r["verified"], r["cross_node"]) == ("ok", True, False)
        check_stats(r["read"], k * 3)
        memory = r["memory"]
        assert memory["peak_scope"] == "case"
        assert [m["rank"] for m in memory["readers"]] == list(range(1, k + 1))
        for m in [memory["writer"], *memory["readers"]]:
            assert isinstance(m["peak_rss"], int) and m["peak_rss"] > 0
            assert isinstance(m["rss_growth"], int)
        latency = r["update_latency"]
        if name == "mpi-bcast":
            assert latency is None and "consumes a message" in r["update_latency_note"]
        else:
            assert r["update_latency_note"] is None
            assert len(latency["samples"]) == 4 * k and all(s > 0 for s in latency["samples"])
            assert 0 < latency["median"] <= latency["p99"] <= max(latency["samples"])
            assert (latency["wait"], latency["failed_polls"]) == ("wait_for_update", 0)


def test_a_reader_count_above_the_readers_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = run_harness(3, out, "--readers", "3", "--backends", "mpi-bcast")
    assert proc.returncode == 2
    assert "--readers 3: 3 ranks have at most 2 readers" in proc.stderr
    assert not out.exists()


def test_readers_on_other_nodes(tmp_path: Path) -> None:
    """As the Python harness's test: a temp dir too deep for ipc:// sockets, so ZeroMQ
    works only over tcp, which it uses only for the case whose reader is on node 1. The
    address comes from the loopback interface here (--zmq-interface lo)."""
    deep = tmp_path / ("d" * 100)
    deep.mkdir()
    out = tmp_path / "results.json"
    proc = run_with_env(3, out, {"IPCB_NODE_OF_RANK": "0,0,1", "TMPDIR": str(deep)},
                        *SMALL, "--readers", "1,2", "--zmq-interface", "lo",
                        "--backends", "shm,zmq,zmq-push,mpi-bcast")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(out.read_text())
    config = doc["metadata"]["config"]
    assert config["nodes"] == {"count": 2, "rank_node": [0, 0, 1], "forced": True}
    assert config["zmq_host"] == "127.0.0.1"
    got = {(r["backend"], r["readers"]): r for r in doc["results"]}
    skipped = got[("shm", 2)]
    assert (skipped["status"], skipped["cross_node"]) == ("skipped", True)
    assert "works on one host only" in skipped["error"]
    for name in ("zmq", "zmq-push"):
        assert got[(name, 1)]["status"] == "failed" and "107" in got[(name, 1)]["error"]
    for name in ("zmq", "zmq-push", "mpi-bcast"):
        r = got[(name, 2)]
        assert (r["status"], r["verified"], r["cross_node"]) == ("ok", True, True), r["error"]
        assert r["update_latency"] is None
    assert "CLOCK_MONOTONIC" in got[("zmq", 2)]["update_latency_note"]
    assert list(deep.iterdir()) == []


def test_a_bad_node_override_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = run_with_env(2, out, {"IPCB_NODE_OF_RANK": "0,0,1"}, "--backends", "mpi-bcast")
    assert proc.returncode == 2
    assert 'IPCB_NODE_OF_RANK="0,0,1": expected 2 node numbers' in proc.stderr
    assert not out.exists()


def shape(value: Any) -> Any:
    """The keys and value types of a record, samples and lists of numbers aside."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items() if k != "samples"}
    if isinstance(value, list):
        return [shape(value[0])] if value and isinstance(value[0], dict) else "list"
    return "number" if isinstance(value, (int, float)) else type(value).__name__


def test_both_harnesses_write_the_same_shape(tmp_path: Path) -> None:
    env = {"IPCB_NODE_OF_RANK": "0,0,1"}
    args = [*SMALL, "--readers", "1,2", "--updates", "2", "--zmq-host", "127.0.0.1",
            "--backends", "shm,zmq,mpi-bcast"]
    native, python = tmp_path / "native.json", tmp_path / "python.json"
    assert run_with_env(3, native, env, *args).returncode == 0
    proc = subprocess.run([str(MPIEXEC), "-n", "3", sys.executable, "benchmark_mpi.py",
                           "--output", str(python), *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr
    ours, theirs = json.loads(native.read_text()), json.loads(python.read_text())
    assert shape(ours["metadata"]["config"]) == shape(theirs["metadata"]["config"])
    pairs = {(r["backend"], r["readers"]): r for r in theirs["results"]}
    for r in ours["results"]:
        assert shape(r) == shape(pairs[(r["backend"], r["readers"])]), r["backend"]
