//! Records to Arrow: [`LogBatchBuilder`] and [`RejectBatchBuilder`].
//!
//! One Arrow builder per column, created with capacity and reused across
//! batches (`finish` resets them). Text is copied once, from the line into
//! the builder's buffer; invalid UTF-8 is replaced only in the rare field
//! that needs it.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Int16Builder, Int32Builder,
    Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};

use crate::parse::{LogRecord, Reason, find_space, joined_tokens};
use crate::schema;
use crate::source::{Chunk, Line};

/// The default number of rows in a batch.
pub const BATCH_ROWS: usize = 8192;

/// Builds [`schema::records`] batches from [`LogRecord`]s, or, with
/// [`LogBatchBuilder::projected`], any subset of the [`schema::logs`]
/// columns (the raw-file table builds only what a query reads).
pub struct LogBatchBuilder {
    capacity: usize,
    schema: SchemaRef,
    /// Which [`schema::logs`] columns are built.
    wanted: [bool; LOG_COLUMNS],
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
    date: Date32Builder,
    rows: usize,
    /// [`BATCH_TEXT_BYTES`], lowered by tests.
    text_limit: usize,
}

/// The most text a column of one batch holds before
/// [`LogBatchBuilder::is_full`] says so, whatever its rows. Arrow's `Utf8`
/// offsets are `i32`, and a line is at most [`crate::source::MAX_LINE`]
/// bytes, so a batch cut here never overflows them (which would panic).
pub const BATCH_TEXT_BYTES: usize = 1 << 30;

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

/// The [`schema::logs`] column of each text builder.
const TEXT_COLUMN: [usize; TEXT_COLUMNS] = [
    0, 1, 3, 4, 5, 6, 7, 8, 10, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 26, 27,
];
/// Columns of [`schema::logs`]: the 30 of [`schema::records`] and `date`.
const LOG_COLUMNS: usize = 31;
const DATE: usize = 30;

impl Default for LogBatchBuilder {
    fn default() -> Self {
        Self::with_capacity(BATCH_ROWS)
    }
}

impl LogBatchBuilder {
    /// A builder of [`schema::records`] batches that hold up to `capacity`
    /// rows before [`LogBatchBuilder::is_full`] says so.
    pub fn with_capacity(capacity: usize) -> Self {
        let mut wanted = [true; LOG_COLUMNS];
        wanted[DATE] = false;
        Self::build(capacity, schema::records(), wanted)
    }

    /// A builder of the given columns of [`schema::logs`] (indexes; the
    /// batches hold them in schema order), which skips the work for every
    /// other column.
    ///
    /// # Errors
    ///
    /// An index is out of range.
    pub fn projected(capacity: usize, columns: &[usize]) -> Result<Self, ArrowError> {
        let mut sorted = columns.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let schema = Arc::new(schema::logs().project(&sorted)?);
        let mut wanted = [false; LOG_COLUMNS];
        for &c in &sorted {
            wanted[c] = true;
        }
        Ok(Self::build(capacity, schema, wanted))
    }

    fn build(capacity: usize, schema: SchemaRef, wanted: [bool; LOG_COLUMNS]) -> Self {
        let text = std::array::from_fn(|i| {
            let bytes = if wanted[TEXT_COLUMN[i]] { 16 } else { 0 };
            StringBuilder::with_capacity(capacity, capacity * bytes)
        });
        LogBatchBuilder {
            capacity,
            schema,
            wanted,
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
            date: Date32Builder::with_capacity(capacity),
            rows: 0,
            text_limit: BATCH_TEXT_BYTES,
        }
    }

    /// The schema of the batches.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Rows appended since the last batch.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row was appended since the last batch.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Whether the batch has reached its capacity: its rows, or
    /// [`BATCH_TEXT_BYTES`] of text in one column (lines of hundreds of
    /// kilobytes).
    pub fn is_full(&self) -> bool {
        self.rows >= self.capacity
            || self
                .text
                .iter()
                .chain([&self.source_file])
                .any(|b| b.values_slice().len() >= self.text_limit)
    }

