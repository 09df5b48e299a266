//! Snapshots that outlive a read: a reader's slot, leased for as long as its store or any
//! snapshot it handed out lives, and the holds that keep a segment from being rewritten.
//! docs/design.md, "Held snapshots", has the protocol and its proof.

use std::sync::{Arc, Mutex};

use super::head::HeadHandle;
use super::layout::POOL;
use super::segment::Mapping;
use crate::process::Owner;
use crate::store::SnapshotId;

/// A reader's slot in the head's reader table. The store keeps one; so does every
/// snapshot held from it, so the slot (and the holds it announces) lasts until the last
/// of them is dropped. Only the process that claimed it writes it: in a forked child it
/// is inert.
pub struct SlotLease {
    head: Arc<HeadHandle>,
    slot: usize,
    owner: Owner,
    /// Snapshots this process holds per segment index; the slot's held bit is set while
    /// the count is above 0. Locked so that a hold and a release of the same index in two
    /// threads cannot leave the bit clear while the count is not.
    counts: Mutex<[u32; POOL]>,
}

impl SlotLease {
    pub fn new(head: Arc<HeadHandle>, slot: usize, owner: Owner) -> Arc<SlotLease> {
        Arc::new(SlotLease {
            head,
            slot,
            owner,
            counts: Mutex::new([0; POOL]),
        })
    }

    pub fn slot(&self) -> usize {
        self.slot
    }

    /// Pins segment `index` for a read (see head.rs).
    pub fn pin(&self, index: usize) {
        if self.owner.is_current() {
            self.head.pin(self.slot, index);
        }
    }

    /// Stops pinning any segment; holds stay.
    pub fn unpin(&self) {
        if self.owner.is_current() {
            self.head.unpin(self.slot);
        }
    }

    /// Holds segment `index`, which this slot must pin at the moment.
    fn hold(&self, index: usize) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts[index] == 0 && self.owner.is_current() {
            self.head.hold(self.slot, index);
        }
        counts[index] += 1;
    }

    fn release(&self, index: usize) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts[index] = counts[index].saturating_sub(1);
        if counts[index] == 0 && self.owner.is_current() {
            self.head.unhold(self.slot, index);
        }
    }
}

impl Drop for SlotLease {
    fn drop(&mut self) {
        if self.owner.is_current() {
            self.head.release_slot(self.slot);
        }
    }
}

/// One hold on a segment: while it lives, the slot names the segment as held, and the
/// writer replaces that index's file instead of rewriting it.
pub struct SegmentHold {
    lease: Arc<SlotLease>,
    index: usize,
}

impl SegmentHold {
    /// Holds segment `index`, which `lease`'s slot pins now (the caller checked, after
    /// pinning, that the head still names it).
    pub fn new(lease: &Arc<SlotLease>, index: usize) -> SegmentHold {
        lease.hold(index);
        SegmentHold {
            lease: lease.clone(),
            index,
        }
    }
}

impl Drop for SegmentHold {
    fn drop(&mut self) {
        self.lease.release(self.index);
    }
}

/// A snapshot of a shared-memory store that stays valid, unchanged, until dropped:
/// mapped and held (a reader with a slot), or a private copy (a reader without one).
/// The writer may publish, recycle and close meanwhile.
pub struct Held {
    bytes: Bytes,
    id: SnapshotId,
}

enum Bytes {
    Mapped {
        map: Arc<Mapping>,
        len: usize,
        _hold: SegmentHold,
    },
    Copied(Vec<u8>),
}

impl Held {
    pub(super) fn mapped(id: SnapshotId, map: Arc<Mapping>, len: usize, hold: SegmentHold) -> Self {
        Held {
            bytes: Bytes::Mapped {
                map,
                len,
                _hold: hold,
            },
            id,
        }
    }

    pub(super) fn copied(id: SnapshotId, blob: Vec<u8>) -> Self {
        Held {
            bytes: Bytes::Copied(blob),
            id,
        }
    }

    /// The encoded blob (see docs/format.md): in shared memory, or the private copy.
    pub fn blob(&self) -> &[u8] {
        match &self.bytes {
            Bytes::Mapped { map, len, .. } => map.blob(*len),
            Bytes::Copied(blob) => blob,
        }
    }

    /// Whether the blob lies in the store's shared memory (false: a private copy).
    pub fn is_mapped(&self) -> bool {
        matches!(self.bytes, Bytes::Mapped { .. })
    }

    pub fn id(&self) -> SnapshotId {
        self.id
    }

    pub fn version(&self) -> u64 {
        self.id.version
    }

    /// Identifies the writer's run of the store: (incarnation, version) names a snapshot
    /// uniquely, even across a writer restart.
    pub fn incarnation(&self) -> u64 {
        self.id.incarnation
    }
}
