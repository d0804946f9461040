//! [`Vfs`]: all the forks of one filesystem, addressed by [`ForkId`].
//!
//! This is the core's public face. Every mutating call runs its operation on
//! the fork's tree in place and, if the operation fails anywhere, undoes
//! what its journal recorded — the one mechanism that makes every operation
//! atomic and every `NeedsBase` miss free of side effects.
//!
//! The `Vfs` also tracks which inodes each fork holds open, so an unlinked
//! file stays readable through an open handle (POSIX) and is dropped when the
//! last handle goes.

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

use bytes::Bytes;

use super::base::Base;
use super::data::rest_of;
use super::diff::{self, Change};
use super::error::{Errno, Result};
use super::journal::Journal;
use super::limits::{Budget, Limits, Usage};
use super::merge::{self, CommitError};
use super::meter::Meter;
use super::node::{DirEntry, Ino, Kind, Stat};
use super::ops::OpenFlags;
use super::snapshot::{Reader, Snapshot};
use super::time::{Clock, SetTime, SystemClock};
use super::tree::{Ctx, Tree};

/// Names one fork of a [`Vfs`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ForkId(pub u64);

impl ForkId {
    /// The fork every `Vfs` starts with, directly over the base.
    pub const ROOT: ForkId = ForkId(0);
}

#[derive(Clone)]
struct Fork {
    tree: Tree,
    /// The parent's tree when this fork was made: what `diff` compares with
    /// and what `commit` merges against.
    origin: Tree,
    parent: Option<ForkId>,
    children: usize,
    /// Open handles per inode.
    open: HashMap<Ino, u64>,
    open_total: u64,
}

impl Fork {
    fn new(tree: Tree, parent: Option<ForkId>) -> Fork {
        Fork {
            origin: tree.clone(),
            tree,
            parent,
            children: 0,
            open: HashMap::default(),
            open_total: 0,
        }
    }

    /// Whether `sweep` would drop anything.
    fn has_unheld_orphans(&self) -> bool {
        self.tree
            .orphans
            .iter()
            .any(|ino| !self.open.contains_key(ino))
    }

    /// Drops orphaned inodes that no handle holds any more; whether any went.
    fn sweep(&mut self) -> bool {
        let open = &self.open;
        self.tree.drop_orphans_unless(|ino| open.contains_key(&ino))
    }
}

/// A filesystem with any number of copy-on-write forks over one base.
///
/// ```
/// use std::sync::Arc;
/// use strata::fs::{ForkId, MemBase, Vfs};
///
/// let base = MemBase::builder().file("etc/motd", &b"hello"[..]).build();
/// let mut vfs = Vfs::new(Arc::new(base));
/// let guest = vfs.fork(ForkId::ROOT).unwrap();
/// vfs.write_file(guest, "etc/motd", b"changed").unwrap();
/// assert_eq!(vfs.read_file(ForkId::ROOT, "etc/motd").unwrap(), b"hello");
/// assert_eq!(vfs.read_file(guest, "etc/motd").unwrap(), b"changed");
/// ```
///
/// Cloning a `Vfs` copies every fork in O(forks), sharing all their data:
/// a checkpoint of the whole filesystem. The two count what they hold
/// against one [`Budget`], as they share it.
#[derive(Clone)]
pub struct Vfs {
    base: Arc<dyn Base>,
    limits: Limits,
    clock: Arc<dyn Clock>,
    next_ino: u64,
    next_fork: u64,
    forks: HashMap<ForkId, Fork>,
    budget: Budget,
    /// What all forks, snapshots and readers hold together (see `meter`).
    meter: Arc<Meter>,
    /// Whether orphans nobody holds wait for [`Vfs::drop_unheld_orphans`]
    /// instead of going at once.
    defer_drops: bool,
    /// Forks that may hold such orphans (only while `defer_drops`).
    unswept: Vec<ForkId>,
}

impl Vfs {
    /// A filesystem over `base` with default limits and the system clock.
    pub fn new(base: Arc<dyn Base>) -> Vfs {
        Vfs::with(base, Limits::default(), Arc::new(SystemClock))
    }

