//! What the three store classes share: the methods of `IPCBackend`, written once over
//! `ipc_core::store::Store` ([`Common`]), and the macro that puts them on each class
//! (`#[pymethods]` cannot be generic). A class keeps only what is its own: its
//! constructor, its options' getters, and ZeroMQ's extras.

use std::time::Duration;

use ipc_core::codec::KeyRef;
use ipc_core::futex;
use ipc_core::store::{HeldSnapshot, Store};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::codec::{key_ref, Options};
use crate::errors::CoreError;
use crate::held::{PyHeldSnapshot, SnapshotOwner};
use crate::key::key_list;
use crate::name::StoreName;
use crate::opened::Opened;
use crate::snapshot::Converter;
use crate::wait;

pub struct Common<S: Store> {
    pub store: Opened<S>,
    convert: Converter,
    /// How `initialize` opens the store.
    pub options: S::Options,
}

impl<S> Common<S>
where
    S: Store + Send,
    S::Options: Sync,
{
    /// `pickle_fallback`: values of other types are written as pickles, and pickles are
    /// unpickled on reading (both sides must opt in: see `serialize`).
    pub fn new(backend: &'static str, options: S::Options, pickle_fallback: bool) -> Self {
        Common {
            store: Opened::new(backend),
            convert: Converter::new(Options { pickle_fallback }),
            options,
        }
    }

    pub fn pickle_fallback(&self) -> bool {
        self.convert.options.pickle_fallback
    }

    /// Opening touches the file system or the network (and an LMDB writer may wait for
    /// its first map resize): other threads run meanwhile.
    pub fn initialize(&self, py: Python<'_>, name: StoreName, is_writer: bool) -> PyResult<()> {
        let store = py
            .detach(|| S::open(&name.0, is_writer, &self.options))
            .map_err(CoreError::from)?;
        self.store.open(py, store)
    }

    /// Publishing needs no Python objects: other threads run meanwhile.
    pub fn write(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        self.convert.publish_dict(data, |blob| {
            self.store.detached(py, |s| s.publish(blob).map(drop))
        })
    }

    /// Before a read of a store whose reads wait (ZeroMQ's push mode), waits for its
    /// snapshot without the GIL.
    #[inline]
    fn prepare_read(&self, py: Python<'_>) -> PyResult<()> {
        if S::reads_wait(&self.options) {
            self.store.detached(py, |s| s.prepare_read())?;
        }
        Ok(())
    }

    pub fn read<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.decode(py, None)
    }

    pub fn get<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(key) = key_ref(key)? else {
            // Neither a str nor an int in i64's range: in no snapshot (once open).
            self.store.with(py, |_| Ok(()))?;
            return Ok(default);
        };
        Ok(self.decode(py, Some(key))?.or(default))
    }

    /// The latest snapshot, or one key's value. A store that holds snapshots without a
    /// copy (shared memory, ZeroMQ) hands its held snapshot's owner to the sink, so that
    /// arrays view the snapshot's memory; LMDB decodes from its map, and arrays copy.
    fn decode<'py>(
        &self,
        py: Python<'py>,
        key: Option<KeyRef<'_>>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.prepare_read(py)?;
        self.store.with(py, |store| {
            let mut sinks = self.convert.sinks(py);
            if !store.holds_cheaply() {
                return Ok(store.decode_with(key, |id| {
                    let sink = sinks.sink(id);
                    if let Some(key) = key {
                        sink.set_lookup(key);
                    }
                    sink
                })?);
            }
            let Some(held) = store.hold().map_err(CoreError::from)? else {
                return Ok(None);
            };
            let owner = self.convert.owner(py, &held)?;
            let sink = sinks.sink_owned(held.id(), owner);
            if let Some(key) = key {
                sink.set_lookup(key);
            }
            Ok(held.decode_with::<_, _, CoreError>(key, sink)?)
        })
    }

    /// The latest snapshot, held until released (see `HeldSnapshot`).
    pub fn snapshot(&self, py: Python<'_>) -> PyResult<PyHeldSnapshot> {
        self.prepare_read(py)?;
        let (label, held, views) = self.store.with(py, |store| {
            let views = store.holds_cheaply();
            let held = store.hold().map_err(CoreError::from)?;
            Ok((store.label(), held, views))
        })?;
        let owner = match held {
            Some(held) if views => Some(self.convert.owner(py, &held)?),
            // LMDB's copy is this snapshot's alone: not the owner of other reads.
            Some(held) => Some(Py::new(py, SnapshotOwner::new(held))?),
            None => None,
        };
        Ok(PyHeldSnapshot::new(label, owner, self.convert.options))
    }

    pub fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.prepare_read(py)?;
        self.store.with(py, |store| {
            store.keys_with::<_, CoreError>(|keys| key_list(py, keys))?
        })
    }

    pub fn version(&self, py: Python<'_>) -> PyResult<u64> {
        self.store.py(py, |s| s.version())
    }

    /// Waits without the GIL and without the store's lock: only fetching what to sleep
    /// on takes the lock, so other threads use the store meanwhile.
    pub fn wait_for_update(&self, py: Python<'_>, after: u64, timeout: f64) -> PyResult<u64> {
        let timeout: Duration = wait::timeout_arg(timeout)?;
        let label = self.store.py(py, |s| Ok(s.label()))?;
        wait::interruptible(py, timeout, |slice| {
            futex::wait_for_update_with(&label, after, slice, || self.store.core(|s| s.waiter()))
        })
    }

    /// Closing may wait for this process's transactions (LMDB) or threads (ZeroMQ).
    pub fn cleanup(&self, py: Python<'_>) -> PyResult<()> {
        self.convert.forget_owner(py);
        match self.store.take(py) {
            Some(mut s) => Ok(py.detach(|| s.close()).map_err(CoreError::from)?),
            None => Ok(()),
        }
    }
}

