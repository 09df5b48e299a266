//! Data segments: the writer's pool of them, and a reader's mappings of them.
//!
//! A segment holds one published snapshot at a time. The writer rewrites it only while it
//! is neither current nor named by a reader slot (docs/design.md, "Recycling"), so the
//! bytes a reader with a slot decodes never change under it.

use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::Arc;

use memmap2::{Mmap, MmapMut, MmapOptions};
use rustix::fs::{FallocateFlags, Mode, OFlags};
use rustix::io::Errno;
use rustix::shm;

use super::layout::{self, DATA_HEADER_LEN, DATA_MAGIC, LEN_AT, VERSION_AT};
use crate::error::{Error, Result};
use crate::trust::{self, Kind, Trust};

/// The header word at byte `at` of a mapping.
fn word(base: *const u8, at: usize) -> &'static AtomicU64 {
    // SAFETY: callers pass the base of a page-aligned mapping at least DATA_HEADER_LEN
    // long and `at` < DATA_HEADER_LEN, a multiple of 8: the word is in bounds and
    // aligned. Every process accesses these words as atomics. The 'static lifetime is
    // never used beyond the mapping: each caller holds the mapping while it uses the word.
    unsafe { &*(base.add(at) as *const AtomicU64) }
}

/// A segment in the writer's pool, mapped read-write and kept faulted in.
pub struct PoolSegment {
    map: MmapMut,
    /// The version it holds; 0 while none.
    pub version: u64,
}

impl PoolSegment {
    /// Creates segment `index` able to hold `blob_len` bytes (rounded up, so that a
    /// writer whose sizes vary finds segments that fit). An old file at that index is
    /// replaced: the caller made sure no reader can still open it (it is not current and
    /// no slot names it); readers that mapped it keep their pages.
    pub fn create(store: &str, index: usize, blob_len: usize) -> Result<PoolSegment> {
        let name = layout::data_name(store, index);
        let path = format!("/dev/shm{name}");
        remove(store, index);
        let flags = shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR;
        let fd = shm::open(&name, flags, Mode::RUSR | Mode::WUSR)
            .map_err(|e| Error::io(format!("creating {path}"), e))?;
        let result = (|| {
            let len = capacity_for(blob_len);
            // Reserved first, so a full /dev/shm is an error here rather than a SIGBUS
            // while copying.
            rustix::fs::fallocate(&fd, FallocateFlags::empty(), 0, len as u64).map_err(|e| {
                Error::io(
                    format!("reserving {len} bytes for {path} (is /dev/shm full?)"),
                    e,
                )
            })?;
            // SAFETY: created by us (O_EXCL); no reader opens it before the head names
            // it, and the writer writes it only while no reader can (see the module doc).
            let map = unsafe { MmapOptions::new().len(len).populate().map_mut(&fd) }
                .map_err(|e| Error::io(format!("mapping {path}"), e))?;
            Ok(map)
        })();
        match result {
            Ok(map) => Ok(PoolSegment { map, version: 0 }),
            Err(e) => {
                remove(store, index);
                Err(e)
            }
        }
    }

    pub fn capacity(&self) -> usize {
        self.map.len()
    }

    pub fn fits(&self, blob_len: usize) -> bool {
        DATA_HEADER_LEN + blob_len <= self.map.len()
    }

    /// Whether the segment is much larger than `blob_len` needs: replaced rather than
    /// reused, so that one large write does not keep its memory for ever.
    pub fn too_large_for(&self, blob_len: usize) -> bool {
        self.map.len() > 4 * capacity_for(blob_len).max(1 << 20)
    }

    /// Writes `blob` as `version`. The version word is 0 meanwhile (with a Release fence
    /// after it), and stored last with Release: the sequence lock of readers without a
    /// slot. Readers with a slot never look at a segment being written.
    pub fn write(&mut self, incarnation: u64, version: u64, blob: &[u8]) {
        let base = self.map.as_ptr();
        word(base, VERSION_AT).store(0, Ordering::Relaxed);
        fence(Ordering::Release);
        word(base, 0).store(DATA_MAGIC.to_le(), Ordering::Relaxed);
        word(base, 8).store(incarnation.to_le(), Ordering::Relaxed);
        word(base, LEN_AT).store((blob.len() as u64).to_le(), Ordering::Relaxed);
        self.map[DATA_HEADER_LEN..DATA_HEADER_LEN + blob.len()].copy_from_slice(blob);
        word(self.map.as_ptr(), VERSION_AT).store(version.to_le(), Ordering::Release);
        self.version = version;
    }
}

