//! Tests of a record that a raw scan makes before it builds the row.
//!
//! A query's filters that compare a number or the day with a literal, or
//! ask whether a field is NULL, are handed to [`super::raw::RawTable`] as
//! inexact: DataFusion still applies each of them after the scan, and the
//! scan only skips building rows that the filter would drop anyway (q2 of
//! the benchmarks keeps 4% of the rows, and building the other 96% was
//! most of what its scan did besides parsing). A comparison with a NULL
//! field is never true, and a field is NULL in the table exactly when the
//! record has no value for it, so a test is exact where it applies; every
//! line is still parsed whole, and rejects are what they were.

use datafusion::logical_expr::{BinaryExpr, Cast, Expr, Operator};
use datafusion::scalar::ScalarValue;

use crate::parse::LogRecord;
use crate::schema::Column;

/// The filters of a scan that can be tested on a record.
#[derive(Debug, Clone, Default)]
pub struct RowFilter {
    tests: Vec<Test>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Test {
    /// `column op value`: a number column, or `date` as days since 1970.
    Compare {
        column: Column,
        op: Operator,
        value: i64,
    },
    /// `IS NULL` of a field, or `IS NOT NULL` when `negated`.
    Null { field: Field, negated: bool },
}

/// Where a record keeps a column's value, found once per filter.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    /// The `i`th of [`LogRecord::text_fields`].
    Text(usize),
    AclRequired,
    /// A column of [`number`].
    Number(Column),
    /// A column that is never NULL (`request_time`, `source_file`, …).
    Never,
}

impl Field {
    fn of(column: Column) -> Self {
        if let Some(i) = Column::TEXT.iter().position(|&c| c == column) {
            return Field::Text(i);
        }
        match column {
            Column::AclRequired => Field::AclRequired,
            c if number_column(c) => Field::Number(c),
            _ => Field::Never,
        }
    }

    fn is_null(self, rec: &LogRecord<'_>) -> bool {
        match self {
            Field::Text(i) => rec.text_field(i).is_none(),
            Field::AclRequired => rec.acl_required.is_none(),
            Field::Number(c) => number(rec, c).is_some_and(|v| v.is_none()),
            Field::Never => false,
        }
    }
}

impl RowFilter {
    /// The tests of `filters` that a record can answer; the other filters
    /// are DataFusion's alone.
    pub fn new(filters: &[Expr]) -> Self {
        RowFilter {
            tests: filters.iter().filter_map(test).collect(),
        }
    }

    /// Whether `filter` can be tested on a record.
    pub fn supports(filter: &Expr) -> bool {
        test(filter).is_some()
    }

    /// Whether the record may pass every filter.
    #[inline]
    pub fn keeps(&self, rec: &LogRecord<'_>) -> bool {
        self.tests.iter().all(|t| t.keeps(rec))
    }
}

impl Test {
    fn keeps(&self, rec: &LogRecord<'_>) -> bool {
        match *self {
            Test::Compare { column, op, value } => match number(rec, column) {
                Some(Some(v)) => compare(v, op, value),
                Some(None) => false,
                None => true,
            },
            Test::Null { field, negated } => field.is_null(rec) != negated,
        }
    }
}

fn compare(v: i64, op: Operator, value: i64) -> bool {
    match op {
        Operator::Eq => v == value,
        Operator::NotEq => v != value,
        Operator::Lt => v < value,
        Operator::LtEq => v <= value,
        Operator::Gt => v > value,
        Operator::GtEq => v >= value,
        _ => true,
    }
}

/// A number column's value for the record (`Some(None)` when NULL), the
/// day for `date`; `None` for any other column.
fn number(rec: &LogRecord<'_>, column: Column) -> Option<Option<i64>> {
    Some(match column {
        Column::HttpStatus => rec.http_status.map(i64::from),
        Column::BytesSent => rec.bytes_sent,
        Column::ObjectSize => rec.object_size,
        Column::TotalTimeMs => rec.total_time_ms.map(i64::from),
        Column::TurnAroundTimeMs => rec.turn_around_time_ms.map(i64::from),
        Column::Date => Some(i64::from(crate::civil::day_of(rec.request_time))),
        _ => return None,
    })
}

/// The test a filter is, when it is one.
fn test(filter: &Expr) -> Option<Test> {
    match filter {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (column, op, literal) = match (column_of(left, true), column_of(right, true)) {
                (Some(c), None) => (c, *op, right),
                (None, Some(c)) => (c, op.swap()?, left),
                _ => return None,
            };
            if !matches!(
                op,
                Operator::Eq
                    | Operator::NotEq
                    | Operator::Lt
                    | Operator::LtEq
                    | Operator::Gt
                    | Operator::GtEq
            ) {
                return None;
            }
            let value = match (column, literal.as_ref()) {
                (Column::Date, Expr::Literal(ScalarValue::Date32(Some(d)), _)) => i64::from(*d),
                (Column::Date, _) => return None,
                (_, Expr::Literal(v, _)) => integer(v)?,
                _ => return None,
            };
            number_column(column).then_some(Test::Compare { column, op, value })
        }
        Expr::IsNull(inner) => Some(Test::Null {
            field: Field::of(column_of(inner, false)?),
            negated: false,
        }),
        Expr::IsNotNull(inner) => Some(Test::Null {
            field: Field::of(column_of(inner, false)?),
            negated: true,
        }),
        _ => None,
    }
}

