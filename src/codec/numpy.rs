//! NumPy, only where it is used. The package imports and works without NumPy: nothing
//! here imports it until a blob holds an array or a NumPy scalar to read. On the write
//! side nothing ever imports it: an `ndarray` or a NumPy scalar can only exist once
//! someone has, so the encoder looks NumPy up in `sys.modules` and reads arrays and other
//! buffers through the buffer protocol, which needs no NumPy at all.
//!
//! Arrays are made through NumPy's C API (rust-numpy's lazily loaded `PY_ARRAY_API`):
//! one C call per array, where `numpy.frombuffer(...).reshape(...)` costs several Python
//! calls (docs: the measurement is in the branch report and README).

use std::borrow::Cow;
use std::ffi::{c_char, c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};

use ipc_core::codec::Dtype;
use numpy::npyffi::{
    self, npy_intp, NpyTypes, PyArrayObject, PyArray_Descr, NPY_ARRAY_ALIGNED,
    NPY_ARRAY_C_CONTIGUOUS, NPY_ARRAY_WRITEABLE, NPY_TYPES, PY_ARRAY_API,
};
use pyo3::exceptions::{PyModuleNotFoundError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

// ---------------------------------------------------------------------------------------
// Writing: recognising NumPy objects without importing NumPy.

/// The NumPy types the encoder recognises, found once NumPy is imported.
pub struct Types {
    ndarray: Py<PyType>,
    generic: Py<PyType>,
    /// The exact type of each scalar whose dtype the format carries, with that dtype. On
    /// most platforms two types share a dtype (`numpy.int64` and `numpy.longlong`).
    scalars: Vec<(Py<PyType>, Dtype)>,
}

static TYPES: PyOnceLock<Types> = PyOnceLock::new();

/// NumPy's types if NumPy has been imported (by anyone); None otherwise. Never imports.
pub fn loaded(py: Python<'_>) -> Option<&'static Types> {
    if let Some(types) = TYPES.get(py) {
        return Some(types);
    }
    let name = pyo3::intern!(py, "numpy");
    // SAFETY: the GIL is held; PyImport_GetModule returns a new reference, or NULL when
    // the module is not in sys.modules (an error is set only if the lookup itself failed).
    let module =
        unsafe { Bound::from_owned_ptr_or_opt(py, ffi::PyImport_GetModule(name.as_ptr())) };
    let Some(module) = module else {
        // Not imported, or the lookup failed: either way nothing here is a NumPy object.
        let _ = PyErr::take(py);
        return None;
    };
    // A module still being imported lacks what `find` looks for: try again next time.
    match find(&module) {
        Ok(types) => Some(TYPES.get_or_init(py, || types)),
        Err(_) => None,
    }
}

fn find(numpy: &Bound<'_, PyAny>) -> PyResult<Types> {
    let dtype = numpy.getattr("dtype")?;
    let mut scalars = Vec::new();
    // Every C type NumPy has a character for, among those whose dtype we carry.
    for code in [
        "?", "b", "B", "h", "H", "i", "I", "l", "L", "q", "Q", "e", "f", "d", "F", "D",
    ] {
        let d = dtype.call1((code,))?;
        let kind: char = d.getattr("kind")?.extract()?;
        let size: usize = d.getattr("itemsize")?.extract()?;
        if let Some(found) = dtype_of(kind, size) {
            scalars.push((d.getattr("type")?.cast_into::<PyType>()?.unbind(), found));
        }
    }
    Ok(Types {
        ndarray: numpy.getattr("ndarray")?.cast_into::<PyType>()?.unbind(),
        generic: numpy.getattr("generic")?.cast_into::<PyType>()?.unbind(),
        scalars,
    })
}

/// The dtype of NumPy kind `kind` ('b', 'i', 'u', 'f', 'c') and `size` bytes.
fn dtype_of(kind: char, size: usize) -> Option<Dtype> {
    Some(match (kind, size) {
        ('b', 1) => Dtype::Bool,
        ('i', 1) => Dtype::I8,
        ('i', 2) => Dtype::I16,
        ('i', 4) => Dtype::I32,
        ('i', 8) => Dtype::I64,
        ('u', 1) => Dtype::U8,
        ('u', 2) => Dtype::U16,
        ('u', 4) => Dtype::U32,
        ('u', 8) => Dtype::U64,
        ('f', 2) => Dtype::F16,
        ('f', 4) => Dtype::F32,
        ('f', 8) => Dtype::F64,
        ('c', 8) => Dtype::C64,
        ('c', 16) => Dtype::C128,
        _ => return None,
    })
}

impl Types {
    /// Whether `obj` is an `ndarray` (or a subclass). A C-level check: runs no Python code.
    #[inline]
    pub fn is_ndarray(&self, obj: *mut ffi::PyObject) -> bool {
        // SAFETY: `obj` is a live object and the GIL is held.
        unsafe { ffi::PyObject_TypeCheck(obj, self.ndarray.as_ptr().cast()) != 0 }
    }

    /// Whether `obj` is a NumPy scalar of any dtype.
    #[inline]
    pub fn is_scalar(&self, obj: *mut ffi::PyObject) -> bool {
        // SAFETY: as above.
        unsafe { ffi::PyObject_TypeCheck(obj, self.generic.as_ptr().cast()) != 0 }
    }

    /// The dtype of a NumPy scalar whose exact type is one the format carries.
    #[inline]
    pub fn scalar_dtype(&self, obj: *mut ffi::PyObject) -> Option<Dtype> {
        // SAFETY: as above.
        let t = unsafe { ffi::Py_TYPE(obj) };
        self.scalars
            .iter()
            .find(|(s, _)| s.as_ptr().cast() == t)
            .map(|&(_, d)| d)
    }
}

/// What a buffer's struct-module format string says its items are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Items {
    /// Plain bytes (`B` or `c`): written as bytes.
    Bytes,
    /// Numbers of `dtype`, little-endian or not.
    Numbers { dtype: Dtype, little: bool },
}

/// Reads a buffer format (`"f"`, `"<d"`, `">Zf"`, `"?"`...) of items `itemsize` bytes
/// long; None for anything the format cannot carry (objects, structs, strings, long
/// doubles, pointers). The item size decides the width of integer codes, so that `l`
/// means what the exporter meant by it.
pub fn parse_format(format: &[u8], itemsize: usize) -> Option<Items> {
    let native_little = cfg!(target_endian = "little");
    let (little, rest) = match format.split_first() {
        Some((b'<', rest)) => (true, rest),
        Some((b'>' | b'!', rest)) => (false, rest),
        Some((b'@' | b'=', rest)) => (native_little, rest),
        _ => (native_little, format),
    };
    let dtype = match rest {
        b"B" | b"c" if itemsize == 1 => return Some(Items::Bytes),
        b"?" => dtype_of('b', itemsize)?,
        [b'b' | b'h' | b'i' | b'l' | b'q' | b'n'] => dtype_of('i', itemsize)?,
        [b'H' | b'I' | b'L' | b'Q' | b'N'] => dtype_of('u', itemsize)?,
        b"e" if itemsize == 2 => Dtype::F16,
        b"f" if itemsize == 4 => Dtype::F32,
        b"d" if itemsize == 8 => Dtype::F64,
        b"Zf" if itemsize == 8 => Dtype::C64,
        b"Zd" if itemsize == 16 => Dtype::C128,
        _ => return None,
    };
    Some(Items::Numbers { dtype, little })
}

/// A buffer exported by an object, released when dropped. Boxed: the exporter may keep
/// pointers into the `Py_buffer` it filled in.
pub struct Exported(Box<ffi::Py_buffer>);

impl Exported {
    /// Asks `obj` for its buffer, with shape, strides and format.
    pub fn get(obj: &Bound<'_, PyAny>) -> PyResult<Exported> {
        let mut view = Box::new(std::mem::MaybeUninit::<ffi::Py_buffer>::zeroed());
        // SAFETY: `view` is writable memory for one Py_buffer; on success the exporter
        // filled it in and we release it exactly once, in Drop.
        unsafe {
            if ffi::PyObject_GetBuffer(obj.as_ptr(), view.as_mut_ptr(), ffi::PyBUF_RECORDS_RO) != 0
            {
                return Err(PyErr::fetch(obj.py()));
            }
            Ok(Exported(Box::from_raw(Box::into_raw(view).cast())))
        }
    }

    pub fn format(&self) -> &[u8] {
        if self.0.format.is_null() {
            // No format means unsigned bytes.
            return b"B";
        }
        // SAFETY: a non-NULL format is a NUL-terminated string owned by the exporter.
        unsafe { std::ffi::CStr::from_ptr(self.0.format) }.to_bytes()
    }

    pub fn itemsize(&self) -> usize {
        self.0.itemsize as usize
    }

    pub fn len(&self) -> usize {
        self.0.len as usize
    }

    /// The shape; a 0-d buffer has none.
    pub fn shape(&self) -> Vec<usize> {
        let ndim = self.0.ndim as usize;
        if self.0.shape.is_null() {
            // Requested with strides, so this is only a 0-d buffer.
            return Vec::new();
        }
        // SAFETY: the exporter provides `ndim` extents.
        unsafe { std::slice::from_raw_parts(self.0.shape, ndim) }
            .iter()
            .map(|&d| d as usize)
            .collect()
    }

    /// The items in C order and little-endian: the exporter's own memory when it is
    /// already so laid out, else one copy. `component` is the width of the numbers to
    /// swap (half an item for complex), when they are big-endian.
    pub fn c_order_le(&self, swap: Option<usize>) -> PyResult<Cow<'_, [u8]>> {
        let len = self.len();
        if len == 0 {
            return Ok(Cow::Borrowed(&[]));
        }
        // SAFETY: the view is live until drop.
        let contiguous = unsafe { ffi::PyBuffer_IsContiguous(&*self.0, b'C' as c_char) } != 0;
        if contiguous && swap.is_none() {
            // SAFETY: a C-contiguous buffer is `len` bytes at `buf`, kept alive and
            // unresized by the export; the GIL is held and the GC paused while the
            // encoder reads it (no Python code runs meanwhile).
            return Ok(Cow::Borrowed(unsafe {
                std::slice::from_raw_parts(self.0.buf as *const u8, len)
            }));
        }
        let mut out = Vec::<u8>::with_capacity(len);
        // SAFETY: `out` has room for the `len` bytes ToContiguous writes.
        unsafe {
            if ffi::PyBuffer_ToContiguous(
                out.as_mut_ptr().cast::<c_void>(),
                &*self.0,
                len as ffi::Py_ssize_t,
                b'C' as c_char,
            ) != 0
            {
                return Err(PyErr::fetch(Python::assume_attached()));
            }
            out.set_len(len);
        }
        if let Some(width) = swap {
            for number in out.chunks_exact_mut(width) {
                number.reverse();
            }
        }
        Ok(Cow::Owned(out))
    }
}

