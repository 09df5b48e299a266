//! `serialize`, `deserialize` and friends: the codec as Python sees it.

mod from_blob;
mod numpy;
mod to_blob;

pub use from_blob::{decode, decode_key, key_object, key_ref, keys, PySink, SharedCache};
pub use to_blob::{encode, encode_into};

use pyo3::buffer::PyBuffer;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::errors::CoreError;

/// What a conversion may do beyond the types the format carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Write values of other types as pickles, and unpickle them on reading. Off by
    /// default: a reader that unpickles runs code chosen by whoever can write the blob
    /// (the store), so both sides must opt in.
    pub pickle_fallback: bool,
}

/// Runs `f` with the cyclic garbage collector paused. Decoding creates many containers
/// and none of them can form a cycle, so collections triggered meanwhile are pure cost;
/// pausing also guarantees that no finalizer runs Python code while raw pointers are held.
pub fn with_gc_paused<T>(_py: Python<'_>, f: impl FnOnce() -> T) -> T {
    struct Resume(bool);
    impl Drop for Resume {
        fn drop(&mut self) {
            if self.0 {
                // SAFETY: we hold the GIL (the Python token was passed in).
                unsafe { ffi::PyGC_Enable() };
            }
        }
    }
    // SAFETY: as above.
    let _resume = Resume(unsafe { ffi::PyGC_Disable() } == 1);
    f()
}

/// Runs `f` on the bytes of any object that supports the buffer protocol, with the GC
/// paused: no finalizer, that is no Python code, can write into the buffer while Rust
/// holds it as a `&[u8]`. (Unpickling can: `f` only unpickles when the caller opted in
/// to running the writer's code, which could do worse.)
pub fn with_buffer<T>(obj: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> T) -> PyResult<T> {
    let py = obj.py();
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(with_gc_paused(py, || f(b.as_bytes())));
    }
    let buffer = PyBuffer::<u8>::get(obj)?;
    if !buffer.is_c_contiguous() {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "deserialize needs a contiguous buffer",
        ));
    }
    // SAFETY: the buffer stays exported (so the exporter cannot resize or free it) while
    // `buffer` lives, and no Python code runs during `f` (the GIL is held, the GC paused)
    // but an import of NumPy, or unpickling the caller asked for (see above).
    let bytes =
        unsafe { std::slice::from_raw_parts(buffer.buf_ptr() as *const u8, buffer.len_bytes()) };
    Ok(with_gc_paused(py, || f(bytes)))
}

/// Encodes `obj` as a blob (docs/format.md): None, bool, int, float, str, bytes, list,
/// tuple and dict (str or int keys), nested; NumPy arrays and scalars of the bool, int,
/// uint, float and complex dtypes; other numeric buffers and objects with
/// `__array_interface__` (as arrays); bytearray and byte memoryviews (as bytes).
/// Anything else raises TypeError naming where it is.
///
/// pickle_fallback=True writes such other values (a set, a datetime, a dataclass...) as
/// pickles instead. It is off by default because a reader has to unpickle them, and
/// unpickling runs code the pickle names: whoever can write the data chooses what the
/// reader runs. The reader unpickles only if it opts in too.
#[pyfunction]
#[pyo3(signature = (obj, pickle_fallback=false))]
fn serialize<'py>(obj: &Bound<'py, PyAny>, pickle_fallback: bool) -> PyResult<Bound<'py, PyBytes>> {
    let py = obj.py();
    let blob = with_gc_paused(py, || encode(obj, 4096, Options { pickle_fallback }))?;
    Ok(PyBytes::new(py, &blob))
}

