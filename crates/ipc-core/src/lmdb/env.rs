//! One LMDB environment per store directory and process, shared by every handle on it.
//!
//! heed refuses to open the same path twice in one process (LMDB forbids it: closing one
//! of two handles would drop the other's locks), so handles on the same directory share a
//! [`SharedEnv`] through a registry of weak references. The environment sits behind a
//! read-write lock: every transaction of this process holds it shared, and the two
//! operations LMDB allows only while no transaction of the process is open take it
//! exclusively — changing the map size, and closing the environment.
//!
//! The registry is copied into a forked child, but LMDB forbids using an environment in
//! any process but the one that opened it: the child opens its own (see [`open`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, TryLockError, Weak};
use std::time::Duration;

use heed::types::Bytes;
use heed::{CommitOrAbort, Database, Env, EnvFlags, EnvOpenOptions, FlagSetMode, MdbError};
use heed::{RoTxn, RwTxn};

use super::layout::{LAYOUT_VERSION, META_KEY, RECORDS_DB};
use crate::codec::DecodeError;
use crate::error::{Error, Result};
use crate::process::Owner;

/// A database of a store: raw bytes in and out.
pub type Db = Database<'static, Bytes, Bytes>;

/// The two databases of a store (layout.rs): LMDB's unnamed one, which holds the meta
/// record, and the named one of the records.
#[derive(Clone, Copy)]
pub struct Dbs {
    pub meta: Db,
    pub records: Db,
}

/// Reader slots in a new lock file. A slot is taken per reading thread and freed when the
/// thread ends; slots of killed processes are reclaimed when a store is opened or written.
pub const DEFAULT_MAX_READERS: u32 = 510;

/// How long `open` waits for another thread of this process to finish closing the
/// previous environment at the same path.
const CLOSE_WAIT: Duration = Duration::from_secs(30);

pub struct SharedEnv {
    /// None once retired: the store was removed and its environment closed.
    state: RwLock<Option<Opened>>,
    /// Set when retiring begins, so that handles notice without taking the lock.
    retired: AtomicBool,
    /// The process that opened the environment.
    owner: Owner,
}

struct Opened {
    env: Env,
    dbs: Dbs,
}

fn registry() -> &'static Mutex<HashMap<PathBuf, Weak<SharedEnv>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<PathBuf, Weak<SharedEnv>>>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

/// An LMDB failure, naming what was being done to which store.
#[cold]
pub fn lmdb_error(label: &str, doing: &str, e: heed::Error) -> Error {
    let source = match e {
        heed::Error::Io(io) => io,
        other => std::io::Error::other(other.to_string()),
    };
    Error::io(format!("{label}: {doing}"), source)
}

/// The environment of the store in `dir` (which must exist), opened by this process once
/// and shared. Clears reader slots left by dead processes. The writer (`create`, holding
/// the writer lock) creates the records database; a reader finds it, since the writer
/// creates it before it lets readers attach.
pub fn open(dir: &Path, label: &str, max_readers: u32, create: bool) -> Result<Arc<SharedEnv>> {
    let path = dir
        .canonicalize()
        .map_err(|e| Error::io(format!("{label}: resolving {}", dir.display()), e))?;
    let mut registry = registry().lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(shared) = registry.get(&path).and_then(Weak::upgrade) {
        if !shared.owner.is_current() {
            // Inherited across a fork: heed would refuse a second environment at this
            // path while it is open here, and it must not be used here.
            shared.close_inherited(label, &path)?;
        } else if !shared.is_retired() {
            return Ok(shared);
        }
    }
    let env = open_env(&path, label, max_readers)?;
    // Before this process takes a reader slot of its own: the table may be full of
    // slots of dead processes.
    env.clear_stale_readers()
        .map_err(|e| lmdb_error(label, "clearing stale reader slots", e))?;
    let dbs = if create {
        create_dbs(&env, label, &path)?
    } else {
        open_dbs(&env, label, &path)?
    };
    let shared = Arc::new(SharedEnv {
        state: RwLock::new(Some(Opened { env, dbs })),
        retired: AtomicBool::new(false),
        owner: Owner::current(),
    });
    registry.retain(|_, weak| weak.strong_count() > 0);
    registry.insert(path, Arc::downgrade(&shared));
    Ok(shared)
}

