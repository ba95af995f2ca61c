//! Bytes to [`LogRecord`]: the line grammar of `FORMAT.md` and the parsing
//! rules of `shared/conformance/README.md`.
//!
//! No I/O, no Arrow, no allocation: [`parse_line`] borrows slices of the line
//! and parses numbers and the time in place. Framing (finding lines in an
//! object) lives in [`crate::source`]; turning records into Arrow lives in
//! [`crate::batch`].
//!
//! The grammar is read left to right and the first failure decides the
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

type Result<T> = std::result::Result<T, ParseLineError>;

/// Removes what framing leaves at the end of a line: trailing spaces and
/// carriage returns (CRLF files, trailing blanks).
pub fn trim_line_end(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|&c| c != b' ' && c != b'\r')
        .map_or(0, |i| i + 1);
    &line[..end]
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
    Parser::new(trim_line_end(line)).record()
}

/// The part of a record between the request URI and the referer.
struct Middle<'a> {
    http_status: Option<i16>,
    error_code: Option<&'a [u8]>,
    bytes_sent: Option<i64>,
    object_size: Option<i64>,
    total_time_ms: Option<i32>,
    turn_around_time_ms: Option<i32>,
    rest: &'a [u8],
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

/// A quoted field as read: its content (`None` for `-` or `"-"`), whatever the
/// check that chose its closing quote produced, and the rest of the line.
struct Quoted<'a, T> {
    value: Option<&'a [u8]>,
    checked: Option<T>,
    rest: &'a [u8],
}

/// The line being parsed; `'a` is its lifetime.
struct Parser<'a> {
    line: &'a [u8],
}

/// `-` is NULL.
fn dash(tok: &[u8]) -> Option<&[u8]> {
    (tok != b"-").then_some(tok)
}

impl<'a> Parser<'a> {
    fn new(line: &'a [u8]) -> Self {
        Parser { line }
    }

    fn offset(&self, rest: &[u8]) -> usize {
        self.line.len() - rest.len()
    }

    fn fail<T>(&self, reason: Reason, rest: &[u8]) -> Result<T> {
        Err(ParseLineError::new(reason, self.offset(rest)))
    }

    /// The next token, or `too_few_fields` at the end of the line.
    fn required(&self, rest: &'a [u8]) -> Result<(&'a [u8], &'a [u8])> {
        match next_token(rest) {
            Some(t) => Ok(t),
            None => self.fail(Reason::TooFewFields, rest),
        }
    }

    /// A numeric field, rejected with `reason` when it is not `-` or digits
    /// that fit `T`.
    fn number<T: TryFrom<u64>>(
        &self,
        rest: &'a [u8],
        reason: Reason,
    ) -> Result<(Option<T>, &'a [u8])> {
        let (tok, after) = self.required(rest)?;
        match number(tok) {
            Ok(n) => Ok((n, after)),
            Err(()) => self.fail(reason, skip_spaces(rest)),
        }
    }

    fn record(&self) -> Result<LogRecord<'a>> {
        let line = self.line;
        if line.iter().all(|&c| c == b' ') {
            return self.fail(Reason::Empty, b"");
        }
        // One pass for NUL bytes (an error anywhere) and `[` (a second
        // bracketed time means a spliced record; most lines have one `[`).
        let mut brackets = 0usize;
        for at in memchr::memchr2_iter(0, b'[', line) {
            if line[at] == 0 {
                return Err(ParseLineError::new(Reason::NulByte, at));
            }
            brackets += 1;
        }

        // Fields 1 to 3.
        let (bucket_owner, rest) = self.required(line)?;
        let (bucket, rest) = self.required(rest)?;
        let rest = skip_spaces(rest);
        if rest.is_empty() {
            return self.fail(Reason::TooFewFields, rest);
        }
        let request_time = match bracketed_time(rest) {
            Some(t) if rest.get(TIME_LEN).is_none_or(|&c| c == b' ') => t,
            _ => return self.fail(Reason::BadTime, rest),
        };
        if !TIME_RANGE.contains(&request_time) {
            return self.fail(Reason::TimeOutOfRange, rest);
        }
        let rest = &rest[TIME_LEN..];
        if brackets > 1 {
            self.spliced(rest)?;
        }

