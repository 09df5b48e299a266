//! `lmdb`: ipc-core's LMDB store (in a temp dir under the project prefix), read into
//! `Value`s.

use ipc_core::lmdb::{LmdbStore, Location, Options};
use ipc_core::Value;

use super::store::{Store, StoreBackend};
use super::{BoxError, Entry};

pub const ENTRY: Entry = Entry {
    name: "lmdb",
    display_name: "LMDB (Rust)",
    reference: Some("py-lmdb"),
    self_test: false,
    make: |_| Box::new(StoreBackend::<LmdbStore>::new("lmdb", (), false)),
};

impl Store for LmdbStore {
    type Config = ();

    fn open(name: &str, is_writer: bool, _: &()) -> Result<Self, BoxError> {
        let (location, options) = (Location::Named(name.into()), Options::default());
        Ok(if is_writer {
            LmdbStore::create(&location, &options)?
        } else {
            LmdbStore::attach(&location, &options)?
        })
    }

    fn publish(&mut self, blob: &[u8]) -> Result<(), BoxError> {
        LmdbStore::publish(self, blob)?;
        Ok(())
    }

    fn read_value(&mut self) -> Result<Option<Value>, BoxError> {
        Ok(LmdbStore::read_value(self)?)
    }

    fn get_value(&mut self, key: &str) -> Result<Option<Value>, BoxError> {
        Ok(LmdbStore::get_value(self, key)?)
    }

    fn close(&mut self) -> Result<(), BoxError> {
        Ok(LmdbStore::close(self)?)
    }
}
