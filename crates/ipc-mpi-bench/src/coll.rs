//! Collective operations that cannot hang: each is started non-blocking and polled
//! against a deadline, and a wait that runs out aborts the whole job with a message.
//!
//! Aborting is the only way out of a stuck collective: MPI cannot cancel one, and rsmpi
//! aborts the process anyway if a request is dropped before it completes.

use std::thread;
use std::time::{Duration, Instant};

use mpi::collective::{CommunicatorCollectives, Root, SystemOperation};
use mpi::datatype::PartitionMut;
use mpi::request::{scope, Request, Scope};
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::Count;

use crate::partial;

/// How ranks wait for each other.
#[derive(Debug, Clone, Copy)]
pub struct Waiter {
    /// Sleep between polls. When ranks outnumber cores a spinning rank takes the CPU from
    /// the rank it waits for, which then runs later and slower.
    pub idle: bool,
    /// The longest any one wait may take.
    pub timeout: Duration,
}

/// Polls this many times before the first sleep, so that short waits stay short.
const SPIN_POLLS: u32 = 64;
const FIRST_PAUSE: Duration = Duration::from_micros(50);
const MAX_PAUSE: Duration = Duration::from_millis(1);

impl Waiter {
    /// Completes `req`, or aborts the job once `self.timeout` has passed.
    pub fn wait<'a, D: ?Sized, S: Scope<'a>>(
        &self,
        comm: &impl Communicator,
        mut req: Request<'a, D, S>,
        what: &str,
    ) {
        let start = Instant::now();
        let mut polls = 0u32;
        let mut pause = FIRST_PAUSE;
        loop {
            req = match req.test() {
                Ok(_) => return,
                Err(pending) => pending,
            };
            if start.elapsed() > self.timeout {
                // `abort` never returns, so the pending request is never dropped.
                let why = format!(
                    "timed out after {} s waiting for {what}",
                    self.timeout.as_secs_f64()
                );
                partial::save_on_abort(comm.rank() as usize, &why);
                abort(comm, &why, EXIT_TIMEOUT);
            }
            polls = polls.saturating_add(1);
            if !self.idle || polls < SPIN_POLLS {
                std::hint::spin_loop();
            } else {
                thread::sleep(pause);
                pause = (pause * 2).min(MAX_PAUSE);
            }
        }
    }
}

/// Exit statuses of an aborted job, as benchmark_mpi.py uses them.
pub const EXIT_TIMEOUT: i32 = 3;
pub const EXIT_HARNESS_FAILED: i32 = 4;

/// Prints why and ends every rank of the job with `code`.
#[cold]
pub fn abort(comm: &impl Communicator, why: &str, code: i32) -> ! {
    let hint = if code == EXIT_TIMEOUT {
        " (raise --timeout if a step is just slow)"
    } else {
        ""
    };
    eprintln!(
        "ipc-mpi-bench: rank {}: {why}; aborting the job{hint}",
        comm.rank()
    );
    comm.abort(code)
}

/// The harness's own collectives, on a communicator that backends never use.
pub struct Coll {
    comm: SimpleCommunicator,
    waiter: Waiter,
}

impl Coll {
    pub fn new(comm: SimpleCommunicator, waiter: Waiter) -> Self {
        Coll { comm, waiter }
    }

    pub fn rank(&self) -> usize {
        self.comm.rank() as usize
    }

    pub fn size(&self) -> usize {
        self.comm.size() as usize
    }

    pub fn barrier(&self, what: &str) {
        self.waiter
            .wait(&self.comm, self.comm.immediate_barrier(), what);
    }

    /// True on every rank when `ok` is true on every rank.
    pub fn all_ok(&self, ok: bool, what: &str) -> bool {
        let mine = i32::from(ok);
        let mut all = 0i32;
        scope(|s| {
            let req =
                self.comm
                    .immediate_all_reduce_into(s, &mine, &mut all, SystemOperation::min());
            self.waiter.wait(&self.comm, req, what);
        });
        all == 1
    }

    /// Rank 0's value, on every rank.
    pub fn broadcast_u64(&self, value: u64, what: &str) -> u64 {
        let mut v = value;
        scope(|s| {
            let req = self
                .comm
                .process_at_rank(0)
                .immediate_broadcast_into(s, &mut v);
            self.waiter.wait(&self.comm, req, what);
        });
        v
    }

    /// Rank 0's bytes (at most `slot` of them, without trailing NULs), on every rank.
    pub fn broadcast_bytes(&self, bytes: &[u8], slot: usize, what: &str) -> Vec<u8> {
        let mut buf = vec![0u8; slot];
        if self.rank() == 0 {
            let n = bytes.len().min(slot);
            buf[..n].copy_from_slice(&bytes[..n]);
        }
        scope(|s| {
            let req = self
                .comm
                .process_at_rank(0)
                .immediate_broadcast_into(s, &mut buf[..]);
            self.waiter.wait(&self.comm, req, what);
        });
        let end = buf.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        buf.truncate(end);
        buf
    }

    /// Every rank's value, in rank order, on every rank.
    pub fn all_gather_u64(&self, value: u64, what: &str) -> Vec<u64> {
        let mut all = vec![0u64; self.size()];
        scope(|s| {
            let req = self.comm.immediate_all_gather_into(s, &value, &mut all[..]);
            self.waiter.wait(&self.comm, req, what);
        });
        all
    }

    /// Every rank's bytes, in rank order, on rank 0; None elsewhere.
    pub fn gather_bytes(&self, bytes: &[u8], what: &str) -> Result<Option<Vec<Vec<u8>>>, String> {
        let root = self.comm.process_at_rank(0);
        let len = Count::try_from(bytes.len())
            .map_err(|_| format!("{what}: {} bytes is too many to gather", bytes.len()))?;
        if self.rank() != 0 {
            scope(|s| {
                self.waiter
                    .wait(&self.comm, root.immediate_gather_into(s, &len), what)
            });
            scope(|s| {
                let req = root.immediate_gather_varcount_into(s, bytes);
                self.waiter.wait(&self.comm, req, what);
            });
            return Ok(None);
        }
        let mut counts: Vec<Count> = vec![0; self.size()];
        scope(|s| {
            let req = root.immediate_gather_into_root(s, &len, &mut counts[..]);
            self.waiter.wait(&self.comm, req, what);
        });
        let mut displs = Vec::with_capacity(counts.len());
        let mut total: Count = 0;
        for &c in &counts {
            displs.push(total);
            total = total
                .checked_add(c)
                .ok_or_else(|| format!("{what}: more than 2 GiB to gather"))?;
        }
        let mut buf = vec![0u8; total as usize];
        {
            let mut part = PartitionMut::new(&mut buf[..], &counts[..], &displs[..]);
            scope(|s| {
                let req = root.immediate_gather_varcount_into_root(s, bytes, &mut part);
                self.waiter.wait(&self.comm, req, what);
            });
        }
        let parts = counts
            .iter()
            .zip(&displs)
            .map(|(&c, &d)| buf[d as usize..(d + c) as usize].to_vec())
            .collect();
        Ok(Some(parts))
    }
}
