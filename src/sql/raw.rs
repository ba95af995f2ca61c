//! Raw log files as the tables `logs` and `rejects`, without ingesting:
//! the ad-hoc path for "what happened in this folder I just downloaded".
//!
//! [`RawTable`] is a DataFusion table provider over our parser. A scan
//! spreads the objects over one partition per core (largest first, onto
//! the least loaded partition), and each partition streams its objects
//! chunk by chunk through a bounded channel, so memory stays flat whatever
//! the input size. Only the columns the query reads are built: a
//! `COUNT(*)` builds none, a query on `operation` and `bytes_sent` copies
//! those two fields and skips the rest; rows that a query's filters on
//! numbers, days or NULLs drop are not built at all ([`RowFilter`]). Every
//! line is still parsed whole, since the closing rule for quoted fields
//! needs the fields around them.
//!
//! An object that cannot be read fails the query with its name; a line
//! that cannot be parsed is a row of `rejects` (`run_id` is `raw`).

use std::fmt;
use std::io::Read;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::TableType;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use tokio::sync::mpsc::Sender;

use super::raw_filter::RowFilter;
use crate::batch::{LogBatchBuilder, Reject, RejectBatchBuilder};
use crate::parse::{LogRecord, Reason};
use crate::scan::{Sink, scan};
use crate::schema;
use crate::source::{Chunk, ChunkReader, Chunks, Compression, Line, Object, Prefetch};

/// Which table a [`RawTable`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawKind {
    /// The parsed records, with the lake's `logs` schema (`date` included).
    Logs,
    /// The lines that could not be parsed, with the lake's `rejects` schema.
    Rejects,
}

/// Raw log objects read as a table.
#[derive(Debug)]
pub struct RawTable {
    objects: Arc<[Object]>,
    kind: RawKind,
}

impl RawTable {
    /// A table over the given objects (see [`crate::source::find`]).
    pub fn new(objects: Arc<[Object]>, kind: RawKind) -> Self {
        RawTable { objects, kind }
    }

    /// The objects the table reads.
    pub fn objects(&self) -> Arc<[Object]> {
        Arc::clone(&self.objects)
    }
}

/// Every row of the [`RawKind::Logs`] and [`RawKind::Rejects`] tables over
/// `objects` from one read of them: the batches of `logs` (all columns)
/// and of `rejects`, each dealt over `partitions` (at least one) in a
/// fixed order. A scan of each table would parse every line twice; a
/// report that holds both in memory reads the logs once.
///
/// With a `budget`, the read stops with [`DataFusionError::ResourcesExhausted`]
/// once the objects' text (decompressed) passes that many bytes: a size
/// guessed from compressed objects can be far off (a log that compresses a
/// hundredfold), and what is held is about one and a half times the text.
pub fn read_both(
    objects: &[Object],
    partitions: usize,
    budget: Option<u64>,
) -> Result<(Batches, Batches)> {
    let text_read = std::sync::atomic::AtomicU64::new(0);
    let within = |bytes: usize| -> Result<()> {
        let total =
            text_read.fetch_add(bytes as u64, std::sync::atomic::Ordering::Relaxed) + bytes as u64;
        match budget {
            Some(b) if total > b => Err(DataFusionError::ResourcesExhausted(format!(
                "the logs hold more than the {b} bytes of text to hold in memory"
            ))),
            _ => Ok(()),
        }
    };
    let pieces = pieces(objects);
    let sizes: Vec<u64> = pieces.iter().map(Piece::size).collect();
    let groups: Vec<Vec<Piece>> = spread(&sizes, partitions)
        .into_iter()
        .map(|g| g.into_iter().map(|i| pieces[i].clone()).collect())
        .collect();
    let read = std::thread::scope(|s| {
        let handles: Vec<_> = groups
            .into_iter()
            .map(|g| s.spawn(|| read_pieces(g, &within)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(DataFusionError::Internal("a raw reader panicked".into()))
                })
            })
            .collect::<Result<Vec<_>>>()
    })?;
    let (mut logs, mut rejects) = (Vec::new(), Vec::new());
    for (l, r) in read {
        logs.extend(l);
        rejects.extend(r);
    }
    let n = partitions.max(1);
    Ok((super::round_robin(logs, n), super::round_robin(rejects, n)))
}

