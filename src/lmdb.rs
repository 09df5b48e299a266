//! `_core.LmdbStore`: the LMDB store, as `LMDBBackend` uses it.

use std::path::PathBuf;

use ipc_core::lmdb::{self, Config, LmdbStore, Options};
use ipc_core::trust::Trust;
use pyo3::prelude::*;

use crate::store::{store_class, Common};

#[pyclass(frozen, subclass, module = "ipc_benchmark._core", name = "LmdbStore")]
pub struct PyLmdbStore {
    common: Common<LmdbStore>,
}

store_class!(PyLmdbStore {
    /// LmdbStore(path=None, durable=False, remove_on_cleanup=False, max_readers=None,
    /// trust_uid=None, pickle_fallback=False). `initialize`'s name picks the temp-dir store; with a `path` it
    /// only labels messages.
    #[new]
    #[pyo3(signature = (
        path=None, durable=false, remove_on_cleanup=false, max_readers=None, trust_uid=None,
        pickle_fallback=false
    ))]
    fn new(
        path: Option<PathBuf>,
        durable: bool,
        remove_on_cleanup: bool,
        max_readers: Option<u32>,
        trust_uid: Option<u32>,
        pickle_fallback: bool,
    ) -> PyResult<Self> {
        if max_readers == Some(0) {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "max_readers must be at least 1, got 0",
            ));
        }
        let options = Options {
            durable,
            remove_on_close: remove_on_cleanup,
            max_readers: max_readers.unwrap_or(lmdb::DEFAULT_MAX_READERS),
            trust: Trust::also(trust_uid),
            ..Options::default()
        };
        Ok(PyLmdbStore {
            common: Common::new("LMDBBackend", Config { path, options }, pickle_fallback),
        })
    }

    #[getter]
    fn trust_uid(&self) -> Option<u32> {
        self.common.options.options.trust.also
    }

    #[getter]
    fn durable(&self) -> bool {
        self.common.options.options.durable
    }

    #[getter]
    fn remove_on_cleanup(&self) -> bool {
        self.common.options.options.remove_on_close
    }

    /// The store's directory (None before initialize unless a path was given).
    #[getter]
    fn path(&self, py: Python<'_>) -> Option<PathBuf> {
        let common = &self.common;
        let dir = common.store.py(py, |s| Ok(s.dir().to_owned()));
        dir.ok().or_else(|| common.options.path.clone())
    }
});
