//! Bytes to [`LogRecord`]: the line grammar of `FORMAT.md` and the parsing
//! rules of `shared/conformance/README.md`.
//!
//! No I/O, no Arrow, no allocation: [`parse_line`] borrows slices of the line
//! and parses numbers and the time in place. Framing (finding lines in an
//! object) lives in [`crate::source`]; turning records into Arrow lives in
//! [`crate::batch`].
//!
//! The grammar is a set of nom parsers, each named for what it recognises
//! (`record`, `field`, `request_time`, `requester`, `quoted_field`,
//! `middle`, `tail`) and combined with nom; the byte scanners under them
//! (`token`, [`find_space`], the time's fixed layout) are nom parsers too.
//! Every parser fails with a [`Reason`] and the place it failed, so the
//! grammar is read left to right and the first failure decides the
//! [`Reason`]. Two things are not plain tokenising:
//!
//! - the requester may contain spaces: it is the shortest run of tokens
//!   followed by a request id and an operation-shaped token;
//! - quotes inside the request URI, referer and user agent are not escaped:
//!   a quoted field closes at the first `"` followed by a space (or the end)
//!   after which the line still reads as the expected fields up to the next
//!   opening quote. That choice is final.

mod error;
mod field;
mod record;
mod time;

pub use error::{ParseLineError, Reason};
pub use record::{LogRecord, joined_tokens, text};
pub use time::{TIME_LEN, TIME_RANGE, bracketed_time};

pub use field::find_space;
pub use field::is_operation;
use field::{find_byte, is_aida, is_host_id, next_token, number, skip_spaces};
use nom::error::{ErrorKind, ParseError};
use nom::{IResult, Parser};

type Result<T> = std::result::Result<T, ParseLineError>;

/// What each parser of the grammar returns: the rest of the line and what it
/// read, or a [`Reject`].
type PResult<'a, O> = IResult<&'a [u8], O, Reject<'a>>;

/// Why and where the line stops being a record: the reason and the input
/// at the field that failed (its offset in the line is what is left of the
/// line there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reject<'a> {
    reason: Reason,
    at: &'a [u8],
}

impl<'a> ParseError<&'a [u8]> for Reject<'a> {
    /// nom's own parsers fail only where input runs out (`token` at the end
    /// of the line), which for a record means too few fields.
    fn from_error_kind(input: &'a [u8], _: ErrorKind) -> Self {
        Reject {
            reason: Reason::TooFewFields,
            at: input,
        }
    }

    fn append(_: &'a [u8], _: ErrorKind, other: Self) -> Self {
        other
    }
}

/// Removes what framing leaves at the end of a line: trailing spaces and
/// carriage returns (CRLF files, trailing blanks).
pub fn trim_line_end(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|&c| c != b' ' && c != b'\r')
        .map_or(0, |i| i + 1);
    &line[..end]
}

/// Fails with `reason` at `at`.
fn reject<'a, O>(reason: Reason, at: &'a [u8]) -> PResult<'a, O> {
    Err(nom::Err::Error(Reject { reason, at }))
}

/// Parses one log line (without its `\n`; a trailing `\r` or spaces are
/// fine).
///
/// # Errors
///
/// A [`ParseLineError`] with the [`Reason`] code and byte offset of the first
/// field that cannot be read. Never panics, whatever the bytes.
///
/// # Example
///
/// ```
/// let line = br#"owner bkt [06/Feb/2019:00:00:38 +0000] 192.0.2.3 - 3E57 REST.GET.OBJECT k "GET /k HTTP/1.1" 200 - 5 5 7 6 "-" "curl/8" -"#;
/// let rec = s3logs::parse::parse_line(line).unwrap();
/// assert_eq!(rec.operation, Some(&b"REST.GET.OBJECT"[..]));
/// assert_eq!(rec.requester, None);
/// assert_eq!(rec.http_status, Some(200));
/// assert_eq!(rec.field_count, 18);
/// ```
pub fn parse_line(line: &[u8]) -> Result<LogRecord<'_>> {
    let line = trim_line_end(line);
    match record(line) {
        Ok(rec) => Ok(rec),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
            Err(ParseLineError::new(e.reason, line.len() - e.at.len()))
        }
        // `complete` parsers never ask for more input.
        Err(nom::Err::Incomplete(_)) => Err(ParseLineError::new(Reason::TooFewFields, line.len())),
    }
}

/// The part of a record between the request URI and the referer.
struct Middle<'a> {
    http_status: Option<i16>,
    error_code: Option<&'a [u8]>,
    bytes_sent: Option<i64>,
    object_size: Option<i64>,
    total_time_ms: Option<i32>,
    turn_around_time_ms: Option<i32>,
}

