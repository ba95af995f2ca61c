//! The lake on disk: three Delta tables kept in step, a lock, and a
//! write-ahead manifest that makes a run's commits all-or-nothing.
//!
//! ```text
//! <lake>/logs/       the records, partitioned by `date` (Hive style)
//! <lake>/rejects/    lines that could not be read, with their raw bytes
//! <lake>/ingested/   the ledger: one row per ingested object
//! <lake>/_s3logs/    lock file and pending-run manifests (not a table)
//! ```
//!
//! Delta commits are atomic per table, not across tables. A run therefore
//! (1) writes every Parquet file (invisible until committed), (2) writes a
//! manifest naming every file it will add, (3) commits `rejects`, `logs` and
//! finally `ingested`, each commit carrying the Delta application transaction
//! `(s3logs, run sequence)`, and (4) deletes the manifest. Whatever is
//! killed, the next writer first rolls every pending manifest forward,
//! committing to each table exactly the files it does not hold yet (the
//! transaction version tells), so the ledger and the data always end up
//! agreeing and no record is committed twice. Files written before a crash
//! and never named in a manifest are unreferenced, invisible to readers, and
//! removed by `s3logs vacuum`.

pub mod ddl;
pub mod ledger;
pub mod manifest;
mod parquet_file;
pub mod remote;
pub mod retry;
pub mod shard;
pub mod upkeep;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use deltalake::DeltaTable;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, StructType, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};
use futures::TryStreamExt;
use url::Url;

pub use shard::{Shard, Writer};

pub use parquet_file::{
    ROW_GROUP_ROWS, WrittenFile, read_parquet, synced_size, write_parquet, writer_properties,
};

use crate::{civil, schema};

/// The Delta application id under which runs record their sequence number.
pub const APP_ID: &str = "s3logs";

/// One of the lake's tables.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Table {
    /// The records.
    Logs,
    /// The rejected lines.
    Rejects,
    /// The ledger of ingested objects.
    Ingested,
}

impl Table {
    /// Every table, in commit order: the ledger last, as the run's seal.
    pub const ALL: [Table; 3] = [Table::Rejects, Table::Logs, Table::Ingested];

    /// Every table, in the order people read them.
    pub const ALL_BY_NAME: [Table; 3] = [Table::Logs, Table::Rejects, Table::Ingested];

    /// The table's folder name under the lake.
    pub fn name(self) -> &'static str {
        match self {
            Table::Logs => "logs",
            Table::Rejects => "rejects",
            Table::Ingested => "ingested",
        }
    }

    /// The schema of the table as queried (with partition columns).
    pub fn schema(self) -> SchemaRef {
        match self {
            Table::Logs => schema::logs(),
            Table::Rejects => schema::rejects(),
            Table::Ingested => ledger::schema(),
        }
    }

    /// Partition columns.
    pub fn partition_columns(self) -> Vec<String> {
        match self {
            Table::Logs => vec![schema::DATE.to_string()],
            _ => Vec::new(),
        }
    }
}

/// An open lake, on local disk or on S3 ([`remote`]).
pub struct Lake {
    /// The lake's folder; for a lake on S3, the local folder where files
    /// are staged before upload.
    root: PathBuf,
    remote: Option<remote::Remote>,
    /// Whose runs this handle writes: unsharded, or one shard's.
    shard: Option<Shard>,
    /// The commits made through this handle.
    commits: CommitStats,
    /// For a lake on S3, the lock that keeps its staging folder from
    /// [`remove_dead_temp_dirs`] while this handle lives.
    staging_owner: std::sync::OnceLock<File>,
    /// Runs of other writers this handle completed while it took its lock
    /// (see [`Lake::lock_as`]), for [`Lake::recover`] to report.
    recovered: std::sync::Mutex<Vec<manifest::Manifest>>,
    /// How this handle last took the lake, which says whose stopped runs
    /// [`Lake::recover`] may complete.
    held: std::sync::Mutex<Option<LockMode>>,
}

/// Commits made through a [`Lake`], and how many times deltalake had to
/// retry them on a later version because another writer committed first.
#[derive(Debug, Default)]
pub struct CommitStats {
    commits: std::sync::atomic::AtomicU64,
    retries: std::sync::atomic::AtomicU64,
}

impl CommitStats {
    fn record(&self, retries: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.commits.fetch_add(1, Relaxed);
        self.retries.fetch_add(retries, Relaxed);
    }

    /// Commits, and the retries among them.
    pub fn get(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.commits.load(Relaxed), self.retries.load(Relaxed))
    }
}

/// How many times a run's commit to a table is tried when a concurrent
/// commit conflicts with it (see [`Lake::commit_run`]).
pub const COMMIT_ATTEMPTS: u32 = 5;

/// A hold on a lake for one writer; released on drop.
pub struct LakeLock {
    _files: Vec<File>,
    _leases: Vec<remote::Lease>,
}

/// How a writer holds the lake (see [`Lake::lock_as`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    /// Alone: no other unsharded writer, and no shard running (an
    /// unsharded ingest, `vacuum`, `expire`).
    Exclusive,
    /// Beside running shards, but no other unsharded writer (`compact`:
    /// its commits conflict cleanly with theirs and are retried).
    BesideShards,
    /// As the lake's shard (set by [`Lake::with_shard`]): beside the
    /// other shards of the same N, never beside an unsharded writer, a
    /// worker of the same shard, or a shard of another N.
    Shard,
}

