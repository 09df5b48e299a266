//! Snapshots that outlive a read, as Python sees them: `SnapshotOwner`, the object that
//! keeps a held snapshot's memory alive (arrays decoded from it are views with it as
//! their base), and `HeldSnapshot`, what `snapshot()` returns (the package wraps it in a
//! `collections.abc.Mapping`).

use std::sync::{Arc, Mutex};

use ipc_core::codec::KeyRef;
use ipc_core::process::Owner;
use ipc_core::store::{HeldSnapshot, SnapshotId};
use ipc_core::Error;
use pyo3::prelude::*;
use pyo3::sync::MutexExt;
use pyo3::types::PyList;

use crate::codec::{key_ref, with_gc_paused, Options, PySink, SharedCache};
use crate::errors::CoreError;
use crate::key::key_list;

/// A held snapshot behind a Python object: [`HeldSnapshot`] without its generics.
pub trait PyHeld: Send + Sync + 'static {
    fn id(&self) -> SnapshotId;
    fn address(&self) -> *const u8;
    fn decode<'py>(
        &self,
        key: Option<KeyRef<'_>>,
        sink: &mut PySink<'py>,
    ) -> Result<Option<Bound<'py, PyAny>>, CoreError>;
    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>>;
}

impl<H: HeldSnapshot> PyHeld for H {
    fn id(&self) -> SnapshotId {
        HeldSnapshot::id(self)
    }

    fn address(&self) -> *const u8 {
        HeldSnapshot::address(self)
    }

    fn decode<'py>(
        &self,
        key: Option<KeyRef<'_>>,
        sink: &mut PySink<'py>,
    ) -> Result<Option<Bound<'py, PyAny>>, CoreError> {
        self.decode_with(key, sink)
    }

    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.keys_with::<_, CoreError>(|keys| key_list(py, keys))?
    }
}

/// Keeps one held snapshot's memory alive, unchanged, for as long as it lives: arrays
/// read from the snapshot view that memory and hold this object as their base.
#[pyclass(frozen, module = "ipc_benchmark._core", name = "SnapshotOwner")]
pub struct SnapshotOwner {
    held: Arc<dyn PyHeld>,
}

impl SnapshotOwner {
    pub fn new(held: Arc<dyn PyHeld>) -> Self {
        SnapshotOwner { held }
    }

    pub fn held(&self) -> &Arc<dyn PyHeld> {
        &self.held
    }

    pub fn id(&self) -> SnapshotId {
        self.held.id()
    }
}

#[pymethods]
impl SnapshotOwner {
    /// The version of the snapshot it keeps.
    #[getter]
    fn version(&self) -> u64 {
        self.held.id().version
    }

    fn __repr__(&self) -> String {
        format!("<SnapshotOwner of version {}>", self.held.id().version)
    }
}

/// One version of a store, held until `release()`; keys are decoded when asked for.
#[pyclass(frozen, module = "ipc_benchmark._core", name = "HeldSnapshot")]
pub struct PyHeldSnapshot {
    /// The store, for messages.
    label: String,
    /// The process that took it: in a forked child the memory it names is the parent's
    /// to hold, so it refuses to be used.
    process: Owner,
    version: u64,
    state: Mutex<Option<State>>,
}

struct State {
    /// None: the store had no snapshot yet (an empty mapping).
    owner: Option<Py<SnapshotOwner>>,
    /// `pickle_fallback`, as the store was opened with.
    options: Options,
    /// Field names built for this snapshot, kept between gets.
    cache: SharedCache,
}

impl PyHeldSnapshot {
    pub fn new(label: String, owner: Option<Py<SnapshotOwner>>, options: Options) -> Self {
        let version = owner.as_ref().map_or(0, |o| o.get().id().version);
        PyHeldSnapshot {
            label,
            process: Owner::current(),
            version,
            state: Mutex::new(Some(State {
                owner,
                options,
                cache: SharedCache::default(),
            })),
        }
    }

    /// Runs `f` on the snapshot, unless it was released or this is a forked child.
    fn with<R>(&self, py: Python<'_>, f: impl FnOnce(&mut State) -> PyResult<R>) -> PyResult<R> {
        self.process
            .check(|| format!("a snapshot of {}", self.label))
            .map_err(CoreError::from)?;
        let mut guard = self
            .state
            .lock_py_attached(py)
            .unwrap_or_else(|e| e.into_inner());
        match guard.as_mut() {
            Some(state) => with_gc_paused(py, || f(state)),
            None => Err(CoreError::from(Error::Usage(format!(
                "a snapshot of {}: used after release()",
                self.label
            )))
            .into()),
        }
    }

    fn decode<'py>(
        &self,
        py: Python<'py>,
        key: Option<KeyRef<'_>>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.with(py, |state| {
            let Some(owner) = &state.owner else {
                return Ok(None);
            };
            let owner = owner.clone_ref(py);
            let id = owner.get().id();
            let mut sink = state.cache.sink(py, (id.incarnation, id.version));
            sink.set_options(state.options);
            if let Some(key) = key {
                sink.set_lookup(key);
            }
            // SAFETY: the owner keeps its held snapshot, whose bytes stay mapped and
            // unchanged until it is dropped (`HeldSnapshot`'s promise), and this sink
            // decodes that snapshot.
            unsafe { sink.set_owner(owner.clone_ref(py).into_any()) };
            let value = owner.get().held().decode(key, &mut sink);
            state.cache.keep(sink);
            Ok(value?)
        })
    }
}

#[pymethods]
impl PyHeldSnapshot {
    /// The version it is pinned to (0: the store had none yet).
    #[getter]
    fn version(&self, py: Python<'_>) -> PyResult<u64> {
        self.with(py, |_| Ok(self.version))
    }

    /// Whether `release()` was called.
    #[getter]
    fn released(&self, py: Python<'_>) -> bool {
        self.state
            .lock_py_attached(py)
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
    }

    /// The value of the top-level `key`, decoded now; `default` if absent.
    #[pyo3(signature = (key, default=None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(key) = key_ref(key)? else {
            // Neither a str nor an int in i64's range: in no snapshot.
            return self.with(py, |_| Ok(default));
        };
        Ok(self.decode(py, Some(key))?.or(default))
    }

    /// The whole snapshot as a new dict ({} when the store had none).
    fn read<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self.decode(py, None)? {
            Some(dict) => Ok(dict),
            None => Ok(pyo3::types::PyDict::new(py).into_any()),
        }
    }

    /// The top-level keys, in order.
    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.with(py, |state| match &state.owner {
            Some(owner) => owner.get().held().keys(py),
            None => Ok(PyList::empty(py)),
        })
    }

    /// Lets go of the snapshot (arrays read from it keep their own memory alive).
    /// Idempotent; afterwards every other use raises UsageError.
    fn release(&self, py: Python<'_>) {
        let state = self
            .state
            .lock_py_attached(py)
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(state);
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let released = if self.released(py) { ", released" } else { "" };
        format!(
            "<HeldSnapshot of {}, version {}{released}>",
            self.label, self.version
        )
    }
}
