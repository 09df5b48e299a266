//! Reads blobs. The bytes are untrusted (shared memory, a database, a socket): every
//! length, count, offset and depth is checked before it is used, so garbage yields a
//! [`DecodeError`], never a panic or an allocation the input does not justify.
//!
//! What a decoded value becomes is up to a [`Sink`]: a Rust [`Value`](super::Value),
//! Python objects in the bindings, or nothing at all when only skipping.

use super::error::DecodeError;
use super::format::{self, tag};
use super::skip::Skip;

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

    fn reader<'s, S: Sink<'a>>(&self, sink: &'s mut S, pos: usize) -> Reader<'a, 's, S> {
        let mut r = Reader::new(self.buf, self.table, sink, pos);
        r.end = self.table_at;
        r
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
struct Reader<'a, 's, S> {
    buf: &'a [u8],
    table: Table<'a>,
    /// Shared strings validated so far, by id: each is checked once per decode, however
    /// often it is referenced. Allocated on the first reference.
    validated: Vec<Option<(&'a str, bool)>>,
    pos: usize,
    /// Values must end before this offset.
    end: usize,
    depth: usize,
    sink: &'s mut S,
}

impl<'a, 's, S: Sink<'a>> Reader<'a, 's, S> {
    fn new(buf: &'a [u8], table: Table<'a>, sink: &'s mut S, pos: usize) -> Self {
        Reader {
            buf,
            table,
            validated: Vec::new(),
            pos,
            end: buf.len(),
            depth: 0,
            sink,
        }
    }

    #[inline]
    fn remaining(&self) -> usize {
        self.end - self.pos
    }

    #[inline(always)]
    fn byte(&mut self) -> Result<u8, DecodeError> {
        if self.pos >= self.end {
            return err(self.pos, "unexpected end of data");
        }
        let b = self.buf[self.pos];
        self.pos += 1;
        Ok(b)
    }

    #[inline(always)]
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return err(
                self.pos,
                format!(
                    "length {n} runs past the end of the data ({} left)",
                    self.remaining()
                ),
            );
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    #[inline(always)]
    fn varint(&mut self) -> Result<u64, DecodeError> {
        // Lengths and counts below 128 (nearly all of them) take one byte.
        match self.buf[..self.end].get(self.pos) {
            Some(&b) if b < 0x80 => {
                self.pos += 1;
                Ok(u64::from(b))
            }
            _ => self.varint_long(),
        }
    }

    fn varint_long(&mut self) -> Result<u64, DecodeError> {
        let start = self.pos;
        match format::get_varint(&self.buf[..self.end], &mut self.pos) {
            Some(v) => Ok(v),
            None => {
                self.pos = start;
                err(
                    start,
                    "varint longer than 64 bits, or cut off by the end of the data",
                )
            }
        }
    }

    /// A count of items that each take at least `min_size` bytes: bounded by what is left,
    /// so pre-sizing a container by it never allocates more than the input justifies.
    #[inline(always)]
    fn count(&mut self, min_size: usize) -> Result<usize, DecodeError> {
        let at = self.pos;
        let n = self.varint()?;
        if n > (self.remaining() / min_size) as u64 {
            return err(
                at,
                format!("count {n} exceeds the remaining {} bytes", self.remaining()),
            );
        }
        Ok(n as usize)
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

    /// A reference into the shared table, checked against its size.
    #[inline(always)]
    fn shared_id(&mut self) -> Result<u32, DecodeError> {
        let at = self.pos;
        let id = self.varint()?;
        if id >= self.table.count as u64 {
            return err(
                at,
                format!(
                    "shared string {id} does not exist ({} in the table)",
                    self.table.count
                ),
            );
        }
        Ok(id as u32)
    }

    /// The bytes of an inline string, tag included, unvalidated.
    #[inline]
    fn key_bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let at = self.pos;
        match self.byte()? {
            tag::STR_ASCII | tag::STR_UTF8 => {
                let n = self.count(1)?;
                self.take(n)
            }
            t => err(at, format!("expected a string, found tag {t:#04x}")),
        }
    }

    /// An inline string, tag included: root keys and shared-table entries.
    fn raw_str(&mut self) -> Result<(&'a str, bool), DecodeError> {
        let at = self.pos;
        let t = self.byte()?;
        match t {
            tag::STR_ASCII | tag::STR_UTF8 => self.str_body(t),
            _ => err(at, format!("expected a string, found tag {t:#04x}")),
        }
    }

    #[inline(always)]
    fn str_body(&mut self, t: u8) -> Result<(&'a str, bool), DecodeError> {
        let at = self.pos;
        let n = self.count(1)?;
        let bytes = self.take(n)?;
        if t == tag::STR_ASCII {
            if !bytes.is_ascii() {
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

    /// One value. Scalars, most of any payload, are decoded inline in the caller's loop;
    /// the rest, containers included, go through [`Reader::rare_value`].
    #[inline(always)]
    fn value(&mut self) -> Result<S::Value, S::Error> {
        let at = self.pos;
        let t = self.byte()?;
        match t {
            tag::NONE => self.sink.none(),
            tag::FALSE => self.sink.bool(false),
            tag::TRUE => self.sink.bool(true),
            tag::I8 => {
                let b = self.take(1)?;
                self.sink.int(i64::from(b[0] as i8))
            }
            tag::I16 => {
                let b = self.take(2)?;
                self.sink.int(i64::from(i16::from_le_bytes([b[0], b[1]])))
            }
            tag::I32 => {
                let b = self.take(4)?;
                self.sink
                    .int(i64::from(i32::from_le_bytes(b.try_into().unwrap())))
            }
            tag::I64 => {
                let b = self.take(8)?;
                self.sink.int(i64::from_le_bytes(b.try_into().unwrap()))
            }
            tag::F64 => {
                let b = self.take(8)?;
                self.sink
                    .float(f64::from_bits(u64::from_le_bytes(b.try_into().unwrap())))
            }
            tag::STR_SHARED => {
                let id = self.shared_id()?;
                if let Some(v) = self.sink.cached_str(id) {
                    return Ok(v);
                }
                let (s, ascii) = self.shared(id)?;
                self.sink.str(s, ascii, Some(id))
            }
            tag::STR_ASCII | tag::STR_UTF8 => {
                let (s, ascii) = self.str_body(t)?;
                self.sink.str(s, ascii, None)
            }
            _ => self.rare_value(t, at),
        }
    }

    /// The rarer values: big integers, bytes, and the containers (which recurse).
    #[inline(never)]
    fn rare_value(&mut self, t: u8, at: usize) -> Result<S::Value, S::Error> {
        match t {
            tag::BIG_INT => {
                let n = self.count(1)?;
                if n == 0 {
                    return Err(DecodeError::new(at, "big integer with no bytes").into());
                }
                let b = self.take(n)?;
                self.sink.big_int(b)
            }
            tag::BYTES => {
                let n = self.count(1)?;
                let b = self.take(n)?;
                self.sink.bytes(b)
            }
            tag::LIST | tag::TUPLE => {
                let n = self.count(1)?;
                self.enter(at)?;
                let mut seq = self.sink.seq(n, t == tag::TUPLE)?;
                for i in 0..n {
                    let v = self.value()?;
                    self.sink.seq_push(&mut seq, i, v)?;
                }
                self.depth -= 1;
                self.sink.seq_end(seq)
            }
            tag::DICT => {
                self.enter(at)?;
                let n = self.count(2)?;
                let v = self.entries_with(n, false)?;
                self.depth -= 1;
                Ok(v)
            }
            _ => Err(DecodeError::new(at, format!("unknown value tag {t:#04x}")).into()),
        }
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

    /// The root dict's entries: inline keys only.
    fn entries(&mut self, n: usize) -> Result<S::Value, S::Error> {
        self.depth = 1;
        self.entries_with(n, true)
    }

    fn entries_with(&mut self, n: usize, root: bool) -> Result<S::Value, S::Error> {
        let mut map = self.sink.map(n)?;
        for i in 0..n {
            let at = self.pos;
            let t = self.byte()?;
            let k = match t {
                tag::STR_ASCII | tag::STR_UTF8 => {
                    let (s, ascii) = self.str_body(t)?;
                    if root {
                        self.sink.root_key(i, s, ascii)?
                    } else {
                        self.sink.key(s, ascii, None)?
                    }
                }
                tag::STR_SHARED if !root => {
                    let id = self.shared_id()?;
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
            let v = self.value()?;
            self.sink.map_insert(&mut map, k, v)?;
        }
        self.sink.map_end(map)
    }
}
