//! What every store does: the one interface the native harness and the Python bindings
//! are written against, so that a new store is one new module that implements [`Store`].
//!
//! Reads go through a [`Sink`], in one shape for every store ([`Store::decode_with`]): the
//! caller hands over a function that, told which snapshot is about to be decoded
//! ([`SnapshotId`]), returns the sink to decode it with (a sink may then reuse what it
//! built for the same snapshot).
//! Stores that keep a whole blob (shared memory, ZeroMQ) decode it with [`decode_blob`];
//! LMDB decodes its records one by one, straight from its map.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::codec::{Blob, DecodeError, Dtype, KeyRef, Sink};
use crate::error::{Error, Result};
use crate::futex::{self, Notifier};

/// Names a snapshot: a writer's run (its incarnation) and the version within it. Versions
/// restart when a store is created again, the incarnation then differs. Readers key their
/// caches on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SnapshotId {
    pub incarnation: u64,
    pub version: u64,
}

/// A sink a store decodes with: any codec sink building `V`, failing with `E`.
pub trait SinkOf<V, E>: for<'a> Sink<'a, Value = V, Error = E> {}

impl<S: for<'a> Sink<'a, Value = V, Error = E> + ?Sized, V, E> SinkOf<V, E> for S {}

/// The error of a read: the store's, or the decoder's.
pub trait ReadError: From<Error> + From<DecodeError> {}

impl<E: From<Error> + From<DecodeError>> ReadError for E {}

