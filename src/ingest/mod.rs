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

pub mod summary;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use arrow::array::{Array, AsArray, BooleanArray, RecordBatch, StringArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::TimestampMicrosecondType;
use deltalake::kernel::Add;
use rayon::prelude::*;

use crate::batch::{BATCH_ROWS, LogBatchBuilder, Reject, RejectBatchBuilder};
use crate::civil::{self, date_string};
use crate::lake::ledger::{self, Entry};
use crate::lake::manifest::Manifest;
use crate::lake::retry::{self, RetryList};
use crate::lake::{
    Lake, Table, add_action, crash_point, read_parquet, remove_action, write_parquet,
    write_parquet_iter,
};
use crate::parse::{LogRecord, Reason};
use crate::scan::{Sink, scan};
use crate::schema::{self, Column};
use crate::source::{
    Chunk, ChunkReader, Line, Location, Object, Prefetch, S3Url, Selection, delivery_time, find,
    path_name,
};

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

/// What the parse of one chunk produced.
struct Parsed {
    object: usize,
    /// Record batches, one per UTC day in the chunk.
    days: Vec<(i32, RecordBatch)>,
    rejects: Vec<Reject>,
    records: u64,
    lossy: u64,
    bytes: u64,
    first: Option<i64>,
    last: Option<i64>,
    lag: LagHistogram,
}

/// A message from the reader thread.
enum Read {
    /// Chunks, each with the index of its object: one chunk, or the chunks
    /// of several small objects (see [`BUNDLE_BYTES`]).
    Chunks(Vec<(usize, Chunk)>),
    Failed(usize, String),
    /// Objects read to their end, after their chunks: what was read of
    /// each (see [`Stored`]).
    Done(Vec<(usize, Stored)>),
}

/// What the ledger records of a local object: the bytes read from it and
/// its modification time once they were read, not what the listing saw
/// (a file that grew while it was read was ingested whole, then reported
/// as changed on every later run).
#[derive(Clone, Copy, Debug, Default)]
struct Stored {
    size: Option<u64>,
    modified: Option<i64>,
}

/// Chunks travel to the workers in bundles of up to this many bytes, so
/// that a worker takes many small objects (S3 delivers objects of a few
/// kilobytes) at one hand-over rather than one, and parsing is not spent
/// waiting on hand-overs. A chunk of [`crate::source::CHUNK_SIZE`] goes
/// alone.
const BUNDLE_BYTES: usize = 1 << 20;

fn parse_chunk(
    object: usize,
    source: &str,
    chunk: &Chunk,
    delivered: Option<i64>,
) -> Result<Parsed> {
    let mut out = Parsed {
        object,
        days: Vec::new(),
        rejects: Vec::new(),
        records: 0,
        lossy: 0,
        bytes: chunk.overlong.unwrap_or(chunk.data.len() as u64),
        first: None,
        last: None,
        lag: LagHistogram::default(),
    };
    // Sized for the chunk's lines: a batch's buffers are what the memory
    // budget counts, and a builder for 8,192 rows holding the 50 lines of a
    // small object made each count for 4 MB, so the budget filled after a
    // few objects and days were written out in many small files.
    let rows = usize::try_from(chunk.line_count).map_or(BATCH_ROWS, |n| n.clamp(1, BATCH_ROWS));
    let mut sink = ChunkSink {
        out: &mut out,
        source,
        source_arc: Arc::from(source),
        delivered,
        builder: LogBatchBuilder::with_capacity(rows),
        batches: Vec::new(),
    };
    scan(chunk, &mut sink);
    let mut batches = std::mem::take(&mut sink.batches);
    if !sink.builder.is_empty() {
        batches.push(sink.builder.finish());
    }
    for batch in batches {
        out.days.extend(split_by_day(&batch)?);
    }
    Ok(out)
}

/// Where [`parse_chunk`] puts what it reads.
struct ChunkSink<'a> {
    out: &'a mut Parsed,
    source: &'a str,
    source_arc: Arc<str>,
    delivered: Option<i64>,
    builder: LogBatchBuilder,
    batches: Vec<RecordBatch>,
}

