//! Sleeping on a 32-bit word in shared memory until another process changes it: how
//! readers wait for a new snapshot without polling.

use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::time::{Duration, Instant};

use rustix::thread::futex;

/// Calls `ready` until it returns Some, sleeping on `word` in between, for at most
/// `timeout`. The word is loaded before each call to `ready`, so a change that lands
/// between the check and the sleep makes the sleep return at once: no wake-up is lost.
pub fn wait_until<T>(
    word: &AtomicU32,
    timeout: Duration,
    mut ready: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        let seen = word.load(Acquire);
        if let Some(v) = ready() {
            return Some(v);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        let ts = futex::Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        // Shared (not PRIVATE): the waker is another process. EAGAIN (the word moved),
        // EINTR and ETIMEDOUT all mean the same here: look again.
        let _ = futex::wait(word, futex::Flags::empty(), seen, Some(&ts));
    }
}

/// Changes `word` and wakes every process sleeping on it.
pub fn wake_all(word: &AtomicU32) {
    word.fetch_add(1, Release);
    let _ = futex::wake(word, futex::Flags::empty(), i32::MAX as u32);
}
