//! Python objects to a blob, walking them directly through the C API (no serde: a
//! generic converter was measured 2-3x slower than pickle here).
//!
//! The plain types (str, int, float, dict, list...) are recognised by their exact type
//! first: the state dicts this is for hold nothing else, and that path stays as short
//! as it was. Everything else (subclasses, NumPy arrays and scalars, other buffers,
//! pickles) goes through [`Walker::other`], out of line.

use std::os::raw::c_char;

use ipc_core::codec::{EncodeError, EncodeErrorKind, Encoder, PathSegment, MAX_DEPTH};
use pyo3::exceptions::PyRuntimeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyInt, PyString};

use super::numpy::{self, Exported, Items};
use super::Options;
use crate::errors::CoreError;

/// Encodes `obj`. A dict (or dict subclass) at the root gets the key index.
/// The caller holds the GIL and has paused the garbage collector (see `with_gc_paused`).
pub fn encode(
    obj: &Bound<'_, PyAny>,
    size_hint: usize,
    options: Options,
) -> Result<Vec<u8>, CoreError> {
    let mut enc = Encoder::with_capacity(size_hint);
    encode_into(obj, &mut enc, options)?;
    Ok(enc.finish()?)
}

/// Walks `obj` into `enc` (new or just reset), as [`encode`] does; `enc.complete()` then
/// gives the blob.
pub fn encode_into(
    obj: &Bound<'_, PyAny>,
    enc: &mut Encoder,
    options: Options,
) -> Result<(), CoreError> {
    let mut w = Walker {
        py: obj.py(),
        enc,
        options,
        ancestors: Vec::new(),
        keys: [(std::ptr::null_mut(), 0); KEY_CACHE],
        python_ran: false,
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

/// Walks borrowed references. Python code may run in the middle of a walk (a pickle's
/// `__reduce__`, a buffer exporter written in Python, `__array_interface__`) and change
/// what is being walked, so: every container on the path is held by a strong reference
/// (`ancestors`), lists are re-measured before each item, a container whose size changed
/// is an error, the key cache is emptied (an address may then belong to another object),
/// and an error names a dict key only if its dict still holds it.
struct Walker<'py, 'e> {
    py: Python<'py>,
    enc: &'e mut Encoder,
    options: Options,
    /// Containers on the path from the root (strong references), to detect cycles.
    ancestors: Vec<*mut ffi::PyObject>,
    /// Direct-mapped cache from key object to shared-table id: nested dicts of one blob
    /// usually share the very same key objects, so most lookups end here.
    keys: [(*mut ffi::PyObject, u32); KEY_CACHE],
    /// Whether Python code may have run during the walk (see [`Walker::within`]).
    python_ran: bool,
}

impl Drop for Walker<'_, '_> {
    fn drop(&mut self) {
        // Only after an error: a finished walk has left every container it entered.
        for &obj in &self.ancestors {
            // SAFETY: each entry holds the reference `enter` took; the GIL is held.
            unsafe { ffi::Py_DECREF(obj) };
        }
    }
}

#[derive(Clone, Copy)]
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

/// The plain types, by exact type: the hot path. Subclasses are [`Kind::Other`], sorted
/// out by [`Walker::other`].
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
    } else {
        Kind::Other
    }
}