/// The databases of an existing store.
fn open_dbs(env: &Env, label: &str, path: &Path) -> Result<Dbs> {
    let what = format!("opening the databases in {}", path.display());
    let rtxn = env.read_txn().map_err(|e| lmdb_error(label, &what, e))?;
    let opened = env
        .open_databases_and_commit(rtxn, |opener, rtxn| {
            let meta = opener.open_database::<Bytes, Bytes>(rtxn, None)?;
            let records = opener.open_database::<Bytes, Bytes>(rtxn, Some(RECORDS_DB))?;
            Ok::<_, heed::Error>(CommitOrAbort::<_, ()>::Commit(meta.zip(records)))
        })
        .map_err(|e| lmdb_error(label, &what, e))?
        .unwrap_commit();
    opened
        .map(|(meta, records)| Dbs { meta, records })
        .ok_or_else(|| not_ours(label, &format!("it has no {RECORDS_DB:?} database")))
}

/// The writer's side of [`open_dbs`]: creates the records database, in a store that is
/// new or ours. Never touches someone else's LMDB environment: one whose unnamed
/// database holds anything but our meta record and the records' name is refused.
fn create_dbs(env: &Env, label: &str, path: &Path) -> Result<Dbs> {
    let what = format!("creating the databases in {}", path.display());
    let wtxn = env.write_txn().map_err(|e| lmdb_error(label, &what, e))?;
    let created = env
        .create_databases_and_commit(wtxn, |opener, wtxn| {
            let meta = opener.create_database::<Bytes, Bytes>(wtxn, None)?;
            for item in meta.iter(wtxn)? {
                let (key, _) = item?;
                if key != META_KEY && key != RECORDS_DB.as_bytes() {
                    return Ok(CommitOrAbort::Abort(key.to_vec()));
                }
            }
            let records = opener.create_database::<Bytes, Bytes>(wtxn, Some(RECORDS_DB))?;
            Ok::<_, heed::Error>(CommitOrAbort::Commit((meta, records)))
        })
        .map_err(|e| lmdb_error(label, &what, e))?;
    match created {
        CommitOrAbort::Commit((meta, records)) => Ok(Dbs { meta, records }),
        CommitOrAbort::Abort(key) => {
            let why = format!("it holds a record {:?}", String::from_utf8_lossy(&key));
            Err(not_ours(label, &why))
        }
    }
}

/// A directory whose LMDB environment is not an ipc_benchmark store of this layout.
#[cold]
fn not_ours(label: &str, why: &str) -> Error {
    let why = format!(
        "not an ipc_benchmark store of layout {LAYOUT_VERSION}: {why}; refusing to use \
         it (a store of an older release must be removed and written again)"
    );
    Error::Corrupt {
        store: label.to_owned(),
        source: DecodeError::new(0, why),
    }
}

fn open_env(path: &Path, label: &str, max_readers: u32) -> Result<Env> {
    let mut options = EnvOpenOptions::new();
    options.max_readers(max_readers);
    // The records' database; the meta record stays in the unnamed one.
    options.max_dbs(1);
    loop {
        // SAFETY: LMDB's rules for the memory map are kept: only this module opens the
        // environment, once per process (the registry); every transaction holds the state
        // lock, so resizing and closing never overlap one; and the store's files are
        // written only through LMDB. (Another process of the same user writing into the
        // files directly is outside what any mmap-based store can defend against.)
        match unsafe { options.open(path) } {
            Ok(env) => return Ok(env),
            Err(heed::Error::EnvAlreadyOpened) => {
                // Its last handle is being dropped on another thread right now (a dead
                // weak reference in the registry, heed not yet told): wait for the close.
                if let Some(closing) = heed::env_closing_event(path) {
                    if !closing.wait_timeout(CLOSE_WAIT) {
                        return Err(Error::io(
                            format!("{label}: {} is still open in this process", path.display()),
                            std::io::ErrorKind::WouldBlock,
                        ));
                    }
                }
            }
            Err(e) => {
                let what = format!("opening the LMDB environment in {}", path.display());
                return Err(lmdb_error(label, &what, e));
            }
        }
    }
}

