//! One (backend, size) on one rank: the benchmark's protocol, as benchmark_mpi.py runs it.
//!
//! 1. The writer creates the store; barrier; the readers attach; barrier. (Readers of a
//!    store that delivers in the background first wait, untimed, for the snapshot.)
//! 2. Pull backends: the writer makes `warmup` untimed then `repeat` timed writes;
//!    barrier; each reader makes `warmup` untimed then `iterations` timed reads; barrier.
//!    Push backends (`consumes_messages`): the writer's one timed write serves every
//!    read and runs while the readers read; barrier.
//! 3. Readers clean up; barrier; the writer cleans up (it removes the store).
//!
//! Each barrier also tells every rank whether any rank failed, so that after a failure
//! all ranks skip to the clean-up together instead of waiting for each other.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ipc_core::payload::SplitMix64;
use ipc_core::{Doc, Value};

use crate::args::{Args, Workload};
use crate::backend::{Backend, BoxError, Entry, Env};
use crate::coll::Coll;
use crate::payload::{self, Size};
use crate::report::{Phase, RankReport};
use crate::verify::{holds, Expected};

/// Runs one record on this rank and returns what it measured. `iterations` is the
/// timed reads per reader: `--iterations`, or fewer where `payload::read_cap` says so.
pub fn run_record(
    coll: &Coll,
    env: &Env,
    entry: &Entry,
    size: Size,
    iterations: usize,
    store_name: &str,
    args: &Args,
) -> RankReport {
    let rank = coll.rank();
    let writer = rank == 0;
    let readers = coll.size() - 1;
    let reads_each = args.warmup + iterations;
    let mut rep = RankReport::new(rank);
    // Every rank builds the same payload: the writer to write it, readers to check it
    // (readers keep a digest of each array, not the array: verify.rs).
    let value = size.generate(args.seed);
    let (data, expected) = if writer {
        rep.payload_bytes = value.encode().ok().map(|blob| blob.len());
        // The yardstick, timed while the readers wait for the writer at the first barrier.
        match payload::copy_baseline(&value, 1, args.repeat) {
            Ok(samples) => rep.memcpy_samples = samples,
            Err(e) => rep.fail(Phase::Setup, format!("the copy baseline: {e}")),
        }
        (value, None)
    } else {
        (Value::None, Some(Expected::new(value)))
    };
    let plan = expected
        .as_ref()
        .map_or_else(Vec::new, |e| read_plan(e, args, rank, reads_each));
    let mut backend = entry.build(env);
    let push = backend.consumes_messages();

    if writer {
        rep.check(Phase::Setup, backend.initialize(store_name, true));
    }
    let mut ok = coll.all_ok(rep.ok(), "every rank once the writer created the store");
    if ok && !writer {
        rep.check(Phase::Setup, backend.initialize(store_name, false));
    }
    ok = ok && coll.all_ok(rep.ok(), "the readers to attach");

    if ok && push {
        if writer {
            backend.expect_reads(readers, reads_each);
            timed_writes(backend.as_mut(), &data, 0, 1, &mut rep);
        } else {
            read_all(backend.as_mut(), &plan, args, true, &mut rep);
        }
        coll.all_ok(rep.ok(), "the reads and the write that serves them");
    } else if ok {
        if writer {
            timed_writes(backend.as_mut(), &data, args.warmup, args.repeat, &mut rep);
        }
        if coll.all_ok(rep.ok(), "the writes") && !writer {
            rep.check(Phase::Read, backend.settle(args.timeout() / 2));
            if rep.ok() {
                read_all(backend.as_mut(), &plan, args, false, &mut rep);
            }
        }
        coll.all_ok(rep.ok(), "the reads");
    }

    // Readers first, so that the writer removes a store nobody is attached to.
    if !writer {
        rep.check(Phase::Cleanup, backend.cleanup());
    }
    coll.barrier("the readers to clean up");
    if writer {
        rep.check(Phase::Cleanup, backend.cleanup());
    }
    rep
}

