//! Does rewriting only the records that changed pay, against clearing and rewriting
//! every record? Times `LmdbStore::publish` (the encoded blob is prepared beforehand) on
//! the seed payload with 0, 1, 3, 5, 10 and 100% of its keys changed between writes.
//!
//!     cargo run --release -p ipc-core --example lmdb_rewrite [entries...]
//!
//! Prints the median over the runs, and the 10th-90th percentile spread.

mod common;

use std::time::Instant;

use common::{args_or, percentile};
use ipc_core::lmdb::{LmdbStore, Location, Options, Rewrite};
use ipc_core::{payload, Value};

/// Two blobs that differ in `percent` of their keys (evenly spread).
fn variants(n: usize, percent: usize) -> [Vec<u8>; 2] {
    let Value::Dict(a) = payload::generate(n, 0) else {
        unreachable!("the payload is a dict")
    };
    let mut b = a.clone();
    let changed = n * percent / 100;
    for i in 0..changed {
        let at = i * n / changed.max(1);
        b[at].1 = Value::Int(-(at as i64));
    }
    [
        Value::Dict(a).encode().unwrap(),
        Value::Dict(b).encode().unwrap(),
    ]
}

fn main() {
    let sizes = args_or(&[10_000, 100_000], "entry counts");
    println!(
        "{:>8} {:>8} | {:>22} | {:>22} | {:>6}",
        "entries", "changed", "changed only: ms (p10-p90)", "rewrite all: ms (p10-p90)", "ratio"
    );
    for &n in &sizes {
        let runs = (2_000_000 / n).clamp(15, 200);
        for percent in [0, 1, 3, 5, 10, 100] {
            let blobs = variants(n, percent);
            let mut medians = Vec::new();
            let mut cells = Vec::new();
            // Interleave the two policies, so that machine noise hits both alike.
            let mut stores: Vec<LmdbStore> = [Rewrite::Changed, Rewrite::All]
                .iter()
                .map(|&rewrite| {
                    let name =
                        format!("rewrite_{}_{:?}_{n}_{percent}", std::process::id(), rewrite);
                    let options = Options {
                        rewrite,
                        ..Options::default()
                    };
                    let mut s = LmdbStore::create(&Location::Named(name), &options).unwrap();
                    s.publish(&blobs[0]).unwrap();
                    s.publish(&blobs[1]).unwrap();
                    s
                })
                .collect();
            let mut times = vec![Vec::new(), Vec::new()];
            for run in 0..runs {
                for (s, t) in stores.iter_mut().zip(times.iter_mut()) {
                    let start = Instant::now();
                    s.publish(&blobs[run % 2]).unwrap();
                    t.push(start.elapsed().as_secs_f64() * 1e3);
                }
            }
            for t in &mut times {
                t.sort_by(f64::total_cmp);
                let m = percentile(t, 0.5);
                medians.push(m);
                cells.push(format!(
                    "{m:>8.3} ({:.3}-{:.3})",
                    percentile(t, 0.1),
                    percentile(t, 0.9)
                ));
            }
            for s in &mut stores {
                s.close().unwrap();
            }
            println!(
                "{n:>8} {:>7}% | {:>26} | {:>25} | {:>6.2}",
                percent,
                cells[0],
                cells[1],
                medians[0] / medians[1]
            );
        }
    }
}
