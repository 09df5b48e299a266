//! Codec behaviour seen from outside the crate: round trips, the pinned format, lookups,
//! limits, and garbage that must fail cleanly.

use ipc_core::codec::{
    decode_value, Blob, EncodeErrorKind, Encoder, Key, Skip, Table, Value, ValueSink, MAX_DEPTH,
};
use ipc_core::payload::{self, SplitMix64};

mod common;
use common::{d, s, sample};

#[test]
fn round_trip_every_kind() {
    let v = sample();
    let blob = v.encode().unwrap();
    assert_eq!(Value::decode(&blob).unwrap(), v);
}

#[test]
fn non_dict_roots_round_trip() {
    for v in [
        Value::None,
        Value::Int(7),
        s("root"),
        Value::List(vec![d(&[("k", Value::Int(1))]), d(&[("k", Value::Int(2))])]),
        Value::Tuple(vec![]),
    ] {
        let blob = v.encode().unwrap();
        assert!(!Blob::parse(&blob).unwrap().is_indexed());
        assert_eq!(Value::decode(&blob).unwrap(), v);
    }
}

#[test]
fn floats_keep_their_bits() {
    let nan = f64::from_bits(0x7ff8_0000_0000_1234);
    let blob = Value::List(vec![Value::Float(nan), Value::Float(-0.0)])
        .encode()
        .unwrap();
    let Value::List(items) = Value::decode(&blob).unwrap() else {
        panic!("not a list")
    };
    let bits: Vec<u64> = items
        .iter()
        .map(|v| match v {
            Value::Float(f) => f.to_bits(),
            _ => panic!("not a float"),
        })
        .collect();
    assert_eq!(bits, vec![nan.to_bits(), (-0.0f64).to_bits()]);
}

/// The bytes of `sample()` are pinned: a change here is a format change, which needs a new
/// FORMAT_VERSION and a line in docs/format.md. Python's tests check the same file.
#[test]
fn golden_bytes() {
    let blob = sample().encode().unwrap();
    let hex: String = blob.iter().map(|b| format!("{b:02x}")).collect();
    let golden = include_str!("data/golden_v2.hex").trim();
    assert_eq!(hex, golden, "the encoding of the golden sample changed");
    assert_eq!(Value::decode(&unhex(golden)).unwrap(), sample());
}

/// A blob of the previous version is refused, naming both versions, not misread.
#[test]
fn a_v1_blob_is_refused_saying_version_1() {
    let v1 = unhex(include_str!("data/golden_v1.hex"));
    let err = Value::decode(&v1).unwrap_err();
    assert_eq!(err.offset(), 4);
    assert!(
        err.reason()
            .contains("format version 1 (this build reads version 2)"),
        "{err}"
    );
}

