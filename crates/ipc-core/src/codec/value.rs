//! The Rust-side data model: what the native harness writes and reads, without Python.

use super::array::{Array, Dtype, Key, KeyRef, Scalar};
use super::blob::Blob;
use super::encoder::Encoder;
use super::error::{DecodeError, EncodeError, EncodeErrorKind, PathSegment};
use super::format::MAX_DEPTH;
use super::sink::Sink;

/// The string type of [`Value`]: up to 24 bytes are stored inline, so the typical key or
/// short text costs no heap allocation when a snapshot is decoded.
pub type Text = compact_str::CompactString;

/// One value of the format. Dicts keep insertion order, as Python's do.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer outside i64, as little-endian two's complement bytes.
    BigInt(Vec<u8>),
    Float(f64),
    Str(Text),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    /// Keys are strings or ints, in insertion order.
    Dict(Vec<(Key, Value)>),
    /// A NumPy array.
    Array(Array),
    /// A NumPy scalar.
    Scalar(Scalar),
    /// An opaque pickle (written only when the producer allowed pickling).
    Pickle(Vec<u8>),
}

impl Value {
    /// Encodes the value; a root dict gets the key index.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut enc = Encoder::new();
        self.write_root(&mut enc)?;
        enc.finish()
    }

    /// Encodes the value into `enc`, which is reset first and keeps its buffers: for a
    /// writer that publishes again and again (see [`Encoder::reset`]).
    pub fn encode_with<'e>(&self, enc: &'e mut Encoder) -> Result<&'e [u8], EncodeError> {
        enc.reset();
        self.write_root(enc)?;
        enc.complete()
    }

    fn write_root(&self, enc: &mut Encoder) -> Result<(), EncodeError> {
        match self {
            Value::Dict(entries) => {
                enc.begin_index(entries.len());
                for (k, v) in entries {
                    match k {
                        Key::Str(s) => enc.index_key(s, s.is_ascii()),
                        Key::Int(i) => enc.index_int_key(*i),
                    }
                    write(enc, v, 1).map_err(|e| e.within(segment(k)))?;
                }
                Ok(())
            }
            v => write(enc, v, 0),
        }
    }

    pub fn decode(buf: &[u8]) -> Result<Value, DecodeError> {
        Blob::parse(buf)?.decode(&mut ValueSink::default())
    }

    /// Exact equality. Unlike `==`, floats compare by their bits: the format keeps them
    /// bit for bit, so a NaN equals the same NaN and -0.0 differs from 0.0.
    pub fn identical(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
            (Value::List(x), Value::List(y)) | (Value::Tuple(x), Value::Tuple(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.identical(q))
            }
            (Value::Dict(x), Value::Dict(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .zip(y)
                        .all(|((kp, p), (kq, q))| kp == kq && p.identical(q))
            }
            // No floats inside these (arrays and scalars hold bytes): the derived
            // equality is exact.
            _ => self == other,
        }
    }

    /// The value of one root key (a `&str`, an `i64` or a [`KeyRef`]), decoding nothing
    /// else.
    pub fn decode_key<'k>(
        buf: &[u8],
        key: impl Into<KeyRef<'k>>,
    ) -> Result<Option<Value>, DecodeError> {
        Blob::parse(buf)?.get(key, &mut ValueSink::default())
    }
}

fn write(enc: &mut Encoder, v: &Value, depth: usize) -> Result<(), EncodeError> {
    match v {
        Value::None => enc.none(),
        Value::Bool(b) => enc.bool(*b),
        Value::Int(i) => enc.int(*i),
        Value::BigInt(b) => {
            if b.is_empty() {
                return Err(EncodeError::new(EncodeErrorKind::UnsupportedType(
                    "BigInt with no bytes".into(),
                )));
            }
            enc.big_int(b)
        }
        Value::Float(f) => enc.float(*f),
        Value::Str(s) => enc.str(s),
        Value::Bytes(b) => enc.bytes(b),
        Value::Array(a) => enc.array(a.dtype, &a.shape, &a.data)?,
        Value::Scalar(s) => enc.scalar(s.dtype, &s.le)?,
        Value::Pickle(p) => enc.pickle(p),
        Value::List(items) | Value::Tuple(items) => {
            if depth >= MAX_DEPTH {
                return Err(EncodeError::new(EncodeErrorKind::TooDeep));
            }
            if matches!(v, Value::List(_)) {
                enc.list(items.len());
            } else {
                enc.tuple(items.len());
            }
            for (i, item) in items.iter().enumerate() {
                write(enc, item, depth + 1).map_err(|e| e.within(PathSegment::Index(i)))?;
            }
        }
        Value::Dict(entries) => {
            if depth >= MAX_DEPTH {
                return Err(EncodeError::new(EncodeErrorKind::TooDeep));
            }
            enc.dict(entries.len());
            if let Some(k) = first_duplicate(entries) {
                return Err(EncodeError::new(EncodeErrorKind::DuplicateKey(
                    k.to_string(),
                )));
            }
            for (k, item) in entries {
                match k {
                    Key::Str(s) => enc.key(s, s.is_ascii()),
                    Key::Int(i) => enc.int_key(*i),
                }
                write(enc, item, depth + 1).map_err(|e| e.within(segment(k)))?;
            }
        }
    }
    Ok(())
}

