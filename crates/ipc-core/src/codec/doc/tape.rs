//! The tape of a [`Doc`](super::Doc): 16-byte nodes, and the spans they hold into the
//! tape and the arenas (see the [module documentation](super)).

use crate::codec::Dtype;

/// A run of `len` items from `start`, in the tape or one of the arenas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Span {
    pub(super) start: u32,
    pub(super) len: u32,
}

impl Span {
    #[inline]
    pub(super) fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.start as usize + self.len as usize
    }
}

/// One decoded value on a [`Doc`](super::Doc)'s tape, as the [`DocSink`](super::DocSink)
/// hands it to the decoder.
///
/// Opaque: what it refers to lives in the `Doc` that made it, and it means something
/// only there and only until that `Doc` decodes again (elsewhere it reads as other
/// content or as None, never out of bounds).
///
/// A [`Kind`] packed into three plain fields, every byte of them written. Held as the
/// enum itself, a node was copied field by field through the stack (the variants place
/// their payloads at different offsets, with padding between), and the mismatched
/// stores and loads stalled store forwarding: decoding into a `Doc` took a quarter
/// longer.
#[derive(Clone, Copy, Debug)]
pub struct Node {
    tag: u32,
    /// A Bool's value, or a span's start.
    a: u32,
    /// An Int's or a Float's bits, or a span's length.
    b: u64,
}

const NONE: u32 = 0;
const BOOL: u32 = 1;
const INT: u32 = 2;
const FLOAT: u32 = 3;
const BIG_INT: u32 = 4;
const STR: u32 = 5;
const BYTES: u32 = 6;
const LIST: u32 = 7;
const TUPLE: u32 = 8;
const DICT: u32 = 9;
const ARRAY: u32 = 10;
const SCALAR: u32 = 11;
const PICKLE: u32 = 12;

/// Where a node's `b` keeps a dtype code and a dimension count, above a span's `u32`
/// length.
const DTYPE_SHIFT: u32 = 32;
const NDIM_SHIFT: u32 = 40;

impl Node {
    #[inline(always)]
    pub(super) const fn new(kind: Kind) -> Node {
        let (tag, a, b) = match kind {
            Kind::None => (NONE, 0, 0),
            Kind::Bool(v) => (BOOL, v as u32, 0),
            Kind::Int(v) => (INT, 0, v as u64),
            Kind::Float(v) => (FLOAT, 0, v.to_bits()),
            Kind::BigInt(s) => (BIG_INT, s.start, s.len as u64),
            Kind::Str(s) => (STR, s.start, s.len as u64),
            Kind::Bytes(s) => (BYTES, s.start, s.len as u64),
            Kind::List(s) => (LIST, s.start, s.len as u64),
            Kind::Tuple(s) => (TUPLE, s.start, s.len as u64),
            Kind::Dict(s) => (DICT, s.start, s.len as u64),
            Kind::Array { span, dtype, ndim } => (
                ARRAY,
                span.start,
                span.len as u64 | (dtype as u64) << DTYPE_SHIFT | (ndim as u64) << NDIM_SHIFT,
            ),
            Kind::Scalar { span, dtype } => (
                SCALAR,
                span.start,
                span.len as u64 | (dtype as u64) << DTYPE_SHIFT,
            ),
            Kind::Pickle(s) => (PICKLE, s.start, s.len as u64),
        };
        Node { tag, a, b }
    }

    #[inline(always)]
    pub(super) fn kind(self) -> Kind {
        let span = Span {
            start: self.a,
            len: self.b as u32,
        };
        match self.tag {
            BOOL => Kind::Bool(self.a != 0),
            INT => Kind::Int(self.b as i64),
            FLOAT => Kind::Float(f64::from_bits(self.b)),
            BIG_INT => Kind::BigInt(span),
            STR => Kind::Str(span),
            BYTES => Kind::Bytes(span),
            LIST => Kind::List(span),
            TUPLE => Kind::Tuple(span),
            DICT => Kind::Dict(span),
            ARRAY | SCALAR => {
                // Only Node::new makes nodes, from a valid code; a None otherwise.
                let Some(dtype) = Dtype::from_code((self.b >> DTYPE_SHIFT) as u8) else {
                    return Kind::None;
                };
                if self.tag == SCALAR {
                    Kind::Scalar { span, dtype }
                } else {
                    let ndim = (self.b >> NDIM_SHIFT) as u8;
                    Kind::Array { span, dtype, ndim }
                }
            }
            PICKLE => Kind::Pickle(span),
            // NONE; only Node::new makes nodes.
            _ => Kind::None,
        }
    }
}

/// What a [`Node`] holds.
#[derive(Clone, Copy, Debug)]
pub(super) enum Kind {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// In the bytes arena.
    BigInt(Span),
    /// In the text arena.
    Str(Span),
    /// In the bytes arena.
    Bytes(Span),
    /// `len` nodes on the tape.
    List(Span),
    Tuple(Span),
    /// `len` entries: 2 * `len` nodes on the tape, each key (a `Str` or an `Int`)
    /// before its value.
    Dict(Span),
    /// In the bytes arena: the shape, `ndim` little-endian u64s, then the data.
    Array {
        span: Span,
        dtype: Dtype,
        ndim: u8,
    },
    /// In the bytes arena: the scalar's little-endian bytes.
    Scalar {
        span: Span,
        dtype: Dtype,
    },
    /// In the bytes arena.
    Pickle(Span),
}

// Four to a cache line: the layout is the point of the design.
const _: () = assert!(std::mem::size_of::<Node>() == 16);

/// What reserved slots hold until they are filled: a None, with a payload that is not
/// zero so that filling the slots of a small container is a few stores, not a call to
/// memset.
pub(super) const FILLER: Node = Node {
    tag: NONE,
    a: u32::MAX,
    b: 0,
};

/// The largest tape or arena a document may hold: spans are `u32`.
pub(super) const LIMIT: usize = u32::MAX as usize;
