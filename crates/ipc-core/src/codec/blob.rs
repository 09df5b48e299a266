//! Reads blobs: the header is parsed and its sections bounds-checked, then the root is
//! decoded whole, one root key's value is found through the hash index, or the root
//! entries are located in place. The bytes are untrusted (shared memory, a database, a
//! socket): every length, count, offset and depth is checked before it is used, so
//! garbage yields a [`DecodeError`], never a panic or an allocation the input does not
//! justify.
//!
//! What a decoded value becomes is up to a [`Sink`]: a Rust [`Value`](super::Value),
//! Python objects in the bindings, or nothing at all when only skipping.

use super::array::KeyRef;
use super::error::DecodeError;
use super::format;
use super::read::err;
use super::reader::Reader;
use super::sink::Sink;
use super::skip::Skip;
use super::table::Table;
use crate::radix::SortVec;

/// A parsed header: the sections of a blob, located and bounds-checked, nothing decoded.
#[derive(Clone, Copy)]
pub struct Blob<'a> {
    buf: &'a [u8],
    indexed: bool,
    wide_slots: bool,
    n_entries: usize,
    n_slots: usize,
    /// The root value, or the entries of an indexed root: from here to `table_at`.
    body_at: usize,
    table_at: usize,
    table: Table<'a>,
}

/// Decodes one value stored apart from its blob (an LMDB record), against `table`. The
/// value counts as nested one level, inside a root dict, and must fill `bytes` exactly.
/// Its offsets are no longer the blob's, so the alignment of array data is not checked
/// (the rest of each array is).
pub fn decode_value<'a, S: Sink<'a>>(
    bytes: &'a [u8],
    table: Table<'a>,
    sink: &mut S,
) -> Result<S::Value, S::Error> {
    let mut r = Reader::new(bytes, table, sink, 0);
    r.depth = 1;
    r.blob_offsets = false;
    let value = r.value()?;
    if r.pos != bytes.len() {
        return Err(DecodeError::new(r.pos, "unexpected bytes after the value").into());
    }
    Ok(value)
}

/// One root entry of an indexed blob, as found in place.
pub struct Entry<'a> {
    pub key: KeyRef<'a>,
    /// Whether the key is ASCII text (false for an int key).
    pub ascii: bool,
    /// The encoded value, to be decoded with [`decode_value`] and the blob's table.
    pub value: &'a [u8],
}

fn read_u64(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(b)
}

impl<'a> Blob<'a> {
    /// Checks the header and the section bounds. O(1): values are validated as they
    /// are decoded.
    pub fn parse(buf: &'a [u8]) -> Result<Self, DecodeError> {
        if buf.len() < format::HEADER_LEN {
            return err(
                0,
                format!(
                    "{} bytes is shorter than the {}-byte header",
                    buf.len(),
                    format::HEADER_LEN
                ),
            );
        }
        if buf[0..4] != format::MAGIC {
            return err(0, "bad magic: not an ipc_benchmark blob");
        }
        if buf[4] != format::FORMAT_VERSION {
            return err(
                4,
                format!(
                    "unsupported format version {} (this build reads version {})",
                    buf[4],
                    format::FORMAT_VERSION
                ),
            );
        }
        let flags = buf[5];
        if flags & !format::KNOWN_FLAGS != 0 || buf[6] != 0 || buf[7] != 0 {
            return err(5, format!("unknown header flags {flags:#04x}"));
        }
        let total = read_u64(buf, 8);
        if total != buf.len() as u64 {
            return err(
                8,
                format!(
                    "header says {total} bytes but {} were given (truncated or padded)",
                    buf.len()
                ),
            );
        }
        let len = buf.len() as u64;
        let table_at = read_u64(buf, 16);
        if table_at < format::HEADER_LEN as u64 || table_at > len.saturating_sub(4) {
            return err(
                16,
                format!("shared table offset {table_at} is out of range"),
            );
        }
        let table_at = table_at as usize;
        let table = Table::parse_at(&buf[table_at..], table_at)?;

        let indexed = flags & format::FLAG_INDEXED != 0;
        let wide_slots = flags & format::FLAG_WIDE_SLOTS != 0;
        let (n_entries, n_slots) = (read_u64(buf, 24), read_u64(buf, 32));
        let mut body_at = format::HEADER_LEN;
        if indexed {
            let room = (table_at - body_at) as u64;
            let width = if wide_slots { 8 } else { 4 };
            // Each entry takes at least 3 bytes (key tag, key length, value tag).
            if n_entries > room / 3 {
                return err(24, format!("entry count {n_entries} exceeds the data"));
            }
            let slots_ok = if n_entries == 0 {
                n_slots == 0
            } else {
                n_slots.is_power_of_two()
                    && n_slots > n_entries
                    && n_slots.saturating_mul(width) <= room
            };
            // The entries start at the next multiple of ALIGN; the bytes between are 0.
            let entries_at = usize::try_from(n_slots)
                .ok()
                .and_then(|n| format::entries_offset(n, width as usize))
                .filter(|&at| at <= table_at);
            let Some(entries_at) = entries_at.filter(|_| slots_ok) else {
                return err(
                    32,
                    format!("slot count {n_slots} does not fit {n_entries} entries"),
                );
            };
            let slots_end = body_at + (n_slots * width) as usize;
            if buf[slots_end..entries_at].iter().any(|&b| b != 0) {
                return err(
                    slots_end,
                    "bytes between the slots and the entries are not 0",
                );
            }
            body_at = entries_at;
        } else if n_entries != 0 || n_slots != 0 || wide_slots {
            return err(24, "entry or slot counts set on a blob without an index");
        }
        Ok(Blob {
            buf,
            indexed,
            wide_slots,
            n_entries: n_entries as usize,
            n_slots: n_slots as usize,
            body_at,
            table_at,
            table,
        })
    }

