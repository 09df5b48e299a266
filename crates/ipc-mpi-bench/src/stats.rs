//! Summary statistics of timing samples, as docs/results-schema.md defines them.

use serde::Serialize;

/// The `write` / `read` block of a result record. Times in seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    /// Population standard deviation (divides by n, not n - 1).
    pub std: f64,
    pub p90: f64,
    pub p99: f64,
    /// Every sample, in the order taken, so that nothing is lost to the summary.
    pub samples: Vec<f64>,
}

impl Stats {
    /// None for no samples: a block with nothing measured is `null` in the JSON.
    pub fn of(samples: Vec<f64>) -> Option<Stats> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let mean = sorted.iter().sum::<f64>() / n as f64;
        let var = sorted.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        Some(Stats {
            median: median(&sorted),
            min: sorted[0],
            max: sorted[n - 1],
            mean,
            std: var.sqrt(),
            p90: nearest_rank(&sorted, 90.0),
            p99: nearest_rank(&sorted, 99.0),
            samples,
        })
    }
}

/// The usual median of sorted samples (Python's statistics.median): the mean of the two
/// middle samples when n is even.
pub fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// The nearest-rank percentile: the smallest sample with at least `p` percent of the
/// samples at or below it. It is always a sample that was actually observed.
pub fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_has_no_stats() {
        assert_eq!(Stats::of(vec![]), None);
    }

    #[test]
    fn one_sample() {
        let s = Stats::of(vec![2.5]).expect("stats");
        assert_eq!(
            (s.median, s.min, s.max, s.mean, s.std),
            (2.5, 2.5, 2.5, 2.5, 0.0)
        );
        assert_eq!((s.p90, s.p99), (2.5, 2.5));
    }

    #[test]
    fn median_of_even_count_is_the_middle_mean() {
        let s = Stats::of(vec![4.0, 1.0, 3.0, 2.0]).expect("stats");
        assert_eq!(s.median, 2.5);
        assert_eq!((s.min, s.max), (1.0, 4.0));
        // Samples keep their order.
        assert_eq!(s.samples, vec![4.0, 1.0, 3.0, 2.0]);
    }

    #[test]
    fn population_std() {
        let s = Stats::of(vec![2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).expect("stats");
        assert_eq!(s.mean, 5.0);
        assert_eq!(s.std, 2.0);
    }

    #[test]
    fn nearest_rank_percentiles() {
        // 1..=100: p90 is the 90th value, p99 the 99th.
        let s = Stats::of((1..=100).map(f64::from).collect()).expect("stats");
        assert_eq!((s.p90, s.p99), (90.0, 99.0));
        // 1..=10: ceil(0.9 * 10) = 9th, ceil(0.99 * 10) = 10th.
        let s = Stats::of((1..=10).map(f64::from).collect()).expect("stats");
        assert_eq!((s.p90, s.p99), (9.0, 10.0));
        // 1..=101: ceil(90.9) = 91st, ceil(99.99) = 100th.
        let s = Stats::of((1..=101).map(f64::from).collect()).expect("stats");
        assert_eq!((s.p90, s.p99), (91.0, 100.0));
    }
}
