//! Framing: cutting a stream of bytes into chunks of whole lines, with line
//! numbers and byte offsets, without ever holding a whole object.
//!
//! A [`ChunkReader`] reads about [`CHUNK_SIZE`] bytes at a time and cuts
//! after the last `\n`; the rest is carried into the next chunk. Chunks are
//! independent, so they can be parsed on any thread; each knows the number
//! of its first line and the byte offset of its first byte. A final line
//! without `\n` is a line. A line longer than [`MAX_LINE`] becomes a chunk of
//! its own, holding its first [`MAX_LINE`] bytes and marked
//! [`Chunk::overlong`]; the rest of it is skipped, so memory stays bounded
//! whatever the input.
//!
//! Bytes already in memory (a mapped file, an object fetched whole) are cut
//! the same way by [`SliceChunks`], into chunks that share them: no byte is
//! copied.

use std::io::{self, Read};
use std::sync::Arc;

use bytes::Bytes;

/// The target size of a chunk.
pub const CHUNK_SIZE: usize = 4 << 20;

/// The longest line read as a line (16 MiB); longer ones are rejected as
/// `line_too_long`.
pub const MAX_LINE: usize = 16 << 20;

/// A run of whole lines from one object.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The bytes: lines separated by `\n`; the last may lack it. A slice of
    /// the object's bytes when they were in memory (see [`SliceChunks`]).
    pub data: Bytes,
    /// 1-based number of the first line.
    pub first_line: u64,
    /// Byte offset of `data[0]` in the (decompressed) object.
    pub first_offset: u64,
    /// The chunk is the first [`MAX_LINE`] bytes of one longer line, whose
    /// full length is given.
    pub overlong: Option<u64>,
    /// How many lines `data` holds, counted when it was cut (what a reader
    /// sizes its buffers by; [`Chunk::lines`] does not depend on it).
    pub line_count: u64,
    /// Where each `\n` of `data` is, found when the chunk was cut (the pass
    /// that counts its lines), so that [`Chunk::lines`] need not search for
    /// them again. `None` (a chunk built by hand): they are searched for.
    pub(crate) newlines: Option<Arc<[u32]>>,
}

/// One line of a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// 1-based line number in the object.
    pub number: u64,
    /// Byte offset of the line's first byte in the object.
    pub offset: u64,
    /// The line without its `\n`.
    pub bytes: &'a [u8],
}

impl Chunk {
    /// The lines of this chunk, in order.
    pub fn lines(&self) -> impl Iterator<Item = Line<'_>> {
        let data: &[u8] = &self.data;
        // The index is made from these bytes when the chunk is cut; an entry
        // that is not a newline after the last one (a chunk whose fields
        // were changed by hand) sends the rest to the search.
        let mut index = self.newlines.as_deref().map(|n| n.iter());
        let mut pos = 0usize;
        let mut number = self.first_line;
        std::iter::from_fn(move || {
            if pos >= data.len() {
                return None;
            }
            let indexed = index
                .as_mut()
                .and_then(Iterator::next)
                .map(|&e| e as usize)
                .filter(|&e| e >= pos && data.get(e) == Some(&b'\n'));
            // No index, or it ran out: no newline is left, unless it is
            // wrong (then the rest is searched).
            let newline = indexed.or_else(|| {
                let found = memchr::memchr(b'\n', &data[pos..]).map(|i| pos + i);
                if found.is_some() {
                    index = None;
                }
                found
            });
            let end = newline.unwrap_or(data.len());
            let line = Line {
                number,
                offset: self.first_offset + pos as u64,
                bytes: &data[pos..end],
            };
            pos = end + 1;
            number += 1;
            Some(line)
        })
    }
}

/// Where each `\n` of `data` is (offsets into it), and how many there are:
/// one pass over a chunk's bytes when it is cut, which [`Chunk::lines`] then
/// reads instead of searching for each line's end. No index for data too
/// long for 32-bit offsets (a chunk is at most a few MiB past [`MAX_LINE`];
/// such a chunk would be searched).
fn newline_index(data: &[u8]) -> (Option<Arc<[u32]>>, u64) {
    if u32::try_from(data.len()).is_err() {
        return (None, memchr::memchr_iter(b'\n', data).count() as u64);
    }
    let index: Arc<[u32]> = memchr::memchr_iter(b'\n', data).map(|i| i as u32).collect();
    let newlines = index.len() as u64;
    (Some(index), newlines)
}

