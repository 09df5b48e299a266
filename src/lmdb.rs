//! `_core.LmdbStore`: the LMDB store, as `LMDBBackend` uses it.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use ipc_core::futex;
use ipc_core::lmdb::{self, LmdbStore, Location, Options, SnapshotId};
use ipc_core::trust::Trust;
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::codec::SharedCache;
use crate::errors::CoreError;
use crate::name::StoreName;
use crate::opened::Opened;
use crate::snapshot::Converter;
use crate::wait;

#[pyclass(frozen, subclass, module = "ipc_benchmark._core", name = "LmdbStore")]
pub struct PyLmdbStore {
    store: Opened<LmdbStore>,
    /// Encodes what is written. (Its blob decoding does not apply: LMDB keeps records.)
    convert: Converter,
    /// Field names built for the current snapshot (only used with the store locked).
    shared: Mutex<SharedCache>,
    path: Option<PathBuf>,
    options: Options,
}

impl PyLmdbStore {
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
    /// LmdbStore(path=None, durable=False, remove_on_cleanup=False, max_readers=None,
    /// trust_uid=None)
    #[new]
    #[pyo3(signature = (
        path=None, durable=false, remove_on_cleanup=false, max_readers=None, trust_uid=None
    ))]
    fn new(
        path: Option<PathBuf>,
        durable: bool,
        remove_on_cleanup: bool,
        max_readers: Option<u32>,
        trust_uid: Option<u32>,
    ) -> PyResult<Self> {
        if max_readers == Some(0) {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "max_readers must be at least 1, got 0",
            ));
        }
        Ok(PyLmdbStore {
            store: Opened::new("LMDBBackend"),
            convert: Converter::default(),
            shared: Mutex::default(),
            path,
            options: Options {
                durable,
                remove_on_close: remove_on_cleanup,
                max_readers: max_readers.unwrap_or(lmdb::DEFAULT_MAX_READERS),
                trust: Trust::also(trust_uid),
                ..Options::default()
            },
        })
    }

    /// The writer creates the store (or carries on with the one at `path`); a reader
    /// attaches, now or whenever the store appears. `name` picks the temp-dir store;
    /// with a `path` it only labels messages.
    fn initialize(&self, py: Python<'_>, name: StoreName, is_writer: bool) -> PyResult<()> {
        let name = name.0.as_str();
        ipc_core::names::validate(name).map_err(CoreError::from)?;
        let location = match &self.path {
            Some(path) => Location::Path(path.clone()),
            None => Location::Named(name.to_owned()),
        };
        // Opening touches the file system (and a writer may wait for its first map
        // resize): let other threads run.
        let store = py
            .detach(|| {
                if is_writer {
                    LmdbStore::create(&location, &self.options)
                } else {
                    LmdbStore::attach(&location, &self.options)
                }
            })
            .map_err(CoreError::from)?;
        self.store.open(py, store)
    }

    #[getter]
    fn trust_uid(&self) -> Option<u32> {
        self.options.trust.also
    }

    #[getter]
    fn durable(&self) -> bool {
        self.options.durable
    }

    #[getter]
    fn remove_on_cleanup(&self) -> bool {
        self.options.remove_on_close
    }

    /// The store's directory (None before initialize unless a path was given).
    #[getter]
    fn path(&self, py: Python<'_>) -> Option<PathBuf> {
        self.store
            .py(py, |s| Ok(s.dir().to_owned()))
            .ok()
            .or_else(|| self.path.clone())
    }

    /// Encodes `data` and publishes it as the next version, in one LMDB transaction.
    fn write(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        // The transaction needs no Python objects: let other threads run.
        self.convert.publish_dict(data, |blob| {
            self.store.detached(py, |s| s.publish(blob).map(drop))
        })
    }

    /// The latest snapshot as a new dict (one read transaction), or None before the
    /// first write.
    fn read<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.store.with(py, |store| {
            let mut cache = self.cache();
            let mut slot = None;
            let value = store.read_with(|id| slot.insert(cache.sink(py, tag(id))));
            if let Some(sink) = slot {
                cache.keep(sink);
            }
            Ok(value.map_err(|e: CoreError| e)?)
        })
    }

    /// One top-level value of the latest snapshot, decoded alone straight from the map.
    #[pyo3(signature = (key, default=None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &str,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let found = self.store.with(py, |store| {
            let mut cache = self.cache();
            let mut slot = None;
            let found = store.get_with(key, |id| slot.insert(cache.sink(py, tag(id))));
            if let Some(sink) = slot {
                cache.keep(sink);
            }
            let found: Option<Bound<'py, PyAny>> = found.map_err(|e: CoreError| e)?;
            Ok(found)
        })?;
        Ok(found.or(default))
    }

    /// The top-level keys of the latest snapshot, in order.
    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let keys = self.store.py(py, |s| s.keys())?;
        PyList::new(py, keys)
    }

    /// The latest version: 0 before the first write.
    #[getter]
    fn version(&self, py: Python<'_>) -> PyResult<u64> {
        self.store.py(py, |s| s.version())
    }

    /// Blocks (without the GIL, and without spinning) until a version newer than
    /// `after_version` exists; returns it, or raises IPCTimeoutError after `timeout` s.
    fn wait_for_update(&self, py: Python<'_>, after_version: u64, timeout: f64) -> PyResult<u64> {
        let timeout = wait::timeout_arg(timeout)?;
        let label = self.store.py(py, |s| Ok(s.label().to_owned()))?;
        wait::interruptible(py, timeout, |slice| {
            futex::wait_for_update_with(&label, after_version, slice, || {
                self.store.core(|s| s.waiter())
            })
        })
    }

    /// Writer: a temporary store (or one with remove_on_cleanup) is marked closed and
    /// removed; a store at a path is flushed and kept. Reader: detaches. Idempotent.
    /// In a forked child, lets go of the inherited copy only, without an error: the
    /// parent's store is untouched.
    fn cleanup(&self, py: Python<'_>) -> PyResult<()> {
        match self.store.take(py) {
            // Closing waits for this process's transactions on the store to end.
            Some(mut s) => Ok(py.detach(|| s.close()).map_err(CoreError::from)?),
            None => Ok(()),
        }
    }
}
