//! Raw log files as the tables `logs` and `rejects`, without ingesting:
//! the ad-hoc path for "what happened in this folder I just downloaded".
//!
//! Objects are parsed in parallel (rayon over objects and chunks) into
//! in-memory tables with the lake's schemas (`date` included), so every
//! bundled query runs unchanged. Memory grows with the input: for folders
//! larger than memory, ingest them.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Result, bail};
use arrow::array::{Date32Array, RecordBatch};
use rayon::prelude::*;

use crate::batch::{LogBatchBuilder, Reject, RejectBatchBuilder};
use crate::parse::parse_line;
use crate::schema;
use crate::source::{ChunkReader, discover, open};

/// The parsed contents of raw log files.
pub struct RawTables {
    /// `logs` rows (with `date`).
    pub logs: Vec<RecordBatch>,
    /// `rejects` rows (`run_id` is `raw`).
    pub rejects: Vec<RecordBatch>,
}

/// Parses raw log files and folders.
///
/// # Errors
///
/// A path or object cannot be read (named in the message).
pub fn load(paths: &[PathBuf]) -> Result<RawTables> {
    let (objects, missing) = discover(paths);
    if let Some(m) = missing.first() {
        bail!("{}: {}", m.path.display(), m.error);
    }
    let parts: Vec<Result<(Vec<RecordBatch>, Vec<Reject>)>> = objects
        .par_iter()
        .map(|o| -> Result<(Vec<RecordBatch>, Vec<Reject>)> {
            let name = o.name.clone();
            let source: Arc<str> = Arc::from(name.as_str());
            let reader = open(&o.path).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            let chunks: Vec<_> = ChunkReader::new(reader)
                .par_bridge()
                .map(|c| -> Result<(u64, Vec<RecordBatch>, Vec<Reject>)> {
                    let c = c.map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
                    let mut b = LogBatchBuilder::default();
                    let mut batches = Vec::new();
                    let mut rejects = Vec::new();
                    if c.overlong.is_some() {
                        rejects.push(Reject {
                            source_file: Arc::clone(&source),
                            source_line: c.first_line as i64,
                            byte_offset: c.first_offset as i64,
                            reason: crate::parse::Reason::LineTooLong.as_str(),
                            raw: c.data.clone(),
                        });
                        return Ok((c.first_line, batches, rejects));
                    }
                    for line in c.lines() {
                        match parse_line(line.bytes) {
                            Ok(rec) => {
                                b.append(&rec, &name, line.number as i64);
                                if b.is_full() {
                                    batches.push(with_date(b.finish())?);
                                }
                            }
                            Err(e) => rejects.push(Reject {
                                source_file: Arc::clone(&source),
                                source_line: line.number as i64,
                                byte_offset: line.offset as i64,
                                reason: e.reason.as_str(),
                                raw: line.bytes.to_vec(),
                            }),
                        }
                    }
                    if !b.is_empty() {
                        batches.push(with_date(b.finish())?);
                    }
                    Ok((c.first_line, batches, rejects))
                })
                .collect::<Result<Vec<_>>>()?;
            let mut chunks = chunks;
            chunks.sort_by_key(|c| c.0);
            let mut batches = Vec::new();
            let mut rejects = Vec::new();
            for (_, b, r) in chunks {
                batches.extend(b);
                rejects.extend(r);
            }
            Ok((batches, rejects))
        })
        .collect();
    let mut logs = Vec::new();
    let mut rb = RejectBatchBuilder::default();
    for p in parts {
        let (b, r) = p?;
        logs.extend(b);
        for reject in &r {
            rb.append(reject, "raw");
        }
    }
    Ok(RawTables {
        logs,
        rejects: vec![rb.finish()],
    })
}

/// Adds the `date` column to a batch of records.
fn with_date(b: RecordBatch) -> Result<RecordBatch> {
    use arrow::array::AsArray;
    let times = b
        .column(2)
        .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
    let days: Date32Array = times
        .values()
        .iter()
        .map(|&t| Some(t.div_euclid(86_400_000_000) as i32))
        .collect();
    let mut cols = b.columns().to_vec();
    cols.push(Arc::new(days));
    Ok(RecordBatch::try_new(schema::logs(), cols)?)
}
