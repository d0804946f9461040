//! Commit: folding a fork's changes into its parent.
//!
//! A three-way merge against the version the fork started from (its
//! *origin*): an inode changed only by the fork is taken as the fork has
//! it; an inode changed on both sides is a conflict — except directories,
//! which merge name by name, so two forks that each add a different file to
//! `/tmp` both succeed. On any conflict nothing is applied and the paths are
//! reported. If the parent did not change at all, the fork's tree simply
//! becomes the parent's.
//!
//! # What the parent holds open
//!
//! A name the fork removed or replaced is removed from the parent exactly
//! as if the parent had done it: every inode the parent named before the
//! commit and names no more afterwards becomes one of the parent's
//! *orphans* — kept, with the parent's contents (what its handles read
//! until then), no names and a link count of 0 — and goes, like any
//! orphan, once the parent holds no handle on it (`Vfs` drops orphans
//! nobody holds after every operation, or when its owner sweeps). The
//! merged tree alone cannot say so: the fork drops the inodes it unlinked
//! once nothing in the fork holds them, and a base inode missing from the
//! upper layer reads as the base's, so without this step a parent's handle
//! would find nothing, or the image's original bytes.
//!
//! The orphans keep the parent's version, not the fork's: a file the fork
//! wrote and then deleted is gone with its writes, as it is in the fork.

use std::collections::{BTreeSet, HashSet};
use std::ops::Bound;
use std::sync::Arc;

use imbl::OrdMap;
use imbl::ordmap::DiffItem;

use super::base::Base;
use super::diff::{Change, changed_inodes, diff, dir_parts, join, names_to_compare, visible};
use super::error::{Errno, Error, Result};
use super::meter::Meter;
use super::node::{Body, DirData, Ino, Kind, Name, Node, NodeRef};
use super::time::Timestamp;
use super::tree::{Tree, View, copy_up};

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

/// The tree `parent` becomes when `child`, forked from it as `origin`, is
/// committed into it at `now`.
pub(crate) fn commit(
    base: &dyn Base,
    origin: &Tree,
    parent: &Tree,
    child: &Tree,
    now: Timestamp,
) -> Result<Tree, CommitError> {
    let mut merged = merge(base, origin, parent, child)?;
    keep_unlinked(base, parent, &mut merged, now)?;
    Ok(merged)
}

