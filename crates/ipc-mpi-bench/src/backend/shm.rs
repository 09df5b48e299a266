//! `shm`: ipc-core's shared-memory store, read into a `Doc`.

use ipc_core::shm::ShmStore;
use ipc_core::Doc;

use super::store::{decode_blob, Store, StoreBackend};
use super::{BoxError, Entry};

pub const ENTRY: Entry = Entry {
    name: "shm",
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

    fn read_into(&mut self, doc: &mut Doc) -> Result<bool, BoxError> {
        decode_blob(self.latest()?.map(|s| s.blob()), None, doc)
    }

    fn get_into(&mut self, key: &str, doc: &mut Doc) -> Result<bool, BoxError> {
        decode_blob(self.latest()?.map(|s| s.blob()), Some(key), doc)
    }

    fn close(&mut self) -> Result<(), BoxError> {
        Ok(ShmStore::close(self)?)
    }
}
