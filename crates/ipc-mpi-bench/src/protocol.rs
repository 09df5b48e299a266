//! One (backend, size, reader count) on one rank: the benchmark's protocol, as
//! benchmark_mpi.py runs it.
//!
//! Rank 0 writes and the first `readers` other ranks read; the rest sit the case out but
//! take part in every collective, so that all ranks make the same calls.
//! 0. Readers on other nodes and a ZeroMQ store: the writer picks two free tcp ports on
//!    the ZeroMQ host and broadcasts the first.
//! 1. The writer creates the store; barrier; the readers attach; barrier. (Readers of a
//!    store that delivers in the background first wait, untimed, for the snapshot.)
//! 2. Pull backends: the writer makes `warmup` untimed then `repeat` timed writes;
//!    barrier; each reader makes `warmup` untimed then `iterations` timed reads; barrier;
//!    then, with every reader on the writer's node, the update-latency phase
//!    ([`measure_updates`]). Push backends (`consumes_messages`): the writer's one timed
//!    write serves every read and runs while the readers read; barrier.
//! 3. Readers clean up; barrier; the writer cleans up (it removes the store).
//!
//! Each barrier also tells every rank whether any rank failed, so that after a failure
//! all ranks skip to the clean-up together instead of waiting for each other.

use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ipc_core::payload::SplitMix64;
use ipc_core::{Doc, Value};
use mpi::topology::SimpleCommunicator;

use crate::args::{Args, Workload};
use crate::backend::{Backend, BoxError, Entry, Env};
use crate::coll::{Coll, Waiter};
use crate::memory;
use crate::nodes;
use crate::payload::{self, Size};
use crate::report::{CaseNotes, Phase, RankReport};
use crate::verify::{holds, holds_marked, Expected};

/// The key the update phase adds to the payload; its value is the update's number.
const MARK: &str = "__update__";

const NOTE_MESSAGES: &str = "every read consumes a message the writer sent for it: there is \
                             no newer snapshot for a reader to wait for";
const NOTE_CROSS_NODE: &str =
    "readers on other nodes than the writer: their CLOCK_MONOTONIC is not the writer's";
const NOTE_OFF: &str = "--updates 0: no update phase";

/// What one case is, besides the backend.
pub struct Case<'a> {
    pub entry: &'static Entry,
    pub size: Size,
    /// Timed reads per reader: `--iterations`, or fewer where `payload::read_cap` says so.
    pub iterations: usize,
    pub store: &'a str,
    /// Active readers: ranks 1 to `readers`.
    pub readers: usize,
    pub cross_node: bool,
    /// Where ZeroMQ binds tcp:// when `cross_node`.
    pub zmq_host: Option<&'a str>,
    /// The communicator of the writer and the active readers; None on the other ranks.
    pub group: Option<Rc<SimpleCommunicator>>,
    pub waiter: Waiter,
}

