//! One ingest run: log objects not seen before, into the lake, as one
//! all-or-nothing unit (see [`crate::lake`]).
//!
//! ```text
//!  reader thread ──chunks──► rayon workers ──parsed chunks, in order──► main
//!  (objects in order,        (parse, build Arrow,             (partition buffers
//!   decompress)               split by date)                   by date, memory budget)
//!                                                                  │ largest day
//!                                                                  ▼
//!                                                  writer thread: sort, Parquet, sync
//! ```
//!
//! Work is handed on in input order and flushes depend only on the data, so
//! the same input always gives the same files. An object that fails part
//! way is named, and every row it contributed is taken out of the files
//! before anything is committed; its ledger entry is not written, so the
//! next run tries it again.

mod commit;
mod reader;
mod rollback;
pub mod summary;
mod worker;
mod writer;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use arrow::array::RecordBatch;
use rayon::prelude::*;

use commit::commit;
use reader::{Read, Stored, read_objects};
use rollback::remove_rows_of;
use worker::{Parsed, parse_chunk};
use writer::{FlushJob, Flushed, write_day};

use crate::batch::Reject;
use crate::civil::{self, date_string};
use crate::lake::ledger::{self, Entry};
use crate::lake::retry::{self, RetryList};
use crate::lake::{Lake, Table};
use crate::schema::{self};
use crate::source::{Location, Object, S3Url, Selection, delivery_time, find, path_name};

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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let started = Instant::now();
    let lake = Lake::at(&opts.lake, &opts.selection.s3)?;
    let fresh = rt.block_on(lake.is_new())?;
    let outcome = run_locked(opts, &rt, &lake, started);
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
    let recovered = rt
        .block_on(lake.recover())
        .context("completing an interrupted run")?;
    let logs_table = rt.block_on(lake.open(Table::Logs))?;
    let ledger_table = rt.block_on(lake.open(Table::Ingested))?;
    let seq = match &ledger_table {
        Some(t) => rt.block_on(Lake::committed_seq(t))?,
        None => 0,
    } + 1;
    let run_id = format!("run-{seq:06}");
    let seen = match &ledger_table {
        Some(t) => rt.block_on(ledger::read(lake, t))?,
        None => BTreeMap::new(),
    };
    // Days that held data before this run and the runs it just completed
    // (whose records it reports as its own): records into them are late.
    let recovered_paths: BTreeSet<&str> = recovered
        .iter()
        .flat_map(|m| m.adds.get(&Table::Logs).into_iter().flatten())
        .map(|a| a.path.as_str())
        .collect();
    let mut existing_days = BTreeSet::new();
    if let Some(t) = &logs_table {
        for f in rt.block_on(Lake::files(t))? {
            if !recovered_paths.contains(f.path.as_str())
                && let Some(date) = f.partition.get(schema::DATE).cloned().flatten()
            {
                existing_days.insert(date);
            }
        }
    }

    let mut summary = Summary::default();
    let mut selection = opts.selection.clone();
    if let Some(lookback) = opts.lookback_days {
        selection.resume = high_water_marks(&opts.sources, &seen, lookback);
    }
    let listing = Instant::now();
    let found = find(&opts.sources, &selection);
    summary.list_seconds = listing.elapsed().as_secs_f64();
    for m in found.errors {
        summary.errors.push(format!("{}: {}", m.source, m.error));
    }
    summary.list_requests = found.list.requests;
    let mut found = found.objects;

    // Objects that failed before are read whatever the listing window.
    let stored_retry = rt.block_on(RetryList::read(lake))?;
    let mut retry = stored_retry.clone();
    let prefixes = retry::source_prefixes(&opts.sources);
    retry.remove(|o| seen.contains_key(o));
    let listed: BTreeSet<String> = found.iter().filter_map(|o| ledger_name(o).ok()).collect();
    let mut gone = BTreeSet::new();
    for entry in &retry.objects {
        if !retry::under(&entry.object, &prefixes) || listed.contains(&entry.object) {
            continue;
        }
        match retry::find(entry, &opts.selection.s3) {
            retry::Found::Object(o) => {
                summary.objects_retried += 1;
                found.push(o);
            }
            retry::Found::Gone(why) => {
                summary.errors.push(format!(
                    "{}: failed in {} and was to be read again, but it no longer exists ({why}); \
                     dropped from the retry list, its records are lost",
                    entry.object, entry.since_run
                ));
                gone.insert(entry.object.clone());
            }
            retry::Found::Failed(why) => summary.errors.push(format!(
                "{}: to be read again (failed in {}), but it cannot be looked up: {why}",
                entry.object, entry.since_run
            )),
        }
    }
    retry.remove(|o| gone.contains(o));

    // The lake's own files are never logs (a lake inside a source folder
    // would turn its Parquet files into rejects, more on every run).
    let lake_prefix = match lake.is_remote() {
        true => Some(format!("{}/", lake.display().trim_end_matches('/'))),
        false => std::fs::canonicalize(&opts.lake)
            .ok()
            .map(|p| format!("{}/", path_name(&p))),
    };
    let mut planned: BTreeSet<String> = BTreeSet::new();

    // Plan: what is new, what is unchanged, what changed.
    let mut todo: Vec<(Object, String)> = Vec::new();
    let mut replaced: BTreeSet<String> = BTreeSet::new();
    for object in found {
        let name = match ledger_name(&object) {
            Ok(name) => name,
            Err(e) => {
                summary.errors.push(format!("{}: {e}", object.name));
                continue;
            }
        };
        if lake_prefix
            .as_ref()
            .is_some_and(|p| name.starts_with(p.as_str()))
        {
            summary.objects_in_lake += 1;
            continue;
        }
        // A source given twice, or a file and its folder: read once.
        if !planned.insert(name.clone()) {
            continue;
        }
        summary.objects_found += 1;
        let modified = retry::micros(object.modified);
        // On S3 the ETag says whether an object changed (its modification
        // time is when it was written, which a copy changes); on disk the
        // modification time does.
        let unchanged = |s: &ledger::Seen| {
            s.size == object.size as i64
                && match (&object.etag, &s.etag) {
                    (Some(a), Some(b)) => a == b,
                    _ => s.modified == modified,
                }
        };
        match seen.get(&name) {
            Some(s) if unchanged(s) => {
                summary.objects_skipped += 1;
            }
            Some(_) if opts.reingest_changed => {
                replaced.insert(name.clone());
                todo.push((object, name));
            }
            Some(s) => summary.errors.push(format!(
                "{name}: changed since it was ingested (size {} -> {}); S3 log objects never \
                 change, so it was not read again (--reingest-changed replaces its records)",
                s.size, object.size
            )),
            None => todo.push((object, name)),
        }
    }

    let table_dir = lake.table_dir(Table::Logs);
    let mut tallies = vec![ObjectTally::default(); todo.len()];
    let mut days: BTreeMap<i32, u64> = BTreeMap::new();
    let mut lag = LagHistogram::default();
    let mut file_time_lag = LagHistogram::default();
    let mut timed_by_file = BTreeSet::new();
    let mut rejects: Vec<Reject> = Vec::new();
    let mut flushed: Vec<Flushed> = Vec::new();

    if !todo.is_empty() {
        let total_bytes: u64 = todo.iter().map(|(o, _)| o.size).sum();
        let bar = progress_bar(opts.progress, total_bytes);
        // When each object was delivered: the time in its name, else S3's
        // LastModified (when S3 wrote it), else the local file's
        // modification time, which is right only if the copy kept S3's (as
        // `aws s3 sync` does, and git or a plain `cp` do not): lags by file
        // time are reported apart.
        let modified = |o: &Object| retry::micros(o.modified);
        let (delivered, by_file_time): (Vec<Option<i64>>, Vec<bool>) = todo
            .iter()
            .map(|(o, name)| match delivery_time(name) {
                Some(t) => (Some(t), false),
                None => (modified(o), matches!(o.location, Location::File(_))),
            })
            .unzip();
        let names: Vec<String> = todo.iter().map(|(_, n)| n.clone()).collect();
        let objects: Vec<Object> = todo.iter().map(|(o, _)| o.clone()).collect();
        let workers = rayon::current_num_threads().max(1);
        std::thread::scope(|scope| -> Result<()> {
            let (chunk_tx, chunk_rx) = sync_channel::<Read>(workers * 2);
            scope.spawn(move || read_objects(objects, chunk_tx));
            // Writers encode days in parallel; each file's name is fixed
            // before it is handed over, so the lake does not depend on which
            // writer finishes first.
            let (job_tx, job_rx) = sync_channel::<FlushJob>(0);
            let job_rx = Arc::new(std::sync::Mutex::new(job_rx));
            let writers: Vec<_> = (0..opts.writers.max(1))
                .map(|_| {
                    let (job_rx, table_dir) = (Arc::clone(&job_rx), &table_dir);
                    scope.spawn(move || -> Result<Vec<Flushed>> {
                        let mut done = Vec::new();
                        loop {
                            let job = match job_rx.lock() {
                                Ok(rx) => rx.recv(),
                                Err(_) => return Err(anyhow!("a Parquet writer panicked")),
                            };
                            let Ok(job) = job else { return Ok(done) };
                            done.push(write_day(table_dir, &job)?);
                        }
                    })
                })
                .collect();
            // Only the writers hold the receiver: when they have all stopped
            // (on an error), a hand-over fails instead of waiting forever.
            drop(job_rx);
            let mut buffers: BTreeMap<i32, (Vec<RecordBatch>, usize, BTreeSet<usize>)> =
                BTreeMap::new();
            let mut buffered = 0usize;
            let mut file_no = 0usize;
            let mut send = |day: i32,
                            (batches, _, objects): (Vec<RecordBatch>, usize, BTreeSet<usize>)|
             -> Result<()> {
                let rel_path = format!(
                    "{}={}/part-{seq:06}-{file_no:05}.zstd.parquet",
                    schema::DATE,
                    date_string(day)
                );
                file_no += 1;
                job_tx
                    .send(FlushJob {
                        day,
                        batches,
                        objects,
                        rel_path,
                    })
                    .map_err(|_| anyhow!("the Parquet writer stopped"))
            };
            let pump = || -> Result<()> {
                let mut wave: Vec<Read> = Vec::with_capacity(workers * 2);
                let mut rx: Option<Receiver<Read>> = Some(chunk_rx);
                while let Some(r) = rx.as_ref() {
                    wave.clear();
                    match r.recv() {
                        Ok(first) => wave.push(first),
                        Err(_) => {
                            rx = None;
                            continue;
                        }
                    }
                    while wave.len() < workers * 2 {
                        match r.try_recv() {
                            Ok(item) => wave.push(item),
                            Err(_) => break,
                        }
                    }
                    let parsed: Vec<Vec<Result<Parsed, (usize, String)>>> = wave
                        .par_iter()
                        .map(|item| match item {
                            Read::Chunks(chunks) => chunks
                                .iter()
                                .map(|(i, chunk)| {
                                    parse_chunk(*i, &names[*i], chunk, delivered[*i])
                                        .map_err(|e| (*i, format!("{e:#}")))
                                })
                                .collect(),
                            Read::Failed(i, why) => vec![Err((*i, why.clone()))],
                            Read::Done(..) => Vec::new(),
                        })
                        .collect();
                    for item in &wave {
                        if let Read::Done(done) = item {
                            for (i, stored) in done {
                                tallies[*i].stored = *stored;
                            }
                        }
                    }
                    for p in parsed.into_iter().flatten() {
                        let p = match p {
                            Ok(p) => p,
                            Err((i, why)) => {
                                tallies[i].failed.get_or_insert(why);
                                continue;
                            }
                        };
                        bar.inc(p.bytes);
                        summary.bytes += p.bytes;
                        summary.lossy_utf8_records += p.lossy;
                        let t = &mut tallies[p.object];
                        t.records += p.records as i64;
                        t.rejects += p.rejects.len() as i64;
                        t.first = min_opt(t.first, p.first);
                        t.last = t.last.max(p.last);
                        if by_file_time[p.object] {
                            file_time_lag.merge(&p.lag);
                            timed_by_file.insert(p.object);
                        } else {
                            lag.merge(&p.lag);
                        }
                        rejects.extend(p.rejects);
                        for (day, batch) in p.days {
                            *days.entry(day).or_default() += batch.num_rows() as u64;
                            let size = batch.get_array_memory_size();
                            let buf = buffers.entry(day).or_default();
                            buf.0.push(batch);
                            buf.1 += size;
                            buf.2.insert(p.object);
                            buffered += size;
                        }
                        while buffered > opts.memory_budget {
                            let Some((&day, _)) = buffers
                                .iter()
                                .max_by_key(|(d, b)| (b.1, std::cmp::Reverse(**d)))
                            else {
                                break;
                            };
                            if let Some(buf) = buffers.remove(&day) {
                                buffered -= buf.1;
                                send(day, buf)?;
                            }
                        }
                    }
                }
                for (day, buf) in std::mem::take(&mut buffers) {
                    send(day, buf)?;
                }
                Ok(())
            };
            let pumped = pump();
            drop(job_tx);
            bar.finish_and_clear();
            // When the writer failed, its own error explains the failed
            // hand-over best.
            for w in writers {
                flushed.extend(
                    w.join()
                        .map_err(|_| anyhow!("a Parquet writer panicked"))??,
                );
            }
            flushed.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
            pumped
        })?;
    }

    // Objects that failed: name them, and take their rows back out.
    let failed: BTreeSet<usize> = tallies
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.failed.as_ref().map(|_| i))
        .collect();
    for &i in &failed {
        let why = tallies[i].failed.clone().unwrap_or_default();
        summary.errors.push(format!(
            "{}: {why}; none of its records were committed",
            todo[i].1
        ));
    }
    summary.objects_failed = failed.len() as u64;
    if !failed.is_empty() {
        let failed_names: BTreeSet<&str> = failed.iter().map(|&i| todo[i].1.as_str()).collect();
        rejects.retain(|r| !failed_names.contains(&*r.source_file));
        for f in flushed
            .iter_mut()
            .filter(|f| !f.objects.is_disjoint(&failed))
        {
            remove_rows_of(&table_dir, f, &failed_names, &mut days)?;
        }
        flushed.retain(|f| f.rows > 0);
    }

    // Ledger entries for the objects read whole.
    let now = civil::now_micros();
    let entries: Vec<Entry> = todo
        .iter()
        .zip(&tallies)
        .filter(|(_, t)| t.failed.is_none())
        .map(|((o, name), t)| Entry {
            object: name.clone(),
            size: t.stored.size.unwrap_or(o.size) as i64,
            modified: t.stored.modified.or(retry::micros(o.modified)),
            etag: o.etag.clone(),
            records: t.records,
            rejects: t.rejects,
            first_request_time: t.first,
            last_request_time: t.last,
            run_id: run_id.clone(),
            ingested_at: now,
        })
        .collect();
    summary.objects_ingested = entries.len() as u64;

    // The objects to read again: this run's failures join the list before
    // anything is committed, and leave it once their records are.
    for &i in &failed {
        let why = tallies[i].failed.as_deref().unwrap_or_default();
        retry.failed(&todo[i].1, why, &run_id);
    }
    if retry != stored_retry {
        rt.block_on(retry.write(lake))?;
    }

    let mut version = logs_table
        .as_ref()
        .and_then(|t| t.version())
        .map(|v| v as i64);
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
    let mut changed: BTreeMap<String, (u64, bool)> = BTreeMap::new();
    for m in &recovered {
        if m.kind != "ingest" {
            continue;
        }
        summary.recovered_runs.push(m.run_id.clone());
        for add in m.adds.get(&Table::Logs).into_iter().flatten() {
            let Some(date) = add.partition_values.get(schema::DATE).cloned().flatten() else {
                continue;
            };
            let rows = add
                .get_stats()
                .ok()
                .flatten()
                .map_or(0, |s| s.num_records.max(0) as u64);
            let late = existing_days.contains(&date);
            let e = changed.entry(date).or_insert((0, late));
            e.0 += rows;
        }
    }
    if !summary.recovered_runs.is_empty() {
        summary.committed = true;
    }
    for (&d, &n) in &days {
        if n == 0 || !summary.committed {
            continue;
        }
        let date = date_string(d);
        let late = existing_days.contains(&date);
        let e = changed.entry(date).or_insert((0, late));
        e.0 += n;
        e.1 |= late;
    }
    summary.days = changed
        .into_iter()
        .map(|(date, (records, late))| DaySummary {
            date,
            records,
            late,
        })
        .collect();
    summary.records = summary.days.iter().map(|d| d.records).sum();
    summary.late_records = summary
        .days
        .iter()
        .filter(|d| d.late)
        .map(|d| d.records)
        .sum();
    summary.table_version = version;
    summary.delivery_lag_max_secs = lag.max();
    summary.delivery_lag_p50_secs = lag.p50();
    summary.file_time_lag_objects = timed_by_file.len() as u64;
    summary.file_time_lag_max_secs = file_time_lag.max();
    summary.file_time_lag_p50_secs = file_time_lag.p50();
    summary.seconds = started.elapsed().as_secs_f64();
    summary.mb_per_sec = summary.bytes as f64 / 1e6 / summary.seconds.max(1e-9);
    Ok(Outcome { summary })
}

/// The name of an object in the ledger and `source_file`: its key on S3,
/// its canonical path on disk (see [`path_name`]).
fn ledger_name(object: &Object) -> std::io::Result<String> {
    match object.local_path() {
        None => Ok(object.name.clone()),
        Some(p) => Ok(path_name(&std::fs::canonicalize(p)?)),
    }
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Where each `s3://` source's listing may start: `lookback` days before
/// the latest day named by an object of it in the ledger.
fn high_water_marks(
    sources: &[PathBuf],
    seen: &BTreeMap<String, ledger::Seen>,
    lookback: i32,
) -> HashMap<String, i32> {
    let mut out = HashMap::new();
    for source in sources {
        let Some(text) = source.to_str() else {
            continue;
        };
        let Some(url) = S3Url::parse(text) else {
            continue;
        };
        let start = url.object_url(&url.prefix);
        let latest = seen
            .range(start.clone()..)
            .take_while(|(name, _)| name.starts_with(&start))
            .filter_map(|(name, _)| crate::source::s3::name_day(name))
            .max();
        if let Some(day) = latest {
            out.insert(text.to_string(), day - lookback);
        }
    }
    out
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
