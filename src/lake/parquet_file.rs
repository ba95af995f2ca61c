//! Writing and reading the lake's Parquet files.
//!
//! ZSTD (level 1: levels 3 and 6 gained under 1% on the benchmark corpus,
//! whose bulk is random `host_id` tokens), dictionary encoding on, except on
//! the random tokens (`request_id`, `host_id`) where a dictionary only costs
//! time before Parquet falls back to plain encoding, and on the integer
//! columns that delta-encode better. Rows arrive sorted by `request_time`,
//! and the files say so (`sorting_columns`).

use std::fs::File;
use std::path::Path;
use std::sync::{Arc, LazyLock};

use anyhow::{Context, Result};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

/// The most rows a row group of the lake's files holds.
pub const ROW_GROUP_ROWS: usize = 256 * 1024;

static PROPS: LazyLock<Arc<WriterProperties>> = LazyLock::new(|| {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_sorting_columns(Some(vec![SortingColumn {
            column_idx: 2,
            descending: false,
            nulls_first: false,
        }]));
    for col in ["request_id", "host_id", "raw"] {
        b = b
            .set_column_dictionary_enabled(ColumnPath::from(col), false)
            .set_column_statistics_enabled(ColumnPath::from(col), EnabledStatistics::None);
    }
    // Sorted times and wide-ranging sizes: deltas beat a dictionary (on a
    // day of the benchmark corpus, request_time 294 -> 48 KB, object_size
    // 671 -> 438 KB, bytes_sent 519 -> 367 KB). DELTA_BINARY_PACKED, not
    // BYTE_STREAM_SPLIT, which older Spark, Trino and Athena cannot read on
    // integers.
    for col in ["request_time", "object_size", "bytes_sent", "source_line"] {
        b = b
            .set_column_dictionary_enabled(ColumnPath::from(col), false)
            .set_column_encoding(ColumnPath::from(col), Encoding::DELTA_BINARY_PACKED);
    }
    b = b.set_column_dictionary_enabled(ColumnPath::from("version_id"), false);
    Arc::new(b.build())
});

/// The shared writer properties of the lake's files.
pub fn writer_properties() -> Arc<WriterProperties> {
    Arc::clone(&PROPS)
}

/// A Parquet file that was written and closed.
#[derive(Clone, Debug)]
pub struct WrittenFile {
    /// Rows in the file.
    pub rows: i64,
    /// Bytes on disk.
    pub size: i64,
}

/// Writes `batches` to a new Parquet file at `path` and syncs it.
pub fn write_parquet(
    path: &Path,
    schema: SchemaRef,
    batches: &[RecordBatch],
) -> Result<WrittenFile> {
    write_parquet_iter(path, schema, batches.iter().map(|b| Ok(b.clone())))
}

/// Writes batches as they come to a new Parquet file at `path`, closes and
/// syncs it.
fn write_parquet_iter(
    path: &Path,
    schema: SchemaRef,
    batches: impl Iterator<Item = Result<RecordBatch>>,
) -> Result<WrittenFile> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let props = (*writer_properties()).clone();
    let mut writer = ArrowWriter::try_new(file, schema, Some(props))
        .with_context(|| format!("starting {}", path.display()))?;
    let mut rows = 0;
    for b in batches {
        let b = b?;
        rows += b.num_rows() as i64;
        writer
            .write(&b)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let file = writer
        .into_inner()
        .with_context(|| format!("closing {}", path.display()))?;
    Ok(WrittenFile {
        rows,
        size: synced_size(&file, path)?,
    })
}

/// Syncs a written file to disk and returns its size.
pub fn synced_size(file: &File, path: &Path) -> Result<i64> {
    file.sync_all()
        .with_context(|| format!("syncing {}", path.display()))?;
    Ok(file
        .metadata()
        .with_context(|| format!("reading the size of {}", path.display()))?
        .len() as i64)
}

/// Reads a whole Parquet file.
pub fn read_parquet(path: &Path) -> Result<Vec<RecordBatch>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("reading {}", path.display()))?
        .with_batch_size(8192)
        .build()
        .with_context(|| format!("reading {}", path.display()))?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("reading {}", path.display()))
}