/// Runs one record on this rank and returns what it measured, and (what rank 0 uses)
/// why the record lacks an update latency, if it does.
pub fn run_record(coll: &Coll, case: &Case<'_>, args: &Args) -> (RankReport, CaseNotes) {
    let rank = coll.rank();
    let writer = rank == 0;
    let active = rank <= case.readers;
    let reader = active && !writer;
    let reads_each = args.warmup + case.iterations;
    let mut rep = RankReport::new(rank);
    let mut notes = CaseNotes {
        update_note: None,
        skipped: None,
    };
    // Every active rank builds the same payload: the writer to write it, readers to
    // check it (readers keep a digest of each array, not the array: verify.rs).
    let (mut data, expected) = match (writer, reader) {
        (true, _) => (case.size.generate(args.seed), None),
        (_, true) => (
            Value::None,
            Some(Expected::new(case.size.generate(args.seed))),
        ),
        _ => (Value::None, None),
    };
    let plan = expected
        .as_ref()
        .map_or_else(Vec::new, |e| read_plan(e, args, rank, reads_each));
    if writer {
        rep.payload_bytes = data.encode().ok().map(|blob| blob.len());
        // The yardstick, timed while the readers wait for the writer at the next barrier.
        match payload::copy_baseline(&data, 1, args.repeat) {
            Ok(samples) => rep.memcpy_samples = samples,
            Err(e) => rep.fail(Phase::Setup, format!("the copy baseline: {e}")),
        }
    }
    // The peak covers the case from here: not the payload a reader generated only to
    // digest it, nor the writer's copy baseline and encoding above (the Python harness
    // builds its payload before the case, too).
    if active {
        rep.peak_scope = Some(memory::reset_peak().to_owned());
    }

    let mut ok = true;
    let mut zmq_endpoint = None;
    if let (true, true, Some(host)) = (case.cross_node, case.entry.takes_endpoint, case.zmq_host) {
        let mut port = 0;
        if writer {
            match nodes::free_port_pair(host) {
                Ok(p) => port = p,
                Err(e) => rep.fail(Phase::Setup, e),
            }
        }
        ok = coll.all_ok(rep.ok(), "the writer to choose tcp ports");
        let port = coll.broadcast_u64(u64::from(port), "the tcp port");
        zmq_endpoint = Some(nodes::tcp_endpoint(host, port as u16));
    }
    let mut backend = match (&case.group, active && ok) {
        (Some(comm), true) => Some(case.entry.build(&Env {
            comm: Rc::clone(comm),
            waiter: case.waiter,
            timeout: args.timeout(),
            zmq_endpoint,
        })),
        _ => None,
    };
    // Every rank must take the same branch; the idle ones have no backend to ask.
    let mine = backend
        .as_ref()
        .is_some_and(|b| writer && b.consumes_messages());
    let push = coll.broadcast_u64(u64::from(mine), "the backend's kind") == 1;

    if ok && writer {
        if let Some(b) = backend.as_mut() {
            rep.check(Phase::Setup, b.initialize(case.store, true));
        }
    }
    ok = ok && coll.all_ok(rep.ok(), "every rank once the writer created the store");
    if ok && reader {
        if let Some(b) = backend.as_mut() {
            rep.check(Phase::Setup, b.initialize(case.store, false));
        }
    }
    ok = ok && coll.all_ok(rep.ok(), "the readers to attach");

    if ok && push {
        notes.update_note = Some(NOTE_MESSAGES.to_owned());
        if let Some(b) = backend.as_mut() {
            if writer {
                b.expect_reads(case.readers, reads_each);
                timed_writes(b.as_mut(), &data, 0, 1, &mut rep);
            } else {
                read_all(b.as_mut(), &plan, args, true, &mut rep);
            }
        }
        coll.all_ok(rep.ok(), "the reads and the write that serves them");
    } else if ok {
        if let (true, Some(b)) = (writer, backend.as_mut()) {
            timed_writes(b.as_mut(), &data, args.warmup, args.repeat, &mut rep);
        }
        if coll.all_ok(rep.ok(), "the writes") {
            if let (true, Some(b)) = (reader, backend.as_mut()) {
                rep.check(Phase::Read, b.settle(args.timeout() / 2));
                if rep.ok() {
                    read_all(b.as_mut(), &plan, args, false, &mut rep);
                }
            }
            if coll.all_ok(rep.ok(), "the reads") {
                notes.update_note = measure_updates(
                    coll,
                    case,
                    args,
                    backend.as_mut(),
                    (&mut data, expected.as_ref()),
                    &mut rep,
                );
            }
        }
    }
    if active {
        rep.peak_rss = Some(memory::peak_rss());
    }

    // Readers first, so that the writer removes a store nobody is attached to.
    if let (true, Some(b)) = (reader, backend.as_mut()) {
        rep.check(Phase::Cleanup, b.cleanup());
    }
    coll.barrier("the readers to clean up");
    if let (true, Some(b)) = (writer, backend.as_mut()) {
        rep.check(Phase::Cleanup, b.cleanup());
    }
    (rep, notes)
}