/// Batches dealt over partitions, as a `MemTable` takes them.
pub type Batches = Vec<Vec<RecordBatch>>;

#[async_trait]
impl TableProvider for RawTable {
    fn schema(&self) -> SchemaRef {
        match self.kind {
            RawKind::Logs => schema::logs(),
            RawKind::Rejects => schema::rejects(),
        }
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// The filters a record can answer, on `logs`, as inexact: the scan
    /// skips building the rows they drop ([`RowFilter`]), and DataFusion
    /// still applies them after it.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if self.kind == RawKind::Logs && RowFilter::supports(f) {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let filter = Arc::new(RowFilter::new(filters));
        let pieces = pieces(&self.objects);
        let sizes: Vec<u64> = pieces.iter().map(Piece::size).collect();
        let groups: Vec<Vec<Piece>> = spread(&sizes, state.config().target_partitions())
            .into_iter()
            .map(|g| g.into_iter().map(|i| pieces[i].clone()).collect())
            .collect();
        // What the partitions build, and how the exec then projects it.
        let (built, columns, exec_projection) = match (self.kind, projection) {
            (RawKind::Logs, Some(p)) => {
                // Logs partitions build only the projected columns, in
                // schema order; the exec puts them in the plan's order.
                let mut sorted = p.clone();
                sorted.sort_unstable();
                sorted.dedup();
                let order: Vec<usize> = p
                    .iter()
                    .map(|c| sorted.binary_search(c).unwrap_or_default())
                    .collect();
                let built = Arc::new(schema::logs().project(&sorted)?);
                (built, Some(sorted), Some(order))
            }
            (RawKind::Logs, None) => (schema::logs(), None, None),
            (RawKind::Rejects, p) => (schema::rejects(), None, p.cloned()),
        };
        let partitions: Vec<Arc<dyn PartitionStream>> = groups
            .into_iter()
            .map(|pieces| {
                Arc::new(RawPartition {
                    pieces,
                    kind: self.kind,
                    columns: columns.clone(),
                    filter: Arc::clone(&filter),
                    schema: Arc::clone(&built),
                }) as Arc<dyn PartitionStream>
            })
            .collect();
        let exec = StreamingTableExec::try_new(
            built,
            partitions,
            exec_projection.as_ref(),
            Vec::new(),
            false,
            limit,
        )?;
        Ok(Arc::new(exec))
    }
}

/// Plain local files of two pieces or more are read as several pieces, in
/// parallel; compressed and remote objects are read whole. A piece is
/// `S3LOGS_RAW_PIECE_MB` (default 64) MiB.
fn piece_bytes() -> u64 {
    let mb = crate::env_u64("S3LOGS_RAW_PIECE_MB").filter(|&mb| mb > 0);
    mb.unwrap_or(64) << 20
}

/// What one partition reads: a whole object, or the lines that start in a
/// byte range of a large plain local file.
#[derive(Clone, Debug)]
struct Piece {
    object: Object,
    range: Option<(u64, u64)>,
}

impl Piece {
    fn size(&self) -> u64 {
        self.range.map_or(self.object.size, |(a, b)| b - a)
    }
}

/// Cuts large plain local files into ranges of [`piece_bytes`].
fn pieces(objects: &[Object]) -> Vec<Piece> {
    let piece = piece_bytes();
    let mut out = Vec::new();
    for o in objects {
        let plain = o.size >= 2 * piece
            && o.local_path().is_some_and(|p| {
                let mut head = [0u8; 4];
                std::fs::File::open(p)
                    .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
                    .is_ok_and(|()| Compression::sniff(&head) == Compression::None)
            });
        if !plain {
            out.push(Piece {
                object: o.clone(),
                range: None,
            });
            continue;
        }
        let mut start = 0;
        while start < o.size {
            let end = (start + piece).min(o.size);
            out.push(Piece {
                object: o.clone(),
                range: Some((start, end)),
            });
            start = end;
        }
    }
    out
}

