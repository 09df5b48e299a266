//! What the LMDB store keeps in its database: one record per top-level key, and a meta
//! record. docs/design.md ("LMDB") describes the layout and why.
//!
//! Everything read back here is treated as hostile, as the codec does: a record or a meta
//! record that does not parse is a [`DecodeError`], which the store turns into
//! `Error::Corrupt` naming itself and the record.

use std::path::PathBuf;

use crate::codec::format::{self, key_hash};
use crate::codec::{DecodeError, KeyRef, FORMAT_VERSION};
use crate::names::PREFIX;

/// Key of the meta record, in LMDB's unnamed database; 0xFF never occurs in UTF-8 (nor
/// in the name of a database).
pub const META_KEY: &[u8] = b"\xffmeta";
/// The named database that holds the records. The meta record lives apart from them, in
/// the unnamed database (where LMDB also keeps this name): a tree of one page, so every
/// transaction can read the meta record for the price of one page, and a snapshot is
/// always named by what it records itself (docs/design.md, "Which snapshot is this?").
pub const RECORDS_DB: &str = "records";
/// First byte of the record key of a top-level key that LMDB cannot take as it is (empty,
/// or longer than LMDB's key limit): 0xFE, the key's hash, a collision counter. 0xFE never
/// occurs in UTF-8 either.
pub const ESCAPED: u8 = 0xFE;
/// Length of an escaped record key: the marker, an 8-byte hash, a 1-byte counter.
pub const ESCAPED_KEY_LEN: usize = 10;
/// First byte of the record key of an int top-level key: 0xFD, then the int as 8
/// big-endian bytes with its sign bit flipped (so that LMDB's byte order is the ints'
/// order). 0xFD never occurs in UTF-8, so no str key can collide with an int key.
pub const INT_KEY: u8 = 0xFD;
/// Length of an int record key.
pub const INT_KEY_LEN: usize = 9;

/// "IPCBLMD1": starts the meta record.
pub const META_MAGIC: [u8; 8] = *b"IPCBLMD1";
/// Version of this record layout (the blob format has its own, also in the meta record).
/// 2: the records moved into their own database. 3: int top-level keys (`INT_KEY`).
pub const LAYOUT_VERSION: u8 = 3;
/// Meta record: magic, layout version, blob format version, 6 reserved bytes,
/// incarnation, snapshot version, entry count (u64 little-endian each), then the
/// shared-string table of the snapshot.
pub const META_HEADER_LEN: usize = 40;

/// The files of a store inside its directory: LMDB's two, and ours.
pub const DATA_FILE: &str = "data.mdb";
pub const LOCK_FILE: &str = "lock.mdb";
pub const NOTIFY_FILE: &str = "ipcb_notify";

/// `<tempdir>/ipcb_lmdb_<name>`: where a store without a path lives.
pub fn temp_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{PREFIX}lmdb_{name}"))
}

/// The meta record of one snapshot.
#[derive(Debug, Clone, Copy)]
pub struct Meta<'a> {
    /// Random, chosen when the store was first written: (incarnation, version) names a
    /// snapshot uniquely even if the store is removed and created again.
    pub incarnation: u64,
    pub version: u64,
    /// Number of records (top-level keys).
    pub count: u64,
    /// The snapshot's shared-string table, as the codec wrote it.
    pub table: &'a [u8],
}

impl<'a> Meta<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        if bytes.len() < META_HEADER_LEN {
            return err(
                0,
                format!("meta record of {} bytes is too short", bytes.len()),
            );
        }
        if bytes[..8] != META_MAGIC {
            return err(
                0,
                "bad magic: not the meta record of an ipc_benchmark store",
            );
        }
        if bytes[8] != LAYOUT_VERSION {
            return err(
                8,
                format!(
                    "record layout version {} (this build reads version {LAYOUT_VERSION})",
                    bytes[8]
                ),
            );
        }
        if bytes[9] != FORMAT_VERSION {
            return err(
                9,
                format!(
                    "blob format version {} (this build reads version {FORMAT_VERSION})",
                    bytes[9]
                ),
            );
        }
        if bytes[10..16].iter().any(|&b| b != 0) {
            return err(10, "reserved bytes are not zero");
        }
        let word = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
        Ok(Meta {
            incarnation: word(16),
            version: word(24),
            count: word(32),
            table: &bytes[META_HEADER_LEN..],
        })
    }

    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.clear();
        out.reserve(META_HEADER_LEN + self.table.len());
        out.extend_from_slice(&META_MAGIC);
        out.extend_from_slice(&[LAYOUT_VERSION, FORMAT_VERSION, 0, 0, 0, 0, 0, 0]);
        for word in [self.incarnation, self.version, self.count] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(self.table);
    }
}

