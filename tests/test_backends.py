"""backends.json, the one description of every built-in backend, and its readers: the
Python registry, the analysis, the docs (the native harness checks its side in
crates/ipc-mpi-bench/src/backend/mod.rs and tests/test_native_harness.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ipc_benchmark import backends
from ipc_benchmark.analysis.recommend import properties as used_by_the_analysis
from ipc_benchmark.registry import BUILTIN

ROOT = Path(__file__).resolve().parents[1]
FILE = ROOT / "python" / "ipc_benchmark" / "backends.json"


def test_the_file_is_well_formed() -> None:
    entries = json.loads(FILE.read_text("utf-8"))["backends"]
    seen: dict[tuple[str, str], int] = {}
    for b in backends.all_backends():
        assert set(b.harnesses) <= {"python", "rust"} and b.harnesses, b.name
        for h in b.harnesses:
            assert (h, b.name) not in seen, f"{b.name} twice for the {h} harness"
            seen[h, b.name] = 1
        assert b.implementation in ("rust", "reference", "peer"), b.name
        if b.implementation == "peer":  # run for comparison, by the Python harness
            assert (b.harnesses, b.reference) == (("python",), None), b.name
        assert b.encoding in ("pickle", "codec", None), b.name
        assert b.reference != b.name, f"{b.name} names itself as its reference"
        assert (b.properties is None) == b.self_test, b.name
        assert ("python" in b.harnesses) == (b.python_class is not None), b.name
    assert len(entries) == len(backends.all_backends())


def test_references_are_reference_backends_of_the_python_harness() -> None:
    python = backends.of_harness("python")
    for b in backends.all_backends():
        if b.reference is not None:
            assert python[b.reference].implementation == "reference", b.name


def test_entries_that_share_a_name_share_their_properties() -> None:
    by_name: dict[str, backends.Properties | None] = {}
    for b in backends.all_backends():
        assert by_name.setdefault(b.name, b.properties) == b.properties, b.name


def test_the_registry_is_the_files_python_entries() -> None:
    python = backends.of_harness("python")
    assert list(BUILTIN) == list(python)
    for name, spec in BUILTIN.items():
        b = python[name]
        assert (spec.implementation, spec.display_name, spec.reference, spec.encoding,
                spec.target, spec.kwargs) == (b.implementation, b.display_name, b.reference,
                                              b.encoding, b.python_class, b.python_kwargs)


def test_message_per_read_is_what_the_classes_do() -> None:
    # Not mpi-bcast: importing mpi4py here would start MPI in the test process.
    checked = []
    for spec in BUILTIN.values():
        if spec.name == "mpi-bcast" or spec.unavailable_reason() is not None:
            continue
        props = backends.properties(spec.name)
        assert props is not None
        assert spec.create(timeout=5).consumes_messages == props.message_per_read, spec.name
        checked.append(spec.name)
    assert {"py-shm", "py-lmdb", "py-zmq"} <= set(checked)


def test_the_analysis_reads_the_file() -> None:
    for b in backends.all_backends():
        assert used_by_the_analysis(b.name) == b.properties
    assert used_by_the_analysis("tests.user_backends:FileBackend") is None


def test_the_schema_doc_points_to_the_file() -> None:
    doc = (ROOT / "docs" / "results-schema.md").read_text("utf-8")
    assert "python/ipc_benchmark/backends.json" in doc


def test_the_analysis_and_the_records_need_no_mpi() -> None:
    code = ("import sys, ipc_benchmark.analysis.load, ipc_benchmark.harness.outcome, "
            "ipc_benchmark.formatting; assert 'mpi4py' not in sys.modules, 'mpi4py'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
