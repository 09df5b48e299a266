//! Errors of the stores. Like the codec's, they know nothing about Python: the bindings
//! map each variant to one exception class.

use std::fmt;
use std::io;
use std::time::Duration;

use crate::codec::{DecodeError, EncodeError};
use crate::trust::Untrusted;

#[derive(Debug)]
pub enum Error {
    /// A store name that cannot be used (the name and why).
    InvalidName { name: String, reason: String },
    /// Another live process already writes to this store.
    WriterExists { store: String, pid: Option<u32> },
    /// The writer closed the store (its cleanup ran); nothing more will be published.
    Closed { store: String },
    /// A wait ran past its timeout.
    Timeout { what: String, after: Duration },
    /// The store holds bytes that are not a valid snapshot.
    Corrupt { store: String, source: DecodeError },
    /// The value to publish cannot be encoded.
    Encode(EncodeError),
    /// An operating-system call failed (`what` says which, naming the object).
    Io { what: String, source: io::Error },
    /// Misuse of the API (writing from a reader, reading after cleanup...).
    Usage(String),
    /// A file, segment, directory or socket refused by the ownership check (see
    /// [`crate::trust`]): another user's, writable by others, or a link.
    Untrusted(Untrusted),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    #[cold]
    pub fn io(what: impl Into<String>, source: impl Into<io::Error>) -> Self {
        Error::Io {
            what: what.into(),
            source: source.into(),
        }
    }

    #[cold]
    pub fn corrupt(store: &str, source: DecodeError) -> Self {
        Error::Corrupt {
            store: store.to_owned(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidName { name, reason } => {
                write!(f, "invalid store name {name:?}: {reason}")
            }
            Error::WriterExists {
                store,
                pid: Some(pid),
            } => {
                write!(
                    f,
                    "{store}: another writer (pid {pid}) is already publishing to this store"
                )
            }
            Error::WriterExists { store, pid: None } => {
                write!(
                    f,
                    "{store}: another writer is already publishing to this store"
                )
            }
            Error::Closed { store } => write!(f, "{store}: the writer closed this store"),
            Error::Timeout { what, after } => {
                write!(f, "{what}: timed out after {:.3} s", after.as_secs_f64())
            }
            Error::Corrupt { store, source } => write!(f, "{store}: {source}"),
            Error::Encode(e) => e.fmt(f),
            Error::Io { what, source } => write!(f, "{what}: {source}"),
            Error::Usage(msg) => f.write_str(msg),
            Error::Untrusted(u) => u.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Corrupt { source, .. } => Some(source),
            Error::Encode(e) => Some(e),
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<EncodeError> for Error {
    fn from(e: EncodeError) -> Self {
        Error::Encode(e)
    }
}