/// Spreads pieces of the given sizes over `n` partitions, largest first
/// onto the least loaded one; each partition keeps the pieces' order.
fn spread(sizes: &[u64], n: usize) -> Vec<Vec<usize>> {
    let n = n.clamp(1, sizes.len().max(1));
    let mut by_size: Vec<usize> = (0..sizes.len()).collect();
    by_size.sort_by_key(|&i| std::cmp::Reverse(sizes[i]));
    let mut load = vec![0u64; n];
    let mut groups = vec![Vec::new(); n];
    for i in by_size {
        let p = (0..n).min_by_key(|&p| load[p]).unwrap_or_default();
        load[p] += sizes[i].max(1);
        groups[p].push(i);
    }
    for g in &mut groups {
        g.sort_unstable();
    }
    groups
}

type Lines = Chunks;

/// The chunk readers of a partition's pieces, in order: whole objects
/// fetched ahead ([`Prefetch`]), ranges opened at their first line.
fn chunk_readers(pieces: Vec<Piece>) -> impl Iterator<Item = (Object, std::io::Result<Lines>)> {
    let whole: Vec<Object> = pieces
        .iter()
        .filter(|p| p.range.is_none())
        .map(|p| p.object.clone())
        .collect();
    let mut prefetch = Prefetch::new(whole);
    pieces
        .into_iter()
        .map(move |p| match (p.range, p.object.local_path()) {
            (Some((start, end)), Some(path)) => {
                let reader = open_range(path, start, end);
                (p.object, reader)
            }
            _ => match prefetch.next() {
                Some((o, r)) => (o, r.map(|r| r.chunks())),
                None => (
                    p.object,
                    Err(std::io::Error::other("object reader ended early")),
                ),
            },
        })
}

/// The lines of a plain file that start in `[start, end)`, numbered as in
/// the whole file.
fn open_range(path: &std::path::Path, start: u64, end: u64) -> std::io::Result<Lines> {
    use std::io::{Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    // A line starts at `start` if the byte before it ends a line.
    let first = if start == 0 {
        0
    } else {
        next_line_start(&mut f, start - 1)?
    };
    let stop = next_line_start(&mut f, end - 1)?.max(first);
    let line = 1 + count_newlines(&mut f, first)?;
    f.seek(SeekFrom::Start(first))?;
    let reader: Box<dyn Read + Send> = Box::new(f.take(stop - first));
    Ok(Chunks::Stream(
        ChunkReader::new(reader).starting_at(line, first),
    ))
}

/// The offset after the first `\n` at or after `from` (the file's length
/// when there is none).
fn next_line_start(f: &mut std::fs::File, from: u64) -> std::io::Result<u64> {
    use std::io::{Seek, SeekFrom};
    f.seek(SeekFrom::Start(from))?;
    let mut buf = vec![0u8; 64 << 10];
    let mut at = from;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(at);
        }
        if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
            return Ok(at + i as u64 + 1);
        }
        at += n as u64;
    }
}

/// `\n` bytes in the first `upto` bytes of the file.
fn count_newlines(f: &mut std::fs::File, upto: u64) -> std::io::Result<u64> {
    use std::io::{Seek, SeekFrom};
    f.seek(SeekFrom::Start(0))?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut left, mut count) = (upto, 0u64);
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = f.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        count += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        left -= n as u64;
    }
    Ok(count)
}

/// One partition of a scan: its pieces, read one after the other.
struct RawPartition {
    pieces: Vec<Piece>,
    kind: RawKind,
    /// The `logs` columns to build (`None`: all of them).
    columns: Option<Vec<usize>>,
    /// The records whose rows are built.
    filter: Arc<RowFilter>,
    schema: SchemaRef,
}

