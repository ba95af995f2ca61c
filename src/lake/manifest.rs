//! The write-ahead manifest of a run: every file it will add to each table,
//! written (atomically, by rename) before the first commit and removed after
//! the last. See the [lake module](super) docs.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use deltalake::kernel::Add;
use deltalake::protocol::{DeltaOperation, SaveMode};
use serde::{Deserialize, Serialize};

use super::Table;

/// What a run commits.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// The writer's Delta application id (`s3logs`, or a shard's).
    #[serde(default = "unsharded")]
    pub app: String,
    /// The run's sequence number (the Delta application transaction version).
    pub seq: i64,
    /// The run id stored in the tables.
    pub run_id: String,
    /// What the run is (`ingest`, `compact`).
    pub kind: String,
    /// Files to add, per table.
    pub adds: BTreeMap<Table, Vec<Add>>,
    /// Files to remove, per table: those holding rows of objects read
    /// again.
    #[serde(default)]
    pub removes: BTreeMap<Table, Vec<deltalake::kernel::Remove>>,
    /// The objects read again, whose earlier rows, rejects and ledger
    /// entries the run removes. A recovery that finds a file of `removes`
    /// gone (a compaction rewrote it meanwhile) removes them again from
    /// the tables as they are now.
    #[serde(default)]
    pub replaced: BTreeSet<String>,
    /// The mark in the names of the files rewritten without `replaced`
    /// (`-<mark>.zstd.parquet`), so a recovery can tell them from the
    /// run's new files.
    #[serde(default)]
    pub rewrite_tag: String,
}

impl Manifest {
    /// The Delta operation recorded in the commit to `table`.
    pub fn operation(&self, table: Table) -> DeltaOperation {
        DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: Some(table.partition_columns()).filter(|p| !p.is_empty()),
            predicate: None,
        }
    }

    /// The application metadata stored in each commit's `commitInfo`.
    pub fn app_metadata(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        m.insert("s3logs.run_id".into(), self.run_id.clone().into());
        m.insert("s3logs.kind".into(), self.kind.clone().into());
        m
    }
}

fn unsharded() -> String {
    super::APP_ID.to_string()
}

/// The manifest file of run `seq` of the writer whose names carry `tag`
/// (empty unsharded, `s2of4-` for a shard).
pub(super) fn file_name(tag: &str, seq: i64) -> String {
    format!("run-{tag}{seq:09}.json")
}

/// Whose pending manifests to read.
#[derive(Clone, Copy, Debug)]
pub enum Writers<'a> {
    /// The writer whose names carry this tag (empty unsharded, `s2of4-`
    /// for a shard).
    Tagged(&'a str),
    /// Every writer's: for upkeep that holds the lake against every shard.
    All,
    /// Every writer's but those of the shards of this count: for a shard,
    /// beside which neither an unsharded writer nor a shard of another
    /// count can be running.
    NotOfCount(u32),
}

/// Whether `name` is a manifest file of one of `writers`.
pub(super) fn is_mine(name: &str, writers: Writers<'_>) -> bool {
    writer_tag(name).is_some_and(|t| match writers {
        Writers::Tagged(tag) => t == tag,
        Writers::All => true,
        Writers::NotOfCount(n) => t
            .strip_suffix('-')
            .and_then(|t| t.rsplit_once("of"))
            .is_none_or(|(_, count)| count != n.to_string()),
    })
}

/// The tag of the writer of the manifest file `name` (`run-s2of4-…json`
/// gives `s2of4-`, `run-…json` the empty tag); `None` when it is not one.
fn writer_tag(name: &str) -> Option<&str> {
    let run = name.strip_prefix("run-")?.strip_suffix(".json")?;
    let digits = run.len() - run.bytes().rev().take_while(u8::is_ascii_digit).count();
    let (tag, seq) = run.split_at(digits);
    let shard = |t: &str| {
        t.strip_prefix('s')
            .and_then(|t| t.strip_suffix('-'))
            .and_then(|t| t.split_once("of"))
            .is_some_and(|(k, n)| {
                [k, n]
                    .iter()
                    .all(|x| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit()))
            })
    };
    (!seq.is_empty() && (tag.is_empty() || shard(tag))).then_some(tag)
}

/// Writes `m` into `dir` atomically: a temporary file, synced, then renamed.
pub fn write(dir: &Path, tag: &str, m: &Manifest) -> Result<PathBuf> {
    let bytes = serde_json::to_vec(m).context("encoding the run manifest")?;
    write_atomic(dir, &file_name(tag, m.seq), &bytes)
}

/// Writes `bytes` to `dir/name` atomically: a temporary file, synced, then
/// renamed over the old one, and the folder synced.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
    let written = f
        .write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))
        .and_then(|()| {
            std::fs::rename(&tmp, &path).with_context(|| format!("renaming {}", tmp.display()))
        });
    if written.is_err() {
        // A full disk or a folder in the way: leave nothing half-written.
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(path)
}

/// Manifests of the runs of `writers` that did not finish committing,
/// oldest first (by writer, then run). Their half-written temporary files
/// (a crash before the rename) are removed.
pub fn pending(dir: &Path, writers: Writers<'_>) -> Result<Vec<(PathBuf, Manifest)>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if let Some(tmp) = name.strip_suffix(".tmp")
            && is_mine(tmp, writers)
        {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
            continue;
        }
        if !is_mine(name, writers) {
            continue;
        }
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let m: Manifest = serde_json::from_slice(&bytes)
            .with_context(|| format!("decoding the run manifest {}", path.display()))?;
        out.push((path, m));
    }
    Ok(out)
}

/// The names of pending manifests, without reading or removing anything
/// (for readers, which must not write).
pub fn pending_names(dir: &Path) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("run-") && n.ends_with(".json"))
        .collect();
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_name_tells_its_writer() {
        let unsharded = file_name("", 12);
        let shard = file_name("s2of4-", 7);
        assert_eq!(writer_tag(&unsharded), Some(""));
        assert_eq!(writer_tag(&shard), Some("s2of4-"));
        assert!(is_mine(&unsharded, Writers::Tagged("")));
        assert!(!is_mine(&shard, Writers::Tagged("")));
        assert!(is_mine(&shard, Writers::Tagged("s2of4-")));
        assert!(!is_mine(&shard, Writers::Tagged("s1of4-")));
        assert!(is_mine(&unsharded, Writers::All) && is_mine(&shard, Writers::All));
        assert!(is_mine(&unsharded, Writers::NotOfCount(4)));
        assert!(!is_mine(&shard, Writers::NotOfCount(4)));
        assert!(is_mine(&shard, Writers::NotOfCount(2)));
        assert!(!is_mine(&file_name("s2of14-", 1), Writers::NotOfCount(14)));
        assert!(is_mine(&file_name("s2of14-", 1), Writers::NotOfCount(4)));
        for other in [
            "run-.json",
            "run-s2of4-.json",
            "run-x000000001.json",
            "run-s2of-000000001.json",
            "run-sof4-000000001.json",
            "run-000000001.json.tmp",
            "retry.json",
        ] {
            assert_eq!(writer_tag(other), None, "{other}");
            assert!(!is_mine(other, Writers::All), "{other}");
        }
    }
}
