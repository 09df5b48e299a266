//! A dictionary in LMDB: one writer replaces whole snapshots in single transactions, any
//! number of readers decode straight from LMDB's memory map, and the data outlives the
//! processes (persistence is why one picks LMDB over shared memory).
//!
//! Each top-level key is its own record, holding its encoded value; a meta record holds
//! the snapshot's version and its shared-string table. `get(key)` is then one B-tree
//! lookup and the decoding of one value. LMDB's MVCC gives the atomicity: a read
//! transaction sees the database as of one commit. A small notify file next to the
//! database adds what LMDB lacks: a futex readers sleep on, and the writer's lock.
//! docs/design.md ("LMDB") gives the full design.

mod env;
mod files;
mod held;
mod layout;
mod notify;
mod read;
mod wait;
mod write;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::codec::{Key, KeyRef, Value, ValueSink};
use crate::error::{Error, Result};
use crate::names;
use crate::process::{self, Owner};
use crate::store::{ReadError, SinkOf, Store};
use crate::trust::Trust;

pub use crate::store::{SinkError, SnapshotId, StoreSink};
pub use env::DEFAULT_MAX_READERS;
pub use held::HeldRecords;
pub use layout::temp_dir;
pub use wait::Waiter;
pub use write::WriteStats;

use env::SharedEnv;
use notify::{Notify, WriterLock};

/// Where a store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `<tempdir>/ipcb_lmdb_<name>`: created by the writer, removed by its `close`.
    Named(String),
    /// A directory the user chose. Never removed unless [`Options::remove_on_close`].
    Path(PathBuf),
}

/// How the writer rewrites the database on each publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rewrite {
    /// Only the records whose bytes changed (and none when nothing did); everything when
    /// most records changed. The default.
    #[default]
    Changed,
    /// Clear the database and write every record, every time.
    All,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// fsync every commit. Off by default: a commit is then as durable as the OS's page
    /// cache (a system crash may lose the latest snapshots, never the database's
    /// integrity), and a writer's `close` flushes once.
    pub durable: bool,
    /// Remove a [`Location::Path`] store when the writer closes it.
    pub remove_on_close: bool,
    /// Reader slots of a new lock file (see [`DEFAULT_MAX_READERS`]).
    pub max_readers: u32,
    /// The map size of a new database; it doubles whenever a write needs more.
    pub initial_map_size: usize,
    pub rewrite: Rewrite,
    /// A reader's: another owner whose store it reads (see [`crate::trust`]). A writer
    /// ignores it: it writes only into a store of its own.
    pub trust: Trust,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            durable: false,
            remove_on_close: false,
            max_readers: DEFAULT_MAX_READERS,
            initial_map_size: 64 << 20,
            rewrite: Rewrite::Changed,
            trust: Trust::OWN,
        }
    }
}

/// How [`Store::open`] opens a store: [`Location::Named`] by the name it is given, unless
/// `path` says where it lives (the name then only labels messages, and is still checked).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub path: Option<PathBuf>,
    pub options: Options,
}

/// A reader's (or the writer's) view of an existing store.
struct Attached {
    notify: Arc<Notify>,
    env: Arc<SharedEnv>,
}

struct Writer {
    lock: WriterLock,
    /// The data file, for reserving disk space ahead of a write.
    data: files::DataFile,
    incarnation: u64,
    version: u64,
    /// Buffers kept between publishes.
    meta: Vec<u8>,
    buffers: write::Buffers,
    last_stats: WriteStats,
}

/// One process's handle on a store: the writer's, or a reader's.
pub struct LmdbStore {
    label: String,
    /// The process that opened it; in any other (a forked child) it is inert.
    owner: Owner,
    dir: PathBuf,
    /// Whether the writer's close removes the directory.
    removable: bool,
    options: Options,
    writer: Option<Writer>,
    attached: Option<Attached>,
    /// LMDB's key size limit (keys above it are escaped; see layout.rs).
    max_key: usize,
    /// A reader saw the store removed and has not seen a new writer since.
    saw_close: bool,
    closed_here: bool,
}