    /// True when the root is a dict with a key index (what [`Blob::get`] needs).
    pub fn is_indexed(&self) -> bool {
        self.indexed
    }

    /// Number of root entries (0 when the root is not an indexed dict).
    pub fn len(&self) -> usize {
        self.n_entries
    }

    pub fn is_empty(&self) -> bool {
        self.n_entries == 0
    }

    /// A reader of the values, which end where the shared table starts.
    fn reader<'s, S: Sink<'a>>(&self, sink: &'s mut S, pos: usize) -> Reader<'a, 's, S> {
        Reader::new(&self.buf[..self.table_at], self.table, sink, pos)
    }

    /// The shared-string table.
    pub fn table(&self) -> Table<'a> {
        self.table
    }

    /// The root entries in order, each value located but not decoded (they are walked,
    /// so this validates the whole blob).
    pub fn entries(&self) -> Result<Vec<Entry<'a>>, DecodeError> {
        if !self.indexed {
            return err(5, "the root is not an indexed dict");
        }
        let mut skip = Skip;
        let mut r = self.reader(&mut skip, self.body_at);
        r.depth = 1;
        let mut out = Vec::with_capacity(self.n_entries);
        for _ in 0..self.n_entries {
            let (key, ascii) = r.root_key()?;
            let start = r.pos;
            r.value()?;
            out.push(Entry {
                key,
                ascii,
                value: &self.buf[start..r.pos],
            });
        }
        Ok(out)
    }

    /// The root entries in order, located through the hash index without walking the
    /// values: each value is taken to run from its key to the next entry (the last one
    /// to the shared table). Keys, offsets and spans are checked; the values are not,
    /// which suits a caller that stores them for readers who check every value they
    /// decode anyway (the LMDB store) and would otherwise walk them twice.
    pub fn entries_by_index(&self) -> Result<Vec<Entry<'a>>, DecodeError> {
        let mut out = Vec::new();
        self.entries_by_index_into(&mut out, &mut SortVec::default())?;
        Ok(out)
    }

    /// [`Blob::entries_by_index`] into `out` (cleared first), sorting in `starts`: a
    /// caller that does this on every write keeps both.
    pub fn entries_by_index_into(
        &self,
        out: &mut Vec<Entry<'a>>,
        starts: &mut SortVec<u64>,
    ) -> Result<(), DecodeError> {
        out.clear();
        starts.clear();
        if !self.indexed {
            return err(5, "the root is not an indexed dict");
        }
        let span = self.table_at - self.body_at;
        starts.reserve(self.n_entries);
        for i in 0..self.n_slots {
            let stored = self.slot(i);
            if stored == 0 {
                continue;
            }
            if stored > span as u64 || starts.len() == self.n_entries {
                let at = format::HEADER_LEN + i * self.slot_width();
                return err(
                    at,
                    "hash slot points past the entries, or one too many is set",
                );
            }
            starts.push(stored - 1);
        }
        if starts.len() != self.n_entries {
            return err(
                24,
                format!(
                    "the index holds {} entries, the header says {}",
                    starts.len(),
                    self.n_entries
                ),
            );
        }
        starts.sort_by_key(8, |&x| u128::from(x));
        if starts.first().is_some_and(|&first| first != 0) {
            return err(self.body_at, "bytes before the first entry");
        }
        let mut skip = Skip;
        out.reserve(self.n_entries);
        for (i, &start) in starts.iter().enumerate() {
            // Offsets are below `span`, checked above.
            let end = self.body_at + starts.get(i + 1).map_or(span, |&next| next as usize);
            let entry = &self.buf[..end];
            let mut r = Reader::new(entry, self.table, &mut skip, self.body_at + start as usize);
            // Two slots pointing at one entry leave it with no room for its value.
            let (key, ascii) = r.root_key()?;
            if r.pos >= end {
                return err(r.pos, "entry without a value");
            }
            out.push(Entry {
                key,
                ascii,
                value: &entry[r.pos..],
            });
        }
        Ok(())
    }

    /// Decodes the whole value.
    pub fn decode<S: Sink<'a>>(&self, sink: &mut S) -> Result<S::Value, S::Error> {
        let mut r = self.reader(sink, self.body_at);
        let value = if self.indexed {
            r.entries(self.n_entries)?
        } else {
            r.value()?
        };
        if r.pos != self.table_at {
            return Err(DecodeError::new(r.pos, "unexpected bytes after the root value").into());
        }
        Ok(value)
    }

    /// Decodes only the value of root key `key` (a `&str`, an `i64` or a [`KeyRef`]),
    /// found through the hash index. Ok(None) when the key is absent; an error when the
    /// root is not an indexed dict.
    pub fn get<'k, S: Sink<'a>>(
        &self,
        key: impl Into<KeyRef<'k>>,
        sink: &mut S,
    ) -> Result<Option<S::Value>, S::Error> {
        self.get_ref(key.into(), sink)
    }

    fn get_ref<S: Sink<'a>>(
        &self,
        key: KeyRef<'_>,
        sink: &mut S,
    ) -> Result<Option<S::Value>, S::Error> {
        if !self.indexed {
            return Err(DecodeError::new(5, "the root is not an indexed dict").into());
        }
        if self.n_slots == 0 {
            return Ok(None);
        }
        let hash = match key {
            KeyRef::Str(s) => format::key_hash(s.as_bytes()),
            KeyRef::Int(i) => format::int_key_hash(i),
        };
        let mut slot = format::home_slot(hash, self.n_slots as u64);
        let mut r = self.reader(sink, 0);
        r.depth = 1; // inside the root dict, as in a full decode
                     // At most one pass over the table, even if garbage filled every slot.
        for _ in 0..self.n_slots {
            let stored = self.slot(slot as usize);
            if stored == 0 {
                return Ok(None);
            }
            let entry = (stored - 1) as usize;
            if entry >= self.table_at - self.body_at {
                let at = format::HEADER_LEN + slot as usize * self.slot_width();
                return Err(DecodeError::new(at, "hash slot points past the entries").into());
            }
            r.pos = self.body_at + entry;
            if r.raw_key()?.is(key) {
                return r.value().map(Some);
            }
            slot = (slot + 1) & (self.n_slots as u64 - 1);
        }
        Ok(None)
    }

    #[inline]
    fn slot_width(&self) -> usize {
        if self.wide_slots {
            8
        } else {
            4
        }
    }

    /// The raw value of hash slot `i` (< n_slots, so inside the bounds checked by parse).
    #[inline]
    fn slot(&self, i: usize) -> u64 {
        let at = format::HEADER_LEN + i * self.slot_width();
        if self.wide_slots {
            read_u64(self.buf, at)
        } else {
            u64::from(u32::from_le_bytes(self.buf[at..at + 4].try_into().unwrap()))
        }
    }

    /// The root keys, in insertion order (values are walked, not built).
    pub fn keys(&self) -> Result<Vec<KeyRef<'a>>, DecodeError> {
        Ok(self.entries()?.into_iter().map(|e| e.key).collect())
    }
}
