//! Random changes to a fork, for property tests of fork and commit.

#![allow(dead_code)]

use proptest::prelude::*;
use strata::fs::{ForkId, Ino, MemBase, OpenFlags, Vfs};

/// One random change to a fork, addressed by path from its root.
#[derive(Clone, Debug)]
pub enum Op {
    Write(String, u8),
    Mkdir(String),
    Unlink(String),
    Rmdir(String),
    Rename(String, String),
    Link(String, String),
    Symlink(String, String),
    Truncate(String, u64),
}

/// A path of one to three names from a small alphabet, so ops collide.
pub fn path() -> impl Strategy<Value = String> {
    let name = prop::sample::select(vec!["a", "b", "c", "d"]);
    prop::collection::vec(name, 1..=3).prop_map(|p| p.join("/"))
}

/// One random change.
pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (path(), any::<u8>()).prop_map(|(p, b)| Op::Write(p, b)),
        3 => path().prop_map(Op::Mkdir),
        2 => path().prop_map(Op::Unlink),
        1 => path().prop_map(Op::Rmdir),
        2 => (path(), path()).prop_map(|(a, b)| Op::Rename(a, b)),
        1 => (path(), path()).prop_map(|(a, b)| Op::Link(a, b)),
        1 => (path(), path()).prop_map(|(a, b)| Op::Symlink(a, b)),
        1 => (path(), 0u64..8).prop_map(|(p, n)| Op::Truncate(p, n)),
    ]
}

/// Applies `op` to `fork`; failures are part of the random walk.
pub fn apply(vfs: &mut Vfs, fork: ForkId, root: Ino, op: &Op) {
    // Results don't matter here: failures are part of the random walk.
    let _ = match op {
        Op::Write(p, b) => vfs.write_file(fork, p, &[*b; 5]),
        Op::Mkdir(p) => vfs.create_dir_at(fork, root, p),
        Op::Unlink(p) => vfs.unlink_file_at(fork, root, p),
        Op::Rmdir(p) => vfs.remove_dir_at(fork, root, p),
        Op::Rename(a, b) => vfs.rename_at(fork, root, a, root, b),
        Op::Link(a, b) => vfs.link_at(fork, root, a, root, b),
        Op::Symlink(t, p) => vfs.symlink_at(fork, t, root, p),
        Op::Truncate(p, n) => vfs
            .open_at(fork, root, p, true, OpenFlags::default(), true)
            .and_then(|(ino, _)| {
                let r = vfs.set_size(fork, ino, *n);
                vfs.release(fork, ino);
                r
            }),
    };
}

/// The image the random changes start from.
pub fn base() -> MemBase {
    MemBase::builder()
        .file("a/a", &b"base a/a"[..])
        .file("b", &b"base b"[..])
        .dir("c/c")
        .symlink("d", "a")
        .build()
}
