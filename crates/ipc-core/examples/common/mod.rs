//! What the measuring examples share: their command line and their statistics.

// Each example uses a part of this module.
#![allow(dead_code)]

/// The numbers given on the command line (`what` they are, for the error), or `default`.
pub fn args_or(default: &[usize], what: &str) -> Vec<usize> {
    let given: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| {
            a.parse()
                .unwrap_or_else(|_| panic!("{what}: not a number: {a:?}"))
        })
        .collect();
    if given.is_empty() {
        default.to_vec()
    } else {
        given
    }
}

/// The value at fraction `p` (0 to 1) of `sorted`, which must not be empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}
