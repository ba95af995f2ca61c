//! The workers: one chunk of lines parsed into Arrow batches (one per UTC
//! day), rejects and the tallies of its object.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::Result;
use arrow::array::{AsArray, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::datatypes::TimestampMicrosecondType;

use super::{LagHistogram, min_opt};
use crate::batch::{BATCH_ROWS, LogBatchBuilder, Reject};
use crate::civil;
use crate::parse::{LogRecord, Reason};
use crate::scan::{Sink, scan};
use crate::schema::Column;
use crate::source::{Chunk, Line};

/// What the parse of one chunk produced.
pub(super) struct Parsed {
    pub(super) object: usize,
    /// Record batches, one per UTC day, of the rows of `day_objects`: the
    /// chunks of a bundle share their batches, which come with its last.
    pub(super) days: Vec<(i32, RecordBatch)>,
    pub(super) day_objects: BTreeSet<usize>,
    pub(super) rejects: Vec<Reject>,
    pub(super) records: u64,
    pub(super) lossy: u64,
    pub(super) bytes: u64,
    pub(super) first: Option<i64>,
    pub(super) last: Option<i64>,
    pub(super) lag: LagHistogram,
}

/// Parses the chunks of a bundle (of one object, or of many small ones)
/// into one set of batches: a builder per chunk of a 40 KB object cost
/// more in allocating and freeing its 30 columns than parsing the chunk.
/// `source` and `delivered` give each object's name and delivery time.
pub(super) fn parse_bundle<'a>(
    chunks: &[(usize, Chunk)],
    source: impl Fn(usize) -> (&'a str, Option<i64>),
) -> Result<Vec<Parsed>> {
    // Sized for the bundle's lines: a batch's buffers are what the memory
    // budget counts, and a builder for 8,192 rows holding the 50 lines of a
    // small object made each count for 4 MB, so the budget filled after a
    // few objects and days were written out in many small files.
    let lines: u64 = chunks.iter().map(|(_, c)| c.line_count).sum();
    let rows = usize::try_from(lines).map_or(BATCH_ROWS, |n| n.clamp(1, BATCH_ROWS));
    let mut builder = LogBatchBuilder::with_capacity(rows);
    let mut batches = Vec::new();
    let mut all = Vec::with_capacity(chunks.len());
    let mut objects = BTreeSet::new();
    for (object, chunk) in chunks {
        let (name, delivered) = source(*object);
        let mut out = Parsed {
            object: *object,
            days: Vec::new(),
            day_objects: BTreeSet::new(),
            rejects: Vec::new(),
            records: 0,
            lossy: 0,
            bytes: chunk.overlong.unwrap_or(chunk.data.len() as u64),
            first: None,
            last: None,
            lag: LagHistogram::default(),
        };
        let mut sink = ChunkSink {
            out: &mut out,
            source: name,
            source_arc: Arc::from(name),
            delivered,
            builder: &mut builder,
            batches: &mut batches,
        };
        scan(chunk, &mut sink);
        objects.insert(*object);
        all.push(out);
    }
    if !builder.is_empty() {
        batches.push(builder.finish());
    }
    if let Some(last) = all.last_mut() {
        for batch in batches {
            last.days.extend(split_by_day(&batch)?);
        }
        last.day_objects = objects;
    }
    Ok(all)
}

/// Where [`parse_bundle`] puts what it reads.
pub(super) struct ChunkSink<'a> {
    out: &'a mut Parsed,
    source: &'a str,
    source_arc: Arc<str>,
    delivered: Option<i64>,
    builder: &'a mut LogBatchBuilder,
    batches: &'a mut Vec<RecordBatch>,
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
pub(super) fn split_by_day(batch: &RecordBatch) -> Result<Vec<(i32, RecordBatch)>> {
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
