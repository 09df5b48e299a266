//! What each rank measured for one (backend, size), and how rank 0 merges the ranks'
//! reports into one result record.

use serde::{Deserialize, Serialize};

use crate::args::Workload;
use crate::backend::Entry;
use crate::payload::{ReadCap, Size};
use crate::results::{Memory, RankMemory, ReaderMemory, Record, UpdateLatency};
use crate::stats::{median, nearest_rank, Stats};

/// The update-latency note of a case that failed before its update phase ended.
pub const NOTE_FAILED: &str = "not measured: the case failed before the update phase ended";

/// The steps of one record, in order; the first failure is the one reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Phase {
    Setup,
    Write,
    Read,
    Cleanup,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Phase::Setup => "initialize",
            Phase::Write => "write",
            Phase::Read => "read",
            Phase::Cleanup => "cleanup",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub phase: Phase,
    pub message: String,
}

/// One rank's share of a record; sent to rank 0 as JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RankReport {
    pub rank: usize,
    /// This rank's first failure.
    pub failure: Option<Failure>,
    /// The writer's encoded snapshot size.
    pub payload_bytes: Option<usize>,
    pub write_samples: Vec<f64>,
    pub read_samples: Vec<f64>,
    /// The writer's copies of the training payload's weights (`payload::copy_baseline`).
    pub memcpy_samples: Vec<f64>,
    /// Wall clock (ns since the Unix epoch), comparable across ranks, unlike Instant:
    /// when this reader's first timed read started and its last one ended.
    pub first_read_start_ns: Option<u64>,
    pub last_read_end_ns: Option<u64>,
    /// Reads (warm-up and timed) whose content matched what was written.
    pub reads_verified: usize,
    /// Highest resident set over the case (bytes), and what it covers (memory.rs).
    pub peak_rss: Option<u64>,
    pub peak_scope: Option<String>,
    /// Growth of the resident set over the timed writes (writer) or reads (readers).
    pub rss_growth: Option<i64>,
    /// The update-latency phase, CLOCK_MONOTONIC in ns: when the writer started each
    /// update's write, and when this reader held it; how the reader waited.
    pub update_start_ns: Vec<u64>,
    pub update_end_ns: Vec<u64>,
    pub update_wait: Option<String>,
}

impl RankReport {
    pub fn new(rank: usize) -> Self {
        RankReport {
            rank,
            ..Default::default()
        }
    }

    pub fn ok(&self) -> bool {
        self.failure.is_none()
    }

    /// Keeps the first failure: later ones are usually its consequences.
    pub fn fail(&mut self, phase: Phase, message: impl Into<String>) {
        if self.failure.is_none() {
            self.failure = Some(Failure {
                phase,
                message: message.into(),
            });
        }
    }

    pub fn check<E: std::fmt::Display>(&mut self, phase: Phase, result: Result<(), E>) {
        if let Err(e) = result {
            self.fail(phase, e.to_string());
        }
    }
}

/// What a record needs besides the ranks' reports.
pub struct RecordInfo<'a> {
    pub entry: &'a Entry,
    pub data_size: Size,
    pub workload: Workload,
    /// Reads each reader makes, warm-up included: all must verify.
    pub reads_each: usize,
    /// Active readers: ranks 1 to `readers`.
    pub readers: usize,
    pub cross_node: bool,
    /// Set when the timed reads are fewer than `--iterations`.
    pub read_cap: Option<ReadCap>,
}

/// What a case's ranks decided besides their measurements.
#[derive(Debug, Clone, Default)]
pub struct CaseNotes {
    /// Why the record has no update latency, when it has none.
    pub update_note: Option<String>,
    /// Why the case was not run.
    pub skipped: Option<String>,
}

/// The record of a case that never finished: failed, nothing measured. Its error is
/// filled in by whoever gives up on it.
pub fn unfinished(info: &RecordInfo<'_>) -> Record {
    let mut record = merge(info, &[], &CaseNotes::default());
    record.status = "failed".to_owned();
    record.verified = false;
    record
}

