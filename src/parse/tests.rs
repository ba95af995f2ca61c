//! Unit tests for each rule of the line grammar. The conformance corpus
//! (`tests/conformance.rs`) checks real lines column by column; these pin
//! one rule each on short synthetic lines.

use super::*;

const HEAD: &str = "owner bkt [06/Feb/2019:00:00:38 +0000] 192.0.2.3";

fn ok(line: &str) -> LogRecord<'_> {
    match parse_line(line.as_bytes()) {
        Ok(r) => r,
        Err(e) => panic!("{line}: {e}"),
    }
}

fn reason(line: &[u8]) -> Reason {
    match parse_line(line) {
        Ok(_) => panic!("accepted: {}", String::from_utf8_lossy(line)),
        Err(e) => e.reason,
    }
}

fn full(tail: &str) -> String {
    format!(
        "{HEAD} req ID1 REST.GET.OBJECT k \"GET /k HTTP/1.1\" 200 - 10 20 3 2 \"-\" \"ua\"{tail}"
    )
}

#[test]
fn field_counts_from_17_to_27_and_extra() {
    let base = full("");
    assert_eq!(ok(&base).field_count, 17);
    let tail = [
        " v",
        " h",
        " SigV4",
        " c",
        " AuthHeader",
        " host",
        " TLSv1.2",
        " arn",
        " Yes",
        " us-east-1",
    ];
    let mut line = base.clone();
    for (i, f) in tail.iter().enumerate() {
        line.push_str(f);
        assert_eq!(ok(&line).field_count as usize, 18 + i, "{line}");
    }
    let r = ok(&line);
    assert_eq!(r.acl_required, Some(true));
    assert_eq!(r.source_region, Some(&b"us-east-1"[..]));
    assert_eq!(r.extra_fields, None);
    line.push_str("  new  \"x\" field");
    assert_eq!(ok(&line).extra_fields, Some(&b"new  \"x\" field"[..]));
}

#[test]
fn dashes_are_null_except_acl_required() {
    let line = "- - [06/Feb/2019:00:00:38 +0000] - - - REST.GET.OBJECT - - - - - - - - - - - - - - - - - - - -".to_string();
    let r = ok(&line);
    assert_eq!(r.bucket_owner, None);
    assert_eq!(r.request_uri, None);
    assert_eq!(r.http_status, None);
    assert_eq!(r.bytes_sent, None);
    assert_eq!(r.user_agent, None);
    assert_eq!(r.acl_required, Some(false));
    assert_eq!(r.source_region, None);
    assert_eq!(r.field_count, 27);
}

#[test]
fn quoted_dash_is_null_but_other_quoted_content_is_kept() {
    let line = format!("{HEAD} r I REST.GET.OBJECT k \"-\" 200 - - - - - \"--\" \"\"");
    let r = ok(&line);
    assert_eq!(r.request_uri, None);
    assert_eq!(r.referer, Some(&b"--"[..]));
    assert_eq!(r.user_agent, Some(&b""[..]));
}

#[test]
fn requester_with_spaces_is_the_shortest_run() {
    let line = format!(
        "{HEAD} arn:aws:iam::cloudfront:user/CloudFront  Origin Access Identity E2ABC ID1 REST.GET.OBJECT k \"GET / HTTP/1.1\" 200 - 1 1 1 1 \"-\" \"ua\""
    );
    let r = ok(&line);
    let requester = r.requester.expect("requester");
    assert_eq!(
        joined_tokens(requester),
        "arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity E2ABC"
    );
    assert_eq!(r.request_id, Some(&b"ID1"[..]));
    assert_eq!(r.operation, Some(&b"REST.GET.OBJECT"[..]));
}

