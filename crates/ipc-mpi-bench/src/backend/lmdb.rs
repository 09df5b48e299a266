//! `lmdb`: ipc-core's LMDB store (in a temp dir under the project prefix), read into
//! `Value`s.

use ipc_core::lmdb::{LmdbStore, Location, Options};
use ipc_core::Value;

use super::{Backend, BoxError, Entry, Env};

pub const ENTRY: Entry = Entry {
    name: "lmdb",
    display_name: "LMDB (Rust)",
    reference: Some("py-lmdb"),
    self_test: false,
    make,
};

fn make(_: &Env) -> Box<dyn Backend> {
    Box::new(Lmdb(None))
}

struct Lmdb(Option<LmdbStore>);

impl Lmdb {
    fn store(&mut self) -> Result<&mut LmdbStore, BoxError> {
        self.0
            .as_mut()
            .ok_or_else(|| "lmdb: used before initialize".into())
    }
}

impl Backend for Lmdb {
    fn initialize(&mut self, name: &str, is_writer: bool) -> Result<(), BoxError> {
        let (location, options) = (Location::Named(name.into()), Options::default());
        self.0 = Some(if is_writer {
            LmdbStore::create(&location, &options)?
        } else {
            LmdbStore::attach(&location, &options)?
        });
        Ok(())
    }

    fn write(&mut self, data: &Value) -> Result<(), BoxError> {
        let blob = data.encode()?;
        self.store()?.publish(&blob)?;
        Ok(())
    }

    fn read(&mut self) -> Result<Option<Value>, BoxError> {
        Ok(self.store()?.read_value()?)
    }

    fn get(&mut self, key: &str) -> Result<Option<Value>, BoxError> {
        Ok(self.store()?.get_value(key)?)
    }

    fn cleanup(&mut self) -> Result<(), BoxError> {
        match self.0.take() {
            Some(mut store) => Ok(store.close()?),
            None => Ok(()),
        }
    }
}
