//! The decoder on arbitrary bytes: it may return an error, never panic, hang or allocate
//! beyond what the input justifies (libFuzzer's -rss_limit_mb catches the last).
#![no_main]

use std::cell::RefCell;

use ipc_core::codec::{Blob, DecodeError, Doc, KeyRef, Skip, Value, ValueSink};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(blob) = Blob::parse(data) else { return };
    let full = blob.decode(&mut ValueSink::default());
    let _ = blob.decode(&mut Skip);
    let _ = blob.keys();
    let _ = blob.entries_by_index();
    // A Doc must hold exactly what a Value holds, or fail with the same error; it is
    // reused, as readers reuse theirs, so stale content would show.
    DOC.with_borrow_mut(|doc| check_doc(doc, data, &blob, &full));
    // Whatever decodes must encode again and decode to the same value.
    if let Ok(v) = full {
        if let Ok(again) = v.encode() {
            let v2 = Value::decode(&again).expect("re-encoded value must decode");
            assert!(v.identical(&v2), "round trip changed the value");
        }
    }
});

thread_local! {
    /// One document for every input, as a reader keeps one for every read: content left
    /// over from an earlier input would show as a difference.
    static DOC: RefCell<Doc> = RefCell::new(Doc::new());
}

/// A Doc holds exactly what a Value holds, or fails with the same error.
fn check_doc(doc: &mut Doc, data: &[u8], blob: &Blob<'_>, full: &Result<Value, DecodeError>) {
    match (full, doc.decode(data)) {
        (Ok(v), Ok(())) => {
            let got = doc.to_value().expect("a decoded doc has a root");
            assert!(v.identical(&got), "the Doc differs from the Value");
        }
        (Err(a), Err(b)) => assert_eq!(a, &b, "the Doc failed differently"),
        (a, b) => panic!("Value decode gave {a:?}, Doc decode gave {b:?}"),
    }
    // Str and int keys, including one of each that the seeds hold ("1" and 1 differ).
    let keys = ["key_0", "a", "", "1"].map(KeyRef::Str);
    for key in keys.into_iter().chain([0, 1, 7, -1].map(KeyRef::Int)) {
        let expected = blob.get(key, &mut ValueSink::default());
        match (expected, doc.decode_key(data, key)) {
            (Ok(Some(v)), Ok(true)) => {
                let got = doc.to_value().expect("a found key is the root");
                assert!(v.identical(&got), "the Doc's value of {key:?} differs");
            }
            (Ok(None), Ok(false)) => assert!(doc.root().is_none()),
            (Err(a), Err(b)) => assert_eq!(a, b, "the Doc failed differently"),
            (a, b) => panic!("Value get gave {a:?}, Doc get gave {b:?}"),
        }
    }
}
