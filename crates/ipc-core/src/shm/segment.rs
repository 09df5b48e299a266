//! Data segments: one immutable snapshot each.

use memmap2::{Mmap, MmapOptions};
use rustix::fs::{FallocateFlags, Mode, OFlags};
use rustix::io::Errno;
use rustix::shm;

use super::layout::{self, DataHeader, DATA_HEADER_LEN};
use crate::error::{Error, Result};
use crate::trust::{self, Kind, Trust};

/// A mapped, validated data segment.
pub struct Snapshot {
    pub incarnation: u64,
    pub version: u64,
    map: Mmap,
    blob_len: usize,
}

impl Snapshot {
    pub fn blob(&self) -> &[u8] {
        &self.map[DATA_HEADER_LEN..DATA_HEADER_LEN + self.blob_len]
    }
}

pub enum OpenError {
    /// No such segment, or one of another version or incarnation: the writer has moved on.
    Gone,
    Failed(Error),
}

/// Creates version `version` holding `blob`. Space is reserved with fallocate first, so a
/// full /dev/shm is an error here rather than a SIGBUS while copying.
pub fn create(store: &str, incarnation: u64, version: u64, blob: &[u8]) -> Result<()> {
    let name = layout::data_name(store, version);
    let path = format!("/dev/shm{name}");
    let flags = shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR;
    let mode = Mode::RUSR | Mode::WUSR;
    let fd = match shm::open(&name, flags, mode) {
        Err(Errno::EXIST) => {
            // Left by a writer that died while publishing this version: never current,
            // so no reader has it. Replace it.
            remove(store, version);
            shm::open(&name, flags, mode)
        }
        other => other,
    }
    .map_err(|e| Error::io(format!("creating {path}"), e))?;

    let result = (|| {
        let len = DATA_HEADER_LEN + blob.len();
        rustix::fs::fallocate(&fd, FallocateFlags::empty(), 0, len as u64).map_err(|e| {
            Error::io(
                format!("reserving {len} bytes for {path} (is /dev/shm full?)"),
                e,
            )
        })?;
        // SAFETY: the segment was just created by us (O_EXCL) and no reader opens it
        // before the head names its version, which happens after this mapping is gone.
        let mut map = unsafe { MmapOptions::new().len(len).populate().map_mut(&fd) }
            .map_err(|e| Error::io(format!("mapping {path}"), e))?;
        let header = DataHeader {
            incarnation,
            version,
            blob_len: blob.len() as u64,
        };
        map[..DATA_HEADER_LEN].copy_from_slice(&header.to_bytes());
        map[DATA_HEADER_LEN..].copy_from_slice(blob);
        Ok(())
    })();
    if result.is_err() {
        remove(store, version);
    }
    result
}

/// Maps version `version` read-only and checks its header. A segment `trust` does not
/// accept is refused, like its head.
pub fn open(
    store: &str,
    incarnation: u64,
    version: u64,
    trust: Trust,
) -> Result<Snapshot, OpenError> {
    let name = layout::data_name(store, version);
    let path = format!("/dev/shm{name}");
    let opened = trust::open(
        &layout::shm_path(&name),
        OFlags::RDONLY,
        Mode::empty(),
        Kind::File,
        trust,
    );
    let fd = match opened {
        Ok(Some(fd)) => fd,
        Ok(None) => return Err(OpenError::Gone),
        Err(e) => return Err(OpenError::Failed(e)),
    };
    let size = rustix::fs::fstat(&fd)
        .map_err(|e| OpenError::Failed(Error::io(format!("fstat {path}"), e)))?
        .st_size as u64;
    if size < DATA_HEADER_LEN as u64 {
        return Err(OpenError::Gone);
    }
    // SAFETY: a published segment is never written again (the writer unmapped it before
    // publishing), so handing out &[u8] views of it is sound. docs/design.md, "Threat
    // model", covers processes that break the protocol on purpose.
    let map = unsafe { MmapOptions::new().len(size as usize).map(&fd) }
        .map_err(|e| OpenError::Failed(Error::io(format!("mapping {path}"), e)))?;
    let Some(header) = DataHeader::parse(&map) else {
        return Err(OpenError::Failed(Error::io(
            format!("{path}: not a data segment of this project"),
            Errno::INVAL,
        )));
    };
    if header.incarnation != incarnation || header.version != version {
        return Err(OpenError::Gone);
    }
    if header.blob_len > size - DATA_HEADER_LEN as u64 {
        return Err(OpenError::Failed(Error::io(
            format!(
                "{path}: header claims {} bytes, the segment holds {}",
                header.blob_len, size
            ),
            Errno::INVAL,
        )));
    }
    Ok(Snapshot {
        incarnation,
        version,
        blob_len: header.blob_len as usize,
        map,
    })
}

/// Removes version `version`, if it exists.
pub fn remove(store: &str, version: u64) {
    // Ignored errors: the only expected one is NOENT (already removed), and an
    // unremovable leftover is reported by `ipc_benchmark.leftovers`, never silently kept.
    let _ = shm::unlink(layout::data_name(store, version));
}
