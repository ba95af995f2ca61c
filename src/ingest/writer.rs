//! The writers: a day's rows sorted and encoded as Parquet row groups, and
//! appended to the file of that day.
//!
//! Under its memory budget a run hands a day to the writers many times (the
//! largest day, each time the budget fills). Each hand-over used to become
//! a file of its own, so a run of 2 GB left 76 files of about 46,000 rows,
//! and every query opened all of them. Now a run writes one file per day
//! (up to [`FILE_ROWS`]): the writers encode the column chunks of their
//! hand-overs side by side, away from any file, and append them to the
//! day's file as row groups in the order the hand-overs were made, so the
//! file does not depend on which writer finished first.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::Path;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use anyhow::{Context, Result, anyhow, bail};
use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::TimestampMicrosecondType;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{ArrowColumnChunk, ArrowRowGroupWriterFactory, compute_leaves};
use parquet::file::writer::SerializedFileWriter;

use super::min_opt;
use crate::lake::{ROW_GROUP_ROWS, synced_size, writer_properties};
use crate::schema::{self, Column};

/// A day's file takes hand-overs until it holds this many rows; the next
/// starts a new file (about 150 MB of Parquet, as big as a compaction's).
pub(super) const FILE_ROWS: u64 = 2_000_000;

/// A day's rows handed to the writer threads: the `turn`th hand-over
/// appended to `file`.
pub(super) struct FlushJob {
    pub(super) batches: Vec<RecordBatch>,
    pub(super) objects: BTreeSet<usize>,
    pub(super) file: std::sync::Arc<DayFile>,
    pub(super) turn: usize,
}

/// A file the writer threads finished.
pub(super) struct Flushed {
    pub(super) day: i32,
    pub(super) rel_path: String,
    pub(super) rows: i64,
    pub(super) size: i64,
    pub(super) first: Option<i64>,
    pub(super) last: Option<i64>,
    pub(super) objects: BTreeSet<usize>,
}

/// The Parquet file of a day that this run's hand-overs of the day are
/// appended to, each in its turn.
pub(super) struct DayFile {
    day: i32,
    rel_path: String,
    state: Mutex<DayState>,
    /// Signalled when a turn ends.
    turned: Condvar,
}

struct DayState {
    /// The turn whose row groups go next.
    next: usize,
    /// A writer failed: later turns give up instead of waiting.
    failed: bool,
    writer: Option<SerializedFileWriter<File>>,
    rows: i64,
    first: Option<i64>,
    last: Option<i64>,
    objects: BTreeSet<usize>,
}

/// The column chunks of one hand-over, encoded: one entry per row group.
struct Encoded {
    groups: Vec<Vec<ArrowColumnChunk>>,
    rows: i64,
    first: Option<i64>,
    last: Option<i64>,
}

/// Makes the column writers of the lake's files, for any file.
pub(super) fn encoder() -> Result<ArrowRowGroupWriterFactory> {
    let w = ArrowWriter::try_new(
        std::io::sink(),
        schema::records(),
        Some((*writer_properties()).clone()),
    )?;
    Ok(w.into_serialized_writer()?.1)
}