/// Fields 18 and after.
struct Tail<'a> {
    version_id: Option<&'a [u8]>,
    host_id: Option<&'a [u8]>,
    signature_version: Option<&'a [u8]>,
    cipher_suite: Option<&'a [u8]>,
    authentication_type: Option<&'a [u8]>,
    host_header: Option<&'a [u8]>,
    tls_version: Option<&'a [u8]>,
    access_point_arn: Option<&'a [u8]>,
    acl_required: Option<bool>,
    source_region: Option<&'a [u8]>,
    extra_fields: Option<&'a [u8]>,
    count: u8,
}

/// A quoted field as read: its content (`None` for `-` or `"-"`) and what
/// the check that chose its closing quote read, with the input left after
/// it (`None` after a bare `-`, which needs no check).
struct Quoted<'a, T> {
    value: Option<&'a [u8]>,
    checked: Option<(&'a [u8], T)>,
}

/// `-` is NULL.
fn dash(tok: &[u8]) -> Option<&[u8]> {
    (tok != b"-").then_some(tok)
}

/// The whole record: fields 1 to 17 and the tail, left to right.
///
/// The record (some 400 bytes) and the tail are built where they end up:
/// this and the parsers that return large values ([`quoted_field`],
/// [`middle`], [`tail`]) are inlined and called directly rather than
/// through nom's `Parser`, each of whose layers moved its output again
/// (a tenth of a raw query's time went to those copies).
#[inline(always)]
fn record(line: &[u8]) -> std::result::Result<LogRecord<'_>, nom::Err<Reject<'_>>> {
    if line.iter().all(|&c| c == b' ') {
        return reject(Reason::Empty, &line[line.len()..]).map(|(_, r)| r);
    }
    // One pass for NUL bytes (an error anywhere) and `[` (a second
    // bracketed time means a spliced record; most lines have one `[`).
    let mut brackets = 0usize;
    for at in memchr::memchr2_iter(0, b'[', line) {
        if line[at] == 0 {
            return reject(Reason::NulByte, &line[at..]).map(|(_, r)| r);
        }
        brackets += 1;
    }

    let (rest, (bucket_owner, bucket, request_time)) = (field, field, request_time).parse(line)?;
    if brackets > 1 {
        no_second_time(rest)?;
    }
    let (rest, (remote_ip, (requester, request_id, operation), key)) =
        (field, requester, field).parse(rest)?;
    // Field 9, whose closing quote is the one after which fields 10 to 15
    // read; then the referer, the user agent (closed where the tail reads)
    // and the tail.
    let (rest, uri) = quoted_field(rest, Reason::BadRequestUri, middle)?;
    let (rest, mid) = match uri.checked {
        Some(checked) => checked,
        None => middle(rest)?,
    };
    let (rest, referer) = quoted_field(rest, Reason::BadReferer, peek_user_agent)?;
    let (rest, agent) = quoted_field(rest, Reason::BadUserAgent, tail)?;
    let (_, tail) = match agent.checked {
        Some(checked) => checked,
        None => tail(rest)?,
    };

    // Most lines are valid: `basic` says only whether, at SIMD speed.
    let utf8_line = simdutf8::basic::from_utf8(line).ok();
    let rec = LogRecord {
        bucket_owner: dash(bucket_owner),
        bucket: dash(bucket),
        request_time,
        remote_ip: dash(remote_ip),
        requester: dash(requester),
        request_id: dash(request_id),
        operation: dash(operation),
        key: dash(key),
        request_uri: uri.value,
        http_status: mid.http_status,
        error_code: mid.error_code,
        bytes_sent: mid.bytes_sent,
        object_size: mid.object_size,
        total_time_ms: mid.total_time_ms,
        turn_around_time_ms: mid.turn_around_time_ms,
        referer: referer.value,
        user_agent: agent.value,
        version_id: tail.version_id,
        host_id: tail.host_id,
        signature_version: tail.signature_version,
        cipher_suite: tail.cipher_suite,
        authentication_type: tail.authentication_type,
        host_header: tail.host_header,
        tls_version: tail.tls_version,
        access_point_arn: tail.access_point_arn,
        acl_required: tail.acl_required,
        source_region: tail.source_region,
        extra_fields: tail.extra_fields,
        field_count: 17 + tail.count,
        lossy_utf8: utf8_line.is_none(),
        utf8_line,
    };
    Ok(rec)
}

/// A field that must be there: the next token, or `too_few_fields` where
/// the line ends.
#[inline]
fn field(input: &[u8]) -> PResult<'_, &[u8]> {
    match next_token(input) {
        Some((tok, rest)) => Ok((rest, tok)),
        None => reject(Reason::TooFewFields, input),
    }
}

