//! The decoder on arbitrary bytes: it may return an error, never panic, hang or allocate
//! beyond what the input justifies (libFuzzer's -rss_limit_mb catches the last).
#![no_main]

use ipc_core::codec::{Blob, Skip, Value, ValueSink};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(blob) = Blob::parse(data) else { return };
    let full = blob.decode(&mut ValueSink::default());
    let _ = blob.decode(&mut Skip);
    let _ = blob.keys();
    for key in ["key_0", "a", ""] {
        let _ = blob.get(key, &mut ValueSink::default());
    }
    // Whatever decodes must encode again and decode to the same value.
    if let Ok(v) = full {
        if let Ok(again) = v.encode() {
            let v2 = Value::decode(&again).expect("re-encoded value must decode");
            assert!(same(&v, &v2), "round trip changed the value");
        }
    }
});

/// Equality with floats compared bit for bit (NaN == NaN here).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
        (Value::List(x), Value::List(y)) | (Value::Tuple(x), Value::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Dict(x), Value::Dict(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((ka, a), (kb, b))| ka == kb && same(a, b))
        }
        _ => a == b,
    }
}
