//! Raw log files as the tables `logs` and `rejects`, without ingesting:
//! the ad-hoc path for "what happened in this folder I just downloaded".
//!
//! [`RawTable`] is a DataFusion table provider over our parser. A scan
//! spreads the objects over one partition per core (largest first, onto
//! the least loaded partition), and each partition streams its objects
//! chunk by chunk through a bounded channel, so memory stays flat whatever
//! the input size. Only the columns the query reads are built: a
//! `COUNT(*)` builds none, a query on `operation` and `bytes_sent` copies
//! those two fields and skips the rest. Every line is still parsed whole,
//! since the closing rule for quoted fields needs the fields around them.
//!
//! An object that cannot be read fails the query with its name; a line
//! that cannot be parsed is a row of `rejects` (`run_id` is `raw`).

use std::fmt;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::TableType;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use tokio::sync::mpsc::Sender;

use crate::batch::{LogBatchBuilder, Reject, RejectBatchBuilder};
use crate::parse::parse_line;
use crate::schema;
use crate::source::{ChunkReader, Object, Prefetch};

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
    /// A table over the given objects (see [`crate::source::discover`]).
    pub fn new(objects: Arc<[Object]>, kind: RawKind) -> Self {
        RawTable { objects, kind }
    }
}

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

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let groups = spread(&self.objects, state.config().target_partitions());
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
            .map(|objects| {
                Arc::new(RawPartition {
                    objects,
                    kind: self.kind,
                    columns: columns.clone(),
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

/// Spreads objects over `n` partitions, largest first onto the least
/// loaded one; each partition keeps the objects' order.
fn spread(objects: &[Object], n: usize) -> Vec<Vec<Object>> {
    let n = n.clamp(1, objects.len().max(1));
    let mut by_size: Vec<usize> = (0..objects.len()).collect();
    by_size.sort_by_key(|&i| std::cmp::Reverse(objects[i].size));
    let mut load = vec![0u64; n];
    let mut owner = vec![0usize; objects.len()];
    for i in by_size {
        let p = (0..n).min_by_key(|&p| load[p]).unwrap_or_default();
        load[p] += objects[i].size.max(1);
        owner[i] = p;
    }
    let mut groups = vec![Vec::new(); n];
    for (i, o) in objects.iter().enumerate() {
        groups[owner[i]].push(o.clone());
    }
    groups
}

/// One partition of a scan: its objects, read one after the other.
struct RawPartition {
    objects: Vec<Object>,
    kind: RawKind,
    /// The `logs` columns to build (`None`: all of them).
    columns: Option<Vec<usize>>,
    schema: SchemaRef,
}

impl fmt::Debug for RawPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawPartition")
            .field("objects", &self.objects.len())
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
        let objects = self.objects.clone();
        let kind = self.kind;
        let columns = self.columns.clone();
        builder.spawn_blocking(move || match kind {
            RawKind::Logs => scan_logs(&objects, columns.as_deref(), &tx),
            RawKind::Rejects => scan_rejects(&objects, &tx),
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
    objects: &[Object],
    columns: Option<&[usize]>,
    tx: &Sender<Result<RecordBatch>>,
) -> Result<()> {
    let mut builder = match columns {
        Some(c) => LogBatchBuilder::projected(crate::batch::BATCH_ROWS, c)?,
        None => LogBatchBuilder::projected(
            crate::batch::BATCH_ROWS,
            &(0..schema::logs().fields().len()).collect::<Vec<_>>(),
        )?,
    };
    for (object, reader) in Prefetch::new(objects.to_vec()) {
        let reader = reader.map_err(|e| object_error(&object, e))?;
        for chunk in ChunkReader::new(reader) {
            let chunk = chunk.map_err(|e| object_error(&object, e))?;
            if chunk.overlong.is_some() {
                continue;
            }
            for line in chunk.lines() {
                if let Ok(rec) = parse_line(line.bytes) {
                    builder.append(&rec, &object.name, line.number as i64);
                    if builder.is_full() && !send(tx, builder.finish()) {
                        return Ok(());
                    }
                }
            }
        }
    }
    if !builder.is_empty() {
        send(tx, builder.finish());
    }
    Ok(())
}

fn scan_rejects(objects: &[Object], tx: &Sender<Result<RecordBatch>>) -> Result<()> {
    let mut builder = RejectBatchBuilder::default();
    let mut rows = 0;
    for (object, reader) in Prefetch::new(objects.to_vec()) {
        let source: Arc<str> = Arc::from(object.name.as_str());
        let reader = reader.map_err(|e| object_error(&object, e))?;
        for chunk in ChunkReader::new(reader) {
            let chunk = chunk.map_err(|e| object_error(&object, e))?;
            if chunk.overlong.is_some() {
                builder.append(&Reject::overlong(&source, &chunk), RAW_RUN_ID);
                rows += 1;
            } else {
                for line in chunk.lines() {
                    if let Err(e) = parse_line(line.bytes) {
                        builder.append(&Reject::line(&source, &line, e.reason), RAW_RUN_ID);
                        rows += 1;
                    }
                }
            }
            // Rejects are few, but a folder of garbage is all rejects.
            if rows >= crate::batch::BATCH_ROWS {
                rows = 0;
                if !send(tx, builder.finish()) {
                    return Ok(());
                }
            }
        }
    }
    if rows > 0 {
        send(tx, builder.finish());
    }
    Ok(())
}

/// The `run_id` of rejects read straight from raw files.
pub const RAW_RUN_ID: &str = "raw";

#[cfg(test)]
mod tests {
    use super::*;

    fn object(name: &str, size: u64) -> Object {
        Object {
            location: crate::source::Location::File(name.into()),
            name: name.into(),
            size,
            modified: None,
            etag: None,
        }
    }

    #[test]
    fn spreads_the_largest_objects_first_and_keeps_their_order() {
        let objects = [
            object("a", 10),
            object("b", 100),
            object("c", 40),
            object("d", 50),
            object("e", 5),
        ];
        let names = |g: &Vec<Object>| g.iter().map(|o| o.name.clone()).collect::<Vec<_>>();
        let groups = spread(&objects, 2);
        assert_eq!(names(&groups[0]), ["b", "e"]);
        assert_eq!(names(&groups[1]), ["a", "c", "d"]);
        // Never more partitions than objects, never none.
        assert_eq!(spread(&objects[..1], 8).len(), 1);
        assert_eq!(spread(&[], 8).len(), 1);
    }
}
