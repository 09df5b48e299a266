//! The head segment: attaching to it, owning it as the writer (with its pool of data
//! segments), its reader table, and waiting on it.

use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use memmap2::{MmapOptions, MmapRaw};
use rustix::fs::{FlockOperation, Mode, OFlags};
use rustix::io::Errno;
use rustix::shm;

use super::layout::{self, Head, HEAD_LEN, HEAD_MAGIC, POOL, SLOTS};
use super::segment::{self, PoolSegment};
use crate::error::{Error, Result};
use crate::futex::{Notifier, WaitOutcome};
use crate::trust::{self, Kind, Trust};

/// A mapping of a store's head.
pub struct HeadHandle {
    map: MmapRaw,
    /// Mapped read-write: a reader can take a slot in the reader table.
    writable: bool,
}

/// What a writer's segment pool has done, for tests and measurements.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Segments created (and sized and faulted in).
    pub created: u64,
    /// Writes into a segment that an earlier write had created.
    pub recycled: u64,
    /// Reader slots freed because their process had died.
    pub reclaimed: u64,
    /// Segments replaced by a new file because a reader held the old one (its memory
    /// stays with the reader's mapping until the reader lets go).
    pub replaced_held: u64,
    /// Segments some reader held at the writer's last look at the reader table.
    pub held: u64,
}

/// How often the writer looks for reader slots whose process died (a dead reader's slot
/// keeps at most one segment from being recycled, for at most this long).
pub const CHECK_INTERVAL: Duration = Duration::from_millis(100);

impl HeadHandle {
    fn head(&self) -> &Head {
        // SAFETY: the mapping is HEAD_LEN bytes (checked when opened), page-aligned, and
        // lives as long as `self`; Head is made of atomics only, which is how every process
        // accesses the shared page.
        unsafe { &*(self.map.as_ptr() as *const Head) }
    }

    /// Maps the head of `store`, read-write where this process may write it (to take a
    /// reader slot), read-only otherwise. None if it does not exist or is not initialised
    /// yet (a writer is creating it). A head that `trust` does not accept (another user's,
    /// writable by others, a link) is refused.
    pub fn open(store: &str, trust: Trust) -> Result<Option<HeadHandle>> {
        let name = layout::head_name(store);
        let path = layout::shm_path(&name);
        let (opened, writable) =
            match trust::open(&path, OFlags::RDWR, Mode::empty(), Kind::File, trust) {
                Ok(fd) => (fd, true),
                // Readable but not writable (a group's reader, say): no slot, reads copy.
                Err(_) => (
                    trust::open(&path, OFlags::RDONLY, Mode::empty(), Kind::File, trust)?,
                    false,
                ),
            };
        let Some(fd) = opened else {
            return Ok(None);
        };
        let size = rustix::fs::fstat(&fd)
            .map_err(|e| Error::io(format!("fstat /dev/shm{name}"), e))?
            .st_size;
        if size < HEAD_LEN as i64 {
            return Ok(None);
        }
        let mut options = MmapOptions::new();
        options.len(HEAD_LEN);
        let map = if writable {
            options.map_raw(&fd)
        } else {
            options.map_raw_read_only(&fd)
        }
        .map_err(|e| Error::io(format!("mapping /dev/shm{name}"), e))?;
        let handle = HeadHandle { map, writable };
        if handle.head().magic.load(Acquire) != HEAD_MAGIC {
            return Ok(None);
        }
        Ok(Some(handle))
    }

    /// The (version, segment) word of the latest snapshot (see [`layout::pack`]).
    pub fn current_word(&self) -> u64 {
        self.head().current.load(SeqCst)
    }

    /// Takes a free reader slot for `pid`; None when the head is read-only here or every
    /// slot is taken.
    pub fn claim_slot(&self, pid: u32) -> Option<usize> {
        if !self.writable {
            return None;
        }
        let slots = &self.head().slots;
        (0..SLOTS).find(|&i| {
            let slot = &slots[i];
            slot.pid.load(Relaxed) == 0
                && slot.pid.compare_exchange(0, pid, SeqCst, Relaxed).is_ok()
        })
    }

    /// Announces that this reader's `slot` maps segment `index` (and no other). SeqCst:
    /// see docs/design.md, "Recycling", for the order this must have with the writer's.
    pub fn pin(&self, slot: usize, index: usize) {
        self.head().slots[slot]
            .segment
            .store(index as u64 + 1, SeqCst);
    }

    /// Announces that this reader's `slot` maps no segment (its holds stay).
    pub fn unpin(&self, slot: usize) {
        self.head().slots[slot].segment.store(0, SeqCst);
    }