impl fmt::Debug for RawPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawPartition")
            .field("pieces", &self.pieces.len())
            .field("kind", &self.kind)
            .field("columns", &self.columns)
            .finish()
    }
}

/// Batches in flight per partition: enough to keep the parser busy while
/// the query works, few enough to keep memory flat.
const IN_FLIGHT: usize = 2;

impl PartitionStream for RawPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let mut builder =
            RecordBatchReceiverStreamBuilder::new(Arc::clone(&self.schema), IN_FLIGHT);
        let tx = builder.tx();
        let pieces = self.pieces.clone();
        let kind = self.kind;
        let columns = self.columns.clone();
        let filter = Arc::clone(&self.filter);
        builder.spawn_blocking(move || match kind {
            RawKind::Logs => scan_logs(pieces, columns.as_deref(), &filter, &tx),
            RawKind::Rejects => scan_rejects(pieces, &tx),
        });
        builder.build()
    }
}

/// Sends a batch on; `false` when the query no longer wants any (a limit
/// was reached or the query was cancelled).
fn send(tx: &Sender<Result<RecordBatch>>, batch: RecordBatch) -> bool {
    tx.blocking_send(Ok(batch)).is_ok()
}

/// An object that could not be read, named.
fn object_error(object: &Object, e: std::io::Error) -> DataFusionError {
    DataFusionError::External(format!("{}: {e}", object.name).into())
}

fn scan_logs(
    pieces: Vec<Piece>,
    columns: Option<&[usize]>,
    filter: &RowFilter,
    tx: &Sender<Result<RecordBatch>>,
) -> Result<()> {
    let builder = match columns {
        Some(c) => LogBatchBuilder::projected(crate::batch::BATCH_ROWS, c)?,
        None => LogBatchBuilder::projected(
            crate::batch::BATCH_ROWS,
            &(0..schema::logs().fields().len()).collect::<Vec<_>>(),
        )?,
    };
    let mut sink = LogSink {
        builder,
        filter,
        source: String::new(),
        tx,
    };
    let whole = each_chunk(
        pieces,
        &mut sink,
        |sink, object| sink.source.clone_from(&object.name),
        |sink, chunk| Ok(scan(chunk, sink)),
    )?;
    if whole && !sink.builder.is_empty() {
        send(tx, sink.builder.finish());
    }
    Ok(())
}

