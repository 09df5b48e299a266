"""Command line of the MPI benchmark: ``mpiexec -n N python benchmark_mpi.py [options]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..registry import BUILTIN, default_backends, resolve, user_spec
from .config import Config
from .payloads import MESSAGE_BUDGET_MB, PAYLOADS
from .training_layout import check_array_mb

DESCRIPTION = """\
One writer (rank 0) and N-1 readers share a dictionary through each backend in turn;
every reader times each read, and checks what it read. Run under MPI with N >= 2:
    mpiexec -n 4 python benchmark_mpi.py
"""


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _names(text: str) -> list[str]:
    """One word of a list option: a name, or several joined by commas (the native
    harness's form), so that both harnesses take the same command line."""
    names = text.split(",")
    if not all(names):
        raise argparse.ArgumentTypeError(f"empty item in {text!r}")
    return names


def _sizes(text: str) -> list[int]:
    try:
        return [_positive(part) for part in _names(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"sizes are whole numbers, got {text!r}") from None


DEFAULT_SIZES = [10, 100, 1000, 10000]
DEFAULT_ARRAY_MB: list[float] = [1, 10, 100]


def _mib(text: str) -> float:
    """A size in MiB: whole (kept as int, as the JSON writes it) or fractional."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of MiB: {text!r}") from None
    try:
        check_array_mb(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return int(value) if value.is_integer() else value


def _mibs(text: str) -> list[float]:
    return [_mib(part) for part in _names(text)]


def _counts(text: str) -> list[int]:
    try:
        return [_positive(part) for part in _names(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"reader counts are whole numbers, got {text!r}") from None


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0 seconds, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="benchmark_mpi.py", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--backends", nargs="+", type=_names, metavar="NAME",
                   help=f"backends to run, in order: {', '.join(BUILTIN)} or module:Class, "
                        "space- or comma-separated (default: every built-in one available here)")
    p.add_argument("--backend", action="append", default=[], metavar="MODULE:CLASS",
                   dest="extra", help="also run this IPCBackend subclass (repeatable)")
    p.add_argument("--sizes", nargs="+", type=_sizes, metavar="N",
                   help="dict sizes in entries, space- or comma-separated "
                        "(default: 10 100 1000 10000)")
    p.add_argument("--payload", choices=PAYLOADS, default="seed",
                   help="seed: the original dict of --sizes entries; training: a trainer's "
                        "state with --array-mb MiB of float32 weights (docs/benchmark.md)")
    p.add_argument("--array-mb", nargs="+", type=_mibs, metavar="MIB",
                   help="--payload training: MiB of weights per case, space- or "
                        "comma-separated, fractions allowed (default: 1 10 100)")
    p.add_argument("--message-budget-mb", type=_positive, default=MESSAGE_BUDGET_MB,
                   metavar="MIB",
                   help="--payload training: MiB of messages one case of a message-per-read "
                        "backend may send before its timed reads are capped "
                        f"(default: {MESSAGE_BUDGET_MB})")
    p.add_argument("--iterations", type=_positive, default=100,
                   help="timed reads per reader (default: 100)")
    p.add_argument("--warmup", type=_non_negative, default=5,
                   help="untimed reads per reader, and untimed writes (default: 5)")
    p.add_argument("--repeat", type=_positive, default=5,
                   help="timed writes (default: 5; message backends: 1, see the docs)")
    p.add_argument("--seed", type=_non_negative, default=0,
                   help="payload seed (0 = the original data) and random-key seed")
    p.add_argument("--output", type=Path, default=Path("benchmark_results.json"),
                   help="result file (default: benchmark_results.json)")
    p.add_argument("--workload", choices=["full", "get"], default="full",
                   help="full: each read is read(); get: get(one random key)")
    p.add_argument("--idle-wait", action=argparse.BooleanOptionalAction, default=None,
                   help="ranks waiting for others sleep instead of spinning "
                        "(default: on when ranks outnumber CPU cores)")
    p.add_argument("--redis-url", metavar="URL",
                   help="the redis peer uses this server (redis://host:port/db or "
                        "unix:///path.sock) instead of starting its own; every rank "
                        "connects to it")
    p.add_argument("--timeout", type=_seconds, default=300.0,
                   help="seconds any one phase may take before the job is aborted "
                        "(default: 300)")
    p.add_argument("--readers", nargs="+", type=_counts, metavar="K",
                   help="run each case with the first K readers, for each K given "
                        "(each at most ranks - 1; default: every rank but the writer)")
    p.add_argument("--updates", type=_non_negative, default=20,
                   help="writes of the update-latency phase after the timed reads "
                        "(default: 20; 0: no such phase)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--zmq-host", metavar="ADDRESS",
                       help="when readers are on other nodes, the ZeroMQ backends bind "
                            "tcp:// on this address of the writer's node (default: the "
                            "address its host name resolves to)")
    where.add_argument("--zmq-interface", metavar="NAME",
                       help="the same, as the IPv4 address of this network interface")
    return p


def parse_args(argv: list[str]) -> Config:
    """Exits with status 2 and a message naming the problem on a bad command line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.seed >= 1 << 64:
        parser.error(f"--seed must fit in 64 unsigned bits, got {args.seed}")
    counts = [k for group in args.readers for k in group] if args.readers else None
    if counts is not None and len(set(counts)) != len(counts):
        parser.error(f"--readers lists a count twice: {', '.join(map(str, counts))}")
    unavailable: list[str] = []
    skip: dict[str, str] = {}
    try:
        if args.backends is None:
            specs, missing = default_backends()
            # A peer whose package is missing stays in the run, as skipped records: the
            # result file says it was not measured, and why.
            skip = {n: r for n, r in missing.items() if BUILTIN[n].implementation == "peer"}
            specs = [s for s in BUILTIN.values() if s in specs or s.name in skip]
            unavailable = [r for n, r in missing.items() if n not in skip]
            named = []
        else:
            specs = named = [resolve(name) for group in args.backends for name in group]
        extra = [user_spec(target) for target in args.extra]
    except ValueError as e:
        parser.error(str(e))
    specs, named = specs + extra, named + extra
    # Asked for by name, a backend that cannot run is an error, not a silent skip; a
    # peer is recorded as skipped instead, its optional package being optional.
    for spec in named:
        reason = spec.unavailable_reason()
        if reason is not None and spec.implementation == "peer":
            skip[spec.name] = reason
        elif reason is not None:
            parser.error(f"cannot run {reason}")
    names = [spec.name for spec in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        parser.error(f"backend named twice: {', '.join(duplicates)}")
    if not specs:
        parser.error("no backend to run")
    array_mb: list[float] | None = None
    if args.payload == "training":
        if args.sizes:
            parser.error("--sizes counts the entries of the seed payload; "
                         "with --payload training give --array-mb")
        array_mb = [mb for group in args.array_mb for mb in group] \
            if args.array_mb else DEFAULT_ARRAY_MB
    elif args.array_mb:
        parser.error("--array-mb applies to --payload training only")
    return Config(
        backends=specs,
        sizes=([] if array_mb is not None else
               [n for group in args.sizes for n in group] if args.sizes else DEFAULT_SIZES),
        iterations=args.iterations,
        warmup=args.warmup,
        repeat=args.repeat,
        seed=args.seed,
        output=args.output,
        workload=args.workload,
        idle_wait=args.idle_wait,
        timeout=args.timeout,
        payload=args.payload,
        array_mb=array_mb,
        message_budget_mb=args.message_budget_mb,
        unavailable=tuple(unavailable),
        skip=skip,
        backend_options={} if args.redis_url is None else {"redis_url": args.redis_url},
        reader_counts=counts,
        updates=args.updates,
        zmq_host=args.zmq_host,
        zmq_interface=args.zmq_interface,
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of benchmark_mpi.py; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    config = parse_args(argv)
    from .run import run  # imports mpi4py, whose import starts MPI

    return run(config, [Path(sys.argv[0]).name, *argv])

