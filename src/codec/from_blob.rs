//! A blob to Python objects. Object creation is the cost that remains, so each shared
//! string is built once per blob and containers are created at their final size.

use std::sync::Mutex;

use ipc_core::codec::{format_path, Blob, DecodeError, Dtype, Key, KeyRef, PathSegment, Sink};
use pyo3::exceptions::PyModuleNotFoundError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt, PyString};

use super::{numpy, Options};
use crate::errors::{pickle_refused, CoreError};

/// Builds Python objects; the blob's bytes are only borrowed for the duration, unless
/// an owner keeps them (see [`PySink::set_owner`]).
pub struct PySink<'py> {
    py: Python<'py>,
    /// Shared strings already built, by id.
    shared: Vec<Option<Py<PyAny>>>,
    root: RootKeys,
    /// Keeps the decoded bytes mapped and unchanged: arrays then view them in place.
    owner: Option<Py<PyAny>>,
    options: Options,
    /// The containers being filled, innermost last, and the key of the entry being
    /// decoded in the innermost dict: only read to name the path in an error, and cheap
    /// to keep (a push per container, a store per key).
    open: Vec<Open>,
    key_at: *mut ffi::PyObject,
    /// The root key a lookup decodes the value of, for those paths.
    lookup: Option<Key>,
}

/// A container being filled, and `key_at` when it was opened: the key of the entry
/// the container is (part of) the value of, in the dict around it. The decoder holds
/// every such key until it inserts its entry.
#[derive(Clone, Copy)]
struct Open {
    /// The list or tuple (whose entry being decoded is its first empty slot); NULL for a
    /// dict.
    seq: *mut ffi::PyObject,
    outer_key: *mut ffi::PyObject,
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
        PySink::with_parts(
            py,
            std::mem::take(&mut self.strings),
            self.root
                .take()
                .unwrap_or_else(|| RootKeys::new(STORE_ROOT_KEYS)),
        )
    }

    /// Keeps what `sink` built, for the next call (its strings and root keys, never its
    /// owner: that would pin the snapshot's memory past the read).
    pub fn keep(&mut self, mut sink: PySink<'_>) {
        sink.root.finish();
        self.strings = std::mem::take(&mut sink.shared);
        self.root = Some(std::mem::take(&mut sink.root));
    }
}

impl<'py> PySink<'py> {
    /// A sink that copies arrays and refuses pickles (see the setters).
    pub fn new(py: Python<'py>, root: RootKeys) -> Self {
        Self::with_parts(py, Vec::new(), root)
    }

    fn with_parts(py: Python<'py>, shared: Vec<Option<Py<PyAny>>>, root: RootKeys) -> Self {
        PySink {
            py,
            shared,
            root,
            owner: None,
            options: Options::default(),
            open: Vec::new(),
            key_at: std::ptr::null_mut(),
            lookup: None,
        }
    }

    /// Makes arrays views of the decoded bytes instead of copies: each array's `base` is
    /// `owner`, which keeps the bytes alive. An array whose data is not aligned to its
    /// item size is copied all the same. Without an owner (the default) every array is a
    /// fresh copy; read-only either way.
    ///
    /// The owner must not export a writable buffer: NumPy lets `setflags(write=True)`
    /// through when an array's base does. One owner per pinned snapshot is enough (all
    /// its arrays share it); the sink drops its reference when dropped, and
    /// [`SharedCache::keep`] never keeps it.
    ///
    /// # Safety
    /// For as long as `owner` lives, the bytes this sink decodes (every `&'a [u8]` the
    /// decoder hands it) stay mapped at the same address and are never written again.
    pub unsafe fn set_owner(&mut self, owner: Py<PyAny>) {
        self.owner = Some(owner);
    }

    /// Whether pickled values are unpickled (true) or refused with
    /// `PickleFallbackError` (false, the default). Unpickling runs code chosen by
    /// whoever wrote the blob.
    pub fn set_options(&mut self, options: Options) {
        self.options = options;
    }

    /// Says that this sink decodes the value of root key `key` alone (a lookup), so that
    /// error paths start with it.
    pub fn set_lookup(&mut self, key: KeyRef<'_>) {
        self.lookup = Some(key.to_key());
    }

    /// The root keys this sink kept, for the next decode.
    pub fn into_root_keys(mut self) -> RootKeys {
        self.root.finish();
        std::mem::take(&mut self.root)
    }

    /// Notes the key of the entry the decoder reads next.
    #[inline(always)]
    fn at_key(&mut self, key: &Bound<'py, PyAny>) {
        self.key_at = key.as_ptr();
    }

