//! [`LogRecord`]: one parsed line, borrowing its text from the line.

use std::borrow::Cow;

use crate::schema::Column;

/// One S3 server access log record, borrowing every text field from the line
/// it was parsed from (`'a` is the lifetime of that line).
///
/// Text fields are the raw bytes as logged, quotes removed; `None` is SQL
/// NULL (`-`, `"-"`, or a field the line does not have). They are decoded to
/// UTF-8 only when copied into Arrow (see [`text`]), so parsing allocates
/// nothing. Fields are named and ordered as in `FORMAT.md` and
/// [`crate::schema`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogRecord<'a> {
    /// 1. The canonical user id of the bucket owner.
    pub bucket_owner: Option<&'a [u8]>,
    /// 2. The bucket name.
    pub bucket: Option<&'a [u8]>,
    /// 3. When the request was received, microseconds since the epoch (UTC).
    pub request_time: i64,
    /// 4. The requester's IP address, not validated.
    pub remote_ip: Option<&'a [u8]>,
    /// 5\. The requester; may span several tokens (`… CloudFront Origin Access
    /// Identity E2…`), in which case the slice holds the run of tokens with
    /// the separators as logged: [`text`] joins them with single spaces.
    pub requester: Option<&'a [u8]>,
    /// 6. The request id (not unique per line).
    pub request_id: Option<&'a [u8]>,
    /// 7. The operation, such as `REST.GET.OBJECT`.
    pub operation: Option<&'a [u8]>,
    /// 8. The key, URL-encoded as logged.
    pub key: Option<&'a [u8]>,
    /// 9. The request line, without its quotes.
    pub request_uri: Option<&'a [u8]>,
    /// 10. The HTTP status.
    pub http_status: Option<i16>,
    /// 11. The S3 error code.
    pub error_code: Option<&'a [u8]>,
    /// 12. Response bytes sent, excluding protocol overhead.
    pub bytes_sent: Option<i64>,
    /// 13. The size of the object.
    pub object_size: Option<i64>,
    /// 14. Milliseconds the request was in flight from the server's view.
    pub total_time_ms: Option<i32>,
    /// 15. Milliseconds S3 spent processing the request.
    pub turn_around_time_ms: Option<i32>,
    /// 16. The referer, without its quotes.
    pub referer: Option<&'a [u8]>,
    /// 17. The user agent, without its quotes.
    pub user_agent: Option<&'a [u8]>,
    /// 18. The version id.
    pub version_id: Option<&'a [u8]>,
    /// 19\. The host id; a 2019 two-part host id spans two tokens (see
    /// [`LogRecord::requester`] for how that is stored).
    pub host_id: Option<&'a [u8]>,
    /// 20. `SigV2`, `SigV4`.
    pub signature_version: Option<&'a [u8]>,
    /// 21. The TLS cipher suite.
    pub cipher_suite: Option<&'a [u8]>,
    /// 22. `AuthHeader`, `QueryString`.
    pub authentication_type: Option<&'a [u8]>,
    /// 23. The endpoint used to connect.
    pub host_header: Option<&'a [u8]>,
    /// 24. The TLS version as logged (`TLSv1.2`, `TLSV1.2`).
    pub tls_version: Option<&'a [u8]>,
    /// 25. The access point ARN.
    pub access_point_arn: Option<&'a [u8]>,
    /// 26. `Yes` is true, `-` is false, absent is `None`.
    pub acl_required: Option<bool>,
    /// 27. The region the request came from.
    pub source_region: Option<&'a [u8]>,
    /// 28+. The raw text after the last known field, unchanged.
    pub extra_fields: Option<&'a [u8]>,
    /// How many of the 27 known fields the line has (17 to 27): its format era.
    pub field_count: u8,
    /// Whether some field is not valid UTF-8 and needs replacement characters.
    pub lossy_utf8: bool,
    /// The whole line as text, when it is valid UTF-8: fields are cut at
    /// ASCII bytes, so each is then a valid `&str` slice of it and needs no
    /// second validation (see [`LogRecord::text`]).
    pub utf8_line: Option<&'a str>,
}

impl<'a> LogRecord<'a> {
    /// The text fields, in the order of [`Column::TEXT`] (the schema's
    /// order): the one list of them that writers and tests walk.
    pub fn text_fields(&self) -> [Option<&'a [u8]>; Column::TEXT.len()] {
        std::array::from_fn(|i| self.text_field(i))
    }

    /// The `i`th of [`LogRecord::text_fields`] (`None` past the last), for
    /// a writer that builds only some of them.
    #[inline]
    pub fn text_field(&self, i: usize) -> Option<&'a [u8]> {
        match i {
            0 => self.bucket_owner,
            1 => self.bucket,
            2 => self.remote_ip,
            3 => self.requester,
            4 => self.request_id,
            5 => self.operation,
            6 => self.key,
            7 => self.request_uri,
            8 => self.error_code,
            9 => self.referer,
            10 => self.user_agent,
            11 => self.version_id,
            12 => self.host_id,
            13 => self.signature_version,
            14 => self.cipher_suite,
            15 => self.authentication_type,
            16 => self.host_header,
            17 => self.tls_version,
            18 => self.access_point_arn,
            19 => self.source_region,
            20 => self.extra_fields,
            _ => None,
        }
    }

    /// A field of this record as text: a slice of [`LogRecord::utf8_line`]
    /// when the field lies within it (no validation again), else decoded
    /// with replacement characters like [`text`].
    pub fn text(&self, field: &'a [u8]) -> Cow<'a, str> {
        if let Some(line) = self.utf8_line {
            let start = (field.as_ptr() as usize).wrapping_sub(line.as_ptr() as usize);
            if let Some(s) = start
                .checked_add(field.len())
                .and_then(|end| line.get(start..end))
                && s.as_bytes().as_ptr() == field.as_ptr()
            {
                return Cow::Borrowed(s);
            }
        }
        String::from_utf8_lossy(field)
    }
}

/// Decodes a text field for storage.
///
/// Valid UTF-8 is borrowed; invalid sequences are replaced by U+FFFD, as
/// [`String::from_utf8_lossy`] does (one replacement per maximal invalid
/// subsequence).
pub fn text(field: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(field)
}

/// Decodes a field that may span several tokens (the requester, a two-part
/// host id): like [`text`], with runs of spaces joined to one space.
pub fn joined_tokens(field: &[u8]) -> Cow<'_, str> {
    let decoded = String::from_utf8_lossy(field);
    if memchr::memmem::find(field, b"  ").is_none() {
        return decoded;
    }
    let mut out = String::with_capacity(decoded.len());
    let mut prev_space = false;
    for c in decoded.chars() {
        if !(c == ' ' && prev_space) {
            out.push(c);
        }
        prev_space = c == ' ';
    }
    Cow::Owned(out)
}
