//! What `get(key)` costs below Python: `LmdbStore::get_value` on the seed payload, at
//! each given size, for keys the store does not hold and keys it does. An absent key
//! costs the read transaction and the B-tree descent with nothing to decode: the floor
//! under any `get` of this store, in Python or not (docs/design.md, LMDB performance).
//! A held key adds decoding into a `Value`, which allocates its strings.
//!
//!     cargo run --release -p ipc-core --example lmdb_get [entries...]
//!
//! Keys are drawn at random; each sample times a batch of 1000 lookups, the two kinds
//! taking turns. Prints the median per lookup, and the 10th-90th percentile spread.

mod common;

use std::time::Instant;

use common::{args_or, percentile};
use ipc_core::lmdb::{LmdbStore, Location, Options};
use ipc_core::payload::{self, SplitMix64};

const BATCH: usize = 1000;
const SAMPLES: usize = 200;

/// Nanoseconds per lookup over one batch of keys.
fn per_lookup(store: &mut LmdbStore, batch: &[String]) -> f64 {
    let start = Instant::now();
    for key in batch {
        std::hint::black_box(store.get_value(key).unwrap());
    }
    start.elapsed().as_secs_f64() * 1e9 / batch.len() as f64
}

fn main() {
    let sizes = args_or(&[10_000, 1_000_000], "entry counts");
    println!(
        "{:>8} | {:>24} | {:>24}",
        "entries", "held key: ns (p10-p90)", "absent key: ns (p10-p90)"
    );
    for &n in &sizes {
        let name = format!("get_{}_{n}", std::process::id());
        let mut store = LmdbStore::create(&Location::Named(name), &Options::default()).unwrap();
        store
            .publish(&payload::generate(n, 0).encode().unwrap())
            .unwrap();
        let mut rng = SplitMix64::new(7);
        let mut draw = |suffix: &str| -> Vec<String> {
            (0..BATCH * SAMPLES)
                .map(|_| format!("key_{}{suffix}", rng.next_u64() % n as u64))
                .collect()
        };
        let (held, absent) = (draw(""), draw("x"));
        assert!(store.get_value(&held[0]).unwrap().is_some());
        assert!(store.get_value(&absent[0]).unwrap().is_none());
        // Untimed: reading every record once maps every page, as a long-running reader
        // has them mapped (the Python benchmark's readers do the same).
        std::hint::black_box(store.read_value().unwrap());
        // Held and absent take turns, the order alternating, so drift hits both alike.
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for i in 0..SAMPLES {
            let at = i * BATCH..(i + 1) * BATCH;
            if i % 2 == 0 {
                a.push(per_lookup(&mut store, &held[at.clone()]));
                b.push(per_lookup(&mut store, &absent[at]));
            } else {
                b.push(per_lookup(&mut store, &absent[at.clone()]));
                a.push(per_lookup(&mut store, &held[at]));
            }
        }
        a.sort_by(f64::total_cmp);
        b.sort_by(f64::total_cmp);
        let cell = |s: &[f64]| {
            format!(
                "{:>7.0} ({:.0}-{:.0})",
                percentile(s, 0.5),
                percentile(s, 0.1),
                percentile(s, 0.9)
            )
        };
        println!("{n:>8} | {:>24} | {:>24}", cell(&a), cell(&b));
        store.close().unwrap();
    }
}
