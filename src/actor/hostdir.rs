//! [`HostDir`]: a host directory as a lazy, read-only base.
//!
//! Nothing is read up front. Names, metadata and file chunks are read from
//! disk the first time the core needs them (on a blocking-pool thread, never
//! on the actor's), and guests' writes go to the overlay above: the host
//! directory is never modified.
//!
//! Symlinks are read as symlinks — the backend never follows one — and the
//! core's resolver confines where they may lead. Each path gets its own inode
//! number (host hard links show up as separate files), names that are not
//! UTF-8 are skipped (WASI names are strings), and the directory is assumed
//! not to change while mounted.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt};

use super::backend::Backend;
use crate::fs::{
    BaseNode, CHUNK_SIZE, DirEntry, Errno, Ino, Kind, Loaded, Name, Need, Times, Timestamp,
};

const ROOT: Ino = Ino(1);

/// A host directory served lazily as the base layer.
#[derive(Clone, Debug)]
pub struct HostDir {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    inodes: Mutex<Inodes>,
}

/// Inode numbers handed out so far, both ways.
#[derive(Debug, Default)]
struct Inodes {
    /// `paths[i]` is the path (relative to the root) of inode `i + 1`.
    paths: Vec<PathBuf>,
    by_path: HashMap<PathBuf, Ino>,
}

impl HostDir {
    /// Serves `root` (which must be a directory) as a base.
    pub fn new(root: impl AsRef<Path>) -> io::Result<HostDir> {
        let root = root.as_ref().canonicalize()?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            ));
        }
        let mut inodes = Inodes::default();
        inodes.paths.push(PathBuf::new());
        inodes.by_path.insert(PathBuf::new(), ROOT);
        Ok(HostDir {
            inner: Arc::new(Inner {
                root,
                inodes: Mutex::new(inodes),
            }),
        })
    }
}

impl Backend for HostDir {
    fn root(&self) -> Ino {
        ROOT
    }

    fn fetch(&self, need: &Need) -> BoxFuture<'static, Result<Loaded, Errno>> {
        let inner = self.inner.clone();
        let need = need.clone();
        async move {
            let span = tracing::debug_span!("host read", ?need);
            let loaded = tokio::task::spawn_blocking(move || span.in_scope(|| inner.load(&need)))
                .await
                .unwrap_or(Err(Errno::Io));
            if let Err(errno) = &loaded {
                tracing::debug!(%errno, "host read failed");
            }
            loaded
        }
        .boxed()
    }
}

fn io_errno(e: &io::Error) -> Errno {
    match e.kind() {
        io::ErrorKind::NotFound => Errno::NoEntry,
        io::ErrorKind::PermissionDenied => Errno::Access,
        io::ErrorKind::NotADirectory => Errno::NotDirectory,
        _ => Errno::Io,
    }
}

fn timestamp(seconds: i64, nanos: i64) -> Timestamp {
    Timestamp::new(seconds.max(0) as u64, nanos.clamp(0, 999_999_999) as u32).unwrap_or_default()
}

impl Inner {
    fn path_of(&self, ino: Ino) -> Result<PathBuf, Errno> {
        let inodes = self.inodes.lock().map_err(|_| Errno::Io)?;
        let index = (ino.0 as usize).checked_sub(1).ok_or(Errno::Io)?;
        inodes.paths.get(index).cloned().ok_or(Errno::Io)
    }

    fn ino_for(&self, path: &Path) -> Result<Ino, Errno> {
        let mut inodes = self.inodes.lock().map_err(|_| Errno::Io)?;
        if let Some(ino) = inodes.by_path.get(path) {
            return Ok(*ino);
        }
        let ino = Ino(inodes.paths.len() as u64 + 1);
        if !ino.is_base() {
            return Err(Errno::InsufficientSpace);
        }
        inodes.paths.push(path.to_owned());
        inodes.by_path.insert(path.to_owned(), ino);
        Ok(ino)
    }

    fn kind(meta: &fs::Metadata) -> Kind {
        if meta.is_dir() {
            Kind::Dir
        } else if meta.file_type().is_symlink() {
            Kind::Symlink
        } else {
            Kind::File
        }
    }

