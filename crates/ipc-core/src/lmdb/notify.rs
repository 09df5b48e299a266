//! The notify file (`<dir>/ipcb_notify`): what LMDB lacks for one writer and waiting
//! readers. A page of atomics, mapped by every process: a futex word the writer bumps
//! after each commit (readers sleep on it instead of polling), a closed flag, and the
//! writer's pid. The writer also holds an exclusive flock on this file for as long as it
//! lives, which is how a second writer is refused and a dead writer's successor admitted.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::Arc;
use std::time::Duration;

use memmap2::{MmapOptions, MmapRaw};
use rustix::fs::{FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use super::layout::NOTIFY_FILE;
use crate::error::{Error, Result};
use crate::trust::{self, Kind, Trust};

/// "IPCBNTF1": set last when a writer initialises the file (Release), so a reader that
/// sees it (Acquire) sees the other fields and an LMDB environment that exists.
const MAGIC: u64 = u64::from_le_bytes(*b"IPCBNTF1");
const LEN: usize = 4096;

#[repr(C)]
struct Word {
    magic: AtomicU64,
    writer_pid: AtomicU32,
    /// 1 once a writer began removing the store: nothing more will be published there.
    closed: AtomicU32,
    /// Incremented, then woken, after every commit and on close.
    futex: AtomicU32,
}

const _: () = assert!(std::mem::size_of::<Word>() <= LEN);

/// A mapping of a store's notify file.
pub struct Notify {
    map: MmapRaw,
}

impl Notify {
    fn word(&self) -> &Word {
        // SAFETY: the mapping is LEN bytes (the file's size was checked before mapping),
        // page-aligned and lives as long as `self`; Word is made of atomics only, which is
        // how every process accesses the shared page.
        unsafe { &*(self.map.as_ptr() as *const Word) }
    }

    /// Maps the notify file of the store in `dir` read-only. None while there is none, or
    /// its writer has not finished initialising it. A file `trust` does not accept is
    /// refused.
    pub fn open(dir: &Path, label: &str, trust: Trust) -> Result<Option<Notify>> {
        let path = dir.join(NOTIFY_FILE);
        let Some(fd) = trust::open(&path, OFlags::RDONLY, Mode::empty(), Kind::File, trust)? else {
            return Ok(None);
        };
        match map(&fd, false, &path, label)? {
            Some(notify) if notify.word().magic.load(Acquire) == MAGIC => Ok(Some(notify)),
            _ => Ok(None),
        }
    }

    pub fn is_closed(&self) -> bool {
        self.word().closed.load(Acquire) != 0
    }

    pub fn writer_pid(&self) -> u32 {
        self.word().writer_pid.load(Relaxed)
    }

    /// Sleeps on the futex word until `ready` returns Some or `timeout` passes; see
    /// `futex::wait_until` for why no wake-up is lost.
    pub fn wait_until<T>(&self, timeout: Duration, ready: impl FnMut() -> Option<T>) -> Option<T> {
        crate::futex::wait_until(&self.word().futex, timeout, ready)
    }

    fn wake(&self) {
        crate::futex::wake_all(&self.word().futex);
    }
}

/// Maps `fd` (LEN bytes); None if the file is shorter (a writer is creating it).
fn map(fd: &OwnedFd, write: bool, path: &Path, label: &str) -> Result<Option<Notify>> {
    let size = rustix::fs::fstat(fd)
        .map_err(|e| Error::io(format!("{label}: fstat {}", path.display()), e))?
        .st_size;
    if size < LEN as i64 {
        return Ok(None);
    }
    let options = {
        let mut o = MmapOptions::new();
        o.len(LEN);
        o
    };
    let map = if write {
        options.map_raw(fd)
    } else {
        options.map_raw_read_only(fd)
    }
    .map_err(|e| Error::io(format!("{label}: mapping {}", path.display()), e))?;
    Ok(Some(Notify { map }))
}

/// The writer's hold on a store: an exclusive flock on its notify file. The kernel drops
/// it when the process dies, however it dies, so a new writer can then take over.
pub struct WriterLock {
    fd: OwnedFd,
    path: PathBuf,
    notify: Arc<Notify>,
}

/// A writer that finds the lock file replaced under it (its previous writer was removing
/// the store) opens it again; more than this many times in a row means something else is
/// at work, and it gives up.
const MAX_REOPEN: u32 = 100;

impl WriterLock {
    /// Opens or creates the notify file in `dir` (which must exist) and locks it. Fails
    /// with [`Error::WriterExists`] while another writer holds it.
    pub fn acquire(dir: &Path, label: &str) -> Result<WriterLock> {
        let path = dir.join(NOTIFY_FILE);
        let what = |doing: &str| format!("{label}: {doing} {}", path.display());
        for _ in 0..MAX_REOPEN {
            let flags = OFlags::CREATE | OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let fd =
                rustix::fs::open(&path, flags, Mode::RUSR | Mode::WUSR).map_err(|e| match e {
                    Errno::LOOP => trust::open_failed(&path, Kind::File, Trust::OWN, e),
                    _ => Error::io(what("creating"), e),
                })?;
            // Only a file of ours that nobody else can write to is ours to lock and map.
            trust::check_fd(&fd, &path, Kind::File, Trust::OWN)?;
            if let Err(e) = rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
                if e == Errno::WOULDBLOCK {
                    let pid = map(&fd, false, &path, label)
                        .ok()
                        .flatten()
                        .map(|n| n.writer_pid())
                        .filter(|&pid| pid != 0);
                    return Err(Error::WriterExists {
                        store: label.to_owned(),
                        pid,
                    });
                }
                return Err(Error::io(what("locking"), e));
            }
            // A writer that was removing the store may have unlinked the file between our
            // open and our lock: then we hold a lock nobody else will ever look at. Only a
            // lock on the file that is at the path counts.
            let ours = rustix::fs::fstat(&fd).map_err(|e| Error::io(what("fstat"), e))?;
            match rustix::fs::stat(&path) {
                Ok(now) if (now.st_dev, now.st_ino) == (ours.st_dev, ours.st_ino) => {}
                Ok(_) | Err(Errno::NOENT) => continue,
                Err(e) => return Err(Error::io(what("stat"), e)),
            }
            if ours.st_size < LEN as i64 {
                rustix::fs::ftruncate(&fd, LEN as u64).map_err(|e| Error::io(what("sizing"), e))?;
            }
            let notify = map(&fd, true, &path, label)?
                .ok_or_else(|| Error::io(what("sizing"), Errno::IO))?;
            return Ok(WriterLock {
                fd,
                path,
                notify: Arc::new(notify),
            });
        }
        Err(Error::io(
            what("locking (the file kept being replaced)"),
            Errno::AGAIN,
        ))
    }

    /// Marks the store open and written by this process, once its environment is ready.
    /// Wakes waiters, so that readers of a store closed earlier notice the new writer.
    pub fn init(&self) {
        let word = self.notify.word();
        let pid = rustix::process::getpid().as_raw_nonzero().get() as u32;
        word.writer_pid.store(pid, Relaxed);
        word.closed.store(0, Release);
        word.magic.store(MAGIC, Release);
        self.notify.wake();
    }

    /// The mapping, for reading and waiting through the same pages.
    pub fn notify(&self) -> Arc<Notify> {
        self.notify.clone()
    }

    /// Tells waiters that a commit happened. Called after the commit returned, so that a
    /// woken reader's read transaction sees it.
    pub fn published(&self) {
        self.notify.wake();
    }

    /// Marks the store closed and wakes every waiter (before the store is removed).
    pub fn mark_closed(&self) {
        self.notify.word().closed.store(1, Release);
        self.notify.wake();
    }

    /// Gives up a store this writer could not open: removes the notify file if no writer
    /// ever initialised it (this one created it), then releases the lock.
    pub fn discard_if_new(self) {
        if self.notify.word().magic.load(Acquire) != MAGIC {
            let _ = rustix::fs::unlink(&self.path);
        }
    }

    /// Removes the notify file, then releases the lock: a successor can take over only
    /// once the old file is gone, so nobody locks a file about to be unlinked.
    pub fn remove_and_release(self) -> Result<()> {
        let result = match rustix::fs::unlink(&self.path) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(Error::io(format!("removing {}", self.path.display()), e)),
        };
        drop(self.fd);
        result
    }
}
