//! `_core.ZmqStore`: the ZeroMQ store, as `ZeroMQBackend` uses it.

use std::sync::{Mutex, MutexGuard};

use ipc_core::zmq::{Mode, ZmqStore};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::errors::CoreError;
use crate::snapshot::{self, Converter};
use crate::wait;

#[pyclass(frozen, module = "ipc_benchmark._core", name = "ZmqStore")]
pub struct PyZmqStore {
    inner: Mutex<ZmqStore>,
    convert: Converter,
}

impl PyZmqStore {
    fn store(&self) -> MutexGuard<'_, ZmqStore> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The snapshot a read works on: the newest received (pubsub), or the next message
    /// (push mode, waited for without the GIL).
    fn frame(&self, py: Python<'_>) -> PyResult<Option<ipc_core::zmq::Frame>> {
        let mut guard = self.store();
        let store: &mut ZmqStore = &mut guard;
        let frame = if store.reads_block() {
            py.detach(|| store.latest())
        } else {
            store.latest() // pubsub: already received, no waiting
        };
        Ok(frame.map_err(CoreError::from)?)
    }
}

#[pymethods]
impl PyZmqStore {
    /// ZmqStore(name, writer, mode="pubsub", endpoint=None, timeout=30.0)
    #[new]
    #[pyo3(signature = (name, writer, mode="pubsub", endpoint=None, timeout=30.0))]
    fn new(
        name: &str,
        writer: bool,
        mode: &str,
        endpoint: Option<&str>,
        timeout: f64,
    ) -> PyResult<Self> {
        let mode = Mode::parse(mode).map_err(CoreError::from)?;
        let timeout = wait::timeout_arg(timeout)?;
        let store = if writer {
            ZmqStore::bind(name, mode, endpoint, timeout)
        } else {
            ZmqStore::connect(name, mode, endpoint, timeout)
        }
        .map_err(CoreError::from)?;
        Ok(PyZmqStore {
            inner: Mutex::new(store),
            convert: Converter::default(),
        })
    }

    /// Encodes `data` once and publishes it (push mode: once per expected read).
    fn write(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<u64> {
        let blob = self.convert.encode_dict(data)?;
        let mut guard = self.store();
        let store: &mut ZmqStore = &mut guard;
        Ok(py
            .detach(|| store.publish(&blob))
            .map_err(CoreError::from)?)
    }

    /// Push mode: the next write serves `readers` × `reads_each` reads.
    fn expect_reads(&self, readers: usize, reads_each: usize) -> PyResult<()> {
        Ok(self
            .store()
            .expect_reads(readers, reads_each)
            .map_err(CoreError::from)?)
    }

    fn read<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        match self.frame(py)? {
            None => Ok(None),
            Some(f) => Ok(Some(self.convert.read(py, f.id(), f.blob())?)),
        }
    }

    #[pyo3(signature = (key, default=None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &str,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let found = match self.frame(py)? {
            None => None,
            Some(f) => self.convert.get(py, f.id(), f.blob(), key)?,
        };
        Ok(found.or(default))
    }

    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        match self.frame(py)? {
            None => Ok(PyList::empty(py)),
            Some(f) => snapshot::keys(py, f.blob()),
        }
    }

    #[getter]
    fn version(&self) -> PyResult<u64> {
        Ok(self.store().version().map_err(CoreError::from)?)
    }

    /// True when the writer has not answered for a second: the snapshot may be outdated.
    #[getter]
    fn stale(&self) -> PyResult<bool> {
        Ok(self.store().is_stale().map_err(CoreError::from)?)
    }

    fn wait_for_update(&self, py: Python<'_>, after_version: u64, timeout: f64) -> PyResult<u64> {
        let timeout = wait::timeout_arg(timeout)?;
        wait::interruptible(py, timeout, |slice| {
            self.store().wait_for_update(after_version, slice)
        })
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let mut guard = self.store();
        let store: &mut ZmqStore = &mut guard;
        Ok(py.detach(|| store.close()).map_err(CoreError::from)?)
    }
}
