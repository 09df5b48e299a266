//! What lives in /dev/shm: one small head segment per store, and one immutable data
//! segment per published version. docs/design.md explains the protocol.

use std::sync::atomic::{AtomicU32, AtomicU64};

use crate::names::PREFIX;

/// "IPCBSHM1": marks an initialised head. Stored last (Release) when a head is created,
/// so a reader that sees it (Acquire) also sees every other field.
pub const HEAD_MAGIC: u64 = u64::from_le_bytes(*b"IPCBSHM1");
/// "IPCBDAT1": starts every data segment.
pub const DATA_MAGIC: u64 = u64::from_le_bytes(*b"IPCBDAT1");

/// Size of the head segment (one page).
pub const HEAD_LEN: usize = 4096;

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
}

const _: () = assert!(std::mem::size_of::<Head>() <= HEAD_LEN);

/// The header of a data segment, followed by the blob.
pub const DATA_HEADER_LEN: usize = 32;

pub struct DataHeader {
    pub incarnation: u64,
    pub version: u64,
    pub blob_len: u64,
}

impl DataHeader {
    pub fn to_bytes(&self) -> [u8; DATA_HEADER_LEN] {
        let mut out = [0u8; DATA_HEADER_LEN];
        out[0..8].copy_from_slice(&DATA_MAGIC.to_le_bytes());
        out[8..16].copy_from_slice(&self.incarnation.to_le_bytes());
        out[16..24].copy_from_slice(&self.version.to_le_bytes());
        out[24..32].copy_from_slice(&self.blob_len.to_le_bytes());
        out
    }

    /// None unless `bytes` starts with a data header.
    pub fn parse(bytes: &[u8]) -> Option<DataHeader> {
        let word = |i: usize| {
            bytes
                .get(i * 8..i * 8 + 8)
                .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        };
        if word(0)? != DATA_MAGIC {
            return None;
        }
        Some(DataHeader {
            incarnation: word(1)?,
            version: word(2)?,
            blob_len: word(3)?,
        })
    }
}

/// `/ipcb_shm_<name>`: the head (shm_open names start with a slash).
pub fn head_name(store: &str) -> String {
    format!("/{PREFIX}shm_{store}")
}

/// `/ipcb_shm_<name>.<version>`: one published snapshot.
pub fn data_name(store: &str, version: u64) -> String {
    format!("/{PREFIX}shm_{store}.{version}")
}

/// Where the segment `name` (as [`head_name`] and [`data_name`] spell it) lives. The
/// stores open it there themselves rather than through `shm_open`, to pass `O_NOFOLLOW`.
pub fn shm_path(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("/dev/shm{name}"))
}
