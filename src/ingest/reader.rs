//! The reader thread: every object in order, cut into chunks of whole
//! lines, handed to the workers in bundles.

use std::sync::mpsc::SyncSender;

use crate::lake::retry;
use crate::source::{Chunk, Object, Prefetch};

/// A message from the reader thread.
pub(super) enum Read {
    /// Chunks, each with the index of its object: one chunk, or the chunks
    /// of several small objects (see [`BUNDLE_BYTES`]).
    Chunks(Vec<(usize, Chunk)>),
    Failed(usize, String),
    /// Objects read to their end, after their chunks: what was read of
    /// each (see [`Stored`]).
    Done(Vec<(usize, Stored)>),
}

/// What the ledger records of a local object: the bytes read from it and
/// its modification time once they were read, not what the listing saw
/// (a file that grew while it was read was ingested whole, then reported
/// as changed on every later run).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Stored {
    pub(super) size: Option<u64>,
    pub(super) modified: Option<i64>,
}

/// Chunks travel to the workers in bundles of up to this many bytes, so
/// that a worker takes many small objects (S3 delivers objects of a few
/// kilobytes) at one hand-over rather than one, and parsing is not spent
/// waiting on hand-overs. A chunk of [`crate::source::CHUNK_SIZE`] goes
/// alone.
pub(super) const BUNDLE_BYTES: usize = 1 << 20;

/// The reader thread: every object in order, cut into chunks.
pub(super) fn read_objects(objects: Vec<Object>, tx: SyncSender<Read>) {
    let mut bundle = Bundle {
        tx: &tx,
        chunks: Vec::new(),
        bytes: 0,
        done: Vec::new(),
    };
    let mut prefetch = Prefetch::new(objects);
    let mut i = 0;
    while let Some((object, reader)) = prefetch.next() {
        let reader = match reader {
            Ok(r) => r,
            Err(e) => {
                if !bundle.send(Read::Failed(i, e.to_string())) {
                    return;
                }
                i += 1;
                continue;
            }
        };
        let mut failed = false;
        for chunk in reader.chunks() {
            let sent = match chunk {
                Ok(c) => bundle.push(i, c),
                Err(e) => {
                    failed = true;
                    bundle.send(Read::Failed(i, format!("reading failed: {e}")))
                }
            };
            if !sent {
                return;
            }
        }
        if !failed && let Some(path) = object.local_path() {
            let meta = std::fs::metadata(path).ok();
            let size = prefetch.stored_bytes_read();
            // The file's time now, if it is still as long as what was read;
            // if it grew since, it has changed and should say so.
            let modified = meta
                .filter(|m| Some(m.len()) == size)
                .and_then(|m| retry::micros(m.modified().ok()));
            let stored = Stored {
                size,
                modified: modified.or(retry::micros(object.modified)),
            };
            bundle.done.push((i, stored));
        }
        i += 1;
    }
    bundle.flush();
}

/// Chunks on their way to the workers (see [`BUNDLE_BYTES`]). Each method
/// says whether the workers still listen.
pub(super) struct Bundle<'a> {
    tx: &'a SyncSender<Read>,
    chunks: Vec<(usize, Chunk)>,
    bytes: usize,
    /// Objects whose chunks are all gathered: sent after them.
    done: Vec<(usize, Stored)>,
}

impl Bundle<'_> {
    /// Adds a chunk of object `object`. The bundle is sent on before it
    /// would grow past [`BUNDLE_BYTES`], and once it reaches them.
    fn push(&mut self, object: usize, chunk: Chunk) -> bool {
        if self.bytes + chunk.data.len() > BUNDLE_BYTES && !self.flush() {
            return false;
        }
        self.bytes += chunk.data.len();
        self.chunks.push((object, chunk));
        self.bytes < BUNDLE_BYTES || self.flush()
    }

    /// Sends `msg` after the chunks gathered so far.
    fn send(&mut self, msg: Read) -> bool {
        self.flush() && self.tx.send(msg).is_ok()
    }

    /// Sends the chunks gathered so far, then the objects they finish.
    fn flush(&mut self) -> bool {
        if !self.chunks.is_empty() {
            self.bytes = 0;
            let chunks = std::mem::take(&mut self.chunks);
            if self.tx.send(Read::Chunks(chunks)).is_err() {
                return false;
            }
        }
        self.done.is_empty()
            || self
                .tx
                .send(Read::Done(std::mem::take(&mut self.done)))
                .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::{Receiver, sync_channel};

    fn chunk(bytes: usize) -> Chunk {
        Chunk {
            data: vec![b'\n'; bytes].into(),
            line_count: bytes as u64,
            ..Chunk::default()
        }
    }

    /// What the workers receive: per message, the objects and sizes of its
    /// chunks, or the failed object as a negative number.
    fn received(rx: &Receiver<Read>) -> Vec<Vec<(i64, usize)>> {
        rx.try_iter()
            .map(|m| match m {
                Read::Chunks(c) => c.iter().map(|(i, c)| (*i as i64, c.data.len())).collect(),
                Read::Failed(i, _) => vec![(-(i as i64), 0)],
                Read::Done(d) => d.iter().map(|(i, _)| (*i as i64, usize::MAX)).collect(),
            })
            .collect()
    }

    #[test]
    fn the_ledger_gets_the_size_read_not_the_size_listed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("growing.log");
        std::fs::write(&path, b"a line\n".repeat(100)).expect("write");
        let meta = std::fs::metadata(&path).expect("meta");
        // Listed when it held 10 bytes; it had grown by the time it was read.
        let mut object = Object::file(&path, &meta);
        object.size = 10;
        let (tx, rx) = sync_channel(16);
        std::thread::spawn(move || read_objects(vec![object], tx));
        let mut stored = None;
        for msg in rx.iter() {
            if let Read::Done(done) = msg {
                stored = done.first().map(|(_, s)| *s);
            }
        }
        let stored = stored.expect("a Done message");
        assert_eq!(stored.size, Some(700));
        assert_eq!(stored.modified, retry::micros(meta.modified().ok()));
    }

    #[test]
    fn small_chunks_travel_together_in_order_and_large_ones_alone() {
        let (tx, rx) = sync_channel(16);
        let mut bundle = Bundle {
            tx: &tx,
            chunks: Vec::new(),
            bytes: 0,
            done: Vec::new(),
        };
        let small = BUNDLE_BYTES / 4;
        assert!(bundle.push(1, chunk(small)));
        assert!(bundle.push(2, chunk(small)));
        // A failure goes after the chunks read before it.
        assert!(bundle.send(Read::Failed(3, "gone".into())));
        assert!(bundle.push(4, chunk(small)));
        assert!(bundle.push(5, chunk(BUNDLE_BYTES)));
        for i in 6..=10 {
            assert!(bundle.push(i, chunk(small)));
        }
        assert!(bundle.flush());
        let q = small;
        assert_eq!(
            received(&rx),
            [
                vec![(1, q), (2, q)],
                vec![(-3, 0)],
                vec![(4, q)],
                vec![(5, BUNDLE_BYTES)],
                vec![(6, q), (7, q), (8, q), (9, q)],
                vec![(10, q)],
            ]
        );
        drop(rx);
        assert!(!bundle.push(11, chunk(BUNDLE_BYTES)), "no one listens");
    }
}
