//! Kept days of bundled queries: a query whose every row comes from one
//! day's records is answered over a lake from its days, each computed
//! once and kept in the lake.
//!
//! Most of the report's audit and billing queries group by `date` (or by
//! an hour), so a day of the result depends on that day's records alone:
//! the answer over a range is the union of the answers over its days, in
//! the query's order. Such a query says so in its header, `-- daily:
//! COLUMN`, naming the column that holds a row's day. Its SQL is not
//! changed by that (Spark, Trino and DuckDB run it as written), only how
//! s3logs answers it over a lake:
//!
//! - each day of the range that the logs table holds files for is read
//!   from `_s3logs/queries/NAME/PARAMS/DAY.arrow` when its key matches,
//!   the key being that day's files, the query's SQL, its parameters but
//!   the range, s3logs' version and the enrichment data, as a daily view's
//!   ([`super::views`]);
//! - a missing day is computed by running the query over that day alone,
//!   and every row it gives must fall on that day: when one does not (a
//!   `grain` of a week or a month, say, groups several days in one row),
//!   the query is not daily for these parameters and runs as written;
//! - the days are put together and sorted by the query's own `ORDER BY`.
//!
//! Over raw files, over a lake without logs, or for a range without files
//! the query runs as written.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Date32Type, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use futures::{StreamExt, TryStreamExt};

use super::queries::Query;
use super::tables::LakeSchema;
use super::views;

/// How many days of a query are computed at a time.
const SIDE_BY_SIDE: usize = 2;

/// The answer of a `-- daily:` query over a lake, from its kept days (see
/// the module's documentation): its schema and rows. `None` where the
/// query runs as written instead.
///
/// # Errors
///
/// The query failed, or its header is wrong (a daily query with a `LIMIT`,
/// an order that names what it does not output, a daily column that is
/// not a date or a time).
pub async fn answer(
    ctx: &SessionContext,
    query: &Query,
    params: &[(String, ScalarValue)],
) -> Result<Option<(SchemaRef, Vec<RecordBatch>)>> {
    let Some(column) = query.daily.as_deref() else {
        return Ok(None);
    };
    let Shape::Query(order) = shape(query)? else {
        return Ok(None);
    };
    let (Some(since), Some(until)) = (day_param(params, "since"), day_param(params, "until"))
    else {
        return Ok(None);
    };
    if since > until {
        return Ok(None);
    }
    let Some(store) = LakeSchema::store(ctx) else {
        return Ok(None);
    };
    let Some(files) = store.logs.files_by_day().await? else {
        return Ok(None);
    };
    let others = other_params(params);
    let days: Vec<(i32, String)> = files
        .range(since..=until)
        .map(|(day, files)| {
            let key = views::entry_key(&store, &query.sql, Some(&others), files);
            (*day, key)
        })
        .collect();
    if days.is_empty() {
        return Ok(None);
    }
    let schema: SchemaRef = Arc::new(
        super::plan(ctx, &query.sql, params.to_vec())
            .await?
            .schema()
            .as_arrow()
            .clone(),
    );
    let folder = folder(query, &others);
    let name = |day: i32| format!("{folder}/{}.arrow", crate::civil::date_string(day));
    let read =
        futures::future::join_all(days.iter().map(|(day, key)| async {
            views::read_entry(&store, &name(*day), key, &schema).await
        }))
        .await;
    let mut kept = Vec::with_capacity(days.len());
    let mut missing = Vec::new();
    for ((day, key), entry) in days.into_iter().zip(read) {
        match entry {
            Some(rows) => kept.push((day, rows)),
            None => missing.push((day, key)),
        }
    }
    let computed: Vec<(i32, String, Vec<RecordBatch>)> = futures::stream::iter(missing)
        .map(|(day, key)| {
            let schema = &schema;
            async move {
                let rows = one_day(ctx, query, params, day, schema).await?;
                anyhow::Ok((day, key, rows))
            }
        })
        .buffered(SIDE_BY_SIDE)
        .try_collect()
        .await?;
    for (day, _, rows) in &computed {
        if !all_on(rows, column, *day)
            .with_context(|| format!("the daily column {column:?} of {}", query.name))?
        {
            // A row of several days: not daily with these parameters.
            return Ok(None);
        }
    }
    for (day, key, rows) in computed {
        views::write_entry(&store, &name(day), &key, &schema, &rows).await;
        kept.push((day, rows));
    }
    kept.sort_by_key(|(day, _)| *day);
    let rows: Vec<RecordBatch> = kept.into_iter().flat_map(|(_, rows)| rows).collect();
    let rows = match order {
        Some(order) => sorted(&schema, rows, &order)
            .await
            .with_context(|| format!("ordering the kept days of {}", query.name))?,
        None => rows,
    };
    Ok(Some((schema, rows)))
}

/// The day a date parameter holds.
fn day_param(params: &[(String, ScalarValue)], name: &str) -> Option<i32> {
    params.iter().find_map(|(n, v)| match v {
        ScalarValue::Date32(Some(d)) if n == name => Some(*d),
        _ => None,
    })
}

/// The parameters but the range, one `name=value` line each.
fn other_params(params: &[(String, ScalarValue)]) -> String {
    params
        .iter()
        .filter(|(n, _)| n != "since" && n != "until")
        .map(|(n, v)| format!("{n}={v}\n"))
        .collect()
}

/// The folder of a query's days with these parameters: `default` for the
/// defaults most runs use, else a hash of them, so that two sets of
/// parameters do not take each other's place.
fn folder(query: &Query, params: &str) -> String {
    let defaults = query
        .bind(&std::collections::BTreeMap::new())
        .map(|d| other_params(&d));
    let set = if defaults.ok().as_deref() == Some(params) {
        "default".to_string()
    } else {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(params.as_bytes());
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    };
    format!("queries/{}/{set}", query.name)
}

