//! `Doc`, the flat reusable decode target, against `Value`, the tree the codec has always
//! built: the same content (floats bit for bit), the same lookups, the same errors.

use ipc_core::codec::{
    decode_value, Blob, Doc, Encoder, Item, KeyRef, Table, Value, ValueSink, MAX_DEPTH,
};
use ipc_core::lmdb::{LmdbStore, Location, Options, SinkError, StoreSink};
use ipc_core::payload::{self, SplitMix64};
use ipc_core::store::Store;

mod common;
use common::{d, s, sample};

#[track_caller]
fn assert_same(doc: &Doc, expected: &Value) {
    let got = doc.to_value().expect("the doc has a root");
    assert!(
        got.identical(expected),
        "doc holds {got:?}\nexpected {expected:?}"
    );
}

/// Decodes `blob` into a fresh Doc and into a reused one, and checks both against
/// `Value::decode`.
#[track_caller]
fn check_blob(reused: &mut Doc, blob: &[u8]) {
    let expected = Value::decode(blob).expect("valid blob");
    let mut fresh = Doc::new();
    fresh.decode(blob).unwrap();
    assert_same(&fresh, &expected);
    reused.decode(blob).unwrap();
    assert_same(reused, &expected);
}

/// Every kind of value: the shared sample, and the edge cases it lacks.
fn every_kind() -> Value {
    d(&[
        ("sample", sample()),
        (
            "ints",
            Value::List(vec![Value::Int(-1), Value::Int(i64::MAX)]),
        ),
        // -2**70, little-endian two's complement.
        ("big", Value::BigInt(vec![0, 0, 0, 0, 0, 0, 0, 0, 0xc0])),
        (
            "floats",
            Value::List(vec![
                Value::Float(0.0),
                Value::Float(f64::NAN),
                Value::Float(-f64::NAN),
                Value::Float(f64::from_bits(0x7ff8_0000_dead_beef)),
                Value::Float(f64::MIN_POSITIVE / 2.0),
            ]),
        ),
        (
            "text",
            Value::List(vec![
                s("日本語のテキスト"),
                s("🦀 emoji"),
                s(&"long ".repeat(100)),
            ]),
        ),
        ("no bytes", Value::Bytes(vec![])),
        ("tuple", Value::Tuple(vec![Value::List(vec![])])),
        ("empty dict", d(&[])),
        ("clé", d(&[("é", Value::Int(1)), ("ü", s("ö"))])),
        (
            "nested",
            d(&[
                ("value", Value::Int(1)),
                ("inner", d(&[("value", Value::Int(2)), ("deeper", d(&[]))])),
                (
                    "list of dicts",
                    Value::List(vec![
                        d(&[("value", Value::Int(3))]),
                        d(&[("value", Value::Int(4)), ("other", Value::None)]),
                    ]),
                ),
                (&"k".repeat(100), s("a key too long to be shared")),
            ]),
        ),
    ])
}

fn non_dict_roots() -> Vec<Value> {
    vec![
        Value::None,
        Value::Bool(true),
        Value::Int(-5),
        Value::Int(i64::MIN),
        Value::BigInt(vec![1, 2, 3, 4, 5, 6, 7, 8, 9]),
        Value::Float(-0.0),
        Value::Float(f64::NAN),
        s(""),
        s("日本"),
        Value::Bytes(vec![]),
        Value::Bytes(vec![1, 2, 3]),
        Value::List(vec![]),
        Value::Tuple(vec![]),
        Value::List(vec![Value::Int(1), s("x"), Value::List(vec![d(&[])])]),
        Value::Tuple(vec![d(&[("a", Value::Tuple(vec![Value::None]))])]),
    ]
}

#[test]
fn payloads_decode_as_value_does() {
    let mut reused = Doc::new();
    for seed in [0, 3] {
        for n in [0, 1, 7, 100, 2000] {
            let blob = payload::generate(n, seed).encode().unwrap();
            check_blob(&mut reused, &blob);
        }
    }
}

