//! `mpi-bcast`: the writer broadcasts the encoded snapshot once for every read.
//!
//! The native counterpart of the Python harness's reference `mpi-bcast` (mpi4py's
//! `comm.bcast` of the pickled dict): there is no store, every read is one broadcast,
//! so it consumes messages. It also serves as the harness's own test backend, since it
//! needs nothing but MPI.
//!
//! Each read is two broadcasts from rank 0: a u64 header with the blob's length, then
//! the blob. A header of [`WRITER_FAILED`] tells the readers that the writer could not
//! produce a snapshot and will send nothing more, so that they fail instead of waiting.

use std::rc::Rc;

use ipc_core::{Doc, Value};
use mpi::collective::Root;
use mpi::request::scope;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::Count;

use super::{Backend, BoxError, Entry, Env};
use crate::coll::Waiter;

pub const ENTRY: Entry = Entry {
    name: "mpi-bcast",
    make,
    takes_endpoint: false,
};

const WRITER_FAILED: u64 = u64::MAX;

fn make(env: &Env) -> Box<dyn Backend> {
    Box::new(MpiBcast {
        comm: Rc::clone(&env.comm),
        waiter: env.waiter,
        is_writer: false,
        reads_each: 0,
        writer_failed: false,
    })
}

struct MpiBcast {
    comm: Rc<SimpleCommunicator>,
    waiter: Waiter,
    is_writer: bool,
    /// Broadcasts the next write makes: one broadcast reaches every reader at once, so
    /// this is the reads of one reader, not of all of them.
    reads_each: usize,
    /// A reader saw WRITER_FAILED: no further broadcast will come.
    writer_failed: bool,
}

impl MpiBcast {
    /// Rank 0 sends `value`; every rank returns what rank 0 sent.
    fn broadcast_header(&self, value: u64) -> u64 {
        let mut v = value;
        scope(|s| {
            let req = self
                .comm
                .process_at_rank(0)
                .immediate_broadcast_into(s, &mut v);
            self.waiter.wait(&*self.comm, req, "an mpi-bcast header");
        });
        v
    }

    fn broadcast_blob(&self, blob: &mut [u8]) {
        scope(|s| {
            let req = self
                .comm
                .process_at_rank(0)
                .immediate_broadcast_into(s, blob);
            self.waiter.wait(&*self.comm, req, "an mpi-bcast snapshot");
        });
    }

    /// The reader's half of one read: the next blob the writer broadcasts.
    fn receive(&mut self) -> Result<Vec<u8>, BoxError> {
        if self.is_writer {
            return Err("mpi-bcast: rank 0 is the writer and cannot read".into());
        }
        if self.writer_failed {
            return Err("mpi-bcast: the writer failed earlier; nothing more will come".into());
        }
        let len = self.broadcast_header(0);
        if len == WRITER_FAILED {
            self.writer_failed = true;
            return Err("mpi-bcast: the writer failed to produce a snapshot".into());
        }
        let len = usize::try_from(len).map_err(|_| format!("mpi-bcast: bad length {len}"))?;
        let mut blob = vec![0u8; len];
        self.broadcast_blob(&mut blob);
        Ok(blob)
    }
}

impl Backend for MpiBcast {
    fn consumes_messages(&self) -> bool {
        true
    }

    fn expect_reads(&mut self, _readers: usize, reads_each: usize) {
        self.reads_each = reads_each;
    }

    fn initialize(&mut self, _name: &str, is_writer: bool) -> Result<(), BoxError> {
        // Nothing to create: the communicator is the transport.
        self.is_writer = is_writer;
        self.writer_failed = false;
        Ok(())
    }

    fn write(&mut self, data: &Value) -> Result<(), BoxError> {
        if !self.is_writer {
            return Err("mpi-bcast: only rank 0 writes".into());
        }
        let encoded = data.encode().map_err(BoxError::from).and_then(|blob| {
            // An MPI count is a C int.
            Count::try_from(blob.len()).map(|_| blob).map_err(|_| {
                "mpi-bcast: the snapshot is over 2 GiB, too big for one broadcast".into()
            })
        });
        let mut blob = match encoded {
            Ok(blob) => blob,
            Err(e) => {
                if self.reads_each > 0 {
                    self.broadcast_header(WRITER_FAILED);
                }
                return Err(e);
            }
        };
        for _ in 0..self.reads_each {
            self.broadcast_header(blob.len() as u64);
            self.broadcast_blob(&mut blob);
        }
        Ok(())
    }

    fn read(&mut self, doc: &mut Doc) -> Result<bool, BoxError> {
        let blob = self.receive()?;
        doc.decode(&blob)?;
        Ok(true)
    }

    fn get(&mut self, key: &str, doc: &mut Doc) -> Result<bool, BoxError> {
        let blob = self.receive()?;
        Ok(doc.decode_key(&blob, key)?)
    }

    fn cleanup(&mut self) -> Result<(), BoxError> {
        Ok(())
    }
}
