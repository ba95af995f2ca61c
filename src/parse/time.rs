//! The bracketed request time, `[06/Feb/2019:00:00:38 +0000]`.
//!
//! AWS: "The time at which the request was received; these dates and times
//! are in Coordinated Universal Time (UTC). The format, using strftime()
//! terminology, is as follows: `[%d/%b/%Y:%H:%M:%S %z]`". The layout is fixed
//! (28 bytes): a nom parser of its pieces, not a format string read per line. The
//! offset is honoured and the result is microseconds since the Unix epoch, UTC.

/// Length of `[DD/Mon/YYYY:HH:MM:SS +HHMM]`.
pub const TIME_LEN: usize = 28;

/// The request times a record may have, in microseconds since the epoch,
/// UTC: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z. Delta stores the
/// `date` partition as `YYYY-MM-DD` and timestamp statistics as ISO text, and
/// its readers (deltalake, Spark, DuckDB) fail on a year outside 1 to 9999:
/// one such record would make the whole lake unreadable. A line whose time
/// converts to UTC outside this range is rejected as `time_out_of_range`.
pub const TIME_RANGE: std::ops::RangeInclusive<i64> =
    (-62_135_596_800 * 1_000_000)..=(253_402_300_799 * 1_000_000);

use nom::bytes::complete::take;
use nom::character::complete::char;
use nom::combinator::map_opt;
use nom::sequence::{delimited, preceded};
use nom::{IResult, Parser};

use crate::civil::{days_from_civil, days_in_month, digits};

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// A bracketed time at the start of `input`, as microseconds since the
/// epoch in UTC, and what follows its closing bracket (not looked at).
///
/// # Errors
///
/// The first [`TIME_LEN`] bytes are not a valid time: wrong shape, a month
/// not spelled `Jan` … `Dec`, a date or time that does not exist, an offset
/// out of range.
pub fn bracketed_time(input: &[u8]) -> IResult<&[u8], i64, ()> {
    let (rest, (day, month, year, (hour, minute, second), offset)) = delimited(
        char('['),
        (
            two_digits,
            preceded(char('/'), month),
            preceded(char('/'), four_digits),
            preceded(char(':'), clock),
            preceded(char(' '), utc_offset),
        ),
        char(']'),
    )
    .parse(input)?;
    if day == 0 || day > days_in_month(year, month) {
        return Err(nom::Err::Error(()));
    }
    let days = days_from_civil(i64::from(year), month, day);
    let local = days * 86_400 + hour * 3_600 + minute * 60 + second;
    Ok((rest, (local - offset) * 1_000_000))
}

/// `HH:MM:SS`, each in range.
fn clock(input: &[u8]) -> IResult<&[u8], (i64, i64, i64), ()> {
    let (rest, (h, m, s)) = (
        two_digits,
        preceded(char(':'), two_digits),
        preceded(char(':'), two_digits),
    )
        .parse(input)?;
    if h > 23 || m > 59 || s > 59 {
        return Err(nom::Err::Error(()));
    }
    Ok((rest, (i64::from(h), i64::from(m), i64::from(s))))
}

/// `+HHMM` or `-HHMM` (hours up to 23, minutes up to 59), in seconds east
/// of UTC.
fn utc_offset(input: &[u8]) -> IResult<&[u8], i64, ()> {
    let sign = map_opt(take(1usize), |s: &[u8]| match s {
        b"+" => Some(1),
        b"-" => Some(-1),
        _ => None,
    });
    let (rest, (sign, h, m)) = (sign, two_digits, two_digits).parse(input)?;
    if h > 23 || m > 59 {
        return Err(nom::Err::Error(()));
    }
    Ok((rest, sign * (i64::from(h) * 3_600 + i64::from(m) * 60)))
}

