"""The scripts in benchmarks/ run to the end on tiny sizes, print their tables, and leave
no store behind. (Their figures mean nothing at these sizes: only that the scripts work.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ipc_benchmark.leftovers import find_leftovers

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"

RUNS = {
    "lmdb_store.py": ["--rounds", "1", "--size", "200", "--big", "500", "--samples", "3",
                      "--batches", "3"],
    "shm_store.py": ["--rounds", "1", "--size", "200", "--big", "500", "--samples", "3"],
    "zmq_store.py": ["--rounds", "1", "--size", "200", "--samples", "3"],
    "codec.py": ["--sizes", "10", "100", "--repeat", "3"],
    "held_snapshot.py": ["--entries", "100", "--mib", "0.1", "--samples", "3"],
    "arrays.py": ["--sizes", "0.01", "0.1", "--reads", "6"],
}


@pytest.mark.parametrize("script", sorted(RUNS))
def test_benchmark_script_runs(script: str) -> None:
    before = set(find_leftovers())
    proc = subprocess.run([sys.executable, str(BENCHMARKS / script), *RUNS[script]],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Every table has a header row naming the reference's column, then figures.
    lines = proc.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if "ratio" in line)
    assert any(any(c.isdigit() for c in line) for line in lines[header + 1:]), proc.stdout
    assert set(find_leftovers()) == before


def test_lmdb_store_refuses_a_count_below_one() -> None:
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "lmdb_store.py"), "--rounds", "0"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "--rounds must be at least 1" in proc.stderr
