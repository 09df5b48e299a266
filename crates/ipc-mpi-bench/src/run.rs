//! The whole run: every backend at every size, results gathered on rank 0.

use std::rc::Rc;
use std::time::Duration;

use mpi::collective::Root;
use mpi::topology::{Color, Communicator, SimpleCommunicator};

use crate::args::Args;
use crate::backend::{self, Entry};
use crate::coll::{Coll, Waiter};
use crate::metadata::{self, RunShape};
use crate::nodes::{self, Nodes};
use crate::report::{self, CaseNotes, RankReport, RecordInfo};
use crate::results::{self, Document, Record, SCHEMA_VERSION};
use crate::{partial, payload, protocol, summary};

/// How long the ranks may take to reach each other at start.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a run ended early.
#[derive(Debug)]
pub enum RunError {
    /// The run cannot start as asked (the same on every rank): exit status 2.
    Usage(String),
    /// The harness itself failed: the job is aborted.
    Harness(String),
}

impl From<String> for RunError {
    fn from(e: String) -> Self {
        RunError::Harness(e)
    }
}

/// Runs the benchmark on this rank. Rank 0 writes the file and returns whether every
/// record passed; the other ranks return true. `counts`: the reader count of each case.
pub fn run(world: &SimpleCommunicator, args: &Args, counts: &[usize]) -> Result<bool, RunError> {
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
    // Ranks reach the first collectives as fast as they start, which on a busy machine
    // can take longer than a short --timeout allows for a phase.
    let start = Coll::new(
        world.duplicate(),
        Waiter {
            timeout: waiter.timeout.max(STARTUP_TIMEOUT),
            ..waiter
        },
    );
    let found = find_nodes(world, &start)?;
    let cross: Vec<bool> = counts.iter().map(|&k| found.cross_node(k)).collect();
    let zmq_host = if cross.contains(&true) {
        Some(zmq_host(args, &found, &start)?)
    } else {
        None
    };
    drop(start);
    // For each reader count, the writer's and those readers' communicator (blocking
    // splits, like the duplicates above, at start-up).
    let groups: Vec<Option<Rc<SimpleCommunicator>>> = counts
        .iter()
        .map(|&k| {
            let color = if (world.rank() as usize) <= k {
                Color::with_value(0)
            } else {
                Color::undefined()
            };
            world.split_by_color(color).map(Rc::new)
        })
        .collect();
    // Store names must agree on every rank and differ between runs.
    let run_id = coll.broadcast_u64(u64::from(std::process::id()), "start-up");
    let sizes = args.data_sizes();
    let unit = args.payload.size_unit();
    let total = args.backends.len() * sizes.len() * counts.len();
    if leader {
        let doc = Document {
            schema_version: SCHEMA_VERSION,
            metadata: metadata::collect(args, &shape, counts, &found, zmq_host.clone()),
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
            for (i, &readers) in counts.iter().enumerate() {
                step += 1;
                let read_cap = payload::read_cap(
                    size,
                    readers,
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
                    readers,
                    cross_node: cross[i],
                    read_cap,
                };
                if leader {
                    eprintln!("[{step}/{total}] {name}, {size} {unit}, {readers} readers ...");
                    partial::begin_case(report::unfinished(&info));
                }
                if let Some(reason) = skip_reason(entry, cross[i]) {
                    let notes = CaseNotes {
                        update_note: None,
                        skipped: Some(reason),
                    };
                    if leader {
                        let record = report::merge(&info, &[], &notes);
                        eprintln!("[{step}/{total}] {name}: {}", outcome(&record));
                        partial::finish_case(record);
                    }
                    continue;
                }
                // Store names take no '.': a fractional size is written with '_'.
                let store = format!(
                    "b{run_id}_{}_{}_{readers}",
                    name.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
                    size.to_string().replace('.', "_")
                );
                let case = protocol::Case {
                    entry,
                    size,
                    iterations,
                    store: &store,
                    readers,
                    cross_node: cross[i],
                    zmq_host: zmq_host.as_deref(),
                    group: groups[i].clone(),
                    waiter,
                };
                let (rep, notes) = protocol::run_record(&coll, &case, args);
                let bytes = serde_json::to_vec(&rep).map_err(|e| format!("rank report: {e}"))?;
                let Some(parts) = coll.gather_bytes(&bytes, "the ranks' results")? else {
                    continue;
                };
                let reports = parts
                    .iter()
                    .map(|p| serde_json::from_slice::<RankReport>(p))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("a rank's report does not parse: {e}"))?;
                let record = report::merge(&info, &reports, &notes);
                eprintln!(
                    "[{step}/{total}] {name}, {size} {unit}, {readers} readers: {}",
                    outcome(&record)
                );
                partial::finish_case(record);
            }
        }
    }

    let Some(doc) = partial::finish() else {
        return Ok(true);
    };
    let all_ok = doc
        .results
        .iter()
        .all(|r| r.status == "skipped" || (r.status == "ok" && r.verified));
    print!("{}", summary::table(&doc.results));
    results::write(&args.output, &doc)?;
    eprintln!("results written to {}", args.output.display());
    Ok(all_ok)
}

