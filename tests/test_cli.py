"""The ipc-bench command (python -m ipc_benchmark): run, analyze, clean, --version, --help."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

import ipc_benchmark
from ipc_benchmark import PREFIX, cli, leftovers

ROOT = Path(__file__).parents[1]
MPIEXEC = cli.find_mpiexec()


def ipc_bench(*args: str, cwd: Path, timeout: float = 60,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ipc_benchmark", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=env)


def test_version(tmp_path: Path) -> None:
    proc = ipc_bench("--version", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"ipc-bench {ipc_benchmark.__version__}"


def test_help_lists_the_subcommands(tmp_path: Path) -> None:
    proc = ipc_bench("--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: ipc-bench")
    for command in ("run", "analyze", "clean"):
        assert f"    {command} " in proc.stdout
    run_help = ipc_bench("run", "--help", cwd=tmp_path)
    assert run_help.returncode == 0 and "--ranks" in run_help.stdout
    # analyze's help is the analysis' own, with its options.
    analyze_help = ipc_bench("analyze", "--help", cwd=tmp_path)
    assert analyze_help.returncode == 0 and "--out DIR" in analyze_help.stdout


def test_no_subcommand_or_an_unknown_one_is_an_error(tmp_path: Path) -> None:
    assert ipc_bench(cwd=tmp_path).returncode == 2
    proc = ipc_bench("frobnicate", cwd=tmp_path)
    assert proc.returncode == 2 and "invalid choice: 'frobnicate'" in proc.stderr
    proc = ipc_bench("clean", "--force", cwd=tmp_path)
    assert proc.returncode == 2 and "unrecognized arguments: --force" in proc.stderr


# --- run ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One real `ipc-bench run` with 2 ranks and tiny sizes, shared by the tests that
    look at its output (an MPI job takes seconds)."""
    if MPIEXEC is None:
        pytest.skip("no mpiexec (install the mpi extra)")
    tmp = tmp_path_factory.mktemp("run")
    output = tmp / "results.json"
    proc = ipc_bench("run", "-n", "2", "--backends", "shm", "py-shm", "--sizes", "10", "30",
                     "--iterations", "3", "--warmup", "1", "--repeat", "2",
                     "--output", str(output), cwd=tmp, timeout=120)
    return proc, output


def test_run_launches_mpiexec_with_the_benchmark(
        bench_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    proc, output = bench_run
    assert proc.returncode == 0, proc.stderr
    # It says what it runs, and runs the MPI next to this interpreter.
    assert (f"ipc-bench: running {MPIEXEC} -n 2 {sys.executable} -m ipc_benchmark.harness "
            f"--backends shm py-shm --sizes 10 30") in proc.stderr
    doc: dict[str, Any] = json.loads(output.read_text())
    meta = doc["metadata"]
    assert (meta["ranks"], meta["readers"]) == (2, 1)
    assert meta["command_line"][0] == "ipc_benchmark.harness"
    assert meta["config"]["sizes"] == [10, 30] and meta["config"]["iterations"] == 3
    records = [(r["backend"], r["data_size"], r["status"]) for r in doc["results"]]
    assert records == [(b, n, "ok") for n in (10, 30) for b in ("shm", "py-shm")]
    assert "Medians, 1 writer + 1 reader" in proc.stdout


def test_run_passes_the_exit_status_on(tmp_path: Path) -> None:
    if MPIEXEC is None:
        pytest.skip("no mpiexec (install the mpi extra)")
    # A backend that fails its case: the benchmark exits 1, and so must ipc-bench.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    proc = ipc_bench("run", "-n", "2", "--backends", "tests.user_backends:FailingWriteBackend",
                     "--sizes", "5", "--iterations", "2", "--output",
                     str(tmp_path / "r.json"), cwd=tmp_path, timeout=120, env=env)
    assert proc.returncode == 1, proc.stderr
    assert "injected write failure" in proc.stderr


