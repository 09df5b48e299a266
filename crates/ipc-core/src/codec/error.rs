//! Codec errors. They know nothing about Python; the bindings map them to exceptions.

use std::fmt;

/// Bytes that are not a valid blob: truncated, corrupted, or written by something else.
///
/// Boxed, so that the decoder's many `Result<_, DecodeError>` stay two words wide and
/// come back in registers: the error path is rare, the success path is every byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(Box<Detail>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Detail {
    offset: usize,
    reason: String,
}

impl DecodeError {
    #[cold]
    pub fn new(offset: usize, reason: impl Into<String>) -> Self {
        DecodeError(Box::new(Detail {
            offset,
            reason: reason.into(),
        }))
    }

    /// Byte offset in the blob where the problem was found.
    pub fn offset(&self) -> usize {
        self.0.offset
    }

    /// What was wrong there.
    pub fn reason(&self) -> &str {
        &self.0.reason
    }

    /// The same error, `by` bytes further on: for a section decoded apart from the
    /// buffer that holds it.
    #[cold]
    pub fn shifted(mut self, by: usize) -> Self {
        self.0.offset += by;
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "corrupt data at byte {}: {}",
            self.0.offset, self.0.reason
        )
    }
}

impl std::error::Error for DecodeError {}

/// One step from the root of a value to the place an error was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    Key(String),
    /// An int dict key.
    IntKey(i64),
    Index(usize),
}

/// What made a value impossible to encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeErrorKind {
    /// The value has a type the format does not carry (the type's name).
    UnsupportedType(String),
    /// A dict key that is not a str (the key's type name).
    NonStrKey(String),
    /// A str that has no UTF-8 form, such as one holding a lone surrogate.
    InvalidStr(String),
    /// Nesting deeper than [`crate::codec::MAX_DEPTH`].
    TooDeep,
    /// A container that contains itself; `first` is how many path segments lead to its
    /// first occurrence.
    Cycle { first: usize },
    /// The same key twice in one dict (possible from Rust, not from a Python dict); the
    /// key as Python's repr writes it.
    DuplicateKey(String),
    /// An array or scalar whose bytes do not match its shape and dtype, or whose shape
    /// NumPy could not hold (what is wrong).
    InvalidArray(String),
}

/// An encoding failure and the path from the root to the value that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError {
    pub kind: EncodeErrorKind,
    /// Innermost segment first while the error unwinds; see [`EncodeError::path`].
    reversed_path: Vec<PathSegment>,
}

impl EncodeError {
    #[cold]
    pub fn new(kind: EncodeErrorKind) -> Self {
        EncodeError {
            kind,
            reversed_path: Vec::new(),
        }
    }

    /// Called by each container on the way out, so that the path costs nothing unless
    /// an error happens.
    #[cold]
    pub fn within(mut self, segment: PathSegment) -> Self {
        self.reversed_path.push(segment);
        self
    }

    /// Path from the root to the offending value, outermost first.
    pub fn path(&self) -> Vec<PathSegment> {
        self.reversed_path.iter().rev().cloned().collect()
    }

    /// The path written the way Python would index it, starting from `data`.
    pub fn path_string(&self) -> String {
        format_path(&self.path())
    }
}

/// `data['a'][3]`, with keys quoted as Python's repr would.
pub fn format_path(path: &[PathSegment]) -> String {
    let mut out = String::from("data");
    for seg in path {
        match seg {
            PathSegment::Key(k) => {
                out.push('[');
                write_py_str(&mut out, k);
                out.push(']');
            }
            PathSegment::IntKey(i) => out.push_str(&format!("[{i}]")),
            PathSegment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// `s` quoted as Python's repr would quote it, in single quotes.
pub(super) fn write_py_str(out: &mut String, s: &str) {
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    out.push('\'');
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path();
        write!(f, "{}: ", format_path(&path))?;
        match &self.kind {
            EncodeErrorKind::UnsupportedType(t) => write!(f, "unsupported type {t}"),
            EncodeErrorKind::NonStrKey(t) => {
                write!(
                    f,
                    "dict key of type {t} is not supported (keys are str, or int within \
                     64 bits; bool keys are refused because Python merges True with 1)"
                )
            }
            EncodeErrorKind::InvalidStr(why) => write!(f, "str cannot be encoded as UTF-8: {why}"),
            EncodeErrorKind::TooDeep => write!(
                f,
                "nesting deeper than {} levels is not supported",
                super::MAX_DEPTH
            ),
            EncodeErrorKind::Cycle { first } => write!(
                f,
                "cycle: this container is {} itself",
                format_path(&path[..(*first).min(path.len())])
            ),
            EncodeErrorKind::DuplicateKey(k) => write!(f, "duplicate dict key {k}"),
            EncodeErrorKind::InvalidArray(why) => write!(f, "invalid array: {why}"),
        }
    }
}

impl std::error::Error for EncodeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_reads_like_python() {
        let e = EncodeError::new(EncodeErrorKind::UnsupportedType("set".into()))
            .within(PathSegment::Index(2))
            .within(PathSegment::Key("tags".into()))
            .within(PathSegment::Key("key_7".into()));
        assert_eq!(
            e.to_string(),
            "data['key_7']['tags'][2]: unsupported type set"
        );
    }

    #[test]
    fn keys_are_escaped() {
        assert_eq!(
            format_path(&[PathSegment::Key("it's\\".into())]),
            r"data['it\'s\\']"
        );
    }

    #[test]
    fn cycle_names_first_occurrence() {
        let e = EncodeError::new(EncodeErrorKind::Cycle { first: 1 })
            .within(PathSegment::Key("b".into()))
            .within(PathSegment::Key("a".into()));
        assert_eq!(
            e.to_string(),
            "data['a']['b']: cycle: this container is data['a'] itself"
        );
    }
}
