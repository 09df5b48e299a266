//! From a store's blob to Python, and back: what every store class does the same way.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

use ipc_core::codec::Blob;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::MutexExt;
use pyo3::types::{PyDict, PyList};

use crate::codec::{encode, with_gc_paused, SharedCache};
use crate::errors::CoreError;

/// Per-store state of the conversion: the encode buffer size to start from, and the
/// field names already built for the current snapshot.
#[derive(Default)]
pub struct Converter {
    last_len: AtomicUsize,
    shared: Mutex<SharedCache>,
}

impl Converter {
    /// Encodes the argument of `write`, which must be a dict (the stores index its keys).
    pub fn encode_dict(&self, data: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
        let dict = data.cast::<PyDict>().map_err(|_| {
            let kind = data
                .get_type()
                .name()
                .map_or_else(|_| "?".into(), |n| n.to_string());
            PyTypeError::new_err(format!("write() takes a dict, got {kind}"))
        })?;
        let hint = self.last_len.load(Relaxed) + 4096;
        let blob = with_gc_paused(data.py(), || encode(dict.as_any(), hint))?;
        self.last_len.store(blob.len(), Relaxed);
        Ok(blob)
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
