//! The two payloads a run can share (`--payload`): the size of a case, what it writes,
//! and when its timed reads are capped. The same rules as the Python harness's
//! `harness/payloads.py`.

use std::fmt;
use std::time::Instant;

use clap::ValueEnum;
use ipc_core::codec::Key;
use ipc_core::payload::{generate as seed_payload, training};
use ipc_core::Value;
use serde::{Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Payload {
    /// The original benchmark's dict of `--sizes` entries.
    Seed,
    /// A trainer's state with `--array-mb` MiB of float32 weights.
    Training,
}

impl Payload {
    pub fn as_str(self) -> &'static str {
        match self {
            Payload::Seed => "seed",
            Payload::Training => "training",
        }
    }

    /// The record's `size_unit`: what `data_size` counts.
    pub fn size_unit(self) -> &'static str {
        match self {
            Payload::Seed => "entries",
            Payload::Training => "MiB",
        }
    }
}

/// One case's `data_size`: entries of the seed payload, or MiB of training weights.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Size {
    Entries(usize),
    Mib(f64),
}

impl Size {
    /// The payload this size belongs to.
    pub fn payload(self) -> Payload {
        match self {
            Size::Entries(_) => Payload::Seed,
            Size::Mib(_) => Payload::Training,
        }
    }

    /// The payload of this size, generated from `seed`.
    pub fn generate(self, seed: u64) -> Value {
        match self {
            Size::Entries(n) => seed_payload(n, seed),
            Size::Mib(mb) => training::generate(mb, seed),
        }
    }
}

/// A whole number is written as an integer (as Python writes `1`), a fraction as a float.
impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Size::Entries(n) => s.serialize_u64(n as u64),
            Size::Mib(mb) if mb.fract() == 0.0 && mb.abs() < 2f64.powi(53) => {
                s.serialize_i64(mb as i64)
            }
            Size::Mib(mb) => s.serialize_f64(mb),
        }
    }
}

/// The number alone: `10`, `0.5`.
impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Size::Entries(n) => write!(f, "{n}"),
            Size::Mib(mb) => write!(f, "{mb}"),
        }
    }
}

/// MiB the messages of one case may carry, all readers together, before the timed reads
/// of a message-per-read backend are capped (see [`read_cap`]); `--message-budget-mb`.
pub const MESSAGE_BUDGET_MB: u64 = 4096;
/// Timed reads per reader that a capped case still makes.
pub const MIN_CAPPED_READS: usize = 5;

/// The record's `read_cap`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadCap {
    /// Timed reads per reader.
    pub iterations: usize,
    pub reason: String,
}

/// The cap on the timed reads of a case, or None when it is not capped.
///
/// A message-per-read backend moves one whole payload per read, so 100 MiB x 3 readers
/// x 105 reads would take minutes. Such a case of the training payload makes at most as
/// many reads (warm-up included) as `budget_mb` MiB of weights allow over all readers,
/// and never fewer than [`MIN_CAPPED_READS`] timed ones. Every message-per-read
/// backend gets the same rule, in both harnesses, so a Rust backend and its reference
/// make the same number of reads. The seed payload is never capped.
pub fn read_cap(
    size: Size,
    readers: usize,
    warmup: usize,
    iterations: usize,
    message_per_read: bool,
    budget_mb: u64,
) -> Option<ReadCap> {
    let Size::Mib(mb) = size else { return None };
    if !message_per_read || readers == 0 {
        return None;
    }
    let weight_bytes = training::float_count(mb) as u64 * 4;
    let reads_each = budget_mb.saturating_mul(1 << 20) / (readers as u64 * weight_bytes);
    let capped = usize::try_from(reads_each)
        .unwrap_or(usize::MAX)
        .saturating_sub(warmup)
        .max(MIN_CAPPED_READS);
    (capped < iterations).then(|| ReadCap {
        iterations: capped,
        reason: format!(
            "one message per read: {readers} readers x {size} MiB per message, capped to \
             {budget_mb} MiB of messages per case (at least {MIN_CAPPED_READS} timed reads; \
             --message-budget-mb)"
        ),
    })
}