/// LMDB's key limit in its default build; the environment reports the real one.
const DEFAULT_MAX_KEY: usize = 511;

impl LmdbStore {
    fn new(location: &Location, options: &Options) -> Result<Self> {
        let (label, dir, removable) = match location {
            Location::Named(name) => {
                names::validate(name)?;
                let dir = layout::temp_dir(name);
                let label = format!("LMDB store {name:?} ({})", dir.display());
                (label, dir, true)
            }
            Location::Path(path) => {
                let label = format!("LMDB store at {}", path.display());
                (label, path.clone(), options.remove_on_close)
            }
        };
        Ok(LmdbStore {
            label,
            owner: Owner::current(),
            dir,
            removable,
            options: options.clone(),
            writer: None,
            attached: None,
            max_key: DEFAULT_MAX_KEY,
            saw_close: false,
            closed_here: false,
        })
    }

    /// Becomes the writer of the store, creating it or carrying on from the snapshot it
    /// holds (left by an earlier writer, alive no more). Fails with
    /// [`Error::WriterExists`] while another writer is alive.
    pub fn create(location: &Location, options: &Options) -> Result<Self> {
        let mut store = LmdbStore::new(location, options)?;
        let in_temp = matches!(location, Location::Named(_));
        let created_dir = files::make_dir(&store.dir, &store.label, in_temp)?;
        let lock = WriterLock::acquire(&store.dir, &store.label)?;
        let opened =
            files::check(&store.dir, Trust::OWN).and_then(|_| store.open_for_writing(options));
        let (env, data, incarnation, version) = match opened {
            Ok(found) => found,
            Err(e) => {
                // Leave nothing behind but what was there: a notify file never
                // initialised is ours, and so is all of a directory we just created.
                lock.discard_if_new();
                if let Some(top) = &created_dir {
                    let _ = files::remove_files(&store.dir, &store.label);
                    files::remove_created(&store.dir, top);
                }
                return Err(e);
            }
        };
        lock.init();
        store.attached = Some(Attached {
            notify: lock.notify(),
            env,
        });
        store.writer = Some(Writer {
            lock,
            data,
            incarnation,
            version,
            meta: Vec::new(),
            buffers: write::Buffers::default(),
            last_stats: WriteStats::default(),
        });
        Ok(store)
    }

    /// Opens the environment for the writer (holding the lock): its durability, a map of
    /// at least the initial size, its data file, and the (incarnation, version) to carry
    /// on from.
    fn open_for_writing(
        &mut self,
        options: &Options,
    ) -> Result<(Arc<SharedEnv>, files::DataFile, u64, u64)> {
        let label = self.label.clone();
        let env = env::open(&self.dir, &label, options.max_readers, true)?;
        env.set_durable(&label, options.durable)?;
        let (map_size, _) = env.usage(&label)?;
        if map_size < options.initial_map_size {
            env.resize(&label, options.initial_map_size)?;
        }
        // env::open refused a directory that holds anything but a store of ours.
        let (incarnation, version) = env.read(&label, |txn, dbs| {
            Ok::<_, Error>(match read::meta(&label, txn, dbs)? {
                Some(meta) => (meta.id.incarnation, meta.id.version),
                None => (files::random_incarnation(), 0),
            })
        })?;
        self.max_key = env.max_key_size(&label)?;
        let data = files::DataFile::open(&self.dir, &label)?;
        Ok((env, data, incarnation, version))
    }

