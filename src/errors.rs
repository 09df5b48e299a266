//! The one place where ipc-core errors become Python exceptions.
//!
//! Every exception the package raises derives from `IPCError`; where Python users would
//! expect a builtin (`except TimeoutError`, `except ValueError`...) the class derives from
//! that builtin too.

use ipc_core::codec::{DecodeError, EncodeError, EncodeErrorKind};
use ipc_core::Error;
use pyo3::call::PyCallArgs;
use pyo3::create_exception;
use pyo3::exceptions::{
    PyException, PyOSError, PyPermissionError, PyRuntimeError, PyTimeoutError, PyTypeError,
    PyValueError,
};
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
create_exception!(
    ipc_benchmark,
    WriterExistsError,
    IPCError,
    "Another live process is already the writer of this store."
);
create_exception!(
    ipc_benchmark,
    StoreClosedError,
    IPCError,
    "The writer closed the store: no newer snapshot will come from it."
);

/// Exceptions with two bases (ours and a builtin), which `create_exception!` cannot make:
/// built once by calling `type` and kept here.
struct Dual {
    name: &'static str,
    doc: &'static str,
    cell: PyOnceLock<Py<PyType>>,
}

static TIMEOUT: Dual = Dual {
    name: "IPCTimeoutError",
    doc: "A wait (for a snapshot, a writer, a reader) ran past its timeout.",
    cell: PyOnceLock::new(),
};
static INVALID_NAME: Dual = Dual {
    name: "InvalidNameError",
    doc: "A store name that cannot be used; the message says why.",
    cell: PyOnceLock::new(),
};
static OS_ERROR: Dual = Dual {
    name: "IPCOSError",
    doc: "An operating-system call failed; the message names the object.",
    cell: PyOnceLock::new(),
};
static USAGE: Dual = Dual {
    name: "UsageError",
    doc: "A backend used the wrong way: writing from a reader, using it after cleanup().",
    cell: PyOnceLock::new(),
};
/// Derives from UsageError only.
static PICKLE_FALLBACK: Dual = Dual {
    name: "PickleFallbackError",
    doc: "A blob holds a pickled value and the reader did not opt in to unpickling \
          (pickle_fallback=True): unpickling runs code chosen by whoever wrote it.",
    cell: PyOnceLock::new(),
};
/// Derives from IPCOSError (what such refusals raised before) and PermissionError.
static UNTRUSTED: Dual = Dual {
    name: "UntrustedStoreError",
    doc: "A store's file, segment, directory or socket belongs to another user (and was \
          not trusted with trust_uid), other users can write to it, or it is a link.",
    cell: PyOnceLock::new(),
};

fn untrusted_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    let os_error = OS_ERROR.get(py, py.get_type::<PyOSError>())?.clone();
    UNTRUSTED.get_under(py, os_error, py.get_type::<PyPermissionError>())
}

fn pickle_fallback_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    let usage = USAGE.get(py, py.get_type::<PyRuntimeError>())?.clone();
    PICKLE_FALLBACK.make(py, (usage,))
}

/// The error for a pickled value met by a reader that does not unpickle; `path` says
/// where (`data['a'][2]`).
#[cold]
pub fn pickle_refused(py: Python<'_>, path: &str) -> PyErr {
    let msg = format!(
        "{path}: this value was stored as a pickle, and unpickling is off: pass \
         pickle_fallback=True to read it, if you trust every process that can write this \
         data (unpickling runs code of the writer's choosing)"
    );
    match pickle_fallback_type(py).and_then(|t| t.call1((msg,))) {
        Ok(instance) => PyErr::from_value(instance),
        Err(e) => e,
    }
}

