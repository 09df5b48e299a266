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
//!   bytes, big integers, pickles, scalars and arrays (an array's shape, then its data,
//!   copied): nodes refer to them by `u32` start and length. A shared
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
//! The same document also decodes through any driver of the [`Sink`](super::Sink) trait
//! (an LMDB record, `LmdbStore::read_with`): see [`Doc::decode_with`].

mod sink;
mod tape;
mod views;

use std::fmt;

use super::array::KeyRef;
use super::blob::{decode_value, Blob};
use super::error::DecodeError;
use super::table::Table;
use super::value::Value;

pub use sink::{DocSink, OpenContainer};
pub use tape::Node;
use tape::{Kind, Span};
pub use views::{ArrayItem, Item, Map, Seq};

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
    pub fn decode_key<'k>(
        &mut self,
        blob: &[u8],
        key: impl Into<KeyRef<'k>>,
    ) -> Result<bool, DecodeError> {
        let key = key.into();
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
            Kind::Array { span, dtype, ndim } => sink
                .bytes
                .get(span.range())
                .and_then(|b| b.split_at_checked(usize::from(ndim) * 8))
                .map(|(shape, data)| Item::Array(ArrayItem { dtype, shape, data })),
            Kind::Scalar { span, dtype } => sink
                .bytes
                .get(span.range())
                .map(|le| Item::Scalar(dtype, le)),
            Kind::Pickle(s) => sink.bytes.get(s.range()).map(Item::Pickle),
        };
        found.unwrap_or(Item::None)
    }

    fn seq(&self, s: Span) -> Option<Seq<'_>> {
        let nodes = self.sink.tape.get(s.range())?;
        Some(Seq { doc: self, nodes })
    }

    fn key_of(&self, key: Node) -> KeyRef<'_> {
        match key.kind() {
            Kind::Str(s) => KeyRef::Str(self.sink.text.get(s.range()).unwrap_or("")),
            Kind::Int(i) => KeyRef::Int(i),
            // Only the sink writes keys, always as Str or Int.
            _ => KeyRef::Str(""),
        }
    }
}

impl fmt::Debug for Doc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Doc").field("root", &self.root()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The benchmark payload at 50 entries, encoded, and a document decoded from it: the
    /// sink's tests use them too.
    pub(super) fn decoded() -> (Vec<u8>, Doc) {
        let blob = crate::payload::generate(50, 0).encode().unwrap();
        let mut doc = Doc::new();
        doc.decode(&blob).unwrap();
        (blob, doc)
    }

    #[test]
    fn reuse_allocates_nothing() {
        let (blob, mut doc) = decoded();
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
    fn a_node_from_elsewhere_reads_as_none() {
        let (_, big) = decoded();
        let stale = big.root.unwrap();
        let mut doc = Doc::new();
        doc.decode_with(|_| Ok::<_, DecodeError>(Some(stale)))
            .unwrap();
        assert!(matches!(doc.root(), Some(Item::None)));
    }
}
