//! Python objects to a blob, walking them directly through the C API (no serde: a
//! generic converter was measured 2-3x slower than pickle here).

use std::os::raw::c_char;

use ipc_core::codec::{EncodeError, EncodeErrorKind, Encoder, PathSegment, MAX_DEPTH};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyInt, PyString};

use crate::errors::CoreError;

/// Encodes `obj`. A dict (or dict subclass) at the root gets the key index.
/// The caller holds the GIL and has paused the garbage collector, so no Python code runs
/// while this walks borrowed references (see `with_gc_paused`).
pub fn encode(obj: &Bound<'_, PyAny>, size_hint: usize) -> Result<Vec<u8>, CoreError> {
    let mut enc = Encoder::with_capacity(size_hint);
    encode_into(obj, &mut enc)?;
    Ok(enc.finish()?)
}

/// Walks `obj` into `enc` (new or just reset), as [`encode`] does; `enc.complete()` then
/// gives the blob.
pub fn encode_into(obj: &Bound<'_, PyAny>, enc: &mut Encoder) -> Result<(), CoreError> {
    let mut w = Walker {
        py: obj.py(),
        enc,
        ancestors: Vec::new(),
        keys: [(std::ptr::null_mut(), 0); KEY_CACHE],
    };
    let ptr = obj.as_ptr();
    // SAFETY: `ptr` is a live object (borrowed from `obj`) and we hold the GIL.
    unsafe {
        if is_dict(ptr) {
            w.root_dict(ptr)?;
        } else {
            w.value(ptr, 0)?;
        }
    }
    Ok(())
}

const KEY_CACHE: usize = 256;
/// Marks a cached key that is written inline rather than shared.
const INLINE: u32 = u32::MAX;

struct Walker<'py, 'e> {
    py: Python<'py>,
    enc: &'e mut Encoder,
    /// Containers on the path from the root, to detect cycles.
    ancestors: Vec<*mut ffi::PyObject>,
    /// Direct-mapped cache from key object to shared-table id: nested dicts of one blob
    /// usually share the very same key objects, so most lookups end here.
    keys: [(*mut ffi::PyObject, u32); KEY_CACHE],
}

enum Kind {
    Str,
    Int,
    Float,
    Dict,
    List,
    Tuple,
    Bytes,
    None,
    Bool,
    Other,
}

/// Exact types first; subclasses (OrderedDict, IntEnum, namedtuple...) are written as
/// their base type, as documented in docs/format.md.
#[inline]
unsafe fn kind(obj: *mut ffi::PyObject) -> Kind {
    let t = ffi::Py_TYPE(obj);
    if t == &raw mut ffi::PyUnicode_Type {
        Kind::Str
    } else if t == &raw mut ffi::PyLong_Type {
        Kind::Int
    } else if t == &raw mut ffi::PyFloat_Type {
        Kind::Float
    } else if t == &raw mut ffi::PyDict_Type {
        Kind::Dict
    } else if t == &raw mut ffi::PyList_Type {
        Kind::List
    } else if obj == ffi::Py_None() {
        Kind::None
    } else if t == &raw mut ffi::PyBool_Type {
        Kind::Bool
    } else if t == &raw mut ffi::PyTuple_Type {
        Kind::Tuple
    } else if t == &raw mut ffi::PyBytes_Type {
        Kind::Bytes
    } else if ffi::PyUnicode_Check(obj) != 0 {
        Kind::Str
    } else if ffi::PyLong_Check(obj) != 0 {
        Kind::Int
    } else if ffi::PyFloat_Check(obj) != 0 {
        Kind::Float
    } else if ffi::PyDict_Check(obj) != 0 {
        Kind::Dict
    } else if ffi::PyList_Check(obj) != 0 {
        Kind::List
    } else if ffi::PyTuple_Check(obj) != 0 {
        Kind::Tuple
    } else if ffi::PyBytes_Check(obj) != 0 {
        Kind::Bytes
    } else {
        Kind::Other
    }
}

unsafe fn is_dict(obj: *mut ffi::PyObject) -> bool {
    ffi::PyDict_Check(obj) != 0
}

