//! Bakes the MPI library's directories into the binary as rpath entries.
//!
//! mpi-sys links with the `-L` dirs of `mpicc -show` but does not record them, so the
//! binary would only find libmpi through LD_LIBRARY_PATH. With the PyPI mpich wheel that
//! library lives in .venv/lib, which no loader searches by default; the rpath makes
//! `mpiexec -n 4 target/release/ipc-mpi-bench` work with no environment set-up, and
//! guarantees that the harness loads the same libmpi that mpi4py uses.

use std::env;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=MPICC");
    println!("cargo:rerun-if-changed=build.rs");
    // The same compiler wrapper that mpi-sys (build-probe-mpi) asks.
    let mpicc = env::var("MPICC").unwrap_or_else(|_| "mpicc".to_owned());
    let shown = match Command::new(&mpicc).arg("-show").output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        // mpi-sys fails the build with its own, longer explanation; just say why no rpath.
        Ok(out) => {
            println!(
                "cargo:warning=`{mpicc} -show` failed ({}): no rpath for libmpi",
                out.status
            );
            return;
        }
        Err(e) => {
            println!("cargo:warning=cannot run `{mpicc} -show` ({e}): no rpath for libmpi");
            return;
        }
    };
    // rustc-link-arg (not -bins) so that the unit-test binaries find libmpi too.
    for dir in shown
        .split_whitespace()
        .filter_map(|arg| arg.strip_prefix("-L"))
    {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
