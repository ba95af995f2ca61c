//! Lake upkeep: compaction (merge small files per day, drop exact duplicate
//! records), vacuum, and status.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use anyhow::{Context, Result};
use arrow::array::{AsArray, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::datatypes::Int64Type;
use arrow::row::{RowConverter, SortField};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, Remove, Transaction};
use deltalake::operations::vacuum::VacuumMode;
use deltalake::protocol::{DeltaOperation, SaveMode};
use serde::Serialize;

use super::{APP_ID, Lake, Table, write_parquet};
use crate::schema;

/// What a compaction did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CompactReport {
    /// Days rewritten.
    pub days: Vec<String>,
    /// Files before.
    pub files_before: usize,
    /// Files after.
    pub files_after: usize,
    /// Exact duplicate records dropped.
    pub duplicates_dropped: u64,
    /// Version of the `logs` table after the commit (unchanged when there
    /// was nothing to do).
    pub table_version: i64,
}

/// Sorts a day's records and drops exact duplicates: records equal in all
/// 28 log columns (never on `request_id` alone: a multi-object delete and a
/// copy share one). The first by `(request_time, source_file, source_line)`
/// is kept.
pub fn dedupe_day(batches: &[RecordBatch]) -> Result<(Vec<RecordBatch>, u64)> {
    if batches.is_empty() {
        return Ok((Vec::new(), 0));
    }
    let sorted = crate::ingest::sort_records(batches)?;
    let log_cols: Vec<_> = (0..schema::LOG_COLUMNS.len())
        .map(|i| std::sync::Arc::clone(sorted.column(i)))
        .collect();
    let converter = RowConverter::new(
        log_cols
            .iter()
            .map(|c| SortField::new(c.data_type().clone()))
            .collect(),
    )?;
    let rows = converter.convert_columns(&log_cols)?;
    let mut seen = HashSet::with_capacity(rows.num_rows());
    let keep: BooleanArray = (0..rows.num_rows())
        .map(|i| Some(seen.insert(rows.row(i).as_ref().to_vec())))
        .collect();
    let kept = filter_record_batch(&sorted, &keep)?;
    let dropped = (sorted.num_rows() - kept.num_rows()) as u64;
    Ok((vec![kept], dropped))
}