/// The UTF-8 bytes of a str and whether it is ASCII (UTF-8 length equals character count
/// exactly when it is, which costs nothing to check). For ASCII strings CPython hands out
/// its own buffer, without copying.
#[inline]
unsafe fn utf8<'a>(obj: *mut ffi::PyObject) -> Result<(&'a str, bool), CoreError> {
    let mut len: ffi::Py_ssize_t = 0;
    let data = ffi::PyUnicode_AsUTF8AndSize(obj, &mut len);
    if data.is_null() {
        // A lone surrogate, for instance. Keep CPython's explanation.
        let py = Python::assume_attached();
        let why = PyErr::take(py).map_or_else(|| "unknown error".to_owned(), |e| e.to_string());
        return Err(EncodeError::new(EncodeErrorKind::InvalidStr(why)).into());
    }
    let bytes = std::slice::from_raw_parts(data as *const u8, len as usize);
    let ascii = len == ffi::PyUnicode_GET_LENGTH(obj);
    // SAFETY: CPython returned this as the string's UTF-8 encoding.
    Ok((std::str::from_utf8_unchecked(bytes), ascii))
}

/// The name of `obj`'s type, read from the type object. Asking Python for `__name__`
/// could run code (a metaclass property, on 3.10) that frees what the walker borrows.
unsafe fn type_name(obj: *mut ffi::PyObject) -> String {
    let tp_name = (*ffi::Py_TYPE(obj)).tp_name;
    if tp_name.is_null() {
        return "?".to_owned();
    }
    let full = std::ffi::CStr::from_ptr(tp_name).to_string_lossy();
    // Built-in and extension types say "module.Name"; `__name__` is the last part.
    full.rsplit('.').next().unwrap_or("?").to_owned()
}

impl Walker<'_, '_> {
    unsafe fn root_dict(&mut self, dict: *mut ffi::PyObject) -> Result<(), CoreError> {
        self.ancestors.push(dict);
        self.enc.begin_index(ffi::PyDict_Size(dict) as usize);
        let (mut pos, mut k, mut v) = (0, std::ptr::null_mut(), std::ptr::null_mut());
        while ffi::PyDict_Next(dict, &mut pos, &mut k, &mut v) != 0 {
            let (key, ascii) = self.dict_key(k)?;
            self.enc.index_key(key, ascii);
            self.value(v, 1).map_err(|e| within(e, k))?;
        }
        Ok(())
    }

