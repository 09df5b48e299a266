//! Deadlines from timeouts that users choose, which may be as long as they like.

use std::time::{Duration, Instant};

/// About 34 years: longer than any process waits, far from where `Instant` arithmetic
/// overflows. A longer timeout is taken as this one, that is, as "wait for ever".
pub const FOREVER: Duration = Duration::from_secs(1 << 30);

/// The instant `timeout` from now. Never panics: `Instant + Duration` does on overflow,
/// which a timeout of 1e19 s reached.
pub fn after(timeout: Duration) -> Instant {
    Instant::now() + timeout.min(FOREVER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_timeouts_mean_for_ever() {
        let far = after(Duration::MAX);
        assert!(far > Instant::now() + Duration::from_secs(1 << 29));
        let near = after(Duration::from_millis(5));
        assert!(near < Instant::now() + Duration::from_secs(1));
    }
}
