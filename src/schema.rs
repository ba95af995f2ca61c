//! The only place columns are defined: names, types and order, as
//! `FORMAT.md` fixes them. The parser, the Parquet files, `queries/` and
//! users all depend on this contract.
//!
//! Every column is nullable, because AWS writes `-` for any field it has no
//! value for (the parser rejects a line without a time, so `request_time` is
//! never null in practice, but the type stays nullable for readers).

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// The time zone of `request_time`.
pub const UTC: &str = "UTC";

/// The type of `request_time`: microseconds, UTC.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into()))
}

/// The 28 log columns (AWS fields 1 to 27 and `extra_fields`), in order.
pub const LOG_COLUMNS: [&str; 28] = [
    "bucket_owner",
    "bucket",
    "request_time",
    "remote_ip",
    "requester",
    "request_id",
    "operation",
    "key",
    "request_uri",
    "http_status",
    "error_code",
    "bytes_sent",
    "object_size",
    "total_time_ms",
    "turn_around_time_ms",
    "referer",
    "user_agent",
    "version_id",
    "host_id",
    "signature_version",
    "cipher_suite",
    "authentication_type",
    "host_header",
    "tls_version",
    "access_point_arn",
    "acl_required",
    "source_region",
    "extra_fields",
];

/// The name of the pipeline column holding the object a record came from.
pub const SOURCE_FILE: &str = "source_file";
/// The name of the pipeline column holding the 1-based line number.
pub const SOURCE_LINE: &str = "source_line";
/// The name of the partition column: the UTC date of `request_time`.
pub const DATE: &str = "date";

fn log_type(name: &str) -> DataType {
    match name {
        "request_time" => timestamp_type(),
        "http_status" => DataType::Int16,
        "bytes_sent" | "object_size" => DataType::Int64,
        "total_time_ms" | "turn_around_time_ms" => DataType::Int32,
        "acl_required" => DataType::Boolean,
        _ => DataType::Utf8,
    }
}

static RECORDS: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields: Vec<Field> = LOG_COLUMNS
        .iter()
        .map(|&name| Field::new(name, log_type(name), true))
        .collect();
    fields.push(Field::new(SOURCE_FILE, DataType::Utf8, true));
    fields.push(Field::new(SOURCE_LINE, DataType::Int64, true));
    Arc::new(Schema::new(fields))
});

static LOGS: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields: Vec<Field> = RECORDS
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(DATE, DataType::Date32, true));
    Arc::new(Schema::new(fields))
});

static REJECTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new(SOURCE_FILE, DataType::Utf8, true),
        Field::new(SOURCE_LINE, DataType::Int64, true),
        Field::new("byte_offset", DataType::Int64, true),
        Field::new("reason", DataType::Utf8, true),
        Field::new("raw", DataType::Binary, true),
        Field::new("run_id", DataType::Utf8, true),
    ]))
});

/// The columns of a parsed record: the 28 log columns, `source_file` and
/// `source_line`. What [`crate::batch::LogBatchBuilder`] produces.
pub fn records() -> SchemaRef {
    Arc::clone(&RECORDS)
}

/// The `logs` table: [`records`] plus the `date` partition column.
pub fn logs() -> SchemaRef {
    Arc::clone(&LOGS)
}

/// The `rejects` table: lines that could not be read, with their raw bytes.
pub fn rejects() -> SchemaRef {
    Arc::clone(&REJECTS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_contract() {
        let s = logs();
        assert_eq!(s.fields().len(), 31);
        assert_eq!(s.field(2).data_type(), &timestamp_type());
        assert_eq!(s.field(9).data_type(), &DataType::Int16);
        assert_eq!(s.field(25).name(), "acl_required");
        assert_eq!(s.field(27).name(), "extra_fields");
        assert_eq!(s.field(30).name(), DATE);
        assert!(s.fields().iter().all(|f| f.is_nullable()));
    }
}
