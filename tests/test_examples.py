"""examples/trainer_evaluator.py runs as documented, with every backend, and cleans up."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ipc_benchmark import PREFIX

ROOT = Path(__file__).parents[1]
EXAMPLE = ROOT / "examples" / "trainer_evaluator.py"


def left_behind(name: str) -> list[Path]:
    """OS objects of store ``name`` still in /dev/shm or the temp dir."""
    return [p for base in (Path("/dev/shm"), Path(tempfile.gettempdir()))
            for p in base.glob(f"{PREFIX}*{name}*")]


@pytest.mark.parametrize("backend", ["shm", "lmdb", "zmq"])
def test_trainer_and_evaluators(backend: str, unique_name: str) -> None:
    steps, publish_every, evaluators, eval_every = 60, 5, 2, 20
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE), "--backend", backend, "--steps", str(steps),
         "--publish-every", str(publish_every), "--step-time", "0.002",
         "--evaluators", str(evaluators), "--eval-every", str(eval_every),
         "--timeout", "20", "--name", unique_name],
        capture_output=True, text=True, timeout=90,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    published = len(range(publish_every, steps, publish_every)) + 1  # + the final one
    assert f"trainer: {steps} steps, published {published} snapshots" in out, out

    for i in range(evaluators):
        evaluated = [int(s) for s in re.findall(rf"^evaluator {i}: step +(\d+) ", out, re.M)]
        # Evaluations move forward, at least eval_every steps apart, ending on the last.
        assert evaluated and evaluated[-1] == steps, out
        assert all(b - a >= eval_every for a, b in zip(evaluated, evaluated[1:-1])), out
        finished = re.search(rf"^evaluator {i}: trainer finished at step {steps}; woke "
                             r"(\d+) times, evaluated (\d+) snapshots$", out, re.M)
        assert finished, out
        woken, count = int(finished[1]), int(finished[2])
        assert count == len(evaluated) and count <= woken <= published, out
    assert left_behind(unique_name) == []


def test_a_bad_option_is_refused() -> None:
    proc = subprocess.run([sys.executable, str(EXAMPLE), "--backend", "redis"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "invalid choice: 'redis'" in proc.stderr
