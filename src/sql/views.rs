//! Daily views: aggregates of `logs` by day that several bundled queries
//! read instead of the records, kept in the lake per day.
//!
//! A report runs forty queries, and most of their time went to grouping
//! the same records again and again by requester, network or price class.
//! A view (`queries/views/NAME.sql`) groups the records once, by `date`
//! first, so that each of its rows comes from the records of one day only:
//! the view over a range of days is the union of the view over each day.
//! That makes a day of a view a cache entry with an exact key:
//!
//! - which Parquet files the logs table holds for that day (paths, sizes
//!   and deletion vectors, from the Delta snapshot the session reads), so a
//!   day that a run, a late record, a compaction or another engine changed
//!   is computed again, and a day no one touched is read back;
//! - the view's SQL and s3logs' version, so a changed definition never
//!   reads an old entry;
//! - the enrichment data the view's functions read (`--geoip`,
//!   `--ip-ranges`, the `make geo-data` folder: paths, sizes and times).
//!
//! Entries live in the lake's own folder (`_s3logs/views/NAME/DAY.arrow`,
//! Arrow IPC with the key in its schema's metadata), written by any
//! session that computed a missing day. A lake that cannot be written (a
//! read-only copy, an S3 prefix without PUT) still answers: the entry is
//! not kept, and a warning says so once. Over raw files there is nothing
//! to key an entry on, so a session computes each view once per range.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use arrow::compute::{cast, take_record_batch};
use arrow::datatypes::{DataType, Date32Type, Schema, SchemaRef};
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::{FileWriter, IpcWriteOptions};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionContext, col, lit};
use datafusion::scalar::ScalarValue;

use super::queries::Query;
use super::tables::LakeTable;
use crate::lake::Lake;

macro_rules! views {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../queries/views/", $name, ".sql")))),*]
    };
}

/// The views: name and SQL text.
pub const VIEWS: &[(&str, &str)] = views![
    "daily_billing",
    "daily_origins",
    "daily_requesters",
    "daily_keys",
    "daily_protocols",
    "hourly_principals",
    "daily_presigned",
    "hourly_requesters",
    "daily_remote_ips",
    "daily_user_agents",
    "daily_referers",
    "daily_errors",
    "hourly_buckets",
    "daily_odd_clients",
    "daily_sigv2",
];

/// Every view, parsed.
///
/// # Errors
///
/// A malformed header (a bug: the views are compiled in).
pub fn all() -> anyhow::Result<Vec<Query>> {
    VIEWS.iter().map(|(n, s)| Query::parse(n, s)).collect()
}

/// Where a lake session keeps the days of its views.
pub struct Store {
    /// The lake whose `_s3logs` folder holds the entries.
    pub lake: Arc<Lake>,
    /// Its logs table, whose files per day key the entries.
    pub logs: Arc<LakeTable>,
    /// What the enrichment functions read ([`crate::enrich::Options::fingerprint`]).
    pub enrichment: String,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("lake", &self.lake.display())
            .finish()
    }
}

/// Warned once per process that entries cannot be written.
static WARNED: AtomicBool = AtomicBool::new(false);

/// A view as a table: its days computed or read back on first use.
pub struct DailyView {
    view: Query,
    schema: SchemaRef,
    store: Option<Arc<Store>>,
    memo: tokio::sync::Mutex<Memo>,
}

impl fmt::Debug for DailyView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DailyView")
            .field("view", &self.view.name)
            .finish()
    }
}

/// What a session holds of a view.
#[derive(Default)]
struct Memo {
    /// Over a lake: each day's rows.
    days: BTreeMap<i32, Arc<[RecordBatch]>>,
    /// Over raw files: the rows of each range asked for.
    ranges: BTreeMap<Range, Arc<[RecordBatch]>>,
}

/// First and last day, inclusive; `None` where open.
type Range = (Option<i32>, Option<i32>);

/// The schema of the records every view reads.
static LOGS: LazyLock<SchemaRef> = LazyLock::new(crate::schema::logs);

impl DailyView {
    /// The view `view`, whose days are kept in `store` when given.
    ///
    /// # Errors
    ///
    /// Its SQL does not plan over the records' schema (a bug: views are
    /// compiled in and tested).
    pub async fn new(view: Query, store: Option<Arc<Store>>) -> Result<DailyView> {
        // Planned over an empty table of the contract's schema, so that
        // naming a view opens nothing; computed rows are cast to it.
        let scratch = SessionContext::new();
        super::utc::register(&scratch);
        crate::enrich::register(&scratch, crate::enrich::Options::default());
        scratch.register_table(
            "logs",
            Arc::new(MemTable::try_new(Arc::clone(&LOGS), vec![vec![]])?),
        )?;
        let planned = scratch.sql(&view.sql).await?;
        let schema: SchemaRef = Arc::new(planned.schema().as_arrow().clone());
        if schema.field_with_name(crate::schema::DATE).is_err() {
            return Err(DataFusionError::Plan(format!(
                "the view {} has no date column",
                view.name
            )));
        }
        Ok(DailyView {
            view,
            schema,
            store,
            memo: tokio::sync::Mutex::new(Memo::default()),
        })
    }

