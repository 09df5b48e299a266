//! `_core.ShmStore`: the shared-memory backend (`SharedMemoryBackend` adds its name).

use ipc_core::futex;
use ipc_core::shm::ShmStore;
use ipc_core::trust::Trust;
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::errors::CoreError;
use crate::name::StoreName;
use crate::opened::Opened;
use crate::snapshot::{self, Converter};
use crate::wait;

#[pyclass(frozen, subclass, module = "ipc_benchmark._core", name = "ShmStore")]
pub struct PyShmStore {
    store: Opened<ShmStore>,
    convert: Converter,
    trust: Trust,
}

#[pymethods]
impl PyShmStore {
    /// ShmStore(trust_uid=None): a reader also reads a store of the user `trust_uid`.
    #[new]
    #[pyo3(signature = (trust_uid=None))]
    fn new(trust_uid: Option<u32>) -> Self {
        PyShmStore {
            store: Opened::new("SharedMemoryBackend"),
            convert: Converter::default(),
            trust: Trust::also(trust_uid),
        }
    }

    #[getter]
    fn trust_uid(&self) -> Option<u32> {
        self.trust.also
    }

    /// The writer creates the store (or takes over one of its own whose writer died); a
    /// reader attaches, now or whenever the writer appears.
    fn initialize(&self, py: Python<'_>, name: StoreName, is_writer: bool) -> PyResult<()> {
        let name = name.0.as_str();
        let store = if is_writer {
            ShmStore::create(name)
        } else {
            ShmStore::attach_trusting(name, self.trust)
        }
        .map_err(CoreError::from)?;
        self.store.open(py, store)
    }

    /// Encodes `data` and publishes it as the next version.
    fn write(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        // The copy into shared memory needs no Python objects: let other threads run.
        self.convert.publish_dict(data, |blob| {
            self.store.detached(py, |s| s.publish(blob).map(drop))
        })
    }

    /// The latest snapshot as a new dict, or None before the first write.
    fn read<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.store
            .with(py, |s| match s.latest().map_err(CoreError::from)? {
                None => Ok(None),
                Some(s) => Ok(Some(self.convert.read(
                    py,
                    (s.incarnation(), s.version()),
                    s.blob(),
                )?)),
            })
    }

    /// One top-level value of the latest snapshot, decoding nothing else.
    #[pyo3(signature = (key, default=None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &str,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let found = self
            .store
            .with(py, |s| match s.latest().map_err(CoreError::from)? {
                None => Ok(None),
                Some(s) => self
                    .convert
                    .get(py, (s.incarnation(), s.version()), s.blob(), key),
            })?;
        Ok(found.or(default))
    }

    /// The top-level keys of the latest snapshot, in order.
    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.store
            .with(py, |s| match s.latest().map_err(CoreError::from)? {
                None => Ok(PyList::empty(py)),
                Some(s) => snapshot::keys(py, s.blob()),
            })
    }

    /// The latest version: 0 before the first write. One atomic load.
    #[getter]
    fn version(&self, py: Python<'_>) -> PyResult<u64> {
        self.store.py(py, |s| s.version())
    }

    /// Blocks (without the GIL, and without spinning) until a version newer than
    /// `after_version` exists; returns it, or raises IPCTimeoutError after `timeout` s.
    fn wait_for_update(&self, py: Python<'_>, after_version: u64, timeout: f64) -> PyResult<u64> {
        let timeout = wait::timeout_arg(timeout)?;
        let label = self
            .store
            .with(py, |s| Ok(format!("shared-memory store {:?}", s.name())))?;
        wait::interruptible(py, timeout, |slice| {
            futex::wait_for_update_with(&label, after_version, slice, || {
                self.store.core(|s| s.head_handle())
            })
        })
    }

    /// Writer: marks the store closed and removes its segments. Reader: detaches.
    /// Idempotent. In a forked child, lets go of the inherited copy only, without an
    /// error: the parent's store is untouched.
    fn cleanup(&self, py: Python<'_>) -> PyResult<()> {
        match self.store.take(py) {
            Some(mut s) => Ok(s.close().map_err(CoreError::from)?),
            None => Ok(()),
        }
    }
}
