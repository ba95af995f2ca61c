//! `date_trunc` and `date_part` (`extract`) over UTC times at the speed of
//! integer arithmetic, for every year a timestamp holds.
//!
//! Every time in the lake is a `Timestamp(µs, "UTC")`. DataFusion's own
//! `date_trunc` truncates a time with a zone through its calendar, one
//! value at a time, even when the zone is UTC: on 3.5 million records
//! `date_trunc('hour', request_time)` takes six times as long as the
//! grouping that follows it. It also goes through nanoseconds, so it fails
//! outside the years 1677 to 2262, and the lake holds the years 1 to 9999.
//! In UTC an hour, a day, a minute and a second are all fixed lengths, so
//! truncating is `t - t.rem_euclid(unit)`; a week (from Monday), a month, a
//! quarter and a year start on a day found from the civil calendar.
//! `date_trunc` here does that for UTC times and times with no zone, and hands
//! every other case (other zones, shorter units, time-of-day
//! types) to DataFusion's function, so results, names, types and errors
//! are DataFusion's. `date_part` does the same for `extract(hour FROM t)`,
//! `dow` and the other whole-number parts of a day and its date: arrow's
//! kernel finds the zone's offset for every value (a fifth of
//! `audit/after_hours` went to it), where in UTC an hour is `t / 1h` of
//! the time within its day.

use std::sync::Arc;

use arrow::array::{Array, AsArray, PrimitiveArray};
use arrow::datatypes::{
    ArrowTimestampType, DataType, FieldRef, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult};
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature,
};
use datafusion::prelude::SessionContext;

/// One of DataFusion's functions with the cases of UTC times done by
/// arithmetic: `date_trunc` and `date_part` ([`Which`]).
/// Every other case, and the name, signature, types, ordering,
/// simplification and documentation, are the function's own.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ByArithmetic {
    inner: Arc<ScalarUDF>,
    which: Which,
}

/// The functions [`ByArithmetic`] does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Which {
    /// DataFusion's `date_trunc`, with UTC times of a fixed-length unit or
    /// a calendar start truncated by arithmetic.
    DateTrunc,
    /// DataFusion's `date_part`, with the whole-number parts of UTC times
    /// found by arithmetic.
    DatePart,
}

/// Puts [`ByArithmetic`]'s `date_trunc` and `date_part` in place of
/// DataFusion's in `ctx`.
pub fn register(ctx: &SessionContext) {
    let inner = datafusion::functions::datetime::date_trunc();
    let which = Which::DateTrunc;
    ctx.register_udf(ScalarUDF::new_from_impl(ByArithmetic { inner, which }));
    let inner = datafusion::functions::datetime::date_part();
    let which = Which::DatePart;
    let part = Arc::new(ScalarUDF::new_from_impl(ByArithmetic { inner, which }));
    ctx.register_udf(ScalarUDF::clone(&part));
    // `extract(hour FROM t)` is planned by DataFusion's own planner straight
    // to its own function, not by name: ours is asked first.
    let state = ctx.state_ref();
    let mut state = state.write();
    let mut planners: Vec<Arc<dyn ExprPlanner>> = vec![Arc::new(Extract(part))];
    planners.extend(state.expr_planners().iter().cloned());
    *state = SessionStateBuilder::new_from_existing(state.clone())
        .with_expr_planners(planners)
        .build();
}

/// Plans `extract(PART FROM t)` as our `date_part`.
#[derive(Debug)]
struct Extract(Arc<ScalarUDF>);

impl ExprPlanner for Extract {
    fn plan_extract(&self, args: Vec<Expr>) -> DfResult<PlannerResult<Vec<Expr>>> {
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            ScalarFunction::new_udf(Arc::clone(&self.0), args),
        )))
    }
}

/// How a granularity truncates a UTC time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Truncation {
    /// A fixed length, in the time's units.
    Fixed(i64),
    /// To the first day of the time's week (from Monday), month, quarter
    /// or year.
    Calendar(Start),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Start {
    Week,
    Month,
    Quarter,
    Year,
}