/// Scans the chunks of `pieces` in order: `object` hears of each object
/// before its chunks, and `chunk` says whether to go on. Whether every
/// chunk was seen; an object that cannot be read is an error naming it.
fn each_chunk<S>(
    pieces: Vec<Piece>,
    state: &mut S,
    object: impl Fn(&mut S, &Object),
    mut chunk: impl FnMut(&mut S, &Chunk) -> Result<bool>,
) -> Result<bool> {
    for (o, chunks) in chunk_readers(pieces) {
        object(state, &o);
        for c in chunks.map_err(|e| object_error(&o, e))? {
            let c = c.map_err(|e| object_error(&o, e))?;
            if !chunk(state, &c)? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Records into batches of `logs`, sent on as they fill.
struct LogSink<'a> {
    builder: LogBatchBuilder,
    filter: &'a RowFilter,
    source: String,
    tx: &'a Sender<Result<RecordBatch>>,
}

impl Sink for LogSink<'_> {
    fn record(&mut self, line: &Line<'_>, rec: &LogRecord<'_>) -> bool {
        if !self.filter.keeps(rec) {
            return true;
        }
        self.builder.append(rec, &self.source, line.number as i64);
        !self.builder.is_full() || send(self.tx, self.builder.finish())
    }
}

/// Rejected lines into a batch of `rejects`.
#[derive(Default)]
struct RejectSink {
    builder: RejectBatchBuilder,
    source: Arc<str>,
    rows: usize,
}

impl RejectSink {
    /// The rejects so far as a batch, once there are a batch's worth (a
    /// folder of garbage is all rejects), or at the end when there are any.
    fn take(&mut self, at_end: bool) -> Option<RecordBatch> {
        let due = self.rows >= crate::batch::BATCH_ROWS || (at_end && self.rows > 0);
        due.then(|| {
            self.rows = 0;
            self.builder.finish()
        })
    }
}

impl Sink for RejectSink {
    fn record(&mut self, _: &Line<'_>, _: &LogRecord<'_>) -> bool {
        true
    }

    fn reject(&mut self, line: &Line<'_>, reason: Reason) -> bool {
        self.builder
            .append(&Reject::line(&self.source, line, reason), RAW_RUN_ID);
        self.rows += 1;
        true
    }

    fn overlong(&mut self, chunk: &Chunk) -> bool {
        self.builder
            .append(&Reject::overlong(&self.source, chunk), RAW_RUN_ID);
        self.rows += 1;
        true
    }
}

fn scan_rejects(pieces: Vec<Piece>, tx: &Sender<Result<RecordBatch>>) -> Result<()> {
    let mut sink = RejectSink::default();
    let whole = each_chunk(
        pieces,
        &mut sink,
        |sink, object| sink.source = Arc::from(object.name.as_str()),
        |sink, chunk| {
            scan(chunk, sink);
            Ok(sink.take(false).is_none_or(|batch| send(tx, batch)))
        },
    )?;
    if whole && let Some(batch) = sink.take(true) {
        send(tx, batch);
    }
    Ok(())
}

/// Records and rejected lines both, each into its own batches.
struct BothSink {
    builder: LogBatchBuilder,
    source: String,
    done: Vec<RecordBatch>,
    rejects: RejectSink,
}

impl Sink for BothSink {
    fn record(&mut self, line: &Line<'_>, rec: &LogRecord<'_>) -> bool {
        self.builder.append(rec, &self.source, line.number as i64);
        if self.builder.is_full() {
            self.done.push(self.builder.finish());
        }
        true
    }

    fn reject(&mut self, line: &Line<'_>, reason: Reason) -> bool {
        self.rejects.reject(line, reason)
    }

    fn overlong(&mut self, chunk: &Chunk) -> bool {
        self.rejects.overlong(chunk)
    }
}

/// One partition's pieces read into batches of `logs` and of `rejects`.
fn read_pieces(
    pieces: Vec<Piece>,
    within: &(dyn Fn(usize) -> Result<()> + Sync),
) -> Result<(Vec<RecordBatch>, Vec<RecordBatch>)> {
    let all: Vec<usize> = (0..schema::logs().fields().len()).collect();
    let mut sink = BothSink {
        builder: LogBatchBuilder::projected(crate::batch::BATCH_ROWS, &all)?,
        source: String::new(),
        done: Vec::new(),
        rejects: RejectSink::default(),
    };
    let mut rejects = Vec::new();
    each_chunk(
        pieces,
        &mut sink,
        |sink, object| {
            sink.source.clone_from(&object.name);
            sink.rejects.source = Arc::from(object.name.as_str());
        },
        |sink, chunk| {
            within(chunk.data.len())?;
            scan(chunk, sink);
            rejects.extend(sink.rejects.take(false));
            Ok(true)
        },
    )?;
    if !sink.builder.is_empty() {
        sink.done.push(sink.builder.finish());
    }
    rejects.extend(sink.rejects.take(true));
    Ok((sink.done, rejects))
}

/// The `run_id` of rejects read straight from raw files.
pub const RAW_RUN_ID: &str = "raw";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_the_largest_pieces_first_and_keeps_their_order() {
        // a=10, b=100, c=40, d=50, e=5
        let groups = spread(&[10, 100, 40, 50, 5], 2);
        assert_eq!(groups, [vec![1, 4], vec![0, 2, 3]]);
        // Never more partitions than pieces, never none.
        assert_eq!(spread(&[7], 8).len(), 1);
        assert_eq!(spread(&[], 8).len(), 1);
    }

    #[test]
    fn ranges_of_a_file_hold_each_line_once_with_its_number() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log");
        let mut text = Vec::new();
        for i in 1..=1000 {
            text.extend(format!("line {i} {}\n", "x".repeat(i % 37)).bytes());
        }
        text.extend(b"last line without newline");
        std::fs::write(&path, &text).expect("write");
        let len = text.len() as u64;
        for cuts in [
            vec![0, len],
            vec![0, 1, 2, len],
            vec![0, 777, 5000, 5001, len],
        ] {
            let mut lines = Vec::new();
            for w in cuts.windows(2) {
                for chunk in open_range(&path, w[0], w[1]).expect("open") {
                    let chunk = chunk.expect("chunk");
                    for l in chunk.lines() {
                        lines.push((l.number, l.offset, l.bytes.to_vec()));
                    }
                }
            }
            assert_eq!(lines.len(), 1001, "{cuts:?}");
            for (i, (number, offset, bytes)) in lines.iter().enumerate() {
                assert_eq!(*number, i as u64 + 1);
                let at = *offset as usize;
                assert_eq!(&text[at..at + bytes.len()], &bytes[..]);
            }
        }
    }

    /// Every row of a table, one CSV line each, sorted.
    fn rows(batches: &[RecordBatch]) -> Vec<String> {
        let mut out = Vec::new();
        for b in batches {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(false)
                .build(Vec::new());
            w.write(b).expect("csv");
            let text = String::from_utf8(w.into_inner()).expect("utf-8");
            out.extend(text.lines().map(str::to_owned));
        }
        out.sort();
        out
    }

    #[tokio::test]
    async fn one_read_gives_the_rows_of_both_scans() {
        let sample = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-logs");
        let found = crate::source::find(&[sample], &crate::source::Selection::default());
        let objects: Arc<[Object]> = found.objects.into();
        assert!(objects.len() > 1, "the sample has several objects");
        let ctx = datafusion::prelude::SessionContext::new();
        for (name, kind) in [("logs", RawKind::Logs), ("rejects", RawKind::Rejects)] {
            let table = RawTable::new(Arc::clone(&objects), kind);
            ctx.register_table(name, Arc::new(table)).expect("register");
        }
        let scanned = |name: &'static str| {
            let ctx = ctx.clone();
            async move {
                ctx.table(name)
                    .await
                    .expect("table")
                    .collect()
                    .await
                    .expect("scan")
            }
        };
        let (logs, rejects) = (scanned("logs").await, scanned("rejects").await);
        for partitions in [1, 2, 3] {
            let (l, r) = read_both(&objects, partitions, None).expect("read");
            assert_eq!(l.len(), partitions);
            assert_eq!(r.len(), partitions);
            let (l, r) = (l.concat(), r.concat());
            assert!(l.iter().all(|b| b.schema() == schema::logs()));
            assert!(r.iter().all(|b| b.schema() == schema::rejects()));
            let (want_l, got_l) = (rows(&logs), rows(&l));
            assert!(want_l.len() > 100, "the sample's records");
            assert_eq!(got_l, want_l, "logs over {partitions} partitions");
            let (want_r, got_r) = (rows(&rejects), rows(&r));
            assert_eq!(want_r.len(), 5, "the sample's broken lines");
            assert_eq!(got_r, want_r, "rejects over {partitions} partitions");
            // The same order every time.
            let (again, _) = read_both(&objects, partitions, None).expect("read");
            assert_eq!(again.concat(), l);
        }
    }

    #[test]
    fn one_read_names_an_object_it_cannot_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("2026-11-01-00-00-00-ABCDEF");
        std::fs::write(&path, b"x\n").expect("write");
        let found = crate::source::find(
            &[dir.path().to_owned()],
            &crate::source::Selection::default(),
        );
        std::fs::remove_file(&path).expect("remove");
        let e = read_both(&found.objects, 2, None).expect_err("gone");
        assert!(e.to_string().contains("2026-11-01-00-00-00-ABCDEF"), "{e}");
    }
}
