//! Reading a run's objects into files: the reader thread, the parsing
//! workers, the day buffers and the writers, wired together.
//!
//! ```text
//!  reader thread ──chunks──► rayon workers ──parsed chunks, in order──► this thread
//!  (objects in order,        (parse, build Arrow,             (day buffers under
//!   decompress)               split by date)                   the memory budget)
//!                                                                  │ largest day
//!                                                                  ▼
//!                                                  writer threads: sort, Parquet, sync
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use anyhow::{Result, anyhow};
use arrow::array::RecordBatch;
use rayon::prelude::*;

use super::reader::{Read, read_objects};
use super::worker::{Parsed, parse_bundle};
use super::writer::{DayFile, FILE_ROWS, FlushJob, Flushed, encoder, write_job};
use super::{LagHistogram, ObjectTally, Options, Summary, min_opt};
use crate::batch::Reject;
use crate::civil::date_string;
use crate::lake::retry;
use crate::schema;
use crate::source::{Location, Object, delivery_time};

/// What reading the objects gave, before anything is committed.
#[derive(Default)]
pub(super) struct ReadAll {
    /// Per object, in input order.
    pub(super) tallies: Vec<ObjectTally>,
    /// Records per UTC day.
    pub(super) days: BTreeMap<i32, u64>,
    /// Delivery lags from object names and S3 times.
    pub(super) lag: LagHistogram,
    /// Delivery lags from local file times, and the objects timed so.
    pub(super) file_time_lag: LagHistogram,
    pub(super) timed_by_file: BTreeSet<usize>,
    /// Rejected lines, in input order.
    pub(super) rejects: Vec<Reject>,
    /// The files written, sorted by path.
    pub(super) flushed: Vec<Flushed>,
}

/// A day's batches waiting to be written, and the objects they came from.
#[derive(Default)]
pub(super) struct DayBuffer {
    batches: Vec<RecordBatch>,
    bytes: usize,
    objects: BTreeSet<usize>,
}

/// The rows read and not yet written, by day, within a memory budget: once
/// more than the budget is buffered, the largest day goes to a writer.
/// Flushes depend only on the data, so the same input gives the same files.
pub(super) struct DayBuffers {
    days: BTreeMap<i32, DayBuffer>,
    buffered: usize,
    budget: usize,
}

impl DayBuffers {
    pub(super) fn new(budget: usize) -> Self {
        DayBuffers {
            days: BTreeMap::new(),
            buffered: 0,
            budget,
        }
    }

    /// Adds a batch of one day's rows from `objects`.
    pub(super) fn add(&mut self, day: i32, batch: RecordBatch, objects: &BTreeSet<usize>) {
        let size = batch.get_array_memory_size();
        let buf = self.days.entry(day).or_default();
        buf.batches.push(batch);
        buf.bytes += size;
        buf.objects.extend(objects);
        self.buffered += size;
    }

    /// While over the budget: the largest day (the earliest of equals),
    /// taken out to be written.
    pub(super) fn over_budget(&mut self) -> Option<(i32, DayBuffer)> {
        if self.buffered <= self.budget {
            return None;
        }
        let (&day, _) = self
            .days
            .iter()
            .max_by_key(|(d, b)| (b.bytes, std::cmp::Reverse(**d)))?;
        let buf = self.days.remove(&day)?;
        self.buffered -= buf.bytes;
        Some((day, buf))
    }

    /// Every day left, in order.
    pub(super) fn drain(&mut self) -> BTreeMap<i32, DayBuffer> {
        self.buffered = 0;
        std::mem::take(&mut self.days)
    }
}

/// Hands days to the writer threads, each to its day's file, naming every
/// file and numbering every hand-over before it goes, so the lake does not
/// depend on which writer finishes first.
struct Dispatch {
    tx: SyncSender<FlushJob>,
    /// The writer's tag (`s2of4-` for a shard) and the run's sequence.
    tag: String,
    seq: i64,
    file_no: usize,
    /// Per day, its file open for appending, the hand-overs sent to it and
    /// its rows.
    open: BTreeMap<i32, (Arc<DayFile>, usize, u64)>,
    /// Every file started, in order: closed once the writers are done.
    files: Vec<Arc<DayFile>>,
}

impl Dispatch {
    fn send(&mut self, day: i32, buf: DayBuffer) -> Result<()> {
        let rows: u64 = buf.batches.iter().map(|b| b.num_rows() as u64).sum();
        let full = self
            .open
            .get(&day)
            .is_none_or(|(_, _, r)| *r > 0 && r + rows > FILE_ROWS);
        if full {
            let rel_path = format!(
                "{}={}/part-{}{:06}-{:05}.zstd.parquet",
                schema::DATE,
                date_string(day),
                self.tag,
                self.seq,
                self.file_no
            );
            self.file_no += 1;
            let file = Arc::new(DayFile::new(day, rel_path));
            self.files.push(Arc::clone(&file));
            self.open.insert(day, (file, 0, 0));
        }
        let (file, turns, in_file) = self
            .open
            .get_mut(&day)
            .ok_or_else(|| anyhow!("no file for the day"))?;
        let turn = *turns;
        *turns += 1;
        *in_file += rows;
        self.tx
            .send(FlushJob {
                batches: buf.batches,
                objects: buf.objects,
                file: Arc::clone(file),
                turn,
            })
            .map_err(|_| anyhow!("the Parquet writer stopped"))
    }
}

