//! A decoded document that is flat, owned and reusable: what a reader that decodes the
//! latest snapshot over and over should decode into.
//!
//! [`Value`] builds a tree: one `Vec` per dict and list, and a [`Text`](super::Text) per
//! key and string, every one of them allocated on each decode and freed when the value is
//! dropped. For the benchmark payload that costs several times what the decoder's own
//! walk does. A [`Doc`] instead keeps three buffers and fills them again on each decode:
//!
//! * a *tape* of 16-byte nodes. A container's children sit next to each other on the
//!   tape: the decoder announces each container's count before its items, so the
//!   container reserves that many slots (two per dict entry: the key, then the value)
//!   and fills them as its items arrive; a nested container's own slots are appended
//!   after the ones already reserved. A container node holds where its slots start and
//!   how many there are, as `u32`s.
//! * a `String` arena for the text of every key and string, and a `Vec<u8>` arena for
//!   bytes and big integers: nodes refer to them by `u32` start and length. A shared
//!   string (the field names of nested dicts, `STR_SHARED` references: docs/format.md)
//!   is copied into the arena once per blob, and every later reference to it is the same
//!   span.
//!
//! Decoding clears the buffers but keeps their capacity, so a reader that decodes into
//! the same `Doc` every time allocates nothing once it has seen its largest snapshot.
//!
//! Spans are `u32`, so one document holds at most 4 GiB of text, 4 GiB of bytes and
//! 2^32 - 1 nodes; a blob that needs more fails to decode with a [`DecodeError`] that
//! names the limit (the decoder's own checks bound every count by the input, so the
//! limits are reached only by blobs of several GiB).
//!
//! Reading goes through borrowed views: [`Doc::root`] gives an [`Item`], whose
//! containers are a [`Seq`] or a [`Map`]. [`Doc::to_value`] builds the equivalent
//! [`Value`], for tests and content checks.
//!
//! ```
//! use ipc_core::codec::{Doc, Item, Value};
//!
//! let blob = Value::Dict(vec![("a".into(), Value::Int(1))]).encode().unwrap();
//! let mut doc = Doc::new();
//! doc.decode(&blob).unwrap();
//! let Some(Item::Dict(root)) = doc.root() else { panic!("not a dict") };
//! assert!(matches!(root.get("a"), Some(Item::Int(1))));
//! ```
//!
//! The same document also decodes through any driver of the [`Sink`] trait (an LMDB
//! record, `LmdbStore::read_with`): see [`Doc::decode_with`].

use std::fmt;

use super::decoder::{decode_value, Blob, Sink, Table};
use super::error::DecodeError;
use super::value::{Text, Value};

/// A run of `len` items from `start`, in the tape or one of the arenas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

impl Span {
    #[inline]
    fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.start as usize + self.len as usize
    }
}

/// One decoded value on a [`Doc`]'s tape, as the [`DocSink`] hands it to the decoder.
///
/// Opaque: what it refers to lives in the `Doc` that made it, and it means something
/// only there and only until that `Doc` decodes again (elsewhere it reads as other
/// content or as None, never out of bounds).
///
/// A [`Kind`] packed into three plain fields, every byte of them written. Held as the
/// enum itself, a node was copied field by field through the stack (the variants place
/// their payloads at different offsets, with padding between), and the mismatched
/// stores and loads stalled store forwarding: decoding into a `Doc` took a quarter
/// longer.
#[derive(Clone, Copy, Debug)]
pub struct Node {
    tag: u32,
    /// A Bool's value, or a span's start.
    a: u32,
    /// An Int's or a Float's bits, or a span's length.
    b: u64,
}

const NONE: u32 = 0;
const BOOL: u32 = 1;
const INT: u32 = 2;
const FLOAT: u32 = 3;
const BIG_INT: u32 = 4;
const STR: u32 = 5;
const BYTES: u32 = 6;
const LIST: u32 = 7;
const TUPLE: u32 = 8;
const DICT: u32 = 9;

impl Node {
    #[inline(always)]
    const fn new(kind: Kind) -> Node {
        let (tag, a, b) = match kind {
            Kind::None => (NONE, 0, 0),
            Kind::Bool(v) => (BOOL, v as u32, 0),
            Kind::Int(v) => (INT, 0, v as u64),
            Kind::Float(v) => (FLOAT, 0, v.to_bits()),
            Kind::BigInt(s) => (BIG_INT, s.start, s.len as u64),
            Kind::Str(s) => (STR, s.start, s.len as u64),
            Kind::Bytes(s) => (BYTES, s.start, s.len as u64),
            Kind::List(s) => (LIST, s.start, s.len as u64),
            Kind::Tuple(s) => (TUPLE, s.start, s.len as u64),
            Kind::Dict(s) => (DICT, s.start, s.len as u64),
        };
        Node { tag, a, b }
    }