    /// Marks segment `index` held by `slot`'s process. Only while the slot pins that
    /// segment (docs/design.md, "Held snapshots", says why). SeqCst, like `pin`.
    pub fn hold(&self, slot: usize, index: usize) {
        let (word, bit) = held_bit(index);
        self.head().slots[slot].held[word].fetch_or(bit, SeqCst);
    }

    /// Clears `slot`'s hold on segment `index`.
    pub fn unhold(&self, slot: usize, index: usize) {
        let (word, bit) = held_bit(index);
        self.head().slots[slot].held[word].fetch_and(!bit, SeqCst);
    }

    /// Gives `slot` back.
    pub fn release_slot(&self, slot: usize) {
        let slot = &self.head().slots[slot];
        clear(slot);
        slot.pid.store(0, Release);
    }

    /// The segments some reader slot is reading, and those some slot holds, as bit sets.
    /// Each slot's pin is loaded before its held set: a reader sets a hold before it
    /// moves its pin, so a scan that sees the moved pin also sees the hold.
    fn pinned(&self) -> (u128, u128) {
        let (mut pinned, mut held) = (0u128, 0u128);
        for slot in &self.head().slots {
            let segment = slot.segment.load(SeqCst);
            if segment != 0 && segment as usize <= POOL {
                pinned |= 1 << (segment - 1);
            }
            held |= slot.held[0].load(SeqCst) as u128;
            held |= (slot.held[1].load(SeqCst) as u128) << 64;
        }
        (pinned, held)
    }

