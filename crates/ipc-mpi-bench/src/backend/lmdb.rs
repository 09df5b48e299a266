//! `lmdb`: ipc-core's LMDB store, in a temp dir under the project prefix.

use ipc_core::lmdb::{Config, LmdbStore};

use super::store::StoreBackend;
use super::Entry;

pub const ENTRY: Entry = Entry {
    name: "lmdb",
    make: |_| Box::new(StoreBackend::<LmdbStore>::new("lmdb", Config::default())),
    takes_endpoint: false,
};
