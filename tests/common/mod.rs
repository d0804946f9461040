//! Helpers shared by the integration tests.

#![allow(dead_code)]

pub mod guest;

use std::collections::BTreeMap;

use strata::fs::{ForkId, Ino, Kind, Vfs};

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
    let mut out = Snapshot::new();
    let mut work = vec![(String::new(), dir)];
    while let Some((prefix, dir)) = work.pop() {
        for entry in vfs.read_dir(fork, dir, None, usize::MAX).unwrap() {
            let path = format!("{prefix}/{}", entry.name);
            let value = match entry.kind {
                Kind::Dir => {
                    work.push((path.clone(), entry.ino));
                    Entry::Dir
                }
                Kind::File => {
                    let stat = vfs.stat(fork, entry.ino).unwrap();
                    let data = vfs.read(fork, entry.ino, 0, stat.size).unwrap().concat();
                    Entry::File(data, stat.nlink)
                }
                Kind::Symlink => Entry::Symlink(
                    vfs.readlink_at(fork, dir, &entry.name)
                        .unwrap_or_else(|_| "<absolute>".into()),
                ),
            };
            out.insert(path, (entry.ino.0, value));
        }
    }
    out
}

/// A snapshot without inode numbers, to compare two worlds.
pub fn contents(s: &Snapshot) -> BTreeMap<String, Entry> {
    s.iter().map(|(k, (_, v))| (k.clone(), v.clone())).collect()
}
