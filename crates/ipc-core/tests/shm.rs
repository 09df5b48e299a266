//! The shared-memory store within one process (threads stand in for processes; the
//! multi-process cases are in tests/test_shm.py).

use std::thread;
use std::time::Duration;

use ipc_core::shm::{ShmStore, SLOTS};
use ipc_core::Error;

fn unique(tag: &str) -> String {
    format!("rs_{tag}_{}", std::process::id())
}

fn segments(name: &str) -> Vec<String> {
    let prefix = format!("ipcb_shm_{name}");
    let mut found: Vec<String> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n == &prefix || n.starts_with(&format!("{prefix}.")))
        .collect();
    found.sort();
    found
}

#[test]
fn publish_then_read_latest() {
    let name = unique("latest");
    let mut reader = ShmStore::attach(&name).unwrap();
    assert!(reader.latest().unwrap().is_none());
    let mut writer = ShmStore::create(&name).unwrap();
    assert_eq!(writer.publish(b"first").unwrap(), 1);
    assert_eq!(reader.latest().unwrap().unwrap().blob(), b"first");
    assert_eq!(writer.publish(b"second, longer").unwrap(), 2);
    let snap = reader.latest().unwrap().unwrap();
    assert_eq!((snap.version(), snap.blob()), (2, &b"second, longer"[..]));
    assert_eq!(segments(&name).len(), 3, "head and two data segments");
    // The reader pins version 2's segment; version 3 recycles version 1's.
    assert_eq!(writer.publish(b"third").unwrap(), 3);
    let stats = writer.stats().unwrap();
    assert_eq!((stats.created, stats.recycled), (2, 1));
    assert_eq!(segments(&name).len(), 3, "no new segment");
    writer.close().unwrap();
    assert!(segments(&name).is_empty());
    assert!(matches!(reader.latest(), Err(Error::Closed { .. })));
}

#[test]
fn second_writer_is_refused() {
    let name = unique("second");
    let mut first = ShmStore::create(&name).unwrap();
    match ShmStore::create(&name) {
        Err(Error::WriterExists { pid: Some(pid), .. }) => assert_eq!(pid, std::process::id()),
        other => panic!("expected WriterExists, got {:?}", other.err()),
    }
    first.publish(b"still fine").unwrap();
    first.close().unwrap();
    let mut next = ShmStore::create(&name).unwrap();
    next.close().unwrap();
}

#[test]
fn waiters_wake_on_publish_and_time_out_otherwise() {
    let name = unique("wait");
    let mut writer = ShmStore::create(&name).unwrap();
    let waiter = {
        let name = name.clone();
        thread::spawn(move || {
            let mut r = ShmStore::attach(&name).unwrap();
            r.wait_for_update(0, Duration::from_secs(30))
        })
    };
    writer.publish(b"x").unwrap();
    assert_eq!(waiter.join().unwrap().unwrap(), 1);
    let mut r = ShmStore::attach(&name).unwrap();
    let e = r.wait_for_update(1, Duration::from_millis(50)).unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e}");
    writer.close().unwrap();
}

#[test]
fn bad_names_are_refused_before_touching_dev_shm() {
    for bad in ["", "../etc", "a.b", "with space"] {
        assert!(matches!(
            ShmStore::create(bad),
            Err(Error::InvalidName { .. })
        ));
        assert!(matches!(
            ShmStore::attach(bad),
            Err(Error::InvalidName { .. })
        ));
    }
}

#[test]
fn dropping_the_writer_cleans_up() {
    let name = unique("drop");
    {
        let mut w = ShmStore::create(&name).unwrap();
        w.publish(b"x").unwrap();
    }
    assert!(segments(&name).is_empty());
}

#[test]
fn a_held_snapshot_is_never_rewritten() {
    let name = unique("pinned");
    let mut writer = ShmStore::create(&name).unwrap();
    let mut reader = ShmStore::attach(&name).unwrap();
    writer.publish(b"held").unwrap();
    let held: *const [u8] = reader.latest().unwrap().unwrap().blob();
    for i in 0..100u32 {
        // Sizes that cycle, so that recycled segments of every size are reused.
        let blob = vec![i as u8; 10 << (i % 4)];
        writer.publish(&blob).unwrap();
        // SAFETY: the reader still caches (and its slot pins) the snapshot `held` points
        // into: the reader was not used since, so the mapping is alive.
        assert_eq!(unsafe { &*held }, b"held");
    }
    let stats = writer.stats().unwrap();
    assert!(stats.recycled >= 90, "{stats:?}");
    assert!(stats.created <= 6, "{stats:?}");
    let snap = reader.latest().unwrap().unwrap();
    assert_eq!(snap.version(), 101);
    assert_eq!(snap.blob(), &vec![99u8; 10 << 3][..]);
    writer.close().unwrap();
    assert!(segments(&name).is_empty());
}

#[test]
fn readers_on_threads_never_see_a_mixed_snapshot() {
    readers_see_whole_snapshots("mixed", false);
}

#[test]
fn readers_without_a_slot_never_see_a_mixed_snapshot() {
    readers_see_whole_snapshots("slotless", true);
}

/// Three reader threads check every byte of every read while the writer recycles
/// segments of cycling sizes. `slotless`: every slot is taken first, so the three read
/// through copies checked by the segment's sequence word.
fn readers_see_whole_snapshots(tag: &str, slotless: bool) {
    let name = unique(tag);
    let mut writer = ShmStore::create(&name).unwrap();
    writer.publish(&[0u8; 8]).unwrap();
    let mut holders = Vec::new();
    if slotless {
        for _ in 0..SLOTS {
            let mut holder = ShmStore::attach(&name).unwrap();
            holder.latest().unwrap();
            assert!(holder.reader_slot().is_some());
            holders.push(holder);
        }
    }
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Barrier};
    let stop = Arc::new(AtomicBool::new(false));
    // Reads done by all readers so far: the writer keeps publishing until they have
    // read enough, however the threads happen to be scheduled.
    let done = Arc::new(AtomicU64::new(0));
    // The writer starts once every reader is attached and reading.
    let started = Arc::new(Barrier::new(4));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (name, stop, done, started) =
                (name.clone(), stop.clone(), done.clone(), started.clone());
            thread::spawn(move || {
                let mut reader = ShmStore::attach(&name).unwrap();
                reader.latest().unwrap();
                assert_eq!(reader.reader_slot().is_none(), slotless);
                started.wait();
                let mut reads = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let snap = reader.latest().unwrap().unwrap();
                    // Every byte of a blob is its version's low byte.
                    let expected = snap.version() as u8;
                    let blob = snap.blob();
                    assert!(blob.iter().all(|&b| b == expected.wrapping_sub(1)));
                    reads += 1;
                    done.fetch_add(1, Ordering::Relaxed);
                }
                reads
            })
        })
        .collect();
    started.wait();
    let mut v = 2u64;
    while v < 3000 || done.load(Ordering::Relaxed) < 300 {
        let len = 8 << (v % 10);
        writer.publish(&vec![(v - 1) as u8; len]).unwrap();
        v += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let reads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    let stats = writer.stats().unwrap();
    assert!(reads >= 300, "{reads} reads");
    assert!(stats.recycled > 2000, "{stats:?}");
    drop(holders);
    writer.close().unwrap();
}
