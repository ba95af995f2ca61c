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

/// A column of the `logs` table, in table order: the 28 log columns (AWS
/// fields 1 to 27 and `extra_fields`), the two pipeline columns and the
/// `date` partition. Every module names a column through this type; its
/// position in a batch of [`records`] or [`logs`] is [`Column::index`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Column {
    /// AWS field 1: the canonical user id of the bucket's owner.
    BucketOwner,
    /// AWS field 2: the bucket the request was for.
    Bucket,
    /// AWS field 3: when the request was received, in UTC; never null.
    RequestTime,
    /// AWS field 4: the requester's IP address, as logged.
    RemoteIp,
    /// AWS field 5: canonical id, IAM or STS ARN, `svc:…`, `AmazonS3`; its tokens joined by one space.
    Requester,
    /// AWS field 6: not unique per line (a multi-object delete shares one).
    RequestId,
    /// AWS field 7: `REST.GET.OBJECT`, `BATCH.DELETE.OBJECT`, `S3.EXPIRE.OBJECT`, …
    Operation,
    /// AWS field 8: the object key, URL-encoded as logged.
    Key,
    /// AWS field 9: the request line, without its quotes.
    RequestUri,
    /// AWS field 10: the HTTP status code.
    HttpStatus,
    /// AWS field 11: the S3 error code.
    ErrorCode,
    /// AWS field 12: response bytes sent, without the headers.
    BytesSent,
    /// AWS field 13: the object's size.
    ObjectSize,
    /// AWS field 14: milliseconds the request was in flight, as the server saw it.
    TotalTimeMs,
    /// AWS field 15: milliseconds S3 spent processing the request.
    TurnAroundTimeMs,
    /// AWS field 16: the HTTP `Referer`, without its quotes.
    Referer,
    /// AWS field 17: the HTTP `User-Agent`, without its quotes.
    UserAgent,
    /// AWS field 18: the version id of the object.
    VersionId,
    /// AWS field 19: the `x-amz-id-2` request id (two tokens in some 2019 lines).
    HostId,
    /// AWS field 20: `SigV2` or `SigV4`.
    SignatureVersion,
    /// AWS field 21: the TLS cipher suite.
    CipherSuite,
    /// AWS field 22: `AuthHeader`, or `QueryString` for a presigned URL.
    AuthenticationType,
    /// AWS field 23: the endpoint the request was sent to.
    HostHeader,
    /// AWS field 24: `TLSv1.2`, `TLSV1.2`, …; null is plain HTTP.
    TlsVersion,
    /// AWS field 25: the access point the request came through.
    AccessPointArn,
    /// AWS field 26: whether an ACL was needed to authorise the request (null when the line predates the field).
    AclRequired,
    /// AWS field 27: the region the request came from.
    SourceRegion,
    /// Fields 28 and on: the raw text after the last known field.
    ExtraFields,
    /// The log object the record came from.
    SourceFile,
    /// The record's 1-based line number in its object.
    SourceLine,
    /// The UTC day of `request_time`: the partition.
    Date,
}

impl Column {
    /// Every column of [`logs`], in order.
    pub const ALL: [Column; 31] = [
        Column::BucketOwner,
        Column::Bucket,
        Column::RequestTime,
        Column::RemoteIp,
        Column::Requester,
        Column::RequestId,
        Column::Operation,
        Column::Key,
        Column::RequestUri,
        Column::HttpStatus,
        Column::ErrorCode,
        Column::BytesSent,
        Column::ObjectSize,
        Column::TotalTimeMs,
        Column::TurnAroundTimeMs,
        Column::Referer,
        Column::UserAgent,
        Column::VersionId,
        Column::HostId,
        Column::SignatureVersion,
        Column::CipherSuite,
        Column::AuthenticationType,
        Column::HostHeader,
        Column::TlsVersion,
        Column::AccessPointArn,
        Column::AclRequired,
        Column::SourceRegion,
        Column::ExtraFields,
        Column::SourceFile,
        Column::SourceLine,
        Column::Date,
    ];

    /// How many of them are log columns (AWS's fields and `extra_fields`).
    pub const LOG_COUNT: usize = 28;

