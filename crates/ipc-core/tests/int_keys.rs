//! Int dict keys (format 2): at the root, where the index finds them by their own hash,
//! and in nested dicts; mixed with str keys, where `1` and `"1"` are different keys.

use ipc_core::codec::{format, Blob, Doc, Encoder, Item, Key, KeyRef, Value};

mod common;
use common::s;

fn dict(entries: Vec<(Key, Value)>) -> Value {
    Value::Dict(entries)
}

fn mixed() -> Value {
    dict(vec![
        (Key::Int(1), s("int one")),
        (Key::from("1"), s("str one")),
        (Key::Int(-1), Value::Int(-1)),
        (Key::Int(i64::MAX), Value::None),
        (Key::Int(i64::MIN), Value::Bool(true)),
        (Key::Int(70_000), Value::Float(0.5)),
        (
            Key::from("nested"),
            dict(vec![
                (Key::Int(0), s("zero")),
                (Key::from("0"), s("str zero")),
                (Key::from("x"), dict(vec![(Key::Int(300), Value::Int(3))])),
            ]),
        ),
    ])
}

#[test]
fn mixed_keys_round_trip_in_order() {
    let v = mixed();
    let blob = v.encode().unwrap();
    assert_eq!(Value::decode(&blob).unwrap(), v);
    let mut doc = Doc::new();
    doc.decode(&blob).unwrap();
    assert!(doc.root().unwrap().identical(&v));
    let keys = Blob::parse(&blob).unwrap().keys().unwrap();
    let expected: Vec<KeyRef<'_>> = match &v {
        Value::Dict(entries) => entries.iter().map(|(k, _)| k.as_ref()).collect(),
        _ => unreachable!(),
    };
    assert_eq!(keys, expected);
}

#[test]
fn lookups_tell_int_keys_from_str_keys() {
    let blob = mixed().encode().unwrap();
    let get = |k: KeyRef<'_>| Value::decode_key(&blob, k).unwrap();
    assert_eq!(get(KeyRef::Int(1)), Some(s("int one")));
    assert_eq!(get(KeyRef::Str("1")), Some(s("str one")));
    assert_eq!(Value::decode_key(&blob, -1).unwrap(), Some(Value::Int(-1)));
    assert_eq!(get(KeyRef::Int(i64::MIN)), Some(Value::Bool(true)));
    assert_eq!(get(KeyRef::Int(70_000)), Some(Value::Float(0.5)));
    assert_eq!(get(KeyRef::Int(2)), None);
    assert_eq!(get(KeyRef::Str("-1")), None);
    assert_eq!(get(KeyRef::Str("70000")), None);
    let mut doc = Doc::new();
    assert!(doc.decode_key(&blob, 1).unwrap());
    assert!(matches!(doc.root(), Some(Item::Str("int one"))));
    assert!(!doc.decode_key(&blob, 5).unwrap());
    // Nested dicts look up by scanning, with the same rule.
    assert!(doc.decode_key(&blob, "nested").unwrap());
    let Some(Item::Dict(nested)) = doc.root() else {
        panic!("a dict")
    };
    assert!(matches!(nested.get(0), Some(Item::Str("zero"))));
    assert!(matches!(nested.get("0"), Some(Item::Str("str zero"))));
    assert!(nested.get(1).is_none());
    let Some(Item::Dict(x)) = nested.get("x") else {
        panic!("a dict")
    };
    assert!(matches!(x.get(300), Some(Item::Int(3))));
}

#[test]
fn many_int_keys_are_all_found() {
    let n = 2000;
    let v = dict(
        (0..n)
            .map(|i| (Key::Int(i * 7 - 5000), Value::Int(i)))
            .collect(),
    );
    let blob = v.encode().unwrap();
    let b = Blob::parse(&blob).unwrap();
    let mut sink = ipc_core::codec::ValueSink::default();
    for i in 0..n {
        assert_eq!(b.get(i * 7 - 5000, &mut sink).unwrap(), Some(Value::Int(i)));
        assert_eq!(b.get(i * 7 - 4999, &mut sink).unwrap(), None);
        let text = (i * 7 - 5000).to_string();
        assert_eq!(b.get(text.as_str(), &mut sink).unwrap(), None);
    }
}

#[test]
fn int_keys_hash_a_marker_no_str_can_start_with() {
    let mut input = vec![0xFF];
    input.extend_from_slice(&42i64.to_le_bytes());
    assert_eq!(format::int_key_hash(42), format::key_hash(&input));
    // 0xFF is never a byte of UTF-8 text, so no str key hashes those bytes.
    assert!(std::str::from_utf8(&input).is_err());
}

#[test]
fn duplicate_int_keys_are_refused_and_named() {
    for v in [
        dict(vec![(Key::Int(3), Value::None), (Key::Int(3), Value::None)]),
        dict(vec![(
            Key::from("n"),
            dict(vec![(Key::Int(3), Value::None), (Key::Int(3), Value::None)]),
        )]),
    ] {
        let e = v.encode().unwrap_err();
        assert!(e.to_string().contains("duplicate dict key 3"), "{e}");
    }
    // `1` and `"1"` are not duplicates.
    let ok = dict(vec![
        (Key::Int(1), Value::None),
        (Key::from("1"), Value::None),
    ]);
    assert!(ok.encode().is_ok());
    // Through the encoder directly, the index notices too.
    let mut enc = Encoder::new();
    enc.begin_index(2);
    for _ in 0..2 {
        enc.index_int_key(-9);
        enc.none();
    }
    assert!(enc
        .finish()
        .unwrap_err()
        .to_string()
        .contains("duplicate dict key -9"));
}

#[test]
fn errors_under_an_int_key_name_it_in_the_path() {
    let bad = dict(vec![(
        Key::Int(4),
        dict(vec![(Key::Int(-2), Value::BigInt(vec![]))]),
    )]);
    let e = bad.encode().unwrap_err();
    assert_eq!(e.path_string(), "data[4][-2]");
}

#[test]
fn a_root_key_of_another_tag_is_refused() {
    // A root key tagged as something else than a string or an integer is refused.
    let v = dict(vec![(Key::from("a"), Value::Int(1))]);
    let mut blob = v.encode().unwrap();
    let b = Blob::parse(&blob).unwrap();
    // The only entry ends where the table starts: key tag, length, "a", then I8 and 1.
    let at = blob.len() - b.table().as_bytes().len() - 5;
    assert_eq!(blob[at], format::tag::STR_ASCII);
    blob[at] = format::tag::F64;
    let err = Value::decode(&blob).unwrap_err();
    assert!(err.reason().contains("expected a dict key"), "{err}");
}