/// `#[pymethods]` for a store class whose `common` field is a [`Common`]: the methods
/// every store has, then the class's own `$extra` items (its constructor first).
macro_rules! store_class {
    ($class:ty { $($extra:item)* }) => {
        #[pyo3::pymethods]
        impl $class {
            $($extra)*

            /// The writer creates the store (or takes over one of its own whose writer
            /// died); a reader attaches, now or whenever the store appears.
            fn initialize(
                &self,
                py: Python<'_>,
                name: $crate::name::StoreName,
                is_writer: bool,
            ) -> PyResult<()> {
                self.common.initialize(py, name, is_writer)
            }

            /// Encodes `data` and publishes it as the next version.
            fn write(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
                self.common.write(py, data)
            }

            /// The latest snapshot as a new dict, or None before the first write. Arrays
            /// are read-only: views of the snapshot's memory (shared memory, ZeroMQ),
            /// which they keep alive, or copies (LMDB); `numpy.array(a)` gives a
            /// writable copy.
            fn read<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
                self.common.read(py)
            }

            /// One top-level value (`key`: a str or an int) of the latest snapshot,
            /// decoding nothing else; arrays as for `read`.
            #[pyo3(signature = (key, default=None))]
            fn get<'py>(
                &self,
                py: Python<'py>,
                key: &Bound<'py, PyAny>,
                default: Option<Bound<'py, PyAny>>,
            ) -> PyResult<Option<Bound<'py, PyAny>>> {
                self.common.get(py, key, default)
            }

            /// The latest snapshot, held until `release()`: keys decode when asked for,
            /// all from this one version. (`snapshot()` wraps it in a Mapping.)
            fn hold_snapshot(
                &self,
                py: Python<'_>,
            ) -> PyResult<$crate::held::PyHeldSnapshot> {
                self.common.snapshot(py)
            }

            /// The top-level keys of the latest snapshot, in order.
            fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyList>> {
                self.common.keys(py)
            }

            /// Whether values of other types are pickled (and pickles unpickled).
            #[getter]
            fn pickle_fallback(&self) -> bool {
                self.common.pickle_fallback()
            }

            /// The latest version: 0 before the first write.
            #[getter]
            fn version(&self, py: Python<'_>) -> PyResult<u64> {
                self.common.version(py)
            }

            /// Blocks (without the GIL) until a version newer than `after_version`
            /// exists; returns it, or raises IPCTimeoutError after `timeout` s.
            fn wait_for_update(
                &self,
                py: Python<'_>,
                after_version: u64,
                timeout: f64,
            ) -> PyResult<u64> {
                self.common.wait_for_update(py, after_version, timeout)
            }

            /// Writer: closes the store and removes what it created (a store kept at a
            /// path is flushed and stays). Reader: lets go. Idempotent. In a forked
            /// child, lets go of the inherited copy only, without an error: the parent's
            /// store is untouched.
            fn cleanup(&self, py: Python<'_>) -> PyResult<()> {
                self.common.cleanup(py)
            }
        }
    };
}

pub(crate) use store_class;
