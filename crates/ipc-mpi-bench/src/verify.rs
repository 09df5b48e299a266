//! The content check a reader runs on what it read, outside the timed region.

use ipc_core::Value;

/// Exact equality. Unlike `Value`'s `==`, floats compare by their bits: the format
/// promises bit-exact floats, so NaN must equal the same NaN, and -0.0 must not equal
/// 0.0. Dicts compare in order, since the format keeps insertion order.
pub fn identical(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
        (Value::List(x), Value::List(y)) | (Value::Tuple(x), Value::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| identical(p, q))
        }
        (Value::Dict(x), Value::Dict(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((kp, p), (kq, q))| kp == kq && identical(p, q))
        }
        // No floats inside these: the derived equality is exact.
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(v: Value) -> Value {
        Value::Dict(vec![("k".into(), Value::List(vec![v]))])
    }

    #[test]
    fn floats_compare_by_bits() {
        let nan = Value::Float(f64::NAN);
        assert!(identical(&dict(nan.clone()), &dict(nan)));
        assert!(!identical(
            &dict(Value::Float(0.0)),
            &dict(Value::Float(-0.0))
        ));
        assert!(identical(
            &dict(Value::Float(1.5)),
            &dict(Value::Float(1.5))
        ));
    }

    #[test]
    fn structure_and_kinds_matter() {
        let list = Value::List(vec![Value::Int(1)]);
        let tuple = Value::Tuple(vec![Value::Int(1)]);
        assert!(!identical(&list, &tuple));
        assert!(!identical(&dict(Value::Int(1)), &dict(Value::Int(2))));
        let ab = Value::Dict(vec![("a".into(), Value::None), ("b".into(), Value::None)]);
        let ba = Value::Dict(vec![("b".into(), Value::None), ("a".into(), Value::None)]);
        assert!(!identical(&ab, &ba));
    }

    #[test]
    fn payload_equals_itself() {
        let p = ipc_core::payload::generate(100, 3);
        assert!(identical(&p, &p.clone()));
        assert!(!identical(&p, &ipc_core::payload::generate(100, 4)));
    }
}