/// How `granularity` truncates times of `unit`, when it is by arithmetic:
/// a fixed length in UTC of at least one `unit` (a shorter one leaves the
/// time as it is, which DataFusion's function does), or a calendar start.
fn truncation(granularity: &str, unit: TimeUnit) -> Option<Truncation> {
    let micros: i64 = match granularity.to_ascii_lowercase().as_str() {
        "day" => crate::civil::MICROS_PER_DAY,
        "hour" => 3_600_000_000,
        "minute" => 60_000_000,
        "second" => 1_000_000,
        "week" => return Some(Truncation::Calendar(Start::Week)),
        "month" => return Some(Truncation::Calendar(Start::Month)),
        "quarter" => return Some(Truncation::Calendar(Start::Quarter)),
        "year" => return Some(Truncation::Calendar(Start::Year)),
        _ => return None,
    };
    in_units(micros, unit).map(Truncation::Fixed)
}

/// `micros` microseconds in `unit`s.
fn in_units(micros: i64, unit: TimeUnit) -> Option<i64> {
    match unit {
        TimeUnit::Second => Some(micros / 1_000_000),
        TimeUnit::Millisecond => Some(micros / 1_000),
        TimeUnit::Microsecond => Some(micros),
        TimeUnit::Nanosecond => micros.checked_mul(1_000),
    }
}

/// The first day of the week, month, quarter or year of `day` (days since
/// 1970-01-01, a Thursday).
fn start_day(day: i64, start: Start) -> i64 {
    let (y, m, _) = crate::civil::civil_from_days(day);
    match start {
        Start::Week => day - (day + 3).rem_euclid(7),
        Start::Month => crate::civil::days_from_civil(y, m, 1),
        Start::Quarter => crate::civil::days_from_civil(y, (m - 1) / 3 * 3 + 1, 1),
        Start::Year => crate::civil::days_from_civil(y, 1, 1),
    }
}

fn is_utc(zone: &str) -> bool {
    matches!(zone, "UTC" | "utc" | "+00:00" | "Z" | "Etc/UTC")
}

/// `array` truncated, or `None` when a start falls outside what its type
/// holds (nanoseconds hold 1677 to 2262 only; DataFusion says why).
fn truncate<T: ArrowTimestampType>(array: &dyn Array, how: Truncation) -> Option<ColumnarValue> {
    let array = array.as_primitive_opt::<T>()?;
    let values: Option<Vec<i64>> = match how {
        Truncation::Fixed(length) => Some(
            array
                .values()
                .iter()
                .map(|t| t - t.rem_euclid(length))
                .collect(),
        ),
        Truncation::Calendar(start) => {
            let per_day = in_units(crate::civil::MICROS_PER_DAY, T::UNIT)?;
            // Null slots hold any value: truncate them as zero.
            array
                .values()
                .iter()
                .enumerate()
                .map(|(i, &t)| match array.is_valid(i) {
                    true => start_day(t.div_euclid(per_day), start).checked_mul(per_day),
                    false => Some(0),
                })
                .collect()
        }
    };
    let truncated: PrimitiveArray<T> = PrimitiveArray::new(values?.into(), array.nulls().cloned());
    let zone = match array.data_type() {
        DataType::Timestamp(_, zone) => zone.clone(),
        _ => None,
    };
    Some(ColumnarValue::Array(Arc::new(
        truncated.with_timezone_opt(zone),
    )))
}

/// The truncated array, when this is a case done by arithmetic.
fn by_arithmetic(args: &ScalarFunctionArgs) -> Option<ColumnarValue> {
    let [ColumnarValue::Scalar(granularity), times] = args.args.as_slice() else {
        return None;
    };
    // A constant time (folded before the query runs) as an array of one.
    let (times, scalar) = match times {
        ColumnarValue::Array(a) => (Arc::clone(a), false),
        ColumnarValue::Scalar(v) => (v.to_array().ok()?, true),
    };
    let granularity = match granularity {
        ScalarValue::Utf8(Some(g))
        | ScalarValue::Utf8View(Some(g))
        | ScalarValue::LargeUtf8(Some(g)) => g,
        _ => return None,
    };
    let DataType::Timestamp(unit, zone) = times.data_type() else {
        return None;
    };
    if zone.as_deref().is_some_and(|z| !is_utc(z)) {
        return None;
    }
    let how = truncation(granularity, *unit)?;
    let times = times.as_ref();
    let done = match unit {
        TimeUnit::Second => truncate::<TimestampSecondType>(times, how),
        TimeUnit::Millisecond => truncate::<TimestampMillisecondType>(times, how),
        TimeUnit::Microsecond => truncate::<TimestampMicrosecondType>(times, how),
        TimeUnit::Nanosecond => truncate::<TimestampNanosecondType>(times, how),
    }?;
    match (done, scalar) {
        (ColumnarValue::Array(a), true) => ScalarValue::try_from_array(&a, 0)
            .ok()
            .map(ColumnarValue::Scalar),
        (done, _) => Some(done),
    }
}

