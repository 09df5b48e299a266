//! The one adapter the three ipc-core stores run behind: a [`Store`] says how a store
//! opens, publishes and reads; [`StoreBackend`] does the rest of [`Backend`] for all.

use std::time::Duration;

use ipc_core::codec::Encoder;
use ipc_core::{Doc, Value};

use super::{Backend, BoxError};

/// What the harness needs from an ipc-core store.
pub trait Store: Sized {
    /// How to open it (a ZeroMQ store's mode and timeout, say).
    type Config;

    /// The writer creates the store called `name`; a reader attaches to it.
    fn open(name: &str, is_writer: bool, config: &Self::Config) -> Result<Self, BoxError>;
    fn publish(&mut self, blob: &[u8]) -> Result<(), BoxError>;
    /// See [`Backend::read`].
    fn read_into(&mut self, doc: &mut Doc) -> Result<bool, BoxError>;
    /// See [`Backend::get`].
    fn get_into(&mut self, key: &str, doc: &mut Doc) -> Result<bool, BoxError>;
    fn close(&mut self) -> Result<(), BoxError>;

    /// See [`Backend::settle`].
    fn settle(&mut self, _timeout: Duration) -> Result<(), BoxError> {
        Ok(())
    }

    /// See [`Backend::expect_reads`].
    fn expect_reads(&mut self, _readers: usize, _reads_each: usize) {}
}

pub struct StoreBackend<S: Store> {
    name: &'static str,
    config: S::Config,
    /// Every read consumes one message (see [`Backend::consumes_messages`]).
    consumes_messages: bool,
    store: Option<S>,
    /// The writer's, kept between writes as the Python bindings keep theirs.
    encoder: Encoder,
}

impl<S: Store> StoreBackend<S> {
    pub fn new(name: &'static str, config: S::Config, consumes_messages: bool) -> Self {
        StoreBackend {
            name,
            config,
            consumes_messages,
            store: None,
            encoder: Encoder::new(),
        }
    }

    fn store(&mut self) -> Result<&mut S, BoxError> {
        opened(self.name, &mut self.store)
    }
}

/// The open store, or the error for one used before `initialize`. (A free function, so
/// that `write` can borrow the encoder beside it.)
fn opened<'s, S>(name: &str, store: &'s mut Option<S>) -> Result<&'s mut S, BoxError> {
    store
        .as_mut()
        .ok_or_else(|| format!("{name}: used before initialize").into())
}

impl<S: Store> Backend for StoreBackend<S> {
    fn consumes_messages(&self) -> bool {
        self.consumes_messages
    }

    fn expect_reads(&mut self, readers: usize, reads_each: usize) {
        if let Some(store) = self.store.as_mut() {
            store.expect_reads(readers, reads_each);
        }
    }

    fn initialize(&mut self, name: &str, is_writer: bool) -> Result<(), BoxError> {
        self.store = Some(S::open(name, is_writer, &self.config)?);
        Ok(())
    }

    fn settle(&mut self, timeout: Duration) -> Result<(), BoxError> {
        self.store()?.settle(timeout)
    }

    fn write(&mut self, data: &Value) -> Result<(), BoxError> {
        let store = opened(self.name, &mut self.store)?;
        store.publish(data.encode_with(&mut self.encoder)?)
    }

    fn read(&mut self, doc: &mut Doc) -> Result<bool, BoxError> {
        self.store()?.read_into(doc)
    }

    fn get(&mut self, key: &str, doc: &mut Doc) -> Result<bool, BoxError> {
        self.store()?.get_into(key, doc)
    }

    fn cleanup(&mut self) -> Result<(), BoxError> {
        match self.store.take() {
            Some(mut store) => store.close(),
            None => Ok(()),
        }
    }
}

/// A read or get once the latest blob is in hand (None before the first write):
/// decodes all of it, or only the value of `key`, into `doc`. False, with `doc`
/// emptied, when the blob or the key is missing.
pub fn decode_blob(
    blob: Option<&[u8]>,
    key: Option<&str>,
    doc: &mut Doc,
) -> Result<bool, BoxError> {
    let Some(blob) = blob else {
        doc.clear();
        return Ok(false);
    };
    match key {
        None => doc.decode(blob).map(|()| true),
        Some(key) => doc.decode_key(blob, key),
    }
    .map_err(BoxError::from)
}