/// What a daily query's SQL is.
#[derive(Debug, PartialEq, Eq)]
enum Shape {
    /// One query, with its outermost `ORDER BY` if it has one.
    Query(Option<String>),
    /// Another statement (`EXPLAIN` of a daily query): run as written.
    Other,
}

/// What `query`'s SQL is.
///
/// # Errors
///
/// The SQL does not parse, is more than one statement, or limits its
/// rows (a top-N over a range is not the union of its days').
fn shape(query: &Query) -> Result<Shape> {
    let statements = Parser::parse_sql(&GenericDialect {}, &query.sql)
        .with_context(|| format!("parsing {}", query.name))?;
    let q = match statements.as_slice() {
        [Statement::Query(q)] => q,
        [_] => return Ok(Shape::Other),
        _ => bail!("{} is daily but is not one statement", query.name),
    };
    if q.limit_clause.is_some() || q.fetch.is_some() {
        bail!(
            "{} is daily but limits its rows: a day's first rows are not the range's",
            query.name
        );
    }
    Ok(Shape::Query(q.order_by.as_ref().map(ToString::to_string)))
}

/// The query over the day `day` alone.
async fn one_day(
    ctx: &SessionContext,
    query: &Query,
    params: &[(String, ScalarValue)],
    day: i32,
    schema: &SchemaRef,
) -> Result<Vec<RecordBatch>> {
    let params = params
        .iter()
        .map(|(n, v)| match n.as_str() {
            "since" | "until" => (n.clone(), ScalarValue::Date32(Some(day))),
            _ => (n.clone(), v.clone()),
        })
        .collect();
    let rows: Vec<RecordBatch> = super::execute(ctx, &query.sql, params)
        .await?
        .try_collect()
        .await
        .with_context(|| {
            format!(
                "running {} for {}",
                query.name,
                crate::civil::date_string(day)
            )
        })?;
    rows.iter()
        .filter(|b| b.num_rows() > 0)
        .map(|b| views::conform(b, schema).map_err(Into::into))
        .collect()
}

/// Whether every row of `rows` falls on `day` by its `column`.
///
/// # Errors
///
/// The column is missing, or is neither a date nor a time.
fn all_on(rows: &[RecordBatch], column: &str, day: i32) -> Result<bool> {
    for b in rows {
        let values = b
            .column_by_name(column)
            .with_context(|| "no such column in the result")?;
        if !matches!(
            values.data_type(),
            DataType::Date32 | DataType::Timestamp(..)
        ) {
            bail!("it is a {}, not a date or a time", values.data_type());
        }
        let days = cast(values, &DataType::Date32)?;
        let days = days.as_primitive::<Date32Type>();
        if days.null_count() > 0 || days.values().iter().any(|d| *d != day) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `rows` in the order `order` (an `ORDER BY` clause over the result's
/// columns) gives.
async fn sorted(
    schema: &SchemaRef,
    rows: Vec<RecordBatch>,
    order: &str,
) -> Result<Vec<RecordBatch>> {
    let scratch = SessionContext::new();
    scratch.register_table(
        "kept",
        Arc::new(MemTable::try_new(Arc::clone(schema), vec![rows])?),
    )?;
    let rows = scratch
        .sql(&format!("SELECT * FROM kept {order}"))
        .await?
        .collect()
        .await?;
    rows.iter()
        .map(|b| views::conform(b, schema).map_err(Into::into))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_daily_query_may_not_limit_its_rows() {
        let q = |sql: &str| Query::parse("q", sql).expect("parses");
        let err = shape(&q("SELECT date FROM logs ORDER BY date LIMIT 5")).expect_err("refused");
        assert!(err.to_string().contains("limits its rows"), "{err}");
        assert_eq!(
            shape(&q(
                "-- daily: date\nSELECT date, n FROM t ORDER BY n DESC, 1"
            ))
            .expect("ok"),
            Shape::Query(Some("ORDER BY n DESC, 1".to_string()))
        );
        assert_eq!(shape(&q("SELECT 1")).expect("ok"), Shape::Query(None));
        assert_eq!(
            shape(&q("EXPLAIN SELECT date FROM logs ORDER BY date")).expect("ok"),
            Shape::Other
        );
        assert!(shape(&q("SELECT 1; SELECT 2")).is_err());
    }

    #[test]
    fn rows_of_other_days_are_seen() {
        use arrow::array::{Date32Array, TimestampMicrosecondArray};
        use arrow::datatypes::{Field, Schema};
        let day = 19_800;
        let micros = i64::from(day) * crate::civil::MICROS_PER_DAY;
        let schema = Arc::new(Schema::new(vec![
            Field::new("date", DataType::Date32, true),
            Field::new(
                "hour",
                DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
        ]));
        let batch = |dates: Vec<Option<i32>>, hours: Vec<i64>| {
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(Date32Array::from(dates)),
                    Arc::new(TimestampMicrosecondArray::from(hours).with_timezone("UTC")),
                ],
            )
            .expect("a batch")
        };
        let on = batch(vec![Some(day)], vec![micros + 3_600_000_000]);
        assert!(all_on(std::slice::from_ref(&on), "date", day).expect("ok"));
        assert!(all_on(std::slice::from_ref(&on), "hour", day).expect("ok"));
        let before = batch(vec![Some(day - 1)], vec![micros - 1]);
        assert!(!all_on(std::slice::from_ref(&before), "date", day).expect("ok"));
        assert!(!all_on(std::slice::from_ref(&before), "hour", day).expect("ok"));
        let none = batch(vec![None], vec![micros]);
        assert!(!all_on(&[none], "date", day).expect("ok"));
        assert!(all_on(&[on], "nope", day).is_err());
    }
}
