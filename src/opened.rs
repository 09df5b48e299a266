//! A store that is opened by `initialize` and closed by `cleanup`, as the `IPCBackend`
//! interface has it: the native classes are the backends themselves (the Python classes
//! only add their name), so no Python frame sits between a caller and `get` or
//! `version`.

use std::sync::{Mutex, MutexGuard, TryLockError};

use ipc_core::process::{Owner, OwnerCell};
use ipc_core::Error;
use pyo3::prelude::*;
use pyo3::sync::MutexExt;

use crate::codec::with_gc_paused;
use crate::errors::CoreError;

pub struct Opened<T> {
    /// The backend's class name, for messages.
    backend: &'static str,
    /// None before `initialize` and after `cleanup`. Held briefly, except by `detached`
    /// work (a publish; in push mode, the wait for the next message). The rule that
    /// keeps it from deadlocking with the GIL: nobody waits for it while holding the
    /// GIL. Attached callers let go of the GIL if they have to wait (`lock`), and
    /// `detached` work takes it after letting go. While a thread holds it with the GIL,
    /// the GC is paused, so no finalizer can come back to the same store.
    inner: Mutex<Option<T>>,
    /// The process that opened the store inside. In any other (a forked child), `inner`
    /// may be locked by a thread of the parent that does not exist there: never wait.
    opened_by: OwnerCell,
}

impl<T> Opened<T> {
    pub fn new(backend: &'static str) -> Self {
        Opened {
            backend,
            inner: Mutex::new(None),
            opened_by: OwnerCell::default(),
        }
    }

    /// Locks from a thread attached to Python; waits, if it must, without the GIL. In a
    /// process that did not open the store, only takes a free lock.
    fn lock(&self, py: Python<'_>) -> ipc_core::Result<MutexGuard<'_, Option<T>>> {
        if let Some(owner) = self.opened_by.foreign() {
            return self.lock_inherited(owner);
        }
        // Publishing is atomic in every store, so a panic while locked cannot leave one
        // half-updated: a poisoned lock is still usable.
        Ok(self
            .inner
            .lock_py_attached(py)
            .unwrap_or_else(|e| e.into_inner()))
    }

    /// The lock in a forked child, if no thread held it at the fork: the store then
    /// raises its own UsageError (or, closing, lets go). Else the UsageError is ours.
    #[cold]
    fn lock_inherited(&self, owner: Owner) -> ipc_core::Result<MutexGuard<'_, Option<T>>> {
        match self.inner.try_lock() {
            Ok(guard) => Ok(guard),
            Err(TryLockError::Poisoned(e)) => Ok(e.into_inner()),
            Err(TryLockError::WouldBlock) => Err(owner.misuse(self.backend)),
        }
    }

    /// Runs `f` on the open store, or raises UsageError if there is none.
    pub fn with<R>(&self, py: Python<'_>, f: impl FnOnce(&mut T) -> PyResult<R>) -> PyResult<R> {
        let mut guard = self.lock(py).map_err(CoreError::from)?;
        with_gc_paused(py, || match guard.as_mut() {
            Some(store) => f(store),
            None => Err(CoreError::from(self.unopened()).into()),
        })
    }

    /// Runs a core call on the open store from a thread detached from Python.
    pub fn core<R>(&self, f: impl FnOnce(&mut T) -> ipc_core::Result<R>) -> ipc_core::Result<R> {
        let mut guard = if let Some(owner) = self.opened_by.foreign() {
            self.lock_inherited(owner)?
        } else {
            self.inner.lock().unwrap_or_else(|e| e.into_inner())
        };
        match guard.as_mut() {
            Some(store) => f(store),
            None => Err(self.unopened()),
        }
    }

    /// Runs a core call with the GIL released (publishing, or waiting for a message),
    /// taking the lock only once detached: holding it while detached would deadlock
    /// against a thread that holds the GIL and waits for the lock.
    pub fn detached<R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut T) -> ipc_core::Result<R> + Send,
    ) -> PyResult<R>
    where
        T: Send,
    {
        Ok(py.detach(|| self.core(f)).map_err(CoreError::from)?)
    }

    /// Like `with`, for a core call: its error is raised in Python.
    pub fn py<R>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut T) -> ipc_core::Result<R>,
    ) -> PyResult<R> {
        self.with(py, |store| Ok(f(store).map_err(CoreError::from)?))
    }

    #[cold]
    fn unopened(&self) -> Error {
        Error::Usage(format!(
            "{}: call initialize(name, is_writer) first",
            self.backend
        ))
    }

    /// Installs a store opened by `initialize`; refuses a second one.
    pub fn open(&self, py: Python<'_>, store: T) -> PyResult<()> {
        let mut inner = self.lock(py).map_err(CoreError::from)?;
        if inner.is_some() {
            let msg = format!(
                "{}: already initialised; call cleanup() first",
                self.backend
            );
            return Err(CoreError::from(Error::Usage(msg)).into());
        }
        *inner = Some(store);
        self.opened_by.set_current();
        Ok(())
    }

    /// Takes the store out (for `cleanup`); None if there was none, or if it is held in
    /// a forked child by a thread of the parent (it then stays, inert).
    pub fn take(&self, py: Python<'_>) -> Option<T> {
        self.lock(py).ok()?.take()
    }
}
