//! Helpers the integration tests share (each test file is its own crate and includes
//! this module; not every one uses every helper).
#![allow(dead_code)]

use ipc_core::codec::{Array, Dtype, Key, Scalar, Value};

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
    let v1 = d(&[
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
    ]);
    // Format 2's additions: arrays, NumPy scalars, a pickle, int keys (1 and "1" differ).
    let Value::Dict(mut entries) = v1 else {
        unreachable!()
    };
    let f32s: Vec<u8> = [1.5f32, -2.0, 0.25, 3.0, -0.0, 8.0]
        .iter()
        .flat_map(|f| f.to_le_bytes())
        .collect();
    let array = |dtype, shape: &[usize], data: Vec<u8>| {
        Value::Array(Array::new(dtype, shape.to_vec(), data).unwrap())
    };
    entries.extend([
        (
            Key::from("arrays"),
            Value::List(vec![
                array(Dtype::F32, &[2, 3], f32s),
                array(Dtype::I16, &[], vec![0x34, 0x12]),
                array(Dtype::U8, &[0, 4], vec![]),
            ]),
        ),
        (
            Key::from("scalars"),
            Value::List(vec![
                Value::Scalar(Scalar::f32(0.5)),
                Value::Scalar(Scalar::i64(-3)),
                Value::Scalar(Scalar::bool(true)),
            ]),
        ),
        // Opaque to the codec: pickle.dumps(set(), protocol=5), what Python writes for a
        // set with pickle_fallback=True.
        (
            Key::from("pickle"),
            Value::Pickle(b"\x80\x05\x8f\x94.".to_vec()),
        ),
        (Key::Int(7), s("int root key")),
        (Key::Int(-300), Value::None),
        (
            Key::from("int keys"),
            Value::Dict(vec![
                (Key::Int(1), s("one")),
                (Key::from("1"), s("str one")),
                (Key::Int(i64::MIN), Value::Int(0)),
            ]),
        ),
    ]);
    Value::Dict(entries)
}
