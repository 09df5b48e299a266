//! The result file of a run that a timeout aborts.
//!
//! A wait that times out can only end the job (coll.rs), deep inside a case; the
//! schema still wants the file, with the case it was in as its last record, failed
//! (docs/results-schema.md). So rank 0 keeps the run's document here, where the timeout
//! path finds it, and the other ranks wait a little longer than rank 0 before giving
//! up, so that rank 0 is the one that writes it.

use std::cell::RefCell;
use std::path::PathBuf;

use crate::results::{self, Document, Record};

struct Partial {
    output: PathBuf,
    doc: Document,
    /// The record to write, failed, if the case under way never finishes.
    current: Option<Record>,
}

thread_local! {
    static PARTIAL: RefCell<Option<Partial>> = const { RefCell::new(None) };
}

/// Rank 0, at the start: the document that results are added to.
pub fn start(output: PathBuf, doc: Document) {
    PARTIAL.with(|p| {
        *p.borrow_mut() = Some(Partial {
            output,
            doc,
            current: None,
        })
    });
}

/// A case begins; `stub` is its record as a timeout would leave it.
pub fn begin_case(stub: Record) {
    PARTIAL.with(|p| {
        if let Some(p) = p.borrow_mut().as_mut() {
            p.current = Some(stub);
        }
    });
}

/// A case ended with `record`.
pub fn finish_case(record: Record) {
    PARTIAL.with(|p| {
        if let Some(p) = p.borrow_mut().as_mut() {
            p.current = None;
            p.doc.results.push(record);
        }
    });
}

/// The document with every finished record, ending the partial state.
pub fn finish() -> Option<Document> {
    PARTIAL.with(|p| p.borrow_mut().take()).map(|p| p.doc)
}

/// On the way to aborting: writes what rank 0 has, the current case failed with `why`.
/// Does nothing on the other ranks.
#[cold]
pub fn save_on_abort(rank: usize, why: &str) {
    let Some(mut p) = PARTIAL.with(|p| p.borrow_mut().take()) else {
        return;
    };
    if let Some(mut record) = p.current.take() {
        record.error = Some(format!("rank {rank}: {why}; the job was aborted"));
        p.doc.results.push(record);
    }
    match results::write(&p.output, &p.doc) {
        Ok(()) => eprintln!("partial results written to {}", p.output.display()),
        Err(e) => eprintln!("ipc-mpi-bench: {e}"),
    }
}