impl Drop for Exported {
    fn drop(&mut self) {
        // SAFETY: the view was filled in by a successful PyObject_GetBuffer and is
        // released once; the GIL is held wherever an `Exported` lives.
        unsafe { ffi::PyBuffer_Release(&mut *self.0) };
    }
}

/// The width of the numbers a byte swap reverses: the item, or half of it for complex.
pub fn swap_width(dtype: Dtype) -> usize {
    match dtype {
        Dtype::C64 | Dtype::C128 => dtype.itemsize() / 2,
        _ => dtype.itemsize(),
    }
}

/// The bytes of a NumPy scalar of a dtype we carry, little-endian.
pub fn scalar_le(obj: &Bound<'_, PyAny>, dtype: Dtype) -> PyResult<Vec<u8>> {
    let view = Exported::get(obj)?;
    if view.len() != dtype.itemsize() {
        return Err(PyTypeError::new_err(format!(
            "a {dtype} scalar exported {} bytes",
            view.len()
        )));
    }
    let swap = cfg!(target_endian = "big").then(|| swap_width(dtype));
    Ok(view.c_order_le(swap)?.into_owned())
}

// ---------------------------------------------------------------------------------------
// Reading: NumPy's C API, loaded on first use.

static API: PyOnceLock<()> = PyOnceLock::new();

