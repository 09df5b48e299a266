//! Writes blobs. Callers walk their own data (a Rust [`Value`](super::Value) or Python
//! objects in the bindings) and call one method per node, so every producer emits the
//! same bytes for the same logical value.

use rustc_hash::FxHashMap;

use super::array::{array_nbytes, Dtype, KeyRef};
use super::error::{EncodeError, EncodeErrorKind};
use super::format::{self, tag};
use crate::kept;

/// Builds one blob. Typical use: [`Encoder::begin_index`] for a root dict, then per entry
/// [`Encoder::index_key`] followed by the value's nodes, then [`Encoder::finish`].
///
/// A writer that publishes again and again keeps one encoder instead: [`Encoder::complete`]
/// lends the blob, [`Encoder::reset`] starts the next one in the same buffers. Allocating
/// and freeing blob-sized buffers on every write made the allocator hand their pages
/// back to the kernel and fault them in again: up to a quarter of a write's time.
pub struct Encoder {
    buf: Vec<u8>,
    shared: SharedStrings,
    index: Option<IndexBuilder>,
    /// Set by `complete`: the blob is whole, nothing may be added.
    complete: bool,
    /// The index's buffers, kept for the next blob: its entries, and its hash table while
    /// it is built.
    spare_entries: Vec<(u64, u64)>,
    table: Vec<(u64, u64)>,
}

/// Nested dict keys repeat (every entry of a state dict has the same field names), so they
/// are stored once per blob and referenced by number; the decoder then builds each once.
#[derive(Default)]
struct SharedStrings {
    ids: FxHashMap<Box<[u8]>, u32>,
    /// Each string encoded as a value (tag, length, bytes), in id order.
    data: Vec<u8>,
    offsets: Vec<u32>,
}

struct IndexBuilder {
    /// Where the slot array starts in `buf`, and how many bytes were reserved for it.
    slots_at: usize,
    reserved: usize,
    entries_at: usize,
    /// (key hash, entry offset from `entries_at`), in insertion order.
    entries: Vec<(u64, u64)>,
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder {
    pub fn new() -> Self {
        Self::with_capacity(256)
    }

    /// `capacity` is a hint for the finished blob's size.
    pub fn with_capacity(capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity.max(format::HEADER_LEN));
        buf.resize(format::HEADER_LEN, 0);
        Encoder {
            buf,
            shared: SharedStrings::default(),
            index: None,
            complete: false,
            spare_entries: Vec::new(),
            table: Vec::new(),
        }
    }

    /// Empties the encoder for the next blob, keeping its buffers within the bounds
    /// `kept` sets (so that one huge write does not pin its memory).
    pub fn reset(&mut self) {
        let used = self.buf.len();
        kept::trim(&mut self.buf, used);
        self.buf.resize(format::HEADER_LEN, 0);
        let shared = &mut self.shared;
        let (bytes, strings) = (shared.data.len(), shared.offsets.len());
        shared.ids.clear();
        shared.ids.shrink_to(strings.saturating_mul(2));
        kept::trim(&mut shared.data, bytes);
        kept::trim(&mut shared.offsets, strings);
        if let Some(index) = self.index.take() {
            self.spare_entries = index.entries;
        }
        let entries = self.spare_entries.len();
        kept::trim(&mut self.spare_entries, entries);
        let slots = self.table.len();
        kept::trim(&mut self.table, slots);
        self.complete = false;
    }