    /// A filesystem over `base` with these limits and this clock.
    pub fn with(base: Arc<dyn Base>, mut limits: Limits, clock: Arc<dyn Clock>) -> Vfs {
        // A read or write that may move nothing would leave every caller
        // that loops until done looping forever.
        limits.max_io = limits.max_io.max(1);
        let meter = Arc::new(Meter::default());
        let tree = Tree::new(&*base, meter.clone());
        let mut forks = HashMap::default();
        forks.insert(ForkId::ROOT, Fork::new(tree, None));
        Vfs {
            base,
            limits,
            clock,
            next_ino: Ino::FIRST_UPPER.0,
            next_fork: 1,
            forks,
            budget: Budget::default(),
            meter,
            defer_drops: false,
            unswept: Vec::new(),
        }
    }

    /// The same filesystem held to `budget` (by default
    /// [`Budget::default`]) across all its forks.
    pub fn with_budget(mut self, budget: Budget) -> Vfs {
        self.budget = budget;
        self
    }

    /// What all forks, their snapshots and their readers hold now, each
    /// chunk and inode counted once: what the [`Budget`] bounds.
    pub fn budget_used(&self) -> Usage {
        self.meter.held()
    }

    /// The limits every fork is held to.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The base layer.
    pub fn base(&self) -> &Arc<dyn Base> {
        &self.base
    }

    fn fork_ref(&self, fork: ForkId) -> Result<&Fork> {
        Ok(self.forks.get(&fork).ok_or(Errno::BadDescriptor)?)
    }

    /// The fork as it is now, frozen: to hand to other threads.
    pub fn snapshot(&self, fork: ForkId) -> Result<Snapshot> {
        let tree = self.fork_ref(fork)?.tree.clone();
        Ok(Snapshot::new(tree, self.base.clone(), self.limits))
    }

    /// Whether `snapshot` still shows `fork` as it is now (nothing changed
    /// since it was taken, or only handles were opened and closed).
    pub fn is_current(&self, fork: ForkId, snapshot: &Snapshot) -> bool {
        self.fork_ref(fork).is_ok_and(|f| snapshot.shows(&f.tree))
    }

