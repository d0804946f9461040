//! The base layer: the read-only image every fork starts from.
//!
//! The core reads the base through the synchronous [`Base`] trait, which may
//! answer "not loaded" (`Error::NeedsBase(Need)`) for anything it does not
//! hold yet. That single answer is how slow and remote backends fit a
//! synchronous core: the core operation that hit the miss is abandoned with no
//! effect, the owner of the core (the actor) fetches what the [`Need`] names
//! — asynchronously, while serving other requests — and runs the operation
//! again. [`MemBase`] is the fully loaded in-memory image.
//!
//! Base inode numbers lie below [`Ino::FIRST_UPPER`]. Base directories are
//! "lower" directories: a fork records only its changes to them (new names and
//! whiteouts), and every other name is looked up in the base.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use super::data::CHUNK_SIZE;
use super::error::{Errno, Error, Result};
use super::node::{DirEntry, Ino, Kind, Name, Times};
use super::time::Timestamp;

/// A piece of base data the core needed but the base did not hold.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Need {
    /// The metadata of an inode.
    Node(Ino),
    /// Whether a directory has this name, and what it points at.
    Lookup(Ino, Name),
    /// The whole listing of a directory.
    List(Ino),
    /// One chunk (`CHUNK_SIZE` bytes) of a file.
    Chunk(Ino, u64),
}

impl Need {
    /// The error that reports this need.
    pub fn miss<T>(self) -> Result<T> {
        Err(Error::NeedsBase(self))
    }
}

/// An inode of the base.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseNode {
    /// File, directory or symlink.
    pub kind: Kind,
    /// File size in bytes (ignored for directories and symlinks).
    pub size: u64,
    /// For directories, the number of subdirectories (for the link count).
    pub subdirs: u64,
    /// Timestamps.
    pub times: Times,
    /// The directory holding it and its name there; `None` for the root.
    /// (The base is a tree: hard links inside a base are not modelled.)
    pub link: Option<(Ino, Name)>,
    /// For symlinks, the target.
    pub target: Option<Arc<str>>,
}

/// Read access to base data. Every method may answer
/// `Err(Error::NeedsBase(..))` for data it does not hold yet, or an `Errno`
/// (usually `Io`) for data it cannot provide at all.
pub trait Base: Send + Sync + 'static {
    /// The root directory.
    fn root(&self) -> Ino;
    /// The inode's metadata.
    fn node(&self, ino: Ino) -> Result<Arc<BaseNode>>;
    /// The entry `name` of directory `dir`, if there is one.
    fn lookup(&self, dir: Ino, name: &str) -> Result<Option<DirEntry>>;
    /// All entries of directory `dir`, sorted by name.
    fn list(&self, dir: Ino) -> Result<Arc<[DirEntry]>>;
    /// Chunk `index` of a file: `CHUNK_SIZE` bytes, or fewer for the last one.
    fn chunk(&self, file: Ino, index: u64) -> Result<Bytes>;
}

/// A shared image: several filesystems over one base (one per runtime, say,
/// each with its own actor), the image held once.
impl<B: Base + ?Sized> Base for Arc<B> {
    fn root(&self) -> Ino {
        (**self).root()
    }
    fn node(&self, ino: Ino) -> Result<Arc<BaseNode>> {
        (**self).node(ino)
    }
    fn lookup(&self, dir: Ino, name: &str) -> Result<Option<DirEntry>> {
        (**self).lookup(dir, name)
    }
    fn list(&self, dir: Ino) -> Result<Arc<[DirEntry]>> {
        (**self).list(dir)
    }
    fn chunk(&self, file: Ino, index: u64) -> Result<Bytes> {
        (**self).chunk(file, index)
    }
}

/// A fully loaded, immutable in-memory image. Build one with
/// [`MemBase::builder`].
#[derive(Debug, Default)]
pub struct MemBase {
    nodes: HashMap<Ino, Arc<BaseNode>>,
    dirs: HashMap<Ino, Arc<[DirEntry]>>,
    data: HashMap<Ino, Bytes>,
}

impl MemBase {
    /// An image holding only an empty root directory.
    pub fn empty() -> MemBase {
        MemBase::builder().build()
    }

    /// Starts an image with an empty root, all timestamps at the epoch.
    pub fn builder() -> MemBaseBuilder {
        MemBaseBuilder::new(Timestamp::ZERO)
    }

    /// The inode a path (`a/b/c`, no symlinks followed) names, if any.
    pub fn resolve(&self, path: &str) -> Option<Ino> {
        let mut ino = self.root();
        for name in path.split('/').filter(|c| !c.is_empty()) {
            ino = self.lookup(ino, name).ok()??.ino;
        }
        Some(ino)
    }
}

const MEM_ROOT: Ino = Ino(1);

impl Base for MemBase {
    fn root(&self) -> Ino {
        MEM_ROOT
    }

    fn node(&self, ino: Ino) -> Result<Arc<BaseNode>> {
        self.nodes.get(&ino).cloned().ok_or(Errno::NoEntry.into())
    }

    fn lookup(&self, dir: Ino, name: &str) -> Result<Option<DirEntry>> {
        let entries = self.dirs.get(&dir).ok_or(Errno::NotDirectory)?;
        Ok(entries
            .binary_search_by(|e| (*e.name).cmp(name))
            .ok()
            .map(|i| entries[i].clone()))
    }

    fn list(&self, dir: Ino) -> Result<Arc<[DirEntry]>> {
        self.dirs
            .get(&dir)
            .cloned()
            .ok_or(Errno::NotDirectory.into())
    }

