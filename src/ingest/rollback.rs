//! Taking rows back out: of the files this run wrote, the rows of objects
//! that failed part way; of the committed files, the rows of objects read
//! again (`--reingest-changed`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::array::{Array, AsArray, BooleanArray, RecordBatch, StringArray};
use arrow::compute::filter_record_batch;
use deltalake::kernel::Add;

use super::ObjectTally;
use super::writer::Flushed;
use crate::batch::Reject;
use crate::civil;
use crate::lake::{Lake, Table, add_action, ledger, read_parquet, remove_action, write_parquet};
use crate::schema::{self, Column};
use crate::source::Object;

/// For objects read again: every committed file of `table` holding rows of
/// `objects`, removed, and rewritten without those rows.
pub(super) async fn without_objects(
    lake: &Lake,
    table: &deltalake::DeltaTable,
    which: Table,
    objects: &BTreeSet<String>,
    seq: i64,
) -> Result<(Vec<deltalake::kernel::Remove>, Vec<Add>)> {
    let (schema, name_column) = match which {
        Table::Logs => (schema::records(), schema::SOURCE_FILE),
        Table::Rejects => (schema::rejects(), schema::SOURCE_FILE),
        Table::Ingested => (ledger::schema(), "object"),
    };
    let source_col = schema.index_of(name_column)?;
    let dir = lake.table_dir(which);
    let (mut removes, mut adds) = (Vec::new(), Vec::new());
    for f in Lake::files(table).await? {
        let batches = lake.read_file(which, &f.path).await?;
        let mut kept = Vec::new();
        let mut hit = false;
        for b in &batches {
            let src = b.column(source_col).as_string::<i32>();
            let mask = BooleanArray::from_iter(
                (0..b.num_rows()).map(|i| Some(src.is_null(i) || !objects.contains(src.value(i)))),
            );
            let keep = filter_record_batch(b, &mask)?;
            hit |= keep.num_rows() != b.num_rows();
            kept.push(keep);
        }
        if !hit {
            continue;
        }
        removes.push(remove_action(&f));
        let rows: usize = kept.iter().map(RecordBatch::num_rows).sum();
        if rows == 0 {
            continue;
        }
        let rel = f
            .path
            .replace(".zstd.parquet", &format!("-x{seq:06}.zstd.parquet"));
        let w = write_parquet(&dir.join(&rel), Arc::clone(&schema), &kept)?;
        let day = match f.partition.get(schema::DATE).cloned().flatten() {
            Some(d) => Some(
                civil::parse_date(&d).with_context(|| format!("the date {d:?} of {}", f.path))?,
            ),
            None => None,
        };
        adds.push(add_action(&rel, w.size, w.rows, day, None));
    }
    Ok((removes, adds))
}

/// Rewrites a written file without the rows of failed objects.
fn remove_rows_of(
    dir: &Path,
    f: &mut Flushed,
    failed: &BTreeSet<&str>,
    days: &mut BTreeMap<i32, u64>,
) -> Result<()> {
    let path = dir.join(&f.rel_path);
    let mut kept = Vec::new();
    let mut removed = 0u64;
    for b in read_parquet(&path)? {
        let src: &StringArray = b.column(Column::SourceFile.index()).as_string::<i32>();
        let mask = BooleanArray::from_iter(
            (0..b.num_rows()).map(|i| Some(src.is_null(i) || !failed.contains(src.value(i)))),
        );
        let keep = filter_record_batch(&b, &mask)?;
        removed += (b.num_rows() - keep.num_rows()) as u64;
        kept.push(keep);
    }
    std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    if let Some(n) = days.get_mut(&f.day) {
        *n -= removed.min(*n);
    }
    let rows: usize = kept.iter().map(RecordBatch::num_rows).sum();
    f.rows = rows as i64;
    if rows == 0 {
        return Ok(());
    }
    f.rel_path = f.rel_path.replace(".zstd.parquet", "-r.zstd.parquet");
    let w = write_parquet(&dir.join(&f.rel_path), schema::records(), &kept)?;
    f.size = w.size;
    Ok(())
}

/// Takes the rows of objects that failed part way back out of the files
/// this run wrote, and their rejects out of `rejects`, so none of their
/// records is committed. Returns the failed objects' indexes.
pub(super) fn take_out_failed(
    table_dir: &Path,
    todo: &[(Object, String)],
    tallies: &[ObjectTally],
    rejects: &mut Vec<Reject>,
    flushed: &mut Vec<Flushed>,
    days: &mut BTreeMap<i32, u64>,
) -> Result<BTreeSet<usize>> {
    let failed: BTreeSet<usize> = tallies
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.failed.as_ref().map(|_| i))
        .collect();
    if failed.is_empty() {
        return Ok(failed);
    }
    let failed_names: BTreeSet<&str> = failed.iter().map(|&i| todo[i].1.as_str()).collect();
    rejects.retain(|r| !failed_names.contains(&*r.source_file));
    for f in flushed
        .iter_mut()
        .filter(|f| !f.objects.is_disjoint(&failed))
    {
        remove_rows_of(table_dir, f, &failed_names, days)?;
    }
    flushed.retain(|f| f.rows > 0);
    Ok(failed)
}
