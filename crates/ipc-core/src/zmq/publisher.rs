//! The writer, in both modes: PUB (every reader keeps the latest snapshot) or PUSH (the
//! original design: one message per read).

use std::fs::File;
use std::sync::Arc;
use std::time::Duration;

use super::endpoint::Endpoints;
use super::server::{Server, WriterState};
use super::shared::SharedMsg;
use super::{context, wire, zmq_error, Mode};
use crate::error::{Error, Result};

/// Snapshots queued per subscriber before PUB drops newer ones for that subscriber. Small,
/// so a slow reader costs bounded memory; it catches up by asking for the latest snapshot.
const PUB_HWM: i32 = 4;

pub struct Publisher {
    store: String,
    mode: Mode,
    endpoints: Endpoints,
    data: zmq::Socket,
    state: Arc<WriterState>,
    _server: Server,
    _lock: Option<File>,
    version: u64,
    /// Push mode: (readers, messages per write) set by `expect_reads`.
    expected: Option<(usize, usize)>,
    timeout: Duration,
}

/// The writer's sockets, bound, and the server answering the control socket.
fn open_sockets(
    label: &str,
    store: &str,
    endpoints: &Endpoints,
    mode: Mode,
    timeout: Duration,
) -> Result<(zmq::Socket, Arc<WriterState>, Server)> {
    let ctx = context();
    let data = ctx
        .socket(if mode == Mode::Push {
            zmq::PUSH
        } else {
            zmq::PUB
        })
        .map_err(zmq_error("creating the data socket"))?;
    data.set_linger(0)
        .map_err(zmq_error("configuring the data socket"))?;
    if mode == Mode::PubSub {
        data.set_sndhwm(PUB_HWM)
            .map_err(zmq_error("configuring the data socket"))?;
    } else {
        // No high-water mark: PUSH then deals strictly round-robin, so each reader gets
        // exactly its share of readers × reads_each messages. The queue is bounded by
        // that count, which the harness sets. Sends still time out rather than block
        // forever should the readers' side stall.
        data.set_sndhwm(0)
            .map_err(zmq_error("configuring the data socket"))?;
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        data.set_sndtimeo(ms)
            .map_err(zmq_error("configuring the data socket"))?;
    }
    bind(&data, &endpoints.data, label, store)?;
    let router = ctx
        .socket(zmq::ROUTER)
        .map_err(zmq_error("creating the control socket"))?;
    router
        .set_linger(0)
        .map_err(zmq_error("configuring the control socket"))?;
    bind(&router, &endpoints.control, label, store)?;
    endpoints.restrict()?;
    let state = Arc::new(WriterState::new(crate::names::random_id()));
    let server = Server::start(&ctx, router, state.clone())?;
    Ok((data, state, server))
}

impl Publisher {
    pub fn bind(store: &str, endpoints: Endpoints, mode: Mode, timeout: Duration) -> Result<Self> {
        let label = format!("zeromq store {store:?} at {}", endpoints.describe());
        let lock = endpoints.claim(store)?;
        let (data, state, server) = match open_sockets(&label, store, &endpoints, mode, timeout) {
            Ok(parts) => parts,
            Err(e) => {
                // The directory is ours (we hold its lock): leave nothing behind. The
                // original error says more than a failure to clean up would.
                let _ = endpoints.remove();
                return Err(e);
            }
        };
        Ok(Publisher {
            store: label,
            mode,
            endpoints,
            data,
            state,
            _server: server,
            _lock: lock,
            version: 0,
            expected: None,
            timeout,
        })
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn expect_reads(&mut self, readers: usize, reads_each: usize) {
        self.expected = Some((readers, reads_each));
    }

    /// Publishes `blob`: once on PUB; in push mode, once per expected read, after every
    /// expected reader has connected.
    pub fn publish(&mut self, blob: &[u8]) -> Result<u64> {
        let version = self.version + 1;
        let frame = Arc::new(wire::snapshot_frame(self.state.incarnation, version, blob));
        self.state.set_latest(version, frame.clone());
        let copies = match (self.mode, self.expected) {
            (Mode::PubSub, _) => 1,
            (Mode::Push, None) => 1,
            (Mode::Push, Some((readers, reads_each))) => {
                self.state
                    .wait_for_readers(readers, self.timeout, &self.store)?;
                // expect_reads refused a product that overflows.
                readers.saturating_mul(reads_each)
            }
        };
        // One buffer for every copy: the writer pays for the encoding once, not per read.
        let mut msg = SharedMsg::new(frame);
        for sent in 0..copies {
            if let Err(e) = msg.send(&mut self.data, 0) {
                return Err(if e == zmq::Error::EAGAIN {
                    Error::Timeout {
                        what: format!("{}: sending message {} of {copies}", self.store, sent + 1),
                        after: self.timeout,
                    }
                } else {
                    zmq_error("sending a snapshot")(e)
                });
            }
        }
        self.version = version;
        Ok(version)
    }

    /// Stops serving and removes the socket files, then gives up the writer's lock (in
    /// that order, so that a new writer never has its files removed by this one).
    pub fn close(self) -> Result<()> {
        let Publisher {
            data,
            _server,
            _lock,
            endpoints,
            ..
        } = self;
        drop(data);
        drop(_server);
        let removed = endpoints.remove();
        drop(_lock);
        removed
    }

    /// In a forked child: closes only this process's copy of the lock file (the owner
    /// keeps its lock) and leaks the sockets and the server, which belong to the owner.
    pub fn abandon(self) {
        let Publisher {
            data,
            _server,
            _lock,
            ..
        } = self;
        drop(_lock);
        crate::process::abandon((data, _server));
    }
}

fn bind(socket: &zmq::Socket, endpoint: &str, label: &str, store: &str) -> Result<()> {
    socket.bind(endpoint).map_err(|e| {
        if e == zmq::Error::EADDRINUSE {
            Error::WriterExists {
                store: format!("zeromq store {store:?} ({endpoint} is in use)"),
                pid: None,
            }
        } else {
            zmq_error(&format!("{label}: binding {endpoint}"))(e)
        }
    })
}
