//! Writes one benchmark payload, encoded, to stdout: what the native harness writes, for
//! the test that checks the Python harness generates the same bytes
//! (tests/test_training_payload.py).
//!
//!     payload seed <entries> <seed>
//!     payload training <MiB> <seed>

use std::io::Write;
use std::process::ExitCode;

use ipc_core::payload::{self, training};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kind, size, seed] = args.as_slice() else {
        eprintln!("usage: payload <seed|training> <size> <seed>");
        return ExitCode::from(2);
    };
    let run = || -> Result<Vec<u8>, Box<dyn std::error::Error>> {
        let seed: u64 = seed.parse()?;
        let value = match kind.as_str() {
            "seed" => payload::generate(size.parse()?, seed),
            "training" => {
                let mb: f64 = size.parse()?;
                training::check_array_mb(mb)?;
                training::generate(mb, seed)
            }
            other => return Err(format!("unknown payload {other:?}").into()),
        };
        Ok(value.encode()?)
    };
    match run().and_then(|blob| Ok(std::io::stdout().lock().write_all(&blob)?)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("payload: {e}");
            ExitCode::FAILURE
        }
    }
}
