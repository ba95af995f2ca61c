//! Lake upkeep: compaction (merge small files per day, drop exact duplicate
//! records), vacuum, and status.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use anyhow::{Context, Result};
use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::datatypes::Int64Type;
use arrow::row::{RowConverter, SortField};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, Remove, Transaction};
use deltalake::operations::vacuum::VacuumMode;
use deltalake::protocol::{DeltaOperation, SaveMode};
use serde::Serialize;

use super::{Lake, Table, Writer, sort_records, write_parquet};
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
    /// Attempts it took (more than one when a concurrent commit conflicted).
    pub attempts: u32,
}

/// How many times a compaction is tried when concurrent commits conflict.
pub const COMPACT_ATTEMPTS: u32 = 5;

/// Whether a commit failed because a concurrent commit conflicted with it
/// (Delta's conflict checker), so doing it again from the new state may
/// succeed.
pub fn is_conflict(e: &anyhow::Error) -> bool {
    use deltalake::kernel::transaction::TransactionError;
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<deltalake::DeltaTableError>(),
            Some(deltalake::DeltaTableError::Transaction {
                source: TransactionError::CommitConflict(_)
                    | TransactionError::MaxCommitAttempts(_)
            }) | Some(deltalake::DeltaTableError::VersionAlreadyExists(_))
        ) || matches!(
            c.downcast_ref::<TransactionError>(),
            Some(TransactionError::CommitConflict(_) | TransactionError::MaxCommitAttempts(_))
        )
    })
}

/// Sorts a day's records and drops the ones delivered twice.
///
/// A record delivered again is the same whole line in another log object
/// (or the same line of the same object, read twice). Identical lines
/// inside one object are separate entries: a multi-object delete that names
/// a key twice writes two equal `BATCH.DELETE.OBJECT` lines. So among the
/// records equal in all 28 log columns (never on `request_id` alone: a
/// multi-object delete and a copy share one), the object holding the most
/// distinct lines of them keeps those lines, and the others are dropped.
/// Sorted by `(request_time, source_file, source_line)`, the first such
/// object and the first row of each of its lines are kept.
pub fn dedupe_day(batches: &[RecordBatch]) -> Result<(Vec<RecordBatch>, u64)> {
    if batches.is_empty() {
        return Ok((Vec::new(), 0));
    }
    let sorted = sort_records(batches)?;
    let log_cols: Vec<_> = (0..schema::Column::LOG_COUNT)
        .map(|i| std::sync::Arc::clone(sorted.column(i)))
        .collect();
    let converter = RowConverter::new(
        log_cols
            .iter()
            .map(|c| SortField::new(c.data_type().clone()))
            .collect(),
    )?;
    let rows = converter.convert_columns(&log_cols)?;
    let files = sorted
        .column(sorted.schema().index_of(schema::SOURCE_FILE)?)
        .as_string::<i32>();
    let lines = sorted
        .column(sorted.schema().index_of(schema::SOURCE_LINE)?)
        .as_primitive::<Int64Type>();
    // Rows of each distinct record, in sorted order.
    let mut groups: HashMap<Vec<u8>, Vec<usize>> = HashMap::with_capacity(rows.num_rows());
    for i in 0..rows.num_rows() {
        groups
            .entry(rows.row(i).as_ref().to_vec())
            .or_default()
            .push(i);
    }
    let mut keep = vec![true; rows.num_rows()];
    for members in groups.values().filter(|m| m.len() > 1) {
        // Within a record the rows sort by object, then line.
        let object = |i: usize| (!files.is_null(i)).then(|| files.value(i));
        let mut best: (usize, Option<&str>) = (0, None);
        let mut at = 0;
        while at < members.len() {
            let o = object(members[at]);
            let mut distinct = 0;
            let mut last = None;
            while at < members.len() && object(members[at]) == o {
                let line = lines.value(members[at]);
                distinct += usize::from(last != Some(line));
                last = Some(line);
                at += 1;
            }
            if distinct > best.0 {
                best = (distinct, o);
            }
        }
        let mut last = None;
        for &i in members {
            let line = lines.value(i);
            keep[i] = object(i) == best.1 && last != Some(line);
            if keep[i] {
                last = Some(line);
            }
        }
    }
    let kept = filter_record_batch(&sorted, &BooleanArray::from(keep))?;
    let dropped = (sorted.num_rows() - kept.num_rows()) as u64;
    Ok((vec![kept], dropped))
}

