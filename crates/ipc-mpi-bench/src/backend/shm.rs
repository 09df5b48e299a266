//! `shm`: ipc-core's shared-memory store, read into `Value`s.

use ipc_core::shm::ShmStore;
use ipc_core::Value;

use super::store::{Store, StoreBackend};
use super::{BoxError, Entry};

pub const ENTRY: Entry = Entry {
    name: "shm",
    display_name: "SharedMemory (Rust)",
    reference: Some("py-shm"),
    self_test: false,
    make: |_| Box::new(StoreBackend::<ShmStore>::new("shm", (), false)),
};

impl Store for ShmStore {
    type Config = ();

    fn open(name: &str, is_writer: bool, _: &()) -> Result<Self, BoxError> {
        Ok(if is_writer {
            ShmStore::create(name)?
        } else {
            ShmStore::attach(name)?
        })
    }

    fn publish(&mut self, blob: &[u8]) -> Result<(), BoxError> {
        ShmStore::publish(self, blob)?;
        Ok(())
    }

    fn read_value(&mut self) -> Result<Option<Value>, BoxError> {
        match self.latest()? {
            Some(snapshot) => Ok(Some(Value::decode(snapshot.blob())?)),
            None => Ok(None),
        }
    }

    fn get_value(&mut self, key: &str) -> Result<Option<Value>, BoxError> {
        match self.latest()? {
            Some(snapshot) => Ok(Value::decode_key(snapshot.blob(), key)?),
            None => Ok(None),
        }
    }

    fn close(&mut self) -> Result<(), BoxError> {
        Ok(ShmStore::close(self)?)
    }
}
