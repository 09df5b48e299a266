//! Top-level keys as `keys()` returns them: a list of str and int.

use ipc_core::codec::KeyRef;
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::codec::key_object;

pub fn key_list<'py>(py: Python<'py>, keys: &[KeyRef<'_>]) -> PyResult<Bound<'py, PyList>> {
    let objects = keys
        .iter()
        .map(|&k| key_object(py, k))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, objects)
}