/// Reads `todo` (objects and their ledger names) into Parquet files of run
/// `seq` under `table_dir`; bytes read and lossy records go to `summary`.
pub(super) fn read(
    opts: &Options,
    todo: &[(Object, String)],
    seq: i64,
    table_dir: &Path,
    summary: &mut Summary,
) -> Result<ReadAll> {
    let mut out = ReadAll {
        tallies: vec![ObjectTally::default(); todo.len()],
        ..ReadAll::default()
    };
    if todo.is_empty() {
        return Ok(out);
    }
    let total_bytes: u64 = todo.iter().map(|(o, _)| o.size).sum();
    let bar = super::progress_bar(opts.progress, total_bytes);
    // When each object was delivered: the time in its name, else S3's
    // LastModified (when S3 wrote it), else the local file's modification
    // time, which is right only if the copy kept S3's (as `aws s3 sync`
    // does, and git or a plain `cp` do not): lags by file time are
    // reported apart.
    let (delivered, by_file_time): (Vec<Option<i64>>, Vec<bool>) = todo
        .iter()
        .map(|(o, name)| match delivery_time(name) {
            Some(t) => (Some(t), false),
            None => (
                retry::micros(o.modified),
                matches!(o.location, Location::File(_)),
            ),
        })
        .unzip();
    let names: Vec<&str> = todo.iter().map(|(_, n)| n.as_str()).collect();
    let objects: Vec<Object> = todo.iter().map(|(o, _)| o.clone()).collect();
    let workers = rayon::current_num_threads().max(1);
    let encoder = encoder()?;
    std::thread::scope(|scope| -> Result<()> {
        let (chunk_tx, chunk_rx) = sync_channel::<Read>(workers * 2);
        scope.spawn(move || read_objects(objects, chunk_tx));
        let (job_tx, job_rx) = sync_channel::<FlushJob>(0);
        let job_rx = Arc::new(std::sync::Mutex::new(job_rx));
        let writers: Vec<_> = (0..opts.writers.max(1))
            .map(|_| {
                let job_rx = Arc::clone(&job_rx);
                let encoder = &encoder;
                scope.spawn(move || -> Result<()> {
                    loop {
                        let job = match job_rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return Err(anyhow!("a Parquet writer panicked")),
                        };
                        let Ok(job) = job else { return Ok(()) };
                        write_job(table_dir, &job, encoder)?;
                    }
                })
            })
            .collect();
        // Only the writers hold the receiver: when they have all stopped
        // (on an error), a hand-over fails instead of waiting forever.
        drop(job_rx);
        let mut dispatch = Dispatch {
            tx: job_tx,
            tag: crate::lake::Writer::tag(&opts.shard),
            seq,
            file_no: 0,
            open: BTreeMap::new(),
            files: Vec::new(),
        };
        let mut buffers = DayBuffers::new(opts.memory_budget);
        let pump = || -> Result<()> {
            let mut wave: Vec<Read> = Vec::with_capacity(workers * 2);
            let rx: Receiver<Read> = chunk_rx;
            // A wave: what has arrived, parsed in parallel, then taken in
            // input order.
            while let Ok(first) = rx.recv() {
                wave.clear();
                wave.push(first);
                while wave.len() < workers * 2 {
                    match rx.try_recv() {
                        Ok(item) => wave.push(item),
                        Err(_) => break,
                    }
                }
                let parsed: Vec<Vec<Result<Parsed, (usize, String)>>> = wave
                    .par_iter()
                    .map(|item| match item {
                        Read::Chunks(chunks) => {
                            match parse_bundle(chunks, |i| (names[i], delivered[i])) {
                                Ok(parsed) => parsed.into_iter().map(Ok).collect(),
                                // Each object of the bundle failed.
                                Err(e) => chunks
                                    .iter()
                                    .map(|(i, _)| Err((*i, format!("{e:#}"))))
                                    .collect(),
                            }
                        }
                        Read::Failed(i, why) => vec![Err((*i, why.clone()))],
                        Read::Done(..) => Vec::new(),
                    })
                    .collect();
                for item in &wave {
                    if let Read::Done(done) = item {
                        for (i, stored) in done {
                            out.tallies[*i].stored = *stored;
                        }
                    }
                }
                for p in parsed.into_iter().flatten() {
                    let p = match p {
                        Ok(p) => p,
                        Err((i, why)) => {
                            out.tallies[i].failed.get_or_insert(why);
                            continue;
                        }
                    };
                    bar.inc(p.bytes);
                    summary.bytes += p.bytes;
                    summary.lossy_utf8_records += p.lossy;
                    let t = &mut out.tallies[p.object];
                    t.records += p.records as i64;
                    t.rejects += p.rejects.len() as i64;
                    t.first = min_opt(t.first, p.first);
                    t.last = t.last.max(p.last);
                    if by_file_time[p.object] {
                        out.file_time_lag.merge(&p.lag);
                        out.timed_by_file.insert(p.object);
                    } else {
                        out.lag.merge(&p.lag);
                    }
                    out.rejects.extend(p.rejects);
                    for (day, batch) in p.days {
                        *out.days.entry(day).or_default() += batch.num_rows() as u64;
                        buffers.add(day, batch, &p.day_objects);
                    }
                    while let Some((day, buf)) = buffers.over_budget() {
                        dispatch.send(day, buf)?;
                    }
                }
            }
            for (day, buf) in buffers.drain() {
                dispatch.send(day, buf)?;
            }
            Ok(())
        };
        let pumped = pump();
        let files = std::mem::take(&mut dispatch.files);
        drop(dispatch);
        bar.finish_and_clear();
        // When the writer failed, its own error explains the failed
        // hand-over best.
        for w in writers {
            w.join()
                .map_err(|_| anyhow!("a Parquet writer panicked"))??;
        }
        pumped?;
        // The footers, written and synced side by side.
        out.flushed = files
            .par_iter()
            .map(|f| f.close(table_dir))
            .collect::<Result<_>>()?;
        out.flushed.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
        Ok(())
    })?;
    Ok(out)
}
