//! The one adapter every ipc-core store runs behind: [`StoreBackend`] does all of
//! [`Backend`] for any [`Store`], and decodes every read the same way, into a `Doc`
//! straight from the store.

use std::time::Duration;

use ipc_core::codec::Encoder;
use ipc_core::store::{Store, StoreSink};
use ipc_core::{Doc, Value};

use super::{Backend, BoxError};

pub struct StoreBackend<S: Store> {
    name: &'static str,
    options: S::Options,
    store: Option<S>,
    /// The writer's, kept between writes as the Python bindings keep theirs.
    encoder: Encoder,
}

impl<S: Store> StoreBackend<S> {
    pub fn new(name: &'static str, options: S::Options) -> Self {
        StoreBackend {
            name,
            options,
            store: None,
            encoder: Encoder::new(),
        }
    }

    fn store(&mut self) -> Result<&mut S, BoxError> {
        opened(self.name, &mut self.store)
    }

    /// A read (no `key`) or a get: the latest snapshot, or the value of `key`, decoded
    /// into `doc`. False, with `doc` emptied, when the snapshot or the key is missing.
    fn decode(&mut self, key: Option<&str>, doc: &mut Doc) -> Result<bool, BoxError> {
        let store = self.store()?;
        let found = doc.decode_with(|sink| {
            let mut sink = StoreSink(sink);
            store.decode_with(key, |_| &mut sink)
        });
        Ok(found?)
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
        S::reads_wait(&self.options)
    }

    fn expect_reads(&mut self, readers: usize, reads_each: usize) {
        // Only the writer is told; it is the only one that can fail to be.
        if let Some(store) = self.store.as_mut() {
            let _ = store.expect_reads(readers, reads_each);
        }
    }

    fn initialize(&mut self, name: &str, is_writer: bool) -> Result<(), BoxError> {
        self.store = Some(S::open(name, is_writer, &self.options)?);
        Ok(())
    }

    fn settle(&mut self, timeout: Duration) -> Result<(), BoxError> {
        // The first version: at once where the store holds it already; a ZeroMQ pubsub
        // reader may still be receiving it.
        self.store()?.wait_for_update(0, timeout)?;
        Ok(())
    }

    fn version(&mut self) -> Result<u64, BoxError> {
        Ok(self.store()?.version()?)
    }

    fn wait_for_update(&mut self, after: u64, timeout: Duration) -> Result<u64, BoxError> {
        Ok(self.store()?.wait_for_update(after, timeout)?)
    }

    fn write(&mut self, data: &Value) -> Result<(), BoxError> {
        let store = opened(self.name, &mut self.store)?;
        store.publish(data.encode_with(&mut self.encoder)?)?;
        Ok(())
    }

    fn read(&mut self, doc: &mut Doc) -> Result<bool, BoxError> {
        self.decode(None, doc)
    }

    fn get(&mut self, key: &str, doc: &mut Doc) -> Result<bool, BoxError> {
        self.decode(Some(key), doc)
    }

    fn cleanup(&mut self) -> Result<(), BoxError> {
        match self.store.take() {
            Some(mut store) => Ok(store.close()?),
            None => Ok(()),
        }
    }
}