    /// A reader. The store need not exist yet: reads return None until a writer has
    /// created it. An unusable path (not a directory, no permission) is an error now.
    pub fn attach(location: &Location, options: &Options) -> Result<Self> {
        let mut store = LmdbStore::new(location, options)?;
        store.attach_now()?;
        Ok(store)
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn is_writer(&self) -> bool {
        self.writer.is_some()
    }

    fn check_open(&self) -> Result<()> {
        self.owner.check(|| self.label.clone())?;
        if self.closed_here {
            return Err(Error::Usage(format!("{}: used after close()", self.label)));
        }
        Ok(())
    }

    /// Attaches if the store exists and is open. Ok(false) when there is nothing to attach
    /// to; [`Error::Closed`] after the writer removed the store this reader was reading.
    fn attach_now(&mut self) -> Result<bool> {
        self.check_open()?;
        if let Some(attached) = &self.attached {
            if !attached.notify.is_closed() && !attached.env.is_retired() {
                return Ok(true);
            }
            // The writer removed this store. Let go of it (its environment is closed once
            // no handle uses it) and look for a successor at the same place.
            self.attached = None;
            self.saw_close = true;
        }
        let trust = self.options.trust;
        // The directory first: once it is trusted, nobody else can replace what is in it.
        let found = files::check(&self.dir, trust)?;
        let notify = match found.then(|| Notify::open(&self.dir, &self.label, trust)) {
            Some(opened) => opened?,
            None => None,
        };
        let notify = match notify {
            Some(n) if !n.is_closed() => n,
            _ if self.saw_close => {
                return Err(Error::Closed {
                    store: self.label.clone(),
                })
            }
            _ => return Ok(false),
        };
        let env = env::open(&self.dir, &self.label, self.options.max_readers, false)?;
        self.max_key = env.max_key_size(&self.label)?;
        self.saw_close = false;
        self.attached = Some(Attached {
            notify: Arc::new(notify),
            env,
        });
        Ok(true)
    }

    /// The environment and the label, attaching first if needed; None when there is no
    /// store yet.
    fn env(&mut self) -> Result<Option<(&SharedEnv, &str)>> {
        if !self.attach_now()? {
            return Ok(None);
        }
        let label = self.label.as_str();
        Ok(self.attached.as_ref().map(|a| (&*a.env, label)))
    }

    /// Publishes `blob` (an encoded dict, see docs/format.md) as the next version, in one
    /// write transaction, and returns that version.
    pub fn publish(&mut self, blob: &[u8]) -> Result<u64> {
        self.check_open()?;
        let label = &self.label;
        let (Some(w), Some(attached)) = (self.writer.as_mut(), self.attached.as_ref()) else {
            return Err(Error::Usage(format!("{label}: only the writer can write")));
        };
        let prepared = write::prepare(label, blob, self.max_key, &mut w.buffers)?;
        let version = w.version + 1;
        layout::Meta {
            incarnation: w.incarnation,
            version,
            count: prepared.len() as u64,
            table: prepared.table(),
        }
        .write_to(&mut w.meta);
        let env = &attached.env;
        // Grow the map ahead when the new snapshot may not fit next to the old one
        // (copy-on-write keeps both until the commit): cheaper than failing half-way.
        // Killed readers may pin old pages: release them first.
        env.clear_stale_readers(label)?;
        let (map_size, used) = env.usage(label)?;
        let needed = used + 2 * prepared.size_estimate() + (1 << 20);
        if needed > map_size {
            env.resize(label, needed)?;
        }
        // On a full disk LMDB's page writes come up short, which it reports as EIO, and
        // only after the snapshot was assembled: reserve the space first, so that a full
        // disk is ENOSPC here, before anything is written, and the next write can
        // succeed once space is freed.
        w.data.reserve(needed as u64)?;
        let rewrite = self.options.rewrite;
        let (meta, scratch) = (&w.meta, &mut w.buffers.record);
        let written = env.write(label, |txn, dbs| match rewrite {
            Rewrite::Changed => prepared.write_changed(txn, dbs, meta, scratch),
            Rewrite::All => prepared.write_all(txn, dbs, meta, scratch),
        });
        prepared.recycle(&mut w.buffers);
        let stats = written?;
        w.version = version;
        w.last_stats = stats;
        w.lock.published();
        Ok(version)
    }

    /// What the last publish wrote (for tests and measurements).
    pub fn last_write(&self) -> Option<WriteStats> {
        self.writer.as_ref().map(|w| w.last_stats)
    }

    /// The latest snapshot, decoded by the sink `sink_for` returns for it (it is told
    /// which snapshot it will see, so it can reuse what it built for the same one), in one
    /// read transaction. None before the first write. (See [`Store::decode_with`] for one
    /// key's value.)
    pub fn read_with<'s, S: SinkOf<V, E> + 's, V, E: ReadError>(
        &mut self,
        sink_for: impl FnOnce(SnapshotId) -> &'s mut S,
    ) -> Result<Option<V>, E> {
        self.decode_with(None, sink_for)
    }

    /// The latest snapshot as a [`Value`].
    pub fn read_value(&mut self) -> Result<Option<Value>> {
        let mut sink = StoreSink(ValueSink::default());
        self.decode_with(None, |_| &mut sink)
            .map_err(|e: SinkError| e.into_error("LMDB snapshot"))
    }

    /// One key's value as a [`Value`].
    pub fn get_value<'k>(&mut self, key: impl Into<KeyRef<'k>>) -> Result<Option<Value>> {
        let mut sink = StoreSink(ValueSink::default());
        self.decode_with(Some(key.into()), |_| &mut sink)
            .map_err(|e: SinkError| e.into_error("LMDB snapshot"))
    }

