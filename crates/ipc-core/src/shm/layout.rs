//! What lives in /dev/shm: one small head segment per store, and a pool of data segments
//! that the writer fills, publishes and later recycles. docs/design.md explains the
//! protocol.

use std::sync::atomic::{AtomicU32, AtomicU64};

use crate::names::PREFIX;

/// "IPCBSHM3": marks an initialised head. Stored last (Release) when a head is created,
/// so a reader that sees it (Acquire) also sees every other field. (Version 2: segments
/// are recycled, and the head carries a reader table; 3: each slot also names the
/// segments its process holds.)
pub const HEAD_MAGIC: u64 = u64::from_le_bytes(*b"IPCBSHM3");
/// "IPCBDAT2": starts every data segment. (Version 2: the header is 64 bytes, so the
/// blob starts 64-byte aligned.)
pub const DATA_MAGIC: u64 = u64::from_le_bytes(*b"IPCBDAT2");

/// Size of the head segment (two pages: the reader table with its held sets).
pub const HEAD_LEN: usize = 8192;

/// Reader slots in the head: readers beyond this many read through a copy (see
/// docs/design.md, "Readers without a slot").
pub const SLOTS: usize = 126;
/// Data segments a store may have at once: one per slot (each reader pins at most one),
/// the current one, and the one being written, so the writer always finds one free.
pub const POOL: usize = SLOTS + 2;
// The writer keeps sets of indices in a u128; `current` keeps an index in its low byte.
const _: () = assert!(POOL <= 128, "segment indices must fit a u128 bit set");

/// The head: the store's mutable state, accessed only through atomics because every
/// process maps it.
#[repr(C)]
pub struct Head {
    pub magic: AtomicU64,
    /// Random, chosen when the head is created or re-initialised after a close. Data
    /// segments carry it, so a reader never mistakes an old store's segment for a new one.
    pub incarnation: AtomicU64,
    /// The latest published version; 0 until the first write. Only the writer stores it.
    pub version: AtomicU64,
    /// Process id of the current (or last) writer, for error messages.
    pub writer_pid: AtomicU32,
    /// 1 once the writer's cleanup has begun.
    pub closed: AtomicU32,
    /// Incremented, then woken, on every publish and on close: readers sleep on it in
    /// `wait_for_update` instead of polling.
    pub futex: AtomicU32,
    _pad: u32,
    /// The latest version and the segment that holds it, in one word ([`pack`]) so that
    /// a reader loads a consistent pair; 0 until the first write. Stored (SeqCst) before
    /// `version`.
    pub current: AtomicU64,
    _reserved: [u64; 2],
    /// The reader table: which segment each reader maps (docs/design.md, "Recycling").
    pub slots: [Slot; SLOTS],
}

/// One reader's announcement: its pid (0 = free), the segment it is reading, and the
/// segments its process holds (docs/design.md, "Held snapshots").
#[repr(C)]
pub struct Slot {
    pub pid: AtomicU32,
    _pad: u32,
    /// Index of the pinned segment + 1; 0 = none.
    pub segment: AtomicU64,
    /// Bit `i` (of word `i / 64`): this process holds a snapshot in segment `i`, which
    /// the writer may then replace (a new file under the index) but not rewrite.
    pub held: [AtomicU64; 2],
}

const _: () = assert!(std::mem::size_of::<Head>() <= HEAD_LEN);

/// `version` and `segment` in one word of [`Head::current`].
pub fn pack(version: u64, segment: usize) -> u64 {
    (version << 8) | segment as u64
}

/// The (version, segment) of a [`Head::current`] word.
pub fn unpack(word: u64) -> (u64, usize) {
    (word >> 8, (word & 0xff) as usize)
}

/// The header of a data segment, followed by the blob: four little-endian words, magic,
/// incarnation, version, blob length, then zeros up to 64 bytes, so that the blob starts
/// 64-byte aligned (arrays inside it are aligned from its start: docs/format.md).
/// `version` is 0 while the writer rewrites the segment, and is what a reader without a
/// slot checks (a sequence lock).
pub const DATA_HEADER_LEN: usize = 64;
/// Byte offsets of the header words a recycled segment changes.
pub const VERSION_AT: usize = 16;
pub const LEN_AT: usize = 24;

/// `/ipcb_shm_<name>`: the head (shm_open names start with a slash).
pub fn head_name(store: &str) -> String {
    format!("/{PREFIX}shm_{store}")
}

/// `/ipcb_shm_<name>.<index>`: data segment `index` of the pool.
pub fn data_name(store: &str, index: usize) -> String {
    format!("/{PREFIX}shm_{store}.{index}")
}

/// Where the segment `name` (as [`head_name`] and [`data_name`] spell it) lives. The
/// stores open it there themselves rather than through `shm_open`, to pass `O_NOFOLLOW`.
pub fn shm_path(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("/dev/shm{name}"))
}
