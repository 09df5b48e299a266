//! A blob to Python objects. Object creation is the cost that remains, so each shared
//! string is built once per blob and containers are created at their final size.

use std::sync::Mutex;

use ipc_core::codec::{Blob, DecodeError, Dtype, Sink};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt, PyString};

use crate::errors::CoreError;

/// Builds Python objects; the blob's bytes are only borrowed for the duration.
pub struct PySink<'py> {
    py: Python<'py>,
    /// Shared strings already built, by id.
    shared: Vec<Option<Py<PyAny>>>,
    root: RootKeys,
}

/// The root keys of earlier decodes, by position. A state dict has the same keys in the
/// same order from one snapshot to the next; handing back the same str object saves
/// building it and, more so, hashing it again when it goes into the new dict (a str
/// caches its hash). Each reuse is checked byte for byte, so a blob with other keys only
/// costs a comparison. Only ASCII keys of up to `MAX_ROOT_KEY` bytes are kept; the
/// default keeps none.
#[derive(Default)]
pub struct RootKeys {
    keys: Vec<Option<Py<PyAny>>>,
    /// Positions used by the decode in progress: what is kept afterwards.
    seen: usize,
    /// At most this many keys are kept.
    limit: usize,
}

/// Longer keys are rare in state dicts, and comparing them costs more.
const MAX_ROOT_KEY: usize = 64;

impl RootKeys {
    pub fn new(limit: usize) -> Self {
        RootKeys {
            keys: Vec::new(),
            seen: 0,
            limit,
        }
    }

    /// The key kept for position `index`, if its text is `s`.
    #[inline]
    fn reuse<'py>(&self, py: Python<'py>, index: usize, s: &str) -> Option<Bound<'py, PyAny>> {
        let key = self.keys.get(index)?.as_ref()?;
        let ptr = key.as_ptr();
        // SAFETY: every kept key is an exact, compact ASCII str built by `PySink::string`,
        // whose data are its length in bytes.
        let text = unsafe {
            let len = ffi::PyUnicode_GET_LENGTH(ptr) as usize;
            std::slice::from_raw_parts(ffi::PyUnicode_DATA(ptr) as *const u8, len)
        };
        (text == s.as_bytes()).then(|| key.bind(py).clone())
    }

    #[inline]
    fn keep(&mut self, index: usize, key: &Bound<'_, PyAny>) {
        if index >= self.limit {
            return;
        }
        if index >= self.keys.len() {
            // Positions before it whose keys were not kept (not ASCII, say) stay empty.
            self.keys.resize_with(index + 1, || None);
        }
        self.keys[index] = Some(key.clone().unbind());
    }

    /// After a decode: drops the keys of positions the last blob did not have.
    fn finish(&mut self) {
        if self.seen > 0 {
            self.keys.truncate(self.seen);
            self.seen = 0;
        }
    }
}

/// Shared strings built for one snapshot, kept between calls: a reader that calls `get`
/// many times on the same snapshot builds each field name once, not once per call. The
/// root keys are kept across snapshots (see [`RootKeys`]).
#[derive(Default)]
pub struct SharedCache {
    /// Which snapshot the strings belong to (a store-specific pair, e.g. version and
    /// incarnation): ids mean nothing across snapshots.
    snapshot: (u64, u64),
    strings: Vec<Option<Py<PyAny>>>,
    root: Option<RootKeys>,
}

/// A store keeps the root keys of any snapshot it reads: they are the keys of the dict
/// its reader is handed anyway.
const STORE_ROOT_KEYS: usize = usize::MAX;

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
            root: self
                .root
                .take()
                .unwrap_or_else(|| RootKeys::new(STORE_ROOT_KEYS)),
        }
    }

    /// Keeps what `sink` built, for the next call.
    pub fn keep(&mut self, mut sink: PySink<'_>) {
        sink.root.finish();
        self.strings = sink.shared;
        self.root = Some(sink.root);
    }
}