    /// The latest snapshot, held: its records copied out of the map in one read
    /// transaction (see [`HeldRecords`]). None before the first write.
    pub fn hold(&mut self) -> Result<Option<Arc<HeldRecords>>> {
        let Some((env, label)) = self.env()? else {
            return Ok(None);
        };
        env.read(label, |txn, dbs| {
            Ok(held::hold(label, txn, dbs)?.map(Arc::new))
        })
    }

    /// The top-level keys of the latest snapshot, in the dict's order.
    pub fn keys(&mut self) -> Result<Vec<Key>> {
        self.keys_with(|keys| keys.iter().map(|k| k.to_key()).collect())
    }

    /// The same keys, borrowed from the map, handed to `f`.
    pub fn keys_with<R>(&mut self, f: impl FnOnce(&[KeyRef<'_>]) -> R) -> Result<R> {
        let Some((env, label)) = self.env()? else {
            return Ok(f(&[]));
        };
        env.read(label, |txn, dbs| read::keys(label, txn, dbs, f))
    }

    /// The latest version, 0 before the first write.
    pub fn version(&mut self) -> Result<u64> {
        if let Some(w) = &self.writer {
            self.check_open()?;
            return Ok(w.version);
        }
        let Some((env, label)) = self.env()? else {
            return Ok(0);
        };
        env.read(label, |txn, dbs| {
            Ok(read::meta(label, txn, dbs)?.map_or(0, |m| m.id.version))
        })
    }

    /// Whether commits are fsynced, as LMDB reports it (None before attaching).
    pub fn is_durable(&mut self) -> Result<Option<bool>> {
        self.env()?
            .map(|(env, label)| env.is_durable(label))
            .transpose()
    }

    /// Map size and bytes in use (None before attaching).
    pub fn map_usage(&mut self) -> Result<Option<(usize, usize)>> {
        self.env()?.map(|(env, label)| env.usage(label)).transpose()
    }

    /// What `wait_for_update` sleeps on; None while the store does not exist.
    pub fn waiter(&mut self) -> Result<Option<Waiter>> {
        if !self.attach_now()? {
            return Ok(None);
        }
        Ok(self.attached.as_ref().map(|a| Waiter {
            label: self.label.clone(),
            notify: a.notify.clone(),
            env: a.env.clone(),
        }))
    }

    /// Blocks until a version newer than `after` is published and returns it; sleeps on
    /// the notify file's futex (no spinning), or polls gently while the store does not
    /// exist.
    pub fn wait_for_update(&mut self, after: u64, timeout: Duration) -> Result<u64> {
        Store::wait_for_update(self, after, timeout)
    }

    /// The writer: a store in the temp dir (or with `remove_on_close`) is marked closed,
    /// its waiters woken and its files removed; otherwise its data stays for the next
    /// process, flushed to disk. A reader only lets go. Idempotent; also run on drop.
    /// In a process that did not open the store (a forked child), nothing is flushed,
    /// marked or removed, and the environment is left open (see `env::open`).
    pub fn close(&mut self) -> Result<()> {
        if self.closed_here {
            return Ok(());
        }
        self.closed_here = true;
        let attached = self.attached.take();
        if !self.owner.is_current() {
            // The notify mapping and the lock's descriptor (dropped with the store) are
            // this process's own copies. The environment stays open, unused, unless a
            // store opened here at the same path needs it closed (`env::open`).
            if let Some(Attached { env, .. }) = attached {
                process::abandon(env);
            }
            return Ok(());
        }
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        let Some(Attached { env, .. }) = attached else {
            return Ok(());
        };
        if !self.removable {
            let synced = if self.options.durable {
                Ok(())
            } else {
                env.sync(&self.label)
            };
            drop(writer.lock);
            return synced;
        }
        writer.lock.mark_closed();
        // Close the environment in this process before its files go, so that a writer
        // created here later opens the new files rather than sharing the removed ones.
        env.retire();
        let mut result = files::remove_files(&self.dir, &self.label);
        if let Err(e) = writer.lock.remove_and_release() {
            result = result.and(Err(e));
        }
        // The directory last, and only if empty: a user's directory may hold files of
        // theirs, and once the lock is released a new writer may already be creating its
        // files in ours.
        match std::fs::remove_dir(&self.dir) {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::DirectoryNotEmpty
                ) => {}
            Err(e) => {
                let what = format!("{}: removing {}", self.label, self.dir.display());
                result = result.and(Err(Error::io(what, e)));
            }
        }
        result
    }
}

impl Store for LmdbStore {
    type Options = Config;
    type Waiter = Waiter;
    type Held = HeldRecords;

