//! From a store's blob to Python, and back: what every store class does the same way.

use std::sync::{Mutex, TryLockError};

use ipc_core::codec::{Blob, Encoder};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::MutexExt;
use pyo3::types::{PyDict, PyList};

use crate::codec::{encode_into, with_gc_paused, SharedCache};
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
        with_gc_paused(data.py(), || encode_into(dict.as_any(), enc))?;
        publish(enc.complete().map_err(CoreError::from)?)
    }

    /// The whole snapshot `blob`, identified by `tag` (for the field-name cache).
    pub fn read<'py>(
        &self,
        py: Python<'py>,
        tag: (u64, u64),
        blob: &[u8],
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut cache = self
            .shared
            .lock_py_attached(py)
            .unwrap_or_else(|e| e.into_inner());
        let mut sink = cache.sink(py, tag);
        let value = with_gc_paused(py, || {
            Blob::parse(blob)
                .map_err(CoreError::from)
                .and_then(|b| b.decode(&mut sink))
        });
        cache.keep(sink);
        Ok(value?)
    }

    /// One top-level value of `blob`, decoding nothing else.
    pub fn get<'py>(
        &self,
        py: Python<'py>,
        tag: (u64, u64),
        blob: &[u8],
        key: &str,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let mut cache = self
            .shared
            .lock_py_attached(py)
            .unwrap_or_else(|e| e.into_inner());
        let mut sink = cache.sink(py, tag);
        // Paused as for `read`: a collection could run a finalizer, Python code that
        // may come back to this store, while this thread holds the cache's lock.
        let found = with_gc_paused(py, || {
            Blob::parse(blob)
                .map_err(CoreError::from)
                .and_then(|b| b.get(key, &mut sink))
        });
        cache.keep(sink);
        Ok(found?)
    }
}

/// The top-level keys of `blob`, in order.
pub fn keys<'py>(py: Python<'py>, blob: &[u8]) -> PyResult<Bound<'py, PyList>> {
    let keys = Blob::parse(blob)
        .and_then(|b| b.keys())
        .map_err(CoreError::from)?;
    PyList::new(py, keys)
}
