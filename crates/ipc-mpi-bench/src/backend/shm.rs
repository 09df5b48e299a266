//! `shm`: ipc-core's shared-memory store.

use ipc_core::shm::{Options, ShmStore};

use super::store::StoreBackend;
use super::Entry;

pub const ENTRY: Entry = Entry {
    name: "shm",
    make: |_| Box::new(StoreBackend::<ShmStore>::new("shm", Options::default())),
    takes_endpoint: false,
};