/// A month spelled `Jan` … `Dec`, as 1 to 12.
fn month(input: &[u8]) -> IResult<&[u8], u32, ()> {
    map_opt(take(3usize), |m: &[u8]| {
        MONTHS
            .iter()
            .position(|name| name[..] == *m)
            .map(|i| i as u32 + 1)
    })
    .parse(input)
}

fn two_digits(input: &[u8]) -> IResult<&[u8], u32, ()> {
    map_opt(take(2usize), digits).parse(input)
}

fn four_digits(input: &[u8]) -> IResult<&[u8], u32, ()> {
    map_opt(take(4usize), digits).parse(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Option<i64> {
        bracketed_time(s.as_bytes()).ok().map(|(_, t)| t)
    }

    #[test]
    fn utc() {
        // 2019-02-06T00:00:38Z
        assert_eq!(
            t("[06/Feb/2019:00:00:38 +0000]"),
            Some(1_549_411_238_000_000)
        );
    }

    #[test]
    fn offsets_are_applied() {
        // 14:48:42 +0200 is 12:48:42 UTC.
        assert_eq!(
            t("[09/Feb/2021:14:48:42 +0200]"),
            t("[09/Feb/2021:12:48:42 +0000]")
        );
        // 16:42:07 -0500 is 21:42:07 UTC.
        assert_eq!(
            t("[10/Feb/2012:16:42:07 -0500]"),
            t("[10/Feb/2012:21:42:07 +0000]")
        );
        // An offset can move the record to the next day.
        assert_eq!(
            t("[31/Dec/2023:23:30:00 -0100]"),
            t("[01/Jan/2024:00:30:00 +0000]")
        );
    }

    #[test]
    fn leap_days() {
        assert!(t("[29/Feb/2024:00:00:00 +0000]").is_some());
        assert!(t("[29/Feb/2000:00:00:00 +0000]").is_some());
        assert!(t("[29/Feb/2023:00:00:00 +0000]").is_none());
        assert!(t("[29/Feb/1900:00:00:00 +0000]").is_none());
    }

    #[test]
    fn rejects_what_does_not_exist_or_is_misshapen() {
        for bad in [
            "[31/Apr/2024:00:00:00 +0000]",
            "[00/Jan/2024:00:00:00 +0000]",
            "[01/Jan/2024:24:00:00 +0000]",
            "[01/Jan/2024:00:60:00 +0000]",
            "[01/Jan/2024:00:00:60 +0000]",
            "[01/jan/2024:00:00:00 +0000]",
            "[01/JAN/2024:00:00:00 +0000]",
            "[01/Jan/2024:00:00:00 +2400]",
            "[01/Jan/2024:00:00:00 +0060]",
            "[01/Jan/2024:00:00:00 0000]",
            "[01/Jan/2024:00:00:00]",
            "[01/Jan/2024:00:00:00.5 +0000]",
            "[1/Jan/2024:00:00:00 +0000]",
            "-",
            "",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_time_range_is_years_1_to_9999_in_utc() {
        let start = days_from_civil(1, 1, 1) * 86_400 * 1_000_000;
        let end = days_from_civil(10_000, 1, 1) * 86_400 * 1_000_000 - 1_000_000;
        assert_eq!(TIME_RANGE, start..=end);
        // Both ends are valid times whose offsets push them over the edge.
        let late = t("[31/Dec/9999:23:59:59 -0100]").expect("a valid time");
        assert!(!TIME_RANGE.contains(&late));
        assert!(TIME_RANGE.contains(&t("[31/Dec/9999:23:59:59 +0000]").expect("valid")));
        let early = t("[01/Jan/0001:00:30:00 +0100]").expect("a valid time");
        assert!(!TIME_RANGE.contains(&early));
        assert!(TIME_RANGE.contains(&t("[01/Jan/0001:00:00:00 +0000]").expect("valid")));
        assert!(!TIME_RANGE.contains(&t("[01/Jan/0000:12:00:00 +0000]").expect("valid")));
    }
}