/// A numeric field: `-` or digits that fit `T`, else `reason`.
fn number_field<'a, T: TryFrom<u64>>(
    reason: Reason,
) -> impl Parser<&'a [u8], Output = Option<T>, Error = Reject<'a>> {
    move |input: &'a [u8]| {
        let (rest, tok) = field(input)?;
        match number(tok) {
            Ok(n) => Ok((rest, n)),
            Err(()) => reject(reason, skip_spaces(input)),
        }
    }
}

/// Field 3, the request time: a [`bracketed_time`] that stands alone and
/// falls inside [`TIME_RANGE`].
fn request_time(input: &[u8]) -> PResult<'_, i64> {
    let at = skip_spaces(input);
    if at.is_empty() {
        return reject(Reason::TooFewFields, at);
    }
    match bracketed_time(at) {
        Ok((rest, t)) if rest.first().is_none_or(|&c| c == b' ') => {
            if TIME_RANGE.contains(&t) {
                Ok((rest, t))
            } else {
                reject(Reason::TimeOutOfRange, at)
            }
        }
        _ => reject(Reason::BadTime, at),
    }
}

/// Rejects a line holding a second bracketed time after field 3: a
/// truncated record with the next one run into it.
fn no_second_time(rest: &[u8]) -> PResult<'_, ()> {
    for at in memchr::memchr_iter(b'[', rest) {
        if bracketed_time(&rest[at..]).is_ok() {
            return reject(Reason::SplicedRecord, &rest[at..]);
        }
    }
    Ok((rest, ()))
}

/// Fields 5 to 7: requester, request id, operation. The requester is the
/// shortest run of tokens such that the token after the next one is
/// operation-shaped; the one in between is the request id. Neither contains
/// `"`.
fn requester(input: &[u8]) -> PResult<'_, (&[u8], &[u8], &[u8])> {
    let start = skip_spaces(input);
    // The first quote of the line from here (usually the request URI's
    // opening one): a token holds a quote only if it reaches past it.
    let quote_from_end = memchr::memchr(b'"', start).map_or(0, |i| start.len() - i);
    // (token, what follows it) for the last two tokens read.
    let mut prev: Option<(&[u8], &[u8])> = None;
    let mut prev2: Option<(&[u8], &[u8])> = None;
    let mut cursor = input;
    let mut count = 0usize;
    while let Some((tok, after)) = next_token(cursor) {
        if after.len() < quote_from_end {
            return reject(Reason::BadOperation, start);
        }
        count += 1;
        if let (Some((id, _)), Some((_, requester_end))) = (prev, prev2)
            && is_operation(tok)
        {
            let requester_len = start.len() - requester_end.len();
            return Ok((after, (&start[..requester_len], id, tok)));
        }
        prev2 = prev;
        prev = Some((tok, after));
        cursor = after;
    }
    let reason = if count < 3 {
        Reason::TooFewFields
    } else {
        Reason::BadOperation
    };
    reject(reason, start)
}

/// A quoted field (request URI, referer, user agent): a bare `-`, or `"`,
/// content and a closing quote: the first `"` followed by a space or the
/// end after which `check` reads (see the module docs). `bad` when the field
/// starts any other way.
#[inline(always)]
fn quoted_field<'a, T>(
    input: &'a [u8],
    bad: Reason,
    mut check: impl FnMut(&'a [u8]) -> PResult<'a, T>,
) -> PResult<'a, Quoted<'a, T>> {
    {
        let field = skip_spaces(input);
        match field.first() {
            None => return reject(Reason::TooFewFields, field),
            Some(b'"') => {}
            Some(b'-') if field.get(1).is_none_or(|&c| c == b' ') => {
                let dash = Quoted {
                    value: None,
                    checked: None,
                };
                return Ok((&field[1..], dash));
            }
            Some(_) => return reject(bad, field),
        }
        let mut first_err = None;
        let mut close = 0;
        loop {
            close += 1 + find_byte::<b'"'>(&field[close + 1..]);
            if close >= field.len() {
                break;
            }
            let after = &field[close + 1..];
            if after.first().is_some_and(|&c| c != b' ') {
                continue;
            }
            match check(after) {
                Ok(checked) => {
                    let content = &field[1..close];
                    let quoted = Quoted {
                        value: (content != b"-").then_some(content),
                        checked: Some(checked),
                    };
                    return Ok((after, quoted));
                }
                Err(nom::Err::Error(e)) => {
                    first_err.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        match first_err {
            Some(e) => Err(nom::Err::Error(e)),
            None => reject(Reason::TooFewFields, field),
        }
    }
}

/// Fields 10 to 15, then a look at the start of the referer.
#[inline(always)]
fn middle(input: &[u8]) -> PResult<'_, Middle<'_>> {
    let (rest, (http_status, error_code, bytes_sent, object_size)) = (
        number_field(Reason::BadHttpStatus),
        field,
        number_field(Reason::BadBytesSent),
        number_field(Reason::BadObjectSize),
    )
        .parse(input)?;
    let (rest, (total_time_ms, turn_around_time_ms)) = (
        number_field(Reason::BadTotalTime),
        number_field(Reason::BadTurnAroundTime),
    )
        .parse(rest)?;
    peek_quoted(rest, Reason::BadReferer, peek_user_agent)?;
    let mid = Middle {
        http_status,
        error_code: dash(error_code),
        bytes_sent,
        object_size,
        total_time_ms,
        turn_around_time_ms,
    };
    Ok((rest, mid))
}

/// Checks the start of the user agent (and the tail when it is `-`).
fn peek_user_agent(input: &[u8]) -> PResult<'_, ()> {
    peek_quoted(input, Reason::BadUserAgent, |r| {
        tail(r).map(|(r, _)| (r, ()))
    })?;
    Ok((input, ()))
}

/// Checks that a quoted field starts here: an opening quote, or a bare `-`
/// after which `then` must hold. Consumes nothing.
fn peek_quoted<'a>(
    input: &'a [u8],
    bad: Reason,
    mut then: impl Parser<&'a [u8], Output = (), Error = Reject<'a>>,
) -> PResult<'a, ()> {
    let field = skip_spaces(input);
    match field.first() {
        None => reject(Reason::TooFewFields, field),
        Some(b'"') => Ok((input, ())),
        Some(b'-') if field.get(1).is_none_or(|&c| c == b' ') => {
            then.parse(&field[1..]).map(|_| (input, ()))
        }
        Some(_) => reject(bad, field),
    }
}