impl Lake {
    /// Rewrites every day (on or after `since`, a `YYYY-MM-DD`) that has more
    /// than one file or holds duplicates into files of about `target_bytes`,
    /// sorted by `request_time`, without exact duplicates; one atomic commit.
    pub async fn compact(&self, since: Option<&str>, target_bytes: u64) -> Result<CompactReport> {
        self.compact_days(|day, _| since.is_none_or(|s| day >= s), target_bytes)
            .await
    }

    /// How many writes (runs, compactions) made a day's files: a run that
    /// wrote a day of more than one file's rows, or lakes written before
    /// a run appended its hand-overs of a day to one file, wrote one group
    /// of files (`part-000003-00000`, `part-000003-00001`, …), as a
    /// compaction that wrote several 128 MiB files did. An hourly cron adds
    /// a write a day each run; that, not the file count of one big run, is
    /// what leaves a day fragmented.
    pub fn writes(files: &[super::FileInfo]) -> usize {
        files
            .iter()
            .map(|f| {
                let name = f.path.rsplit('/').next().unwrap_or(&f.path);
                name.rsplit_once('-').map_or(name, |(group, _)| group)
            })
            .collect::<BTreeSet<&str>>()
            .len()
    }

    /// [`Lake::compact`] of the days `pick` chooses, given each day's
    /// `YYYY-MM-DD` and its files. Needs the lock.
    ///
    /// Shards may commit while it works: their appends never conflict with
    /// it, but a compaction whose days gained a file meanwhile (or that
    /// another compaction beat to the same files) conflicts, and is done
    /// again from the new state, up to [`COMPACT_ATTEMPTS`] times. The files
    /// of a compaction that lost are never referenced; `vacuum` frees them.
    pub async fn compact_days(
        &self,
        pick: impl Fn(&str, &[super::FileInfo]) -> bool,
        target_bytes: u64,
    ) -> Result<CompactReport> {
        let mut attempt = 1;
        loop {
            match self.compact_once(&pick, target_bytes).await {
                Err(e) if attempt < COMPACT_ATTEMPTS && is_conflict(&e) => {
                    eprintln!(
                        "s3logs: the compaction of {} conflicted with another commit; \
                         doing it again (attempt {})",
                        self.display(),
                        attempt + 1
                    );
                    attempt += 1;
                }
                Err(e) => return Err(e),
                Ok(mut report) => {
                    report.attempts = attempt;
                    return Ok(report);
                }
            }
        }
    }

