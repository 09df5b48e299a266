//! Constants of the wire format, shared by the encoder and the decoder.
//! docs/format.md describes the same layout byte by byte.

/// First four bytes of every blob.
pub const MAGIC: [u8; 4] = *b"IPCB";
/// Format version written by this build; the decoder accepts exactly this one.
pub const FORMAT_VERSION: u8 = 2;
/// Size of the fixed header that precedes the slots or the root value.
pub const HEADER_LEN: usize = 40;

/// Header flag: the root is a dict whose keys are indexed by a hash table.
pub const FLAG_INDEXED: u8 = 1;
/// Header flag: hash slots are 8 bytes wide instead of 4.
pub const FLAG_WIDE_SLOTS: u8 = 2;
pub const KNOWN_FLAGS: u8 = FLAG_INDEXED | FLAG_WIDE_SLOTS;

/// Deepest container nesting accepted on both sides (the root dict is depth 1).
pub const MAX_DEPTH: usize = 256;
/// Dict keys of nested dicts up to this many bytes go into the shared string table.
pub const MAX_SHARED_LEN: usize = 64;
/// At most this many distinct strings are shared per blob; later ones are written inline.
pub const MAX_SHARED_STRINGS: usize = 1 << 16;

/// One-byte tags that start every value.
pub mod tag {
    pub const NONE: u8 = 0x00;
    pub const FALSE: u8 = 0x01;
    pub const TRUE: u8 = 0x02;
    pub const I8: u8 = 0x03;
    pub const I16: u8 = 0x04;
    pub const I32: u8 = 0x05;
    pub const I64: u8 = 0x06;
    pub const BIG_INT: u8 = 0x07;
    pub const F64: u8 = 0x08;
    pub const STR_ASCII: u8 = 0x09;
    pub const STR_UTF8: u8 = 0x0A;
    pub const STR_SHARED: u8 = 0x0B;
    pub const BYTES: u8 = 0x0C;
    pub const LIST: u8 = 0x0D;
    pub const TUPLE: u8 = 0x0E;
    pub const DICT: u8 = 0x0F;
    pub const ARRAY: u8 = 0x10;
    pub const SCALAR: u8 = 0x11;
    pub const PICKLE: u8 = 0x12;
}

/// Array data, and the entries of an indexed root, start at offsets from the start of
/// the blob that are multiples of this: a cache line, and more than any dtype needs.
pub const ALIGN: usize = 64;

/// `at` rounded up to a multiple of [`ALIGN`] (`at` is a buffer offset, far from
/// overflowing).
#[inline]
pub fn align_up(at: usize) -> usize {
    at.next_multiple_of(ALIGN)
}

/// Where the entries of an indexed root start, after `n_slots` slots of `width` bytes:
/// aligned, so that moving them (to resize the slots) keeps array data aligned.
/// None when that does not fit in usize (only from a corrupt header).
#[inline]
pub fn entries_offset(n_slots: usize, width: usize) -> Option<usize> {
    n_slots
        .checked_mul(width)?
        .checked_add(HEADER_LEN)?
        .checked_next_multiple_of(ALIGN)
}

/// First byte of the hash input of an int key: a byte that never starts UTF-8 text, so
/// no str key hashes the same bytes as an int key.
pub const INT_KEY_MARK: u8 = 0xFF;

/// The index hash of int key `v`: [`key_hash`] of [`INT_KEY_MARK`] and the 8 bytes of
/// `v`, little-endian.
#[inline]
pub fn int_key_hash(v: i64) -> u64 {
    let mut input = [INT_KEY_MARK; 9];
    input[1..].copy_from_slice(&v.to_le_bytes());
    key_hash(&input)
}

/// FNV-1a over the key, then MurmurHash3's 64-bit finaliser: stable across processes,
/// builds and languages. FNV alone mixes the last bytes poorly into the high bits, and keys
/// that differ only in their last digits (`key_1`, `key_2`...) are the common case.
#[inline]
pub fn key_hash(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The first slot probed for `hash` in a table of `n_slots` (a power of two): the hash's
/// top bits.
#[inline]
pub fn home_slot(hash: u64, n_slots: u64) -> u64 {
    debug_assert!(n_slots.is_power_of_two());
    if n_slots <= 1 {
        0
    } else {
        hash >> (64 - n_slots.trailing_zeros())
    }
}

/// Slot count for `n` entries: a power of two with a load factor of at most 3/4.
pub fn slot_count(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        (n + n / 3 + 1).next_power_of_two()
    }
}

/// Appends `v` as unsigned LEB128: 7 bits a byte, low bits first.
#[inline]
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads an unsigned LEB128 value at `*pos` and moves past it; None if the data ends
/// inside it or it does not fit in 64 bits.
#[inline]
pub fn get_varint(data: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *data.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return (shift < 63 || b <= 1).then_some(v);
        }
    }
    None
}
