//! A pubsub reader: a background thread receives snapshots (without the GIL, in Python)
//! and keeps the newest; `latest()` hands it out without copying.
//!
//! The thread follows the clone pattern of the ZeroMQ guide: subscribe, then ask the
//! writer's control socket for the current snapshot (late joiners get it at once), and
//! keep asking for the writer's version every QUERY_INTERVAL. That query is also how a
//! reader catches up if PUB dropped a snapshot for it (its queue is kept short), and how
//! it notices that the writer is gone.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::endpoint::Endpoints;
use super::server::stop_pair;
use super::wire::{self, Header, Kind};
use super::{context, control_dealer, zmq_error, Frame};
use crate::error::{Error, Result};
use crate::futex::{Notifier, WaitOutcome};
use crate::trust::{Trust, Untrusted};

const QUERY_INTERVAL: Duration = Duration::from_millis(200);
/// No answer from the writer for this long: the snapshot may be stale.
pub const STALE_AFTER: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Latest {
    frame: Option<Frame>,
    incarnation: u64,
    writer_version: u64,
    /// Added to the writer's versions, so that the version this reader reports keeps
    /// growing when a restarted writer counts from 1 again.
    offset: u64,
    last_contact: Option<Instant>,
    /// Set if the thread died; reported by every later call.
    failure: Option<String>,
    /// Set while the latest writer run speaks through sockets this reader does not trust;
    /// its snapshots are dropped, and every call reports this.
    untrusted: Option<Untrusted>,
}

impl Latest {
    fn version(&self) -> u64 {
        self.offset + self.writer_version
    }
}

