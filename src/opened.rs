//! A store that is opened by `initialize` and closed by `cleanup`, as the `IPCBackend`
//! interface has it: the native classes are the backends themselves (the Python classes
//! only add their name), so no Python frame sits between a caller and `get` or
//! `version`.

use std::sync::{Mutex, MutexGuard};

use ipc_core::Error;
use pyo3::prelude::*;

use crate::errors::CoreError;

pub struct Opened<T> {
    /// The backend's class name, for messages.
    backend: &'static str,
    /// None before `initialize` and after `cleanup`. Held briefly, except by `detached`
    /// work (a publish; in push mode, the wait for the next message). Lock order: the
    /// GIL, then this. A thread that holds it never waits for the GIL (`detached` locks
    /// it after letting go of the GIL), so a thread that waits for it with the GIL held
    /// cannot deadlock, though it stalls Python for as long as that work takes.
    inner: Mutex<Option<T>>,
}

impl<T> Opened<T> {
    pub fn new(backend: &'static str) -> Self {
        Opened {
            backend,
            inner: Mutex::new(None),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<T>> {
        // Publishing is atomic in every store, so a panic while locked cannot leave one
        // half-updated: a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the open store, or raises UsageError if there is none.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> PyResult<R>) -> PyResult<R> {
        match self.lock().as_mut() {
            Some(store) => f(store),
            None => Err(CoreError::from(self.unopened()).into()),
        }
    }

    /// Runs a core call on the open store; usable without the GIL.
    pub fn core<R>(&self, f: impl FnOnce(&mut T) -> ipc_core::Result<R>) -> ipc_core::Result<R> {
        match self.lock().as_mut() {
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

    /// Like `core`, with the error raised in Python.
    pub fn py<R>(&self, f: impl FnOnce(&mut T) -> ipc_core::Result<R>) -> PyResult<R> {
        Ok(self.core(f).map_err(CoreError::from)?)
    }

    #[cold]
    fn unopened(&self) -> Error {
        Error::Usage(format!(
            "{}: call initialize(name, is_writer) first",
            self.backend
        ))
    }

    /// Installs a store opened by `initialize`; refuses a second one.
    pub fn open(&self, store: T) -> PyResult<()> {
        let mut inner = self.lock();
        if inner.is_some() {
            let msg = format!(
                "{}: already initialised; call cleanup() first",
                self.backend
            );
            return Err(CoreError::from(Error::Usage(msg)).into());
        }
        *inner = Some(store);
        Ok(())
    }

    /// Takes the store out (for `cleanup`); None if there was none.
    pub fn take(&self) -> Option<T> {
        self.lock().take()
    }
}
