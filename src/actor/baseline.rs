//! The designs the actor is measured against: the same core behind
//! `Arc<std::sync::Mutex<_>>` and behind `Arc<tokio::sync::Mutex<_>>`, with
//! the same async API ([`Client`]), so benches and tests compare like with like.
//!
//! - [`StdMutexVfs`] locks around each core call. It cannot hold the lock
//!   across an `.await`, so on a base miss it unlocks, fetches, and retries.
//! - [`TokioMutexVfs`] is the design people reach for first in async code: it
//!   holds the lock for the whole call, fetch included — so one slow fetch
//!   stalls every other client.
//!
//! - [`SnapshotMutexVfs`] is the design a careful engineer would ship
//!   without an actor: mutations under a `std::sync::Mutex<Vfs>`, each
//!   publishing the fork's snapshot (`ArcSwap`) before it unlocks; reads
//!   and stats run on the published snapshot without the lock; a miss
//!   fetches outside the lock — one fetch per missing piece, shared by
//!   everyone waiting for it — and retries.
//! - [`locked`] is the actor's own code under a `std::sync::Mutex` in place
//!   of its task: what differs is the hand-off and the batching. It is a
//!   [`VfsHandle`], so real guests run on it through the WASI layer.
//!
//! These exist for comparison only; use [`VfsHandle`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt, Shared};
use rustc_hash::FxHashMap as HashMap;

use super::backend::{self, Backend};
use super::ops::files::{ReadData, StatOf, Write};
use super::ops::names::{StatAt, UnlinkFile};
use super::{Error, OpenOptions, VfsBuilder, VfsHandle};
use crate::fs::{
    self, Base, BaseCache, Errno, ForkId, Ino, Kind, Limits, Need, OpenFlags, Reader, Snapshot,
    Stat, SystemClock, Vfs,
};

/// The operations the benches drive, implemented by the actor handle and by
/// both lock designs.
pub trait Client: Clone + Send + Sync + 'static {
    /// Opens `path` relative to `dir`; the caller must [`close`](Client::close) it.
    fn open_at(
        &self,
        fork: ForkId,
        dir: Ino,
        path: &str,
        flags: OpenFlags,
        write: bool,
    ) -> impl Future<Output = Result<(Ino, Kind), Error>> + Send;
    /// Releases what `open_at` or `open_root` opened.
    fn close(&self, fork: ForkId, ino: Ino) -> impl Future<Output = ()> + Send;
    /// Opens the root directory of `fork`.
    fn open_root(&self, fork: ForkId) -> impl Future<Output = Result<Ino, Error>> + Send;
    /// Reads up to `len` bytes at `offset`.
    fn read(
        &self,
        fork: ForkId,
        ino: Ino,
        offset: u64,
        len: u64,
    ) -> impl Future<Output = Result<Vec<Bytes>, Error>> + Send;
    /// Writes `data` at `offset`.
    fn write(
        &self,
        fork: ForkId,
        ino: Ino,
        offset: u64,
        data: Bytes,
    ) -> impl Future<Output = Result<usize, Error>> + Send;
    /// Metadata of an open object.
    fn stat(&self, fork: ForkId, ino: Ino) -> impl Future<Output = Result<Stat, Error>> + Send;
    /// Metadata of `path` relative to `dir`.
    fn stat_at(
        &self,
        fork: ForkId,
        dir: Ino,
        path: &str,
    ) -> impl Future<Output = Result<Stat, Error>> + Send;
    /// Removes a file.
    fn unlink_file_at(
        &self,
        fork: ForkId,
        dir: Ino,
        path: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send;
}

/// The [`VfsHandle`] `builder` would spawn, with no actor task: each call that would go
/// to the actor locks a `std::sync::Mutex` around the actor's state and
/// runs the request there, on the caller's thread — reading the notes,
/// running it, publishing, answering — as the actor would in a batch of
/// one. Reads and opens served from the published snapshot take no lock,
/// as they don't wait for the actor. Everything but the hand-off and the
/// batching (one request per lock) is the same code, so this measures what
/// the actor's task costs or buys.
///
/// For a loaded image only: nothing here runs fetches, so with a backend
/// a miss fails with `Io`. No task is spawned; it works outside a runtime.
pub fn locked(builder: VfsBuilder) -> VfsHandle {
    builder.build_locked()
}