    /// Appends one record and where it came from.
    pub fn append(&mut self, rec: &LogRecord<'_>, source_file: &str, source_line: i64) {
        let w = &self.wanted;
        let t = &mut self.text;
        let put = |b: &mut StringBuilder, i: usize, v: Option<&[u8]>| {
            if w[TEXT_COLUMN[i]] {
                match v {
                    Some(v) => b.append_value(rec.text(v)),
                    None => b.append_null(),
                }
            }
        };
        // Requester and host id may be several tokens, joined by one space.
        let put_joined = |b: &mut StringBuilder, i: usize, v: Option<&[u8]>| {
            if w[TEXT_COLUMN[i]] {
                match v {
                    Some(v) if find_space(v) == v.len() => b.append_value(rec.text(v)),
                    Some(v) => b.append_value(joined_tokens(v)),
                    None => b.append_null(),
                }
            }
        };
        let [
            bucket_owner,
            bucket,
            remote_ip,
            requester,
            request_id,
            operation,
            key,
            request_uri,
            error_code,
            referer,
            user_agent,
            version_id,
            host_id,
            signature_version,
            cipher_suite,
            authentication_type,
            host_header,
            tls_version,
            access_point_arn,
            source_region,
            extra_fields,
        ] = t;
        put(bucket_owner, BUCKET_OWNER, rec.bucket_owner);
        put(bucket, BUCKET, rec.bucket);
        put(remote_ip, REMOTE_IP, rec.remote_ip);
        put_joined(requester, REQUESTER, rec.requester);
        put(request_id, REQUEST_ID, rec.request_id);
        put(operation, OPERATION, rec.operation);
        put(key, KEY, rec.key);
        put(request_uri, REQUEST_URI, rec.request_uri);
        put(error_code, ERROR_CODE, rec.error_code);
        put(referer, REFERER, rec.referer);
        put(user_agent, USER_AGENT, rec.user_agent);
        put(version_id, VERSION_ID, rec.version_id);
        put_joined(host_id, HOST_ID, rec.host_id);
        put(signature_version, SIGNATURE_VERSION, rec.signature_version);
        put(cipher_suite, CIPHER_SUITE, rec.cipher_suite);
        put(
            authentication_type,
            AUTHENTICATION_TYPE,
            rec.authentication_type,
        );
        put(host_header, HOST_HEADER, rec.host_header);
        put(tls_version, TLS_VERSION, rec.tls_version);
        put(access_point_arn, ACCESS_POINT_ARN, rec.access_point_arn);
        put(source_region, SOURCE_REGION, rec.source_region);
        put(extra_fields, EXTRA_FIELDS, rec.extra_fields);
        if w[2] {
            self.request_time.append_value(rec.request_time);
        }
        if w[9] {
            self.http_status.append_option(rec.http_status);
        }
        if w[11] {
            self.bytes_sent.append_option(rec.bytes_sent);
        }
        if w[12] {
            self.object_size.append_option(rec.object_size);
        }
        if w[13] {
            self.total_time_ms.append_option(rec.total_time_ms);
        }
        if w[14] {
            self.turn_around_time_ms
                .append_option(rec.turn_around_time_ms);
        }
        if w[25] {
            self.acl_required.append_option(rec.acl_required);
        }
        if w[28] {
            self.source_file.append_value(source_file);
        }
        if w[29] {
            self.source_line.append_value(source_line);
        }
        if w[DATE] {
            self.date
                .append_value(rec.request_time.div_euclid(MICROS_PER_DAY) as i32);
        }
        self.rows += 1;
    }

