//! Property tests: the parser never panics, and rendering a record then
//! parsing it gives the record back.

use proptest::prelude::*;

use s3logs::corpus::OwnedRecord;
use s3logs::parse::{LogRecord, is_operation, joined_tokens, parse_line, text};

fn token() -> impl Strategy<Value = Option<String>> {
    // Tokens never hold spaces or quotes; `-` alone would read as NULL.
    prop::option::of("[A-Za-z0-9/:._=+%-]{1,24}".prop_filter("not a dash", |s| s != "-"))
}

fn lower_token() -> impl Strategy<Value = Option<String>> {
    // Tail tokens: lower case, so none looks like a two-part host id.
    prop::option::of("[a-z0-9/:._=+%-]{1,24}".prop_filter("not a dash", |s| s != "-"))
}

fn quoted() -> impl Strategy<Value = Option<String>> {
    // Quoted content may hold spaces and quotes, but not a `"` followed by
    // a space or at the end (which reads as the closing quote; the known
    // limit of FORMAT.md) nor a `[` (a bracketed time would be a splice).
    prop::option::of(
        "[A-Za-z0-9 /:;.,()=&?\"-]{0,40}".prop_filter("no early close", |s| {
            s != "-" && !s.contains("\" ") && !s.ends_with('"')
        }),
    )
}

prop_compose! {
    fn head()(
        owner in token(), bucket in token(), secs in 0i64..4_000_000_000,
        ip in token(), requester in prop::option::of(prop::collection::vec("[a-z0-9:/]{1,8}", 1..4)),
        request_id in token().prop_filter("not an operation", |t| !t.as_deref().is_some_and(|t| is_operation(t.as_bytes()))),
        op in "[A-Z][A-Z0-9_]{0,6}(\\.[A-Za-z0-9_]{1,8}){1,3}",
        key in token(),
    ) -> OwnedRecord {
        OwnedRecord {
            bucket_owner: owner, bucket, request_time: secs * 1_000_000, remote_ip: ip,
            requester: requester.map(|parts| parts.join(" ")), request_id, operation: op, key,
            ..OwnedRecord::default()
        }
    }
}

prop_compose! {
    fn record()(
        head in head(), uri in quoted(), status in prop::option::of(0i16..i16::MAX),
        error in token(), sent in prop::option::of(0i64..i64::MAX),
        size in prop::option::of(0i64..i64::MAX), total in prop::option::of(0i32..i32::MAX),
        turn in prop::option::of(0i32..i32::MAX), referer in quoted(), agent in quoted(),
        tail in prop::array::uniform8(lower_token()), acl in any::<bool>(), region in lower_token(),
        tail_len in 0usize..=10,
    ) -> OwnedRecord {
        let [a, b, c, d, e, f, g, h] = tail;
        OwnedRecord {
            request_uri: uri, http_status: status, error_code: error, bytes_sent: sent,
            object_size: size, total_time_ms: total, turn_around_time_ms: turn, referer,
            user_agent: agent,
            tail: [a, b, c, d, e, f, g, h, acl.then(|| "Yes".to_string()), region],
            tail_len,
            ..head
        }
    }
}

fn owned(v: Option<&[u8]>) -> Option<String> {
    v.map(|b| text(b).into_owned())
}

/// What parsing gives, in the generator's representation.
fn back(r: &LogRecord<'_>, tail_len: usize) -> OwnedRecord {
    let mut tail: [Option<String>; 10] = [
        owned(r.version_id),
        owned(r.host_id),
        owned(r.signature_version),
        owned(r.cipher_suite),
        owned(r.authentication_type),
        owned(r.host_header),
        owned(r.tls_version),
        owned(r.access_point_arn),
        r.acl_required.and_then(|y| y.then(|| "Yes".to_string())),
        owned(r.source_region),
    ];
    for slot in tail.iter_mut().skip(tail_len) {
        *slot = None;
    }
    OwnedRecord {
        bucket_owner: owned(r.bucket_owner),
        bucket: owned(r.bucket),
        request_time: r.request_time,
        remote_ip: owned(r.remote_ip),
        requester: r.requester.map(|b| joined_tokens(b).into_owned()),
        request_id: owned(r.request_id),
        operation: owned(r.operation).unwrap_or_default(),
        key: owned(r.key),
        request_uri: owned(r.request_uri),
        http_status: r.http_status,
        error_code: owned(r.error_code),
        bytes_sent: r.bytes_sent,
        object_size: r.object_size,
        total_time_ms: r.total_time_ms,
        turn_around_time_ms: r.turn_around_time_ms,
        referer: owned(r.referer),
        user_agent: owned(r.user_agent),
        tail,
        tail_len: usize::from(r.field_count) - 17,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_line(&bytes);
    }

    #[test]
    fn never_panics_on_mangled_lines(rec in record(), cut in 0usize..700, byte in any::<u8>(), at in 0usize..700) {
        let mut line = rec.render().into_bytes();
        if at < line.len() { line[at] = byte; }
        line.truncate(cut.max(1));
        let _ = parse_line(&line);
    }

    #[test]
    fn render_then_parse_is_identity(mut rec in record()) {
        for slot in rec.tail.iter_mut().skip(rec.tail_len) {
            *slot = None;
        }
        let line = rec.render();
        let parsed = parse_line(line.as_bytes());
        prop_assert!(parsed.is_ok(), "{line}: {parsed:?}");
        if let Ok(parsed) = parsed {
            prop_assert_eq!(back(&parsed, rec.tail_len), rec, "{}", line);
        }
    }
}
