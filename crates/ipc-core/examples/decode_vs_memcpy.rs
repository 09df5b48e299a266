//! What a native read costs next to copying the same bytes: the median time to decode
//! the benchmark payload's blob into a `Value`, into a reused `Doc` (what the native
//! harness reads into), to walk it without building anything, and to memcpy it.
//!
//!     cargo run --release -p ipc-core --example decode_vs_memcpy [entries...]

mod common;

use std::time::Instant;

use common::args_or;
use ipc_core::codec::{Blob, Doc, Skip, Value};
use ipc_core::payload;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Median seconds of `f`; what it returns is dropped outside the timed region.
fn time<T>(rounds: usize, mut f: impl FnMut() -> T) -> f64 {
    drop(f()); // warm-up
    median(
        (0..rounds)
            .map(|_| {
                let t = Instant::now();
                let out = f();
                let elapsed = t.elapsed().as_secs_f64();
                drop(out);
                elapsed
            })
            .collect(),
    )
}

fn main() {
    let sizes = args_or(&[10_000, 100_000], "entry counts");
    println!(
        "{:>8} {:>10} {:>12} {:>12} {:>12} {:>12} {:>9} {:>9} {:>9}",
        "entries", "bytes", "memcpy", "walk", "doc", "decode", "walk/cp", "doc/cp", "decode/cp"
    );
    for n in sizes {
        let blob = payload::generate(n, 0)
            .encode()
            .expect("the payload encodes");
        let mut dst = vec![0u8; blob.len()];
        let rounds = (2_000_000 / n).clamp(11, 501);
        let copy = time(rounds, || dst.copy_from_slice(std::hint::black_box(&blob)));
        let walk = time(rounds, || {
            Blob::parse(&blob)
                .and_then(|b| b.decode(&mut Skip))
                .expect("valid");
        });
        // One document for every round: each decode clears it and refills its storage.
        let mut doc = Doc::new();
        let into_doc = time(rounds, || doc.decode(&blob).expect("valid"));
        let decode = time(rounds, || Value::decode(&blob).expect("valid"));
        println!(
            "{n:>8} {:>10} {:>10.1}µs {:>10.1}µs {:>10.1}µs {:>10.1}µs {:>8.1}x {:>8.1}x {:>8.1}x",
            blob.len(),
            copy * 1e6,
            walk * 1e6,
            into_doc * 1e6,
            decode * 1e6,
            walk / copy,
            into_doc / copy,
            decode / copy
        );
    }
}