/// Decodes a blob from any buffer. Arrays come back as read-only, C-ordered ndarrays
/// holding a copy of the data (`.copy()` makes a writable one); the first array or
/// NumPy scalar imports NumPy, and without NumPy installed it raises
/// ModuleNotFoundError naming where it is.
///
/// pickle_fallback=True unpickles the values the writer stored as pickles. Off by
/// default (they raise PickleFallbackError): unpickling runs code chosen by whoever
/// wrote the blob, so only turn it on for data from writers you trust.
#[pyfunction]
#[pyo3(signature = (buf, pickle_fallback=false))]
fn deserialize<'py>(buf: &Bound<'py, PyAny>, pickle_fallback: bool) -> PyResult<Bound<'py, PyAny>> {
    let py = buf.py();
    with_buffer(buf, |bytes| decode(py, bytes, Options { pickle_fallback }))?.map_err(PyErr::from)
}

/// _deserialize_view(buf: bytes, skip=0) -> object: as deserialize of `buf[skip:]`, but
/// arrays view `buf` (which they keep alive) instead of copying it; sound because bytes
/// never change. For tests: it takes the path the stores' zero-copy reads take, and
/// `skip` places the blob at an address of the test's choosing.
#[pyfunction]
#[pyo3(signature = (buf, skip=0))]
fn _deserialize_view<'py>(buf: &Bound<'py, PyBytes>, skip: usize) -> PyResult<Bound<'py, PyAny>> {
    let py = buf.py();
    let bytes = buf.as_bytes().get(skip..).unwrap_or_default();
    let blob = ipc_core::codec::Blob::parse(bytes).map_err(CoreError::from)?;
    let mut sink = PySink::new(py, Default::default());
    // SAFETY: a bytes object's contents never change and stay where they are for as
    // long as the object lives.
    unsafe { sink.set_owner(buf.clone().into_any().unbind()) };
    Ok(with_gc_paused(py, || blob.decode(&mut sink))?)
}

/// The value of one root key (a str or an int) of a blob whose root is a dict, decoding
/// nothing else; `default` when the key is absent. pickle_fallback as for deserialize.
#[pyfunction]
#[pyo3(name = "decode_key", signature = (buf, key, default=None, pickle_fallback=false))]
fn decode_key_py<'py>(
    buf: &Bound<'py, PyAny>,
    key: &Bound<'py, PyAny>,
    default: Option<Bound<'py, PyAny>>,
    pickle_fallback: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let py = buf.py();
    let missing = || default.clone().unwrap_or_else(|| py.None().into_bound(py));
    let Some(key) = key_ref(key)? else {
        // Neither a str nor an int that fits: no blob has such a key. Still check that
        // `buf` is a blob, as a lookup would.
        with_buffer(buf, |bytes| keys(bytes).map(drop))?.map_err(CoreError::from)?;
        return Ok(missing());
    };
    let options = Options { pickle_fallback };
    let found = with_buffer(buf, |bytes| decode_key(py, bytes, key, options))??;
    Ok(found.unwrap_or_else(missing))
}

/// The root keys of a blob whose root is a dict, in order (str or int).
#[pyfunction]
fn blob_keys<'py>(buf: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
    let py = buf.py();
    with_buffer(buf, |bytes| {
        let keys = keys(bytes).map_err(CoreError::from)?;
        let list = PyList::empty(py);
        for key in keys {
            list.append(key_object(py, key)?)?;
        }
        Ok(list)
    })?
}

/// generate_payload_blob(size, seed=0) -> bytes: the Rust generator's test dict, encoded
/// in Rust. Tests compare it with serialize(generate_test_dict(size, seed)).
#[pyfunction]
#[pyo3(signature = (size, seed=0))]
fn generate_payload_blob(py: Python<'_>, size: usize, seed: u64) -> PyResult<Bound<'_, PyBytes>> {
    let blob = ipc_core::payload::generate(size, seed)
        .encode()
        .map_err(CoreError::from)?;
    Ok(PyBytes::new(py, &blob))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(serialize, m)?)?;
    m.add_function(wrap_pyfunction!(deserialize, m)?)?;
    m.add_function(wrap_pyfunction!(decode_key_py, m)?)?;
    m.add_function(wrap_pyfunction!(_deserialize_view, m)?)?;
    m.add_function(wrap_pyfunction!(blob_keys, m)?)?;
    m.add_function(wrap_pyfunction!(generate_payload_blob, m)?)?;
    Ok(())
}