    #[inline(always)]
    fn kind(self) -> Kind {
        let span = Span {
            start: self.a,
            len: self.b as u32,
        };
        match self.tag {
            BOOL => Kind::Bool(self.a != 0),
            INT => Kind::Int(self.b as i64),
            FLOAT => Kind::Float(f64::from_bits(self.b)),
            BIG_INT => Kind::BigInt(span),
            STR => Kind::Str(span),
            BYTES => Kind::Bytes(span),
            LIST => Kind::List(span),
            TUPLE => Kind::Tuple(span),
            DICT => Kind::Dict(span),
            // NONE; only Node::new makes nodes.
            _ => Kind::None,
        }
    }
}

/// What a [`Node`] holds.
#[derive(Clone, Copy, Debug)]
enum Kind {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// In the bytes arena.
    BigInt(Span),
    /// In the text arena.
    Str(Span),
    /// In the bytes arena.
    Bytes(Span),
    /// `len` nodes on the tape.
    List(Span),
    Tuple(Span),
    /// `len` entries: 2 * `len` nodes on the tape, each key (a `Str`) before its value.
    Dict(Span),
}

// Four to a cache line: the layout is the point of the design.
const _: () = assert!(std::mem::size_of::<Node>() == 16);

/// What reserved slots hold until they are filled: a None, with a payload that is not
/// zero so that filling the slots of a small container is a few stores, not a call to
/// memset.
const FILLER: Node = Node {
    tag: NONE,
    a: u32::MAX,
    b: 0,
};

/// The largest tape or arena a document may hold: spans are `u32`.
const LIMIT: usize = u32::MAX as usize;

/// A decoded snapshot: a flat tape of nodes and the arenas their text and bytes live in.
/// See the [module documentation](self).
#[derive(Clone, Default)]
pub struct Doc {
    /// The storage, which is also what decoders write into.
    sink: DocSink,
    root: Option<Node>,
}

impl Doc {
    /// An empty document (no root). Allocates nothing until the first decode.
    pub fn new() -> Self {
        Doc {
            sink: DocSink::new(),
            root: None,
        }
    }

    /// Forgets the content, keeping the memory for the next decode.
    pub fn clear(&mut self) {
        self.sink.clear();
        self.root = None;
    }

    /// Replaces the content with the whole of `blob`. On error the document is empty.
    pub fn decode(&mut self, blob: &[u8]) -> Result<(), DecodeError> {
        self.decode_with(|sink| Blob::parse(blob)?.decode(sink).map(Some))
            .map(|_| ())
    }

    /// Replaces the content with the value of root key `key` of `blob`, found through
    /// the blob's index (as [`Blob::get`]). Ok(false), and an empty document, when the
    /// key is absent.
    pub fn decode_key(&mut self, blob: &[u8], key: &str) -> Result<bool, DecodeError> {
        self.decode_with(|sink| Blob::parse(blob)?.get(key, sink))
    }

    /// Replaces the content with one value stored apart from its blob, as
    /// [`decode_value`] decodes it.
    pub fn decode_value(&mut self, bytes: &[u8], table: Table<'_>) -> Result<(), DecodeError> {
        self.decode_with(|sink| decode_value(bytes, table, sink).map(Some))
            .map(|_| ())
    }

    /// Replaces the content with what `fill` decodes: it gets a sink writing into this
    /// (now empty) document, drives any decoder with it, and returns the root value the
    /// decoder produced, or None when there was nothing to decode. The result says
    /// whether there is a root. On error the document is empty.
    ///
    /// This is how a `Doc` reads from an LMDB store:
    ///
    /// ```no_run
    /// # use ipc_core::codec::Doc;
    /// # use ipc_core::lmdb::{LmdbStore, SinkError, StoreSink};
    /// # fn f(store: &mut LmdbStore, doc: &mut Doc) -> Result<bool, SinkError> {
    /// doc.decode_with(|sink| {
    ///     let mut sink = StoreSink(sink);
    ///     store.read_with(|_| &mut sink)
    /// })
    /// # }
    /// ```
    pub fn decode_with<E>(
        &mut self,
        fill: impl FnOnce(&mut DocSink) -> Result<Option<Node>, E>,
    ) -> Result<bool, E> {
        self.clear();
        match fill(&mut self.sink) {
            Ok(root) => {
                self.root = root;
                Ok(root.is_some())
            }
            Err(e) => {
                self.clear();
                Err(e)
            }
        }
    }

