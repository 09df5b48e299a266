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

/// Every kind of value, nested, with shared keys and a few edge cases.
/// codec.rs pins its bytes.
pub fn sample() -> Value {
    d(&[
        ("none", Value::None),
        (
            "flags",
            Value::List(vec![Value::Bool(true), Value::Bool(false)]),
        ),
        (
            "ints",
            Value::List(vec![
                Value::Int(0),
                Value::Int(-128),
                Value::Int(300),
                Value::Int(-70000),
                Value::Int(1 << 40),
                Value::Int(i64::MIN),
            ]),
        ),
        // 2**70, as CPython's int.to_bytes(9, "little", signed=True) writes it.
        ("big", Value::BigInt(vec![0, 0, 0, 0, 0, 0, 0, 0, 0x40])),
        (
            "floats",
            Value::List(vec![
                Value::Float(1.5),
                Value::Float(-0.0),
                Value::Float(f64::INFINITY),
                Value::Float(f64::NEG_INFINITY),
            ]),
        ),
        (
            "text",
            Value::List(vec![s(""), s("ascii"), s("é"), s("日本")]),
        ),
        ("bytes", Value::Bytes(vec![0, 255, 10])),
        ("tuple", Value::Tuple(vec![s("t"), Value::Tuple(vec![])])),
        (
            "nested",
            d(&[
                ("x", d(&[("x", Value::Int(2)), ("é", s("y"))])),
                ("empty", d(&[])),
            ]),
        ),
    ])
}
