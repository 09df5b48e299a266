//! From a store's blob to Python, and back: what every store class does the same way.

use std::sync::{Mutex, MutexGuard, TryLockError};

use ipc_core::codec::Encoder;
use ipc_core::store::SnapshotId;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::MutexExt;
use pyo3::types::PyDict;

use crate::codec::{encode_into, with_gc_paused, Options, PySink, SharedCache};
use crate::errors::CoreError;

/// Per-store state of the conversion: the writer's encoder, and the field names already
/// built for the current snapshot.
#[derive(Default)]
pub struct Converter {
    /// Kept between writes with its buffers (see `Encoder::reset` for why).
    encoder: Mutex<Encoder>,
    shared: Mutex<SharedCache>,
}

impl Converter {
    /// Encodes the argument of `write`, which must be a dict (the stores index its keys),
    /// and hands the blob to `publish`.
    pub fn publish_dict<R>(
        &self,
        data: &Bound<'_, PyAny>,
        publish: impl FnOnce(&[u8]) -> PyResult<R>,
    ) -> PyResult<R> {
        let dict = data.cast::<PyDict>().map_err(|_| {
            let kind = data
                .get_type()
                .name()
                .map_or_else(|_| "?".into(), |n| n.to_string());
            PyTypeError::new_err(format!("write() takes a dict, got {kind}"))
        })?;
        // Another thread writing through the same store meanwhile gets an encoder of its
        // own rather than waiting for this one, which stays locked while `publish` runs.
        let mut guard = match self.encoder.try_lock() {
            Ok(guard) => Some(guard),
            // A panic mid-encode leaves nothing reset() does not clear.
            Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        };
        let mut own;
        let enc = match guard.as_deref_mut() {
            Some(kept) => kept,
            None => {
                own = Encoder::new();
                &mut own
            }
        };
        enc.reset();
        with_gc_paused(data.py(), || {
            encode_into(dict.as_any(), enc, Options::default())
        })?;
        publish(enc.complete().map_err(CoreError::from)?)
    }

    /// The sinks of one read, which start from the field names already built for the
    /// snapshot they are handed out for. Only used with the store locked.
    pub fn sinks<'py>(&self, py: Python<'py>) -> Sinks<'_, 'py> {
        Sinks {
            py,
            cache: self
                .shared
                .lock_py_attached(py)
                .unwrap_or_else(|e| e.into_inner()),
            used: None,
        }
    }
}

/// Hands out the sink a store decodes with ([`Sinks::sink`], given to its `decode_with`),
/// and keeps what that sink built once the read is over.
pub struct Sinks<'c, 'py> {
    py: Python<'py>,
    cache: MutexGuard<'c, SharedCache>,
    used: Option<PySink<'py>>,
}

impl<'py> Sinks<'_, 'py> {
    pub fn sink(&mut self, id: SnapshotId) -> &mut PySink<'py> {
        let sink = self.cache.sink(self.py, (id.incarnation, id.version));
        self.used.insert(sink)
    }
}

impl Drop for Sinks<'_, '_> {
    fn drop(&mut self) {
        if let Some(sink) = self.used.take() {
            self.cache.keep(sink);
        }
    }
}
