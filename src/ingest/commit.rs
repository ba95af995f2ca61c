//! The commit of a run: its rejects and ledger files, the manifest, and the
//! commits of the three tables (see [`crate::lake`]).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use deltalake::kernel::Add;

use super::ObjectTally;
use super::writer::Flushed;
use crate::batch::{Reject, RejectBatchBuilder};
use crate::lake::ledger::{self, Entry};
use crate::lake::manifest::Manifest;
use crate::lake::retry;
use crate::lake::{Lake, Table, Writer, add_action, crash_point, write_parquet};
use crate::schema;
use crate::source::Object;

/// Writes the rejects and ledger files, then the manifest, then commits the
/// run. Returns the `logs` table version after it.
#[allow(clippy::too_many_arguments)]
pub(super) fn commit(
    rt: &tokio::runtime::Runtime,
    lake: &Lake,
    seq: i64,
    run_id: &str,
    entries: &[Entry],
    flushed: &[Flushed],
    rejects: &[Reject],
    mut replaced: BTreeSet<String>,
    todo: &[(Object, String)],
    tallies: &[ObjectTally],
) -> Result<i64> {
    let mut adds: BTreeMap<Table, Vec<Add>> = BTreeMap::new();
    adds.insert(
        Table::Logs,
        flushed
            .iter()
            .map(|f| {
                add_action(
                    &f.rel_path,
                    f.size,
                    f.rows,
                    Some(f.day),
                    f.first.zip(f.last),
                )
            })
            .collect(),
    );
    if !rejects.is_empty() {
        let mut b = RejectBatchBuilder::default();
        for r in rejects {
            b.append(r, run_id);
        }
        let rel = format!("part-{}{seq:06}-00000.zstd.parquet", lake.shard().tag());
        let w = write_parquet(
            &lake.table_dir(Table::Rejects).join(&rel),
            schema::rejects(),
            &[b.finish()],
        )?;
        adds.insert(
            Table::Rejects,
            vec![add_action(&rel, w.size, w.rows, None, None)],
        );
    }
    let rel = format!("part-{}{seq:06}-00000.zstd.parquet", lake.shard().tag());
    let w = write_parquet(
        &lake.table_dir(Table::Ingested).join(&rel),
        ledger::schema(),
        &[ledger::to_batch(entries)?],
    )?;
    adds.insert(
        Table::Ingested,
        vec![add_action(&rel, w.size, w.rows, None, None)],
    );

    // Objects read again: their earlier rows, rejects and ledger entries
    // leave in the same commits.
    let mut removes = BTreeMap::new();
    let rewrite_tag = format!("x{}{seq:06}", lake.shard().tag());
    replaced.retain(|name| {
        todo.iter()
            .zip(tallies)
            .any(|((_, n), t)| n == name && t.failed.is_none())
    });
    if !replaced.is_empty() {
        for which in Table::ALL {
            let table = rt.block_on(lake.open_or_create(which))?;
            let (gone, added) =
                rt.block_on(lake.without_objects(&table, which, &replaced, &rewrite_tag))?;
            removes.insert(which, gone);
            adds.entry(which).or_default().extend(added);
        }
    }
    let manifest = Manifest {
        app: lake.shard().app_id(),
        seq,
        run_id: run_id.to_string(),
        kind: "ingest".into(),
        adds,
        removes,
        replaced,
        rewrite_tag,
    };
    rt.block_on(lake.publish(&manifest.adds))?;
    let at = rt.block_on(lake.write_manifest(&manifest))?;
    crash_point("after-manifest");
    rt.block_on(lake.commit_manifest(&at, &manifest))
}

/// The ledger entries of the objects read whole: what was read of each
/// (see [`super::reader::Stored`]) and its tallies.
pub(super) fn ledger_entries(
    todo: &[(Object, String)],
    tallies: &[ObjectTally],
    run_id: &str,
) -> Vec<Entry> {
    let now = crate::civil::now_micros();
    todo.iter()
        .zip(tallies)
        .filter(|(_, t)| t.failed.is_none())
        .map(|((o, name), t)| Entry {
            object: name.clone(),
            size: t.stored.size.unwrap_or(o.size) as i64,
            modified: t.stored.modified.or(retry::micros(o.modified)),
            etag: o.etag.clone(),
            records: t.records,
            rejects: t.rejects,
            first_request_time: t.first,
            last_request_time: t.last,
            run_id: run_id.to_string(),
            ingested_at: now,
        })
        .collect()
}