/// Imports NumPy and loads its C API, the first time; afterwards costs one check. Fails
/// with ModuleNotFoundError when NumPy is not installed (`what` says what needed it).
pub fn require(py: Python<'_>) -> PyResult<()> {
    API.get_or_try_init(py, || {
        py.import("numpy").map_err(|e| {
            if e.is_instance_of::<PyModuleNotFoundError>(py) {
                PyModuleNotFoundError::new_err(
                    "NumPy is not installed (pip install numpy): it is needed to read arrays \
                     and NumPy scalars",
                )
            } else {
                e
            }
        })?;
        // rust-numpy panics when the NumPy it finds is one it cannot use (older than
        // 1.15, another ABI): turn that into an error rather than a PanicException.
        catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: the GIL is held; this only reads NumPy's version.
            unsafe { PY_ARRAY_API.PyArray_GetNDArrayCFeatureVersion(py) }
        }))
        .map(drop)
        .map_err(|_| {
            pyo3::exceptions::PyImportError::new_err(
                "the installed NumPy's C API cannot be used (too old or built for another ABI)",
            )
        })
    })
    .copied()
}

/// NumPy's number for `dtype`. `int64` is C `long` where that is 64 bits (so that values
/// come back as `numpy.int64`, not `numpy.longlong`).
fn type_num(dtype: Dtype) -> NPY_TYPES {
    let long64 = std::mem::size_of::<std::ffi::c_long>() == 8;
    match dtype {
        Dtype::Bool => NPY_TYPES::NPY_BOOL,
        Dtype::I8 => NPY_TYPES::NPY_BYTE,
        Dtype::I16 => NPY_TYPES::NPY_SHORT,
        Dtype::I32 => NPY_TYPES::NPY_INT,
        Dtype::I64 if long64 => NPY_TYPES::NPY_LONG,
        Dtype::I64 => NPY_TYPES::NPY_LONGLONG,
        Dtype::U8 => NPY_TYPES::NPY_UBYTE,
        Dtype::U16 => NPY_TYPES::NPY_USHORT,
        Dtype::U32 => NPY_TYPES::NPY_UINT,
        Dtype::U64 if long64 => NPY_TYPES::NPY_ULONG,
        Dtype::U64 => NPY_TYPES::NPY_ULONGLONG,
        Dtype::F16 => NPY_TYPES::NPY_HALF,
        Dtype::F32 => NPY_TYPES::NPY_FLOAT,
        Dtype::F64 => NPY_TYPES::NPY_DOUBLE,
        Dtype::C64 => NPY_TYPES::NPY_CFLOAT,
        Dtype::C128 => NPY_TYPES::NPY_CDOUBLE,
    }
}