impl Dual {
    fn get<'py>(
        &self,
        py: Python<'py>,
        builtin: Bound<'py, PyType>,
    ) -> PyResult<&Bound<'py, PyType>> {
        self.get_under(py, py.get_type::<IPCError>(), builtin)
    }

    /// The class, made the first time with the bases `ours` and `builtin`.
    fn get_under<'py>(
        &self,
        py: Python<'py>,
        ours: Bound<'py, PyType>,
        builtin: Bound<'py, PyType>,
    ) -> PyResult<&Bound<'py, PyType>> {
        self.make(py, (ours, builtin))
    }

    /// The class, made the first time with `bases` (a tuple of classes).
    fn make<'py, B: IntoPyObject<'py>>(
        &self,
        py: Python<'py>,
        bases: B,
    ) -> PyResult<&Bound<'py, PyType>> {
        self.cell
            .get_or_try_init(py, || {
                let attrs = PyDict::new(py);
                attrs.set_item("__module__", "ipc_benchmark")?;
                attrs.set_item("__doc__", self.doc)?;
                let t = py.get_type::<PyType>().call1((self.name, bases, attrs))?;
                Ok::<_, PyErr>(t.cast_into::<PyType>()?.unbind())
            })
            .map(|t| t.bind(py))
    }

    #[cold]
    fn new_err<'py, A: PyCallArgs<'py>>(
        &self,
        py: Python<'py>,
        builtin: Bound<'py, PyType>,
        args: A,
    ) -> PyErr {
        match self.get(py, builtin) {
            Ok(t) => match t.call1(args) {
                Ok(instance) => PyErr::from_value(instance),
                Err(e) => e,
            },
            Err(e) => e,
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("IPCError", py.get_type::<IPCError>())?;
    m.add("CorruptDataError", py.get_type::<CorruptDataError>())?;
    m.add("WriterExistsError", py.get_type::<WriterExistsError>())?;
    m.add("StoreClosedError", py.get_type::<StoreClosedError>())?;
    m.add(
        "IPCTimeoutError",
        TIMEOUT.get(py, py.get_type::<PyTimeoutError>())?,
    )?;
    m.add(
        "InvalidNameError",
        INVALID_NAME.get(py, py.get_type::<PyValueError>())?,
    )?;
    m.add("IPCOSError", OS_ERROR.get(py, py.get_type::<PyOSError>())?)?;
    m.add(
        "UsageError",
        USAGE.get(py, py.get_type::<PyRuntimeError>())?,
    )?;
    m.add("UntrustedStoreError", untrusted_type(py)?)?;
    m.add("PickleFallbackError", pickle_fallback_type(py)?)?;
    Ok(())
}

/// Anything ipc-core can fail with, on its way to Python. A newtype, because neither
/// PyErr nor the core errors are defined in this crate; boxed, so that the `Result`s of
/// the decoder's hot recursion stay two registers wide.
pub struct CoreError(Box<Failure>);

pub enum Failure {
    Core(Error),
    /// Bytes handed to `deserialize` that are not a blob (no store involved).
    Decode(DecodeError),
    /// A Python exception raised while converting objects (MemoryError, say).
    Py(PyErr),
}

impl CoreError {
    /// Applies `f` to an encoding error (to add a path segment); others pass through.
    #[cold]
    pub fn map_encode(self, f: impl FnOnce(EncodeError) -> EncodeError) -> Self {
        match *self.0 {
            Failure::Core(Error::Encode(e)) => Error::Encode(f(e)).into(),
            other => CoreError(Box::new(other)),
        }
    }
}

impl From<Error> for CoreError {
    #[cold]
    fn from(e: Error) -> Self {
        CoreError(Box::new(Failure::Core(e)))
    }
}

impl From<DecodeError> for CoreError {
    #[cold]
    fn from(e: DecodeError) -> Self {
        CoreError(Box::new(Failure::Decode(e)))
    }
}

impl From<EncodeError> for CoreError {
    #[cold]
    fn from(e: EncodeError) -> Self {
        Error::Encode(e).into()
    }
}

impl From<PyErr> for CoreError {
    #[cold]
    fn from(e: PyErr) -> Self {
        CoreError(Box::new(Failure::Py(e)))
    }
}

impl From<CoreError> for PyErr {
    #[cold]
    fn from(e: CoreError) -> PyErr {
        match *e.0 {
            Failure::Core(e) => core_to_py(e),
            Failure::Decode(e) => CorruptDataError::new_err(e.to_string()),
            Failure::Py(e) => e,
        }
    }
}

#[cold]
fn core_to_py(e: Error) -> PyErr {
    Python::attach(|py| {
        let msg = e.to_string();
        match e {
            Error::Corrupt { .. } => CorruptDataError::new_err(msg),
            Error::Encode(enc) => match enc.kind {
                EncodeErrorKind::UnsupportedType(_) | EncodeErrorKind::NonStrKey(_) => {
                    PyTypeError::new_err(msg)
                }
                _ => PyValueError::new_err(msg),
            },
            Error::InvalidName { .. } => {
                INVALID_NAME.new_err(py, py.get_type::<PyValueError>(), (msg,))
            }
            Error::WriterExists { .. } => WriterExistsError::new_err(msg),
            Error::Closed { .. } => StoreClosedError::new_err(msg),
            Error::Timeout { .. } => TIMEOUT.new_err(py, py.get_type::<PyTimeoutError>(), (msg,)),
            Error::Io { source, .. } => {
                let errno = source.raw_os_error().unwrap_or(0);
                OS_ERROR.new_err(py, py.get_type::<PyOSError>(), (errno, msg))
            }
            Error::Usage(_) => USAGE.new_err(py, py.get_type::<PyRuntimeError>(), (msg,)),
            Error::Untrusted(u) => {
                // (EPERM, message, path): `filename` names the object. The path goes as a
                // str, which needs no import (a pathlib.Path would).
                const EPERM: i32 = 1;
                let args = (EPERM, msg, u.path.into_os_string());
                match untrusted_type(py).and_then(|t| t.call1(args)) {
                    Ok(instance) => PyErr::from_value(instance),
                    Err(e) => e,
                }
            }
        }
    })
}
