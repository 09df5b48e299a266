"""``ipc-bench`` (also ``python -m ipc_benchmark``): run the MPI benchmark, analyse its
result files, and remove what a crashed run left behind.

    ipc-bench run [-n RANKS] [--mpiexec PATH] [benchmark options ...]
    ipc-bench analyze [FILE ...] [--out DIR]
    ipc-bench clean
    ipc-bench --version

Every subcommand is a front for code that lives elsewhere in the package: ``run``
launches the harness (what benchmark_mpi.py runs) under mpiexec, ``analyze`` is
analyze_results.py, ``clean`` is ``python -m ipc_benchmark.leftovers --remove``.
"""

from __future__ import annotations

import argparse
import importlib.util
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from ._core import PREFIX, __version__

PROG = "ipc-bench"
#: The module every rank runs: the harness, as benchmark_mpi.py runs it. A module rather
#: than the script, so that `run` works from an installed wheel, without the repository.
HARNESS_MODULE = "ipc_benchmark.harness"
MIN_RANKS = 2  # one writer and at least one reader


def find_mpiexec(python: str | None = None, path: str | None = None) -> str | None:
    """The mpiexec to launch ranks with, or None.

    The one next to ``python`` (default: this interpreter) comes first: in a virtual
    environment or a conda/pixi environment that is the MPI mpi4py was built for, which
    a different mpiexec found earlier on PATH may not be. Then PATH (or ``path``).
    """
    python = sys.executable if python is None else python
    # Not resolved: a venv's bin/python is a symlink to the base interpreter, and the
    # mpiexec we want sits beside the link, not beside its target.
    beside = shutil.which("mpiexec", path=str(Path(python).parent))
    return beside or shutil.which("mpiexec", path=path)


def run_command(mpiexec: str, ranks: int, benchmark_args: list[str],
                mpiexec_args: list[str] | None = None) -> list[str]:
    """The command line that `ipc-bench run` launches."""
    return [mpiexec, *(mpiexec_args or []), "-n", str(ranks),
            sys.executable, "-m", HARNESS_MODULE, *benchmark_args]


def _exit_status(returncode: int) -> int:
    # A child killed by a signal reports -SIGNUM; a shell would say 128 + SIGNUM.
    return 128 - returncode if returncode < 0 else returncode


def _say(text: str) -> None:
    print(f"{PROG}: {text}", file=sys.stderr, flush=True)


def _run(args: argparse.Namespace, benchmark_args: list[str]) -> int:
    if args.ranks < MIN_RANKS:
        _say(f"run: -n/--ranks must be at least {MIN_RANKS} (one writer and one or more "
             f"readers), got {args.ranks}")
        return 2
    # Check the benchmark's options here, once, rather than let every rank print the same
    # error. Only their syntax: resolving the backends would import mpi4py, which starts
    # MPI in this launcher process.
    from .harness.cli import build_parser

    harness_parser = build_parser()
    harness_parser.prog = f"{PROG} run"
    harness_parser.parse_args(benchmark_args)  # exits with status 2 and the reason

    if importlib.util.find_spec("mpi4py") is None:
        _say(f"mpi4py is not installed for {sys.executable}: install the mpi extra "
             "(pip install 'ipc-benchmark[mpi]', which brings MPICH too) or run make setup")
        return 2
    mpiexec = args.mpiexec or find_mpiexec()
    if mpiexec is None:
        _say(f"no mpiexec next to {sys.executable} or on PATH: install an MPI (pip "
             "install 'ipc-benchmark[mpi]' brings MPICH's), or name one with --mpiexec")
        return 2
    if shutil.which(mpiexec) is None:
        _say(f"--mpiexec {mpiexec}: not found, or not executable")
        return 2
    command = run_command(mpiexec, args.ranks, benchmark_args, args.mpiexec_arg)
    _say(f"running {shlex.join(command)}")
    proc = subprocess.Popen(command)
    try:
        return _exit_status(proc.wait())
    except KeyboardInterrupt:
        # Ctrl-C reached mpiexec as well (same process group), and mpiexec stops its
        # ranks; wait for that instead of killing mpiexec, which would orphan them.
        return _exit_status(proc.wait())


def _analyze(analysis_args: list[str]) -> int:
    from .analysis import main as analysis_main

    return analysis_main(analysis_args)


def _clean() -> int:
    from .leftovers import remove_leftovers

    removed = remove_leftovers()
    for path in removed:
        print(f"removed {path}")
    if not removed:
        print(f"nothing to clean: no {PREFIX}* entries in /dev/shm or the temp dir")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, allow_abbrev=False,
        description="Shared dictionaries for one writer and many readers: run the MPI "
                    "benchmark, analyse its results, clean up after a crash.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run", allow_abbrev=False,
        help="run the MPI benchmark (mpiexec -n N ... benchmark)",
        description="Launch the MPI benchmark: rank 0 writes, every other rank reads, "
                    "every backend in turn. Options other than the ones below go to the "
                    "benchmark on every rank; `python -m ipc_benchmark.harness --help` "
                    "lists them (--backends, --sizes, --iterations, --output, ...).",
        epilog="example: ipc-bench run -n 2 --sizes 10 100 --backends shm py-shm",
    )
    # allow_abbrev=False: an abbreviation must never take an option meant for the
    # benchmark (--r could be --ranks here or --repeat there).
    run.add_argument("-n", "--ranks", type=int, default=4,
                     help="MPI ranks: 1 writer + (N - 1) readers (default: 4)")
    run.add_argument("--mpiexec", metavar="PATH",
                     help="the mpiexec to use (default: the one next to this Python, "
                          "else the first on PATH)")
    run.add_argument("--mpiexec-arg", action="append", default=[], metavar="ARG",
                     help="pass ARG to mpiexec, before -n (repeatable; write "
                          "--mpiexec-arg=--oversubscribe for one that starts with -)")

    # add_help=False: `ipc-bench analyze --help` shows the analysis' own options.
    sub.add_parser("analyze", add_help=False,
                   help="figures, CSVs and report.md from result files "
                        "(the options of analyze_results.py; see analyze --help)")
    sub.add_parser(
        "clean",
        help=f"remove what a crashed run left ({PREFIX}* in /dev/shm and the temp dir)",
        description=f"Remove every entry whose name starts with {PREFIX!r} (or "
                    f"'sm_{PREFIX}', shared-memory-dict's segments) from /dev/shm and the "
                    "temp dir: what a crashed run or test left behind, stopping the Redis "
                    "server a peer's directory names if it still runs. Nothing "
                    "else is touched. Live stores have such names too, so run it only "
                    "when no benchmark or program using the backends is running.",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``ipc-bench`` and ``python -m ipc_benchmark``; the exit status."""
    parser = build_parser()
    args, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if args.command == "run":
        return _run(args, rest)
    if args.command == "analyze":
        return _analyze(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return _clean()

