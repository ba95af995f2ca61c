//! Lakes on S3 (`--lake s3://bucket/prefix`): the same tables, manifests
//! and protocol as on disk, with the file-system steps done the S3 way.
//!
//! * Delta commits go through deltalake's default log store, which writes
//!   each commit with a conditional PUT (`If-None-Match: *`): two writers can
//!   never both create a version, and no unsafe rename is involved.
//! * Data files are written to a local staging folder, then uploaded before
//!   the manifest names them (a crash leaves at most unreferenced objects,
//!   which `vacuum` removes).
//! * The run manifest is created with a conditional PUT as well, and
//!   recovery lists `_s3logs/run-*.json` as it reads the folder on disk.
//! * The writer lock is a lease object, `_s3logs/lock`, created with a
//!   conditional PUT and renewed by a thread while the run goes on; a lease
//!   left by a crashed run expires (`S3LOGS_LEASE_SECS`, default 300) and is
//!   taken over with a PUT
//!   conditional on its ETag, so two takers cannot both win.

use std::collections::HashMap;
use std::sync::mpsc::{RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use deltalake::DeltaResult;
use deltalake::logstore::{
    LogStore, LogStoreFactory, ObjectStoreFactory, ObjectStoreRef, StorageConfig, default_logstore,
    logstore_factories, object_store_factories,
};
use futures::StreamExt;
use object_store::path::Path as KeyPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use url::Url;

use crate::store::{self, S3Options, S3Url};

use super::manifest::Manifest;

/// How long a writer's lease lasts without renewal (renewed every third):
/// `S3LOGS_LEASE_SECS`, default 300. A run that crashed holds the lake
/// that long.
fn lease() -> Duration {
    Duration::from_secs(
        crate::env_u64("S3LOGS_LEASE_SECS")
            .filter(|&s| s > 0)
            .unwrap_or(300),
    )
}

/// A lake's place on S3.
pub struct Remote {
    /// Bucket and prefix (without a trailing `/`).
    pub url: S3Url,
    /// The bucket's store, the one deltalake uses too.
    pub store: Arc<dyn ObjectStore>,
    opts: S3Options,
}

/// Stores per bucket, shared by deltalake's factory and the lake's own
/// requests, so that both run on the same connections.
type Stores = Mutex<HashMap<String, Arc<dyn ObjectStore>>>;

struct Factory {
    opts: S3Options,
    stores: Arc<Stores>,
}

impl Factory {
    fn store(&self, bucket: &str) -> std::io::Result<Arc<dyn ObjectStore>> {
        let mut stores = self
            .stores
            .lock()
            .map_err(|_| std::io::Error::other("store cache poisoned"))?;
        if let Some(s) = stores.get(bucket) {
            return Ok(Arc::clone(s));
        }
        let s = store::build_store(bucket, &self.opts)?;
        stores.insert(bucket.to_string(), Arc::clone(&s));
        Ok(s)
    }
}

impl ObjectStoreFactory for Factory {
    fn parse_url_opts(
        &self,
        url: &Url,
        _config: &StorageConfig,
    ) -> DeltaResult<(ObjectStoreRef, object_store::path::Path)> {
        let bucket = url.host_str().unwrap_or_default();
        let store = self
            .store(bucket)
            .map_err(|e| deltalake::DeltaTableError::Generic(e.to_string()))?;
        let path = KeyPath::from_url_path(url.path())
            .map_err(|e| deltalake::DeltaTableError::Generic(e.to_string()))?;
        Ok((store, path))
    }
}

struct LogStores;

impl LogStoreFactory for LogStores {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        // The default log store commits with `PutMode::Create`: a
        // conditional PUT on S3.
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

impl Remote {
    /// The lake at `url`; registers `s3://` with deltalake.
    ///
    /// # Errors
    ///
    /// The store cannot be configured.
    pub fn new(url: S3Url, opts: &S3Options) -> Result<Remote> {
        let scheme = Url::parse("s3://").context("the s3 scheme")?;
        let stores: Arc<Stores> = Arc::default();
        let factory = Arc::new(Factory {
            opts: opts.clone(),
            stores: Arc::clone(&stores),
        });
        let store = factory
            .store(&url.bucket)
            .with_context(|| format!("configuring {url}"))?;
        object_store_factories().insert(scheme.clone(), factory);
        logstore_factories().insert(scheme, Arc::new(LogStores));
        let url = S3Url {
            bucket: url.bucket,
            prefix: url.prefix.trim_matches('/').to_string(),
        };
        Ok(Remote {
            url,
            store,
            opts: opts.clone(),
        })
    }

    /// The key of a path under the lake.
    pub fn key(&self, rel: &str) -> KeyPath {
        if self.url.prefix.is_empty() {
            KeyPath::from(rel)
        } else {
            KeyPath::from(format!("{}/{rel}", self.url.prefix))
        }
    }

    /// The URL of a table.
    ///
    /// # Errors
    ///
    /// The bucket or prefix do not make a URL.
    pub fn table_url(&self, table: &str) -> Result<Url> {
        let s = if self.url.prefix.is_empty() {
            format!("s3://{}/{table}/", self.url.bucket)
        } else {
            format!("s3://{}/{}/{table}/", self.url.bucket, self.url.prefix)
        };
        Url::parse(&s).with_context(|| format!("{s} is not a valid table location"))
    }

    /// Whether anything exists under a path of the lake.
    ///
    /// # Errors
    ///
    /// The listing failed.
    pub async fn exists_under(&self, rel: &str) -> Result<bool> {
        let first = self.store.list(Some(&self.key(rel))).next().await;
        match first {
            None => Ok(false),
            Some(r) => r
                .map(|_| true)
                .with_context(|| format!("listing {}", self.key(rel))),
        }
    }

    /// Uploads a local file to a path of the lake.
    ///
    /// # Errors
    ///
    /// Reading the file or the PUT failed.
    pub async fn upload(&self, local: &std::path::Path, rel: &str) -> Result<()> {
        let bytes = std::fs::read(local).with_context(|| format!("reading {}", local.display()))?;
        self.store
            .put(&self.key(rel), PutPayload::from(bytes))
            .await
            .with_context(|| format!("uploading {}", self.key(rel)))?;
        Ok(())
    }

    /// Reads a Parquet file of the lake.
    ///
    /// # Errors
    ///
    /// The GET failed or the file is not valid Parquet.
    pub async fn read_parquet(&self, rel: &str) -> Result<Vec<RecordBatch>> {
        let key = self.key(rel);
        let bytes = self.get(&key).await?;
        ParquetRecordBatchReaderBuilder::try_new(bytes)
            .and_then(|b| b.build())
            .with_context(|| format!("reading {key}"))?
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("reading {key}"))
    }

    /// The bytes of an object of the lake, `None` when there is none.
    ///
    /// # Errors
    ///
    /// The GET failed otherwise.
    pub async fn get_if_exists(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        let key = self.key(rel);
        match self.store.get(&key).await {
            Ok(r) => Ok(Some(
                r.bytes()
                    .await
                    .with_context(|| format!("reading {key}"))?
                    .to_vec(),
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {key}")),
        }
    }

    /// The size of an object of the lake, `None` when there is none.
    ///
    /// # Errors
    ///
    /// The HEAD failed otherwise.
    pub async fn size_of(&self, rel: &str) -> Result<Option<u64>> {
        let key = self.key(rel);
        match object_store::ObjectStoreExt::head(self.store.as_ref(), &key).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("looking up {key}")),
        }
    }

    /// Writes an object of the lake (one PUT: readers see the old bytes or
    /// the new).
    ///
    /// # Errors
    ///
    /// The PUT failed.
    pub async fn put(&self, rel: &str, bytes: Vec<u8>) -> Result<()> {
        let key = self.key(rel);
        self.store
            .put(&key, PutPayload::from(bytes))
            .await
            .with_context(|| format!("writing {key}"))?;
        Ok(())
    }

    /// The bytes of an object.
    async fn get(&self, key: &KeyPath) -> Result<Bytes> {
        let read = async { self.store.get(key).await?.bytes().await };
        read.await.with_context(|| format!("reading {key}"))
    }

    /// Writes a run manifest; it must not exist yet.
    ///
    /// # Errors
    ///
    /// The PUT failed, or a manifest of that run already exists.
    pub async fn write_manifest(&self, tag: &str, m: &Manifest) -> Result<KeyPath> {
        let key = self.key(&format!(
            "_s3logs/{}",
            super::manifest::file_name(tag, m.seq)
        ));
        let bytes = serde_json::to_vec(m).context("encoding the run manifest")?;
        self.store
            .put_opts(
                &key,
                PutPayload::from(bytes),
                PutOptions::from(PutMode::Create),
            )
            .await
            .with_context(|| format!("writing {key}"))?;
        Ok(key)
    }

    /// Manifests of the runs of `writers` that did not finish committing,
    /// oldest first (by writer, then run).
    ///
    /// # Errors
    ///
    /// Listing or reading failed, or a manifest does not decode.
    pub async fn pending(
        &self,
        writers: super::manifest::Writers<'_>,
    ) -> Result<Vec<(KeyPath, Manifest)>> {
        let mut out = Vec::new();
        for key in self.pending_keys().await? {
            if !key
                .filename()
                .is_some_and(|n| super::manifest::is_mine(n, writers))
            {
                continue;
            }
            let bytes = self.get(&key).await?;
            let m: Manifest = serde_json::from_slice(&bytes)
                .with_context(|| format!("decoding the run manifest {key}"))?;
            out.push((key, m));
        }
        Ok(out)
    }

    /// The keys of pending manifests.
    ///
    /// # Errors
    ///
    /// The listing failed.
    pub async fn pending_keys(&self) -> Result<Vec<KeyPath>> {
        let mut keys: Vec<KeyPath> = self
            .meta_keys()
            .await
            .context("listing the lake's run manifests")?
            .into_iter()
            .filter(|k| {
                k.filename()
                    .is_some_and(|n| n.starts_with("run-") && n.ends_with(".json"))
            })
            .collect();
        keys.sort();
        Ok(keys)
    }

    /// The keys under the lake's `_s3logs/`.
    async fn meta_keys(&self) -> Result<Vec<KeyPath>, object_store::Error> {
        let metas: Vec<_> = self
            .store
            .list(Some(&self.key("_s3logs")))
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        Ok(metas.into_iter().map(|m| m.location).collect())
    }

    /// The keys under the lake's `_s3logs/DIR/`, at any depth.
    ///
    /// # Errors
    ///
    /// The listing failed.
    pub async fn meta_keys_under(&self, dir: &str) -> Result<Vec<KeyPath>> {
        self.keys_under(&format!("_s3logs/{dir}")).await
    }

    /// The keys under a path of the lake, at any depth.
    async fn keys_under(&self, rel: &str) -> Result<Vec<KeyPath>> {
        let key = self.key(rel);
        let listed: Vec<_> = self
            .store
            .list(Some(&key))
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()
            .with_context(|| format!("listing {key}"))?;
        Ok(listed.into_iter().map(|m| m.location).collect())
    }

    /// The first commit of a table's `_delta_log` with a line that is not
    /// JSON, as `(s3:// URL, 1-based line)`, among those after its last
    /// checkpoint (the ones a reader reads). `None` when every one parses,
    /// or the log cannot be listed (the caller is already reporting an
    /// error).
    pub async fn damaged_commit(&self, table: &str) -> Option<(String, usize)> {
        let log = format!("{table}/_delta_log");
        let checkpoint = self
            .get_if_exists(&format!("{log}/_last_checkpoint"))
            .await
            .ok()
            .flatten()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["version"].as_u64());
        let mut commits: Vec<KeyPath> = self
            .keys_under(&log)
            .await
            .ok()?
            .into_iter()
            .filter(|k| {
                k.filename()
                    .and_then(super::commit_version)
                    .is_some_and(|v| checkpoint.is_none_or(|c| v > c))
            })
            .collect();
        commits.sort();
        for key in commits {
            let Ok(bytes) = self.get(&key).await else {
                continue;
            };
            if let Some(line) = super::first_line_not_json(&bytes) {
                return Some((format!("s3://{}/{key}", self.url.bucket), line));
            }
        }
        None
    }

    /// Deletes an object of the lake.
    ///
    /// # Errors
    ///
    /// The DELETE failed.
    pub async fn delete(&self, key: &KeyPath) -> Result<()> {
        self.store
            .delete(key)
            .await
            .with_context(|| format!("removing {key}"))
    }

    /// The lease objects `_s3logs/PREFIX*` that are held and not expired:
    /// their names without `lock-`.
    ///
    /// # Errors
    ///
    /// The listing failed.
    pub async fn live_leases(&self, prefix: &str) -> Result<Vec<String>> {
        let keys = self
            .meta_keys()
            .await
            .context("listing the lake's leases")?;
        let mut out = Vec::new();
        for key in keys {
            let Some(name) = key.filename().filter(|n| n.starts_with(prefix)) else {
                continue;
            };
            let name = name.trim_start_matches("lock-").to_string();
            // Gone since the listing: not held.
            let Some(bytes) = self.get_if_exists(&format!("_s3logs/lock-{name}")).await? else {
                continue;
            };
            let live = serde_json::from_slice::<LeaseBody>(&bytes)
                .map_or(true, |b| b.expires >= now_secs());
            if live {
                out.push(name);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Takes the lease `_s3logs/NAME`, waiting up to `wait` for another
    /// writer.
    ///
    /// # Errors
    ///
    /// Another writer holds it after `wait`, or S3 cannot be reached.
    pub fn lock(&self, name: &str, wait: Duration) -> Result<Lease> {
        let key = self.key(&format!("_s3logs/{name}"));
        let (bucket, opts, url) = (self.url.bucket.clone(), self.opts.clone(), self.url.clone());
        let (ready_tx, ready_rx) = channel::<Result<()>>();
        let (stop_tx, stop_rx) = channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = crate::runtime::get();
            // The lease has a store (a connection pool) of its own, so a
            // renewal never queues behind the run's uploads.
            let store = match store::build_store(&bucket, &opts) {
                Ok(s) => s,
                Err(e) => {
                    let _ = ready_tx.send(Err(anyhow!("configuring {url}: {e}")));
                    return;
                }
            };
            let Some(mut etag) = rt.block_on(take_lease(&store, &key, &url, wait, &ready_tx))
            else {
                return;
            };
            // Renew every third of the lease until the run ends.
            while let Err(RecvTimeoutError::Timeout) = stop_rx.recv_timeout(lease() / 3) {
                let update = PutMode::Update(UpdateVersion {
                    e_tag: etag.clone(),
                    version: None,
                });
                let renewed =
                    rt.block_on(store.put_opts(&key, lease_body(), PutOptions::from(update)));
                match renewed {
                    Ok(r) => etag = r.e_tag,
                    Err(e) => eprintln!("s3logs: warning: renewing the lease {key}: {e}"),
                }
            }
            if let Err(e) = rt.block_on(store.delete(&key)) {
                eprintln!("s3logs: warning: releasing the lease {key}: {e} (it expires by itself)");
            }
        });
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Lease {
                stop: Some(stop_tx),
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                bail!("the lease thread stopped")
            }
        }
    }
}

