//! The facts every record shares: host, CPU, versions, command line, time.
//!
//! Read from /proc and std, so that the harness needs no extra dependency for them.

use std::collections::BTreeMap;
use std::fs;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::args::Args;
use crate::nodes::Nodes;
use crate::payload::Payload;
use crate::results::{Config, Metadata};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What the run itself decided, as opposed to what the machine says.
pub struct RunShape {
    pub ranks: usize,
    pub cores: usize,
    pub idle_wait: bool,
}

pub fn collect(
    args: &Args,
    shape: &RunShape,
    reader_counts: &[usize],
    nodes: &Nodes,
    zmq_host: Option<String>,
) -> Metadata {
    let mut versions = BTreeMap::new();
    // Both crates take the workspace's version.
    versions.insert("ipc-core".to_owned(), VERSION.to_owned());
    versions.insert("ipc-mpi-bench".to_owned(), VERSION.to_owned());
    Metadata {
        harness: "rust",
        created_utc: utc_timestamp(SystemTime::now()),
        command_line: std::env::args().collect(),
        host: read_trimmed("/proc/sys/kernel/hostname").unwrap_or_else(|| "unknown".into()),
        os: os_description(),
        cpu_model: cpu_model().unwrap_or_else(|| std::env::consts::ARCH.to_owned()),
        cpu_cores: shape.cores,
        ranks: shape.ranks,
        readers: shape.ranks - 1,
        ranks_per_core: shape.ranks as f64 / shape.cores as f64,
        idle_wait: shape.idle_wait,
        python: None,
        mpi_library: mpi_library(),
        package_version: VERSION.to_owned(),
        git_commit: git_commit(),
        versions,
        config: Config {
            backends: args.backends.clone(),
            sizes: args.data_sizes(),
            iterations: args.iterations,
            warmup: args.warmup,
            repeat: args.repeat,
            seed: args.seed,
            workload: args.workload.as_str().to_owned(),
            payload: args.payload.as_str(),
            array_mb: (args.payload == Payload::Training).then(|| args.data_sizes()),
            reader_counts: reader_counts.to_vec(),
            updates: args.updates,
            nodes: nodes.clone(),
            zmq_host,
        },
    }
}

/// Logical CPUs this process may use (its affinity mask), as Python's
/// `os.process_cpu_count()` reports them.
pub fn usable_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn read_trimmed(path: &str) -> Option<String> {
    let s = fs::read_to_string(path).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// "Linux 6.1.0 x86_64", like `uname -srm`.
fn os_description() -> String {
    let name =
        read_trimmed("/proc/sys/kernel/ostype").unwrap_or_else(|| std::env::consts::OS.into());
    let release = read_trimmed("/proc/sys/kernel/osrelease").unwrap_or_default();
    [name.as_str(), release.as_str(), std::env::consts::ARCH]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

fn cpu_model() -> Option<String> {
    cpu_model_from(&fs::read_to_string("/proc/cpuinfo").ok()?)
}

/// The first "model name" line (x86), else "Model" / "Hardware" / "cpu" (Arm, POWER).
fn cpu_model_from(cpuinfo: &str) -> Option<String> {
    ["model name", "Model", "Hardware", "cpu"]
        .iter()
        .find_map(|field| {
            cpuinfo.lines().find_map(|line| {
                let (k, v) = line.split_once(':')?;
                (k.trim() == *field && !v.trim().is_empty()).then(|| v.trim().to_owned())
            })
        })
}

/// The first line of MPI_Get_library_version.
fn mpi_library() -> String {
    match mpi::environment::library_version() {
        Ok(v) => v.lines().next().unwrap_or_default().trim().to_owned(),
        Err(_) => "unknown (not UTF-8)".to_owned(),
    }
}

/// HEAD of the checkout the run starts in; None outside one, or without git.
fn git_commit() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// "2026-11-27T23:40:00Z".
pub fn utc_timestamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
/// Howard Hinnant's `civil_from_days` (chrono-Compatible Low-Level Date Algorithms).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps() {
        let at = |s| utc_timestamp(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(at(1_798_761_600), "2027-01-01T00:00:00Z");
    }

    #[test]
    fn cpu_models() {
        let x86 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(cpu_model_from(x86).as_deref(), Some("AMD EPYC 7B13"));
        let arm = "processor\t: 0\nBogoMIPS\t: 50.00\n\nModel\t\t: Raspberry Pi 4\n";
        assert_eq!(cpu_model_from(arm).as_deref(), Some("Raspberry Pi 4"));
        assert_eq!(cpu_model_from("processor : 0\n"), None);
    }

    #[test]
    fn os_description_names_the_arch() {
        assert!(os_description().ends_with(std::env::consts::ARCH));
    }
}
