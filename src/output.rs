//! Writing query results: a table, CSV, JSON, NDJSON or Parquet, to any
//! `io::Write`. Everything but the table streams batch by batch.

use std::io::Write;

use anyhow::{Context, Result};
use arrow::record_batch::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;

/// An output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// An aligned text table (collects the results first).
    Table,
    /// CSV with a header.
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    NdJson,
    /// A Parquet file (zstd).
    Parquet,
}

/// Writes every batch of `stream` to `out` in `format`; returns the rows.
pub async fn write<W: Write + Send>(
    mut stream: SendableRecordBatchStream,
    format: OutputFormat,
    out: W,
) -> Result<u64> {
    let schema = stream.schema();
    let mut rows = 0u64;
    match format {
        OutputFormat::Table => {
            let mut out = out;
            let mut batches: Vec<RecordBatch> = Vec::new();
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows() as u64;
                batches.push(b);
            }
            let table = if batches.is_empty() {
                arrow::util::pretty::pretty_format_batches(&[RecordBatch::new_empty(schema)])?
            } else {
                arrow::util::pretty::pretty_format_batches(&batches)?
            };
            writeln!(out, "{table}").context("writing the results")?;
            out.flush()?;
        }
        OutputFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(out);
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows() as u64;
                w.write(&b).context("writing CSV")?;
            }
            if rows == 0 {
                w.write(&RecordBatch::new_empty(schema))
                    .context("writing CSV")?;
            }
            w.into_inner().flush()?;
        }
        OutputFormat::Json => {
            let mut w = arrow::json::ArrayWriter::new(out);
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows() as u64;
                w.write(&b).context("writing JSON")?;
            }
            w.finish().context("writing JSON")?;
            let mut out = w.into_inner();
            out.write_all(b"\n")?;
            out.flush()?;
        }
        OutputFormat::NdJson => {
            let mut w = arrow::json::LineDelimitedWriter::new(out);
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows() as u64;
                w.write(&b).context("writing NDJSON")?;
            }
            w.finish().context("writing NDJSON")?;
            w.into_inner().flush()?;
        }
        OutputFormat::Parquet => {
            let props = (*crate::lake::writer_properties()).clone();
            let mut w = parquet::arrow::ArrowWriter::try_new(out, schema, Some(props))?;
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows() as u64;
                w.write(&b).context("writing Parquet")?;
            }
            w.into_inner().context("writing Parquet")?.flush()?;
        }
    }
    Ok(rows)
}
