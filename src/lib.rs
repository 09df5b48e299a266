//! `ipc_benchmark._core`: the Python face of ipc-core. One file per exposed area; no
//! transport logic lives here, only conversion between Python objects and ipc-core.

use pyo3::prelude::*;

mod codec;
mod errors;
mod held;
mod key;
mod lmdb;
mod name;
mod opened;
mod shm;
mod snapshot;
mod store;
mod wait;
mod zmq;

/// `gil_used`: the encoder walks dicts and lists through borrowed references and the
/// stores' lock order assumes a GIL; on a free-threaded build, importing this module
/// turns the GIL back on rather than letting another thread mutate what is being walked.
#[pymodule(gil_used = true)]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("FORMAT_VERSION", ipc_core::codec::FORMAT_VERSION)?;
    m.add("MAX_DEPTH", ipc_core::codec::MAX_DEPTH)?;
    m.add("PREFIX", ipc_core::names::PREFIX)?;
    errors::register(m)?;
    codec::register(m)?;
    m.add_class::<shm::PyShmStore>()?;
    m.add_class::<lmdb::PyLmdbStore>()?;
    m.add_class::<zmq::PyZmqStore>()?;
    m.add_class::<held::SnapshotOwner>()?;
    m.add_class::<held::PyHeldSnapshot>()?;
    Ok(())
}
