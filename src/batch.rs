//! Records to Arrow: [`LogBatchBuilder`] and [`RejectBatchBuilder`].
//!
//! One Arrow builder per column, created with capacity and reused across
//! batches (`finish` resets them). Text is copied once, from the line into
//! the builder's buffer; invalid UTF-8 is replaced only in the rare field
//! that needs it.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Int16Builder, Int32Builder, Int64Builder,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::record_batch::RecordBatch;

use crate::parse::{LogRecord, joined_tokens};
use crate::schema;

/// The default number of rows in a batch.
pub const BATCH_ROWS: usize = 8192;

/// Builds [`schema::records`] batches from [`LogRecord`]s.
pub struct LogBatchBuilder {
    capacity: usize,
    text: [StringBuilder; TEXT_COLUMNS],
    request_time: TimestampMicrosecondBuilder,
    http_status: Int16Builder,
    bytes_sent: Int64Builder,
    object_size: Int64Builder,
    total_time_ms: Int32Builder,
    turn_around_time_ms: Int32Builder,
    acl_required: BooleanBuilder,
    source_file: StringBuilder,
    source_line: Int64Builder,
    rows: usize,
}

// Indexes into `LogBatchBuilder::text`, in schema order.
const BUCKET_OWNER: usize = 0;
const BUCKET: usize = 1;
const REMOTE_IP: usize = 2;
const REQUESTER: usize = 3;
const REQUEST_ID: usize = 4;
const OPERATION: usize = 5;
const KEY: usize = 6;
const REQUEST_URI: usize = 7;
const ERROR_CODE: usize = 8;
const REFERER: usize = 9;
const USER_AGENT: usize = 10;
const VERSION_ID: usize = 11;
const HOST_ID: usize = 12;
const SIGNATURE_VERSION: usize = 13;
const CIPHER_SUITE: usize = 14;
const AUTHENTICATION_TYPE: usize = 15;
const HOST_HEADER: usize = 16;
const TLS_VERSION: usize = 17;
const ACCESS_POINT_ARN: usize = 18;
const SOURCE_REGION: usize = 19;
const EXTRA_FIELDS: usize = 20;
const TEXT_COLUMNS: usize = 21;

impl Default for LogBatchBuilder {
    fn default() -> Self {
        Self::with_capacity(BATCH_ROWS)
    }
}

impl LogBatchBuilder {
    /// A builder whose batches hold up to `capacity` rows before
    /// [`LogBatchBuilder::is_full`] says so.
    pub fn with_capacity(capacity: usize) -> Self {
        let text = std::array::from_fn(|_| StringBuilder::with_capacity(capacity, capacity * 16));
        LogBatchBuilder {
            capacity,
            text,
            request_time: TimestampMicrosecondBuilder::with_capacity(capacity)
                .with_timezone(schema::UTC),
            http_status: Int16Builder::with_capacity(capacity),
            bytes_sent: Int64Builder::with_capacity(capacity),
            object_size: Int64Builder::with_capacity(capacity),
            total_time_ms: Int32Builder::with_capacity(capacity),
            turn_around_time_ms: Int32Builder::with_capacity(capacity),
            acl_required: BooleanBuilder::with_capacity(capacity),
            source_file: StringBuilder::with_capacity(capacity, capacity * 32),
            source_line: Int64Builder::with_capacity(capacity),
            rows: 0,
        }
    }

    /// Rows appended since the last batch.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row was appended since the last batch.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Whether the batch has reached its capacity.
    pub fn is_full(&self) -> bool {
        self.rows >= self.capacity
    }

    /// Appends one record and where it came from.
    pub fn append(&mut self, rec: &LogRecord<'_>, source_file: &str, source_line: i64) {
        let t = &mut self.text;
        let put = |b: &mut StringBuilder, v: Option<&[u8]>| match v {
            Some(v) => b.append_value(rec.text(v)),
            None => b.append_null(),
        };
        put(&mut t[BUCKET_OWNER], rec.bucket_owner);
        put(&mut t[BUCKET], rec.bucket);
        put(&mut t[REMOTE_IP], rec.remote_ip);
        match rec.requester {
            Some(v) if memchr::memchr(b' ', v).is_none() => t[REQUESTER].append_value(rec.text(v)),
            Some(v) => t[REQUESTER].append_value(joined_tokens(v)),
            None => t[REQUESTER].append_null(),
        }
        put(&mut t[REQUEST_ID], rec.request_id);
        put(&mut t[OPERATION], rec.operation);
        put(&mut t[KEY], rec.key);
        put(&mut t[REQUEST_URI], rec.request_uri);
        put(&mut t[ERROR_CODE], rec.error_code);
        put(&mut t[REFERER], rec.referer);
        put(&mut t[USER_AGENT], rec.user_agent);
        put(&mut t[VERSION_ID], rec.version_id);
        match rec.host_id {
            Some(v) if memchr::memchr(b' ', v).is_none() => t[HOST_ID].append_value(rec.text(v)),
            Some(v) => t[HOST_ID].append_value(joined_tokens(v)),
            None => t[HOST_ID].append_null(),
        }
        put(&mut t[SIGNATURE_VERSION], rec.signature_version);
        put(&mut t[CIPHER_SUITE], rec.cipher_suite);
        put(&mut t[AUTHENTICATION_TYPE], rec.authentication_type);
        put(&mut t[HOST_HEADER], rec.host_header);
        put(&mut t[TLS_VERSION], rec.tls_version);
        put(&mut t[ACCESS_POINT_ARN], rec.access_point_arn);
        put(&mut t[SOURCE_REGION], rec.source_region);
        put(&mut t[EXTRA_FIELDS], rec.extra_fields);
        self.request_time.append_value(rec.request_time);
        self.http_status.append_option(rec.http_status);
        self.bytes_sent.append_option(rec.bytes_sent);
        self.object_size.append_option(rec.object_size);
        self.total_time_ms.append_option(rec.total_time_ms);
        self.turn_around_time_ms
            .append_option(rec.turn_around_time_ms);
        self.acl_required.append_option(rec.acl_required);
        self.source_file.append_value(source_file);
        self.source_line.append_value(source_line);
        self.rows += 1;
    }