    /// The view's rows for the days `lo` to `hi` (inclusive, open when
    /// `None`).
    async fn rows(
        &self,
        ctx: &SessionContext,
        lo: Option<i32>,
        hi: Option<i32>,
    ) -> Result<Vec<RecordBatch>> {
        let mut memo = self.memo.lock().await;
        let Some(store) = &self.store else {
            if let Some(rows) = memo.ranges.get(&(lo, hi)) {
                return Ok(rows.to_vec());
            }
            let rows = self.compute(ctx, range_filter(lo, hi)).await?;
            memo.ranges.insert((lo, hi), rows.clone().into());
            return Ok(rows);
        };
        let days = store.logs.files_by_day().await?;
        let Some(days) = days else {
            // A file of the logs without a date: nothing to key a day on.
            return self.compute(ctx, range_filter(lo, hi)).await;
        };
        let days_in = (lo.unwrap_or(i32::MIN), hi.unwrap_or(i32::MAX));
        if days_in.0 > days_in.1 {
            return Ok(Vec::new());
        }
        let wanted: Vec<(i32, String)> = days
            .range(days_in.0..=days_in.1)
            .filter(|(d, _)| !memo.days.contains_key(d))
            .map(|(d, files)| (*d, self.key(store, files)))
            .collect();
        let read =
            futures::future::join_all(wanted.iter().map(|(d, key)| self.read(store, *d, key)))
                .await;
        let mut missing = Vec::new();
        for ((day, key), entry) in wanted.into_iter().zip(read) {
            match entry {
                Some(rows) => {
                    memo.days.insert(day, rows.into());
                }
                None => missing.push((day, key)),
            }
        }
        if !missing.is_empty() {
            let days: Vec<i32> = missing.iter().map(|(d, _)| *d).collect();
            let mut rows = by_day(&self.compute(ctx, days_filter(&days)).await?)?;
            for (day, key) in missing {
                let of_day = rows.remove(&day).unwrap_or_default();
                self.write(store, day, &key, &of_day).await;
                memo.days.insert(day, of_day.into());
            }
        }
        Ok(memo
            .days
            .range(days_in.0..=days_in.1)
            .flat_map(|(_, rows)| rows.iter().cloned())
            .collect())
    }

    /// Runs the view's SQL over the records `filter` keeps.
    async fn compute(
        &self,
        ctx: &SessionContext,
        filter: Option<Expr>,
    ) -> Result<Vec<RecordBatch>> {
        let start = std::time::Instant::now();
        let mut df = ctx.sql(&self.view.sql).await?;
        if let Some(f) = filter {
            df = df.filter(f)?;
        }
        let rows = df.collect().await?;
        super::say_time("view", &self.view.name, start);
        rows.into_iter()
            .filter(|b| b.num_rows() > 0)
            .map(|b| conform(&b, &self.schema))
            .collect()
    }

    fn key(&self, store: &Store, files: &str) -> String {
        entry_key(store, &self.view.sql, None, files)
    }

    fn entry_name(&self, day: i32) -> String {
        format!(
            "views/{}/{}.arrow",
            self.view.name,
            crate::civil::date_string(day)
        )
    }

    /// A day's entry, when there is one with this key.
    async fn read(&self, store: &Store, day: i32, key: &str) -> Option<Vec<RecordBatch>> {
        read_entry(store, &self.entry_name(day), key, &self.schema).await
    }

    /// Keeps a day's entry; a lake that cannot be written is warned of once.
    async fn write(&self, store: &Store, day: i32, key: &str, rows: &[RecordBatch]) {
        write_entry(store, &self.entry_name(day), key, &self.schema, rows).await;
    }
}

/// What a day's entry is kept under: s3logs' version, the SQL, its
/// parameters (`name=value` lines) if it takes any, the enrichment data and
/// the day's files.
pub(super) fn entry_key(store: &Store, sql: &str, params: Option<&str>, files: &str) -> String {
    let params = params.map(|p| format!("params:\n{p}")).unwrap_or_default();
    format!(
        "s3logs {}\n{sql}\n{params}enrichment: {}\nfiles:\n{files}",
        env!("CARGO_PKG_VERSION"),
        store.enrichment
    )
}

