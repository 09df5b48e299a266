"""Codec vs pickle (protocol 5) on the benchmark payload, in one process, GC enabled.

    python benchmarks/codec.py [--sizes 10 100 ...] [--repeat N]

Prints the median encode and decode time of each and the ratio ours/pickle (below 1 is
faster). Ours and pickle are timed alternately, after one warm-up call each, and the
median reported, with the 10th-90th percentile spread of our codec's times.

`deserialize` reuses the root-key strings of the previous blob when they are the same
(a reader decoding successive snapshots of one state dict). The last column is the
decode ratio with that reuse defeated: every call decodes a blob whose keys differ from
the previous one's, as a first read does.
"""

from __future__ import annotations

import argparse
import itertools
import pickle
import statistics
import time
from typing import Any, Callable

from ipc_benchmark.utils import deserialize, generate_test_dict, serialize


def paired(ours: Callable[[], Any], theirs: Callable[[], Any], repeat: int) -> tuple[list[float], list[float]]:
    """Times ``ours`` and ``theirs`` alternately, in µs, after one warm-up call each:
    drift on a busy machine then hits both alike. The order flips every round."""
    ours(), theirs()  # warm-up: first-touch page faults and caches
    a: list[float] = []
    b: list[float] = []
    clock = time.perf_counter_ns
    for i in range(repeat):
        for fn, out in ((ours, a), (theirs, b)) if i % 2 == 0 else ((theirs, b), (ours, a)):
            start = clock()
            result = fn()
            end = clock()
            # Freeing the result is the caller's business, not the codec's: keep it out
            # of the timed region (for pickle and for us alike).
            del result
            out.append((end - start) / 1e3)
    return a, b


def spread(times: list[float]) -> str:
    q = statistics.quantiles(times, n=10)
    return f"{q[0]:.0f}-{q[-1]:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000, 10000, 100000])
    parser.add_argument("--repeat", type=int, default=0, help="samples per cell (default: by size)")
    args = parser.parse_args()

    print(f"{'entries':>8} {'bytes':>9} {'pickle B':>9} | {'encode µs':>10} {'p10-p90':>13} "
          f"{'dumps µs':>9} {'ratio':>6} | {'decode µs':>10} {'p10-p90':>13} {'loads µs':>9} "
          f"{'ratio':>6} {'new keys':>8}")
    for size in args.sizes:
        repeat = args.repeat or max(11, min(2001, 2_000_000 // max(size, 1) // 10))
        data = generate_test_dict(size)
        ours, theirs = serialize(data), pickle.dumps(data, protocol=5)
        assert deserialize(ours) == data
        enc, dumps = paired(lambda: serialize(data), lambda: pickle.dumps(data, protocol=5), repeat)
        dec, loads = paired(lambda: deserialize(ours), lambda: pickle.loads(theirs), repeat)
        # Same shape, other key names: alternating the two blobs makes every decode miss.
        other = serialize({f"other_{k}": v for k, v in data.items()})
        next_blob = itertools.cycle([other, ours]).__next__
        cold, cold_loads = paired(lambda: deserialize(next_blob()), lambda: pickle.loads(theirs), repeat)
        e, d = statistics.median(enc), statistics.median(dec)
        pd, pl = statistics.median(dumps), statistics.median(loads)
        print(f"{size:>8} {len(ours):>9} {len(theirs):>9} | {e:>10.1f} {spread(enc):>13} "
              f"{pd:>9.1f} {e / pd:>6.2f} | {d:>10.1f} {spread(dec):>13} {pl:>9.1f} {d / pl:>6.2f} "
              f"{statistics.median(cold) / statistics.median(cold_loads):>8.2f}")


if __name__ == "__main__":
    main()
