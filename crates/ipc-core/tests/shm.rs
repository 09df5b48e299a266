//! The shared-memory store within one process (threads stand in for processes; the
//! multi-process cases are in tests/test_shm.py).

use std::thread;
use std::time::Duration;

use ipc_core::shm::ShmStore;
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
    assert_eq!(segments(&name).len(), 2, "head and one data segment");
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
