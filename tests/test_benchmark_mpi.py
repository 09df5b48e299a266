"""benchmark_mpi.py end to end: mpiexec with 2 and 3 ranks, tiny sizes, the JSON checked.

Each run is a real MPI job (the mpich wheel's mpiexec); a run that hangs fails the test
through the subprocess timeout instead of hanging pytest.
"""

from __future__ import annotations

import functools
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from ipc_benchmark import PREFIX
from ipc_benchmark.harness import training
from ipc_benchmark.harness.results import usable_cores
from ipc_benchmark.registry import BUILTIN, default_backends
from ipc_benchmark.utils import generate_test_dict, serialize

ROOT = Path(__file__).parents[1]
MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
TINY = ["--sizes", "10", "40", "--iterations", "4", "--warmup", "1", "--repeat", "2"]

pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec (install the mpi extra)")


def left_by(stderr: str) -> list[Path]:
    """What the run named in ``stderr`` left behind: its OS objects carry its run id
    (other runs, say concurrent tests, may be creating their own meanwhile)."""
    found = re.search(r"ipc_benchmark: run (\w+):", stderr)
    assert found, f"no run id in the output:\n{stderr}"
    return [p for base in (Path("/dev/shm"), Path(tempfile.gettempdir()))
            for p in base.glob(f"{PREFIX}*_b{found[1]}_*")]


