//! Reading a snapshot inside one read transaction, decoding straight from LMDB's map.

use heed::RoTxn;

use super::env::{lmdb_error, Db};
use super::layout::{self, Meta, Record, ESCAPED, META_KEY};
use crate::codec::{decode_value, DecodeError, Sink, Skip, Table};
use crate::error::{Error, Result};

/// Names a snapshot: versions restart if a store is removed and created again, the
/// incarnation then differs. A reader keys its caches on this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SnapshotId {
    pub incarnation: u64,
    pub version: u64,
}

#[cold]
fn corrupt(label: &str, record: &[u8], source: DecodeError) -> Error {
    let record = if record == META_KEY {
        "the meta record".to_owned()
    } else if record.first() == Some(&ESCAPED) {
        format!("an escaped record {record:02x?}")
    } else {
        format!("record {:?}", String::from_utf8_lossy(record))
    };
    Error::Corrupt {
        store: format!("{label}, {record}"),
        source,
    }
}

/// The meta record and its table; None before the first write.
pub fn meta<'t>(label: &str, txn: &'t RoTxn<'_>, db: Db) -> Result<Option<(Meta<'t>, Table<'t>)>> {
    let Some(bytes) = db
        .get(txn, META_KEY)
        .map_err(|e| lmdb_error(label, "reading the meta record", e))?
    else {
        return Ok(None);
    };
    let meta = Meta::parse(bytes).map_err(|e| corrupt(label, META_KEY, e))?;
    let table = Table::parse(meta.table).map_err(|e| corrupt(label, META_KEY, e))?;
    Ok(Some((meta, table)))
}

fn snapshot_id(meta: &Meta<'_>) -> SnapshotId {
    SnapshotId {
        incarnation: meta.incarnation,
        version: meta.version,
    }
}

/// The meta record of the last snapshot a handle read, kept between its transactions.
/// LMDB names a snapshot by the id of the transaction that committed it, so a read that
/// finds the same id needs no lookup. That matters for `get`: the meta record sorts last,
/// and finding it costs a full descent of the tree, as much as finding the key itself.
/// Valid for one environment only: a handle that attaches to another one starts afresh.
#[derive(Default)]
pub struct MetaCache {
    /// The snapshot (LMDB transaction id) described, if any.
    txn_id: Option<usize>,
    /// None when that snapshot has no meta record (nothing published yet).
    meta: Option<CachedMeta>,
}

struct CachedMeta {
    id: SnapshotId,
    count: u64,
    table: Vec<u8>,
}

/// What a reader needs from the meta record.
pub struct MetaView<'c> {
    pub id: SnapshotId,
    pub count: u64,
    pub table: Table<'c>,
}

impl MetaCache {
    /// The meta of the snapshot `txn` reads; None before the first write.
    pub fn get(&mut self, label: &str, txn: &RoTxn<'_>, db: Db) -> Result<Option<MetaView<'_>>> {
        let txn_id = txn.id();
        if self.txn_id != Some(txn_id) {
            self.txn_id = None; // stays so if reading fails
            self.meta = match meta(label, txn, db)? {
                None => None,
                Some((m, _)) => {
                    // Reuse the previous table's allocation.
                    let mut table = self.meta.take().map(|c| c.table).unwrap_or_default();
                    table.clear();
                    table.extend_from_slice(m.table);
                    Some(CachedMeta {
                        id: snapshot_id(&m),
                        count: m.count,
                        table,
                    })
                }
            };
            self.txn_id = Some(txn_id);
        }
        let Some(c) = &self.meta else {
            return Ok(None);
        };
        // O(1), and checked before when the table was cached: cannot fail.
        let table = Table::parse(&c.table).map_err(|e| corrupt(label, META_KEY, e))?;
        Ok(Some(MetaView {
            id: c.id,
            count: c.count,
            table,
        }))
    }
}

/// Every record of the snapshot, located, with the dict's order: `order` lists indexes
/// into `found` (which is in LMDB's key order) by ordinal.
struct Records<'t> {
    found: Vec<Record<'t>>,
    order: Vec<u32>,
}

impl<'t> Records<'t> {
    /// The records in the dict's order. Every index is valid (`records` checked), but a
    /// bad one would still be an error, not a panic.
    fn in_order<'r>(&'r self, label: &'r str) -> impl Iterator<Item = Result<&'r Record<'t>>> {
        self.order.iter().map(move |&i| {
            self.found.get(i as usize).ok_or_else(|| {
                corrupt(label, META_KEY, DecodeError::new(32, "records are missing"))
            })
        })
    }
}