fn timed_writes(
    backend: &mut dyn Backend,
    data: &Value,
    warmup: usize,
    repeat: usize,
    rep: &mut RankReport,
) {
    for i in 0..warmup {
        if let Err(e) = backend.write(data) {
            return rep.fail(Phase::Write, format!("warm-up write {i}: {e}"));
        }
    }
    for i in 0..repeat {
        let t0 = Instant::now();
        let result = backend.write(data);
        let elapsed = t0.elapsed().as_secs_f64();
        if let Err(e) = result {
            return rep.fail(Phase::Write, format!("write {i}: {e}"));
        }
        rep.write_samples.push(elapsed);
    }
}

/// One planned read: the key for `get` (None for a full read) and what must come back.
struct PlannedRead<'a> {
    key: Option<&'a str>,
    expected: &'a Expected,
}

/// What each of a reader's reads asks for, decided before any timing. `get` reads ask
/// for random keys, a different sequence on each reader.
fn read_plan<'a>(
    expected: &'a Expected,
    args: &Args,
    rank: usize,
    reads: usize,
) -> Vec<PlannedRead<'a>> {
    // `get` takes a str key: a root int key is never asked for.
    let entries: Vec<(&str, &Expected)> = expected
        .entries()
        .unwrap_or_default()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str()?, v)))
        .collect();
    let entries = match args.workload {
        Workload::Get if !entries.is_empty() => entries,
        _ => {
            return (0..reads)
                .map(|_| PlannedRead {
                    key: None,
                    expected,
                })
                .collect()
        }
    };
    let mut rng = SplitMix64::new(args.seed ^ (rank as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    (0..reads)
        .map(|_| {
            let (k, v) = entries[(rng.next_u64() % entries.len() as u64) as usize];
            PlannedRead {
                key: Some(k),
                expected: v,
            }
        })
        .collect()
}

/// The reader's warm-up and timed reads. Each timed read is timed alone, and decodes
/// into the one document the reader keeps for all of them (as a reader that polls a
/// store would); the content check comes after the clock stops.
fn read_all(
    backend: &mut dyn Backend,
    plan: &[PlannedRead<'_>],
    args: &Args,
    push: bool,
    rep: &mut RankReport,
) {
    rep.read_samples
        .reserve(plan.len().saturating_sub(args.warmup));
    let mut doc = Doc::new();
    for (i, read) in plan.iter().enumerate() {
        let timed = i >= args.warmup;
        if i == args.warmup {
            rep.first_read_start_ns = Some(wall_ns());
        }
        let t0 = Instant::now();
        let result = fetch(backend, read.key, &mut doc);
        let elapsed = t0.elapsed().as_secs_f64();
        if timed {
            rep.last_read_end_ns = Some(wall_ns());
        }
        let what = if timed { "read" } else { "warm-up read" };
        let problem = match &result {
            Err(e) => Some(format!("{what} {i}: {e}")),
            Ok(false) => Some(format!("{what} {i}: {}", missing(read.key))),
            Ok(true) if !holds(&doc, read.expected) => Some(format!(
                "{what} {i}: the content differs from what was written{}",
                read.key
                    .map(|k| format!(" (key {k:?})"))
                    .unwrap_or_default()
            )),
            Ok(true) => None,
        };
        if let Some(message) = problem {
            rep.fail(Phase::Read, message);
            if push {
                drain(backend, plan.len() - i - 1, &mut doc);
            }
            return;
        }
        rep.reads_verified += 1;
        if timed {
            rep.read_samples.push(elapsed);
        }
    }
}

/// One read into `doc`: whether the snapshot (or the key) was there.
fn fetch(backend: &mut dyn Backend, key: Option<&str>, doc: &mut Doc) -> Result<bool, BoxError> {
    match key {
        None => backend.read(doc),
        Some(k) => backend.get(k, doc),
    }
}

fn missing(key: Option<&str>) -> String {
    match key {
        None => "nothing had been written".to_owned(),
        Some(k) => format!("key {k:?} is missing"),
    }
}

/// After a failed read of a push backend, takes the reader's remaining messages anyway
/// so that the writer is not left blocked on messages nobody takes. Stops at the first
/// error: then the stream itself is broken and nothing more will come.
fn drain(backend: &mut dyn Backend, left: usize, doc: &mut Doc) {
    for _ in 0..left {
        if backend.read(doc).is_err() {
            return;
        }
    }
}

/// Nanoseconds since the Unix epoch: the one clock all ranks (and hosts, with NTP) share.
fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
