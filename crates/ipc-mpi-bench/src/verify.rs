//! The content check a reader runs on what it read, outside the timed region.
//!
//! A reader checks against an [`Expected`]: the written value, with every array replaced
//! by its dtype, shape and a digest of its bytes. So a reader of 100 MiB of weights holds
//! 64 bits per array instead of a second copy of them (which would also show in its
//! memory figures), and the check reads each array once, in place in the reader's `Doc`.

use ipc_core::codec::{Dtype, Item, Key};
use ipc_core::{Doc, Value};

/// What a read must give back.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    /// A value with no array inside: compared in place, by `Item::identical` (floats by
    /// their bits, dicts in order).
    Exact(Value),
    Array {
        dtype: Dtype,
        shape: Vec<usize>,
        len: usize,
        digest: u64,
    },
    List(Vec<Expected>),
    Tuple(Vec<Expected>),
    Dict(Vec<(Key, Expected)>),
}

impl Expected {
    /// The check of `value`. A root dict is always split into its entries, which are
    /// what `get` reads compare against; below it, only what holds an array is split.
    pub fn new(value: Value) -> Expected {
        match value {
            Value::Dict(entries) => Expected::Dict(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, Expected::inner(v)))
                    .collect(),
            ),
            v => Expected::inner(v),
        }
    }

    fn inner(value: Value) -> Expected {
        if !has_array(&value) {
            return Expected::Exact(value);
        }
        match value {
            Value::Array(a) => Expected::Array {
                dtype: a.dtype,
                len: a.data.len(),
                digest: digest(&a.data),
                shape: a.shape,
            },
            Value::List(items) => Expected::List(items.into_iter().map(Expected::inner).collect()),
            Value::Tuple(items) => {
                Expected::Tuple(items.into_iter().map(Expected::inner).collect())
            }
            Value::Dict(entries) => Expected::Dict(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, Expected::inner(v)))
                    .collect(),
            ),
            v => Expected::Exact(v),
        }
    }

    /// The entries of a root dict, in order; None for any other root.
    pub fn entries(&self) -> Option<&[(Key, Expected)]> {
        match self {
            Expected::Dict(entries) => Some(entries),
            _ => None,
        }
    }

    /// Whether `item` is exactly what was written.
    pub fn matches(&self, item: Item<'_>) -> bool {
        match (self, item) {
            (Expected::Exact(v), item) => item.identical(v),
            (
                Expected::Array {
                    dtype,
                    shape,
                    len,
                    digest: want,
                },
                Item::Array(a),
            ) => {
                a.dtype == *dtype
                    && a.shape().eq(shape.iter().copied())
                    && a.data.len() == *len
                    && digest(a.data) == *want
            }
            (Expected::List(want), Item::List(got)) | (Expected::Tuple(want), Item::Tuple(got)) => {
                got.len() == want.len() && got.iter().zip(want).all(|(g, w)| w.matches(g))
            }
            (Expected::Dict(want), Item::Dict(got)) => {
                got.len() == want.len()
                    && got
                        .iter()
                        .zip(want)
                        .all(|((gk, g), (wk, w))| gk == wk.as_ref() && w.matches(g))
            }
            _ => false,
        }
    }
}

fn has_array(value: &Value) -> bool {
    match value {
        Value::Array(_) => true,
        Value::List(items) | Value::Tuple(items) => items.iter().any(has_array),
        Value::Dict(entries) => entries.iter().any(|(_, v)| has_array(v)),
        _ => false,
    }
}

/// True when `doc` holds exactly what `expected` describes.
pub fn holds(doc: &Doc, expected: &Expected) -> bool {
    doc.root().is_some_and(|item| expected.matches(item))
}

/// True when `doc` holds `expected`'s root dict plus one more entry, `mark_key: mark`,
/// at its end: a payload of the update-latency phase, checked without building it.
pub fn holds_marked(doc: &Doc, expected: &Expected, mark_key: &str, mark: i64) -> bool {
    let (Some(Item::Dict(got)), Expected::Dict(want)) = (doc.root(), expected) else {
        return false;
    };
    got.len() == want.len() + 1
        && got
            .iter()
            .zip(want)
            .all(|((gk, g), (wk, w))| gk == wk.as_ref() && w.matches(g))
        && got
            .iter()
            .last()
            .is_some_and(|(k, v)| k == mark_key && v.identical(&Value::Int(mark)))
}

