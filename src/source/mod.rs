//! Where bytes come from: log objects on local disk, found by walking
//! folders, or on S3 ([`s3`]), decompressed by magic bytes, and cut into
//! chunks of whole lines.
//!
//! Framing lives here and nowhere else (see [`lines`]); understanding one
//! line is [`crate::parse`].

pub mod discover;
pub mod lines;
pub mod s3;

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use crate::store::{S3Options, S3Url};
pub use discover::{
    DiscoverError, Location, Object, delivery_time, discover, name_path, path_name,
};
pub use lines::{Chunk, ChunkReader, Line, MAX_LINE};
pub use s3::{ListStats, Prefetch};

/// Which objects of the sources to read.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Only objects whose names carry this day or a later one (days since
    /// the epoch; objects whose names carry no date are always read).
    pub since: Option<i32>,
    /// Only objects whose names carry this day or an earlier one.
    pub until: Option<i32>,
    /// How to reach S3.
    pub s3: S3Options,
    /// A later first day per `s3://` source, as given: where the ledger's
    /// high-water mark lets the listing start.
    pub resume: HashMap<String, i32>,
}

/// What [`find`] found.
#[derive(Debug, Default)]
pub struct Found {
    /// The objects, each source's sorted by name, sources in the order given.
    pub objects: Vec<Object>,
    /// Sources that could not be read or listed.
    pub errors: Vec<DiscoverError>,
    /// LIST requests made for `s3://` sources.
    pub list: ListStats,
}

/// Finds the log objects of local paths and `s3://` URLs. Call it from
/// synchronous code (it waits for S3 listings).
pub fn find(sources: &[PathBuf], sel: &Selection) -> Found {
    let mut found = Found::default();
    for source in sources {
        let text = source.to_str().unwrap_or_default();
        if let Some(url) = S3Url::parse(text) {
            let since = match (sel.since, sel.resume.get(text).copied()) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            let mut stats = ListStats::default();
            match crate::runtime::block_on(s3::list(&url, &sel.s3, since, sel.until, &mut stats)) {
                Ok(objects) => found.objects.extend(objects),
                Err(e) => found.errors.push(e),
            }
            found.list.requests += stats.requests;
            found.list.keys += stats.keys;
        } else {
            let (objects, errors) = discover(std::slice::from_ref(source));
            let in_range = |o: &Object| match s3::name_day(&o.name) {
                Some(d) => sel.since.is_none_or(|s| d >= s) && sel.until.is_none_or(|u| d <= u),
                None => true,
            };
            found.objects.extend(objects.into_iter().filter(in_range));
            found.errors.extend(errors);
        }
    }
    // A source given twice, or a file and its folder, is read once: the
    // first time it is found.
    let mut seen = std::collections::HashSet::new();
    found.objects.retain(|o| {
        let key = match o.local_path() {
            Some(p) => std::fs::canonicalize(p).map_or_else(|_| o.name.clone(), |c| path_name(&c)),
            None => o.name.clone(),
        };
        seen.insert(key)
    });
    found
}

/// How an object's bytes are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Plain text, as AWS writes it.
    None,
    /// gzip (`1f 8b`), possibly several members.
    Gzip,
    /// Zstandard (`28 b5 2f fd`).
    Zstd,
}

impl Compression {
    /// Detects the compression from the first bytes of an object.
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// Wraps a reader in the decoder its first bytes call for.
///
/// # Errors
///
/// Reading the first bytes failed, or the zstd decoder could not start.
pub fn decode<R: Read + Send + 'static>(inner: R) -> io::Result<Box<dyn Read + Send>> {
    let mut buffered = BufReader::with_capacity(256 * 1024, inner);
    let head = buffered.fill_buf()?;
    Ok(match Compression::sniff(head) {
        Compression::None => Box::new(buffered),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(buffered)?),
    })
}

/// A reader that counts the bytes read through it.
pub struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R> Counting<R> {
    /// Counts what is read from `inner` into `count`.
    pub fn new(inner: R, count: Arc<AtomicU64>) -> Self {
        Counting { inner, count }
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Opens a local log object for reading, decompressing it if needed, and
/// counts the stored bytes read from it.
///
/// # Errors
///
/// The file cannot be opened or its first bytes cannot be read.
pub fn open_counted(path: &Path, count: Arc<AtomicU64>) -> io::Result<Box<dyn Read + Send>> {
    decode(Counting::new(File::open(path)?, count))
}

/// Opens a local log object for reading, decompressing it if needed.
///
/// # Errors
///
/// The file cannot be opened or its first bytes cannot be read.
pub fn open(path: &Path) -> io::Result<Box<dyn Read + Send>> {
    decode(File::open(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn read_all(bytes: Vec<u8>) -> Vec<u8> {
        let mut out = Vec::new();
        decode(io::Cursor::new(bytes))
            .expect("decoder")
            .read_to_end(&mut out)
            .expect("read");
        out
    }

    #[test]
    fn detects_compression_by_magic_bytes() {
        let text = b"hello\nworld\n".to_vec();
        assert_eq!(read_all(text.clone()), text);

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&text).expect("gz");
        let mut gz = gz.finish().expect("gz");
        // A second gzip member is read too (concatenated archives).
        let again = gz.clone();
        gz.extend_from_slice(&again);
        assert_eq!(read_all(gz), [&text[..], &text[..]].concat());

        let zst = zstd::encode_all(&text[..], 1).expect("zstd");
        assert_eq!(read_all(zst), text);
        assert_eq!(read_all(Vec::new()), b"");
    }
}