    async fn compact_once(
        &self,
        pick: &impl Fn(&str, &[super::FileInfo]) -> bool,
        target_bytes: u64,
    ) -> Result<CompactReport> {
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
            by_day.entry(day).or_default().push(f);
        }
        by_day.retain(|day, files| pick(day, files));
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
            // A day rewritten as it was is a change of layout, not of data
            // (Delta's `dataChange: false`, as OPTIMIZE writes it): readers
            // of the table's changes skip it, and a shard's append that read
            // the old files does not conflict with it. Dropping duplicates
            // does change the data.
            let changes_data = dropped > 0;
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
                    "{}={day}/compact-v{:06}-{}{n:05}.zstd.parquet",
                    schema::DATE,
                    version + 1,
                    self.shard.tag()
                );
                let w = write_parquet(
                    &dir.join(&rel),
                    schema::records(),
                    std::slice::from_ref(&part),
                )?;
                let times = part
                    .column(schema::Column::RequestTime.index())
                    .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
                let range = times
                    .values()
                    .first()
                    .copied()
                    .zip(times.values().last().copied());
                let day_num =
                    crate::civil::parse_date(day).with_context(|| format!("the date {day:?}"))?;
                let mut add = super::add_action(&rel, w.size, w.rows, Some(day_num), range);
                add.data_change = changes_data;
                adds.push(add);
                start += len;
                n += 1;
            }
            for f in files {
                let mut remove = super::remove_action(f);
                remove.data_change = changes_data;
                removes.push(remove);
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
        let app = self.shard.app_id();
        let seq = Self::committed_seq(&table, &app).await?;
        let mut actions: Vec<Action> = removes.into_iter().map(Action::Remove).collect();
        actions.extend(adds.into_iter().map(Action::Add));
        let props = CommitProperties::default()
            .with_application_transaction(Transaction::new(app, seq))
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
        self.record_commit(done.metrics.num_retries);
        report.table_version = done.version() as i64;
        table
            .update_state()
            .await
            .context("refreshing the table state")?;
        Ok(report)
    }

    /// Every committed file of `table` holding rows of `objects` (by
    /// `source_file`, or the ledger's `object`), removed, and rewritten
    /// without those rows, its name marked with `tag`: the actions of one
    /// commit. For objects read again, and for expiry.
    pub async fn without_objects(
        &self,
        table: &deltalake::DeltaTable,
        which: Table,
        objects: &BTreeSet<String>,
        tag: &str,
    ) -> Result<(Vec<deltalake::kernel::Remove>, Vec<Add>)> {
        let (schema, name_column) = match which {
            Table::Logs => (schema::records(), schema::SOURCE_FILE),
            Table::Rejects => (schema::rejects(), schema::SOURCE_FILE),
            Table::Ingested => (super::ledger::schema(), "object"),
        };
        let source_col = schema.index_of(name_column)?;
        let dir = self.table_dir(which);
        let (mut removes, mut adds) = (Vec::new(), Vec::new());
        for f in Lake::files(table).await? {
            let batches = self.read_file(which, &f.path).await?;
            let mut kept = Vec::new();
            let mut hit = false;
            for b in &batches {
                let src = b.column(source_col).as_string::<i32>();
                let mask = BooleanArray::from_iter(
                    (0..b.num_rows())
                        .map(|i| Some(src.is_null(i) || !objects.contains(src.value(i)))),
                );
                let keep = filter_record_batch(b, &mask)?;
                hit |= keep.num_rows() != b.num_rows();
                kept.push(keep);
            }
            if !hit {
                continue;
            }
            removes.push(super::remove_action(&f));
            let rows: usize = kept.iter().map(RecordBatch::num_rows).sum();
            if rows == 0 {
                continue;
            }
            let rel = f
                .path
                .replace(".zstd.parquet", &format!("-{tag}.zstd.parquet"));
            let w = write_parquet(&dir.join(&rel), std::sync::Arc::clone(&schema), &kept)?;
            let day = match f.partition.get(schema::DATE).cloned().flatten() {
                Some(d) => Some(
                    crate::civil::parse_date(&d)
                        .with_context(|| format!("the date {d:?} of {}", f.path))?,
                ),
                None => None,
            };
            adds.push(super::add_action(&rel, w.size, w.rows, day, None));
        }
        Ok((removes, adds))
    }

    /// Removes the days of `logs` before `cutoff` (`YYYY-MM-DD`), and the
    /// rejected lines of the objects whose records all lie before it (or,
    /// holding none, that were ingested before it): one commit to each
    /// table. The ledger keeps every object, so an expired object is never
    /// ingested again. `vacuum` then frees the files. Needs the lock.
    ///
    /// # Errors
    ///
    /// The tables cannot be read or committed.
    pub async fn expire(&self, cutoff: &str) -> Result<ExpireReport> {
        let mut report = ExpireReport::default();
        let Some(mut logs) = self.open(Table::Logs).await? else {
            return Ok(report);
        };
        let cutoff_day =
            crate::civil::parse_date(cutoff).with_context(|| format!("the date {cutoff:?}"))?;
        let cutoff_micros = i64::from(cutoff_day) * crate::civil::MICROS_PER_DAY;
        let app = self.shard.app_id();
        let seq = Self::committed_seq(&logs, &app).await?;
        let mut removes = Vec::new();
        let mut days = BTreeSet::new();
        for f in Self::files(&logs).await? {
            if let Some(day) = f.partition.get(schema::DATE).cloned().flatten()
                && day.as_str() < cutoff
            {
                report.records_removed += f.rows.unwrap_or(0);
                days.insert(day);
                removes.push(super::remove_action(&f));
            }
        }
        report.files_removed = removes.len();
        report.days = days.into_iter().collect();
        if !removes.is_empty() {
            let predicate = format!("{} < '{cutoff}'", schema::DATE);
            report.logs_version = Some(
                commit_upkeep(
                    &mut logs,
                    &app,
                    seq,
                    removes,
                    Vec::new(),
                    predicate,
                    "expire",
                )
                .await?,
            );
        }
        // The rejects of objects wholly before the cutoff.
        let mut old = BTreeSet::new();
        for b in self.read_all(Table::Ingested).await? {
            let object = schema::named(&b, "object")?.as_string::<i32>();
            let last = schema::named(&b, "last_request_time")?
                .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
            let at = schema::named(&b, "ingested_at")?
                .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
            for i in 0..b.num_rows() {
                let when = if last.is_null(i) {
                    at.value(i)
                } else {
                    last.value(i)
                };
                if when < cutoff_micros {
                    old.insert(object.value(i).to_string());
                }
            }
        }
        if let Some(mut rejects) = self.open(Table::Rejects).await?
            && !old.is_empty()
        {
            let (gone, added) = self
                .without_objects(&rejects, Table::Rejects, &old, &format!("e{cutoff}"))
                .await?;
            if !gone.is_empty() {
                self.publish(&BTreeMap::from([(Table::Rejects, added.clone())]))
                    .await?;
                let before: i64 = Self::files(&rejects)
                    .await?
                    .iter()
                    .filter_map(|f| f.rows)
                    .sum();
                let seq = Self::committed_seq(&rejects, &app).await?;
                commit_upkeep(
                    &mut rejects,
                    &app,
                    seq,
                    gone,
                    added,
                    String::new(),
                    "expire",
                )
                .await?;
                let after: i64 = Self::files(&rejects)
                    .await?
                    .iter()
                    .filter_map(|f| f.rows)
                    .sum();
                report.rejects_removed = before - after;
            }
        }
        report.kept_removed = self.remove_kept_before(cutoff_day).await?;
        Ok(report)
    }

    /// Removes the kept days of views and queries (`_s3logs/views/` and
    /// `_s3logs/queries/`, named `DAY.arrow`) of days before `cutoff`:
    /// their aggregates name requesters, addresses and keys, so what
    /// `expire` takes out of the tables must not live on in them. A later
    /// report over those days (there are none left) would only miss them.
    /// Returns how many were removed.
    ///
    /// # Errors
    ///
    /// A listing or a removal failed.
    pub async fn remove_kept_before(&self, cutoff: i32) -> Result<usize> {
        let old = |name: &str| {
            name.get(..10)
                .and_then(crate::civil::parse_date)
                .is_some_and(|day| day < cutoff)
        };
        let mut removed = 0;
        if let Some(remote) = &self.remote {
            for dir in ["views", "queries"] {
                for key in remote.meta_keys_under(dir).await? {
                    if key.filename().is_some_and(old) {
                        remote.delete(&key).await?;
                        removed += 1;
                    }
                }
            }
            return Ok(removed);
        }
        let mut todo: Vec<std::path::PathBuf> = ["views", "queries"]
            .iter()
            .map(|d| self.meta_dir().join(d))
            .collect();
        while let Some(dir) = todo.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
            };
            for entry in entries {
                let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
                let path = entry.path();
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    todo.push(path);
                } else if entry.file_name().to_str().is_some_and(old) {
                    std::fs::remove_file(&path)
                        .with_context(|| format!("removing {}", path.display()))?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
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

    /// Every file the tables name that is missing, or not of the size
    /// their commits recorded: `table/path: what is wrong`. Row counts come
    /// from the commits' statistics, so a file deleted from under the lake
    /// still counts until a query reads it; this looks at every file.
    ///
    /// # Errors
    ///
    /// A table cannot be opened or a lookup failed (other than "not found").
    pub async fn verify(&self) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        for which in Table::ALL {
            let Some(table) = self.open(which).await? else {
                continue;
            };
            for f in Self::files(&table).await? {
                let rel = format!("{}/{}", which.name(), f.path);
                let size = match &self.remote {
                    Some(r) => r.size_of(&rel).await?,
                    None => match std::fs::metadata(self.table_dir(which).join(&f.path)) {
                        Ok(m) => Some(m.len()),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                        Err(e) => return Err(e).with_context(|| format!("looking up {rel}")),
                    },
                };
                match size {
                    None => problems.push(format!("{rel}: missing")),
                    Some(n) if n as i64 != f.size => problems.push(format!(
                        "{rel}: {n} bytes, but the table recorded {}",
                        f.size
                    )),
                    Some(_) => {}
                }
            }
        }
        Ok(problems)
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
            let reason = schema::named(&b, "reason")?.as_string::<i32>();
            for i in 0..b.num_rows() {
                *st.rejects.entry(reason.value(i).to_string()).or_default() += 1;
            }
        }
        let mut runs: BTreeMap<String, RunStatus> = BTreeMap::new();
        for b in self.read_all(Table::Ingested).await? {
            st.ledger_objects += b.num_rows() as u64;
            let records = schema::named(&b, "records")?.as_primitive::<Int64Type>();
            let rejects = schema::named(&b, "rejects")?.as_primitive::<Int64Type>();
            let run = schema::named(&b, "run_id")?.as_string::<i32>();
            let at = schema::named(&b, "ingested_at")?
                .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
            for i in 0..b.num_rows() {
                let r = runs.entry(run.value(i).to_string()).or_default();
                r.run_id = run.value(i).to_string();
                r.objects += 1;
                r.records += records.value(i);
                r.rejects += rejects.value(i);
                r.ingested_at = crate::civil::iso_seconds(at.value(i));
            }
        }
        // Newest first; run ids break ties (runs of shards end together).
        let mut runs: Vec<RunStatus> = runs.into_values().collect();
        runs.sort_by(|a, b| (&b.ingested_at, &b.run_id).cmp(&(&a.ingested_at, &a.run_id)));
        // The last run of each shard, from its run ids (`run-s2of4-000003`).
        let mut shards: BTreeMap<super::Shard, RunStatus> = BTreeMap::new();
        for r in &runs {
            if let Some(shard) = shard_of_run(&r.run_id) {
                shards.entry(shard).or_insert_with(|| r.clone());
            }
        }
        st.to_retry = super::retry::RetryList::read(self).await?.objects;
        for shard in shards.keys() {
            let list = super::retry::RetryList::read_of(self, Some(*shard)).await?;
            st.to_retry.extend(list.objects);
        }
        st.shards = shards
            .into_iter()
            .map(|(s, run)| ShardStatus {
                shard: s.to_string(),
                last_run: run,
            })
            .collect();
        st.last_runs = runs.into_iter().take(10).collect();
        Ok(st)
    }
}

