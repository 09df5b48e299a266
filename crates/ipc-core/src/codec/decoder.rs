//! Reads blobs. The bytes are untrusted (shared memory, a database, a socket): every
//! length, count, offset and depth is checked before it is used, so garbage yields a
//! [`DecodeError`], never a panic or an allocation the input does not justify.
//!
//! What a decoded value becomes is up to a [`Sink`]: a Rust [`Value`](super::Value),
//! Python objects in the bindings, or nothing at all when only skipping.

use super::error::DecodeError;
use super::format::{self, tag};
use super::skip::Skip;
use crate::radix::SortVec;

/// Receives decoded nodes and builds whatever the caller wants from them.
pub trait Sink<'a> {
    type Value;
    type Key;
    type Seq;
    type Map;
    type Error: From<DecodeError>;

    fn none(&mut self) -> Result<Self::Value, Self::Error>;
    fn bool(&mut self, v: bool) -> Result<Self::Value, Self::Error>;
    fn int(&mut self, v: i64) -> Result<Self::Value, Self::Error>;
    /// An integer outside i64, as little-endian two's complement (at least one byte).
    fn big_int(&mut self, le_bytes: &'a [u8]) -> Result<Self::Value, Self::Error>;
    fn float(&mut self, v: f64) -> Result<Self::Value, Self::Error>;
    /// `shared` is the string's number in the blob's shared table, so a sink can build
    /// each shared string once per blob.
    fn str(
        &mut self,
        s: &'a str,
        ascii: bool,
        shared: Option<u32>,
    ) -> Result<Self::Value, Self::Error>;
    fn bytes(&mut self, b: &'a [u8]) -> Result<Self::Value, Self::Error>;
    /// A shared string the sink has already built, asked before the decoder looks the
    /// string up and validates it again. Sinks that keep nothing answer None.
    #[inline]
    fn cached_str(&mut self, _id: u32) -> Option<Self::Value> {
        None
    }
    #[inline]
    fn cached_key(&mut self, _id: u32) -> Option<Self::Key> {
        None
    }
    /// A list (or a tuple) of exactly `len` items, pushed in order with indexes 0..len.
    fn seq(&mut self, len: usize, tuple: bool) -> Result<Self::Seq, Self::Error>;
    fn seq_push(
        &mut self,
        seq: &mut Self::Seq,
        index: usize,
        v: Self::Value,
    ) -> Result<(), Self::Error>;
    fn seq_end(&mut self, seq: Self::Seq) -> Result<Self::Value, Self::Error>;
    /// A dict of `len` entries (a hint: a corrupt blob may hold fewer distinct keys).
    fn map(&mut self, len: usize) -> Result<Self::Map, Self::Error>;
    fn key(
        &mut self,
        s: &'a str,
        ascii: bool,
        shared: Option<u32>,
    ) -> Result<Self::Key, Self::Error>;
    /// Key number `index` (in order) of the root dict. A state dict keeps its keys from
    /// one snapshot to the next, so a sink may hand back the key it built for the same
    /// position of an earlier blob, once it has checked that the text is the same.
    #[inline]
    fn root_key(
        &mut self,
        _index: usize,
        s: &'a str,
        ascii: bool,
    ) -> Result<Self::Key, Self::Error> {
        self.key(s, ascii, None)
    }
    fn map_insert(
        &mut self,
        map: &mut Self::Map,
        k: Self::Key,
        v: Self::Value,
    ) -> Result<(), Self::Error>;
    fn map_end(&mut self, map: Self::Map) -> Result<Self::Value, Self::Error>;
}

/// A sink borrowed: what it builds goes to the sink it borrows. Lets a sink that is
/// kept elsewhere (a [`DocSink`](super::DocSink), say) be wrapped by value, as
/// `lmdb::StoreSink` wraps the sinks it adapts.
impl<'a, S: Sink<'a> + ?Sized> Sink<'a> for &mut S {
    type Value = S::Value;
    type Key = S::Key;
    type Seq = S::Seq;
    type Map = S::Map;
    type Error = S::Error;

    #[inline(always)]
    fn none(&mut self) -> Result<S::Value, S::Error> {
        (**self).none()
    }
    #[inline(always)]
    fn bool(&mut self, v: bool) -> Result<S::Value, S::Error> {
        (**self).bool(v)
    }
    #[inline(always)]
    fn int(&mut self, v: i64) -> Result<S::Value, S::Error> {
        (**self).int(v)
    }
    #[inline(always)]
    fn big_int(&mut self, le_bytes: &'a [u8]) -> Result<S::Value, S::Error> {
        (**self).big_int(le_bytes)
    }
    #[inline(always)]
    fn float(&mut self, v: f64) -> Result<S::Value, S::Error> {
        (**self).float(v)
    }
    #[inline(always)]
    fn str(&mut self, s: &'a str, ascii: bool, shared: Option<u32>) -> Result<S::Value, S::Error> {
        (**self).str(s, ascii, shared)
    }
    #[inline(always)]
    fn bytes(&mut self, b: &'a [u8]) -> Result<S::Value, S::Error> {
        (**self).bytes(b)
    }
    #[inline(always)]
    fn cached_str(&mut self, id: u32) -> Option<S::Value> {
        (**self).cached_str(id)
    }
    #[inline(always)]
    fn cached_key(&mut self, id: u32) -> Option<S::Key> {
        (**self).cached_key(id)
    }
    #[inline(always)]
    fn seq(&mut self, len: usize, tuple: bool) -> Result<S::Seq, S::Error> {
        (**self).seq(len, tuple)
    }
    #[inline(always)]
    fn seq_push(&mut self, seq: &mut S::Seq, index: usize, v: S::Value) -> Result<(), S::Error> {
        (**self).seq_push(seq, index, v)
    }
    #[inline(always)]
    fn seq_end(&mut self, seq: S::Seq) -> Result<S::Value, S::Error> {
        (**self).seq_end(seq)
    }
    #[inline(always)]
    fn map(&mut self, len: usize) -> Result<S::Map, S::Error> {
        (**self).map(len)
    }
    #[inline(always)]
    fn key(&mut self, s: &'a str, ascii: bool, shared: Option<u32>) -> Result<S::Key, S::Error> {
        (**self).key(s, ascii, shared)
    }
    #[inline(always)]
    fn root_key(&mut self, index: usize, s: &'a str, ascii: bool) -> Result<S::Key, S::Error> {
        (**self).root_key(index, s, ascii)
    }
    #[inline(always)]
    fn map_insert(&mut self, map: &mut S::Map, k: S::Key, v: S::Value) -> Result<(), S::Error> {
        (**self).map_insert(map, k, v)
    }
    #[inline(always)]
    fn map_end(&mut self, map: S::Map) -> Result<S::Value, S::Error> {
        (**self).map_end(map)
    }
}

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

