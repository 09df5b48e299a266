//! The LMDB store within one process (threads stand in for processes; the multi-process
//! cases, crashes included, are in tests/test_lmdb.py).

use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use heed::types::Bytes;
use heed::{CommitOrAbort, EnvOpenOptions};
use ipc_core::codec::Key;
use ipc_core::lmdb::{self, LmdbStore, Location, Options, Rewrite, WriteStats};
use ipc_core::{payload, Error, Value};

fn unique(tag: &str) -> String {
    format!("rs_{tag}_{}", std::process::id())
}

/// A fresh directory for a store at a user-chosen path (removed by the guard).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("lmdbtest_{}_{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn store(&self) -> Location {
        Location::Path(self.0.join("store"))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

mod common;
use common::d as dict;

fn writer(location: &Location) -> LmdbStore {
    LmdbStore::create(location, &Options::default()).unwrap()
}

fn reader(location: &Location) -> LmdbStore {
    LmdbStore::attach(location, &Options::default()).unwrap()
}

#[test]
fn an_int_top_level_key_is_refused_and_arrays_are_stored() {
    let loc = Location::Named(unique("intkey"));
    let mut w = writer(&loc);
    let bad = Value::Dict(vec![
        (Key::from("a"), Value::None),
        (Key::Int(7), Value::None),
    ]);
    let err = w.publish(&bad.encode().unwrap()).unwrap_err();
    assert!(matches!(err, Error::Usage(_)), "{err}");
    assert!(
        err.to_string().contains("top-level key 7 is an int"),
        "{err}"
    );
    assert_eq!(w.version().unwrap(), 0);
    // Int keys below the top level, arrays, scalars and pickles are values like others.
    let data = dict(&[(
        "layer",
        Value::Dict(vec![
            (
                Key::Int(0),
                Value::Scalar(ipc_core::codec::Scalar::f32(2.5)),
            ),
            (
                Key::from("w"),
                Value::Array(
                    ipc_core::codec::Array::new(
                        ipc_core::codec::Dtype::F32,
                        vec![2],
                        vec![0, 0, 128, 63, 0, 0, 0, 64],
                    )
                    .unwrap(),
                ),
            ),
            (Key::from("p"), Value::Pickle(vec![1, 2, 3])),
        ]),
    )]);
    w.publish(&data.encode().unwrap()).unwrap();
    let mut r = reader(&loc);
    assert_eq!(r.read_value().unwrap(), Some(data));
    w.close().unwrap();
}

#[test]
fn publish_read_get_keys_keep_insertion_order() {
    let loc = Location::Named(unique("order"));
    let mut r = reader(&loc);
    assert_eq!(r.read_value().unwrap(), None);
    assert_eq!(r.version().unwrap(), 0);
    let mut w = writer(&loc);
    // Keys whose sorted order (LMDB's) differs from the dict's.
    let data = dict(&[
        ("zeta", Value::Int(1)),
        (
            "alpha",
            Value::List(vec![Value::Str("x".into()), Value::None]),
        ),
        (
            "mid",
            dict(&[
                ("value", Value::Float(1.5)),
                ("text", Value::Str("é".into())),
            ]),
        ),
    ]);
    assert_eq!(w.publish(&data.encode().unwrap()).unwrap(), 1);
    assert_eq!(r.read_value().unwrap(), Some(data.clone()));
    assert_eq!(r.keys().unwrap(), ["zeta", "alpha", "mid"]);
    assert_eq!(
        r.get_value("mid").unwrap(),
        Some(dict(&[
            ("value", Value::Float(1.5)),
            ("text", Value::Str("é".into()))
        ]))
    );
    assert_eq!(r.get_value("missing").unwrap(), None);
    assert_eq!((r.version().unwrap(), w.version().unwrap()), (1, 1));
    let empty = Value::Dict(vec![]);
    assert_eq!(w.publish(&empty.encode().unwrap()).unwrap(), 2);
    assert_eq!(r.read_value().unwrap(), Some(empty));
    assert_eq!(r.keys().unwrap(), Vec::<String>::new());
    w.close().unwrap();
    assert!(
        !lmdb::temp_dir(&unique("order")).exists(),
        "the temp store is removed"
    );
    assert!(matches!(r.read_value(), Err(Error::Closed { .. })));
}