def test_run_checks_its_options_before_launching(tmp_path: Path) -> None:
    proc = ipc_bench("run", "-n", "1", cwd=tmp_path)
    assert proc.returncode == 2 and "must be at least 2" in proc.stderr
    # The benchmark's own options are checked once, here, not on every rank.
    proc = ipc_bench("run", "-n", "2", "--sizes", "0", cwd=tmp_path)
    assert proc.returncode == 2 and "--sizes: must be >= 1" in proc.stderr
    proc = ipc_bench("run", "--no-such-option", cwd=tmp_path)
    assert proc.returncode == 2 and "unrecognized arguments: --no-such-option" in proc.stderr
    proc = ipc_bench("run", "-n", "2", "--mpiexec", str(tmp_path / "missing"), cwd=tmp_path)
    assert proc.returncode == 2 and "not found, or not executable" in proc.stderr
    assert "running" not in proc.stderr


def _fake_mpiexec(directory: Path) -> Path:
    directory.mkdir()
    exe = directory / "mpiexec"
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


def test_find_mpiexec_prefers_the_one_next_to_python(tmp_path: Path) -> None:
    beside = _fake_mpiexec(tmp_path / "env_bin")
    on_path = _fake_mpiexec(tmp_path / "path_bin")
    python = str(tmp_path / "env_bin" / "python")
    assert cli.find_mpiexec(python, path=str(on_path.parent)) == str(beside)
    # Nothing beside the interpreter: PATH; nothing anywhere: None.
    assert cli.find_mpiexec(str(tmp_path / "python"), path=str(on_path.parent)) == str(on_path)
    assert cli.find_mpiexec(str(tmp_path / "python"), path=str(tmp_path / "empty")) is None


def test_run_without_any_mpiexec_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cli, "find_mpiexec", lambda *a, **k: None)
    assert cli.main(["run", "-n", "2"]) == 2
    err = capsys.readouterr().err
    assert "no mpiexec next to" in err and "--mpiexec" in err


# --- analyze --------------------------------------------------------------------------

def test_analyze_reads_the_results_of_run(
        bench_run: tuple[subprocess.CompletedProcess[str], Path], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    _, results = bench_run
    out = tmp_path / "plots"
    proc = ipc_bench("analyze", str(results), "--out", str(out), cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (out / "report.md").is_file()
    assert any(out.glob("*.csv")) and any(out.glob("*.png"))


def test_analyze_reports_a_missing_file(tmp_path: Path) -> None:
    proc = ipc_bench("analyze", str(tmp_path / "missing.json"), cwd=tmp_path)
    assert proc.returncode == 1
    assert "missing.json" in proc.stderr


# --- clean ----------------------------------------------------------------------------

@pytest.fixture
def private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Stand-ins for /dev/shm and the temp dir: the real ones may hold live stores of
    other tests or runs, which clean would rightly remove."""
    shm, tmp = tmp_path / "shm", tmp_path / "tmp"
    shm.mkdir()
    tmp.mkdir()
    monkeypatch.setattr(leftovers, "SHM_DIR", shm)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return shm, tmp


def test_clean_removes_leftovers_and_nothing_else(
        private_dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    shm, tmp = private_dirs
    segment = shm / f"{PREFIX}shm_crashed.3"
    segment.write_bytes(b"x" * 64)
    directory = tmp / f"{PREFIX}lmdb_crashed"
    directory.mkdir()
    (directory / "data.mdb").write_bytes(b"x")
    # shared-memory-dict puts "sm_" before the names of its segments.
    smd_segment = shm / f"sm_{PREFIX}smd_crashed"
    smd_segment.write_bytes(b"x")
    # Names that merely contain the prefix, or are another program's, stay.
    keep = [shm / f"other_{PREFIX}shm", shm / "psm_1234", tmp / f"x{PREFIX}", tmp / "ipcb",
            shm / "sm_tokens", shm / f"xsm_{PREFIX}"]
    for path in keep:
        path.write_bytes(b"keep")

    assert cli.main(["clean"]) == 0
    out = capsys.readouterr().out
    assert f"removed {segment}" in out and f"removed {directory}" in out
    assert f"removed {smd_segment}" in out
    assert not segment.exists() and not directory.exists() and not smd_segment.exists()
    assert all(path.read_bytes() == b"keep" for path in keep)

    assert cli.main(["clean"]) == 0
    assert capsys.readouterr().out.startswith("nothing to clean")