    /// Frees the slots of processes that no longer exist (killed readers); returns how
    /// many.
    fn reclaim_dead(&self) -> u64 {
        let mut freed = 0;
        for slot in &self.head().slots {
            let pid = slot.pid.load(Relaxed);
            if pid == 0 {
                continue;
            }
            let Some(p) = rustix::process::Pid::from_raw(pid as i32) else {
                continue;
            };
            if rustix::process::test_kill_process(p) == Err(Errno::SRCH) {
                // Dead, so it cannot claim, pin or hold meanwhile; a free slot (pid 0)
                // has no segment and holds nothing, so those go first.
                clear(slot);
                if slot.pid.compare_exchange(pid, 0, SeqCst, Relaxed).is_ok() {
                    freed += 1;
                }
            }
        }
        freed
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

/// The word and bit of segment `index` in a slot's held set.
fn held_bit(index: usize) -> (usize, u64) {
    (index / 64, 1 << (index % 64))
}

/// Clears what a slot pins and holds (before its pid, which frees it).
fn clear(slot: &layout::Slot) {
    slot.segment.store(0, SeqCst);
    slot.held[0].store(0, SeqCst);
    slot.held[1].store(0, SeqCst);
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
    /// The segments this writer created and still maps, by index.
    pool: Vec<Option<PoolSegment>>,
    /// Indices that have a file, ours or (at most one) inherited from a dead writer.
    files: u128,
    /// The index of the current snapshot's segment, once there is one.
    current: Option<usize>,
    last_check: Instant,
    stats: Stats,
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
        let writer_head = HeadHandle {
            map,
            writable: true,
        };
        let head = writer_head.head();
        let pid = rustix::process::getpid().as_raw_nonzero().get() as u32;

        let (incarnation, version);
        let mut current = None;
        if head.magic.load(Acquire) == HEAD_MAGIC && head.closed.load(Acquire) == 0 {
            // Its writer died without closing: carry on from its last snapshot, which
            // readers may still be reading, and remove every other segment (one it may
            // have left half-written among them). Removing is safe: readers keep what
            // they mapped, and no index is written again while a slot names it.
            (incarnation, version) = writer_head.current();
            head.writer_pid.store(pid, Relaxed);
            let (published, index) = layout::unpack(writer_head.current_word());
            if published > 0 {
                current = Some(index);
            }
            for i in (0..POOL).filter(|&i| Some(i) != current) {
                segment::remove(store, i);
            }
        } else {
            // New, or closed by a writer that died before removing it: start afresh with a
            // new incarnation so that no reader mixes it up with the old one.
            // The order matters to readers of a closed head that is being reused: version
            // before incarnation (so a new incarnation never pairs with an old version),
            // and `closed` cleared last (so seeing it open means seeing the new state).
            // The reader table stays: a reader of the old incarnation may still pin a
            // segment index, and its slot is freed when it leaves or dies.
            incarnation = crate::names::random_id();
            version = 0;
            head.current.store(0, SeqCst);
            head.version.store(0, Relaxed);
            head.incarnation.store(incarnation, Release);
            head.writer_pid.store(pid, Relaxed);
            head.closed.store(0, Release);
            head.magic.store(HEAD_MAGIC, Release);
            writer_head.bump_and_wake();
            for i in 0..POOL {
                segment::remove(store, i);
            }
        }
        Ok(WriterLock {
            store: store.to_owned(),
            fd,
            head: Arc::new(writer_head),
            incarnation,
            version,
            pool: (0..POOL).map(|_| None).collect(),
            files: current.map_or(0, |i| 1 << i),
            current,
            last_check: Instant::now(),
            stats: Stats::default(),
        })
    }

    /// The head, for reading through the same mapping.
    pub fn head(&self) -> Arc<HeadHandle> {
        self.head.clone()
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Writes `blob` into a free segment (recycled when one fits, created otherwise), then
    /// makes it current.
    pub fn publish(&mut self, blob: &[u8]) -> Result<u64> {
        let version = self.version + 1;
        let (index, held) = self.free_segment(blob.len())?;
        let (store, incarnation) = (&self.store, self.incarnation);
        let entry = &mut self.pool[index];
        match entry {
            Some(segment)
                if !held && segment.fits(blob.len()) && !segment.too_large_for(blob.len()) =>
            {
                segment.write(incarnation, version, blob);
                self.stats.recycled += 1;
            }
            _ => {
                // Dropped (unmapped) first: it is replaced. A held file keeps its pages
                // for the readers that map it; only its name goes.
                if held && entry.is_some() {
                    self.stats.replaced_held += 1;
                }
                *entry = None;
                let mut segment = PoolSegment::create(store, index, blob.len())?;
                self.files |= 1 << index;
                segment.write(incarnation, version, blob);
                *entry = Some(segment);
                self.stats.created += 1;
            }
        }
        let head = self.head.head();
        // SeqCst: the previous segment is retired by this store, which every later scan
        // of the reader table follows (docs/design.md, "Recycling"). Its Release half
        // makes the segment's bytes visible to whoever loads the word.
        head.current.store(layout::pack(version, index), SeqCst);
        head.version.store(version, Release);
        self.head.bump_and_wake();
        self.version = version;
        self.current = Some(index);
        Ok(version)
    }

    /// A segment index that no reader can be reading, nor about to read: not the current
    /// one, pinned by no slot; and whether some slot holds it (then its file must be
    /// replaced, never rewritten). Prefers a segment of ours that fits and is not held.
    fn free_segment(&mut self, blob_len: usize) -> Result<(usize, bool)> {
        if self.last_check.elapsed() >= CHECK_INTERVAL {
            self.reclaim();
        }
        for attempt in 0..2 {
            let (mut busy, held) = self.head.pinned();
            self.stats.held = u64::from(held.count_ones());
            if let Some(current) = self.current {
                busy |= 1 << current;
            }
            let free = |i: &usize| busy & (1 << i) == 0;
            let unheld = |i: &usize| held & (1 << i) == 0;
            let fitting = (0..POOL)
                .filter(free)
                .filter(unheld)
                .filter_map(|i| Some((i, self.pool[i].as_ref()?)))
                .filter(|(_, s)| s.fits(blob_len) && !s.too_large_for(blob_len))
                .min_by_key(|(_, s)| s.capacity());
            if let Some((i, _)) = fitting {
                return Ok((i, false));
            }
            // Replace one of ours that does not fit, else take an index without a file,
            // else one with an inherited file, else one whose file a reader holds.
            let replace = (0..POOL)
                .filter(free)
                .filter(unheld)
                .find(|&i| self.pool[i].is_some());
            let empty = (0..POOL).filter(free).find(|&i| self.files & (1 << i) == 0);
            let other = (0..POOL).filter(free).find(unheld);
            if let Some(i) = replace.or(empty).or(other).or((0..POOL).find(free)) {
                return Ok((i, held & (1 << i) != 0));
            }
            if attempt == 0 {
                self.reclaim();
            }
        }
        Err(Error::io(
            format!(
                "shared-memory store {:?}: every data segment is in use by a reader",
                self.store
            ),
            Errno::AGAIN,
        ))
    }

    fn reclaim(&mut self) {
        self.stats.reclaimed += self.head.reclaim_dead();
        self.last_check = Instant::now();
    }

    /// Marks the store closed (waking waiters), then removes its segments and the head.
    pub fn close(self) -> Result<()> {
        self.head.head().closed.store(1, Release);
        self.head.bump_and_wake();
        for i in (0..POOL).filter(|i| self.files & (1 << i) != 0) {
            segment::remove(&self.store, i);
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