#[test]
fn keys_lmdb_cannot_hold_are_escaped() {
    let loc = Location::Named(unique("escaped"));
    let mut w = writer(&loc);
    let long_a = "a".repeat(600);
    let long_b = format!("{}b", "a".repeat(599));
    let data = dict(&[
        ("", Value::Int(0)),
        (&long_a, Value::Int(1)),
        ("short", Value::Int(2)),
        (&long_b, Value::Int(3)),
        (&"é".repeat(300), Value::Int(4)),
    ]);
    w.publish(&data.encode().unwrap()).unwrap();
    let mut r = reader(&loc);
    assert_eq!(r.read_value().unwrap(), Some(data.clone()));
    for (i, key) in ["", &long_a, "short", &long_b, &"é".repeat(300)]
        .iter()
        .enumerate()
    {
        assert_eq!(
            r.get_value(key).unwrap(),
            Some(Value::Int(i as i64)),
            "{key}"
        );
    }
    assert_eq!(r.get_value(&"c".repeat(600)).unwrap(), None);
    w.close().unwrap();
}

#[test]
fn only_changed_records_are_rewritten() {
    let loc = Location::Named(unique("changed"));
    let mut w = writer(&loc);
    let mut r = reader(&loc);
    let Value::Dict(mut entries) = payload::generate(1000, 0) else {
        unreachable!()
    };
    let publish = |w: &mut LmdbStore, entries: &[(Key, Value)]| {
        w.publish(&Value::Dict(entries.to_vec()).encode().unwrap())
            .unwrap();
        w.last_write().unwrap()
    };
    assert_eq!(
        publish(&mut w, &entries),
        WriteStats {
            put: 1000,
            deleted: 0,
            rewrote_all: true
        }
    );
    assert_eq!(
        publish(&mut w, &entries),
        WriteStats {
            put: 0,
            deleted: 0,
            rewrote_all: false
        }
    );
    for i in (0..1000).step_by(100) {
        entries[i].1 = Value::Int(-1);
    }
    assert_eq!(
        publish(&mut w, &entries),
        WriteStats {
            put: 10,
            deleted: 0,
            rewrote_all: false
        }
    );
    entries.truncate(990);
    assert_eq!(
        publish(&mut w, &entries),
        WriteStats {
            put: 0,
            deleted: 10,
            rewrote_all: false
        }
    );
    // A tenth changed: appending them all is cheaper than putting those one by one.
    for i in (5..990).step_by(10) {
        entries[i].1 = Value::Int(-2);
    }
    assert!(publish(&mut w, &entries).rewrote_all);
    assert_eq!(r.read_value().unwrap(), Some(Value::Dict(entries.clone())));
    // Moving a key to the front changes every ordinal: then everything is rewritten.
    entries.rotate_right(1);
    assert!(publish(&mut w, &entries).rewrote_all);
    assert_eq!(r.read_value().unwrap(), Some(Value::Dict(entries.clone())));
    assert_eq!(r.keys().unwrap()[0], "key_989");
    w.close().unwrap();
}

#[test]
fn both_rewrite_policies_store_the_same_snapshots() {
    for rewrite in [Rewrite::Changed, Rewrite::All] {
        let loc = Location::Named(unique(&format!("{rewrite:?}")));
        let options = Options {
            rewrite,
            ..Options::default()
        };
        let mut w = LmdbStore::create(&loc, &options).unwrap();
        let mut r = reader(&loc);
        for seed in [1, 1, 2, 0] {
            let data = payload::generate(300 + seed as usize, seed);
            w.publish(&data.encode().unwrap()).unwrap();
            assert_eq!(r.read_value().unwrap(), Some(data));
        }
        w.close().unwrap();
    }
}

