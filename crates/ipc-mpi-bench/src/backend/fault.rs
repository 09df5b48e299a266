//! `fault`: a self-test backend whose reads always fail.
//!
//! It exercises the harness's failure path end to end (record marked failed, clean-up
//! on every rank, the run goes on) without a real store that can be made to break.
//! Never run unless named: `--backends fault,mpi-bcast`.

use ipc_core::{Doc, Value};

use super::{Backend, BoxError, Entry, Env};

pub const ENTRY: Entry = Entry {
    name: "fault",
    make,
    takes_endpoint: false,
};

fn make(_: &Env) -> Box<dyn Backend> {
    Box::new(Fault)
}

struct Fault;

impl Backend for Fault {
    fn initialize(&mut self, _name: &str, _is_writer: bool) -> Result<(), BoxError> {
        Ok(())
    }

    fn write(&mut self, data: &Value) -> Result<(), BoxError> {
        data.encode()?;
        Ok(())
    }

    fn read(&mut self, _doc: &mut Doc) -> Result<bool, BoxError> {
        Err("fault: injected read failure".into())
    }

    fn get(&mut self, _key: &str, _doc: &mut Doc) -> Result<bool, BoxError> {
        Err("fault: injected read failure".into())
    }

    fn cleanup(&mut self) -> Result<(), BoxError> {
        Ok(())
    }
}