/// Cuts a byte stream into [`Chunk`]s.
pub struct ChunkReader<R> {
    inner: R,
    carry: Vec<u8>,
    next_line: u64,
    next_offset: u64,
    chunk_size: usize,
    max_line: usize,
    eof: bool,
    failed: bool,
}

impl<R: Read> ChunkReader<R> {
    /// Reads `inner` in chunks of about [`CHUNK_SIZE`] bytes.
    pub fn new(inner: R) -> Self {
        Self::with_sizes(inner, CHUNK_SIZE, MAX_LINE)
    }

    /// Reads `inner` with a given chunk size and line limit (tests use small
    /// ones).
    pub fn with_sizes(inner: R, chunk_size: usize, max_line: usize) -> Self {
        ChunkReader {
            inner,
            carry: Vec::new(),
            next_line: 1,
            next_offset: 0,
            // A chunk no larger than a line may be: then a line past the
            // limit is always the first of the buffer (see `next_chunk`).
            chunk_size: chunk_size.clamp(1, max_line.max(1)),
            max_line: max_line.max(1),
            eof: false,
            failed: false,
        }
    }

    /// Numbers lines from `line` and offsets from `offset`: for a reader
    /// that starts inside an object, at the first byte of a line.
    pub fn starting_at(mut self, line: u64, offset: u64) -> Self {
        self.next_line = line;
        self.next_offset = offset;
        self
    }

    /// The next chunk, or `None` at the end of the stream.
    ///
    /// # Errors
    ///
    /// Reading or decompressing failed; the chunks before it were whole.
    pub fn next_chunk(&mut self) -> io::Result<Option<Chunk>> {
        let mut buf = std::mem::take(&mut self.carry);
        // Bytes of `buf` known to hold no newline. The carry may hold some
        // (what followed an overlong line), so it is searched too: it is
        // usually part of one line.
        let mut scanned = 0;
        loop {
            let target = buf.len().max(scanned) + self.chunk_size;
            if !self.eof && buf.len() < target {
                self.fill(&mut buf, target)?;
            }
            // `buf` holds no newline before `scanned`, so its first line
            // ends at the first newline after it: one past the limit is cut
            // like a line that never ends, whether or not a newline follows
            // (a 20 MB line ending in `\n` was read whole).
            if buf.len() > self.max_line {
                let first =
                    memchr::memchr(b'\n', &buf[scanned.min(buf.len())..]).map(|i| scanned + i);
                if first.is_none_or(|i| i > self.max_line) {
                    return self.overlong(buf, first).map(Some);
                }
            }
            let cut = if buf.len() >= self.chunk_size || self.eof {
                memchr::memrchr(b'\n', &buf[scanned.min(buf.len())..]).map(|i| scanned + i)
            } else {
                None
            };
            if let Some(i) = cut {
                self.carry = buf.split_off(i + 1);
                return Ok(Some(self.emit(buf)));
            }
            if self.eof {
                return Ok((!buf.is_empty()).then(|| self.emit(buf)));
            }
            scanned = buf.len();
        }
    }

    /// Reads until `buf` holds `target` bytes or the stream ends.
    ///
    /// `read_to_end` reads into the spare capacity without zeroing it first
    /// (or, for a reader that needs it zeroed, zeroes each byte once).
    /// Zeroing the whole gap before every `read` cost a small object 8 MiB
    /// of memset, and again on every call to a reader that returns less
    /// than it is asked for, as decompressors do.
    fn fill(&mut self, buf: &mut Vec<u8>, target: usize) -> io::Result<()> {
        let want = target.saturating_sub(buf.len());
        buf.reserve(want);
        let read = (&mut self.inner).take(want as u64).read_to_end(buf)?;
        self.eof = read < want;
        Ok(())
    }