    /// The 21 text columns among the log columns, in order.
    pub const TEXT: [Column; 21] = {
        let mut out = [Column::BucketOwner; 21];
        let (mut i, mut n) = (0, 0);
        while i < Column::LOG_COUNT {
            if Column::ALL[i].is_text() {
                out[n] = Column::ALL[i];
                n += 1;
            }
            i += 1;
        }
        out
    };

    /// Whether it holds text (`Utf8`).
    pub const fn is_text(self) -> bool {
        !matches!(
            self,
            Column::RequestTime
                | Column::HttpStatus
                | Column::BytesSent
                | Column::ObjectSize
                | Column::TotalTimeMs
                | Column::TurnAroundTimeMs
                | Column::AclRequired
                | Column::SourceLine
                | Column::Date
        )
    }

    /// Its position in [`logs`] (and in [`records`], which lacks only `date`).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Its name in the tables.
    pub const fn name(self) -> &'static str {
        match self {
            Column::BucketOwner => "bucket_owner",
            Column::Bucket => "bucket",
            Column::RequestTime => "request_time",
            Column::RemoteIp => "remote_ip",
            Column::Requester => "requester",
            Column::RequestId => "request_id",
            Column::Operation => "operation",
            Column::Key => "key",
            Column::RequestUri => "request_uri",
            Column::HttpStatus => "http_status",
            Column::ErrorCode => "error_code",
            Column::BytesSent => "bytes_sent",
            Column::ObjectSize => "object_size",
            Column::TotalTimeMs => "total_time_ms",
            Column::TurnAroundTimeMs => "turn_around_time_ms",
            Column::Referer => "referer",
            Column::UserAgent => "user_agent",
            Column::VersionId => "version_id",
            Column::HostId => "host_id",
            Column::SignatureVersion => "signature_version",
            Column::CipherSuite => "cipher_suite",
            Column::AuthenticationType => "authentication_type",
            Column::HostHeader => "host_header",
            Column::TlsVersion => "tls_version",
            Column::AccessPointArn => "access_point_arn",
            Column::AclRequired => "acl_required",
            Column::SourceRegion => "source_region",
            Column::ExtraFields => "extra_fields",
            Column::SourceFile => "source_file",
            Column::SourceLine => "source_line",
            Column::Date => "date",
        }
    }

    /// What it holds.
    pub const fn doc(self) -> &'static str {
        match self {
            Column::BucketOwner => "AWS field 1: the canonical user id of the bucket's owner.",
            Column::Bucket => "AWS field 2: the bucket the request was for.",
            Column::RequestTime => {
                "AWS field 3: when the request was received, in UTC; never null."
            }
            Column::RemoteIp => "AWS field 4: the requester's IP address, as logged.",
            Column::Requester => {
                "AWS field 5: canonical id, IAM or STS ARN, `svc:…`, `AmazonS3`; its tokens joined by one space."
            }
            Column::RequestId => {
                "AWS field 6: not unique per line (a multi-object delete shares one)."
            }
            Column::Operation => {
                "AWS field 7: `REST.GET.OBJECT`, `BATCH.DELETE.OBJECT`, `S3.EXPIRE.OBJECT`, …"
            }
            Column::Key => "AWS field 8: the object key, URL-encoded as logged.",
            Column::RequestUri => "AWS field 9: the request line, without its quotes.",
            Column::HttpStatus => "AWS field 10: the HTTP status code.",
            Column::ErrorCode => "AWS field 11: the S3 error code.",
            Column::BytesSent => "AWS field 12: response bytes sent, without the headers.",
            Column::ObjectSize => "AWS field 13: the object's size.",
            Column::TotalTimeMs => {
                "AWS field 14: milliseconds the request was in flight, as the server saw it."
            }
            Column::TurnAroundTimeMs => {
                "AWS field 15: milliseconds S3 spent processing the request."
            }
            Column::Referer => "AWS field 16: the HTTP `Referer`, without its quotes.",
            Column::UserAgent => "AWS field 17: the HTTP `User-Agent`, without its quotes.",
            Column::VersionId => "AWS field 18: the version id of the object.",
            Column::HostId => {
                "AWS field 19: the `x-amz-id-2` request id (two tokens in some 2019 lines)."
            }
            Column::SignatureVersion => "AWS field 20: `SigV2` or `SigV4`.",
            Column::CipherSuite => "AWS field 21: the TLS cipher suite.",
            Column::AuthenticationType => {
                "AWS field 22: `AuthHeader`, or `QueryString` for a presigned URL."
            }
            Column::HostHeader => "AWS field 23: the endpoint the request was sent to.",
            Column::TlsVersion => "AWS field 24: `TLSv1.2`, `TLSV1.2`, …; null is plain HTTP.",
            Column::AccessPointArn => "AWS field 25: the access point the request came through.",
            Column::AclRequired => {
                "AWS field 26: whether an ACL was needed to authorise the request (null when the line predates the field)."
            }
            Column::SourceRegion => "AWS field 27: the region the request came from.",
            Column::ExtraFields => "Fields 28 and on: the raw text after the last known field.",
            Column::SourceFile => "The log object the record came from.",
            Column::SourceLine => "The record's 1-based line number in its object.",
            Column::Date => "The UTC day of `request_time`: the partition.",
        }
    }

    /// Its Arrow type.
    pub fn data_type(self) -> DataType {
        match self {
            Column::RequestTime => timestamp_type(),
            Column::HttpStatus => DataType::Int16,
            Column::BytesSent => DataType::Int64,
            Column::ObjectSize => DataType::Int64,
            Column::TotalTimeMs => DataType::Int32,
            Column::TurnAroundTimeMs => DataType::Int32,
            Column::AclRequired => DataType::Boolean,
            Column::SourceLine => DataType::Int64,
            Column::Date => DataType::Date32,
            _ => DataType::Utf8,
        }
    }

    /// The column of a name.
    pub fn from_name(name: &str) -> Option<Column> {
        Column::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The log columns, in order.
    pub fn log() -> impl Iterator<Item = Column> {
        Column::ALL.into_iter().take(Column::LOG_COUNT)
    }
}