impl SharedEnv {
    /// LMDB's limit on key length (511 bytes in its default build).
    pub fn max_key_size(&self, label: &str) -> Result<usize> {
        let guard = self.state.read().unwrap_or_else(PoisonError::into_inner);
        let opened = guard.as_ref().ok_or_else(|| retired(label))?;
        Ok(opened.env.max_key_size())
    }

    pub fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }

    /// Runs `f` in a read transaction. A reader whose map is smaller than what the writer
    /// has grown the file to adopts the new size and tries again.
    pub fn read<R, E: From<Error>>(
        &self,
        label: &str,
        f: impl FnOnce(&RoTxn<'_>, Dbs) -> Result<R, E>,
    ) -> Result<R, E> {
        loop {
            {
                let guard = self.state.read().unwrap_or_else(PoisonError::into_inner);
                let Some(opened) = guard.as_ref() else {
                    return Err(retired(label).into());
                };
                match opened.env.read_txn() {
                    Ok(txn) => return f(&txn, opened.dbs),
                    Err(heed::Error::Mdb(MdbError::MapResized)) => {}
                    Err(e) => {
                        return Err(lmdb_error(label, "starting a read transaction", e).into())
                    }
                };
            }
            self.resize(label, 0)?;
        }
    }

    /// Runs `f` in a write transaction and commits. When the map is full, the transaction
    /// is aborted, the map doubled, and `f` run again: what the caller writes must not
    /// depend on an earlier attempt.
    pub fn write<R>(
        &self,
        label: &str,
        mut f: impl FnMut(&mut RwTxn<'_>, Dbs) -> heed::Result<R>,
    ) -> Result<R> {
        loop {
            let guard = self.state.read().unwrap_or_else(PoisonError::into_inner);
            let Some(opened) = guard.as_ref() else {
                return Err(retired(label));
            };
            let result = opened.env.write_txn().and_then(|mut txn| {
                let r = f(&mut txn, opened.dbs)?;
                txn.commit()?;
                Ok(r)
            });
            let map_size = opened.env.info().map_size;
            drop(guard);
            match result {
                Ok(r) => return Ok(r),
                Err(heed::Error::Mdb(MdbError::MapFull)) => {
                    // Pages pinned by readers that died mid-read are a common cause: free
                    // them before growing.
                    self.clear_stale_readers(label)?;
                    self.resize(label, map_size.saturating_mul(2))?;
                }
                Err(heed::Error::Mdb(MdbError::MapResized)) => self.resize(label, 0)?,
                Err(e) => return Err(lmdb_error(label, "writing a snapshot", e)),
            }
        }
    }

    /// (map size, bytes in use up to the last page written).
    pub fn usage(&self, label: &str) -> Result<(usize, usize)> {
        let guard = self.state.read().unwrap_or_else(PoisonError::into_inner);
        let opened = guard.as_ref().ok_or_else(|| retired(label))?;
        let info = opened.env.info();
        let page = opened.env.unnamed_database_stat().page_size as usize;
        Ok((info.map_size, (info.last_page_number + 1) * page))
    }

    /// Grows the map to at least `at_least` bytes (a power of two, so that repeated
    /// growth stays logarithmic), or with 0 adopts the size another process set.
    pub fn resize(&self, label: &str, at_least: usize) -> Result<()> {
        let guard = self.state.write().unwrap_or_else(PoisonError::into_inner);
        let opened = guard.as_ref().ok_or_else(|| retired(label))?;
        let size = if at_least == 0 {
            0
        } else if opened.env.info().map_size >= at_least {
            return Ok(());
        } else {
            at_least.checked_next_power_of_two().unwrap_or(at_least)
        };
        // SAFETY: the exclusive guard is held: no transaction of this process is open
        // (every one holds the guard shared while it lives).
        unsafe { opened.env.resize(size) }
            .map_err(|e| lmdb_error(label, &format!("growing the map to {size} bytes"), e))
    }

    /// Makes commits fsync (durable) or not (fast: a system crash may lose the latest
    /// commits, never the integrity of the database).
    pub fn set_durable(&self, label: &str, durable: bool) -> Result<()> {
        let guard = self.state.write().unwrap_or_else(PoisonError::into_inner);
        let opened = guard.as_ref().ok_or_else(|| retired(label))?;
        let mode = if durable {
            FlagSetMode::Disable
        } else {
            FlagSetMode::Enable
        };
        // SAFETY: NO_SYNC is one of the flags LMDB lets a process change at run time, and
        // the exclusive guard makes this the only call of set_flags on this environment.
        unsafe { opened.env.set_flags(EnvFlags::NO_SYNC, mode) }
            .map_err(|e| lmdb_error(label, "setting the durability", e))
    }

    /// Whether commits are synced to disk, as LMDB reports it.
    pub fn is_durable(&self, label: &str) -> Result<bool> {
        let guard = self.state.read().unwrap_or_else(PoisonError::into_inner);
        let opened = guard.as_ref().ok_or_else(|| retired(label))?;
        let flags = opened
            .env
            .get_flags()
            .map_err(|e| lmdb_error(label, "reading the flags", e))?;
        Ok(flags & EnvFlags::NO_SYNC.bits() == 0)
    }

    /// Flushes what non-durable commits left to the OS.
    pub fn sync(&self, label: &str) -> Result<()> {
        let guard = self.state.read().unwrap_or_else(PoisonError::into_inner);
        let opened = guard.as_ref().ok_or_else(|| retired(label))?;
        opened
            .env
            .force_sync()
            .map_err(|e| lmdb_error(label, "flushing to disk", e))
    }

    /// Frees the reader slots of processes that died (their snapshots pin pages the writer
    /// could otherwise reuse, and their slots count against the limit).
    pub fn clear_stale_readers(&self, label: &str) -> Result<usize> {
        let guard = self.state.read().unwrap_or_else(PoisonError::into_inner);
        let opened = guard.as_ref().ok_or_else(|| retired(label))?;
        opened
            .env
            .clear_stale_readers()
            .map_err(|e| lmdb_error(label, "clearing stale reader slots", e))
    }

    /// Closes the environment in this process, for good, before its files are removed:
    /// waits for this process's transactions to end; other handles then see the store
    /// closed, and a new store at the same path gets a fresh environment.
    pub fn retire(&self) {
        self.retired.store(true, Ordering::Release);
        let opened = self
            .state
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        // Dropping the only Env handle closes it (heed counts handles, and none is kept
        // elsewhere).
        drop(opened);
    }
}

impl SharedEnv {
    /// Closes, in a forked child, an environment its parent opened, so that the child can
    /// open its own at the same path. The parent's store is untouched: `mdb_env_close`
    /// only unmaps and closes this process's copies, and clears the reader slots that
    /// carry this process's pid (none). The child's inherited handles never use it (they
    /// check their owner first), so no transaction can be open in it, unless a thread
    /// of the parent held one at the fork, which no longer exists to end it.
    #[cold]
    fn close_inherited(&self, label: &str, path: &Path) -> Result<()> {
        self.retired.store(true, Ordering::Release);
        let opened = match self.state.try_write() {
            Ok(mut guard) => guard.take(),
            Err(TryLockError::Poisoned(e)) => e.into_inner().take(),
            Err(TryLockError::WouldBlock) => {
                return Err(Error::io(
                    format!(
                        "{label}: the parent process was using {} when it forked this one: \
                         open the store in a process forked while it was not",
                        path.display()
                    ),
                    std::io::ErrorKind::WouldBlock,
                ))
            }
        };
        drop(opened);
        Ok(())
    }
}

#[cold]
fn retired(label: &str) -> Error {
    Error::Closed {
        store: label.to_owned(),
    }
}
