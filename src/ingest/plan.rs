//! The plan of a run: which objects the sources hold, which of them are
//! new, unchanged or changed since the ledger saw them, and which failed
//! before and are read again whatever the listing window.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};

use super::{Options, Summary};
use crate::lake::ledger;
use crate::lake::manifest::Manifest;
use crate::lake::retry::{self, RetryList};
use crate::lake::{Lake, Table, Writer};
use crate::schema;
use crate::source::{Found, Object, S3Url, find, path_name};

/// What the lake holds when a run starts, once the runs that stopped
/// while committing are completed.
pub(super) struct Before {
    /// The manifests of the runs just completed.
    pub(super) recovered: Vec<Manifest>,
    /// The `logs` table's version.
    pub(super) logs_version: Option<i64>,
    /// This run's sequence number.
    pub(super) seq: i64,
    /// What the ledger knows of each object.
    pub(super) seen: BTreeMap<String, ledger::Seen>,
    /// Days that held data before this run and the runs it completed
    /// (whose records it reports as its own): records into them are late.
    pub(super) existing_days: BTreeSet<String>,
}

/// Completes the runs that stopped while committing, and reads what the
/// lake holds. Needs the lock.
pub(super) fn before(rt: &tokio::runtime::Runtime, lake: &Lake) -> Result<Before> {
    // An unsharded run holds the lake against every shard, so this
    // completes their stopped runs too: otherwise it would read their
    // objects again, and their next runs would commit them a second time.
    let recovered = rt
        .block_on(lake.recover())
        .context("completing an interrupted run")?;
    let logs_table = rt.block_on(lake.open(Table::Logs))?;
    let ledger_table = rt.block_on(lake.open(Table::Ingested))?;
    let seq = match &ledger_table {
        Some(t) => rt.block_on(Lake::committed_seq(t, &lake.shard().app_id()))?,
        None => 0,
    } + 1;
    let seen = match &ledger_table {
        Some(t) => rt.block_on(ledger::read(lake, t))?,
        None => BTreeMap::new(),
    };
    // Days that held data before this run and the runs it just completed
    // (whose records it reports as its own): records into them are late.
    let recovered_paths: BTreeSet<&str> = recovered
        .iter()
        .flat_map(|m| m.adds.get(&Table::Logs).into_iter().flatten())
        .map(|a| a.path.as_str())
        .collect();
    let mut existing_days = BTreeSet::new();
    if let Some(t) = &logs_table {
        for f in rt.block_on(Lake::files(t))? {
            if !recovered_paths.contains(f.path.as_str())
                && let Some(date) = f.partition.get(schema::DATE).cloned().flatten()
            {
                existing_days.insert(date);
            }
        }
    }

    Ok(Before {
        logs_version: logs_table
            .as_ref()
            .and_then(|t| t.version())
            .map(|v| v as i64),
        recovered,
        seq,
        seen,
        existing_days,
    })
}

/// What a run is to read.
pub(super) struct Plan {
    /// The objects to read, each with its ledger name, in input order.
    pub(super) todo: Vec<(Object, String)>,
    /// Objects read again whose earlier rows the commit replaces.
    pub(super) replaced: BTreeSet<String>,
    /// The objects to read again after this run, so far.
    pub(super) retry: RetryList,
    /// The list as the lake held it.
    pub(super) stored_retry: RetryList,
}