fn unhex(hex: &str) -> Vec<u8> {
    let hex = hex.trim();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn get_finds_each_key_alone() {
    let v = payload::generate(1000, 0);
    let blob = v.encode().unwrap();
    let Value::Dict(entries) = &v else {
        unreachable!()
    };
    let b = Blob::parse(&blob).unwrap();
    assert_eq!(b.len(), 1000);
    for (k, expected) in entries {
        assert_eq!(&Value::decode_key(&blob, k).unwrap().unwrap(), expected);
    }
    assert_eq!(Value::decode_key(&blob, "key_1000").unwrap(), None);
    assert_eq!(Value::decode_key(&blob, "").unwrap(), None);
    let keys = b.keys().unwrap();
    assert_eq!(keys.len(), 1000);
    assert_eq!(keys[999], "key_999");
}

#[test]
fn empty_dict_has_no_slots() {
    let blob = d(&[]).encode().unwrap();
    assert_eq!(Value::decode(&blob).unwrap(), d(&[]));
    assert_eq!(Value::decode_key(&blob, "x").unwrap(), None);
    assert!(Value::decode_key(&Value::Int(1).encode().unwrap(), "x").is_err());
}

#[test]
fn wrong_announced_count_still_makes_a_valid_index() {
    // A caller that announces 100 entries and writes 3 gets a correctly sized table.
    let mut enc = Encoder::new();
    enc.begin_index(100);
    for k in ["a", "b", "c"] {
        enc.index_key(k, true);
        enc.int(1);
    }
    let blob = enc.finish().unwrap();
    assert_eq!(Value::decode_key(&blob, "c").unwrap(), Some(Value::Int(1)));
    assert_eq!(Blob::parse(&blob).unwrap().len(), 3);
}

#[test]
fn a_reused_encoder_writes_what_a_new_one_does() {
    let mut enc = Encoder::new();
    let failures = [
        // Found when the index is completed, and half-way through a nested dict.
        d(&[("a", Value::None), ("a", Value::None)]),
        d(&[("n", d(&[("k", Value::None), ("k", Value::Int(1))]))]),
    ];
    let values = [
        sample(),
        payload::generate(2000, 3),
        d(&[]),
        Value::Int(7),
        sample(),
    ];
    for (v, bad) in values.iter().zip(failures.iter().cycle()) {
        assert_eq!(v.encode_with(&mut enc).unwrap(), v.encode().unwrap());
        assert_eq!(
            enc.complete().unwrap(),
            v.encode().unwrap(),
            "completing twice"
        );
        // A failure leaves nothing behind for the next blob.
        assert!(bad.encode_with(&mut enc).is_err());
    }
}

#[test]
fn duplicate_keys_are_refused() {
    for v in [
        d(&[("a", Value::None), ("a", Value::None)]),
        d(&[("n", d(&[("k", Value::None), ("k", Value::Int(1))]))]),
    ] {
        let e = v.encode().unwrap_err();
        // The key as Python's repr writes it.
        assert!(matches!(e.kind, EncodeErrorKind::DuplicateKey(ref k) if k == "'a'" || k == "'k'"));
    }
}

fn nested_lists(levels: usize) -> Value {
    let mut v = Value::Int(0);
    for _ in 0..levels {
        v = Value::List(vec![v]);
    }
    v
}

#[test]
fn depth_limit_is_the_same_on_both_sides() {
    // 256 levels of recursion take ~200 KiB of stack in a release build and several
    // times that unoptimised: more than a test thread's default 2 MiB.
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(depth_limit)
        .unwrap()
        .join()
        .unwrap();
}

fn depth_limit() {
    let ok = nested_lists(MAX_DEPTH);
    assert_eq!(Value::decode(&ok.encode().unwrap()).unwrap(), ok);
    let e = nested_lists(MAX_DEPTH + 1).encode().unwrap_err();
    assert_eq!(e.kind, EncodeErrorKind::TooDeep);
    assert_eq!(e.path().len(), MAX_DEPTH);

    // A blob nested one level too deep, written by hand, is refused by the decoder.
    let mut enc = Encoder::new();
    for _ in 0..=MAX_DEPTH {
        enc.list(1);
    }
    enc.none();
    let blob = enc.finish().unwrap();
    let err = Value::decode(&blob).unwrap_err();
    assert!(err.reason().contains("nesting deeper"), "{err}");
}

#[test]
fn truncations_and_bit_flips_fail_cleanly() {
    let blob = sample().encode().unwrap();
    for cut in 0..blob.len() {
        assert!(
            Value::decode(&blob[..cut]).is_err(),
            "prefix of {cut} bytes decoded"
        );
    }
    // Flip every bit of the blob in turn: decoding may succeed (a flipped value byte is
    // still a value) but must never panic.
    for i in 0..blob.len() {
        for bit in 0..8 {
            let mut bad = blob.clone();
            bad[i] ^= 1 << bit;
            let _ = Value::decode(&bad);
            let _ = Value::decode_key(&bad, "nested");
        }
    }
}

#[test]
fn random_bytes_fail_cleanly() {
    let mut rng = SplitMix64::new(42);
    let header = &sample().encode().unwrap()[..40];
    for len in 0..2000 {
        let mut buf: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        // Half the time keep a plausible header so the body parser is exercised too.
        if len >= 40 && rng.next_u64() % 2 == 0 {
            buf[..40].copy_from_slice(header);
            buf[8..16].copy_from_slice(&(len as u64).to_le_bytes());
        }
        let _ = Value::decode(&buf);
        let _ = Value::decode_key(&buf, "key_1");
        if let Ok(b) = Blob::parse(&buf) {
            let _ = b.decode(&mut Skip);
        }
    }
}

#[test]
fn huge_counts_do_not_allocate() {
    // A list claiming 2^62 items in a 60-byte blob must be rejected before any allocation.
    let mut enc = Encoder::new();
    enc.list(1 << 62);
    let blob = enc.finish().unwrap();
    let err = Value::decode(&blob).unwrap_err();
    assert!(err.reason().contains("exceeds"), "{err}");
}

#[test]
fn header_errors_name_the_problem() {
    let blob = sample().encode().unwrap();
    let mut bad = blob.clone();
    bad[0] = b'X';
    assert!(Value::decode(&bad).unwrap_err().reason().contains("magic"));
    let mut bad = blob.clone();
    bad[4] = 3;
    assert!(Value::decode(&bad)
        .unwrap_err()
        .reason()
        .contains("format version 3"));
    assert!(Value::decode(&blob[..10])
        .unwrap_err()
        .reason()
        .contains("header"));
}

#[test]
fn seeded_payloads_round_trip() {
    for seed in [0, 1, 99] {
        let v = payload::generate(257, seed);
        assert_eq!(Value::decode(&v.encode().unwrap()).unwrap(), v);
    }
}

#[test]
fn entries_decode_apart_from_their_blob() {
    // What the LMDB store does: keep the table and each value separately, decode later.
    let v = sample();
    let blob = v.encode().unwrap();
    let b = Blob::parse(&blob).unwrap();
    let table_bytes = b.table().as_bytes().to_vec();
    let stored: Vec<(ipc_core::codec::Key, Vec<u8>)> = b
        .entries()
        .unwrap()
        .iter()
        .map(|e| (e.key.into(), e.value.to_vec()))
        .collect();
    let table = Table::parse(&table_bytes).unwrap();
    let rebuilt = Value::Dict(
        stored
            .iter()
            .map(|(k, bytes)| {
                (
                    k.clone(),
                    decode_value(bytes, table, &mut ValueSink::default()).unwrap(),
                )
            })
            .collect(),
    );
    assert_eq!(rebuilt, v);
    // A value with a byte missing, or one byte too many, is refused.
    let (_, bytes) = &stored[2];
    assert!(decode_value(&bytes[..bytes.len() - 1], table, &mut ValueSink::default()).is_err());
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(decode_value(&longer, table, &mut ValueSink::default()).is_err());
    assert!(Table::parse(&table_bytes[..3]).is_err());
}

#[test]
fn entries_by_index_match_a_walk() {
    for v in [sample(), payload::generate(300, 5), d(&[])] {
        let blob = v.encode().unwrap();
        let b = Blob::parse(&blob).unwrap();
        let located = |entries: Vec<ipc_core::codec::Entry<'_>>| -> Vec<(Key, bool, Vec<u8>)> {
            entries
                .into_iter()
                .map(|e| (e.key.to_key(), e.ascii, e.value.to_vec()))
                .collect()
        };
        assert_eq!(
            located(b.entries_by_index().unwrap()),
            located(b.entries().unwrap())
        );
    }
}

