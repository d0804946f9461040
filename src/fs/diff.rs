//! What a fork changed: the paths that differ between two tree versions.
//!
//! Both versions are inode tables. `imbl`'s ordered-map diff skips every
//! subtree the two still share, so comparing a fork with the version it was
//! forked from costs O(changes · log n), not O(tree). Changed inodes are
//! turned back into paths through their links. `merge` (commit) builds on
//! the same pieces.

use std::collections::BTreeMap;

use imbl::OrdMap;
use imbl::ordmap::DiffItem;

use super::base::Base;
use super::data::FileData;
use super::error::Result;
use super::node::{Body, Ino, Kind, Name, Node, Slot};
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
pub(super) struct Pair<'a> {
    pub ino: Ino,
    pub before: Option<View<'a>>,
    pub after: Option<&'a Node>,
}

/// The inodes that differ between two versions, with both sides.
pub(super) fn changed_inodes<'a>(
    base: &dyn Base,
    old: &'a Tree,
    new: &'a Tree,
) -> Result<Vec<Pair<'a>>> {
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
pub(super) fn dir_parts<'a>(view: &'a View<'_>) -> Option<(Option<&'a OrdMap<Name, Slot>>, bool)> {
    match view {
        View::Upper(node) => node.dir().map(|d| (Some(&d.entries), d.lower)),
        View::Base(b) if b.kind == Kind::Dir => Some((None, true)),
        View::Base(_) => None,
    }
}

/// What `name` shows in a directory version: its upper slot, else the base.
pub(super) fn visible(
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

/// The names of directory `pair.ino` whose entries may differ between `old`
/// and `new` (`None` when it is a directory in neither). Names neither side
/// holds in its upper layer fall through to the same base directory — when
/// both fall through; a side that stopped falling through (an emptied
/// directory) may have lost any of the base's names, so then every name
/// either side lists is compared.
pub(super) fn names_to_compare(
    base: &dyn Base,
    old: &Tree,
    new: &Tree,
    pair: &Pair<'_>,
) -> Result<Option<Vec<Name>>> {
    let before_dir = pair.before.as_ref().and_then(dir_parts);
    let after_dir = pair.after.and_then(Node::dir);
    let ino = pair.ino;
    Ok(Some(match (before_dir, after_dir) {
        (None, None) => return Ok(None),
        (Some((_, lower)), Some(after)) if lower != after.lower => {
            let mut names: Vec<Name> = old
                .list(base, ino, None, usize::MAX)?
                .into_iter()
                .chain(new.list(base, ino, None, usize::MAX)?)
                .map(|e| e.name)
                .collect();
            names.sort();
            names.dedup();
            names
        }
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
    }))
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

pub(super) fn join(dir: &str, name: &str) -> String {
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
        let Some(names) = names_to_compare(base, old, new, &pair)? else {
            continue;
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