/// The shared-string table of a blob, or one stored apart from its values (the LMDB
/// store keeps it in its meta record). Parsing checks the count; each string is checked
/// when used.
#[derive(Clone, Copy)]
pub struct Table<'a> {
    bytes: &'a [u8],
    count: usize,
    /// Offset of `bytes` in the buffer it came from, for error messages.
    base: usize,
}

impl<'a> Table<'a> {
    /// Parses a table section: a u32 count, that many u32 offsets, then the strings.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        Self::parse_at(bytes, 0)
    }

    fn parse_at(bytes: &'a [u8], base: usize) -> Result<Self, DecodeError> {
        let Some(head) = bytes.get(..4) else {
            return err(base, "shared table shorter than its 4-byte count");
        };
        let count = u32::from_le_bytes(head.try_into().unwrap()) as usize;
        if count > (bytes.len() - 4) / 4 {
            return err(
                base,
                format!("shared table claims {count} strings, more than its bytes hold"),
            );
        }
        Ok(Table { bytes, count, base })
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The table section's bytes, as stored.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// String `id` (below `len()`), validated: (text, is_ascii).
    fn get(&self, id: u32) -> Result<(&'a str, bool), DecodeError> {
        let o = 4 + id as usize * 4;
        let rel = u32::from_le_bytes(self.bytes[o..o + 4].try_into().unwrap()) as usize;
        let data = 4 + self.count * 4;
        if rel >= self.bytes.len() - data {
            return err(self.base + o, "shared string offset out of range");
        }
        let mut skip = Skip;
        let mut r = Reader::new(self.bytes, *self, &mut skip, data + rel);
        r.raw_str().map_err(|e| e.shifted(self.base))
    }
}

