"""Find and remove what this project left in /dev/shm and the temp dir.

Every OS object the project creates (shared-memory segments, LMDB temp dirs, socket
files, the private directories of the redis and manager peers) has a name starting with
``PREFIX``, so this touches nothing else. The one exception is shared-memory-dict, which
puts ``sm_`` before the names it is given: ``sm_<PREFIX>...`` in /dev/shm is ours too.
A peer's directory that names a server process still running (a crashed writer's Redis
server) gets that process stopped before the directory goes.

    python -m ipc_benchmark.leftovers [--check | --remove]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from ._core import PREFIX
from .peers import SMD_SEGMENT_PREFIX
from .peers._private import stop_leftover_server

SHM_DIR = Path("/dev/shm")
#: What our names may start with: ours, and shared-memory-dict's segments of ours.
PREFIXES = (PREFIX, SMD_SEGMENT_PREFIX + PREFIX)


def find_leftovers() -> list[Path]:
    """Every path under /dev/shm or the temp dir whose name starts with one of PREFIXES."""
    found: list[Path] = []
    for base in (SHM_DIR, Path(tempfile.gettempdir())):
        if base.is_dir():
            found.extend(sorted(p for p in base.iterdir() if p.name.startswith(PREFIXES)))
    return found


def remove_leftovers() -> list[Path]:
    """Remove what find_leftovers() finds; return what was removed."""
    removed = []
    for path in find_leftovers():
        try:
            if path.is_dir() and not path.is_symlink():
                pid = stop_leftover_server(path)
                if pid is not None:
                    print(f"stopped server process {pid} of {path}", file=sys.stderr)
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            continue  # its owner removed it meanwhile
        removed.append(path)
    return removed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if anything is left")
    mode.add_argument("--remove", action="store_true", help="remove what is left")
    args = parser.parse_args(argv)
    if args.remove:
        for path in remove_leftovers():
            print(f"removed {path}")
        return 0
    left = find_leftovers()
    for path in left:
        print(f"left behind: {path}", file=sys.stderr if args.check else sys.stdout)
    if args.check and left:
        print(f"{len(left)} leftover(s) with prefix {PREFIX!r}: a test or a run leaked them "
              "(remove with `python -m ipc_benchmark.leftovers --remove`)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
