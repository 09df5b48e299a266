//! `zmq` and `zmq-push`: ipc-core's ZeroMQ store in its two modes, read into `Value`s.

use std::time::Duration;

use ipc_core::zmq::{Mode, ZmqStore};
use ipc_core::Value;

use super::{Backend, BoxError, Entry, Env};

pub const PUBSUB: Entry = Entry {
    name: "zmq",
    display_name: "ZeroMQ pubsub (Rust)",
    reference: Some("py-zmq"),
    self_test: false,
    make: |env| make(env, Mode::PubSub),
};

pub const PUSH: Entry = Entry {
    name: "zmq-push",
    display_name: "ZeroMQ push (Rust)",
    reference: Some("py-zmq"),
    self_test: false,
    make: |env| make(env, Mode::Push),
};

fn make(env: &Env, mode: Mode) -> Box<dyn Backend> {
    Box::new(Zmq {
        mode,
        // Half the harness's phase timeout, as the Python harness gives its backends: a
        // stuck wait fails the record before the harness gives up on the whole phase.
        timeout: env.timeout / 2,
        store: None,
    })
}

struct Zmq {
    mode: Mode,
    timeout: Duration,
    store: Option<ZmqStore>,
}

impl Zmq {
    fn store(&mut self) -> Result<&mut ZmqStore, BoxError> {
        self.store
            .as_mut()
            .ok_or_else(|| "zmq: used before initialize".into())
    }
}

impl Backend for Zmq {
    fn consumes_messages(&self) -> bool {
        self.mode == Mode::Push
    }

    fn expect_reads(&mut self, readers: usize, reads_each: usize) {
        if let Some(store) = self.store.as_mut() {
            // Only the writer is told; it is the only one that can fail to be.
            let _ = store.expect_reads(readers, reads_each);
        }
    }

    fn initialize(&mut self, name: &str, is_writer: bool) -> Result<(), BoxError> {
        self.store = Some(if is_writer {
            ZmqStore::bind(name, self.mode, None, self.timeout)?
        } else {
            ZmqStore::connect(name, self.mode, None, self.timeout)?
        });
        Ok(())
    }

    fn settle(&mut self, timeout: Duration) -> Result<(), BoxError> {
        if self.mode == Mode::PubSub {
            self.store()?.wait_for_update(0, timeout)?;
        }
        Ok(())
    }

    fn write(&mut self, data: &Value) -> Result<(), BoxError> {
        let blob = data.encode()?;
        self.store()?.publish(&blob)?;
        Ok(())
    }

    fn read(&mut self) -> Result<Option<Value>, BoxError> {
        match self.store()?.latest()? {
            Some(frame) => Ok(Some(Value::decode(frame.blob())?)),
            None => Ok(None),
        }
    }

    fn get(&mut self, key: &str) -> Result<Option<Value>, BoxError> {
        match self.store()?.latest()? {
            Some(frame) => Ok(Value::decode_key(frame.blob(), key)?),
            None => Ok(None),
        }
    }

    fn cleanup(&mut self) -> Result<(), BoxError> {
        match self.store.take() {
            Some(mut store) => Ok(store.close()?),
            None => Ok(()),
        }
    }
}