#[test]
fn raw_quotes_in_quoted_fields() {
    let line = format!(
        "{HEAD} - ID REST.GET.OBJECT k \"GET /\" HTTP/1.1\" 403 AccessDenied 1 - 1 - \"a \"b\" c\" \"Safari/604.1\"\" - host"
    );
    let r = ok(&line);
    assert_eq!(r.request_uri, Some(&b"GET /\" HTTP/1.1"[..]));
    assert_eq!(r.referer, Some(&b"a \"b\" c"[..]));
    assert_eq!(r.user_agent, Some(&b"Safari/604.1\""[..]));
    assert_eq!(r.host_id, Some(&b"host"[..]));
}

#[test]
fn closing_quote_that_fails_the_check_is_skipped() {
    // `" 1 x` after `a` is not a status: the URI closes later.
    let line = format!("{HEAD} - ID REST.GET.OBJECT k \"GET /a\" 1 x HTTP/1.1\" 200 - 1 1 1 1 - -");
    let r = ok(&line);
    assert_eq!(r.request_uri, Some(&b"GET /a\" 1 x HTTP/1.1"[..]));
}

#[test]
fn two_part_host_id() {
    let line = full(
        " - AIDAISBTTLPGXGH6YFFAY LzYGhqEwXn5Xiuil9tI6JtK2PiIo+SC6Ute3Isq2qEmt/t0Z7qFkyD0mp1ZIc43bm0qSX4tBbbc= SigV4 c AuthHeader h TLSv1.2",
    );
    let r = ok(&line);
    assert_eq!(
        r.host_id.map(joined_tokens).as_deref(),
        Some(
            "AIDAISBTTLPGXGH6YFFAY LzYGhqEwXn5Xiuil9tI6JtK2PiIo+SC6Ute3Isq2qEmt/t0Z7qFkyD0mp1ZIc43bm0qSX4tBbbc="
        )
    );
    assert_eq!(r.signature_version, Some(&b"SigV4"[..]));
    assert_eq!(r.tls_version, Some(&b"TLSv1.2"[..]));
    // AIDA followed by something else is an ordinary host id.
    let line = full(" - AIDAISBTTLPGXGH6YFFAY SigV4");
    let r = ok(&line);
    assert_eq!(r.host_id, Some(&b"AIDAISBTTLPGXGH6YFFAY"[..]));
    assert_eq!(r.signature_version, Some(&b"SigV4"[..]));
}

#[test]
fn framing_leftovers_are_tolerated() {
    let line = full(" v h  \r");
    assert_eq!(ok(&line).host_id, Some(&b"h"[..]));
    let line = format!("  {}", full(""));
    assert_eq!(ok(&line).bucket_owner, Some(&b"owner"[..]));
}

#[test]
fn invalid_utf8_is_flagged() {
    let mut line = full("").into_bytes();
    let at = line.len() - 2;
    line.insert(at, 0xff);
    let r = parse_line(&line).expect("accepted");
    assert!(r.lossy_utf8);
    assert_eq!(text(r.user_agent.expect("ua")), "u\u{fffd}a");
    assert!(!ok(&full("")).lossy_utf8);
}