/// One record, located but not decoded.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// Position of the key in the dict: LMDB sorts records by key, the dict keeps
    /// insertion order.
    pub ordinal: u64,
    pub key: KeyRef<'a>,
    /// Whether a str key is ASCII (false for an int key).
    pub ascii: bool,
    /// The encoded value, for `codec::decode_value` with the meta record's table.
    pub value: &'a [u8],
}

/// Whether `key` needs an escaped record key: LMDB refuses empty keys and keys above its
/// limit (`max_key`, 511 bytes in the default build).
#[inline]
pub fn is_escaped(key: &str, max_key: usize) -> bool {
    key.is_empty() || key.len() > max_key
}

/// The record key of the int top-level key `i`.
pub fn int_record_key(i: i64) -> [u8; INT_KEY_LEN] {
    let mut out = [0u8; INT_KEY_LEN];
    out[0] = INT_KEY;
    out[1..].copy_from_slice(&((i as u64) ^ (1 << 63)).to_be_bytes());
    out
}

/// The int an int record key stands for; None if `record_key` is not one.
pub fn parse_int_record_key(record_key: &[u8]) -> Option<i64> {
    match record_key {
        [INT_KEY, rest @ ..] if rest.len() == INT_KEY_LEN - 1 => {
            let bits = u64::from_be_bytes(rest.try_into().ok()?);
            Some((bits ^ (1 << 63)) as i64)
        }
        _ => None,
    }
}

/// The escaped record keys of `key` all start with these 9 bytes (the counter follows).
pub fn escaped_prefix(key: &str) -> [u8; ESCAPED_KEY_LEN - 1] {
    let mut out = [0u8; ESCAPED_KEY_LEN - 1];
    out[0] = ESCAPED;
    out[1..].copy_from_slice(&key_hash(key.as_bytes()).to_be_bytes());
    out
}

/// Writes into `head` what precedes the encoded value in a record: the ordinal, and for
/// an escaped key the key itself (its record key holds only a hash).
pub fn record_head(ordinal: u64, escaped_key: Option<&str>, head: &mut Vec<u8>) {
    head.clear();
    format::put_varint(head, ordinal);
    if let Some(key) = escaped_key {
        format::put_varint(head, key.len() as u64);
        head.extend_from_slice(key.as_bytes());
    }
}

/// Parses a record found under `record_key`. Checks everything but the value itself,
/// which the codec checks as it decodes.
pub fn parse_record<'a>(record_key: &'a [u8], data: &'a [u8]) -> Result<Record<'a>, DecodeError> {
    let mut pos = 0;
    let ordinal = get_varint(data, &mut pos)?;
    if record_key.first() == Some(&INT_KEY) {
        let Some(i) = parse_int_record_key(record_key) else {
            return err(0, format!("int record key of {} bytes", record_key.len()));
        };
        return Ok(Record {
            ordinal,
            key: KeyRef::Int(i),
            ascii: false,
            value: &data[pos..],
        });
    }
    let (key, ascii) = if record_key.first() == Some(&ESCAPED) {
        let at = pos;
        let len = get_varint(data, &mut pos)?;
        let Some(bytes) = usize::try_from(len)
            .ok()
            .and_then(|len| data.get(pos..pos.checked_add(len)?))
        else {
            return err(at, format!("key length {len} runs past the record"));
        };
        pos += bytes.len();
        let (key, ascii) = utf8(bytes, at)?;
        let expected = escaped_prefix(key);
        if record_key.len() != ESCAPED_KEY_LEN || record_key[..ESCAPED_KEY_LEN - 1] != expected {
            return err(0, "escaped record key does not match the key it holds");
        }
        (key, ascii)
    } else {
        utf8(record_key, 0)?
    };
    Ok(Record {
        ordinal,
        key: KeyRef::Str(key),
        ascii,
        value: &data[pos..],
    })
}

/// The ordinal of a record whose key is already known (a `get` of a plain key): skips
/// re-validating the key.
#[inline]
pub fn record_value(data: &[u8]) -> Result<(u64, &[u8]), DecodeError> {
    let mut pos = 0;
    let ordinal = get_varint(data, &mut pos)?;
    Ok((ordinal, &data[pos..]))
}

