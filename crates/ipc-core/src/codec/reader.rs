//! The cursor that walks encoded values and feeds them to a [`Sink`], checking the
//! nesting depth and each shared-string reference on the way.

use super::array::{array_nbytes, Dtype, KeyRef, MAX_NDIM};
use super::error::DecodeError;
use super::format::{self, tag};
use super::read::{byte, count, err, raw_str, shared_id, str_body, take, take_array, varint};
use super::sink::Sink;
use super::table::Table;

/// A cursor over encoded values that feeds a sink.
///
/// The position is a field, but the hot paths ([`Reader::value_at`], the loops over a
/// container's items) keep it in a local variable that they hand by reference to
/// inlined helpers, and write it back to `pos` only around the calls that are not
/// inlined (a nested container). The compiler keeps such a local in a register; the
/// field it stored and loaded again around every byte read, since a sink's writes
/// might alias it.
pub(super) struct Reader<'a, 's, S> {
    /// The bytes values may occupy: the buffer, cut where the values must end (the
    /// shared table). Offsets are still those of the whole buffer.
    buf: &'a [u8],
    table: Table<'a>,
    /// Shared strings validated so far, by id: each is checked once per decode, however
    /// often it is referenced. Allocated on the first reference.
    validated: Vec<Option<(&'a str, bool)>>,
    /// Where reading goes on (at most `buf.len()`), between calls.
    pub(super) pos: usize,
    pub(super) depth: usize,
    /// Whether `buf` starts where the blob does, so that array data must sit at a
    /// multiple of [`format::ALIGN`] in it; not so for a value stored apart from its
    /// blob ([`decode_value`](super::decode_value)).
    pub(super) blob_offsets: bool,
    sink: &'s mut S,
}

/// A root key as found in place: the bytes of a string (unvalidated) or an integer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum RawKey<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl RawKey<'_> {
    /// Whether this is `key`. A string's bytes are compared without validating them:
    /// only a match matters, and a match equals `key`, which is valid UTF-8.
    #[inline]
    pub(super) fn is(self, key: KeyRef<'_>) -> bool {
        match (self, key) {
            (RawKey::Str(a), KeyRef::Str(b)) => a == b.as_bytes(),
            (RawKey::Int(a), KeyRef::Int(b)) => a == b,
            _ => false,
        }
    }
}

/// An integer value whose tag `t` (one of I8..I64) was just read.
#[inline]
fn int_body(buf: &[u8], pos: &mut usize, t: u8) -> Result<Option<i64>, DecodeError> {
    Ok(Some(match t {
        tag::I8 => i64::from(take_array::<1>(buf, pos)?[0] as i8),
        tag::I16 => i64::from(i16::from_le_bytes(take_array(buf, pos)?)),
        tag::I32 => i64::from(i32::from_le_bytes(take_array(buf, pos)?)),
        tag::I64 => i64::from_le_bytes(take_array(buf, pos)?),
        _ => return Ok(None),
    }))
}

#[cold]
fn bad_key<T>(at: usize, t: u8) -> Result<T, DecodeError> {
    err(at, format!("expected a dict key, found tag {t:#04x}"))
}

