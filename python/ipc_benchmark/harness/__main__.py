"""``python -m ipc_benchmark.harness``: the MPI benchmark, as benchmark_mpi.py runs it,
for an installed package without the repository's script. ``ipc-bench run`` launches
this on every rank."""

import sys

from .cli import main

if __name__ == "__main__":
    # Under -m, argv[0] is the path of this file; the result file's command line (its
    # first word is argv[0]'s name) should say what was run instead: the module.
    sys.argv[0] = "ipc_benchmark.harness"
    sys.exit(main())
