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
//! These exist for comparison only; use [`VfsHandle`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::backend::{self, Backend};
use super::ops::files::{ReadData, StatOf, Write};
use super::ops::names::{StatAt, UnlinkFile};
use super::{Error, OpenOptions, VfsHandle};
use crate::fs::{
    self, Base, BaseCache, Errno, ForkId, Ino, Kind, Limits, Need, OpenFlags, Stat, SystemClock,
    Vfs,
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

/// Gives a lock design its constructors and implements [`Client`] for it
/// in terms of its `with`.
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
        }

        impl Client for $t {
            async fn open_at(
                &self,
                fork: ForkId,
                dir: Ino,
                path: &str,
                flags: OpenFlags,
                write: bool,
            ) -> Result<(Ino, Kind), Error> {
                self.with(|vfs| vfs.open_at(fork, dir, path, true, flags, write))
                    .await
            }
            async fn close(&self, fork: ForkId, ino: Ino) {
                let _ = self.with(|vfs| Ok(vfs.release(fork, ino))).await;
            }
            async fn open_root(&self, fork: ForkId) -> Result<Ino, Error> {
                self.with(|vfs| vfs.open_root(fork)).await
            }
            async fn read(
                &self,
                fork: ForkId,
                ino: Ino,
                offset: u64,
                len: u64,
            ) -> Result<Vec<Bytes>, Error> {
                self.with(|vfs| vfs.reader(fork)?.read(ino, offset, len))
                    .await
            }
            async fn write(
                &self,
                fork: ForkId,
                ino: Ino,
                offset: u64,
                data: Bytes,
            ) -> Result<usize, Error> {
                self.with(|vfs| vfs.write_bytes(fork, ino, offset, &data))
                    .await
            }
            async fn stat(&self, fork: ForkId, ino: Ino) -> Result<Stat, Error> {
                self.with(|vfs| vfs.reader(fork)?.stat(ino)).await
            }
            async fn stat_at(&self, fork: ForkId, dir: Ino, path: &str) -> Result<Stat, Error> {
                self.with(|vfs| vfs.reader(fork)?.stat_at(dir, path, true))
                    .await
            }
            async fn unlink_file_at(
                &self,
                fork: ForkId,
                dir: Ino,
                path: &str,
            ) -> Result<(), Error> {
                self.with(|vfs| vfs.unlink_file_at(fork, dir, path)).await
            }
        }
    };
}

lock_design!(StdMutexVfs, std::sync::Mutex<Vfs>);
lock_design!(TokioMutexVfs, tokio::sync::Mutex<Vfs>);
