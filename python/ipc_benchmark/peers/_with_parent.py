"""Runs a server so that it dies with the writer that started it:
``python -m ipc_benchmark.peers._with_parent PARENT_PID PROGRAM [ARGS...]``.

Sets the parent-death signal (``_private.exit_with_parent``), then execs ``PROGRAM`` in
this same process, which keeps it: the pid the writer records is the server's. Used for
``redis-server``, which cannot set it itself, so a SIGKILLed writer leaves no server.
"""

from __future__ import annotations

import os
import sys

from ._private import exit_with_parent


def main(argv: list[str]) -> int:
    if len(argv) < 3 or not argv[1].isdigit():
        print("usage: python -m ipc_benchmark.peers._with_parent PARENT_PID PROGRAM [ARGS...]",
              file=sys.stderr)
        return 2
    exit_with_parent(int(argv[1]))
    try:
        os.execv(argv[2], argv[2:])
    except OSError as e:
        print(f"cannot run {argv[2]}: {e}", file=sys.stderr)
        return 127
    return 0  # not reached: execv does not return


if __name__ == "__main__":
    sys.exit(main(sys.argv))
