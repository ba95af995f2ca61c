//! Log objects on Amazon S3 and S3-compatible stores, through the
//! `object_store` crate (the one DataFusion and deltalake use), with the
//! store of [`crate::store`] (credentials, region, endpoint, retries).
//!
//! * Listing knows the two layouts AWS writes, SimplePrefix
//!   (`prefix/YYYY-mm-DD-HH-MM-SS-ID`) and PartitionedPrefix
//!   (`prefix/ACCOUNT/REGION/BUCKET/YYYY/MM/DD/...`), whose keys both sort
//!   by date: given a date range it starts after the first day's key
//!   (`start-after`) and stops after the last day's, instead of listing
//!   everything.
//! * Objects are fetched ahead, several at a time ([`Prefetch`]), and read
//!   through the same decoders as local files; failed requests are retried
//!   with backoff (by `object_store`: 5xx, `SlowDown`, connection errors),
//!   and a body cut short is fetched again from where it stopped.

use std::io::{self, Read};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use object_store::path::Path as KeyPath;
use object_store::{GetOptions, GetRange, ObjectMeta, ObjectStore};

use super::{DiscoverError, Location, Object};
use crate::runtime::block_on;
use crate::store::{S3Options, S3Url, store};

/// LIST requests made, for the run summary and the benchmark (one per page
/// of up to 1,000 keys).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListStats {
    /// Requests.
    pub requests: u64,
    /// Keys returned.
    pub keys: u64,
}

impl ListStats {
    fn page(&mut self, keys: usize) {
        self.requests += (keys as u64).div_ceil(1000).max(1);
        self.keys += keys as u64;
    }
}

/// Lists the log objects of an `s3://` source whose names carry a date in
/// `[since, until]` (days since the epoch; objects whose names carry no date
/// are always kept). With no range, everything under the prefix is listed.
///
/// # Errors
///
/// A LIST request failed after retries.
pub async fn list(
    url: &S3Url,
    opts: &S3Options,
    since: Option<i32>,
    until: Option<i32>,
    stats: &mut ListStats,
) -> Result<Vec<Object>, DiscoverError> {
    let fail = |e: &dyn std::fmt::Display| DiscoverError {
        source: url.to_string(),
        error: e.to_string(),
    };
    let store = store(&url.bucket, opts).map_err(|e| fail(&e))?;
    // A prefix is a folder (`logs/`) or a folder and the start of names
    // (`logs/access-`).
    let (dir, name_start) = match url.prefix.rfind('/') {
        Some(i) => (&url.prefix[..i], &url.prefix[i + 1..]),
        None => ("", url.prefix.as_str()),
    };
    let dir_path = (!dir.is_empty()).then(|| KeyPath::from(dir));
    let in_range = |key: &str| -> bool {
        match name_day(key) {
            Some(d) => since.is_none_or(|s| d >= s) && until.is_none_or(|u| d <= u),
            None => true,
        }
    };
    let keep = |m: &ObjectMeta| -> bool {
        let rel = relative(m.location.as_ref(), dir);
        rel.starts_with(name_start) && in_range(m.location.as_ref())
    };
    let mut metas: Vec<ObjectMeta> = Vec::new();
    let collect = |s: BoxStream<'static, object_store::Result<ObjectMeta>>| async move {
        s.collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<object_store::Result<Vec<_>>>()
    };
    if since.is_none() && until.is_none() {
        let all = collect(store.list(dir_path.as_ref()))
            .await
            .map_err(|e| fail(&e))?;
        stats.page(all.len());
        metas.extend(all.into_iter().filter(keep));
    } else {
        // One page tells the layout.
        let first = store.list(dir_path.as_ref()).next().await;
        stats.page(1);
        let first = match first {
            None => return Ok(Vec::new()),
            Some(r) => r.map_err(|e| fail(&e))?,
        };
        let rel = relative(first.location.as_ref(), dir).to_string();
        let parts: Vec<&str> = rel.split('/').collect();
        let dated_folders = parts.len() >= 4
            && is_digits(parts[parts.len() - 4], 4)
            && is_digits(parts[parts.len() - 3], 2)
            && is_digits(parts[parts.len() - 2], 2);
        let simple = parts.len() == 1 && name_day(&rel).is_some();
        let partitioned = dated_folders && name_start.is_empty();
        if simple || partitioned {
            // Keys sort by date in both layouts: below each folder that
            // holds dated names (SimplePrefix: the prefix; PartitionedPrefix:
            // each ACCOUNT/REGION/BUCKET/), start after the first day and
            // stop after the last.
            let mut bases = vec![dir.to_string()];
            for _ in 0..parts.len().saturating_sub(if simple { 1 } else { 4 }) {
                let mut next = Vec::new();
                for base in &bases {
                    let p = (!base.is_empty()).then(|| KeyPath::from(base.as_str()));
                    let r = store
                        .list_with_delimiter(p.as_ref())
                        .await
                        .map_err(|e| fail(&e))?;
                    stats.page(r.common_prefixes.len() + r.objects.len());
                    next.extend(r.common_prefixes.iter().map(|c| c.as_ref().to_string()));
                    // Objects beside the folders (another layout under the
                    // same prefix) are not missed.
                    metas.extend(r.objects.into_iter().filter(keep));
                }
                bases = next;
            }
            for base in &bases {
                let base_path = (!base.is_empty()).then(|| KeyPath::from(base.as_str()));
                let mut stream = match since {
                    Some(day) => {
                        let first = if simple {
                            format!("{name_start}{}", crate::civil::date_string(day))
                        } else {
                            crate::civil::date_string(day).replace('-', "/")
                        };
                        store.list_with_offset(
                            base_path.as_ref(),
                            &KeyPath::from(join(base, &first)),
                        )
                    }
                    None => store.list(base_path.as_ref()),
                };
                let mut found = Vec::new();
                while let Some(m) = stream.next().await {
                    let m = m.map_err(|e| fail(&e))?;
                    let past = until.is_some_and(|u| {
                        relative(m.location.as_ref(), dir).starts_with(name_start)
                            && name_day(m.location.as_ref()).is_some_and(|d| d > u)
                    });
                    if past {
                        break;
                    }
                    found.push(m);
                }
                stats.page(found.len());
                metas.extend(found.into_iter().filter(keep));
            }
        } else {
            let all = collect(store.list(dir_path.as_ref()))
                .await
                .map_err(|e| fail(&e))?;
            stats.page(all.len());
            metas.extend(all.into_iter().filter(keep));
        }
    }
    metas.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(metas
        .into_iter()
        .map(|m| Object {
            name: url.object_url(m.location.as_ref()),
            size: m.size,
            modified: Some(SystemTime::from(m.last_modified)),
            // S3 quotes ETags; the ledger keeps the bare value.
            etag: m.e_tag.as_deref().map(|e| e.trim_matches('"').to_string()),
            location: Location::S3 {
                store: Arc::clone(&store),
                bucket: url.bucket.clone(),
                key: m.location,
            },
        })
        .collect())
}

