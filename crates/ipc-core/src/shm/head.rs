//! The head segment: attaching to it, owning it as the writer, and waiting on it.

use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::Arc;
use std::time::Duration;

use memmap2::{MmapOptions, MmapRaw};
use rustix::fs::{FlockOperation, Mode, OFlags};
use rustix::io::Errno;
use rustix::shm;

use super::layout::{self, Head, HEAD_LEN, HEAD_MAGIC};
use super::segment;
use crate::error::{Error, Result};
use crate::futex::{Notifier, WaitOutcome};
use crate::trust::{self, Kind, Trust};

/// A mapping of a store's head.
pub struct HeadHandle {
    map: MmapRaw,
}

impl HeadHandle {
    fn head(&self) -> &Head {
        // SAFETY: the mapping is HEAD_LEN bytes (checked when opened), page-aligned, and
        // lives as long as `self`; Head is made of atomics only, which is how every process
        // accesses the shared page.
        unsafe { &*(self.map.as_ptr() as *const Head) }
    }

    /// Maps the head of `store` read-only. None if it does not exist or is not
    /// initialised yet (a writer is creating it). A head that `trust` does not accept
    /// (another user's, writable by others, a link) is refused.
    pub fn open(store: &str, trust: Trust) -> Result<Option<HeadHandle>> {
        let name = layout::head_name(store);
        let path = layout::shm_path(&name);
        let Some(fd) = trust::open(&path, OFlags::RDONLY, Mode::empty(), Kind::File, trust)? else {
            return Ok(None);
        };
        let size = rustix::fs::fstat(&fd)
            .map_err(|e| Error::io(format!("fstat /dev/shm{name}"), e))?
            .st_size;
        if size < HEAD_LEN as i64 {
            return Ok(None);
        }
        let map = MmapOptions::new()
            .len(HEAD_LEN)
            .map_raw_read_only(&fd)
            .map_err(|e| Error::io(format!("mapping /dev/shm{name}"), e))?;
        let handle = HeadHandle { map };
        if handle.head().magic.load(Acquire) != HEAD_MAGIC {
            return Ok(None);
        }
        Ok(Some(handle))
    }

    pub fn is_closed(&self) -> bool {
        self.head().closed.load(Acquire) != 0
    }

    /// Latest version; 0 before the first write.
    pub fn version(&self) -> u64 {
        self.head().version.load(Acquire)
    }

    /// (incarnation, version), read so that both belong to the same state of the head.
    pub fn current(&self) -> (u64, u64) {
        let head = self.head();
        loop {
            let incarnation = head.incarnation.load(Acquire);
            let version = head.version.load(Acquire);
            if head.incarnation.load(Acquire) == incarnation {
                return (incarnation, version);
            }
        }
    }

    pub fn writer_pid(&self) -> u32 {
        self.head().writer_pid.load(Relaxed)
    }

    fn bump_and_wake(&self) {
        crate::futex::wake_all(&self.head().futex);
    }
}

impl Notifier for Arc<HeadHandle> {
    /// Sleeps until the version exceeds `after`, the store closes, or `timeout` passes.
    fn wait_newer(&self, after: u64, timeout: Duration) -> Result<WaitOutcome> {
        let head = self.head();
        let outcome = crate::futex::wait_until(&head.futex, timeout, || {
            if self.is_closed() {
                return Some(WaitOutcome::Closed);
            }
            let version = head.version.load(Acquire);
            (version > after).then_some(WaitOutcome::Newer(version))
        });
        Ok(outcome.unwrap_or(WaitOutcome::TimedOut))
    }
}

/// Creates the head (`O_EXCL`), or opens the existing one without following a link; an
/// existing head must pass the writer's check (its own, writable by it alone).
fn open_or_create(name: &str, label: &str) -> Result<OwnedFd> {
    let path = layout::shm_path(name);
    // A head removed between the two opens (its writer closing) is created again; more
    // races than this in a row mean something else is at work.
    for _ in 0..100 {
        let flags = OFlags::CREATE | OFlags::EXCL | OFlags::RDWR | OFlags::CLOEXEC;
        match rustix::fs::open(&path, flags, Mode::RUSR | Mode::WUSR) {
            Ok(fd) => {
                trust::check_fd(&fd, &path, Kind::File, Trust::OWN)?;
                return Ok(fd);
            }
            Err(Errno::EXIST) => {}
            Err(e) => {
                return Err(Error::io(
                    format!("{label}: creating {}", path.display()),
                    e,
                ))
            }
        }
        if let Some(fd) = trust::open(&path, OFlags::RDWR, Mode::empty(), Kind::File, Trust::OWN)? {
            return Ok(fd);
        }
    }
    Err(Error::io(
        format!(
            "{label}: opening {} (it kept being replaced)",
            path.display()
        ),
        Errno::AGAIN,
    ))
}