impl Sink for ChunkSink<'_> {
    fn record(&mut self, line: &Line<'_>, rec: &LogRecord<'_>) -> bool {
        let out = &mut *self.out;
        out.records += 1;
        out.lossy += u64::from(rec.lossy_utf8);
        out.first = min_opt(out.first, Some(rec.request_time));
        out.last = out.last.max(Some(rec.request_time));
        if let Some(d) = self.delivered {
            out.lag.add((d - rec.request_time) / 1_000_000);
        }
        self.builder.append(rec, self.source, line.number as i64);
        if self.builder.is_full() {
            self.batches.push(self.builder.finish());
        }
        true
    }

    fn reject(&mut self, line: &Line<'_>, reason: Reason) -> bool {
        self.out
            .rejects
            .push(Reject::line(&self.source_arc, line, reason));
        true
    }

    fn overlong(&mut self, chunk: &Chunk) -> bool {
        self.out
            .rejects
            .push(Reject::overlong(&self.source_arc, chunk));
        true
    }
}

/// Splits a batch of records into one batch per UTC day.
fn split_by_day(batch: &RecordBatch) -> Result<Vec<(i32, RecordBatch)>> {
    let times = batch
        .column(Column::RequestTime.index())
        .as_primitive::<TimestampMicrosecondType>();
    let days: Vec<i32> = times.values().iter().map(|&t| civil::day_of(t)).collect();
    let distinct: BTreeSet<i32> = days.iter().copied().collect();
    if distinct.len() <= 1 {
        return Ok(distinct.into_iter().map(|d| (d, batch.clone())).collect());
    }
    distinct
        .into_iter()
        .map(|d| {
            let mask = BooleanArray::from_iter(days.iter().map(|&x| Some(x == d)));
            Ok((d, filter_record_batch(batch, &mask)?))
        })
        .collect()
}

/// A day's rows handed to the writer thread.
struct FlushJob {
    day: i32,
    batches: Vec<RecordBatch>,
    objects: BTreeSet<usize>,
    rel_path: String,
}

/// A file the writer thread finished.
struct Flushed {
    day: i32,
    rel_path: String,
    rows: i64,
    size: i64,
    first: Option<i64>,
    last: Option<i64>,
    objects: BTreeSet<usize>,
}

/// Rows of a day, sorted by `request_time` and then input order (which is
/// deterministic), in slices of `slice` rows: the sorted day is never
/// materialised whole, so a writer holds its input and one slice.
fn sorted_slices(
    batches: &[RecordBatch],
    slice: usize,
) -> impl Iterator<Item = Result<RecordBatch>> + '_ {
    let mut keys: Vec<(i64, u32, u32)> =
        Vec::with_capacity(batches.iter().map(RecordBatch::num_rows).sum());
    for (b, batch) in batches.iter().enumerate() {
        let times = batch
            .column(Column::RequestTime.index())
            .as_primitive::<TimestampMicrosecondType>();
        keys.extend(
            times
                .values()
                .iter()
                .enumerate()
                .map(|(r, &t)| (t, b as u32, r as u32)),
        );
    }
    keys.sort_unstable();
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    let chunks: Vec<Vec<(usize, usize)>> = keys
        .chunks(slice.max(1))
        .map(|c| {
            c.iter()
                .map(|&(_, b, r)| (b as usize, r as usize))
                .collect()
        })
        .collect();
    chunks
        .into_iter()
        .map(move |idx| Ok(arrow::compute::interleave_record_batch(&refs, &idx)?))
}

