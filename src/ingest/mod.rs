//! One ingest run: log objects not seen before, into the lake, as one
//! all-or-nothing unit (see [`crate::lake`]). [`run`] reads as the steps:
//!
//! - `plan`: what the lake holds (after completing any run that stopped
//!   while committing), and which objects of the sources are new,
//!   unchanged, changed, or to be read again;
//! - `pipeline`: the `reader` thread, the `worker`s that parse chunks into
//!   Arrow, the day buffers under the memory budget, and the `writer`s
//!   that sort and encode each day's Parquet file;
//! - `rollback`: the rows of objects that failed part way, taken back out;
//! - `commit`: ledger entries, manifest, the three tables' commits;
//! - [`summary`]: what the run did, for people and monitors.
//!
//! Work is handed on in input order and flushes depend only on the data, so
//! the same input always gives the same files. An object that fails part
//! way is named, and every row it contributed is taken out of the files
//! before anything is committed; its ledger entry is not written, and it
//! goes on the list of objects to read again.

mod commit;
mod pipeline;
mod plan;
mod reader;
mod rollback;
pub mod summary;
mod worker;
mod writer;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use commit::commit;
use pipeline::ReadAll;
use plan::{Before, Plan};
use reader::Stored;

use crate::lake::{Lake, Shard, Table, Writer};
use crate::source::Selection;

pub use summary::{DaySummary, LagHistogram, Summary};

/// Options of an ingest run (resolved from the command line).
#[derive(Clone, Debug)]
pub struct Options {
    /// Log files and folders, and `s3://bucket/prefix` URLs.
    pub sources: Vec<PathBuf>,
    /// Which objects to read (dates in their names) and how to reach S3.
    pub selection: Selection,
    /// Days before an `s3://` source's high-water mark (the latest day
    /// among its ingested objects' names) that its listing goes back to,
    /// to catch late deliveries; `None` lists everything every run.
    pub lookback_days: Option<i32>,
    /// The lake's root folder.
    pub lake: PathBuf,
    /// Buffered Arrow data, in bytes, above which the largest day is
    /// written out. Bounds memory whatever the input size.
    pub memory_budget: usize,
    /// How long to wait for another writer's lock.
    pub lock_wait: Duration,
    /// Draw a progress bar on stderr (when it is a terminal).
    pub progress: bool,
    /// Threads encoding Parquet files beside the parsing threads.
    pub writers: usize,
    /// Read again objects whose size or modification time changed since
    /// they were ingested, replacing their earlier records and rejects in
    /// the same commit (otherwise such objects are errors).
    pub reingest_changed: bool,
    /// After the run, the days it changed whose files more writes (runs,
    /// compactions) than this made are compacted, in a commit of their own
    /// under the same lock (an hourly cron adds a write a day a run); 0
    /// leaves them.
    pub compact_over: usize,
    /// Take only the objects of this shard, writing as it (see
    /// [`crate::lake::shard`]).
    pub shard: Option<Shard>,
    /// The objects of `sources`, when the caller has listed them already
    /// (with `selection`, and no lookback): the run plans over these
    /// instead of listing the sources again.
    pub listed: Option<Vec<crate::source::Object>>,
}

impl Options {
    /// Options with the defaults for everything but the paths.
    pub fn new(sources: Vec<PathBuf>, lake: PathBuf) -> Self {
        Options {
            sources,
            selection: Selection::default(),
            lookback_days: Some(2),
            lake,
            memory_budget: 64 << 20,
            lock_wait: Duration::from_secs(300),
            progress: false,
            writers: 2,
            reingest_changed: false,
            compact_over: 8,
            shard: None,
            listed: None,
        }
    }
}

/// Per-object tallies for the ledger.
#[derive(Default, Clone)]
struct ObjectTally {
    records: i64,
    rejects: i64,
    first: Option<i64>,
    last: Option<i64>,
    failed: Option<String>,
    stored: Stored,
}

/// The outcome of a run: its summary, and whether anything failed.
pub struct Outcome {
    /// What the run did.
    pub summary: Summary,
}

/// Runs an ingest.
///
/// # Errors
///
/// The lake cannot be locked, read or written. Unreadable objects are not
/// errors of the run: they are named in [`Summary::errors`].
pub fn run(opts: &Options) -> Result<Outcome> {
    let rt = crate::runtime::get();
    let started = Instant::now();
    let lake = Lake::at(&opts.lake, &opts.selection.s3)?.with_shard(opts.shard);
    // Shards share the lake from its first run: none may remove it.
    let fresh = opts.shard.is_none() && rt.block_on(lake.is_new())?;
    let outcome = run_locked(opts, rt, &lake, started);
    // A first run that failed, or read nothing, leaves no lake behind (a
    // missing bucket used to leave an empty one).
    let failed = outcome.as_ref().map_or(true, |o| {
        !o.summary.committed && !o.summary.errors.is_empty()
    });
    if fresh && failed {
        lake.remove_unborn();
    } else if let Ok(o) = &outcome
        && fresh
        && !o.summary.committed
    {
        // An empty first run still makes the tables, so queries find them.
        let _lock = lake.lock(opts.lock_wait)?;
        for which in Table::ALL {
            rt.block_on(lake.open_or_create(which))?;
        }
    }
    outcome
}