/// Where a run's manifest was written.
#[derive(Clone, Debug)]
pub enum ManifestAt {
    /// A file of a local lake.
    File(PathBuf),
    /// An object of a lake on S3.
    Key(object_store::path::Path),
}

/// The file in each temporary folder of s3logs' whose lock its owner holds
/// while it runs (see [`own_temp_dir`]).
const OWNER: &str = ".s3logs-owner";

/// Marks `dir`, a temporary folder this process just made, as in use for
/// as long as the returned file stays open: it holds an exclusive lock
/// (`flock`) on the folder's owner file, which the kernel releases however
/// the process ends. [`remove_dead_temp_dirs`] leaves a folder alone while
/// its lock is held.
///
/// # Errors
///
/// The owner file cannot be made or locked.
pub fn own_temp_dir(dir: &Path) -> std::io::Result<File> {
    let file = File::create(dir.join(OWNER))?;
    file.lock()?;
    Ok(file)
}

/// Removes the folders `$TMPDIR/{prefix}…` whose owner no longer runs: a
/// run killed before it ended (`kill -9`, Ctrl-C, the OOM killer) leaves
/// its folder, which nothing else will ever use, and which may hold
/// gigabytes (a report's temporary lake).
///
/// A folder counts as its owner's while the lock of its owner file is held
/// ([`own_temp_dir`]). A lock, unlike a PID, says the same thing in every
/// PID namespace: containers that share a `TMPDIR` never take each other's
/// live folders, as a PID that is alive in one and unknown in the other
/// would. A folder without an owner file is left alone for a minute (its
/// owner may be about to make it); one whose lock cannot be tried (a
/// filesystem without locks) is left alone.
pub fn remove_dead_temp_dirs(prefix: &str) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_str().is_some_and(|n| n.starts_with(prefix)) {
            continue;
        }
        if is_dead_temp_dir(&entry.path()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn is_dead_temp_dir(dir: &Path) -> bool {
    match File::open(dir.join(OWNER)) {
        // Taking the lock proves no one holds it; dropping the file
        // releases it at once.
        Ok(owner) => owner.try_lock().is_ok(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::metadata(dir)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(60)),
        Err(_) => false,
    }
}

/// What is wrong with a local table's log when it cannot be opened, as a
/// clause to add to the error: the first commit file of `_delta_log` with a
/// line that is not JSON. Delta's own error says only what it could not
/// parse ("unexpected 'g'"), not which of the commits is damaged. Empty when
/// the table is not local or every commit parses ([`Lake::opening`] looks
/// on S3 too).
fn damaged_commit(url: &Url) -> String {
    let Some(log) = url.to_file_path().ok().map(|d| d.join("_delta_log")) else {
        return String::new();
    };
    let Ok(entries) = std::fs::read_dir(&log) else {
        return String::new();
    };
    let mut commits: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    commits.sort();
    for path in commits {
        let Ok(text) = std::fs::read(&path) else {
            continue;
        };
        if let Some(line) = first_line_not_json(&text) {
            return damaged(&path.display().to_string(), line);
        }
    }
    String::new()
}

/// The clause naming a damaged commit.
fn damaged(commit: &str, line: usize) -> String {
    format!(" (the commit {commit}, line {line}, is not JSON: restore it from a copy of the lake)")
}

/// The 1-based number of the first line of a commit file that is neither
/// blank nor JSON.
fn first_line_not_json(commit: &[u8]) -> Option<usize> {
    commit
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
        .find(|(_, line)| serde_json::from_slice::<serde_json::Value>(line).is_err())
        .map(|(n, _)| n + 1)
}

/// The version of a Delta commit file's name (`00000000000000000007.json`).
fn commit_version(name: &str) -> Option<u64> {
    name.strip_suffix(".json")
        .filter(|v| v.len() == 20 && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse().ok())
}

/// "opening the NAME table at URL", with what [`damaged_commit`] finds:
/// the context of every error that opens a local table.
pub fn opening(name: &str, url: &Url) -> String {
    format!("opening the {name} table at {url}{}", damaged_commit(url))
}

/// The prefix of the staging folders of S3 lakes: their files are uploaded
/// before a manifest names them, so a dead run's are garbage.
const STAGING: &str = "s3logs-staging-";

impl Drop for Lake {
    fn drop(&mut self) {
        if self.remote.is_some() {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

impl Lake {
    /// A lake in a local folder (not created or checked yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Lake {
            root: root.into(),
            remote: None,
            shard: None,
            commits: CommitStats::default(),
            recovered: std::sync::Mutex::default(),
            held: std::sync::Mutex::default(),
            staging_owner: std::sync::OnceLock::new(),
        }
    }

    /// This handle, writing as `shard` (see [`shard`]).
    pub fn with_shard(mut self, shard: Option<Shard>) -> Self {
        self.shard = shard;
        self
    }

    /// The shard this handle writes as, if any.
    pub fn shard(&self) -> Option<Shard> {
        self.shard
    }

    /// The commits made through this handle so far.
    pub fn commit_stats(&self) -> (u64, u64) {
        self.commits.get()
    }

    pub(crate) fn record_commit(&self, retries: u64) {
        self.commits.record(retries);
    }

    /// A lake at a local folder or an `s3://bucket/prefix` URL.
    ///
    /// # Errors
    ///
    /// The S3 store cannot be configured.
    pub fn at(location: &Path, s3: &crate::store::S3Options) -> Result<Self> {
        let Some(url) = location.to_str().and_then(crate::store::S3Url::parse) else {
            return Ok(Lake::new(location));
        };
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let staging = std::env::temp_dir().join(format!("{STAGING}{}-{stamp}", std::process::id()));
        Ok(Lake {
            root: staging,
            remote: Some(remote::Remote::new(url, s3)?),
            shard: None,
            commits: CommitStats::default(),
            recovered: std::sync::Mutex::default(),
            held: std::sync::Mutex::default(),
            staging_owner: std::sync::OnceLock::new(),
        })
    }

    /// "opening the NAME table at URL", naming the first damaged commit of
    /// its log, local or on S3: the context of every error that opens one
    /// of the lake's tables.
    pub async fn opening(&self, table: Table, url: &Url) -> String {
        let Some(r) = &self.remote else {
            return opening(table.name(), url);
        };
        let clause = match r.damaged_commit(table.name()).await {
            Some((commit, line)) => damaged(&commit, line),
            None => String::new(),
        };
        format!("opening the {} table at {url}{clause}", table.name())
    }

    /// The lake's location, for messages.
    pub fn display(&self) -> String {
        match &self.remote {
            Some(r) => format!("s3://{}/{}", r.url.bucket, r.url.prefix),
            None => self.root.display().to_string(),
        }
    }

    /// Whether the lake is on S3.
    pub fn is_remote(&self) -> bool {
        self.remote.is_some()
    }

    /// The local folder where a table's new files are written: the table's
    /// folder on disk, or the staging folder of a lake on S3 (see
    /// [`Lake::publish`]).
    pub fn table_dir(&self, table: Table) -> PathBuf {
        self.root.join(table.name())
    }

    /// Makes new files written under [`Lake::table_dir`] part of the lake
    /// before a manifest names them: uploads them to a lake on S3 (and
    /// removes the staged copies); nothing to do on disk.
    ///
    /// # Errors
    ///
    /// An upload failed.
    pub async fn publish(&self, adds: &BTreeMap<Table, Vec<Add>>) -> Result<()> {
        let Some(r) = &self.remote else {
            return Ok(());
        };
        for (table, files) in adds {
            for add in files {
                let local = self.table_dir(*table).join(&add.path);
                r.upload(&local, &format!("{}/{}", table.name(), add.path))
                    .await?;
                let _ = std::fs::remove_file(&local);
            }
        }
        Ok(())
    }

    /// Reads a committed Parquet file of a table (path relative to it).
    ///
    /// # Errors
    ///
    /// The file cannot be read or is not valid Parquet.
    pub async fn read_file(&self, table: Table, rel: &str) -> Result<Vec<RecordBatch>> {
        match &self.remote {
            Some(r) => r.read_parquet(&format!("{}/{rel}", table.name())).await,
            None => read_parquet(&self.table_dir(table).join(rel)),
        }
    }

    fn meta_dir(&self) -> PathBuf {
        self.root.join("_s3logs")
    }

    /// Creates the lake's folders if needed and takes the writer lock,
    /// waiting up to `wait` for another writer to finish: as the lake's
    /// shard when it has one, else [`LockMode::Exclusive`].
    ///
    /// # Errors
    ///
    /// See [`Lake::lock_as`].
    pub fn lock(&self, wait: Duration) -> Result<LakeLock> {
        let mode = match self.shard {
            Some(_) => LockMode::Shard,
            None => LockMode::Exclusive,
        };
        self.lock_as(mode, wait)
    }

    /// Takes the lake in `mode`, waiting up to `wait`.
    ///
    /// The lake's lock (a locked file on disk, a lease object on S3) is
    /// held by every unsharded writer for its whole run, and by a shard
    /// only while it takes its own lock (`lock-s2of4-`): so a shard starts
    /// only when no unsharded writer runs, and an exclusive writer, once
    /// it holds the lake's lock, waits for the running shards to finish.
    ///
    /// # Errors
    ///
    /// The lake path is not a folder or cannot be created, S3 cannot be
    /// reached, another writer still holds what this one needs after
    /// `wait`, or shards of another N are running.
    pub fn lock_as(&self, mode: LockMode, wait: Duration) -> Result<LakeLock> {
        let lock = self.take_lake(mode, wait)?;
        if let Ok(mut held) = self.held.lock() {
            *held = Some(mode);
        }
        Ok(lock)
    }

    fn take_lake(&self, mode: LockMode, wait: Duration) -> Result<LakeLock> {
        let started = Instant::now();
        let left = || wait.saturating_sub(started.elapsed());
        let Some(shard) = self.shard.filter(|_| mode == LockMode::Shard) else {
            let main = self.hold("lock", wait)?;
            if mode == LockMode::Exclusive {
                loop {
                    let running = self.running_shards()?;
                    if running.is_empty() {
                        break;
                    }
                    if left().is_zero() {
                        bail!(
                            "shards {} are ingesting into the lake {}; try again when they are \
                             done or raise --lock-wait",
                            running.join(", "),
                            self.display()
                        );
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
            return Ok(main);
        };
        let name = format!("lock-{}", shard.tag().trim_end_matches('-'));
        loop {
            let gate = self.hold("lock", left())?;
            match self.hold(&name, Duration::ZERO) {
                Ok(mine) => {
                    let other: Vec<String> = self
                        .running_shards()?
                        .into_iter()
                        .filter(|s| {
                            s.rsplit_once("of")
                                .is_none_or(|(_, n)| n != shard.n.to_string())
                        })
                        .collect();
                    if !other.is_empty() {
                        bail!(
                            "shards {} of another shard count are ingesting into the lake {}; \
                             every worker of a lake must use the same N (this one is {shard})",
                            other.join(", "),
                            self.display()
                        );
                    }
                    // Tables are created under the lake's lock: deltalake
                    // turns a create that loses the race for version 0 into
                    // a second metadata commit, which then fails every
                    // other writer's commit ("metadata changed").
                    for table in Table::ALL {
                        crate::runtime::block_on(self.open_or_create(table))?;
                    }
                    // The stopped runs of writers that cannot be running
                    // now (unsharded ones, and shards of another N) are
                    // committed here, under the lake's lock, before any
                    // shard of this N lists what to read: otherwise their
                    // objects, absent from the ledger, would be read again
                    // and committed twice once those writers recover.
                    let others = crate::runtime::block_on(
                        self.recover_runs(manifest::Writers::NotOfCount(shard.n)),
                    )?;
                    if let Ok(mut r) = self.recovered.lock() {
                        r.extend(others);
                    }
                    drop(gate);
                    return Ok(mine);
                }
                Err(e) if left().is_zero() => {
                    return Err(e.context(format!(
                        "another worker of shard {shard} is writing to the lake {}",
                        self.display()
                    )));
                }
                Err(_) => {
                    drop(gate);
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    }

    /// Takes the lock file or lease `_s3logs/NAME`, waiting up to `wait`.
    fn hold(&self, name: &str, wait: Duration) -> Result<LakeLock> {
        if let Some(r) = &self.remote {
            remove_dead_temp_dirs(STAGING);
            std::fs::create_dir_all(&self.root)
                .with_context(|| format!("creating the staging folder {}", self.root.display()))?;
            if self.staging_owner.get().is_none() {
                let owner = own_temp_dir(&self.root).with_context(|| {
                    format!("locking the staging folder {}", self.root.display())
                })?;
                let _ = self.staging_owner.set(owner);
            }
            return Ok(LakeLock {
                _files: Vec::new(),
                _leases: vec![r.lock(name, wait)?],
            });
        }
        if self.root.exists() && !self.root.is_dir() {
            bail!(
                "the lake path {} exists and is not a folder",
                self.root.display()
            );
        }
        std::fs::create_dir_all(self.meta_dir())
            .with_context(|| format!("creating the lake at {}", self.root.display()))?;
        let path = self.meta_dir().join(name);
        let file = open_lock_file(&path)?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => {
                    return Ok(LakeLock {
                        _files: vec![file],
                        _leases: Vec::new(),
                    });
                }
                Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < wait => {
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(std::fs::TryLockError::WouldBlock) => bail!(
                    "another s3logs run is writing to the lake {} (lock {} held for over {}s); \
                     try again later or raise --lock-wait",
                    self.root.display(),
                    path.display(),
                    wait.as_secs()
                ),
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("locking {}", path.display()));
                }
            }
        }
    }

    /// The shards (`s2of4`) whose lock is held right now.
    fn running_shards(&self) -> Result<Vec<String>> {
        if let Some(r) = &self.remote {
            return crate::runtime::block_on(r.live_leases("lock-s"));
        }
        let dir = self.meta_dir();
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
        };
        for entry in entries.filter_map(|e| e.ok()) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(shard) = name.strip_prefix("lock-s") else {
                continue;
            };
            let file = open_lock_file(&entry.path())?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => out.push(format!("s{shard}")),
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("locking {}", entry.path().display()));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn url(&self, table: Table) -> Result<Url> {
        if let Some(r) = &self.remote {
            return r.table_url(table.name());
        }
        let dir = self.table_dir(table);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let abs =
            std::fs::canonicalize(&dir).with_context(|| format!("resolving {}", dir.display()))?;
        Url::from_directory_path(&abs)
            .map_err(|()| anyhow::anyhow!("{} is not a valid table location", abs.display()))
    }

    /// Opens a table, creating it (empty, with its schema) if it does not
    /// exist. Needs the lock when it may create.
    pub async fn open_or_create(&self, table: Table) -> Result<DeltaTable> {
        let url = self.url(table)?;
        let dt = match DeltaTable::try_from_url(url.clone()).await {
            Ok(dt) => dt,
            Err(e) => return Err(anyhow::Error::new(e).context(self.opening(table, &url).await)),
        };
        if dt.version().is_some() {
            return Ok(dt);
        }
        match self.create(table, dt, &url).await {
            Ok(dt) => Ok(dt),
            // Writers create tables under the lake's lock (see
            // [`Lake::lock_as`]); should another program have created it
            // meanwhile, use that one.
            Err(e) => match self.open(table).await {
                Ok(Some(dt)) => Ok(dt),
                _ => Err(e),
            },
        }
    }

    async fn create(&self, table: Table, dt: DeltaTable, url: &Url) -> Result<DeltaTable> {
        let arrow_schema = table.schema();
        let kernel: StructType = arrow_schema
            .as_ref()
            .try_into_kernel()
            .with_context(|| format!("converting the {} schema", table.name()))?;
        let created = dt
            .create()
            .with_table_name(table.name())
            .with_columns(kernel.fields().cloned())
            .with_partition_columns(table.partition_columns())
            .with_save_mode(SaveMode::Ignore)
            .await
            .with_context(|| format!("creating the {} table at {url}", table.name()))?;
        Ok(created)
    }

    /// Opens a table for reading; `None` when it does not exist yet.
    pub async fn open(&self, table: Table) -> Result<Option<DeltaTable>> {
        let Some(url) = self.existing_url(table).await? else {
            return Ok(None);
        };
        match deltalake::open_table(url.clone()).await {
            Ok(dt) => Ok(Some(dt)),
            Err(e) => Err(anyhow::Error::new(e).context(self.opening(table, &url).await)),
        }
    }

    /// Where a table is, without reading its log; `None` when it does not
    /// exist yet (it has no `_delta_log`).
    pub async fn existing_url(&self, table: Table) -> Result<Option<Url>> {
        if let Some(r) = &self.remote {
            if !r
                .exists_under(&format!("{}/_delta_log", table.name()))
                .await?
            {
                return Ok(None);
            }
            return r.table_url(table.name()).map(Some);
        }
        let dir = self.table_dir(table);
        if !dir.join("_delta_log").is_dir() {
            return Ok(None);
        }
        let abs =
            std::fs::canonicalize(&dir).with_context(|| format!("resolving {}", dir.display()))?;
        let url = Url::from_directory_path(&abs)
            .map_err(|()| anyhow::anyhow!("{} is not a valid table location", abs.display()))?;
        Ok(Some(url))
    }

    /// The last run sequence the writer `app` committed to a table.
    pub async fn committed_seq(table: &DeltaTable, app: &str) -> Result<i64> {
        let state = table.snapshot().context("reading the table state")?;
        Ok(state
            .transaction_version(table.log_store().as_ref(), app)
            .await
            .context("reading the table's application transaction")?
            .unwrap_or(0))
    }

    /// Commits `adds` to `table` as run `seq` of the writer `app`, unless
    /// the table already holds that run. Returns the table version after
    /// the call.
    #[allow(clippy::too_many_arguments)]
    pub async fn commit_run(
        &self,
        table: &mut DeltaTable,
        which: Table,
        app: &str,
        seq: i64,
        removes: Vec<deltalake::kernel::Remove>,
        adds: Vec<Add>,
        operation: DeltaOperation,
        app_metadata: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<i64> {
        validate_adds(which, &adds)?;
        let mut actions: Vec<Action> = removes.iter().cloned().map(Action::Remove).collect();
        actions.extend(adds.into_iter().map(Action::Add));
        let mut attempt = 1;
        loop {
            if Self::committed_seq(table, app).await? >= seq {
                return Ok(table.version().unwrap_or(0) as i64);
            }
            let props = CommitProperties::default()
                .with_application_transaction(Transaction::new(app, seq))
                .with_metadata(app_metadata.clone());
            let state = table.snapshot().context("reading the table state")?;
            let built = CommitBuilder::from(props)
                .with_actions(actions.clone())
                .build(Some(state), table.log_store(), operation.clone())
                .await
                .with_context(|| format!("committing run {seq} to the {} table", which.name()));
            match built {
                Ok(finalized) => {
                    let version = finalized.version();
                    self.record_commit(finalized.metrics.num_retries + u64::from(attempt - 1));
                    table
                        .update_state()
                        .await
                        .context("refreshing the table state")?;
                    return Ok(version as i64);
                }
                // deltalake counts every file of the snapshot a commit was
                // built on as read by it, so a concurrent commit that
                // removed any of them (an `expire`, a compaction that
                // dropped duplicates, another shard's objects read again)
                // conflicts with a run that only appends. The run's actions
                // do not depend on those files, only on the ones it
                // removes: while those are all still there, the same
                // actions are committed again on the new state.
                Err(e) if attempt < COMMIT_ATTEMPTS && upkeep::is_conflict(&e) => {
                    table
                        .update_state()
                        .await
                        .context("refreshing the table state")?;
                    let live = Self::live_paths(table).await?;
                    if let Some(gone) = removes.iter().find(|r| !live.contains(&r.path)) {
                        return Err(e.context(RemovedMeanwhile {
                            path: gone.path.clone(),
                            table: which,
                            seq,
                        }));
                    }
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Rolls forward the pending run manifests that the lock this handle
    /// holds allows: held [`LockMode::Exclusive`] (an unsharded `ingest`,
    /// `vacuum`, `expire`), no shard runs, so every writer's, shards
    /// included; otherwise only this handle's writer's (never another
    /// shard's, which may be committing right now; see the module docs).
    /// A stopped shard's files are referenced by no table until its run is
    /// committed: `vacuum` would delete them, and an unsharded run would
    /// read its objects again. Returns the manifests of the runs completed,
    /// with those of other writers that [`Lake::lock_as`] completed for a
    /// shard, so the caller can report what they committed. Needs the lock.
    pub async fn recover(&self) -> Result<Vec<manifest::Manifest>> {
        let mut done = self
            .recovered
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default();
        let exclusive = self
            .held
            .lock()
            .is_ok_and(|h| *h == Some(LockMode::Exclusive));
        let tag = self.shard.tag();
        let writers = match exclusive {
            true => manifest::Writers::All,
            false => manifest::Writers::Tagged(&tag),
        };
        done.extend(self.recover_runs(writers).await?);
        Ok(done)
    }

    async fn recover_runs(
        &self,
        writers: manifest::Writers<'_>,
    ) -> Result<Vec<manifest::Manifest>> {
        let pending: Vec<(ManifestAt, manifest::Manifest)> = match &self.remote {
            Some(r) => r
                .pending(writers)
                .await?
                .into_iter()
                .map(|(k, m)| (ManifestAt::Key(k), m))
                .collect(),
            None => manifest::pending(&self.meta_dir(), writers)?
                .into_iter()
                .map(|(p, m)| (ManifestAt::File(p), m))
                .collect(),
        };
        let mut done = Vec::new();
        for (at, m) in pending {
            self.commit_manifest(&at, &m).await?;
            done.push(m);
        }
        Ok(done)
    }

    /// Whether the lake does not exist yet: a local folder that is not
    /// there, or an S3 prefix without a `logs` table.
    ///
    /// # Errors
    ///
    /// The S3 listing failed.
    pub async fn is_new(&self) -> Result<bool> {
        match &self.remote {
            Some(r) => Ok(!r.exists_under("logs/_delta_log").await?),
            None => Ok(!self.root.exists()),
        }
    }

    /// Removes a local lake folder that a failed first run created, so a
    /// run that read nothing leaves nothing behind: only when it holds no
    /// table (its lock file and staged files are all it can hold). A lake on
    /// S3 holds nothing until its first commit.
    pub fn remove_unborn(&self) {
        if self.remote.is_some() || self.root.join("logs").join("_delta_log").exists() {
            return;
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }

    /// The bytes of a small file of the lake's own (`_s3logs/NAME`), `None`
    /// when there is none.
    ///
    /// # Errors
    ///
    /// It exists but cannot be read.
    pub async fn read_meta(&self, name: &str) -> Result<Option<Vec<u8>>> {
        match &self.remote {
            Some(r) => r.get_if_exists(&format!("_s3logs/{name}")).await,
            None => {
                let path = self.meta_dir().join(name);
                match std::fs::read(&path) {
                    Ok(b) => Ok(Some(b)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
                }
            }
        }
    }

    /// Replaces a small file of the lake's own (`_s3logs/NAME`) at once: a
    /// synced temporary file renamed over it, or one PUT. Needs the lock.
    ///
    /// # Errors
    ///
    /// The write failed.
    pub async fn write_meta(&self, name: &str, bytes: Vec<u8>) -> Result<()> {
        match &self.remote {
            Some(r) => r.put(&format!("_s3logs/{name}"), bytes).await,
            None => manifest::write_atomic(&self.meta_dir(), name, &bytes).map(|_| ()),
        }
    }

    /// Replaces a file of the lake's caches (`_s3logs/NAME`, NAME may hold
    /// folders) at once, without the lock: a temporary file of this
    /// process renamed over it, or one PUT. A cache's bytes are fixed by
    /// their key, so two writers of one name write the same bytes or
    /// different keys, and a torn or stale file is only a miss.
    ///
    /// # Errors
    ///
    /// The write failed.
    pub async fn write_cache(&self, name: &str, bytes: Vec<u8>) -> Result<()> {
        if let Some(r) = &self.remote {
            return r.put(&format!("_s3logs/{name}"), bytes).await;
        }
        let path = self.meta_dir().join(name);
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        // Of this process and this write: two tasks may write one name.
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = path.with_extension(format!("{}-{n}.tmp", std::process::id()));
        std::fs::write(&tmp, &bytes).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("renaming {}", tmp.display()))
    }

    /// Writes the manifest of a run about to commit (its files published).
    ///
    /// # Errors
    ///
    /// The manifest cannot be written.
    pub async fn write_manifest(&self, m: &manifest::Manifest) -> Result<ManifestAt> {
        for (table, adds) in &m.adds {
            validate_adds(*table, adds)?;
        }
        match &self.remote {
            Some(r) => Ok(ManifestAt::Key(
                r.write_manifest(&self.shard.tag(), m).await?,
            )),
            None => Ok(ManifestAt::File(manifest::write(
                &self.meta_dir(),
                &self.shard.tag(),
                m,
            )?)),
        }
    }

    /// Commits a run whose manifest is written, to each table that does not
    /// hold it yet, then removes the manifest. Returns the version of the
    /// `logs` table afterwards.
    pub async fn commit_manifest(&self, at: &ManifestAt, m: &manifest::Manifest) -> Result<i64> {
        let mut logs_version = 0;
        for which in Table::ALL {
            let mut attempt = 1;
            let v = loop {
                let mut table = self.open_or_create(which).await?;
                let (removes, adds) = self.run_actions(&table, which, at, m).await?;
                let done = self
                    .commit_run(
                        &mut table,
                        which,
                        &m.app,
                        m.seq,
                        removes,
                        adds,
                        m.operation(which),
                        &m.app_metadata(),
                    )
                    .await;
                match done {
                    // A file the run rewrites went while it committed: the
                    // actions are made again from the table as it is now.
                    Err(e)
                        if attempt < COMMIT_ATTEMPTS
                            && e.downcast_ref::<RemovedMeanwhile>().is_some() =>
                    {
                        attempt += 1;
                    }
                    done => break done?,
                }
            };
            if which == Table::Logs {
                logs_version = v;
            }
            crash_point(&format!("after-commit-{}", which.name()));
        }
        match (at, &self.remote) {
            (ManifestAt::Key(k), Some(r)) => r.delete(k).await?,
            (ManifestAt::File(p), _) => {
                std::fs::remove_file(p).with_context(|| format!("removing {}", p.display()))?;
            }
            (ManifestAt::Key(k), None) => bail!("{k}: a manifest key on a local lake"),
        }
        Ok(logs_version)
    }

    /// What run `m` commits to `table`: the manifest's removes and adds,
    /// unless a file it removes is no longer in the table. A compaction (or
    /// an expiry) rewrote it after the manifest was written, into a file
    /// that still holds the rows of the objects read again; committing the
    /// manifest as written would keep those rows and add the rewritten
    /// copies of the others. So the files the run rewrote are set aside and
    /// the objects' rows are removed again from the files the table holds
    /// now. The files set aside are never referenced; `vacuum` frees them.
    ///
    /// # Errors
    ///
    /// The table cannot be read, a rewritten file cannot be written, or the
    /// manifest predates the names of the objects read again.
    async fn run_actions(
        &self,
        table: &DeltaTable,
        which: Table,
        at: &ManifestAt,
        m: &manifest::Manifest,
    ) -> Result<(Vec<deltalake::kernel::Remove>, Vec<Add>)> {
        let removes = m.removes.get(&which).cloned().unwrap_or_default();
        let adds = m.adds.get(&which).cloned().unwrap_or_default();
        if removes.is_empty() || Self::committed_seq(table, &m.app).await? >= m.seq {
            return Ok((removes, adds));
        }
        let live = Self::live_paths(table).await?;
        let Some(gone) = removes.iter().find(|r| !live.contains(&r.path)) else {
            return Ok((removes, adds));
        };
        if m.replaced.is_empty() || m.rewrite_tag.is_empty() {
            bail!(
                "run {} removes {} of the {} table, which a later commit removed, and its \
                 manifest (written by an older s3logs) does not name the objects it reads \
                 again; delete {} and run again to read them once more",
                m.seq,
                gone.path,
                which.name(),
                match (at, &self.remote) {
                    (ManifestAt::Key(k), Some(r)) => format!("s3://{}/{k}", r.url.bucket),
                    (ManifestAt::Key(k), None) => k.to_string(),
                    (ManifestAt::File(p), _) => p.display().to_string(),
                },
            );
        }
        let mark = format!("-{}.zstd.parquet", m.rewrite_tag);
        let mut adds: Vec<Add> = adds
            .into_iter()
            .filter(|a| !a.path.ends_with(&mark))
            .collect();
        let (removes, again) = self
            .without_objects(table, which, &m.replaced, &m.rewrite_tag)
            .await?;
        self.publish(&BTreeMap::from([(which, again.clone())]))
            .await?;
        adds.extend(again);
        Ok((removes, adds))
    }

    /// The paths of a table's active files.
    async fn live_paths(table: &DeltaTable) -> Result<std::collections::HashSet<String>> {
        Ok(Self::files(table)
            .await?
            .into_iter()
            .map(|f| f.path)
            .collect())
    }

    /// Active files of a table with their partition values, sizes and row
    /// counts, sorted by path.
    pub async fn files(table: &DeltaTable) -> Result<Vec<FileInfo>> {
        let views: Vec<_> = table
            .get_active_add_actions_by_partitions(&[])
            .try_collect()
            .await
            .context("listing the table's files")?;
        let mut files: Vec<FileInfo> = views
            .iter()
            .map(|f| FileInfo {
                path: f.path().into_owned(),
                size: f.size(),
                rows: f.num_records().map(|n| n as i64),
                partition: f.partition_values_map().into_iter().collect(),
            })
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }
}

/// The error of a run commit that rewrites a file a concurrent commit
/// removed (see [`Lake::commit_manifest`]).
#[derive(Debug)]
pub struct RemovedMeanwhile {
    /// The file's path in its table.
    pub path: String,
    /// The table.
    pub table: Table,
    /// The run.
    pub seq: i64,
}

impl std::fmt::Display for RemovedMeanwhile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of the {} table, which run {} rewrites, was removed by a concurrent commit",
            self.path,
            self.table.name(),
            self.seq
        )
    }
}

/// Checks that every value a commit would write about its files can be read
/// back by every Delta reader: a partition value or a statistic that a
/// reader cannot parse, once in `_delta_log`, makes the whole table
/// unreadable to it (deltalake fails on a `date` of `10000-01-01`). So no
/// commit may carry one: `date` values and `request_time` statistics must be
/// ISO dates and times in the years 1 to 9999, and statistics valid JSON.
///
/// # Errors
///
/// The first value that fails, naming its file.
pub fn validate_adds(table: Table, adds: &[Add]) -> Result<()> {
    fn in_range(date: &str) -> bool {
        date.len() == 10
            && chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
                .is_ok_and(|d| (1..=9999).contains(&chrono::Datelike::year(&d)))
    }
    for add in adds {
        let partitions: Vec<&String> = add.partition_values.keys().collect();
        let expected = table.partition_columns();
        if partitions.len() != expected.len() || partitions.iter().any(|p| !expected.contains(p)) {
            bail!(
                "refusing to commit {} to the {} table: partition columns {partitions:?}, expected {expected:?}",
                add.path,
                table.name()
            );
        }
        if let Some(value) = add.partition_values.get(schema::DATE) {
            match value {
                Some(d) if in_range(d) => {}
                other => bail!(
                    "refusing to commit {} to the {} table: the date partition value {other:?} \
                     is not a YYYY-MM-DD date in the years 1 to 9999, which Delta readers could not read",
                    add.path,
                    table.name()
                ),
            }
        }
        let Some(stats) = &add.stats else { continue };
        let stats: serde_json::Value = serde_json::from_str(stats).with_context(|| {
            format!(
                "refusing to commit {}: its statistics are not JSON",
                add.path
            )
        })?;
        for bound in ["minValues", "maxValues"] {
            let Some(values) = stats.get(bound).and_then(|v| v.as_object()) else {
                continue;
            };
            for (column, v) in values {
                let timed = table.schema().field_with_name(column).is_ok_and(|f| {
                    matches!(
                        f.data_type(),
                        arrow::datatypes::DataType::Timestamp(..)
                            | arrow::datatypes::DataType::Date32
                    )
                });
                let ok = !timed
                    || v.as_str().is_some_and(|t| {
                        t.get(..10).is_some_and(in_range)
                            && (t.len() == 10 || chrono::DateTime::parse_from_rfc3339(t).is_ok())
                    });
                if !ok {
                    bail!(
                        "refusing to commit {} to the {} table: the statistic {bound}.{column} = {v} \
                         is not a time in the years 1 to 9999",
                        add.path,
                        table.name()
                    );
                }
            }
        }
    }
    Ok(())
}

/// The Delta `add` action of a file written into a table: in the `date`
/// partition `day` when given, with the range of its `request_time` values
/// when known.
pub fn add_action(
    rel_path: &str,
    size: i64,
    rows: i64,
    day: Option<i32>,
    times: Option<(i64, i64)>,
) -> Add {
    let mut stats = serde_json::json!({ "numRecords": rows });
    if let Some((lo, hi)) = times {
        stats["minValues"] = serde_json::json!({ "request_time": civil::iso_millis(lo) });
        // Millisecond precision: round the maximum up so pruning stays safe.
        stats["maxValues"] = serde_json::json!({ "request_time": civil::iso_millis(hi + 999) });
        stats["nullCount"] = serde_json::json!({ "request_time": 0 });
    }
    Add {
        path: rel_path.to_string(),
        partition_values: day
            .map(|d| (schema::DATE.to_string(), Some(civil::date_string(d))))
            .into_iter()
            .collect(),
        size,
        modification_time: civil::now_micros() / 1000,
        data_change: true,
        stats: Some(stats.to_string()),
        ..Add::default()
    }
}

/// The Delta `remove` action of an active file.
pub fn remove_action(f: &FileInfo) -> deltalake::kernel::Remove {
    deltalake::kernel::Remove {
        path: f.path.clone(),
        deletion_timestamp: Some(civil::now_micros() / 1000),
        data_change: true,
        extended_file_metadata: Some(true),
        partition_values: Some(f.partition.clone().into_iter().collect()),
        size: Some(f.size),
        ..Default::default()
    }
}

fn open_lock_file(path: &Path) -> Result<File> {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))
}

/// Sorts records by `request_time`, then `source_file`, `source_line`: a
/// total order, so a table's files do not depend on arrival order.
///
/// # Errors
///
/// The batches are not of [`schema::records`].
pub fn sort_records(batches: &[RecordBatch]) -> Result<RecordBatch> {
    let records = schema::records();
    let batch = arrow::compute::concat_batches(&records, batches)?;
    let mut cols = Vec::new();
    for name in ["request_time", schema::SOURCE_FILE, schema::SOURCE_LINE] {
        cols.push(arrow::compute::SortColumn {
            values: std::sync::Arc::clone(batch.column(records.index_of(name)?)),
            options: None,
        });
    }
    let idx = arrow::compute::lexsort_to_indices(&cols, None)?;
    Ok(arrow::compute::take_record_batch(&batch, &idx)?)
}

/// For crash tests: `S3LOGS_CRASH_AT=<point>` aborts the process there, as
/// a kill would. Costs one environment lookup per point passed.
pub fn crash_point(point: &str) {
    if std::env::var("S3LOGS_CRASH_AT").is_ok_and(|p| p == point) {
        std::process::abort();
    }
}

/// An active data file of a table.
#[derive(Clone, Debug)]
pub struct FileInfo {
    /// Path relative to the table root.
    pub path: String,
    /// Size in bytes.
    pub size: i64,
    /// Rows, from the file's statistics.
    pub rows: Option<i64>,
    /// Partition values.
    pub partition: BTreeMap<String, Option<String>>,
}

impl Lake {
    /// Reads every row of a table as committed, file by file in path order,
    /// with the `date` partition column added to `logs`. For tests, status
    /// and small tables: it holds the whole table in memory.
    pub async fn read_all(&self, table: Table) -> Result<Vec<arrow::record_batch::RecordBatch>> {
        let Some(dt) = self.open(table).await? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for f in Self::files(&dt).await? {
            for b in self.read_file(table, &f.path).await? {
                if table != Table::Logs {
                    out.push(b);
                    continue;
                }
                let date = f
                    .partition
                    .get(schema::DATE)
                    .cloned()
                    .flatten()
                    .unwrap_or_default();
                let days = crate::civil::parse_date(&date)
                    .with_context(|| format!("partition value {date:?} of {}", f.path))?;
                let mut cols = b.columns().to_vec();
                cols.push(std::sync::Arc::new(arrow::array::Date32Array::from(
                    vec![days; b.num_rows()],
                )));
                out.push(arrow::record_batch::RecordBatch::try_new(
                    schema::logs(),
                    cols,
                )?);
            }
        }
        Ok(out)
    }

    /// [`Lake::read_all`] for callers without an async runtime.
    pub fn read_all_blocking(&self, table: Table) -> Result<Vec<arrow::record_batch::RecordBatch>> {
        crate::runtime::block_on(self.read_all(table))
    }
}

impl Lake {
    /// Whether a run stopped between its first and last commit (its
    /// manifest is still there; the next writer completes it).
    pub async fn has_pending_runs(&self) -> Result<bool> {
        match &self.remote {
            Some(r) => Ok(!r.pending_keys().await?.is_empty()),
            None => Ok(!manifest::pending_names(&self.meta_dir())?.is_empty()),
        }
    }
}