impl Client for VfsHandle {
    async fn open_at(
        &self,
        fork: ForkId,
        dir: Ino,
        path: &str,
        flags: OpenFlags,
        write: bool,
    ) -> Result<(Ino, Kind), Error> {
        let options = OpenOptions::new().flags(flags).write(write);
        let file = VfsHandle::open_at(self, fork, dir, path, options).await?;
        let kind = file.kind();
        Ok((file.into_raw().1, kind))
    }
    async fn close(&self, fork: ForkId, ino: Ino) {
        self.release(fork, ino);
    }
    async fn open_root(&self, fork: ForkId) -> Result<Ino, Error> {
        Ok(self.fork_with_id(fork).open_root().await?.into_raw().1)
    }
    async fn read(
        &self,
        fork: ForkId,
        ino: Ino,
        offset: u64,
        len: u64,
    ) -> Result<Vec<Bytes>, Error> {
        let op = ReadData {
            fork,
            ino,
            offset,
            len,
        };
        VfsHandle::read(self, op).await
    }
    async fn write(
        &self,
        fork: ForkId,
        ino: Ino,
        offset: u64,
        data: Bytes,
    ) -> Result<usize, Error> {
        let op = Write {
            fork,
            ino,
            offset,
            data,
        };
        self.call(op).await
    }
    async fn stat(&self, fork: ForkId, ino: Ino) -> Result<Stat, Error> {
        VfsHandle::read(self, StatOf { fork, ino }).await
    }
    async fn stat_at(&self, fork: ForkId, dir: Ino, path: &str) -> Result<Stat, Error> {
        let op = StatAt {
            fork,
            dir,
            path: path.into(),
            follow: true,
        };
        VfsHandle::read(self, op).await
    }
    async fn unlink_file_at(&self, fork: ForkId, dir: Ino, path: &str) -> Result<(), Error> {
        let op = UnlinkFile {
            fork,
            dir,
            path: path.into(),
        };
        self.call(op).await
    }
}

/// Base fetches one call may need before giving up (a backend that keeps
/// not delivering what it is asked for would otherwise loop forever).
const MAX_FILLS: usize = 64;

/// Where a lock design gets missing base data from.
#[derive(Clone)]
struct Lower {
    backend: Arc<dyn Backend>,
    cache: Arc<BaseCache>,
    deadline: Duration,
}

impl Lower {
    async fn fill(&self, need: &Need) -> Result<(), Error> {
        if self.cache.has(need) {
            return Ok(()); // another client fetched it meanwhile
        }
        let loaded = backend::within(self.deadline, self.backend.fetch(need)).await?;
        self.cache.insert([&loaded]);
        Ok(())
    }
}

/// Where a lock design's base comes from: the same choice the actor offers.
enum Source {
    Image(Arc<dyn Base>),
    Backend(Arc<dyn Backend>),
}

/// Builds the core for a lock design.
fn core(source: Source, limits: Limits) -> (Vfs, Option<Lower>) {
    match source {
        Source::Backend(backend) => {
            let cache = Arc::new(BaseCache::new(backend.root()));
            let lower = Lower {
                backend,
                cache: cache.clone(),
                deadline: Duration::from_secs(30),
            };
            (Vfs::with(cache, limits, Arc::new(SystemClock)), Some(lower))
        }
        Source::Image(base) => (Vfs::with(base, limits, Arc::new(SystemClock)), None),
    }
}

/// The core behind `Arc<std::sync::Mutex<Vfs>>`.
#[derive(Clone)]
pub struct StdMutexVfs {
    vfs: Arc<std::sync::Mutex<Vfs>>,
    lower: Option<Lower>,
}

impl StdMutexVfs {
    /// Runs `op` under the lock; on a base miss, unlocks, fetches, retries.
    pub async fn with<T>(&self, mut op: impl FnMut(&mut Vfs) -> fs::Result<T>) -> Result<T, Error> {
        for _ in 0..MAX_FILLS {
            let result = op(&mut self.vfs.lock().expect("a panic poisoned the lock"));
            match (result, &self.lower) {
                (Err(fs::Error::NeedsBase(need)), Some(lower)) => lower.fill(&need).await?,
                (result, _) => return result.map_err(Error::from),
            }
        }
        Err(Errno::Io.into())
    }
}

