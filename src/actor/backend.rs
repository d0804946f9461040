//! Where base data comes from.
//!
//! A [`Backend`] fetches base data asynchronously. The actor calls it only
//! for what the core found missing in the [`BaseCache`](crate::fs::BaseCache),
//! keeps serving other requests while the fetch is in flight, and re-runs the
//! waiting requests when it lands. A fetch that takes longer than the
//! configured deadline is answered with `Io`, so a backend that never answers
//! cannot wedge the filesystem.

use std::sync::Arc;
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt};

use crate::fs::{Base, Errno, Ino, Loaded, MemBase, Need, answer_from};

/// An asynchronous source of base data.
pub trait Backend: Send + Sync + 'static {
    /// The inode number of the root directory.
    fn root(&self) -> Ino;

    /// Fetches what `need` names (and, if it likes, more). The future runs on
    /// its own task, never on the actor's, so it may take as long as it must.
    fn fetch(&self, need: &Need) -> BoxFuture<'static, Result<Loaded, Errno>>;
}

/// `fetch`, or `Io` once it has taken longer than `deadline`: how every
/// fetch is awaited, so that a backend that never answers cannot wedge
/// anything.
pub(crate) async fn within(
    deadline: Duration,
    fetch: BoxFuture<'static, Result<Loaded, Errno>>,
) -> Result<Loaded, Errno> {
    tokio::time::timeout(deadline, fetch)
        .await
        .unwrap_or(Err(Errno::Io))
}

/// An in-memory image is a backend that answers at once.
impl Backend for MemBase {
    fn root(&self) -> Ino {
        Base::root(self)
    }

    fn fetch(&self, need: &Need) -> BoxFuture<'static, Result<Loaded, Errno>> {
        futures::future::ready(answer_from(self, need)).boxed()
    }
}

impl<B: Backend + ?Sized> Backend for Arc<B> {
    fn root(&self) -> Ino {
        (**self).root()
    }

    fn fetch(&self, need: &Need) -> BoxFuture<'static, Result<Loaded, Errno>> {
        (**self).fetch(need)
    }
}

/// Wraps a backend and makes every fetch take `delay` longer: a stand-in for
/// remote storage in tests and benchmarks. (Tokio's timers tick in whole
/// milliseconds, so delays are rounded up to them.) The inner backend is
/// asked only after the delay, on the fetch's task, as a remote call would be.
#[derive(Debug)]
pub struct Delayed<B> {
    inner: Arc<B>,
    delay: Duration,
}

impl<B: Backend> Delayed<B> {
    /// `inner`, `delay` slower per fetch.
    pub fn new(inner: B, delay: Duration) -> Delayed<B> {
        Delayed {
            inner: Arc::new(inner),
            delay,
        }
    }
}

impl<B: Backend> Backend for Delayed<B> {
    fn root(&self) -> Ino {
        self.inner.root()
    }

    fn fetch(&self, need: &Need) -> BoxFuture<'static, Result<Loaded, Errno>> {
        let (inner, need, delay) = (self.inner.clone(), need.clone(), self.delay);
        async move {
            tokio::time::sleep(delay).await;
            inner.fetch(&need).await
        }
        .boxed()
    }
}
