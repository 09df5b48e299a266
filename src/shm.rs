//! `_core.ShmStore`: the shared-memory backend (`SharedMemoryBackend` adds its name).

use std::collections::HashMap;

use ipc_core::shm::{Options, ShmStore};
use ipc_core::trust::Trust;
use pyo3::prelude::*;

use crate::store::{store_class, Common};

#[pyclass(frozen, subclass, module = "ipc_benchmark._core", name = "ShmStore")]
pub struct PyShmStore {
    common: Common<ShmStore>,
}

store_class!(PyShmStore {
    /// ShmStore(trust_uid=None, pickle_fallback=False): a reader also reads a store of
    /// the user `trust_uid`.
    #[new]
    #[pyo3(signature = (trust_uid=None, pickle_fallback=false))]
    fn new(trust_uid: Option<u32>, pickle_fallback: bool) -> Self {
        let options = Options {
            trust: Trust::also(trust_uid),
        };
        PyShmStore {
            common: Common::new("SharedMemoryBackend", options, pickle_fallback),
        }
    }

    #[getter]
    fn trust_uid(&self) -> Option<u32> {
        self.common.options.trust.also
    }

    /// The writer's segment pool so far: {"created", "recycled", "reclaimed",
    /// "replaced_held", "held"} (see docs/design.md, "Recycling" and "Held snapshots");
    /// None for a reader.
    fn segment_stats(&self, py: Python<'_>) -> PyResult<Option<HashMap<&'static str, u64>>> {
        self.common.store.py(py, |s| {
            Ok(s.stats().map(|st| {
                HashMap::from([
                    ("created", st.created),
                    ("recycled", st.recycled),
                    ("reclaimed", st.reclaimed),
                    ("replaced_held", st.replaced_held),
                    ("held", st.held),
                ])
            }))
        })
    }

    /// A reader's slot in the reader table (taken at its first read), or None.
    #[getter]
    fn reader_slot(&self, py: Python<'_>) -> PyResult<Option<usize>> {
        self.common.store.py(py, |s| Ok(s.reader_slot()))
    }
});