impl<'py> PySink<'py> {
    pub fn new(py: Python<'py>, root: RootKeys) -> Self {
        PySink {
            py,
            shared: Vec::new(),
            root,
        }
    }

    /// The root keys this sink kept, for the next decode.
    pub fn into_root_keys(mut self) -> RootKeys {
        self.root.finish();
        self.root
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

/// The error for a value these bindings cannot build yet.
#[cold]
fn not_yet(what: &str) -> DecodeError {
    DecodeError::new(0, format!("{what} cannot be decoded into Python yet"))
}

#[cold]
fn not_yet_py(what: &str) -> CoreError {
    not_yet(what).into()
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
    // Placeholders until the bindings read format 2's new values (branch codec-py).
    fn array(
        &mut self,
        dtype: Dtype,
        _shape: &[usize],
        _data: &'a [u8],
    ) -> Result<Self::Value, CoreError> {
        Err(not_yet_py(&format!("a {dtype} array")))
    }
    fn scalar(&mut self, dtype: Dtype, _le: &'a [u8]) -> Result<Self::Value, CoreError> {
        Err(not_yet_py(&format!("a {dtype} scalar")))
    }
    fn pickle(&mut self, _data: &'a [u8]) -> Result<Self::Value, CoreError> {
        Err(not_yet_py("a pickled value"))
    }
    fn int_key(&mut self, v: i64) -> Result<Self::Key, CoreError> {
        Err(not_yet_py(&format!("int dict key {v}")))
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
    fn root_key(&mut self, index: usize, s: &'a str, ascii: bool) -> Result<Self::Key, CoreError> {
        self.root.seen = index + 1;
        if let Some(key) = self.root.reuse(self.py, index, s) {
            return Ok(key);
        }
        let key = self.string(s, ascii)?;
        if ascii && s.len() <= MAX_ROOT_KEY {
            self.root.keep(index, &key);
        }
        Ok(key)
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

/// The root keys of the last `deserialize` in this process: a program that decodes one
/// kind of state dict over and over gets its keys for free after the first time.
static DESERIALIZE_ROOT_KEYS: Mutex<Option<RootKeys>> = Mutex::new(None);

/// How many root keys `deserialize` keeps: a bound on memory held between calls
/// (at most this many short strings).
const DESERIALIZE_ROOT_LIMIT: usize = 1 << 17;

/// Decodes a whole blob.
pub fn decode<'py>(py: Python<'py>, buf: &[u8]) -> Result<Bound<'py, PyAny>, CoreError> {
    let blob = Blob::parse(buf)?;
    // Never waits: the GIL is held, and a decode runs no Python code that could come
    // back here; if the lock is taken all the same, decode without the cache.
    let mut kept = DESERIALIZE_ROOT_KEYS.try_lock().ok();
    let root = kept
        .as_mut()
        .and_then(|k| k.take())
        .unwrap_or_else(|| RootKeys::new(DESERIALIZE_ROOT_LIMIT));
    let mut sink = PySink::new(py, root);
    let value = blob.decode(&mut sink);
    if let Some(kept) = kept.as_mut() {
        **kept = Some(sink.into_root_keys());
    }
    value
}

/// Decodes the value of one root key, or None when absent.
pub fn decode_key<'py>(
    py: Python<'py>,
    buf: &[u8],
    key: &str,
) -> Result<Option<Bound<'py, PyAny>>, CoreError> {
    let blob = Blob::parse(buf)?;
    blob.get(key, &mut PySink::new(py, RootKeys::default()))
}

/// The root keys, in order.
pub fn keys(buf: &[u8]) -> Result<Vec<&str>, DecodeError> {
    // Placeholder until the bindings return int keys (branch codec-py).
    Blob::parse(buf)?
        .keys()?
        .into_iter()
        .map(|k| k.as_str().ok_or_else(|| not_yet(&format!("int key {k}"))))
        .collect()
}