/// The core behind `Arc<tokio::sync::Mutex<Vfs>>`, lock held across fetches.
#[derive(Clone)]
pub struct TokioMutexVfs {
    vfs: Arc<tokio::sync::Mutex<Vfs>>,
    lower: Option<Lower>,
}

impl TokioMutexVfs {
    /// Runs `op` holding the lock for the whole call, fetches included.
    pub async fn with<T>(&self, mut op: impl FnMut(&mut Vfs) -> fs::Result<T>) -> Result<T, Error> {
        let mut vfs = self.vfs.lock().await;
        for _ in 0..MAX_FILLS {
            match (op(&mut vfs), &self.lower) {
                (Err(fs::Error::NeedsBase(need)), Some(lower)) => lower.fill(&need).await?,
                (result, _) => return result.map_err(Error::from),
            }
        }
        Err(Errno::Io.into())
    }
}

/// Gives a lock design that runs every call under its lock its
/// constructors, and its `change` / `read_on` (both: `with`).
macro_rules! lock_design {
    ($t:ident, $mutex:path) => {
        impl $t {
            /// Over a fully loaded image.
            pub fn new(image: impl Base, limits: Limits) -> $t {
                $t::from_core(core(Source::Image(Arc::new(image)), limits))
            }

            /// Over a backend fetched on demand.
            pub fn with_backend(backend: impl Backend, limits: Limits) -> $t {
                $t::from_core(core(Source::Backend(Arc::new(backend)), limits))
            }

            fn from_core((vfs, lower): (Vfs, Option<Lower>)) -> $t {
                $t {
                    vfs: Arc::new(<$mutex>::new(vfs)),
                    lower,
                }
            }

            /// A mutation of `fork`, under the lock.
            async fn change<T>(
                &self,
                _fork: ForkId,
                op: impl FnMut(&mut Vfs) -> fs::Result<T>,
            ) -> Result<T, Error> {
                self.with(op).await
            }

            /// A read of `fork`, under the lock too.
            async fn read_on<T>(
                &self,
                fork: ForkId,
                op: impl Fn(Reader<'_>) -> fs::Result<T>,
            ) -> Result<T, Error> {
                self.with(|vfs| op(vfs.reader(fork)?)).await
            }
        }
    };
}

/// Implements [`Client`] for a lock design in terms of its `change` (for
/// what needs the lock) and `read_on` (for what a design may serve
/// otherwise).
macro_rules! client {
    ($t:ident) => {
        impl Client for $t {
            async fn open_at(
                &self,
                fork: ForkId,
                dir: Ino,
                path: &str,
                flags: OpenFlags,
                write: bool,
            ) -> Result<(Ino, Kind), Error> {
                // The handle is counted in the fork: a change.
                self.change(fork, |vfs| vfs.open_at(fork, dir, path, true, flags, write))
                    .await
            }
            async fn close(&self, fork: ForkId, ino: Ino) {
                let _ = self.change(fork, |vfs| Ok(vfs.release(fork, ino))).await;
            }
            async fn open_root(&self, fork: ForkId) -> Result<Ino, Error> {
                self.change(fork, |vfs| vfs.open_root(fork)).await
            }
            async fn read(
                &self,
                fork: ForkId,
                ino: Ino,
                offset: u64,
                len: u64,
            ) -> Result<Vec<Bytes>, Error> {
                self.read_on(fork, |r| r.read(ino, offset, len)).await
            }
            async fn write(
                &self,
                fork: ForkId,
                ino: Ino,
                offset: u64,
                data: Bytes,
            ) -> Result<usize, Error> {
                self.change(fork, |vfs| vfs.write_bytes(fork, ino, offset, &data))
                    .await
            }
            async fn stat(&self, fork: ForkId, ino: Ino) -> Result<Stat, Error> {
                self.read_on(fork, |r| r.stat(ino)).await
            }
            async fn stat_at(&self, fork: ForkId, dir: Ino, path: &str) -> Result<Stat, Error> {
                self.read_on(fork, |r| r.stat_at(dir, path, true)).await
            }
            async fn unlink_file_at(
                &self,
                fork: ForkId,
                dir: Ino,
                path: &str,
            ) -> Result<(), Error> {
                self.change(fork, |vfs| vfs.unlink_file_at(fork, dir, path))
                    .await
            }
        }
    };
}

lock_design!(StdMutexVfs, std::sync::Mutex<Vfs>);
lock_design!(TokioMutexVfs, tokio::sync::Mutex<Vfs>);
client!(StdMutexVfs);
client!(TokioMutexVfs);
client!(SnapshotMutexVfs);

/// A fetch in progress, which every caller missing the same piece awaits.
type SharedFetch = Shared<BoxFuture<'static, Result<(), Errno>>>;

/// Mutations under a lock, reads on published snapshots (see the module
/// docs).
#[derive(Clone)]
pub struct SnapshotMutexVfs {
    vfs: Arc<std::sync::Mutex<Vfs>>,
    /// The latest snapshot of every fork, replaced before each mutation
    /// unlocks: a caller reads every write that returned.
    published: Arc<ArcSwap<HashMap<ForkId, Arc<Snapshot>>>>,
    lower: Option<Lower>,
    fetching: Arc<std::sync::Mutex<HashMap<Need, SharedFetch>>>,
}

impl SnapshotMutexVfs {
    /// Over a fully loaded image.
    pub fn new(image: impl Base, limits: Limits) -> SnapshotMutexVfs {
        SnapshotMutexVfs::from_core(core(Source::Image(Arc::new(image)), limits))
    }

    /// Over a backend fetched on demand.
    pub fn with_backend(backend: impl Backend, limits: Limits) -> SnapshotMutexVfs {
        SnapshotMutexVfs::from_core(core(Source::Backend(Arc::new(backend)), limits))
    }

    fn from_core((vfs, lower): (Vfs, Option<Lower>)) -> SnapshotMutexVfs {
        let published = vfs
            .forks()
            .into_iter()
            .filter_map(|fork| Some((fork, Arc::new(vfs.snapshot(fork).ok()?))))
            .collect();
        SnapshotMutexVfs {
            vfs: Arc::new(std::sync::Mutex::new(vfs)),
            published: Arc::new(ArcSwap::from_pointee(published)),
            lower,
            fetching: Arc::default(),
        }
    }

    /// Runs a mutation of `fork` under the lock and publishes the fork
    /// before unlocking; on a base miss, unlocks, fetches, retries.
    pub async fn change<T>(
        &self,
        fork: ForkId,
        mut op: impl FnMut(&mut Vfs) -> fs::Result<T>,
    ) -> Result<T, Error> {
        for _ in 0..MAX_FILLS {
            let result = {
                let mut vfs = self.vfs.lock().expect("a panic poisoned the lock");
                let result = op(&mut vfs);
                if result.is_ok()
                    && let Ok(snapshot) = vfs.snapshot(fork)
                {
                    self.published.rcu(|forks| {
                        let mut forks = HashMap::clone(forks);
                        forks.insert(fork, Arc::new(snapshot.clone()));
                        forks
                    });
                }
                result
            };
            match result {
                Err(fs::Error::NeedsBase(need)) => self.fill(need).await?,
                result => return result.map_err(Error::from),
            }
        }
        Err(Errno::Io.into())
    }

    /// Runs a read on `fork`'s published snapshot, without the lock; on a
    /// base miss, fetches and retries.
    pub async fn read_on<T>(
        &self,
        fork: ForkId,
        op: impl Fn(Reader<'_>) -> fs::Result<T>,
    ) -> Result<T, Error> {
        for _ in 0..MAX_FILLS {
            let snapshot = self.published.load().get(&fork).cloned();
            let snapshot = snapshot.ok_or(Errno::BadDescriptor)?;
            match op(snapshot.reader()) {
                Err(fs::Error::NeedsBase(need)) => self.fill(need).await?,
                result => return result.map_err(Error::from),
            }
        }
        Err(Errno::Io.into())
    }

    /// Fetches `need`, or waits for the fetch another caller started.
    async fn fill(&self, need: Need) -> Result<(), Error> {
        let Some(lower) = &self.lower else {
            return Err(Errno::Io.into()); // a fully loaded image never misses
        };
        let fetch = {
            let mut fetching = self.fetching.lock().expect("a panic poisoned the lock");
            let lower = lower.clone();
            let key = need.clone();
            fetching
                .entry(key)
                .or_insert_with(|| {
                    async move { lower.fill(&need).await.map_err(|_| Errno::Io) }
                        .boxed()
                        .shared()
                })
                .clone()
        };
        let result = fetch.clone().await;
        self.fetching
            .lock()
            .expect("a panic poisoned the lock")
            .retain(|_, f| f.peek().is_none());
        Ok(result?)
    }
}