/// A snapshot that stays valid and unchanged until it is dropped, whatever the store
/// and its writer do meanwhile (publish, recycle memory, close, remove their files).
/// docs/design.md, "Held snapshots", says what each store's costs and pins.
pub trait HeldSnapshot: Send + Sync + 'static {
    /// Which snapshot it is.
    fn id(&self) -> SnapshotId;

    /// Where its bytes lie. Two held snapshots at the same address, while one of them
    /// lives, hold the same bytes (a ZeroMQ push-mode reader receives many messages of
    /// one version: equal ids, different memory).
    fn address(&self) -> *const u8;

    /// The whole snapshot (no `key`), or only its top-level `key`'s value (None when
    /// missing), decoded by `sink`. What the sink borrows from the snapshot stays valid
    /// and unchanged for as long as `self` lives.
    fn decode_with<S: SinkOf<V, E>, V, E: ReadError>(
        &self,
        key: Option<KeyRef<'_>>,
        sink: &mut S,
    ) -> Result<Option<V>, E>;

    /// Hands the top-level keys, in the dict's order, to `f`.
    fn keys_with<R, E: ReadError>(&self, f: impl FnOnce(&[KeyRef<'_>]) -> R) -> Result<R, E>;
}

/// A held snapshot that is one whole blob (a shared-memory segment, a ZeroMQ message):
/// the rest of [`HeldSnapshot`] follows from its id and its bytes.
pub trait HeldBlob: Send + Sync + 'static {
    fn id(&self) -> SnapshotId;
    fn blob(&self) -> &[u8];
}

impl<T: HeldBlob> HeldSnapshot for T {
    fn id(&self) -> SnapshotId {
        HeldBlob::id(self)
    }

    fn address(&self) -> *const u8 {
        self.blob().as_ptr()
    }

    fn decode_with<S: SinkOf<V, E>, V, E: ReadError>(
        &self,
        key: Option<KeyRef<'_>>,
        sink: &mut S,
    ) -> Result<Option<V>, E> {
        decode_blob(Some((HeldBlob::id(self), self.blob())), key, |_| sink)
    }

    fn keys_with<R, E: ReadError>(&self, f: impl FnOnce(&[KeyRef<'_>]) -> R) -> Result<R, E> {
        Ok(blob_keys(Some(self.blob()), f)?)
    }
}

/// One process's handle on a store: its writer's, or one of its readers'.
///
/// Every method but `open` may fail with [`Error::Usage`] in a process that did not open
/// the store (a forked child) or after `close`; a reader's reads return None (and `keys`
/// an empty list) until the writer has published.
pub trait Store: Sized {
    /// Everything but the name that says how to open the store.
    type Options;
    /// What `wait_for_update` sleeps on. Fetched with [`Store::waiter`], it holds no lock
    /// of the store, so a caller that shares the store behind a lock of its own can wait
    /// without holding that lock.
    type Waiter: Notifier;
    /// What [`Store::hold`] hands out.
    type Held: HeldSnapshot;

    /// The writer creates the store called `name` (or takes over one whose writer died);
    /// a reader attaches to it, now or whenever it appears.
    fn open(name: &str, writer: bool, options: &Self::Options) -> Result<Self>;

    /// The store as messages name it.
    fn label(&self) -> String;

    /// Publishes `blob` (an encoded dict, see docs/format.md) as the next version, which
    /// it returns. Only the writer may.
    fn publish(&mut self, blob: &[u8]) -> Result<u64>;

    /// The latest snapshot (no `key`), or only the value of its top-level `key`, decoded
    /// by the sink `sink_for` returns for it; None when the snapshot (before the first
    /// write) or the key is missing.
    fn decode_with<'s, S: SinkOf<V, E> + 's, V, E: ReadError>(
        &mut self,
        key: Option<KeyRef<'_>>,
        sink_for: impl FnOnce(SnapshotId) -> &'s mut S,
    ) -> Result<Option<V>, E>;

    /// The latest snapshot, held until dropped (see [`HeldSnapshot`]); None before the
    /// first write. Only a reader may. In push mode (ZeroMQ) this is a read: it takes a
    /// message.
    fn hold(&mut self) -> Result<Option<Arc<Self::Held>>>;

    /// Whether [`Store::hold`] costs no more than a read (shared memory and ZeroMQ keep
    /// whole blobs and hand out a reference); LMDB copies the snapshot's records. Readers
    /// that may hand out views into a snapshot read through `hold` when this is true.
    fn holds_cheaply(&self) -> bool;

    /// Hands the top-level keys of the latest snapshot, in the dict's order (none before
    /// the first write), to `f`.
    fn keys_with<R, E: ReadError>(&mut self, f: impl FnOnce(&[KeyRef<'_>]) -> R) -> Result<R, E>;

    /// The latest version, 0 before the first write.
    fn version(&mut self) -> Result<u64>;

    /// What to sleep on for a newer version; None while there is nothing to sleep on yet
    /// (the store does not exist).
    fn waiter(&mut self) -> Result<Option<Self::Waiter>>;

    /// Blocks until a version newer than `after` is published and returns it, or fails
    /// with [`Error::Timeout`] after `timeout`.
    fn wait_for_update(&mut self, after: u64, timeout: Duration) -> Result<u64> {
        let label = self.label();
        futex::wait_for_update_with(&label, after, timeout, || self.waiter())
    }

    /// The writer removes what it created (unless the store is meant to last); a reader
    /// lets go. Idempotent; also run on drop. In a forked child, touches nothing of the
    /// owner's.
    fn close(&mut self) -> Result<()>;

    /// Whether a reader opened with `options` waits in each read for its snapshot (a
    /// ZeroMQ push-mode reader: every read takes one message). Such a caller calls
    /// [`Store::prepare_read`] first, where waiting is cheap for it (without the GIL).
    fn reads_wait(_options: &Self::Options) -> bool {
        false
    }

    /// Waits for the snapshot of the next read, which then takes it without waiting. A
    /// no-op unless the store's reads wait ([`Store::reads_wait`]).
    fn prepare_read(&mut self) -> Result<()> {
        Ok(())
    }

    /// Tells a writer whose readers consume messages how many reads its next publish
    /// serves: `readers` × `reads_each`.
    fn expect_reads(&mut self, _readers: usize, _reads_each: usize) -> Result<()> {
        Ok(())
    }
}

/// [`Store::decode_with`] for a store that keeps whole blobs: `snapshot` is the latest
/// one's id and blob, if any.
#[inline]
pub fn decode_blob<'s, S: SinkOf<V, E> + 's, V, E: ReadError>(
    snapshot: Option<(SnapshotId, &[u8])>,
    key: Option<KeyRef<'_>>,
    sink_for: impl FnOnce(SnapshotId) -> &'s mut S,
) -> Result<Option<V>, E> {
    let Some((id, blob)) = snapshot else {
        return Ok(None);
    };
    let blob = Blob::parse(blob)?;
    let sink = sink_for(id);
    match key {
        None => blob.decode(sink).map(Some),
        Some(key) => blob.get(key, sink),
    }
}

/// The keys of a blob, handed to `f` (see [`Store::keys_with`]); none for no blob.
pub fn blob_keys<R>(
    blob: Option<&[u8]>,
    f: impl FnOnce(&[KeyRef<'_>]) -> R,
) -> Result<R, DecodeError> {
    match blob {
        None => Ok(f(&[])),
        Some(blob) => Ok(f(&Blob::parse(blob)?.keys()?)),
    }
}

/// A sink of the codec's own (a [`Doc`](crate::Doc)'s, a
/// [`ValueSink`](crate::codec::ValueSink)) made usable with [`Store::read_with`], whose
/// sinks must also carry store errors.
pub struct StoreSink<S>(pub S);

/// The error of a [`StoreSink`]: the store's, or the decoder's.
#[derive(Debug)]
pub enum SinkError {
    Store(Error),
    Decode(DecodeError),
}

impl SinkError {
    /// As a store error, a decoding failure naming `store`.
    #[cold]
    pub fn into_error(self, store: &str) -> Error {
        match self {
            SinkError::Store(e) => e,
            SinkError::Decode(source) => Error::corrupt(store, source),
        }
    }
}

impl From<Error> for SinkError {
    #[cold]
    fn from(e: Error) -> Self {
        SinkError::Store(e)
    }
}

impl From<DecodeError> for SinkError {
    #[cold]
    fn from(e: DecodeError) -> Self {
        SinkError::Decode(e)
    }
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SinkError::Store(e) => e.fmt(f),
            SinkError::Decode(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SinkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SinkError::Store(e) => e.source(),
            SinkError::Decode(e) => e.source(),
        }
    }
}

impl<'a, S: Sink<'a, Error = DecodeError>> Sink<'a> for StoreSink<S> {
    type Value = S::Value;
    type Key = S::Key;
    type Seq = S::Seq;
    type Map = S::Map;
    type Error = SinkError;

    fn none(&mut self) -> Result<S::Value, SinkError> {
        Ok(self.0.none()?)
    }
    fn bool(&mut self, v: bool) -> Result<S::Value, SinkError> {
        Ok(self.0.bool(v)?)
    }
    fn int(&mut self, v: i64) -> Result<S::Value, SinkError> {
        Ok(self.0.int(v)?)
    }
    fn big_int(&mut self, le_bytes: &'a [u8]) -> Result<S::Value, SinkError> {
        Ok(self.0.big_int(le_bytes)?)
    }
    fn float(&mut self, v: f64) -> Result<S::Value, SinkError> {
        Ok(self.0.float(v)?)
    }
    fn str(&mut self, s: &'a str, ascii: bool, shared: Option<u32>) -> Result<S::Value, SinkError> {
        Ok(self.0.str(s, ascii, shared)?)
    }
    fn bytes(&mut self, b: &'a [u8]) -> Result<S::Value, SinkError> {
        Ok(self.0.bytes(b)?)
    }
    fn array(
        &mut self,
        dtype: Dtype,
        shape: &[usize],
        data: &'a [u8],
    ) -> Result<S::Value, SinkError> {
        Ok(self.0.array(dtype, shape, data)?)
    }
    fn scalar(&mut self, dtype: Dtype, le: &'a [u8]) -> Result<S::Value, SinkError> {
        Ok(self.0.scalar(dtype, le)?)
    }
    fn pickle(&mut self, data: &'a [u8]) -> Result<S::Value, SinkError> {
        Ok(self.0.pickle(data)?)
    }
    fn cached_str(&mut self, id: u32) -> Option<S::Value> {
        self.0.cached_str(id)
    }
    fn cached_key(&mut self, id: u32) -> Option<S::Key> {
        self.0.cached_key(id)
    }
    fn seq(&mut self, len: usize, tuple: bool) -> Result<S::Seq, SinkError> {
        Ok(self.0.seq(len, tuple)?)
    }
    fn seq_push(&mut self, seq: &mut S::Seq, index: usize, v: S::Value) -> Result<(), SinkError> {
        Ok(self.0.seq_push(seq, index, v)?)
    }
    fn seq_end(&mut self, seq: S::Seq) -> Result<S::Value, SinkError> {
        Ok(self.0.seq_end(seq)?)
    }
    fn map(&mut self, len: usize) -> Result<S::Map, SinkError> {
        Ok(self.0.map(len)?)
    }
    fn key(&mut self, s: &'a str, ascii: bool, shared: Option<u32>) -> Result<S::Key, SinkError> {
        Ok(self.0.key(s, ascii, shared)?)
    }
    fn int_key(&mut self, v: i64) -> Result<S::Key, SinkError> {
        Ok(self.0.int_key(v)?)
    }
    fn root_int_key(&mut self, index: usize, v: i64) -> Result<S::Key, SinkError> {
        Ok(self.0.root_int_key(index, v)?)
    }
    fn root_key(&mut self, index: usize, s: &'a str, ascii: bool) -> Result<S::Key, SinkError> {
        Ok(self.0.root_key(index, s, ascii)?)
    }
    fn map_insert(&mut self, map: &mut S::Map, k: S::Key, v: S::Value) -> Result<(), SinkError> {
        Ok(self.0.map_insert(map, k, v)?)
    }
    fn map_end(&mut self, map: S::Map) -> Result<S::Value, SinkError> {
        Ok(self.0.map_end(map)?)
    }
}
