//! A blob to Python objects. Object creation is the cost that remains, so each shared
//! string is built once per blob and containers are created at their final size.

use ipc_core::codec::{Blob, DecodeError, Sink};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt, PyString};

use crate::errors::CoreError;

/// Builds Python objects; the blob's bytes are only borrowed for the duration.
pub struct PySink<'py> {
    py: Python<'py>,
    /// Shared strings already built, by id.
    shared: Vec<Option<Py<PyAny>>>,
}

/// Shared strings built for one snapshot, kept between calls: a reader that calls `get`
/// many times on the same snapshot builds each field name once, not once per call.
#[derive(Default)]
pub struct SharedCache {
    /// Which snapshot the strings belong to (a store-specific pair, e.g. version and
    /// incarnation): ids mean nothing across snapshots.
    snapshot: (u64, u64),
    strings: Vec<Option<Py<PyAny>>>,
}

impl SharedCache {
    /// A sink that starts with the strings cached for `snapshot` (none if it changed).
    pub fn sink<'py>(&mut self, py: Python<'py>, snapshot: (u64, u64)) -> PySink<'py> {
        if self.snapshot != snapshot {
            self.snapshot = snapshot;
            self.strings.clear();
        }
        PySink {
            py,
            shared: std::mem::take(&mut self.strings),
        }
    }

    /// Keeps what `sink` built, for the next call on the same snapshot.
    pub fn keep(&mut self, sink: PySink<'_>) {
        self.strings = sink.shared;
    }
}

impl<'py> PySink<'py> {
    pub fn new(py: Python<'py>) -> Self {
        PySink {
            py,
            shared: Vec::new(),
        }
    }

    #[inline]
    fn owned(&self, ptr: *mut ffi::PyObject) -> Result<Bound<'py, PyAny>, CoreError> {
        // SAFETY: `ptr` is a new reference returned by the C API, or NULL with an
        // exception set.
        unsafe { Bound::from_owned_ptr_or_err(self.py, ptr) }.map_err(CoreError::from)
    }

    #[inline]
    fn string(&mut self, s: &str, ascii: bool) -> Result<Bound<'py, PyAny>, CoreError> {
        if ascii {
            // SAFETY: a fresh 1-byte-kind string of exactly s.len() characters is filled
            // with ASCII bytes (checked by the decoder) before anyone else sees it.
            unsafe {
                let obj = self.owned(ffi::PyUnicode_New(s.len() as ffi::Py_ssize_t, 127))?;
                let data = ffi::PyUnicode_DATA(obj.as_ptr()) as *mut u8;
                std::ptr::copy_nonoverlapping(s.as_ptr(), data, s.len());
                Ok(obj)
            }
        } else {
            Ok(PyString::new(self.py, s).into_any())
        }
    }

    #[inline]
    fn text(
        &mut self,
        s: &str,
        ascii: bool,
        shared: Option<u32>,
    ) -> Result<Bound<'py, PyAny>, CoreError> {
        let Some(id) = shared else {
            return self.string(s, ascii);
        };
        let id = id as usize;
        let obj = self.string(s, ascii)?;
        // Interned: field names then are the very objects of the user's literals, so
        // lookups like `entry["value"]` succeed on the first pointer comparison.
        let mut ptr = obj.into_ptr();
        // SAFETY: `ptr` is an owned reference to an exact str; InternInPlace may swap it
        // for the interned equal string, transferring our reference.
        let obj = unsafe {
            ffi::PyUnicode_InternInPlace(&mut ptr);
            Bound::from_owned_ptr(self.py, ptr)
        };
        if self.shared.len() <= id {
            self.shared.resize_with(id + 1, || None);
        }
        self.shared[id] = Some(obj.clone().unbind());
        Ok(obj)
    }
}

/// A list or tuple being filled in place.
pub struct Seq<'py> {
    obj: Bound<'py, PyAny>,
    tuple: bool,
}

impl<'a, 'py> Sink<'a> for PySink<'py> {
    type Value = Bound<'py, PyAny>;
    type Key = Bound<'py, PyAny>;
    type Seq = Seq<'py>;
    type Map = Bound<'py, PyAny>;
    type Error = CoreError;