    /// The rows appended so far as a batch of [`schema::records`]; the
    /// builder is empty afterwards and ready for the next batch.
    pub fn finish(&mut self) -> RecordBatch {
        let t = &mut self.text;
        let capacity = self.capacity;
        // `finish` leaves an empty value buffer that would grow by doubling
        // again for every batch: start the next one at this batch's size.
        let mut s = |i: usize| -> ArrayRef {
            let bytes = t[i].values_slice().len();
            let next = StringBuilder::with_capacity(capacity, bytes + bytes / 8);
            Arc::new(std::mem::replace(&mut t[i], next).finish())
        };
        let columns: Vec<ArrayRef> = vec![
            s(BUCKET_OWNER),
            s(BUCKET),
            Arc::new(self.request_time.finish()),
            s(REMOTE_IP),
            s(REQUESTER),
            s(REQUEST_ID),
            s(OPERATION),
            s(KEY),
            s(REQUEST_URI),
            Arc::new(self.http_status.finish()),
            s(ERROR_CODE),
            Arc::new(self.bytes_sent.finish()),
            Arc::new(self.object_size.finish()),
            Arc::new(self.total_time_ms.finish()),
            Arc::new(self.turn_around_time_ms.finish()),
            s(REFERER),
            s(USER_AGENT),
            s(VERSION_ID),
            s(HOST_ID),
            s(SIGNATURE_VERSION),
            s(CIPHER_SUITE),
            s(AUTHENTICATION_TYPE),
            s(HOST_HEADER),
            s(TLS_VERSION),
            s(ACCESS_POINT_ARN),
            Arc::new(self.acl_required.finish()),
            s(SOURCE_REGION),
            s(EXTRA_FIELDS),
            Arc::new(self.source_file.finish()),
            Arc::new(self.source_line.finish()),
        ];
        self.rows = 0;
        // The columns are built above in schema order with the schema's
        // types, so this cannot fail; a mismatch is a bug caught by tests.
        RecordBatch::try_new(schema::records(), columns)
            .unwrap_or_else(|e| unreachable!("log batch does not match its schema: {e}"))
    }
}

/// One line that could not be read, as stored in the `rejects` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    /// The object the line came from.
    pub source_file: Arc<str>,
    /// 1-based line number in that object.
    pub source_line: i64,
    /// Byte offset of the line's start in the (decompressed) object.
    pub byte_offset: i64,
    /// The reason code.
    pub reason: &'static str,
    /// The exact bytes of the line, without its `\n`.
    pub raw: Vec<u8>,
}

/// Builds [`schema::rejects`] batches.
#[derive(Default)]
pub struct RejectBatchBuilder {
    source_file: StringBuilder,
    source_line: Int64Builder,
    byte_offset: Int64Builder,
    reason: StringBuilder,
    raw: BinaryBuilder,
    run_id: StringBuilder,
}

impl RejectBatchBuilder {
    /// Appends one reject, tagged with the run that read it.
    pub fn append(&mut self, reject: &Reject, run_id: &str) {
        self.source_file.append_value(&reject.source_file);
        self.source_line.append_value(reject.source_line);
        self.byte_offset.append_value(reject.byte_offset);
        self.reason.append_value(reject.reason);
        self.raw.append_value(&reject.raw);
        self.run_id.append_value(run_id);
    }

    /// The rejects appended so far as one batch.
    pub fn finish(&mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.source_file.finish()),
            Arc::new(self.source_line.finish()),
            Arc::new(self.byte_offset.finish()),
            Arc::new(self.reason.finish()),
            Arc::new(self.raw.finish()),
            Arc::new(self.run_id.finish()),
        ];
        RecordBatch::try_new(schema::rejects(), columns)
            .unwrap_or_else(|e| unreachable!("reject batch does not match its schema: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_line;
    use arrow::array::{Array, AsArray};

    #[test]
    fn builds_typed_columns_and_reuses_builders() {
        let line = br#"o b [06/Feb/2019:00:00:38 +0000] 1.2.3.4 a  b ID REST.GET.OBJECT k "GET / HTTP/1.1" 200 - 5 - 7 6 "-" "ua" - x y"#;
        let rec = parse_line(line).expect("valid");
        let mut b = LogBatchBuilder::with_capacity(2);
        b.append(&rec, "f.log", 1);
        b.append(&rec, "f.log", 2);
        assert!(b.is_full());
        let batch = b.finish();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.schema(), schema::records());
        assert!(b.is_empty());
        let requester = batch.column(4).as_string::<i32>();
        assert_eq!(requester.value(0), "a b");
        assert!(batch.column(12).is_null(0), "object_size '-' is NULL");
        assert_eq!(
            batch
                .column(9)
                .as_primitive::<arrow::datatypes::Int16Type>()
                .value(1),
            200
        );
        b.append(&rec, "g.log", 3);
        assert_eq!(b.finish().num_rows(), 1);
    }
}
