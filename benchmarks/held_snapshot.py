"""What taking a snapshot costs (``store.snapshot()`` then ``release()``), per store,
against a full ``read()`` and one memcpy of the blob's bytes, for the seed payload and for
float32 weights. Writer and reader in one process; medians of ``--samples`` calls, with
the 10th-90th percentiles. The ratio is snapshot / read (below 1: cheaper than reading).

    python benchmarks/held_snapshot.py [--entries 10000] [--mib 100] [--samples 15]
"""

from __future__ import annotations

import argparse
import uuid

import numpy as np
from _bench import fmt, median, sample, spread

from ipc_benchmark import (
    LMDBBackend,
    SharedMemoryBackend,
    ZeroMQBackend,
    generate_test_dict,
    serialize,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10000)
    parser.add_argument("--mib", type=float, default=100)
    parser.add_argument("--samples", type=int, default=15)
    args = parser.parse_args()
    payloads = {
        f"seed {args.entries}": generate_test_dict(args.entries),
        f"{args.mib:g} MiB f32": {
            "weights": np.ones(int(args.mib * 2**20 / 4), np.float32),
            "step": np.int64(1),
        },
    }
    print(f"{'store':14} {'payload':16} {'memcpy':>20} {'snapshot':>20} {'read':>20} ratio")
    for cls in (SharedMemoryBackend, ZeroMQBackend, LMDBBackend):
        name = f"bench_held_{uuid.uuid4().hex[:8]}"
        w, r = cls(), cls()
        w.initialize(name, True)
        r.initialize(name, False)
        try:
            for label, data in payloads.items():
                w.write(data)
                r.wait_for_update(int(w.version) - 1, timeout=30)
                blob = np.frombuffer(serialize(data), np.uint8)
                copy = sample(lambda blob=blob: np.copy(blob), args.samples)
                held = sample(lambda: r.snapshot().release(), args.samples)
                read = sample(r.read, args.samples)
                cells = [f"{fmt(median(x))} ({fmt(spread(x)[0])}-{fmt(spread(x)[1])})"
                         for x in (copy, held, read)]
                print(f"{r.get_name():14} {label:16} {cells[0]:>20} {cells[1]:>20} "
                      f"{cells[2]:>20} {median(held) / median(read):.3f}")
        finally:
            r.cleanup()
            w.cleanup()


if __name__ == "__main__":
    main()
