//! Inodes: identity, kinds, metadata and the per-kind bodies.
//!
//! A [`Node`] is immutable once published in a tree; changing one means
//! building a new version (`Arc::make_mut`), which is what makes a fork an
//! O(1) clone. Nodes find their place in the namespace through `links`
//! (parent directory and name), so a changed inode can be turned back into
//! a path for diffs and conflict reports without walking the whole tree.

use std::sync::Arc;

use imbl::OrdMap;

use super::data::FileData;
use super::meter::InodeCharge;
use super::time::Timestamp;

/// An inode number. Stable for the life of the object, shared by every fork
/// that inherits the object, and never reused within one [`Vfs`](super::Vfs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ino(pub u64);

impl Ino {
    /// Inode numbers at or above this are allocated by the upper layer;
    /// those below belong to the base.
    pub const FIRST_UPPER: Ino = Ino(1 << 62);

    /// Whether this inode comes from the base layer.
    pub fn is_base(self) -> bool {
        self < Ino::FIRST_UPPER
    }
}

/// A name within a directory (one path component).
pub type Name = Arc<str>;

/// The three kinds of object the filesystem holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
}

/// One name in a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// The name.
    pub name: Name,
    /// The inode it points at.
    pub ino: Ino,
    /// That inode's kind.
    pub kind: Kind,
}

/// What `stat` reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stat {
    /// The inode number: equal for two names of one object.
    pub ino: Ino,
    /// File, directory or symlink.
    pub kind: Kind,
    /// Number of hard links (directories: 2 + subdirectories, 0 once removed).
    pub nlink: u64,
    /// Bytes for files, target length for symlinks, a nominal 4096 for directories.
    pub size: u64,
    /// Last data access (set on creation and by `set-times`; reads don't
    /// update it, as on a `noatime` mount).
    pub atime: Timestamp,
    /// Last data modification.
    pub mtime: Timestamp,
    /// Last status change.
    pub ctime: Timestamp,
}

/// The size reported for directories (as ext4 and most POSIX systems do).
pub(crate) const DIR_SIZE: u64 = 4096;

/// The three POSIX timestamps of an inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Times {
    /// Access time.
    pub atime: Timestamp,
    /// Modification time.
    pub mtime: Timestamp,
    /// Status-change time.
    pub ctime: Timestamp,
}

impl Times {
    /// All three set to `now`.
    pub fn all(now: Timestamp) -> Times {
        Times {
            atime: now,
            mtime: now,
            ctime: now,
        }
    }

    /// Content changed: mtime and ctime move.
    pub(crate) fn modified(&mut self, now: Timestamp) {
        self.mtime = now;
        self.ctime = now;
    }
}

/// One name pointing at an inode: the directory holding it and the name.
pub(crate) type Link = (Ino, Name);

/// A directory slot in the upper layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// The name refers to this inode.
    Node(Ino, Kind),
    /// The name is deleted here even though the base directory has it.
    Whiteout,
}

/// The entries of a directory as the upper layer sees them.
#[derive(Clone, Debug)]
pub(crate) struct DirData {
    /// Names set (or whited out) in this layer, in name order.
    pub entries: OrdMap<Name, Slot>,
    /// Names absent from `entries` fall through to the base directory with
    /// the same inode number.
    pub lower: bool,
    /// How many subdirectories it has (for the link count).
    pub subdirs: u64,
}

/// The kind-specific part of an inode.
#[derive(Clone, Debug)]
pub(crate) enum Body {
    File(FileData),
    Dir(DirData),
    Symlink(Arc<str>),
}

/// An inode of the upper layer.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub times: Times,
    /// The names this inode is reachable by. A directory has one (none for
    /// the root), a file one per hard link; an empty list means the inode is
    /// unlinked and only kept alive by open handles.
    pub links: Arc<[Link]>,
    pub body: Body,
    /// The inode's place in the host's meter, shared by every version of
    /// its node.
    #[expect(dead_code, reason = "held for its drop, which gives the inode back")]
    pub charge: Arc<InodeCharge>,
}

impl Node {
    pub fn kind(&self) -> Kind {
        match self.body {
            Body::File(_) => Kind::File,
            Body::Dir(_) => Kind::Dir,
            Body::Symlink(_) => Kind::Symlink,
        }
    }

    pub fn dir(&self) -> Option<&DirData> {
        match &self.body {
            Body::Dir(d) => Some(d),
            _ => None,
        }
    }

    pub fn parent(&self) -> Option<Ino> {
        self.links.first().map(|(parent, _)| *parent)
    }

    pub fn nlink(&self, is_root: bool) -> u64 {
        match &self.body {
            Body::Dir(d) if is_root || !self.links.is_empty() => 2 + d.subdirs,
            Body::Dir(_) => 0,
            _ => self.links.len() as u64,
        }
    }

    pub fn size(&self) -> u64 {
        match &self.body {
            Body::File(f) => f.size(),
            Body::Dir(_) => DIR_SIZE,
            Body::Symlink(target) => target.len() as u64,
        }
    }

    pub fn stat(&self, ino: Ino, is_root: bool) -> Stat {
        Stat {
            ino,
            kind: self.kind(),
            nlink: self.nlink(is_root),
            size: self.size(),
            atime: self.times.atime,
            mtime: self.times.mtime,
            ctime: self.times.ctime,
        }
    }

    /// Bytes this node holds in the upper layer (charged to the fork).
    pub fn charged_bytes(&self) -> u64 {
        match &self.body {
            Body::File(f) => f.allocated(),
            _ => 0,
        }
    }

    pub fn links_with(&self, link: Link) -> Arc<[Link]> {
        self.links.iter().cloned().chain([link]).collect()
    }

    pub fn links_without(&self, parent: Ino, name: &str) -> Arc<[Link]> {
        let mut removed = false;
        self.links
            .iter()
            .filter(|(p, n)| {
                let hit = !removed && *p == parent && &**n == name;
                removed |= hit;
                !hit
            })
            .cloned()
            .collect()
    }
}

/// A shared, immutable node in the inode table. Equality is identity: two
/// trees hold "the same" node only if neither changed it since they split,
/// which is what lets a diff skip everything two forks still share.
#[derive(Clone, Debug)]
pub(crate) struct NodeRef(pub Arc<Node>);

impl PartialEq for NodeRef {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for NodeRef {}
