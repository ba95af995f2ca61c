//! The writers: a day's rows sorted and encoded as one Parquet file.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Result;
use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::TimestampMicrosecondType;

use super::min_opt;
use crate::lake::write_parquet_iter;
use crate::schema::{self, Column};

/// A day's rows handed to the writer thread.
pub(super) struct FlushJob {
    pub(super) day: i32,
    pub(super) batches: Vec<RecordBatch>,
    pub(super) objects: BTreeSet<usize>,
    pub(super) rel_path: String,
}

/// A file the writer thread finished.
pub(super) struct Flushed {
    pub(super) day: i32,
    pub(super) rel_path: String,
    pub(super) rows: i64,
    pub(super) size: i64,
    pub(super) first: Option<i64>,
    pub(super) last: Option<i64>,
    pub(super) objects: BTreeSet<usize>,
}

/// Rows of a day, sorted by `request_time` and then input order (which is
/// deterministic), in slices of `slice` rows: the sorted day is never
/// materialised whole, so a writer holds its input and one slice.
pub(super) fn sorted_slices(
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

pub(super) fn write_day(dir: &Path, job: &FlushJob) -> Result<Flushed> {
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