#[test]
fn data_persists_at_a_path_and_a_new_writer_carries_on() {
    let tmp = TempDir::new("persist");
    let loc = tmp.store();
    let data = payload::generate(50, 3);
    {
        let mut w = writer(&loc);
        w.publish(&data.encode().unwrap()).unwrap();
        w.publish(&data.encode().unwrap()).unwrap();
        w.close().unwrap();
    }
    assert!(
        tmp.0.join("store").join("data.mdb").exists(),
        "a user's path is never removed"
    );
    let mut r = reader(&loc);
    assert_eq!(
        (r.version().unwrap(), r.read_value().unwrap()),
        (2, Some(data.clone()))
    );
    let mut w = writer(&loc);
    assert_eq!(w.version().unwrap(), 2);
    assert_eq!(
        w.publish(&dict(&[("next", Value::Int(3))]).encode().unwrap())
            .unwrap(),
        3
    );
    assert_eq!(r.get_value("next").unwrap(), Some(Value::Int(3)));
    w.close().unwrap();
    // remove_on_close removes the store, and only what the store consists of.
    std::fs::write(tmp.0.join("store").join("notes.txt"), b"mine").unwrap();
    let options = Options {
        remove_on_close: true,
        ..Options::default()
    };
    let mut w = LmdbStore::create(&loc, &options).unwrap();
    w.close().unwrap();
    let left: Vec<_> = std::fs::read_dir(tmp.0.join("store"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["notes.txt"]);
    drop(r);
}

#[test]
fn second_writer_is_refused_then_admitted() {
    let loc = Location::Named(unique("second"));
    let mut first = writer(&loc);
    match LmdbStore::create(&loc, &Options::default()) {
        Err(Error::WriterExists {
            pid: Some(pid),
            store,
        }) => {
            assert_eq!(pid, std::process::id());
            assert!(store.contains("second"), "{store}");
        }
        other => panic!("expected WriterExists, got {:?}", other.err()),
    }
    first
        .publish(&dict(&[("a", Value::Int(1))]).encode().unwrap())
        .unwrap();
    first.close().unwrap();
    let mut next = writer(&loc);
    assert_eq!(
        next.version().unwrap(),
        0,
        "the temp store was removed: a fresh one"
    );
    next.close().unwrap();
}

#[test]
fn a_reader_follows_a_store_removed_and_created_again() {
    let loc = Location::Named(unique("again"));
    let mut w = writer(&loc);
    let mut r = reader(&loc);
    w.publish(&dict(&[("gen", Value::Int(1))]).encode().unwrap())
        .unwrap();
    assert_eq!(r.get_value("gen").unwrap(), Some(Value::Int(1)));
    w.close().unwrap();
    // The new writer is created before the reader notices the close: it must get its own
    // environment, not the one of the removed files that the reader still holds.
    let mut w2 = writer(&loc);
    w2.publish(&dict(&[("gen", Value::Int(2))]).encode().unwrap())
        .unwrap();
    // The reader finds the successor by itself; versions restart with the new store.
    assert_eq!(
        r.read_value().unwrap(),
        Some(dict(&[("gen", Value::Int(2))]))
    );
    assert_eq!(r.version().unwrap(), 1);
    w2.close().unwrap();
    assert!(matches!(r.version(), Err(Error::Closed { .. })));
}

#[test]
fn waiters_wake_on_publish_and_time_out_otherwise() {
    let loc = Location::Named(unique("wait"));
    let mut w = writer(&loc);
    let waiter = {
        let loc = loc.clone();
        thread::spawn(move || reader(&loc).wait_for_update(0, Duration::from_secs(30)))
    };
    w.publish(&dict(&[("a", Value::Int(1))]).encode().unwrap())
        .unwrap();
    assert_eq!(waiter.join().unwrap().unwrap(), 1);
    let e = reader(&loc)
        .wait_for_update(1, Duration::from_millis(50))
        .unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e}");
    // A waiter is told when the store is removed rather than waiting out its timeout,
    // whether the removal comes before or during its wait.
    let mut r = reader(&loc);
    let waiter = thread::spawn(move || r.wait_for_update(1, Duration::from_secs(30)));
    w.close().unwrap();
    assert!(matches!(waiter.join().unwrap(), Err(Error::Closed { .. })));
}

