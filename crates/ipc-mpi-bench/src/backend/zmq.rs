//! `zmq` and `zmq-push`: ipc-core's ZeroMQ store in its two modes.

use ipc_core::trust::Trust;
use ipc_core::zmq::{Mode, Options, ZmqStore};

use super::store::StoreBackend;
use super::{Backend, Entry, Env};

pub const PUBSUB: Entry = Entry {
    name: "zmq",
    make: |env| make("zmq", env, Mode::PubSub),
    takes_endpoint: true,
};

pub const PUSH: Entry = Entry {
    name: "zmq-push",
    make: |env| make("zmq-push", env, Mode::Push),
    takes_endpoint: true,
};

fn make(name: &'static str, env: &Env, mode: Mode) -> Box<dyn Backend> {
    let options = Options {
        mode,
        endpoint: env.zmq_endpoint.clone(),
        // Half the harness's phase timeout, as the Python harness gives its backends: a
        // stuck wait fails the record before the harness gives up on the whole phase.
        timeout: env.timeout / 2,
        trust: Trust::OWN,
    };
    Box::new(StoreBackend::<ZmqStore>::new(name, options))
}
