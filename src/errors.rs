//! The one place where ipc-core errors become Python exceptions.

use ipc_core::codec::{DecodeError, EncodeError, EncodeErrorKind};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyTimeoutError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};

create_exception!(
    ipc_benchmark,
    IPCError,
    PyException,
    "Base class of the errors raised by ipc_benchmark."
);
create_exception!(
    ipc_benchmark,
    CorruptDataError,
    IPCError,
    "Bytes read from a store, a socket or a buffer are not a valid blob."
);

/// `IPCTimeoutError(IPCError, TimeoutError)`: two bases, which `create_exception!` cannot
/// express, so the class is made by calling `type` once at import.
static TIMEOUT_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn timeout_error_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    TIMEOUT_ERROR
        .get_or_try_init(py, || {
            let bases = (py.get_type::<IPCError>(), py.get_type::<PyTimeoutError>());
            let attrs = PyDict::new(py);
            attrs.set_item("__module__", "ipc_benchmark")?;
            attrs.set_item(
                "__doc__",
                "A wait (for a snapshot, a writer, a reader) ran past its timeout.",
            )?;
            let t = py
                .get_type::<PyType>()
                .call1(("IPCTimeoutError", bases, attrs))?;
            Ok::<_, PyErr>(t.cast_into::<PyType>()?.unbind())
        })
        .map(|t| t.bind(py))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("IPCError", py.get_type::<IPCError>())?;
    m.add("CorruptDataError", py.get_type::<CorruptDataError>())?;
    m.add("IPCTimeoutError", timeout_error_type(py)?)?;
    Ok(())
}

/// Anything ipc-core can fail with, on its way to Python. A newtype, because neither
/// PyErr nor the core errors are defined in this crate; boxed, so that the `Result`s of
/// the decoder's hot recursion stay two registers wide.
pub struct CoreError(Box<Failure>);

pub enum Failure {
    Decode(DecodeError),
    Encode(EncodeError),
    /// A Python exception raised while converting objects (MemoryError, say).
    Py(PyErr),
}

impl CoreError {
    pub fn failure(&self) -> &Failure {
        &self.0
    }

    /// Applies `f` to an encoding error (to add a path segment); others pass through.
    #[cold]
    pub fn map_encode(self, f: impl FnOnce(EncodeError) -> EncodeError) -> Self {
        match *self.0 {
            Failure::Encode(e) => Failure::Encode(f(e)).into(),
            other => other.into(),
        }
    }
}

impl From<Failure> for CoreError {
    #[cold]
    fn from(f: Failure) -> Self {
        CoreError(Box::new(f))
    }
}

impl From<DecodeError> for CoreError {
    #[cold]
    fn from(e: DecodeError) -> Self {
        Failure::Decode(e).into()
    }
}

impl From<EncodeError> for CoreError {
    #[cold]
    fn from(e: EncodeError) -> Self {
        Failure::Encode(e).into()
    }
}

impl From<PyErr> for CoreError {
    #[cold]
    fn from(e: PyErr) -> Self {
        Failure::Py(e).into()
    }
}

impl From<CoreError> for PyErr {
    #[cold]
    fn from(e: CoreError) -> PyErr {
        match *e.0 {
            Failure::Decode(e) => CorruptDataError::new_err(e.to_string()),
            Failure::Encode(e) => match e.kind {
                EncodeErrorKind::UnsupportedType(_) | EncodeErrorKind::NonStrKey(_) => {
                    PyTypeError::new_err(e.to_string())
                }
                EncodeErrorKind::InvalidStr(_)
                | EncodeErrorKind::TooDeep
                | EncodeErrorKind::Cycle { .. }
                | EncodeErrorKind::DuplicateKey(_) => PyValueError::new_err(e.to_string()),
            },
            Failure::Py(e) => e,
        }
    }
}