#[test]
fn every_kind_decodes_as_value_does() {
    let mut reused = Doc::new();
    let v = every_kind();
    check_blob(&mut reused, &v.encode().unwrap());
    for root in non_dict_roots() {
        check_blob(&mut reused, &root.encode().unwrap());
    }
    // Each value of the sample as a root of its own, and wrapped in a list.
    let Value::Dict(entries) = v else {
        unreachable!()
    };
    for (_, value) in entries {
        check_blob(&mut reused, &value.encode().unwrap());
        check_blob(&mut reused, &Value::List(vec![value]).encode().unwrap());
    }
}

#[test]
fn views_read_what_was_decoded() {
    let blob = every_kind().encode().unwrap();
    let mut doc = Doc::new();
    doc.decode(&blob).unwrap();
    let Some(Item::Dict(root)) = doc.root() else {
        panic!("the root is a dict")
    };
    assert_eq!(root.len(), 10);
    assert!(root.get("missing").is_none());
    let Some(Item::Dict(sample)) = root.get("sample") else {
        panic!("sample is a dict")
    };
    assert!(matches!(sample.get("none"), Some(Item::None)));
    let Some(Item::List(ints)) = sample.get("ints") else {
        panic!("ints is a list")
    };
    assert_eq!(ints.len(), 6);
    assert!(matches!(ints.get(5), Some(Item::Int(i64::MIN))));
    assert!(ints.get(6).is_none());
    let Some(Item::List(floats)) = sample.get("floats") else {
        panic!("floats is a list")
    };
    let Some(Item::Float(neg_zero)) = floats.get(1) else {
        panic!("a float")
    };
    assert_eq!(neg_zero.to_bits(), (-0.0f64).to_bits());
    assert!(matches!(sample.get("big"), Some(Item::BigInt(b)) if b.last() == Some(&0x40)));
    assert!(matches!(root.get("big"), Some(Item::BigInt(b)) if b.last() == Some(&0xc0)));
    assert!(matches!(
        sample.get("bytes"),
        Some(Item::Bytes([0, 255, 10]))
    ));
    let Some(Item::Dict(cle)) = root.get("clé") else {
        panic!("clé is a dict")
    };
    let keys: Vec<KeyRef<'_>> = cle.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["é", "ü"]);
    assert!(matches!(cle.get("ü"), Some(Item::Str("ö"))));
    let Some(Item::Dict(empty)) = root.get("empty dict") else {
        panic!("a dict")
    };
    assert!(empty.is_empty() && empty.iter().next().is_none());
    // Reading in reverse reaches the same items.
    let last = root.iter().next_back().map(|(k, _)| k);
    assert_eq!(last, Some(KeyRef::Str("nested")));
    assert!(doc.nodes() > 0);
    assert!(format!("{doc:?}").contains("clé"));
}

#[test]
fn decode_key_finds_what_value_finds() {
    let mut doc = Doc::new();
    for blob in [
        every_kind().encode().unwrap(),
        payload::generate(300, 5).encode().unwrap(),
    ] {
        let keys = Blob::parse(&blob).unwrap().keys().unwrap();
        let absent = ["missing", "", "key_300"].map(KeyRef::Str);
        for key in keys.iter().copied().chain(absent) {
            let expected = Value::decode_key(&blob, key).unwrap();
            let found = doc.decode_key(&blob, key).unwrap();
            assert_eq!(found, expected.is_some(), "{key}");
            match expected {
                Some(v) => assert_same(&doc, &v),
                None => assert!(doc.root().is_none(), "{key}"),
            }
        }
    }
    // A blob whose root is not a dict has no index: the same error both ways.
    let list = Value::List(vec![]).encode().unwrap();
    assert_eq!(
        doc.decode_key(&list, "a").unwrap_err(),
        Value::decode_key(&list, "a").unwrap_err()
    );
}

