//! The command line: the same flags as benchmark_mpi.py, where they apply.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use ipc_core::payload::training;

use crate::backend;
use crate::payload::{self, Payload, Size};

const DEFAULT_SIZES: [usize; 4] = [10, 100, 1000, 10000];
const DEFAULT_ARRAY_MB: [f64; 3] = [1.0, 10.0, 100.0];

/// What one timed read does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Fetch the whole snapshot and decode it into the reader's document.
    Full,
    /// Fetch and decode the value of one random top-level key.
    Get,
}

impl Workload {
    pub fn as_str(self) -> &'static str {
        match self {
            Workload::Full => "full",
            Workload::Get => "get",
        }
    }
}

/// The native MPI benchmark: rank 0 writes, every other rank reads.
///
/// Run as `mpiexec -n 4 target/release/ipc-mpi-bench`; writes the JSON of
/// docs/results-schema.md with metadata.harness = "rust".
#[derive(Debug, Parser)]
#[command(name = "ipc-mpi-bench", version)]
pub struct Args {
    /// Backends to run, comma- or space-separated (default: every one built in but the
    /// self-test `fault`).
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub backends: Vec<String>,

    /// Dict sizes (entries) of the seed payload, comma- or space-separated
    /// [default: 10,100,1000,10000].
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub sizes: Vec<usize>,

    /// seed: the original dict of --sizes entries; training: a trainer's state with
    /// --array-mb MiB of float32 weights (docs/benchmark.md).
    #[arg(long, value_enum, default_value_t = Payload::Seed)]
    pub payload: Payload,

    /// --payload training: MiB of weights per case, comma- or space-separated, fractions
    /// allowed [default: 1,10,100].
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub array_mb: Vec<f64>,

    /// --payload training: MiB of messages one case of a message-per-read backend may
    /// send before its timed reads are capped.
    #[arg(long, default_value_t = payload::MESSAGE_BUDGET_MB)]
    pub message_budget_mb: u64,

    /// Timed reads per reader.
    #[arg(long, default_value_t = 100)]
    pub iterations: usize,

    /// Untimed reads per reader, and untimed writes, before the timed ones.
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,

    /// Timed writes (for backends that pull; a push backend times its one write).
    #[arg(long, default_value_t = 5)]
    pub repeat: usize,

    /// Payload seed; 0 is the original benchmark's data.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// full = read() the whole snapshot; get = get() one random key.
    #[arg(long, value_enum, default_value_t = Workload::Full)]
    pub workload: Workload,

    /// Where rank 0 writes the results.
    #[arg(long, default_value = "benchmark_results_rust.json")]
    pub output: PathBuf,

    /// Ranks waiting for others sleep between polls instead of spinning
    /// (default: on when ranks outnumber CPU cores).
    #[arg(long, overrides_with = "no_idle_wait")]
    pub idle_wait: bool,

    /// Ranks waiting for others spin, even when oversubscribed.
    #[arg(long, overrides_with = "idle_wait")]
    pub no_idle_wait: bool,

    /// Seconds any one wait for other ranks may take before the job is aborted.
    #[arg(long, default_value_t = 300.0)]
    pub timeout: f64,

    /// Run each case with the first K readers, for each K given, comma- or
    /// space-separated (each at most ranks - 1; default: every rank but the writer).
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub readers: Vec<usize>,

    /// Writes of the update-latency phase after the timed reads (0: no such phase).
    #[arg(long, default_value_t = 20)]
    pub updates: usize,

    /// When readers are on other nodes, the ZeroMQ backends bind tcp:// on this address
    /// of the writer's node (default: the address its host name resolves to).
    #[arg(long, value_name = "ADDRESS", conflicts_with = "zmq_interface")]
    pub zmq_host: Option<String>,

    /// The same, as the IPv4 address of this network interface.
    #[arg(long, value_name = "NAME")]
    pub zmq_interface: Option<String>,
}

