//! What a fork changed, and folding those changes into its parent.
//!
//! Both work on the inode tables of two tree versions. `imbl`'s ordered-map
//! diff skips every subtree the two versions still share, so comparing a
//! fork with the version it was forked from costs O(changes · log n), not
//! O(tree). Changed inodes are turned back into paths through their links.
//!
//! Commit is a three-way merge against the version the fork started from:
//! an inode changed only by the fork is taken as the fork has it; an inode
//! changed on both sides is a conflict — except directories, which merge
//! name by name, so two forks that each add a different file to `/tmp` both
//! succeed. On any conflict nothing is applied and the paths are reported.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ops::Bound;
use std::sync::Arc;

use imbl::OrdMap;
use imbl::ordmap::DiffItem;

use super::base::Base;
use super::data::FileData;
use super::error::{Errno, Error, Result};
use super::node::{Body, Ino, Kind, Name, Node, NodeRef, Slot};
use super::tree::{Tree, View};

/// How a path changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// The path did not exist before.
    Created,
    /// The path exists in both versions but its object or contents differ.
    Modified,
    /// The path no longer exists.
    Deleted,
}

/// One changed path. A rename shows as a deletion plus a creation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The path from the fork's root, starting with `/`.
    pub path: String,
    /// What happened to it.
    pub kind: ChangeKind,
    /// The kind of object now there (or, for deletions, that was there).
    pub node: Kind,
}

/// Why a commit did not happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommitError {
    /// The parent changed some of the same paths since the fork was made.
    /// Nothing was applied.
    Conflict(Vec<String>),
    /// The commit could not run (or would exceed the parent's limits).
    Failed(Error),
}

impl From<Error> for CommitError {
    fn from(e: Error) -> Self {
        CommitError::Failed(e)
    }
}

impl From<Errno> for CommitError {
    fn from(e: Errno) -> Self {
        CommitError::Failed(e.into())
    }
}

/// Accumulates changes, one per path, folding repeated reports of a path.
#[derive(Default)]
struct Changes(BTreeMap<String, (ChangeKind, Kind)>);

impl Changes {
    fn add(&mut self, path: String, kind: ChangeKind, node: Kind) {
        use ChangeKind::*;
        self.0
            .entry(path)
            .and_modify(|(old, old_node)| {
                *old = match (*old, kind) {
                    (a, b) if a == b => a,
                    // Created after a deletion, or changed after creation.
                    (Created, Modified) | (Modified, Created) => Created,
                    _ => Modified,
                };
                if kind != Deleted {
                    *old_node = node;
                }
            })
            .or_insert((kind, node));
    }

    fn into_vec(self) -> Vec<Change> {
        self.0
            .into_iter()
            .map(|(path, (kind, node))| Change { path, kind, node })
            .collect()
    }
}

/// One inode as seen before and after.
struct Pair<'a> {
    ino: Ino,
    before: Option<View<'a>>,
    after: Option<&'a Node>,
}

/// The inodes that differ between two versions, with both sides.
fn changed_inodes<'a>(base: &dyn Base, old: &'a Tree, new: &'a Tree) -> Result<Vec<Pair<'a>>> {
    let mut pairs = Vec::new();
    for item in old.nodes.diff(&new.nodes) {
        pairs.push(match item {
            DiffItem::Add(ino, node) => Pair {
                ino: *ino,
                // A base inode appearing in the upper layer was copied up:
                // before, it was the base's.
                before: if ino.is_base() {
                    Some(View::Base(base.node(*ino)?))
                } else {
                    None
                },
                after: Some(&node.0),
            },
            DiffItem::Update {
                old: (ino, before),
                new: (_, after),
            } => Pair {
                ino: *ino,
                before: Some(View::Upper(&before.0)),
                after: Some(&after.0),
            },
            DiffItem::Remove(ino, before) => Pair {
                ino: *ino,
                before: Some(View::Upper(&before.0)),
                after: None,
            },
        });
    }
    Ok(pairs)
}

