//! One version of a fork's filesystem: a persistent inode table over the base.
//!
//! The table maps inode numbers to immutable nodes in a persistent B-tree
//! (`imbl::OrdMap`), so cloning a [`Tree`] is O(1) and a change copies only
//! the path to one leaf — O(log n) small nodes — plus the changed node. An
//! inode missing from the table is read from the base; changing a base inode
//! first copies its metadata up ("copy-up", O(1): file data stays in the
//! base until a chunk is written).
//!
//! Everything that may need base data goes through here and can answer
//! `NeedsBase`. Every change goes through `node_mut`, `create`, `set_entry`
//! or `orphan`, which note in the operation's [`Journal`] what they change,
//! so a miss (or any error) halfway through leaves no trace.

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use imbl::{OrdMap, OrdSet};

use super::base::{Base, BaseNode};
use super::data::FileData;
use super::error::{Errno, Result};
use super::journal::Journal;
use super::limits::{Budget, Limits, Usage};
use super::meter::Meter;
use super::node::{Body, DirData, DirEntry, Ino, Kind, Name, Node, NodeRef, Slot, Stat, Times};
use super::time::Timestamp;

/// A snapshot of one fork's upper layer.
#[derive(Clone, Debug)]
pub struct Tree {
    pub(crate) nodes: OrdMap<Ino, NodeRef>,
    pub(crate) usage: Usage,
    /// Inodes with no names left that were kept because a handle may still
    /// use them; the fork drops those nobody holds after each operation.
    pub(crate) orphans: OrdSet<Ino>,
    pub(crate) root: Ino,
    /// What the whole filesystem holds; chunks and inodes made here count
    /// in it (see `meter`).
    pub(crate) meter: Arc<Meter>,
}

/// A read-only view of one inode, wherever it lives.
pub(crate) enum View<'a> {
    Upper(&'a Node),
    Base(Arc<BaseNode>),
}

impl View<'_> {
    pub fn kind(&self) -> Kind {
        match self {
            View::Upper(n) => n.kind(),
            View::Base(b) => b.kind,
        }
    }
}

/// The shared inputs of one mutating operation.
pub(crate) struct Ctx<'a> {
    pub base: &'a dyn Base,
    pub limits: &'a Limits,
    pub now: Timestamp,
    /// The next free upper inode number (shared by all forks of a `Vfs`, so
    /// inodes created in different forks never collide when merged).
    pub next_ino: u64,
    /// What the whole filesystem may hold (see `Tree::meter`).
    pub budget: Budget,
    /// The operation only takes names away (unlink, rmdir, rename): copying
    /// base inodes up for it is never refused for the budget.
    pub removing: bool,
    /// What the operation changed, to put back if it fails.
    pub journal: Journal,
}

impl Ctx<'_> {
    fn alloc(&mut self) -> Ino {
        let ino = Ino(self.next_ino);
        self.next_ino += 1;
        ino
    }
}

impl Tree {
    /// An empty upper layer over `base`.
    pub(crate) fn new(base: &dyn Base, meter: Arc<Meter>) -> Tree {
        Tree {
            nodes: OrdMap::new(),
            usage: Usage::default(),
            orphans: OrdSet::new(),
            root: base.root(),
            meter,
        }
    }

    pub fn root(&self) -> Ino {
        self.root
    }

    /// Whether `other` is this very version of the tree (shares its maps):
    /// true after any operation that changed nothing, in O(1).
    pub(crate) fn is_same_version(&self, other: &Tree) -> bool {
        self.nodes.ptr_eq(&other.nodes)
            && self.orphans.ptr_eq(&other.orphans)
            && self.usage == other.usage
            && self.root == other.root
    }

    pub fn usage(&self) -> Usage {
        self.usage
    }

