//! A shared-memory dictionary: one writer publishes snapshots, any number of readers map
//! the latest one and decode straight from it.
//!
//! Each snapshot is written into a data segment `/dev/shm/ipcb_shm_<name>.<index>` of a
//! small pool; the head `/dev/shm/ipcb_shm_<name>` says which version is current and
//! which segment holds it, and carries a reader table in which each reader names the
//! segment it maps. The writer fills a segment completely before the head names it, and
//! rewrites a segment only once neither the head nor any reader slot names it, so a
//! reader decodes a complete snapshot that does not change under it. docs/design.md gives
//! the full argument.

mod head;
mod held;
mod layout;
mod segment;

use std::sync::Arc;
use std::time::Duration;

use rustix::io::Errno;

use crate::codec::KeyRef;
use crate::error::{Error, Result};
use crate::names;
use crate::process::Owner;
use crate::store::{self, HeldBlob, ReadError, SinkOf, SnapshotId, Store};
use crate::trust::Trust;

pub use head::{HeadHandle, Stats, CHECK_INTERVAL};
pub use held::Held;
use held::{SegmentHold, SlotLease};
pub use layout::SLOTS;
use segment::Mapping;

/// A published snapshot, as [`ShmStore::latest`] and [`ShmStore::hold`] hand it out.
pub type Snapshot = Held;

/// How [`Store::open`] opens a store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// A reader's: another owner whose store it reads (see [`ShmStore::attach_trusting`]).
    pub trust: Trust,
}

/// One process's handle on a store: the writer's, or a reader's.
pub struct ShmStore {
    name: String,
    /// The process that opened it; in any other (a forked child) it is inert.
    owner: Owner,
    writer: Option<head::WriterLock>,
    head: Option<Arc<HeadHandle>>,
    /// The snapshot read last, held (it lives on in whatever `hold` handed out).
    cached: Option<Arc<Held>>,
    /// A reader's slot in the head's reader table, once it has one (shared with the
    /// snapshots it holds, which keep it after the store lets go).
    slot: Option<Arc<SlotLease>>,
    /// A reader's mappings of the pool's segments, by index (kept: a segment is mapped
    /// once, not once per version).
    maps: Vec<Option<Arc<Mapping>>>,
    /// A reader saw the writer close the store and has not seen a new writer since.
    saw_close: bool,
    closed_here: bool,
    /// Whose head and segments this handle accepts (see [`crate::trust`]).
    trust: Trust,
}

/// A reader gives up after this many consecutive races with a publishing writer (each race
/// means a newer version appeared while it was opening the previous one).
const MAX_RACES: u32 = 10_000;

impl ShmStore {
    /// Becomes the writer of `name`, creating the store or taking over one whose writer
    /// died. Fails with [`Error::WriterExists`] while another writer is alive.
    pub fn create(name: &str) -> Result<Self> {
        names::validate(name)?;
        let lock = head::WriterLock::acquire(name)?;
        Ok(ShmStore {
            name: name.to_owned(),
            owner: Owner::current(),
            head: Some(lock.head()),
            writer: Some(lock),
            cached: None,
            slot: None,
            maps: Vec::new(),
            saw_close: false,
            closed_here: false,
            trust: Trust::OWN,
        })
    }

    /// A reader of `name`. The store need not exist yet: reads return None until the
    /// writer has published. Only a store of the current user is read.
    pub fn attach(name: &str) -> Result<Self> {
        Self::attach_trusting(name, Trust::OWN)
    }

