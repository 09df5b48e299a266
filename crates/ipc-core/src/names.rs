//! Names of the operating-system objects this project creates.

/// Every shared-memory segment, LMDB temp dir and socket file this project creates starts
/// with this prefix, so `python -m ipc_benchmark clean` can remove leftovers and nothing else.
pub const PREFIX: &str = "ipcb_";
