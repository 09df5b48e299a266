//! Sleeping on a 32-bit word in shared memory until another process changes it: how
//! readers wait for a new snapshot without polling.

use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::time::{Duration, Instant};

use rustix::thread::futex;

use crate::error::{Error, Result};

/// Calls `ready` until it returns Some, sleeping on `word` in between, for at most
/// `timeout`. The word is loaded before each call to `ready`, so a change that lands
/// between the check and the sleep makes the sleep return at once: no wake-up is lost.
pub fn wait_until<T>(
    word: &AtomicU32,
    timeout: Duration,
    mut ready: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = crate::deadline::after(timeout);
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

/// How one sleep on a store ended.
pub enum WaitOutcome {
    Newer(u64),
    /// The writer closed the store: the caller looks for a successor, or reports it.
    Closed,
    TimedOut,
}

/// Something a reader sleeps on until a version newer than `after` is published (the
/// shared-memory head, LMDB's notify file).
pub trait Notifier {
    fn wait_newer(&self, after: u64, timeout: Duration) -> Result<WaitOutcome>;
}

/// How often a reader looks for a store that does not exist yet, at most.
const ATTACH_POLL_MAX: Duration = Duration::from_millis(50);

/// The `wait_for_update` of the stores that wait on a futex. The notifier is fetched
/// through `notifier`, so that a caller can hold its own lock only while fetching it
/// (the Python bindings wait with neither the GIL nor a lock held); it is None while the
/// store does not exist yet, and there is then nothing to sleep on: the loop checks back
/// with a growing pause.
pub fn wait_for_update_with<N: Notifier>(
    label: &str,
    after: u64,
    timeout: Duration,
    mut notifier: impl FnMut() -> Result<Option<N>>,
) -> Result<u64> {
    let deadline = crate::deadline::after(timeout);
    let mut poll = Duration::from_millis(1);
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match notifier()? {
            Some(n) => match n.wait_newer(after, remaining)? {
                WaitOutcome::Newer(v) => return Ok(v),
                WaitOutcome::Closed => continue, // notifier() reports it, or finds a successor
                WaitOutcome::TimedOut => {}
            },
            None if !remaining.is_zero() => {
                std::thread::sleep(poll.min(remaining));
                poll = (poll * 2).min(ATTACH_POLL_MAX);
            }
            None => {}
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout {
                what: format!("{label}: waiting for a version newer than {after}"),
                after: timeout,
            });
        }
    }
}
