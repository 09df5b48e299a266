//! Int top-level keys through every store that can run in one test process (shared
//! memory and LMDB; ZeroMQ's reader is the same blob code as shared memory's): `get`
//! by int, keys in order, no collision between `3` and `"3"`, and held snapshots.

use ipc_core::codec::{Key, KeyRef, Value, ValueSink};
use ipc_core::lmdb::{LmdbStore, Location, Options};
use ipc_core::shm::ShmStore;
use ipc_core::store::{HeldSnapshot, SinkError, Store, StoreSink};

fn unique(tag: &str) -> String {
    format!("rs_intkeys_{tag}_{}", std::process::id())
}

/// Str and int keys mixed, including a str that spells an int, the empty key (LMDB
/// escapes it) and the extremes of i64.
fn data() -> Value {
    Value::Dict(vec![
        (Key::Int(3), Value::Str("three".into())),
        (Key::from("3"), Value::Str("the string 3".into())),
        (Key::from("a"), Value::Int(1)),
        (Key::Int(-5), Value::List(vec![Value::Int(-5)])),
        (Key::from(""), Value::None),
        (Key::Int(i64::MIN), Value::Bool(true)),
        (Key::Int(i64::MAX), Value::Bool(false)),
    ])
}

fn get<S: Store>(store: &mut S, key: KeyRef<'_>) -> Option<Value> {
    let mut sink = StoreSink(ValueSink::default());
    store
        .decode_with(Some(key), |_| &mut sink)
        .map_err(|e: SinkError| e.into_error("test"))
        .unwrap()
}

fn check<S: Store>(store: &mut S) {
    let Value::Dict(entries) = data() else {
        unreachable!()
    };
    for (key, value) in &entries {
        assert_eq!(get(store, key.as_ref()), Some(value.clone()), "key {key}");
    }
    assert_eq!(get(store, KeyRef::Int(4)), None);
    assert_eq!(get(store, KeyRef::Str("-5")), None);
    let keys: Vec<Key> = store
        .keys_with::<_, SinkError>(|keys| keys.iter().map(|k| k.to_key()).collect())
        .unwrap();
    assert_eq!(
        keys,
        entries.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>()
    );
    let mut sink = StoreSink(ValueSink::default());
    let whole = store
        .decode_with(None, |_| &mut sink)
        .map_err(|e: SinkError| e.into_error("test"))
        .unwrap();
    assert_eq!(whole, Some(data()));
    // The same through a held snapshot.
    let held = store.hold().unwrap().unwrap();
    let mut sink = StoreSink(ValueSink::default());
    let three = held
        .decode_with(Some(KeyRef::Int(3)), &mut sink)
        .map_err(|e: SinkError| e.into_error("test"))
        .unwrap();
    assert_eq!(three, Some(Value::Str("three".into())));
    let keys: Vec<Key> = held
        .keys_with::<_, SinkError>(|keys| keys.iter().map(|k| k.to_key()).collect())
        .unwrap();
    assert_eq!(keys.len(), entries.len());
}

#[test]
fn int_keys_in_shared_memory() {
    let name = unique("shm");
    let mut w = ShmStore::create(&name).unwrap();
    let mut r = ShmStore::attach(&name).unwrap();
    w.publish(&data().encode().unwrap()).unwrap();
    check(&mut r);
    w.close().unwrap();
}

#[test]
fn int_keys_in_lmdb() {
    let loc = Location::Named(unique("lmdb"));
    let mut w = LmdbStore::create(&loc, &Options::default()).unwrap();
    let mut r = LmdbStore::attach(&loc, &Options::default()).unwrap();
    w.publish(&data().encode().unwrap()).unwrap();
    check(&mut r);
    // Rewriting only what changed keeps int records apart from str ones.
    let Value::Dict(mut entries) = data() else {
        unreachable!()
    };
    entries[0].1 = Value::Str("THREE".into());
    w.publish(&Value::Dict(entries).encode().unwrap()).unwrap();
    assert_eq!(r.get_value(3).unwrap(), Some(Value::Str("THREE".into())));
    assert_eq!(
        r.get_value("3").unwrap(),
        Some(Value::Str("the string 3".into()))
    );
    w.close().unwrap();
}
