//! The content check a reader runs on what it read, outside the timed region.

use ipc_core::codec::Item;
use ipc_core::{Doc, Value};

/// True when `doc` holds exactly `expected`, compared in place (nothing is built).
pub fn holds(doc: &Doc, expected: &Value) -> bool {
    doc.root().is_some_and(|item| identical(item, expected))
}

/// Exact equality. Unlike `Value`'s `==`, floats compare by their bits: the format
/// promises bit-exact floats, so NaN must equal the same NaN, and -0.0 must not equal
/// 0.0. Dicts compare in order, since the format keeps insertion order.
pub fn identical(item: Item<'_>, expected: &Value) -> bool {
    match (item, expected) {
        (Item::None, Value::None) => true,
        (Item::Bool(a), Value::Bool(b)) => a == *b,
        (Item::Int(a), Value::Int(b)) => a == *b,
        (Item::BigInt(a), Value::BigInt(b)) => a == b.as_slice(),
        (Item::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
        (Item::Str(a), Value::Str(b)) => a == b.as_str(),
        (Item::Bytes(a), Value::Bytes(b)) => a == b.as_slice(),
        (Item::List(a), Value::List(b)) | (Item::Tuple(a), Value::Tuple(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(p, q)| identical(p, q))
        }
        (Item::Dict(a), Value::Dict(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|((kp, p), (kq, q))| kp == kq.as_str() && identical(p, q))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(v: Value) -> Value {
        Value::Dict(vec![("k".into(), Value::List(vec![v]))])
    }

    /// Whether `written`, encoded and decoded into a Doc, holds `expected`.
    fn reads_as(written: &Value, expected: &Value) -> bool {
        let mut doc = Doc::new();
        doc.decode(&written.encode().unwrap()).unwrap();
        holds(&doc, expected)
    }

    #[test]
    fn floats_compare_by_bits() {
        let nan = Value::Float(f64::NAN);
        assert!(reads_as(&dict(nan.clone()), &dict(nan)));
        assert!(!reads_as(
            &dict(Value::Float(0.0)),
            &dict(Value::Float(-0.0))
        ));
        assert!(!reads_as(
            &dict(Value::Float(f64::NAN)),
            &dict(Value::Float(-f64::NAN))
        ));
        assert!(reads_as(&dict(Value::Float(1.5)), &dict(Value::Float(1.5))));
    }

    #[test]
    fn structure_and_kinds_matter() {
        let list = Value::List(vec![Value::Int(1)]);
        let tuple = Value::Tuple(vec![Value::Int(1)]);
        assert!(!reads_as(&list, &tuple));
        assert!(reads_as(&tuple, &tuple));
        assert!(!reads_as(&dict(Value::Int(1)), &dict(Value::Int(2))));
        assert!(!reads_as(&dict(Value::Int(1)), &dict(Value::Float(1.0))));
        assert!(!reads_as(&Value::List(vec![]), &list));
        let ab = Value::Dict(vec![("a".into(), Value::None), ("b".into(), Value::None)]);
        let ba = Value::Dict(vec![("b".into(), Value::None), ("a".into(), Value::None)]);
        assert!(!reads_as(&ab, &ba));
        let s = |x: &str| Value::Str(x.into());
        assert!(!reads_as(&dict(s("é")), &dict(s("e"))));
        assert!(!reads_as(
            &dict(Value::Bytes(vec![1])),
            &dict(Value::BigInt(vec![1]))
        ));
    }

    #[test]
    fn an_empty_doc_holds_nothing() {
        assert!(!holds(&Doc::new(), &Value::None));
    }

    #[test]
    fn payload_equals_itself() {
        let p = ipc_core::payload::generate(100, 3);
        assert!(reads_as(&p, &p));
        assert!(!reads_as(&p, &ipc_core::payload::generate(100, 4)));
    }
}
