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
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

pub use crate::store::{S3Options, S3Url};
pub use discover::{
    DiscoverError, Location, Object, delivery_time, discover, name_path, path_name,
};
pub use lines::{Chunk, ChunkReader, Line, MAX_LINE, SliceChunks};
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

/// An object opened for reading.
pub enum Opened {
    /// Bytes that come as they are read: a compressed object (decoded), a
    /// small or very large file, an object streamed from S3.
    Stream(Box<dyn Read + Send>),
    /// The whole plain object in memory: a mapped file (see [`map_file`])
    /// or an object fetched whole. Its chunks are slices of it.
    Whole(Bytes),
}

impl Opened {
    /// The object's chunks of whole lines.
    pub fn chunks(self) -> Chunks {
        match self {
            Opened::Stream(r) => Chunks::Stream(ChunkReader::new(r)),
            Opened::Whole(b) => Chunks::Whole(SliceChunks::new(b)),
        }
    }

    /// The object's bytes as a reader (decompressed where they were).
    pub fn into_reader(self) -> Box<dyn Read + Send> {
        match self {
            Opened::Stream(r) => r,
            Opened::Whole(b) => Box::new(io::Cursor::new(b)),
        }
    }
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Opened::Stream(_) => f.write_str("Opened::Stream"),
            Opened::Whole(b) => write!(f, "Opened::Whole({} bytes)", b.len()),
        }
    }
}

/// The chunks of an opened object (see [`Opened::chunks`]).
pub enum Chunks {
    /// Read and cut as they come.
    Stream(ChunkReader<Box<dyn Read + Send>>),
    /// Cut from bytes in memory.
    Whole(SliceChunks),
}

impl Iterator for Chunks {
    type Item = io::Result<Chunk>;

    /// The chunks, then at most one error, after which the stream ends.
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Chunks::Stream(r) => r.next(),
            Chunks::Whole(s) => s.next().map(Ok),
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

/// A whole object's bytes, opened: as they are when plain, else decoded.
///
/// # Errors
///
/// The zstd decoder could not start.
pub fn decode_bytes(bytes: Bytes) -> io::Result<Opened> {
    if Compression::sniff(&bytes) == Compression::None {
        return Ok(Opened::Whole(bytes));
    }
    decode(io::Cursor::new(bytes)).map(Opened::Stream)
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

/// Plain files of these sizes are mapped rather than read (see
/// [`map_file`]). Below, a read costs less than setting up and tearing
/// down a mapping; above, a file's touched pages would stay mapped, and
/// counted in the process's memory, until its last chunk is parsed.
const MAP_BYTES: std::ops::RangeInclusive<u64> = (1 << 20)..=(256 << 20);

/// A plain local file of [`MAP_BYTES`], mapped into memory: its chunks are
/// then slices of the page cache, not copies of it (the kernel's copy
/// into fresh read buffers was about a sixth of an ingest's CPU time).
/// `None` for a compressed, small or very large file, where mapping is
/// off (`S3LOGS_MMAP=0`), or where the mapping fails: read it instead.
///
/// A mapped file that another process truncates while it is read ends the
/// process with `SIGBUS` (as it does ripgrep's): an ingest then fails as
/// if killed, and keeps its lake as a kill does. Log files are written
/// once and not truncated; where that cannot be promised, set
/// `S3LOGS_MMAP=0`.
pub fn map_file(file: &File, len: u64) -> Option<Bytes> {
    if !MAP_BYTES.contains(&len) || crate::env_u64("S3LOGS_MMAP") == Some(0) {
        return None;
    }
    // SAFETY: the map is only read, and lives as long as the last `Bytes`
    // that shares it. Another process changing the file while it is
    // mapped changes what the parser reads (as it would change what
    // `read` returns; a torn line is rejected or read as it now is) or, if
    // it truncates the file, raises SIGBUS: see above.
    let map = unsafe { memmap2::Mmap::map(file) }.ok()?;
    if Compression::sniff(&map) != Compression::None || map.len() as u64 != len {
        return None;
    }
    // Read once, front to back: the kernel may read ahead and drop behind.
    let _ = map.advise(memmap2::Advice::Sequential);
    Some(Bytes::from_owner(map))
}

/// Opens a local log object for reading (mapped where [`map_file`] can,
/// else decompressed if needed), and counts the stored bytes read from it.
///
/// # Errors
///
/// The file cannot be opened or its first bytes cannot be read.
pub fn open_counted(path: &Path, count: Arc<AtomicU64>) -> io::Result<Opened> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    if let Some(bytes) = map_file(&file, len) {
        count.fetch_add(len, Ordering::Relaxed);
        return Ok(Opened::Whole(bytes));
    }
    decode(Counting::new(file, count)).map(Opened::Stream)
}

/// Opens a local log object for reading (see [`open_counted`]).
///
/// # Errors
///
/// The file cannot be opened or its first bytes cannot be read.
pub fn open(path: &Path) -> io::Result<Opened> {
    open_counted(path, Arc::new(AtomicU64::new(0)))
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

    #[test]
    fn plain_files_of_a_megabyte_or_more_are_mapped_and_the_rest_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let line = b"a log line\n".repeat((1 << 20) / 11 + 1);
        let big = dir.path().join("big.log");
        std::fs::write(&big, &line).expect("write");
        let small = dir.path().join("small.log");
        std::fs::write(&small, &line[..4096]).expect("write");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
        gz.write_all(&line).expect("gz");
        let packed = dir.path().join("big.log.gz");
        std::fs::write(&packed, gz.finish().expect("gz")).expect("write");
        assert!(std::fs::metadata(&packed).expect("meta").len() >= 1 << 20);

        let count = Arc::new(AtomicU64::new(0));
        match open_counted(&big, Arc::clone(&count)).expect("open") {
            Opened::Whole(b) => assert_eq!(&b[..], &line[..]),
            other => panic!("not mapped: {other:?}"),
        }
        assert_eq!(count.load(Ordering::Relaxed), line.len() as u64);
        for path in [&small, &packed] {
            let opened = open(path).expect("open");
            assert!(matches!(opened, Opened::Stream(_)), "{path:?}: {opened:?}");
        }
        // Either way the same lines come out.
        let lines = |o: Opened| -> usize {
            o.chunks()
                .map(|c| c.expect("read").line_count as usize)
                .sum()
        };
        assert_eq!(
            lines(open(&big).expect("big")),
            lines(open(&packed).expect("gz"))
        );
    }
}
