//! The objects to read again: every object a run could not read, kept in
//! the lake (`_s3logs/retry.json`) until a run reads it whole.
//!
//! An hourly run lists an `s3://` source only from a few days before its
//! high-water mark, and `--since`/`--until` narrow any listing. An object
//! that failed in a run whose window later moves past it would never be
//! listed again, and its records would be missing for good without a word.
//! So a failed object is named here, and every later run over the same
//! source reads it whatever its listing window, until it is in the ledger.
//! An object that no longer exists is reported once, then dropped.

use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::Lake;
use crate::source::{Location, Object, name_path, path_name};
use crate::store::{self, S3Options, S3Url};

/// The file under `_s3logs/` of the unsharded runs.
pub const FILE: &str = "retry.json";

/// The file under `_s3logs/` of a writer: [`FILE`], or a shard's own
/// (`retry-s2of4.json`), which only its workers write.
pub fn file_name(shard: Option<super::Shard>) -> String {
    match shard {
        None => FILE.to_string(),
        Some(s) => format!("retry-{}.json", s.tag().trim_end_matches('-')),
    }
}

/// One object to read again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Its name, as in the ledger (`s3://bucket/key`, or a local path).
    pub object: String,
    /// Why it failed last.
    pub error: String,
    /// The run that first failed to read it.
    pub since_run: String,
}

/// Every object to read again, sorted by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryList {
    /// The objects.
    pub objects: Vec<Entry>,
}

impl RetryList {
    /// The list of `lake`'s writer; empty when there is none.
    ///
    /// # Errors
    ///
    /// It cannot be read or decoded.
    pub async fn read(lake: &Lake) -> Result<RetryList> {
        Self::read_of(lake, lake.shard()).await
    }

    /// The list of the writer `shard` (unsharded for `None`) in `lake`.
    ///
    /// # Errors
    ///
    /// It cannot be read or decoded.
    pub async fn read_of(lake: &Lake, shard: Option<super::Shard>) -> Result<RetryList> {
        let name = file_name(shard);
        match lake.read_meta(&name).await? {
            None => Ok(RetryList::default()),
            Some(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("decoding {}/_s3logs/{name}", lake.display())),
        }
    }

    /// Keeps the list in `lake`, replacing the old one at once.
    ///
    /// # Errors
    ///
    /// The write failed.
    pub async fn write(&self, lake: &Lake) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(self).context("encoding the retry list")?;
        lake.write_meta(&file_name(lake.shard()), bytes).await
    }

    /// Adds or updates an entry (the first failing run is kept).
    pub fn failed(&mut self, object: &str, error: &str, run: &str) {
        match self.objects.iter_mut().find(|e| e.object == object) {
            Some(e) => e.error = error.to_string(),
            None => self.objects.push(Entry {
                object: object.to_string(),
                error: error.to_string(),
                since_run: run.to_string(),
            }),
        }
        self.objects.sort_by(|a, b| a.object.cmp(&b.object));
    }

    /// Drops the entries `done` says are read (or gone).
    pub fn remove(&mut self, done: impl Fn(&str) -> bool) {
        self.objects.retain(|e| !done(&e.object));
    }
}

/// The names under which a run's sources name their objects: the object
/// names they can hold start with one of these.
pub fn source_prefixes(sources: &[PathBuf]) -> Vec<String> {
    sources
        .iter()
        .filter_map(|s| match s.to_str().and_then(S3Url::parse) {
            Some(url) => Some(url.to_string()),
            None => std::fs::canonicalize(s).ok().map(|p| path_name(&p)),
        })
        .collect()
}

/// Whether `object` lies under one of `prefixes` (an `s3://` prefix is the
/// start of names, a local path a file or a folder).
pub fn under(object: &str, prefixes: &[String]) -> bool {
    prefixes.iter().any(|p| {
        if p.starts_with("s3://") {
            object.starts_with(p.as_str())
        } else {
            object == p
                || object
                    .strip_prefix(p.as_str())
                    .is_some_and(|rest| rest.starts_with('/') || p.ends_with('/'))
        }
    })
}

/// What became of an entry when the run looked for its object.
pub enum Found {
    /// The object, to read again.
    Object(Object),
    /// It no longer exists.
    Gone(String),
    /// It could not be looked at now (try again next run).
    Failed(String),
}

/// Looks an entry's object up: its current size and version, as a listing
/// would give them.
pub fn find(entry: &Entry, s3: &S3Options) -> Found {
    if let Some(url) = S3Url::parse(&entry.object) {
        return find_s3(&url, &entry.object, s3);
    }
    let path = name_path(&entry.object);
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_file() => Found::Object(Object::file(&path, &meta)),
        Ok(_) => Found::Gone("no longer a file".into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Found::Gone(e.to_string()),
        Err(e) => Found::Failed(e.to_string()),
    }
}

fn find_s3(url: &S3Url, name: &str, opts: &S3Options) -> Found {
    let store = match store::store(&url.bucket, opts) {
        Ok(s) => s,
        Err(e) => return Found::Failed(e.to_string()),
    };
    let key = object_store::path::Path::parse(&url.prefix)
        .unwrap_or_else(|_| object_store::path::Path::from(url.prefix.as_str()));
    let head = {
        let (store, key) = (std::sync::Arc::clone(&store), key.clone());
        crate::runtime::block_on(async move {
            object_store::ObjectStoreExt::head(store.as_ref(), &key).await
        })
    };
    match head {
        Ok(meta) => Found::Object(Object {
            location: Location::S3 {
                store,
                bucket: url.bucket.clone(),
                key,
            },
            name: name.to_string(),
            size: meta.size,
            modified: Some(SystemTime::from(meta.last_modified)),
            etag: meta
                .e_tag
                .as_deref()
                .map(|e| e.trim_matches('"').to_string()),
        }),
        Err(object_store::Error::NotFound { .. }) => Found::Gone("not found".into()),
        Err(e) => Found::Failed(e.to_string()),
    }
}

/// Microseconds since the epoch of a modification time.
pub fn micros(t: Option<SystemTime>) -> Option<i64> {
    t.and_then(crate::civil::micros_of)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_stay_sorted_and_keep_their_first_run() {
        let mut list = RetryList::default();
        list.failed("s3://b/2", "500", "run-000001");
        list.failed("s3://b/1", "500", "run-000001");
        list.failed("s3://b/2", "timeout", "run-000002");
        let names: Vec<&str> = list.objects.iter().map(|e| e.object.as_str()).collect();
        assert_eq!(names, ["s3://b/1", "s3://b/2"]);
        assert_eq!(list.objects[1].error, "timeout");
        assert_eq!(list.objects[1].since_run, "run-000001");
        list.remove(|o| o == "s3://b/1");
        assert_eq!(list.objects.len(), 1);
    }

    #[test]
    fn objects_belong_to_the_sources_that_can_list_them() {
        let p = vec!["s3://b/logs/".to_string(), "/data/logs".to_string()];
        assert!(under("s3://b/logs/2024-03-01-00-00-00-A", &p));
        assert!(!under("s3://b/other/x", &p));
        assert!(under("/data/logs/a/b", &p));
        assert!(under("/data/logs", &p));
        assert!(!under("/data/logs2/a", &p));
    }
}
