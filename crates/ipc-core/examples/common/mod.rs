//! What the measuring examples share: their command line and their statistics.

// Each example uses a part of this module.
#![allow(dead_code)]

/// The positive numbers given on the command line (`what` they are, for the message),
/// or `default` when none are given. Anything else ends the program with status 2.
pub fn args_or(default: &[usize], what: &str) -> Vec<usize> {
    let given: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| match a.parse() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("{what} must be positive whole numbers, got {a:?}");
                std::process::exit(2);
            }
        })
        .collect();
    if given.is_empty() {
        default.to_vec()
    } else {
        given
    }
}

/// The value at fraction `p` (0 to 1) of `sorted`, which must not be empty: the nearest
/// rank, not interpolated (so not quite Python's `statistics.quantiles`).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    debug_assert!((0.0..=1.0).contains(&p));
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}
