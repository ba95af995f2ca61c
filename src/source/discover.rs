//! Finding log objects: files named directly, and folders walked
//! recursively in sorted order so that every run sees the same sequence.

use std::io::{self, Read};
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
            name: path.display().to_string(),
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
    pub fn open(&self) -> io::Result<Box<dyn Read + Send>> {
        match &self.location {
            Location::File(p) => super::open(p),
            Location::S3 { store, key, .. } => super::s3::open(store, key, self.size),
        }
    }
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
        walk(p.as_ref(), &mut objects, &mut errors);
    }
    (objects, errors)
}

fn walk(path: &Path, objects: &mut Vec<Object>, errors: &mut Vec<DiscoverError>) {
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
        walk(&entry.path(), objects, errors);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    if b.len() < 19 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let s = std::str::from_utf8(b.get(r)?).ok()?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    for i in [4, 7, 10, 13, 16] {
        if b[i] != b'-' {
            return None;
        }
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let event_time_layout =
        (h, mi, s) == (0, 0, 0) && name.contains(&format!("/{y:04}/{mo:02}/{d:02}/"));
    if event_time_layout {
        return None;
    }
    let days = crate::parse::days_from_civil(i64::from(y), mo, d);
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
