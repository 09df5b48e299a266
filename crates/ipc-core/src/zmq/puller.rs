//! A push-mode reader: the original design, where every read takes the next message.

use std::collections::VecDeque;
use std::time::Duration;

use super::endpoint::Endpoints;
use super::wire::{self, Header, Kind};
use super::{context, control_dealer, zmq_error, Frame};
use crate::error::{Error, Result};
use crate::trust::Trust;

pub struct Puller {
    store: String,
    pull: zmq::Socket,
    _dealer: zmq::Socket,
    version: u64,
    timeout: Duration,
    /// The writer run whose sockets were last checked, and what checks them.
    incarnation: u64,
    endpoints: Endpoints,
    trust: Trust,
    /// Messages taken ahead of their reads (see [`Puller::take_ahead`]), oldest first.
    ahead: VecDeque<Frame>,
}

impl Puller {
    pub fn connect(
        store: &str,
        endpoints: &Endpoints,
        timeout: Duration,
        trust: Trust,
    ) -> Result<Self> {
        endpoints.verify(trust)?;
        let ctx = context();
        let pull = ctx
            .socket(zmq::PULL)
            .map_err(zmq_error("creating a PULL socket"))?;
        pull.set_linger(0)
            .map_err(zmq_error("configuring a PULL socket"))?;
        // Unlimited, as on the writer's side: see Publisher::bind.
        pull.set_rcvhwm(0)
            .map_err(zmq_error("configuring a PULL socket"))?;
        pull.connect(&endpoints.data)
            .map_err(zmq_error(&format!("connecting to {}", endpoints.data)))?;
        // Say hello on the control socket, so the writer can wait until every reader is
        // connected before it sends (otherwise the first reader gets all the messages).
        // The hello is the only message: the default high-water mark (1000) is plenty.
        let dealer = control_dealer(&ctx, endpoints, 1000)?;
        dealer
            .send(wire::HELLO, zmq::DONTWAIT)
            .map_err(zmq_error("greeting the writer"))?;
        Ok(Puller {
            store: format!(
                "zeromq store {store:?} at {} (push mode)",
                endpoints.describe()
            ),
            pull,
            _dealer: dealer,
            version: 0,
            timeout,
            incarnation: 0,
            endpoints: endpoints.clone(),
            trust,
            ahead: VecDeque::new(),
        })
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    /// The next message: one taken ahead, or else the next to arrive (see `receive`).
    pub fn take(&mut self) -> Result<Frame> {
        match self.ahead.pop_front() {
            Some(frame) => Ok(frame),
            None => self.receive(),
        }
    }

    /// Waits for the next message now and keeps it for the next `take`: a caller can
    /// wait here without its other locks (the GIL), then take it while holding them.
    pub fn take_ahead(&mut self) -> Result<()> {
        let frame = self.receive()?;
        self.ahead.push_back(frame);
        Ok(())
    }

    /// Receives the next message, waiting up to the store's timeout for it.
    fn receive(&mut self) -> Result<Frame> {
        let deadline = crate::deadline::after(self.timeout);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if self
                .pull
                .poll(zmq::POLLIN, left.as_millis() as i64)
                .map_err(zmq_error("polling"))?
                == 0
            {
                return Err(Error::Timeout {
                    what: format!("{}: waiting for the next message", self.store),
                    after: self.timeout,
                });
            }
            let msg = self.pull.recv_msg(0).map_err(zmq_error("receiving"))?;
            match Header::parse(&msg) {
                Some(h) if h.kind == Kind::Snapshot => {
                    if h.incarnation != self.incarnation {
                        // A new writer run: check its sockets before reading from it.
                        self.endpoints.verify(self.trust)?;
                        self.incarnation = h.incarnation;
                    }
                    self.version = h.version;
                    return Ok(Frame::new(msg, h));
                }
                _ => continue, // not one of ours
            }
        }
    }
}