fn write_day(dir: &Path, job: &FlushJob) -> Result<Flushed> {
    let (mut first, mut last) = (None, None);
    for b in &job.batches {
        let times = b
            .column(Column::RequestTime.index())
            .as_primitive::<TimestampMicrosecondType>();
        first = min_opt(first, times.values().iter().copied().min());
        last = last.max(times.values().iter().copied().max());
    }
    let slices = sorted_slices(&job.batches, 64 * 1024);
    let written = write_parquet_iter(&dir.join(&job.rel_path), schema::records(), slices)?;
    Ok(Flushed {
        day: job.day,
        rel_path: job.rel_path.clone(),
        rows: written.rows,
        size: written.size,
        first,
        last,
        objects: job.objects.clone(),
    })
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

/// Writes the rejects and ledger files, then the manifest, then commits the
/// run. Returns the `logs` table version after it.
#[allow(clippy::too_many_arguments)]
fn commit(
    rt: &tokio::runtime::Runtime,
    lake: &Lake,
    seq: i64,
    run_id: &str,
    entries: &[Entry],
    flushed: &[Flushed],
    rejects: &[Reject],
    mut replaced: BTreeSet<String>,
    todo: &[(Object, String)],
    tallies: &[ObjectTally],
) -> Result<i64> {
    let mut adds: BTreeMap<Table, Vec<Add>> = BTreeMap::new();
    adds.insert(
        Table::Logs,
        flushed
            .iter()
            .map(|f| {
                add_action(
                    &f.rel_path,
                    f.size,
                    f.rows,
                    Some(f.day),
                    f.first.zip(f.last),
                )
            })
            .collect(),
    );
    if !rejects.is_empty() {
        let mut b = RejectBatchBuilder::default();
        for r in rejects {
            b.append(r, run_id);
        }
        let rel = format!("part-{seq:06}-00000.zstd.parquet");
        let w = write_parquet(
            &lake.table_dir(Table::Rejects).join(&rel),
            schema::rejects(),
            &[b.finish()],
        )?;
        adds.insert(
            Table::Rejects,
            vec![add_action(&rel, w.size, w.rows, None, None)],
        );
    }
    let rel = format!("part-{seq:06}-00000.zstd.parquet");
    let w = write_parquet(
        &lake.table_dir(Table::Ingested).join(&rel),
        ledger::schema(),
        &[ledger::to_batch(entries)?],
    )?;
    adds.insert(
        Table::Ingested,
        vec![add_action(&rel, w.size, w.rows, None, None)],
    );

    // Objects read again: their earlier rows, rejects and ledger entries
    // leave in the same commits.
    let mut removes = BTreeMap::new();
    replaced.retain(|name| {
        todo.iter()
            .zip(tallies)
            .any(|((_, n), t)| n == name && t.failed.is_none())
    });
    if !replaced.is_empty() {
        for which in Table::ALL {
            let table = rt.block_on(lake.open_or_create(which))?;
            let (gone, added) =
                rt.block_on(without_objects(lake, &table, which, &replaced, seq))?;
            removes.insert(which, gone);
            adds.entry(which).or_default().extend(added);
        }
    }
    let manifest = Manifest {
        seq,
        run_id: run_id.to_string(),
        kind: "ingest".into(),
        adds,
        removes,
    };
    rt.block_on(lake.publish(&manifest.adds))?;
    let at = rt.block_on(lake.write_manifest(&manifest))?;
    crash_point("after-manifest");
    rt.block_on(lake.commit_manifest(&at, &manifest))
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

/// For objects read again: every committed file of `table` holding rows of
/// `objects`, removed, and rewritten without those rows.
async fn without_objects(
    lake: &Lake,
    table: &deltalake::DeltaTable,
    which: Table,
    objects: &BTreeSet<String>,
    seq: i64,
) -> Result<(Vec<deltalake::kernel::Remove>, Vec<Add>)> {
    let (schema, name_column) = match which {
        Table::Logs => (schema::records(), schema::SOURCE_FILE),
        Table::Rejects => (schema::rejects(), schema::SOURCE_FILE),
        Table::Ingested => (ledger::schema(), "object"),
    };
    let source_col = schema.index_of(name_column)?;
    let dir = lake.table_dir(which);
    let (mut removes, mut adds) = (Vec::new(), Vec::new());
    for f in Lake::files(table).await? {
        let batches = lake.read_file(which, &f.path).await?;
        let mut kept = Vec::new();
        let mut hit = false;
        for b in &batches {
            let src = b.column(source_col).as_string::<i32>();
            let mask = BooleanArray::from_iter(
                (0..b.num_rows()).map(|i| Some(src.is_null(i) || !objects.contains(src.value(i)))),
            );
            let keep = filter_record_batch(b, &mask)?;
            hit |= keep.num_rows() != b.num_rows();
            kept.push(keep);
        }
        if !hit {
            continue;
        }
        removes.push(remove_action(&f));
        let rows: usize = kept.iter().map(RecordBatch::num_rows).sum();
        if rows == 0 {
            continue;
        }
        let rel = f
            .path
            .replace(".zstd.parquet", &format!("-x{seq:06}.zstd.parquet"));
        let w = write_parquet(&dir.join(&rel), Arc::clone(&schema), &kept)?;
        let day = match f.partition.get(schema::DATE).cloned().flatten() {
            Some(d) => Some(
                civil::parse_date(&d).with_context(|| format!("the date {d:?} of {}", f.path))?,
            ),
            None => None,
        };
        adds.push(add_action(&rel, w.size, w.rows, day, None));
    }
    Ok((removes, adds))
}

/// Rewrites a written file without the rows of failed objects.
fn remove_rows_of(
    dir: &Path,
    f: &mut Flushed,
    failed: &BTreeSet<&str>,
    days: &mut BTreeMap<i32, u64>,
) -> Result<()> {
    let path = dir.join(&f.rel_path);
    let mut kept = Vec::new();
    let mut removed = 0u64;
    for b in read_parquet(&path)? {
        let src: &StringArray = b.column(Column::SourceFile.index()).as_string::<i32>();
        let mask = BooleanArray::from_iter(
            (0..b.num_rows()).map(|i| Some(src.is_null(i) || !failed.contains(src.value(i)))),
        );
        let keep = filter_record_batch(&b, &mask)?;
        removed += (b.num_rows() - keep.num_rows()) as u64;
        kept.push(keep);
    }
    std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    if let Some(n) = days.get_mut(&f.day) {
        *n -= removed.min(*n);
    }
    let rows: usize = kept.iter().map(RecordBatch::num_rows).sum();
    f.rows = rows as i64;
    if rows == 0 {
        return Ok(());
    }
    f.rel_path = f.rel_path.replace(".zstd.parquet", "-r.zstd.parquet");
    let w = write_parquet(&dir.join(&f.rel_path), schema::records(), &kept)?;
    f.size = w.size;
    Ok(())
}

/// The reader thread: every object in order, cut into chunks.
fn read_objects(objects: Vec<Object>, tx: SyncSender<Read>) {
    let mut bundle = Bundle {
        tx: &tx,
        chunks: Vec::new(),
        bytes: 0,
        done: Vec::new(),
    };
    let mut prefetch = Prefetch::new(objects);
    let mut i = 0;
    while let Some((object, reader)) = prefetch.next() {
        let reader = match reader {
            Ok(r) => r,
            Err(e) => {
                if !bundle.send(Read::Failed(i, e.to_string())) {
                    return;
                }
                i += 1;
                continue;
            }
        };
        let mut failed = false;
        for chunk in ChunkReader::new(reader) {
            let sent = match chunk {
                Ok(c) => bundle.push(i, c),
                Err(e) => {
                    failed = true;
                    bundle.send(Read::Failed(i, format!("reading failed: {e}")))
                }
            };
            if !sent {
                return;
            }
        }
        if !failed && let Some(path) = object.local_path() {
            let meta = std::fs::metadata(path).ok();
            let size = prefetch.stored_bytes_read();
            // The file's time now, if it is still as long as what was read;
            // if it grew since, it has changed and should say so.
            let modified = meta
                .filter(|m| Some(m.len()) == size)
                .and_then(|m| retry::micros(m.modified().ok()));
            let stored = Stored {
                size,
                modified: modified.or(retry::micros(object.modified)),
            };
            bundle.done.push((i, stored));
        }
        i += 1;
    }
    bundle.flush();
}

/// Chunks on their way to the workers (see [`BUNDLE_BYTES`]). Each method
/// says whether the workers still listen.
struct Bundle<'a> {
    tx: &'a SyncSender<Read>,
    chunks: Vec<(usize, Chunk)>,
    bytes: usize,
    /// Objects whose chunks are all gathered: sent after them.
    done: Vec<(usize, Stored)>,
}

impl Bundle<'_> {
    /// Adds a chunk of object `object`. The bundle is sent on before it
    /// would grow past [`BUNDLE_BYTES`], and once it reaches them.
    fn push(&mut self, object: usize, chunk: Chunk) -> bool {
        if self.bytes + chunk.data.len() > BUNDLE_BYTES && !self.flush() {
            return false;
        }
        self.bytes += chunk.data.len();
        self.chunks.push((object, chunk));
        self.bytes < BUNDLE_BYTES || self.flush()
    }

    /// Sends `msg` after the chunks gathered so far.
    fn send(&mut self, msg: Read) -> bool {
        self.flush() && self.tx.send(msg).is_ok()
    }

    /// Sends the chunks gathered so far, then the objects they finish.
    fn flush(&mut self) -> bool {
        if !self.chunks.is_empty() {
            self.bytes = 0;
            let chunks = std::mem::take(&mut self.chunks);
            if self.tx.send(Read::Chunks(chunks)).is_err() {
                return false;
            }
        }
        self.done.is_empty()
            || self
                .tx
                .send(Read::Done(std::mem::take(&mut self.done)))
                .is_ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(bytes: usize) -> Chunk {
        Chunk {
            data: vec![b'\n'; bytes],
            line_count: bytes as u64,
            ..Chunk::default()
        }
    }

    /// What the workers receive: per message, the objects and sizes of its
    /// chunks, or the failed object as a negative number.
    fn received(rx: &Receiver<Read>) -> Vec<Vec<(i64, usize)>> {
        rx.try_iter()
            .map(|m| match m {
                Read::Chunks(c) => c.iter().map(|(i, c)| (*i as i64, c.data.len())).collect(),
                Read::Failed(i, _) => vec![(-(i as i64), 0)],
                Read::Done(d) => d.iter().map(|(i, _)| (*i as i64, usize::MAX)).collect(),
            })
            .collect()
    }

    #[test]
    fn the_ledger_gets_the_size_read_not_the_size_listed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("growing.log");
        std::fs::write(&path, b"a line\n".repeat(100)).expect("write");
        let meta = std::fs::metadata(&path).expect("meta");
        // Listed when it held 10 bytes; it had grown by the time it was read.
        let mut object = Object::file(&path, &meta);
        object.size = 10;
        let (tx, rx) = sync_channel(16);
        std::thread::spawn(move || read_objects(vec![object], tx));
        let mut stored = None;
        for msg in rx.iter() {
            if let Read::Done(done) = msg {
                stored = done.first().map(|(_, s)| *s);
            }
        }
        let stored = stored.expect("a Done message");
        assert_eq!(stored.size, Some(700));
        assert_eq!(stored.modified, retry::micros(meta.modified().ok()));
    }

    #[test]
    fn small_chunks_travel_together_in_order_and_large_ones_alone() {
        let (tx, rx) = sync_channel(16);
        let mut bundle = Bundle {
            tx: &tx,
            chunks: Vec::new(),
            bytes: 0,
            done: Vec::new(),
        };
        let small = BUNDLE_BYTES / 4;
        assert!(bundle.push(1, chunk(small)));
        assert!(bundle.push(2, chunk(small)));
        // A failure goes after the chunks read before it.
        assert!(bundle.send(Read::Failed(3, "gone".into())));
        assert!(bundle.push(4, chunk(small)));
        assert!(bundle.push(5, chunk(BUNDLE_BYTES)));
        for i in 6..=10 {
            assert!(bundle.push(i, chunk(small)));
        }
        assert!(bundle.flush());
        let q = small;
        assert_eq!(
            received(&rx),
            [
                vec![(1, q), (2, q)],
                vec![(-3, 0)],
                vec![(4, q)],
                vec![(5, BUNDLE_BYTES)],
                vec![(6, q), (7, q), (8, q), (9, q)],
                vec![(10, q)],
            ]
        );
        drop(rx);
        assert!(!bundle.push(11, chunk(BUNDLE_BYTES)), "no one listens");
    }
}
