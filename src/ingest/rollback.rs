//! Taking rows back out of the files this run wrote: the rows of objects
//! that failed part way (the rows of objects read again leave committed
//! files through [`crate::lake::Lake::without_objects`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result};
use arrow::array::{Array, AsArray, BooleanArray, RecordBatch, StringArray};
use arrow::compute::filter_record_batch;

use super::ObjectTally;
use super::writer::Flushed;
use crate::batch::Reject;
use crate::lake::{read_parquet, write_parquet};
use crate::schema::{self, Column};
use crate::source::Object;

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
