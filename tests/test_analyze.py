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
           "write_summary.csv", "read_summary.csv", "memory_summary.csv", "speedup.png",
           "harness_comparison.png", "latency_distribution.png", "report.md"]
#: Figures drawn only from what schema 2 added: record field -> figure.
V2_FIGURES = {"memory": "memory.png", "update_latency": "update_latency.png"}
#: The facts the recommendation's properties table must encode, stated independently.
PERSISTENT = {"lmdb", "py-lmdb"}
ACROSS_MACHINES = {"zmq", "zmq-push", "py-zmq", "mpi-bcast"}



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
    # Only the tests of real runs need MPI; those of made-up files (results_v2) do not.
    if MPIEXEC is None:
        pytest.skip("no mpiexec (install the mpi extra)")
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
    # The runs have one reader count (no scaling.png); memory and update latency once
    # the harness records them (schema 2).
    primary = doc(files.full)["results"]
    expected = expected + [name for key, name in V2_FIGURES.items()
                           if any(r.get(key) for r in primary)]
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
    # write, read and throughput, and the memory and update-latency figures drawn
    drawn = sum((out / name).exists() for name in V2_FIGURES.values())
    assert figures.count(note) == 3 + drawn


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
    v3 = edited(files.full, tmp_path / "v3.json", lambda d: d.update(schema_version=3))
    err = refused(files.get, v3)
    assert "v3.json: schema_version 3; this analysis reads versions 1 and 2" in err
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
                  lambda d: d["metadata"].update(cpu_cores=99))
    dataset = build([load(files.full), load(more)])
    assert any("is in" in w and "using" in w and "more.json" in w for w in dataset.warnings)
    assert any(w.startswith("the files differ in cpu_cores") for w in dataset.warnings)
    # Another reader count is another case (a point of the scaling curve), not a
    # duplicate; the settings still differ.
    def seven_readers(d: dict[str, Any]) -> None:
        d["metadata"].update(readers=7)
        for r in d["results"]:
            r["readers"] = 7

    other = edited(files.full, tmp_path / "other.json", seven_readers)
    dataset = build([load(files.full), load(other)])
    assert not any("is in" in w and "using" in w for w in dataset.warnings)
    assert any(w.startswith("the files differ in readers") for w in dataset.warnings)
    assert {r.readers for r in dataset.records} == {doc(files.full)["metadata"]["readers"], 7}


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


# ---- schema 2: payloads, reader counts, memory, update latency, peers --------------
#
# Made-up files (tests/results_v2.py), analysed in process or by the script: no MPI.

from tests import results_v2 as v2  # noqa: E402  (kept beside the tests that use it)

#: The figures drawn once per payload; the training payload's get a "_training" suffix.
PER_PAYLOAD = ["write_performance.png", "read_performance.png", "throughput.png",
               "speedup.png", "latency_distribution.png", "memory.png",
               "update_latency.png", "scaling.png"]
EVERY_BACKEND_HEADER = ["backend", "impl", "status", "verified", "read median", "read p99",
                        "write median", "write p99", "update median", "update p99",
                        "reads/s (all readers)", "peak RSS per reader"]


def write_doc(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document))
    return path


@pytest.fixture(scope="module")
def v2_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("v2")
    return (write_doc(tmp / "seed.json", v2.document("seed")),
            write_doc(tmp / "training.json", v2.document("training")))


@pytest.fixture(scope="module")
def v2_analyzed(v2_files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
                ) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("v2plots")
    proc = analyze(*v2_files, "--out", out)
    assert proc.returncode == 0, proc.stderr
    return proc, out


def section(report: str, title: str) -> str:
    return report.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def table_after(text: str, caption: str) -> list[list[str]]:
    """The Markdown table that follows the line ``caption``, as rows of cells (header
    first, alignment row dropped)."""
    lines = text.split(caption + "\n\n", 1)[1].splitlines()
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split(" | ")])
    return [rows[0]] + rows[2:]