impl ScalarUDFImpl for ByArithmetic {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let done = match self.which {
            Which::DateTrunc => by_arithmetic(&args),
            Which::DatePart => parts_by_arithmetic(&args),
        };
        match done {
            Some(done) => Ok(done),
            None => self.inner.invoke_with_args(args),
        }
    }

    fn preimage(
        &self,
        args: &[Expr],
        lit_expr: &Expr,
        info: &datafusion::logical_expr::simplify::SimplifyContext,
    ) -> DfResult<datafusion::logical_expr::preimage::PreimageResult> {
        self.inner.preimage(args, lit_expr, info)
    }

    fn output_ordering(&self, input: &[ExprProperties]) -> DfResult<SortProperties> {
        self.inner.output_ordering(input)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

/// A part of a time that `date_part` finds by arithmetic ([`Which::DatePart`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    Year,
    Quarter,
    Month,
    Day,
    DayOfYear,
    /// 0 for Sunday, as `dow`.
    DayOfWeek,
    Hour,
    Minute,
}

fn part(name: &str) -> Option<Part> {
    Some(match name.to_ascii_lowercase().as_str() {
        "year" => Part::Year,
        "quarter" | "qtr" => Part::Quarter,
        "month" => Part::Month,
        "day" => Part::Day,
        "doy" => Part::DayOfYear,
        "dow" => Part::DayOfWeek,
        "hour" => Part::Hour,
        "minute" => Part::Minute,
        _ => return None,
    })
}