impl<'a, 's, S: Sink<'a>> Reader<'a, 's, S> {
    /// A reader of `buf` up to its end, from `pos`.
    pub(super) fn new(buf: &'a [u8], table: Table<'a>, sink: &'s mut S, pos: usize) -> Self {
        Reader {
            buf,
            table,
            validated: Vec::new(),
            pos,
            depth: 0,
            blob_offsets: true,
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

    /// A root key, tag included, a string's bytes unvalidated.
    #[inline]
    pub(super) fn raw_key(&mut self) -> Result<RawKey<'a>, DecodeError> {
        let (buf, mut pos) = (self.buf, self.pos);
        let at = pos;
        let key = match byte(buf, &mut pos)? {
            tag::STR_ASCII | tag::STR_UTF8 => {
                let n = count(buf, &mut pos, 1)?;
                RawKey::Str(take(buf, &mut pos, n)?)
            }
            t => match int_body(buf, &mut pos, t)? {
                Some(i) => RawKey::Int(i),
                None => return bad_key(at, t),
            },
        };
        self.pos = pos;
        Ok(key)
    }

    /// A root key, tag included, from `self.pos`, validated: the key and whether it is
    /// ASCII text.
    pub(super) fn root_key(&mut self) -> Result<(KeyRef<'a>, bool), DecodeError> {
        let mut pos = self.pos;
        let at = pos;
        let found = match self.buf.get(pos) {
            Some(&(tag::STR_ASCII | tag::STR_UTF8)) | None => {
                raw_str(self.buf, &mut pos).map(|(s, ascii)| (KeyRef::Str(s), ascii))?
            }
            Some(&t) => {
                pos += 1;
                match int_body(self.buf, &mut pos, t)? {
                    Some(i) => (KeyRef::Int(i), false),
                    None => return bad_key(at, t),
                }
            }
        };
        self.pos = pos;
        Ok(found)
    }

    /// One value, from `self.pos`.
    #[inline]
    pub(super) fn value(&mut self) -> Result<S::Value, S::Error> {
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
            tag::ARRAY => self.array(&mut pos, at)?,
            tag::SCALAR => {
                let dtype = dtype(buf, &mut pos)?;
                let le = take(buf, &mut pos, dtype.itemsize())?;
                self.sink.scalar(dtype, le)?
            }
            tag::PICKLE => {
                let n = count(buf, &mut pos, 1)?;
                let b = take(buf, &mut pos, n)?;
                self.sink.pickle(b)?
            }
            _ => return Err(DecodeError::new(at, format!("unknown value tag {t:#04x}")).into()),
        };
        self.pos = pos;
        Ok(v)
    }

    /// An array, from `*pos` just after its tag (at `at`): dtype, ndim, shape, pad, data.
    /// Every field is checked before the data is handed over: the dtype code, ndim, the
    /// shape's byte size (overflow included), the pad (count, zeros, and the alignment it
    /// leads to) and that the data is all there.
    fn array(&mut self, pos: &mut usize, at: usize) -> Result<S::Value, S::Error> {
        let buf = self.buf;
        let dtype = dtype(buf, pos)?;
        let ndim_at = *pos;
        let ndim = usize::from(byte(buf, pos)?);
        if ndim > MAX_NDIM {
            return Err(DecodeError::new(
                ndim_at,
                format!("array of {ndim} dimensions (at most {MAX_NDIM})"),
            )
            .into());
        }
        let mut shape = [0usize; MAX_NDIM];
        for d in shape.iter_mut().take(ndim) {
            let d_at = *pos;
            *d = usize::try_from(varint(buf, pos)?)
                .map_err(|_| DecodeError::new(d_at, "array dimension does not fit in memory"))?;
        }
        let shape = &shape[..ndim];
        let nbytes = array_nbytes(dtype, shape).map_err(|why| DecodeError::new(at, why))?;
        let pad_at = *pos;
        let pad = usize::from(byte(buf, pos)?);
        if pad >= format::ALIGN {
            return Err(DecodeError::new(
                pad_at,
                format!("array pad of {pad} bytes (at most {})", format::ALIGN - 1),
            )
            .into());
        }
        if take(buf, pos, pad)?.iter().any(|&b| b != 0) {
            return Err(DecodeError::new(pad_at, "array pad bytes are not zero").into());
        }
        if self.blob_offsets && *pos % format::ALIGN != 0 {
            return Err(DecodeError::new(
                pad_at,
                format!(
                    "array data at offset {} is not a multiple of {}",
                    *pos,
                    format::ALIGN
                ),
            )
            .into());
        }
        let data = take(buf, pos, nbytes)?;
        self.sink.array(dtype, shape, data)
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

    /// An int dict key, from `pos` just after its tag `t` (at `at`), and where it ends; or
    /// the error for a tag that starts no key. Apart from the string keys, which are most
    /// keys.
    #[inline(never)]
    fn int_key<const ROOT: bool>(
        &mut self,
        mut pos: usize,
        t: u8,
        at: usize,
        index: usize,
    ) -> Result<(S::Key, usize), S::Error> {
        let key = match int_body(self.buf, &mut pos, t)? {
            Some(v) if ROOT => self.sink.root_int_key(index, v)?,
            Some(v) => self.sink.int_key(v)?,
            None => return Ok(bad_key(at, t)?),
        };
        Ok((key, pos))
    }

    /// The root dict's `n` entries, from `self.pos`: inline keys only.
    pub(super) fn entries(&mut self, n: usize) -> Result<S::Value, S::Error> {
        self.depth = 1;
        let mut pos = self.pos;
        let v = self.entries_at::<true>(&mut pos, n)?;
        self.pos = pos;
        Ok(v)
    }

    /// `n` dict entries from `*pos`; those of the root dict (`ROOT`) have no shared
    /// keys, and go through [`Sink::root_key`] / [`Sink::root_int_key`].
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
                    // By value: a `pos` whose address escaped into a call that is not
                    // inlined would no longer stay in a register.
                    let (k, end) = self.int_key::<ROOT>(*pos, t, at, i)?;
                    *pos = end;
                    k
                }
            };
            let v = self.value_at::<ROOT>(pos)?;
            self.sink.map_insert(&mut map, k, v)?;
        }
        self.sink.map_end(map)
    }
}

/// A dtype code, checked.
fn dtype(buf: &[u8], pos: &mut usize) -> Result<Dtype, DecodeError> {
    let at = *pos;
    let code = byte(buf, pos)?;
    match Dtype::from_code(code) {
        Some(d) => Ok(d),
        None => err(at, format!("unknown dtype code {code}")),
    }
}
