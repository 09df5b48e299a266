//! Publishing a snapshot: one write transaction after which the database holds exactly
//! the new dict, so a reader's transaction sees the old snapshot or the new one.

use std::io::Write as _;

use heed::types::Bytes;
use heed::{PutFlags, RwIter, RwTxn};

use super::env::Dbs;
use super::layout::{self, ESCAPED_KEY_LEN, META_KEY};
use crate::codec::{Blob, DecodeError, Entry};
use crate::error::{Error, Result};
use crate::kept;
use crate::radix::SortVec;

/// Values up to this size are assembled in a scratch buffer and put in one piece (which
/// lets a full rewrite append); larger ones are written straight into LMDB's page.
const INLINE_VALUE: usize = 64 << 10;

/// What a publish works in, kept by the writer between publishes within the bounds
/// `kept` sets (allocating them afresh for every write costs page faults). Nothing in
/// them outlives a publish but their capacity.
#[derive(Default)]
pub struct Buffers {
    starts: SortVec<u64>,
    entries: Vec<Entry<'static>>,
    records: Vec<NewRecord<'static>>,
    order: SortVec<(u128, u32)>,
    /// One record at a time, as it is put or compared.
    pub record: Vec<u8>,
}

/// `v`, emptied, as a vector of the same type borrowing for another lifetime. Its
/// allocation is kept: the standard library collects in place when the layouts match.
fn recycle<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter()
        .map(|_| unreachable!("the vector is empty"))
        .collect()
}

/// A snapshot ready to be written: its records, and their order in LMDB.
pub struct Prepared<'b> {
    /// In the dict's order (ordinal = index).
    records: Vec<NewRecord<'b>>,
    /// Indexes into `records` (with their sort prefixes), sorted by record key as LMDB
    /// sorts them.
    order: SortVec<(u128, u32)>,
    table: &'b [u8],
}

struct NewRecord<'b> {
    key: RecordKey<'b>,
    /// The key, when the record key cannot hold it (then the record does).
    escaped: Option<&'b str>,
    value: &'b [u8],
}

enum RecordKey<'b> {
    Plain(&'b [u8]),
    Escaped([u8; ESCAPED_KEY_LEN]),
}

impl RecordKey<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            RecordKey::Plain(b) => b,
            RecordKey::Escaped(b) => b,
        }
    }
}

/// The first 16 bytes of a key, zero-padded, as a number: comparing these orders keys as
/// LMDB does except for ties, which the full comparison settles. Numbers can be
/// radix-sorted, several times faster than comparing byte slices throughout.
fn sort_prefix(key: &[u8]) -> u128 {
    let mut b = [0u8; 16];
    let n = key.len().min(16);
    b[..n].copy_from_slice(&key[..n]);
    u128::from_be_bytes(b)
}

/// How a write went: records put and deleted (the rest were left as they were).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    pub put: usize,
    pub deleted: usize,
    /// True when the whole database was cleared and written again.
    pub rewrote_all: bool,
}

