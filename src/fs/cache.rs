//! [`BaseCache`]: the part of a slow base that has been fetched so far.
//!
//! The core reads the base synchronously; a slow or remote base cannot
//! answer that way. So the core reads this cache instead, which answers
//! `NeedsBase` for what it lacks; the owner of the core fetches the missing
//! piece (asynchronously, elsewhere) and [`insert`](BaseCache::insert)s it.
//!
//! The cache is a persistent map behind an `ArcSwap`: readers on any thread
//! never lock, and the single writer publishes a new version per fill.

use std::sync::Arc;

use arc_swap::ArcSwap;
use bytes::Bytes;
use imbl::HashMap;

use super::base::{Base, BaseNode, Need};
use super::error::{Errno, Result};
use super::node::{DirEntry, Ino, Name};

/// Base data as a backend delivers it. A backend may deliver more than was
/// asked for (the nodes of a listing, say) to save later round trips.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    /// Inode metadata.
    pub nodes: Vec<(Ino, Arc<BaseNode>)>,
    /// Single-name lookups: `(dir, name, entry or None)`.
    pub lookups: Vec<(Ino, Name, Option<DirEntry>)>,
    /// Whole directory listings, sorted by name.
    pub lists: Vec<(Ino, Arc<[DirEntry]>)>,
    /// File chunks: `(file, index, bytes)`.
    pub chunks: Vec<(Ino, u64, Bytes)>,
}

#[derive(Clone, Default)]
struct Cached {
    nodes: HashMap<Ino, Arc<BaseNode>>,
    lookups: HashMap<Ino, HashMap<Name, Option<DirEntry>>>,
    lists: HashMap<Ino, Arc<[DirEntry]>>,
    chunks: HashMap<(Ino, u64), Bytes>,
}

/// A [`Base`] that answers from what has been fetched, and `NeedsBase` otherwise.
pub struct BaseCache {
    root: Ino,
    cached: ArcSwap<Cached>,
}

impl std::fmt::Debug for BaseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = self.cached.load();
        f.debug_struct("BaseCache")
            .field("nodes", &c.nodes.len())
            .field("lists", &c.lists.len())
            .field("chunks", &c.chunks.len())
            .finish()
    }
}

impl BaseCache {
    /// An empty cache for a base whose root directory is `root`.
    pub fn new(root: Ino) -> BaseCache {
        BaseCache {
            root,
            cached: ArcSwap::from_pointee(Cached::default()),
        }
    }

    /// Adds fetched data (one bundle or several at once: one new version of
    /// the cache per call). Readers on other threads see it from their next
    /// call on. Concurrent writers are safe (compare-and-swap), though the
    /// actor is normally the only one.
    pub fn insert<'a>(&self, loaded: impl IntoIterator<Item = &'a Loaded> + Clone) {
        self.cached.rcu(|current| {
            let mut next = Cached::clone(current);
            for loaded in loaded.clone() {
                for (ino, node) in &loaded.nodes {
                    next.nodes.insert(*ino, node.clone());
                }
                for (dir, name, entry) in &loaded.lookups {
                    next.lookups
                        .entry(*dir)
                        .or_default()
                        .insert(name.clone(), entry.clone());
                }
                for (dir, entries) in &loaded.lists {
                    next.lists.insert(*dir, entries.clone());
                }
                for (ino, index, bytes) in &loaded.chunks {
                    next.chunks.insert((*ino, *index), bytes.clone());
                }
            }
            next
        });
    }

    /// Whether the cache can now answer `need`.
    pub fn has(&self, need: &Need) -> bool {
        let answered = match need {
            Need::Node(ino) => self.node(*ino).map(drop),
            Need::Lookup(dir, name) => self.lookup(*dir, name).map(drop),
            Need::List(dir) => self.list(*dir).map(drop),
            Need::Chunk(ino, index) => self.chunk(*ino, *index).map(drop),
        };
        !matches!(answered, Err(super::Error::NeedsBase(_)))
    }
}

impl Base for BaseCache {
    fn root(&self) -> Ino {
        self.root
    }

    fn node(&self, ino: Ino) -> Result<Arc<BaseNode>> {
        match self.cached.load().nodes.get(&ino) {
            Some(node) => Ok(node.clone()),
            None => Need::Node(ino).miss(),
        }
    }

    fn lookup(&self, dir: Ino, name: &str) -> Result<Option<DirEntry>> {
        let cached = self.cached.load();
        if let Some(entries) = cached.lists.get(&dir) {
            return Ok(entries
                .binary_search_by(|e| (*e.name).cmp(name))
                .ok()
                .map(|i| entries[i].clone()));
        }
        match cached.lookups.get(&dir).and_then(|names| names.get(name)) {
            Some(entry) => Ok(entry.clone()),
            None => Need::Lookup(dir, name.into()).miss(),
        }
    }

    fn list(&self, dir: Ino) -> Result<Arc<[DirEntry]>> {
        match self.cached.load().lists.get(&dir) {
            Some(entries) => Ok(entries.clone()),
            None => Need::List(dir).miss(),
        }
    }

    fn chunk(&self, file: Ino, index: u64) -> Result<Bytes> {
        match self.cached.load().chunks.get(&(file, index)) {
            Some(bytes) => Ok(bytes.clone()),
            None => Need::Chunk(file, index).miss(),
        }
    }
}

/// Answers `need` from a fully loaded base (for backends that hold their
/// image in memory): the asked-for piece, plus the nodes a lookup or a
/// listing names, which the next step almost always wants.
pub fn answer_from(base: &dyn Base, need: &Need) -> Result<Loaded, Errno> {
    let errno = |e: super::Error| e.errno().unwrap_or(Errno::Io);
    let mut loaded = Loaded::default();
    match need {
        Need::Node(ino) => loaded.nodes.push((*ino, base.node(*ino).map_err(errno)?)),
        Need::Lookup(dir, name) => {
            let entry = base.lookup(*dir, name).map_err(errno)?;
            if let Some(e) = &entry {
                loaded.nodes.push((e.ino, base.node(e.ino).map_err(errno)?));
            }
            loaded.lookups.push((*dir, name.clone(), entry));
        }
        Need::List(dir) => {
            let entries = base.list(*dir).map_err(errno)?;
            for e in entries.iter() {
                loaded.nodes.push((e.ino, base.node(e.ino).map_err(errno)?));
            }
            loaded.lists.push((*dir, entries));
        }
        Need::Chunk(ino, index) => {
            loaded
                .chunks
                .push((*ino, *index, base.chunk(*ino, *index).map_err(errno)?));
        }
    }
    Ok(loaded)
}