fn relative<'a>(key: &'a str, dir: &str) -> &'a str {
    if dir.is_empty() {
        key
    } else {
        key.strip_prefix(dir)
            .and_then(|k| k.strip_prefix('/'))
            .unwrap_or(key)
    }
}

fn join(dir: &str, rest: &str) -> String {
    if dir.is_empty() {
        rest.to_string()
    } else {
        format!("{dir}/{rest}")
    }
}

fn is_digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|c| c.is_ascii_digit())
}

pub use crate::civil::name_day;

/// Objects up to this size are fetched whole (ahead, concurrently); larger
/// ones are streamed.
const FETCH_WHOLE: u64 = 2 << 20;
/// Concurrent GETs ahead of the reader.
pub const CONCURRENCY: usize = 16;
/// Attempts to finish reading a body cut short.
const BODY_ATTEMPTS: u32 = 5;

/// Fetches an object whole, trying again when its body is cut short.
async fn fetch(store: Arc<dyn ObjectStore>, key: KeyPath) -> io::Result<Bytes> {
    let mut attempt = 0;
    loop {
        // `get_opts`, not `get`: the trait's boxed future is `Send`.
        let r = async {
            store
                .get_opts(&key, GetOptions::default())
                .await?
                .bytes()
                .await
        }
        .await;
        match r {
            Ok(b) => return Ok(b),
            Err(e) if attempt + 1 < BODY_ATTEMPTS && retryable(&e) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
            Err(e) => return Err(io::Error::other(e)),
        }
    }
}

async fn fetch_nth(
    i: usize,
    store: Arc<dyn ObjectStore>,
    key: KeyPath,
) -> (usize, io::Result<Bytes>) {
    (i, fetch(store, key).await)
}

/// Whether a failure is worth another GET: not a missing object or a
/// refusal, which will not change.
fn retryable(e: &object_store::Error) -> bool {
    !matches!(
        e,
        object_store::Error::NotFound { .. }
            | object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. }
            | object_store::Error::Precondition { .. }
    )
}

/// A large object, streamed; a body cut short is fetched again from the
/// byte where it stopped.
struct Streamed {
    store: Arc<dyn ObjectStore>,
    key: KeyPath,
    offset: u64,
    body: Option<BoxStream<'static, object_store::Result<Bytes>>>,
    buf: Bytes,
    attempts: u32,
}