    pub(crate) fn view(&self, base: &dyn Base, ino: Ino) -> Result<View<'_>> {
        match self.nodes.get(&ino) {
            Some(node) => Ok(View::Upper(&node.0)),
            None if ino.is_base() => Ok(View::Base(base.node(ino)?)),
            None => Err(Errno::BadDescriptor.into()),
        }
    }

    pub fn kind(&self, base: &dyn Base, ino: Ino) -> Result<Kind> {
        Ok(self.view(base, ino)?.kind())
    }

    pub fn stat(&self, base: &dyn Base, ino: Ino) -> Result<Stat> {
        let is_root = ino == self.root;
        Ok(match self.view(base, ino)? {
            View::Upper(node) => node.stat(ino, is_root),
            View::Base(b) => Stat {
                ino,
                kind: b.kind,
                nlink: match b.kind {
                    Kind::Dir => 2 + b.subdirs,
                    _ => 1,
                },
                size: match b.kind {
                    Kind::File => b.size,
                    Kind::Dir => super::node::DIR_SIZE,
                    Kind::Symlink => b.target.as_deref().map_or(0, str::len) as u64,
                },
                atime: b.times.atime,
                mtime: b.times.mtime,
                ctime: b.times.ctime,
            },
        })
    }

    /// The entry `name` in directory `dir`.
    pub fn lookup(&self, base: &dyn Base, dir: Ino, name: &str) -> Result<Option<(Ino, Kind)>> {
        let from_base = |dir| Ok(base.lookup(dir, name)?.map(|e| (e.ino, e.kind)));
        match self.view(base, dir)? {
            View::Upper(node) => {
                let d = node.dir().ok_or(Errno::NotDirectory)?;
                match d.entries.get(name) {
                    Some(Slot::Node(ino, kind)) => Ok(Some((*ino, *kind))),
                    Some(Slot::Whiteout) => Ok(None),
                    None if d.lower => from_base(dir),
                    None => Ok(None),
                }
            }
            View::Base(b) if b.kind == Kind::Dir => from_base(dir),
            View::Base(_) => Err(Errno::NotDirectory.into()),
        }
    }

    pub fn readlink(&self, base: &dyn Base, ino: Ino) -> Result<Arc<str>> {
        match self.view(base, ino)? {
            View::Upper(Node {
                body: Body::Symlink(target),
                ..
            }) => Ok(target.clone()),
            View::Base(b) if b.kind == Kind::Symlink => Ok(b.target.clone().ok_or(Errno::Io)?),
            _ => Err(Errno::Invalid.into()),
        }
    }

    /// Appends the bytes of `[offset, offset + len)` of a file to `out`.
    pub fn read(
        &self,
        base: &dyn Base,
        ino: Ino,
        offset: u64,
        len: u64,
        out: &mut Vec<Bytes>,
    ) -> Result<u64> {
        match self.view(base, ino)? {
            View::Upper(Node {
                body: Body::File(data),
                ..
            }) => data.read(ino, base, offset, len, out),
            View::Base(b) if b.kind == Kind::File => {
                FileData::lower(b.size).read(ino, base, offset, len, out)
            }
            View::Upper(Node {
                body: Body::Dir(_), ..
            }) => Err(Errno::IsDirectory.into()),
            View::Base(b) if b.kind == Kind::Dir => Err(Errno::IsDirectory.into()),
            _ => Err(Errno::Invalid.into()),
        }
    }

    /// Up to `max` entries of `dir` whose names sort after `after`, in name
    /// order. Resuming from the last name returned is stable while entries
    /// come and go: nothing is returned twice, and entries that exist the
    /// whole time are never skipped.
    pub fn list(
        &self,
        base: &dyn Base,
        dir: Ino,
        after: Option<&str>,
        max: usize,
    ) -> Result<Vec<DirEntry>> {
        let (upper, lower) = match self.view(base, dir)? {
            View::Upper(node) => {
                let d = node.dir().ok_or(Errno::NotDirectory)?;
                (Some(&d.entries), d.lower)
            }
            View::Base(b) if b.kind == Kind::Dir => (None, true),
            View::Base(_) => return Err(Errno::NotDirectory.into()),
        };
        let lower: Arc<[DirEntry]> = if lower {
            base.list(dir)?
        } else {
            Arc::from([])
        };
        let start = match after {
            Some(after) => lower.partition_point(|e| &*e.name <= after),
            None => 0,
        };
        let mut lower = lower[start..].iter().peekable();
        let empty = OrdMap::new();
        let bound = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut upper = upper
            .unwrap_or(&empty)
            .range::<_, str>((bound, Bound::Unbounded))
            .peekable();
        let mut out = Vec::new();
        while out.len() < max {
            // Merge the two sorted sequences; the upper layer wins a tie.
            let take_upper = match (upper.peek(), lower.peek()) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some((u, _)), Some(l)) => ***u <= *l.name,
            };
            if take_upper {
                let Some((name, slot)) = upper.next() else {
                    break;
                };
                if lower.peek().is_some_and(|l| l.name == *name) {
                    lower.next();
                }
                if let Slot::Node(ino, kind) = slot {
                    out.push(DirEntry {
                        name: name.clone(),
                        ino: *ino,
                        kind: *kind,
                    });
                }
            } else if let Some(entry) = lower.next() {
                out.push(entry.clone());
            }
        }
        Ok(out)
    }

    pub fn is_empty_dir(&self, base: &dyn Base, dir: Ino) -> Result<bool> {
        Ok(self.list(base, dir, None, 1)?.is_empty())
    }

    /// The node for `ino`, made private to this tree (copying it up from the
    /// base, or away from other trees sharing it) so it can be changed. A
    /// copy-up is an inode more in memory: refused when the host's budget
    /// is full, unless the operation only takes names away (so that
    /// deleting always works).
    pub(crate) fn node_mut(&mut self, ctx: &mut Ctx<'_>, ino: Ino) -> Result<&mut Node> {
        let node = self.upper_mut(ctx, ino)?;
        ctx.journal.changing(ino, node);
        Ok(Arc::make_mut(&mut node.0))
    }

    /// The table's entry for `ino`, copied up from the base first if need
    /// be (see `node_mut`), not yet made private to this tree.
    fn upper_mut(&mut self, ctx: &mut Ctx<'_>, ino: Ino) -> Result<&mut NodeRef> {
        if !self.nodes.contains_key(&ino) {
            if !ino.is_base() {
                return Err(Errno::BadDescriptor.into());
            }
            if !ctx.removing {
                self.meter.admit(&ctx.budget, 0, 1)?;
            }
            let b = ctx.base.node(ino)?;
            let node = copy_up(&b, &self.meter);
            ctx.journal.added(ino);
            self.nodes.insert(ino, NodeRef(Arc::new(node)));
        }
        Ok(self.nodes.get_mut(&ino).ok_or(Errno::BadDescriptor)?)
    }

    pub(crate) fn file_mut(
        &mut self,
        ctx: &mut Ctx<'_>,
        ino: Ino,
    ) -> Result<(&mut FileData, &mut Times)> {
        let node = self.node_mut(ctx, ino)?;
        match &mut node.body {
            Body::File(f) => Ok((f, &mut node.times)),
            Body::Dir(_) => Err(Errno::IsDirectory.into()),
            Body::Symlink(_) => Err(Errno::Invalid.into()),
        }
    }

    /// Creates a new inode (charged to the fork) and returns its number.
    pub(crate) fn create(
        &mut self,
        ctx: &mut Ctx<'_>,
        body: Body,
        link: (Ino, Name),
    ) -> Result<Ino> {
        self.usage.add_inode(ctx.limits.max_inodes)?;
        // A symlink's target is memory outside any chunk: it counts as bytes.
        let extra = match &body {
            Body::Symlink(target) => target.len() as u64,
            _ => 0,
        };
        self.meter.admit(&ctx.budget, extra, 1)?;
        let ino = ctx.alloc();
        let node = Node {
            times: Times::all(ctx.now),
            links: Arc::from([link]),
            body,
            charge: self.meter.inode(extra),
        };
        ctx.journal.added(ino);
        self.nodes.insert(ino, NodeRef(Arc::new(node)));
        Ok(ino)
    }

    /// Points `name` in `dir` at `target` (or removes it with `None`),
    /// leaving a whiteout where the base directory still has the name.
    pub(crate) fn set_entry(
        &mut self,
        ctx: &mut Ctx<'_>,
        dir: Ino,
        name: &Name,
        target: Option<(Ino, Kind)>,
    ) -> Result<()> {
        let is_root = dir == self.root;
        let node = self.upper_mut(ctx, dir)?;
        let in_place = ctx.journal.entry_changing(dir, node);
        let node = Arc::make_mut(&mut node.0);
        if target.is_some() && !is_root && node.links.is_empty() {
            // Nothing can be created in a directory that was removed while open.
            return Err(Errno::NoEntry.into());
        }
        let times = node.times;
        let Body::Dir(d) = &mut node.body else {
            return Err(Errno::NotDirectory.into());
        };
        node.times.modified(ctx.now);
        let subdirs = d.subdirs;
        let old = match target {
            Some((ino, kind)) => d.entries.insert(name.clone(), Slot::Node(ino, kind)),
            None if d.lower => d.entries.insert(name.clone(), Slot::Whiteout),
            None => d.entries.remove(name),
        };
        if in_place {
            ctx.journal
                .entry_changed(dir, name.clone(), old.clone(), times, subdirs);
        }
        let was_dir = matches!(old, Some(Slot::Node(_, Kind::Dir)))
            || (old.is_none() && d.lower && base_has_dir(ctx.base, dir, name)?);
        let is_dir = matches!(target, Some((_, Kind::Dir)));
        match (was_dir, is_dir) {
            (false, true) => d.subdirs += 1,
            (true, false) => d.subdirs = d.subdirs.saturating_sub(1),
            _ => {}
        }
        Ok(())
    }

    /// `ino` has no names left: it stays, as an orphan, while something
    /// holds it open.
    pub(crate) fn orphan(&mut self, ctx: &mut Ctx<'_>, ino: Ino) {
        ctx.journal.orphaning(ino, self.orphans.contains(&ino));
        self.orphans.insert(ino);
    }

    /// Drops the orphans `held` does not keep; whether any went.
    pub(crate) fn drop_orphans_unless(&mut self, held: impl Fn(Ino) -> bool) -> bool {
        let gone: Vec<Ino> = self.orphans.iter().copied().filter(|&i| !held(i)).collect();
        for &ino in &gone {
            self.drop_node(ino);
        }
        !gone.is_empty()
    }

    /// Drops a node from the table; it must have no names left.
    pub(crate) fn drop_node(&mut self, ino: Ino) {
        if let Some(node) = self.nodes.remove(&ino) {
            // A failed add is impossible here: the value only shrinks.
            let _ = self
                .usage
                .add_bytes(-(node.0.charged_bytes() as i64), u64::MAX);
            if !ino.is_base() {
                self.usage.remove_inode();
            }
        }
        self.orphans.remove(&ino);
    }

    /// The path of `ino` from the root (`/a/b`), or `None` once unlinked.
    pub fn path_of(&self, base: &dyn Base, ino: Ino) -> Result<Option<String>> {
        let mut names = Vec::new();
        let mut cur = ino;
        while cur != self.root {
            let link = match self.view(base, cur)? {
                View::Upper(node) => node.links.first().cloned(),
                View::Base(b) => b.link.clone(),
            };
            let Some((parent, name)) = link else {
                return Ok(None);
            };
            names.push(name);
            cur = parent;
        }
        let mut path = String::new();
        for name in names.iter().rev() {
            path.push('/');
            path.push_str(name);
        }
        Ok(Some(if path.is_empty() { "/".into() } else { path }))
    }

    /// Every path naming `ino` (one per hard link).
    pub fn paths_of(&self, base: &dyn Base, ino: Ino) -> Result<Vec<String>> {
        let links: Vec<(Ino, Name)> = match self.view(base, ino)? {
            View::Upper(node) => node.links.to_vec(),
            View::Base(b) => b.link.clone().into_iter().collect(),
        };
        if ino == self.root {
            return Ok(vec!["/".into()]);
        }
        let mut paths = Vec::new();
        for (parent, name) in links {
            if let Some(dir) = self.path_of(base, parent)? {
                let sep = if dir == "/" { "" } else { "/" };
                paths.push(format!("{dir}{sep}{name}"));
            }
        }
        Ok(paths)
    }
}

fn base_has_dir(base: &dyn Base, dir: Ino, name: &str) -> Result<bool> {
    Ok(matches!(base.lookup(dir, name)?, Some(e) if e.kind == Kind::Dir))
}

/// The upper-layer node for a base inode that is about to change; it
/// counts in `meter` as an inode held (its target, if a symlink, stays the
/// base's).
pub(crate) fn copy_up(b: &BaseNode, meter: &Arc<Meter>) -> Node {
    Node {
        charge: meter.inode(0),
        times: b.times,
        links: b.link.clone().into_iter().collect(),
        body: match b.kind {
            Kind::File => Body::File(FileData::lower(b.size)),
            Kind::Dir => Body::Dir(DirData {
                entries: OrdMap::new(),
                lower: true,
                subdirs: b.subdirs,
            }),
            Kind::Symlink => Body::Symlink(b.target.clone().unwrap_or_else(|| "".into())),
        },
    }
}
