"""The harness's pieces that need no MPI: statistics, records, the command line."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from ipc_benchmark.formatting import fmt_time
from ipc_benchmark.harness.cli import parse_args
from ipc_benchmark.harness.outcome import CaseOutcome, Failure, RankReport, record
from ipc_benchmark.harness.report import summary
from ipc_benchmark.harness.stats import nearest_rank, summarize
from ipc_benchmark.harness.workload import Checker, random_keys
from ipc_benchmark.registry import BUILTIN
from ipc_benchmark.utils import generate_test_dict


def test_nearest_rank_percentiles() -> None:
    samples = [float(i) for i in range(1, 101)]
    assert nearest_rank(samples, 90) == 90 and nearest_rank(samples, 99) == 99
    assert nearest_rank(samples, 100) == 100 and nearest_rank(samples, 0) == 1
    assert nearest_rank([5.0], 99) == 5.0
    with pytest.raises(ValueError):
        nearest_rank([], 50)


def test_summarize_in_seconds_with_raw_samples() -> None:
    block = summarize([4000, 1000, 3000, 2000])  # ns
    assert block is not None
    assert block["samples"] == [4e-6, 1e-6, 3e-6, 2e-6]  # in the order measured
    assert block["median"] == pytest.approx(2.5e-6)
    assert (block["min"], block["max"], block["p90"], block["p99"]) == (1e-6, 4e-6, 4e-6, 4e-6)
    assert block["mean"] == pytest.approx(2.5e-6)
    assert block["std"] == pytest.approx(math.sqrt(1.25) * 1e-6)  # population std
    assert summarize([]) is None


def outcome(failures: list[tuple[str, Failure]] | None = None) -> CaseOutcome:
    writer = RankReport(write_ns=[2000, 1000, 3000])
    readers = [RankReport(read_ns=[100, 300], first_ns=10_000, last_ns=10_900, verified=True),
               RankReport(read_ns=[200], first_ns=10_100, last_ns=11_000,
                          verified=not failures)]
    return CaseOutcome(failures or [], [writer, *readers], "SharedMemory (pickle)", 2)


def test_record_of_a_successful_case() -> None:
    r = record(BUILTIN["py-shm"], 10, "full", outcome(), 521)
    assert r["status"] == "ok" and r["error"] is None and r["verified"] is True
    assert r["write_time"] == 2e-6 and r["avg_read_time"] == pytest.approx(2e-7)
    assert r["throughput"] == pytest.approx(5e6)
    # 3 reads from the first start (10 000 ns) to the last end (11 000 ns).
    assert r["aggregate_reads_per_s"] == pytest.approx(3 / 1e-6)
    assert (r["implementation"], r["reference"], r["payload_bytes"]) == ("reference", None, 521)


def test_record_of_a_failed_case_keeps_what_was_measured() -> None:
    failures = [("read", Failure(2, "OSError: gone")), ("cleanup readers",
                                                        Failure(1, "ValueError: x"))]
    r = record(BUILTIN["shm"], 10, "get", outcome(failures), None)
    assert r["status"] == "failed" and r["error"] == "rank 2: OSError: gone"
    assert r["write_time"] is r["avg_read_time"] is r["throughput"] is None
    assert r["aggregate_reads_per_s"] is None and r["verified"] is False
    assert r["read"]["samples"] == [1e-7, 3e-7, 2e-7]
    assert r["implementation"] == "rust" and r["reference"] == "py-shm"


def test_summary_shows_ratios_of_rust_to_reference() -> None:
    ref = record(BUILTIN["py-shm"], 10, "full", outcome(), 521)
    rust = record(BUILTIN["shm"], 10, "full", CaseOutcome([], [
        RankReport(write_ns=[500]),
        RankReport(read_ns=[50], first_ns=0, last_ns=50, verified=True),
        RankReport(read_ns=[50], first_ns=0, last_ns=50, verified=True)], "x", 2), 400)
    text = summary([rust, ref], readers=2)
    assert re.search(r"^shm +py-shm +10 +2 +0\.25x +0\.25x$", text, re.MULTILINE), text


def test_fmt_time_units() -> None:
    assert [fmt_time(t) for t in (2.5, 0.0123, 4.2e-5, 3e-8, None)] == [
        "2.5 s", "12.3 ms", "42 us", "30 ns", "-"]


def test_checker_finds_type_changes_that_equality_misses() -> None:
    expected = {"a": (1, 2), "b": 1.0}
    checker = Checker(expected)
    checker.check_full(0, {"a": [1, 2], "b": 1.0})  # == would call this equal
    assert checker.first_mismatch is not None and "read 0 differs" in checker.first_mismatch
    fine = Checker(expected)
    fine.check_full(0, {"a": (1, 2), "b": 1.0})
    fine.check_key(1, "b", 1.0)
    assert fine.first_mismatch is None
    fine.check_key(2, "b", True)
    assert fine.first_mismatch is not None and "get('b')" in fine.first_mismatch


def test_random_keys_are_seeded() -> None:
    data = generate_test_dict(50)
    assert random_keys(data, 20, 1, 1) == random_keys(data, 20, 1, 1)
    assert random_keys(data, 20, 1, 1) != random_keys(data, 20, 1, 2)
    assert set(random_keys(data, 200, 0, 1)) <= set(data)


def test_command_line_defaults() -> None:
    config = parse_args([])
    assert config.sizes == [10, 100, 1000, 10000] and config.iterations == 100
    assert config.output == Path("benchmark_results.json") and config.workload == "full"
    assert config.idle_wait is None
    names = [spec.name for spec in config.backends]
    assert {"py-shm", "py-lmdb", "py-zmq", "mpi-bcast"} <= set(names)
    assert len(names) + len(config.unavailable) == len(BUILTIN)


def test_reader_counts_and_measurement_options() -> None:
    config = parse_args(["--readers", "1,3", "2", "--updates", "0", "--zmq-host", "10.0.0.1"])
    assert (config.reader_counts, config.updates, config.zmq_host) == ([1, 3, 2], 0, "10.0.0.1")
    default = parse_args([])
    assert (default.reader_counts, default.updates, default.zmq_host) == (None, 20, None)


def test_user_backends_are_added_to_the_list() -> None:
    config = parse_args(["--backends", "py-shm", "--backend", "tests.user_backends:FileBackend"])
    assert [s.name for s in config.backends] == ["py-shm", "tests.user_backends:FileBackend"]


@pytest.mark.parametrize("args", [
    ["--backends", "py-shm", "py-lmdb", "--sizes", "10", "100"],
    ["--backends", "py-shm,py-lmdb", "--sizes", "10,100"],  # the native harness's form
])
def test_lists_take_spaces_or_commas(args: list[str]) -> None:
    config = parse_args(args)
    assert [s.name for s in config.backends] == ["py-shm", "py-lmdb"]
    assert config.sizes == [10, 100]


@pytest.mark.parametrize("args, message", [
    (["--backends", "nope"], "unknown backend 'nope'"),
    (["--backend", "py-shm"], "expected 'module:Class'"),
    (["--backend", "tests.user_backends:NotABackend"], "not an IPCBackend subclass"),
    (["--backends", "py-shm", "py-shm"], "backend named twice: py-shm"),
    (["--sizes", "0"], "must be >= 1"),
    (["--sizes", "10,x"], "sizes are whole numbers, got '10,x'"),
    (["--backends", "py-shm,"], "empty item in 'py-shm,'"),
    (["--timeout", "0"], "must be > 0 seconds"),
    (["--seed", str(1 << 64)], "64 unsigned bits"),
    (["--readers", "1,2,1"], "--readers lists a count twice: 1, 2, 1"),
    (["--readers", "0"], "must be >= 1"),
    (["--readers", "two"], "reader counts are whole numbers"),
    (["--zmq-host", "a", "--zmq-interface", "b"], "not allowed with argument"),
])
def test_bad_command_lines_say_what_is_wrong(args: list[str], message: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse_args(args)
    assert info.value.code == 2
    assert message in capsys.readouterr().err
