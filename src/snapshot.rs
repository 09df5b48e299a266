//! From a store's blob to Python, and back: what every store class does the same way.

use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use ipc_core::codec::Encoder;
use ipc_core::store::SnapshotId;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::MutexExt;
use pyo3::types::PyDict;

use crate::codec::{encode_into, with_gc_paused, Options, PySink, SharedCache};
use crate::errors::CoreError;
use crate::held::{PyHeld, SnapshotOwner};

/// Per-store state of the conversion: the writer's encoder, and the field names already
/// built for the current snapshot.
#[derive(Default)]
pub struct Converter {
    /// Kept between writes with its buffers (see `Encoder::reset` for why).
    encoder: Mutex<Encoder>,
    shared: Mutex<SharedCache>,
    /// What the conversion may do beyond the format's types (`pickle_fallback`).
    pub options: Options,
    /// The owner of the snapshot read last, handed again to reads of the same one: two
    /// `get`s of one version give views of the same memory, and pin it once.
    owner: Mutex<Option<Py<SnapshotOwner>>>,
}

impl Converter {
    pub fn new(options: Options) -> Self {
        Converter {
            options,
            ..Converter::default()
        }
    }

    /// Encodes the argument of `write`, which must be a dict (the stores index its keys),
    /// and hands the blob to `publish`.
    pub fn publish_dict<R>(
        &self,
        data: &Bound<'_, PyAny>,
        publish: impl FnOnce(&[u8]) -> PyResult<R>,
    ) -> PyResult<R> {
        let dict = data.cast::<PyDict>().map_err(|_| {
            let kind = data
                .get_type()
                .name()
                .map_or_else(|_| "?".into(), |n| n.to_string());
            PyTypeError::new_err(format!("write() takes a dict, got {kind}"))
        })?;
        // Another thread writing through the same store meanwhile gets an encoder of its
        // own rather than waiting for this one, which stays locked while `publish` runs.
        let mut guard = match self.encoder.try_lock() {
            Ok(guard) => Some(guard),
            // A panic mid-encode leaves nothing reset() does not clear.
            Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        };
        let mut own;
        let enc = match guard.as_deref_mut() {
            Some(kept) => kept,
            None => {
                own = Encoder::new();
                &mut own
            }
        };
        enc.reset();
        with_gc_paused(data.py(), || encode_into(dict.as_any(), enc, self.options))?;
        publish(enc.complete().map_err(CoreError::from)?)
    }

    /// The owner object of the held snapshot `held`: the one made for it before, or a new
    /// one (which replaces the old in the cache; arrays read before keep theirs). The
    /// cached one is reused only for the same bytes: same snapshot, same address (the
    /// cached owner keeps its bytes alive, so an equal address is the same memory).
    pub fn owner<H: PyHeld>(&self, py: Python<'_>, held: &Arc<H>) -> PyResult<Py<SnapshotOwner>> {
        let mut cached = self
            .owner
            .lock_py_attached(py)
            .unwrap_or_else(|e| e.into_inner());
        if let Some(owner) = cached.as_ref() {
            let kept = owner.get().held();
            if kept.id() == held.id() && kept.address() == held.address() {
                return Ok(owner.clone_ref(py));
            }
        }
        let held: Arc<dyn PyHeld> = held.clone();
        let owner = Py::new(py, SnapshotOwner::new(held))?;
        *cached = Some(owner.clone_ref(py));
        Ok(owner)
    }

    /// Forgets the cached owner (when the store closes), so that only what users hold
    /// keeps memory pinned.
    pub fn forget_owner(&self, py: Python<'_>) {
        let old = self
            .owner
            .lock_py_attached(py)
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(old);
    }

    /// The sinks of one read, which start from the field names already built for the
    /// snapshot they are handed out for. Only used with the store locked.
    pub fn sinks<'py>(&self, py: Python<'py>) -> Sinks<'_, 'py> {
        Sinks {
            py,
            options: self.options,
            cache: self
                .shared
                .lock_py_attached(py)
                .unwrap_or_else(|e| e.into_inner()),
            used: None,
        }
    }
}

/// Hands out the sink a store decodes with ([`Sinks::sink`], given to its `decode_with`),
/// and keeps what that sink built once the read is over.
pub struct Sinks<'c, 'py> {
    py: Python<'py>,
    options: Options,
    cache: MutexGuard<'c, SharedCache>,
    used: Option<PySink<'py>>,
}

impl<'py> Sinks<'_, 'py> {
    pub fn sink(&mut self, id: SnapshotId) -> &mut PySink<'py> {
        let mut sink = self.cache.sink(self.py, (id.incarnation, id.version));
        sink.set_options(self.options);
        self.used.insert(sink)
    }

    /// The sink for a held snapshot, whose arrays may view its memory: `owner` keeps it.
    pub fn sink_owned(&mut self, id: SnapshotId, owner: Py<SnapshotOwner>) -> &mut PySink<'py> {
        let sink = self.sink(id);
        // SAFETY: a SnapshotOwner keeps its held snapshot (an `Arc<dyn PyHeld>`), whose
        // bytes stay mapped and unchanged until it is dropped (`HeldSnapshot`'s promise);
        // the caller decodes that very snapshot with this sink.
        unsafe { sink.set_owner(owner.into_any()) };
        sink
    }
}

impl Drop for Sinks<'_, '_> {
    fn drop(&mut self) {
        if let Some(sink) = self.used.take() {
            self.cache.keep(sink);
        }
    }
}