    fn node(&self, path: &Path, meta: &fs::Metadata) -> Result<Arc<BaseNode>, Errno> {
        let kind = Inner::kind(meta);
        let link = match (path.parent(), path.file_name()) {
            (Some(parent), Some(name)) => {
                let name = name.to_str().ok_or(Errno::Io)?;
                Some((self.ino_for(parent)?, Name::from(name)))
            }
            _ => None,
        };
        let target = match kind {
            Kind::Symlink => {
                let target = fs::read_link(self.root.join(path)).map_err(|e| io_errno(&e))?;
                Some(target.to_str().ok_or(Errno::Io)?.into())
            }
            _ => None,
        };
        Ok(Arc::new(BaseNode {
            kind,
            size: if kind == Kind::File { meta.len() } else { 0 },
            subdirs: if kind == Kind::Dir {
                meta.nlink().saturating_sub(2)
            } else {
                0
            },
            times: Times {
                atime: timestamp(meta.atime(), meta.atime_nsec()),
                mtime: timestamp(meta.mtime(), meta.mtime_nsec()),
                ctime: timestamp(meta.ctime(), meta.ctime_nsec()),
            },
            link,
            target,
        }))
    }

    /// The entry `path` names, its inode number assigned, and its node.
    fn entry(&self, path: &Path, name: &str) -> Result<Option<(DirEntry, Arc<BaseNode>)>, Errno> {
        let meta = match fs::symlink_metadata(self.root.join(path)) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_errno(&e)),
        };
        let ino = self.ino_for(path)?;
        let node = self.node(path, &meta)?;
        let entry = DirEntry {
            name: name.into(),
            ino,
            kind: node.kind,
        };
        Ok(Some((entry, node)))
    }

    fn load(&self, need: &Need) -> Result<Loaded, Errno> {
        let mut loaded = Loaded::default();
        match need {
            Need::Node(ino) => {
                let path = self.path_of(*ino)?;
                let meta = fs::symlink_metadata(self.root.join(&path)).map_err(|e| io_errno(&e))?;
                loaded.nodes.push((*ino, self.node(&path, &meta)?));
            }
            Need::Lookup(dir, name) => {
                // The core never asks for `.`, `..` or names with `/`; refuse them anyway.
                let entry =
                    if name.is_empty() || &**name == "." || &**name == ".." || name.contains('/') {
                        None
                    } else {
                        self.entry(&self.path_of(*dir)?.join(&**name), name)?
                    };
                if let Some((entry, node)) = &entry {
                    loaded.nodes.push((entry.ino, node.clone()));
                }
                loaded
                    .lookups
                    .push((*dir, name.clone(), entry.map(|(e, _)| e)));
            }
            Need::List(dir) => {
                let path = self.path_of(*dir)?;
                let mut entries = Vec::new();
                for item in fs::read_dir(self.root.join(&path)).map_err(|e| io_errno(&e))? {
                    let item = item.map_err(|e| io_errno(&e))?;
                    let Some(name) = item.file_name().to_str().map(str::to_owned) else {
                        continue; // not UTF-8: not representable in WASI
                    };
                    if let Some((entry, node)) = self.entry(&path.join(&name), &name)? {
                        loaded.nodes.push((entry.ino, node));
                        entries.push(entry);
                    }
                }
                entries.sort_by(|a, b| a.name.cmp(&b.name));
                loaded.lists.push((*dir, entries.into()));
            }
            Need::Chunk(ino, index) => {
                let file = fs::File::open(self.root.join(self.path_of(*ino)?))
                    .map_err(|e| io_errno(&e))?;
                // Sized to what the file holds there, not to a whole chunk:
                // the cache keeps this allocation, and most files are small.
                let size = file.metadata().map_err(|e| io_errno(&e))?.len();
                let len = size.saturating_sub(index * CHUNK_SIZE).min(CHUNK_SIZE);
                let mut buf = vec![0u8; len as usize];
                let mut filled = 0;
                while filled < buf.len() {
                    let offset = index * CHUNK_SIZE + filled as u64;
                    match file.read_at(&mut buf[filled..], offset) {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(io_errno(&e)),
                    }
                }
                buf.truncate(filled);
                loaded.chunks.push((*ino, *index, Bytes::from(buf)));
            }
        }
        Ok(loaded)
    }
}