/// Decodes one value stored apart from its blob (an LMDB record), against `table`. The
/// value counts as nested one level, inside a root dict, and must fill `bytes` exactly.
pub fn decode_value<'a, S: Sink<'a>>(
    bytes: &'a [u8],
    table: Table<'a>,
    sink: &mut S,
) -> Result<S::Value, S::Error> {
    let mut r = Reader::new(bytes, table, sink, 0);
    r.depth = 1;
    let value = r.value()?;
    if r.pos != bytes.len() {
        return Err(DecodeError::new(r.pos, "unexpected bytes after the value").into());
    }
    Ok(value)
}

/// One root entry of an indexed blob, as found in place.
pub struct Entry<'a> {
    pub key: &'a str,
    pub ascii: bool,
    /// The encoded value, to be decoded with [`decode_value`] and the blob's table.
    pub value: &'a [u8],
}

#[cold]
fn err<T>(offset: usize, reason: impl Into<String>) -> Result<T, DecodeError> {
    Err(DecodeError::new(offset, reason))
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
            if !slots_ok {
                return err(
                    32,
                    format!("slot count {n_slots} does not fit {n_entries} entries"),
                );
            }
            body_at += (n_slots * width) as usize;
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
            let (key, ascii) = r.raw_str()?;
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
            let (key, ascii) = r.raw_str()?;
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

    /// Decodes only the value of root key `key`, found through the hash index.
    /// Ok(None) when the key is absent; an error when the root is not an indexed dict.
    pub fn get<S: Sink<'a>>(&self, key: &str, sink: &mut S) -> Result<Option<S::Value>, S::Error> {
        if !self.indexed {
            return Err(DecodeError::new(5, "the root is not an indexed dict").into());
        }
        if self.n_slots == 0 {
            return Ok(None);
        }
        let mut slot = format::home_slot(format::key_hash(key.as_bytes()), self.n_slots as u64);
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
            // Compare bytes without validating them: only a match matters, and a match
            // equals `key`, which is valid UTF-8 already.
            if r.key_bytes()? == key.as_bytes() {
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
    pub fn keys(&self) -> Result<Vec<&'a str>, DecodeError> {
        Ok(self.entries()?.into_iter().map(|e| e.key).collect())
    }
}

/// A cursor over encoded values that feeds a sink.
///
/// The position is a field, but the hot paths ([`Reader::value_at`], the loops over a
/// container's items) keep it in a local variable that they hand by reference to
/// inlined helpers, and write it back to `pos` only around the calls that are not
/// inlined (a nested container). The compiler keeps such a local in a register; the
/// field it stored and loaded again around every byte read, since a sink's writes
/// might alias it.
struct Reader<'a, 's, S> {
    /// The bytes values may occupy: the buffer, cut where the values must end (the
    /// shared table). Offsets are still those of the whole buffer.
    buf: &'a [u8],
    table: Table<'a>,
    /// Shared strings validated so far, by id: each is checked once per decode, however
    /// often it is referenced. Allocated on the first reference.
    validated: Vec<Option<(&'a str, bool)>>,
    /// Where reading goes on (at most `buf.len()`), between calls.
    pos: usize,
    depth: usize,
    sink: &'s mut S,
}

// The primitive reads, on a buffer and a position the caller holds in a local.

#[inline(always)]
fn byte(buf: &[u8], pos: &mut usize) -> Result<u8, DecodeError> {
    match buf.get(*pos) {
        Some(&b) => {
            *pos += 1;
            Ok(b)
        }
        None => err(*pos, "unexpected end of data"),
    }
}

/// Bytes left after `pos` (which never passes the end).
#[inline(always)]
fn left(buf: &[u8], pos: usize) -> usize {
    buf.len().saturating_sub(pos)
}

#[inline(always)]
fn take<'a>(buf: &'a [u8], pos: &mut usize, n: usize) -> Result<&'a [u8], DecodeError> {
    let start = *pos;
    match buf.get(start..).and_then(|rest| rest.get(..n)) {
        Some(s) => {
            *pos = start + n;
            Ok(s)
        }
        None => too_long(start, n, left(buf, start)),
    }
}

#[cold]
fn too_long<T>(at: usize, n: usize, left: usize) -> Result<T, DecodeError> {
    err(
        at,
        format!("length {n} runs past the end of the data ({left} left)"),
    )
}

