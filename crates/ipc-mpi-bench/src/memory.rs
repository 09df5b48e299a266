//! Resident memory of this process: the peak over a case and the growth over its timed
//! operations (docs/results-schema.md, `memory`), as the Python harness's memory.py
//! measures them.
//!
//! Linux keeps a high-water mark of the resident set (`VmHWM` in `/proc/self/status`)
//! that writing `5` to `/proc/self/clear_refs` resets (Linux >= 4.0). Where the reset is
//! refused, the peak is the process's since it started (`getrusage`), which the record
//! says with `peak_scope: "process"`.

use std::fs;

/// What the next [`peak_rss`] covers: "case" after a reset, else "process".
pub fn reset_peak() -> &'static str {
    match fs::write("/proc/self/clear_refs", "5") {
        Ok(()) => "case",
        Err(_) => "process",
    }
}

/// The resident set now, in bytes; None where /proc does not say.
pub fn rss() -> Option<u64> {
    status_bytes("VmRSS")
}

/// The highest resident set since [`reset_peak`] (or since the process started), in bytes.
pub fn peak_rss() -> u64 {
    status_bytes("VmHWM").unwrap_or_else(max_rss_of_process)
}

/// Growth of the resident set since `before`; None if either end is unknown.
pub fn growth(before: Option<u64>) -> Option<i64> {
    let (before, after) = (before?, rss()?);
    Some(after as i64 - before as i64)
}

fn status_bytes(field: &str) -> Option<u64> {
    status_field(&fs::read_to_string("/proc/self/status").ok()?, field)
}

/// A `kB` line of /proc/self/status, in bytes.
fn status_field(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        let kb: u64 = rest.split_whitespace().next()?.parse().ok()?;
        Some(kb * 1024)
    })
}

fn max_rss_of_process() -> u64 {
    // SAFETY: getrusage only writes the struct we pass, which is plain data that zeroes
    // make a valid value of.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return 0;
        }
        usage
    };
    u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024 // KiB on Linux
}

/// CLOCK_MONOTONIC in nanoseconds: the clock Python's `time.monotonic_ns()` reads, which
/// every process of one machine shares (`Instant` reads it too, but hides the value).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which we own; CLOCK_MONOTONIC always
    // exists on Linux, so it cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kb_fields() {
        let status = "Name:\tx\nVmHWM:\t   13508 kB\nVmRSS:\t  2 kB\n";
        assert_eq!(status_field(status, "VmHWM"), Some(13508 * 1024));
        assert_eq!(status_field(status, "VmRSS"), Some(2048));
        assert_eq!(status_field(status, "VmSwap"), None);
    }

    #[test]
    fn peak_covers_what_is_resident() {
        reset_peak();
        let block = vec![1u8; 8 << 20];
        let now = rss().expect("linux has VmRSS");
        assert!(peak_rss() >= now && now >= 8 << 20, "{now}");
        drop(block);
        let (a, b) = (monotonic_ns(), monotonic_ns());
        assert!(b >= a && a > 0);
    }
}