#[test]
fn the_map_grows_as_needed() {
    let loc = Location::Named(unique("grow"));
    let options = Options {
        initial_map_size: 1 << 20,
        ..Options::default()
    };
    let mut w = LmdbStore::create(&loc, &options).unwrap();
    let mut r = reader(&loc);
    for (i, mib) in [3usize, 9, 20].into_iter().enumerate() {
        let data = dict(&[
            ("blob", Value::Bytes(vec![i as u8; mib << 20])),
            ("i", Value::Int(i as i64)),
        ]);
        w.publish(&data.encode().unwrap()).unwrap();
        assert_eq!(r.read_value().unwrap(), Some(data));
    }
    let (map, used) = r.map_usage().unwrap().unwrap();
    assert!(
        map >= 20 << 20 && used >= 20 << 20,
        "map {map}, used {used}"
    );
    w.close().unwrap();
}

#[test]
fn durability_is_what_was_asked() {
    for durable in [false, true] {
        let loc = Location::Named(unique(&format!("durable{durable}")));
        let mut w = LmdbStore::create(
            &loc,
            &Options {
                durable,
                ..Options::default()
            },
        )
        .unwrap();
        assert_eq!(w.is_durable().unwrap(), Some(durable));
        w.close().unwrap();
    }
}

#[test]
fn bad_paths_are_io_errors_naming_the_path() {
    let tmp = TempDir::new("badpath");
    let file = tmp.0.join("a_file");
    std::fs::write(&file, b"not a directory").unwrap();
    let under_file = Location::Path(file.join("store"));
    for result in [
        LmdbStore::create(&under_file, &Options::default()).map(drop),
        LmdbStore::attach(&under_file, &Options::default()).map(drop),
        LmdbStore::create(&Location::Path(file.clone()), &Options::default()).map(drop),
    ] {
        match result {
            Err(Error::Io { what, .. }) => assert!(what.contains("a_file"), "{what}"),
            other => panic!("expected an Io error, got {:?}", other.err()),
        }
    }
    for bad in ["", "a/b", "x.1"] {
        assert!(matches!(
            LmdbStore::create(&Location::Named(bad.into()), &Options::default()),
            Err(Error::InvalidName { .. })
        ));
    }
}

#[test]
fn a_writer_that_fails_to_open_removes_the_directories_it_made() {
    let tmp = TempDir::new("failopen");
    let deep = tmp.0.join("a").join("b").join("store");
    // LMDB refuses a reader table of 0 slots, after the directories exist.
    let options = Options {
        max_readers: 0,
        ..Options::default()
    };
    assert!(LmdbStore::create(&Location::Path(deep), &options).is_err());
    assert!(
        !tmp.0.join("a").exists(),
        "left behind: {:?}",
        tmp.0.join("a")
    );
    // A store that was there before keeps its directory and its data when a writer
    // fails to open it.
    let mut w = LmdbStore::create(&tmp.store(), &Options::default()).unwrap();
    w.publish(&dict(&[("kept", Value::Int(1))]).encode().unwrap())
        .unwrap();
    w.close().unwrap();
    assert!(LmdbStore::create(&tmp.store(), &options).is_err());
    let mut r = LmdbStore::attach(&tmp.store(), &Options::default()).unwrap();
    assert_eq!(
        r.read_value().unwrap(),
        Some(dict(&[("kept", Value::Int(1))]))
    );
}

