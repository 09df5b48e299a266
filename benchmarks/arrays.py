"""How a read of the training payload grows with its arrays, shared memory and ZeroMQ.

    python benchmarks/arrays.py [--sizes 1 10 100] [--reads 200]

One writer and one reader in this process (reads of these stores do not depend on
where the writer is). For each size of weights (MiB of float32), the median `read()`:
warm (back to back), and cold (after touching 256 MiB of other memory, which is what a
reader that uses its arrays between reads sees, and what the MPI harness's content check
does). Printed with the ratio to the smallest size: a read that copied the weights would
grow 100x from 1 to 100 MiB; a zero-copy read should not grow at all.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid

import numpy as np

from ipc_benchmark import SharedMemoryBackend, ZeroMQBackend
from ipc_benchmark.harness import training

STORES = {"shm": SharedMemoryBackend, "zmq": ZeroMQBackend}
EVICT_BYTES = 256 << 20


def medians(kind: str, mb: float, reads: int, evict: np.ndarray) -> tuple[float, float]:
    """(warm, cold) median read time in µs."""
    name = f"arrays_{uuid.uuid4().hex[:8]}"
    writer, reader = STORES[kind](), STORES[kind]()
    try:
        writer.initialize(name, True)
        reader.initialize(name, False)
        data = training.generate(mb, 0)
        writer.write(data)
        while reader.read() is None:  # ZeroMQ delivers in the background
            time.sleep(0.001)
        warm, cold = [], []
        for i in range(reads):
            if i % 2:
                evict += 1  # touch every page of the other memory
            start = time.perf_counter_ns()
            snapshot = reader.read()
            (cold if i % 2 else warm).append(time.perf_counter_ns() - start)
            assert snapshot is not None and snapshot["step"] == data["step"]
            del snapshot
        return statistics.median(warm) / 1e3, statistics.median(cold) / 1e3
    finally:
        reader.cleanup()
        writer.cleanup()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=float, nargs="+", default=[1, 10, 100])
    p.add_argument("--reads", type=int, default=200)
    args = p.parse_args()
    evict = np.zeros(EVICT_BYTES, np.uint8)
    # ratio: to the same store's read of the smallest size
    print(f"{'store':6} {'MiB':>6} {'warm µs':>9} {'ratio':>7} {'cold µs':>9} {'ratio':>7}")
    for kind in STORES:
        base: tuple[float, float] | None = None
        for mb in args.sizes:
            warm, cold = medians(kind, mb, args.reads, evict)
            base = base or (warm, cold)
            print(f"{kind:6} {mb:6g} {warm:9.2f} {warm / base[0]:6.2f}x {cold:9.2f} "
                  f"{cold / base[1]:6.2f}x")


if __name__ == "__main__":
    main()
