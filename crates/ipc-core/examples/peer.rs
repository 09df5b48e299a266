//! A store's writer or reader in pure Rust, for the tests that show Python and Rust
//! processes sharing one store (tests/test_interop.py).
//!
//!     peer write <shm|zmq|lmdb> <name> <entries> <seed>
//!         publishes the benchmark payload, prints "ready", and keeps the store until a
//!         line arrives on stdin;
//!     peer read <shm|zmq|lmdb> <name> <entries> <seed>
//!         waits up to 30 s for a snapshot, checks it equals the payload, prints
//!         "ok <version>" (exit 0) or why not (exit 1).

use std::io::BufRead;
use std::process::ExitCode;
use std::time::Duration;

use ipc_core::lmdb::{LmdbStore, Location, Options};
use ipc_core::shm::ShmStore;
use ipc_core::zmq::{Mode, ZmqStore};
use ipc_core::{payload, Value};

const WAIT: Duration = Duration::from_secs(30);

type Error = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [role, kind, name, entries, seed] = args.as_slice() else {
        eprintln!("usage: peer <write|read> <shm|zmq|lmdb> <name> <entries> <seed>");
        return ExitCode::from(2);
    };
    let run = || -> Result<String, Error> {
        let expected = payload::generate(entries.parse()?, seed.parse()?);
        match role.as_str() {
            "write" => write(kind, name, &expected.encode()?),
            "read" => read(kind, name, &expected),
            other => Err(format!("unknown role {other:?}").into()),
        }
    };
    match run() {
        Ok(msg) => {
            println!("{msg}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("peer: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Publishes, then holds the store until told to stop (the test reads meanwhile).
fn write(kind: &str, name: &str, blob: &[u8]) -> Result<String, Error> {
    let hold = || -> Result<(), Error> {
        println!("ready");
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(())
    };
    match kind {
        "shm" => {
            let mut store = ShmStore::create(name)?;
            store.publish(blob)?;
            hold()?;
            store.close()?;
        }
        "zmq" => {
            let mut store = ZmqStore::bind(name, Mode::PubSub, None, WAIT)?;
            store.publish(blob)?;
            hold()?;
            store.close()?;
        }
        "lmdb" => {
            let mut store = LmdbStore::create(&Location::Named(name.into()), &Options::default())?;
            store.publish(blob)?;
            hold()?;
            store.close()?;
        }
        other => return Err(format!("unknown store kind {other:?}").into()),
    }
    Ok("closed".into())
}

/// Waits for a snapshot and checks it, bit for bit.
fn read(kind: &str, name: &str, expected: &Value) -> Result<String, Error> {
    let (version, got) = match kind {
        "shm" => {
            let mut store = ShmStore::attach(name)?;
            let v = store.wait_for_update(0, WAIT)?;
            let snap = store.latest()?.ok_or("no snapshot")?;
            (v, Value::decode(snap.blob())?)
        }
        "zmq" => {
            let mut store = ZmqStore::connect(name, Mode::PubSub, None, WAIT)?;
            let v = store.wait_for_update(0, WAIT)?;
            let frame = store.latest()?.ok_or("no snapshot")?;
            (v, Value::decode(frame.blob())?)
        }
        "lmdb" => {
            let mut store = LmdbStore::attach(&Location::Named(name.into()), &Options::default())?;
            let v = store.wait_for_update(0, WAIT)?;
            (v, store.read_value()?.ok_or("no snapshot")?)
        }
        other => return Err(format!("unknown store kind {other:?}").into()),
    };
    if got.encode()? != expected.encode()? {
        return Err("the snapshot differs from the payload".into());
    }
    Ok(format!("ok {version}"))
}
