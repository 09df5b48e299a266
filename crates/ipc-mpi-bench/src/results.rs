//! The result file, exactly as docs/results-schema.md defines it (version 2).
//!
//! Field order follows the schema, since serde writes struct fields in order.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::Serialize;

use crate::nodes::Nodes;
use crate::payload::{ReadCap, Size};
use crate::stats::Stats;

pub const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Serialize)]
pub struct Document {
    pub schema_version: u32,
    pub metadata: Metadata,
    pub results: Vec<Record>,
}

#[derive(Debug, Serialize)]
pub struct Metadata {
    pub harness: &'static str,
    pub created_utc: String,
    pub command_line: Vec<String>,
    pub host: String,
    pub os: String,
    pub cpu_model: String,
    pub cpu_cores: usize,
    pub ranks: usize,
    pub readers: usize,
    pub ranks_per_core: f64,
    pub idle_wait: bool,
    /// Always null here: no Python in this harness.
    pub python: Option<String>,
    pub mpi_library: String,
    pub package_version: String,
    pub git_commit: Option<String>,
    pub versions: BTreeMap<String, String>,
    pub config: Config,
}

#[derive(Debug, Serialize)]
pub struct Config {
    pub backends: Vec<String>,
    /// The `data_size` of each case, in the payload's unit.
    pub sizes: Vec<Size>,
    pub iterations: usize,
    pub warmup: usize,
    pub repeat: usize,
    pub seed: u64,
    pub workload: String,
    pub payload: &'static str,
    /// MiB of weights per case of the training payload; null for the seed payload.
    pub array_mb: Option<Vec<Size>>,
    pub reader_counts: Vec<usize>,
    pub updates: usize,
    pub nodes: Nodes,
    pub zmq_host: Option<String>,
}

/// One backend × size × workload. Options are `null` in the JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub backend: String,
    pub data_size: Size,
    pub write_time: Option<f64>,
    pub avg_read_time: Option<f64>,
    pub throughput: Option<f64>,
    pub display_name: String,
    pub implementation: String,
    pub reference: Option<String>,
    pub workload: String,
    pub payload: &'static str,
    pub size_unit: &'static str,
    pub status: String,
    pub error: Option<String>,
    pub payload_bytes: Option<usize>,
    pub write: Option<Stats>,
    pub read: Option<Stats>,
    /// Set when the timed reads were fewer than `--iterations` (`payload::read_cap`).
    pub read_cap: Option<ReadCap>,
    /// Training payload: copies of the weights into fresh memory, the reads' and
    /// writes' yardstick (`payload::copy_baseline`); null for the seed payload.
    pub memcpy: Option<Stats>,
    pub aggregate_reads_per_s: Option<f64>,
    pub verified: bool,
    /// Active readers: ranks 1 to `readers`.
    pub readers: usize,
    /// Some active reader is on another node than the writer.
    pub cross_node: bool,
    pub memory: Option<Memory>,
    pub update_latency: Option<UpdateLatency>,
    /// Why `update_latency` is null.
    pub update_latency_note: Option<String>,
}

/// Each active rank's peak resident set over the case and its growth over the timed
/// operations, in bytes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Memory {
    pub writer: RankMemory,
    pub readers: Vec<ReaderMemory>,
    /// "case" when the peak was reset at the start of the case, else "process".
    pub peak_scope: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RankMemory {
    pub peak_rss: u64,
    pub rss_growth: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReaderMemory {
    pub rank: usize,
    pub peak_rss: u64,
    pub rss_growth: Option<i64>,
}

/// From the writer starting an update's write to a waiting reader holding it, seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpdateLatency {
    pub median: f64,
    pub p99: f64,
    /// How the readers learned of each update: "wait_for_update", "version" or "read".
    pub wait: Option<String>,
    /// Polls whose read failed (a torn snapshot); always 0 here: every native store
    /// wakes its readers itself, and a failed read fails the case.
    pub failed_polls: u64,
    pub samples: Vec<f64>,
}

