//! Helpers shared by the integration tests.

#![allow(dead_code)]

pub mod guest;
pub mod tree_ops;

use std::collections::BTreeMap;

use std::time::Duration;

use strata::fs::{ForkId, Ino, Kind, OpenFlags, Reader, Vfs};

/// Open flags that create the file if it is missing.
pub const CREATE: OpenFlags = OpenFlags {
    create: true,
    directory: false,
    exclusive: false,
    truncate: false,
};

/// Creates `name` under the fork's root holding `data`; returns the root
/// and the file, both held open.
pub async fn file_with(
    fork: &strata::actor::Fork,
    name: &str,
    data: bytes::Bytes,
) -> (strata::actor::OpenFile, strata::actor::OpenFile) {
    let root = fork.open_root().await.unwrap();
    let file = root.open_at(name, create()).await.unwrap();
    file.write(0, data).await.unwrap();
    (root, file)
}

/// Open options for writing that create the file if it is missing (the
/// handle's form of [`CREATE`]).
pub fn create() -> strata::actor::OpenOptions {
    strata::actor::OpenOptions::new().write(true).create(true)
}

/// Fails the test instead of hanging it.
pub async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .unwrap_or_else(|_| panic!("{what} hung"))
}

/// One object as a snapshot records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    Dir,
    /// Contents and link count.
    File(Vec<u8>, u64),
    /// Target (or `<absolute>` for one the core refuses to read out).
    Symlink(String),
}

/// Path → (inode number, entry): the inode tells "same object" apart from
/// "same bytes".
pub type Snapshot = BTreeMap<String, (u64, Entry)>;

/// Everything reachable from `dir` in `fork`, by path.
pub fn snapshot(vfs: &Vfs, fork: ForkId, dir: Ino) -> Snapshot {
    snapshot_of(vfs.reader(fork).unwrap(), dir)
}

/// Everything reachable from `dir` in a fork, by path.
pub fn snapshot_of(reader: Reader<'_>, dir: Ino) -> Snapshot {
    let mut out = Snapshot::new();
    let mut work = vec![(String::new(), dir)];
    while let Some((prefix, dir)) = work.pop() {
        for entry in reader.read_dir(dir, None, usize::MAX).unwrap() {
            let path = format!("{prefix}/{}", entry.name);
            let value = match entry.kind {
                Kind::Dir => {
                    work.push((path.clone(), entry.ino));
                    Entry::Dir
                }
                Kind::File => {
                    let stat = reader.stat(entry.ino).unwrap();
                    let data = reader.read(entry.ino, 0, stat.size).unwrap().concat();
                    Entry::File(data, stat.nlink)
                }
                Kind::Symlink => Entry::Symlink(
                    reader
                        .readlink_at(dir, &entry.name)
                        .unwrap_or_else(|_| "<absolute>".into()),
                ),
            };
            out.insert(path, (entry.ino.0, value));
        }
    }
    out
}

/// Everything under a host directory, by path, in the same form.
pub fn host_tree(dir: &std::path::Path) -> BTreeMap<String, Entry> {
    use std::os::unix::fs::MetadataExt;
    let mut out = BTreeMap::new();
    let mut work = vec![(String::new(), dir.to_path_buf())];
    while let Some((prefix, dir)) = work.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = format!("{prefix}/{}", entry.file_name().to_string_lossy());
            let meta = std::fs::symlink_metadata(entry.path()).unwrap();
            let value = if meta.is_dir() {
                work.push((path.clone(), entry.path()));
                Entry::Dir
            } else if meta.file_type().is_symlink() {
                Entry::Symlink(
                    std::fs::read_link(entry.path())
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                )
            } else {
                Entry::File(std::fs::read(entry.path()).unwrap(), meta.nlink())
            };
            out.insert(path, value);
        }
    }
    out
}

/// A snapshot without inode numbers, to compare two worlds.
pub fn contents(s: &Snapshot) -> BTreeMap<String, Entry> {
    s.iter().map(|(k, (_, v))| (k.clone(), v.clone())).collect()
}
