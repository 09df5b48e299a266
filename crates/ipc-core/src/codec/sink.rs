//! The [`Sink`] trait: what a decoder hands each decoded node to. What a decoded value
//! becomes is up to the sink: a Rust [`Value`](super::Value), a [`Doc`](super::Doc),
//! Python objects in the bindings, or nothing at all when only skipping
//! ([`Skip`](super::Skip)).

use super::array::Dtype;
use super::error::DecodeError;

/// Receives decoded nodes and builds whatever the caller wants from them.
pub trait Sink<'a> {
    type Value;
    type Key;
    type Seq;
    type Map;
    type Error: From<DecodeError>;

    fn none(&mut self) -> Result<Self::Value, Self::Error>;
    fn bool(&mut self, v: bool) -> Result<Self::Value, Self::Error>;
    fn int(&mut self, v: i64) -> Result<Self::Value, Self::Error>;
    /// An integer outside i64, as little-endian two's complement (at least one byte).
    fn big_int(&mut self, le_bytes: &'a [u8]) -> Result<Self::Value, Self::Error>;
    fn float(&mut self, v: f64) -> Result<Self::Value, Self::Error>;
    /// `shared` is the string's number in the blob's shared table, so a sink can build
    /// each shared string once per blob.
    fn str(
        &mut self,
        s: &'a str,
        ascii: bool,
        shared: Option<u32>,
    ) -> Result<Self::Value, Self::Error>;
    fn bytes(&mut self, b: &'a [u8]) -> Result<Self::Value, Self::Error>;
    /// An array: `data` is its C-ordered little-endian bytes, exactly
    /// `product(shape) * dtype.itemsize()` of them, borrowed from the decoded buffer (a
    /// sink that can keep the buffer alive may view them in place). In a whole blob they
    /// start at a multiple of 64 bytes from the blob's start; whether `data.as_ptr()` is
    /// aligned depends on where the caller placed the blob. `shape` has at most 64
    /// dimensions and a byte size of at most `isize::MAX`.
    fn array(
        &mut self,
        dtype: Dtype,
        shape: &[usize],
        data: &'a [u8],
    ) -> Result<Self::Value, Self::Error>;
    /// A NumPy scalar: `le` is its `dtype.itemsize()` little-endian bytes.
    fn scalar(&mut self, dtype: Dtype, le: &'a [u8]) -> Result<Self::Value, Self::Error>;
    /// An opaque pickle, written only for a caller that allowed pickling; the decoder
    /// never looks inside (a sink decides whether to unpickle it).
    fn pickle(&mut self, data: &'a [u8]) -> Result<Self::Value, Self::Error>;
    /// A shared string the sink has already built, asked before the decoder looks the
    /// string up and validates it again. Sinks that keep nothing answer None.
    #[inline]
    fn cached_str(&mut self, _id: u32) -> Option<Self::Value> {
        None
    }
    #[inline]
    fn cached_key(&mut self, _id: u32) -> Option<Self::Key> {
        None
    }
    /// A list (or a tuple) of exactly `len` items, pushed in order with indexes 0..len.
    fn seq(&mut self, len: usize, tuple: bool) -> Result<Self::Seq, Self::Error>;
    fn seq_push(
        &mut self,
        seq: &mut Self::Seq,
        index: usize,
        v: Self::Value,
    ) -> Result<(), Self::Error>;
    fn seq_end(&mut self, seq: Self::Seq) -> Result<Self::Value, Self::Error>;
    /// A dict of `len` entries (a hint: a corrupt blob may hold fewer distinct keys).
    fn map(&mut self, len: usize) -> Result<Self::Map, Self::Error>;
    fn key(
        &mut self,
        s: &'a str,
        ascii: bool,
        shared: Option<u32>,
    ) -> Result<Self::Key, Self::Error>;
    /// An int dict key (nested dicts; the root's go through [`Sink::root_int_key`]).
    fn int_key(&mut self, v: i64) -> Result<Self::Key, Self::Error>;
    /// Key number `index` (in order) of the root dict, when it is an int.
    #[inline]
    fn root_int_key(&mut self, _index: usize, v: i64) -> Result<Self::Key, Self::Error> {
        self.int_key(v)
    }
    /// Key number `index` (in order) of the root dict. A state dict keeps its keys from
    /// one snapshot to the next, so a sink may hand back the key it built for the same
    /// position of an earlier blob, once it has checked that the text is the same.
    #[inline]
    fn root_key(
        &mut self,
        _index: usize,
        s: &'a str,
        ascii: bool,
    ) -> Result<Self::Key, Self::Error> {
        self.key(s, ascii, None)
    }
    fn map_insert(
        &mut self,
        map: &mut Self::Map,
        k: Self::Key,
        v: Self::Value,
    ) -> Result<(), Self::Error>;
    fn map_end(&mut self, map: Self::Map) -> Result<Self::Value, Self::Error>;
}

/// A sink borrowed: what it builds goes to the sink it borrows. Lets a sink that is
/// kept elsewhere (a [`DocSink`](super::DocSink), say) be wrapped by value, as
/// `lmdb::StoreSink` wraps the sinks it adapts.
impl<'a, S: Sink<'a> + ?Sized> Sink<'a> for &mut S {
    type Value = S::Value;
    type Key = S::Key;
    type Seq = S::Seq;
    type Map = S::Map;
    type Error = S::Error;

    #[inline(always)]
    fn none(&mut self) -> Result<S::Value, S::Error> {
        (**self).none()
    }
    #[inline(always)]
    fn bool(&mut self, v: bool) -> Result<S::Value, S::Error> {
        (**self).bool(v)
    }
    #[inline(always)]
    fn int(&mut self, v: i64) -> Result<S::Value, S::Error> {
        (**self).int(v)
    }
    #[inline(always)]
    fn big_int(&mut self, le_bytes: &'a [u8]) -> Result<S::Value, S::Error> {
        (**self).big_int(le_bytes)
    }
    #[inline(always)]
    fn float(&mut self, v: f64) -> Result<S::Value, S::Error> {
        (**self).float(v)
    }
    #[inline(always)]
    fn str(&mut self, s: &'a str, ascii: bool, shared: Option<u32>) -> Result<S::Value, S::Error> {
        (**self).str(s, ascii, shared)
    }
    #[inline(always)]
    fn bytes(&mut self, b: &'a [u8]) -> Result<S::Value, S::Error> {
        (**self).bytes(b)
    }
    #[inline(always)]
    fn array(
        &mut self,
        dtype: Dtype,
        shape: &[usize],
        data: &'a [u8],
    ) -> Result<S::Value, S::Error> {
        (**self).array(dtype, shape, data)
    }
    #[inline(always)]
    fn scalar(&mut self, dtype: Dtype, le: &'a [u8]) -> Result<S::Value, S::Error> {
        (**self).scalar(dtype, le)
    }
    #[inline(always)]
    fn pickle(&mut self, data: &'a [u8]) -> Result<S::Value, S::Error> {
        (**self).pickle(data)
    }
    #[inline(always)]
    fn cached_str(&mut self, id: u32) -> Option<S::Value> {
        (**self).cached_str(id)
    }
    #[inline(always)]
    fn cached_key(&mut self, id: u32) -> Option<S::Key> {
        (**self).cached_key(id)
    }
    #[inline(always)]
    fn seq(&mut self, len: usize, tuple: bool) -> Result<S::Seq, S::Error> {
        (**self).seq(len, tuple)
    }
    #[inline(always)]
    fn seq_push(&mut self, seq: &mut S::Seq, index: usize, v: S::Value) -> Result<(), S::Error> {
        (**self).seq_push(seq, index, v)
    }
    #[inline(always)]
    fn seq_end(&mut self, seq: S::Seq) -> Result<S::Value, S::Error> {
        (**self).seq_end(seq)
    }
    #[inline(always)]
    fn map(&mut self, len: usize) -> Result<S::Map, S::Error> {
        (**self).map(len)
    }
    #[inline(always)]
    fn key(&mut self, s: &'a str, ascii: bool, shared: Option<u32>) -> Result<S::Key, S::Error> {
        (**self).key(s, ascii, shared)
    }
    #[inline(always)]
    fn int_key(&mut self, v: i64) -> Result<S::Key, S::Error> {
        (**self).int_key(v)
    }
    #[inline(always)]
    fn root_int_key(&mut self, index: usize, v: i64) -> Result<S::Key, S::Error> {
        (**self).root_int_key(index, v)
    }
    #[inline(always)]
    fn root_key(&mut self, index: usize, s: &'a str, ascii: bool) -> Result<S::Key, S::Error> {
        (**self).root_key(index, s, ascii)
    }
    #[inline(always)]
    fn map_insert(&mut self, map: &mut S::Map, k: S::Key, v: S::Value) -> Result<(), S::Error> {
        (**self).map_insert(map, k, v)
    }
    #[inline(always)]
    fn map_end(&mut self, map: S::Map) -> Result<S::Value, S::Error> {
        (**self).map_end(map)
    }
}
