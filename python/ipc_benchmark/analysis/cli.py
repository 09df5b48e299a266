"""Command line of analyze_results.py: ``python analyze_results.py [FILES...] [--out DIR]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .dataset import load_all
from .load import InputError
from .recommend import recommend
from .report import write_report
from .tables import write_csvs

PROG = "analyze_results.py"
DEFAULT_INPUT = Path("benchmark_results.json")
#: Where the native harness writes by default (docs/native-harness.md).
NATIVE_DEFAULT = Path("benchmark_results_rust.json")

DESCRIPTION = """\
Figures, CSV summaries and report.md (with a recommendation computed from the data) from
result files of benchmark_mpi.py and/or the native harness, ipc-mpi-bench. Give a file of
each harness to compare them.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="*", type=Path, metavar="FILE",
                   help=f"result files (default: {DEFAULT_INPUT})")
    p.add_argument("--out", type=Path, default=Path("benchmark_plots"), metavar="DIR",
                   help="where the figures, CSVs and report.md go (default: benchmark_plots)")
    return p


def say(kind: str, text: str) -> None:
    for line in text.splitlines():
        print(f"{PROG}: {kind}: {line}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Returns the exit status: 0, or 1 when the input or the output directory cannot be
    used (argparse exits with 2 for a bad command line)."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    files: list[Path] = args.files or [DEFAULT_INPUT]
    if not args.files and NATIVE_DEFAULT.exists():
        say("note", f"{NATIVE_DEFAULT} is here too: to compare the harnesses, name both "
                    f"files: {PROG} {DEFAULT_INPUT} {NATIVE_DEFAULT}")
    try:
        dataset = load_all(files)
    except InputError as e:
        say("error", str(e))
        return 1
    for warning in dataset.warnings:
        say("warning", warning)
    out: Path = args.out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        say("error", f"cannot create the output directory {out}: {e.strerror or e}")
        return 1
    try:
        # matplotlib is an optional dependency (the "analyze" extra), and slow to import:
        # only imported once the input is known to be good.
        from .plots import all_plots
    except ImportError as e:
        say("error", f"cannot draw the figures: {e} (install the analyze extra: "
                     "pip install 'ipc-benchmark[analyze]', or make setup)")
        return 1
    try:
        csvs = write_csvs(dataset, out)
        plots = all_plots(dataset, out)
        recs = recommend(dataset)
        report = write_report(out / "report.md", dataset, recs, plots)
    except OSError as e:
        say("error", f"cannot write into {out}: {e.strerror or e}"
                     + (f" ({e.filename})" if e.filename else ""))
        return 1
    written = [*csvs, *(p.path for p in plots if p.path is not None), report]
    print(f"wrote {len(written)} files into {out}/: "
          + " ".join(path.name for path in written))
    for p in plots:
        if p.path is None:
            print(f"  {p.name}: {p.caption}")
    for r in recs:
        print(f"  {r.question}: {r.backend or 'none'}")
    return 0