/// The record's `memcpy` samples (seconds): each copies every weight array into one fresh
/// anonymous mapping, page faults included, as a store that writes or a reader that
/// copies must. The yardstick of a read or write of the arrays; empty for the seed
/// payload. `warmup` untimed copies first.
pub fn copy_baseline(
    value: &Value,
    warmup: usize,
    repeat: usize,
) -> Result<Vec<f64>, std::io::Error> {
    let arrays: Vec<&[u8]> = weights(value)
        .iter()
        .filter_map(|(_, v)| match v {
            Value::Array(a) => Some(a.data.as_slice()),
            _ => None,
        })
        .collect();
    if arrays.is_empty() {
        return Ok(Vec::new());
    }
    let total = arrays.iter().map(|a| a.len()).sum();
    let mut samples = Vec::with_capacity(repeat);
    for i in 0..warmup + repeat {
        let t0 = Instant::now();
        let mut fresh = memmap2::MmapMut::map_anon(total)?;
        let mut at = 0;
        for a in &arrays {
            fresh[at..at + a.len()].copy_from_slice(a);
            at += a.len();
        }
        let elapsed = t0.elapsed().as_secs_f64();
        drop(fresh);
        if i >= warmup {
            samples.push(elapsed);
        }
    }
    Ok(samples)
}

/// The entries of the payload's `weights` dict; none for the seed payload.
fn weights(value: &Value) -> &[(Key, Value)] {
    let Value::Dict(top) = value else { return &[] };
    match top.iter().find(|(k, _)| *k == "weights") {
        Some((_, Value::Dict(w))) => w,
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_written_as_python_writes_them() {
        let json = |s: Size| serde_json::to_string(&s).expect("serialises");
        assert_eq!(json(Size::Entries(10)), "10");
        assert_eq!(json(Size::Mib(100.0)), "100");
        assert_eq!(json(Size::Mib(0.01)), "0.01");
        assert_eq!(
            (Size::Mib(2.0).to_string(), Size::Mib(0.5).to_string()),
            ("2".into(), "0.5".into())
        );
    }

    #[test]
    fn the_copy_baseline_times_the_weights_only() {
        let samples = copy_baseline(&Size::Mib(0.25).generate(1), 1, 3).expect("maps");
        assert_eq!(samples.len(), 3);
        assert!(samples.iter().all(|&s| s > 0.0));
        let seed = copy_baseline(&Size::Entries(10).generate(1), 1, 3).expect("maps");
        assert!(seed.is_empty());
    }

    #[test]
    fn only_large_training_payloads_of_message_backends_are_capped() {
        // 100 MiB to 3 readers: 4 GiB carries 13 reads each, 5 of them warm-up.
        let budget = MESSAGE_BUDGET_MB;
        let cap = read_cap(Size::Mib(100.0), 3, 5, 100, true, budget).expect("capped");
        assert_eq!(cap.iterations, 8);
        assert!(cap.reason.contains("3 readers x 100 MiB"), "{}", cap.reason);
        assert_eq!(read_cap(Size::Mib(100.0), 3, 5, 100, true, 100_000), None);
        assert_eq!(read_cap(Size::Mib(100.0), 3, 5, 100, false, budget), None);
        let fits = read_cap(Size::Mib(10.0), 3, 5, 100, true, budget);
        assert_eq!(fits, None, "136 reads fit");
        assert_eq!(
            read_cap(Size::Entries(10_000), 3, 5, 100, true, budget),
            None
        );
        // Never fewer than the minimum, and never more than asked for.
        let cap = read_cap(Size::Mib(1000.0), 7, 5, 100, true, budget).expect("capped");
        assert_eq!(cap.iterations, MIN_CAPPED_READS);
        assert_eq!(read_cap(Size::Mib(1000.0), 7, 5, 3, true, budget), None);
    }
}