    /// The rows appended so far as a batch; the builder is empty afterwards
    /// and ready for the next batch.
    pub fn finish(&mut self) -> RecordBatch {
        let capacity = self.capacity;
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        for c in (0..LOG_COLUMNS).filter(|&c| self.wanted[c]) {
            let column: ArrayRef = match c {
                2 => Arc::new(self.request_time.finish()),
                9 => Arc::new(self.http_status.finish()),
                11 => Arc::new(self.bytes_sent.finish()),
                12 => Arc::new(self.object_size.finish()),
                13 => Arc::new(self.total_time_ms.finish()),
                14 => Arc::new(self.turn_around_time_ms.finish()),
                25 => Arc::new(self.acl_required.finish()),
                28 => Arc::new(self.source_file.finish()),
                29 => Arc::new(self.source_line.finish()),
                DATE => Arc::new(self.date.finish()),
                _ => {
                    let i = TEXT_COLUMN
                        .iter()
                        .position(|&t| t == c)
                        .unwrap_or_else(|| unreachable!("column {c} is a text column"));
                    // `finish` leaves an empty value buffer that would grow
                    // by doubling again for every batch: start the next one
                    // at this batch's size.
                    let bytes = self.text[i].values_slice().len();
                    let next = StringBuilder::with_capacity(capacity, bytes + bytes / 8);
                    Arc::new(std::mem::replace(&mut self.text[i], next).finish())
                }
            };
            columns.push(column);
        }
        let rows = std::mem::take(&mut self.rows);
        // The columns are built above in schema order with the schema's
        // types, so this cannot fail; a mismatch is a bug caught by tests.
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        RecordBatch::try_new_with_options(Arc::clone(&self.schema), columns, &options)
            .unwrap_or_else(|e| unreachable!("log batch does not match its schema: {e}"))
    }
}

/// Microseconds in a day: `request_time` to `date`.
pub const MICROS_PER_DAY: i64 = 86_400_000_000;

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

impl Reject {
    /// A line that did not parse.
    pub fn line(source: &Arc<str>, line: &Line<'_>, reason: Reason) -> Reject {
        Reject {
            source_file: Arc::clone(source),
            source_line: line.number as i64,
            byte_offset: line.offset as i64,
            reason: reason.as_str(),
            raw: line.bytes.to_vec(),
        }
    }

    /// A line longer than [`crate::source::MAX_LINE`]: the chunk holds its
    /// first bytes.
    pub fn overlong(source: &Arc<str>, chunk: &Chunk) -> Reject {
        Reject {
            source_file: Arc::clone(source),
            source_line: chunk.first_line as i64,
            byte_offset: chunk.first_offset as i64,
            reason: Reason::LineTooLong.as_str(),
            raw: chunk.data.clone(),
        }
    }
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

    #[test]
    fn a_batch_is_full_at_its_text_limit_whatever_its_rows() {
        let agent = "a".repeat(1000);
        let line = format!(
            r#"o b [06/Feb/2019:00:00:38 +0000] 1.2.3.4 - ID REST.GET.OBJECT k "GET / HTTP/1.1" 200 - 5 - 7 6 "-" "{agent}" -"#
        );
        let rec = parse_line(line.as_bytes()).expect("valid");
        let mut b = LogBatchBuilder {
            text_limit: 2500,
            ..LogBatchBuilder::default()
        };
        b.append(&rec, "f.log", 1);
        b.append(&rec, "f.log", 2);
        assert!(!b.is_full(), "2,000 bytes of user agent");
        b.append(&rec, "f.log", 3);
        assert!(b.is_full(), "3,000 bytes of user agent, 3 rows");
        assert_eq!(b.finish().num_rows(), 3);
        assert!(!b.is_full());
    }

    #[test]
    fn builds_only_the_projected_columns() {
        let line = br#"o b [06/Feb/2019:23:59:59 -0100] 1.2.3.4 a  b ID REST.GET.OBJECT k "GET / HTTP/1.1" 200 - 5 - 7 6 "-" "ua" - x y"#;
        let rec = parse_line(line).expect("valid");
        // date (30), then requester (4) and http_status (9): out of order.
        let mut b = LogBatchBuilder::projected(4, &[30, 4, 9]).expect("in range");
        b.append(&rec, "f.log", 1);
        let batch = b.finish();
        let names: Vec<_> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["requester", "http_status", "date"]);
        assert_eq!(batch.column(0).as_string::<i32>().value(0), "a b");
        // 23:59:59 at -01:00 is the next day in UTC.
        let day = batch
            .column(2)
            .as_primitive::<arrow::datatypes::Date32Type>()
            .value(0);
        assert_eq!(day, 17934);

        let mut none = LogBatchBuilder::projected(4, &[]).expect("in range");
        none.append(&rec, "f.log", 1);
        none.append(&rec, "f.log", 2);
        let batch = none.finish();
        assert_eq!((batch.num_columns(), batch.num_rows()), (0, 2));
        assert!(LogBatchBuilder::projected(4, &[31]).is_err());
    }
}