    #[inline(always)]
    fn open(&mut self, seq: *mut ffi::PyObject) {
        self.open.push(Open {
            seq,
            outer_key: self.key_at,
        });
    }

    #[inline(always)]
    fn close(&mut self) {
        if let Some(open) = self.open.pop() {
            self.key_at = open.outer_key;
        }
    }

    /// Where the decoder is now, as Python would index it (`data['a'][3]`).
    #[cold]
    fn path(&self) -> String {
        let mut path = Vec::with_capacity(self.open.len() + 1);
        if let Some(key) = &self.lookup {
            path.push(segment(key.as_ref()));
        }
        for (i, open) in self.open.iter().enumerate() {
            // A dict's current key: the one noted when the next container opened, or
            // the last one noted for the innermost.
            let key = self
                .open
                .get(i + 1)
                .map_or(self.key_at, |next| next.outer_key);
            // SAFETY: every pointer here is alive while the decoder is inside the
            // container: the containers and the current keys are held by its frames.
            unsafe {
                if !open.seq.is_null() {
                    path.push(PathSegment::Index(first_empty(open.seq)));
                } else if !key.is_null() {
                    path.push(key_segment(key));
                }
            }
        }
        format_path(&path)
    }

    /// The error for an array or scalar when NumPy cannot be loaded, with the path.
    #[cold]
    fn without_numpy(&self, e: PyErr, what: String) -> CoreError {
        if e.is_instance_of::<PyModuleNotFoundError>(self.py) {
            let msg = format!("{}: {what}: {}", self.path(), e.value(self.py));
            return PyModuleNotFoundError::new_err(msg).into();
        }
        e.into()
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

    #[inline(always)]
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

fn segment(key: KeyRef<'_>) -> PathSegment {
    match key {
        KeyRef::Str(s) => PathSegment::Key(s.to_owned()),
        KeyRef::Int(i) => PathSegment::IntKey(i),
    }
}

/// The path segment of a dict key this sink built (a str or an int).
#[cold]
unsafe fn key_segment(k: *mut ffi::PyObject) -> PathSegment {
    if ffi::PyUnicode_Check(k) != 0 {
        let mut len = 0;
        let data = ffi::PyUnicode_AsUTF8AndSize(k, &mut len);
        if !data.is_null() {
            let bytes = std::slice::from_raw_parts(data as *const u8, len as usize);
            return PathSegment::Key(String::from_utf8_lossy(bytes).into_owned());
        }
        ffi::PyErr_Clear();
    } else {
        let v = ffi::PyLong_AsLongLong(k);
        if ffi::PyErr_Occurred().is_null() {
            return PathSegment::IntKey(v);
        }
        ffi::PyErr_Clear();
    }
    PathSegment::Key("?".to_owned())
}

/// The index of the first slot not yet filled of a list or tuple being decoded.
#[cold]
unsafe fn first_empty(seq: *mut ffi::PyObject) -> usize {
    let tuple = ffi::PyTuple_Check(seq) != 0;
    let n = ffi::Py_SIZE(seq);
    (0..n)
        .find(|&i| {
            let item = if tuple {
                ffi::PyTuple_GET_ITEM(seq, i)
            } else {
                ffi::PyList_GET_ITEM(seq, i)
            };
            item.is_null()
        })
        .unwrap_or(n) as usize
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
    #[inline(always)]
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
        let key = self.cached_str(id)?;
        self.at_key(&key);
        Some(key)
    }
    fn bytes(&mut self, b: &'a [u8]) -> Result<Self::Value, CoreError> {
        Ok(PyBytes::new(self.py, b).into_any())
    }
    fn array(
        &mut self,
        dtype: Dtype,
        shape: &[usize],
        data: &'a [u8],
    ) -> Result<Self::Value, CoreError> {
        // SAFETY: an owner was set only by a caller that promised it keeps `data` (part
        // of what this sink decodes) mapped and unchanged while it lives.
        unsafe { numpy::array(self.py, dtype, shape, data, self.owner.as_ref()) }.map_err(|e| {
            self.without_numpy(e, format!("reading a {dtype} array of shape {shape:?}"))
        })
    }
    fn scalar(&mut self, dtype: Dtype, le: &'a [u8]) -> Result<Self::Value, CoreError> {
        numpy::scalar(self.py, dtype, le)
            .map_err(|e| self.without_numpy(e, format!("reading a numpy.{dtype} scalar")))
    }
    #[cold]
    fn pickle(&mut self, data: &'a [u8]) -> Result<Self::Value, CoreError> {
        if !self.options.pickle_fallback {
            return Err(pickle_refused(self.py, &self.path()).into());
        }
        let py = self.py;
        // A copy: what unpickling keeps must not point into the blob.
        let bytes = PyBytes::new(py, data);
        Ok(py
            .import(pyo3::intern!(py, "pickle"))?
            .call_method1(pyo3::intern!(py, "loads"), (bytes,))?)
    }
    #[inline(always)]
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
        self.open(obj.as_ptr());
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
    #[inline(always)]
    fn seq_end(&mut self, seq: Self::Seq) -> Result<Self::Value, CoreError> {
        self.close();
        Ok(seq.obj)
    }
    #[inline(always)]
    fn map(&mut self, len: usize) -> Result<Self::Map, CoreError> {
        // SAFETY: a new reference or NULL. Sizing the table up front saves the rehashing
        // a large dict would otherwise go through as it grows.
        let map = self.owned(unsafe { new_dict(len) })?;
        self.open(std::ptr::null_mut());
        self.key_at = std::ptr::null_mut();
        Ok(map)
    }
    #[inline(always)]
    fn key(
        &mut self,
        s: &'a str,
        ascii: bool,
        shared: Option<u32>,
    ) -> Result<Self::Key, CoreError> {
        let key = self.text(s, ascii, shared)?;
        self.at_key(&key);
        Ok(key)
    }
    fn int_key(&mut self, v: i64) -> Result<Self::Key, CoreError> {
        let key = self.int(v)?;
        self.at_key(&key);
        Ok(key)
    }
    fn root_int_key(&mut self, index: usize, v: i64) -> Result<Self::Key, CoreError> {
        self.root.seen = index + 1;
        self.int_key(v)
    }
    #[inline]
    fn root_key(&mut self, index: usize, s: &'a str, ascii: bool) -> Result<Self::Key, CoreError> {
        self.root.seen = index + 1;
        if let Some(key) = self.root.reuse(self.py, index, s) {
            self.at_key(&key);
            return Ok(key);
        }
        let key = self.string(s, ascii)?;
        if ascii && s.len() <= MAX_ROOT_KEY {
            self.root.keep(index, &key);
        }
        self.at_key(&key);
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
    #[inline(always)]
    fn map_end(&mut self, map: Self::Map) -> Result<Self::Value, CoreError> {
        self.close();
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

/// Decodes a whole blob; arrays come back as copies.
pub fn decode<'py>(
    py: Python<'py>,
    buf: &[u8],
    options: Options,
) -> Result<Bound<'py, PyAny>, CoreError> {
    let blob = Blob::parse(buf)?;
    // Never waits: if the lock is taken (a decode in progress on this thread, which
    // unpickling or importing NumPy may start again), decode without the cache.
    let mut kept = DESERIALIZE_ROOT_KEYS.try_lock().ok();
    let root = kept
        .as_mut()
        .and_then(|k| k.take())
        .unwrap_or_else(|| RootKeys::new(DESERIALIZE_ROOT_LIMIT));
    let mut sink = PySink::new(py, root);
    sink.set_options(options);
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
    key: KeyRef<'_>,
    options: Options,
) -> Result<Option<Bound<'py, PyAny>>, CoreError> {
    let blob = Blob::parse(buf)?;
    let mut sink = PySink::new(py, RootKeys::default());
    sink.set_options(options);
    sink.set_lookup(key);
    blob.get(key, &mut sink)
}

/// The root keys, in order.
pub fn keys(buf: &[u8]) -> Result<Vec<KeyRef<'_>>, DecodeError> {
    Blob::parse(buf)?.keys()
}

/// A Python key (str or int) as a lookup key; None for any other type, which no blob
/// holds. A bool is no key either (the encoder refuses them).
pub fn key_ref<'a>(key: &'a Bound<'_, PyAny>) -> PyResult<Option<KeyRef<'a>>> {
    if let Ok(s) = key.cast::<PyString>() {
        return Ok(Some(KeyRef::Str(s.to_str()?)));
    }
    if key.is_instance_of::<pyo3::types::PyBool>() || !key.is_instance_of::<PyInt>() {
        return Ok(None);
    }
    // An int outside i64 is in no blob either.
    Ok(key.extract::<i64>().ok().map(KeyRef::Int))
}

/// The root keys as Python objects (str or int).
pub fn key_object<'py>(py: Python<'py>, key: KeyRef<'_>) -> PyResult<Bound<'py, PyAny>> {
    Ok(match key {
        KeyRef::Str(s) => PyString::new(py, s).into_any(),
        KeyRef::Int(i) => i.into_pyobject(py)?.into_any(),
    })
}
