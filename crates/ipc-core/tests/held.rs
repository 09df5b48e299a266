//! Held shared-memory snapshots: bytes that stay valid and unchanged after the reader
//! moves on, the writer recycles its segments, and the writer closes the store. (A killed
//! holder is in tests/test_views.py: it needs a second process.)

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use ipc_core::shm::{Held, ShmStore, SLOTS};

fn unique(tag: &str) -> String {
    format!("rs_held_{tag}_{}", std::process::id())
}

fn segments(name: &str) -> usize {
    let prefix = format!("ipcb_shm_{name}");
    std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n == &prefix || n.starts_with(&format!("{prefix}.")))
        .count()
}

/// The blob of version `v`: its length cycles through four sizes (so that segments of
/// every size get recycled) and every byte is the version's low byte.
fn blob(v: u64) -> Vec<u8> {
    vec![v as u8; 64 << (v % 4)]
}

fn check(held: &Held) {
    assert_eq!(
        held.blob(),
        &blob(held.version())[..],
        "version {}",
        held.version()
    );
}

#[test]
fn held_snapshots_outlive_publishes_and_cleanup() {
    let name = unique("outlive");
    let mut writer = ShmStore::create(&name).unwrap();
    let mut reader = ShmStore::attach(&name).unwrap();
    let mut held = Vec::new();
    for v in 1..=5 {
        writer.publish(&blob(v)).unwrap();
        let snap = reader.hold().unwrap().unwrap();
        assert_eq!(snap.version(), v);
        assert!(snap.is_mapped());
        held.push(snap);
    }
    for v in 6..=160 {
        writer.publish(&blob(v)).unwrap();
        if v % 10 == 0 {
            // The reader moves on too: its pin leaves the held segments.
            assert_eq!(reader.latest().unwrap().unwrap().version(), v);
        }
    }
    let stats = writer.stats().unwrap();
    assert!(stats.held >= 4, "{stats:?}");
    assert!(stats.recycled > 100, "{stats:?}");
    writer.close().unwrap();
    assert_eq!(segments(&name), 0);
    held.iter().for_each(|h| check(h));
    // The reader's store closes; what it handed out stays.
    reader.close().unwrap();
    held.iter().for_each(|h| check(h));
}

#[test]
fn the_writer_replaces_held_segments_instead_of_rewriting_them() {
    let name = unique("replace");
    let mut writer = ShmStore::create(&name).unwrap();
    let mut reader = ShmStore::attach(&name).unwrap();
    // More held versions than the pool has indices: publishing never fails for it.
    let mut held = Vec::new();
    for v in 1..=200 {
        writer.publish(&blob(v)).unwrap();
        held.push(reader.hold().unwrap().unwrap());
    }
    let stats = writer.stats().unwrap();
    assert!(stats.replaced_held > 0, "{stats:?}");
    assert_eq!(stats.recycled, 0, "a held segment was rewritten: {stats:?}");
    held.iter().for_each(|h| check(h));
    // Once let go, segments are recycled again.
    drop(held);
    reader.latest().unwrap();
    for v in 201..=260 {
        writer.publish(&blob(v)).unwrap();
    }
    let stats = writer.stats().unwrap();
    assert!(stats.recycled > 40, "{stats:?}");
    // Only the snapshot the reader's store read last (every snapshot read is held).
    assert_eq!(stats.held, 1, "{stats:?}");
    writer.close().unwrap();
}

#[test]
fn a_closed_reader_keeps_its_slot_while_it_holds_and_gives_it_back_after() {
    let name = unique("slot");
    let mut writer = ShmStore::create(&name).unwrap();
    writer.publish(&blob(1)).unwrap();
    let mut reader = ShmStore::attach(&name).unwrap();
    let snap = reader.hold().unwrap().unwrap();
    reader.close().unwrap();
    // The slot still announces the hold: the writer never rewrites that segment.
    for v in 2..=50 {
        writer.publish(&blob(v)).unwrap();
    }
    assert_eq!(writer.stats().unwrap().held, 1);
    check(&snap);
    drop(snap);
    // Every slot can be taken again: the held one was given back with its last hold.
    let mut readers: Vec<ShmStore> = (0..SLOTS)
        .map(|_| ShmStore::attach(&name).unwrap())
        .collect();
    for r in &mut readers {
        r.latest().unwrap();
        assert!(r.reader_slot().is_some());
    }
    drop(readers);
    writer.publish(&blob(51)).unwrap();
    assert_eq!(writer.stats().unwrap().held, 0);
    writer.close().unwrap();
}

#[test]
fn a_reader_without_a_slot_holds_a_private_copy() {
    let name = unique("copy");
    let mut writer = ShmStore::create(&name).unwrap();
    writer.publish(&blob(1)).unwrap();
    let mut holders: Vec<ShmStore> = (0..SLOTS)
        .map(|_| ShmStore::attach(&name).unwrap())
        .collect();
    for h in &mut holders {
        h.latest().unwrap();
    }
    let mut reader = ShmStore::attach(&name).unwrap();
    let snap = reader.hold().unwrap().unwrap();
    assert!(reader.reader_slot().is_none() && !snap.is_mapped());
    for v in 2..=50 {
        writer.publish(&blob(v)).unwrap();
    }
    check(&snap);
    drop(holders);
    writer.close().unwrap();
}

/// Reader threads keep a window of held snapshots while taking new ones, and check every
/// byte of each of them at every step, while the writer recycles segments of cycling
/// sizes: a hold taken while the pin moves must never let the writer rewrite.
#[test]
fn holds_taken_and_dropped_under_a_busy_writer_never_see_a_rewrite() {
    let name = unique("busy");
    let mut writer = ShmStore::create(&name).unwrap();
    writer.publish(&blob(1)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // Checks done by all readers so far: the writer keeps publishing until they have
    // checked enough, however the threads are scheduled; it starts once all are attached.
    let done = Arc::new(AtomicU64::new(0));
    let started = Arc::new(Barrier::new(4));
    let readers: Vec<_> = (0..3)
        .map(|window| {
            let (name, stop, done, started) =
                (name.clone(), stop.clone(), done.clone(), started.clone());
            thread::spawn(move || {
                let mut reader = ShmStore::attach(&name).unwrap();
                started.wait();
                let mut kept: VecDeque<Arc<Held>> = VecDeque::new();
                let mut checks = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let snap = reader.hold().unwrap().unwrap();
                    if kept.back().is_none_or(|k| k.version() != snap.version()) {
                        kept.push_back(snap);
                    }
                    if kept.len() > 2 + window * 3 {
                        kept.pop_front();
                    }
                    kept.iter().for_each(|h| check(h));
                    checks += kept.len() as u64;
                    done.fetch_add(kept.len() as u64, Ordering::Relaxed);
                }
                checks
            })
        })
        .collect();
    started.wait();
    let mut v = 2;
    while v < 3000 || done.load(Ordering::Relaxed) < 300 {
        writer.publish(&blob(v)).unwrap();
        v += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let checks: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(checks >= 300, "{checks} checks");
    let stats = writer.stats().unwrap();
    assert!(stats.recycled > 1000, "{stats:?}");
    writer.close().unwrap();
}
