//! Finding log objects: files named directly, and folders walked
//! recursively in sorted order so that every run sees the same sequence.

use std::io;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use object_store::ObjectStore;
use object_store::path::Path as KeyPath;

/// One log object to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    /// Where it is.
    pub location: Location,
    /// How it is named in tables and messages: the path as given, joined
    /// with the names found below it, or `s3://bucket/key`.
    pub name: String,
    /// Size in bytes, as stored (compressed if it is compressed).
    pub size: u64,
    /// Last modification time, when the store reports one.
    pub modified: Option<SystemTime>,
    /// The ETag, for objects on S3.
    pub etag: Option<String>,
}

/// Where an object is stored.
#[derive(Clone, Debug)]
pub enum Location {
    /// A local file.
    File(PathBuf),
    /// An object on S3 or an S3-compatible store.
    S3 {
        /// The bucket's store.
        store: Arc<dyn ObjectStore>,
        /// The bucket.
        bucket: String,
        /// The key.
        key: KeyPath,
    },
}

impl PartialEq for Location {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Location::File(a), Location::File(b)) => a == b,
            (
                Location::S3 { bucket, key, .. },
                Location::S3 {
                    bucket: b2,
                    key: k2,
                    ..
                },
            ) => bucket == b2 && key == k2,
            _ => false,
        }
    }
}

impl Eq for Location {}

impl Object {
    /// A local file.
    pub fn file(path: &Path, meta: &std::fs::Metadata) -> Object {
        Object {
            location: Location::File(path.to_path_buf()),
            name: path_name(path),
            size: meta.len(),
            modified: meta.modified().ok(),
            etag: None,
        }
    }

    /// The local file, for objects on local disk.
    pub fn local_path(&self) -> Option<&Path> {
        match &self.location {
            Location::File(p) => Some(p),
            Location::S3 { .. } => None,
        }
    }

    /// Opens the object for reading, decompressing it if needed. Objects on
    /// S3 are fetched with retries (see [`super::s3`]); to read many, use
    /// [`super::s3::Prefetch`], which fetches ahead.
    ///
    /// # Errors
    ///
    /// The object cannot be opened or its first bytes cannot be read.
    pub fn open(&self) -> io::Result<super::Opened> {
        match &self.location {
            Location::File(p) => super::open(p),
            Location::S3 { store, key, .. } => super::s3::open(store, key, self.size),
        }
    }
}

/// The name of a local path in tables and the ledger: its bytes, exactly,
/// as text. A path that is UTF-8 is its own name; a byte that is not UTF-8
/// is written `%XX`, and a `%` that would read as such an escape (or as
/// `%25`) as `%25`, so two paths never share a name (`x\xff` and `x\xfe`
/// both showed as `x\u{FFFD}` and were taken for one object). Names of
/// ordinary paths are unchanged; [`name_path`] reads a name back.
pub fn path_name(path: &Path) -> String {
    let bytes = path.as_os_str().as_encoded_bytes();
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        let valid = chunk.valid();
        let mut rest = valid;
        while let Some(i) = rest.find('%') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            out.push_str(if escape_value(after).is_some() {
                "%25"
            } else {
                "%"
            });
            rest = after;
        }
        out.push_str(rest);
        for b in chunk.invalid() {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The byte a `%XX` at the start of `after` (the text after a `%`) stands
/// for in a [`path_name`]: one that is not UTF-8 on its own (0x80 and up),
/// or `%` itself.
fn escape_value(after: &str) -> Option<u8> {
    let hex = after.get(..2)?;
    let b = u8::from_str_radix(hex, 16).ok()?;
    (hex.bytes().all(|c| c.is_ascii_hexdigit()) && (b >= 0x80 || b == b'%')).then_some(b)
}

/// The path a [`path_name`] was made from.
pub fn name_path(name: &str) -> PathBuf {
    let mut bytes = Vec::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('%') {
        bytes.extend_from_slice(&rest.as_bytes()[..i]);
        let after = &rest[i + 1..];
        match escape_value(after) {
            Some(b) => {
                bytes.push(b);
                rest = &after[2..];
            }
            None => {
                bytes.push(b'%');
                rest = after;
            }
        }
    }
    bytes.extend_from_slice(rest.as_bytes());
    PathBuf::from(std::ffi::OsString::from_vec(bytes))
}

/// A source that could not be read, and why.
#[derive(Debug)]
pub struct DiscoverError {
    /// The path or URL as given.
    pub source: String,
    /// What went wrong.
    pub error: String,
}

/// Lists the objects under `paths`: each file as given, and every file
/// below each folder, recursively, sorted by path. Files and folders whose
/// names start with `.` are skipped inside folders (editor and OS litter such
/// as `.DS_Store`), never when named directly.
///
/// Paths that cannot be read are returned beside the objects, so the caller
/// can report them and go on with the rest.
pub fn discover<P: AsRef<Path>>(paths: &[P]) -> (Vec<Object>, Vec<DiscoverError>) {
    let mut objects = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        walk(
            p.as_ref(),
            &mut Default::default(),
            &mut objects,
            &mut errors,
        );
    }
    (objects, errors)
}