#[test]
fn entries_by_index_refuse_a_bad_index() {
    let blob = sample().encode().unwrap();
    let n_slots = u64::from_le_bytes(blob[32..40].try_into().unwrap()) as usize;
    let slot = |i: usize| 40 + 4 * i..44 + 4 * i;
    let used: Vec<usize> = (0..n_slots).filter(|&i| blob[slot(i)] != [0; 4]).collect();
    let reason = |bad: &[u8]| {
        Blob::parse(bad)
            .unwrap()
            .entries_by_index()
            .map(|e| e.len())
            .unwrap_err()
            .reason()
            .to_owned()
    };

    let mut bad = blob.clone();
    bad[slot(used[0])].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(
        reason(&bad).contains("past the entries"),
        "{}",
        reason(&bad)
    );

    let mut bad = blob.clone();
    bad[slot(used[0])].fill(0);
    assert!(reason(&bad).contains("the index holds"), "{}", reason(&bad));

    // Two slots naming one entry: another entry is lost, and the doubled one has no room.
    let mut bad = blob.clone();
    let first = blob[slot(used[0])].to_vec();
    bad[slot(used[1])].copy_from_slice(&first);
    assert!(Blob::parse(&bad).unwrap().entries_by_index().is_err());

    // No flipped bit makes it panic.
    for i in 0..blob.len() {
        for bit in 0..8 {
            let mut bad = blob.clone();
            bad[i] ^= 1 << bit;
            if let Ok(b) = Blob::parse(&bad) {
                let _ = b.entries_by_index();
            }
        }
    }
}

/// The fuzzer starts from these; a seed of an old version would only test the header
/// check.
#[test]
fn fuzz_seeds_are_blobs_of_this_version() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let blob = std::fs::read(&path).unwrap();
        let v = Value::decode(&blob).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(v.encode().unwrap(), blob, "{}", path.display());
        seen += 1;
    }
    assert!(seen >= 6, "{seen} seeds");
}