    /// Reads the fork as it is now, without cloning anything.
    pub fn reader(&self, fork: ForkId) -> Result<Reader<'_>> {
        Ok(Reader {
            tree: &self.fork_ref(fork)?.tree,
            base: &*self.base,
            limits: &self.limits,
        })
    }

    /// Runs a mutating operation on the fork's tree and undoes what it did
    /// if it failed.
    ///
    /// The operation may take what the fork's limits allow, and allocate
    /// what the host's budget has room for (see [`Budget`]).
    fn apply<T>(
        &mut self,
        fork: ForkId,
        op: impl FnOnce(&mut Tree, &mut Ctx<'_>) -> Result<T>,
    ) -> Result<T> {
        let now = self.clock.now();
        let f = self.forks.get_mut(&fork).ok_or(Errno::BadDescriptor)?;
        let mut ctx = Ctx {
            base: &*self.base,
            limits: &self.limits,
            now,
            next_ino: self.next_ino,
            budget: self.budget,
            removing: false,
            journal: Journal::default(),
        };
        let usage = f.tree.usage;
        // A panic (an embedder's base or clock) is undone as a failure is,
        // then passed on: whoever catches it finds the fork as it was.
        let run = std::panic::AssertUnwindSafe(|| op(&mut f.tree, &mut ctx));
        let out = match std::panic::catch_unwind(run) {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => {
                ctx.journal.undo(&mut f.tree, usage);
                return Err(e);
            }
            Err(panic) => {
                ctx.journal.undo(&mut f.tree, usage);
                std::panic::resume_unwind(panic);
            }
        };
        self.next_ino = ctx.next_ino;
        if !f.tree.orphans.is_empty() {
            if self.defer_drops {
                note_unswept(&mut self.unswept, fork);
            } else {
                f.sweep();
            }
        }
        Ok(out)
    }

    // ---- orphans --------------------------------------------------------

    /// From now on, an unlinked inode whose last handle goes is kept (not
    /// reachable by any path) until [`Vfs::drop_unheld_orphans`]. For an
    /// owner that lets handles be taken on a snapshot, whose registration
    /// may arrive after the unlink: the inode must still be there.
    pub fn defer_orphan_drops(&mut self) {
        self.defer_drops = true;
    }

    /// Whether deferred orphans may be waiting to be dropped.
    pub fn has_unheld_orphans(&self) -> bool {
        !self.unswept.is_empty()
    }

    /// The forks whose trees [`Vfs::drop_unheld_orphans`] would change now:
    /// those holding an orphan no handle holds.
    pub fn forks_with_unheld_orphans(&self) -> Vec<ForkId> {
        self.unswept
            .iter()
            .copied()
            .filter(|fork| self.forks.get(fork).is_some_and(Fork::has_unheld_orphans))
            .collect()
    }

    /// Drops every deferred orphan no handle holds; returns the forks whose
    /// tree changed.
    pub fn drop_unheld_orphans(&mut self) -> Vec<ForkId> {
        let mut changed = Vec::new();
        for fork in std::mem::take(&mut self.unswept) {
            if let Some(f) = self.forks.get_mut(&fork)
                && f.sweep()
            {
                changed.push(fork);
            }
        }
        changed
    }

    // ---- handles ------------------------------------------------------

    /// Records one more open handle on `ino` (a preopen, a duplicated
    /// descriptor). Fails with `TooManyOpen` past `Limits::max_open`.
    pub fn retain(&mut self, fork: ForkId, ino: Ino) -> Result<()> {
        let max_open = self.limits.max_open;
        let f = self.forks.get_mut(&fork).ok_or(Errno::BadDescriptor)?;
        retain(f, ino, max_open)
    }

    /// Drops one open handle on `ino`; an unlinked inode goes with its last
    /// handle (see [`Vfs::defer_orphan_drops`]). Whether there was a handle
    /// to drop.
    pub fn release(&mut self, fork: ForkId, ino: Ino) -> bool {
        let Some(f) = self.forks.get_mut(&fork) else {
            return false;
        };
        let Some(count) = f.open.get_mut(&ino) else {
            return false;
        };
        *count -= 1;
        f.open_total -= 1;
        if *count > 0 {
            return true;
        }
        f.open.remove(&ino);
        if f.tree.orphans.contains(&ino) {
            if self.defer_drops {
                note_unswept(&mut self.unswept, fork);
            } else {
                f.tree.drop_node(ino);
            }
        }
        true
    }

    /// Opens the fork's root directory (one handle).
    pub fn open_root(&mut self, fork: ForkId) -> Result<Ino> {
        let root = self.fork_ref(fork)?.tree.root();
        self.retain(fork, root)?;
        Ok(root)
    }

    /// How many handles the fork holds open.
    pub fn open_handles(&self, fork: ForkId) -> Result<u64> {
        Ok(self.fork_ref(fork)?.open_total)
    }

    // ---- operations on paths ----------------------------------------

    /// Opens (and with `flags.create`, maybe creates) `path` relative to the
    /// directory `dir`, following a final symlink if `follow`. Takes one handle.
    pub fn open_at(
        &mut self,
        fork: ForkId,
        dir: Ino,
        path: &str,
        follow: bool,
        flags: OpenFlags,
        write: bool,
    ) -> Result<(Ino, Kind)> {
        let max_open = self.limits.max_open;
        if self.fork_ref(fork)?.open_total >= max_open {
            return Err(Errno::TooManyOpen.into());
        }
        let opened = self.apply(fork, |tree, ctx| {
            tree.open_at(ctx, dir, path, follow, flags, write)
        })?;
        // Cannot fail: the limit was checked above and nothing took a
        // handle since.
        let f = self.forks.get_mut(&fork).ok_or(Errno::BadDescriptor)?;
        retain(f, opened.0, max_open)?;
        Ok(opened)
    }

    /// Metadata of `path` relative to `dir`.
    pub fn stat_at(&self, fork: ForkId, dir: Ino, path: &str, follow: bool) -> Result<Stat> {
        self.reader(fork)?.stat_at(dir, path, follow)
    }

    /// Sets the access and modification times of `path`.
    pub fn set_times_at(
        &mut self,
        fork: ForkId,
        dir: Ino,
        path: &str,
        follow: bool,
        atime: SetTime,
        mtime: SetTime,
    ) -> Result<()> {
        self.apply(fork, |tree, ctx| {
            let ino = tree.ino_at(ctx, dir, path, follow)?;
            tree.set_times(ctx, ino, atime, mtime)
        })
    }

    /// Creates a directory.
    pub fn create_dir_at(&mut self, fork: ForkId, dir: Ino, path: &str) -> Result<()> {
        self.apply(fork, |tree, ctx| tree.create_dir_at(ctx, dir, path))
    }

    /// Removes an empty directory.
    pub fn remove_dir_at(&mut self, fork: ForkId, dir: Ino, path: &str) -> Result<()> {
        self.apply(fork, |tree, ctx| tree.remove_directory_at(ctx, dir, path))
    }

    /// Removes a name of a file or symlink.
    pub fn unlink_file_at(&mut self, fork: ForkId, dir: Ino, path: &str) -> Result<()> {
        self.apply(fork, |tree, ctx| tree.unlink_file_at(ctx, dir, path))
    }

    /// Moves `old_path` (relative to `old_dir`) to `new_path` (relative to
    /// `new_dir`) atomically, replacing what is there under POSIX rules.
    pub fn rename_at(
        &mut self,
        fork: ForkId,
        old_dir: Ino,
        old_path: &str,
        new_dir: Ino,
        new_path: &str,
    ) -> Result<()> {
        self.apply(fork, |tree, ctx| {
            tree.rename_at(ctx, old_dir, old_path, new_dir, new_path)
        })
    }

    /// Adds a hard link `new_path` to the file at `old_path` (not followed).
    pub fn link_at(
        &mut self,
        fork: ForkId,
        old_dir: Ino,
        old_path: &str,
        new_dir: Ino,
        new_path: &str,
    ) -> Result<()> {
        self.apply(fork, |tree, ctx| {
            tree.link_at(ctx, old_dir, old_path, new_dir, new_path)
        })
    }

    /// Creates a symlink at `path` pointing at `target`.
    pub fn symlink_at(&mut self, fork: ForkId, target: &str, dir: Ino, path: &str) -> Result<()> {
        self.apply(fork, |tree, ctx| tree.symlink_at(ctx, target, dir, path))
    }

    /// The target of the symlink at `path`.
    pub fn readlink_at(&self, fork: ForkId, dir: Ino, path: &str) -> Result<String> {
        self.reader(fork)?.readlink_at(dir, path)
    }

    // ---- operations on open objects -----------------------------------

    /// Metadata of an open object.
    pub fn stat(&self, fork: ForkId, ino: Ino) -> Result<Stat> {
        self.reader(fork)?.stat(ino)
    }

    /// Up to `len` bytes at `offset` (fewer at end of file or past
    /// `Limits::max_io`), as slices shared with the file — no copy.
    pub fn read(&self, fork: ForkId, ino: Ino, offset: u64, len: u64) -> Result<Vec<Bytes>> {
        self.reader(fork)?.read(ino, offset, len)
    }

    /// Writes `data` at `offset`; returns the count written.
    pub fn write(&mut self, fork: ForkId, ino: Ino, offset: u64, data: &[u8]) -> Result<usize> {
        self.write_bytes(fork, ino, offset, &Bytes::copy_from_slice(data))
    }

    /// [`Vfs::write`] from a buffer the file may keep: a write that fills a
    /// whole chunk becomes that chunk without a copy.
    pub fn write_bytes(
        &mut self,
        fork: ForkId,
        ino: Ino,
        offset: u64,
        data: &Bytes,
    ) -> Result<usize> {
        self.apply(fork, |tree, ctx| tree.write(ctx, ino, offset, data))
    }

    /// Writes `data` at the end of the file; returns where it went and the count.
    pub fn append(&mut self, fork: ForkId, ino: Ino, data: &[u8]) -> Result<(u64, usize)> {
        self.append_bytes(fork, ino, &Bytes::copy_from_slice(data))
    }

    /// [`Vfs::append`] from a buffer the file may keep (see [`Vfs::write_bytes`]).
    pub fn append_bytes(&mut self, fork: ForkId, ino: Ino, data: &Bytes) -> Result<(u64, usize)> {
        self.apply(fork, |tree, ctx| tree.append(ctx, ino, data))
    }

    /// Makes `len` bytes at `offset` read as zeros without storing them
    /// where possible; returns the count.
    pub fn write_zeroes(&mut self, fork: ForkId, ino: Ino, offset: u64, len: u64) -> Result<u64> {
        self.apply(fork, |tree, ctx| tree.write_zeroes(ctx, ino, offset, len))
    }

    /// Truncates or extends a file.
    pub fn set_size(&mut self, fork: ForkId, ino: Ino, size: u64) -> Result<()> {
        self.apply(fork, |tree, ctx| tree.set_size(ctx, ino, size))
    }

    /// Sets the access and modification times of an open object.
    pub fn set_times(
        &mut self,
        fork: ForkId,
        ino: Ino,
        atime: SetTime,
        mtime: SetTime,
    ) -> Result<()> {
        self.apply(fork, |tree, ctx| tree.set_times(ctx, ino, atime, mtime))
    }

    /// Up to `max` entries of directory `dir` after the name `after`, in name order.
    pub fn read_dir(
        &self,
        fork: ForkId,
        dir: Ino,
        after: Option<&str>,
        max: usize,
    ) -> Result<Vec<DirEntry>> {
        self.reader(fork)?.read_dir(dir, after, max)
    }

    /// Flushes an object. Everything is in memory, so this only checks the
    /// object is still there.
    pub fn sync(&self, fork: ForkId, ino: Ino) -> Result<()> {
        self.reader(fork)?.stat(ino).map(drop)
    }

    // ---- forks ----------------------------------------------------------

    /// A new fork whose filesystem starts as `parent`'s is now. O(1): the
    /// two share every node until one of them changes it.
    pub fn fork(&mut self, parent: ForkId) -> Result<ForkId> {
        let p = self.forks.get_mut(&parent).ok_or(Errno::BadDescriptor)?;
        p.children += 1;
        let mut child = Fork::new(p.tree.clone(), Some(parent));
        // Handles are per fork: the parent's orphans are nobody's here.
        child.sweep();
        child.origin = child.tree.clone();
        let id = ForkId(self.next_fork);
        self.next_fork += 1;
        self.forks.insert(id, child);
        Ok(id)
    }

    /// The paths `fork` changed since it was forked (for the root fork:
    /// since the base), sorted by path.
    pub fn diff(&self, fork: ForkId) -> Result<Vec<Change>> {
        let f = self.fork_ref(fork)?;
        diff::diff(&*self.base, &f.origin, &f.tree)
    }

    /// Folds `fork`'s changes into its parent and closes `fork`. If the
    /// parent changed any of the same paths since the fork was made, nothing
    /// is applied and the conflicting paths are returned.
    ///
    /// A name the fork removed or replaced goes from the parent as if the
    /// parent had removed it: an inode the parent held open stays readable
    /// and writable through that handle, with the parent's contents and no
    /// names, until its last handle goes. The fork's own handles end with it.
    pub fn commit(&mut self, fork: ForkId) -> Result<(), CommitError> {
        let f = self.fork_ref(fork)?;
        let parent_id = f.parent.ok_or(Errno::NotPermitted)?;
        if f.children > 0 {
            return Err(Errno::Busy.into());
        }
        // The fork's handles end with it, and so do its orphans.
        let mut child_tree = f.tree.clone();
        for ino in f.tree.orphans.iter() {
            child_tree.drop_node(*ino);
        }
        let parent = self.fork_ref(parent_id)?;
        let now = self.clock.now();
        let merged = merge::commit(&*self.base, &f.origin, &parent.tree, &child_tree, now)?;
        // The parent's limits hold what it keeps: orphans nobody holds go
        // as soon as the commit is in, as after the same removal done in
        // the parent. (A commit builds no file data, so the host's budget
        // has nothing to refuse.)
        let mut kept = merged.clone();
        kept.drop_orphans_unless(|ino| parent.open.contains_key(&ino));
        let kept = kept.usage();
        if kept.bytes > self.limits.max_bytes || kept.inodes > self.limits.max_inodes {
            return Err(Errno::InsufficientSpace.into());
        }
        let parent = self.forks.get_mut(&parent_id).ok_or(Errno::BadDescriptor)?;
        parent.tree = merged;
        parent.children -= 1;
        // Names the fork removed may have left the parent orphans.
        if !parent.tree.orphans.is_empty() {
            if self.defer_drops {
                note_unswept(&mut self.unswept, parent_id);
            } else {
                parent.sweep();
            }
        }
        self.forks.remove(&fork);
        Ok(())
    }

    /// Throws `fork` and all its changes away.
    pub fn discard(&mut self, fork: ForkId) -> Result<()> {
        let f = self.fork_ref(fork)?;
        let parent = f.parent.ok_or(Errno::NotPermitted)?;
        if f.children > 0 {
            return Err(Errno::Busy.into());
        }
        self.forks.remove(&fork);
        if let Some(p) = self.forks.get_mut(&parent) {
            p.children -= 1;
        }
        Ok(())
    }

    /// The fork `fork` was forked from (`None` for the root fork).
    pub fn parent(&self, fork: ForkId) -> Result<Option<ForkId>> {
        Ok(self.fork_ref(fork)?.parent)
    }

    /// The ids of all live forks.
    pub fn forks(&self) -> Vec<ForkId> {
        let mut ids: Vec<ForkId> = self.forks.keys().copied().collect();
        ids.sort();
        ids
    }

    /// What the fork holds, to compare with [`Vfs::limits`].
    pub fn usage(&self, fork: ForkId) -> Result<Usage> {
        let f = self.fork_ref(fork)?;
        Ok(Usage {
            open: f.open_total,
            ..f.tree.usage()
        })
    }

    // ---- host conveniences ----------------------------------------------

    /// The whole contents of the file at `path` (from the fork's root).
    pub fn read_file(&self, fork: ForkId, path: &str) -> Result<Vec<u8>> {
        self.reader(fork)?.read_file(path)
    }

    /// Creates or replaces the file at `path` (from the fork's root) with
    /// `data`, atomically.
    pub fn write_file(&mut self, fork: ForkId, path: &str, data: &[u8]) -> Result<()> {
        let data = Bytes::copy_from_slice(data);
        self.apply(fork, |tree, ctx| {
            let flags = OpenFlags {
                create: true,
                truncate: true,
                ..OpenFlags::default()
            };
            let (ino, _) = tree.open_at(ctx, tree.root(), path, true, flags, true)?;
            let mut offset = 0;
            while offset < data.len() {
                offset += tree.write(ctx, ino, offset as u64, &rest_of(&data, offset))?;
            }
            Ok(())
        })
    }
}

fn note_unswept(unswept: &mut Vec<ForkId>, fork: ForkId) {
    if !unswept.contains(&fork) {
        unswept.push(fork);
    }
}

fn retain(f: &mut Fork, ino: Ino, max_open: u64) -> Result<()> {
    if f.open_total >= max_open {
        return Err(Errno::TooManyOpen.into());
    }
    *f.open.entry(ino).or_default() += 1;
    f.open_total += 1;
    Ok(())
}
