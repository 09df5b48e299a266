"""The release wheel installs into a clean virtual environment, with nothing else (no
NumPy either), and works there: the codec, a shared-memory store, and the ipc-bench
entry point.

Slow: it builds the wheel (``maturin build --release``), which recompiles the bindings
crate when anything changed since the last build. It reuses cargo's target/ directory,
so what ``make build`` compiled is not compiled again.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import ipc_benchmark
from ipc_benchmark import PREFIX

ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def uv() -> list[str]:
    found = shutil.which("uv")
    if found:
        return [found]
    if importlib.util.find_spec("uv") is not None:
        return [sys.executable, "-m", "uv"]
    pytest.skip("uv is not installed (make setup installs it)")


def maturin() -> str:
    found = shutil.which("maturin", path=str(BIN)) or shutil.which("maturin")
    if found is None:
        pytest.skip("maturin is not installed (make setup installs it)")
    return found


def run(command: list[str], *, cwd: Path, timeout: float,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)
    assert proc.returncode == 0, (f"{' '.join(command)} failed ({proc.returncode}):\n"
                                  f"{proc.stdout}\n{proc.stderr}")
    return proc


# Runs in the clean venv, from a directory outside the checkout: it must find everything
# in the installed wheel.
SMOKE = textwrap.dedent("""
    import sys
    import ipc_benchmark
    from ipc_benchmark import SharedMemoryBackend, deserialize, serialize

    assert ipc_benchmark.__file__.startswith(sys.prefix), ipc_benchmark.__file__
    state = {"step": 7, "loss": 0.25, "weights": {"w": [1.5, -2.0, 1e-300]},
             "tag": ("run", None, True), "raw": b"\\x00\\xff", "big": 1 << 80,
             3: {-1: "int keys"}}
    assert deserialize(serialize(state)) == state

    # NumPy is optional: not in this venv, and only reading an array needs it.
    import array
    import importlib.util
    assert importlib.util.find_spec("numpy") is None
    blob = serialize({"w": array.array("f", [1.0])})
    try:
        deserialize(blob)
    except ModuleNotFoundError as e:
        assert str(e).startswith("data['w']: ") and "pip install numpy" in str(e), e
    else:
        raise AssertionError("an array was read without NumPy")
    assert "numpy" not in sys.modules

    writer, reader = SharedMemoryBackend(), SharedMemoryBackend()
    writer.initialize(sys.argv[1], True)
    reader.initialize(sys.argv[1], False)
    writer.write(state)
    assert reader.version == 1
    assert reader.read() == state
    assert reader.get("step") == 7 and reader.get("missing", "dflt") == "dflt"
    reader.cleanup()
    writer.cleanup()
    print("ok", ipc_benchmark.__version__)
""")


def test_wheel_installs_into_a_clean_venv_and_works(tmp_path: Path, unique_name: str) -> None:
    dist, venv, work = tmp_path / "dist", tmp_path / "venv", tmp_path / "work"
    work.mkdir()
    run([maturin(), "build", "--release", "--out", str(dist), "--interpreter",
         sys.executable], cwd=ROOT, timeout=840)
    (wheel,) = dist.glob("ipc_benchmark-*.whl")

    # A venv of the same interpreter (the wheel is for its ABI), with nothing in it;
    # offline, so that a runtime dependency the wheel gained would fail here.
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "CONDA_PREFIX")}
    run([*uv(), "venv", "--python", sys.executable, str(venv)], cwd=work, timeout=120, env=env)
    python = venv / "bin" / "python"
    run([*uv(), "pip", "install", "--offline", "--python", str(python), str(wheel)],
        cwd=work, timeout=120, env=env)

    smoke = run([str(python), "-c", SMOKE, unique_name], cwd=work, timeout=60, env=env)
    assert smoke.stdout.strip() == f"ok {ipc_benchmark.__version__}"
    assert list(Path("/dev/shm").glob(f"{PREFIX}*{unique_name}*")) == []

    # The console script, and the module form.
    for command in ([str(venv / "bin" / "ipc-bench"), "--version"],
                    [str(python), "-m", "ipc_benchmark", "--version"]):
        proc = run(command, cwd=work, timeout=60, env=env)
        assert proc.stdout.strip() == f"ipc-bench {ipc_benchmark.__version__}"
