//! The ledger of ingested objects (`<lake>/ingested`): what makes runs
//! incremental and idempotent. An object is identified by its name and
//! recognised as unchanged by its size and modification time (or ETag).

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use anyhow::Result;
use arrow::array::{
    Array, ArrayRef, AsArray, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef, TimestampMicrosecondType};
use arrow::record_batch::RecordBatch;
use deltalake::DeltaTable;

use super::Lake;
use crate::schema::{UTC, named, timestamp_type};

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("object", DataType::Utf8, true),
        Field::new("size", DataType::Int64, true),
        Field::new("modified", timestamp_type(), true),
        Field::new("etag", DataType::Utf8, true),
        Field::new("records", DataType::Int64, true),
        Field::new("rejects", DataType::Int64, true),
        Field::new("first_request_time", timestamp_type(), true),
        Field::new("last_request_time", timestamp_type(), true),
        Field::new("run_id", DataType::Utf8, true),
        Field::new("ingested_at", timestamp_type(), true),
    ]))
});

/// The ledger's columns.
pub fn schema() -> SchemaRef {
    Arc::clone(&SCHEMA)
}

/// One ingested object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Path or key, as named in `source_file`.
    pub object: String,
    /// Stored size in bytes.
    pub size: i64,
    /// Modification time, microseconds since the epoch.
    pub modified: Option<i64>,
    /// ETag, for objects on S3.
    pub etag: Option<String>,
    /// Records read.
    pub records: i64,
    /// Lines rejected.
    pub rejects: i64,
    /// Earliest record.
    pub first_request_time: Option<i64>,
    /// Latest record.
    pub last_request_time: Option<i64>,
    /// The run that ingested it.
    pub run_id: String,
    /// When, microseconds since the epoch.
    pub ingested_at: i64,
}

/// Entries as one batch of [`schema`].
pub fn to_batch(entries: &[Entry]) -> Result<RecordBatch> {
    let mut object = StringBuilder::new();
    let mut size = Int64Builder::new();
    let ts = || TimestampMicrosecondBuilder::new().with_timezone(UTC);
    let (mut modified, mut first, mut last, mut at) = (ts(), ts(), ts(), ts());
    let mut etag = StringBuilder::new();
    let mut records = Int64Builder::new();
    let mut rejects = Int64Builder::new();
    let mut run_id = StringBuilder::new();
    for e in entries {
        object.append_value(&e.object);
        size.append_value(e.size);
        modified.append_option(e.modified);
        etag.append_option(e.etag.as_deref());
        records.append_value(e.records);
        rejects.append_value(e.rejects);
        first.append_option(e.first_request_time);
        last.append_option(e.last_request_time);
        run_id.append_value(&e.run_id);
        at.append_value(e.ingested_at);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(object.finish()),
        Arc::new(size.finish()),
        Arc::new(modified.finish()),
        Arc::new(etag.finish()),
        Arc::new(records.finish()),
        Arc::new(rejects.finish()),
        Arc::new(first.finish()),
        Arc::new(last.finish()),
        Arc::new(run_id.finish()),
        Arc::new(at.finish()),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}

/// What the ledger knows of an object: size, modification time, ETag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// Stored size.
    pub size: i64,
    /// Modification time, microseconds.
    pub modified: Option<i64>,
    /// ETag.
    pub etag: Option<String>,
}

/// Reads the whole ledger: object name to what was seen (the latest entry
/// wins when an object was re-ingested).
pub async fn read(lake: &Lake, table: &DeltaTable) -> Result<BTreeMap<String, Seen>> {
    let mut out = BTreeMap::new();
    let mut batches = Vec::new();
    for f in Lake::files(table).await? {
        batches.extend(lake.read_file(super::Table::Ingested, &f.path).await?);
    }
    for b in batches {
        let object = named(&b, "object")?.as_string::<i32>();
        let size = named(&b, "size")?.as_primitive::<Int64Type>();
        let modified = named(&b, "modified")?.as_primitive::<TimestampMicrosecondType>();
        let etag = named(&b, "etag")?.as_string::<i32>();
        let at = named(&b, "ingested_at")?.as_primitive::<TimestampMicrosecondType>();
        for i in 0..b.num_rows() {
            let seen = Seen {
                size: size.value(i),
                modified: (!modified.is_null(i)).then(|| modified.value(i)),
                etag: (!etag.is_null(i)).then(|| etag.value(i).to_string()),
            };
            let key = object.value(i).to_string();
            let when = at.value(i);
            match out.get(&key) {
                Some((t, _)) if *t > when => {}
                _ => {
                    out.insert(key, (when, seen));
                }
            }
        }
    }
    Ok(out.into_iter().map(|(k, (_, s))| (k, s)).collect())
}