    fn emit(&mut self, data: Vec<u8>) -> Chunk {
        let (index, newlines) = newline_index(&data);
        let chunk = Chunk {
            first_line: self.next_line,
            first_offset: self.next_offset,
            overlong: None,
            line_count: newlines + u64::from(!data.ends_with(b"\n")),
            newlines: index,
            data: data.into(),
        };
        self.next_line += newlines;
        self.next_offset += chunk.data.len() as u64;
        chunk
    }

    /// `buf` starts with a line longer than the limit, which ends at
    /// `newline` when `buf` holds its end: keep its first `max_line` bytes
    /// and skip to the end of the line.
    fn overlong(&mut self, mut buf: Vec<u8>, newline: Option<usize>) -> io::Result<Chunk> {
        let mut length = newline.unwrap_or(buf.len()) as u64;
        if let Some(i) = newline {
            self.carry = buf.split_off(i + 1);
        }
        let mut newline = newline.is_some();
        buf.truncate(self.max_line);
        let mut scratch = vec![0u8; 64 * 1024];
        while !newline && !self.eof {
            let n = match self.inner.read(&mut scratch) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let part = &scratch[..n];
            match memchr::memchr(b'\n', part) {
                Some(i) => {
                    length += i as u64;
                    self.carry.extend_from_slice(&part[i + 1..]);
                    newline = true;
                }
                None => length += n as u64,
            }
        }
        let chunk = Chunk {
            data: buf.into(),
            first_line: self.next_line,
            first_offset: self.next_offset,
            overlong: Some(length),
            line_count: 1,
            newlines: None,
        };
        self.next_line += 1;
        self.next_offset += length + u64::from(newline);
        Ok(chunk)
    }
}

impl<R: Read> Iterator for ChunkReader<R> {
    type Item = io::Result<Chunk>;

    /// The chunks, then at most one error, after which the stream ends.
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let next = self.next_chunk();
        self.failed = next.is_err();
        next.transpose()
    }
}

/// Cuts bytes already in memory into [`Chunk`]s that are slices of them,
/// with the lines, numbers, offsets and overlong lines [`ChunkReader`]
/// gives for the same bytes (where it cuts may differ; what a chunk holds
/// is whole lines either way).
pub struct SliceChunks {
    data: Bytes,
    pos: usize,
    next_line: u64,
    chunk_size: usize,
    max_line: usize,
}

impl SliceChunks {
    /// Cuts `data` into chunks of about [`CHUNK_SIZE`] bytes.
    pub fn new(data: Bytes) -> Self {
        Self::with_sizes(data, CHUNK_SIZE, MAX_LINE)
    }

    /// Cuts `data` with a given chunk size and line limit (tests use small
    /// ones).
    pub fn with_sizes(data: Bytes, chunk_size: usize, max_line: usize) -> Self {
        SliceChunks {
            data,
            pos: 0,
            next_line: 1,
            chunk_size: chunk_size.clamp(1, max_line.max(1)),
            max_line: max_line.max(1),
        }
    }

    /// The first line of `rest` is longer than the limit: a chunk of its
    /// first `max_line` bytes, and the position after its newline.
    fn overlong(&self, length: usize, newline: bool) -> (Chunk, usize) {
        let chunk = Chunk {
            data: self.data.slice(self.pos..self.pos + self.max_line),
            first_line: self.next_line,
            first_offset: self.pos as u64,
            overlong: Some(length as u64),
            line_count: 1,
            newlines: None,
        };
        (chunk, self.pos + length + usize::from(newline))
    }
}

impl Iterator for SliceChunks {
    type Item = Chunk;