    fn chunk(&self, file: Ino, index: u64) -> Result<Bytes> {
        let data = self.data.get(&file).ok_or(Errno::NoEntry)?;
        let start = (index * CHUNK_SIZE).min(data.len() as u64) as usize;
        let end = (start + CHUNK_SIZE as usize).min(data.len());
        Ok(data.slice(start..end))
    }
}

/// Builds a [`MemBase`]. Parent directories are created as needed; paths use
/// `/` and are relative to the root.
#[derive(Debug)]
pub struct MemBaseBuilder {
    times: Times,
    next: u64,
    nodes: HashMap<Ino, BaseNode>,
    dirs: HashMap<Ino, Vec<DirEntry>>,
    data: HashMap<Ino, Bytes>,
}

impl MemBaseBuilder {
    fn new(time: Timestamp) -> MemBaseBuilder {
        let mut builder = MemBaseBuilder {
            times: Times::all(time),
            next: MEM_ROOT.0 + 1,
            nodes: HashMap::new(),
            dirs: HashMap::new(),
            data: HashMap::new(),
        };
        builder
            .nodes
            .insert(MEM_ROOT, builder.node(Kind::Dir, None));
        builder.dirs.insert(MEM_ROOT, Vec::new());
        builder
    }

    /// Timestamps given to the objects added from now on.
    pub fn time(mut self, time: Timestamp) -> Self {
        self.times = Times::all(time);
        self
    }

    fn node(&self, kind: Kind, link: Option<(Ino, Name)>) -> BaseNode {
        BaseNode {
            kind,
            size: 0,
            subdirs: 0,
            times: self.times,
            link,
            target: None,
        }
    }

    /// Adds a directory (and its parents).
    pub fn dir(mut self, path: &str) -> Self {
        self.ensure_dir(path);
        self
    }

    /// Adds a file with these contents (and its parent directories).
    pub fn file(mut self, path: &str, contents: impl Into<Bytes>) -> Self {
        let contents = contents.into();
        let ino = self.add(path, Kind::File);
        self.nodes.get_mut(&ino).expect("just added").size = contents.len() as u64;
        self.data.insert(ino, contents);
        self
    }

    /// Adds a symlink pointing at `target` (and its parent directories).
    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        let ino = self.add(path, Kind::Symlink);
        self.nodes.get_mut(&ino).expect("just added").target = Some(target.into());
        self
    }

    fn ensure_dir(&mut self, path: &str) -> Ino {
        let mut dir = MEM_ROOT;
        for name in path.split('/').filter(|c| !c.is_empty()) {
            let existing = self.dirs[&dir].iter().find(|e| &*e.name == name).cloned();
            dir = match existing {
                Some(e) if e.kind == Kind::Dir => e.ino,
                Some(_) => panic!("MemBaseBuilder: {path}: {name} is not a directory"),
                None => self.insert(dir, name, Kind::Dir),
            };
        }
        dir
    }

    fn add(&mut self, path: &str, kind: Kind) -> Ino {
        let (parent, name) = match path.trim_matches('/').rsplit_once('/') {
            Some((parent, name)) => (self.ensure_dir(parent), name),
            None => (MEM_ROOT, path.trim_matches('/')),
        };
        assert!(
            !name.is_empty() && !self.dirs[&parent].iter().any(|e| &*e.name == name),
            "MemBaseBuilder: {path} is empty or already exists"
        );
        self.insert(parent, name, kind)
    }

    fn insert(&mut self, parent: Ino, name: &str, kind: Kind) -> Ino {
        let ino = Ino(self.next);
        self.next += 1;
        assert!(ino.is_base(), "MemBaseBuilder: too many inodes");
        let name: Name = name.into();
        self.nodes
            .insert(ino, self.node(kind, Some((parent, name.clone()))));
        self.dirs
            .get_mut(&parent)
            .expect("parent is a directory")
            .push(DirEntry { name, ino, kind });
        if kind == Kind::Dir {
            self.dirs.insert(ino, Vec::new());
            self.nodes.get_mut(&parent).expect("parent exists").subdirs += 1;
        }
        ino
    }

    /// Freezes the image.
    pub fn build(self) -> MemBase {
        MemBase {
            nodes: self
                .nodes
                .into_iter()
                .map(|(ino, node)| (ino, Arc::new(node)))
                .collect(),
            dirs: self
                .dirs
                .into_iter()
                .map(|(ino, mut entries)| {
                    entries.sort_by(|a, b| a.name.cmp(&b.name));
                    (ino, entries.into())
                })
                .collect(),
            data: self.data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_makes_a_tree() {
        let base = MemBase::builder()
            .file("a/b/c.txt", &b"hello"[..])
            .symlink("a/link", "b/c.txt")
            .dir("empty")
            .build();
        let c = base.resolve("a/b/c.txt").unwrap();
        assert_eq!(base.node(c).unwrap().size, 5);
        assert_eq!(&base.chunk(c, 0).unwrap()[..], b"hello");
        let a = base.resolve("a").unwrap();
        let names: Vec<_> = base
            .list(a)
            .unwrap()
            .iter()
            .map(|e| e.name.clone())
            .collect();
        assert_eq!(names, vec!["b".into(), "link".into()] as Vec<Name>);
        assert_eq!(base.node(a).unwrap().subdirs, 1);
        assert_eq!(base.node(base.root()).unwrap().subdirs, 2);
        assert!(base.resolve("a/missing").is_none());
    }
}