    /// A reader of `name` that also reads a store of the owner `trust` names. A store of
    /// anyone else, or one others can write to, is refused ([`Error::Untrusted`]).
    pub fn attach_trusting(name: &str, trust: Trust) -> Result<Self> {
        names::validate(name)?;
        let mut store = ShmStore {
            name: name.to_owned(),
            owner: Owner::current(),
            writer: None,
            head: None,
            cached: None,
            slot: None,
            maps: Vec::new(),
            saw_close: false,
            closed_here: false,
            trust,
        };
        store.head_handle()?;
        Ok(store)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn is_writer(&self) -> bool {
        self.writer.is_some()
    }

    pub fn label(&self) -> String {
        format!("shared-memory store {:?}", self.name)
    }

    fn check_open(&self) -> Result<()> {
        self.owner.check(|| self.label())?;
        if self.closed_here {
            return Err(Error::Usage(format!(
                "{}: used after cleanup()",
                self.label()
            )));
        }
        Ok(())
    }

    /// Publishes `blob` as the next version and returns that version. Readers see the
    /// previous snapshot until this returns, and this one from then on.
    pub fn publish(&mut self, blob: &[u8]) -> Result<u64> {
        self.check_open()?;
        let label = self.label();
        let Some(lock) = self.writer.as_mut() else {
            return Err(Error::Usage(format!("{label}: only the writer can write")));
        };
        lock.publish(blob)
    }

    /// What the writer's segment pool has done; None for a reader.
    pub fn stats(&self) -> Option<Stats> {
        self.writer.as_ref().map(|w| w.stats())
    }

    /// A reader's slot in the reader table, if it has taken one (it does at its first
    /// read of a snapshot).
    pub fn reader_slot(&self) -> Option<usize> {
        self.slot.as_ref().map(|lease| lease.slot())
    }

    /// Lets go of what this reader holds in the current head: its snapshot, its mappings
    /// and (in the process that opened the store) its slot.
    /// The slot is given back once no snapshot held from it is left.
    fn leave_head(&mut self) {
        self.cached = None;
        self.maps.clear();
        if let Some(lease) = self.slot.take() {
            lease.unpin();
        }
    }

    /// The head, attaching to it first if this reader is not attached yet. None when no
    /// writer has created the store; [`Error::Closed`] after the writer closed it.
    pub fn head_handle(&mut self) -> Result<Option<Arc<HeadHandle>>> {
        Ok(self.attached()?.map(|_| ()).and(self.head.clone()))
    }

    /// Like [`ShmStore::head_handle`], borrowed: the hot paths skip the reference count.
    fn attached(&mut self) -> Result<Option<&HeadHandle>> {
        self.check_open()?;
        if let Some(head) = &self.head {
            if !head.is_closed() {
                return Ok(self.head.as_deref());
            }
            // The writer closed this head. Forget it and look for a successor under the
            // same name (a writer that restarted).
            self.leave_head();
            self.head = None;
            self.saw_close = true;
        }
        match HeadHandle::open(&self.name, self.trust)? {
            Some(head) if !head.is_closed() => {
                self.saw_close = false;
                self.head = Some(Arc::new(head));
                Ok(self.head.as_deref())
            }
            _ if self.saw_close => Err(Error::Closed {
                store: self.label(),
            }),
            _ => Ok(None),
        }
    }

    /// The latest version, 0 before the first write. Costs one atomic load once attached.
    pub fn version(&mut self) -> Result<u64> {
        Ok(self.attached()?.map_or(0, |h| h.version()))
    }

    /// The latest snapshot, mapped; None before the first write. Touches only the head
    /// when the version has not changed since the last call.
    pub fn latest(&mut self) -> Result<Option<&Arc<Held>>> {
        let mut races = 0;
        loop {
            let Some(head) = self.attached()? else {
                return Ok(None);
            };
            let (incarnation, version) = head.current();
            if version == 0 {
                return Ok(None);
            }
            let fresh = self
                .cached
                .as_ref()
                .is_some_and(|s| s.version() == version && s.incarnation() == incarnation);
            if fresh {
                return Ok(self.cached.as_ref());
            }
            if self.next_snapshot(incarnation)? {
                return Ok(self.cached.as_ref());
            }
            races += 1;
            if races >= MAX_RACES {
                return Err(Error::io(
                    format!(
                        "{}: the writer kept replacing the snapshot while it was being opened",
                        self.label()
                    ),
                    Errno::AGAIN,
                ));
            }
        }
    }

    /// Replaces the cached snapshot by the current one; false if the writer moved on
    /// meanwhile (try again). docs/design.md, "Recycling", has the protocol.
    #[inline(never)]
    fn next_snapshot(&mut self, incarnation: u64) -> Result<bool> {
        let head = self.head.clone().expect("attached");
        let word = head.current_word();
        let (version, index) = layout::unpack(word);
        if version == 0 || index >= layout::POOL {
            return Ok(false);
        }
        if self.slot.is_none() && self.maps.is_empty() {
            // First snapshot in this head: take a slot (a reader that gets none copies).
            self.slot = head
                .claim_slot(self.owner.pid())
                .map(|slot| SlotLease::new(head.clone(), slot, self.owner));
            self.maps = (0..layout::POOL).map(|_| None).collect();
        }
        let Some(lease) = self.slot.clone() else {
            return self.copy_snapshot(incarnation, version, index);
        };
        // Pin first (this unpins the cached snapshot, dropped here: held elsewhere, it
        // stays held), then check that the head still names the segment: if so, the
        // writer will not rewrite it while the slot names it. Both SeqCst.
        self.cached = None;
        lease.pin(index);
        if head.current_word() != word {
            return Ok(false);
        }
        let mut reopened = false;
        let map = loop {
            let map = match &self.maps[index] {
                Some(map) if !reopened => map.clone(),
                _ => {
                    reopened = true;
                    let Some(map) = Mapping::open(&self.name, index, self.trust)? else {
                        return Ok(false);
                    };
                    self.maps[index] = Some(map.clone());
                    map
                }
            };
            if map.id() == (incarnation, version) {
                break map;
            }
            if reopened {
                // Pinned and current, so not a race with the writer: another incarnation
                // (the store was re-created meanwhile) or damage; look again.
                return Ok(false);
            }
            // Our mapping is of a file the writer has since replaced: map the new one.
            reopened = true;
        };
        let Some(len) = map.blob_len() else {
            return Err(Error::io(
                format!(
                    "{}: segment {index} claims more bytes than it holds",
                    self.label()
                ),
                Errno::INVAL,
            ));
        };
        // Held while the pin still names the segment, so that it is covered throughout.
        let id = SnapshotId {
            incarnation,
            version,
        };
        let hold = SegmentHold::new(&lease, index);
        self.cached = Some(Arc::new(Held::mapped(id, map, len, hold)));
        Ok(true)
    }

    /// For a reader without a slot: copies the snapshot out under the segment's sequence
    /// word instead of pinning it.
    #[cold]
    fn copy_snapshot(&mut self, incarnation: u64, version: u64, index: usize) -> Result<bool> {
        for fresh in [false, true] {
            let map = match &self.maps[index] {
                Some(map) if !fresh => map.clone(),
                _ => {
                    let Some(map) = Mapping::open(&self.name, index, self.trust)? else {
                        return Ok(false);
                    };
                    self.maps[index] = Some(map.clone());
                    map
                }
            };
            if let Some(blob) = map.copy_blob(incarnation, version) {
                let id = SnapshotId {
                    incarnation,
                    version,
                };
                self.cached = Some(Arc::new(Held::copied(id, blob)));
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The latest snapshot, held: it stays valid and unchanged until dropped, whatever
    /// the writer does meanwhile (publishes, recycles, closes the store), and whatever
    /// this store does (reads newer versions, closes). None before the first write.
    /// Costs nothing more than [`ShmStore::latest`]: every snapshot a reader reads is
    /// held anyway; this hands out a reference.
    pub fn hold(&mut self) -> Result<Option<Arc<Held>>> {
        Ok(self.latest()?.cloned())
    }

    /// Blocks until a version newer than `after` is published and returns it; sleeps (no
    /// spinning) on a futex in the head, or polls gently while the store does not exist.
    pub fn wait_for_update(&mut self, after: u64, timeout: Duration) -> Result<u64> {
        Store::wait_for_update(self, after, timeout)
    }

    /// The writer marks the store closed, wakes every waiter and removes all its segments;
    /// a reader only unmaps. Idempotent; also run on drop. In a process that did not open
    /// the store (a forked child), only unmaps and closes this process's descriptors: the
    /// store stays as it is for its owner.
    pub fn close(&mut self) -> Result<()> {
        if self.closed_here {
            return Ok(());
        }
        self.closed_here = true;
        self.leave_head();
        self.head = None;
        match self.writer.take() {
            // Dropping the lock closes this process's copy of the descriptor; the owner's
            // copy keeps the flock.
            Some(lock) if !self.owner.is_current() => drop(lock),
            Some(lock) => return lock.close(),
            None => {}
        }
        Ok(())
    }
}

impl Store for ShmStore {
    type Options = Options;
    type Waiter = Arc<HeadHandle>;
    type Held = Held;

    fn open(name: &str, writer: bool, options: &Options) -> Result<Self> {
        if writer {
            ShmStore::create(name)
        } else {
            ShmStore::attach_trusting(name, options.trust)
        }
    }

    fn label(&self) -> String {
        ShmStore::label(self)
    }

    fn publish(&mut self, blob: &[u8]) -> Result<u64> {
        ShmStore::publish(self, blob)
    }

    fn decode_with<'s, S: SinkOf<V, E> + 's, V, E: ReadError>(
        &mut self,
        key: Option<KeyRef<'_>>,
        sink_for: impl FnOnce(SnapshotId) -> &'s mut S,
    ) -> Result<Option<V>, E> {
        let snapshot = self.latest()?.map(|s| (s.id(), s.blob()));
        store::decode_blob(snapshot, key, sink_for)
    }

    fn keys_with<R, E: ReadError>(&mut self, f: impl FnOnce(&[KeyRef<'_>]) -> R) -> Result<R, E> {
        let blob = self.latest()?.map(|s| s.blob());
        Ok(store::blob_keys(blob, f)?)
    }

    fn hold(&mut self) -> Result<Option<Arc<Held>>> {
        ShmStore::hold(self)
    }

    fn holds_cheaply(&self) -> bool {
        true
    }

    fn version(&mut self) -> Result<u64> {
        ShmStore::version(self)
    }

    fn waiter(&mut self) -> Result<Option<Arc<HeadHandle>>> {
        self.head_handle()
    }

    fn close(&mut self) -> Result<()> {
        ShmStore::close(self)
    }
}

impl HeldBlob for Held {
    fn id(&self) -> SnapshotId {
        Held::id(self)
    }

    fn blob(&self) -> &[u8] {
        Held::blob(self)
    }
}

impl Drop for ShmStore {
    fn drop(&mut self) {
        // A writer that is dropped without cleanup still removes what it created.
        let _ = self.close();
    }
}
