//! A ZeroMQ dictionary, in two modes.
//!
//! * [`Mode::PubSub`] (the default): the writer publishes each snapshot once; every reader
//!   keeps the newest in a background thread, and a late joiner is sent the current one.
//! * [`Mode::Push`]: the original benchmark's design, kept for comparison: PUSH/PULL, one
//!   message per read, so the writer sends readers × reads copies (of one encoding).
//!
//! docs/design.md describes the protocol.

mod endpoint;
mod publisher;
mod puller;
mod server;
mod shared;
mod subscriber;
mod wire;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

pub use endpoint::Endpoints;
pub use subscriber::{Waiter, STALE_AFTER};

use crate::codec::KeyRef;
use crate::error::{Error, Result};
use crate::names;
use crate::process::{self, Owner};
use crate::store::{self, HeldBlob, ReadError, SinkOf, SnapshotId, Store};
use crate::trust::Trust;
use publisher::Publisher;
use puller::Puller;
use subscriber::Subscriber;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    PubSub,
    Push,
}

impl Mode {
    pub fn parse(s: &str) -> Result<Mode> {
        match s {
            "pubsub" => Ok(Mode::PubSub),
            "push" => Ok(Mode::Push),
            other => Err(Error::Usage(format!(
                "mode must be \"pubsub\" or \"push\", got {other:?}"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::PubSub => "pubsub",
            Mode::Push => "push",
        }
    }
}

/// How [`Store::open`] opens a store: see [`ZmqStore::bind`] and
/// [`ZmqStore::connect_trusting`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub mode: Mode,
    /// None: an ipc endpoint of the store's name (see [`Endpoints::resolve`]).
    pub endpoint: Option<String>,
    pub timeout: Duration,
    /// A reader's: another owner whose sockets it reads (see [`crate::trust`]).
    pub trust: Trust,
}

/// A received snapshot: the message as it arrived, shared without copying.
#[derive(Clone)]
pub struct Frame {
    msg: Arc<zmq::Message>,
    incarnation: u64,
    version: u64,
}

impl Frame {
    fn new(msg: zmq::Message, header: wire::Header) -> Self {
        Frame {
            msg: Arc::new(msg),
            incarnation: header.incarnation,
            version: header.version,
        }
    }

    /// The encoded blob (see docs/format.md).
    pub fn blob(&self) -> &[u8] {
        &self.msg[wire::HEADER_LEN..]
    }

    /// (writer run, writer's version): names this snapshot uniquely.
    pub fn id(&self) -> SnapshotId {
        SnapshotId {
            incarnation: self.incarnation,
            version: self.version,
        }
    }
}

/// A held ZeroMQ snapshot is the received message: libzmq never reuses a message's
/// buffer while a reference to it lives.
impl HeldBlob for Frame {
    fn id(&self) -> SnapshotId {
        Frame::id(self)
    }

    fn blob(&self) -> &[u8] {
        Frame::blob(self)
    }
}

/// One process's end of a store.
pub struct ZmqStore {
    name: String,
    /// The process that opened it; in any other (a forked child) it is inert.
    owner: Owner,
    role: Role,
}

enum Role {
    Publisher(Publisher),
    Subscriber(Subscriber),
    Puller(Puller),
    Closed,
}

/// The process's one ZeroMQ context (its I/O thread serves every socket).
fn context() -> zmq::Context {
    static CONTEXT: Mutex<Option<(Owner, zmq::Context)>> = Mutex::new(None);
    let mut slot = CONTEXT.lock().unwrap_or_else(PoisonError::into_inner);
    match &*slot {
        Some((owner, ctx)) if owner.is_current() => ctx.clone(),
        _ => {
            // A forked child has its parent's context but not its threads, and ending
            // it would signal the parent's (through descriptors they share): leak it.
            if let Some(inherited) = slot.take() {
                process::abandon(inherited);
            }
            let ctx = zmq::Context::new();
            *slot = Some((Owner::current(), ctx.clone()));
            ctx
        }
    }
}

/// A reader's DEALER socket on the writer's control endpoint. `sndhwm`: how many
/// requests may wait for a writer that is not there (yet).
fn control_dealer(ctx: &zmq::Context, endpoints: &Endpoints, sndhwm: i32) -> Result<zmq::Socket> {
    let dealer = ctx
        .socket(zmq::DEALER)
        .map_err(zmq_error("creating a DEALER socket"))?;
    dealer
        .set_linger(0)
        .map_err(zmq_error("configuring a DEALER socket"))?;
    dealer
        .set_sndhwm(sndhwm)
        .map_err(zmq_error("configuring a DEALER socket"))?;
    dealer
        .connect(&endpoints.control)
        .map_err(zmq_error(&format!("connecting to {}", endpoints.control)))?;
    Ok(dealer)
}

fn zmq_error(what: &str) -> impl Fn(zmq::Error) -> Error + '_ {
    move |e| {
        Error::io(
            what.to_owned(),
            std::io::Error::from_raw_os_error(e.to_raw()),
        )
    }
}

impl ZmqStore {
    /// The writer: binds the endpoints (see [`Endpoints::resolve`]). `timeout` bounds the
    /// push-mode waits for readers and for room in their queues.
    pub fn bind(name: &str, mode: Mode, endpoint: Option<&str>, timeout: Duration) -> Result<Self> {
        names::validate(name)?;
        let endpoints = Endpoints::resolve(name, endpoint)?;
        let publisher = Publisher::bind(name, endpoints, mode, timeout)?;
        Ok(ZmqStore {
            name: name.to_owned(),
            owner: Owner::current(),
            role: Role::Publisher(publisher),
        })
    }