/// Rank 0's view of the whole record. `reports` holds every rank's, in rank order; those
/// past the active readers are left out.
pub fn merge(info: &RecordInfo<'_>, reports: &[RankReport], notes: &CaseNotes) -> Record {
    let reports = &reports[..reports.len().min(info.readers + 1)];
    let first_failure = reports
        .iter()
        .filter_map(|r| r.failure.as_ref().map(|f| (f.phase, r.rank, f)))
        .min_by_key(|&(phase, rank, _)| (phase, rank));
    let error = first_failure
        .map(|(phase, rank, f)| format!("rank {rank}: {}: {}", phase.as_str(), f.message));
    let ok = error.is_none();
    let status = match (&notes.skipped, ok) {
        (Some(_), _) => "skipped",
        (None, true) => "ok",
        (None, false) => "failed",
    };
    let latency = if ok { update_latency(reports) } else { None };
    let update_latency_note = match (&latency, &notes.skipped) {
        (Some(_), _) | (_, Some(_)) => None,
        _ => Some(
            notes
                .update_note
                .clone()
                .unwrap_or_else(|| NOTE_FAILED.to_owned()),
        ),
    };
    let readers = reports.iter().filter(|r| r.rank != 0);
    let verified = ok && readers.clone().all(|r| r.reads_verified == info.reads_each);

    let write_samples = reports
        .iter()
        .filter(|r| r.rank == 0)
        .flat_map(|r| r.write_samples.iter().copied())
        .collect();
    let read_samples: Vec<f64> = readers
        .clone()
        .flat_map(|r| r.read_samples.iter().copied())
        .collect();
    let timed_reads = read_samples.len();
    let write = Stats::of(write_samples);
    let read = Stats::of(read_samples);

    // All timed reads over the wall time from the first reader's first timed read to
    // the last reader's last one.
    let span_start = readers.clone().filter_map(|r| r.first_read_start_ns).min();
    let span_end = readers.filter_map(|r| r.last_read_end_ns).max();
    let aggregate = match (span_start, span_end) {
        (Some(a), Some(b)) if b > a && ok => Some(timed_reads as f64 / ((b - a) as f64 * 1e-9)),
        _ => None,
    };

    let avg_read_time = read.as_ref().map(|s| s.mean).filter(|_| ok);
    Record {
        backend: info.entry.name.to_owned(),
        data_size: info.data_size,
        write_time: write.as_ref().map(|s| s.median).filter(|_| ok),
        avg_read_time,
        throughput: avg_read_time.filter(|&t| t > 0.0).map(|t| 1.0 / t),
        display_name: info.entry.facts().display_name.to_owned(),
        implementation: info.entry.facts().implementation.to_owned(),
        reference: info.entry.facts().reference.map(str::to_owned),
        workload: info.workload.as_str().to_owned(),
        payload: info.data_size.payload().as_str(),
        size_unit: info.data_size.payload().size_unit(),
        status: status.to_owned(),
        error: error.or_else(|| notes.skipped.clone()),
        payload_bytes: reports.iter().find_map(|r| r.payload_bytes),
        write,
        read,
        read_cap: info.read_cap.clone(),
        memcpy: Stats::of(
            reports
                .iter()
                .filter(|r| r.rank == 0)
                .flat_map(|r| r.memcpy_samples.iter().copied())
                .collect(),
        ),
        aggregate_reads_per_s: aggregate,
        verified,
        readers: info.readers,
        cross_node: info.cross_node,
        memory: memory(reports),
        update_latency: latency,
        update_latency_note,
    }
}

/// Each active rank's peak and growth of its resident set; None if none reported.
fn memory(reports: &[RankReport]) -> Option<Memory> {
    let writer = reports.first()?;
    let case_scope = reports
        .iter()
        .all(|r| r.peak_scope.as_deref().is_none_or(|s| s == "case"));
    Some(Memory {
        writer: RankMemory {
            peak_rss: writer.peak_rss?,
            rss_growth: writer.rss_growth,
        },
        readers: reports
            .iter()
            .skip(1)
            .map(|r| ReaderMemory {
                rank: r.rank,
                peak_rss: r.peak_rss.unwrap_or(0),
                rss_growth: r.rss_growth,
            })
            .collect(),
        peak_scope: if case_scope { "case" } else { "process" }.to_owned(),
    })
}