/// What an expiry removed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ExpireReport {
    /// Days of `logs` removed.
    pub days: Vec<String>,
    /// Their files.
    pub files_removed: usize,
    /// Their records (from the commits' statistics).
    pub records_removed: i64,
    /// Rejected lines removed.
    pub rejects_removed: i64,
    /// Kept days of views and queries removed with them.
    pub kept_removed: usize,
    /// Version of the `logs` table after the commit, when there was one.
    pub logs_version: Option<i64>,
}

/// Commits an upkeep change to a table (files removed and added), keeping
/// its run sequence; `predicate` names what it rewrote. Returns the version.
async fn commit_upkeep(
    table: &mut deltalake::DeltaTable,
    app: &str,
    seq: i64,
    removes: Vec<Remove>,
    adds: Vec<Add>,
    predicate: String,
    kind: &str,
) -> Result<i64> {
    let mut actions: Vec<Action> = removes.into_iter().map(Action::Remove).collect();
    actions.extend(adds.into_iter().map(Action::Add));
    let props = CommitProperties::default()
        .with_application_transaction(Transaction::new(app, seq))
        .with_metadata([("s3logs.kind".to_string(), serde_json::Value::from(kind))]);
    let state = table.snapshot().context("reading the table state")?;
    let operation = DeltaOperation::Delete {
        predicate: (!predicate.is_empty()).then_some(predicate),
    };
    let done = CommitBuilder::from(props)
        .with_actions(actions)
        .build(Some(state), table.log_store(), operation)
        .await
        .with_context(|| format!("committing the {kind}"))?;
    table
        .update_state()
        .await
        .context("refreshing the table state")?;
    Ok(done.version() as i64)
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

/// The shard of a run id written by a shard (`run-s2of4-000003`).
fn shard_of_run(run_id: &str) -> Option<super::Shard> {
    let (k, rest) = run_id.strip_prefix("run-s")?.split_once("of")?;
    let (n, _) = rest.split_once('-')?;
    super::Shard::parse(&format!("{k}/{n}")).ok()
}

/// The last run of one shard.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ShardStatus {
    /// `K/N`.
    pub shard: String,
    /// Its latest run.
    pub last_run: RunStatus,
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
    /// The last run of each shard that ever ingested into the lake.
    pub shards: Vec<ShardStatus>,
    /// Objects in the ledger.
    pub ledger_objects: u64,
    /// Objects a run could not read, to be read again by the next.
    pub to_retry: Vec<super::retry::Entry>,
    /// With `--verify`: files the tables name that are missing or of the
    /// wrong size (`None` when not verified).
    pub problems: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::LogBatchBuilder;
    use crate::parse::parse_line;

    #[test]
    fn equal_lines_of_one_object_are_kept_and_redeliveries_dropped() {
        let b = br#"o b [06/Feb/2019:00:00:38 +0000] ip r ID1 BATCH.DELETE.OBJECT k1 - 204 - - 1 - - - -"#;
        let rec = parse_line(b).expect("b");
        let mut builder = LogBatchBuilder::default();
        // One multi-object delete naming k1 twice: lines 2 and 3 of f.
        builder.append(&rec, "f", 2);
        builder.append(&rec, "f", 3);
        // The same object delivered again as g, and f read twice.
        builder.append(&rec, "g", 8);
        builder.append(&rec, "g", 9);
        builder.append(&rec, "f", 2);
        let (kept, dropped) = dedupe_day(&[builder.finish()]).expect("dedupe");
        assert_eq!((kept[0].num_rows(), dropped), (2, 3));
        let src = kept[0]
            .column(schema::Column::SourceFile.index())
            .as_string::<i32>();
        let line = kept[0]
            .column(schema::Column::SourceLine.index())
            .as_primitive::<Int64Type>();
        let got: Vec<(&str, i64)> = (0..2).map(|i| (src.value(i), line.value(i))).collect();
        assert_eq!(got, [("f", 2), ("f", 3)]);
        // A redelivery holding fewer of them does not cut the count.
        let mut builder = LogBatchBuilder::default();
        builder.append(&rec, "a", 1);
        builder.append(&rec, "b", 1);
        builder.append(&rec, "b", 2);
        let (kept, _) = dedupe_day(&[builder.finish()]).expect("dedupe");
        assert_eq!(kept[0].num_rows(), 2);
    }

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
