//! `_core.LmdbStore`: the LMDB store, as `LMDBBackend` uses it.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use ipc_core::lmdb::{self, LmdbStore, Location, Options, SnapshotId};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::codec::{with_gc_paused, SharedCache};
use crate::errors::CoreError;
use crate::snapshot::Converter;
use crate::wait;

#[pyclass(frozen, module = "ipc_benchmark._core", name = "LmdbStore")]
pub struct PyLmdbStore {
    /// Held only briefly, and never while waiting: see `wait_for_update`.
    inner: Mutex<LmdbStore>,
    /// Encodes what is written. (Its blob decoding does not apply: LMDB keeps records.)
    convert: Converter,
    /// Field names built for the current snapshot (only used with the store locked).
    shared: Mutex<SharedCache>,
}

impl PyLmdbStore {
    fn store(&self) -> MutexGuard<'_, LmdbStore> {
        // A panic while locked cannot leave the database half-updated (a write is one
        // LMDB transaction), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn cache(&self) -> MutexGuard<'_, SharedCache> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The cache key of a snapshot's field names.
fn tag(id: SnapshotId) -> (u64, u64) {
    (id.incarnation, id.version)
}

#[pymethods]
impl PyLmdbStore {
    /// LmdbStore(name, writer, path=None, durable=False, remove_on_cleanup=False,
    /// max_readers=None): the writer creates the store (or carries on with the one at
    /// `path`); a reader attaches, now or whenever the store appears.
    #[new]
    #[pyo3(signature = (name, writer, path=None, durable=false, remove_on_cleanup=false, max_readers=None))]
    fn new(
        py: Python<'_>,
        name: &str,
        writer: bool,
        path: Option<PathBuf>,
        durable: bool,
        remove_on_cleanup: bool,
        max_readers: Option<u32>,
    ) -> PyResult<Self> {
        ipc_core::names::validate(name).map_err(CoreError::from)?;
        let location = match path {
            Some(path) => Location::Path(path),
            None => Location::Named(name.to_owned()),
        };
        let options = Options {
            durable,
            remove_on_close: remove_on_cleanup,
            max_readers: max_readers.unwrap_or(lmdb::DEFAULT_MAX_READERS),
            ..Options::default()
        };
        // Opening touches the file system (and a writer may wait for its first map
        // resize): let other threads run.
        let store = py
            .detach(|| {
                if writer {
                    LmdbStore::create(&location, &options)
                } else {
                    LmdbStore::attach(&location, &options)
                }
            })
            .map_err(CoreError::from)?;
        Ok(PyLmdbStore {
            inner: Mutex::new(store),
            convert: Converter::default(),
            shared: Mutex::default(),
        })
    }

    /// The store's directory.
    #[getter]
    fn path(&self) -> PathBuf {
        self.store().dir().to_owned()
    }

    #[getter]
    fn is_writer(&self) -> bool {
        self.store().is_writer()
    }

    /// Encodes `data` and publishes it as the next version, in one LMDB transaction;
    /// returns that version.
    fn write(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<u64> {
        let blob = self.convert.encode_dict(data)?;
        let mut guard = self.store();
        let store: &mut LmdbStore = &mut guard;
        // The transaction needs no Python objects: let other threads run.
        Ok(py
            .detach(|| store.publish(&blob))
            .map_err(CoreError::from)?)
    }

    /// The latest snapshot as a new dict (one read transaction), or None before the
    /// first write.
    fn read<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let mut store = self.store();
        let mut cache = self.cache();
        let mut slot = None;
        let value = {
            let (slot, cache) = (&mut slot, &mut *cache);
            with_gc_paused(py, move || {
                store.read_with(move |id| slot.insert(cache.sink(py, tag(id))))
            })
        };
        if let Some(sink) = slot {
            cache.keep(sink);
        }
        Ok(value.map_err(|e: CoreError| e)?)
    }

    /// One top-level value of the latest snapshot, decoded alone straight from the map.
    #[pyo3(signature = (key, default=None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &str,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let mut store = self.store();
        let mut cache = self.cache();
        let mut slot = None;
        let found = {
            let (slot, cache) = (&mut slot, &mut *cache);
            store.get_with(key, move |id| slot.insert(cache.sink(py, tag(id))))
        };
        if let Some(sink) = slot {
            cache.keep(sink);
        }
        let found: Option<Bound<'py, PyAny>> = found.map_err(|e: CoreError| e)?;
        Ok(found.or(default))
    }

    /// The top-level keys of the latest snapshot, in order.
    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let keys = self.store().keys().map_err(CoreError::from)?;
        PyList::new(py, keys)
    }

    /// The latest version: 0 before the first write.
    #[getter]
    fn version(&self) -> PyResult<u64> {
        Ok(self.store().version().map_err(CoreError::from)?)
    }

    /// Blocks (without the GIL, and without spinning) until a version newer than
    /// `after_version` exists; returns it, or raises IPCTimeoutError after `timeout` s.
    fn wait_for_update(&self, py: Python<'_>, after_version: u64, timeout: f64) -> PyResult<u64> {
        let timeout = wait::timeout_arg(timeout)?;
        let label = self.store().label().to_owned();
        wait::interruptible(py, timeout, |slice| {
            lmdb::wait_for_update_with(&label, after_version, slice, || self.store().waiter())
        })
    }

    /// Writer: a temporary store (or one with remove_on_cleanup) is marked closed and
    /// removed; a store at a path is flushed and kept. Reader: detaches.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let mut guard = self.store();
        let store: &mut LmdbStore = &mut guard;
        // Closing waits for this process's transactions on the store to end.
        Ok(py.detach(|| store.close()).map_err(CoreError::from)?)
    }
}
