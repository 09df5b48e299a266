//! Helpers the integration tests share (each test file is its own crate and includes
//! this module; not every one uses every helper).
#![allow(dead_code)]

use ipc_core::codec::Value;

/// A dict from literal pairs, in their order.
pub fn d(entries: &[(&str, Value)]) -> Value {
    Value::Dict(
        entries
            .iter()
            .map(|(k, v)| ((*k).into(), v.clone()))
            .collect(),
    )
}

pub fn s(x: &str) -> Value {
    Value::Str(x.into())
}
