//! Waiting without the GIL, yet still answering Ctrl-C.

use std::time::{Duration, Instant};

use ipc_core::deadline::FOREVER;
use ipc_core::Error;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors::CoreError;

/// Longest stretch spent waiting without checking for signals (Ctrl-C).
const SLICE: Duration = Duration::from_millis(100);

/// A timeout argument from Python, in seconds. Any length is taken, infinity included: a
/// timeout beyond [`FOREVER`] waits for ever.
pub fn timeout_arg(seconds: f64) -> PyResult<Duration> {
    if seconds.is_nan() || seconds < 0.0 {
        return Err(PyValueError::new_err(format!(
            "timeout must be a non-negative number of seconds, got {seconds}"
        )));
    }
    Ok(Duration::try_from_secs_f64(seconds).map_or(FOREVER, |d| d.min(FOREVER)))
}

/// Runs `wait_for(slice)` with the GIL released, in slices of at most 100 ms, checking
/// for signals in between, until it returns something other than a timeout or `timeout`
/// has passed in total.
pub fn interruptible<T: Send>(
    py: Python<'_>,
    timeout: Duration,
    mut wait_for: impl FnMut(Duration) -> ipc_core::Result<T> + Send,
) -> PyResult<T> {
    let deadline = ipc_core::deadline::after(timeout);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match py.detach(|| wait_for(left.min(SLICE))) {
            Err(Error::Timeout { what, .. }) => {
                if Instant::now() >= deadline {
                    // Report the caller's timeout, not the last slice's.
                    let e = Error::Timeout {
                        what,
                        after: timeout,
                    };
                    return Err(CoreError::from(e).into());
                }
                py.check_signals()?;
            }
            other => return other.map_err(|e| CoreError::from(e).into()),
        }
    }
}