impl DayFile {
    pub(super) fn new(day: i32, rel_path: String) -> Self {
        DayFile {
            day,
            rel_path,
            state: Mutex::new(DayState {
                next: 0,
                failed: false,
                writer: None,
                rows: 0,
                first: None,
                last: None,
                objects: BTreeSet::new(),
            }),
            turned: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, DayState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends `encoded` as turn `turn`, once the turns before it are in.
    fn append(
        &self,
        dir: &Path,
        turn: usize,
        encoded: Encoded,
        objects: &BTreeSet<usize>,
    ) -> Result<()> {
        // A writer that panics holding the turn fails the turns after it,
        // so none waits for it forever (dropped after the lock is).
        struct OnPanic<'a>(&'a DayFile);
        impl Drop for OnPanic<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    self.0.lock().failed = true;
                    self.0.turned.notify_all();
                }
            }
        }
        let _on_panic = OnPanic(self);
        let mut state = self
            .turned
            .wait_while(self.lock(), |s| s.next != turn && !s.failed)
            .unwrap_or_else(PoisonError::into_inner);
        if state.failed {
            bail!("another Parquet writer failed on {}", self.rel_path);
        }
        let done = self.write_groups(&mut state, dir, encoded, objects);
        match done {
            Ok(()) => state.next += 1,
            Err(_) => state.failed = true,
        }
        drop(state);
        self.turned.notify_all();
        done
    }

    fn write_groups(
        &self,
        state: &mut DayState,
        dir: &Path,
        encoded: Encoded,
        objects: &BTreeSet<usize>,
    ) -> Result<()> {
        let path = dir.join(&self.rel_path);
        if state.writer.is_none() {
            {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("creating {}", parent.display()))?;
                }
                let file =
                    File::create(&path).with_context(|| format!("creating {}", path.display()))?;
                let w = ArrowWriter::try_new(
                    file,
                    schema::records(),
                    Some((*writer_properties()).clone()),
                )
                .and_then(ArrowWriter::into_serialized_writer)
                .with_context(|| format!("starting {}", path.display()))?;
                state.writer = Some(w.0);
            }
        }
        let writer = state
            .writer
            .as_mut()
            .ok_or_else(|| anyhow!("{} is not open", path.display()))?;
        for group in encoded.groups {
            let mut rg = writer.next_row_group()?;
            for chunk in group {
                chunk.append_to_row_group(&mut rg)?;
            }
            rg.close()
                .with_context(|| format!("writing {}", path.display()))?;
        }
        state.rows += encoded.rows;
        state.first = min_opt(state.first, encoded.first);
        state.last = state.last.max(encoded.last);
        state.objects.extend(objects);
        Ok(())
    }

    /// Writes the footer and syncs the file: what the commit records.
    pub(super) fn close(&self, dir: &Path) -> Result<Flushed> {
        let mut state = self.lock();
        let path = dir.join(&self.rel_path);
        let writer = state
            .writer
            .take()
            .ok_or_else(|| anyhow!("{} was never written", path.display()))?;
        let file = writer
            .into_inner()
            .with_context(|| format!("closing {}", path.display()))?;
        let size = synced_size(&file, &path)?;
        Ok(Flushed {
            day: self.day,
            rel_path: self.rel_path.clone(),
            rows: state.rows,
            size,
            first: state.first,
            last: state.last,
            objects: std::mem::take(&mut state.objects),
        })
    }
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

/// Sorts and encodes a hand-over (in parallel with the other writers), then
/// appends it to its day's file in its turn.
pub(super) fn write_job(
    dir: &Path,
    job: &FlushJob,
    encoder: &ArrowRowGroupWriterFactory,
) -> Result<()> {
    let encoded = encode(&job.batches, encoder)
        .with_context(|| format!("encoding {}", dir.join(&job.file.rel_path).display()))?;
    job.file.append(dir, job.turn, encoded, &job.objects)
}