    /// Bytes written so far (a cheap progress or size estimate).
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.len() == format::HEADER_LEN
    }

    #[inline]
    fn varint(&mut self, v: u64) {
        format::put_varint(&mut self.buf, v);
    }

    #[inline]
    pub fn none(&mut self) {
        self.buf.push(tag::NONE);
    }

    #[inline]
    pub fn bool(&mut self, v: bool) {
        self.buf.push(if v { tag::TRUE } else { tag::FALSE });
    }

    /// Integers take the narrowest of 1, 2, 4 or 8 bytes that holds them.
    #[inline]
    pub fn int(&mut self, v: i64) {
        if let Ok(x) = i8::try_from(v) {
            self.buf.extend_from_slice(&[tag::I8, x as u8]);
        } else if let Ok(x) = i16::try_from(v) {
            self.buf.push(tag::I16);
            self.buf.extend_from_slice(&x.to_le_bytes());
        } else if let Ok(x) = i32::try_from(v) {
            self.buf.push(tag::I32);
            self.buf.extend_from_slice(&x.to_le_bytes());
        } else {
            self.buf.push(tag::I64);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// An integer outside i64, as little-endian two's complement bytes.
    pub fn big_int(&mut self, le_bytes: &[u8]) {
        self.buf.push(tag::BIG_INT);
        self.varint(le_bytes.len() as u64);
        self.buf.extend_from_slice(le_bytes);
    }

    #[inline]
    pub fn float(&mut self, v: f64) {
        self.buf.push(tag::F64);
        self.buf.extend_from_slice(&v.to_bits().to_le_bytes());
    }

    pub fn str(&mut self, s: &str) {
        self.str_known(s, s.is_ascii());
    }

    /// Like [`Encoder::str`] when the caller already knows whether `s` is ASCII
    /// (CPython does, for free). A wrong `ascii` makes a blob the decoder rejects.
    #[inline]
    pub fn str_known(&mut self, s: &str, ascii: bool) {
        debug_assert_eq!(ascii, s.is_ascii());
        self.buf
            .push(if ascii { tag::STR_ASCII } else { tag::STR_UTF8 });
        self.varint(s.len() as u64);
        self.buf.extend_from_slice(s.as_bytes());
    }

    #[inline]
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.push(tag::BYTES);
        self.varint(b.len() as u64);
        self.buf.extend_from_slice(b);
    }

    /// An array: `data` is C-ordered and little-endian, exactly
    /// `product(shape) * dtype.itemsize()` bytes. Its data lands at a multiple of 64
    /// bytes from the start of the blob, which the encoder knows: values are written
    /// where they stay (see [`Encoder::complete`]).
    pub fn array(&mut self, dtype: Dtype, shape: &[usize], data: &[u8]) -> Result<(), EncodeError> {
        let nbytes = array_nbytes(dtype, shape).map_err(invalid_array)?;
        if data.len() != nbytes {
            return Err(invalid_array(format!(
                "shape {shape:?} of {dtype} needs {nbytes} bytes, {} given",
                data.len()
            )));
        }
        self.buf
            .reserve(3 + shape.len() * 10 + format::ALIGN + data.len());
        self.buf
            .extend_from_slice(&[tag::ARRAY, dtype.code(), shape.len() as u8]);
        for &d in shape {
            self.varint(d as u64);
        }
        // The pad count, then that many zeros, then the data on a multiple of ALIGN.
        let data_at = format::align_up(self.buf.len() + 1);
        let pad = data_at - self.buf.len() - 1;
        self.buf.push(pad as u8);
        self.buf.resize(data_at, 0);
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// A NumPy scalar: `le` is its `dtype.itemsize()` little-endian bytes.
    pub fn scalar(&mut self, dtype: Dtype, le: &[u8]) -> Result<(), EncodeError> {
        if le.len() != dtype.itemsize() {
            return Err(invalid_array(format!(
                "a {dtype} scalar takes {} bytes, {} given",
                dtype.itemsize(),
                le.len()
            )));
        }
        self.buf.extend_from_slice(&[tag::SCALAR, dtype.code()]);
        self.buf.extend_from_slice(le);
        Ok(())
    }

    /// An opaque pickle of a value the format does not carry. Only for a caller that
    /// allowed pickling: the bytes are never looked into here, but whoever decodes them
    /// may unpickle them.
    pub fn pickle(&mut self, data: &[u8]) {
        self.buf.push(tag::PICKLE);
        self.varint(data.len() as u64);
        self.buf.extend_from_slice(data);
    }

    /// Starts a list of `len` values; the caller writes exactly that many next.
    #[inline]
    pub fn list(&mut self, len: usize) {
        self.buf.push(tag::LIST);
        self.varint(len as u64);
    }

    #[inline]
    pub fn tuple(&mut self, len: usize) {
        self.buf.push(tag::TUPLE);
        self.varint(len as u64);
    }

    /// Starts a nested dict of `len` entries: then `len` times [`Encoder::key`] and a value.
    #[inline]
    pub fn dict(&mut self, len: usize) {
        self.buf.push(tag::DICT);
        self.varint(len as u64);
    }

    /// A key of a nested dict: short keys go to the shared table, long ones inline.
    pub fn key(&mut self, s: &str, ascii: bool) {
        match self.shared_id(s, ascii) {
            Some(id) => self.shared_ref(id),
            None => self.str_known(s, ascii),
        }
    }

    /// An int key of a nested dict: an integer value, written as [`Encoder::int`] writes
    /// it.
    #[inline]
    pub fn int_key(&mut self, v: i64) {
        self.int(v);
    }

    /// The shared-table number for `s`, adding it if needed; None when `s` is too long
    /// to share or the table is full, and the caller writes it inline. Callers may
    /// memoise the answer per string (the bindings do, per Python object).
    pub fn shared_id(&mut self, s: &str, ascii: bool) -> Option<u32> {
        if s.len() > format::MAX_SHARED_LEN {
            return None;
        }
        let table = &mut self.shared;
        if let Some(&id) = table.ids.get(s.as_bytes()) {
            return Some(id);
        }
        if table.offsets.len() >= format::MAX_SHARED_STRINGS {
            return None;
        }
        let id = table.offsets.len() as u32;
        table.offsets.push(table.data.len() as u32);
        table
            .data
            .push(if ascii { tag::STR_ASCII } else { tag::STR_UTF8 });
        // A shared string is at most MAX_SHARED_LEN (< 128) bytes: a one-byte length.
        table.data.push(s.len() as u8);
        table.data.extend_from_slice(s.as_bytes());
        table.ids.insert(s.as_bytes().into(), id);
        Some(id)
    }

    /// A reference to a string returned by [`Encoder::shared_id`].
    #[inline]
    pub fn shared_ref(&mut self, id: u32) {
        self.buf.push(tag::STR_SHARED);
        self.varint(u64::from(id));
    }

    /// Declares the root to be a dict of `len` entries with a hash index, so that a
    /// reader can decode one key's value alone. Must come before anything else.
    pub fn begin_index(&mut self, len: usize) {
        assert!(
            self.index.is_none() && self.is_empty(),
            "begin_index must start the blob"
        );
        let entries_at = format::entries_offset(format::slot_count(len), 4)
            .expect("a slot table that fits in memory");
        let reserved = entries_at - format::HEADER_LEN;
        self.buf.resize(entries_at, 0);
        let mut entries = std::mem::take(&mut self.spare_entries);
        entries.clear();
        entries.reserve(len);
        self.index = Some(IndexBuilder {
            slots_at: format::HEADER_LEN,
            reserved,
            entries_at: self.buf.len(),
            entries,
        });
    }

    /// Starts a root entry; its value follows.
    pub fn index_key(&mut self, key: &str, ascii: bool) {
        self.index_entry(format::key_hash(key.as_bytes()));
        self.str_known(key, ascii);
    }

    /// Starts a root entry whose key is an int; its value follows.
    pub fn index_int_key(&mut self, key: i64) {
        self.index_entry(format::int_key_hash(key));
        self.int(key);
    }

    /// Starts a root entry with either kind of key.
    pub fn index_key_ref(&mut self, key: KeyRef<'_>) {
        match key {
            KeyRef::Str(s) => self.index_key(s, s.is_ascii()),
            KeyRef::Int(i) => self.index_int_key(i),
        }
    }

    #[inline]
    fn index_entry(&mut self, hash: u64) {
        let index = self
            .index
            .as_mut()
            .expect("index keys need begin_index first");
        let offset = (self.buf.len() - index.entries_at) as u64;
        index.entries.push((hash, offset));
    }

    /// Completes the blob: fills the hash slots, appends the shared table, writes the header.
    pub fn finish(mut self) -> Result<Vec<u8>, EncodeError> {
        self.complete()?;
        Ok(self.buf)
    }

    /// Completes the blob in place and lends it (the same blob if called again);
    /// [`Encoder::reset`] then starts the next one. After an error, only `reset` may
    /// follow.
    pub fn complete(&mut self) -> Result<&[u8], EncodeError> {
        if self.complete {
            return Ok(&self.buf);
        }
        let mut flags = 0u8;
        let (mut n_entries, mut n_slots) = (0u64, 0u64);
        if let Some(index) = self.index.take() {
            flags |= format::FLAG_INDEXED;
            let entries_len = (self.buf.len() - index.entries_at) as u64;
            // Slot values are entry offset + 1 (0 marks an empty slot).
            let wide = entries_len >= u64::from(u32::MAX);
            if wide {
                flags |= format::FLAG_WIDE_SLOTS;
            }
            let width = if wide { 8 } else { 4 };
            let slots = format::slot_count(index.entries.len());
            let entries_at =
                format::entries_offset(slots, width).expect("a slot table that fits in memory");
            let needed = entries_at - index.slots_at;
            if needed != index.reserved {
                // Only when the caller wrote more or fewer entries than announced, or the
                // blob passed 4 GiB: move the entries to make room for the right table.
                // Both sizes end on a multiple of ALIGN, so the move keeps array data
                // aligned.
                let range = index.slots_at..index.slots_at + index.reserved;
                self.buf.splice(range, std::iter::repeat_n(0u8, needed));
            }
            let filled = fill_slots(
                &mut self.buf,
                &mut self.table,
                &index,
                entries_at,
                slots,
                width,
            );
            debug_assert!(self.buf[index.slots_at + slots * width..entries_at]
                .iter()
                .all(|&b| b == 0));
            n_entries = index.entries.len() as u64;
            n_slots = slots as u64;
            // Kept for the next blob, failed or not.
            self.spare_entries = index.entries;
            filled?;
        }

        let table_offset = self.buf.len() as u64;
        let (buf, shared) = (&mut self.buf, &self.shared);
        buf.extend_from_slice(&(shared.offsets.len() as u32).to_le_bytes());
        for off in &shared.offsets {
            buf.extend_from_slice(&off.to_le_bytes());
        }
        buf.extend_from_slice(&shared.data);

        let total = buf.len() as u64;
        let header = &mut buf[..format::HEADER_LEN];
        header[0..4].copy_from_slice(&format::MAGIC);
        header[4] = format::FORMAT_VERSION;
        header[5] = flags;
        header[6..8].copy_from_slice(&[0, 0]);
        header[8..16].copy_from_slice(&total.to_le_bytes());
        header[16..24].copy_from_slice(&table_offset.to_le_bytes());
        header[24..32].copy_from_slice(&n_entries.to_le_bytes());
        header[32..40].copy_from_slice(&n_slots.to_le_bytes());
        self.complete = true;
        Ok(&self.buf)
    }
}

/// Linear probing from each key's home slot. Equal hashes are compared byte for byte, so a
/// duplicate key (two str subclass objects that compare unequal, or a Rust Vec of pairs) is
/// reported rather than hidden. The table is built in `table` (hash, slot value) pairs, so
/// that a probe touches one cache line, then copied into the blob in one pass.
fn fill_slots(
    buf: &mut [u8],
    table: &mut Vec<(u64, u64)>,
    index: &IndexBuilder,
    entries_at: usize,
    n_slots: usize,
    width: usize,
) -> Result<(), EncodeError> {
    table.clear();
    table.resize(n_slots, (0, 0));
    for &(hash, offset) in &index.entries {
        let mut slot = format::home_slot(hash, n_slots as u64) as usize;
        loop {
            let (stored_hash, stored) = table[slot];
            // Slot values are entry offset + 1: 0 marks an empty slot.
            if stored == 0 {
                table[slot] = (hash, offset + 1);
                break;
            }
            if stored_hash == hash {
                let a = entry_key(buf, entries_at + (stored - 1) as usize);
                let b = entry_key(buf, entries_at + offset as usize);
                if a == b {
                    return Err(EncodeError::new(EncodeErrorKind::DuplicateKey(
                        a.to_string(),
                    )));
                }
            }
            slot = (slot + 1) & (n_slots - 1);
        }
    }
    let slots = &mut buf[index.slots_at..index.slots_at + n_slots * width];
    for (cell, &(_, value)) in slots.chunks_exact_mut(width).zip(table.iter()) {
        cell.copy_from_slice(&value.to_le_bytes()[..width]);
    }
    Ok(())
}

#[cold]
fn invalid_array(why: String) -> EncodeError {
    EncodeError::new(EncodeErrorKind::InvalidArray(why))
}

/// The key of an entry this encoder wrote (trusted: a string's tag, varint length and
/// bytes, or an integer's tag and bytes).
fn entry_key(buf: &[u8], at: usize) -> KeyRef<'_> {
    let int = |n: usize| {
        // Sign-extend the n little-endian bytes.
        let mut b = [if buf[at + n] & 0x80 != 0 { 0xFF } else { 0 }; 8];
        b[..n].copy_from_slice(&buf[at + 1..at + 1 + n]);
        KeyRef::Int(i64::from_le_bytes(b))
    };
    match buf[at] {
        tag::I8 => return int(1),
        tag::I16 => return int(2),
        tag::I32 => return int(4),
        tag::I64 => return int(8),
        _ => {}
    }
    let (mut len, mut shift, mut pos) = (0u64, 0u32, at + 1);
    loop {
        let b = buf[pos];
        pos += 1;
        len |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            break;
        }
        shift += 7;
    }
    // The encoder wrote these bytes from a &str.
    KeyRef::Str(std::str::from_utf8(&buf[pos..pos + len as usize]).unwrap_or(""))
}
