//! `zmq` and `zmq-push`: ipc-core's ZeroMQ store in its two modes, read into a `Doc`.

use std::time::Duration;

use ipc_core::zmq::{Mode, ZmqStore};
use ipc_core::Doc;

use super::store::{decode_blob, Store, StoreBackend};
use super::{Backend, BoxError, Entry, Env};

pub const PUBSUB: Entry = Entry {
    name: "zmq",
    make: |env| make("zmq", env, Mode::PubSub),
};

pub const PUSH: Entry = Entry {
    name: "zmq-push",
    make: |env| make("zmq-push", env, Mode::Push),
};

fn make(name: &'static str, env: &Env, mode: Mode) -> Box<dyn Backend> {
    // Half the harness's phase timeout, as the Python harness gives its backends: a
    // stuck wait fails the record before the harness gives up on the whole phase.
    let config = (mode, env.timeout / 2);
    Box::new(StoreBackend::<ZmqStore>::new(
        name,
        config,
        mode == Mode::Push,
    ))
}

impl Store for ZmqStore {
    type Config = (Mode, Duration);

    fn open(
        name: &str,
        is_writer: bool,
        &(mode, timeout): &Self::Config,
    ) -> Result<Self, BoxError> {
        Ok(if is_writer {
            ZmqStore::bind(name, mode, None, timeout)?
        } else {
            ZmqStore::connect(name, mode, None, timeout)?
        })
    }

    fn settle(&mut self, timeout: Duration) -> Result<(), BoxError> {
        // Pubsub delivers in the background; a push reader takes messages as it reads.
        if !self.reads_block() {
            self.wait_for_update(0, timeout)?;
        }
        Ok(())
    }

    fn expect_reads(&mut self, readers: usize, reads_each: usize) {
        // Only the writer is told; it is the only one that can fail to be.
        let _ = ZmqStore::expect_reads(self, readers, reads_each);
    }

    fn publish(&mut self, blob: &[u8]) -> Result<(), BoxError> {
        ZmqStore::publish(self, blob)?;
        Ok(())
    }

    fn read_into(&mut self, doc: &mut Doc) -> Result<bool, BoxError> {
        let frame = self.latest()?;
        decode_blob(frame.as_ref().map(|f| f.blob()), None, doc)
    }

    fn get_into(&mut self, key: &str, doc: &mut Doc) -> Result<bool, BoxError> {
        let frame = self.latest()?;
        decode_blob(frame.as_ref().map(|f| f.blob()), Some(key), doc)
    }

    fn close(&mut self) -> Result<(), BoxError> {
        Ok(ZmqStore::close(self)?)
    }
}