def test_v2_every_figure_of_both_payloads(v2_analyzed: tuple[Any, Path]) -> None:
    proc, out = v2_analyzed
    figures = PER_PAYLOAD + [n.replace(".png", "_training.png") for n in PER_PAYLOAD]
    expected = figures + ["write_summary.csv", "read_summary.csv", "memory_summary.csv",
                          "training_targets.csv", "report.md"]
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)
    for name in figures:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, name
    report = (out / "report.md").read_text()
    for name in figures:
        assert f"![{name}]({name})" in report
    # One harness only: the comparison is skipped, and says so.
    assert "harness_comparison.png: skipped" in proc.stdout


def test_v2_tables_name_the_payload(v2_analyzed: tuple[Any, Path],
                                    v2_files: tuple[Path, Path]) -> None:
    _, out = v2_analyzed
    report = (out / "report.md").read_text()
    for title in ("Write time (median)", "Read time (median / p99)",
                  "Update latency (median / p99)", "Memory per reader"):
        body = section(report, title)
        assert "full workload, seed payload, 1 writer + 3 readers:" in body, title
        assert "full workload, training payload, 1 writer + 3 readers:" in body, title
        # Sizes in each payload's own unit.
        assert "| 10000 entries |" in body and "| 100 MiB |" in body, title
    with open(out / "read_summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    records = [r for p in v2_files for r in doc(p)["results"]]
    assert len(rows) == len(records)
    assert {(r["payload"], r["size_unit"]) for r in rows} == {("seed", "entries"),
                                                              ("training", "MiB")}
    assert {int(r["readers"]) for r in rows} == set(v2.READER_COUNTS)
    capped = [r for r in rows if r["read_cap_iterations"]]
    assert [(r["backend"], r["payload"], int(r["data_size"]), int(r["read_cap_iterations"]))
            for r in capped] == [v2.CAPPED[:4]] * len(v2.READER_COUNTS)
    no_latency = [r for r in rows if r["update_latency_note"]]
    assert {r["backend"] for r in no_latency} == {v2.NO_LATENCY[0]}
    assert all(r["update_latency_median_s"] == "" for r in no_latency)


def test_v2_memory_csv_has_every_rank(v2_analyzed: tuple[Any, Path],
                                      v2_files: tuple[Path, Path]) -> None:
    _, out = v2_analyzed
    with open(out / "memory_summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    expected = []
    for p in v2_files:
        for r in doc(p)["results"]:
            if r["status"] == "ok":
                mem = r["memory"]
                expected.append((r["payload"], r["backend"], r["data_size"], r["readers"],
                                 "writer", "", mem["writer"]["peak_rss"],
                                 mem["writer"]["rss_growth"]))
                expected += [(r["payload"], r["backend"], r["data_size"], r["readers"],
                              "reader", str(m["rank"]), m["peak_rss"], m["rss_growth"])
                             for m in mem["readers"]]
    got = [(r["payload"], r["backend"], int(r["data_size"]), int(r["readers"]), r["role"],
            r["rank"], int(r["peak_rss_bytes"]), int(r["rss_growth_bytes"])) for r in rows]
    assert sorted(got) == sorted(expected)
    assert any(g < 0 for *_, g in got)  # a negative growth survives as such


def test_v2_every_backend_table(v2_analyzed: tuple[Any, Path],
                                v2_files: tuple[Path, Path]) -> None:
    _, out = v2_analyzed
    body = section((out / "report.md").read_text(), "Every backend")
    for path in v2_files:
        d = doc(path)
        payload = d["metadata"]["config"]["payload"]
        unit = "MiB" if payload == "training" else "entries"
        for size in d["metadata"]["config"]["sizes"]:
            caption = (f"Python harness, full workload, {payload} payload, {size} {unit}, "
                       "1 writer + 3 readers:")
            table = table_after(body, caption)
            assert table[0] == EVERY_BACKEND_HEADER
            at = {r["backend"]: r for r in d["results"]
                  if r["data_size"] == size and r["readers"] == 3}
            rows = {row[0].strip("`"): row for row in table[1:]}
            assert set(rows) == set(v2.BACKENDS) == set(at)
            for backend, row in rows.items():
                r = at[backend]
                assert row[1] == r["implementation"]
                if r["status"] != "ok":
                    assert row[2].startswith(f"{r['status']}: {r['error'][:30]}")
                    assert row[4:] == ["-"] * 8
                    continue
                assert row[3] == "yes"
                assert all(c != "-" for c in row[4:8] + row[10:])
                if r["update_latency"] is None:
                    assert row[8:10] == ["-", "-"]
                if r["read_cap"] is not None:
                    assert row[2] == f"ok, reads capped at {r['read_cap']['iterations']}"
    assert f"`{v2.NO_LATENCY[0]}`: {v2.NO_LATENCY[1]}" in body


def our_best_and_peer_wins(document: dict[str, Any]) -> set[str]:
    """Peers whose read median beats every Rust backend's at some size (3 readers),
    computed here from the JSON."""
    winners = set()
    ok = [r for r in document["results"] if r["status"] == "ok" and r["readers"] == 3]
    for size in {r["data_size"] for r in ok}:
        at = [r for r in ok if r["data_size"] == size]
        ours = min(r["read"]["median"] for r in at if r["implementation"] == "rust")
        winners |= {r["backend"] for r in at
                    if r["implementation"] == "peer" and r["read"]["median"] < ours}
    return winners


@pytest.mark.parametrize("peer_wins", [True, False])
def test_v2_recommendation_says_where_a_peer_wins(tmp_path: Path, peer_wins: bool) -> None:
    document = v2.document("seed", peer_wins=peer_wins)
    winners = our_best_and_peer_wins(document)
    assert bool(winners) == peer_wins  # the fixture does what it says
    dataset = load_all([write_doc(tmp_path / "seed.json", document)])
    recommendation = section(render(dataset, recommend(dataset), []), "Recommendation")
    found = re.findall(r"^- Python harness, full workload, 1 writer \+ 3 readers: "
                       r"peer `([^`]+)` beats every Rust backend on full read at",
                       recommendation, re.M)
    assert set(found) == winners
    if peer_wins:
        # What it loses, from the data: the replica costs update latency and memory.
        line = next(line for line in recommendation.splitlines() if "`ultradict` beats" in line)
        losses = line.split("it loses on", 1)[1]
        assert "update latency (" in losses and "peak RSS per reader (" in losses
        assert answer(recommendation, "Fastest full read") == "ultradict"
    else:
        assert "No peer beats our best Rust backend on any measure" in recommendation
        assert "beats every Rust backend" not in recommendation


def test_v2_peers_get_their_own_comparison(tmp_path: Path) -> None:
    dataset = load_all([write_doc(tmp_path / "seed.json", v2.document("seed"))])
    report = render(dataset, recommend(dataset), [])
    peers = section(report, "Rust backends against the peers")
    # A seed-only dataset: the labels do not name the payload, as before schema 2.
    table = table_after(peers, "Python harness, full workload, 1 writer + 2 readers:")
    assert table[0] == ["backend", "vs peer", "entries", "read speedup", "write speedup",
                        "update latency speedup", "peer RSS / ours"]
    pairs = {(row[0].strip("`"), row[1].strip("`"), int(row[2])) for row in table[1:]}
    # Every Rust backend against every peer at every size both succeeded at.
    want = {(b, p, s) for b in ("shm", "lmdb", "zmq") for p in v2.PEERS
            for s in v2.SEED_SIZES if (p, "seed", s) != v2.FAILED[:3]}
    assert pairs == want
    # The reference comparison is unchanged: no peer in it.
    assert "`redis`" not in section(report, "Rust backends against their references")


def test_v2_scaling_table_and_skip(tmp_path: Path) -> None:
    dataset = load_all([write_doc(tmp_path / "seed.json", v2.document("seed"))])
    body = section(render(dataset, recommend(dataset), []), "Reader scaling")
    table = table_after(body, "Python harness, full workload, 10000 entries, "
                              "write median / reads per second of all readers together:")
    assert table[0] == ["backend", "1 reader", "2 readers", "3 readers"]
    rows = {row[0].strip("`"): row[1:] for row in table[1:]}
    assert rows[v2.FAILED[0]] == ["FAILED"] * 3  # failed at 10000 entries, every count
    assert all(cell.count(" / ") == 1 for cell in rows["shm"])
    one = load_all([write_doc(tmp_path / "one.json", v2.document("seed", readers=[3]))])
    assert "One reader count only" in section(render(one, recommend(one), []),
                                              "Reader scaling")


def test_v2_skipped_and_capped_are_noted(v2_files: tuple[Path, Path]) -> None:
    dataset = load_all(list(v2_files))
    backend, payload, size, reason = v2.SKIPPED
    assert any(f"{backend} was skipped at {size} MiB ({reason})" in w
               for w in dataset.warnings)
    assert any(f"{v2.CAPPED[0]} at {v2.CAPPED[2]} MiB: timed reads capped at "
               f"{v2.CAPPED[3]}" in w for w in dataset.warnings)
    failures = section(render(dataset, recommend(dataset), []), "Failures and skipped cases")
    assert f"`{backend}`, {size} MiB" in failures and f"skipped: {reason}" in failures


def test_v2_unknown_peer_backend_is_grouped_by_implementation(tmp_path: Path) -> None:
    """A peer that backends.json does not list still loads, and counts as a peer."""
    document = v2.document("seed", backends=["shm", "ultradict"])
    for r in document["results"]:
        if r["backend"] == "ultradict":
            r["backend"] = "some-new-peer"
    dataset = load_all([write_doc(tmp_path / "new.json", document)])
    recommendation = section(render(dataset, recommend(dataset), []), "Recommendation")
    assert "peer `some-new-peer` beats every Rust backend" in recommendation
    assert "| `some-new-peer` | unknown | unknown | unknown | not a built-in backend |" \
        in recommendation


def test_v2_bad_fields_are_named(tmp_path: Path) -> None:
    def broken(change: Any) -> str:
        document = v2.document("seed", backends=["shm"], readers=[1])
        change(document["results"][0])
        return refused(write_doc(tmp_path / "bad.json", document))

    assert "results[0] (shm).payload: expected 'seed' or 'training', got 'video'" in broken(
        lambda r: r.update(payload="video"))
    assert "results[0] (shm, 100 entries).size_unit: expected 'entries'" in broken(
        lambda r: r.update(size_unit="MiB"))
    assert "results[0] (shm, 100 entries).readers: expected an integer >= 1" in broken(
        lambda r: r.update(readers=0))
    assert "results[0] (shm, 100 entries).memory.readers[0].peak_rss: expected an " \
           "integer >= 0" in broken(lambda r: r["memory"]["readers"][0].update(peak_rss=-1))
    assert "results[0] (shm, 100 entries).update_latency.p99: expected a non-negative " \
           "number" in broken(lambda r: r["update_latency"].update(p99=None))
    assert "results[0] (shm, 100 entries).read_cap.iterations: expected an integer >= 1" \
        in broken(lambda r: r.update(read_cap={"iterations": 0, "reason": "x"}))


def test_schema_1_files_still_load_and_analyze(tmp_path: Path) -> None:
    old = write_doc(tmp_path / "v1.json", v2.as_version_1(v2.document("seed")))
    dataset = load_all([old])
    assert {r.payload for r in dataset.records} == {"seed"}
    assert {r.readers for r in dataset.records} == {3}  # metadata.readers
    assert all(r.memory is None and r.update_latency is None for r in dataset.records)
    out = tmp_path / "plots"
    proc = analyze(old, "--out", out)
    assert proc.returncode == 0, proc.stderr
    produced = {p.name for p in out.iterdir()}
    assert {"write_performance.png", "read_performance.png", "throughput.png",
            "speedup.png", "latency_distribution.png", "write_summary.csv",
            "read_summary.csv", "memory_summary.csv", "report.md"} <= produced
    assert not produced & {"memory.png", "update_latency.png", "scaling.png"}
    assert not any(name.endswith("_training.png") for name in produced)
    report = (out / "report.md").read_text()
    assert "**memory.png**: skipped: no record with memory measured" in report
    assert "**scaling.png**: skipped: one reader count only (3)" in report
    # The seed's tables as they were: no payload in the labels of a seed-only dataset.
    assert "Python harness, full workload, 1 writer + 3 readers:" in section(
        report, "Write time (median)")
    assert "seed payload" not in report.split("## Recommendation", 1)[1]


def test_stale_figures_of_an_absent_payload_are_removed(v2_files: tuple[Path, Path],
                                                        tmp_path: Path) -> None:
    (tmp_path / "memory_training.png").write_bytes(b"stale")
    (tmp_path / "training_targets.csv").write_bytes(b"stale")
    proc = analyze(v2_files[0], "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "memory_training.png").exists()
    assert not (tmp_path / "training_targets.csv").exists()
    assert "Training payload against the issue's targets" not in (
        tmp_path / "report.md").read_text()
    assert (tmp_path / "memory.png").exists()


def test_v2_harness_comparison_of_both_payloads(tmp_path: Path) -> None:
    ours = ["shm", "lmdb", "zmq"]
    inputs = [write_doc(tmp_path / f"{h}-{p}.json",
                        v2.document(p, backends=ours if h == "rust" else None, harness=h))
              for h in ("python", "rust") for p in ("seed", "training")]
    out = tmp_path / "plots"
    proc = analyze(*inputs, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert (out / "harness_comparison.png").exists()
    body = section((out / "report.md").read_text(),
                   "Python harness against the native harness")
    table = table_after("lead\n\n" + body.strip(), "lead")
    assert table[0][:3] == ["backend", "workload", "size"]
    got = {(row[0].strip("`"), row[1], row[2]) for row in table[1:]}
    want = {(b, f"full, {p}", f"{s} {unit}") for b in ours
            for p, sizes, unit in (("seed", v2.SEED_SIZES, "entries"),
                                   ("training", v2.ARRAY_MB, "MiB")) for s in sizes}
    assert got == want


# ---- the training payload's targets (issue 18), computed here from the JSON -----------

TARGETS = "Training payload against the issue's targets"
TARGETS_HEADER = ["target", "measured ratio", "limit", "met", "numerator", "denominator"]


def expected_targets(document: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """Target name -> (ratio, limit), from the records at the most readers, written out
    here from the issue's text, independently of targets.py."""
    readers = max(r["readers"] for r in document["results"])
    at = {(r["backend"], r["data_size"]): r for r in document["results"]
          if r["readers"] == readers and r["status"] == "ok"}
    sizes = sorted(document["metadata"]["config"]["array_mb"])
    small, large = sizes[0], sizes[-1]

    def med(backend: str, size: float, block: str) -> float:
        return float(at[backend, size][block]["median"])

    def name(size: float) -> str:
        return f"{size:g}"

    want = {}
    for ours, ref in (("shm", "py-shm"), ("zmq", "py-zmq")):
        if (ref, large) in at:
            want[f"`{ours}` read / `{ref}` read, {name(large)} MiB"] = (
                med(ours, large, "read") / med(ref, large, "read"), 0.01)
        want[f"`{ours}` read, {name(large)} / {name(small)} MiB"] = (
            med(ours, large, "read") / med(ours, small, "read"), 3.0)
    for size in sizes:
        want[f"`lmdb` read / memcpy, {name(size)} MiB"] = (
            med("lmdb", size, "read") / med("lmdb", size, "memcpy"), 1.5)
        want[f"`shm` write / memcpy, {name(size)} MiB"] = (
            med("shm", size, "write") / med("shm", size, "memcpy"), 1.5)
        if ("py-shm", size) in at:
            want[f"`shm` write / `py-shm` write, {name(size)} MiB"] = (
                med("shm", size, "write") / med("py-shm", size, "write"), 0.5)
    return want


def target_table(report: str) -> dict[str, list[str]]:
    table = table_after(section(report, TARGETS),
                        "Python harness, full workload, training payload, "
                        "1 writer + 3 readers:")
    assert table[0] == TARGETS_HEADER
    return {row[0]: row[1:] for row in table[1:]}


def test_v2_training_targets_are_computed_from_the_data(v2_analyzed: tuple[Any, Path],
                                                        v2_files: tuple[Path, Path]) -> None:
    _, out = v2_analyzed
    want = expected_targets(doc(v2_files[1]))
    rows = target_table((out / "report.md").read_text())
    assert set(rows) == set(want)
    for target, (ratio, limit) in want.items():
        measured, shown_limit, met, numerator, denominator = rows[target]
        assert measured == f"{ratio:.3g}x", target
        assert shown_limit == f"<= {limit:g}x", target
        assert met == ("yes" if ratio <= limit else "no"), target
        assert numerator.endswith(("ms", "us", "ns", " s")), target
        assert denominator.endswith(("ms", "us", "ns", " s")), target
    # The fixture exercises both outcomes.
    assert {row[2] for row in rows.values()} == {"yes", "no"}
    with open(out / "training_targets.csv", newline="") as f:
        csv_rows = {r["target"]: r for r in csv.DictReader(f)}
    assert set(csv_rows) == {t.replace("`", "") for t in want}
    for target, (ratio, limit) in want.items():
        row = csv_rows[target.replace("`", "")]
        assert float(row["ratio"]) == pytest.approx(ratio, rel=1e-12)
        assert float(row["limit"]) == limit
        assert row["met"] == ("yes" if ratio <= limit else "no")
        assert float(row["numerator_s"]) / float(row["denominator_s"]) == \
            pytest.approx(ratio, rel=1e-12)
        assert (row["harness"], row["payload"], row["readers"]) == ("python", "training", "3")


def test_v2_training_target_with_a_missing_or_failed_figure(tmp_path: Path) -> None:
    document = v2.document("training", backends=["shm", "lmdb", "zmq", "py-shm"])
    # No py-zmq at all; py-shm failed at the largest size.
    for r in document["results"]:
        if r["backend"] == "py-shm" and r["data_size"] == v2.ARRAY_MB[-1]:
            r.update(status="failed", error="rank 1: MemoryError", verified=False)
    dataset = load_all([write_doc(tmp_path / "training.json", document)])
    rows = target_table(render(dataset, recommend(dataset), []))
    large = v2.ARRAY_MB[-1]
    zmq = rows[f"`zmq` read / `py-zmq` read, {large} MiB"]
    assert zmq[0] == f"missing: no `py-zmq` record at {large} MiB"
    assert zmq[2] == "-" and zmq[4] == zmq[0]
    shm = rows[f"`shm` read / `py-shm` read, {large} MiB"]
    assert shm[0] == f"missing: `py-shm` failed at {large} MiB" and shm[2] == "-"
    write = rows[f"`shm` write / `py-shm` write, {large} MiB"]
    assert write[0] == f"missing: `py-shm` failed at {large} MiB"
    # The other targets still have their ratios.
    want = expected_targets(document)
    assert all(rows[t][0] == f"{ratio:.3g}x" for t, (ratio, _) in want.items())


def test_v2_fractional_sizes_load_and_label(tmp_path: Path) -> None:
    sizes = [0.25, 1.0, 2.5]
    document = v2.document("training", array_mb=sizes)
    dataset = load_all([write_doc(tmp_path / "training.json", document)])
    # 1.0 MiB is the size 1: an int, as a whole number of MiB is written.
    assert sorted({r.data_size for r in dataset.records}) == [0.25, 1, 2.5]
    assert {type(r.data_size) for r in dataset.records if r.data_size == 1} == {int}
    report = render(dataset, recommend(dataset), [])
    write = table_after(section(report, "Write time (median)"),
                        "Python harness, full workload, training payload, "
                        "1 writer + 3 readers:")
    assert write[0][2:] == ["0.25 MiB", "1 MiB", "2.5 MiB"]
    rows = target_table(report)
    assert set(rows) == set(expected_targets(document))
    assert "`shm` read, 2.5 / 0.25 MiB" in rows
    # Entries stay whole: a fractional count of entries is refused, naming the field.
    seed = v2.document("seed", backends=["shm"], readers=[1])
    seed["results"][0]["data_size"] = 2.5
    assert "results[0].data_size: expected an integer >= 1, got 2.5" in refused(
        write_doc(tmp_path / "seed.json", seed))
    training = v2.document("training", backends=["shm"], readers=[1])
    training["results"][0]["data_size"] = -0.5
    assert "results[0].data_size: expected a number > 0, got -0.5" in refused(
        write_doc(tmp_path / "bad.json", training))
