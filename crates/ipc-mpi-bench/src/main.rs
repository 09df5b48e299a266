//! ipc-mpi-bench: the native MPI benchmark harness.
//!
//! `mpiexec -n 4 target/release/ipc-mpi-bench`: rank 0 writes, the others read, for each
//! backend and dict size; the same protocol and result JSON as benchmark_mpi.py
//! (docs/results-schema.md), with metadata.harness = "rust". docs/native-harness.md
//! says how it is built and run.

mod alloc;
mod args;
mod backend;
mod coll;
mod memory;
mod metadata;
mod nodes;
mod partial;
mod payload;
mod protocol;
mod report;
mod results;
mod run;
mod stats;
mod summary;
mod verify;

use std::process::ExitCode;

use clap::Parser;
use mpi::topology::{Communicator, SimpleCommunicator};

use args::Args;

fn main() -> ExitCode {
    alloc::keep_freed_memory();
    let Some(universe) = mpi::initialize() else {
        eprintln!("ipc-mpi-bench: MPI was already initialised");
        return ExitCode::from(2);
    };
    abort_job_on_panic();
    let world = universe.world();
    let leader = world.rank() == 0;
    // Everything MPI-owned is created and dropped inside `start`, before `universe`
    // finalises MPI here.
    let code = start(&world, leader);
    drop(universe);
    code
}

fn start(world: &SimpleCommunicator, leader: bool) -> ExitCode {
    // try_parse: clap's own exit would skip MPI_Finalize, and every rank would print.
    let args = match Args::try_parse().map_err(|e| (e.use_stderr(), e.to_string())) {
        Ok(args) => args,
        Err((is_error, text)) => {
            if leader {
                print_clap(is_error, &text);
            }
            return ExitCode::from(if is_error { 2 } else { 0 });
        }
    };
    let args = match args.validate() {
        Ok(args) => args,
        Err(e) => {
            if leader {
                eprintln!("ipc-mpi-bench: {e}");
            }
            return ExitCode::from(2);
        }
    };
    if world.size() < 2 {
        eprintln!(
            "ipc-mpi-bench: needs a writer and at least one reader: mpiexec -n 4 ipc-mpi-bench"
        );
        return ExitCode::from(2);
    }
    // Every rank knows the world's size: each refuses a count that does not fit alike.
    let counts = match args.reader_counts(world.size() as usize) {
        Ok(counts) => counts,
        Err(e) => {
            if leader {
                eprintln!("ipc-mpi-bench: {e}");
            }
            return ExitCode::from(2);
        }
    };
    match run::run(world, &args, &counts) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!(
                "ipc-mpi-bench: some records failed or were not verified (see the error fields)"
            );
            ExitCode::from(1)
        }
        Err(run::RunError::Usage(e)) => {
            if leader {
                eprintln!("ipc-mpi-bench: {e}");
            }
            ExitCode::from(2)
        }
        Err(run::RunError::Harness(e)) => coll::abort(world, &e, coll::EXIT_HARNESS_FAILED),
    }
}

fn print_clap(is_error: bool, text: &str) {
    if is_error {
        eprint!("{text}");
    } else {
        print!("{text}");
    }
}

/// A panicking rank would leave the others waiting until --timeout; end the job now.
fn abort_job_on_panic() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        SimpleCommunicator::world().abort(coll::EXIT_HARNESS_FAILED);
    }));
}