    /// The decoded value; None before the first decode, after a failed one, and when
    /// the last decode found nothing (an absent key).
    pub fn root(&self) -> Option<Item<'_>> {
        self.root.map(|n| self.item(n))
    }

    /// The root as a [`Value`] (which allocates, as a decode into a `Value` would).
    pub fn to_value(&self) -> Option<Value> {
        self.root().map(|i| i.to_value())
    }

    /// Nodes on the tape: a measure of the document's size.
    pub fn nodes(&self) -> usize {
        self.sink.tape.len()
    }

    /// The view of `node`. Nodes come from this document's own sink, so their spans are
    /// in bounds; one carried over from another document or an earlier decode (a misuse
    /// of [`Doc::decode_with`]) reads as None where it would not be, rather than panic.
    #[inline]
    fn item(&self, node: Node) -> Item<'_> {
        let sink = &self.sink;
        let found = match node.kind() {
            Kind::None => Some(Item::None),
            Kind::Bool(b) => Some(Item::Bool(b)),
            Kind::Int(i) => Some(Item::Int(i)),
            Kind::Float(f) => Some(Item::Float(f)),
            Kind::BigInt(s) => sink.bytes.get(s.range()).map(Item::BigInt),
            Kind::Str(s) => sink.text.get(s.range()).map(Item::Str),
            Kind::Bytes(s) => sink.bytes.get(s.range()).map(Item::Bytes),
            Kind::List(s) => self.seq(s).map(Item::List),
            Kind::Tuple(s) => self.seq(s).map(Item::Tuple),
            Kind::Dict(s) => {
                let start = s.start as usize;
                let nodes = sink.tape.get(start..start + 2 * s.len as usize);
                nodes.map(|nodes| Item::Dict(Map { doc: self, nodes }))
            }
        };
        found.unwrap_or(Item::None)
    }

    fn seq(&self, s: Span) -> Option<Seq<'_>> {
        let nodes = self.sink.tape.get(s.range())?;
        Some(Seq { doc: self, nodes })
    }

    fn text_of(&self, key: Node) -> &str {
        match key.kind() {
            Kind::Str(s) => self.sink.text.get(s.range()).unwrap_or(""),
            // Only the sink writes keys, always as Str.
            _ => "",
        }
    }
}

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

impl fmt::Debug for Doc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Doc").field("root", &self.root()).finish()
    }
}

/// The [`Sink`] that writes into a [`Doc`] (it is the document's storage), handed out by
/// [`Doc::decode_with`], for every lifetime of the decoded bytes: the document copies
/// what it keeps.
///
/// It may be driven by any decoder of this crate, including several calls of
/// [`decode_value`] against one table (an LMDB snapshot): shared strings are copied
/// once for all of them.
#[derive(Clone)]
pub struct DocSink {
    tape: Vec<Node>,
    text: String,
    bytes: Vec<u8>,
    /// The text span of each shared string already copied during this decode, by id.
    shared: Vec<Option<Span>>,
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
    fn new() -> Self {
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

    fn clear(&mut self) {
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
        let what = "bytes and big integers";
        let span = arena_span(self.bytes.len(), b.len(), self.limits.bytes, what)?;
        self.bytes.extend_from_slice(b);
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
                        .all(|((kp, p), (kq, q))| kp == kq.as_str() && p.identical(q))
            }
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
                    .map(|(k, v)| (Text::new(k), v.to_value()))
                    .collect(),
            ),
        }
    }
}

/// The items of a list or a tuple.
#[derive(Clone, Copy)]
pub struct Seq<'d> {
    doc: &'d Doc,
    nodes: &'d [Node],
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
    doc: &'d Doc,
    /// Key, value, key, value...
    nodes: &'d [Node],
}

impl<'d> Map<'d> {
    pub fn len(&self) -> usize {
        self.nodes.len() / 2
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The value of `key`: a linear scan, in order, so O(len). A corrupt blob can hold a
    /// key twice (the document keeps both, as [`Value`] does); this returns the first.
    pub fn get(&self, key: &str) -> Option<Item<'d>> {
        let doc = self.doc;
        self.nodes
            .chunks_exact(2)
            .find(|kv| doc.text_of(kv[0]) == key)
            .map(|kv| doc.item(kv[1]))
    }

    /// (key, value) pairs, in order.
    pub fn iter(
        &self,
    ) -> impl ExactSizeIterator<Item = (&'d str, Item<'d>)> + DoubleEndedIterator + 'd {
        let doc = self.doc;
        self.nodes
            .chunks_exact(2)
            .map(move |kv| (doc.text_of(kv[0]), doc.item(kv[1])))
    }
}

impl fmt::Debug for Map<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob() -> Vec<u8> {
        crate::payload::generate(50, 0).encode().unwrap()
    }

    #[test]
    fn reuse_allocates_nothing() {
        let blob = blob();
        let mut doc = Doc::new();
        doc.decode(&blob).unwrap();
        let first = doc.to_value();
        // Where each buffer lives and how big it is.
        let buffers = |d: &Doc| {
            let s = &d.sink;
            [
                (s.tape.as_ptr() as usize, s.tape.capacity()),
                (s.text.as_ptr() as usize, s.text.capacity()),
                (s.shared.as_ptr() as usize, s.shared.capacity()),
            ]
        };
        let before = buffers(&doc);
        for _ in 0..3 {
            doc.decode(&blob).unwrap();
            assert_eq!(buffers(&doc), before);
        }
        assert_eq!(doc.to_value(), first);
    }

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
    fn a_node_from_elsewhere_reads_as_none() {
        let mut big = Doc::new();
        big.decode(&blob()).unwrap();
        let stale = big.root.unwrap();
        let mut doc = Doc::new();
        doc.decode_with(|_| Ok::<_, DecodeError>(Some(stale)))
            .unwrap();
        assert!(matches!(doc.root(), Some(Item::None)));
    }

    #[test]
    fn text_limit_is_an_error() {
        let blob = blob();
        let mut doc = Doc::new();
        doc.decode(&blob).unwrap();
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
        let blob = blob();
        let mut doc = Doc::new();
        doc.decode(&blob).unwrap();
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
