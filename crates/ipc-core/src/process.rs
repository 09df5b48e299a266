//! Which process a store belongs to, so that a forked child leaves its parent's alone.
//!
//! A child made by `fork` (a PyTorch DataLoader worker, a `multiprocessing` fork-context
//! worker) inherits copies of its parent's stores. Those copies share the parent's files,
//! segments and sockets but not its threads, and ZeroMQ's contexts do not survive a fork
//! at all. So a store remembers its [`Owner`], as CPython's `multiprocessing` finalizers
//! remember their pid: in any other process, using it is an [`Error::Usage`], and closing
//! or dropping it only lets go of what is local to that process, never what is shared.
//!
//! Telling processes apart must be cheap, since `get` asks every time: glibc does not
//! cache `getpid()`, so each call is a system call. Instead a `pthread_atfork` handler,
//! registered when the first store is opened, bumps a process-wide fork generation in
//! every child; a check is one atomic load. The pid is kept only for messages.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Once;

use crate::error::{Error, Result};

/// Incremented in the child by every `fork`: equal generations mean the same process.
static GENERATION: AtomicU64 = AtomicU64::new(0);

extern "C" fn forked_child() {
    // Async-signal-safe: one atomic add, no allocation, no lock.
    GENERATION.fetch_add(1, Relaxed);
}

fn watch_forks() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // SAFETY: registers a handler (above) that only does an atomic add, which is safe
        // to run in the child of a fork of a multithreaded process.
        let rc = unsafe { libc::pthread_atfork(None, None, Some(forked_child)) };
        // It fails only without memory for the handler: fork safety cannot be promised.
        assert_eq!(rc, 0, "pthread_atfork failed ({rc})");
    });
}

fn current_pid() -> u32 {
    std::process::id()
}

/// The process that opened a store.
#[derive(Debug, Clone, Copy)]
pub struct Owner {
    generation: u64,
    pid: u32,
}

impl Owner {
    /// This process. Call when opening a store, before any fork it must survive.
    pub fn current() -> Owner {
        watch_forks();
        Owner {
            generation: GENERATION.load(Relaxed),
            pid: current_pid(),
        }
    }

    /// Whether this is still the process that opened the store (one atomic load).
    #[inline]
    pub fn is_current(&self) -> bool {
        GENERATION.load(Relaxed) == self.generation
    }

    /// The pid of the process that opened the store.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Ok in the owning process; elsewhere a [`Error::Usage`] naming both processes.
    /// `label` names the store.
    #[inline]
    pub fn check(&self, label: impl FnOnce() -> String) -> Result<()> {
        if self.is_current() {
            Ok(())
        } else {
            Err(self.misuse(&label()))
        }
    }

    /// The [`Error::Usage`] of using, in another process, a store this owner opened.
    #[cold]
    pub fn misuse(&self, label: &str) -> Error {
        Error::Usage(format!(
            "{label}: this store was opened in process {}; open a new one in this process \
             ({})",
            self.pid,
            current_pid()
        ))
    }
}

/// The owner of whatever a holder holds now, readable without a lock: for a holder
/// whose lock a forked child must not wait for, since a thread of the parent that no
/// longer exists may hold it (the bindings' `Opened`).
#[derive(Debug, Default)]
pub struct OwnerCell {
    /// The owner's generation + 1; 0 while nothing was opened.
    generation: AtomicU64,
    pid: AtomicU32,
}

impl OwnerCell {
    /// Records this process as the owner.
    pub fn set_current(&self) {
        let owner = Owner::current();
        self.pid.store(owner.pid, Relaxed);
        self.generation.store(owner.generation + 1, Relaxed);
    }

    /// The owner, if something was opened and not in this process.
    #[inline]
    pub fn foreign(&self) -> Option<Owner> {
        match self.generation.load(Relaxed) {
            0 => None,
            g if g - 1 == GENERATION.load(Relaxed) => None,
            g => Some(Owner {
                generation: g - 1,
                pid: self.pid.load(Relaxed),
            }),
        }
    }
}

/// Leaks `value` on purpose: in a process that does not own it, dropping it would act on
/// the owner's resources (close its sockets, join threads that do not exist here).
pub fn abandon<T>(value: T) {
    std::mem::forget(value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_is_current_until_a_fork() {
        let owner = Owner::current();
        assert!(owner.is_current());
        assert!(owner.check(|| "store".into()).is_ok());
        assert_eq!(owner.pid(), std::process::id());
    }

    #[test]
    fn a_forked_child_is_another_owner() {
        let owner = Owner::current();
        let cell = OwnerCell::default();
        assert!(cell.foreign().is_none(), "nothing opened yet");
        cell.set_current();
        assert!(cell.foreign().is_none());
        let mut fds = [0; 2];
        // SAFETY: a plain pipe into a live array of two descriptors.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let [rx, tx] = fds;
        // SAFETY: the child only loads an atomic, formats a message, writes one byte to a
        // pipe and _exits: it runs no destructor and takes no lock another thread of the
        // test harness could hold (the allocator's are reset by glibc's fork).
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let ok = !owner.is_current()
                && cell.foreign().is_some_and(|o| o.pid() == owner.pid())
                && Owner::current().is_current()
                && match owner.check(|| "store \"x\"".into()) {
                    Err(Error::Usage(msg)) => msg.contains(&format!(
                        "store \"x\": this store was opened in process {}; open a new one \
                         in this process ({})",
                        owner.pid(),
                        std::process::id()
                    )),
                    _ => false,
                };
            let byte = [u8::from(ok)];
            // SAFETY: writes one byte from a live buffer, then ends the child at once.
            unsafe {
                libc::write(tx, byte.as_ptr().cast(), 1);
                libc::_exit(0);
            }
        }
        let mut byte = [0u8];
        // SAFETY: reads one byte into a live buffer; waits for the child we forked.
        unsafe {
            libc::close(tx);
            assert_eq!(libc::read(rx, byte.as_mut_ptr().cast(), 1), 1);
            libc::close(rx);
            let mut status = 0;
            assert_eq!(libc::waitpid(pid, &mut status, 0), pid);
        }
        assert_eq!(byte[0], 1, "the child saw itself as the owner");
        assert!(owner.is_current(), "the parent lost its ownership");
    }
}
