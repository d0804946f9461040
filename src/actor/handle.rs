//! [`VfsHandle`]: the cheap, cloneable front of the actor, and
//! [`VfsBuilder`], which starts one.
//!
//! Mutations travel to the actor as requests and come back on a oneshot.
//! Reads do not travel at all: they run on the snapshot the actor published
//! after its last batch (lock-free, on the caller's thread), and only fall
//! back to a round trip when the snapshot lacks base data still to be
//! fetched. Because the actor publishes before it replies, a caller always
//! reads every write that returned — its own and, once their calls have
//! returned, everyone else's.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::mpsc;

use super::Error;
use super::backend::Backend;
use super::file::{OpenFile, OpenOptions};
use super::fork::Fork;
use super::interleave::point;
use super::ops::forks::{BudgetUsed, Shutdown, SnapshotOf};
use super::ops::names::OpenAt;
use super::ops::{Operation, Read, Reading};
use super::request::{Call, Request};
use super::shared::{ForkCell, Note, Notes, Shared};
use super::task::{Actor, Fetcher};
use crate::fs::{
    self, Base, BaseCache, Budget, Clock, ForkId, Ino, Limits, MemBase, Reader, Snapshot,
    SystemClock, Usage, Vfs,
};

/// A handle on a running filesystem actor. Cloning is cheap; every clone
/// talks to the same actor, and so do the [`Fork`]s and [`OpenFile`]s made
/// from it. When the last of them is dropped the actor stops;
/// [`VfsHandle::shutdown`] stops it explicitly.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), strata::actor::Error> {
/// use strata::actor::VfsBuilder;
/// use strata::fs::MemBase;
///
/// let base = MemBase::builder().file("motd", &b"hello"[..]).build();
/// let vfs = VfsBuilder::new().image(base).spawn();
/// let guest = vfs.root().fork().await?;
/// guest.write_file("motd", b"changed").await?;
/// assert_eq!(vfs.root().read_file("motd").await?, b"hello");
/// assert_eq!(guest.read_file("motd").await?, b"changed");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct VfsHandle {
    requests: mpsc::Sender<Request>,
    /// Set only for the lock baseline ([`baseline::locked`]): each call
    /// runs the actor's code itself, under this lock, instead of sending.
    ///
    /// [`baseline::locked`]: super::baseline::locked
    locked: Option<Arc<Mutex<Actor>>>,
    pub(super) notes: Notes,
    pub(super) shared: Arc<Shared>,
}

impl std::fmt::Debug for VfsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VfsHandle")
            .field("stopped", &self.requests.is_closed())
            .finish()
    }
}

/// Hands back an answer served without waiting (from the snapshot), having
/// counted it against tokio's cooperative budget as a
/// socket read that found data is counted: a guest whose calls never wait
/// then still yields its worker now and then, to the actor and the guests
/// queued behind it there (a task woken into a worker's LIFO slot cannot be
/// stolen by the other workers). Only every `SERVED_PER_UNIT`th call takes
/// a unit: with one per call, the one-client bench paid 60 ns a call (a
/// yield every 128 calls, some 8 µs each in this VM); a yield every few
/// thousand calls (around a millisecond of spinning for small calls) is
/// fair enough. The count is of calls, not bytes: a guest reading in large
/// pieces (up to `Limits::max_io`, 16 MiB at most per stream read) holds its
/// worker correspondingly longer between yields — some 20 ms at 64 KiB.
pub(crate) async fn served_at_once<T>(answer: T) -> T {
    const SERVED_PER_UNIT: u32 = 32;
    thread_local! {
        static SERVED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }
    let served = SERVED.with(|n| {
        n.set(n.get().wrapping_add(1));
        n.get()
    });
    if served % SERVED_PER_UNIT == 0 {
        tokio::task::coop::consume_budget().await;
    }
    answer
}

