//! Reading a snapshot inside one read transaction, decoding straight from LMDB's map.

use heed::RoTxn;

use super::env::{lmdb_error, Db, Dbs};
use super::layout::{self, Meta, Record, ESCAPED, INT_KEY, META_KEY};
use crate::codec::{decode_value, DecodeError, KeyRef, Sink, Skip, Table};
use crate::error::{Error, Result};
use crate::store::SnapshotId;

#[cold]
pub(super) fn corrupt(label: &str, record: &[u8], source: DecodeError) -> Error {
    let record = if record == META_KEY {
        "the meta record".to_owned()
    } else if let Some(i) = layout::parse_int_record_key(record) {
        format!("the record of key {i}")
    } else if record.first() == Some(&INT_KEY) {
        format!("an int record {record:02x?}")
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
///
/// Read afresh in every transaction: it is what names the snapshot the transaction sees.
/// LMDB's transaction id cannot: when the writer commits twice while a read transaction
/// starts, LMDB can label it with one commit and show it the other (a race in
/// `mdb_txn_renew0`), and a cache keyed on that id once applied one snapshot's record
/// count and string table to another's records. In the unnamed database, which holds
/// nothing else but the records' name, the lookup costs one page.
pub fn meta<'t>(label: &str, txn: &'t RoTxn<'_>, dbs: Dbs) -> Result<Option<MetaView<'t>>> {
    let Some(bytes) = dbs
        .meta
        .get(txn, META_KEY)
        .map_err(|e| lmdb_error(label, "reading the meta record", e))?
    else {
        return Ok(None);
    };
    let meta = Meta::parse(bytes).map_err(|e| corrupt(label, META_KEY, e))?;
    let table = Table::parse(meta.table).map_err(|e| corrupt(label, META_KEY, e))?;
    Ok(Some(MetaView {
        id: SnapshotId {
            incarnation: meta.incarnation,
            version: meta.version,
        },
        count: meta.count,
        table,
        table_bytes: meta.table,
    }))
}

/// What a reader needs from the meta record.
pub struct MetaView<'t> {
    pub id: SnapshotId,
    pub count: u64,
    pub table: Table<'t>,
    /// The table as stored, for a held copy.
    pub table_bytes: &'t [u8],
}

/// Every record of the snapshot, located, with the dict's order: `order` lists indexes
/// into `found` (which is in LMDB's key order) by ordinal.
pub(super) struct Records<'t> {
    pub(super) found: Vec<Record<'t>>,
    order: Vec<u32>,
}

impl<'t> Records<'t> {
    /// The records in the dict's order. Every index is valid (`records` checked), but a
    /// bad one would still be an error, not a panic.
    pub(super) fn in_order<'r>(
        &'r self,
        label: &'r str,
    ) -> impl Iterator<Item = Result<&'r Record<'t>>> {
        self.order.iter().map(move |&i| {
            self.found.get(i as usize).ok_or_else(|| {
                corrupt(label, META_KEY, DecodeError::new(32, "records are missing"))
            })
        })
    }
}

/// Reads every record, checked against the meta record: as many as it says, ordinals
/// unique and below the count.
pub(super) fn records<'t>(
    label: &str,
    txn: &'t RoTxn<'_>,
    dbs: Dbs,
    count: u64,
) -> Result<Records<'t>> {
    let failed = |e| lmdb_error(label, "reading the records", e);
    // The count comes from the file, so it is checked against LMDB's own before anything
    // is allocated by it.
    let stored = dbs.records.len(txn).map_err(failed)?;
    if stored != count {
        let why = format!("the snapshot should have {count} records, the database holds {stored}");
        return Err(corrupt(label, META_KEY, DecodeError::new(32, why)));
    }
    let n = count as usize;
    // Records come sorted by key; `at[ordinal]` says where each one landed.
    let mut found: Vec<Record<'t>> = Vec::with_capacity(n);
    let mut at = vec![u32::MAX; n];
    for item in dbs.records.iter(txn).map_err(failed)? {
        let (key, data) = item.map_err(failed)?;
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
pub(super) fn decode<'t, S, V, E>(
    label: &str,
    key: KeyRef<'_>,
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
            Err(source) => Error::Corrupt {
                store: match key {
                    KeyRef::Str(s) => format!("{label}, record {s:?}"),
                    KeyRef::Int(i) => format!("{label}, the record of key {i}"),
                },
                source,
            }
            .into(),
            Ok(()) => e, // the sink failed (out of memory, say), not the data
        }),
    }
}