/// Walks `path`, unless it is a folder in `walked` (device and inode of
/// each folder walked so far). A folder reached again through a link is
/// not walked again: its files are already listed (and `find` would read
/// each once anyway). So a link back to a folder being walked
/// (`logs/loop -> ..`) does not go round until the path is too long for
/// the kernel, failing the whole run, and links that fan out to the same
/// folders level after level do not make the walk exponential (before,
/// two such links had a walk of the sample logs take 13 GB of memory).
fn walk(
    path: &Path,
    walked: &mut std::collections::HashSet<(u64, u64)>,
    objects: &mut Vec<Object>,
    errors: &mut Vec<DiscoverError>,
) {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(error) => {
            errors.push(DiscoverError {
                source: path.display().to_string(),
                error: error.to_string(),
            });
            return;
        }
    };
    if meta.is_file() {
        objects.push(Object::file(path, &meta));
        return;
    }
    if !meta.is_dir() {
        errors.push(DiscoverError {
            source: path.display().to_string(),
            error: "not a regular file or folder".into(),
        });
        return;
    }
    let id = {
        use std::os::unix::fs::MetadataExt;
        (meta.dev(), meta.ino())
    };
    if !walked.insert(id) {
        return;
    }
    let entries = match std::fs::read_dir(path) {
        Ok(rd) => rd.collect::<Result<Vec<_>, _>>(),
        Err(e) => Err(e),
    };
    let mut entries = match entries {
        Ok(e) => e,
        Err(error) => {
            errors.push(DiscoverError {
                source: path.display().to_string(),
                error: error.to_string(),
            });
            return;
        }
    };
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        if entry.file_name().as_encoded_bytes().starts_with(b".") {
            continue;
        }
        walk(&entry.path(), walked, objects, errors);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn path_names_keep_every_byte_and_leave_ordinary_names_alone() {
        let name = |b: &[u8]| path_name(Path::new(std::ffi::OsStr::from_bytes(b)));
        assert_eq!(
            name(b"/logs/2024-03-01-00-00-00-AB"),
            "/logs/2024-03-01-00-00-00-AB"
        );
        assert_eq!(
            name("/logs/caf\u{e9} 100%".as_bytes()),
            "/logs/caf\u{e9} 100%"
        );
        assert_eq!(name(b"/x%41"), "/x%41");
        assert_eq!(name(b"/x\xff"), "/x%FF");
        assert_eq!(name(b"/x\xfe"), "/x%FE");
        assert_eq!(name(b"/x%FF"), "/x%25FF");
        assert_eq!(name(b"/x%25"), "/x%2525");
        // Every byte string has its own name, and the name gives it back.
        let mut names = std::collections::HashSet::new();
        let mut strings = std::collections::HashSet::new();
        let pieces: [&[u8]; 8] = [
            b"%", b"25", b"FF", b"ff", b"\xff", b"\xfe", b"\xc3", b"\xa9",
        ];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let bytes = [b"/".as_slice(), a, b, c].concat();
                    let n = name(&bytes);
                    assert_eq!(name_path(&n).as_os_str().as_bytes(), &bytes[..], "{n}");
                    names.insert(n);
                    strings.insert(bytes);
                }
            }
        }
        assert_eq!(names.len(), strings.len());
    }

    #[test]
    fn a_folder_reached_again_through_a_link_is_not_walked_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let logs = dir.path().join("logs");
        std::fs::create_dir_all(logs.join("a")).expect("set up");
        std::fs::write(logs.join("a/2024-03-01-00-00-00-A"), b"x\n").expect("set up");
        // A loop, and a link to a sibling.
        std::os::unix::fs::symlink("..", logs.join("a/loop")).expect("set up");
        std::os::unix::fs::symlink("a", logs.join("latest")).expect("set up");
        // Links that fan out level after level: d0 has two links to d1,
        // d1 two to d2, and so on, 2^12 paths to the last folder's file.
        for level in 0..12 {
            let here = logs.join(format!("d{level}"));
            std::fs::create_dir_all(&here).expect("set up");
            for name in ["x", "y"] {
                std::os::unix::fs::symlink(format!("../d{}", level + 1), here.join(name))
                    .expect("set up");
            }
        }
        std::fs::create_dir_all(logs.join("d12")).expect("set up");
        std::fs::write(logs.join("d12/2024-03-01-00-00-00-B"), b"x\n").expect("set up");
        let (objects, errors) = discover(&[&logs]);
        assert!(errors.is_empty(), "{errors:?}");
        let names: Vec<String> = objects
            .iter()
            .map(|o| {
                o.name
                    .strip_prefix(&*logs.to_string_lossy())
                    .unwrap_or(&o.name)
                    .to_string()
            })
            .collect();
        assert_eq!(
            names,
            [
                "/a/2024-03-01-00-00-00-A",
                "/d0/x/x/x/x/x/x/x/x/x/x/x/x/2024-03-01-00-00-00-B"
            ]
        );
    }

    #[test]
    fn walks_sorted_and_reports_missing_paths() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("b/c")).expect("mkdir");
        for f in ["b/c/2", "b/1", "a", ".hidden", "b/.DS_Store"] {
            std::fs::write(root.join(f), f).expect("write");
        }
        let missing = root.join("missing");
        let (objects, errors) = discover(&[root.to_path_buf(), missing.clone()]);
        let names: Vec<_> = objects
            .iter()
            .map(|o| {
                let p = o.local_path().expect("local");
                p.strip_prefix(root).expect("below root").to_path_buf()
            })
            .collect();
        assert_eq!(names, ["a", "b/1", "b/c/2"].map(PathBuf::from));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].source, missing.display().to_string());
        assert_eq!(objects[0].size, 1);
    }
}

