//! The bracketed request time, `[06/Feb/2019:00:00:38 +0000]`.
//!
//! AWS: "The time at which the request was received; these dates and times
//! are in Coordinated Universal Time (UTC). The format, using strftime()
//! terminology, is as follows: `[%d/%b/%Y:%H:%M:%S %z]`". The layout is fixed
//! (28 bytes), so it is read in place at fixed offsets, not through a format
//! string per line. The
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

use nom::IResult;

use crate::civil::{days_from_civil, days_in_month, digits};

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// A bracketed time at the start of `input`, as microseconds since the
/// epoch in UTC, and what follows its closing bracket (not looked at).
///
/// A nom parser over a fixed layout, so it reads the 28 bytes in place:
/// one bounds check, then each piece at its offset (nom's `take` and
/// `map_opt` per piece cost twice the instructions of the whole check).
///
/// # Errors
///
/// The first [`TIME_LEN`] bytes are not a valid time: wrong shape, a month
/// not spelled `Jan` … `Dec`, a date or time that does not exist, an offset
/// out of range.
pub fn bracketed_time(input: &[u8]) -> IResult<&[u8], i64, ()> {
    let fail = || nom::Err::Error(());
    let t: &[u8; TIME_LEN] = input
        .get(..TIME_LEN)
        .and_then(|t| t.try_into().ok())
        .ok_or_else(fail)?;
    let punct = [
        (0, b'['),
        (3, b'/'),
        (7, b'/'),
        (12, b':'),
        (15, b':'),
        (18, b':'),
        (21, b' '),
        (27, b']'),
    ];
    if punct.iter().any(|&(i, c)| t[i] != c) {
        return Err(fail());
    }
    let field = |from: usize, to: usize| digits(&t[from..to]).ok_or_else(fail);
    let day = field(1, 3)?;
    let month = MONTHS
        .iter()
        .position(|m| m[..] == t[4..7])
        .ok_or_else(fail)? as u32
        + 1;
    let year = field(8, 12)?;
    let (hour, minute, second) = (field(13, 15)?, field(16, 18)?, field(19, 21)?);
    let sign: i64 = match t[22] {
        b'+' => 1,
        b'-' => -1,
        _ => return Err(fail()),
    };
    let (off_h, off_m) = (field(23, 25)?, field(25, 27)?);
    if day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
        || off_h > 23
        || off_m > 59
    {
        return Err(fail());
    }
    let days = days_from_civil(i64::from(year), month, day);
    let local =
        days * 86_400 + i64::from(hour) * 3_600 + i64::from(minute) * 60 + i64::from(second);
    let offset = sign * (i64::from(off_h) * 3_600 + i64::from(off_m) * 60);
    Ok((&input[TIME_LEN..], (local - offset) * 1_000_000))
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
