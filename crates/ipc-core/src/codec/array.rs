//! The NumPy side of the data model: element types, arrays, scalars, and dict keys that
//! may be integers as well as strings. docs/format.md gives their bytes.

use std::fmt;

use super::error::{write_py_str, EncodeError, EncodeErrorKind};
use super::value::Text;

/// Most dimensions an array may have: NumPy's own limit (`NPY_MAXDIMS`).
pub const MAX_NDIM: usize = 64;

/// An element type. The discriminant is the code the format stores; the bytes are
/// always little-endian.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dtype {
    Bool = 1,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    F16,
    F32,
    F64,
    C64,
    C128,
}

/// Every dtype, in code order.
const ALL: [Dtype; 14] = [
    Dtype::Bool,
    Dtype::I8,
    Dtype::I16,
    Dtype::I32,
    Dtype::I64,
    Dtype::U8,
    Dtype::U16,
    Dtype::U32,
    Dtype::U64,
    Dtype::F16,
    Dtype::F32,
    Dtype::F64,
    Dtype::C64,
    Dtype::C128,
];

impl Dtype {
    /// Every dtype, in code order.
    pub const ALL: [Dtype; 14] = ALL;

    /// The dtype stored as `code`; None for a code this build does not know.
    #[inline]
    pub fn from_code(code: u8) -> Option<Dtype> {
        ALL.get(usize::from(code).checked_sub(1)?).copied()
    }

    /// The code the format stores.
    #[inline]
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Bytes per element.
    #[inline]
    pub fn itemsize(self) -> usize {
        match self {
            Dtype::Bool | Dtype::I8 | Dtype::U8 => 1,
            Dtype::I16 | Dtype::U16 | Dtype::F16 => 2,
            Dtype::I32 | Dtype::U32 | Dtype::F32 => 4,
            Dtype::I64 | Dtype::U64 | Dtype::F64 | Dtype::C64 => 8,
            Dtype::C128 => 16,
        }
    }

