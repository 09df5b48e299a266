//! Top-level keys as Python passes them to `get` (a str or an int) and as `keys()`
//! returns them.

use ipc_core::codec::KeyRef;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt, PyList, PyString};

/// A key argument: a str, or an int that fits in 64 bits. An int beyond that range
/// cannot be a key of any snapshot (the codec refuses to write one), so it is looked up
/// as absent. A bool is refused, as writes refuse it: Python would take `True` for `1`.
pub enum KeyArg<'py> {
    Str(Bound<'py, PyString>),
    Int(i64),
    /// An int no snapshot can hold.
    Absent,
}

impl<'py> KeyArg<'py> {
    pub fn extract(key: &Bound<'py, PyAny>) -> PyResult<Self> {
        if let Ok(s) = key.cast::<PyString>() {
            return Ok(KeyArg::Str(s.clone()));
        }
        if key.is_instance_of::<PyInt>() && !key.is_instance_of::<PyBool>() {
            return Ok(key.extract::<i64>().map_or(KeyArg::Absent, KeyArg::Int));
        }
        let kind = key
            .get_type()
            .name()
            .map_or_else(|_| "?".into(), |n| n.to_string());
        Err(PyTypeError::new_err(format!(
            "keys are str or int (not bool), got {kind}"
        )))
    }

    /// The key as the stores look it up; None for [`KeyArg::Absent`].
    pub fn as_key_ref(&self) -> PyResult<Option<KeyRef<'_>>> {
        Ok(match self {
            KeyArg::Str(s) => Some(KeyRef::Str(s.to_str()?)),
            KeyArg::Int(i) => Some(KeyRef::Int(*i)),
            KeyArg::Absent => None,
        })
    }
}

/// `keys` as a Python list of str and int.
pub fn key_list<'py>(py: Python<'py>, keys: &[KeyRef<'_>]) -> PyResult<Bound<'py, PyList>> {
    PyList::new(
        py,
        keys.iter().map(|key| match *key {
            KeyRef::Str(s) => PyString::new(py, s).into_any(),
            KeyRef::Int(i) => PyInt::new(py, i).into_any(),
        }),
    )
}