/// The upper entries of a directory version and whether names fall through.
fn dir_parts<'a>(view: &'a View<'_>) -> Option<(Option<&'a OrdMap<Name, Slot>>, bool)> {
    match view {
        View::Upper(node) => node.dir().map(|d| (Some(&d.entries), d.lower)),
        View::Base(b) if b.kind == Kind::Dir => Some((None, true)),
        View::Base(_) => None,
    }
}

/// What `name` shows in a directory version: its upper slot, else the base.
fn visible(
    base: &dyn Base,
    dir: Ino,
    entries: Option<&OrdMap<Name, Slot>>,
    lower: bool,
    name: &str,
) -> Result<Option<(Ino, Kind)>> {
    match entries.and_then(|e| e.get(name)) {
        Some(Slot::Node(ino, kind)) => Ok(Some((*ino, *kind))),
        Some(Slot::Whiteout) => Ok(None),
        None if lower => Ok(base.lookup(dir, name)?.map(|e| (e.ino, e.kind))),
        None => Ok(None),
    }
}

/// Whether a non-directory's contents (not its names or timestamps) changed.
fn contents_changed(base: &dyn Base, ino: Ino, before: &View<'_>, after: &Node) -> Result<bool> {
    Ok(match (before, &after.body) {
        (View::Base(b), Body::File(f)) if b.kind == Kind::File => {
            !f.same_bytes(&FileData::lower(b.size), ino, base)?
        }
        (View::Base(b), Body::Symlink(t)) if b.kind == Kind::Symlink => {
            Some(t) != b.target.as_ref()
        }
        (View::Base(_), _) => true,
        (View::Upper(old), _) => match (&old.body, &after.body) {
            (Body::File(a), Body::File(b)) => !a.same_bytes(b, ino, base)?,
            (Body::Symlink(a), Body::Symlink(b)) => a != b,
            _ => old.kind() != after.kind(),
        },
    })
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// Reports `path` → `(ino, kind)` of `tree` as `kind`, and everything below
/// it too when it is a directory (a moved or removed directory changes the
/// paths of its whole subtree).
fn report_subtree(
    changes: &mut Changes,
    base: &dyn Base,
    tree: &Tree,
    path: String,
    (ino, node): (Ino, Kind),
    kind: ChangeKind,
) -> Result<()> {
    let mut work = vec![(path, ino, node)];
    while let Some((path, ino, node)) = work.pop() {
        if node == Kind::Dir {
            for entry in tree.list(base, ino, None, usize::MAX)? {
                work.push((join(&path, &entry.name), entry.ino, entry.kind));
            }
        }
        changes.add(path, kind, node);
    }
    Ok(())
}

/// The paths that differ between `old` and `new`.
///
/// A directory is compared name by name: a name whose object changed
/// identity is a deletion at its old path and a creation at its new one
/// (the two fold into `Modified` when the path is the same), each covering
/// the whole subtree. A file or symlink whose bytes changed is `Modified`
/// at every path naming it.
pub(crate) fn diff(base: &dyn Base, old: &Tree, new: &Tree) -> Result<Vec<Change>> {
    let mut changes = Changes::default();
    for pair in changed_inodes(base, old, new)? {
        let ino = pair.ino;
        if let (Some(before), Some(after)) = (&pair.before, pair.after)
            && after.kind() != Kind::Dir
            && contents_changed(base, ino, before, after)?
        {
            for path in new.paths_of(base, ino)? {
                changes.add(path, ChangeKind::Modified, after.kind());
            }
        }
        let before_dir = pair.before.as_ref().and_then(dir_parts);
        let after_dir = pair.after.and_then(Node::dir);
        let names: Vec<Name> = match (before_dir, after_dir) {
            (None, None) => continue,
            (Some((entries, _)), Some(after)) => {
                let empty = OrdMap::new();
                entries
                    .unwrap_or(&empty)
                    .diff(&after.entries)
                    .map(|item| match item {
                        DiffItem::Add(name, _) | DiffItem::Remove(name, _) => name.clone(),
                        DiffItem::Update { new: (name, _), .. } => name.clone(),
                    })
                    .collect()
            }
            (Some(_), None) => old
                .list(base, ino, None, usize::MAX)?
                .into_iter()
                .map(|e| e.name)
                .collect(),
            (None, Some(_)) => new
                .list(base, ino, None, usize::MAX)?
                .into_iter()
                .map(|e| e.name)
                .collect(),
        };
        let old_path = match before_dir {
            Some(_) => old.path_of(base, ino)?,
            None => None,
        };
        let new_path = match after_dir {
            Some(_) => new.path_of(base, ino)?,
            None => None,
        };
        for name in names {
            let was = match before_dir {
                Some((entries, lower)) => visible(base, ino, entries, lower, &name)?,
                None => None,
            };
            let now = match after_dir {
                Some(d) => visible(base, ino, Some(&d.entries), d.lower, &name)?,
                None => None,
            };
            if was.map(|w| w.0) == now.map(|n| n.0) {
                continue;
            }
            if let (Some(was), Some(dir)) = (was, &old_path) {
                report_subtree(
                    &mut changes,
                    base,
                    old,
                    join(dir, &name),
                    was,
                    ChangeKind::Deleted,
                )?;
            }
            if let (Some(now), Some(dir)) = (now, &new_path) {
                report_subtree(
                    &mut changes,
                    base,
                    new,
                    join(dir, &name),
                    now,
                    ChangeKind::Created,
                )?;
            }
        }
    }
    Ok(changes.into_vec())
}

/// Folds the changes `child` made since `origin` into `parent`.
pub(crate) fn merge(
    base: &dyn Base,
    origin: &Tree,
    parent: &Tree,
    child: &Tree,
) -> Result<Tree, CommitError> {
    if parent.nodes.ptr_eq(&origin.nodes) {
        // The parent did not change since the fork: the child's tree is the answer.
        let mut merged = child.clone();
        merged.orphans = parent.orphans.clone();
        return Ok(merged);
    }
    // Path-level check first: a path both sides changed — or one side changed
    // inside a directory the other side moved, replaced or deleted — conflicts.
    let conflicts = overlapping(&diff(base, origin, child)?, &diff(base, origin, parent)?);
    if !conflicts.is_empty() {
        return Err(CommitError::Conflict(conflicts));
    }
    let parent_changed: HashSet<Ino> = changed_inodes(base, origin, parent)?
        .iter()
        .map(|p| p.ino)
        .collect();
    let mut merged = parent.clone();
    let mut conflicts = Vec::new();
    for pair in changed_inodes(base, origin, child)? {
        let ino = pair.ino;
        let current = parent.nodes.get(&ino).map(|n| &*n.0);
        let taken = if !parent_changed.contains(&ino) {
            Ok(child.nodes.get(&ino).cloned())
        } else {
            match (&pair.before, pair.after, current) {
                (Some(before), Some(mine), Some(theirs)) => {
                    merge_dir(before, mine, theirs).map(|node| Some(NodeRef(Arc::new(node))))
                }
                _ => Err(Vec::new()),
            }
        };
        match taken {
            Ok(node) => replace(&mut merged, ino, current, node)?,
            Err(names) => {
                let path = child
                    .path_of(base, ino)?
                    .or(origin.path_of(base, ino)?)
                    .unwrap_or_else(|| format!("<inode {}>", ino.0));
                conflicts.extend(names.iter().map(|name| join(&path, name)));
                if names.is_empty() {
                    conflicts.push(path);
                }
            }
        }
    }
    if !conflicts.is_empty() {
        conflicts.sort();
        conflicts.dedup();
        return Err(CommitError::Conflict(conflicts));
    }
    Ok(merged)
}

/// The paths of `mine` and `theirs` that are equal to, or inside, or around
/// a path of the other side.
fn overlapping(mine: &[Change], theirs: &[Change]) -> Vec<String> {
    let theirs_set: BTreeSet<&str> = theirs.iter().map(|c| c.path.as_str()).collect();
    let mine_set: BTreeSet<&str> = mine.iter().map(|c| c.path.as_str()).collect();
    let mut out = BTreeSet::new();
    for (a, b) in [(&mine_set, &theirs_set), (&theirs_set, &mine_set)] {
        for path in a.iter() {
            let inside = format!("{path}/");
            let below = b
                .range::<str, _>((Bound::Included(inside.as_str()), Bound::Unbounded))
                .next()
                .is_some_and(|p| p.starts_with(&inside));
            let above = ancestors(path).any(|dir| b.contains(dir));
            if b.contains(path) || below || above {
                out.insert(path.to_string());
            }
        }
    }
    out.into_iter().collect()
}

/// `/a/b/c` → `/a/b`, `/a` (not `/`: a change to the root itself is a
/// change of its entries, already reported per name).
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut cur = path;
    std::iter::from_fn(move || {
        let cut = cur.rfind('/')?;
        cur = &cur[..cut];
        (!cur.is_empty()).then_some(cur)
    })
}