/// Folds the changes `child` made since `origin` into `parent`, names only:
/// what the parent holds without a name afterwards is [`keep_unlinked`]'s.
fn merge(base: &dyn Base, origin: &Tree, parent: &Tree, child: &Tree) -> Result<Tree, CommitError> {
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
                let path = path_for_report(base, &[child, origin, parent], ino)?;
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
    let old_bytes = current.map_or(0, Node::charged_bytes) as i64;
    let new_bytes = node.as_ref().map_or(0, |n| n.0.charged_bytes()) as i64;
    tree.usage.add_bytes(new_bytes - old_bytes, u64::MAX)?;
    if !ino.is_base() {
        match (current.is_some(), node.is_some()) {
            (false, true) => tree.usage.add_inode(u64::MAX)?,
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

/// Makes every inode `before` names and `after` does not an orphan of
/// `after`, as `before` had it (see the module docs).
fn keep_unlinked(base: &dyn Base, before: &Tree, after: &mut Tree, now: Timestamp) -> Result<()> {
    for ino in unnamed(base, before, after)? {
        if is_linked(base, after, ino)? {
            continue; // moved, or still named by another hard link
        }
        let kept_by_after = after.nodes.get(&ino).is_some_and(|n| n.0.links.is_empty());
        if !kept_by_after {
            let orphan = orphan_of(&before.view(base, ino)?, now, &after.meter);
            let current = after.nodes.get(&ino).map(|n| n.0.clone());
            replace(
                after,
                ino,
                current.as_deref(),
                Some(NodeRef(Arc::new(orphan))),
            )?;
        }
        after.orphans.insert(ino);
    }
    Ok(())
}

/// The inodes some directory of `before` names under a name that, in
/// `after`, is gone or names another inode, and everything below such a
/// directory if it is gone too — every inode that may have lost its last
/// name. Only directories whose nodes differ are looked at, and only the
/// entries of removed ones listed, so this costs O(changes).
fn unnamed(base: &dyn Base, before: &Tree, after: &Tree) -> Result<BTreeSet<Ino>> {
    let mut lost = BTreeSet::new();
    for pair in changed_inodes(base, before, after)? {
        let Some((was_entries, was_lower)) = pair.before.as_ref().and_then(dir_parts) else {
            continue;
        };
        let Some(names) = names_to_compare(base, before, after, &pair)? else {
            continue;
        };
        // What `after` shows, base included (a directory the fork dropped
        // from its upper layer reads as the base's).
        let now = view_if_any(base, after, pair.ino)?;
        let now_dir = now.as_ref().and_then(dir_parts);
        for name in names {
            let Some((named, _)) = visible(base, pair.ino, was_entries, was_lower, &name)? else {
                continue;
            };
            let still = match now_dir {
                Some((entries, lower)) => visible(base, pair.ino, entries, lower, &name)?,
                None => None,
            };
            if still.map(|(i, _)| i) != Some(named) {
                lost.insert(named);
            }
        }
    }
    // What a removed directory held may have lost its names with it: the
    // fork emptied the directory first, but dropped the directory itself,
    // so those entries show up as no change. (A directory only moved keeps
    // its entries, and is not looked into: that would cost its subtree.)
    let mut dirs: Vec<Ino> = lost.iter().copied().collect();
    while let Some(dir) = dirs.pop() {
        if !matches!(view_if_any(base, before, dir)?, Some(v) if v.kind() == Kind::Dir)
            || is_linked(base, after, dir)?
        {
            continue;
        }
        for entry in before.list(base, dir, None, usize::MAX)? {
            if lost.insert(entry.ino) {
                dirs.push(entry.ino);
            }
        }
    }
    Ok(lost)
}

/// `ino` as `tree` has it; `None` for an upper inode it does not hold.
fn view_if_any<'t>(base: &dyn Base, tree: &'t Tree, ino: Ino) -> Result<Option<View<'t>>> {
    or_none(tree.view(base, ino))
}

/// Whether a path from the root of `tree` reaches `ino`. An upper node says
/// where it is linked; a base inode the upper layer does not hold is where
/// the base put it only if that directory entry still names it there — the
/// fork may have unlinked it and dropped its node.
fn is_linked(base: &dyn Base, tree: &Tree, ino: Ino) -> Result<bool> {
    let mut cur = ino;
    // Trees are acyclic; the bound only keeps a broken one from spinning.
    for _ in 0..=u16::MAX {
        if cur == tree.root() {
            return Ok(true);
        }
        let (parent, _) = match tree.nodes.get(&cur) {
            Some(node) => match node.0.links.first() {
                Some(link) => link.clone(),
                None => return Ok(false),
            },
            None if cur.is_base() => {
                let Some(link) = base.node(cur)?.link.clone() else {
                    return Ok(false);
                };
                let found = or_none(tree.lookup(base, link.0, &link.1))?.flatten();
                if found.map(|(i, _)| i) != Some(cur) {
                    return Ok(false);
                }
                link
            }
            None => return Ok(false),
        };
        cur = parent;
    }
    Ok(true)
}

/// What the parent keeps of an inode it lost the last name of: its node
/// without names, changed now; a directory, empty (as a removed one reads).
fn orphan_of(view: &View<'_>, now: Timestamp, meter: &Arc<Meter>) -> Node {
    let mut node = match view {
        View::Upper(node) => (*node).clone(),
        View::Base(b) => copy_up(b, meter),
    };
    node.links = Arc::from([]);
    node.times.ctime = now;
    if let Body::Dir(_) = node.body {
        node.body = Body::Dir(DirData {
            entries: OrdMap::new(),
            lower: false,
            subdirs: 0,
        });
    }
    node
}

/// A path naming `ino` in the first of `trees` that has one, for a conflict
/// report (an inode one side deleted has none there).
fn path_for_report(base: &dyn Base, trees: &[&Tree], ino: Ino) -> Result<String> {
    for tree in trees {
        if let Some(path) = or_none(tree.path_of(base, ino))?.flatten() {
            return Ok(path);
        }
    }
    Ok(format!("<inode {}>", ino.0))
}

/// An error code as `None`; a miss on base data still travels up (the
/// commit runs again once it is fetched).
fn or_none<T>(result: Result<T>) -> Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(Error::Errno(_)) => Ok(None),
        Err(e) => Err(e),
    }
}
