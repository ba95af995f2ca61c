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
