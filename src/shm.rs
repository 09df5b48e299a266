//! `_core.ShmStore`: the shared-memory store, as `SharedMemoryBackend` uses it.

use std::sync::{Mutex, MutexGuard};

use ipc_core::shm::{self, ShmStore};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::errors::CoreError;
use crate::snapshot::{self, Converter};
use crate::wait;

#[pyclass(frozen, module = "ipc_benchmark._core", name = "ShmStore")]
pub struct PyShmStore {
    /// Held only briefly, and never while waiting: see `wait_for_update`.
    inner: Mutex<ShmStore>,
    convert: Converter,
}

impl PyShmStore {
    fn store(&self) -> MutexGuard<'_, ShmStore> {
        // A panic while locked cannot leave the store half-updated (publishing is atomic
        // by design), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[pymethods]
impl PyShmStore {
    /// ShmStore(name, writer): the writer creates (or takes over) the store; a reader
    /// attaches, now or whenever the writer appears.
    #[new]
    fn new(name: &str, writer: bool) -> PyResult<Self> {
        let store = if writer {
            ShmStore::create(name)
        } else {
            ShmStore::attach(name)
        }
        .map_err(CoreError::from)?;
        Ok(PyShmStore {
            inner: Mutex::new(store),
            convert: Converter::default(),
        })
    }

    #[getter]
    fn name(&self) -> String {
        self.store().name().to_owned()
    }

    #[getter]
    fn is_writer(&self) -> bool {
        self.store().is_writer()
    }

    /// Encodes `data` and publishes it as the next version; returns that version.
    fn write(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<u64> {
        let blob = self.convert.encode_dict(data)?;
        let mut guard = self.store();
        let store: &mut ShmStore = &mut guard;
        // The copy into shared memory needs no Python objects: let other threads run.
        Ok(py
            .detach(|| store.publish(&blob))
            .map_err(CoreError::from)?)
    }

    /// The latest snapshot as a new dict, or None before the first write.
    fn read<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let mut store = self.store();
        match store.latest().map_err(CoreError::from)? {
            None => Ok(None),
            Some(s) => Ok(Some(self.convert.read(
                py,
                (s.incarnation(), s.version()),
                s.blob(),
            )?)),
        }
    }

    /// One top-level value of the latest snapshot, decoding nothing else.
    #[pyo3(signature = (key, default=None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &str,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let mut store = self.store();
        let found = match store.latest().map_err(CoreError::from)? {
            None => None,
            Some(s) => self
                .convert
                .get(py, (s.incarnation(), s.version()), s.blob(), key)?,
        };
        Ok(found.or(default))
    }

    /// The top-level keys of the latest snapshot, in order.
    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let mut store = self.store();
        match store.latest().map_err(CoreError::from)? {
            None => Ok(PyList::empty(py)),
            Some(s) => snapshot::keys(py, s.blob()),
        }
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
        let label = format!("shared-memory store {:?}", self.name());
        wait::interruptible(py, timeout, |slice| {
            shm::wait_for_update_with(&label, after_version, slice, || self.store().head_handle())
        })
    }

    /// Writer: marks the store closed and removes its segments. Reader: detaches.
    fn close(&self) -> PyResult<()> {
        Ok(self.store().close().map_err(CoreError::from)?)
    }
}
