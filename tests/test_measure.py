"""benchmark_mpi.py's measurements beyond read and write times, end to end under mpiexec:
memory, update latency, reader counts, and ranks on several nodes (pretended with
IPCB_NODE_OF_RANK, ZeroMQ over tcp://127.0.0.1)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.test_benchmark_mpi import MPIEXEC, bench

pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec (install the mpi extra)")

SMALL = ["--sizes", "10", "--iterations", "3", "--warmup", "1", "--repeat", "2"]


def records(doc: dict[str, Any]) -> dict[tuple[str, int], dict[str, Any]]:
    return {(r["backend"], r["readers"]): r for r in doc["results"]}


def check_memory(r: dict[str, Any], readers: int) -> None:
    memory = r["memory"]
    assert memory["peak_scope"] == "case"  # /proc/self/clear_refs works on this kernel
    assert [m["rank"] for m in memory["readers"]] == list(range(1, readers + 1))
    for m in [memory["writer"], *memory["readers"]]:
        assert isinstance(m["peak_rss"], int) and m["peak_rss"] > 0
        # Growth may be negative (the allocator gives memory back), never absent here.
        assert isinstance(m["rss_growth"], int)


def test_memory_update_latency_and_reader_counts(tmp_path: Path) -> None:
    proc, doc = bench(3, *SMALL, "--readers", "1,2", "--updates", "4", "--backends",
                      "shm", "py-shm", "zmq-push", "mpi-bcast", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert doc is not None
    assert doc["schema_version"] == 2
    config = doc["metadata"]["config"]
    assert (config["reader_counts"], config["updates"]) == ([1, 2], 4)
    got = records(doc)
    assert sorted(got) == sorted((b, k) for b in ("shm", "py-shm", "zmq-push", "mpi-bcast")
                                 for k in (1, 2))
    for (name, k), r in got.items():
        assert r["status"] == "ok" and r["verified"] is True, r["error"]
        assert r["cross_node"] is False
        assert len(r["read"]["samples"]) == k * 3  # only the active readers read
        check_memory(r, k)
        if name in ("shm", "py-shm"):
            latency = r["update_latency"]
            assert r["update_latency_note"] is None
            assert len(latency["samples"]) == 4 * k
            assert all(s > 0 for s in latency["samples"])
            assert 0 < latency["median"] <= latency["p99"] <= max(latency["samples"])
            # The native store sleeps on its own notification; the pickle one is polled.
            assert latency["wait"] == ("wait_for_update" if name == "shm" else "read")
        else:
            assert r["update_latency"] is None
            assert "consumes a message" in r["update_latency_note"]


def test_a_reader_count_above_the_readers_is_refused(tmp_path: Path) -> None:
    proc, doc = bench(3, *SMALL, "--readers", "1,3", "--backends", "py-shm", tmp=tmp_path)
    assert proc.returncode == 2
    assert "--readers 3: 3 ranks have at most 2 readers" in proc.stderr
    assert doc is None


def test_readers_on_other_nodes(tmp_path: Path) -> None:
    """Rank 2 pretends to be on another node: with 2 readers, the one-host backends are
    skipped and the ZeroMQ ones go over tcp. The temp dir is too deep for an ipc://
    socket path, so ZeroMQ can only work over tcp: with 1 reader (one node, ipc://) it
    fails, with 2 it works."""
    deep = tmp_path / ("d" * 100)
    deep.mkdir()
    env = {"IPCB_NODE_OF_RANK": "0,0,1", "TMPDIR": str(deep)}
    proc, doc = bench(3, *SMALL, "--readers", "1,2", "--zmq-host", "127.0.0.1",
                      "--backends", "shm", "py-lmdb", "zmq", "py-zmq", "mpi-bcast",
                      tmp=tmp_path, env=env)
    assert proc.returncode == 1, proc.stderr  # the ipc:// cases fail
    assert doc is not None
    config = doc["metadata"]["config"]
    assert config["nodes"] == {"count": 2, "rank_node": [0, 0, 1], "forced": True}
    assert config["zmq_host"] == "127.0.0.1"
    got = records(doc)
    for name in ("shm", "py-lmdb"):
        assert got[(name, 1)]["status"] == "ok"
        skipped = got[(name, 2)]
        assert (skipped["status"], skipped["cross_node"], skipped["verified"]) == (
            "skipped", True, False)
        assert "works on one host only" in skipped["error"]
        assert skipped["read"] is skipped["memory"] is skipped["update_latency"] is None
    for name in ("zmq", "py-zmq"):
        one_node = got[(name, 1)]
        assert one_node["status"] == "failed" and one_node["cross_node"] is False
        assert "107" in one_node["error"]  # the ipc:// path limit
    for name in ("zmq", "py-zmq", "mpi-bcast"):
        r = got[(name, 2)]
        assert (r["status"], r["verified"], r["cross_node"]) == ("ok", True, True), r["error"]
        assert r["update_latency"] is None
        check_memory(r, 2)
    assert "CLOCK_MONOTONIC" in got[("zmq", 2)]["update_latency_note"]
    assert list(deep.iterdir()) == []  # nothing left in the temp dir


def test_a_bad_node_override_is_refused(tmp_path: Path) -> None:
    proc, doc = bench(2, *SMALL, "--backends", "py-shm", tmp=tmp_path,
                      env={"IPCB_NODE_OF_RANK": "0,0,1"})
    assert proc.returncode == 2
    assert "IPCB_NODE_OF_RANK='0,0,1': expected 2 node numbers" in proc.stderr
    assert doc is None


def test_without_an_override_the_ranks_share_a_node(tmp_path: Path) -> None:
    assert "IPCB_NODE_OF_RANK" not in os.environ
    proc, doc = bench(2, *SMALL, "--updates", "0", "--backends", "py-shm", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert doc is not None
    assert doc["metadata"]["config"]["nodes"] == {"count": 1, "rank_node": [0, 0],
                                                  "forced": False}
    (r,) = doc["results"]
    assert r["update_latency"] is None and r["update_latency_note"].startswith("--updates 0")