/// The delivery time a log object's name carries, microseconds since the
/// epoch: the `YYYY-mm-DD-HH-MM-SS` that starts the last path component
/// (SimplePrefix, and PartitionedPrefix with `DeliveryTime`). `None` when the
/// name has no such time, or for PartitionedPrefix with `EventTime`, whose
/// name holds the event day and `00-00-00` instead.
pub fn delivery_time(name: &str) -> Option<i64> {
    let base = name.rsplit(['/', '\\']).next()?;
    let b = base.as_bytes();
    let (y, mo, d) = crate::civil::name_date(b)?;
    let num = |r: std::ops::Range<usize>| crate::civil::digits(b.get(r)?);
    for i in [13, 16] {
        if b.get(i) != Some(&b'-') {
            return None;
        }
    }
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let event_time_layout =
        (h, mi, s) == (0, 0, 0) && name.contains(&format!("/{y:04}/{mo:02}/{d:02}/"));
    if event_time_layout {
        return None;
    }
    let days = crate::civil::days_from_civil(i64::from(y), mo, d);
    Some(((days * 86_400) + i64::from(h * 3600 + mi * 60 + s)) * 1_000_000)
}

#[cfg(test)]
mod delivery_tests {
    use super::delivery_time;

    #[test]
    fn delivery_time_from_names() {
        let t = delivery_time("logs/2024-03-04-02-00-00-507BF4DE51B20A40").expect("simple");
        assert_eq!(t, delivery_time("2024-03-04-02-00-00-X").expect("bare"));
        assert_eq!(t % 86_400_000_000, 2 * 3_600_000_000);
        assert_eq!(
            delivery_time("p/111/eu-west-1/b/2024/03/01/2024-03-01-00-00-00-AB"),
            None,
            "EventTime layout carries no delivery time"
        );
        assert!(delivery_time("p/111/eu-west-1/b/2024/03/01/2024-03-01-05-10-00-AB").is_some());
        assert_eq!(delivery_time("notes.txt"), None);
    }
}
