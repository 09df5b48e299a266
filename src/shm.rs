//! `_core.ShmStore`: the shared-memory backend (`SharedMemoryBackend` adds its name).

use ipc_core::shm::{Options, ShmStore};
use ipc_core::trust::Trust;
use pyo3::prelude::*;

use crate::store::{store_class, Common};

#[pyclass(frozen, subclass, module = "ipc_benchmark._core", name = "ShmStore")]
pub struct PyShmStore {
    common: Common<ShmStore>,
}

store_class!(PyShmStore {
    /// ShmStore(trust_uid=None): a reader also reads a store of the user `trust_uid`.
    #[new]
    #[pyo3(signature = (trust_uid=None))]
    fn new(trust_uid: Option<u32>) -> Self {
        let options = Options {
            trust: Trust::also(trust_uid),
        };
        PyShmStore {
            common: Common::new("SharedMemoryBackend", options),
        }
    }

    #[getter]
    fn trust_uid(&self) -> Option<u32> {
        self.common.options.trust.also
    }
});
