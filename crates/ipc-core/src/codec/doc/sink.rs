//! The [`Sink`] that decodes into a [`Doc`](super::Doc): it fills the tape and the
//! arenas, within their `u32` limits.

use super::tape::{Kind, Node, Span, FILLER, LIMIT};
use crate::codec::error::DecodeError;
use crate::codec::sink::Sink;
use crate::codec::Dtype;

#[cold]
fn over_limit(what: &str, limit: &str, have: usize, more: usize) -> DecodeError {
    DecodeError::new(
        0,
        format!(
            "the decoded document would exceed {limit}: {have} {what} plus {more} more \
             (the offset is unknown: the limit is on the whole document)"
        ),
    )
}

/// What the bytes arena holds, as its limit's error names it.
const BYTES_ARENA: &str = "bytes, big integers, arrays, scalars and pickles";

/// The span of `len` more bytes in an arena that holds `start`, if it stays within
/// `limit` (which is at most `u32::MAX`, so the casts are exact).
#[inline]
fn arena_span(start: usize, len: usize, limit: usize, what: &str) -> Result<Span, DecodeError> {
    if len > limit - start {
        let limit = format!("4 GiB of {what} (its spans are u32)");
        return Err(over_limit(&format!("bytes of {what}"), &limit, start, len));
    }
    Ok(Span {
        start: start as u32,
        len: len as u32,
    })
}

/// The [`Sink`] that writes into a [`Doc`](super::Doc) (it is the document's storage),
/// handed out by [`Doc::decode_with`](super::Doc::decode_with), for every lifetime of
/// the decoded bytes: the document copies what it keeps.
///
/// It may be driven by any decoder of this crate, including several calls of
/// [`decode_value`](crate::codec::decode_value) against one table (an LMDB snapshot):
/// shared strings are copied once for all of them.
#[derive(Clone)]
pub struct DocSink {
    pub(super) tape: Vec<Node>,
    pub(super) text: String,
    pub(super) bytes: Vec<u8>,
    /// The text span of each shared string already copied during this decode, by id.
    pub(super) shared: Vec<Option<Span>>,
    /// The most nodes, bytes of text and bytes of bytes: [`LIMIT`] each, lowered by
    /// unit tests to reach them without gigabytes.
    limits: Limits,
}

impl Default for DocSink {
    fn default() -> Self {
        DocSink::new()
    }
}

impl DocSink {
    pub(super) fn new() -> Self {
        DocSink {
            tape: Vec::new(),
            text: String::new(),
            bytes: Vec::new(),
            shared: Vec::new(),
            limits: Limits {
                nodes: LIMIT,
                text: LIMIT,
                bytes: LIMIT,
            },
        }
    }

    pub(super) fn clear(&mut self) {
        self.tape.clear();
        self.text.clear();
        self.bytes.clear();
        self.shared.clear();
    }

    /// `n` slots at the end of the tape, filled later; where they start.
    #[inline]
    fn reserve(&mut self, n: usize) -> Result<usize, DecodeError> {
        let start = self.tape.len();
        // Invariant: start <= the limit.
        if n > self.limits.nodes - start {
            return Err(over_limit(
                "nodes",
                "2^32 - 1 nodes (its spans are u32)",
                start,
                n,
            ));
        }
        self.tape.resize(start + n, FILLER);
        Ok(start)
    }

    #[inline]
    fn push_text(&mut self, s: &str) -> Result<Span, DecodeError> {
        let span = arena_span(self.text.len(), s.len(), self.limits.text, "text")?;
        self.text.push_str(s);
        Ok(span)
    }

    #[inline]
    fn push_bytes(&mut self, b: &[u8]) -> Result<Span, DecodeError> {
        let span = arena_span(self.bytes.len(), b.len(), self.limits.bytes, BYTES_ARENA)?;
        self.bytes.extend_from_slice(b);
        Ok(span)
    }

    /// An array's span in the bytes arena: its shape as little-endian u64s, then its
    /// data (which is copied: a `Doc` outlives the bytes it decoded).
    #[cold]
    fn push_array(&mut self, shape: &[usize], data: &[u8]) -> Result<Span, DecodeError> {
        let len = data.len().saturating_add(shape.len() * 8);
        let span = arena_span(self.bytes.len(), len, self.limits.bytes, BYTES_ARENA)?;
        self.bytes.reserve(len);
        for &d in shape {
            self.bytes.extend_from_slice(&(d as u64).to_le_bytes());
        }
        self.bytes.extend_from_slice(data);
        Ok(span)
    }

