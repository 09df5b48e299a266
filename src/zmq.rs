//! `_core.ZmqStore`: the ZeroMQ backend (`ZeroMQBackend` adds its name).

use std::time::Duration;

use ipc_core::trust::Trust;
use ipc_core::zmq::{Frame, Mode, ZmqStore};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::errors::CoreError;
use crate::name::StoreName;
use crate::opened::Opened;
use crate::snapshot::{self, Converter};
use crate::wait;

#[pyclass(frozen, subclass, module = "ipc_benchmark._core", name = "ZmqStore")]
pub struct PyZmqStore {
    store: Opened<ZmqStore>,
    convert: Converter,
    mode: Mode,
    endpoint: Option<String>,
    timeout: Duration,
    trust: Trust,
}

impl PyZmqStore {
    /// The snapshot a read works on: the newest received (pubsub), or the next message
    /// (push mode, waited for without the GIL).
    fn frame(&self, py: Python<'_>) -> PyResult<Option<Frame>> {
        if self.store.py(py, |s| Ok(s.reads_block()))? {
            self.store.detached(py, |s| s.latest())
        } else {
            self.store.py(py, |s| s.latest()) // pubsub: already received, no waiting
        }
    }
}

#[pymethods]
impl PyZmqStore {
    #[new]
    #[pyo3(signature = (mode="pubsub", endpoint=None, timeout=30.0, trust_uid=None))]
    fn new(
        mode: &str,
        endpoint: Option<String>,
        timeout: f64,
        trust_uid: Option<u32>,
    ) -> PyResult<Self> {
        let mode = match mode {
            "pubsub" => Mode::PubSub,
            "push" => Mode::Push,
            other => {
                return Err(PyValueError::new_err(format!(
                    "mode must be \"pubsub\" or \"push\", got {other:?}"
                )))
            }
        };
        Ok(PyZmqStore {
            store: Opened::new("ZeroMQBackend"),
            convert: Converter::default(),
            mode,
            endpoint,
            timeout: wait::timeout_arg(timeout)?,
            trust: Trust::also(trust_uid),
        })
    }

    #[getter]
    fn trust_uid(&self) -> Option<u32> {
        self.trust.also
    }

    #[getter]
    fn mode(&self) -> &'static str {
        match self.mode {
            Mode::PubSub => "pubsub",
            Mode::Push => "push",
        }
    }

    #[getter]
    fn endpoint(&self) -> Option<String> {
        self.endpoint.clone()
    }

    #[getter]
    fn timeout(&self) -> f64 {
        self.timeout.as_secs_f64()
    }

    /// In push mode every read consumes one message (see IPCBackend.consumes_messages).
    #[getter]
    fn consumes_messages(&self) -> bool {
        self.mode == Mode::Push
    }

    /// The writer binds the endpoints; a reader connects, now or before the writer.
    fn initialize(&self, py: Python<'_>, name: StoreName, is_writer: bool) -> PyResult<()> {
        let name = name.0.as_str();
        let (endpoint, timeout, trust) = (self.endpoint.as_deref(), self.timeout, self.trust);
        let store = py
            .detach(|| {
                if is_writer {
                    ZmqStore::bind(name, self.mode, endpoint, timeout)
                } else {
                    ZmqStore::connect_trusting(name, self.mode, endpoint, timeout, trust)
                }
            })
            .map_err(CoreError::from)?;
        self.store.open(py, store)
    }

    /// Encodes `data` once and publishes it (push mode: once per expected read).
    fn write(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        self.convert.publish_dict(data, |blob| {
            self.store.detached(py, |s| s.publish(blob).map(drop))
        })
    }

    /// Push mode: the next write serves `readers` x `reads_each` reads. Pubsub: nothing
    /// to do, every reader keeps the latest snapshot.
    fn expect_reads(&self, py: Python<'_>, readers: usize, reads_each: usize) -> PyResult<()> {
        if self.mode == Mode::PubSub {
            return Ok(());
        }
        self.store.py(py, |s| s.expect_reads(readers, reads_each))
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
    fn version(&self, py: Python<'_>) -> PyResult<u64> {
        self.store.py(py, |s| s.version())
    }

    /// True when the writer has not answered for a second: the snapshot a reader holds
    /// may be outdated (the writer stopped, or the network is down).
    #[getter]
    fn stale(&self, py: Python<'_>) -> PyResult<bool> {
        self.store.py(py, |s| s.is_stale())
    }

    fn wait_for_update(&self, py: Python<'_>, after_version: u64, timeout: f64) -> PyResult<u64> {
        let timeout = wait::timeout_arg(timeout)?;
        wait::interruptible(py, timeout, |slice| {
            self.store.core(|s| s.wait_for_update(after_version, slice))
        })
    }

    /// Writer: closes its sockets and removes their files. Reader: stops its thread.
    /// Idempotent. In a forked child, lets go of the inherited copy only, without an
    /// error: the parent's sockets, threads and files are untouched.
    fn cleanup(&self, py: Python<'_>) -> PyResult<()> {
        match self.store.take(py) {
            Some(mut s) => Ok(py.detach(|| s.close()).map_err(CoreError::from)?),
            None => Ok(()),
        }
    }
}
