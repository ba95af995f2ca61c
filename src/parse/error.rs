//! Why a line was rejected: a reason code, the field that failed and where.
//!
//! The reason codes are the ones listed in `shared/conformance/README.md`; they
//! are stored in the `rejects` table, so their spelling is part of the
//! contract, like column names.

use std::fmt;

/// Why a line could not be read as a record.
///
/// The first failure reading left to right decides the reason. `as_str` gives
/// the stable code stored in the `rejects` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Reason {
    /// Nothing but spaces and carriage returns.
    Empty,
    /// The line contains a NUL byte.
    NulByte,
    /// The line ends before the user agent (field 17) is complete.
    TooFewFields,
    /// Field 3 is not a valid bracketed time.
    BadTime,
    /// Field 3 is a valid time, but in UTC it falls outside the years 1 to
    /// 9999, which no Delta reader can hold as a `date` partition value or
    /// a timestamp statistic (`[31/Dec/9999:23:59:59 -0100]` is year 10000
    /// in UTC).
    TimeOutOfRange,
    /// A second bracketed time after field 3: two records run together.
    SplicedRecord,
    /// No operation-shaped token after the requester.
    BadOperation,
    /// The request URI is neither `-` nor quoted.
    BadRequestUri,
    /// The referer is neither `-` nor quoted.
    BadReferer,
    /// The user agent is neither `-` nor quoted.
    BadUserAgent,
    /// The HTTP status is not `-` or an Int16.
    BadHttpStatus,
    /// Bytes sent is not `-` or an Int64.
    BadBytesSent,
    /// Object size is not `-` or an Int64.
    BadObjectSize,
    /// Total time is not `-` or an Int32.
    BadTotalTime,
    /// Turn-around time is not `-` or an Int32.
    BadTurnAroundTime,
    /// A `"` inside one of fields 18 to 27.
    UnexpectedQuote,
    /// Field 26 is present and is neither `Yes` nor `-`.
    BadAclRequired,
    /// The line is longer than the reader's limit (16 MiB); set by the
    /// line reader, never by [`parse_line`](crate::parse::parse_line).
    LineTooLong,
}

impl Reason {
    /// Every reason, in the order of the checks.
    pub const ALL: [Reason; 18] = [
        Reason::Empty,
        Reason::NulByte,
        Reason::TooFewFields,
        Reason::BadTime,
        Reason::TimeOutOfRange,
        Reason::SplicedRecord,
        Reason::BadOperation,
        Reason::BadRequestUri,
        Reason::BadReferer,
        Reason::BadUserAgent,
        Reason::BadHttpStatus,
        Reason::BadBytesSent,
        Reason::BadObjectSize,
        Reason::BadTotalTime,
        Reason::BadTurnAroundTime,
        Reason::UnexpectedQuote,
        Reason::BadAclRequired,
        Reason::LineTooLong,
    ];

    /// The stable reason code, as stored in the `rejects` table.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Empty => "empty",
            Reason::NulByte => "nul_byte",
            Reason::TooFewFields => "too_few_fields",
            Reason::BadTime => "bad_time",
            Reason::TimeOutOfRange => "time_out_of_range",
            Reason::SplicedRecord => "spliced_record",
            Reason::BadOperation => "bad_operation",
            Reason::BadRequestUri => "bad_request_uri",
            Reason::BadReferer => "bad_referer",
            Reason::BadUserAgent => "bad_user_agent",
            Reason::BadHttpStatus => "bad_http_status",
            Reason::BadBytesSent => "bad_bytes_sent",
            Reason::BadObjectSize => "bad_object_size",
            Reason::BadTotalTime => "bad_total_time",
            Reason::BadTurnAroundTime => "bad_turn_around_time",
            Reason::UnexpectedQuote => "unexpected_quote",
            Reason::BadAclRequired => "bad_acl_required",
            Reason::LineTooLong => "line_too_long",
        }
    }

    /// The reason for a code, the inverse of [`Reason::as_str`].
    pub fn from_code(code: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == code)
    }

    /// The position of this reason in [`Reason::ALL`], for counting arrays.
    pub fn index(self) -> usize {
        Reason::ALL
            .iter()
            .position(|&r| r == self)
            .unwrap_or(Reason::ALL.len() - 1)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A line that could not be read as a record.
///
/// Small and `Copy`, so rejecting a line allocates nothing. `offset` is the
/// byte offset within the line where the failing field starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseLineError {
    /// Why the line was rejected.
    pub reason: Reason,
    /// Byte offset in the line of the field that failed.
    pub offset: usize,
}

impl ParseLineError {
    pub(crate) fn new(reason: Reason, offset: usize) -> Self {
        ParseLineError { reason, offset }
    }
}

impl fmt::Display for ParseLineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.reason, self.offset)
    }
}

impl std::error::Error for ParseLineError {}
