//! Store names from Python. Any `str` is taken, so that one no file can be named by (a
//! lone surrogate cannot even be encoded) is refused like every other bad name, with
//! InvalidNameError, not with the UnicodeEncodeError of pyo3's own `&str` conversion.

use ipc_core::Error;
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::errors::CoreError;

/// The `name` argument of `initialize`, valid Unicode (`names::validate` checks the rest).
pub struct StoreName(pub String);

impl<'a, 'py> FromPyObject<'a, 'py> for StoreName {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let s = obj.cast::<PyString>()?;
        match s.to_str() {
            Ok(s) => Ok(StoreName(s.to_owned())),
            Err(_) => Err(CoreError::from(Error::InvalidName {
                name: s.to_string_lossy().into_owned(),
                reason: "it holds a lone surrogate (use letters, digits, '_' and '-')".into(),
            })
            .into()),
        }
    }
}