    /// NumPy's name for it (`numpy.dtype(name)` gives it back).
    pub fn name(self) -> &'static str {
        match self {
            Dtype::Bool => "bool",
            Dtype::I8 => "int8",
            Dtype::I16 => "int16",
            Dtype::I32 => "int32",
            Dtype::I64 => "int64",
            Dtype::U8 => "uint8",
            Dtype::U16 => "uint16",
            Dtype::U32 => "uint32",
            Dtype::U64 => "uint64",
            Dtype::F16 => "float16",
            Dtype::F32 => "float32",
            Dtype::F64 => "float64",
            Dtype::C64 => "complex64",
            Dtype::C128 => "complex128",
        }
    }

    /// The dtype NumPy calls `name` (as [`Dtype::name`] writes it); None otherwise.
    pub fn from_name(name: &str) -> Option<Dtype> {
        ALL.into_iter().find(|d| d.name() == name)
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The byte size of an array of `shape` and `dtype`, if it is one the format carries:
/// at most [`MAX_NDIM`] dimensions and at most `isize::MAX` bytes (what NumPy can
/// allocate), counting a zero-length dimension's siblings as if it were 1, as NumPy
/// does. `Err` says what is wrong.
pub fn array_nbytes(dtype: Dtype, shape: &[usize]) -> Result<usize, String> {
    if shape.len() > MAX_NDIM {
        return Err(format!(
            "{} dimensions, more than the {MAX_NDIM} NumPy allows",
            shape.len()
        ));
    }
    let mut bound = dtype.itemsize();
    let mut empty = false;
    for &d in shape {
        if d == 0 {
            empty = true;
            continue;
        }
        bound = bound
            .checked_mul(d)
            .filter(|&b| b <= isize::MAX as usize)
            .ok_or_else(|| format!("shape {shape:?} of {dtype} is too large"))?;
    }
    Ok(if empty { 0 } else { bound })
}

/// An n-dimensional array: C-ordered, little-endian;
/// `data.len() == shape.iter().product() * dtype.itemsize()`.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

impl Array {
    /// Checks that `data` is exactly the size `shape` and `dtype` call for, and that the
    /// shape is one NumPy can hold.
    pub fn new(dtype: Dtype, shape: Vec<usize>, data: Vec<u8>) -> Result<Array, EncodeError> {
        let nbytes = array_nbytes(dtype, &shape).map_err(invalid)?;
        if data.len() != nbytes {
            return Err(invalid(format!(
                "shape {shape:?} of {dtype} needs {nbytes} bytes, {} given",
                data.len()
            )));
        }
        Ok(Array { dtype, shape, data })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cold]
fn invalid(why: String) -> EncodeError {
    EncodeError::new(EncodeErrorKind::InvalidArray(why))
}

/// A NumPy scalar (`numpy.float32(1.5)`, say): its dtype and its little-endian bytes,
/// `itemsize` of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    pub dtype: Dtype,
    pub le: Vec<u8>,
}

impl Scalar {
    /// Checks that `le` holds exactly one element of `dtype`.
    pub fn new(dtype: Dtype, le: Vec<u8>) -> Result<Scalar, EncodeError> {
        if le.len() != dtype.itemsize() {
            return Err(invalid(format!(
                "a {dtype} scalar takes {} bytes, {} given",
                dtype.itemsize(),
                le.len()
            )));
        }
        Ok(Scalar { dtype, le })
    }

    pub fn i64(v: i64) -> Scalar {
        Scalar {
            dtype: Dtype::I64,
            le: v.to_le_bytes().to_vec(),
        }
    }

    pub fn f32(v: f32) -> Scalar {
        Scalar {
            dtype: Dtype::F32,
            le: v.to_le_bytes().to_vec(),
        }
    }

    pub fn f64(v: f64) -> Scalar {
        Scalar {
            dtype: Dtype::F64,
            le: v.to_le_bytes().to_vec(),
        }
    }

    pub fn bool(v: bool) -> Scalar {
        Scalar {
            dtype: Dtype::Bool,
            le: vec![u8::from(v)],
        }
    }
}

/// A dict key: a string or an integer (Python's `1` and `"1"` are different keys).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    Str(Text),
    Int(i64),
}

impl Key {
    /// The key borrowed, for lookups.
    #[inline]
    pub fn as_ref(&self) -> KeyRef<'_> {
        match self {
            Key::Str(s) => KeyRef::Str(s),
            Key::Int(i) => KeyRef::Int(*i),
        }
    }

    /// The text of a string key; None for an int key.
    #[inline]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Key::Str(s) => Some(s),
            Key::Int(_) => None,
        }
    }
}

impl From<&str> for Key {
    fn from(s: &str) -> Self {
        Key::Str(Text::new(s))
    }
}

impl From<String> for Key {
    fn from(s: String) -> Self {
        Key::Str(Text::from(s))
    }
}

impl From<Text> for Key {
    fn from(s: Text) -> Self {
        Key::Str(s)
    }
}

impl From<i64> for Key {
    fn from(i: i64) -> Self {
        Key::Int(i)
    }
}

impl From<KeyRef<'_>> for Key {
    fn from(k: KeyRef<'_>) -> Self {
        match k {
            KeyRef::Str(s) => s.into(),
            KeyRef::Int(i) => Key::Int(i),
        }
    }
}

impl PartialEq<str> for Key {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}

impl PartialEq<&str> for Key {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

/// Python's repr: `'a'` or `3`.
impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_ref().fmt(f)
    }
}

/// A dict key borrowed: what lookups take. `&str`, `&String`, `i64` and `&Key` convert
/// into it, so `blob.get("a", ..)` and `blob.get(3, ..)` both read naturally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyRef<'a> {
    Str(&'a str),
    Int(i64),
}

