//! Records to Arrow: [`LogBatchBuilder`] and [`RejectBatchBuilder`].
//!
//! One Arrow builder per column, created with capacity and reused across
//! batches; a batch's buffers are taken back for a later batch once its
//! consumer has dropped it (see `Column`). Text is copied once, from the
//! line into the builder's buffer; invalid UTF-8 is replaced only in the
//! rare field that needs it.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BinaryBuilder, BooleanBuilder, Int64Builder, PrimitiveArray, PrimitiveBuilder,
    StringArray, StringBuilder,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{
    ArrowPrimitiveType, Date32Type, Int16Type, Int32Type, Int64Type, SchemaRef,
    TimestampMicrosecondType,
};
use arrow::error::ArrowError;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};

use crate::parse::{LogRecord, Reason, find_space, joined_tokens};
use crate::schema::{self, Column as Col};
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
    /// Which text columns are built (indexes into [`Col::TEXT`]): a query
    /// over raw files reads a few, and walking all 21 for each record cost
    /// it more than the copies of the ones it reads.
    text_wanted: Vec<usize>,
    text: [Column<StringBuilder>; TEXT_COLUMNS],
    request_time: Column<PrimitiveBuilder<TimestampMicrosecondType>>,
    http_status: Column<PrimitiveBuilder<Int16Type>>,
    bytes_sent: Column<PrimitiveBuilder<Int64Type>>,
    object_size: Column<PrimitiveBuilder<Int64Type>>,
    total_time_ms: Column<PrimitiveBuilder<Int32Type>>,
    turn_around_time_ms: Column<PrimitiveBuilder<Int32Type>>,
    acl_required: BooleanBuilder,
    source_file: Column<StringBuilder>,
    source_line: Column<PrimitiveBuilder<Int64Type>>,
    date: Column<PrimitiveBuilder<Date32Type>>,
    rows: usize,
    /// [`BATCH_TEXT_BYTES`], lowered by tests.
    text_limit: usize,
}

/// The most text a column of one batch holds before
/// [`LogBatchBuilder::is_full`] says so, whatever its rows. Arrow's `Utf8`
/// offsets are `i32`, and a line is at most [`crate::source::MAX_LINE`]
/// bytes, so a batch cut here never overflows them (which would panic).
pub const BATCH_TEXT_BYTES: usize = 1 << 30;

/// The text builders, one per [`Col::TEXT`] column, in that order (the
/// order of [`LogRecord::text_fields`]).
const TEXT_COLUMNS: usize = Col::TEXT.len();