/// The writer's hold on a store: an exclusive flock on the head. The kernel drops it when
/// the process dies, however it dies, which is how a new writer knows it may take over.
pub struct WriterLock {
    store: String,
    fd: OwnedFd,
    head: Arc<HeadHandle>,
    incarnation: u64,
    version: u64,
}

impl WriterLock {
    /// Opens or creates the head and locks it; initialises it when new (or closed), takes it
    /// over when its previous writer died. Never takes over a head of another user, one
    /// others can write to, or a link: those are refused ([`Error::Untrusted`]).
    pub fn acquire(store: &str) -> Result<WriterLock> {
        let name = layout::head_name(store);
        let label = format!("shared-memory store {store:?}");
        let fd = open_or_create(&name, &label)?;
        if let Err(e) = rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
            if e == Errno::WOULDBLOCK {
                let pid = HeadHandle::open(store, Trust::OWN)
                    .ok()
                    .flatten()
                    .map(|h| h.writer_pid());
                return Err(Error::WriterExists { store: label, pid });
            }
            return Err(Error::io(format!("{label}: locking /dev/shm{name}"), e));
        }
        let size = rustix::fs::fstat(&fd)
            .map_err(|e| Error::io(format!("fstat /dev/shm{name}"), e))?
            .st_size;
        if size < HEAD_LEN as i64 {
            rustix::fs::ftruncate(&fd, HEAD_LEN as u64)
                .map_err(|e| Error::io(format!("{label}: sizing /dev/shm{name}"), e))?;
        }
        let map = MmapOptions::new()
            .len(HEAD_LEN)
            .map_raw(&fd)
            .map_err(|e| Error::io(format!("mapping /dev/shm{name}"), e))?;
        let writer_head = HeadHandle { map };
        let head = writer_head.head();
        let pid = rustix::process::getpid().as_raw_nonzero().get() as u32;

        let (incarnation, version);
        if head.magic.load(Acquire) == HEAD_MAGIC && head.closed.load(Acquire) == 0 {
            // Its writer died without closing: carry on from its last snapshot, which
            // readers may still be reading, and remove what it may have left half-done.
            (incarnation, version) = writer_head.current();
            head.writer_pid.store(pid, Relaxed);
            segment::remove(store, version + 1);
            if version > 1 {
                segment::remove(store, version - 1);
            }
        } else {
            // New, or closed by a writer that died before removing it: start afresh with a
            // new incarnation so that no reader mixes it up with the old one.
            // The order matters to readers of a closed head that is being reused: version
            // before incarnation (so a new incarnation never pairs with an old version),
            // and `closed` cleared last (so seeing it open means seeing the new state).
            incarnation = crate::names::random_id();
            version = 0;
            head.version.store(0, Relaxed);
            head.incarnation.store(incarnation, Release);
            head.writer_pid.store(pid, Relaxed);
            head.closed.store(0, Release);
            head.magic.store(HEAD_MAGIC, Release);
            writer_head.bump_and_wake();
        }
        Ok(WriterLock {
            store: store.to_owned(),
            fd,
            head: Arc::new(writer_head),
            incarnation,
            version,
        })
    }

    /// The head, for reading through the same mapping.
    pub fn head(&self) -> Arc<HeadHandle> {
        self.head.clone()
    }

    /// Writes `blob` into a new segment, then makes it current.
    pub fn publish(&mut self, blob: &[u8]) -> Result<u64> {
        let version = self.version + 1;
        segment::create(&self.store, self.incarnation, version, blob)?;
        let head = self.head.head();
        // Release: whoever loads this version (Acquire) sees the segment fully written.
        head.version.store(version, Release);
        self.head.bump_and_wake();
        self.version = version;
        // Readers that mapped the previous version keep their mapping; readers about to
        // open it will find it gone and retry with the new version.
        if version > 1 {
            segment::remove(&self.store, version - 1);
        }
        Ok(version)
    }

    /// Marks the store closed (waking waiters), then removes its segments and the head.
    pub fn close(self) -> Result<()> {
        self.head.head().closed.store(1, Release);
        self.head.bump_and_wake();
        if self.version > 0 {
            segment::remove(&self.store, self.version);
        }
        let name = layout::head_name(&self.store);
        let result = match shm::unlink(&name) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(Error::io(format!("removing /dev/shm{name}"), e)),
        };
        drop(self.fd); // releases the lock last, so no second writer can slip in earlier
        result
    }
}