impl Lake {
    /// Rewrites every day (on or after `since`, a `YYYY-MM-DD`) that has more
    /// than one file or holds duplicates into files of about `target_bytes`,
    /// sorted by `request_time`, without exact duplicates; one atomic commit.
    pub async fn compact(&self, since: Option<&str>, target_bytes: u64) -> Result<CompactReport> {
        let mut report = CompactReport::default();
        let Some(mut table) = self.open(Table::Logs).await? else {
            return Ok(report);
        };
        let files = Self::files(&table).await?;
        let mut by_day: BTreeMap<String, Vec<super::FileInfo>> = BTreeMap::new();
        for f in files {
            let day = f
                .partition
                .get(schema::DATE)
                .cloned()
                .flatten()
                .unwrap_or_default();
            if since.is_none_or(|s| day.as_str() >= s) {
                by_day.entry(day).or_default().push(f);
            }
        }
        let version = table.version().unwrap_or(0) as i64;
        let mut adds: Vec<Add> = Vec::new();
        let mut removes: Vec<Remove> = Vec::new();
        let dir = self.table_dir(Table::Logs);
        for (day, files) in &by_day {
            let mut batches = Vec::new();
            for f in files {
                batches.extend(self.read_file(Table::Logs, &f.path).await?);
            }
            let (kept, dropped) = dedupe_day(&batches)?;
            if files.len() <= 1 && dropped == 0 {
                continue;
            }
            let bytes: i64 = files.iter().map(|f| f.size).sum();
            let rows: usize = kept.iter().map(RecordBatch::num_rows).sum();
            let per_file = ((rows as f64) * (target_bytes as f64) / (bytes.max(1) as f64))
                .ceil()
                .max(1.0) as usize;
            let Some(all) = kept.first() else { continue };
            let mut start = 0;
            let mut n = 0;
            while start < rows {
                let len = per_file.min(rows - start);
                let part = all.slice(start, len);
                let rel = format!(
                    "{}={day}/compact-v{:06}-{n:05}.zstd.parquet",
                    schema::DATE,
                    version + 1
                );
                let w = write_parquet(
                    &dir.join(&rel),
                    schema::records(),
                    std::slice::from_ref(&part),
                )?;
                let times = part
                    .column(2)
                    .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
                let range = times
                    .values()
                    .first()
                    .copied()
                    .zip(times.values().last().copied());
                let day_num = crate::ingest::day_number(day)?;
                adds.push(crate::ingest::add_action(
                    &rel,
                    w.size,
                    w.rows,
                    Some(day_num),
                    range,
                ));
                start += len;
                n += 1;
            }
            for f in files {
                removes.push(Remove {
                    path: f.path.clone(),
                    deletion_timestamp: Some(crate::ingest::now_micros() / 1000),
                    data_change: true,
                    extended_file_metadata: Some(true),
                    partition_values: Some(f.partition.clone().into_iter().collect()),
                    size: Some(f.size),
                    ..Remove::default()
                });
            }
            report.days.push(day.clone());
            report.files_before += files.len();
            report.files_after += n;
            report.duplicates_dropped += dropped;
        }
        if report.days.is_empty() {
            report.table_version = version;
            return Ok(report);
        }
        self.publish(&BTreeMap::from([(Table::Logs, adds.clone())]))
            .await?;
        let seq = Self::committed_seq(&table).await?;
        let mut actions: Vec<Action> = removes.into_iter().map(Action::Remove).collect();
        actions.extend(adds.into_iter().map(Action::Add));
        let props = CommitProperties::default()
            .with_application_transaction(Transaction::new(APP_ID, seq))
            .with_metadata([(
                "s3logs.kind".to_string(),
                serde_json::Value::from("compact"),
            )]);
        let state = table.snapshot().context("reading the table state")?;
        let done = CommitBuilder::from(props)
            .with_actions(actions)
            .build(
                Some(state),
                table.log_store(),
                DeltaOperation::Write {
                    mode: SaveMode::Overwrite,
                    partition_by: Some(vec![schema::DATE.to_string()]),
                    predicate: Some(format!(
                        "{} IN ({})",
                        schema::DATE,
                        report
                            .days
                            .iter()
                            .map(|d| format!("'{d}'"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                },
            )
            .await
            .context("committing the compaction")?;
        report.table_version = done.version() as i64;
        table
            .update_state()
            .await
            .context("refreshing the table state")?;
        Ok(report)
    }

    /// Deletes files no longer referenced by any table (replaced by
    /// compaction, or left by a run that crashed before its manifest) and
    /// older than `retain`. Returns the files deleted per table.
    pub async fn vacuum(&self, retain: Duration) -> Result<BTreeMap<&'static str, usize>> {
        let mut out = BTreeMap::new();
        for which in Table::ALL {
            let Some(table) = self.open(which).await? else {
                continue;
            };
            let (_, metrics) = table
                .vacuum()
                .with_retention_period(chrono::Duration::seconds(retain.as_secs() as i64))
                .with_enforce_retention_duration(false)
                .with_mode(VacuumMode::Full)
                .await
                .with_context(|| format!("vacuuming the {} table", which.name()))?;
            out.insert(which.name(), metrics.files_deleted.len());
        }
        Ok(out)
    }

    /// What the lake holds.
    pub async fn status(&self) -> Result<Status> {
        let mut st = Status::default();
        if let Some(t) = self.open(Table::Logs).await? {
            st.logs_version = t.version().map(|v| v as i64);
            for f in Self::files(&t).await? {
                let day = f
                    .partition
                    .get(schema::DATE)
                    .cloned()
                    .flatten()
                    .unwrap_or_default();
                let d = st.days.entry(day).or_default();
                d.files += 1;
                d.rows += f.rows.unwrap_or(0);
                d.bytes += f.size;
            }
        }
        for b in self.read_all(Table::Rejects).await? {
            let reason = b.column(3).as_string::<i32>();
            for i in 0..b.num_rows() {
                *st.rejects.entry(reason.value(i).to_string()).or_default() += 1;
            }
        }
        let mut runs: BTreeMap<String, RunStatus> = BTreeMap::new();
        for b in self.read_all(Table::Ingested).await? {
            st.ledger_objects += b.num_rows() as u64;
            let records = b.column(4).as_primitive::<Int64Type>();
            let rejects = b.column(5).as_primitive::<Int64Type>();
            let run = b.column(8).as_string::<i32>();
            let at = b
                .column(9)
                .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
            for i in 0..b.num_rows() {
                let r = runs.entry(run.value(i).to_string()).or_default();
                r.run_id = run.value(i).to_string();
                r.objects += 1;
                r.records += records.value(i);
                r.rejects += rejects.value(i);
                r.ingested_at = crate::ingest::iso_seconds(at.value(i));
            }
        }
        st.last_runs = runs.into_values().rev().take(10).collect();
        Ok(st)
    }
}

/// One day of the `logs` table.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DayStatus {
    /// Data files.
    pub files: u64,
    /// Rows, from file statistics.
    pub rows: i64,
    /// Bytes on disk.
    pub bytes: i64,
}

/// One ingest run, from the ledger.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunStatus {
    /// Its id.
    pub run_id: String,
    /// Objects it ingested.
    pub objects: u64,
    /// Records.
    pub records: i64,
    /// Rejected lines.
    pub rejects: i64,
    /// When (UTC).
    pub ingested_at: String,
}

/// What `s3logs status` reports.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Status {
    /// Version of the `logs` table.
    pub logs_version: Option<i64>,
    /// Files, rows and bytes per day.
    pub days: BTreeMap<String, DayStatus>,
    /// Rejected lines by reason.
    pub rejects: BTreeMap<String, u64>,
    /// The latest runs, newest first.
    pub last_runs: Vec<RunStatus>,
    /// Objects in the ledger.
    pub ledger_objects: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::LogBatchBuilder;
    use crate::parse::parse_line;

    #[test]
    fn exact_duplicates_are_dropped_but_shared_request_ids_are_not() {
        let a = br#"o b [06/Feb/2019:00:00:38 +0000] ip r ID1 REST.POST.MULTI_OBJECT_DELETE - "POST /b?delete HTTP/1.1" 200 - 1 - 1 1 "-" "ua""#;
        let b = br#"o b [06/Feb/2019:00:00:38 +0000] ip r ID1 BATCH.DELETE.OBJECT k1 - 204 - - 1 - - - -"#;
        let mut builder = LogBatchBuilder::default();
        builder.append(&parse_line(a).expect("a"), "f", 1);
        builder.append(&parse_line(b).expect("b"), "f", 2);
        builder.append(&parse_line(b).expect("b"), "g", 7);
        let (kept, dropped) = dedupe_day(&[builder.finish()]).expect("dedupe");
        assert_eq!(dropped, 1);
        assert_eq!(kept[0].num_rows(), 2);
    }
}