/// The path segment of dict key `k`.
#[cold]
fn segment(k: &Key) -> PathSegment {
    match k {
        Key::Str(s) => PathSegment::Key(s.to_string()),
        Key::Int(i) => PathSegment::IntKey(*i),
    }
}

/// A Vec of pairs can repeat a key, which a dict cannot hold.
fn first_duplicate(entries: &[(Key, Value)]) -> Option<&Key> {
    if entries.len() <= 8 {
        // Small dicts (the common case) are cheaper to scan than to hash.
        let mut keys = entries.iter().map(|(k, _)| k);
        while let Some(k) = keys.next() {
            if keys.clone().any(|other| other == k) {
                return Some(k);
            }
        }
        return None;
    }
    let mut seen = rustc_hash::FxHashSet::default();
    entries
        .iter()
        .map(|(k, _)| k)
        .find(|k| !seen.insert(k.as_ref()))
}

/// Builds [`Value`]s.
#[derive(Default)]
pub struct ValueSink {
    /// Shared keys built so far, by id: each field name is built once per blob and then
    /// copied, which for an inline [`Text`] is a plain 24-byte copy.
    keys: Vec<Option<Text>>,
}

#[cold]
fn array_value(dtype: Dtype, shape: &[usize], data: &[u8]) -> Value {
    Value::Array(Array {
        dtype,
        shape: shape.to_vec(),
        data: data.to_vec(),
    })
}

impl<'a> Sink<'a> for ValueSink {
    type Value = Value;
    type Key = Key;
    type Seq = (Vec<Value>, bool);
    type Map = Vec<(Key, Value)>;
    type Error = DecodeError;

    fn none(&mut self) -> Result<Value, DecodeError> {
        Ok(Value::None)
    }
    fn bool(&mut self, v: bool) -> Result<Value, DecodeError> {
        Ok(Value::Bool(v))
    }
    fn int(&mut self, v: i64) -> Result<Value, DecodeError> {
        Ok(Value::Int(v))
    }
    fn big_int(&mut self, b: &'a [u8]) -> Result<Value, DecodeError> {
        Ok(Value::BigInt(b.to_vec()))
    }
    fn float(&mut self, v: f64) -> Result<Value, DecodeError> {
        Ok(Value::Float(v))
    }
    fn str(&mut self, s: &'a str, _: bool, _: Option<u32>) -> Result<Value, DecodeError> {
        Ok(Value::Str(Text::new(s)))
    }
    fn bytes(&mut self, b: &'a [u8]) -> Result<Value, DecodeError> {
        Ok(Value::Bytes(b.to_vec()))
    }
    fn array(
        &mut self,
        dtype: Dtype,
        shape: &[usize],
        data: &'a [u8],
    ) -> Result<Value, DecodeError> {
        Ok(array_value(dtype, shape, data))
    }
    fn scalar(&mut self, dtype: Dtype, le: &'a [u8]) -> Result<Value, DecodeError> {
        Ok(Value::Scalar(Scalar {
            dtype,
            le: le.to_vec(),
        }))
    }
    fn pickle(&mut self, data: &'a [u8]) -> Result<Value, DecodeError> {
        Ok(Value::Pickle(data.to_vec()))
    }
    fn seq(&mut self, len: usize, tuple: bool) -> Result<Self::Seq, DecodeError> {
        Ok((Vec::with_capacity(len), tuple))
    }
    fn seq_push(&mut self, seq: &mut Self::Seq, _: usize, v: Value) -> Result<(), DecodeError> {
        seq.0.push(v);
        Ok(())
    }
    fn seq_end(&mut self, (items, tuple): Self::Seq) -> Result<Value, DecodeError> {
        Ok(if tuple {
            Value::Tuple(items)
        } else {
            Value::List(items)
        })
    }
    fn map(&mut self, len: usize) -> Result<Self::Map, DecodeError> {
        Ok(Vec::with_capacity(len))
    }
    fn int_key(&mut self, v: i64) -> Result<Key, DecodeError> {
        Ok(Key::Int(v))
    }
    fn key(&mut self, s: &'a str, _: bool, shared: Option<u32>) -> Result<Key, DecodeError> {
        let key = Text::new(s);
        if let Some(id) = shared {
            // Ids are below the table's count, which the decoder checked.
            let id = id as usize;
            if self.keys.len() <= id {
                self.keys.resize(id + 1, None);
            }
            self.keys[id] = Some(key.clone());
        }
        Ok(Key::Str(key))
    }
    #[inline]
    fn cached_key(&mut self, id: u32) -> Option<Key> {
        self.keys.get(id as usize)?.clone().map(Key::Str)
    }
    fn map_insert(&mut self, map: &mut Self::Map, k: Key, v: Value) -> Result<(), DecodeError> {
        map.push((k, v));
        Ok(())
    }
    fn map_end(&mut self, map: Self::Map) -> Result<Value, DecodeError> {
        Ok(Value::Dict(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_compares_floats_by_their_bits() {
        let wrap = |f: f64| Value::Dict(vec![("k".into(), Value::List(vec![Value::Float(f)]))]);
        assert!(wrap(f64::NAN).identical(&wrap(f64::NAN)));
        assert_ne!(wrap(f64::NAN), wrap(f64::NAN));
        assert!(!wrap(0.0).identical(&wrap(-0.0)));
        assert!(!Value::List(vec![]).identical(&Value::Tuple(vec![])));
        assert!(!wrap(1.0).identical(&Value::Dict(vec![("j".into(), Value::Float(1.0))])));
    }
}
