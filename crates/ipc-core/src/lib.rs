//! ipc-core: shared dictionaries for one writer and many readers, in pure Rust.
//!
//! The Python bindings and the native MPI harness both sit on this crate; nothing here
//! knows about Python.

pub mod codec;
pub mod deadline;
pub mod error;
pub mod futex;
mod kept;
pub mod lmdb;
pub mod names;
pub mod payload;
pub mod process;
pub mod radix;
pub mod shm;
pub mod store;
pub mod trust;
pub mod zmq;

pub use codec::{DecodeError, Doc, EncodeError, Value};
pub use error::{Error, Result};
