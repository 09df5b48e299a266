"""analyze_results.py on real result files, made here by both harnesses under mpiexec.

The runs are module-scoped: each harness runs once (sizes 10 and 40, 3 timed reads), and
the analysis of them once; every test then checks one part of what came out. Bad input
is made from copies of the real files.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ipc_benchmark import backends
from ipc_benchmark.analysis.dataset import build, load_all
from ipc_benchmark.analysis.load import load
from ipc_benchmark.analysis.recommend import recommend
from ipc_benchmark.analysis.report import render
from ipc_benchmark.registry import BUILTIN, default_backends

ROOT = Path(__file__).resolve().parents[1]
MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
NATIVE = ROOT / "target" / "release" / "ipc-mpi-bench"
TINY = ["--sizes", "10", "40", "--iterations", "3", "--warmup", "1"]
FAILING = "tests.user_backends:FailingReadBackend"
#: Every output of a run given both harnesses' files.
OUTPUTS = ["write_performance.png", "read_performance.png", "throughput.png",
           "write_summary.csv", "read_summary.csv", "speedup.png",
           "harness_comparison.png", "latency_distribution.png", "report.md"]
#: The facts the recommendation's properties table must encode, stated independently.
PERSISTENT = {"lmdb", "py-lmdb"}
ACROSS_MACHINES = {"zmq", "zmq-push", "mpi-bcast"}

pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec (install the mpi extra)")


def bench(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MPIEXEC), "-n", "2", sys.executable, "benchmark_mpi.py", "--output", str(out),
         *TINY, *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )


def analyze(*args: str | Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "analyze_results.py", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@dataclass(frozen=True)
class Runs:
    #: Python harness, full workload, with a user backend that fails at every size.
    full: Path
    #: Python harness, get workload.
    get: Path
    #: The native harness; None when target/release/ipc-mpi-bench is not built.
    native: Path | None

    def inputs(self) -> list[Path]:
        return [p for p in (self.full, self.get, self.native) if p is not None]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    tmp = tmp_path_factory.mktemp("results")
    available = {spec.name for spec in default_backends()[0]}
    wanted = ["shm", "py-shm", "lmdb", "py-lmdb", "zmq", "py-zmq", "mpi-bcast"]
    backends = [b for b in wanted if b in available]
    assert {"py-shm", "py-lmdb"} <= set(backends), f"only {backends} are available"

    full = tmp / "full.json"
    proc = bench(full, "--backends", *backends, FAILING)
    assert proc.returncode == 1, proc.stderr  # 1: the failing backend failed, as intended
    get = tmp / "get.json"
    proc = bench(get, "--workload", "get", "--backends",
                 *[b for b in backends if "shm" in b or "lmdb" in b])
    assert proc.returncode == 0, proc.stderr

    native: Path | None = None
    if NATIVE.exists():
        native = tmp / "native.json"
        proc = subprocess.run(
            [str(MPIEXEC), "-n", "2", str(NATIVE), "--sizes", "10,40", "--iterations", "3",
             "--output", str(native)],
            cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
    return Runs(full, get, native)


@pytest.fixture(scope="module")
def analyzed(files: Runs, tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("plots")
    proc = analyze(*files.inputs(), "--out", out)
    assert proc.returncode == 0, proc.stderr
    return proc, out


def doc(path: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(path.read_text())
    return result


def fastest(document: dict[str, Any], block: str) -> str:
    """The backend with the lowest median at the largest size, among those that never
    failed: computed here from the JSON, not with the analysis's code."""
    records = document["results"]
    failed = {r["backend"] for r in records if r["status"] != "ok"}
    ok = [r for r in records if r["status"] == "ok" and r["backend"] not in failed]
    largest = max(r["data_size"] for r in ok)
    best = min((r for r in ok if r["data_size"] == largest),
               key=lambda r: r[block]["median"])
    return str(best["backend"])


def answer(report: str, question: str) -> str:
    found = re.search(rf"^\| {re.escape(question)} \| (`([^`]+)`|none) \|", report, re.M)
    assert found, f"no row {question!r} in the recommendation:\n{report}"
    return found[2] or "none"


# ---- the outputs -------------------------------------------------------------------


def test_every_output_is_written(analyzed: tuple[Any, Path],
                                 files: Runs) -> None:
    proc, out = analyzed
    expected = OUTPUTS if files.native is not None else [
        o for o in OUTPUTS if o != "harness_comparison.png"]
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)
    for name in expected:
        if name.endswith(".png"):
            data = (out / name).read_bytes()
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, name
    assert f"wrote {len(expected)} files" in proc.stdout