#[test]
fn reasons() {
    let cases: Vec<(Vec<u8>, Reason)> = vec![
        (b"".to_vec(), Reason::Empty),
        (b"  \r".to_vec(), Reason::Empty),
        (
            full("").replace("bkt", "b\0t").into_bytes(),
            Reason::NulByte,
        ),
        (b"owner bkt".to_vec(), Reason::TooFewFields),
        (b"owner bkt [06/Feb/2019:00:00".to_vec(), Reason::BadTime),
        (full("").replace("Feb", "feb").into_bytes(), Reason::BadTime),
        (
            full("").replace("+0000]", "+0000]x").into_bytes(),
            Reason::BadTime,
        ),
        (
            full("")
                .replace("06/Feb/2019:00:00:38 +0000", "31/Dec/9999:23:59:59 -0100")
                .into_bytes(),
            Reason::TimeOutOfRange,
        ),
        (
            full("")
                .replace("06/Feb/2019:00:00:38 +0000", "01/Jan/0000:00:00:00 +0000")
                .into_bytes(),
            Reason::TimeOutOfRange,
        ),
        (
            full(" [07/Feb/2019:00:00:38 +0000]").into_bytes(),
            Reason::SplicedRecord,
        ),
        (format!("{HEAD} a b").into_bytes(), Reason::TooFewFields),
        (
            format!("{HEAD} a b c d \"e\"").into_bytes(),
            Reason::BadOperation,
        ),
        (
            format!("{HEAD} a ID REST.GET.OBJECT").into_bytes(),
            Reason::TooFewFields,
        ),
        (
            format!("{HEAD} a ID REST.GET.OBJECT k GET").into_bytes(),
            Reason::BadRequestUri,
        ),
        (
            format!("{HEAD} a ID REST.GET.OBJECT k \"GET / 200").into_bytes(),
            Reason::TooFewFields,
        ),
        (
            format!("{HEAD} a ID REST.GET.OBJECT k \"GET\" 200 -").into_bytes(),
            Reason::TooFewFields,
        ),
        (
            full("").replace(" 200 ", " 2x0 ").into_bytes(),
            Reason::BadHttpStatus,
        ),
        (
            full("").replace(" 200 ", " 40000 ").into_bytes(),
            Reason::BadHttpStatus,
        ),
        (
            full("").replace(" 10 20 ", " -1 20 ").into_bytes(),
            Reason::BadBytesSent,
        ),
        (
            full("").replace(" 10 20 ", " 10 2.0 ").into_bytes(),
            Reason::BadObjectSize,
        ),
        (
            full("").replace(" 3 2 ", " 9999999999 2 ").into_bytes(),
            Reason::BadTotalTime,
        ),
        (
            full("").replace(" 3 2 ", " 3 x ").into_bytes(),
            Reason::BadTurnAroundTime,
        ),
        (
            full("").replace("\"-\" \"ua\"", "ref \"ua\"").into_bytes(),
            Reason::BadReferer,
        ),
        (
            full("").replace("\"-\" \"ua\"", "\"-\" ua").into_bytes(),
            Reason::BadUserAgent,
        ),
        (full(" v h\"x").into_bytes(), Reason::UnexpectedQuote),
        (
            full(" v h s c a h t arn No").into_bytes(),
            Reason::BadAclRequired,
        ),
    ];
    for (line, want) in cases {
        assert_eq!(reason(&line), want, "{}", String::from_utf8_lossy(&line));
    }
}

#[test]
fn error_offsets_point_at_the_field() {
    let line = full("").replace(" 200 ", " 2x0 ");
    let err = parse_line(line.as_bytes()).expect_err("rejected");
    assert_eq!(&line[err.offset..err.offset + 3], "2x0");
}

#[test]
fn text_fields_follow_the_schema_order() {
    let line = r#"owner bkt [06/Feb/2019:00:00:38 +0000] 192.0.2.3 req id REST.GET.OBJECT k "GET /k HTTP/1.1" 200 Err 5 5 7 6 "ref" "agent" ver host sig cipher auth hh tls arn Yes region extra"#;
    let rec = ok(line);
    let want = [
        ("bucket_owner", "owner"),
        ("bucket", "bkt"),
        ("remote_ip", "192.0.2.3"),
        ("requester", "req"),
        ("request_id", "id"),
        ("operation", "REST.GET.OBJECT"),
        ("key", "k"),
        ("request_uri", "GET /k HTTP/1.1"),
        ("error_code", "Err"),
        ("referer", "ref"),
        ("user_agent", "agent"),
        ("version_id", "ver"),
        ("host_id", "host"),
        ("signature_version", "sig"),
        ("cipher_suite", "cipher"),
        ("authentication_type", "auth"),
        ("host_header", "hh"),
        ("tls_version", "tls"),
        ("access_point_arn", "arn"),
        ("source_region", "region"),
        ("extra_fields", "extra"),
    ];
    let fields = crate::schema::Column::TEXT.iter().zip(rec.text_fields());
    for ((col, value), (name, text)) in fields.zip(want) {
        assert_eq!(col.name(), name);
        assert_eq!(value, Some(text.as_bytes()), "{name}");
    }
}
