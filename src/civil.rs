//! Civil time, in one place: days since 1970-01-01 and the dates they name
//! (proleptic Gregorian, UTC), microseconds since the epoch, and the text
//! forms the lake uses (`YYYY-MM-DD` partition values, ISO times).
//!
//! A leaf: it imports nothing of the crate, and every module that counts
//! days uses it (the parser, the lake, the sources, the generator).

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds in a day.
pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Whether `year` is a leap year.
pub fn is_leap(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

/// Days in a month (1 to 12) of a year.
pub fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day since 1970-01-01: (year, month, day), the inverse of
/// [`days_from_civil`].
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The UTC day of microseconds since the epoch.
pub fn day_of(micros: i64) -> i32 {
    micros.div_euclid(MICROS_PER_DAY) as i32
}

/// `YYYY-MM-DD` of a day since the epoch: the `date` partition value.
pub fn date_string(day: i32) -> String {
    let (y, m, d) = civil_from_days(i64::from(day));
    format!("{y:04}-{m:02}-{d:02}")
}

/// The day since the epoch of a `YYYY-MM-DD` date (as chrono reads
/// `%Y-%m-%d`), `None` when it is not one.
pub fn parse_date(text: &str) -> Option<i32> {
    let d = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(
        d.signed_duration_since(chrono::NaiveDate::default())
            .num_days() as i32,
    )
}

/// The day a log object's name starts with (`YYYY-mm-DD-…`, its last path
/// component: SimplePrefix and PartitionedPrefix alike), `None` when it
/// starts with no date.
pub fn name_day(key: &str) -> Option<i32> {
    let (y, m, d) = name_date(key.rsplit(['/', '\\']).next()?.as_bytes())?;
    Some(days_from_civil(i64::from(y), m, d) as i32)
}

/// `YYYY-mm-DD-` at the start of a name: (year, month, day).
pub fn name_date(b: &[u8]) -> Option<(u32, u32, u32)> {
    if b.len() < 11 || b[4] != b'-' || b[7] != b'-' || b[10] != b'-' {
        return None;
    }
    let (y, m, d) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then_some((y, m, d))
}

/// ASCII digits as a number (every byte must be a digit).
pub fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// `YYYY-MM-DDTHH:MM:SSZ` of microseconds since the epoch.
pub fn iso_seconds(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of microseconds since the epoch.
pub fn iso_millis(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// Microseconds since the epoch, now.
pub fn now_micros() -> i64 {
    micros_of(SystemTime::now()).unwrap_or(0)
}

/// Microseconds since the epoch of a time (`None` before the epoch).
pub fn micros_of(t: SystemTime) -> Option<i64> {
    t.duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_micros() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_dates_round_trip_and_match_chrono() {
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid");
        for (y, m, d) in [
            (1970, 1, 1),
            (2000, 2, 29),
            (2024, 12, 31),
            (1600, 3, 1),
            (1, 1, 1),
            (9999, 12, 31),
        ] {
            let date = chrono::NaiveDate::from_ymd_opt(y, m, d).expect("valid");
            let days = days_from_civil(i64::from(y), m, d);
            assert_eq!(days, (date - epoch).num_days());
            assert_eq!(civil_from_days(days), (i64::from(y), m, d));
            let text = format!("{y:04}-{m:02}-{d:02}");
            assert_eq!(date_string(days as i32), text);
            assert_eq!(parse_date(&text), Some(days as i32));
        }
        assert_eq!(parse_date("2024-02-30"), None);
    }

    #[test]
    fn names_start_with_their_day() {
        let d = name_day("p/2024-03-04-02-00-00-507BF4DE51B20A40").expect("simple");
        assert_eq!(date_string(d), "2024-03-04");
        assert_eq!(
            name_day("p/1/eu-west-1/b/2024/03/01/2024-03-01-00-00-00-AB"),
            Some(d - 3)
        );
        assert_eq!(name_day("p/notes.txt"), None);
        assert_eq!(name_day("p/2024-13-01-00"), None);
        assert_eq!(day_of(-1), -1);
        assert_eq!(day_of(MICROS_PER_DAY), 1);
    }
}