fn encode(batches: &[RecordBatch], encoder: &ArrowRowGroupWriterFactory) -> Result<Encoded> {
    let (mut first, mut last) = (None, None);
    for b in batches {
        let times = b
            .column(Column::RequestTime.index())
            .as_primitive::<TimestampMicrosecondType>();
        first = min_opt(first, times.values().iter().copied().min());
        last = last.max(times.values().iter().copied().max());
    }
    let schema = schema::records();
    let mut out = Encoded {
        groups: Vec::new(),
        rows: 0,
        first,
        last,
    };
    let mut columns = encoder.create_column_writers(0)?;
    let mut in_group = 0;
    // Slices that divide a row group, so a group is never split in two.
    for slice in sorted_slices(batches, ROW_GROUP_ROWS / 4) {
        let slice = slice?;
        for (w, (field, array)) in columns
            .iter_mut()
            .zip(schema.fields().iter().zip(slice.columns()))
        {
            for leaf in compute_leaves(field, array)? {
                w.write(&leaf)?;
            }
        }
        in_group += slice.num_rows();
        out.rows += slice.num_rows() as i64;
        if in_group >= ROW_GROUP_ROWS {
            let full = std::mem::replace(&mut columns, encoder.create_column_writers(0)?);
            out.groups.push(
                full.into_iter()
                    .map(|c| c.close())
                    .collect::<Result<_, _>>()?,
            );
            in_group = 0;
        }
    }
    if in_group > 0 {
        out.groups.push(
            columns
                .into_iter()
                .map(|c| c.close())
                .collect::<Result<_, _>>()?,
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::LogBatchBuilder;
    use crate::lake::read_parquet;
    use crate::parse::parse_line;
    use arrow::array::{Array, AsArray};
    use std::sync::Arc;

    const LINE: &[u8] = br#"o b [06/Feb/2019:00:00:38 +0000] 1.2.3.4 a ID REST.GET.OBJECT k "GET / HTTP/1.1" 200 - 5 - 7 6 "-" "ua" - x y"#;

    /// `rows` records of source `name`, numbered from 1.
    fn batch(name: &str, rows: i64) -> RecordBatch {
        let rec = parse_line(LINE).expect("valid");
        let mut b = LogBatchBuilder::with_capacity(rows as usize);
        for i in 1..=rows {
            b.append(&rec, name, i);
        }
        b.finish()
    }

    fn job(file: &Arc<DayFile>, turn: usize, name: &str, rows: i64) -> FlushJob {
        FlushJob {
            batches: vec![batch(name, rows)],
            objects: BTreeSet::from([turn]),
            file: Arc::clone(file),
            turn,
        }
    }

    #[test]
    fn hand_overs_become_row_groups_of_one_file_in_turn_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = Arc::new(DayFile::new(0, "date=2019-02-06/part-1.parquet".into()));
        let encoder = encoder().expect("encoder");
        // The later turn starts first: it waits for the earlier one.
        std::thread::scope(|s| {
            let late = s.spawn(|| write_job(dir.path(), &job(&file, 1, "second", 3), &encoder));
            std::thread::sleep(std::time::Duration::from_millis(50));
            write_job(dir.path(), &job(&file, 0, "first", 2), &encoder).expect("turn 0");
            late.join().expect("joined").expect("turn 1");
        });
        let flushed = file.close(dir.path()).expect("closed");
        assert_eq!(flushed.rows, 5);
        assert_eq!(flushed.objects, BTreeSet::from([0, 1]));
        let path = dir.path().join(&flushed.rel_path);
        assert_eq!(
            std::fs::metadata(&path).expect("meta").len() as i64,
            flushed.size
        );
        let meta = parquet::file::reader::FileReader::metadata(
            &parquet::file::reader::SerializedFileReader::new(File::open(&path).expect("open"))
                .expect("a Parquet file"),
        )
        .clone();
        assert_eq!(meta.num_row_groups(), 2);
        let mut sources = Vec::new();
        for b in read_parquet(&path).expect("read") {
            assert_eq!(b.schema(), schema::records());
            let s = b.column(Column::SourceFile.index()).as_string::<i32>();
            sources.extend((0..s.len()).map(|i| s.value(i).to_string()));
        }
        assert_eq!(sources, ["first", "first", "second", "second", "second"]);
    }

    #[test]
    fn a_hand_over_is_written_in_time_order_with_its_text_and_nulls() {
        // Two batches of one hand-over whose times interleave, with short
        // and long keys and missing (null) ones.
        let key = |i: usize| match i % 3 {
            0 => format!("k{i}"),
            1 => format!("a/long/key/that/is/not/inlined/{i}.parquet"),
            _ => "-".to_string(),
        };
        let mut batches = Vec::new();
        let mut expected = Vec::new();
        for part in 0..2 {
            let mut b = LogBatchBuilder::with_capacity(8);
            for j in 0..6 {
                let i = j * 2 + part;
                let line = format!(
                    "o b [06/Feb/2019:00:00:{i:02} +0000] 1.2.3.4 a ID REST.GET.OBJECT {} \"GET / HTTP/1.1\" 200 - 5 - 7 6 \"-\" \"ua\" - x y",
                    key(i)
                );
                let rec = parse_line(line.as_bytes()).expect("valid");
                b.append(&rec, &format!("object-{part}"), j as i64 + 1);
            }
            batches.push(b.finish());
        }
        for i in 0..12 {
            expected.push((i % 3 != 2).then(|| key(i)));
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let file = Arc::new(DayFile::new(0, "date=2019-02-06/part-1.parquet".into()));
        let encoder = encoder().expect("encoder");
        let job = FlushJob {
            batches,
            objects: BTreeSet::from([0]),
            file: Arc::clone(&file),
            turn: 0,
        };
        write_job(dir.path(), &job, &encoder).expect("written");
        let flushed = file.close(dir.path()).expect("closed");
        let mut keys = Vec::new();
        for b in read_parquet(&dir.path().join(&flushed.rel_path)).expect("read") {
            assert_eq!(b.schema(), schema::records());
            let k = b.column(Column::Key.index()).as_string::<i32>();
            keys.extend((0..k.len()).map(|i| k.is_valid(i).then(|| k.value(i).to_string())));
        }
        assert_eq!(keys, expected);
    }

    #[test]
    fn a_failed_turn_fails_the_turns_after_it_instead_of_leaving_them_waiting() {
        let dir = tempfile::tempdir().expect("tempdir");
        // The day's folder cannot be made: a file is in its way.
        std::fs::write(dir.path().join("date=2019-02-06"), b"").expect("write");
        let file = Arc::new(DayFile::new(0, "date=2019-02-06/part-1.parquet".into()));
        let encoder = encoder().expect("encoder");
        std::thread::scope(|s| {
            let late = s.spawn(|| write_job(dir.path(), &job(&file, 1, "second", 1), &encoder));
            let first = write_job(dir.path(), &job(&file, 0, "first", 1), &encoder);
            assert!(format!("{:#}", first.expect_err("cannot create")).contains("creating"));
            let second = late.join().expect("joined");
            assert!(second.is_err(), "the next turn gives up");
        });
    }
}
