"""The MPI benchmark: rank 0 writes, the other ranks read, every backend, every size.

    mpiexec -n 4 python benchmark_mpi.py [--backends ...] [--sizes ...] [--help]

All logic lives in ipc_benchmark.harness; docs/results-schema.md describes the output.
"""

import sys

from ipc_benchmark.harness import main

if __name__ == "__main__":
    sys.exit(main())
