//! The shared-string table of a blob: parsed with its count checked, each string
//! checked when it is looked up.

use super::error::DecodeError;
use super::read::{err, raw_str};

/// The shared-string table of a blob, or one stored apart from its values (the LMDB
/// store keeps it in its meta record). Parsing checks the count; each string is checked
/// when used.
#[derive(Clone, Copy)]
pub struct Table<'a> {
    bytes: &'a [u8],
    pub(super) count: usize,
    /// Offset of `bytes` in the buffer it came from, for error messages.
    base: usize,
}

impl<'a> Table<'a> {
    /// Parses a table section: a u32 count, that many u32 offsets, then the strings.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        Self::parse_at(bytes, 0)
    }

    pub(super) fn parse_at(bytes: &'a [u8], base: usize) -> Result<Self, DecodeError> {
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
    pub(super) fn get(&self, id: u32) -> Result<(&'a str, bool), DecodeError> {
        let o = 4 + id as usize * 4;
        let rel = u32::from_le_bytes(self.bytes[o..o + 4].try_into().unwrap()) as usize;
        let data = 4 + self.count * 4;
        if rel >= self.bytes.len() - data {
            return err(self.base + o, "shared string offset out of range");
        }
        let mut pos = data + rel;
        raw_str(self.bytes, &mut pos).map_err(|e| e.shifted(self.base))
    }
}