        // Fields 4 to 8.
        let (remote_ip, rest) = self.required(rest)?;
        let (requester, request_id, operation, rest) = self.requester(rest)?;
        let (key, rest) = self.required(rest)?;

        // Field 9, then 10 to 15, which the check of its closing quote reads.
        let uri = self.quoted(rest, Reason::BadRequestUri, |r| self.middle(r))?;
        let mid = match uri.checked {
            Some(mid) => mid,
            None => self.middle(uri.rest)?,
        };

        // Fields 16 and 17, then the tail.
        let referer = self.quoted(mid.rest, Reason::BadReferer, |r| self.peek_user_agent(r))?;
        let agent = self.quoted(referer.rest, Reason::BadUserAgent, |r| self.tail(r))?;
        let tail = match agent.checked {
            Some(tail) => tail,
            None => self.tail(agent.rest)?,
        };

        let utf8_line = std::str::from_utf8(line).ok();
        Ok(LogRecord {
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
        })
    }

    /// Rejects a line holding a second bracketed time after field 3: a
    /// truncated record with the next one run into it.
    fn spliced(&self, rest: &'a [u8]) -> Result<()> {
        for at in memchr::memchr_iter(b'[', rest) {
            if bracketed_time(&rest[at..]).is_some() {
                return Err(ParseLineError::new(
                    Reason::SplicedRecord,
                    self.offset(&rest[at..]),
                ));
            }
        }
        Ok(())
    }

    /// Fields 5 to 7. The requester is the shortest run of tokens such that
    /// the token after the next one is operation-shaped; the one in between
    /// is the request id. Neither contains `"`.
    #[allow(clippy::type_complexity)]
    fn requester(&self, rest: &'a [u8]) -> Result<(&'a [u8], &'a [u8], &'a [u8], &'a [u8])> {
        let start = skip_spaces(rest);
        // The first quote of the line from here (usually the request URI's
        // opening one): a token holds a quote only if it reaches past it.
        let quote_from_end = memchr::memchr(b'"', start).map_or(0, |i| start.len() - i);
        // (token, what follows it) for the last two tokens read.
        let mut prev: Option<(&'a [u8], &'a [u8])> = None;
        let mut prev2: Option<(&'a [u8], &'a [u8])> = None;
        let mut cursor = rest;
        let mut count = 0usize;
        while let Some((tok, after)) = next_token(cursor) {
            if after.len() < quote_from_end {
                return self.fail(Reason::BadOperation, start);
            }
            count += 1;
            if let (Some((id, _)), Some((_, requester_end))) = (prev, prev2)
                && is_operation(tok)
            {
                let requester_len = start.len() - requester_end.len();
                return Ok((&start[..requester_len], id, tok, after));
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
        self.fail(reason, start)
    }

    /// A quoted field (request URI, referer, user agent): `-`, or `"`, content
    /// and the closing quote chosen by `check` (see the module docs).
    fn quoted<T>(
        &self,
        rest: &'a [u8],
        bad: Reason,
        check: impl Fn(&'a [u8]) -> Result<T>,
    ) -> Result<Quoted<'a, T>> {
        let field = skip_spaces(rest);
        match field.first() {
            None => return self.fail(Reason::TooFewFields, field),
            Some(b'"') => {}
            Some(b'-') if field.get(1).is_none_or(|&c| c == b' ') => {
                return Ok(Quoted {
                    value: None,
                    checked: None,
                    rest: &field[1..],
                });
            }
            Some(_) => return self.fail(bad, field),
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
                    return Ok(Quoted {
                        value: (content != b"-").then_some(content),
                        checked: Some(checked),
                        rest: after,
                    });
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => self.fail(Reason::TooFewFields, field),
        }
    }

    /// Fields 10 to 15, then a look at the start of the referer.
    fn middle(&self, rest: &'a [u8]) -> Result<Middle<'a>> {
        let (http_status, rest) = self.number(rest, Reason::BadHttpStatus)?;
        let (error_code, rest) = self.required(rest)?;
        let (bytes_sent, rest) = self.number(rest, Reason::BadBytesSent)?;
        let (object_size, rest) = self.number(rest, Reason::BadObjectSize)?;
        let (total_time_ms, rest) = self.number(rest, Reason::BadTotalTime)?;
        let (turn_around_time_ms, rest) = self.number(rest, Reason::BadTurnAroundTime)?;
        self.peek_quoted(rest, Reason::BadReferer, |r| self.peek_user_agent(r))?;
        Ok(Middle {
            http_status,
            error_code: dash(error_code),
            bytes_sent,
            object_size,
            total_time_ms,
            turn_around_time_ms,
            rest,
        })
    }

    /// Checks the start of the user agent (and the tail when it is `-`).
    fn peek_user_agent(&self, rest: &'a [u8]) -> Result<()> {
        self.peek_quoted(rest, Reason::BadUserAgent, |r| self.tail(r).map(drop))
    }

    /// Checks that a quoted field starts here: an opening quote, or a bare
    /// `-` after which `then` must hold.
    fn peek_quoted(
        &self,
        rest: &'a [u8],
        bad: Reason,
        then: impl Fn(&'a [u8]) -> Result<()>,
    ) -> Result<()> {
        let field = skip_spaces(rest);
        match field.first() {
            None => self.fail(Reason::TooFewFields, field),
            Some(b'"') => Ok(()),
            Some(b'-') if field.get(1).is_none_or(|&c| c == b' ') => then(&field[1..]),
            Some(_) => self.fail(bad, field),
        }
    }

    /// Fields 18 to 27 and whatever follows them.
    fn tail(&self, rest: &'a [u8]) -> Result<Tail<'a>> {
        // No field of the tail holds a quote: look once for the whole tail,
        // and token by token only when there is one (to name where).
        let quoted = memchr::memchr(b'"', rest).is_some();
        let no_quote = |tok: &[u8], at: &'a [u8]| -> Result<()> {
            if quoted {
                self.no_quote(tok, at)
            } else {
                Ok(())
            }
        };
        // Fields 18 to 25 are plain tokens; 26 and 27 follow.
        let mut known: [Option<&'a [u8]>; 8] = [None; 8];
        let mut count = 0u8;
        let mut cursor = rest;
        let mut acl_required = None;
        let mut source_region = None;
        let mut extra_fields = None;
        'fields: {
            for (i, slot) in known.iter_mut().enumerate() {
                let Some((mut tok, mut after)) = next_token(cursor) else {
                    break 'fields;
                };
                no_quote(tok, cursor)?;
                if i == 1
                    && is_aida(tok)
                    && let Some((host, after_host)) = next_token(after)
                    && is_host_id(host)
                {
                    let start = skip_spaces(cursor);
                    tok = &start[..start.len() - after_host.len()];
                    after = after_host;
                }
                *slot = dash(tok);
                count += 1;
                cursor = after;
            }
            let Some((acl, after)) = next_token(cursor) else {
                break 'fields;
            };
            no_quote(acl, cursor)?;
            acl_required = match acl {
                b"Yes" => Some(true),
                b"-" => Some(false),
                _ => return self.fail(Reason::BadAclRequired, skip_spaces(cursor)),
            };
            count += 1;
            cursor = after;
            let Some((region, after)) = next_token(cursor) else {
                break 'fields;
            };
            no_quote(region, cursor)?;
            source_region = dash(region);
            count += 1;
            let extra = skip_spaces(after);
            extra_fields = (!extra.is_empty()).then_some(extra);
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
        Ok(Tail {
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
        })
    }

    fn no_quote(&self, tok: &[u8], rest: &'a [u8]) -> Result<()> {
        match memchr::memchr(b'"', tok) {
            Some(_) => self.fail(Reason::UnexpectedQuote, skip_spaces(rest)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