/// Bytes of a segment for a blob of `blob_len`: the next power of two, at least a page.
fn capacity_for(blob_len: usize) -> usize {
    (DATA_HEADER_LEN + blob_len).next_power_of_two().max(4096)
}

/// A reader's read-only mapping of one segment file.
pub struct Mapping {
    map: Mmap,
}

impl Mapping {
    /// Maps segment `index` read-only. None if it does not exist. A segment `trust` does
    /// not accept is refused, like its head.
    pub fn open(store: &str, index: usize, trust: Trust) -> Result<Option<Arc<Mapping>>> {
        let name = layout::data_name(store, index);
        let path = format!("/dev/shm{name}");
        let opened = trust::open(
            &layout::shm_path(&name),
            OFlags::RDONLY,
            Mode::empty(),
            Kind::File,
            trust,
        )?;
        let Some(fd) = opened else {
            return Ok(None);
        };
        let size = rustix::fs::fstat(&fd)
            .map_err(|e| Error::io(format!("fstat {path}"), e))?
            .st_size as usize;
        if size < DATA_HEADER_LEN {
            return Ok(None);
        }
        // SAFETY: the bytes a reader with a slot reads are not written while it holds the
        // slot (docs/design.md, "Recycling"); a reader without one copies and checks the
        // sequence word. docs/design.md, "Threat model", covers processes that break the
        // protocol on purpose.
        let map = unsafe { MmapOptions::new().len(size).map(&fd) }
            .map_err(|e| Error::io(format!("mapping {path}"), e))?;
        let word0 = u64::from_le_bytes(map[..8].try_into().expect("8 bytes"));
        if word0 == 0 {
            // Being created: only a reader without a slot can meet one; it retries.
            return Ok(None);
        }
        if word0 != DATA_MAGIC {
            return Err(Error::io(
                format!("{path}: not a data segment of this project"),
                Errno::INVAL,
            ));
        }
        Ok(Some(Arc::new(Mapping { map })))
    }

    fn base(&self) -> *const u8 {
        self.map.as_ptr()
    }

    /// (incarnation, version) in the header; version 0 while the writer rewrites it.
    pub fn id(&self) -> (u64, u64) {
        let version = u64::from_le(word(self.base(), VERSION_AT).load(Ordering::Acquire));
        let incarnation = u64::from_le(word(self.base(), 8).load(Ordering::Relaxed));
        (incarnation, version)
    }

    /// The blob's length, if it fits the mapping.
    pub fn blob_len(&self) -> Option<usize> {
        let len = u64::from_le(word(self.base(), LEN_AT).load(Ordering::Relaxed)) as usize;
        (len <= self.map.len() - DATA_HEADER_LEN).then_some(len)
    }

    /// The blob of `len` bytes. Only for a segment pinned by this reader's slot.
    pub fn blob(&self, len: usize) -> &[u8] {
        &self.map[DATA_HEADER_LEN..DATA_HEADER_LEN + len]
    }

    /// A copy of the blob of (incarnation, version), for a reader without a slot: None if
    /// the segment holds another version or was rewritten during the copy (a sequence
    /// lock on the version word).
    pub fn copy_blob(&self, incarnation: u64, version: u64) -> Option<Vec<u8>> {
        if self.id() != (incarnation, version) {
            return None;
        }
        let len = self.blob_len()?;
        let mut out = vec![0u8; len];
        // SAFETY: in bounds (blob_len checked it against the mapping). The bytes may be
        // rewritten concurrently by the writer; such a copy is discarded below, since the
        // writer zeroes the version word (Release fence after) before it writes.
        unsafe {
            std::ptr::copy_nonoverlapping(self.base().add(DATA_HEADER_LEN), out.as_mut_ptr(), len);
        }
        fence(Ordering::Acquire);
        let after = u64::from_le(word(self.base(), VERSION_AT).load(Ordering::Relaxed));
        (after == version).then_some(out)
    }
}

/// Removes segment `index`, if it exists.
pub fn remove(store: &str, index: usize) {
    // Ignored errors: the only expected one is NOENT (already removed), and an
    // unremovable leftover is reported by `ipc_benchmark.leftovers`, never silently kept.
    let _ = shm::unlink(layout::data_name(store, index));
}