struct Shared {
    latest: Mutex<Latest>,
    changed: Condvar,
    /// Checked again whenever a new writer run first sends a snapshot.
    endpoints: Endpoints,
    trust: Trust,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Latest> {
        self.latest.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct Subscriber {
    store: String,
    shared: Arc<Shared>,
    stop: zmq::Socket,
    thread: Option<JoinHandle<()>>,
}

impl Subscriber {
    pub fn connect(store: &str, endpoints: &Endpoints, trust: Trust) -> Result<Self> {
        endpoints.verify(trust)?;
        let ctx = context();
        let sub = ctx
            .socket(zmq::SUB)
            .map_err(zmq_error("creating a SUB socket"))?;
        // Only the newest snapshot waits in the queue: memory stays bounded however far
        // behind the reader is, and nothing newer is ever dropped in favour of older.
        sub.set_conflate(true)
            .map_err(zmq_error("configuring a SUB socket"))?;
        sub.set_linger(0)
            .map_err(zmq_error("configuring a SUB socket"))?;
        sub.set_subscribe(b"").map_err(zmq_error("subscribing"))?;
        sub.connect(&endpoints.data)
            .map_err(zmq_error(&format!("connecting to {}", endpoints.data)))?;
        // At most two requests wait for a writer that is not there (yet); later ones are
        // dropped, and the periodic query asks again anyway.
        let dealer = control_dealer(&ctx, endpoints, 2)?;
        let shared = Arc::new(Shared {
            latest: Mutex::new(Latest::default()),
            changed: Condvar::new(),
            endpoints: endpoints.clone(),
            trust,
        });
        let (stop, stopped) = stop_pair(&ctx)?;
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("ipcb-zmq-sub".into())
            .spawn(move || receive(&sub, &dealer, &stopped, &thread_shared))
            .map_err(|e| Error::io("starting the ZeroMQ receiver thread", e))?;
        Ok(Subscriber {
            store: format!("zeromq store {store:?} at {}", endpoints.describe()),
            shared,
            stop,
            thread: Some(thread),
        })
    }

    fn check(&self, latest: &Latest) -> Result<()> {
        check(&self.store, latest)
    }

    /// The newest snapshot received, or None before the first.
    pub fn latest(&self) -> Result<Option<Frame>> {
        let latest = self.shared.lock();
        self.check(&latest)?;
        Ok(latest.frame.clone())
    }

    pub fn version(&self) -> Result<u64> {
        let latest = self.shared.lock();
        self.check(&latest)?;
        Ok(latest.version())
    }

    /// True when the writer has not been heard from for [`STALE_AFTER`] (or ever).
    pub fn is_stale(&self) -> bool {
        self.shared
            .lock()
            .last_contact
            .is_none_or(|t| t.elapsed() > STALE_AFTER)
    }

    pub fn wait_for_update(&self, after: u64, timeout: Duration) -> Result<u64> {
        self.waiter().wait(after, timeout)
    }

    /// What a wait sleeps on, apart from the store (see [`crate::store::Store::waiter`]).
    pub fn waiter(&self) -> Waiter {
        Waiter {
            store: self.store.clone(),
            shared: self.shared.clone(),
        }
    }
}

fn check(store: &str, latest: &Latest) -> Result<()> {
    if let Some(refused) = &latest.untrusted {
        return Err(Error::Untrusted(refused.clone()));
    }
    match &latest.failure {
        Some(why) => Err(Error::io(
            format!("{store}: receiver stopped: {why}"),
            std::io::ErrorKind::Other,
        )),
        None => Ok(()),
    }
}

/// A pubsub reader's wait: on the condition variable its thread signals.
pub struct Waiter {
    store: String,
    shared: Arc<Shared>,
}

impl Waiter {
    fn wait(&self, after: u64, timeout: Duration) -> Result<u64> {
        let deadline = crate::deadline::after(timeout);
        let mut latest = self.shared.lock();
        loop {
            check(&self.store, &latest)?;
            if latest.version() > after {
                return Ok(latest.version());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let heard = match latest.last_contact {
                    Some(t) => format!(
                        "last heard from the writer {:.1} s ago",
                        t.elapsed().as_secs_f64()
                    ),
                    None => "the writer has not been heard from".to_owned(),
                };
                return Err(Error::Timeout {
                    what: format!(
                        "{}: waiting for a version newer than {after} ({heard})",
                        self.store
                    ),
                    after: timeout,
                });
            }
            latest = self
                .shared
                .changed
                .wait_timeout(latest, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Notifier for Waiter {
    /// Its own timeout is an error that says when the writer was last heard from.
    fn wait_newer(&self, after: u64, timeout: Duration) -> Result<WaitOutcome> {
        self.wait(after, timeout).map(WaitOutcome::Newer)
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.stop.send(&b""[..], 0);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The receiver thread's loop.
fn receive(sub: &zmq::Socket, dealer: &zmq::Socket, stopped: &zmq::Socket, shared: &Shared) {
    if let Err(e) = run(sub, dealer, stopped, shared) {
        shared.lock().failure = Some(e.to_string());
        shared.changed.notify_all();
    }
}

fn run(
    sub: &zmq::Socket,
    dealer: &zmq::Socket,
    stopped: &zmq::Socket,
    shared: &Shared,
) -> zmq::Result<()> {
    let _ = dealer.send(wire::QUERY_SNAPSHOT, zmq::DONTWAIT);
    let mut next_query = Instant::now() + QUERY_INTERVAL;
    loop {
        let wait = next_query.saturating_duration_since(Instant::now());
        let mut items = [
            stopped.as_poll_item(zmq::POLLIN),
            sub.as_poll_item(zmq::POLLIN),
            dealer.as_poll_item(zmq::POLLIN),
        ];
        zmq::poll(&mut items, wait.as_millis() as i64)?;
        if items[0].is_readable() {
            return Ok(());
        }
        if items[1].is_readable() {
            if let Ok(msg) = sub.recv_msg(zmq::DONTWAIT) {
                accept(shared, msg);
            }
        }
        if items[2].is_readable() {
            if let Ok(msg) = dealer.recv_msg(zmq::DONTWAIT) {
                if let Some(header) = Header::parse(&msg) {
                    if header.kind == Kind::Version {
                        let mut latest = shared.lock();
                        latest.last_contact = Some(Instant::now());
                        let behind = header.incarnation != latest.incarnation
                            || header.version > latest.writer_version;
                        drop(latest);
                        if behind && header.version > 0 {
                            let _ = dealer.send(wire::QUERY_SNAPSHOT, zmq::DONTWAIT);
                        }
                    } else {
                        accept(shared, msg);
                    }
                }
            }
        }
        if Instant::now() >= next_query {
            let _ = dealer.send(wire::QUERY_VERSION, zmq::DONTWAIT);
            next_query = Instant::now() + QUERY_INTERVAL;
        }
    }
}

/// Keeps `msg` if it is a snapshot newer than the one held.
fn accept(shared: &Shared, msg: zmq::Message) {
    let Some(header) = Header::parse(&msg) else {
        return; // not ours: ignore, as a socket may carry anything
    };
    let mut latest = shared.lock();
    latest.last_contact = Some(Instant::now());
    if header.kind != Kind::Snapshot {
        return;
    }
    if header.incarnation != latest.incarnation {
        // A new writer run: its sockets may be new too, so check them again before
        // taking anything from it (the check sees the files, not the peer: see
        // docs/design.md, "Who may touch a store").
        match shared.endpoints.verify(shared.trust) {
            Err(Error::Untrusted(refused)) => {
                latest.untrusted = Some(refused);
                drop(latest);
                shared.changed.notify_all();
                return;
            }
            // Anything else (a file gone meanwhile) is not a refusal.
            _ => latest.untrusted = None,
        }
        // Its versions count from 1 again.
        latest.offset = latest.version();
        latest.incarnation = header.incarnation;
        latest.writer_version = 0;
    }
    if header.version <= latest.writer_version {
        return;
    }
    latest.writer_version = header.version;
    latest.frame = Some(Frame::new(msg, header));
    drop(latest);
    shared.changed.notify_all();
}
