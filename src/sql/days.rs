//! Records held in memory that answer a range of days without a filter.
//!
//! Every bundled query reads `WHERE date BETWEEN $since AND $until`, and a
//! report over raw files runs forty of them over the same batches. Over a
//! plain [`MemTable`] each one filtered every record by its date, and the
//! filter's coalescer copied every text column it kept into new batches,
//! though the range held them all. A [`DayTable`] knows each batch's first
//! and last day: it takes a date filter as exact, passes a batch inside the
//! range as it is, leaves out one outside it, and filters only a batch that
//! straddles an end.

use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, Date32Type, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

use super::views::{bounds, day_bound};

/// In-memory partitions of records with a `date` column, and the first and
/// last day of each batch (`None` for a batch with no dates or a null one,
/// which is always filtered).
#[derive(Debug)]
pub struct DayTable {
    schema: SchemaRef,
    partitions: Vec<Vec<(RecordBatch, Option<Span>)>>,
}

/// The first and last day of a batch.
type Span = (i32, i32);

impl DayTable {
    /// The batches of `partitions`, whose schema is `schema`; both back
    /// when the schema has no `date` of type `Date32`.
    pub fn new(
        schema: SchemaRef,
        partitions: Vec<Vec<RecordBatch>>,
    ) -> std::result::Result<DayTable, (SchemaRef, Vec<Vec<RecordBatch>>)> {
        let index = match schema.index_of(crate::schema::DATE) {
            Ok(i) if schema.field(i).data_type() == &DataType::Date32 => i,
            _ => return Err((schema, partitions)),
        };
        let partitions = partitions
            .into_iter()
            .map(|part| {
                part.into_iter()
                    .map(|b| {
                        let span = span(&b, index);
                        (b, span)
                    })
                    .collect()
            })
            .collect();
        Ok(DayTable { schema, partitions })
    }
}

/// The first and last day of a batch whose dates are all set.
fn span(batch: &RecordBatch, index: usize) -> Option<Span> {
    let dates = batch.column(index).as_primitive_opt::<Date32Type>()?;
    if dates.null_count() > 0 {
        return None;
    }
    let lo = arrow::compute::min(dates)?;
    let hi = arrow::compute::max(dates)?;
    Some((lo, hi))
}

/// The rows of `batch` whose day is in `lo..=hi`.
fn keep(batch: &RecordBatch, index: usize, lo: i32, hi: i32) -> Result<RecordBatch> {
    let dates = batch.column(index).as_primitive::<Date32Type>();
    let mask: BooleanArray = dates
        .iter()
        .map(|d| Some(d.is_some_and(|d| lo <= d && d <= hi)))
        .collect();
    Ok(filter_record_batch(batch, &mask)?)
}

#[async_trait]
impl TableProvider for DayTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| match day_bound(f) {
                Some(_) => TableProviderFilterPushDown::Exact,
                None => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // Only the date bounds are pushed here (the rest is `Unsupported`).
        let (lo, hi) = bounds(filters);
        let (lo, hi) = (lo.unwrap_or(i32::MIN), hi.unwrap_or(i32::MAX));
        // With none, every batch is read as it is (a null date included).
        let bounded = !filters.is_empty();
        let index = self.schema.index_of(crate::schema::DATE)?;
        let mut partitions = Vec::with_capacity(self.partitions.len());
        for part in &self.partitions {
            let mut kept = Vec::with_capacity(part.len());
            for (batch, span) in part {
                match span {
                    _ if !bounded => kept.push(batch.clone()),
                    Some((first, last)) if lo <= *first && *last <= hi => kept.push(batch.clone()),
                    Some((first, last)) if *last < lo || hi < *first => {}
                    _ => {
                        let rows = keep(batch, index, lo, hi)?;
                        if rows.num_rows() > 0 {
                            kept.push(rows);
                        }
                    }
                }
            }
            partitions.push(kept);
        }
        MemTable::try_new(Arc::clone(&self.schema), partitions)?
            .scan(state, projection, &[], limit)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Date32Array, Int64Array};
    use arrow::datatypes::{Field, Schema};
    use datafusion::prelude::SessionContext;

    fn batch(schema: &SchemaRef, days: &[Option<i32>]) -> RecordBatch {
        let n: Vec<i64> = (0..days.len() as i64).collect();
        RecordBatch::try_new(
            Arc::clone(schema),
            vec![
                Arc::new(Date32Array::from(days.to_vec())),
                Arc::new(Int64Array::from(n)),
            ],
        )
        .expect("a batch")
    }

    #[tokio::test]
    async fn a_range_of_days_keeps_exactly_its_rows() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("date", DataType::Date32, true),
            Field::new("n", DataType::Int64, false),
        ]));
        // Inside, outside, straddling, and a batch with a null date.
        let parts = vec![
            vec![
                batch(&schema, &[Some(10), Some(11)]),
                batch(&schema, &[Some(1), Some(2)]),
            ],
            vec![
                batch(&schema, &[Some(9), Some(12), Some(20)]),
                batch(&schema, &[None, Some(11)]),
            ],
        ];
        let ctx = SessionContext::new();
        let table = DayTable::new(Arc::clone(&schema), parts).expect("a table");
        ctx.register_table("t", Arc::new(table))
            .expect("registered");
        let count = |sql: &'static str| {
            let ctx = ctx.clone();
            async move {
                let rows = ctx.sql(sql).await.expect("planned");
                let rows = rows.collect().await.expect("run");
                rows[0]
                    .column(0)
                    .as_primitive::<arrow::datatypes::Int64Type>()
                    .value(0)
            }
        };
        let between =
            "SELECT count(*) FROM t WHERE date BETWEEN DATE '1970-01-11' AND DATE '1970-01-13'";
        assert_eq!(count(between).await, 4);
        assert_eq!(
            count("SELECT count(*) FROM t WHERE date > DATE '1970-01-11'").await,
            4
        );
        assert_eq!(
            count("SELECT count(*) FROM t WHERE date = DATE '1970-01-02'").await,
            1
        );
        assert_eq!(
            count("SELECT count(*) FROM t WHERE n = 1 AND date < DATE '1970-01-13'").await,
            3
        );
        assert_eq!(count("SELECT count(*) FROM t WHERE date IS NULL").await, 1);
        assert_eq!(count("SELECT count(*) FROM t").await, 9);
    }

    #[test]
    fn a_table_without_dates_is_not_one() {
        let schema: SchemaRef =
            Arc::new(Schema::new(vec![Field::new("date", DataType::Utf8, true)]));
        assert!(DayTable::new(schema, vec![vec![]]).is_err());
    }
}
