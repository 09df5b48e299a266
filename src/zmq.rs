//! `_core.ZmqStore`: the ZeroMQ backend (`ZeroMQBackend` adds its name).

use ipc_core::trust::Trust;
use ipc_core::zmq::{Mode, Options, ZmqStore};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::store::{store_class, Common};
use crate::wait;

#[pyclass(frozen, subclass, module = "ipc_benchmark._core", name = "ZmqStore")]
pub struct PyZmqStore {
    common: Common<ZmqStore>,
}

store_class!(PyZmqStore {
    #[new]
    #[pyo3(signature = (
        mode="pubsub", endpoint=None, timeout=30.0, trust_uid=None, pickle_fallback=false
    ))]
    fn new(
        mode: &str,
        endpoint: Option<String>,
        timeout: f64,
        trust_uid: Option<u32>,
        pickle_fallback: bool,
    ) -> PyResult<Self> {
        let options = Options {
            mode: Mode::parse(mode).map_err(|e| PyValueError::new_err(e.to_string()))?,
            endpoint,
            timeout: wait::timeout_arg(timeout)?,
            trust: Trust::also(trust_uid),
        };
        Ok(PyZmqStore {
            common: Common::new("ZeroMQBackend", options, pickle_fallback),
        })
    }

    #[getter]
    fn trust_uid(&self) -> Option<u32> {
        self.common.options.trust.also
    }

    #[getter]
    fn mode(&self) -> &'static str {
        self.common.options.mode.as_str()
    }

    #[getter]
    fn endpoint(&self) -> Option<String> {
        self.common.options.endpoint.clone()
    }

    #[getter]
    fn timeout(&self) -> f64 {
        self.common.options.timeout.as_secs_f64()
    }

    /// In push mode every read consumes one message (see IPCBackend.consumes_messages).
    #[getter]
    fn consumes_messages(&self) -> bool {
        self.common.options.mode == Mode::Push
    }

    /// Push mode: the next write serves `readers` x `reads_each` reads. Pubsub: nothing
    /// to do, every reader keeps the latest snapshot.
    fn expect_reads(&self, py: Python<'_>, readers: usize, reads_each: usize) -> PyResult<()> {
        if self.common.options.mode == Mode::PubSub {
            return Ok(());
        }
        self.common.store.py(py, |s| s.expect_reads(readers, reads_each))
    }

    /// True when the writer has not answered for a second: the snapshot a reader holds
    /// may be outdated (the writer stopped, or the network is down).
    #[getter]
    fn stale(&self, py: Python<'_>) -> PyResult<bool> {
        self.common.store.py(py, |s| s.is_stale())
    }
});
