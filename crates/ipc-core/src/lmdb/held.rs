//! A held LMDB snapshot: its records copied out of the map in one read transaction.
//!
//! LMDB reuses a snapshot's pages once no read transaction holds it, and a transaction
//! held for as long as a user keeps a snapshot would stop the writer from reusing any
//! page meanwhile (the file grows with every write) and take one of LMDB's reader slots.
//! So a held snapshot owns a copy of the encoded records (one memcpy, nothing decoded):
//! docs/design.md, "Held snapshots", has the measured cost.

use std::collections::HashMap;
use std::ops::Range;

use super::layout::META_KEY;
use super::read::{self, corrupt, MetaView};
use crate::codec::{DecodeError, Key, KeyRef, Table};
use crate::error::Result;
use crate::store::{HeldSnapshot, ReadError, SinkOf, SnapshotId};

use heed::RoTxn;

use super::env::Dbs;

pub struct HeldRecords {
    label: String,
    id: SnapshotId,
    /// The shared-string table, then every value, back to back.
    bytes: Vec<u8>,
    table: Range<usize>,
    /// In the dict's order: each key, whether it is ASCII, and where its value lies.
    entries: Vec<(Key, bool, Range<usize>)>,
    by_key: HashMap<Key, usize>,
}

/// The snapshot `txn` sees, copied; None before the first write.
pub fn hold(label: &str, txn: &RoTxn<'_>, dbs: Dbs) -> Result<Option<HeldRecords>> {
    let Some(MetaView {
        id,
        count,
        table_bytes,
        ..
    }) = read::meta(label, txn, dbs)?
    else {
        return Ok(None);
    };
    let records = read::records(label, txn, dbs, count)?;
    let total = table_bytes.len() + records.found.iter().map(|r| r.value.len()).sum::<usize>();
    let mut bytes = Vec::with_capacity(total);
    bytes.extend_from_slice(table_bytes);
    let mut entries = Vec::with_capacity(records.found.len());
    let mut by_key = HashMap::with_capacity(records.found.len());
    for r in records.in_order(label) {
        let r = r?;
        let start = bytes.len();
        bytes.extend_from_slice(r.value);
        by_key.insert(r.key.to_key(), entries.len());
        entries.push((r.key.to_key(), r.ascii, start..bytes.len()));
    }
    Ok(Some(HeldRecords {
        label: label.to_owned(),
        id,
        table: 0..table_bytes.len(),
        bytes,
        entries,
        by_key,
    }))
}

impl HeldRecords {
    fn table(&self) -> Result<Table<'_>> {
        Table::parse(&self.bytes[self.table.clone()])
            .map_err(|e: DecodeError| corrupt(&self.label, META_KEY, e))
    }
}

impl HeldSnapshot for HeldRecords {
    fn id(&self) -> SnapshotId {
        self.id
    }

    fn address(&self) -> *const u8 {
        self.bytes.as_ptr()
    }

    fn decode_with<S: SinkOf<V, E>, V, E: ReadError>(
        &self,
        key: Option<KeyRef<'_>>,
        sink: &mut S,
    ) -> Result<Option<V>, E> {
        let table = self.table()?;
        if let Some(key) = key {
            let Some(&i) = self.by_key.get(&key.to_key()) else {
                return Ok(None);
            };
            let value = &self.bytes[self.entries[i].2.clone()];
            return read::decode(&self.label, key, value, table, sink).map(Some);
        }
        let mut map = sink.map(self.entries.len())?;
        for (i, (key, ascii, at)) in self.entries.iter().enumerate() {
            let key = key.as_ref();
            let k = read::root_key(sink, i, key, *ascii)?;
            let v = read::decode(&self.label, key, &self.bytes[at.clone()], table, sink)?;
            sink.map_insert(&mut map, k, v)?;
        }
        sink.map_end(map).map(Some)
    }

    fn keys_with<R, E: ReadError>(&self, f: impl FnOnce(&[KeyRef<'_>]) -> R) -> Result<R, E> {
        let keys: Vec<KeyRef<'_>> = self.entries.iter().map(|(k, _, _)| k.as_ref()).collect();
        Ok(f(&keys))
    }
}