/// Which ranks share a node: MPI's shared-memory split, unless the test override
/// ([`nodes::NODE_ENV`]) is set.
fn find_nodes(world: &SimpleCommunicator, coll: &Coll) -> Result<Nodes, RunError> {
    if let Ok(text) = std::env::var(nodes::NODE_ENV) {
        return Nodes::from_override(&text, world.size() as usize).map_err(RunError::Usage);
    }
    let shared = world.split_shared(world.rank());
    let mut lowest = world.rank() as u64;
    // Every rank of `shared` is here already, so a blocking broadcast cannot hang.
    shared.process_at_rank(0).broadcast_into(&mut lowest);
    drop(shared);
    Ok(Nodes::numbered(
        &coll.all_gather_u64(lowest, "start-up: the nodes"),
        false,
    ))
}

/// Rank 0 picks the address ZeroMQ binds across nodes; every rank gets it, or the
/// reason there is none.
fn zmq_host(args: &Args, found: &Nodes, coll: &Coll) -> Result<String, RunError> {
    let mut answer = Vec::new();
    if coll.rank() == 0 {
        let host = nodes::zmq_host(args.zmq_host.as_deref(), args.zmq_interface.as_deref())
            .and_then(|h| {
                if nodes::is_loopback(&h) && !found.forced {
                    Err(format!(
                        "ZeroMQ would bind {h}, a loopback address that readers on other \
                         nodes cannot reach: give --zmq-host or --zmq-interface"
                    ))
                } else {
                    Ok(h)
                }
            });
        answer = match host {
            Ok(h) => [b"+".as_slice(), h.as_bytes()].concat(),
            Err(e) => [b"-".as_slice(), e.as_bytes()].concat(),
        };
    }
    let answer = coll.broadcast_bytes(&answer, 256, "start-up: the ZeroMQ host");
    let text = String::from_utf8_lossy(answer.get(1..).unwrap_or_default()).into_owned();
    match answer.first() {
        Some(b'+') => Ok(text),
        _ => Err(RunError::Usage(text)),
    }
}

/// Why a case cannot run: readers on other nodes, for a backend that needs one host.
fn skip_reason(entry: &Entry, cross_node: bool) -> Option<String> {
    let props = entry.facts().properties.as_ref()?;
    (cross_node && !props.across_machines).then(|| {
        format!(
            "readers on other nodes than the writer, and {} works on one host only ({})",
            entry.name, props.note
        )
    })
}

fn outcome(r: &Record) -> String {
    match (&r.error, r.read.as_ref()) {
        (Some(e), _) if r.status == "skipped" => format!("SKIPPED: {e}"),
        (Some(e), _) => format!("FAILED: {e}"),
        (None, Some(read)) => format!("ok, read median {:.1} us", read.median * 1e6),
        (None, None) => "ok".to_owned(),
    }
}