impl Args {
    /// Fills the defaults that depend on the build and the machine, and checks ranges.
    pub fn validate(mut self) -> Result<Args, String> {
        if self.backends.is_empty() {
            self.backends = backend::default_names()
                .iter()
                .map(|n| n.to_string())
                .collect();
        }
        for name in &self.backends {
            if backend::lookup(name).is_none() {
                return Err(format!(
                    "unknown backend {name:?}; built in: {}",
                    backend::names().join(", ")
                ));
            }
        }
        match self.payload {
            Payload::Seed if !self.array_mb.is_empty() => {
                return Err("--array-mb applies to --payload training only".into());
            }
            Payload::Seed if self.sizes.is_empty() => self.sizes = DEFAULT_SIZES.to_vec(),
            Payload::Seed if self.sizes.contains(&0) => {
                return Err("--sizes must list sizes of at least 1 entry".into());
            }
            Payload::Seed => {}
            Payload::Training if !self.sizes.is_empty() => {
                return Err("--sizes counts the entries of the seed payload; with \
                            --payload training give --array-mb"
                    .into());
            }
            Payload::Training => {
                if self.array_mb.is_empty() {
                    self.array_mb = DEFAULT_ARRAY_MB.to_vec();
                }
                for &mb in &self.array_mb {
                    training::check_array_mb(mb).map_err(|e| format!("--array-mb: {e}"))?;
                }
            }
        }
        if self.iterations == 0 || self.repeat == 0 || self.message_budget_mb == 0 {
            return Err("--iterations, --repeat and --message-budget-mb must be at least 1".into());
        }
        if !(self.timeout.is_finite() && self.timeout > 0.0) {
            return Err("--timeout must be a positive number of seconds".into());
        }
        if self.readers.contains(&0) {
            return Err("--readers must list counts of at least 1 reader".into());
        }
        let mut seen = self.readers.clone();
        seen.sort_unstable();
        if seen.windows(2).any(|w| w[0] == w[1]) {
            let list: Vec<String> = self.readers.iter().map(|k| k.to_string()).collect();
            return Err(format!(
                "--readers lists a count twice: {}",
                list.join(", ")
            ));
        }
        Ok(self)
    }

    /// The reader count of each case, for a world of `ranks`: --readers, or every rank
    /// but the writer. An error names the counts that do not fit.
    pub fn reader_counts(&self, ranks: usize) -> Result<Vec<usize>, String> {
        if self.readers.is_empty() {
            return Ok(vec![ranks - 1]);
        }
        let too_many: Vec<String> = self
            .readers
            .iter()
            .filter(|&&k| k > ranks - 1)
            .map(|k| k.to_string())
            .collect();
        if !too_many.is_empty() {
            return Err(format!(
                "--readers {}: {ranks} ranks have at most {} readers (one rank writes)",
                too_many.join(","),
                ranks - 1
            ));
        }
        Ok(self.readers.clone())
    }

    /// --idle-wait / --no-idle-wait if given, else on when oversubscribed.
    pub fn idle_wait(&self, ranks: usize, cores: usize) -> bool {
        if self.idle_wait {
            true
        } else if self.no_idle_wait {
            false
        } else {
            ranks > cores
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout)
    }

