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
/// `take_till1`, tuned: fields are short to middling (`-`, a status, a
/// request id, a host id), so they are scanned eight bytes at a time in
/// place, which costs less than setting up a vectorised search per field.
pub fn token(input: &[u8]) -> IResult<&[u8], &[u8]> {
    let end = find_space(input);
    if end == 0 {
        return Err(nom::Err::Error(nom::error::Error::new(
            input,
            nom::error::ErrorKind::TakeTill1,
        )));
    }
    Ok((&input[end..], &input[..end]))
}

/// The index of the first space in `input`, or its length when it has none.
#[inline]
pub fn find_space(input: &[u8]) -> usize {
    find_byte::<b' '>(input)
}

/// The index of the first `B` in `input`, or its length when it has none.
///
/// For the short and middling runs of a line (fields, quoted values), where
/// it beats setting up memchr's vectorised search: eight bytes at a time
/// (SWAR). With `x` a word XOR `B`s, `(x - 0x01..) & !x & 0x80..` marks
/// the zero bytes of `x`; the lowest mark is always exact (a false mark can
/// only sit above a true one).
#[inline]
pub fn find_byte<const B: u8>(input: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let pattern = u64::from_ne_bytes([B; 8]);
    let (words, rest) = input.as_chunks::<8>();
    for (i, word) in words.iter().enumerate() {
        let x = u64::from_le_bytes(*word) ^ pattern;
        let found = x.wrapping_sub(ONES) & !x & HIGHS;
        if found != 0 {
            return i * 8 + (found.trailing_zeros() / 8) as usize;
        }
    }
    let done = words.len() * 8;
    rest.iter()
        .position(|&c| c == B)
        .map_or(input.len(), |i| done + i)
}

/// The next field after any separators, or `None` at the end of the line.
///
/// Returns the token and what follows it.
#[inline]
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
    fn find_space_at_every_position() {
        // Every length around the word size, a space at every position,
        // and around it the bytes that trip a careless zero-byte test: one
        // above the space (`!`, which borrows into a false mark) and bytes
        // with the high bit set.
        for len in 0..40 {
            for at in 0..=len {
                let mut s: Vec<u8> = (0..len).map(|i| [b'!', 0xA0, b'x', 0x1F][i % 4]).collect();
                if at < len {
                    s[at] = b' ';
                    if at + 1 < len {
                        s[at + 1] = b' ';
                    }
                }
                let want = s.iter().position(|&c| c == b' ').unwrap_or(len);
                assert_eq!(find_space(&s), want, "{s:?}");
                // The same for quotes: `#` is the byte one above `"`.
                let s: Vec<u8> = s
                    .iter()
                    .map(|&c| match c {
                        b' ' => b'"',
                        b'!' => b'#',
                        c => c,
                    })
                    .collect();
                assert_eq!(find_byte::<b'"'>(&s), want, "{s:?}");
            }
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
