//! `lmdb`: ipc-core's LMDB store (in a temp dir under the project prefix), read into a
//! `Doc` straight from the map, one record at a time.

use ipc_core::lmdb::{LmdbStore, Location, Options, SinkError, StoreSink};
use ipc_core::Doc;

use super::store::{Store, StoreBackend};
use super::{BoxError, Entry};

pub const ENTRY: Entry = Entry {
    name: "lmdb",
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

    fn read_into(&mut self, doc: &mut Doc) -> Result<bool, BoxError> {
        decode_records(self, None, doc)
    }

    fn get_into(&mut self, key: &str, doc: &mut Doc) -> Result<bool, BoxError> {
        decode_records(self, Some(key), doc)
    }

    fn close(&mut self) -> Result<(), BoxError> {
        Ok(LmdbStore::close(self)?)
    }
}

/// LMDB's counterpart of `decode_blob`: all the records of the latest snapshot, or the
/// one of `key`, decoded into `doc` straight from the map.
fn decode_records(
    store: &mut LmdbStore,
    key: Option<&str>,
    doc: &mut Doc,
) -> Result<bool, BoxError> {
    let found = doc.decode_with(|sink| {
        let mut sink = StoreSink(sink);
        match key {
            None => store.read_with(|_| &mut sink),
            Some(key) => store.get_with(key, |_| &mut sink),
        }
    });
    Ok(found.map_err(|e: SinkError| e.0)?)
}