/// Hands `r`'s key to the sink as root key number `i`.
#[inline]
pub(super) fn root_key<'t, S: Sink<'t>>(
    sink: &mut S,
    i: usize,
    key: KeyRef<'t>,
    ascii: bool,
) -> Result<S::Key, S::Error> {
    match key {
        KeyRef::Str(s) => sink.root_key(i, s, ascii),
        KeyRef::Int(v) => sink.root_int_key(i, v),
    }
}

/// The whole snapshot, decoded by the sink `sink_for` hands out for it.
pub fn read<'t, 's, S, V, E>(
    label: &str,
    txn: &'t RoTxn<'_>,
    dbs: Dbs,
    sink_for: impl FnOnce(SnapshotId) -> &'s mut S,
) -> Result<Option<V>, E>
where
    S: for<'a> Sink<'a, Value = V, Error = E> + 's,
    E: From<Error>,
{
    let Some(MetaView {
        id, count, table, ..
    }) = meta(label, txn, dbs)?
    else {
        return Ok(None);
    };
    let records = records(label, txn, dbs, count)?;
    let sink = sink_for(id);
    let mut map = sink.map(records.found.len())?;
    for (i, r) in records.in_order(label).enumerate() {
        let r = r?;
        let k = root_key(sink, i, r.key, r.ascii)?;
        let v = decode(label, r.key, r.value, table, sink)?;
        sink.map_insert(&mut map, k, v)?;
    }
    sink.map_end(map).map(Some)
}

/// One key's value, decoded alone.
pub fn get<'t, 's, S, V, E>(
    label: &str,
    txn: &'t RoTxn<'_>,
    dbs: Dbs,
    key: KeyRef<'_>,
    max_key: usize,
    sink_for: impl FnOnce(SnapshotId) -> &'s mut S,
) -> Result<Option<V>, E>
where
    S: for<'a> Sink<'a, Value = V, Error = E> + 's,
    E: From<Error>,
{
    let Some(MetaView {
        id, count, table, ..
    }) = meta(label, txn, dbs)?
    else {
        return Ok(None);
    };
    let failed = |e| lmdb_error(label, &format!("reading the record of key {key}"), e);
    let int_key;
    let record_key: &[u8] = match key {
        KeyRef::Int(i) => {
            int_key = layout::int_record_key(i);
            &int_key
        }
        KeyRef::Str(s) => s.as_bytes(),
    };
    let (ordinal, value) = match key {
        KeyRef::Str(s) if layout::is_escaped(s, max_key) => {
            match find_escaped(label, txn, dbs.records, s)? {
                Some(record) => (record.ordinal, record.value),
                None => return Ok(None),
            }
        }
        _ => match dbs.records.get(txn, record_key).map_err(failed)? {
            Some(data) => layout::record_value(data).map_err(|e| corrupt(label, record_key, e))?,
            None => return Ok(None),
        },
    };
    if ordinal >= count {
        let why = format!("ordinal {ordinal} is not below the count {count}");
        return Err(corrupt(label, record_key, DecodeError::new(0, why)).into());
    }
    let sink = sink_for(id);
    decode(label, key, value, table, sink).map(Some)
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
        if record.key == KeyRef::Str(key) {
            return Ok(Some(record));
        }
    }
    Ok(None)
}

/// The top-level keys, in the dict's order, handed to `f`.
pub fn keys<R>(
    label: &str,
    txn: &RoTxn<'_>,
    dbs: Dbs,
    f: impl FnOnce(&[KeyRef<'_>]) -> R,
) -> Result<R> {
    let Some(meta) = meta(label, txn, dbs)? else {
        return Ok(f(&[]));
    };
    let records = records(label, txn, dbs, meta.count)?;
    let keys = records
        .in_order(label)
        .map(|r| r.map(|r| r.key))
        .collect::<Result<Vec<_>>>()?;
    Ok(f(&keys))
}