/// Lists the sources and decides, object by object, what the run reads;
/// counts and errors go to `summary`.
pub(super) fn plan(
    opts: &Options,
    rt: &tokio::runtime::Runtime,
    lake: &Lake,
    seen: &BTreeMap<String, ledger::Seen>,
    summary: &mut Summary,
) -> Result<Plan> {
    let mut selection = opts.selection.clone();
    if let Some(lookback) = opts.lookback_days {
        selection.resume = high_water_marks(&opts.sources, seen, lookback, opts.shard);
    }
    let listing = Instant::now();
    let found = match &opts.listed {
        Some(objects) => Found {
            objects: objects.clone(),
            ..Found::default()
        },
        None => find(&opts.sources, &selection),
    };
    summary.list_seconds = listing.elapsed().as_secs_f64();
    for m in found.errors {
        summary.errors.push(format!("{}: {}", m.source, m.error));
    }
    summary.list_requests = found.list.requests;
    let mut found = found.objects;

    // Objects that failed before are read whatever the listing window.
    let stored_retry = rt.block_on(RetryList::read(lake))?;
    let mut retry = stored_retry.clone();
    let prefixes = retry::source_prefixes(&opts.sources);
    retry.remove(|o| seen.contains_key(o));
    let listed: BTreeSet<String> = found.iter().filter_map(|o| ledger_name(o).ok()).collect();
    let mut gone = BTreeSet::new();
    for entry in &retry.objects {
        if !retry::under(&entry.object, &prefixes) || listed.contains(&entry.object) {
            continue;
        }
        match retry::find(entry, &opts.selection.s3) {
            retry::Found::Object(o) => {
                summary.objects_retried += 1;
                found.push(o);
            }
            retry::Found::Gone(why) => {
                summary.errors.push(format!(
                    "{}: failed in {} and was to be read again, but it no longer exists ({why}); \
                     dropped from the retry list, its records are lost",
                    entry.object, entry.since_run
                ));
                gone.insert(entry.object.clone());
            }
            retry::Found::Failed(why) => summary.errors.push(format!(
                "{}: to be read again (failed in {}), but it cannot be looked up: {why}",
                entry.object, entry.since_run
            )),
        }
    }
    retry.remove(|o| gone.contains(o));

    // The lake's own files are never logs (a lake inside a source folder
    // would turn its Parquet files into rejects, more on every run).
    let lake_prefix = match lake.is_remote() {
        true => Some(format!("{}/", lake.display().trim_end_matches('/'))),
        false => std::fs::canonicalize(&opts.lake)
            .ok()
            .map(|p| format!("{}/", path_name(&p))),
    };
    let mut planned: BTreeSet<String> = BTreeSet::new();

    // Plan: what is new, what is unchanged, what changed.
    let mut todo: Vec<(Object, String)> = Vec::new();
    let mut replaced: BTreeSet<String> = BTreeSet::new();
    for object in found {
        let name = match ledger_name(&object) {
            Ok(name) => name,
            Err(e) => {
                summary.errors.push(format!("{}: {e}", object.name));
                continue;
            }
        };
        if lake_prefix
            .as_ref()
            .is_some_and(|p| name.starts_with(p.as_str()))
        {
            summary.objects_in_lake += 1;
            continue;
        }
        // A source given twice, or a file and its folder: read once.
        if !planned.insert(name.clone()) {
            continue;
        }
        if opts.shard.is_some_and(|s| !s.contains(&name)) {
            summary.objects_other_shards += 1;
            continue;
        }
        summary.objects_found += 1;
        let modified = retry::micros(object.modified);
        // On S3 the ETag says whether an object changed (its modification
        // time is when it was written, which a copy changes); on disk the
        // modification time does.
        let unchanged = |s: &ledger::Seen| {
            s.size == object.size as i64
                && match (&object.etag, &s.etag) {
                    (Some(a), Some(b)) => a == b,
                    _ => s.modified == modified,
                }
        };
        match seen.get(&name) {
            Some(s) if unchanged(s) => {
                summary.objects_skipped += 1;
            }
            Some(_) if opts.reingest_changed => {
                replaced.insert(name.clone());
                todo.push((object, name));
            }
            Some(s) => summary.errors.push(format!(
                "{name}: changed since it was ingested (size {} -> {}); S3 log objects never \
                 change, so it was not read again (--reingest-changed replaces its records)",
                s.size, object.size
            )),
            None => todo.push((object, name)),
        }
    }

    Ok(Plan {
        todo,
        replaced,
        retry,
        stored_retry,
    })
}

/// Where each `s3://` source's listing may start: `lookback` days before
/// the latest day named by an object of it in the ledger; for a shard, by
/// an object of its own (the other shards may be days ahead of it).
fn high_water_marks(
    sources: &[PathBuf],
    seen: &BTreeMap<String, ledger::Seen>,
    lookback: i32,
    shard: Option<crate::lake::Shard>,
) -> HashMap<String, i32> {
    let mut out = HashMap::new();
    for source in sources {
        let Some(text) = source.to_str() else {
            continue;
        };
        let Some(url) = S3Url::parse(text) else {
            continue;
        };
        let start = url.object_url(&url.prefix);
        let latest = seen
            .range(start.clone()..)
            .take_while(|(name, _)| name.starts_with(&start))
            .filter(|(name, _)| shard.is_none_or(|s| s.contains(name)))
            .filter_map(|(name, _)| crate::source::s3::name_day(name))
            .max();
        if let Some(day) = latest {
            out.insert(text.to_string(), day - lookback);
        }
    }
    out
}

/// The name of an object in the ledger and `source_file`: its key on S3,
/// its canonical path on disk (see [`path_name`]).
fn ledger_name(object: &Object) -> std::io::Result<String> {
    match object.local_path() {
        None => Ok(object.name.clone()),
        Some(p) => Ok(path_name(&std::fs::canonicalize(p)?)),
    }
}