def bench(ranks: int, *args: str, tmp: Path, timeout: float = 90,
          env: dict[str, str] | None = None
          ) -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None]:
    """Run benchmark_mpi.py under mpiexec (with ``env`` added to the environment); the
    process and the result file, if any."""
    output = tmp / f"results_{ranks}.json"
    proc = subprocess.run(
        [str(MPIEXEC), "-n", str(ranks), sys.executable, "benchmark_mpi.py",
         "--output", str(output), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
        env=None if env is None else {**os.environ, **env},
    )
    if "ipc_benchmark: run " in proc.stderr:  # it got as far as creating anything
        assert left_by(proc.stderr) == [], f"the run left OS objects behind\n{proc.stderr}"
    doc = json.loads(output.read_text()) if output.exists() else None
    return proc, doc


def by_backend(doc: dict[str, Any]) -> dict[tuple[str, int], dict[str, Any]]:
    return {(r["backend"], r["data_size"]): r for r in doc["results"]}


@functools.cache
def consumes(backend: str) -> bool:
    """Message backends do one timed write that serves every read, instead of --repeat.
    An instance decides (ZeroMQBackend does, by its mode)."""
    if backend not in BUILTIN:
        return False
    instance = BUILTIN[backend].create(timeout=1)
    try:
        return instance.consumes_messages
    finally:
        instance.cleanup()


def check_ok_record(r: dict[str, Any], readers: int, iterations: int, writes: int,
                    seed: int = 0, repeat: int = 2) -> None:
    """Every field of a successful record, against the schema and against each other."""
    assert r["status"] == "ok" and r["error"] is None and r["verified"] is True, r
    cap = r["read_cap"]
    if cap is not None:  # only message backends' training cases, and only fewer reads
        assert r["payload"] == "training" and consumes(r["backend"])
        assert cap["iterations"] < iterations and "--message-budget-mb" in cap["reason"]
        iterations = cap["iterations"]
    read, write = r["read"], r["write"]
    assert len(read["samples"]) == readers * iterations
    assert len(write["samples"]) == writes
    for block in (read, write):
        s = sorted(block["samples"])
        assert 0 < s[0] == block["min"] <= block["median"] <= block["p90"] <= block["p99"] \
            <= block["max"] == s[-1]
        assert block["min"] <= block["mean"] <= block["max"] and block["std"] >= 0
    assert r["write_time"] == write["median"]
    assert r["avg_read_time"] == pytest.approx(sum(read["samples"]) / len(read["samples"]))
    assert r["throughput"] == pytest.approx(1 / r["avg_read_time"])
    # Each reader's reads follow one another inside the aggregate's span, so the span is
    # at least the mean reader's total read time: at most `readers` times one's rate.
    assert 0 < r["aggregate_reads_per_s"] <= readers * r["throughput"] * (1 + 1e-9)
    spec = BUILTIN.get(r["backend"])
    if spec is not None:
        assert (r["implementation"], r["reference"], r["display_name"]) == (
            spec.implementation, spec.reference, spec.display_name)
    data = (training.generate(r["data_size"], seed) if r["payload"] == "training"
            else generate_test_dict(r["data_size"], seed))
    if r["implementation"] == "reference":
        assert r["payload_bytes"] == len(pickle.dumps(data, protocol=5))
    elif r["implementation"] == "rust":
        assert r["payload_bytes"] == len(serialize(data))
    assert r["size_unit"] == {"seed": "entries", "training": "MiB"}[r["payload"]]
    if r["payload"] == "training":  # the copy baseline: --repeat copies, timed
        assert len(r["memcpy"]["samples"]) == repeat and r["memcpy"]["min"] > 0
    else:
        assert r["memcpy"] is None


@pytest.mark.parametrize("ranks", [2, 3])
def test_every_backend_runs_and_is_verified(ranks: int, tmp_path: Path) -> None:
    proc, doc = bench(ranks, *TINY, tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert doc is not None
    available = [spec.name for spec in default_backends()[0]]
    assert {"py-shm", "py-lmdb", "py-zmq", "mpi-bcast"} <= set(available)

    meta = doc["metadata"]
    assert doc["schema_version"] == 2 and meta["harness"] == "python"
    cores = usable_cores()
    assert (meta["ranks"], meta["readers"], meta["cpu_cores"]) == (ranks, ranks - 1, cores)
    assert meta["ranks_per_core"] == pytest.approx(ranks / cores, abs=1e-3)
    assert meta["idle_wait"] is (ranks > cores)
    assert meta["mpi_library"].startswith("MPICH")
    assert meta["command_line"][0] == "benchmark_mpi.py"
    assert meta["config"] == {"backends": available, "sizes": [10, 40], "iterations": 4,
                              "warmup": 1, "repeat": 2, "seed": 0, "workload": "full",
                              "payload": "seed", "array_mb": None,
                              "reader_counts": [ranks - 1], "updates": 20,
                              "nodes": {"count": 1, "rank_node": [0] * ranks,
                                        "forced": False},
                              "zmq_host": None}
    assert {"mpi4py", "lmdb", "pyzmq", "ipc-core"} <= set(meta["versions"])

    records = by_backend(doc)
    assert list(records) == [(b, s) for s in (10, 40) for b in available]
    for (name, _), r in records.items():
        check_ok_record(r, ranks - 1, 4, 1 if consumes(name) else 2)
        assert r["workload"] == "full" and r["payload"] == "seed"
    assert "Medians, 1 writer" in proc.stdout


@pytest.mark.parametrize("workload", ["full", "get"])
def test_the_training_payload_runs_on_every_backend(workload: str, tmp_path: Path) -> None:
    """Arrays, NumPy scalars and int keys through every backend, every read checked
    (np.array_equal and exact types); sizes in MiB, fractions allowed."""
    proc, doc = bench(3, "--payload", "training", "--array-mb", "0.01,0.25", "--seed", "3",
                      "--workload", workload, "--iterations", "3", "--warmup", "1",
                      "--repeat", "2", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert doc is not None and doc["schema_version"] == 2
    config = doc["metadata"]["config"]
    assert (config["payload"], config["array_mb"], config["sizes"]) == (
        "training", [0.01, 0.25], [0.01, 0.25])
    available = [spec.name for spec in default_backends()[0]]
    records = by_backend(doc)
    assert list(records) == [(b, s) for s in (0.01, 0.25) for b in available]
    for (name, _), r in records.items():
        assert (r["payload"], r["workload"]) == ("training", workload)
        check_ok_record(r, 2, 3, 1 if consumes(name) else 2, seed=3)
    assert "0.25 MiB" in proc.stdout


def test_message_backends_are_capped_by_the_message_budget(tmp_path: Path) -> None:
    """0.25 MiB to 2 readers within 4 MiB: 8 reads each, 1 of them warm-up, so 7 timed
    reads instead of 20 for backends that send a message per read, and all 20 for the
    others."""
    proc, doc = bench(3, "--payload", "training", "--array-mb", "0.25",
                      "--message-budget-mb", "4", "--backends", "py-zmq", "zmq-push",
                      "mpi-bcast", "py-shm", "--iterations", "20", "--warmup", "1",
                      "--repeat", "2", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert doc is not None
    records = by_backend(doc)
    for name in ("py-zmq", "zmq-push", "mpi-bcast"):
        r = records[(name, 0.25)]
        assert r["read_cap"] is not None and r["read_cap"]["iterations"] == 7
        assert "2 readers x 0.25 MiB" in r["read_cap"]["reason"]
        check_ok_record(r, 2, 20, 1, seed=0)
    assert records[("py-shm", 0.25)]["read_cap"] is None
    check_ok_record(records[("py-shm", 0.25)], 2, 20, 2)


def test_a_changed_weight_fails_verification(tmp_path: Path) -> None:
    proc, doc = bench(2, "--payload", "training", "--array-mb", "0.01", "--backends",
                      "tests.user_backends:CorruptWeightsBackend", "--iterations", "2",
                      tmp=tmp_path)
    assert proc.returncode == 1
    assert doc is not None
    (r,) = doc["results"]
    assert r["status"] == "failed" and r["verified"] is False
    assert r["error"] == ("rank 1: VerificationError: read 0: "
                          "data['weights']['blocks.1.bias']: the values differ")


def test_user_backends_and_failures_do_not_stop_the_run(tmp_path: Path) -> None:
    """A backend that raises on the writer, one that raises on one reader, and one that
    returns wrong data each fail their own record; everything else still runs."""
    user = "tests.user_backends:"
    proc, doc = bench(
        3, "--backends", "py-shm", f"{user}FailingWriteBackend", f"{user}FailingReadBackend",
        f"{user}CorruptingBackend", "py-zmq", "--backend", f"{user}FileBackend",
        "--sizes", "10", "--iterations", "4", "--warmup", "1", tmp=tmp_path,
    )
    assert proc.returncode == 1, proc.stderr  # failures make the run fail, at the end
    assert doc is not None
    records = by_backend(doc)
    assert [name for name, _ in records] == [
        "py-shm", f"{user}FailingWriteBackend", f"{user}FailingReadBackend",
        f"{user}CorruptingBackend", "py-zmq", f"{user}FileBackend"]

    write_fail = records[(f"{user}FailingWriteBackend", 10)]
    assert write_fail["error"] == "rank 0: RuntimeError: injected write failure"
    read_fail = records[(f"{user}FailingReadBackend", 10)]
    assert read_fail["error"] == "rank 2: OSError: injected read failure"
    # What was measured is kept: the healthy reader's 4 timed reads, and the one timed
    # read the failing reader did (after settling and 1 warm-up) before its next raised.
    assert len(read_fail["read"]["samples"]) == 4 + 1
    corrupt = records[(f"{user}CorruptingBackend", 10)]
    assert corrupt["error"].startswith("rank 1: VerificationError: read 0 differs")
    for r in (write_fail, read_fail, corrupt):
        assert r["status"] == "failed" and r["verified"] is False
        assert r["write_time"] is r["avg_read_time"] is r["throughput"] is None
        assert r["implementation"] == "user" and r["display_name"] == "pickle file (user)"

    for name in ("py-shm", "py-zmq"):
        check_ok_record(records[(name, 10)], 2, 4, 1 if consumes(name) else 5)
    file_backend = records[(f"{user}FileBackend", 10)]
    check_ok_record(file_backend, 2, 4, 5)
    assert (file_backend["implementation"], file_backend["display_name"],
            file_backend["payload_bytes"]) == ("user", "pickle file (user)", None)
    assert "3 of 6 failed" in proc.stdout


def test_get_workload(tmp_path: Path) -> None:
    proc, doc = bench(3, "--workload", "get", "--seed", "5", "--backends", "py-shm",
                      "py-zmq", "mpi-bcast", "--backend", "tests.user_backends:FileBackend",
                      "--sizes", "30", "--iterations", "6", "--warmup", "2", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert doc is not None and doc["metadata"]["config"]["workload"] == "get"
    for r in doc["results"]:
        assert r["workload"] == "get"
        check_ok_record(r, 2, 6, 1 if consumes(r["backend"]) else 5, seed=5)


def test_wrong_values_from_get_fail_verification(tmp_path: Path) -> None:
    proc, doc = bench(2, "--workload", "get", "--backends",
                      "tests.user_backends:CorruptingBackend", "--sizes", "1",
                      "--iterations", "2", tmp=tmp_path)
    assert proc.returncode == 1
    assert doc is not None
    (r,) = doc["results"]
    assert r["status"] == "failed" and r["verified"] is False
    assert r["error"].startswith("rank 1: VerificationError: read 0: get('key_0') differs")


@pytest.mark.usefixtures("aborted_mpi_job")
def test_a_stuck_backend_aborts_the_job_and_keeps_the_results(tmp_path: Path) -> None:
    proc, doc = bench(3, "--backends", "py-lmdb", "tests.user_backends:HangingBackend",
                      "--sizes", "10", "--iterations", "3", "--timeout", "3", tmp=tmp_path,
                      timeout=60)
    assert proc.returncode != 0
    assert "timed out after 3 s waiting for the other ranks in " \
           "'tests.user_backends:HangingBackend, 10 entries, 2 readers: settle'" in proc.stderr
    assert doc is not None, "rank 0 should save the results before aborting"
    lmdb, hung = doc["results"]
    assert lmdb["status"] == "ok"
    assert hung["status"] == "failed" and "the job was aborted" in hung["error"]


def test_idle_wait_can_be_forced_either_way(tmp_path: Path) -> None:
    for flag, expected in (("--idle-wait", True), ("--no-idle-wait", False)):
        proc, doc = bench(2, flag, "--backends", "py-shm", "--sizes", "5",
                          "--iterations", "2", tmp=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert doc is not None and doc["metadata"]["idle_wait"] is expected


def test_one_rank_is_refused_clearly() -> None:
    proc = subprocess.run([sys.executable, "benchmark_mpi.py", "--sizes", "5"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")})
    assert proc.returncode == 2
    assert "needs at least 2 MPI ranks" in proc.stderr
