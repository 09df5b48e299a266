//! `shm`: ipc-core's shared-memory store, read into `Value`s.

use ipc_core::shm::ShmStore;
use ipc_core::Value;

use super::{Backend, BoxError, Entry, Env};

pub const ENTRY: Entry = Entry {
    name: "shm",
    display_name: "SharedMemory (Rust)",
    reference: Some("py-shm"),
    self_test: false,
    make,
};

fn make(_: &Env) -> Box<dyn Backend> {
    Box::new(Shm(None))
}

struct Shm(Option<ShmStore>);

impl Shm {
    fn store(&mut self) -> Result<&mut ShmStore, BoxError> {
        self.0
            .as_mut()
            .ok_or_else(|| "shm: used before initialize".into())
    }
}

impl Backend for Shm {
    fn initialize(&mut self, name: &str, is_writer: bool) -> Result<(), BoxError> {
        self.0 = Some(if is_writer {
            ShmStore::create(name)?
        } else {
            ShmStore::attach(name)?
        });
        Ok(())
    }

    fn write(&mut self, data: &Value) -> Result<(), BoxError> {
        let blob = data.encode()?;
        self.store()?.publish(&blob)?;
        Ok(())
    }

    fn read(&mut self) -> Result<Option<Value>, BoxError> {
        match self.store()?.latest()? {
            Some(snapshot) => Ok(Some(Value::decode(snapshot.blob())?)),
            None => Ok(None),
        }
    }

    fn get(&mut self, key: &str) -> Result<Option<Value>, BoxError> {
        match self.store()?.latest()? {
            Some(snapshot) => Ok(Value::decode_key(snapshot.blob(), key)?),
            None => Ok(None),
        }
    }

    fn cleanup(&mut self) -> Result<(), BoxError> {
        match self.0.take() {
            Some(mut store) => Ok(store.close()?),
            None => Ok(()),
        }
    }
}