/// Reader end - writer start of every update, over every reader, in seconds.
fn update_latency(reports: &[RankReport]) -> Option<UpdateLatency> {
    let starts = &reports.first()?.update_start_ns;
    let samples: Vec<f64> = reports
        .iter()
        .skip(1)
        .flat_map(|r| {
            starts
                .iter()
                .zip(&r.update_end_ns)
                .map(|(&s, &e)| (e as i128 - s as i128) as f64 * 1e-9)
        })
        .collect();
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.clone();
    sorted.sort_by(f64::total_cmp);
    let mut waits: Vec<&str> = reports
        .iter()
        .skip(1)
        .filter_map(|r| r.update_wait.as_deref())
        .collect();
    waits.sort_unstable();
    waits.dedup();
    Some(UpdateLatency {
        median: median(&sorted),
        p99: nearest_rank(&sorted, 99.0),
        wait: (!waits.is_empty()).then(|| waits.join(",")),
        failed_polls: 0,
        samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend;

    fn info() -> RecordInfo<'static> {
        RecordInfo {
            entry: backend::lookup("mpi-bcast").expect("registered"),
            data_size: Size::Entries(10),
            workload: Workload::Full,
            reads_each: 3,
            read_cap: None,
            readers: 2,
            cross_node: false,
        }
    }

    fn good() -> Vec<RankReport> {
        let writer = RankReport {
            rank: 0,
            payload_bytes: Some(500),
            write_samples: vec![0.5],
            ..Default::default()
        };
        let reader = |rank, start| RankReport {
            rank,
            read_samples: vec![0.1, 0.3],
            first_read_start_ns: Some(start),
            last_read_end_ns: Some(start + 500_000_000),
            reads_verified: 3,
            ..Default::default()
        };
        vec![writer, reader(1, 1_000_000_000), reader(2, 1_500_000_000)]
    }

    #[test]
    fn merges_a_good_record() {
        let r = merge(&info(), &good(), &CaseNotes::default());
        assert_eq!(r.status, "ok");
        assert_eq!(r.error, None);
        assert!(r.verified);
        assert_eq!(r.write_time, Some(0.5));
        let avg = r.avg_read_time.expect("avg");
        assert!((avg - 0.2).abs() < 1e-12);
        assert!((r.throughput.expect("throughput") - 5.0).abs() < 1e-9);
        assert_eq!(r.read.as_ref().map(|s| s.samples.len()), Some(4));
        // 4 timed reads from t = 1.0 s to t = 2.0 s.
        assert!((r.aggregate_reads_per_s.expect("aggregate") - 4.0).abs() < 1e-9);
        assert_eq!(r.payload_bytes, Some(500));
        assert_eq!(r.display_name, "MPI broadcast (Rust)");
        assert_eq!(r.reference, None);
        assert_eq!(
            (r.payload, r.size_unit, &r.read_cap),
            ("seed", "entries", &None)
        );
    }

    #[test]
    fn a_training_record_says_its_unit_cap_and_copy_baseline() {
        let cap = ReadCap {
            iterations: 8,
            reason: "why".into(),
        };
        let training = RecordInfo {
            data_size: Size::Mib(100.0),
            read_cap: Some(cap.clone()),
            ..info()
        };
        let mut reports = good();
        reports[0].memcpy_samples = vec![0.03, 0.01, 0.02];
        reports[1].memcpy_samples = vec![9.0]; // only the writer's count
        let r = merge(&training, &reports, &CaseNotes::default());
        assert_eq!((r.payload, r.size_unit), ("training", "MiB"));
        assert_eq!(r.read_cap, Some(cap));
        assert_eq!(r.data_size, Size::Mib(100.0));
        let memcpy = r.memcpy.expect("the writer's copies");
        assert_eq!((memcpy.median, memcpy.samples.len()), (0.02, 3));
        assert!(merge(&info(), &good(), &CaseNotes::default())
            .memcpy
            .is_none());
    }

    #[test]
    fn first_failure_by_phase_then_rank() {
        let mut reports = good();
        reports[2].fail(Phase::Read, "late");
        reports[0].fail(Phase::Cleanup, "later still");
        reports[1].fail(Phase::Read, "first");
        let r = merge(&info(), &reports, &CaseNotes::default());
        assert_eq!(r.status, "failed");
        assert_eq!(r.error.as_deref(), Some("rank 1: read: first"));
        assert!(!r.verified);
        assert_eq!(
            (r.write_time, r.avg_read_time, r.throughput),
            (None, None, None)
        );
        assert_eq!(r.aggregate_reads_per_s, None);
        // What was measured stays.
        assert!(r.write.is_some());
    }

    #[test]
    fn unverified_reads_are_not_verified() {
        let mut reports = good();
        reports[2].reads_verified = 2;
        assert!(!merge(&info(), &reports, &CaseNotes::default()).verified);
    }

    #[test]
    fn an_unfinished_case_is_failed() {
        let r = unfinished(&info());
        assert_eq!((r.status.as_str(), r.verified), ("failed", false));
        assert_eq!((r.write, r.read, r.payload_bytes), (None, None, None));
        assert_eq!(r.backend, "mpi-bcast");
    }

    #[test]
    fn report_round_trips_through_json() {
        let mut r = good().remove(1);
        r.fail(Phase::Setup, "x");
        let bytes = serde_json::to_vec(&r).expect("serialises");
        let back: RankReport = serde_json::from_slice(&bytes).expect("parses");
        assert_eq!(back, r);
    }
}