#[test]
fn a_reused_doc_holds_nothing_stale() {
    let big = payload::generate(500, 1).encode().unwrap();
    let mut doc = Doc::new();
    doc.decode(&big).unwrap();
    // Smaller, other keys and other types at the same positions.
    let small = d(&[
        ("key_0", Value::List(vec![Value::Int(1)])),
        ("x", d(&[("value", s("now a str")), ("text", Value::None)])),
    ]);
    doc.decode(&small.encode().unwrap()).unwrap();
    assert_same(&doc, &small);
    let Some(Item::Dict(root)) = doc.root() else {
        panic!("a dict")
    };
    assert_eq!(root.len(), 2);
    assert!(root.get("key_1").is_none());
    // A scalar root after a dict, then a key that is absent, then the big one again.
    doc.decode(&Value::Int(7).encode().unwrap()).unwrap();
    assert!(matches!(doc.root(), Some(Item::Int(7))));
    assert!(!doc.decode_key(&big, "missing").unwrap());
    assert!(doc.root().is_none());
    check_blob(&mut doc, &big);
    // A failed decode leaves the doc empty, not holding the previous content.
    assert!(doc.decode(&big[..big.len() - 1]).is_err());
    assert!(doc.root().is_none() && doc.to_value().is_none());
    doc.clear();
    assert!(doc.root().is_none());
}

#[test]
fn shared_strings_as_values_are_read_each_time() {
    // The encoder shares only nested keys; a blob may also reference the table from a
    // value, before or after the same string serves as a key.
    let mut enc = Encoder::new();
    enc.list(4);
    let x = enc.shared_id("x", true).unwrap();
    let y = enc.shared_id("ÿ", false).unwrap();
    enc.shared_ref(x);
    enc.dict(2);
    enc.shared_ref(x);
    enc.shared_ref(y);
    enc.shared_ref(y);
    enc.shared_ref(x);
    enc.shared_ref(y);
    enc.shared_ref(x);
    let blob = enc.finish().unwrap();
    let expected = Value::List(vec![
        s("x"),
        d(&[("x", s("ÿ")), ("ÿ", s("x"))]),
        s("ÿ"),
        s("x"),
    ]);
    assert!(Value::decode(&blob).unwrap().identical(&expected));
    let mut doc = Doc::new();
    check_blob(&mut doc, &blob);
}

#[test]
fn duplicate_keys_are_kept_and_get_finds_the_first() {
    // Only a corrupt or hand-made blob repeats a key; a nested dict here.
    let mut enc = Encoder::new();
    enc.dict(3);
    enc.key("a", true);
    enc.int(1);
    enc.key("b", true);
    enc.int(2);
    enc.key("a", true);
    enc.int(3);
    let blob = enc.finish().unwrap();
    let expected = Value::decode(&blob).unwrap();
    let mut doc = Doc::new();
    check_blob(&mut doc, &blob);
    let Some(Item::Dict(map)) = doc.root() else {
        panic!("a dict")
    };
    assert_eq!(map.len(), 3);
    assert!(matches!(map.get("a"), Some(Item::Int(1))));
    let Value::Dict(entries) = expected else {
        panic!("a dict")
    };
    assert_eq!(entries.len(), 3);
}