/// The entry `name` (under `_s3logs/`) with `schema`'s types, when there
/// is one with this key; a torn or unreadable entry is none.
pub(super) async fn read_entry(
    store: &Store,
    name: &str,
    key: &str,
    schema: &SchemaRef,
) -> Option<Vec<RecordBatch>> {
    let bytes = store.lake.read_meta(name).await.ok()??;
    let reader = FileReader::try_new(std::io::Cursor::new(bytes), None).ok()?;
    if reader.schema().metadata().get(KEY).map(String::as_str) != Some(key) {
        return None;
    }
    let mut rows = Vec::new();
    for batch in reader {
        rows.push(conform(&batch.ok()?, schema).ok()?);
    }
    Some(rows)
}

/// Keeps the entry `name` (under `_s3logs/`) of `rows` under `key`; a lake
/// that cannot be written is warned of once.
pub(super) async fn write_entry(
    store: &Store,
    name: &str,
    key: &str,
    schema: &SchemaRef,
    rows: &[RecordBatch],
) {
    let written = async {
        let meta = std::collections::HashMap::from([(KEY.to_string(), key.to_string())]);
        let schema = Schema::clone(schema).with_metadata(meta);
        let options = IpcWriteOptions::default()
            .try_with_compression(Some(arrow::ipc::CompressionType::ZSTD))?;
        let mut w = FileWriter::try_new_with_options(Vec::new(), &schema, options)?;
        for b in rows {
            w.write(&packed(b)?)?;
        }
        w.finish()?;
        let bytes = w.into_inner()?;
        store.lake.write_cache(name, bytes).await
    };
    if let Err(e) = written.await
        && !WARNED.swap(true, Ordering::Relaxed)
    {
        eprintln!(
            "s3logs: warning: the kept days of {} are not written ({e:#}); queries compute them each time",
            store.lake.display()
        );
    }
}

/// The schema metadata that holds an entry's key.
const KEY: &str = "s3logs.view.key";

/// `batch` with each string or binary view column in buffers of its own.
/// A `take` (the split of a view's rows by day) keeps the whole buffers of
/// its input, and the IPC writer writes every buffer a column holds: a
/// day's entry would otherwise carry the text of every day.
fn packed(batch: &RecordBatch) -> Result<RecordBatch> {
    let columns = batch
        .columns()
        .iter()
        .map(|c| match c.data_type() {
            DataType::Utf8View => Arc::new(c.as_string_view().gc()) as ArrayRef,
            DataType::BinaryView => Arc::new(c.as_binary_view().gc()) as ArrayRef,
            _ => Arc::clone(c),
        })
        .collect();
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

/// `batch` with `schema`'s types (Utf8 for the Utf8View a Parquet scan
/// gives, say).
pub(super) fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                Ok(Arc::clone(c))
            } else {
                cast(c, f.data_type())
            }
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// The rows of `rows` by their date, in one pass over them.
fn by_day(rows: &[RecordBatch]) -> Result<BTreeMap<i32, Vec<RecordBatch>>> {
    let mut out: BTreeMap<i32, Vec<RecordBatch>> = BTreeMap::new();
    for b in rows {
        let dates = b
            .column_by_name(crate::schema::DATE)
            .and_then(|c| c.as_primitive_opt::<Date32Type>())
            .ok_or_else(|| DataFusionError::Internal("a view's date is not a date".into()))?;
        let mut at: BTreeMap<i32, Vec<u32>> = BTreeMap::new();
        for (i, d) in dates.iter().enumerate() {
            if let Some(d) = d {
                at.entry(d).or_default().push(i as u32);
            }
        }
        for (day, indices) in at {
            let taken = take_record_batch(b, &UInt32Array::from(indices))?;
            out.entry(day).or_default().push(taken);
        }
    }
    Ok(out)
}

fn date_lit(day: i32) -> Expr {
    lit(ScalarValue::Date32(Some(day)))
}

/// `date` from `lo` to `hi`, or nothing for every day.
fn range_filter(lo: Option<i32>, hi: Option<i32>) -> Option<Expr> {
    let lo = lo.map(|d| col(crate::schema::DATE).gt_eq(date_lit(d)));
    let hi = hi.map(|d| col(crate::schema::DATE).lt_eq(date_lit(d)));
    match (lo, hi) {
        (Some(a), Some(b)) => Some(a.and(b)),
        (a, b) => a.or(b),
    }
}

/// `date` in one of the runs of consecutive days of `days` (sorted), which
/// the logs table prunes its files by.
fn days_filter(days: &[i32]) -> Option<Expr> {
    let mut runs: Vec<(i32, i32)> = Vec::new();
    for &d in days {
        match runs.last_mut() {
            Some((_, hi)) if *hi + 1 == d => *hi = d,
            _ => runs.push((d, d)),
        }
    }
    runs.into_iter()
        .map(|(lo, hi)| col(crate::schema::DATE).between(date_lit(lo), date_lit(hi)))
        .reduce(Expr::or)
}