/// `N` bytes, for the fixed-width scalars.
#[inline(always)]
fn take_array<const N: usize>(buf: &[u8], pos: &mut usize) -> Result<[u8; N], DecodeError> {
    let start = *pos;
    match buf.get(start..).and_then(|rest| rest.first_chunk::<N>()) {
        Some(a) => {
            *pos = start + N;
            Ok(*a)
        }
        None => too_long(start, N, left(buf, start)),
    }
}

#[inline(always)]
fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, DecodeError> {
    // Lengths and counts below 128 (nearly all of them) take one byte.
    match buf.get(*pos) {
        Some(&b) if b < 0x80 => {
            *pos += 1;
            Ok(u64::from(b))
        }
        _ => {
            let (v, end) = varint_long(buf, *pos)?;
            *pos = end;
            Ok(v)
        }
    }
}

/// A varint of more than one byte, or none at all: the value and where it ends. Takes
/// and returns the position by value, so that the caller's stays in a register.
#[inline(never)]
fn varint_long(buf: &[u8], start: usize) -> Result<(u64, usize), DecodeError> {
    let mut pos = start;
    match format::get_varint(buf, &mut pos) {
        Some(v) => Ok((v, pos)),
        None => err(
            start,
            "varint longer than 64 bits, or cut off by the end of the data",
        ),
    }
}

/// A count of items that each take at least `min_size` bytes: bounded by what is left,
/// so pre-sizing a container by it never allocates more than the input justifies.
#[inline(always)]
fn count(buf: &[u8], pos: &mut usize, min_size: usize) -> Result<usize, DecodeError> {
    let at = *pos;
    let n = varint(buf, pos)?;
    let left = left(buf, *pos);
    if n > (left / min_size) as u64 {
        return too_many(at, n, left);
    }
    Ok(n as usize)
}

#[cold]
fn too_many<T>(at: usize, n: u64, left: usize) -> Result<T, DecodeError> {
    err(at, format!("count {n} exceeds the remaining {left} bytes"))
}

/// A reference into a shared table of `count` strings, checked against its size.
#[inline(always)]
fn shared_id(buf: &[u8], pos: &mut usize, count: usize) -> Result<u32, DecodeError> {
    let at = *pos;
    let id = varint(buf, pos)?;
    if id >= count as u64 {
        return no_such_string(at, id, count);
    }
    Ok(id as u32)
}

#[cold]
fn no_such_string<T>(at: usize, id: u64, count: usize) -> Result<T, DecodeError> {
    err(
        at,
        format!("shared string {id} does not exist ({count} in the table)"),
    )
}

/// The length and bytes of an inline string whose tag `t` was just read.
#[inline(always)]
fn str_body<'a>(buf: &'a [u8], pos: &mut usize, t: u8) -> Result<(&'a str, bool), DecodeError> {
    let at = *pos;
    let n = count(buf, pos, 1)?;
    let bytes = take(buf, pos, n)?;
    if t == tag::STR_ASCII {
        if !is_ascii(bytes) {
            return err(at, "string marked ASCII holds non-ASCII bytes");
        }
        // SAFETY: every byte is ASCII, which is valid UTF-8.
        Ok((unsafe { std::str::from_utf8_unchecked(bytes) }, true))
    } else {
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok((s, false)),
            Err(e) => err(at, format!("invalid UTF-8 in string: {e}")),
        }
    }
}

/// `bytes.is_ascii()`, without a branch per byte for short strings (most keys and
/// values): the standard one tests the bytes past the last whole word one at a time.
#[inline(always)]
fn is_ascii(bytes: &[u8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let n = bytes.len();
    if n > 16 {
        return bytes.is_ascii();
    }
    // Two loads that overlap when the string is shorter than their sum cover it whole.
    let word = |at: usize| -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(w)
    };
    let half = |at: usize| -> u64 {
        let mut w = [0u8; 4];
        w.copy_from_slice(&bytes[at..at + 4]);
        u64::from(u32::from_le_bytes(w))
    };
    let any = if n >= 8 {
        word(0) | word(n - 8)
    } else if n >= 4 {
        half(0) | half(n - 4)
    } else {
        bytes.iter().fold(0u64, |acc, &b| acc | u64::from(b))
    };
    any & HIGH == 0
}

