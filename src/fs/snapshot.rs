//! [`Snapshot`]: one fork frozen at one moment, with every read operation.
//!
//! A snapshot is a cheap clone of a fork's tree plus the base it reads
//! through, so it can be handed to other threads and read without locks while
//! the fork moves on. The actor publishes one per changed fork after every
//! batch; readers use the latest.

use std::sync::Arc;

use bytes::Bytes;

use super::base::Base;
use super::error::Result;
use super::journal::Journal;
use super::limits::{Budget, Limits, Usage};
use super::node::{DirEntry, Ino, Kind, Stat};
use super::ops::{OpenFlags, Opening};
use super::time::Timestamp;
use super::tree::{Ctx, Tree};

/// A read-only view of one fork at one moment.
#[derive(Clone)]
pub struct Snapshot {
    tree: Tree,
    base: Arc<dyn Base>,
    limits: Limits,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("usage", &self.tree.usage())
            .finish_non_exhaustive()
    }
}

impl Snapshot {
    pub(crate) fn new(tree: Tree, base: Arc<dyn Base>, limits: Limits) -> Snapshot {
        Snapshot { tree, base, limits }
    }

    /// Whether the snapshot shows exactly this version of the tree.
    pub(crate) fn shows(&self, tree: &Tree) -> bool {
        self.tree.is_same_version(tree)
    }

    /// Borrows the snapshot for reading.
    pub fn reader(&self) -> Reader<'_> {
        Reader {
            tree: &self.tree,
            base: &*self.base,
            limits: &self.limits,
        }
    }
}

/// Every read operation on one version of a fork, borrowed from a
/// [`Snapshot`] or straight from a [`Vfs`](super::Vfs) without cloning.
#[derive(Clone, Copy)]
pub struct Reader<'a> {
    pub(crate) tree: &'a Tree,
    pub(crate) base: &'a dyn Base,
    pub(crate) limits: &'a Limits,
}

impl<'a> Reader<'a> {
    fn ctx(&self) -> Ctx<'a> {
        Ctx {
            base: self.base,
            limits: self.limits,
            now: Timestamp::ZERO,
            next_ino: 0,
            // Reads allocate nothing.
            budget: Budget::unlimited(),
            removing: false,
            journal: Journal::default(),
        }
    }

    /// The root directory.
    pub fn root(&self) -> Ino {
        self.tree.root()
    }

    /// What the fork held at this moment.
    pub fn usage(&self) -> Usage {
        self.tree.usage()
    }

    /// The limits the fork is held to.
    pub fn limits(&self) -> &'a Limits {
        self.limits
    }

    /// Metadata of an object.
    pub fn stat(&self, ino: Ino) -> Result<Stat> {
        self.tree.stat(self.base, ino)
    }

    /// Metadata of `path` relative to directory `dir`.
    pub fn stat_at(&self, dir: Ino, path: &str, follow: bool) -> Result<Stat> {
        self.tree.stat_at(&self.ctx(), dir, path, follow)
    }

    /// The object at `path` relative to `dir`, without opening it.
    pub fn lookup(&self, dir: Ino, path: &str, follow: bool) -> Result<Ino> {
        self.tree.ino_at(&self.ctx(), dir, path, follow)
    }

    /// What opening `path` relative to `dir` opens, when the open changes
    /// nothing: the same answer as [`Vfs::open_at`](super::Vfs::open_at),
    /// without taking a handle (the caller registers one). `None` when the
    /// open would create or truncate a file: only the fork can do that.
    pub fn open(
        &self,
        dir: Ino,
        path: &str,
        follow: bool,
        flags: OpenFlags,
        write: bool,
    ) -> Result<Option<(Ino, Kind)>> {
        let opening = self
            .tree
            .find_for_open(&self.ctx(), dir, path, follow, flags, write)?;
        Ok(match opening {
            Opening::Existing(ino, kind) if !(flags.truncate && kind == Kind::File) => {
                Some((ino, kind))
            }
            _ => None,
        })
    }

    /// Up to `len` bytes at `offset` of a file (fewer at end of file or past
    /// `Limits::max_io`), as slices shared with the file — no copy.
    pub fn read(&self, ino: Ino, offset: u64, len: u64) -> Result<Vec<Bytes>> {
        self.tree.read_at(&self.ctx(), ino, offset, len)
    }

    /// Up to `max` entries of directory `dir` whose names sort after `after`.
    pub fn read_dir(&self, dir: Ino, after: Option<&str>, max: usize) -> Result<Vec<DirEntry>> {
        self.tree.list(self.base, dir, after, max)
    }

    /// The target of the symlink at `path` relative to `dir`.
    pub fn readlink_at(&self, dir: Ino, path: &str) -> Result<String> {
        Ok(self.tree.readlink_at(&self.ctx(), dir, path)?.to_string())
    }

    /// The whole contents of the file at `path` from the root.
    pub fn read_file(&self, path: &str) -> Result<Vec<u8>> {
        let ino = self.lookup(self.root(), path, true)?;
        let size = self.stat(ino)?.size;
        let mut out = Vec::new();
        self.tree.read(self.base, ino, 0, size, &mut out)?;
        Ok(out.concat())
    }
}
