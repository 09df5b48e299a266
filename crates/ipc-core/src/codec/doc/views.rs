//! The borrowed views of a [`Doc`]'s content: an [`Item`], whose containers are a
//! [`Seq`] or a [`Map`].

use std::fmt;

use super::tape::Node;
use super::Doc;
use crate::codec::array::{Array, Dtype, Key, KeyRef, Scalar};
use crate::codec::value::{Text, Value};

/// A decoded value, borrowed from its [`Doc`].
#[derive(Clone, Copy, Debug)]
pub enum Item<'d> {
    None,
    Bool(bool),
    Int(i64),
    /// An integer outside i64, as little-endian two's complement bytes.
    BigInt(&'d [u8]),
    Float(f64),
    Str(&'d str),
    Bytes(&'d [u8]),
    List(Seq<'d>),
    Tuple(Seq<'d>),
    Dict(Map<'d>),
    Array(ArrayItem<'d>),
    /// A NumPy scalar: its dtype and little-endian bytes.
    Scalar(Dtype, &'d [u8]),
    /// An opaque pickle.
    Pickle(&'d [u8]),
}

/// An array in a [`Doc`]: its dtype, shape and C-ordered little-endian data.
#[derive(Clone, Copy)]
pub struct ArrayItem<'d> {
    pub dtype: Dtype,
    /// The shape, as little-endian u64s.
    pub(super) shape: &'d [u8],
    pub data: &'d [u8],
}

impl<'d> ArrayItem<'d> {
    pub fn ndim(&self) -> usize {
        self.shape.len() / 8
    }

    /// The dimensions, outermost first.
    pub fn shape(&self) -> impl ExactSizeIterator<Item = usize> + 'd {
        self.shape.chunks_exact(8).map(|d| {
            let mut b = [0u8; 8];
            b.copy_from_slice(d);
            // Written from a usize by the sink.
            u64::from_le_bytes(b) as usize
        })
    }

    /// The same array, owned.
    pub fn to_array(&self) -> Array {
        Array {
            dtype: self.dtype,
            shape: self.shape().collect(),
            data: self.data.to_vec(),
        }
    }
}

impl fmt::Debug for ArrayItem<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArrayItem")
            .field("dtype", &self.dtype)
            .field("shape", &self.shape().collect::<Vec<_>>())
            .field("bytes", &self.data.len())
            .finish()
    }
}

impl Item<'_> {
    /// Whether this is exactly `expected`, by [`Value::identical`]'s rule (floats by
    /// their bits, dicts in order), compared in place: nothing is built.
    pub fn identical(&self, expected: &Value) -> bool {
        match (*self, expected) {
            (Item::None, Value::None) => true,
            (Item::Bool(a), Value::Bool(b)) => a == *b,
            (Item::Int(a), Value::Int(b)) => a == *b,
            (Item::BigInt(a), Value::BigInt(b)) => a == b.as_slice(),
            (Item::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
            (Item::Str(a), Value::Str(b)) => a == b.as_str(),
            (Item::Bytes(a), Value::Bytes(b)) => a == b.as_slice(),
            (Item::List(a), Value::List(b)) | (Item::Tuple(a), Value::Tuple(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(p, q)| p.identical(q))
            }
            (Item::Dict(a), Value::Dict(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|((kp, p), (kq, q))| kp == kq.as_ref() && p.identical(q))
            }
            (Item::Array(a), Value::Array(b)) => {
                a.dtype == b.dtype
                    && a.data == b.data.as_slice()
                    && a.shape().eq(b.shape.iter().copied())
            }
            (Item::Scalar(dtype, le), Value::Scalar(b)) => {
                dtype == b.dtype && le == b.le.as_slice()
            }
            (Item::Pickle(a), Value::Pickle(b)) => a == b.as_slice(),
            _ => false,
        }
    }

    /// The same value as a [`Value`].
    pub fn to_value(&self) -> Value {
        match *self {
            Item::None => Value::None,
            Item::Bool(b) => Value::Bool(b),
            Item::Int(i) => Value::Int(i),
            Item::BigInt(b) => Value::BigInt(b.to_vec()),
            Item::Float(f) => Value::Float(f),
            Item::Str(s) => Value::Str(Text::new(s)),
            Item::Bytes(b) => Value::Bytes(b.to_vec()),
            Item::List(s) => Value::List(s.iter().map(|i| i.to_value()).collect()),
            Item::Tuple(s) => Value::Tuple(s.iter().map(|i| i.to_value()).collect()),
            Item::Dict(m) => Value::Dict(
                m.iter()
                    .map(|(k, v)| (Key::from(k), v.to_value()))
                    .collect(),
            ),
            Item::Array(a) => Value::Array(a.to_array()),
            Item::Scalar(dtype, le) => Value::Scalar(Scalar {
                dtype,
                le: le.to_vec(),
            }),
            Item::Pickle(p) => Value::Pickle(p.to_vec()),
        }
    }
}

/// The items of a list or a tuple.
#[derive(Clone, Copy)]
pub struct Seq<'d> {
    pub(super) doc: &'d Doc,
    pub(super) nodes: &'d [Node],
}

impl<'d> Seq<'d> {
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Item `i`, if there are more than `i`.
    pub fn get(&self, i: usize) -> Option<Item<'d>> {
        let doc = self.doc;
        self.nodes.get(i).map(|&n| doc.item(n))
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = Item<'d>> + DoubleEndedIterator + 'd {
        let doc = self.doc;
        self.nodes.iter().map(move |&n| doc.item(n))
    }
}

impl fmt::Debug for Seq<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The entries of a dict, in the order they were stored.
#[derive(Clone, Copy)]
pub struct Map<'d> {
    pub(super) doc: &'d Doc,
    /// Key, value, key, value...
    pub(super) nodes: &'d [Node],
}

impl<'d> Map<'d> {
    pub fn len(&self) -> usize {
        self.nodes.len() / 2
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The value of `key` (a `&str`, an `i64` or a [`KeyRef`]): a linear scan, in
    /// order, so O(len). A corrupt blob can hold a key twice (the document keeps both, as
    /// [`Value`] does); this returns the first.
    pub fn get<'k>(&self, key: impl Into<KeyRef<'k>>) -> Option<Item<'d>> {
        let (doc, key) = (self.doc, key.into());
        self.nodes
            .chunks_exact(2)
            .find(|kv| doc.key_of(kv[0]) == key)
            .map(|kv| doc.item(kv[1]))
    }

    /// (key, value) pairs, in order.
    pub fn iter(
        &self,
    ) -> impl ExactSizeIterator<Item = (KeyRef<'d>, Item<'d>)> + DoubleEndedIterator + 'd {
        let doc = self.doc;
        self.nodes
            .chunks_exact(2)
            .map(move |kv| (doc.key_of(kv[0]), doc.item(kv[1])))
    }
}

impl fmt::Debug for Map<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}