impl<'a, 's, S: Sink<'a>> Reader<'a, 's, S> {
    /// A reader of `buf` up to its end, from `pos`.
    fn new(buf: &'a [u8], table: Table<'a>, sink: &'s mut S, pos: usize) -> Self {
        Reader {
            buf,
            table,
            validated: Vec::new(),
            pos,
            depth: 0,
            sink,
        }
    }

    /// Shared string `id` (checked against the table's size), validated once.
    #[inline(always)]
    fn shared(&mut self, id: u32) -> Result<(&'a str, bool), DecodeError> {
        if let Some(Some(hit)) = self.validated.get(id as usize) {
            return Ok(*hit);
        }
        let found = self.table.get(id)?;
        if self.validated.is_empty() {
            // Bounded by the table's count, which parse checked against its bytes.
            self.validated.resize(self.table.count, None);
        }
        self.validated[id as usize] = Some(found);
        Ok(found)
    }

    /// The bytes of an inline string, tag included, unvalidated.
    #[inline]
    fn key_bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let (buf, mut pos) = (self.buf, self.pos);
        let at = pos;
        let bytes = match byte(buf, &mut pos)? {
            tag::STR_ASCII | tag::STR_UTF8 => {
                let n = count(buf, &mut pos, 1)?;
                take(buf, &mut pos, n)?
            }
            t => return err(at, format!("expected a string, found tag {t:#04x}")),
        };
        self.pos = pos;
        Ok(bytes)
    }

    /// An inline string, tag included: root keys and shared-table entries.
    fn raw_str(&mut self) -> Result<(&'a str, bool), DecodeError> {
        let (buf, mut pos) = (self.buf, self.pos);
        let at = pos;
        let found = match byte(buf, &mut pos)? {
            t @ (tag::STR_ASCII | tag::STR_UTF8) => str_body(buf, &mut pos, t)?,
            t => return err(at, format!("expected a string, found tag {t:#04x}")),
        };
        self.pos = pos;
        Ok(found)
    }

    /// One value, from `self.pos`.
    #[inline]
    fn value(&mut self) -> Result<S::Value, S::Error> {
        let mut pos = self.pos;
        let v = self.value_at::<true>(&mut pos)?;
        self.pos = pos;
        Ok(v)
    }

    /// One value, from `*pos`. Scalars, most of any payload, are decoded inline in the
    /// caller's loop; the rest go through [`Reader::rare_value`], except that with
    /// `DICT_INLINE` a dict is decoded inline too, its own values without it. That is
    /// for the values of a root dict, which in a state dict are dicts of scalars: their
    /// entries then cost no call and no second dispatch on the tag.
    #[inline(always)]
    fn value_at<const DICT_INLINE: bool>(&mut self, pos: &mut usize) -> Result<S::Value, S::Error> {
        let buf = self.buf;
        let at = *pos;
        let t = byte(buf, pos)?;
        match t {
            tag::NONE => self.sink.none(),
            tag::FALSE => self.sink.bool(false),
            tag::TRUE => self.sink.bool(true),
            tag::I8 => {
                let [b] = take_array::<1>(buf, pos)?;
                self.sink.int(i64::from(b as i8))
            }
            tag::I16 => {
                let b = take_array::<2>(buf, pos)?;
                self.sink.int(i64::from(i16::from_le_bytes(b)))
            }
            tag::I32 => {
                let b = take_array::<4>(buf, pos)?;
                self.sink.int(i64::from(i32::from_le_bytes(b)))
            }
            tag::I64 => {
                let b = take_array::<8>(buf, pos)?;
                self.sink.int(i64::from_le_bytes(b))
            }
            tag::F64 => {
                let b = take_array::<8>(buf, pos)?;
                self.sink.float(f64::from_bits(u64::from_le_bytes(b)))
            }
            tag::STR_SHARED => {
                let id = shared_id(buf, pos, self.table.count)?;
                if let Some(v) = self.sink.cached_str(id) {
                    return Ok(v);
                }
                let (s, ascii) = self.shared(id)?;
                self.sink.str(s, ascii, Some(id))
            }
            tag::STR_ASCII | tag::STR_UTF8 => {
                let (s, ascii) = str_body(buf, pos, t)?;
                self.sink.str(s, ascii, None)
            }
            tag::DICT if DICT_INLINE => self.dict_at(pos, at),
            _ => {
                self.pos = *pos;
                let v = self.rare_value(t, at)?;
                *pos = self.pos;
                Ok(v)
            }
        }
    }

    /// A dict, from `*pos` just after its tag (at `at`).
    #[inline(always)]
    fn dict_at(&mut self, pos: &mut usize, at: usize) -> Result<S::Value, S::Error> {
        self.enter(at)?;
        let n = count(self.buf, pos, 2)?;
        let v = self.entries_at::<false>(pos, n)?;
        self.depth -= 1;
        Ok(v)
    }

    /// The rarer values, from `self.pos` just after tag `t` (at `at`): big integers,
    /// bytes, and the containers (which recurse). Leaves `self.pos` after the value.
    #[inline(never)]
    fn rare_value(&mut self, t: u8, at: usize) -> Result<S::Value, S::Error> {
        let buf = self.buf;
        let mut pos = self.pos;
        let v = match t {
            tag::BIG_INT => {
                let n = count(buf, &mut pos, 1)?;
                if n == 0 {
                    return Err(DecodeError::new(at, "big integer with no bytes").into());
                }
                let b = take(buf, &mut pos, n)?;
                self.sink.big_int(b)?
            }
            tag::BYTES => {
                let n = count(buf, &mut pos, 1)?;
                let b = take(buf, &mut pos, n)?;
                self.sink.bytes(b)?
            }
            tag::LIST | tag::TUPLE => {
                let n = count(buf, &mut pos, 1)?;
                self.enter(at)?;
                let mut seq = self.sink.seq(n, t == tag::TUPLE)?;
                for i in 0..n {
                    let v = self.value_at::<false>(&mut pos)?;
                    self.sink.seq_push(&mut seq, i, v)?;
                }
                self.depth -= 1;
                self.sink.seq_end(seq)?
            }
            tag::DICT => self.dict_at(&mut pos, at)?,
            _ => return Err(DecodeError::new(at, format!("unknown value tag {t:#04x}")).into()),
        };
        self.pos = pos;
        Ok(v)
    }

    #[inline]
    fn enter(&mut self, at: usize) -> Result<(), DecodeError> {
        self.depth += 1;
        if self.depth > format::MAX_DEPTH {
            return err(
                at,
                format!("nesting deeper than {} levels", format::MAX_DEPTH),
            );
        }
        Ok(())
    }

    /// The root dict's `n` entries, from `self.pos`: inline keys only.
    fn entries(&mut self, n: usize) -> Result<S::Value, S::Error> {
        self.depth = 1;
        let mut pos = self.pos;
        let v = self.entries_at::<true>(&mut pos, n)?;
        self.pos = pos;
        Ok(v)
    }

    /// `n` dict entries from `*pos`; those of the root dict (`ROOT`) have inline keys
    /// only, and go through [`Sink::root_key`].
    #[inline(always)]
    fn entries_at<const ROOT: bool>(
        &mut self,
        pos: &mut usize,
        n: usize,
    ) -> Result<S::Value, S::Error> {
        let buf = self.buf;
        let mut map = self.sink.map(n)?;
        for i in 0..n {
            let at = *pos;
            let t = byte(buf, pos)?;
            let k = match t {
                tag::STR_ASCII | tag::STR_UTF8 => {
                    let (s, ascii) = str_body(buf, pos, t)?;
                    if ROOT {
                        self.sink.root_key(i, s, ascii)?
                    } else {
                        self.sink.key(s, ascii, None)?
                    }
                }
                tag::STR_SHARED if !ROOT => {
                    let id = shared_id(buf, pos, self.table.count)?;
                    match self.sink.cached_key(id) {
                        Some(k) => k,
                        None => {
                            let (s, ascii) = self.shared(id)?;
                            self.sink.key(s, ascii, Some(id))?
                        }
                    }
                }
                _ => {
                    return Err(DecodeError::new(
                        at,
                        format!("expected a dict key, found tag {t:#04x}"),
                    )
                    .into())
                }
            };
            let v = self.value_at::<ROOT>(pos)?;
            self.sink.map_insert(&mut map, k, v)?;
        }
        self.sink.map_end(map)
    }
}
