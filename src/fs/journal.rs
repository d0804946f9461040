//! What one operation changed in a tree, so that a failure can put it back.
//!
//! Operations change their fork's tree in place, and the tree's persistent
//! maps copy only what some other version (a published snapshot, a fork's
//! origin) still shares. Copying the whole tree first — an O(1) clone —
//! would make *everything* shared, so every change would copy its paths;
//! instead each operation keeps this journal of what it touched and, if it
//! fails halfway (a `NeedsBase` miss, a quota, a name that is not there),
//! the tree is put back from it.
//!
//! Two kinds of record:
//! - a node's earlier version, whole (`Node`): its `NodeRef` as it was, or
//!   its absence. Keeping it makes the node shared, so the change copies
//!   it (a few fields and the roots of its maps) — nothing when the node
//!   was shared anyway.
//! - one directory entry (`Entry`), for a directory nobody else holds: the
//!   name's old slot and the directory's times and subdirectory count. A
//!   whole copy here would share the directory's entry map and make the
//!   change copy its path, which in a large directory is the cost this
//!   journal exists to avoid.
//!
//! Records are undone newest first, so a node saved whole after one of its
//! entries changed (or before) ends exactly as it was.

use std::sync::Arc;

use super::limits::Usage;
use super::node::{Body, Ino, Name, NodeRef, Slot, Times};
use super::tree::Tree;

/// The undo records of one operation on one tree.
#[derive(Default)]
pub(crate) struct Journal {
    records: Vec<Record>,
}

enum Record {
    /// The node as it was; `None` if the table did not have it.
    Node(Ino, Option<NodeRef>),
    /// One entry of a directory changed in place.
    Entry {
        dir: Ino,
        name: Name,
        slot: Option<Slot>,
        times: Times,
        subdirs: u64,
    },
    /// An inode joined the orphans (or was one already).
    Orphan { ino: Ino, was: bool },
}

impl Journal {
    fn saved_whole(&self, ino: Ino) -> bool {
        self.records
            .iter()
            .any(|r| matches!(r, Record::Node(saved, _) if *saved == ino))
    }

    /// `ino` is about to enter the table (created, or copied up).
    pub fn added(&mut self, ino: Ino) {
        if !self.saved_whole(ino) {
            self.records.push(Record::Node(ino, None));
        }
    }

    /// `node` (for `ino`) is about to change in any way.
    pub fn changing(&mut self, ino: Ino, node: &NodeRef) {
        if !self.saved_whole(ino) {
            self.records.push(Record::Node(ino, Some(node.clone())));
        }
    }

    /// The directory `node` is about to have one entry changed; whether
    /// the caller must report it with [`Journal::entry_changed`] (the
    /// directory is changed in place), or not (it was saved whole: already,
    /// or now, because other versions share it and copy it anyway).
    pub fn entry_changing(&mut self, dir: Ino, node: &NodeRef) -> bool {
        if self.saved_whole(dir) {
            return false;
        }
        if Arc::strong_count(&node.0) > 1 {
            self.records.push(Record::Node(dir, Some(node.clone())));
            return false;
        }
        true
    }

    /// What [`Journal::entry_changing`] asked for: `name` in `dir` had
    /// `slot`, and the directory these times and subdirectory count.
    pub fn entry_changed(
        &mut self,
        dir: Ino,
        name: Name,
        slot: Option<Slot>,
        times: Times,
        subdirs: u64,
    ) {
        self.records.push(Record::Entry {
            dir,
            name,
            slot,
            times,
            subdirs,
        });
    }

    /// `ino` is about to join the orphans; `was` says whether it is one.
    pub fn orphaning(&mut self, ino: Ino, was: bool) {
        self.records.push(Record::Orphan { ino, was });
    }

    /// Puts `tree` back as it was before the operation, whose start found
    /// it using `usage`.
    pub fn undo(self, tree: &mut Tree, usage: Usage) {
        for record in self.records.into_iter().rev() {
            match record {
                Record::Node(ino, None) => {
                    tree.nodes.remove(&ino);
                }
                Record::Node(ino, Some(node)) => {
                    tree.nodes.insert(ino, node);
                }
                Record::Entry {
                    dir,
                    name,
                    slot,
                    times,
                    subdirs,
                } => {
                    let Some(node) = tree.nodes.get_mut(&dir) else {
                        continue;
                    };
                    let node = Arc::make_mut(&mut node.0);
                    node.times = times;
                    if let Body::Dir(d) = &mut node.body {
                        match slot {
                            Some(slot) => d.entries.insert(name, slot),
                            None => d.entries.remove(&name),
                        };
                        d.subdirs = subdirs;
                    }
                }
                Record::Orphan { ino, was } => {
                    if was {
                        tree.orphans.insert(ino);
                    } else {
                        tree.orphans.remove(&ino);
                    }
                }
            }
        }
        tree.usage = usage;
    }
}