def test_csvs_hold_every_record(analyzed: tuple[Any, Path],
                                files: Runs) -> None:
    _, out = analyzed
    records = [r for p in files.inputs() for r in doc(p)["results"]]
    with open(out / "read_summary.csv", newline="") as f:
        reads = list(csv.DictReader(f))
    with open(out / "write_summary.csv", newline="") as f:
        writes = list(csv.DictReader(f))
    assert len(reads) == len(writes) == len(records)
    by_key = {(r["harness"], r["workload"], r["backend"], int(r["data_size"])): r
              for r in reads}
    for p in files.inputs():
        d = doc(p)
        for r in d["results"]:
            row = by_key[(d["metadata"]["harness"], r["workload"], r["backend"],
                          r["data_size"])]
            assert row["status"] == r["status"]
            if r["status"] == "ok":
                assert float(row["avg_read_time"]) == pytest.approx(r["avg_read_time"])
                assert float(row["read_p99_s"]) == pytest.approx(r["read"]["p99"])
            else:  # what a failed case measured is not a measurement: left empty
                assert row["avg_read_time"] == row["read_median_s"] == ""
                assert row["error"] == r["error"]


def test_recommendation_names_the_fastest_backends(analyzed: tuple[Any, Path],
                                                   files: Runs) -> None:
    _, out = analyzed
    report = (out / "report.md").read_text()
    full, get = doc(files.full), doc(files.get)
    assert answer(report, "Fastest full read") == fastest(full, "read")
    assert answer(report, "Fastest single-key read") == fastest(get, "read")
    assert answer(report, "Fastest write") == fastest(full, "write")

    persistent = {"results": [r for r in full["results"] if r["backend"] in PERSISTENT]}
    assert answer(report, "Persistence (data outlives the processes)") == \
        fastest(persistent, "read")
    remote = {"results": [r for r in full["results"] if r["backend"] in ACROSS_MACHINES]}
    assert answer(report, "Works across machines") == fastest(remote, "read")


def test_properties_cover_every_builtin_backend() -> None:
    known = {b.name: b.properties for b in backends.all_backends() if b.properties}
    assert set(known) == set(BUILTIN)
    assert {n for n, p in known.items() if p.persistent} == PERSISTENT
    assert {n for n, p in known.items() if p.across_machines} == ACROSS_MACHINES


def test_report_has_environment_and_tables(analyzed: tuple[Any, Path],
                                           files: Runs) -> None:
    _, out = analyzed
    report = (out / "report.md").read_text()
    meta = doc(files.full)["metadata"]
    env = report.split("## Environment", 1)[1].split("\n## ", 1)[0]
    assert f"| host | {meta['host']} |" in env
    assert f"| ranks | {meta['ranks']} |" in env
    assert f"| config.iterations | {meta['config']['iterations']} |" in env
    for section in ("## Recommendation", "## Write time (median)", "## Read time",
                    "## Throughput", "## Read latency at the largest size",
                    "## Rust backends against their references", "## Failures"):
        assert section in report
    # Every figure written is shown in the report.
    for name in OUTPUTS:
        if name.endswith(".png") and (out / name).exists():
            assert f"![{name}]({name})" in report