/// The lease's body: who holds it and until when (seconds since the epoch).
#[derive(serde::Serialize, serde::Deserialize)]
struct LeaseBody {
    holder: String,
    expires: u64,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn lease_body() -> PutPayload {
    let holder = format!(
        "s3logs pid {} on {}",
        std::process::id(),
        std::env::var("HOSTNAME").unwrap_or_else(|_| "?".into())
    );
    let body = LeaseBody {
        holder,
        expires: now_secs() + lease().as_secs(),
    };
    PutPayload::from(serde_json::to_vec(&body).unwrap_or_default())
}

/// Takes the lease (waiting up to `wait`) and reports on `ready`; returns
/// its ETag, or `None` when it was not taken (the error was reported).
async fn take_lease(
    store: &Arc<dyn ObjectStore>,
    key: &KeyPath,
    url: &S3Url,
    wait: Duration,
    ready: &Sender<Result<()>>,
) -> Option<Option<String>> {
    let started = Instant::now();
    let etag = loop {
        let created = store
            .put_opts(key, lease_body(), PutOptions::from(PutMode::Create))
            .await;
        match created {
            Ok(r) => break r.e_tag,
            Err(object_store::Error::AlreadyExists { .. }) => {}
            Err(e) => {
                let _ = ready.send(Err(anyhow!("taking the lease {key} on {url}: {e}")));
                return None;
            }
        }
        // Held: take it over if it expired, else wait.
        let held = async {
            let r = store.get(key).await?;
            let etag = r.meta.e_tag.clone();
            let bytes = r.bytes().await?;
            let body: LeaseBody =
                serde_json::from_slice(&bytes).map_err(|e| object_store::Error::Generic {
                    store: "lease",
                    source: Box::new(e),
                })?;
            Ok::<_, object_store::Error>((body, etag))
        }
        .await;
        if let Ok((body, Some(old))) = &held
            && body.expires < now_secs()
        {
            let update = PutMode::Update(UpdateVersion {
                e_tag: Some(old.clone()),
                version: None,
            });
            if let Ok(r) = store
                .put_opts(key, lease_body(), PutOptions::from(update))
                .await
            {
                break r.e_tag;
            }
            continue;
        }
        if started.elapsed() >= wait {
            let holder = held.map_or_else(|_| "another run".into(), |(b, _)| b.holder);
            let _ = ready.send(Err(anyhow!(
                "another s3logs run is writing to the lake {url} ({holder} holds the lease \
                 {key}); try again later or raise --lock-wait"
            )));
            return None;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    if ready.send(Ok(())).is_err() {
        let _ = store.delete(key).await;
        return None;
    }
    Some(etag)
}

/// The writer lease on an S3 lake; released (deleted) on drop.
pub struct Lease {
    stop: Option<Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