    /// A string's span; a shared one is remembered for the later references to it.
    #[inline]
    fn str_span(&mut self, s: &str, shared: Option<u32>) -> Result<Span, DecodeError> {
        let span = self.push_text(s)?;
        if let Some(id) = shared {
            // Ids are below the blob's table count, which the decoder checked against
            // the table's bytes: this is bounded by the input.
            let id = id as usize;
            if self.shared.len() <= id {
                self.shared.resize(id + 1, None);
            }
            self.shared[id] = Some(span);
        }
        Ok(span)
    }
}

#[derive(Clone, Copy)]
struct Limits {
    nodes: usize,
    text: usize,
    bytes: usize,
}

/// A container being filled: where its slots start, how many there are, and how many
/// are filled.
pub struct OpenContainer {
    start: usize,
    len: usize,
    filled: usize,
    tuple: bool,
}

#[cold]
fn overfilled() -> DecodeError {
    DecodeError::new(0, "more items than the container announced")
}

impl<'a> Sink<'a> for DocSink {
    type Value = Node;
    type Key = Node;
    type Seq = OpenContainer;
    type Map = OpenContainer;
    type Error = DecodeError;

    #[inline]
    fn none(&mut self) -> Result<Node, DecodeError> {
        Ok(Node::new(Kind::None))
    }
    #[inline]
    fn bool(&mut self, v: bool) -> Result<Node, DecodeError> {
        Ok(Node::new(Kind::Bool(v)))
    }
    #[inline]
    fn int(&mut self, v: i64) -> Result<Node, DecodeError> {
        Ok(Node::new(Kind::Int(v)))
    }
    #[inline]
    fn big_int(&mut self, le_bytes: &'a [u8]) -> Result<Node, DecodeError> {
        Ok(Node::new(Kind::BigInt(self.push_bytes(le_bytes)?)))
    }
    #[inline]
    fn float(&mut self, v: f64) -> Result<Node, DecodeError> {
        Ok(Node::new(Kind::Float(v)))
    }
    #[inline]
    fn str(&mut self, s: &'a str, _: bool, shared: Option<u32>) -> Result<Node, DecodeError> {
        Ok(Node::new(Kind::Str(self.str_span(s, shared)?)))
    }
    #[inline]
    fn bytes(&mut self, b: &'a [u8]) -> Result<Node, DecodeError> {
        Ok(Node::new(Kind::Bytes(self.push_bytes(b)?)))
    }
    fn array(
        &mut self,
        dtype: Dtype,
        shape: &[usize],
        data: &'a [u8],
    ) -> Result<Node, DecodeError> {
        let span = self.push_array(shape, data)?;
        // The decoder allows at most MAX_NDIM (64) dimensions.
        let ndim = shape.len() as u8;
        Ok(Node::new(Kind::Array { span, dtype, ndim }))
    }
    fn scalar(&mut self, dtype: Dtype, le: &'a [u8]) -> Result<Node, DecodeError> {
        let span = self.push_bytes(le)?;
        Ok(Node::new(Kind::Scalar { span, dtype }))
    }
    fn pickle(&mut self, data: &'a [u8]) -> Result<Node, DecodeError> {
        Ok(Node::new(Kind::Pickle(self.push_bytes(data)?)))
    }
    #[inline]
    fn cached_str(&mut self, id: u32) -> Option<Node> {
        self.cached_key(id)
    }
    #[inline]
    fn cached_key(&mut self, id: u32) -> Option<Node> {
        let span = (*self.shared.get(id as usize)?)?;
        Some(Node::new(Kind::Str(span)))
    }
    #[inline]
    fn seq(&mut self, len: usize, tuple: bool) -> Result<OpenContainer, DecodeError> {
        Ok(OpenContainer {
            start: self.reserve(len)?,
            len,
            filled: 0,
            tuple,
        })
    }
    #[inline]
    fn seq_push(&mut self, seq: &mut OpenContainer, _: usize, v: Node) -> Result<(), DecodeError> {
        if seq.filled == seq.len {
            return Err(overfilled());
        }
        if let Some(slot) = self.tape.get_mut(seq.start + seq.filled) {
            *slot = v;
        }
        seq.filled += 1;
        Ok(())
    }
    #[inline]
    fn seq_end(&mut self, seq: OpenContainer) -> Result<Node, DecodeError> {
        // A decoder that stopped early leaves FILLER slots, never read.
        let span = Span {
            start: seq.start as u32,
            len: seq.filled as u32,
        };
        Ok(Node::new(if seq.tuple {
            Kind::Tuple(span)
        } else {
            Kind::List(span)
        }))
    }
    #[inline]
    fn map(&mut self, len: usize) -> Result<OpenContainer, DecodeError> {
        let slots = len.saturating_mul(2);
        Ok(OpenContainer {
            start: self.reserve(slots)?,
            len: slots,
            filled: 0,
            tuple: false,
        })
    }
    #[inline]
    fn key(&mut self, s: &'a str, _: bool, shared: Option<u32>) -> Result<Node, DecodeError> {
        Ok(Node::new(Kind::Str(self.str_span(s, shared)?)))
    }
    fn int_key(&mut self, v: i64) -> Result<Node, DecodeError> {
        Ok(Node::new(Kind::Int(v)))
    }
    #[inline]
    fn map_insert(&mut self, map: &mut OpenContainer, k: Node, v: Node) -> Result<(), DecodeError> {
        if map.filled == map.len {
            return Err(overfilled());
        }
        let at = map.start + map.filled;
        if let Some([slot_k, slot_v]) = self.tape.get_mut(at..at + 2) {
            *slot_k = k;
            *slot_v = v;
        }
        map.filled += 2;
        Ok(())
    }
    #[inline]
    fn map_end(&mut self, map: OpenContainer) -> Result<Node, DecodeError> {
        Ok(Node::new(Kind::Dict(Span {
            start: map.start as u32,
            len: (map.filled / 2) as u32,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::decoded;
    use super::*;
    use crate::codec::{Doc, Value};

    #[test]
    fn shared_strings_are_copied_once() {
        let n = 50;
        let blob = crate::payload::generate(n, 0).encode().unwrap();
        let mut doc = Doc::new();
        doc.decode(&blob).unwrap();
        let inline: usize = (0..n)
            .map(|i| format!("key_{i}").len() + format!("test_value_{i}").len())
            .sum();
        let fields = "value".len() + "squared".len() + "text".len() + "float".len();
        assert_eq!(doc.sink.text.len(), inline + fields);
    }

    #[test]
    fn text_limit_is_an_error() {
        let (blob, mut doc) = decoded();
        let text = doc.sink.text.len();
        // One byte short of what the payload needs.
        doc.sink.limits.text = text - 1;
        let err = doc.decode(&blob).unwrap_err();
        assert!(err.reason().contains("4 GiB of text"), "{err}");
        assert!(doc.root().is_none());
        doc.sink.limits.text = text;
        doc.decode(&blob).unwrap();
    }

    #[test]
    fn node_limit_is_an_error() {
        let (blob, mut doc) = decoded();
        let nodes = doc.nodes();
        doc.sink.limits.nodes = nodes - 1;
        let err = doc.decode(&blob).unwrap_err();
        assert!(err.reason().contains("2^32 - 1 nodes"), "{err}");
        doc.sink.limits.nodes = nodes;
        doc.decode(&blob).unwrap();
    }

    #[test]
    fn bytes_limit_is_an_error() {
        let v = Value::List(vec![Value::Bytes(vec![1, 2, 3]), Value::BigInt(vec![9; 9])]);
        let blob = v.encode().unwrap();
        let mut doc = Doc::new();
        doc.sink.limits.bytes = 11;
        let err = doc.decode(&blob).unwrap_err();
        assert!(err.reason().contains("4 GiB of bytes"), "{err}");
        doc.sink.limits.bytes = 12;
        doc.decode(&blob).unwrap();
        assert_eq!(doc.to_value(), Some(v));
    }

    #[test]
    fn overfilling_a_container_is_an_error() {
        let mut doc = Doc::new();
        let err = doc
            .decode_with(|sink| {
                let mut map = sink.map(1)?;
                for _ in 0..2 {
                    let k = sink.key("k", true, None)?;
                    let v = sink.none()?;
                    sink.map_insert(&mut map, k, v)?;
                }
                sink.map_end(map).map(Some)
            })
            .unwrap_err();
        assert!(err.reason().contains("more items"), "{err}");
        assert!(doc.root().is_none());
    }
}