/// Puts `node` (or nothing) at `ino` in `tree`, keeping usage in step.
fn replace(tree: &mut Tree, ino: Ino, current: Option<&Node>, node: Option<NodeRef>) -> Result<()> {
    let unlimited = super::Limits::unlimited();
    let old_bytes = current.map_or(0, Node::charged_bytes) as i64;
    let new_bytes = node.as_ref().map_or(0, |n| n.0.charged_bytes()) as i64;
    tree.usage.add_bytes(new_bytes - old_bytes, u64::MAX)?;
    if !ino.is_base() {
        match (current.is_some(), node.is_some()) {
            (false, true) => tree.usage.add_inode(&unlimited)?,
            (true, false) => tree.usage.remove_inode(),
            _ => {}
        }
    }
    match node {
        Some(node) => {
            tree.nodes.insert(ino, node);
        }
        None => {
            tree.nodes.remove(&ino);
        }
    }
    Ok(())
}

/// Merges a directory both sides changed, name by name. On a conflict,
/// returns the conflicting names (none when the directory itself conflicts).
fn merge_dir(before: &View<'_>, mine: &Node, theirs: &Node) -> Result<Node, Vec<Name>> {
    let (Some(my_dir), Some(their_dir)) = (mine.dir(), theirs.dir()) else {
        return Err(Vec::new());
    };
    let (before_entries, before_subdirs, before_links): (_, u64, Vec<(Ino, Name)>) = match before {
        View::Upper(node) => {
            let d = node.dir().ok_or_else(Vec::new)?;
            (d.entries.clone(), d.subdirs, node.links.to_vec())
        }
        View::Base(b) if b.kind == Kind::Dir => (
            OrdMap::new(),
            b.subdirs,
            b.link.clone().into_iter().collect(),
        ),
        View::Base(_) => return Err(Vec::new()),
    };
    let mut merged = theirs.clone();
    let Body::Dir(dir) = &mut merged.body else {
        return Err(Vec::new());
    };
    let mut conflicts = Vec::new();
    for item in before_entries.diff(&my_dir.entries) {
        let (name, mine) = match item {
            DiffItem::Add(name, slot) => (name, Some(slot)),
            DiffItem::Update {
                new: (name, slot), ..
            } => (name, Some(slot)),
            DiffItem::Remove(name, _) => (name, None),
        };
        let origin = before_entries.get(name);
        let theirs = their_dir.entries.get(name);
        if theirs != origin && theirs != mine {
            conflicts.push(name.clone());
            continue;
        }
        match mine {
            Some(slot) => dir.entries.insert(name.clone(), slot.clone()),
            None => dir.entries.remove(name),
        };
    }
    if !conflicts.is_empty() {
        return Err(conflicts);
    }
    dir.subdirs = (their_dir.subdirs + my_dir.subdirs)
        .checked_sub(before_subdirs)
        .ok_or_else(Vec::new)?;
    // A directory moved on one side only keeps that move.
    let mine_moved = *mine.links != *before_links;
    let theirs_moved = *theirs.links != *before_links;
    if mine_moved && theirs_moved && mine.links != theirs.links {
        return Err(Vec::new());
    }
    if mine_moved {
        merged.links = mine.links.clone();
    }
    merged.times.atime = mine.times.atime.max(theirs.times.atime);
    merged.times.mtime = mine.times.mtime.max(theirs.times.mtime);
    merged.times.ctime = mine.times.ctime.max(theirs.times.ctime);
    Ok(merged)
}