    fn none(&mut self) -> Result<Self::Value, CoreError> {
        Ok(self.py.None().into_bound(self.py))
    }
    fn bool(&mut self, v: bool) -> Result<Self::Value, CoreError> {
        // SAFETY: PyBool_FromLong returns a new reference.
        self.owned(unsafe { ffi::PyBool_FromLong(v.into()) })
    }
    #[inline]
    fn int(&mut self, v: i64) -> Result<Self::Value, CoreError> {
        // SAFETY: a new reference or NULL.
        self.owned(unsafe { ffi::PyLong_FromLongLong(v) })
    }
    #[cold]
    fn big_int(&mut self, le_bytes: &'a [u8]) -> Result<Self::Value, CoreError> {
        let py = self.py;
        let kwargs = pyo3::types::IntoPyDict::into_py_dict([("signed", true)], py)?;
        let v = py.get_type::<PyInt>().call_method(
            "from_bytes",
            (PyBytes::new(py, le_bytes), "little"),
            Some(&kwargs),
        )?;
        Ok(v)
    }
    #[inline]
    fn float(&mut self, v: f64) -> Result<Self::Value, CoreError> {
        // SAFETY: a new reference or NULL.
        self.owned(unsafe { ffi::PyFloat_FromDouble(v) })
    }
    #[inline]
    fn str(
        &mut self,
        s: &'a str,
        ascii: bool,
        shared: Option<u32>,
    ) -> Result<Self::Value, CoreError> {
        self.text(s, ascii, shared)
    }
    #[inline]
    fn cached_str(&mut self, id: u32) -> Option<Self::Value> {
        match self.shared.get(id as usize) {
            Some(Some(obj)) => Some(obj.bind(self.py).clone()),
            _ => None,
        }
    }
    #[inline]
    fn cached_key(&mut self, id: u32) -> Option<Self::Key> {
        self.cached_str(id)
    }
    fn bytes(&mut self, b: &'a [u8]) -> Result<Self::Value, CoreError> {
        Ok(PyBytes::new(self.py, b).into_any())
    }
    #[inline]
    fn seq(&mut self, len: usize, tuple: bool) -> Result<Self::Seq, CoreError> {
        let n = len as ffi::Py_ssize_t;
        // SAFETY: a new reference or NULL; the slots start NULL and are all filled by
        // seq_push before the object is returned (a failure drops it, and deallocation
        // tolerates NULL slots).
        let obj = self.owned(unsafe {
            if tuple {
                ffi::PyTuple_New(n)
            } else {
                ffi::PyList_New(n)
            }
        })?;
        Ok(Seq { obj, tuple })
    }
    #[inline]
    fn seq_push(&mut self, seq: &mut Self::Seq, i: usize, v: Self::Value) -> Result<(), CoreError> {
        let i = i as ffi::Py_ssize_t;
        // SAFETY: `i` is below the length the sequence was created with (the decoder
        // pushes exactly `len` items), and SET_ITEM steals the reference we release.
        unsafe {
            if seq.tuple {
                ffi::PyTuple_SET_ITEM(seq.obj.as_ptr(), i, v.into_ptr());
            } else {
                ffi::PyList_SET_ITEM(seq.obj.as_ptr(), i, v.into_ptr());
            }
        }
        Ok(())
    }
    fn seq_end(&mut self, seq: Self::Seq) -> Result<Self::Value, CoreError> {
        Ok(seq.obj)
    }
    #[inline]
    fn map(&mut self, len: usize) -> Result<Self::Map, CoreError> {
        // SAFETY: a new reference or NULL. Sizing the table up front saves the rehashing
        // a large dict would otherwise go through as it grows.
        self.owned(unsafe { new_dict(len) })
    }
    #[inline]
    fn key(
        &mut self,
        s: &'a str,
        ascii: bool,
        shared: Option<u32>,
    ) -> Result<Self::Key, CoreError> {
        self.text(s, ascii, shared)
    }
    #[inline]
    fn map_insert(
        &mut self,
        map: &mut Self::Map,
        k: Self::Key,
        v: Self::Value,
    ) -> Result<(), CoreError> {
        // SAFETY: all three are live objects; SetItem takes its own references.
        if unsafe { ffi::PyDict_SetItem(map.as_ptr(), k.as_ptr(), v.as_ptr()) } != 0 {
            return Err(PyErr::fetch(self.py).into());
        }
        Ok(())
    }
    fn map_end(&mut self, map: Self::Map) -> Result<Self::Value, CoreError> {
        Ok(map)
    }
}

#[cfg(not(Py_3_13))]
unsafe fn new_dict(len: usize) -> *mut ffi::PyObject {
    extern "C" {
        fn _PyDict_NewPresized(minused: ffi::Py_ssize_t) -> *mut ffi::PyObject;
    }
    _PyDict_NewPresized(len as ffi::Py_ssize_t)
}

/// Python 3.13 made the pre-sizing constructor private.
#[cfg(Py_3_13)]
unsafe fn new_dict(_len: usize) -> *mut ffi::PyObject {
    ffi::PyDict_New()
}

/// Decodes a whole blob.
pub fn decode<'py>(py: Python<'py>, buf: &[u8]) -> Result<Bound<'py, PyAny>, CoreError> {
    let blob = Blob::parse(buf)?;
    blob.decode(&mut PySink::new(py))
}

/// Decodes the value of one root key, or None when absent.
pub fn decode_key<'py>(
    py: Python<'py>,
    buf: &[u8],
    key: &str,
) -> Result<Option<Bound<'py, PyAny>>, CoreError> {
    let blob = Blob::parse(buf)?;
    blob.get(key, &mut PySink::new(py))
}

/// The root keys, in order.
pub fn keys(buf: &[u8]) -> Result<Vec<&str>, DecodeError> {
    Blob::parse(buf)?.keys()
}
