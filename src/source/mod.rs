//! Where bytes come from: log objects on local disk, found by walking
//! folders, decompressed by magic bytes, and cut into chunks of whole lines.
//!
//! Framing lives here and nowhere else (see [`lines`]); understanding one
//! line is [`crate::parse`].

pub mod discover;
pub mod lines;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

pub use discover::{Object, delivery_time, discover};
pub use lines::{Chunk, ChunkReader, Line, MAX_LINE};

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