/// Splits an indexed blob into records, in `buffers` (give them back with
/// [`Prepared::recycle`]). Fails on a blob that is not a dict, or that holds a key twice
/// (which no dict can, but a hand-made blob might).
pub fn prepare<'b>(
    label: &str,
    blob: &'b [u8],
    max_key: usize,
    buffers: &mut Buffers,
) -> Result<Prepared<'b>> {
    let bad = |e: DecodeError| Error::Corrupt {
        store: format!("{label}, the blob to publish"),
        source: e,
    };
    let parsed = Blob::parse(blob).map_err(bad)?;
    if !parsed.is_indexed() {
        return Err(Error::Usage(format!(
            "{label}: only a dict can be published (its keys become records)"
        )));
    }
    // Readers check every value they decode (the file is untrusted), so the values are
    // not walked here too: that cost a tenth of a write.
    let mut entries: Vec<Entry<'b>> = recycle(std::mem::take(&mut buffers.entries));
    parsed
        .entries_by_index_into(&mut entries, &mut buffers.starts)
        .map_err(bad)?;
    if u32::try_from(entries.len()).is_err() {
        return Err(Error::Usage(format!(
            "{label}: {} keys is more than a store holds (2^32)",
            entries.len()
        )));
    }
    // Records are keyed by the key's UTF-8 text, which an int key does not have.
    if let Some(e) = entries.iter().find(|e| e.key.as_str().is_none()) {
        let key = e.key;
        buffers.entries = recycle(entries);
        return Err(Error::Usage(format!(
            "{label}: top-level key {key} is an int; this store takes str keys only"
        )));
    }
    let mut records: Vec<NewRecord<'b>> = recycle(std::mem::take(&mut buffers.records));
    records.extend(entries.iter().map(|e| {
        // Every key is a str, checked above.
        let key = e.key.as_str().unwrap_or_default();
        let escaped = layout::is_escaped(key, max_key);
        let record_key = if escaped {
            let mut k = [0u8; ESCAPED_KEY_LEN];
            k[..ESCAPED_KEY_LEN - 1].copy_from_slice(&layout::escaped_prefix(key));
            RecordKey::Escaped(k)
        } else {
            RecordKey::Plain(key.as_bytes())
        };
        NewRecord {
            key: record_key,
            escaped: escaped.then_some(key),
            value: e.value,
        }
    }));
    let n = entries.len();
    kept::trim(&mut entries, n);
    buffers.entries = recycle(entries);
    buffers.starts.trim();
    let mut order = std::mem::take(&mut buffers.order);
    order.clear();
    order.extend((0..records.len()).map(|i| (sort_prefix(records[i].key.bytes()), i as u32)));
    // The prefixes are radix-sorted; only runs that share one then need the full
    // comparison. Escaped keys with equal hashes sort by the key itself; they get their
    // counters 0, 1... below in that order, which keeps the whole list sorted.
    order.sort_by_key(16, |x| x.0);
    let full = |a: &(u128, u32), b: &(u128, u32)| {
        let (x, y) = (&records[a.1 as usize], &records[b.1 as usize]);
        x.key
            .bytes()
            .cmp(y.key.bytes())
            .then_with(|| x.escaped.cmp(&y.escaped))
    };
    for run in order.chunk_by_mut(|a, b| a.0 == b.0) {
        if run.len() > 1 {
            run.sort_unstable_by(full);
        }
    }
    let duplicate = |key: &str| {
        bad(DecodeError::new(
            0,
            format!("key {key:?} appears twice in the dict"),
        ))
    };
    for pair in order.windows(2) {
        let (prev, cur) = (pair[0].1 as usize, pair[1].1 as usize);
        let counter = match (&records[prev].key, &records[cur].key) {
            (RecordKey::Plain(a), RecordKey::Plain(b)) if a == b => {
                return Err(duplicate(std::str::from_utf8(b).unwrap_or("?")));
            }
            (RecordKey::Escaped(a), RecordKey::Escaped(b))
                if a[..ESCAPED_KEY_LEN - 1] == b[..ESCAPED_KEY_LEN - 1] =>
            {
                if records[prev].escaped == records[cur].escaped {
                    return Err(duplicate(records[cur].escaped.unwrap_or("")));
                }
                a[ESCAPED_KEY_LEN - 1].checked_add(1).ok_or_else(|| {
                    Error::Usage(format!(
                        "{label}: more than 256 long keys share one 64-bit hash"
                    ))
                })?
            }
            _ => continue,
        };
        if let RecordKey::Escaped(b) = &mut records[cur].key {
            b[ESCAPED_KEY_LEN - 1] = counter;
        }
    }
    Ok(Prepared {
        records,
        order,
        table: parsed.table().as_bytes(),
    })
}