/// A new reference to the descriptor of `dtype`, little-endian (blobs are).
///
/// # Safety
/// [`require`] succeeded; the GIL is held.
unsafe fn descr(py: Python<'_>, dtype: Dtype) -> PyResult<*mut PyArray_Descr> {
    let d = PY_ARRAY_API.PyArray_DescrFromType(py, type_num(dtype) as c_int);
    if d.is_null() {
        return Err(PyErr::fetch(py));
    }
    if cfg!(target_endian = "big") {
        let le = PY_ARRAY_API.PyArray_DescrNewByteorder(py, d, b'<' as c_char);
        ffi::Py_DECREF(d.cast());
        if le.is_null() {
            return Err(PyErr::fetch(py));
        }
        return Ok(le);
    }
    Ok(d)
}

/// A read-only `ndarray` of `dtype` and `shape` holding `data` (C order, little-endian,
/// exactly the size the shape calls for: the decoder checked). With an `owner`, and
/// `data` aligned to the item size, the array views `data` in place and keeps `owner`
/// as its base; otherwise it holds a copy.
///
/// # Safety
/// With an owner, `data` stays mapped and unchanged for as long as `owner` lives.
pub unsafe fn array<'py>(
    py: Python<'py>,
    dtype: Dtype,
    shape: &[usize],
    data: &[u8],
    owner: Option<&Py<PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    require(py)?;
    let mut dims = shape
        .iter()
        .map(|&d| npy_intp::try_from(d))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| PyTypeError::new_err(format!("shape {shape:?} too large")))?;
    let descr = descr(py, dtype)?;
    let array_type = npyffi::get_type_object(py, NpyTypes::PyArray_Type);
    let aligned = (data.as_ptr() as usize) % dtype.itemsize() == 0;
    // A view when the memory is kept alive and aligned; otherwise NumPy allocates (NULL
    // data) and the bytes are copied in below.
    let view = owner.filter(|_| aligned);
    let (ptr_in, flags) = match view {
        Some(_) => (
            data.as_ptr() as *mut c_void,
            NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED,
        ),
        None => (std::ptr::null_mut(), 0),
    };
    // NewFromDescr steals `descr`. A view is created without WRITEABLE, and NumPy refuses
    // to make it writable again (it does not own the memory, its base is not writable).
    let ptr = PY_ARRAY_API.PyArray_NewFromDescr(
        py,
        array_type,
        descr,
        dims.len() as c_int,
        dims.as_mut_ptr(),
        std::ptr::null_mut(),
        ptr_in,
        flags,
        std::ptr::null_mut(),
    );
    let arr = Bound::from_owned_ptr_or_err(py, ptr)?;
    match view {
        Some(owner) => {
            // Steals the new reference to `owner`, also on failure.
            if PY_ARRAY_API.PyArray_SetBaseObject(
                py,
                ptr.cast::<PyArrayObject>(),
                owner.clone_ref(py).into_ptr(),
            ) != 0
            {
                return Err(PyErr::fetch(py));
            }
        }
        None => {
            let fields = &mut (*ptr.cast::<PyArrayObject>()).fields;
            if !data.is_empty() {
                std::ptr::copy_nonoverlapping(data.as_ptr(), fields.data.cast::<u8>(), data.len());
            }
            fields.flags &= !NPY_ARRAY_WRITEABLE;
        }
    }
    Ok(arr)
}