/// The update-latency phase; returns why it measured nothing, or None when it ran.
///
/// Before each update every rank passes a barrier, so the previous update has reached
/// every reader and each reader is waiting for the next one: what is measured is what a
/// waiting reader sees, never a queue of updates. The writer takes CLOCK_MONOTONIC just
/// before `write`; a reader, once `wait_for_update` woke it and it has read the whole
/// new snapshot. The two clocks are one only on one machine.
fn measure_updates(
    coll: &Coll,
    case: &Case<'_>,
    args: &Args,
    backend: Option<&mut Box<dyn Backend>>,
    (data, expected): (&mut Value, Option<&Expected>),
    rep: &mut RankReport,
) -> Option<String> {
    if case.cross_node {
        return Some(NOTE_CROSS_NODE.to_owned());
    }
    if args.updates == 0 {
        return Some(NOTE_OFF.to_owned());
    }
    let rank = coll.rank();
    let mut backend = backend;
    let mut seen = 0;
    let mut doc = Doc::new();
    if let (true, Some(b)) = (rank != 0, backend.as_mut()) {
        match b.version() {
            Ok(v) => seen = v,
            Err(e) => rep.fail(Phase::Read, format!("update baseline: {e}")),
        }
        rep.update_wait = Some("wait_for_update".to_owned());
    }
    if !coll.all_ok(rep.ok(), "the readers' versions before the updates") {
        return Some(crate::report::NOTE_FAILED.to_owned());
    }
    for update in 1..=args.updates {
        if let Some(b) = backend.as_mut() {
            if rank == 0 {
                mark(data, update);
                let start = memory::monotonic_ns();
                match b.write(data) {
                    Ok(()) => rep.update_start_ns.push(start),
                    Err(e) => rep.fail(Phase::Write, format!("update {update}: {e}")),
                }
            } else if let Some(want) = expected {
                let want = (want, update);
                match receive(b.as_mut(), want, &mut seen, &mut doc, args.timeout() / 2) {
                    Ok(end) => rep.update_end_ns.push(end),
                    Err(e) => rep.fail(Phase::Read, format!("update {update}: {e}")),
                }
            }
        }
        if !coll.all_ok(rep.ok(), "an update to reach every reader") {
            return Some(crate::report::NOTE_FAILED.to_owned());
        }
    }
    None
}

/// Makes `data` the payload of update `update`: the case's dict plus its mark, added
/// by the first update and changed in place by the next (no copy of the payload).
fn mark(data: &mut Value, update: usize) {
    if let Value::Dict(entries) = data {
        let value = Value::Int(update as i64);
        match entries.last_mut() {
            Some((k, v)) if *k == MARK => *v = value,
            _ => entries.push((MARK.into(), value)),
        }
    }
}

/// A reader's side of one update: waits for a newer version, reads the snapshot whole,
/// and returns CLOCK_MONOTONIC once it holds `want`: the payload with update's mark.
fn receive(
    backend: &mut dyn Backend,
    (want, update): (&Expected, usize),
    seen: &mut u64,
    doc: &mut Doc,
    timeout: Duration,
) -> Result<u64, BoxError> {
    let start = Instant::now();
    loop {
        let left = timeout
            .checked_sub(start.elapsed())
            .ok_or("the update did not arrive in time")?;
        *seen = backend.wait_for_update(*seen, left)?;
        if backend.read(doc)? && holds_marked(doc, want, MARK, update as i64) {
            return Ok(memory::monotonic_ns());
        }
    }
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
    let before = memory::rss();
    for i in 0..repeat {
        let t0 = Instant::now();
        let result = backend.write(data);
        let elapsed = t0.elapsed().as_secs_f64();
        if let Err(e) = result {
            return rep.fail(Phase::Write, format!("write {i}: {e}"));
        }
        rep.write_samples.push(elapsed);
    }
    rep.rss_growth = memory::growth(before);
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
    let mut before = None;
    for (i, read) in plan.iter().enumerate() {
        let timed = i >= args.warmup;
        if i == args.warmup {
            before = memory::rss();
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
    rep.rss_growth = memory::growth(before);
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
