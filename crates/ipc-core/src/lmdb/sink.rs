//! Using the codec's own sinks ([`ValueSink`](crate::codec::ValueSink),
//! [`Skip`](crate::codec::Skip)) with the store, whose sinks must also carry store errors.

use crate::codec::{DecodeError, Sink};
use crate::error::Error;

/// A sink whose errors are the codec's, made usable with `LmdbStore::read_with`.
pub struct StoreSink<S>(pub S);

/// The error of a [`StoreSink`]: what the store failed with.
#[derive(Debug)]
pub struct SinkError(pub Error);

impl From<Error> for SinkError {
    fn from(e: Error) -> Self {
        SinkError(e)
    }
}

impl From<DecodeError> for SinkError {
    #[cold]
    fn from(source: DecodeError) -> Self {
        // The store re-checks a value that failed to decode and reports the failure with
        // its name and the key's; this is only the fallback.
        SinkError(Error::Corrupt {
            store: "LMDB snapshot".to_owned(),
            source,
        })
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