fn run_locked(
    opts: &Options,
    rt: &tokio::runtime::Runtime,
    lake: &Lake,
    started: Instant,
) -> Result<Outcome> {
    let _lock = lake.lock(opts.lock_wait)?;
    let Before {
        recovered,
        logs_version,
        seq,
        seen,
        existing_days,
    } = plan::before(rt, lake)?;
    let run_id = format!("run-{}{seq:06}", opts.shard.tag());
    let mut summary = Summary {
        shard: opts.shard.map(|s| s.to_string()),
        ..Summary::default()
    };
    let Plan {
        todo,
        replaced,
        mut retry,
        stored_retry,
    } = plan::plan(opts, rt, lake, &seen, &mut summary)?;

    let table_dir = lake.table_dir(Table::Logs);
    let ReadAll {
        tallies,
        mut days,
        lag,
        file_time_lag,
        timed_by_file,
        mut rejects,
        mut flushed,
    } = pipeline::read(opts, &todo, seq, &table_dir, &mut summary)?;

    // Objects that failed: named, and their rows taken back out.
    let failed = rollback::take_out_failed(
        &table_dir,
        &todo,
        &tallies,
        &mut rejects,
        &mut flushed,
        &mut days,
    )?;
    // They join the objects to read again before anything is committed,
    // and leave the list once their records are.
    for &i in &failed {
        let why = tallies[i].failed.as_deref().unwrap_or_default();
        summary.errors.push(format!(
            "{}: {why}; none of its records were committed",
            todo[i].1
        ));
        retry.failed(&todo[i].1, why, &run_id);
    }
    if retry != stored_retry {
        rt.block_on(retry.write(lake))?;
    }
    summary.objects_failed = failed.len() as u64;

    // Ledger entries for the objects read whole.
    let entries = commit::ledger_entries(&todo, &tallies, &run_id);
    summary.objects_ingested = entries.len() as u64;

    let mut version = logs_version;
    if !entries.is_empty() {
        version = Some(commit(
            rt, lake, seq, &run_id, &entries, &flushed, &rejects, replaced, &todo, &tallies,
        )?);
        summary.run_id = run_id;
        summary.committed = true;
        let read: BTreeSet<&str> = entries.iter().map(|e| e.object.as_str()).collect();
        let before = retry.clone();
        retry.remove(|o| read.contains(o));
        if retry != before {
            rt.block_on(retry.write(lake))?;
        }
    }
    summary.objects_to_retry = retry.objects.len() as u64;
    for r in &rejects {
        *summary.rejects.entry(r.reason).or_default() += 1;
    }
    summary.rejected = rejects.len() as u64;

    // Runs completed from their manifests count as this run's: a job
    // driven by the days changed must see their days too.
    summary.recovered_runs = recovered
        .iter()
        .filter(|m| m.kind == "ingest")
        .map(|m| m.run_id.clone())
        .collect();
    summary.committed |= !summary.recovered_runs.is_empty();
    let ours = if summary.committed {
        days
    } else {
        BTreeMap::new()
    };
    summary.set_days(&recovered, &ours, &existing_days);
    if let Some(v) = keep_healthy(opts, rt, lake, &mut summary)? {
        version = Some(v);
    }
    summary.table_version = version;
    (summary.commits, summary.commit_retries) = lake.commit_stats();
    summary.set_lags(&lag, &file_time_lag, timed_by_file.len());
    summary.seconds = started.elapsed().as_secs_f64();
    summary.mb_per_sec = summary.bytes as f64 / 1e6 / summary.seconds.max(1e-9);
    Ok(Outcome { summary })
}

/// Compacts the days the run changed that more than
/// [`Options::compact_over`] writes made (see [`Lake::writes`]: one big
/// run's many files of a day are one write, and are left alone). Returns
/// the `logs` version after it, when it committed.
fn keep_healthy(
    opts: &Options,
    rt: &tokio::runtime::Runtime,
    lake: &Lake,
    summary: &mut Summary,
) -> Result<Option<i64>> {
    if opts.compact_over == 0 || summary.days.is_empty() {
        return Ok(None);
    }
    let changed: BTreeSet<&str> = summary.days.iter().map(|d| d.date.as_str()).collect();
    let report = rt.block_on(lake.compact_days(
        |day, files| changed.contains(day) && Lake::writes(files) > opts.compact_over,
        COMPACT_FILE_BYTES,
    ));
    // The run's records are committed: other shards' commits beating the
    // compaction every time only leave the days for the next run.
    let report = match report {
        Err(e) if crate::lake::upkeep::is_conflict(&e) => {
            eprintln!(
                "s3logs: warning: the days this run changed were left uncompacted: other \
                 writers kept committing to them ({}); the next run compacts them",
                e.root_cause()
            );
            return Ok(None);
        }
        r => r.context("compacting the days this run changed")?,
    };
    if report.days.is_empty() {
        return Ok(None);
    }
    let version = report.table_version;
    summary.compacted = Some(report);
    Ok(Some(version))
}

/// The size of the files an automatic compaction writes (as `s3logs
/// compact`'s default).
const COMPACT_FILE_BYTES: u64 = 128 << 20;

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

fn progress_bar(enabled: bool, total: u64) -> indicatif::ProgressBar {
    if !enabled {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} {bytes}/{total_bytes} {bar:30} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}