impl Read for Streamed {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.buf.is_empty() {
            if self.body.is_none() {
                let opts = GetOptions {
                    range: (self.offset > 0).then_some(GetRange::Offset(self.offset)),
                    ..GetOptions::default()
                };
                let (store, key) = (Arc::clone(&self.store), self.key.clone());
                let r = block_on(async move { store.get_opts(&key, opts).await });
                match r {
                    Ok(r) => self.body = Some(r.into_stream()),
                    // object_store does not retry every failure (a
                    // connection closed as it opens is "unknown" to it).
                    Err(e) if self.attempts + 1 < BODY_ATTEMPTS && retryable(&e) => {
                        self.attempts += 1;
                        std::thread::sleep(Duration::from_millis(100 << self.attempts));
                        continue;
                    }
                    Err(e) => return Err(io::Error::other(e)),
                }
            }
            let next = match self.body.as_mut() {
                Some(body) => block_on(body.next()),
                None => None,
            };
            match next {
                None => return Ok(0),
                Some(Ok(b)) => self.buf = b,
                Some(Err(e)) if self.attempts + 1 < BODY_ATTEMPTS && retryable(&e) => {
                    self.attempts += 1;
                    self.body = None;
                    std::thread::sleep(Duration::from_millis(100 << self.attempts));
                }
                Some(Err(e)) => return Err(io::Error::other(e)),
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        self.offset += n as u64;
        let _ = self.buf.split_to(n);
        Ok(n)
    }
}

/// Reads an S3 object: fetched whole when small, streamed when large.
pub(super) fn open(
    store: &Arc<dyn ObjectStore>,
    key: &KeyPath,
    size: u64,
) -> io::Result<super::Opened> {
    if size <= FETCH_WHOLE {
        let bytes = block_on(fetch(Arc::clone(store), key.clone()))?;
        return super::decode_bytes(bytes);
    }
    super::decode(Streamed {
        store: Arc::clone(store),
        key: key.clone(),
        offset: 0,
        body: None,
        buf: Bytes::new(),
        attempts: 0,
    })
    .map(super::Opened::Stream)
}

/// Opens objects in order, fetching the small S3 ones ahead, up to
/// [`CONCURRENCY`] at a time. Local files are opened when their turn comes.
pub struct Prefetch {
    rx: tokio::sync::mpsc::Receiver<(usize, io::Result<Bytes>)>,
    objects: Vec<Object>,
    next: usize,
    /// Stored bytes read so far from the last local file opened.
    local_read: Option<Arc<std::sync::atomic::AtomicU64>>,
}

impl Prefetch {
    /// Starts fetching `objects` ahead.
    pub fn new(objects: Vec<Object>) -> Prefetch {
        let (tx, rx) = tokio::sync::mpsc::channel(CONCURRENCY);
        let wanted: Vec<(usize, Arc<dyn ObjectStore>, KeyPath)> = objects
            .iter()
            .enumerate()
            .filter_map(|(i, o)| match &o.location {
                Location::S3 { store, key, .. } if o.size <= FETCH_WHOLE => {
                    Some((i, Arc::clone(store), key.clone()))
                }
                _ => None,
            })
            .collect();
        if !wanted.is_empty() {
            crate::runtime::get().spawn(async move {
                let mut pending = futures::stream::FuturesOrdered::new();
                let mut wanted = wanted.into_iter();
                loop {
                    while pending.len() < CONCURRENCY {
                        let Some((i, store, key)) = wanted.next() else {
                            break;
                        };
                        pending.push_back(fetch_nth(i, store, key));
                    }
                    let Some(item) = pending.next().await else {
                        return;
                    };
                    if tx.send(item).await.is_err() {
                        return; // the reader stopped
                    }
                }
            });
        }
        Prefetch {
            rx,
            objects,
            next: 0,
            local_read: None,
        }
    }

    /// For the object last returned, when it is a local file: the bytes
    /// read from it so far, as stored (compressed if it is).
    pub fn stored_bytes_read(&self) -> Option<u64> {
        self.local_read
            .as_ref()
            .map(|c| c.load(std::sync::atomic::Ordering::Relaxed))
    }
}

impl Iterator for Prefetch {
    type Item = (Object, io::Result<super::Opened>);

    fn next(&mut self) -> Option<Self::Item> {
        let object = self.objects.get(self.next)?.clone();
        let i = self.next;
        self.next += 1;
        let reader = match &object.location {
            Location::S3 { .. } if object.size <= FETCH_WHOLE => match self.rx.blocking_recv() {
                Some((j, bytes)) if j == i => bytes.and_then(super::decode_bytes),
                Some((j, _)) => Err(io::Error::other(format!(
                    "prefetch out of order: object {j} came for {i}"
                ))),
                None => Err(io::Error::other("prefetch stopped")),
            },
            Location::File(path) => {
                let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
                self.local_read = Some(Arc::clone(&count));
                super::open_counted(path, count)
            }
            _ => object.open(),
        };
        if !matches!(object.location, Location::File(_)) {
            self.local_read = None;
        }
        Some((object, reader))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_give_their_day() {
        let d = name_day("p/2024-03-04-02-00-00-507BF4DE51B20A40").expect("simple");
        assert_eq!(crate::civil::date_string(d), "2024-03-04");
        assert_eq!(
            name_day("p/1/eu-west-1/b/2024/03/01/2024-03-01-00-00-00-AB"),
            Some(d - 3)
        );
        assert_eq!(name_day("p/notes.txt"), None);
    }
}