/// Opens the environment of a closed store directly, to tamper with one of its databases:
/// `Some("records")` or the unnamed one.
fn with_raw_env(
    dir: &Path,
    name: Option<&str>,
    f: impl FnOnce(&heed::Env, heed::Database<Bytes, Bytes>),
) {
    // SAFETY: no store of this test has the environment open.
    let env = unsafe { EnvOpenOptions::new().max_dbs(1).open(dir).unwrap() };
    let wtxn = env.write_txn().unwrap();
    let db = env
        .create_databases_and_commit(wtxn, |o, txn| {
            o.create_database::<Bytes, Bytes>(txn, name)
                .map(CommitOrAbort::<_, ()>::Commit)
        })
        .unwrap()
        .unwrap_commit();
    f(&env, db);
    env.prepare_for_closing().wait();
}

#[test]
fn corrupt_and_foreign_records_are_errors_naming_store_and_key() {
    let tmp = TempDir::new("corrupt");
    let loc = tmp.store();
    let dir = tmp.0.join("store");
    let mut w = writer(&loc);
    w.publish(
        &dict(&[("good", Value::Int(1)), ("bad", Value::Int(2))])
            .encode()
            .unwrap(),
    )
    .unwrap();
    w.close().unwrap();
    with_raw_env(&dir, Some("records"), |env, db| {
        let mut txn = env.write_txn().unwrap();
        db.put(&mut txn, b"bad", b"\x01\xff").unwrap(); // ordinal 1, then an unknown tag
        txn.commit().unwrap();
    });
    let mut r = reader(&loc);
    assert_eq!(r.get_value("good").unwrap(), Some(Value::Int(1)));
    for e in [r.get_value("bad").unwrap_err(), r.read_value().unwrap_err()] {
        match e {
            Error::Corrupt { store, .. } => {
                assert!(
                    store.contains("record \"bad\"") && store.contains("store"),
                    "{store}"
                )
            }
            other => panic!("expected Corrupt, got {other}"),
        }
    }
    drop(r);
    with_raw_env(&dir, Some("records"), |env, db| {
        let mut txn = env.write_txn().unwrap();
        db.put(&mut txn, b"bad", b"\x05\x03\x02").unwrap(); // ordinal 5 of 2
        db.put(&mut txn, b"\xffother", b"?").unwrap();
        txn.commit().unwrap();
    });
    let mut r = reader(&loc);
    assert!(matches!(r.read_value(), Err(Error::Corrupt { .. })));
    assert!(matches!(r.get_value("bad"), Err(Error::Corrupt { .. })));
    drop(r);
    // Someone else's LMDB environment: read as corrupt, never overwritten by a writer.
    let foreign = tmp.0.join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    with_raw_env(&foreign, None, |env, db| {
        let mut txn = env.write_txn().unwrap();
        db.put(&mut txn, b"their key", b"their value").unwrap();
        txn.commit().unwrap();
    });
    match LmdbStore::create(&Location::Path(foreign.clone()), &Options::default()) {
        Err(Error::Corrupt { source, .. }) => {
            assert!(source.reason().contains("their key"), "{source}")
        }
        other => panic!("expected Corrupt, got {:?}", other.err()),
    }
    assert!(
        !foreign.join("ipcb_notify").exists(),
        "a refused writer leaves nothing in the directory"
    );
}

#[test]
fn blobs_that_are_not_dicts_are_refused() {
    let loc = Location::Named(unique("notdict"));
    let mut w = writer(&loc);
    assert!(matches!(
        w.publish(&Value::Int(1).encode().unwrap()),
        Err(Error::Usage(_))
    ));
    assert!(matches!(w.publish(b"garbage"), Err(Error::Corrupt { .. })));
    // A hand-made blob holding one key twice.
    let mut blob = dict(&[("a", Value::Int(1)), ("b", Value::Int(2))])
        .encode()
        .unwrap();
    let at = blob.windows(3).position(|w| w == b"\x09\x01b").unwrap();
    blob[at + 2] = b'a';
    match w.publish(&blob) {
        Err(Error::Corrupt { source, .. }) => {
            assert!(source.reason().contains("twice"), "{source}")
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let mut reader = reader(&loc);
    assert!(matches!(reader.publish(&blob), Err(Error::Usage(_))));
    w.close().unwrap();
}
