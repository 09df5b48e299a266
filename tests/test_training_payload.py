"""The training payload (``--payload training``): its generator, its check, the read
cap, and that the native harness generates the same bytes (via the `payload` example
that `make native` builds)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ipc_benchmark.harness import payloads, training
from ipc_benchmark.harness.cli import parse_args
from ipc_benchmark.harness.outcome import CaseOutcome, RankReport, record
from ipc_benchmark.harness.training_layout import MIB, MIN_FLOATS, float_count, layout
from ipc_benchmark.registry import BUILTIN
from ipc_benchmark.utils import _splitmix64, serialize

PAYLOAD_EXAMPLE = Path(__file__).parents[1] / "target" / "release" / "examples" / "payload"


def weight_bytes(p: dict[str, Any]) -> int:
    return sum(a.nbytes for a in p["weights"].values())


@pytest.mark.parametrize("mb", [1, 10, 100])
def test_whole_mib_sizes_hold_exactly_that_many_bytes_of_float32(mb: int) -> None:
    arrays = layout(float_count(mb))
    assert sum(int(np.prod(shape)) for _, shape in arrays) * 4 == mb * MIB
    assert [name for name, _ in arrays][:3] == ["embed.weight", "blocks.0.weight",
                                               "blocks.0.bias"]
    assert all(name != "tail" for name, _ in arrays)


def test_the_payload_has_a_trainers_types() -> None:
    p = training.generate(0.01, 3)
    assert list(p) == ["step", "loss", "weights", "config", "metrics"]
    assert type(p["step"]) is np.int64 and type(p["loss"]) is np.float32
    assert all(type(a) is np.ndarray and a.dtype == np.float32 for a in p["weights"].values())
    assert weight_bytes(p) == float_count(0.01) * 4
    assert list(p["weights"])[-1] == "tail"  # 0.01 MiB is not a whole number of rows
    assert list(p["metrics"]) == [1, 2, 3]
    assert all(type(k) is int for k in p["metrics"])
    assert p["loss"] == np.float32(p["metrics"][3]["loss"])
    assert p["config"]["hidden"] == p["weights"]["blocks.0.weight"].shape[0]


def test_weights_follow_the_splitmix_stream_in_layout_order() -> None:
    p = training.generate(0.01, 99)
    flat = np.concatenate([a.reshape(-1) for a in p["weights"].values()])
    state, want = 99, []
    for _ in range(flat.size):
        state, z = _splitmix64(state)
        want.append(((z >> 40) - (1 << 23)) * 2.0 ** -30)
    assert flat.tolist() == want  # exact: every weight is a float32 without rounding
    assert np.abs(flat).max() <= 2.0 ** -7


def test_generation_is_seeded_and_chunked_without_seams(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = training.generate(0.05, 1), training.generate(0.05, 2)
    assert training.mismatch(training.generate(0.05, 1), a) is None
    assert training.mismatch(b, a) is not None
    monkeypatch.setattr(training, "_CHUNK", 1000)  # many chunks per array
    assert training.mismatch(training.generate(0.05, 1), a) is None


@pytest.mark.parametrize("mb, says", [
    (0, "at least"), (-1, "at least"), (MIN_FLOATS * 4 / MIB / 2, "at least"),
    (float("nan"), "not a number"), (1e9, "at most"),
])
def test_bad_sizes_are_refused(mb: float, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        training.generate(mb, 0)


def test_the_check_sees_types_keys_and_values() -> None:
    want = training.generate(0.01, 4)

    def changed(**edits: Any) -> dict[str, Any]:
        got = training.generate(0.01, 4)
        got.update(edits)
        return got

    assert training.mismatch(training.generate(0.01, 4), want) is None
    assert "float" in str(training.mismatch(changed(loss=float(want["loss"])), want))
    assert "int64" in str(training.mismatch(changed(step=np.int32(want["step"])), want))
    str_keys = {str(k): v for k, v in want["metrics"].items()}
    assert "keys" in str(training.mismatch(changed(metrics=str_keys), want))
    weights = dict(want["weights"])
    weights["embed.weight"] = weights["embed.weight"].astype(np.float64)
    assert "float64" in str(training.mismatch(changed(weights=weights), want))
    weights = {k: v.copy() for k, v in want["weights"].items()}
    weights["blocks.2.bias"][3] += 1
    found = training.mismatch(changed(weights=weights), want)
    assert found is not None and "blocks.2.bias" in found and "values differ" in found
    config = dict(want["config"], betas=(0.9, 0.999))
    assert "tuple" in str(training.mismatch(changed(config=config), want))
    checker = training.TrainingChecker(want)
    checker.check_key(0, "loss", want["loss"])
    checker.check_full(1, want)
    assert checker.first_mismatch is None
    checker.check_key(2, "step", 1500)
    assert checker.first_mismatch is not None and "get('step')" in checker.first_mismatch


def test_only_large_training_payloads_of_message_backends_are_capped() -> None:
    # 100 MiB to 3 readers: 4 GiB carries 13 reads each, 5 of them warm-up.
    cap = payloads.read_cap("training", 100, 3, 5, 100, True)
    assert cap is not None and cap.iterations == 8
    assert "3 readers x 100 MiB" in cap.reason
    assert payloads.read_cap("training", 100, 3, 5, 100, True, budget_mb=100_000) is None
    assert payloads.read_cap("training", 100, 3, 5, 100, False) is None
    assert payloads.read_cap("training", 10, 3, 5, 100, True) is None  # 136 reads fit
    assert payloads.read_cap("seed", 10_000, 3, 5, 100, True) is None
    cap = payloads.read_cap("training", 1000, 7, 5, 100, True)
    assert cap is not None and cap.iterations == payloads.MIN_CAPPED_READS
    assert payloads.read_cap("training", 1000, 7, 5, 3, True) is None  # never more reads


def test_a_capped_training_record_says_so() -> None:
    cap = payloads.ReadCap(8, "why")
    outcome = CaseOutcome([], [RankReport(write_ns=[5]),
                               RankReport(read_ns=[1], first_ns=0, last_ns=1, verified=True)],
                          "ZeroMQ (pickle)", 1, read_cap=cap)
    r = record(BUILTIN["py-zmq"], 100, "full", outcome, 10, "training")
    assert (r["payload"], r["size_unit"], r["data_size"]) == ("training", "MiB", 100)
    assert r["read_cap"] == {"iterations": 8, "reason": "why"}
    seed = record(BUILTIN["py-zmq"], 10, "full", CaseOutcome([], [], "x", 1), None)
    assert (seed["payload"], seed["size_unit"], seed["read_cap"]) == ("seed", "entries", None)


def test_command_line() -> None:
    config = parse_args(["--payload", "training", "--backends", "py-shm"])
    assert config.payload == "training" and config.array_mb == [1, 10, 100]
    assert config.data_sizes() == [1, 10, 100]
    config = parse_args(["--payload", "training", "--array-mb", "0.5,2", "--backends", "py-shm"])
    assert config.data_sizes() == [0.5, 2] and type(config.data_sizes()[1]) is int
    seed = parse_args(["--backends", "py-shm"])
    assert seed.payload == "seed" and seed.array_mb is None
    assert seed.data_sizes() == [10, 100, 1000, 10000]


@pytest.mark.parametrize("args, message", [
    (["--payload", "training", "--sizes", "10"], "--sizes counts"),
    (["--array-mb", "1"], "training only"),
    (["--payload", "training", "--array-mb", "0"], "at least"),
    (["--payload", "training", "--array-mb", "lots"], "not a number of MiB"),
    (["--payload", "weights"], "invalid choice"),
])
def test_bad_command_lines(args: list[str], message: str,
                           capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--backends", "py-shm", *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def rust_blob(kind: str, size: str, seed: int) -> bytes:
    if not PAYLOAD_EXAMPLE.exists():
        pytest.fail(f"{PAYLOAD_EXAMPLE} is missing: build it with `make native`")
    proc = subprocess.run([str(PAYLOAD_EXAMPLE), kind, size, str(seed)],
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


@pytest.mark.parametrize("mb, seed", [("0.01", 0), ("1", 12345), ("0.3", 2**64 - 1)])
def test_python_and_rust_generate_the_same_bytes(mb: str, seed: int) -> None:
    try:
        blob = serialize(training.generate(float(mb), seed))
    except TypeError as e:
        pytest.fail(f"the codec does not take the training payload yet: {e}")
    assert blob == rust_blob("training", mb, seed)


def test_the_payload_writer_refuses_a_bad_size() -> None:
    if not PAYLOAD_EXAMPLE.exists():
        pytest.fail(f"{PAYLOAD_EXAMPLE} is missing: build it with `make native`")
    proc = subprocess.run([str(PAYLOAD_EXAMPLE), "training", "0", "1"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "at least 8 float32 values" in proc.stderr
