//! Finding log objects: files named directly, and folders walked
//! recursively in sorted order so that every run sees the same sequence.

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// One log object to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    /// Where it is.
    pub path: PathBuf,
    /// How it is named in tables and messages (the path as given, joined
    /// with the names found below it).
    pub name: String,
    /// Size in bytes, as stored (compressed if it is compressed).
    pub size: u64,
    /// Last modification time, when the file system reports one.
    pub modified: Option<SystemTime>,
}

/// A path that could not be read, and why.
#[derive(Debug)]
pub struct DiscoverError {
    /// The path.
    pub path: PathBuf,
    /// The I/O error.
    pub error: io::Error,
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
                path: path.to_path_buf(),
                error,
            });
            return;
        }
    };
    if meta.is_file() {
        objects.push(Object {
            path: path.to_path_buf(),
            name: path.display().to_string(),
            size: meta.len(),
            modified: meta.modified().ok(),
        });
        return;
    }
    if !meta.is_dir() {
        errors.push(DiscoverError {
            path: path.to_path_buf(),
            error: io::Error::other("not a regular file or folder"),
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
                path: path.to_path_buf(),
                error,
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
            .map(|o| o.path.strip_prefix(root).expect("below root").to_path_buf())
            .collect();
        assert_eq!(names, ["a", "b/1", "b/c/2"].map(PathBuf::from));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].path, missing);
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
