//! Waiting for a newer snapshot: on the notify file's futex, checking the version in a
//! read transaction, so that no commit is missed and no core is kept busy.

use std::sync::Arc;
use std::time::Duration;

use super::env::SharedEnv;
use super::notify::Notify;
use super::read;
use crate::error::{Error, Result};
use crate::futex::{Notifier, WaitOutcome};

/// What a reader waits on: the notify file's futex, and the database to check the
/// version in. Holds no lock of the store, so a binding can wait with none held.
#[derive(Clone)]
pub struct Waiter {
    pub(super) label: String,
    pub(super) notify: Arc<Notify>,
    pub(super) env: Arc<SharedEnv>,
}

impl Notifier for Waiter {
    /// Sleeps until the version exceeds `after`, the store is removed, or `timeout`.
    fn wait_newer(&self, after: u64, timeout: Duration) -> Result<WaitOutcome> {
        let label = &self.label;
        let outcome = self.notify.wait_until(timeout, || {
            if self.notify.is_closed() {
                return Some(Ok(WaitOutcome::Closed));
            }
            let version = self.env.read(label, |txn, dbs| {
                Ok::<_, Error>(read::meta(label, txn, dbs)?.map_or(0, |m| m.id.version))
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