/// Writes the document, replacing `path` only once the whole file is written, so that
/// an interrupted run never leaves half a JSON file behind.
pub fn write(path: &Path, doc: &Document) -> Result<(), String> {
    let mut text = serde_json::to_string_pretty(doc)
        .map_err(|e| format!("cannot serialise the results: {e}"))?;
    text.push('\n');
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    fs::write(&tmp, text)
        .map_err(|e| format!("cannot write {}: {e}", Path::new(&tmp).display()))?;
    fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            backend: "mpi-bcast".into(),
            data_size: Size::Entries(10),
            write_time: None,
            avg_read_time: Some(0.25),
            throughput: Some(4.0),
            display_name: "MPI broadcast (Rust)".into(),
            implementation: "rust".into(),
            reference: None,
            workload: "full".into(),
            payload: "seed",
            size_unit: "entries",
            status: "ok".into(),
            error: None,
            payload_bytes: Some(100),
            write: None,
            read: Stats::of(vec![0.25]),
            read_cap: None,
            memcpy: None,
            aggregate_reads_per_s: None,
            verified: true,
            readers: 1,
            cross_node: false,
            memory: None,
            update_latency: None,
            update_latency_note: Some("why".into()),
        }
    }

    #[test]
    fn record_fields_in_schema_order_with_nulls() {
        let v = serde_json::to_value(record()).expect("serialises");
        let keys: Vec<&str> = v
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        // serde_json's map is sorted unless preserve_order is on, so compare as sets
        // here and check order on the text below.
        let mut expected = vec![
            "backend",
            "data_size",
            "write_time",
            "avg_read_time",
            "throughput",
            "display_name",
            "implementation",
            "reference",
            "workload",
            "payload",
            "size_unit",
            "status",
            "error",
            "payload_bytes",
            "write",
            "read",
            "read_cap",
            "memcpy",
            "aggregate_reads_per_s",
            "verified",
            "readers",
            "cross_node",
            "memory",
            "update_latency",
            "update_latency_note",
        ];
        let text = serde_json::to_string(&record()).expect("serialises");
        let positions: Vec<usize> = expected
            .iter()
            .map(|k| text.find(&format!("\"{k}\":")).expect("field present"))
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "order: {text}");
        let mut sorted_keys = keys.clone();
        sorted_keys.sort_unstable();
        expected.sort_unstable();
        assert_eq!(sorted_keys, expected);
        assert!(v["write_time"].is_null() && v["write"].is_null() && v["error"].is_null());
        assert!(v["read_cap"].is_null() && v["memcpy"].is_null());
        assert_eq!(v["read"]["p99"], 0.25);
        assert_eq!(v["read"]["samples"][0], 0.25);
    }

    #[test]
    fn writes_the_file_whole() {
        let dir = std::env::temp_dir().join(format!("ipc_mpi_bench_test_{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("out.json");
        let doc = Document {
            schema_version: SCHEMA_VERSION,
            metadata: Metadata {
                harness: "rust",
                created_utc: "2026-01-01T00:00:00Z".into(),
                command_line: vec!["ipc-mpi-bench".into()],
                host: "h".into(),
                os: "Linux".into(),
                cpu_model: "cpu".into(),
                cpu_cores: 2,
                ranks: 2,
                readers: 1,
                ranks_per_core: 1.0,
                idle_wait: false,
                python: None,
                mpi_library: "MPICH".into(),
                package_version: "0.1.0".into(),
                git_commit: None,
                versions: BTreeMap::new(),
                config: Config {
                    backends: vec!["mpi-bcast".into()],
                    sizes: vec![Size::Entries(10)],
                    iterations: 1,
                    warmup: 0,
                    repeat: 1,
                    seed: 0,
                    workload: "full".into(),
                    payload: "seed",
                    array_mb: None,
                    reader_counts: vec![1],
                    updates: 20,
                    nodes: Nodes::numbered(&[0, 0], false),
                    zmq_host: None,
                },
            },
            results: vec![record()],
        };
        write(&path, &doc).expect("writes");
        let back: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&path).expect("reads")).expect("parses");
        fs::remove_dir_all(&dir).expect("cleans up");
        assert_eq!(back["schema_version"], 2);
        assert_eq!(back["metadata"]["config"]["payload"], "seed");
        assert!(back["metadata"]["config"]["array_mb"].is_null());
        assert_eq!(back["metadata"]["harness"], "rust");
        assert!(back["metadata"]["python"].is_null());
        assert_eq!(back["results"][0]["backend"], "mpi-bcast");
    }
}
