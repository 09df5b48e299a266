//! How long one dependent load takes on this machine, when the line it reads lies at a
//! random place in a region of the given size: the cost an LMDB `get` pays on each step
//! of its descent that misses the caches (docs/design.md, LMDB performance).
//!
//!     cargo run --release -p ipc-core --example memory_latency [MiB...]
//!
//! A pointer chase: every cache line of the region holds the index of the next one to
//! read, in a random cycle, so that no load can start before the previous one ends.

mod common;

use std::time::Instant;

use common::args_or;
use ipc_core::payload::SplitMix64;

const LINE: usize = 64;
const STEPS: usize = 10_000_000;

/// One cache line: the index of the next line to visit, and padding.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line {
    next: usize,
    _pad: [u8; LINE - std::mem::size_of::<usize>()],
}

fn nanoseconds_per_load(mib: usize) -> f64 {
    let n = (mib << 20) / LINE;
    // A random cyclic order of all lines (Fisher-Yates).
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = SplitMix64::new(1);
    for i in (1..n).rev() {
        order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    let mut lines = vec![
        Line {
            next: 0,
            _pad: [0; LINE - std::mem::size_of::<usize>()],
        };
        n
    ];
    for (i, &at) in order.iter().enumerate() {
        lines[at].next = order[(i + 1) % n];
    }
    let mut at = order[0];
    let start = Instant::now();
    for _ in 0..STEPS {
        at = lines[at].next;
    }
    let elapsed = start.elapsed();
    std::hint::black_box(at);
    elapsed.as_nanos() as f64 / STEPS as f64
}

fn main() {
    let sizes = args_or(&[1, 8, 74, 256], "region sizes in MiB");
    for mib in sizes {
        println!(
            "{mib:>5} MiB: {:6.1} ns per dependent load",
            nanoseconds_per_load(mib)
        );
    }
}
