//! The binary format every backend and both harnesses share.
//!
//! A blob is a header, then either one root value or, when the root is a dict, a hash
//! index of its keys followed by the entries, and last a table of shared strings. The
//! index lets a reader decode one key's value without touching the others.
//! docs/format.md is the byte-level description.

mod array;
mod blob;
mod doc;
mod encoder;
mod error;
pub mod format;
mod read;
mod reader;
mod sink;
mod skip;
mod table;
mod value;

pub use array::{array_nbytes, Array, Dtype, Key, KeyRef, Scalar, MAX_NDIM};
pub use blob::{decode_value, Blob, Entry};
pub use doc::{ArrayItem, Doc, DocSink, Item, Map, Node, OpenContainer, Seq};
pub use encoder::Encoder;
pub use error::{format_path, DecodeError, EncodeError, EncodeErrorKind, PathSegment};
pub use format::{ALIGN, FORMAT_VERSION, MAX_DEPTH};
pub use sink::Sink;
pub use skip::Skip;
pub use table::Table;
pub use value::{Text, Value, ValueSink};