/// Reads every record, checked against the meta record: as many as it says, ordinals
/// unique and below the count.
fn records<'t>(label: &str, txn: &'t RoTxn<'_>, db: Db, count: u64) -> Result<Records<'t>> {
    let failed = |e| lmdb_error(label, "reading the records", e);
    // The count comes from the file, so it is checked against LMDB's own before anything
    // is allocated by it.
    let stored = db.len(txn).map_err(failed)?;
    if stored != count.saturating_add(1) {
        let why = format!(
            "the snapshot should have {count} records, the database holds {}",
            stored.saturating_sub(1)
        );
        return Err(corrupt(label, META_KEY, DecodeError::new(32, why)));
    }
    let n = count as usize;
    // Records come sorted by key; `at[ordinal]` says where each one landed.
    let mut found: Vec<Record<'t>> = Vec::with_capacity(n);
    let mut at = vec![u32::MAX; n];
    for item in db.iter(txn).map_err(failed)? {
        let (key, data) = item.map_err(failed)?;
        if key == META_KEY {
            continue;
        }
        if key.first() == Some(&0xFF) {
            let e = DecodeError::new(0, "a record this project does not write");
            return Err(corrupt(label, key, e));
        }
        let record = layout::parse_record(key, data).map_err(|e| corrupt(label, key, e))?;
        let slot = usize::try_from(record.ordinal)
            .ok()
            .and_then(|i| at.get_mut(i));
        match slot {
            Some(slot) if *slot == u32::MAX => *slot = found.len() as u32,
            Some(_) => {
                let e = DecodeError::new(0, format!("ordinal {} is used twice", record.ordinal));
                return Err(corrupt(label, key, e));
            }
            None => {
                let why = format!("ordinal {} is not below the count {n}", record.ordinal);
                return Err(corrupt(label, key, DecodeError::new(0, why)));
            }
        }
        found.push(record);
    }
    // n records (checked above), each with its own ordinal below n: every slot of
    // `order` is filled.
    Ok(Records { found, order: at })
}

/// Decodes one record's value. A failure is reported as `Error::Corrupt` naming the store
/// and the key; the decoder's own error does not know them, so on that (cold) path the
/// value is walked again to recover the position.
#[inline]
fn decode<'t, S, V, E>(
    label: &str,
    key: &[u8],
    value: &'t [u8],
    table: Table<'t>,
    sink: &mut S,
) -> Result<V, E>
where
    S: for<'a> Sink<'a, Value = V, Error = E>,
    E: From<Error>,
{
    match decode_value(value, table, sink) {
        Ok(v) => Ok(v),
        Err(e) => Err(match decode_value(value, table, &mut Skip) {
            Err(source) => corrupt(label, key, source).into(),
            Ok(()) => e, // the sink failed (out of memory, say), not the data
        }),
    }
}

/// The whole snapshot, decoded by the sink `sink_for` hands out for it.
pub fn read<'t, 's, S, V, E>(
    label: &str,
    txn: &'t RoTxn<'_>,
    db: Db,
    cache: &mut MetaCache,
    sink_for: impl FnOnce(SnapshotId) -> &'s mut S,
) -> Result<Option<V>, E>
where
    S: for<'a> Sink<'a, Value = V, Error = E> + 's,
    E: From<Error>,
{
    let Some(MetaView { id, count, table }) = cache.get(label, txn, db)? else {
        return Ok(None);
    };
    let records = records(label, txn, db, count)?;
    let sink = sink_for(id);
    let mut map = sink.map(records.found.len())?;
    for (i, r) in records.in_order(label).enumerate() {
        let r = r?;
        let k = sink.root_key(i, r.key, r.ascii)?;
        let v = decode(label, r.key.as_bytes(), r.value, table, sink)?;
        sink.map_insert(&mut map, k, v)?;
    }
    sink.map_end(map).map(Some)
}

/// One key's value, decoded alone.
#[allow(clippy::too_many_arguments)]
pub fn get<'t, 's, S, V, E>(
    label: &str,
    txn: &'t RoTxn<'_>,
    db: Db,
    cache: &mut MetaCache,
    key: &str,
    max_key: usize,
    sink_for: impl FnOnce(SnapshotId) -> &'s mut S,
) -> Result<Option<V>, E>
where
    S: for<'a> Sink<'a, Value = V, Error = E> + 's,
    E: From<Error>,
{
    let Some(MetaView { id, count, table }) = cache.get(label, txn, db)? else {
        return Ok(None);
    };
    let failed = |e| lmdb_error(label, &format!("reading record {key:?}"), e);
    let (ordinal, value) = if layout::is_escaped(key, max_key) {
        match find_escaped(label, txn, db, key)? {
            Some(record) => (record.ordinal, record.value),
            None => return Ok(None),
        }
    } else {
        match db.get(txn, key.as_bytes()).map_err(failed)? {
            Some(data) => {
                layout::record_value(data).map_err(|e| corrupt(label, key.as_bytes(), e))?
            }
            None => return Ok(None),
        }
    };
    if ordinal >= count {
        let why = format!("ordinal {ordinal} is not below the count {count}");
        return Err(corrupt(label, key.as_bytes(), DecodeError::new(0, why)).into());
    }
    let sink = sink_for(id);
    decode(label, key.as_bytes(), value, table, sink).map(Some)
}

/// The record of a key stored under an escaped record key: among those sharing its hash,
/// the one that holds this very key.
fn find_escaped<'t>(
    label: &str,
    txn: &'t RoTxn<'_>,
    db: Db,
    key: &str,
) -> Result<Option<Record<'t>>> {
    let failed = |e| lmdb_error(label, "reading escaped records", e);
    let prefix = layout::escaped_prefix(key);
    for item in db.prefix_iter(txn, &prefix).map_err(failed)? {
        let (record_key, data) = item.map_err(failed)?;
        let record =
            layout::parse_record(record_key, data).map_err(|e| corrupt(label, record_key, e))?;
        if record.key == key {
            return Ok(Some(record));
        }
    }
    Ok(None)
}

/// The top-level keys, in the dict's order.
pub fn keys(label: &str, txn: &RoTxn<'_>, db: Db, cache: &mut MetaCache) -> Result<Vec<String>> {
    let Some(meta) = cache.get(label, txn, db)? else {
        return Ok(Vec::new());
    };
    let records = records(label, txn, db, meta.count)?;
    records
        .in_order(label)
        .map(|r| r.map(|r| r.key.to_owned()))
        .collect()
}
