//! What the harness runs: a [`Backend`] per store design, and the registry of them.
//!
//! To add one: its entry in `python/ipc_benchmark/backends.json` (name, display name,
//! reference, properties: [`table`]), a file in this folder with a type that implements
//! [`Backend`] (for an ipc-core store, one that implements `ipc_core::store::Store`, that
//! type is [`store::StoreBackend`]), and one [`Entry`] in [`REGISTRY`]. Nothing else in
//! the harness names a backend.

mod fault;
mod lmdb;
mod mpi_bcast;
mod shm;
mod store;
mod table;
mod zmq;

use std::rc::Rc;
use std::time::Duration;

use ipc_core::{Doc, Value};
use mpi::topology::SimpleCommunicator;

use crate::coll::Waiter;
use table::Facts;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One shared dictionary, seen from one rank: rank 0 writes, every other rank reads.
///
/// The same five operations as the Python `IPCBackend`, minus Python. Every method may
/// fail; the harness marks the record failed and still calls `cleanup` on every rank.
pub trait Backend {
    /// True for push-style designs where every read consumes one message: the writer's
    /// single write then serves every read, and runs while the readers read.
    fn consumes_messages(&self) -> bool {
        false
    }

    /// Tells a message-consuming writer how many reads its next write must serve.
    fn expect_reads(&mut self, _readers: usize, _reads_each: usize) {}

    /// Creates (writer) or attaches to (reader) the store called `name`. Names are
    /// unique per run, backend and size; OS objects get `ipc_core::names::PREFIX` too.
    fn initialize(&mut self, name: &str, is_writer: bool) -> Result<(), BoxError>;

    /// Waits, untimed, until this reader holds a snapshot: stores that deliver in the
    /// background (ZeroMQ pubsub) may still be receiving it after the write barrier.
    fn settle(&mut self, _timeout: Duration) -> Result<(), BoxError> {
        Ok(())
    }

    /// The latest version this reader sees (0 before the first write). Backends whose
    /// reads consume messages have none.
    fn version(&mut self) -> Result<u64, BoxError> {
        Err("this backend has no versions: its reads consume messages".into())
    }

    /// Blocks until a version newer than `after` is there and returns it.
    fn wait_for_update(&mut self, _after: u64, _timeout: Duration) -> Result<u64, BoxError> {
        Err("this backend has no versions: its reads consume messages".into())
    }

    /// Encodes `data` and publishes it: the two are timed together.
    fn write(&mut self, data: &Value) -> Result<(), BoxError>;

    /// Fetches the latest snapshot and decodes all of it into `doc`, which the reader
    /// keeps from one read to the next (so that decoding allocates nothing once it has
    /// held the largest snapshot); false if nothing was written.
    fn read(&mut self, doc: &mut Doc) -> Result<bool, BoxError>;

    /// Fetches the latest snapshot and decodes only the value of `key` into `doc`;
    /// false if the snapshot or the key is missing.
    fn get(&mut self, key: &str, doc: &mut Doc) -> Result<bool, BoxError>;

    /// Releases everything; the writer also removes what it created. Called on every
    /// rank even when `initialize` failed or never ran, so it must tolerate that.
    fn cleanup(&mut self) -> Result<(), BoxError>;
}

/// What backends may use besides their own store.
pub struct Env {
    /// A communicator of their own (the writer and the case's active readers, apart from
    /// the world), so that a backend's messages never mix with the harness's collectives.
    pub comm: Rc<SimpleCommunicator>,
    pub waiter: Waiter,
    /// The harness's per-phase timeout (--timeout).
    pub timeout: Duration,
    /// Where a ZeroMQ store binds and connects when readers are on other nodes
    /// (`tcp://host:port`); None for its default `ipc://` sockets.
    pub zmq_endpoint: Option<String>,
}

/// A backend as the results name it: its code, and its entry in backends.json.
pub struct Entry {
    pub name: &'static str,
    pub make: fn(&Env) -> Box<dyn Backend>,
    /// Binds the address in [`Env::zmq_endpoint`] when it is set (the ZeroMQ stores).
    pub takes_endpoint: bool,
}

impl Entry {
    /// Its display name, reference and properties: backends.json (a unit test checks
    /// that every entry has one).
    pub fn facts(&self) -> &'static Facts<'static> {
        table::facts(self.name)
            .unwrap_or_else(|| panic!("backends.json has no native entry {:?}", self.name))
    }

    /// A new backend; panics if its code and backends.json disagree on whether reads
    /// consume messages.
    pub fn build(&self, env: &Env) -> Box<dyn Backend> {
        let backend = (self.make)(env);
        let listed = self.facts().properties.as_ref().map(|p| p.message_per_read);
        assert!(
            listed.is_none_or(|m| m == backend.consumes_messages()),
            "backends.json and the code of {:?} disagree on message_per_read",
            self.name
        );
        backend
    }
}

pub const REGISTRY: &[Entry] = &[
    shm::ENTRY,
    lmdb::ENTRY,
    zmq::PUBSUB,
    zmq::PUSH,
    mpi_bcast::ENTRY,
    fault::ENTRY,
];

pub fn lookup(name: &str) -> Option<&'static Entry> {
    REGISTRY.iter().find(|e| e.name == name)
}

/// Every backend a user may name.
pub fn names() -> Vec<&'static str> {
    REGISTRY.iter().map(|e| e.name).collect()
}

/// What runs when --backends is not given: all but the self-tests.
pub fn default_names() -> Vec<&'static str> {
    REGISTRY
        .iter()
        .filter(|e| !e.facts().self_test)
        .map(|e| e.name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_and_backends_json_agree() {
        let coded: Vec<_> = REGISTRY.iter().map(|e| e.name).collect();
        let listed: Vec<_> = table::native().iter().map(|f| f.name).collect();
        assert_eq!(coded, listed, "REGISTRY and backends.json's native entries");
        for f in table::native() {
            assert_eq!(f.implementation, "rust", "{}", f.name);
            assert_ne!(
                f.reference,
                Some(f.name),
                "{} names itself as its reference",
                f.name
            );
            assert_eq!(f.properties.is_none(), f.self_test, "{}", f.name);
        }
        assert_eq!(
            default_names(),
            ["shm", "lmdb", "zmq", "zmq-push", "mpi-bcast"]
        );
    }

    #[test]
    fn python_only_entries_are_left_out() {
        // The file also lists the reference backends and the peers, which only the
        // Python harness runs: parsed with the rest, never offered here.
        for name in [
            "py-shm",
            "redis",
            "manager",
            "ultradict",
            "shared-memory-dict",
        ] {
            assert!(table::facts(name).is_none(), "{name}");
        }
    }
}
