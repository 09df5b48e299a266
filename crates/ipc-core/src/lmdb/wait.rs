//! Waiting for a newer snapshot: on the notify file's futex, checking the version in a
//! read transaction, so that no commit is missed and no core is kept busy.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::env::SharedEnv;
use super::notify::Notify;
use super::read;
use crate::error::{Error, Result};

/// How often a reader looks for a store that does not exist yet, at most.
const ATTACH_POLL_MAX: Duration = Duration::from_millis(50);

/// What a reader waits on: the notify file's futex, and the database to check the
/// version in. Holds no lock of the store, so a binding can wait with none held.
#[derive(Clone)]
pub struct Waiter {
    pub(super) label: String,
    pub(super) notify: Arc<Notify>,
    pub(super) env: Arc<SharedEnv>,
}

pub enum WaitOutcome {
    Newer(u64),
    Closed,
    TimedOut,
}

impl Waiter {
    /// Sleeps until the version exceeds `after`, the store is removed, or `timeout`.
    pub fn wait_newer(&self, after: u64, timeout: Duration) -> Result<WaitOutcome> {
        let label = &self.label;
        let outcome = self.notify.wait_until(timeout, || {
            if self.notify.is_closed() {
                return Some(Ok(WaitOutcome::Closed));
            }
            let version = self.env.read(label, |txn, db| {
                Ok::<_, Error>(read::meta(label, txn, db)?.map_or(0, |(m, _)| m.version))
            });
            match version {
                Ok(v) if v > after => Some(Ok(WaitOutcome::Newer(v))),
                Ok(_) => None,
                Err(Error::Closed { .. }) => Some(Ok(WaitOutcome::Closed)),
                Err(e) => Some(Err(e)),
            }
        });
        outcome.unwrap_or(Ok(WaitOutcome::TimedOut))
    }
}

/// The waiting loop of [`LmdbStore::wait_for_update`], with the waiter obtained through
/// `waiter` so that a caller can hold its own lock only while fetching it (the Python
/// binding waits with neither the GIL nor its lock held).
pub fn wait_for_update_with(
    label: &str,
    after: u64,
    timeout: Duration,
    mut waiter: impl FnMut() -> Result<Option<Waiter>>,
) -> Result<u64> {
    let deadline = Instant::now() + timeout;
    let mut poll = Duration::from_millis(1);
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match waiter()? {
            Some(w) => match w.wait_newer(after, remaining)? {
                WaitOutcome::Newer(v) => return Ok(v),
                WaitOutcome::Closed => continue, // waiter() reports it, or finds a successor
                WaitOutcome::TimedOut => {}
            },
            None if !remaining.is_zero() => {
                // No store yet: nothing to sleep on, so check back with a growing pause.
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
