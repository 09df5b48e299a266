//! The content check a reader runs on what it read, outside the timed region.

use ipc_core::{Doc, Value};

/// True when `doc` holds exactly `expected` (`Item::identical`: floats by their bits,
/// dicts in order), compared in place: nothing is built, so the check allocates nothing
/// between two timed reads.
pub fn holds(doc: &Doc, expected: &Value) -> bool {
    doc.root().is_some_and(|item| item.identical(expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The comparison itself is `Item::identical`'s, tested in ipc-core (tests/doc.rs).

    #[test]
    fn a_doc_holds_what_was_written_and_nothing_else() {
        let p = ipc_core::payload::generate(100, 3);
        let mut doc = Doc::new();
        assert!(!holds(&doc, &Value::None), "an empty doc holds nothing");
        doc.decode(&p.encode().unwrap()).unwrap();
        assert!(holds(&doc, &p));
        assert!(!holds(&doc, &ipc_core::payload::generate(100, 4)));
    }
}