    fn next(&mut self) -> Option<Chunk> {
        let rest = self.data.get(self.pos..).filter(|r| !r.is_empty())?;
        // The chunk ends after the last newline of the next `chunk_size`
        // bytes, or with the data. No newline there: its first line is
        // longer than a chunk, and a chunk of its own (or overlong).
        let end = if rest.len() <= self.chunk_size {
            rest.len()
        } else if let Some(i) = memchr::memrchr(b'\n', &rest[..self.chunk_size]) {
            i + 1
        } else {
            let newline = memchr::memchr(b'\n', &rest[self.chunk_size..]);
            let length = newline.map_or(rest.len(), |i| self.chunk_size + i);
            if length > self.max_line {
                let (chunk, next) = self.overlong(length, newline.is_some());
                self.pos = next;
                self.next_line += 1;
                return Some(chunk);
            }
            (length + 1).min(rest.len())
        };
        let data = self.data.slice(self.pos..self.pos + end);
        let (index, newlines) = newline_index(&data);
        let chunk = Chunk {
            first_line: self.next_line,
            first_offset: self.pos as u64,
            overlong: None,
            line_count: newlines + u64::from(!data.ends_with(b"\n")),
            newlines: index,
            data,
        };
        self.pos += end;
        self.next_line += newlines;
        Some(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that returns at most `n` bytes per call.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.1.min(out.len()).min(self.0.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    type Lines = Vec<(u64, u64, Vec<u8>, Option<u64>)>;

    /// The lines of chunks read through a reader that returns at most
    /// `trickle` bytes a call; the same as cutting them in memory.
    fn collect(input: &[u8], chunk: usize, max: usize, trickle: usize) -> Lines {
        let read = ChunkReader::with_sizes(Trickle(input, trickle), chunk, max);
        let out = lines_of(read.map(|c| c.expect("read")));
        let sliced = SliceChunks::with_sizes(Bytes::copy_from_slice(input), chunk, max);
        assert_eq!(lines_of(sliced), out, "in memory, {chunk} {max}");
        out
    }

    fn lines_of(chunks: impl Iterator<Item = Chunk>) -> Lines {
        let mut out = Vec::new();
        for c in chunks {
            if c.overlong.is_some() {
                out.push((c.first_line, c.first_offset, c.data.to_vec(), c.overlong));
                continue;
            }
            assert_eq!(c.line_count, c.lines().count() as u64);
            assert!(c.newlines.is_some(), "a cut chunk is indexed");
            assert_eq!(searched(&c), c.lines().collect::<Vec<_>>(), "index");
            for l in c.lines() {
                out.push((l.number, l.offset, l.bytes.to_vec(), None));
            }
        }
        out
    }

    /// The lines of `c` found by searching for each line's end.
    fn searched(c: &Chunk) -> Vec<Line<'_>> {
        let mut rest: &[u8] = &c.data;
        let (mut number, mut offset) = (c.first_line, c.first_offset);
        let mut out = Vec::new();
        while !rest.is_empty() {
            let (bytes, used) = match memchr::memchr(b'\n', rest) {
                Some(i) => (&rest[..i], i + 1),
                None => (rest, rest.len()),
            };
            out.push(Line {
                number,
                offset,
                bytes,
            });
            rest = &rest[used..];
            number += 1;
            offset += used as u64;
        }
        out
    }

    #[test]
    fn a_chunk_without_its_index_or_with_a_wrong_one_gives_the_same_lines() {
        let text = b"a b\n\nccc\nlast";
        let right = SliceChunks::new(Bytes::from_static(text))
            .next()
            .expect("a chunk");
        let want: Lines = lines_of(std::iter::once(right.clone()));
        assert_eq!(want.len(), 4);
        for wrong in [
            None,
            Some(vec![]),
            Some(vec![1, 2]),
            Some(vec![3, 99]),
            Some(vec![5, 3]),
        ] {
            let c = Chunk {
                newlines: wrong.clone().map(Into::into),
                ..right.clone()
            };
            let got: Vec<_> = c
                .lines()
                .map(|l| (l.number, l.offset, l.bytes.to_vec(), None))
                .collect();
            assert_eq!(got, want, "{wrong:?}");
        }
    }

    #[test]
    fn any_chunk_size_gives_the_same_lines() {
        let input = b"one\ntwo\r\n\nthree four\nlast-without-newline";
        let want = collect(input, 1 << 20, 1 << 20, 1 << 20);
        assert_eq!(want.len(), 5);
        assert_eq!(want[4], (5, 21, b"last-without-newline".to_vec(), None));
        assert_eq!(want[2], (3, 9, b"".to_vec(), None));
        for chunk in 1..12 {
            for trickle in [1, 3, 7, 100] {
                assert_eq!(
                    collect(input, chunk, 1 << 20, trickle),
                    want,
                    "{chunk} {trickle}"
                );
            }
        }
    }

    #[test]
    fn overlong_lines_are_cut_and_numbering_goes_on() {
        let input = b"ok\n0123456789abcdef\nnext\n0123456789";
        let got = collect(input, 4, 8, 3);
        assert_eq!(got[0], (1, 0, b"ok".to_vec(), None));
        assert_eq!(got[1], (2, 3, b"01234567".to_vec(), Some(16)), "overlong");
        assert_eq!(got[2], (3, 20, b"next".to_vec(), None));
        assert_eq!(
            got[3].3,
            Some(10),
            "final line without newline is overlong too"
        );
        assert_eq!(got[3].1, 25);
    }

    #[test]
    fn a_long_line_is_overlong_whether_or_not_a_newline_follows() {
        // The line's end may come in the same read as bytes past the
        // limit: it must still be cut.
        for (chunk, trickle) in [(8, 64), (8, 5), (4, 3), (64, 100), (1, 1)] {
            let mut input = b"ok\n".to_vec();
            input.extend_from_slice(&[b'x'; 20]);
            input.extend_from_slice(b"\nnext\n");
            input.extend_from_slice(&[b'y'; 20]);
            let got = collect(&input, chunk, 8, trickle);
            assert_eq!(got.len(), 4, "{chunk} {trickle}: {got:?}");
            assert_eq!(got[0], (1, 0, b"ok".to_vec(), None));
            assert_eq!(got[1], (2, 3, vec![b'x'; 8], Some(20)));
            assert_eq!(got[2], (3, 24, b"next".to_vec(), None));
            assert_eq!(got[3], (4, 29, vec![b'y'; 8], Some(20)));
        }
        let mut r = ChunkReader::with_sizes(&[b'z'; 30][..], 64, 8);
        let c = r.next_chunk().expect("read").expect("a chunk");
        assert_eq!(c.overlong, Some(30));
        let mut with_nl = [b'z'; 31];
        with_nl[30] = b'\n';
        let mut r = ChunkReader::with_sizes(&with_nl[..], 64, 8);
        let c = r.next_chunk().expect("read").expect("a chunk");
        assert_eq!(c.overlong, Some(30), "the same length with its newline");
        assert!(r.next_chunk().expect("read").is_none());
    }

    /// A reader that fails after some bytes.
    struct Failing(usize);

    impl Read for Failing {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::other("corrupt"));
            }
            let n = self.0.min(out.len());
            out[..n].fill(b'\n');
            self.0 -= n;
            Ok(n)
        }
    }

    #[test]
    fn a_read_error_ends_the_stream() {
        let items: Vec<_> = ChunkReader::with_sizes(Failing(10), 4, 8).collect();
        assert!(items.last().is_some_and(|r| r.is_err()));
        assert_eq!(items.iter().filter(|r| r.is_err()).count(), 1);
    }

    #[test]
    fn cutting_in_memory_shares_the_bytes_and_gives_the_same_lines() {
        // Lines around the chunk size and the limit, in every order.
        let lines: [&[u8]; 6] = [
            b"",
            b"a",
            b"abcd",
            b"abcdefgh",
            b"abcdefghi",
            b"abcdefghijklmnopq",
        ];
        let mut input = Vec::new();
        for (i, a) in lines.iter().enumerate() {
            for b in &lines[i..] {
                input.extend_from_slice(a);
                input.push(b'\n');
                input.extend_from_slice(b);
                input.push(b'\n');
            }
        }
        input.extend_from_slice(b"tail");
        for chunk in [1, 3, 4, 8, 9, 16, 64] {
            for max in [4, 8, 9, 16] {
                collect(&input, chunk, max, 5);
            }
        }
        let data = Bytes::from(input);
        for c in SliceChunks::with_sizes(data.clone(), 16, 8) {
            let inside = data.as_ptr_range();
            assert!(inside.contains(&c.data.as_ptr()), "a slice, not a copy");
        }
    }

    #[test]
    fn empty_input_has_no_chunks() {
        assert!(collect(b"", 4, 8, 1).is_empty());
    }
}