impl VfsHandle {
    /// Sends `op` to the actor and waits for its answer (on the lock
    /// baseline's route: runs it here, under the lock).
    pub(crate) async fn call<O: Operation>(&self, op: O) -> Result<O::Output, Error> {
        let (request, answer) = Call::send(op);
        match &self.locked {
            None => self
                .requests
                .send(request)
                .await
                .map_err(|_| Error::Stopped)?,
            Some(actor) => {
                // Nothing panics through `run_here` (it stops the filesystem
                // instead), so a poisoned lock still guards a stopped actor.
                let mut actor = actor.lock().unwrap_or_else(PoisonError::into_inner);
                actor.run_here(request);
            }
        }
        answer.await.map_err(|_| Error::Stopped)?
    }

    /// Serves `op` from the published snapshot, or — when that lacks base
    /// data still to be fetched — from the actor, which fetches it.
    pub(crate) async fn read<R: Read>(&self, op: R) -> Result<R::Output, Error> {
        match self.read_snapshot(op.fork(), |r| op.read(r)) {
            Some(result) => {
                if let Err(error) = &result {
                    tracing::debug!(?op, %error, "refused on the snapshot");
                }
                served_at_once(result).await
            }
            None => self.call(Reading(op)).await,
        }
    }

    /// Runs `read` on the latest published snapshot of `fork`, right here on
    /// the caller's thread; `None` if the snapshot lacks base data still to
    /// be fetched, or the actor is changing the fork right now.
    pub(crate) fn read_snapshot<T>(
        &self,
        fork: ForkId,
        read: impl FnOnce(Reader<'_>) -> fs::Result<T>,
    ) -> Option<Result<T, Error>> {
        let outcome = self.with_cell(fork, |cell| {
            point();
            let published = cell.snapshot.load();
            let Some(snapshot) = published.as_deref() else {
                return Ok(None); // the actor is changing the fork
            };
            match read(snapshot.reader()) {
                Err(fs::Error::NeedsBase(_)) => Ok(None),
                other => Ok(Some(other?)),
            }
        });
        outcome.transpose()
    }

    /// Runs `f` on `fork`'s published cell: `Stopped` if the actor is gone,
    /// `BadDescriptor` if the fork is.
    pub(super) fn with_cell<T>(
        &self,
        fork: ForkId,
        f: impl FnOnce(&ForkCell) -> Result<T, Error>,
    ) -> Result<T, Error> {
        if self.requests.is_closed() {
            return Err(Error::Stopped);
        }
        point();
        let forks = self.shared.forks.load();
        f(forks
            .get(&fork)
            .ok_or(Error::Errno(fs::Errno::BadDescriptor))?)
    }

    /// The state of `fork` now (see [`Fork::snapshot`]): the published
    /// one, or the actor's while it is changing the fork.
    pub(super) async fn snapshot(&self, fork: ForkId) -> Result<Snapshot, Error> {
        let published = self.with_cell(fork, |cell| Ok(cell.snapshot.load_full()))?;
        match published {
            Some(snapshot) => Ok(Snapshot::clone(&snapshot)),
            None => self.call(SnapshotOf { fork }).await,
        }
    }

    /// Gives back a handle taken with `OpenFile::into_raw`.
    pub(crate) fn release(&self, fork: ForkId, ino: Ino) {
        self.notes.send(Note::Release(fork, ino));
        self.noted();
    }

    /// After a note: on the lock baseline's route, where no task wakes for
    /// notes, reads them once as many are queued as would wake the actor,
    /// so that they stay bounded. `try_lock`: a note sent under the lock (a
    /// handle in an answer nobody took) is read by the holder's next call.
    fn noted(&self) {
        if let Some(actor) = &self.locked
            && self.shared.notes_due()
            && let Ok(mut actor) = actor.try_lock()
        {
            actor.read_notes_here();
        }
    }

    /// Opens `path` under the directory `dir` of `fork` (see
    /// [`OpenFile::open_at`]).
    pub(crate) async fn open_at(
        &self,
        fork: ForkId,
        dir: Ino,
        path: &str,
        options: OpenOptions,
    ) -> Result<OpenFile, Error> {
        if let Some(opened) = self.open_on_snapshot(fork, dir, path, options) {
            return served_at_once(opened).await;
        }
        let op = OpenAt {
            fork,
            dir,
            path: path.into(),
            follow: options.follow.follows(),
            flags: options.core_flags(),
            write: options.writes(),
        };
        let held = self.call(op).await?;
        Ok(OpenFile::from_held(self.clone(), held))
    }

    /// The snapshot half of [`VfsHandle::open_at`]; `None` when the actor
    /// has to run the open (it creates or truncates, it needs base data,
    /// the fork is unknown here). See `shared` for why this is safe.
    fn open_on_snapshot(
        &self,
        fork: ForkId,
        dir: Ino,
        path: &str,
        options: OpenOptions,
    ) -> Option<Result<OpenFile, Error>> {
        if self.is_stopped() {
            return Some(Err(Error::Stopped));
        }
        point();
        let forks = self.shared.forks.load();
        let cell = forks.get(&fork)?;
        // Settles after the note: the actor, seeing no open in flight, reads
        // it before it drops anything.
        let opened = self.shared.in_flight(|| {
            point();
            let published = cell.snapshot.load();
            // `None`: the actor is changing the fork; it runs the open.
            let reader = published.as_deref()?.reader();
            // The limit comes first, as in the core. When it looks reached,
            // the actor decides: it may not have read the notes giving
            // handles back.
            let reserved = cell.reserve_open(reader.limits().max_open)?;
            let (follow, write) = (options.follow.follows(), options.writes());
            match reader.open(dir, path, follow, options.core_flags(), write) {
                Ok(Some((ino, kind))) => Some(if self.notes.send(Note::Opened(fork, ino)) {
                    reserved.keep();
                    Ok(OpenFile::new(self.clone(), fork, ino, kind))
                } else {
                    Err(Error::Stopped)
                }),
                Ok(None) | Err(fs::Error::NeedsBase(_)) => None,
                Err(e) => Some(Err(e.into())),
            }
        });
        self.noted();
        opened
    }

    /// The root fork: the base image and whatever was committed into it.
    pub fn root(&self) -> Fork {
        self.fork_with_id(ForkId::ROOT)
    }

    /// The fork numbered `id` (made by [`Fork::fork`]). Nothing is checked
    /// here: calls on a fork that is gone fail with `BadDescriptor`.
    pub fn fork_with_id(&self, id: ForkId) -> Fork {
        Fork::new(self.clone(), id)
    }

    /// The limits every fork is held to.
    pub fn limits(&self) -> &Limits {
        &self.shared.limits
    }

    /// Whether `other` talks to the same actor.
    pub fn same_actor(&self, other: &VfsHandle) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// A number identifying the actor, stable for its life.
    pub fn id(&self) -> usize {
        Arc::as_ptr(&self.shared) as usize
    }

    /// Whether the actor has stopped (every call now fails with `Stopped`).
    pub fn is_stopped(&self) -> bool {
        self.requests.is_closed()
    }

    /// Stops the actor: queued and waiting requests are answered `Stopped`,
    /// and so is every later call on any handle. Returns once it has stopped.
    pub async fn shutdown(&self) {
        let _ = self.call(Shutdown).await;
    }

    /// What all forks together hold now, against the [`Budget`].
    pub async fn budget_used(&self) -> Result<Usage, Error> {
        self.call(BudgetUsed).await
    }
}

/// Where the base layer comes from.
enum Lower {
    /// A fully loaded image, read directly.
    Image(Arc<dyn Base>),
    /// A backend fetched from on demand through a cache.
    Backend(Arc<dyn Backend>),
}

/// Configures and starts a filesystem actor.
pub struct VfsBuilder {
    lower: Lower,
    limits: Limits,
    budget: Budget,
    clock: Arc<dyn Clock>,
    deadline: Duration,
    queue: usize,
}

impl Default for VfsBuilder {
    fn default() -> Self {
        VfsBuilder::new()
    }
}

impl VfsBuilder {
    /// An empty in-memory filesystem with default limits and the system clock.
    pub fn new() -> VfsBuilder {
        VfsBuilder {
            lower: Lower::Image(Arc::new(MemBase::empty())),
            limits: Limits::default(),
            budget: Budget::default(),
            clock: Arc::new(SystemClock),
            deadline: Duration::from_secs(30),
            queue: 1024,
        }
    }

