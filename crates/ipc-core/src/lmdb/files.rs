//! The store's directory: creating it safely, and removing LMDB's files from it.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{FallocateFlags, Mode, OFlags};
use rustix::io::Errno;

use super::layout;
use crate::error::{Error, Result};
use crate::trust::{self, Kind, Trust};

/// Creates the store's directory (mode 0700), with its missing parents for a path the
/// user gave. An existing directory must pass the writer's check (see [`crate::trust`]):
/// ours, writable by us alone, not a link. Returns the topmost directory it created, for
/// [`remove_created`], or None when the directory existed.
pub fn make_dir(dir: &Path, label: &str, in_temp: bool) -> Result<Option<PathBuf>> {
    use std::os::unix::fs::DirBuilderExt;
    let shown = dir.display();
    // The highest ancestor missing now is the first that `create` makes.
    let top = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && std::fs::symlink_metadata(d).is_err())
        .last()
        .map(Path::to_path_buf);
    let created = match std::fs::DirBuilder::new()
        .recursive(!in_temp)
        .mode(0o700)
        .create(dir)
    {
        // A recursive create also succeeds on a directory that exists: then `top` is
        // None, and nothing here is ours to remove should the open fail.
        Ok(()) => top,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => None,
        Err(e) => return Err(Error::io(format!("{label}: creating {shown}"), e)),
    };
    if let Err(e) = trust::check_path(dir, Kind::Dir, Trust::OWN) {
        if let Some(top) = &created {
            remove_created(dir, top);
        }
        return Err(e);
    }
    Ok(created)
}

/// Checks the store's directory and LMDB's files in it, where they exist, against
/// `trust`. False when there is no directory. (The notify file is checked when opened.)
pub fn check(dir: &Path, trust: Trust) -> Result<bool> {
    if !trust::check_path(dir, Kind::Dir, trust)? {
        return Ok(false);
    }
    for file in [layout::DATA_FILE, layout::LOCK_FILE] {
        trust::check_path(&dir.join(file), Kind::File, trust)?;
    }
    Ok(true)
}

/// Removes the directories [`make_dir`] created, from `dir` up to `top`, where empty.
pub fn remove_created(dir: &Path, top: &Path) {
    for d in dir.ancestors() {
        if std::fs::remove_dir(d).is_err() || d == top {
            break;
        }
    }
}

/// Removes LMDB's files of the store in `dir` (the notify file goes with the lock).
pub fn remove_files(dir: &Path, label: &str) -> Result<()> {
    let mut result = Ok(());
    for file in [layout::DATA_FILE, layout::LOCK_FILE] {
        let path = dir.join(file);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                result = result.and(Err(Error::io(
                    format!("{label}: removing {}", path.display()),
                    e,
                )))
            }
        }
    }
    result
}

/// The writer's handle on LMDB's data file, to reserve disk space for it to grow into.
pub struct DataFile {
    fd: OwnedFd,
    path: PathBuf,
    /// The file may grow to this many bytes without needing another block.
    reserved: u64,
}

impl DataFile {
    pub fn open(dir: &Path, label: &str) -> Result<Self> {
        let path = dir.join(layout::DATA_FILE);
        let flags = OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::open(&path, flags, Mode::empty())
            .map_err(|e| Error::io(format!("{label}: opening {}", path.display()), e))?;
        Ok(DataFile {
            fd,
            path,
            reserved: 0,
        })
    }

    /// Makes sure the file can grow to `len` bytes: allocates its blocks (its size stays
    /// as LMDB left it). ENOSPC, naming the file and the sizes, when the disk is full.
    pub fn reserve(&mut self, len: u64) -> Result<()> {
        if len <= self.reserved {
            return Ok(());
        }
        let grow = len - self.reserved;
        match rustix::fs::fallocate(&self.fd, FallocateFlags::KEEP_SIZE, self.reserved, grow) {
            Ok(()) => {}
            // A file system that cannot reserve: LMDB's own error is all there is.
            Err(Errno::OPNOTSUPP | Errno::NOSYS) => self.reserved = u64::MAX,
            Err(e) => {
                let free = rustix::fs::fstatvfs(&self.fd).map_or(String::new(), |s| {
                    format!(", {} free", s.f_bavail.saturating_mul(s.f_frsize))
                });
                let what = format!(
                    "reserving {len} bytes for {} ({grow} more{free}; is the disk full?)",
                    self.path.display()
                );
                return Err(Error::io(what, e));
            }
        }
        self.reserved = self.reserved.max(len);
        Ok(())
    }
}

/// A new store's incarnation: random, never 0.
pub fn random_incarnation() -> u64 {
    let mut bytes = [0u8; 8];
    if rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty()).is_err() {
        // Uniqueness, not secrecy, is what matters: fall back on time and pid.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        return now ^ u64::from(rustix::process::getpid().as_raw_nonzero().get() as u32) << 32;
    }
    u64::from_le_bytes(bytes) | 1
}