#[inline]
fn utf8(bytes: &[u8], at: usize) -> Result<(&str, bool), DecodeError> {
    if bytes.is_ascii() {
        // SAFETY: every byte is ASCII, which is valid UTF-8.
        return Ok((unsafe { std::str::from_utf8_unchecked(bytes) }, true));
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok((s, false)),
        Err(e) => err(at, format!("record key is not valid UTF-8: {e}")),
    }
}

/// A varint of the record format (the blob format's, `codec::format::get_varint`).
fn get_varint(data: &[u8], pos: &mut usize) -> Result<u64, DecodeError> {
    let start = *pos;
    format::get_varint(data, pos)
        .ok_or_else(|| DecodeError::new(start, "record has a truncated or oversized varint"))
}

#[cold]
fn err<T>(offset: usize, reason: impl Into<String>) -> Result<T, DecodeError> {
    Err(DecodeError::new(offset, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_round_trips_and_rejects_garbage() {
        let meta = Meta {
            incarnation: 7,
            version: 42,
            count: 3,
            table: b"\0\0\0\0",
        };
        let mut bytes = Vec::new();
        meta.write_to(&mut bytes);
        let back = Meta::parse(&bytes).unwrap();
        assert_eq!((back.incarnation, back.version, back.count), (7, 42, 3));
        assert_eq!(back.table, b"\0\0\0\0");
        for (i, why) in [
            (0, "magic"),
            (8, "layout version"),
            (9, "format version"),
            (12, "reserved"),
        ] {
            let mut bad = bytes.clone();
            bad[i] ^= 0x55;
            let e = Meta::parse(&bad).unwrap_err();
            assert!(e.reason().contains(why), "{e}");
        }
        assert!(Meta::parse(&bytes[..20]).is_err());
    }

    #[test]
    fn records_round_trip() {
        let mut head = Vec::new();
        record_head(300, None, &mut head);
        head.extend_from_slice(b"\x03\x05");
        let r = parse_record(b"key_1", &head).unwrap();
        assert_eq!(
            (r.ordinal, r.key, r.ascii, r.value),
            (300, KeyRef::Str("key_1"), true, &b"\x03\x05"[..])
        );

        let long = "é".repeat(300);
        record_head(2, Some(&long), &mut head);
        head.push(0);
        let mut key = escaped_prefix(&long).to_vec();
        key.push(0);
        let r = parse_record(&key, &head).unwrap();
        assert_eq!(
            (r.ordinal, r.key, r.ascii, r.value),
            (2, KeyRef::Str(long.as_str()), false, &[0u8][..])
        );
        // The record key must belong to the key stored inside.
        let other = escaped_prefix("another key");
        let mut wrong = other.to_vec();
        wrong.push(0);
        assert!(parse_record(&wrong, &head).is_err());
    }

    #[test]
    fn int_record_keys_sort_as_ints_and_round_trip() {
        let ints = [i64::MIN, -300, -1, 0, 1, 255, 256, i64::MAX];
        let keys: Vec<_> = ints.iter().map(|&i| int_record_key(i)).collect();
        assert!(
            keys.windows(2).all(|w| w[0] < w[1]),
            "LMDB's byte order is the ints'"
        );
        for (&i, key) in ints.iter().zip(&keys) {
            assert_eq!(parse_int_record_key(key), Some(i));
            let r = parse_record(key, b"\x07\x00").unwrap();
            assert_eq!(
                (r.ordinal, r.key, r.value),
                (7, KeyRef::Int(i), &b"\x00"[..])
            );
        }
        // Not UTF-8, so never the record key of a str key.
        assert!(std::str::from_utf8(&keys[3]).is_err());
        assert!(
            parse_record(&keys[3][..5], b"\x00").is_err(),
            "a short int key"
        );
    }

    #[test]
    fn garbage_records_are_errors() {
        assert!(parse_record(b"k", b"").is_err());
        assert!(parse_record(b"k", &[0x80; 11]).is_err());
        assert!(parse_record(b"\xff\xfe", b"\x00").is_err());
        let mut key = escaped_prefix("").to_vec();
        key.push(0);
        assert!(
            parse_record(&key, b"\x00\x7f").is_err(),
            "key length past the end"
        );
    }
}