    /// Uses a fully loaded image as the base.
    pub fn image(mut self, base: impl Base) -> Self {
        self.lower = Lower::Image(Arc::new(base));
        self
    }

    /// Fetches the base on demand from `backend`.
    pub fn backend(mut self, backend: impl Backend) -> Self {
        self.lower = Lower::Backend(Arc::new(backend));
        self
    }

    /// Limits for every fork.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// What the whole filesystem may hold in memory, all forks together
    /// (see [`Budget`]; by default 8 GiB and 8 Mi inodes).
    pub fn budget(mut self, budget: Budget) -> Self {
        self.budget = budget;
        self
    }

    /// The clock for timestamps.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How long a request may wait for base data before it fails with `Io`.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// How many requests may queue before callers wait (backpressure).
    pub fn queue(mut self, queue: usize) -> Self {
        self.queue = queue.max(1);
        self
    }

    /// Spawns the actor on the current tokio runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn spawn(self) -> VfsHandle {
        let (handle, actor) = self.build();
        tokio::spawn(actor.run());
        handle
    }

    /// The handle and the actor it talks to, not yet running.
    pub(super) fn build(self) -> (VfsHandle, Actor) {
        let (base, fetcher): (Arc<dyn Base>, _) = match self.lower {
            Lower::Image(base) => (base, None),
            Lower::Backend(backend) => {
                let cache = Arc::new(BaseCache::new(backend.root()));
                let fetcher = Fetcher::new(backend, cache.clone(), self.deadline);
                (cache, Some(fetcher))
            }
        };
        let vfs = Vfs::with(base, self.limits, self.clock).with_budget(self.budget);
        let (requests, receiver) = mpsc::channel(self.queue);
        let (wake, woken) = mpsc::channel(1);
        let shared = Arc::new(Shared::new(*vfs.limits(), wake));
        let (notes, noted) = mpsc::unbounded_channel();
        let notes = Notes::new(notes, shared.clone());
        let actor = Actor::new(
            vfs,
            receiver,
            (notes.clone(), noted, woken),
            shared.clone(),
            fetcher,
        );
        let handle = VfsHandle {
            requests,
            locked: None,
            notes,
            shared,
        };
        (handle, actor)
    }

    /// A handle whose calls run the actor's code themselves, one at a time
    /// under a `std::sync::Mutex`, with no task: the lock baseline (see
    /// [`baseline::locked`]). Nothing runs fetches there, so with a
    /// backend a miss fails with `Io`.
    ///
    /// [`baseline::locked`]: super::baseline::locked
    pub(super) fn build_locked(self) -> VfsHandle {
        let (mut handle, mut actor) = self.build();
        actor.forget_backend();
        handle.locked = Some(Arc::new(Mutex::new(actor)));
        handle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On the lock baseline's route no task wakes for notes: handles opened
    /// and closed on the snapshot, with no limit to send them to the lock,
    /// must not queue notes without bound.
    #[tokio::test]
    async fn the_lock_route_reads_its_notes_without_a_call() {
        let image = MemBase::builder().file("f", &b"x"[..]).build();
        let vfs = VfsBuilder::new()
            .image(image)
            .limits(Limits::unlimited())
            .build_locked();
        let root = vfs.root().open_root().await.unwrap();
        for _ in 0..10 * super::super::shared::WAKE_EVERY {
            drop(root.open_at("f", OpenOptions::new()).await.unwrap());
            assert!(!vfs.shared.notes_due(), "notes pile up unread");
        }
    }
}