    /// The `data_size` of each case, in the payload's unit.
    pub fn data_sizes(&self) -> Vec<Size> {
        match self.payload {
            Payload::Seed => self.sizes.iter().map(|&n| Size::Entries(n)).collect(),
            Payload::Training => self.array_mb.iter().map(|&mb| Size::Mib(mb)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(argv: &[&str]) -> Result<Args, String> {
        let argv = std::iter::once("ipc-mpi-bench").chain(argv.iter().copied());
        Args::try_parse_from(argv)
            .map_err(|e| e.to_string())?
            .validate()
    }

    #[test]
    fn defaults() {
        let a = parse(&[]).expect("defaults parse");
        assert_eq!(a.sizes, vec![10, 100, 1000, 10000]);
        assert_eq!((a.iterations, a.warmup, a.repeat, a.seed), (100, 5, 5, 0));
        assert_eq!(a.workload, Workload::Full);
        assert_eq!(a.backends, backend::default_names());
        assert!(!a.backends.iter().any(|b| b == "fault"));
        assert_eq!(a.timeout(), Duration::from_secs(300));
        assert_eq!(a.payload, Payload::Seed);
        assert!(a.array_mb.is_empty());
    }

    #[test]
    fn training_takes_array_sizes_in_mib() {
        let a = parse(&["--payload", "training"]).expect("parses");
        assert_eq!(a.array_mb, [1.0, 10.0, 100.0]);
        assert!(a.sizes.is_empty());
        assert_eq!(
            a.data_sizes(),
            [Size::Mib(1.0), Size::Mib(10.0), Size::Mib(100.0)]
        );
        let a = parse(&["--payload", "training", "--array-mb", "0.01,2"]).expect("parses");
        assert_eq!(a.data_sizes(), [Size::Mib(0.01), Size::Mib(2.0)]);
        for (argv, says) in [
            (
                &["--payload", "training", "--sizes", "10"][..],
                "--sizes counts",
            ),
            (&["--array-mb", "1"][..], "training only"),
            (
                &["--payload", "training", "--array-mb", "0"][..],
                "at least",
            ),
            (&["--payload", "training", "--array-mb=-1"][..], "at least"),
            (
                &["--payload", "training", "--array-mb", "1e9"][..],
                "at most",
            ),
            (
                &["--payload", "training", "--array-mb", "nan"][..],
                "not a number",
            ),
        ] {
            let e = parse(argv).expect_err("refused");
            assert!(e.contains(says), "{argv:?}: {e}");
        }
    }

    #[test]
    fn lists_and_values() {
        let a = parse(&[
            "--backends",
            "mpi-bcast",
            "--sizes",
            "1,20",
            "--iterations",
            "3",
            "--workload",
            "get",
            "--output",
            "x.json",
        ])
        .expect("parses");
        assert_eq!(a.backends, vec!["mpi-bcast"]);
        assert_eq!(a.sizes, vec![1, 20]);
        assert_eq!(a.iterations, 3);
        assert_eq!(a.workload, Workload::Get);
        assert_eq!(a.output, PathBuf::from("x.json"));
    }

    #[test]
    fn lists_take_commas_or_spaces_like_the_python_harness() {
        for argv in [
            &["--backends", "shm,lmdb", "--sizes", "10,100"][..],
            &["--backends", "shm", "lmdb", "--sizes", "10", "100"][..],
        ] {
            let a = parse(argv).expect("parses");
            assert_eq!(a.backends, vec!["shm", "lmdb"], "{argv:?}");
            assert_eq!(a.sizes, vec![10, 100], "{argv:?}");
        }
    }

    #[test]
    fn rejects_bad_values() {
        assert!(parse(&["--backends", "nope"])
            .expect_err("unknown backend")
            .contains("unknown backend"));
        assert!(parse(&["--sizes", "10,0"]).is_err());
        assert!(parse(&["--sizes", "10,"]).is_err());
        assert!(parse(&["--backends", "shm,"]).is_err());
        assert!(parse(&["--iterations", "0"]).is_err());
        assert!(parse(&["--timeout", "0"]).is_err());
        assert!(parse(&["--workload", "half"]).is_err());
    }

    #[test]
    fn reader_counts_fit_the_world() {
        let a = parse(&["--readers", "1,3", "2"]).expect("parses");
        assert_eq!(a.reader_counts(4), Ok(vec![1, 3, 2]));
        assert_eq!(parse(&[]).expect("parses").reader_counts(4), Ok(vec![3]));
        let e = a.reader_counts(3).expect_err("3 readers of 3 ranks");
        assert!(
            e.contains("--readers 3: 3 ranks have at most 2 readers"),
            "{e}"
        );
        assert!(parse(&["--readers", "0"]).is_err());
        let e = parse(&["--readers", "1,2,1"]).expect_err("duplicate");
        assert!(e.contains("lists a count twice"), "{e}");
        assert!(parse(&["--zmq-host", "a", "--zmq-interface", "b"]).is_err());
    }

    #[test]
    fn idle_wait_defaults_to_oversubscription() {
        let a = parse(&[]).expect("parses");
        assert!(a.idle_wait(4, 2));
        assert!(!a.idle_wait(2, 2));
        assert!(!parse(&["--no-idle-wait"]).expect("parses").idle_wait(4, 2));
        assert!(parse(&["--idle-wait"]).expect("parses").idle_wait(2, 8));
        // The last of the two flags wins.
        let a = parse(&["--idle-wait", "--no-idle-wait"]).expect("parses");
        assert!(!a.idle_wait(8, 2));
    }
}