#[test]
fn entries_decode_apart_from_their_blob() {
    // What the LMDB store does: each root value decoded on its own against the table.
    let blob = payload::generate(50, 2).encode().unwrap();
    let parsed = Blob::parse(&blob).unwrap();
    let mut doc = Doc::new();
    for e in parsed.entries().unwrap() {
        let expected = decode_value(e.value, parsed.table(), &mut ValueSink::default()).unwrap();
        doc.decode_value(e.value, parsed.table()).unwrap();
        assert_same(&doc, &expected);
    }
    // Several values into one document, against one table, as `decode_with` allows.
    let entries = parsed.entries().unwrap();
    let found = doc
        .decode_with(|sink| {
            let a = decode_value(entries[0].value, parsed.table(), &mut *sink)?;
            let b = decode_value(entries[1].value, parsed.table(), &mut *sink)?;
            // The root is the second; the first stays on the tape, unreferenced.
            let _ = a;
            Ok::<_, ipc_core::DecodeError>(Some(b))
        })
        .unwrap();
    assert!(found);
    let expected = decode_value(entries[1].value, parsed.table(), &mut ValueSink::default());
    assert_same(&doc, &expected.unwrap());
    // An empty table and a value that references it: the same error both ways.
    let table_bytes = 0u32.to_le_bytes();
    let table = Table::parse(&table_bytes).unwrap();
    let bad = [0x0B, 0x00];
    assert_eq!(
        doc.decode_value(&bad, table).unwrap_err(),
        decode_value(&bad, table, &mut ValueSink::default()).unwrap_err()
    );
}

/// The same outcome from a Doc and from Value, including the same error.
#[track_caller]
fn check_same_outcome(doc: &mut Doc, blob: &[u8], key: &str) {
    match (Value::decode(blob), doc.decode(blob)) {
        (Ok(v), Ok(())) => assert_same(doc, &v),
        (Err(a), Err(b)) => {
            assert_eq!(a, b);
            assert!(doc.root().is_none());
        }
        (a, b) => panic!("Value gave {a:?}, Doc gave {b:?}"),
    }
    match (Value::decode_key(blob, key), doc.decode_key(blob, key)) {
        (Ok(Some(v)), Ok(true)) => assert_same(doc, &v),
        (Ok(None), Ok(false)) => assert!(doc.root().is_none()),
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!("Value gave {a:?}, Doc gave {b:?}"),
    }
}

#[test]
fn truncations_and_bit_flips_fail_as_value_fails() {
    let mut doc = Doc::new();
    for v in [every_kind(), Value::List(vec![every_kind(), s("tail")])] {
        let blob = v.encode().unwrap();
        for cut in 0..blob.len() {
            let err = doc.decode(&blob[..cut]).unwrap_err();
            assert_eq!(err, Value::decode(&blob[..cut]).unwrap_err(), "cut {cut}");
            assert!(doc.root().is_none());
        }
        for i in 0..blob.len() {
            for bit in 0..8 {
                let mut bad = blob.clone();
                bad[i] ^= 1 << bit;
                check_same_outcome(&mut doc, &bad, "nested");
            }
        }
    }
}

#[test]
fn random_bytes_fail_as_value_fails() {
    let mut rng = SplitMix64::new(7);
    let header = &every_kind().encode().unwrap()[..40];
    let mut doc = Doc::new();
    for len in 0..1500 {
        let mut buf: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        if len >= 40 && rng.next_u64() % 2 == 0 {
            buf[..40].copy_from_slice(header);
            buf[8..16].copy_from_slice(&(len as u64).to_le_bytes());
        }
        check_same_outcome(&mut doc, &buf, "key_1");
    }
}

#[test]
fn limits_fail_as_value_fails() {
    let mut doc = Doc::new();
    // Too deep.
    let mut enc = Encoder::new();
    for _ in 0..=MAX_DEPTH {
        enc.list(1);
    }
    enc.none();
    let blob = enc.finish().unwrap();
    check_same_outcome(&mut doc, &blob, "a");
    // A count far beyond the data: refused before anything is reserved.
    let mut enc = Encoder::new();
    enc.list(1 << 62);
    let blob = enc.finish().unwrap();
    let err = doc.decode(&blob).unwrap_err();
    assert!(err.reason().contains("exceeds"), "{err}");
    check_same_outcome(&mut doc, &blob, "a");
}

fn unique(tag: &str) -> String {
    format!("rs_doc_{tag}_{}", std::process::id())
}

