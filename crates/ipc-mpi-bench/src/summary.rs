//! The table rank 0 prints at the end, for a person at the terminal.

use crate::results::Record;

pub fn table(records: &[Record]) -> String {
    let mut out = format!(
        "{:<12} {:>14} {:>7} {:>12} {:>12} {:>12} {:>12} {:>12} {:>10}  {}\n",
        "backend",
        "size",
        "readers",
        "write med",
        "read med",
        "read p99",
        "reads/s",
        "update med",
        "peak MB",
        "status"
    );
    for r in records {
        let (read_med, read_p99) = r
            .read
            .as_ref()
            .map_or((None, None), |s| (Some(s.median), Some(s.p99)));
        // The largest reader's peak resident set.
        let peak = r
            .memory
            .as_ref()
            .and_then(|m| m.readers.iter().map(|m| m.peak_rss).max())
            .map_or("-".to_owned(), |b| format!("{:.1}", b as f64 / 1e6));
        out.push_str(&format!(
            "{:<12} {:>14} {:>7} {:>12} {:>12} {:>12} {:>12} {:>12} {:>10}  {}\n",
            r.backend,
            format!("{} {}", r.data_size, r.size_unit),
            r.readers,
            seconds(r.write_time),
            seconds(read_med),
            seconds(read_p99),
            r.aggregate_reads_per_s
                .map_or("-".to_owned(), |x| format!("{x:.0}")),
            seconds(r.update_latency.as_ref().map(|u| u.median)),
            peak,
            r.error
                .as_deref()
                .map_or(r.status.clone(), |e| format!("{}: {e}", r.status)),
        ));
    }
    // The copy baseline of the training payload: the first record of each size has it.
    let mut copies: Vec<String> = Vec::new();
    for r in records {
        let size = format!("{} {}", r.data_size, r.size_unit);
        if let Some(m) = &r.memcpy {
            if !copies.iter().any(|c| c.starts_with(&format!("{size} "))) {
                copies.push(format!("{size} {}", seconds(Some(m.median))));
            }
        }
    }
    if !copies.is_empty() {
        out.push_str(&format!(
            "One copy of the weights into fresh memory (memcpy, median of the writer's): {}\n",
            copies.join(", ")
        ));
    }
    out
}

/// Seconds with a unit a person reads at a glance.
fn seconds(t: Option<f64>) -> String {
    match t {
        None => "-".to_owned(),
        Some(t) if t < 1e-3 => format!("{:.1} us", t * 1e6),
        Some(t) if t < 1.0 => format!("{:.2} ms", t * 1e3),
        Some(t) => format!("{t:.2} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(seconds(None), "-");
        assert_eq!(seconds(Some(2.5e-6)), "2.5 us");
        assert_eq!(seconds(Some(0.0123)), "12.30 ms");
        assert_eq!(seconds(Some(3.0)), "3.00 s");
    }
}