    #[inline]
    unsafe fn dict_key<'a>(&self, k: *mut ffi::PyObject) -> Result<(&'a str, bool), CoreError> {
        if ffi::PyUnicode_Check(k) == 0 {
            return Err(EncodeError::new(EncodeErrorKind::NonStrKey(type_name(k))).into());
        }
        utf8(k)
    }

    /// Writes one value that sits inside `depth` containers.
    unsafe fn value(&mut self, obj: *mut ffi::PyObject, depth: usize) -> Result<(), CoreError> {
        match kind(obj) {
            Kind::Str => {
                let (s, ascii) = utf8(obj)?;
                self.enc.str_known(s, ascii);
            }
            Kind::Int => {
                let mut overflow = 0;
                let v = ffi::PyLong_AsLongLongAndOverflow(obj, &mut overflow);
                if overflow != 0 {
                    self.big_int(obj)?;
                } else if v == -1 && !ffi::PyErr_Occurred().is_null() {
                    return Err(PyErr::fetch(self.py).into());
                } else {
                    self.enc.int(v);
                }
            }
            Kind::Float => self.enc.float(ffi::PyFloat_AS_DOUBLE(obj)),
            Kind::None => self.enc.none(),
            Kind::Bool => self.enc.bool(obj == ffi::Py_True()),
            Kind::Bytes => {
                let data = ffi::PyBytes_AsString(obj) as *const u8;
                let len = ffi::PyBytes_Size(obj) as usize;
                self.enc.bytes(std::slice::from_raw_parts(data, len));
            }
            Kind::Dict => {
                self.enter(obj, depth)?;
                self.enc.dict(ffi::PyDict_Size(obj) as usize);
                let (mut pos, mut k, mut v) = (0, std::ptr::null_mut(), std::ptr::null_mut());
                while ffi::PyDict_Next(obj, &mut pos, &mut k, &mut v) != 0 {
                    self.nested_key(k)?;
                    self.value(v, depth + 1).map_err(|e| within(e, k))?;
                }
                self.ancestors.pop();
            }
            Kind::List => {
                self.enter(obj, depth)?;
                let n = ffi::PyList_GET_SIZE(obj);
                self.enc.list(n as usize);
                for i in 0..n {
                    let item = ffi::PyList_GET_ITEM(obj, i);
                    self.value(item, depth + 1).map_err(|e| at_index(e, i))?;
                }
                self.ancestors.pop();
            }
            Kind::Tuple => {
                self.enter(obj, depth)?;
                let n = ffi::PyTuple_GET_SIZE(obj);
                self.enc.tuple(n as usize);
                for i in 0..n {
                    let item = ffi::PyTuple_GET_ITEM(obj, i);
                    self.value(item, depth + 1).map_err(|e| at_index(e, i))?;
                }
                self.ancestors.pop();
            }
            Kind::Other => {
                return Err(
                    EncodeError::new(EncodeErrorKind::UnsupportedType(type_name(obj))).into(),
                )
            }
        }
        Ok(())
    }

    /// Checks depth and cycles before a container's items are written.
    #[inline]
    unsafe fn enter(&mut self, obj: *mut ffi::PyObject, depth: usize) -> Result<(), CoreError> {
        if let Some(first) = self.ancestors.iter().position(|&a| a == obj) {
            return Err(EncodeError::new(EncodeErrorKind::Cycle { first }).into());
        }
        if depth >= MAX_DEPTH {
            return Err(EncodeError::new(EncodeErrorKind::TooDeep).into());
        }
        self.ancestors.push(obj);
        Ok(())
    }

    #[inline]
    unsafe fn nested_key(&mut self, k: *mut ffi::PyObject) -> Result<(), CoreError> {
        let slot = (k as usize >> 4) % KEY_CACHE;
        let (cached, id) = self.keys[slot];
        if cached == k {
            if id != INLINE {
                self.enc.shared_ref(id);
                return Ok(());
            }
            let (s, ascii) = utf8(k)?;
            self.enc.str_known(s, ascii);
            return Ok(());
        }
        let (s, ascii) = self.dict_key(k)?;
        let id = self.enc.shared_id(s, ascii);
        self.keys[slot] = (k, id.unwrap_or(INLINE));
        match id {
            Some(id) => self.enc.shared_ref(id),
            None => self.enc.str_known(s, ascii),
        }
        Ok(())
    }

    /// An int outside i64: minimal little-endian two's complement, via int.to_bytes called
    /// on the int type itself so that a subclass cannot run code of its own.
    #[cold]
    unsafe fn big_int(&mut self, obj: *mut ffi::PyObject) -> Result<(), CoreError> {
        let py = self.py;
        let int_type = py.get_type::<PyInt>();
        let value = Bound::from_borrowed_ptr(py, obj);
        let bits: usize = int_type.call_method1("bit_length", (&value,))?.extract()?;
        let kwargs = [("signed", true)].into_py_dict(py)?;
        let bytes = int_type.call_method(
            "to_bytes",
            (&value, bits / 8 + 1, PyString::new(py, "little")),
            Some(&kwargs),
        )?;
        let data = ffi::PyBytes_AsString(bytes.as_ptr()) as *const c_char as *const u8;
        let len = ffi::PyBytes_Size(bytes.as_ptr()) as usize;
        self.enc.big_int(std::slice::from_raw_parts(data, len));
        Ok(())
    }
}

use pyo3::types::IntoPyDict;

#[cold]
unsafe fn within(e: CoreError, key: *mut ffi::PyObject) -> CoreError {
    e.map_encode(|e| {
        let key = utf8(key).map_or_else(|_| "?".to_owned(), |(s, _)| s.to_owned());
        e.within(PathSegment::Key(key))
    })
}

#[cold]
fn at_index(e: CoreError, i: ffi::Py_ssize_t) -> CoreError {
    e.map_encode(|e| e.within(PathSegment::Index(i as usize)))
}