/// A 64-bit digest of `bytes`: four independent multiply-rotate lanes over 8-byte words
/// (fast enough to check 100 MiB between two reads), then the tail and the length,
/// finished with SplitMix64's mixer. It detects corruption; it is no defence against a
/// writer that forges collisions, which this benchmark does not face.
pub fn digest(bytes: &[u8]) -> u64 {
    const MUL: u64 = 0x9e37_79b9_7f4a_7c15;
    const LANE: u64 = 0xbf58_476d_1ce4_e5b9;
    let mut lanes = [LANE, LANE ^ 1, LANE ^ 2, LANE ^ 3];
    let mut blocks = bytes.chunks_exact(32);
    for block in &mut blocks {
        for (lane, word) in lanes.iter_mut().zip(block.chunks_exact(8)) {
            let w = u64::from_le_bytes(word.try_into().expect("8 bytes"));
            *lane = (*lane ^ w).wrapping_mul(MUL).rotate_left(31);
        }
    }
    let mut h = bytes.len() as u64;
    for lane in lanes {
        h = mix(h ^ lane);
    }
    for &b in blocks.remainder() {
        h = mix(h ^ u64::from(b));
    }
    h
}

/// SplitMix64's finaliser: every input bit reaches every output bit.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipc_core::payload::{generate, training};

    // The comparison of values without arrays is `Item::identical`'s, tested in
    // ipc-core (tests/doc.rs).

    fn decoded(v: &Value) -> Doc {
        let mut doc = Doc::new();
        doc.decode(&v.encode().expect("encodes")).expect("decodes");
        doc
    }

    #[test]
    fn a_doc_holds_what_was_written_and_nothing_else() {
        let p = generate(100, 3);
        let doc = decoded(&p);
        assert!(
            !holds(&Doc::new(), &Expected::new(Value::None)),
            "an empty doc holds nothing"
        );
        assert!(holds(&doc, &Expected::new(p)));
        assert!(!holds(&doc, &Expected::new(generate(100, 4))));
    }

    #[test]
    fn arrays_are_checked_by_digest_and_nothing_else_is_split() {
        let p = training::generate(0.01, 5);
        let doc = decoded(&p);
        let expected = Expected::new(p);
        assert!(holds(&doc, &expected));
        let entries = expected.entries().expect("a root dict");
        let weights = &entries
            .iter()
            .find(|(k, _)| *k == "weights")
            .expect("weights")
            .1;
        let Expected::Dict(arrays) = weights else {
            panic!("weights not split: {weights:?}")
        };
        assert!(arrays
            .iter()
            .all(|(_, a)| matches!(a, Expected::Array { .. })));
        let config = &entries
            .iter()
            .find(|(k, _)| *k == "config")
            .expect("config")
            .1;
        assert!(matches!(config, Expected::Exact(Value::Dict(_))));
        // Another seed: same layout, other bytes.
        assert!(!holds(&doc, &Expected::new(training::generate(0.01, 6))));
    }

    #[test]
    fn a_marked_payload_is_the_payload_and_its_mark_last() {
        let payload = training::generate(0.01, 5);
        let Value::Dict(mut entries) = payload.clone() else {
            panic!("a dict")
        };
        entries.push(("__update__".into(), Value::Int(3)));
        let doc = decoded(&Value::Dict(entries));
        let expected = Expected::new(payload);
        assert!(holds_marked(&doc, &expected, "__update__", 3));
        assert!(!holds_marked(&doc, &expected, "__update__", 4));
        assert!(!holds_marked(&doc, &expected, "__other__", 3));
        assert!(!holds(&doc, &expected), "the mark is one entry too many");
        assert!(!holds_marked(
            &decoded(&training::generate(0.01, 5)),
            &expected,
            "__update__",
            3
        ));
    }

    #[test]
    fn one_changed_byte_changes_the_digest() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let base = digest(&data);
        for at in [0, 8, 31, 32, 500, 998, 999] {
            let mut changed = data.clone();
            changed[at] ^= 1;
            assert_ne!(digest(&changed), base, "byte {at}");
        }
        assert_ne!(digest(&data[..999]), base, "a shorter input");
        assert_ne!(digest(&[]), digest(&[0]));
    }
}
