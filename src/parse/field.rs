//! Small nom parsers for the pieces of a line: tokens, numbers, the
//! operation shape and the two-part host id.
//!
//! Every parser works on `&[u8]` with nom's `complete` parsers: a line is
//! whole by the time it gets here, so running out of input is never
//! "incomplete", it is the end of the record.

use nom::{
    IResult, Parser,
    bytes::complete::{take_while, take_while1},
    character::complete::{char, satisfy},
    combinator::{all_consuming, recognize},
    multi::many1_count,
    sequence::preceded,
};

/// A run of field separators (zero or more spaces; TAB is content).
pub fn spaces(input: &[u8]) -> IResult<&[u8], &[u8]> {
    take_while(|c| c == b' ').parse(input)
}

/// One field: the bytes up to the next space or the end of the line.
///
/// `take_till1`, tuned: most fields are short (`-`, a status, `SigV4`), so
/// the first bytes are looked at directly, and only a longer field (host
/// ids, keys, ARNs) goes to memchr's vectorised search, whose set-up costs
/// more than a short field.
pub fn token(input: &[u8]) -> IResult<&[u8], &[u8]> {
    const SHORT: usize = 16;
    let head = &input[..input.len().min(SHORT)];
    let end = match head.iter().position(|&c| c == b' ') {
        Some(i) => i,
        None if input.len() <= SHORT => input.len(),
        None => memchr::memchr(b' ', &input[SHORT..]).map_or(input.len(), |i| SHORT + i),
    };
    if end == 0 {
        return Err(nom::Err::Error(nom::error::Error::new(
            input,
            nom::error::ErrorKind::TakeTill1,
        )));
    }
    Ok((&input[end..], &input[..end]))
}

/// The next field after any separators, or `None` at the end of the line.
///
/// Returns the token and what follows it.
pub fn next_token(input: &[u8]) -> Option<(&[u8], &[u8])> {
    preceded(spaces, token)
        .parse(input)
        .ok()
        .map(|(rest, tok)| (tok, rest))
}

/// Skips separators; returns what is left (possibly empty).
pub fn skip_spaces(input: &[u8]) -> &[u8] {
    let n = input.iter().take_while(|&&c| c == b' ').count();
    &input[n..]
}

/// A dash-or-digits numeric field.
///
/// `Ok(None)` for `-`, `Ok(Some(n))` for ASCII digits whose value fits `T`,
/// `Err(())` for anything else (a sign, a decimal point, an overflow).
pub fn number<T: TryFrom<u64>>(tok: &[u8]) -> Result<Option<T>, ()> {
    if tok == b"-" {
        return Ok(None);
    }
    if tok.is_empty() {
        return Err(());
    }
    // Digits and value in one pass (this runs five times a line).
    let mut value: u64 = 0;
    for &c in tok {
        let digit = c.wrapping_sub(b'0');
        if digit > 9 {
            return Err(());
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(digit)))
            .ok_or(())?;
    }
    T::try_from(value).map(Some).map_err(|_| ())
}

/// Whether a token has the shape of an operation:
/// `[A-Z][A-Z0-9_]*(\.[A-Za-z0-9_]+)+` (`REST.GET.OBJECT`, `SOAP.CreateBucket`).
pub fn is_operation(tok: &[u8]) -> bool {
    all_consuming(operation).parse(tok).is_ok()
}

/// An operation token: an upper-case word, then one or more `.word`.
fn operation(input: &[u8]) -> IResult<&[u8], &[u8]> {
    let head = (
        satisfy(|c| c.is_ascii_uppercase()),
        take_while(|c: u8| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_'),
    );
    let tail = many1_count(preceded(
        char('.'),
        take_while1(|c: u8| c.is_ascii_alphanumeric() || c == b'_'),
    ));
    recognize((head, tail)).parse(input)
}

/// Whether a token is an IAM unique id of the 2019 two-part host id,
/// `AIDA[A-Z0-9]{12,}`.
pub fn is_aida(tok: &[u8]) -> bool {
    tok.len() >= 16
        && tok.starts_with(b"AIDA")
        && tok[4..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// Whether a token looks like a base64 host id, `[A-Za-z0-9+/=]{20,}`.
pub fn is_host_id(tok: &[u8]) -> bool {
    tok.len() >= 20
        && tok
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'='))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_skip_runs_of_spaces() {
        assert_eq!(next_token(b"  ab  cd"), Some((&b"ab"[..], &b"  cd"[..])));
        assert_eq!(next_token(b"a\tb c"), Some((&b"a\tb"[..], &b" c"[..])));
        assert_eq!(next_token(b"   "), None);
        assert_eq!(next_token(b""), None);
        // Around the short-field cut-off.
        let long = [b'x'; 40];
        for n in [1, 15, 16, 17, 40] {
            let mut line = long[..n].to_vec();
            line.extend_from_slice(b" next");
            assert_eq!(next_token(&line), Some((&long[..n], &b" next"[..])), "{n}");
            assert_eq!(next_token(&long[..n]), Some((&long[..n], &b""[..])), "{n}");
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(number::<i16>(b"-"), Ok(None));
        assert_eq!(number::<i16>(b"200"), Ok(Some(200)));
        assert_eq!(number::<i16>(b"0200"), Ok(Some(200)));
        assert_eq!(number::<i16>(b"32767"), Ok(Some(32767)));
        assert_eq!(number::<i16>(b"32768"), Err(()));
        assert_eq!(number::<i32>(b"2147483647"), Ok(Some(i32::MAX)));
        assert_eq!(number::<i32>(b"2147483648"), Err(()));
        assert_eq!(number::<i64>(b"9223372036854775807"), Ok(Some(i64::MAX)));
        assert_eq!(number::<i64>(b"9223372036854775808"), Err(()));
        assert_eq!(number::<i64>(b"99999999999999999999999"), Err(()));
        for bad in [&b"+1"[..], b"-1", b"1.0", b"1e3", b"", b"--", b"12a"] {
            assert_eq!(number::<i64>(bad), Err(()), "{bad:?}");
        }
    }

    #[test]
    fn operation_shape() {
        for ok in [
            &b"REST.GET.OBJECT"[..],
            b"BATCH.DELETE.OBJECT",
            b"S3.COMPUTE.OBJECT.CHECKSUM",
            b"SOAP.CreateBucket",
            b"REST.COPY.OBJECT_GET",
            b"S3.TRANSITION_SIA.OBJECT",
        ] {
            assert!(is_operation(ok), "{ok:?}");
        }
        for bad in [
            &b"REST"[..],
            b"rest.get",
            b"REST.",
            b"REST..GET",
            b".GET",
            b"3E57427F3EXAMPLE",
            b"arn:aws:iam::1:user/x",
            b"REST.GET-OBJECT",
        ] {
            assert!(!is_operation(bad), "{bad:?}");
        }
    }

    #[test]
    fn two_part_host_id_shapes() {
        assert!(is_aida(b"AIDAISBTTLPGXGH6YFFAY"));
        assert!(!is_aida(b"AIDA123"));
        assert!(!is_aida(b"AIDAisbttlpgxgh6yffay"));
        assert!(is_host_id(b"LzYGhqEwXn5Xiuil9tI6JtK2PiIo+SC6Ute3Isq2q/=="));
        assert!(!is_host_id(b"SigV4"));
    }
}