/// A NumPy scalar of `dtype` from its little-endian bytes (`itemsize` of them: the
/// decoder checked).
pub fn scalar<'py>(py: Python<'py>, dtype: Dtype, le: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    require(py)?;
    // Aligned room for the largest item (complex128).
    let mut item = [0u64; 2];
    let n = dtype.itemsize().min(16);
    // SAFETY: `item` has 16 bytes, `n` <= 16, `le` has `n` bytes (checked by the caller,
    // clamped here all the same).
    let bytes = unsafe { std::slice::from_raw_parts_mut(item.as_mut_ptr().cast::<u8>(), 16) };
    bytes[..n.min(le.len())].copy_from_slice(&le[..n.min(le.len())]);
    if cfg!(target_endian = "big") {
        for number in bytes[..n].chunks_exact_mut(swap_width(dtype)) {
            number.reverse();
        }
    }
    // SAFETY: `require` succeeded and the GIL is held; PyArray_Scalar copies the item
    // from `item` and does not keep `descr`, whose reference we drop after.
    unsafe {
        let descr = PY_ARRAY_API.PyArray_DescrFromType(py, type_num(dtype) as c_int);
        if descr.is_null() {
            return Err(PyErr::fetch(py));
        }
        let obj = PY_ARRAY_API.PyArray_Scalar(
            py,
            item.as_mut_ptr().cast::<c_void>(),
            descr,
            std::ptr::null_mut(),
        );
        ffi::Py_DECREF(descr.cast());
        Bound::from_owned_ptr_or_err(py, obj)
    }
}

/// NumPy itself, imported if need be (to convert an object that exposes
/// `__array_interface__`); None when it is not installed.
pub fn import(py: Python<'_>) -> PyResult<Option<Bound<'_, PyModule>>> {
    match py.import("numpy") {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.is_instance_of::<PyModuleNotFoundError>(py) => Ok(None),
        Err(e) => Err(e),
    }
}