/// The name of the pipeline column holding the object a record came from.
pub const SOURCE_FILE: &str = Column::SourceFile.name();
/// The name of the pipeline column holding the 1-based line number.
pub const SOURCE_LINE: &str = Column::SourceLine.name();
/// The name of the partition column: the UTC date of `request_time`.
pub const DATE: &str = Column::Date.name();

/// A column of a batch by its name.
///
/// # Errors
///
/// The batch has no such column.
pub fn named<'a>(
    batch: &'a arrow::record_batch::RecordBatch,
    name: &str,
) -> Result<&'a arrow::array::ArrayRef, arrow::error::ArrowError> {
    batch
        .column_by_name(name)
        .ok_or_else(|| arrow::error::ArrowError::SchemaError(format!("no column {name}")))
}

static RECORDS: LazyLock<SchemaRef> = LazyLock::new(|| {
    let fields: Vec<Field> = Column::ALL[..Column::LOG_COUNT + 2]
        .iter()
        .map(|c| Field::new(c.name(), c.data_type(), true))
        .collect();
    Arc::new(Schema::new(fields))
});

static LOGS: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields: Vec<Field> = RECORDS
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(DATE, Column::Date.data_type(), true));
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
        assert_eq!(s.fields().len(), Column::ALL.len());
        for (i, c) in Column::ALL.into_iter().enumerate() {
            assert_eq!(c.index(), i);
            assert_eq!(s.field(i).name(), c.name());
            assert_eq!(s.field(i).data_type(), &c.data_type());
            assert_eq!(Column::from_name(c.name()), Some(c));
        }
        assert_eq!(s.field(2).data_type(), &timestamp_type());
        assert_eq!(s.field(9).data_type(), &DataType::Int16);
        assert_eq!(s.field(25).name(), "acl_required");
        assert_eq!(s.field(27).name(), "extra_fields");
        assert_eq!(s.field(30).name(), DATE);
        assert!(s.fields().iter().all(|f| f.is_nullable()));
        assert_eq!(records().fields().len(), 30);
        assert!(Column::TEXT.iter().all(|c| c.data_type() == DataType::Utf8));
        let texts = Column::log()
            .filter(|c| c.data_type() == DataType::Utf8)
            .count();
        assert_eq!(texts, Column::TEXT.len());
    }
}