impl<'a> KeyRef<'a> {
    /// The text of a string key; None for an int key.
    #[inline]
    pub fn as_str(self) -> Option<&'a str> {
        match self {
            KeyRef::Str(s) => Some(s),
            KeyRef::Int(_) => None,
        }
    }

    /// The key owned.
    pub fn to_key(self) -> Key {
        self.into()
    }
}

impl<'a> From<&'a str> for KeyRef<'a> {
    #[inline]
    fn from(s: &'a str) -> Self {
        KeyRef::Str(s)
    }
}

impl<'a> From<&'a String> for KeyRef<'a> {
    #[inline]
    fn from(s: &'a String) -> Self {
        KeyRef::Str(s)
    }
}

impl<'a> From<&'a Text> for KeyRef<'a> {
    #[inline]
    fn from(s: &'a Text) -> Self {
        KeyRef::Str(s)
    }
}

impl From<i64> for KeyRef<'_> {
    #[inline]
    fn from(i: i64) -> Self {
        KeyRef::Int(i)
    }
}

impl<'a> From<&'a Key> for KeyRef<'a> {
    #[inline]
    fn from(k: &'a Key) -> Self {
        k.as_ref()
    }
}

impl PartialEq<str> for KeyRef<'_> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}

impl PartialEq<&str> for KeyRef<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

impl PartialEq<Key> for KeyRef<'_> {
    fn eq(&self, other: &Key) -> bool {
        *self == other.as_ref()
    }
}

/// Python's repr: `'a'` or `3`.
impl fmt::Display for KeyRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyRef::Str(s) => {
                let mut out = String::with_capacity(s.len() + 2);
                write_py_str(&mut out, s);
                f.write_str(&out)
            }
            KeyRef::Int(i) => write!(f, "{i}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_names_and_sizes_agree() {
        for (i, d) in Dtype::ALL.into_iter().enumerate() {
            assert_eq!(usize::from(d.code()), i + 1);
            assert_eq!(Dtype::from_code(d.code()), Some(d));
            assert_eq!(Dtype::from_name(d.name()), Some(d));
            let bits: usize = d
                .name()
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .parse()
                .unwrap_or(8);
            assert_eq!(d.itemsize() * 8, bits, "{d}");
        }
        assert_eq!(Dtype::from_code(0), None);
        assert_eq!(Dtype::from_code(15), None);
        assert_eq!(Dtype::from_name("float128"), None);
    }

    #[test]
    fn array_sizes_are_checked() {
        assert!(Array::new(Dtype::F32, vec![2, 3], vec![0; 24]).is_ok());
        assert!(Array::new(Dtype::F32, vec![], vec![0; 4]).is_ok());
        // As NumPy: a zero-length dimension empties the array, but the others must still
        // fit together.
        assert!(Array::new(Dtype::F32, vec![0, 1 << 40], vec![]).is_ok());
        assert!(Array::new(Dtype::F32, vec![0, usize::MAX], vec![]).is_err());
        let e = Array::new(Dtype::F32, vec![2, 3], vec![0; 23]).unwrap_err();
        assert!(e.to_string().contains("needs 24 bytes, 23 given"), "{e}");
        let e = Array::new(Dtype::I16, vec![1 << 62, 2], vec![]).unwrap_err();
        assert!(e.to_string().contains("too large"), "{e}");
        let e = Array::new(Dtype::U8, vec![1; 65], vec![0]).unwrap_err();
        assert!(e.to_string().contains("65 dimensions"), "{e}");
        assert!(Scalar::new(Dtype::C64, vec![0; 7]).is_err());
    }

    #[test]
    fn keys_print_as_python_would() {
        assert_eq!(Key::from("it's").to_string(), r"'it\'s'");
        assert_eq!(Key::from(-3).to_string(), "-3");
        assert_ne!(Key::from(1), Key::from("1"));
        assert_eq!(KeyRef::from("a"), Key::from("a"));
        let key = Key::from("a");
        assert!(key == "a" && key != "b");
    }
}
