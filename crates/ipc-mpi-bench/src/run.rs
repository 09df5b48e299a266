//! The whole run: every backend at every size, results gathered on rank 0.

use std::rc::Rc;
use std::time::Duration;

use mpi::topology::{Communicator, SimpleCommunicator};

use crate::args::Args;
use crate::backend::{self, Env};
use crate::coll::{Coll, Waiter};
use crate::metadata::{self, RunShape};
use crate::report::{self, RankReport, RecordInfo};
use crate::results::{self, Document, Record, SCHEMA_VERSION};
use crate::{partial, payload, protocol, summary};

/// Runs the benchmark on this rank. Rank 0 writes the file and returns whether every
/// record passed; the other ranks return true.
pub fn run(world: &SimpleCommunicator, args: &Args) -> Result<bool, String> {
    let ranks = world.size() as usize;
    let cores = metadata::usable_cores();
    let shape = RunShape {
        ranks,
        cores,
        idle_wait: args.idle_wait(ranks, cores),
    };
    let leader = world.rank() == 0;
    // Rank 0 gives up first, so that it is the rank that saves the partial results.
    let grace = if leader {
        Duration::ZERO
    } else {
        args.timeout() / 10 + Duration::from_secs(2)
    };
    let waiter = Waiter {
        idle: shape.idle_wait,
        timeout: args.timeout() + grace,
    };
    // Blocking duplicates are safe here: every rank has just started.
    let coll = Coll::new(world.duplicate(), waiter);
    let env = Env {
        comm: Rc::new(world.duplicate()),
        waiter,
        timeout: args.timeout(),
    };
    // Store names must agree on every rank and differ between runs.
    let run_id = coll.broadcast_u64(u64::from(std::process::id()), "start-up");
    let sizes = args.data_sizes();
    let unit = args.payload.size_unit();
    let total = args.backends.len() * sizes.len();
    if leader {
        let doc = Document {
            schema_version: SCHEMA_VERSION,
            metadata: metadata::collect(args, &shape),
            results: Vec::with_capacity(total),
        };
        partial::start(args.output.clone(), doc);
    }

    let mut step = 0;
    for name in &args.backends {
        let entry = backend::lookup(name).ok_or_else(|| format!("unknown backend {name:?}"))?;
        let message_per_read = entry
            .facts()
            .properties
            .as_ref()
            .is_some_and(|p| p.message_per_read);
        for &size in &sizes {
            step += 1;
            let read_cap = payload::read_cap(
                size,
                ranks - 1,
                args.warmup,
                args.iterations,
                message_per_read,
                args.message_budget_mb,
            );
            let iterations = read_cap.as_ref().map_or(args.iterations, |c| c.iterations);
            let info = RecordInfo {
                entry,
                data_size: size,
                workload: args.workload,
                reads_each: args.warmup + iterations,
                read_cap,
            };
            if leader {
                eprintln!("[{step}/{total}] {name}, {size} {unit} ...");
                partial::begin_case(report::unfinished(&info));
            }
            // Store names take no '.': a fractional size is written with '_'.
            let store = format!(
                "b{run_id}_{}_{}",
                name.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
                size.to_string().replace('.', "_")
            );
            let rep = protocol::run_record(&coll, &env, entry, size, iterations, &store, args);
            let bytes = serde_json::to_vec(&rep).map_err(|e| format!("rank report: {e}"))?;
            let Some(parts) = coll.gather_bytes(&bytes, "the ranks' results")? else {
                continue;
            };
            let reports = parts
                .iter()
                .map(|p| serde_json::from_slice::<RankReport>(p))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("a rank's report does not parse: {e}"))?;
            let record = report::merge(&info, &reports);
            eprintln!(
                "[{step}/{total}] {name}, {size} {unit}: {}",
                outcome(&record)
            );
            partial::finish_case(record);
        }
    }

    let Some(doc) = partial::finish() else {
        return Ok(true);
    };
    let all_ok = doc.results.iter().all(|r| r.status == "ok" && r.verified);
    print!("{}", summary::table(&doc.results));
    results::write(&args.output, &doc)?;
    eprintln!("results written to {}", args.output.display());
    Ok(all_ok)
}

fn outcome(r: &Record) -> String {
    match (&r.error, r.read.as_ref()) {
        (Some(e), _) => format!("FAILED: {e}"),
        (None, Some(read)) => format!("ok, read median {:.1} us", read.median * 1e6),
        (None, None) => "ok".to_owned(),
    }
}