    /// A reader: connects now; the writer may come later. In push mode `timeout` bounds
    /// each read's wait for its message. Only ipc sockets of the current user are read.
    pub fn connect(
        name: &str,
        mode: Mode,
        endpoint: Option<&str>,
        timeout: Duration,
    ) -> Result<Self> {
        Self::connect_trusting(name, mode, endpoint, timeout, Trust::OWN)
    }

    /// A reader that also reads from ipc sockets of the owner `trust` names. Sockets (or
    /// their directory) of anyone else, or writable by others, are refused
    /// ([`Error::Untrusted`]), now or when a new writer run first speaks.
    pub fn connect_trusting(
        name: &str,
        mode: Mode,
        endpoint: Option<&str>,
        timeout: Duration,
        trust: Trust,
    ) -> Result<Self> {
        names::validate(name)?;
        let endpoints = Endpoints::resolve(name, endpoint)?;
        let role = match mode {
            Mode::PubSub => Role::Subscriber(Subscriber::connect(name, &endpoints, trust)?),
            Mode::Push => Role::Puller(Puller::connect(name, &endpoints, timeout, trust)?),
        };
        Ok(ZmqStore {
            name: name.to_owned(),
            owner: Owner::current(),
            role,
        })
    }

    /// Ok in the process that opened the store.
    #[inline]
    fn check(&self) -> Result<()> {
        self.owner.check(|| self.label())
    }

    pub fn label(&self) -> String {
        format!("zeromq store {:?}", self.name)
    }

    #[cold]
    fn misuse(&self, what: &str) -> Error {
        let role = match self.role {
            Role::Publisher(_) => "the writer",
            Role::Subscriber(_) => "a reader",
            Role::Puller(_) => "a push-mode reader",
            Role::Closed => {
                return Error::Usage(format!(
                    "zeromq store {:?}: used after cleanup()",
                    self.name
                ))
            }
        };
        Error::Usage(format!(
            "zeromq store {:?}: {what} is not available to {role}",
            self.name
        ))
    }

    pub fn publish(&mut self, blob: &[u8]) -> Result<u64> {
        self.check()?;
        match &mut self.role {
            Role::Publisher(p) => p.publish(blob),
            _ => Err(self.misuse("write()")),
        }
    }

    /// Push mode: how many reads the next write must serve.
    pub fn expect_reads(&mut self, readers: usize, reads_each: usize) -> Result<()> {
        self.check()?;
        if readers.checked_mul(reads_each).is_none() {
            return Err(Error::Usage(format!(
                "zeromq store {:?}: expect_reads({readers}, {reads_each}): that many \
                 messages cannot be counted",
                self.name
            )));
        }
        match &mut self.role {
            Role::Publisher(p) => {
                p.expect_reads(readers, reads_each);
                Ok(())
            }
            _ => Err(self.misuse("expect_reads()")),
        }
    }

    /// Pubsub: the newest snapshot received (None before the first). Push mode: the next
    /// message, waited for.
    pub fn latest(&mut self) -> Result<Option<Frame>> {
        self.check()?;
        match &mut self.role {
            Role::Subscriber(s) => s.latest(),
            Role::Puller(p) => p.take().map(Some),
            _ => Err(self.misuse("read()")),
        }
    }

    /// Push mode: waits for the next message now; the next read takes it.
    pub fn take_ahead(&mut self) -> Result<()> {
        self.check()?;
        match &mut self.role {
            Role::Puller(p) => p.take_ahead(),
            _ => Ok(()),
        }
    }