/// `part` of the time `t`, in `per_day` units a day.
fn part_of(t: i64, per_day: i64, part: Part) -> i32 {
    let day = t.div_euclid(per_day);
    let within = t.rem_euclid(per_day);
    let civil = || crate::civil::civil_from_days(day);
    let value = match part {
        Part::Hour => within / (per_day / 24),
        Part::Minute => within / (per_day / 1_440) % 60,
        // 1970-01-01 was a Thursday.
        Part::DayOfWeek => (day + 4).rem_euclid(7),
        Part::Year => civil().0,
        Part::Month => i64::from(civil().1),
        Part::Quarter => i64::from((civil().1 - 1) / 3 + 1),
        Part::Day => i64::from(civil().2),
        Part::DayOfYear => day - crate::civil::days_from_civil(civil().0, 1, 1) + 1,
    };
    // Every part of a year from 1 to 9999 fits; a day of a time past it
    // (a nanosecond timestamp holds 1677 to 2262) does too.
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn parts<T: ArrowTimestampType>(array: &dyn Array, part: Part) -> Option<ColumnarValue> {
    let array = array.as_primitive_opt::<T>()?;
    let per_day = in_units(crate::civil::MICROS_PER_DAY, T::UNIT)?;
    // Null slots hold any value: the part of it is masked by the nulls.
    let values: Vec<i32> = array
        .values()
        .iter()
        .map(|&t| part_of(t, per_day, part))
        .collect();
    let parts: PrimitiveArray<arrow::datatypes::Int32Type> =
        PrimitiveArray::new(values.into(), array.nulls().cloned());
    Some(ColumnarValue::Array(Arc::new(parts)))
}

/// The parts, when this is a case done by arithmetic: a whole-number part
/// DataFusion gives as an `Int32` of a UTC time or one with no zone.
fn parts_by_arithmetic(args: &ScalarFunctionArgs) -> Option<ColumnarValue> {
    let [ColumnarValue::Scalar(name), ColumnarValue::Array(times)] = args.args.as_slice() else {
        return None;
    };
    if args.return_field.data_type() != &DataType::Int32 {
        return None;
    }
    let name = match name {
        ScalarValue::Utf8(Some(p)) | ScalarValue::Utf8View(Some(p)) => p,
        _ => return None,
    };
    let part = part(name)?;
    let DataType::Timestamp(unit, zone) = times.data_type() else {
        return None;
    };
    if zone.as_deref().is_some_and(|z| !is_utc(z)) {
        return None;
    }
    let times = times.as_ref();
    match unit {
        TimeUnit::Second => parts::<TimestampSecondType>(times, part),
        TimeUnit::Millisecond => parts::<TimestampMillisecondType>(times, part),
        TimeUnit::Microsecond => parts::<TimestampMicrosecondType>(times, part),
        TimeUnit::Nanosecond => parts::<TimestampNanosecondType>(times, part),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::util::pretty::pretty_format_batches;

    async fn run(ctx: &SessionContext, sql: &str) -> Result<String, String> {
        let batches = ctx
            .sql(sql)
            .await
            .map_err(|e| e.to_string())?
            .collect()
            .await
            .map_err(|e| e.to_string())?;
        Ok(pretty_format_batches(&batches).expect("format").to_string())
    }

    async fn rows(ctx: &SessionContext, sql: &str) -> String {
        run(ctx, sql).await.expect("run")
    }

    /// Every granularity over UTC times from year 1 to 9999, and times in
    /// another zone, give DataFusion's own answers.
    #[tokio::test]
    async fn the_same_answers_as_datafusion() {
        let plain = SessionContext::new();
        let fast = SessionContext::new();
        register(&fast);
        // Microseconds: year 1, just before 1970, 2024, NULL, year 9999.
        let times = "SELECT column1 AS us, arrow_cast(column1, 'Timestamp(Microsecond, Some(\"UTC\"))') AS t \
             FROM (VALUES (-62135596800000000), (-1), (1709300712345678), (NULL), (253402300799999999))";
        for g in [
            "second",
            "minute",
            "hour",
            "day",
            "week",
            "month",
            "quarter",
            "year",
            "HOUR",
            "Month",
            "millisecond",
        ] {
            for (source, cast) in [
                ("UTC", "t"),
                ("no zone", "arrow_cast(t, 'Timestamp(Microsecond, None)')"),
                (
                    "ns",
                    "arrow_cast(t, 'Timestamp(Nanosecond, Some(\"UTC\"))')",
                ),
                (
                    "Kathmandu",
                    "arrow_cast(t, 'Timestamp(Microsecond, Some(\"Asia/Kathmandu\"))')",
                ),
            ] {
                // Nanoseconds hold only 1677 to 2262, and DataFusion's
                // function fails outside them on every type, so each case
                // is asked of the times within them too.
                let within = " WHERE us BETWEEN -2208988800000000 AND 7258118400000000";
                let filters: &[&str] = if source == "ns" {
                    &[within]
                } else {
                    &["", within]
                };
                for filter in filters {
                    let sql = format!(
                        "SELECT date_trunc('{g}', {cast}) AS d, arrow_typeof(date_trunc('{g}', {cast})) AS ty FROM ({times}){filter}"
                    );
                    let (ours, theirs) = (run(&fast, &sql).await, run(&plain, &sql).await);
                    if filter.is_empty() && theirs.is_err() {
                        // Years 1 and 9999, which DataFusion's cannot reach.
                        continue;
                    }
                    assert_eq!(ours, theirs, "{g}, {source}, {filter}");
                }
            }
        }
        let hours = format!("SELECT date_trunc('hour', t) AS d FROM ({times})");
        let text = rows(&fast, &hours).await;
        assert!(text.contains("2024-03-01T13:00:00Z"), "{text}");
        assert!(text.contains("9999-12-31T23:00:00Z"), "{text}");
        assert!(text.contains("0001-01-01T00:00:00Z"), "{text}");
        // Calendar starts in years DataFusion's own function cannot reach:
        // 9999-12-31 is a Friday, 0001-01-01 a Monday.
        for (g, want) in [
            (
                "week",
                [
                    "0001-01-01T00:00:00Z",
                    "9999-12-27T00:00:00Z",
                    "2024-02-26T00:00:00Z",
                ],
            ),
            (
                "month",
                [
                    "0001-01-01T00:00:00Z",
                    "9999-12-01T00:00:00Z",
                    "2024-03-01T00:00:00Z",
                ],
            ),
            (
                "quarter",
                [
                    "0001-01-01T00:00:00Z",
                    "9999-10-01T00:00:00Z",
                    "2024-01-01T00:00:00Z",
                ],
            ),
            (
                "year",
                [
                    "0001-01-01T00:00:00Z",
                    "9999-01-01T00:00:00Z",
                    "2024-01-01T00:00:00Z",
                ],
            ),
        ] {
            let sql = format!("SELECT date_trunc('{g}', t) AS d FROM ({times})");
            let text = rows(&fast, &sql).await;
            for w in want {
                assert!(text.contains(w), "{g}: {text}");
            }
            assert!(
                run(&plain, &sql).await.is_err(),
                "DataFusion reaches {g} now"
            );
        }
        // A constant, which is folded before the query runs.
        let sql = "SELECT date_trunc('month', arrow_cast(253402300799999999, 'Timestamp(Microsecond, Some(\"UTC\"))')) AS d";
        assert!(rows(&fast, sql).await.contains("9999-12-01T00:00:00Z"));
        // Before 1970, and no zone at all.
        let sql = "SELECT date_trunc('week', arrow_cast(t, 'Timestamp(Microsecond, None)')) AS d \
             FROM (SELECT arrow_cast(-1, 'Timestamp(Microsecond, Some(\"UTC\"))') AS t)";
        assert!(rows(&fast, sql).await.contains("1969-12-29T00:00:00"));
    }

    /// Every part over UTC times (every unit, year 1 to 9999 where
    /// DataFusion's own function reaches), a zone, no zone and parts done
    /// by DataFusion give DataFusion's own answers.
    #[tokio::test]
    async fn the_same_parts_as_datafusion() {
        let plain = SessionContext::new();
        let fast = SessionContext::new();
        register(&fast);
        let times = "SELECT column1 AS us FROM (VALUES (-62135596800000000), (-1), (0), \
             (1709300712345678), (1709596799999999), (1735689599000000), (NULL), (253402300799999999))";
        for p in [
            "year", "quarter", "qtr", "month", "day", "doy", "dow", "hour", "minute", "HOUR",
            "isodow", "week", "second", "epoch",
        ] {
            for (unit, scale) in [
                ("Second", "us / 1000000"),
                ("Millisecond", "us / 1000"),
                ("Microsecond", "us"),
                ("Nanosecond", "us * 1000"),
            ] {
                for zone in ["Some(\"UTC\")", "None", "Some(\"Europe/Paris\")"] {
                    // Nanoseconds hold only 1677 to 2262.
                    let filter = if unit == "Nanosecond" {
                        " WHERE us BETWEEN -2208988800000000 AND 7258118400000000"
                    } else {
                        ""
                    };
                    let sql = format!(
                        "SELECT extract({p} FROM arrow_cast({scale}, 'Timestamp({unit}, {zone})')) AS v, \
                         arrow_typeof(date_part('{p}', arrow_cast({scale}, 'Timestamp({unit}, {zone})'))) AS ty \
                         FROM ({times}){filter}"
                    );
                    let (ours, theirs) = (run(&fast, &sql).await, run(&plain, &sql).await);
                    assert_eq!(ours, theirs, "{p}, {unit}, {zone}");
                }
            }
        }
        // 9999-12-31 23:59 was a Friday, its 365th day.
        let sql = "SELECT extract(dow FROM t) AS w, extract(doy FROM t) AS d, extract(hour FROM t) AS h \
             FROM (SELECT arrow_cast(253402300799999999, 'Timestamp(Microsecond, Some(\"UTC\"))') AS t)";
        let text = rows(&fast, sql).await;
        assert!(text.contains("| 5 | 365 | 23 |"), "{text}");
    }

    #[test]
    fn fixed_lengths_and_calendar_starts_are_arithmetic() {
        use Truncation::{Calendar, Fixed};
        assert_eq!(
            truncation("Hour", TimeUnit::Microsecond),
            Some(Fixed(3_600_000_000))
        );
        assert_eq!(truncation("day", TimeUnit::Second), Some(Fixed(86_400)));
        assert_eq!(
            truncation("week", TimeUnit::Microsecond),
            Some(Calendar(Start::Week))
        );
        assert_eq!(truncation("millisecond", TimeUnit::Second), None);
        assert!(is_utc("UTC") && is_utc("+00:00") && !is_utc("Europe/Paris"));
        // 1970-01-01 was a Thursday; 1969-12-29 (day -3) a Monday.
        assert_eq!(start_day(0, Start::Week), -3);
        assert_eq!(start_day(-3, Start::Week), -3);
        assert_eq!(start_day(-4, Start::Week), -10);
        assert_eq!(start_day(45, Start::Month), 31);
        assert_eq!(start_day(100, Start::Quarter), 90);
        assert_eq!(start_day(364, Start::Year), 0);
    }
}