#[test]
fn lmdb_reads_into_a_doc() {
    let loc = Location::Named(unique("lmdb"));
    let mut w = LmdbStore::create(&loc, &Options::default()).unwrap();
    let mut r = LmdbStore::attach(&loc, &Options::default()).unwrap();
    let mut doc = Doc::new();
    let read = |r: &mut LmdbStore, doc: &mut Doc| {
        doc.decode_with(|sink| {
            let mut sink = StoreSink(sink);
            r.decode_with(None, |_| &mut sink)
        })
        .map_err(|e: SinkError| e.into_error("LMDB snapshot"))
    };
    assert!(!read(&mut r, &mut doc).unwrap());
    assert!(doc.root().is_none());
    for (n, seed) in [(200, 0), (20, 9)] {
        let data = payload::generate(n, seed);
        w.publish(&data.encode().unwrap()).unwrap();
        assert!(read(&mut r, &mut doc).unwrap());
        assert_same(&doc, &data);
        let Value::Dict(entries) = &data else {
            unreachable!()
        };
        for (k, v) in entries.iter().take(5) {
            let found = doc
                .decode_with(|sink| {
                    let mut sink = StoreSink(sink);
                    r.decode_with(k.as_str(), |_| &mut sink)
                })
                .map_err(|e: SinkError| e.into_error("LMDB snapshot"))
                .unwrap();
            assert!(found);
            assert_same(&doc, v);
        }
        let found = doc
            .decode_with(|sink| {
                let mut sink = StoreSink(sink);
                r.decode_with(Some("missing"), |_| &mut sink)
            })
            .map_err(|e: SinkError| e.into_error("LMDB snapshot"))
            .unwrap();
        assert!(!found && doc.root().is_none());
    }
    r.close().unwrap();
    w.close().unwrap();
}

/// Whether `written`, encoded and decoded into a Doc, is `expected` by `Item::identical`.
fn reads_as(written: &Value, expected: &Value) -> bool {
    let mut doc = Doc::new();
    doc.decode(&written.encode().unwrap()).unwrap();
    doc.root().unwrap().identical(expected)
}

#[test]
fn identical_compares_floats_by_their_bits() {
    let dict = |v: Value| d(&[("k", Value::List(vec![v]))]);
    let f = Value::Float;
    assert!(reads_as(&dict(f(f64::NAN)), &dict(f(f64::NAN))));
    assert!(!reads_as(&dict(f(0.0)), &dict(f(-0.0))));
    assert!(!reads_as(&dict(f(f64::NAN)), &dict(f(-f64::NAN))));
    assert!(reads_as(&dict(f(1.5)), &dict(f(1.5))));
}

#[test]
fn identical_minds_structure_kinds_and_order() {
    let dict = |v: Value| d(&[("k", v)]);
    let list = Value::List(vec![Value::Int(1)]);
    let tuple = Value::Tuple(vec![Value::Int(1)]);
    assert!(!reads_as(&list, &tuple));
    assert!(reads_as(&tuple, &tuple));
    assert!(!reads_as(&dict(Value::Int(1)), &dict(Value::Int(2))));
    assert!(!reads_as(&dict(Value::Int(1)), &dict(Value::Float(1.0))));
    assert!(!reads_as(&Value::List(vec![]), &list));
    let ab = d(&[("a", Value::None), ("b", Value::None)]);
    let ba = d(&[("b", Value::None), ("a", Value::None)]);
    assert!(!reads_as(&ab, &ba));
    assert!(!reads_as(&dict(s("é")), &dict(s("e"))));
    assert!(!reads_as(
        &dict(Value::Bytes(vec![1])),
        &dict(Value::BigInt(vec![1]))
    ));
}

#[test]
fn identical_agrees_with_value_identical() {
    // In place and through a built Value, the same answers.
    for (a, b) in [(sample(), sample()), (sample(), payload::generate(20, 1))] {
        let mut doc = Doc::new();
        doc.decode(&a.encode().unwrap()).unwrap();
        let item = doc.root().unwrap();
        assert_eq!(item.identical(&b), item.to_value().identical(&b));
    }
}
