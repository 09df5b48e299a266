//! The primitive reads, on a buffer and a position the caller holds in a local. The
//! bytes are untrusted (shared memory, a database, a socket): every length, count and
//! offset is checked before it is used, so garbage yields a [`DecodeError`], never a
//! panic or an allocation the input does not justify.

use super::error::DecodeError;
use super::format::{self, tag};

#[cold]
pub(super) fn err<T>(offset: usize, reason: impl Into<String>) -> Result<T, DecodeError> {
    Err(DecodeError::new(offset, reason))
}

#[inline(always)]
pub(super) fn byte(buf: &[u8], pos: &mut usize) -> Result<u8, DecodeError> {
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
pub(super) fn take<'a>(buf: &'a [u8], pos: &mut usize, n: usize) -> Result<&'a [u8], DecodeError> {
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
pub(super) fn take_array<const N: usize>(
    buf: &[u8],
    pos: &mut usize,
) -> Result<[u8; N], DecodeError> {
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
pub(super) fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, DecodeError> {
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
pub(super) fn count(buf: &[u8], pos: &mut usize, min_size: usize) -> Result<usize, DecodeError> {
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
pub(super) fn shared_id(buf: &[u8], pos: &mut usize, count: usize) -> Result<u32, DecodeError> {
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
pub(super) fn str_body<'a>(
    buf: &'a [u8],
    pos: &mut usize,
    t: u8,
) -> Result<(&'a str, bool), DecodeError> {
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

/// An inline string, tag included: root keys and shared-table entries.
#[inline(always)]
pub(super) fn raw_str<'a>(buf: &'a [u8], pos: &mut usize) -> Result<(&'a str, bool), DecodeError> {
    let at = *pos;
    match byte(buf, pos)? {
        t @ (tag::STR_ASCII | tag::STR_UTF8) => str_body(buf, pos, t),
        t => err(at, format!("expected a string, found tag {t:#04x}")),
    }
}