    pub fn version(&self) -> Result<u64> {
        self.check()?;
        match &self.role {
            Role::Publisher(p) => Ok(p.version()),
            Role::Subscriber(s) => s.version(),
            Role::Puller(p) => Ok(p.version()),
            Role::Closed => Err(self.misuse("version")),
        }
    }

    /// Pubsub readers: whether the writer has been silent for [`STALE_AFTER`].
    pub fn is_stale(&self) -> Result<bool> {
        self.check()?;
        match &self.role {
            Role::Subscriber(s) => Ok(s.is_stale()),
            Role::Publisher(_) => Ok(false),
            _ => Err(self.misuse("stale")),
        }
    }

    pub fn wait_for_update(&self, after: u64, timeout: Duration) -> Result<u64> {
        self.check()?;
        match &self.role {
            Role::Subscriber(s) => s.wait_for_update(after, timeout),
            _ => Err(self.misuse("wait_for_update()")),
        }
    }

    /// What `wait_for_update` sleeps on (pubsub readers only).
    pub fn waiter(&self) -> Result<Waiter> {
        self.check()?;
        match &self.role {
            Role::Subscriber(s) => Ok(s.waiter()),
            _ => Err(self.misuse("wait_for_update()")),
        }
    }

    /// The writer removes its socket files; a reader stops its thread. Idempotent. In a
    /// process that did not open the store (a forked child), sockets and threads are
    /// left alone (leaked): closing a socket or the context there would signal the
    /// owner's I/O thread, and the store's threads do not exist there.
    pub fn close(&mut self) -> Result<()> {
        let role = std::mem::replace(&mut self.role, Role::Closed);
        if !self.owner.is_current() {
            match role {
                Role::Publisher(p) => p.abandon(),
                other => process::abandon(other),
            }
            return Ok(());
        }
        match role {
            Role::Publisher(p) => p.close(),
            _ => Ok(()),
        }
    }
}

impl Store for ZmqStore {
    type Options = Options;
    type Waiter = Waiter;
    type Held = Frame;

    fn open(name: &str, writer: bool, o: &Options) -> Result<Self> {
        let endpoint = o.endpoint.as_deref();
        if writer {
            ZmqStore::bind(name, o.mode, endpoint, o.timeout)
        } else {
            ZmqStore::connect_trusting(name, o.mode, endpoint, o.timeout, o.trust)
        }
    }

    fn label(&self) -> String {
        ZmqStore::label(self)
    }

    fn publish(&mut self, blob: &[u8]) -> Result<u64> {
        ZmqStore::publish(self, blob)
    }

    fn decode_with<'s, S: SinkOf<V, E> + 's, V, E: ReadError>(
        &mut self,
        key: Option<KeyRef<'_>>,
        sink_for: impl FnOnce(SnapshotId) -> &'s mut S,
    ) -> Result<Option<V>, E> {
        let frame = self.latest()?;
        store::decode_blob(frame.as_ref().map(|f| (f.id(), f.blob())), key, sink_for)
    }

    fn keys_with<R, E: ReadError>(&mut self, f: impl FnOnce(&[KeyRef<'_>]) -> R) -> Result<R, E> {
        let frame = self.latest()?;
        Ok(store::blob_keys(frame.as_ref().map(Frame::blob), f)?)
    }

    fn hold(&mut self) -> Result<Option<Arc<Frame>>> {
        Ok(self.latest()?.map(Arc::new))
    }

    fn holds_cheaply(&self) -> bool {
        true
    }

    fn version(&mut self) -> Result<u64> {
        ZmqStore::version(self)
    }

    fn waiter(&mut self) -> Result<Option<Waiter>> {
        ZmqStore::waiter(self).map(Some)
    }

    /// The subscriber's own wait, whose timeout says when the writer was last heard from.
    fn wait_for_update(&mut self, after: u64, timeout: Duration) -> Result<u64> {
        ZmqStore::wait_for_update(self, after, timeout)
    }

    fn close(&mut self) -> Result<()> {
        ZmqStore::close(self)
    }

    fn reads_wait(options: &Options) -> bool {
        options.mode == Mode::Push
    }

    fn prepare_read(&mut self) -> Result<()> {
        self.take_ahead()
    }

    fn expect_reads(&mut self, readers: usize, reads_each: usize) -> Result<()> {
        ZmqStore::expect_reads(self, readers, reads_each)
    }
}

impl Drop for ZmqStore {
    fn drop(&mut self) {
        // A writer dropped without cleanup still removes its socket files.
        let _ = self.close();
    }
}