/// Columns of [`schema::logs`]: the 30 of [`schema::records`] and `date`.
const LOG_COLUMNS: usize = Col::ALL.len();
const DATE: usize = Col::Date.index();

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
            let bytes = if wanted[Col::TEXT[i].index()] { 16 } else { 0 };
            Column::new(StringBuilder::with_capacity(capacity, capacity * bytes))
        });
        let text_wanted = (0..TEXT_COLUMNS)
            .filter(|&i| wanted[Col::TEXT[i].index()])
            .collect();
        LogBatchBuilder {
            capacity,
            schema,
            wanted,
            text_wanted,
            text,
            request_time: Column::new(
                PrimitiveBuilder::with_capacity(capacity).with_timezone(schema::UTC),
            ),
            http_status: Column::primitive(capacity),
            bytes_sent: Column::primitive(capacity),
            object_size: Column::primitive(capacity),
            total_time_ms: Column::primitive(capacity),
            turn_around_time_ms: Column::primitive(capacity),
            acl_required: BooleanBuilder::with_capacity(capacity),
            source_file: Column::new(StringBuilder::with_capacity(capacity, capacity * 32)),
            source_line: Column::primitive(capacity),
            date: Column::primitive(capacity),
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
                .text_wanted
                .iter()
                .map(|&i| &self.text[i])
                .chain([&self.source_file])
                .any(|c| c.builder.values_slice().len() >= self.text_limit)
    }

    /// Appends one record and where it came from.
    pub fn append(&mut self, rec: &LogRecord<'_>, source_file: &str, source_line: i64) {
        let w = &self.wanted;
        for &i in &self.text_wanted {
            let (Some(c), Some(&col)) = (self.text.get_mut(i), Col::TEXT.get(i)) else {
                continue;
            };
            let b = &mut c.builder;
            match rec.text_field(i) {
                None => b.append_null(),
                // The requester and the host id may be several tokens,
                // stored joined by one space.
                Some(v)
                    if matches!(col, Col::Requester | Col::HostId) && find_space(v) < v.len() =>
                {
                    b.append_value(joined_tokens(v))
                }
                Some(v) => b.append_value(rec.text(v)),
            }
        }
        if w[Col::RequestTime.index()] {
            self.request_time.builder.append_value(rec.request_time);
        }
        if w[Col::HttpStatus.index()] {
            self.http_status.builder.append_option(rec.http_status);
        }
        if w[Col::BytesSent.index()] {
            self.bytes_sent.builder.append_option(rec.bytes_sent);
        }
        if w[Col::ObjectSize.index()] {
            self.object_size.builder.append_option(rec.object_size);
        }
        if w[Col::TotalTimeMs.index()] {
            self.total_time_ms.builder.append_option(rec.total_time_ms);
        }
        if w[Col::TurnAroundTimeMs.index()] {
            self.turn_around_time_ms
                .builder
                .append_option(rec.turn_around_time_ms);
        }
        if w[Col::AclRequired.index()] {
            self.acl_required.append_option(rec.acl_required);
        }
        if w[Col::SourceFile.index()] {
            self.source_file.builder.append_value(source_file);
        }
        if w[Col::SourceLine.index()] {
            self.source_line.builder.append_value(source_line);
        }
        if w[DATE] {
            self.date
                .builder
                .append_value(crate::civil::day_of(rec.request_time));
        }
        self.rows += 1;
    }

    /// The rows appended so far as a batch; the builder is empty afterwards
    /// and ready for the next batch.
    pub fn finish(&mut self) -> RecordBatch {
        let capacity = self.capacity;
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        for c in (0..LOG_COLUMNS).filter(|&c| self.wanted[c]) {
            let column: ArrayRef = match Col::ALL[c] {
                Col::RequestTime => self.request_time.finish(capacity),
                Col::HttpStatus => self.http_status.finish(capacity),
                Col::BytesSent => self.bytes_sent.finish(capacity),
                Col::ObjectSize => self.object_size.finish(capacity),
                Col::TotalTimeMs => self.total_time_ms.finish(capacity),
                Col::TurnAroundTimeMs => self.turn_around_time_ms.finish(capacity),
                Col::AclRequired => Arc::new(self.acl_required.finish()),
                Col::SourceFile => self.source_file.finish(capacity),
                Col::SourceLine => self.source_line.finish(capacity),
                Col::Date => self.date.finish(capacity),
                _ => {
                    let i = Col::TEXT
                        .iter()
                        .position(|t| t.index() == c)
                        .unwrap_or_else(|| unreachable!("column {c} is a text column"));
                    self.text[i].finish(capacity)
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

/// One column's Arrow builder, and the arrays it finished last.
///
/// Each batch of 8,192 lines fills about 4 MB of buffers. Freeing them when
/// the batch is dropped and allocating them again for the next one costs
/// more than it seems: glibc hands blocks that size back to the kernel, and
/// every page is faulted in and zeroed anew. So a column keeps a reference
/// to the last few arrays it finished, and when it finishes the next one it
/// takes back the buffers of one whose reference is the last: its consumer
/// has dropped the batch, as a streaming scan does. A consumer that keeps
/// its batches (ingest sorts them) keeps them whole: nothing is reused while
/// anyone else holds it, and Arrow checks that, not us.
struct Column<B: Reuse> {
    builder: B,
    /// Up to [`KEPT_ARRAYS`] arrays, oldest first.
    finished: Vec<Arc<B::Array>>,
}

/// How many finished arrays a [`Column`] keeps an eye on: enough for a scan
/// with a few batches in flight between it and the query (two in a channel,
/// one being read) to get one back.
const KEPT_ARRAYS: usize = 4;

impl<B: Reuse> Column<B> {
    fn new(builder: B) -> Self {
        Column {
            builder,
            finished: Vec::new(),
        }
    }

    /// The rows appended so far as an array; the builder starts the next
    /// batch, for up to `rows` rows, over reused or new buffers.
    fn finish(&mut self, rows: usize) -> ArrayRef {
        let array = Arc::new(self.builder.finish_array());
        // Arrays no one else holds: the first that can lends its buffers,
        // the others are freed rather than kept idle.
        self.builder = self
            .finished
            .extract_if(.., |a| Arc::strong_count(a) == 1)
            .filter_map(Arc::into_inner)
            .fold(None, |reused, free| reused.or_else(|| B::reuse(free)))
            .unwrap_or_else(|| B::sized_like(rows, &array));
        if self.finished.len() == KEPT_ARRAYS {
            self.finished.remove(0);
        }
        self.finished.push(Arc::clone(&array));
        array
    }
}

impl<T: ArrowPrimitiveType> Column<PrimitiveBuilder<T>> {
    fn primitive(rows: usize) -> Self {
        Column::new(PrimitiveBuilder::with_capacity(rows))
    }
}

/// An Arrow builder that can start a batch over the buffers of an array it
/// built.
trait Reuse: Sized {
    type Array: Array + 'static;

    /// The rows appended so far as an array; the builder is left empty.
    fn finish_array(&mut self) -> Self::Array;

    /// An empty builder for `rows` rows, with room for as much data as
    /// `like` holds.
    fn sized_like(rows: usize, like: &Self::Array) -> Self;

    /// An empty builder over `array`'s buffers, or `None` if they are
    /// shared, or too large to keep.
    fn reuse(array: Self::Array) -> Option<Self>;
}

/// The largest text buffer [`Reuse::reuse`] keeps: one that a batch of very
/// long lines grew past this is freed rather than held for the next batch.
const REUSED_TEXT_BYTES: usize = 64 << 20;

impl Reuse for StringBuilder {
    type Array = StringArray;

    fn finish_array(&mut self) -> StringArray {
        self.finish()
    }

    fn sized_like(rows: usize, like: &StringArray) -> Self {
        // Room for an eighth more text than the last batch held, so that
        // the buffer rarely has to grow.
        let bytes = like.value_data().len();
        StringBuilder::with_capacity(rows, bytes + bytes / 8)
    }

    fn reuse(array: StringArray) -> Option<Self> {
        let (offsets, values, _) = array.into_parts();
        let mut offsets = offsets.into_inner().into_inner().into_mutable().ok()?;
        let mut values = values.into_mutable().ok()?;
        if values.capacity() > REUSED_TEXT_BYTES {
            return None;
        }
        offsets.clear();
        offsets.push(0_i32);
        values.clear();
        // An empty array over the emptied buffers, turned into a builder
        // that appends to them: Arrow's one safe way to build over buffers.
        let empty = StringArray::try_new(OffsetBuffer::new(offsets.into()), values.into(), None);
        empty.ok()?.into_builder().ok()
    }
}

impl<T: ArrowPrimitiveType> Reuse for PrimitiveBuilder<T> {
    type Array = PrimitiveArray<T>;

    fn finish_array(&mut self) -> PrimitiveArray<T> {
        self.finish()
    }

    fn sized_like(rows: usize, like: &PrimitiveArray<T>) -> Self {
        PrimitiveBuilder::with_capacity(rows).with_data_type(like.data_type().clone())
    }

    fn reuse(array: PrimitiveArray<T>) -> Option<Self> {
        let (data_type, values, _) = array.into_parts();
        let mut values = values.into_inner().into_mutable().ok()?;
        values.clear();
        Some(PrimitiveBuilder::new_from_buffer(values, None).with_data_type(data_type))
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
            raw: chunk.data.to_vec(),
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
    use arrow::array::AsArray;

    /// A record whose requester has a double space in it.
    const LINE: &[u8] = br#"o b [06/Feb/2019:00:00:38 +0000] 1.2.3.4 a  b ID REST.GET.OBJECT k "GET / HTTP/1.1" 200 - 5 - 7 6 "-" "ua" - x y"#;

    #[test]
    fn builds_typed_columns_and_reuses_builders() {
        let rec = parse_line(LINE).expect("valid");
        let mut b = LogBatchBuilder::with_capacity(2);
        b.append(&rec, "f.log", 1);
        b.append(&rec, "f.log", 2);
        assert!(b.is_full());
        let batch = b.finish();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.schema(), schema::records());
        assert!(b.is_empty());
        let requester = batch.column(Col::Requester.index()).as_string::<i32>();
        assert_eq!(requester.value(0), "a b");
        assert!(
            batch.column(Col::ObjectSize.index()).is_null(0),
            "object_size '-' is NULL"
        );
        assert_eq!(
            batch
                .column(Col::HttpStatus.index())
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

    /// Where each column's data buffer starts: the last buffer of each
    /// array, the values of a string column.
    fn data_pointers(batch: &RecordBatch) -> Vec<usize> {
        let last_buffer = |c: &ArrayRef| c.to_data().buffers().last().map(|b| b.as_ptr() as usize);
        batch.columns().iter().filter_map(last_buffer).collect()
    }

    #[test]
    fn a_dropped_batch_lends_its_buffers_to_a_later_one() {
        let rec = parse_line(LINE).expect("valid");
        let mut b = LogBatchBuilder::with_capacity(4);
        let batch = |b: &mut LogBatchBuilder, file: &str| {
            for n in 1..=3 {
                b.append(&rec, file, n);
            }
            b.finish()
        };
        // Three batches in flight, then the oldest is dropped.
        let first = batch(&mut b, "1.log");
        let first_pointers = data_pointers(&first);
        let held = [batch(&mut b, "2.log"), batch(&mut b, "3.log")];
        drop(first);
        let fourth = batch(&mut b, "4.log");
        let fifth = batch(&mut b, "5.log");
        // The fifth is built over the first's buffers: every column but
        // acl_required (a bitmap).
        let reused = first_pointers
            .iter()
            .zip(data_pointers(&fifth))
            .filter(|(a, b)| *a == b)
            .count();
        assert_eq!(reused, first_pointers.len() - 1);
        // Nothing that is still held was touched.
        let file = |b: &RecordBatch| {
            b.column(Col::SourceFile.index())
                .as_string::<i32>()
                .value(2)
                .to_owned()
        };
        let files: Vec<_> = held.iter().chain([&fourth, &fifth]).map(file).collect();
        assert_eq!(files, ["2.log", "3.log", "4.log", "5.log"]);
        assert_eq!(
            fifth
                .column(Col::SourceLine.index())
                .as_primitive::<Int64Type>()
                .values(),
            &[1, 2, 3]
        );
        assert_eq!(
            fifth
                .column(Col::Requester.index())
                .as_string::<i32>()
                .value(0),
            "a b"
        );
        assert!(fifth.column(Col::ObjectSize.index()).is_null(0));
        let time = fifth
            .column(Col::RequestTime.index())
            .as_primitive::<TimestampMicrosecondType>();
        assert_eq!(time.timezone(), Some(schema::UTC));
        assert_eq!(fifth.schema(), schema::records());
    }

    #[test]
    fn a_batch_whose_buffers_are_shared_is_never_written_over() {
        let rec = parse_line(LINE).expect("valid");
        let mut b = LogBatchBuilder::with_capacity(4);
        b.append(&rec, "a.log", 1);
        // A slice shares the buffers of the batch it was cut from.
        let slice = b.finish().slice(0, 1);
        b.append(&rec, "b.log", 2);
        drop(b.finish());
        b.append(&rec, "c.log", 3);
        let third = b.finish();
        assert_eq!(
            slice
                .column(Col::SourceFile.index())
                .as_string::<i32>()
                .value(0),
            "a.log"
        );
        assert_eq!(
            slice
                .column(Col::SourceLine.index())
                .as_primitive::<Int64Type>()
                .value(0),
            1
        );
        assert_eq!(
            third
                .column(Col::SourceFile.index())
                .as_string::<i32>()
                .value(0),
            "c.log"
        );
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
            .column(Col::RequestTime.index())
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