fn number_column(column: Column) -> bool {
    matches!(
        column,
        Column::HttpStatus
            | Column::BytesSent
            | Column::ObjectSize
            | Column::TotalTimeMs
            | Column::TurnAroundTimeMs
            | Column::Date
    )
}

/// The logs column `e` names; with `widened`, also through a cast to
/// `Int64` (how DataFusion compares a narrower number with a literal it
/// cannot narrow), which keeps every value as it is.
fn column_of(e: &Expr, widened: bool) -> Option<Column> {
    match e {
        Expr::Column(c) => Column::from_name(&c.name),
        Expr::Cast(Cast { expr, field })
            if widened && *field.data_type() == arrow::datatypes::DataType::Int64 =>
        {
            column_of(expr, false).filter(|&c| number_column(c) && c != Column::Date)
        }
        _ => None,
    }
}

/// An integer literal's value.
fn integer(v: &ScalarValue) -> Option<i64> {
    match v {
        ScalarValue::Int8(Some(n)) => Some(i64::from(*n)),
        ScalarValue::Int16(Some(n)) => Some(i64::from(*n)),
        ScalarValue::Int32(Some(n)) => Some(i64::from(*n)),
        ScalarValue::Int64(Some(n)) => Some(*n),
        ScalarValue::UInt8(Some(n)) => Some(i64::from(*n)),
        ScalarValue::UInt16(Some(n)) => Some(i64::from(*n)),
        ScalarValue::UInt32(Some(n)) => Some(i64::from(*n)),
        ScalarValue::UInt64(Some(n)) => i64::try_from(*n).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_line;
    use datafusion::prelude::{col, lit};

    const LINE: &[u8] = br#"o b [06/Feb/2019:00:00:38 +0000] 1.2.3.4 - ID REST.GET.OBJECT k "GET / HTTP/1.1" 403 AccessDenied 5 - 7 6 "-" "ua" - x y"#;

    fn keeps(filters: &[Expr]) -> bool {
        RowFilter::new(filters).keeps(&parse_line(LINE).expect("valid"))
    }

    #[test]
    fn numbers_days_and_nulls_are_tested_on_the_record() {
        let day = crate::civil::day_of(parse_line(LINE).expect("valid").request_time);
        assert!(keeps(&[col("http_status").eq(lit(403i16))]));
        assert!(!keeps(&[col("http_status").eq(lit(200i16))]));
        assert!(keeps(&[lit(400i64).lt_eq(col("http_status"))]), "swapped");
        assert!(keeps(&[
            col("bytes_sent").gt(lit(4i64)),
            col("total_time_ms").lt(lit(8))
        ]));
        assert!(!keeps(&[
            col("bytes_sent").gt(lit(4i64)),
            col("total_time_ms").gt(lit(8))
        ]));
        assert!(!keeps(&[col("source_file").is_null()]), "never NULL");
        assert!(keeps(&[
            col("request_time").is_not_null(),
            col("date").is_not_null()
        ]));
        // A NULL compares to nothing; IS NULL sees it.
        assert!(!keeps(&[col("object_size").gt_eq(lit(0i64))]));
        assert!(!keeps(&[col("object_size").not_eq(lit(0i64))]));
        assert!(keeps(&[
            col("object_size").is_null(),
            col("requester").is_null()
        ]));
        assert!(!keeps(&[col("requester").is_not_null()]));
        assert!(keeps(&[
            col("error_code").is_not_null(),
            col("acl_required").is_null()
        ]));
        let date = |d: i32| lit(ScalarValue::Date32(Some(d)));
        assert!(keeps(&[
            col("date").gt_eq(date(day)),
            col("date").lt_eq(date(day))
        ]));
        assert!(!keeps(&[col("date").gt(date(day))]));
        // Through the widening cast DataFusion puts on a narrower column.
        let widened = Expr::Cast(Cast::new(
            Box::new(col("http_status")),
            arrow::datatypes::DataType::Int64,
        ));
        assert!(!keeps(&[widened.eq(lit(70_000i64))]));
    }

    #[test]
    fn only_what_a_record_can_answer_is_taken() {
        for no in [
            col("operation").eq(lit("REST.GET.OBJECT")),
            col("http_status")
                .eq(lit(403i16))
                .or(col("http_status").eq(lit(404i16))),
            col("http_status").eq(col("bytes_sent")),
            col("date").eq(lit(3i64)),
            col("bytes_sent").eq(lit(ScalarValue::Int64(None))),
            col("request_time").gt(lit(0i64)),
            Expr::Cast(Cast::new(
                Box::new(col("http_status")),
                arrow::datatypes::DataType::Int8,
            ))
            .eq(lit(3i8)),
        ] {
            assert!(!RowFilter::supports(&no), "{no}");
            assert!(keeps(&[no]), "an untaken filter drops nothing");
        }
        assert!(RowFilter::supports(&col("http_status").eq(lit(403i16))));
        assert!(RowFilter::supports(&col("host_id").is_null()));
    }
}