    fn open(name: &str, writer: bool, config: &Config) -> Result<Self> {
        names::validate(name)?;
        let location = match &config.path {
            Some(path) => Location::Path(path.clone()),
            None => Location::Named(name.to_owned()),
        };
        if writer {
            LmdbStore::create(&location, &config.options)
        } else {
            LmdbStore::attach(&location, &config.options)
        }
    }

    fn label(&self) -> String {
        self.label.clone()
    }

    fn publish(&mut self, blob: &[u8]) -> Result<u64> {
        LmdbStore::publish(self, blob)
    }

    /// Straight from the map: every record in one read transaction, or only the one of
    /// `key`.
    fn decode_with<'s, S: SinkOf<V, E> + 's, V, E: ReadError>(
        &mut self,
        key: Option<KeyRef<'_>>,
        sink_for: impl FnOnce(SnapshotId) -> &'s mut S,
    ) -> Result<Option<V>, E> {
        let max_key = self.max_key;
        let Some((env, label)) = self.env()? else {
            return Ok(None);
        };
        env.read(label, |txn, dbs| match key {
            None => read::read(label, txn, dbs, sink_for),
            Some(key) => read::get(label, txn, dbs, key, max_key, sink_for),
        })
    }

    fn keys_with<R, E: ReadError>(&mut self, f: impl FnOnce(&[KeyRef<'_>]) -> R) -> Result<R, E> {
        Ok(LmdbStore::keys_with(self, f)?)
    }

    fn hold(&mut self) -> Result<Option<Arc<HeldRecords>>> {
        LmdbStore::hold(self)
    }

    fn holds_cheaply(&self) -> bool {
        false
    }

    fn version(&mut self) -> Result<u64> {
        LmdbStore::version(self)
    }

    fn waiter(&mut self) -> Result<Option<Waiter>> {
        LmdbStore::waiter(self)
    }

    fn close(&mut self) -> Result<()> {
        LmdbStore::close(self)
    }
}

impl Drop for LmdbStore {
    fn drop(&mut self) {
        // A writer dropped without close still removes what it should.
        let _ = self.close();
    }
}