/// The base type a subclass is written as (OrderedDict as dict, IntEnum as int,
/// namedtuple as tuple...), as docs/format.md says.
unsafe fn base_kind(obj: *mut ffi::PyObject) -> Kind {
    if ffi::PyUnicode_Check(obj) != 0 {
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

/// What a dict key is.
enum DictKey<'a> {
    Str(&'a str, bool),
    Int(i64),
}

/// Reads a dict key: a str, or an int in the i64 range. A bool is refused: Python would
/// merge `True` with `1` in the dict the reader gets.
#[inline]
unsafe fn dict_key<'a>(k: *mut ffi::PyObject) -> Result<DictKey<'a>, CoreError> {
    if ffi::PyUnicode_Check(k) != 0 {
        let (s, ascii) = utf8(k)?;
        return Ok(DictKey::Str(s, ascii));
    }
    int_key(k)
}

#[inline(never)]
unsafe fn int_key<'a>(k: *mut ffi::PyObject) -> Result<DictKey<'a>, CoreError> {
    if ffi::PyLong_Check(k) == 0 || ffi::PyBool_Check(k) != 0 {
        return Err(EncodeError::new(EncodeErrorKind::NonStrKey(type_name(k))).into());
    }
    let mut overflow = 0;
    let v = ffi::PyLong_AsLongLongAndOverflow(k, &mut overflow);
    if overflow != 0 {
        return Err(EncodeError::new(EncodeErrorKind::NonStrKey(
            "int outside the 64-bit range".to_owned(),
        ))
        .into());
    }
    if v == -1 && !ffi::PyErr_Occurred().is_null() {
        return Err(PyErr::fetch(Python::assume_attached()).into());
    }
    Ok(DictKey::Int(v))
}

/// The hint every "unsupported type" error ends with.
const PICKLE_HINT: &str =
    "(pickle_fallback=True would store it as a pickle; see serialize's docstring first)";

impl Walker<'_, '_> {
    unsafe fn root_dict(&mut self, dict: *mut ffi::PyObject) -> Result<(), CoreError> {
        self.enter(dict, 0)?;
        let len = ffi::PyDict_Size(dict);
        self.enc.begin_index(len as usize);
        let (mut pos, mut k, mut v) = (0, std::ptr::null_mut(), std::ptr::null_mut());
        let mut written = 0;
        while ffi::PyDict_Next(dict, &mut pos, &mut k, &mut v) != 0 {
            match dict_key(k)? {
                DictKey::Str(s, ascii) => self.enc.index_key(s, ascii),
                DictKey::Int(i) => self.enc.index_int_key(i),
            }
            self.entry_value(dict, k, v, 1)?;
            written += 1;
        }
        self.leave(dict, written, len)
    }

    /// Writes the value of `dict`'s entry with key `k`.
    #[inline(always)]
    unsafe fn entry_value(
        &mut self,
        dict: *mut ffi::PyObject,
        k: *mut ffi::PyObject,
        v: *mut ffi::PyObject,
        depth: usize,
    ) -> Result<(), CoreError> {
        self.value(v, depth).map_err(|e| self.within(e, dict, k))
    }

    /// Adds the key `k` of `dict` (held by `ancestors`) to an error's path. `k` is only
    /// borrowed from `dict`: if Python code ran meanwhile it may be gone, and it is used
    /// only if `dict` still holds it.
    #[cold]
    unsafe fn within(
        &self,
        e: CoreError,
        dict: *mut ffi::PyObject,
        k: *mut ffi::PyObject,
    ) -> CoreError {
        if self.python_ran && !holds_key(dict, k) {
            return e.map_encode(|e| e.within(PathSegment::Key("?".to_owned())));
        }
        within(e, k)
    }

    /// Writes one value that sits inside `depth` containers. Inlined: the leaves of a
    /// state dict (most values) are written without a call.
    #[inline(always)]
    unsafe fn value(&mut self, obj: *mut ffi::PyObject, depth: usize) -> Result<(), CoreError> {
        self.as_kind(kind(obj), obj, depth)
    }

    /// Writes `obj` as a value of `kind` (its type, or for a subclass its base type).
    #[inline(always)]
    unsafe fn as_kind(
        &mut self,
        kind: Kind,
        obj: *mut ffi::PyObject,
        depth: usize,
    ) -> Result<(), CoreError> {
        match kind {
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
            Kind::Dict => return self.dict(obj, depth),
            Kind::List => return self.list(obj, depth),
            Kind::Tuple => return self.tuple(obj, depth),
            Kind::Other => return self.other(obj, depth),
        }
        Ok(())
    }

    #[inline(never)]
    unsafe fn dict(&mut self, obj: *mut ffi::PyObject, depth: usize) -> Result<(), CoreError> {
        self.enter(obj, depth)?;
        let len = ffi::PyDict_Size(obj);
        self.enc.dict(len as usize);
        let (mut pos, mut k, mut v) = (0, std::ptr::null_mut(), std::ptr::null_mut());
        let mut written = 0;
        while ffi::PyDict_Next(obj, &mut pos, &mut k, &mut v) != 0 {
            self.nested_key(k)?;
            self.entry_value(obj, k, v, depth + 1)?;
            written += 1;
        }
        self.leave(obj, written, len)
    }

    #[inline(never)]
    unsafe fn list(&mut self, obj: *mut ffi::PyObject, depth: usize) -> Result<(), CoreError> {
        self.enter(obj, depth)?;
        let n = ffi::PyList_GET_SIZE(obj);
        self.enc.list(n as usize);
        for i in 0..n {
            // Python code run by an item may have shortened the list.
            if self.python_ran && ffi::PyList_GET_SIZE(obj) != n {
                return Err(changed_size(obj));
            }
            let item = ffi::PyList_GET_ITEM(obj, i);
            self.value(item, depth + 1).map_err(|e| at_index(e, i))?;
        }
        self.leave(obj, n, ffi::PyList_GET_SIZE(obj))
    }

    #[inline(never)]
    unsafe fn tuple(&mut self, obj: *mut ffi::PyObject, depth: usize) -> Result<(), CoreError> {
        self.enter(obj, depth)?;
        let n = ffi::PyTuple_GET_SIZE(obj);
        self.enc.tuple(n as usize);
        for i in 0..n {
            let item = ffi::PyTuple_GET_ITEM(obj, i);
            self.value(item, depth + 1).map_err(|e| at_index(e, i))?;
        }
        self.leave(obj, n, n)
    }

    /// Everything but the exact plain types: NumPy first (`numpy.float64` subclasses
    /// float but must keep its type), then subclasses of the plain types, byte buffers,
    /// other buffers and `__array_interface__` as arrays, and last the pickle fallback.
    #[inline(never)]
    unsafe fn other(&mut self, obj: *mut ffi::PyObject, depth: usize) -> Result<(), CoreError> {
        let py = self.py;
        if let Some(np) = numpy::loaded(py) {
            if let Some(dtype) = np.scalar_dtype(obj) {
                let le = numpy::scalar_le(&Bound::from_borrowed_ptr(py, obj), dtype)?;
                self.enc.scalar(dtype, &le)?;
                return Ok(());
            }
            if np.is_ndarray(obj) {
                return self.ndarray(&Bound::from_borrowed_ptr(py, obj));
            }
            // numpy.str_ and numpy.bytes_ subclass str and bytes and are written as
            // them; other NumPy scalars (datetime64, longdouble...) are unsupported.
            if np.is_scalar(obj) && matches!(base_kind(obj), Kind::Other) {
                let name = format!("numpy.{}", type_name(obj));
                return self.unsupported(obj, name);
            }
        }
        match base_kind(obj) {
            Kind::Other => {}
            k => return self.as_kind(k, obj, depth),
        }
        if ffi::PyByteArray_Check(obj) != 0 {
            let data = ffi::PyByteArray_AsString(obj) as *const u8;
            let len = ffi::PyByteArray_Size(obj) as usize;
            self.enc.bytes(if len == 0 {
                &[]
            } else {
                std::slice::from_raw_parts(data, len)
            });
            return Ok(());
        }
        self.foreign(&Bound::from_borrowed_ptr(py, obj))
    }

    /// An object we know nothing of: a buffer, something with `__array_interface__`,
    /// or (only if allowed) a pickle. Python code may run from here on.
    #[inline(never)]
    fn foreign(&mut self, obj: &Bound<'_, PyAny>) -> Result<(), CoreError> {
        self.python_may_run();
        let py = self.py;
        // SAFETY: `obj` is live; PyObject_CheckBuffer only reads its type's slots.
        if unsafe { ffi::PyObject_CheckBuffer(obj.as_ptr()) } != 0 {
            if let Ok(view) = Exported::get(obj) {
                return match numpy::parse_format(view.format(), view.itemsize()) {
                    // Bytes, one-dimensional (bytearray, memoryview of bytes): as bytes.
                    Some(Items::Bytes) if view.shape().len() <= 1 => {
                        self.enc.bytes(&view.c_order_le(None)?);
                        Ok(())
                    }
                    Some(Items::Bytes) => self.array(&view, ipc_core::codec::Dtype::U8, true),
                    Some(Items::Numbers { dtype, little }) => self.array(&view, dtype, little),
                    None => {
                        let format = String::from_utf8_lossy(view.format()).into_owned();
                        drop(view);
                        let name = type_name_of(obj);
                        self.unsupported(
                            obj.as_ptr(),
                            format!("{name} (a buffer of format {format:?})"),
                        )
                    }
                };
            }
        }
        if obj.hasattr(pyo3::intern!(py, "__array_interface__"))? {
            let Some(np) = numpy::import(py)? else {
                let name = type_name_of(obj);
                return Err(EncodeError::new(EncodeErrorKind::UnsupportedType(format!(
                    "{name}: it exposes __array_interface__, but NumPy, needed to read \
                     that, is not installed (pip install numpy)"
                )))
                .into());
            };
            let array = np.call_method1(pyo3::intern!(py, "asarray"), (obj,))?;
            return self.ndarray(&array);
        }
        self.unsupported(obj.as_ptr(), type_name_of(obj))
    }

    /// An ndarray (or a subclass: written as a plain one).
    fn ndarray(&mut self, arr: &Bound<'_, PyAny>) -> Result<(), CoreError> {
        // Exporting fails for datetime and a few other dtypes; the format names the rest.
        let items = Exported::get(arr).ok().and_then(|view| {
            let items = numpy::parse_format(view.format(), view.itemsize())?;
            Some((view, items))
        });
        match items {
            Some((view, Items::Numbers { dtype, little })) => self.array(&view, dtype, little),
            // A uint8 array exports format "B".
            Some((view, Items::Bytes)) => self.array(&view, ipc_core::codec::Dtype::U8, true),
            None => {
                self.python_may_run();
                let dtype = arr.getattr("dtype")?.str()?.to_string();
                self.unsupported(arr.as_ptr(), format!("ndarray of dtype {dtype}"))
            }
        }
    }

    /// Writes an exported buffer of numbers as an array: one copy into the blob when it
    /// is C-ordered and little-endian, two otherwise.
    fn array(
        &mut self,
        view: &Exported,
        dtype: ipc_core::codec::Dtype,
        little: bool,
    ) -> Result<(), CoreError> {
        let swap = (!little).then(|| numpy::swap_width(dtype));
        let data = view.c_order_le(swap)?;
        self.enc.array(dtype, &view.shape(), &data)?;
        Ok(())
    }

    /// A value the format does not carry: pickled if the caller allowed it, else a
    /// TypeError that says how to allow it.
    #[cold]
    fn unsupported(&mut self, obj: *mut ffi::PyObject, what: String) -> Result<(), CoreError> {
        if !self.options.pickle_fallback {
            return Err(EncodeError::new(EncodeErrorKind::UnsupportedType(format!(
                "{what} {PICKLE_HINT}"
            )))
            .into());
        }
        self.python_may_run();
        let py = self.py;
        // SAFETY: `obj` is live (the walker holds its container, or the caller holds it).
        let obj = unsafe { Bound::from_borrowed_ptr(py, obj) };
        let pickled = py
            .import(pyo3::intern!(py, "pickle"))
            .and_then(|m| m.call_method1(pyo3::intern!(py, "dumps"), (&obj, 5)))
            .map_err(|e| {
                EncodeError::new(EncodeErrorKind::UnsupportedType(format!(
                    "{what}, and pickling it failed: {e}"
                )))
            })?;
        let bytes = pickled
            .cast::<pyo3::types::PyBytes>()
            .map_err(PyErr::from)?;
        self.enc.pickle(bytes.as_bytes());
        Ok(())
    }

    /// Python code may run next: cached key addresses may stop meaning their keys.
    #[cold]
    fn python_may_run(&mut self) {
        self.keys = [(std::ptr::null_mut(), 0); KEY_CACHE];
        self.python_ran = true;
    }

    /// Checks depth and cycles before a container's items are written, and holds it.
    #[inline]
    unsafe fn enter(&mut self, obj: *mut ffi::PyObject, depth: usize) -> Result<(), CoreError> {
        if let Some(first) = self.ancestors.iter().position(|&a| a == obj) {
            return Err(EncodeError::new(EncodeErrorKind::Cycle { first }).into());
        }
        if depth >= MAX_DEPTH {
            return Err(EncodeError::new(EncodeErrorKind::TooDeep).into());
        }
        ffi::Py_INCREF(obj);
        self.ancestors.push(obj);
        Ok(())
    }

    /// Leaves the container `enter` entered last, after `written` of its items; `now` is
    /// its size now, which must still be what was announced.
    #[inline]
    unsafe fn leave(
        &mut self,
        obj: *mut ffi::PyObject,
        written: ffi::Py_ssize_t,
        now: ffi::Py_ssize_t,
    ) -> Result<(), CoreError> {
        // Only Python code (run by the walk) could have changed it.
        if self.python_ran && written != now {
            return Err(changed_size(obj));
        }
        self.ancestors.pop();
        ffi::Py_DECREF(obj);
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
        let (s, ascii) = match dict_key(k)? {
            DictKey::Str(s, ascii) => (s, ascii),
            DictKey::Int(i) => {
                self.enc.int_key(i);
                return Ok(());
            }
        };
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

fn type_name_of(obj: &Bound<'_, PyAny>) -> String {
    // SAFETY: `obj` is live.
    unsafe { type_name(obj.as_ptr()) }
}

#[cold]
unsafe fn changed_size(obj: *mut ffi::PyObject) -> CoreError {
    PyRuntimeError::new_err(format!(
        "{} changed size during serialization",
        type_name(obj)
    ))
    .into()
}

/// Whether `dict` has the very object `k` as a key (compared by address: `k` may be
/// gone).
#[cold]
unsafe fn holds_key(dict: *mut ffi::PyObject, k: *mut ffi::PyObject) -> bool {
    let (mut pos, mut key, mut value) = (0, std::ptr::null_mut(), std::ptr::null_mut());
    while ffi::PyDict_Next(dict, &mut pos, &mut key, &mut value) != 0 {
        if key == k {
            return true;
        }
    }
    false
}

#[cold]
unsafe fn within(e: CoreError, key: *mut ffi::PyObject) -> CoreError {
    e.map_encode(|e| {
        let segment = match dict_key(key) {
            Ok(DictKey::Str(s, _)) => PathSegment::Key(s.to_owned()),
            Ok(DictKey::Int(i)) => PathSegment::IntKey(i),
            Err(_) => PathSegment::Key("?".to_owned()),
        };
        e.within(segment)
    })
}

#[cold]
fn at_index(e: CoreError, i: ffi::Py_ssize_t) -> CoreError {
    e.map_encode(|e| e.within(PathSegment::Index(i as usize)))
}
