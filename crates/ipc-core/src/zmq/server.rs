//! The writer's control thread: answers readers' version and snapshot requests on a
//! ROUTER socket, and counts the push-mode readers that have said hello.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::wire::{self, Header, Kind};
use super::zmq_error;
use crate::error::{Error, Result};

/// What the control thread shares with the writer.
pub struct WriterState {
    pub incarnation: u64,
    /// The latest snapshot frame (header and blob), served to readers that ask for it.
    latest: Mutex<(u64, Option<Arc<Vec<u8>>>)>,
    hellos: Mutex<HashSet<Vec<u8>>>,
    hello_arrived: Condvar,
}

impl WriterState {
    pub fn new(incarnation: u64) -> Self {
        WriterState {
            incarnation,
            latest: Mutex::new((0, None)),
            hellos: Mutex::new(HashSet::new()),
            hello_arrived: Condvar::new(),
        }
    }

    pub fn set_latest(&self, version: u64, frame: Arc<Vec<u8>>) {
        *self.latest.lock().unwrap_or_else(|e| e.into_inner()) = (version, Some(frame));
    }

    /// Waits until `readers` distinct readers have said hello.
    pub fn wait_for_readers(&self, readers: usize, timeout: Duration, store: &str) -> Result<()> {
        let deadline = crate::deadline::after(timeout);
        let mut hellos = self.hellos.lock().unwrap_or_else(|e| e.into_inner());
        while hellos.len() < readers {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout {
                    what: format!(
                        "{store}: waiting for {readers} readers to connect ({} did)",
                        hellos.len()
                    ),
                    after: timeout,
                });
            }
            hellos = self
                .hello_arrived
                .wait_timeout(hellos, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        Ok(())
    }
}

/// The running control thread; dropping it stops the thread and waits for it.
pub struct Server {
    stop: zmq::Socket,
    thread: Option<JoinHandle<()>>,
}

static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

/// An inproc PAIR of sockets: the way to wake a thread blocked in `zmq::poll`.
pub fn stop_pair(ctx: &zmq::Context) -> Result<(zmq::Socket, zmq::Socket)> {
    let name = format!(
        "inproc://ipcb-stop-{}-{}",
        std::process::id(),
        NEXT_ID.fetch_add(1, Ordering::Relaxed)
    );
    let tx = ctx
        .socket(zmq::PAIR)
        .map_err(zmq_error("creating a PAIR socket"))?;
    tx.bind(&name).map_err(zmq_error("binding a PAIR socket"))?;
    let rx = ctx
        .socket(zmq::PAIR)
        .map_err(zmq_error("creating a PAIR socket"))?;
    rx.connect(&name)
        .map_err(zmq_error("connecting a PAIR socket"))?;
    Ok((tx, rx))
}

impl Server {
    /// Serves on `router` (already bound) until dropped.
    pub fn start(ctx: &zmq::Context, router: zmq::Socket, state: Arc<WriterState>) -> Result<Self> {
        let (stop, stopped) = stop_pair(ctx)?;
        let thread = std::thread::Builder::new()
            .name("ipcb-zmq-server".into())
            .spawn(move || serve(&router, &stopped, &state))
            .map_err(|e| Error::io("starting the ZeroMQ control thread", e))?;
        Ok(Server {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop.send(&b""[..], 0);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(router: &zmq::Socket, stopped: &zmq::Socket, state: &WriterState) {
    loop {
        let mut items = [
            stopped.as_poll_item(zmq::POLLIN),
            router.as_poll_item(zmq::POLLIN),
        ];
        if zmq::poll(&mut items, -1).is_err() || items[0].is_readable() {
            return;
        }
        if !items[1].is_readable() {
            continue;
        }
        let Ok(frames) = router.recv_multipart(zmq::DONTWAIT) else {
            continue;
        };
        // [reader identity, request]; anything else is not from one of our readers.
        let [identity, request] = frames.as_slice() else {
            continue;
        };
        let reply = match request.as_slice() {
            wire::HELLO => {
                let mut hellos = state.hellos.lock().unwrap_or_else(|e| e.into_inner());
                hellos.insert(identity.clone());
                state.hello_arrived.notify_all();
                continue;
            }
            wire::QUERY_VERSION | wire::QUERY_SNAPSHOT => {
                let (version, frame) = state
                    .latest
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                match frame {
                    Some(frame) if request.as_slice() == wire::QUERY_SNAPSHOT => frame,
                    _ => Arc::new(
                        Header {
                            kind: Kind::Version,
                            incarnation: state.incarnation,
                            version,
                        }
                        .to_bytes()
                        .to_vec(),
                    ),
                }
            }
            _ => continue,
        };
        // A reader that vanished meanwhile just misses its answer.
        let _ = router.send(identity.as_slice(), zmq::SNDMORE | zmq::DONTWAIT);
        let _ = router.send(reply.as_slice(), zmq::DONTWAIT);
    }
}