/// The range of days a query's filters allow (`date BETWEEN a AND b`,
/// `date >= a`, …), open where they say nothing.
fn bounds(filters: &[Expr]) -> (Option<i32>, Option<i32>) {
    let mut lows = Vec::new();
    let mut highs = Vec::new();
    for f in filters {
        match f {
            Expr::Between(b) if !b.negated && is_date(&b.expr) => {
                if let Some(d) = day_of(&b.low) {
                    lows.push(d);
                }
                if let Some(d) = day_of(&b.high) {
                    highs.push(d);
                }
            }
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                let (op, value) = if is_date(left) {
                    (*op, right)
                } else if is_date(right) {
                    match op.swap() {
                        Some(op) => (op, left),
                        None => continue,
                    }
                } else {
                    continue;
                };
                let Some(d) = day_of(value) else { continue };
                match op {
                    Operator::Eq => {
                        lows.push(d);
                        highs.push(d);
                    }
                    Operator::GtEq => lows.push(d),
                    Operator::Gt => lows.push(d.saturating_add(1)),
                    Operator::LtEq => highs.push(d),
                    Operator::Lt => highs.push(d.saturating_sub(1)),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    (lows.into_iter().max(), highs.into_iter().min())
}

fn is_date(e: &Expr) -> bool {
    matches!(e, Expr::Column(c) if c.name == crate::schema::DATE)
}

fn day_of(e: &Expr) -> Option<i32> {
    match e {
        Expr::Literal(ScalarValue::Date32(Some(d)), _) => Some(*d),
        _ => None,
    }
}

#[async_trait]
impl TableProvider for DailyView {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Read for the range of days, and applied again above.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let session = state
            .as_any()
            .downcast_ref::<SessionState>()
            .ok_or_else(|| DataFusionError::Internal("a view scanned outside a session".into()))?;
        let ctx = SessionContext::new_with_state(session.clone());
        let (lo, hi) = bounds(filters);
        let rows = self.rows(&ctx, lo, hi).await?;
        let partitions = super::round_robin(rows, state.config().target_partitions());
        MemTable::try_new(Arc::clone(&self.schema), partitions)?
            .scan(state, projection, filters, limit)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> i32 {
        crate::civil::parse_date(text).expect("a date")
    }

    #[test]
    fn an_entry_keeps_only_the_text_of_its_own_rows() {
        use arrow::array::StringViewArray;
        let long: Vec<String> = (0..1000).map(|i| format!("{i:>40}")).collect();
        let all = StringViewArray::from_iter_values(&long);
        let schema = Arc::new(Schema::new(vec![arrow::datatypes::Field::new(
            "t",
            DataType::Utf8View,
            false,
        )]));
        let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(all)]).expect("batch");
        let one_day = take_record_batch(&batch, &UInt32Array::from(vec![7, 8])).expect("take");
        let text = |b: &RecordBatch| -> usize {
            let v = b.column(0).as_string_view();
            v.data_buffers().iter().map(|b| b.len()).sum()
        };
        assert!(text(&one_day) >= 40_000, "take keeps the input's buffers");
        let kept = packed(&one_day).expect("packed");
        assert_eq!(text(&kept), 80);
        assert_eq!(kept.column(0).as_string_view().value(1), long[8]);
    }

    #[test]
    fn bounds_come_from_the_date_filters() {
        let d = |t| date_lit(day(t));
        let date = || col(crate::schema::DATE);
        let filters = [
            date().between(d("2024-03-01"), d("2024-03-09")),
            date().gt(d("2024-03-02")),
            d("2024-03-08").gt_eq(date()),
            col("bucket").eq(lit("b")),
        ];
        assert_eq!(
            bounds(&filters),
            (Some(day("2024-03-03")), Some(day("2024-03-08")))
        );
        assert_eq!(bounds(&[col("bucket").eq(lit("b"))]), (None, None));
        let negated = Expr::Between(datafusion::logical_expr::Between::new(
            Box::new(date()),
            true,
            Box::new(d("2024-03-01")),
            Box::new(d("2024-03-09")),
        ));
        assert_eq!(bounds(&[negated]), (None, None));
    }

    #[test]
    fn missing_days_are_read_as_runs() {
        let f = days_filter(&[10, 11, 12, 20]).expect("a filter");
        let want = col("date")
            .between(date_lit(10), date_lit(12))
            .or(col("date").between(date_lit(20), date_lit(20)));
        assert_eq!(f, want);
        assert!(days_filter(&[]).is_none());
    }

    #[tokio::test]
    async fn every_view_groups_by_date_over_the_records() {
        for view in all().expect("headers parse") {
            assert!(!view.title.is_empty() && !view.description.is_empty());
            assert!(view.params.is_empty(), "{} takes no parameters", view.name);
            let v = DailyView::new(view, None).await.expect("plans");
            assert_eq!(v.schema.field(0).name(), crate::schema::DATE);
        }
    }
}