impl Prepared<'_> {
    /// Gives the buffers back for the next publish.
    pub fn recycle(self, buffers: &mut Buffers) {
        let (mut records, mut order) = (self.records, self.order);
        let n = records.len();
        kept::trim(&mut records, n);
        buffers.records = recycle(records);
        order.trim();
        buffers.order = order;
    }

    /// Indexes into `records`, in LMDB's order.
    fn sorted(&self) -> impl Iterator<Item = u32> + '_ {
        self.order.iter().map(|&(_, i)| i)
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn table(&self) -> &[u8] {
        self.table
    }

    /// Bytes the records will take, roughly (values, keys, LMDB's per-record overhead).
    pub fn size_estimate(&self) -> usize {
        self.records
            .iter()
            .map(|r| r.value.len() + r.key.bytes().len() + r.escaped.map_or(0, str::len) + 24)
            .sum()
    }

    fn record(&self, i: u32) -> (u64, &NewRecord<'_>) {
        (u64::from(i), &self.records[i as usize])
    }

    /// Clears the records and writes every one, in key order (LMDB's append mode: no
    /// searching, and pages filled completely), then the meta record.
    pub fn write_all(
        &self,
        txn: &mut RwTxn<'_>,
        dbs: Dbs,
        meta: &[u8],
        scratch: &mut Vec<u8>,
    ) -> heed::Result<WriteStats> {
        dbs.records.clear(txn)?;
        let mut cursor = dbs.records.iter_mut(txn)?;
        for i in self.sorted() {
            let (ordinal, r) = self.record(i);
            put(&mut cursor, PutFlags::APPEND, ordinal, r, scratch)?;
        }
        drop(cursor);
        dbs.meta.put(txn, META_KEY, meta)?;
        Ok(WriteStats {
            put: self.records.len(),
            deleted: 0,
            rewrote_all: true,
        })
    }

    /// Writes only what differs from the stored snapshot: records whose bytes changed or
    /// that are new, and deletes those of keys that are gone. Switches to
    /// [`Prepared::write_all`] as soon as more than a sixteenth of the records compared
    /// so far differ: appending every record was measured cheaper than putting 10% of
    /// them one by one (each put searches the tree and shifts its page), dearer than
    /// putting 5% (docs/design.md).
    pub fn write_changed(
        &self,
        txn: &mut RwTxn<'_>,
        dbs: Dbs,
        meta: &[u8],
        scratch: &mut Vec<u8>,
    ) -> heed::Result<WriteStats> {
        // Judged on the rate as the walk goes, so that a write of mostly new values
        // stops comparing early; below 256 records compared, 16 changes are too many.
        let too_many = |changes: usize, seen: usize| changes * 16 > seen.max(256);
        let mut seen = 0;
        let mut puts: Vec<u32> = Vec::new();
        let mut deletes: Vec<Vec<u8>> = Vec::new();
        {
            // A merge of two sorted lists: the stored records and the new ones.
            let mut sorted = self.sorted().peekable();
            for item in dbs.records.iter(txn)? {
                let (key, data) = item?;
                while let Some(&i) = sorted.peek() {
                    if self.records[i as usize].key.bytes() >= key {
                        break;
                    }
                    puts.push(i);
                    sorted.next();
                }
                match sorted.peek() {
                    Some(&i) if self.records[i as usize].key.bytes() == key => {
                        let (ordinal, r) = self.record(i);
                        if !r.stored_as(ordinal, data, scratch) {
                            puts.push(i);
                        }
                        sorted.next();
                    }
                    _ => deletes.push(key.to_vec()),
                }
                seen += 1;
                if too_many(puts.len() + deletes.len(), seen) {
                    break; // no need to look further
                }
            }
            puts.extend(sorted);
        }
        if too_many(puts.len() + deletes.len(), seen) {
            return self.write_all(txn, dbs, meta, scratch);
        }
        for key in &deletes {
            dbs.records.delete(txn, key)?;
        }
        let mut cursor = dbs.records.iter_mut(txn)?;
        for &i in &puts {
            let (ordinal, r) = self.record(i);
            put(&mut cursor, PutFlags::empty(), ordinal, r, scratch)?;
        }
        drop(cursor);
        // Always, even when no record changed: the meta record names the new version.
        dbs.meta.put(txn, META_KEY, meta)?;
        Ok(WriteStats {
            put: puts.len(),
            deleted: deletes.len(),
            rewrote_all: false,
        })
    }
}

impl NewRecord<'_> {
    /// Whether `data`, a stored record, is byte for byte what this record would write.
    fn stored_as(&self, ordinal: u64, data: &[u8], scratch: &mut Vec<u8>) -> bool {
        layout::record_head(ordinal, self.escaped, scratch);
        let head = scratch.len();
        data.len() == head + self.value.len()
            && data[..head] == scratch[..]
            && &data[head..] == self.value
    }
}

/// Puts one record through `cursor`, which any number of puts share (`mdb_put` would set
/// up a cursor for each: a sixth of a full rewrite). The flags are LMDB's, not
/// "at the cursor": without APPEND, LMDB finds the key's place as `mdb_put` does.
fn put(
    cursor: &mut RwIter<'_, Bytes, Bytes>,
    flags: PutFlags,
    ordinal: u64,
    r: &NewRecord<'_>,
    scratch: &mut Vec<u8>,
) -> heed::Result<()> {
    layout::record_head(ordinal, r.escaped, scratch);
    // SAFETY (heed's condition for writing through a cursor): nothing read through the
    // cursor is held while it writes; these puts only ever write.
    unsafe {
        if r.value.len() <= INLINE_VALUE {
            scratch.extend_from_slice(r.value);
            return cursor.put_current_with_options::<Bytes>(flags, r.key.bytes(), scratch);
        }
        // Big values (a large bytes object) go straight into the page LMDB reserves,
        // saving a copy of the whole value.
        let head: &[u8] = scratch;
        let len = head.len() + r.value.len();
        cursor
            .put_current_reserved_with_flags(flags, r.key.bytes(), len, |space| {
                space.write_all(head)?;
                space.write_all(r.value)
            })
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::recycle;

    #[test]
    fn recycled_buffers_keep_their_allocation() {
        let owned = String::from("key");
        let mut v: Vec<&str> = Vec::with_capacity(100);
        v.push(&owned);
        let capacity = v.capacity();
        let r: Vec<&'static str> = recycle(v);
        assert!(r.is_empty());
        assert_eq!(r.capacity(), capacity);
    }
}