def test_a_failed_backend_is_shown_failed_and_left_out(
        analyzed: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    proc, out = analyzed
    report = (out / "report.md").read_text()
    for title in ("Write time (median)", "Read time (median / p99)", "Throughput"):
        section = report.split(f"## {title}", 1)[1].split("\n## ", 1)[0]
        assert f"| `{FAILING}` | user | FAILED | FAILED |" in section
    assert "injected read failure" in report.split("## Failures", 1)[1]
    assert f"{FAILING} failed at 10, 40 entries" in proc.stderr
    assert "left out of plots and recommendations" in proc.stderr
    recommendation = report.split("## Recommendation", 1)[1].split("Properties of", 1)[0]
    assert "FailingReadBackend" not in recommendation
    # Each figure's caption in the report says what it leaves out.
    note = "Not plotted (Python harness, full workload): FailingReadBackend (user) failed " \
           "at 10, 40 entries."
    figures = report.split("## Figures", 1)[1].split("\n## ", 1)[0]
    assert figures.count(note) == 3  # write, read and throughput


def test_harness_comparison(analyzed: tuple[Any, Path],
                            files: Runs) -> None:
    if files.native is None:
        pytest.fail(f"{NATIVE} is missing, so the harness comparison cannot be tested: "
                    "build the native harness with `make native`")
    _, out = analyzed
    assert (out / "harness_comparison.png").exists()
    report = (out / "report.md").read_text()
    section = report.split("## Python harness against the native harness", 1)[1]
    native_backends = {r["backend"] for r in doc(files.native)["results"]}
    python_backends = {r["backend"] for r in doc(files.full)["results"]}
    for backend in native_backends & python_backends:
        assert re.search(rf"^\| `{re.escape(backend)}` \| full \| 40 \|", section, re.M)


def test_one_harness_only_skips_the_comparison(files: Runs,
                                               tmp_path: Path) -> None:
    """And removes a stale figure, which would contradict the report; with no `get`
    records the single-key question is answered "not measured"."""
    (tmp_path / "harness_comparison.png").write_bytes(b"stale")
    proc = analyze(files.full, "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "harness_comparison.png").exists()
    report = (tmp_path / "report.md").read_text()
    assert "**harness_comparison.png**: skipped: needs files of both harnesses" in report
    assert answer(report, "Fastest single-key read") == "none"
    assert "not measured: no `get` workload records" in report
    assert "harness_comparison.png: skipped" in proc.stdout


# ---- bad input ---------------------------------------------------------------------


def edited(src: Path, dst: Path, change: Any) -> Path:
    d = doc(src)
    change(d)
    dst.write_text(json.dumps(d))
    return dst


def refused(*args: str | Path) -> str:
    """Runs the analysis, which must refuse the input in one line per file, no
    traceback, no output directory; returns stderr."""
    proc = analyze(*args)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines and all(line.startswith("analyze_results.py: error: ") for line in lines)
    return proc.stderr


def test_missing_file(tmp_path: Path) -> None:
    err = refused(tmp_path / "nope.json", "--out", tmp_path / "out")
    assert f"{tmp_path / 'nope.json'}: no such file" in err
    assert not (tmp_path / "out").exists()


def test_default_input_is_benchmark_results_json(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "analyze_results.py")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "benchmark_results.json: no such file" in proc.stderr


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.json").write_text("")
    assert "empty.json: the file is empty" in refused(tmp_path / "empty.json")


def test_invalid_json(files: Runs, tmp_path: Path) -> None:
    cut = tmp_path / "cut.json"
    cut.write_text(doc(files.full).__repr__()[:500])  # Python repr: not JSON
    assert "cut.json: not valid JSON" in refused(cut)
    half = tmp_path / "half.json"
    half.write_text(files.full.read_text()[:300])  # a file cut short
    assert re.search(r"half\.json: not valid JSON: .* at line \d+, column \d+", refused(half))


@pytest.mark.parametrize("content", ['{"foo": 1}', "[1, 2, 3]", '"text"', "42"])
def test_not_a_result_file(tmp_path: Path, content: str) -> None:
    (tmp_path / "other.json").write_text(content)
    assert "other.json: not a benchmark result file" in refused(tmp_path / "other.json")


def test_other_schema_version(files: Runs, tmp_path: Path) -> None:
    v99 = edited(files.full, tmp_path / "v99.json", lambda d: d.update(schema_version=99))
    err = refused(files.get, v99)
    assert "v99.json: schema_version 99; this analysis reads version 2" in err
    assert "get.json" not in err  # the good file is not blamed


def test_malformed_record(files: Runs, tmp_path: Path) -> None:
    def drop_size(d: dict[str, Any]) -> None:
        del d["results"][2]["data_size"]

    def bad_median(d: dict[str, Any]) -> None:
        d["results"][0]["read"]["median"] = "fast"

    err = refused(edited(files.full, tmp_path / "a.json", drop_size))
    assert "a.json: results[2].data_size: expected an integer >= 1, got <missing>" in err
    err = refused(edited(files.full, tmp_path / "b.json", bad_median))
    first = doc(files.full)["results"][0]
    assert (f"b.json: results[0] ({first['backend']}, {first['data_size']} entries)"
            f".read.median: expected a non-negative number or null, got 'fast'") in err
    err = refused(edited(files.full, tmp_path / "c.json",
                         lambda d: d["metadata"].update(harness="java")))
    assert "c.json: metadata.harness is 'java'" in err


def test_unwritable_output(files: Runs, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    err = refused(files.get, "--out", tmp_path / "file" / "plots")
    assert "cannot create the output directory" in err


def test_missing_backend_at_a_size_is_a_warning(files: Runs,
                                                 tmp_path: Path) -> None:
    """In-process (no figures needed): the gap is named, and shown as "-" in the table."""
    def drop(d: dict[str, Any]) -> None:
        d["results"] = [r for r in d["results"]
                        if (r["backend"], r["data_size"]) != ("py-shm", 40)]

    path = edited(files.full, tmp_path / "gap.json", drop)
    dataset = load_all([path])
    assert any("py-shm has no record at 40 entries" in w for w in dataset.warnings)
    report = render(dataset, recommend(dataset), [])
    assert re.search(r"^\| `py-shm` \| reference \| \S.* \| - \|$", report, re.M)


def test_duplicate_records_and_different_settings_are_warnings(
        files: Runs, tmp_path: Path) -> None:
    more = edited(files.full, tmp_path / "more.json",
                  lambda d: d["metadata"].update(readers=7))
    dataset = build([load(files.full), load(more)])
    assert any("is in" in w and "using" in w and "more.json" in w for w in dataset.warnings)
    assert any(w.startswith("the files differ in readers") for w in dataset.warnings)


def test_no_records_at_all(files: Runs, tmp_path: Path) -> None:
    none = edited(files.full, tmp_path / "none.json", lambda d: d.update(results=[]))
    assert "none.json: no records to analyze" in refused(none)


def test_figures_wrap_panels_into_rows() -> None:
    import matplotlib.pyplot as plt

    from ipc_benchmark.analysis.plotstyle import figure

    fig, axes = figure(5, ["a caption"], columns=2)
    try:
        assert len(axes) == len(fig.axes) == 5  # the sixth cell of the grid is removed
        boxes = [ax.get_position() for ax in axes]
        assert len({round(b.x0, 3) for b in boxes}) == 2
        assert len({round(b.y0, 3) for b in boxes}) == 3
    finally:
        plt.close(fig)