/// Fields 18 to 27 and whatever follows them. Every field of the tail may
/// be missing (older records end earlier); none may hold a quote.
#[inline(always)]
fn tail(input: &[u8]) -> PResult<'_, Tail<'_>> {
    // No field of the tail holds a quote: look once for the whole tail,
    // and field by field only when there is one (to name where).
    let quoted = memchr::memchr(b'"', input).is_some();
    // Fields 18 to 25 are plain tokens (the host id may be two); 26 and 27
    // follow.
    let mut known: [Option<&[u8]>; 8] = [None; 8];
    let mut count = 0u8;
    let mut cursor = input;
    let mut acl_required = None;
    let mut source_region = None;
    let mut extra_fields = None;
    'fields: {
        for (i, slot) in known.iter_mut().enumerate() {
            let read = if i == 1 {
                host_id(cursor, quoted)
            } else {
                tail_field(cursor, quoted)
            };
            let (after, Some(tok)) = read? else {
                break 'fields;
            };
            *slot = dash(tok);
            count += 1;
            cursor = after;
        }
        let (after, Some(acl)) = tail_field(cursor, quoted)? else {
            break 'fields;
        };
        acl_required = match acl {
            b"Yes" => Some(true),
            b"-" => Some(false),
            _ => return reject(Reason::BadAclRequired, skip_spaces(cursor)),
        };
        count += 1;
        cursor = after;
        let (after, Some(region)) = tail_field(cursor, quoted)? else {
            break 'fields;
        };
        source_region = dash(region);
        count += 1;
        let extra = skip_spaces(after);
        extra_fields = (!extra.is_empty()).then_some(extra);
        cursor = &extra[extra.len()..];
    }
    let [
        version_id,
        host_id,
        signature_version,
        cipher_suite,
        authentication_type,
        host_header,
        tls_version,
        access_point_arn,
    ] = known;
    let tail = Tail {
        version_id,
        host_id,
        signature_version,
        cipher_suite,
        authentication_type,
        host_header,
        tls_version,
        access_point_arn,
        acl_required,
        source_region,
        extra_fields,
        count,
    };
    Ok((cursor, tail))
}

/// A field of the tail, or `None` where the line ends; `unexpected_quote`
/// when it holds a `"` (looked for only when the tail has one).
#[inline]
fn tail_field(input: &[u8], quoted: bool) -> PResult<'_, Option<&[u8]>> {
    let Some((tok, rest)) = next_token(input) else {
        return Ok((input, None));
    };
    if quoted && memchr::memchr(b'"', tok).is_some() {
        return reject(Reason::UnexpectedQuote, skip_spaces(input));
    }
    Ok((rest, Some(tok)))
}

/// Field 19, the host id: one token, or the two of the 2019 form (an IAM
/// unique id, `AIDA…`, then a base64 host id), read as one value.
fn host_id(input: &[u8], quoted: bool) -> PResult<'_, Option<&[u8]>> {
    let (after, Some(tok)) = tail_field(input, quoted)? else {
        return Ok((input, None));
    };
    if is_aida(tok)
        && let Some((host, after_host)) = next_token(after)
        && is_host_id(host)
    {
        let start = skip_spaces(input);
        return Ok((after_host, Some(&start[..start.len() - after_host.len()])));
    }
    Ok((after, Some(tok)))
}

#[cfg(test)]
mod tests;
