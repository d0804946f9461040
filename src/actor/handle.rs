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

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::Error;
use super::backend::Backend;
use super::interleave::point;
use super::request::{Answer, Note, Op, Request};
use super::shared::{ForkCell, Notes, Shared};
use super::task::{Actor, Fetcher};
use crate::fs::{
    self, Base, BaseCache, Budget, Change, Clock, DirEntry, ForkId, Ino, Kind, Limits, MemBase,
    OpenFlags, Reader, SetTime, Snapshot, Stat, SystemClock, Usage, Vfs,
};

/// An object held open. Dropping it releases the handle in the actor (so an
/// unlinked file goes away with its last `OpenFile`), even when the caller
/// was cancelled while the reply was on its way.
#[derive(Debug)]
pub struct OpenFile {
    fork: ForkId,
    ino: Ino,
    kind: Kind,
    notes: Option<Notes>,
}

impl OpenFile {
    pub(crate) fn new(fork: ForkId, ino: Ino, kind: Kind, notes: Notes) -> OpenFile {
        OpenFile {
            fork,
            ino,
            kind,
            notes: Some(notes),
        }
    }

    /// The fork it was opened in.
    pub fn fork(&self) -> ForkId {
        self.fork
    }

    /// The object's inode number.
    pub fn ino(&self) -> Ino {
        self.ino
    }

    /// File, directory or symlink.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Disarms the guard: the caller now owns the handle and must give it
    /// back with [`VfsHandle::release`].
    pub fn into_raw(mut self) -> (ForkId, Ino) {
        self.notes = None;
        (self.fork, self.ino)
    }
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        if let Some(notes) = self.notes.take() {
            // If the actor is gone, so is everything there was to release.
            notes.send(Note::Release(self.fork, self.ino));
        }
    }
}

/// A handle on a running filesystem actor. Cloning is cheap; every clone
/// talks to the same actor. When the last handle is dropped the actor
/// stops; [`VfsHandle::shutdown`] stops it explicitly.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), strata::actor::Error> {
/// use strata::actor::VfsBuilder;
/// use strata::fs::{ForkId, MemBase};
///
/// let base = MemBase::builder().file("motd", &b"hello"[..]).build();
/// let vfs = VfsBuilder::new().image(base).spawn();
/// let guest = vfs.fork(ForkId::ROOT).await?;
/// vfs.write_file(guest, "motd", b"changed").await?;
/// assert_eq!(vfs.read_file(ForkId::ROOT, "motd").await?, b"hello");
/// assert_eq!(vfs.read_file(guest, "motd").await?, b"changed");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct VfsHandle {
    requests: mpsc::Sender<Request>,
    notes: Notes,
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
/// thousand calls (around a millisecond of spinning) is fair enough.
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

/// Unpacks the expected variant of an [`Answer`]. The actor answers each
/// operation with its own variant; any other would be a bug in this crate,
/// reported to the caller as `Io` rather than as a panic in its task.
macro_rules! expect {
    ($answer:expr, $pattern:pat => $value:expr) => {
        match $answer? {
            $pattern => Ok($value),
            _ => Err(Error::Errno(fs::Errno::Io)),
        }
    };
}

impl VfsHandle {
    async fn call(&self, op: Op) -> Result<Answer, Error> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request { op, reply })
            .await
            .map_err(|_| Error::Stopped)?;
        answer.await.map_err(|_| Error::Stopped)?
    }

    /// Runs `read` on the latest published snapshot of `fork`, right here on
    /// the caller's thread; `None` if the snapshot lacks base data still to
    /// be fetched (then ask the actor, with the async method).
    pub fn read_snapshot<T>(
        &self,
        fork: ForkId,
        read: impl FnOnce(Reader<'_>) -> fs::Result<T>,
    ) -> Option<Result<T, Error>> {
        let outcome = self.with_cell(fork, |cell| {
            point();
            match read(cell.snapshot.load().reader()) {
                Err(fs::Error::NeedsBase(_)) => Ok(None),
                other => Ok(Some(other?)),
            }
        });
        outcome.transpose()
    }

    /// Runs `f` on `fork`'s published cell: `Stopped` if the actor is gone,
    /// `BadDescriptor` if the fork is.
    fn with_cell<T>(
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

    /// The state of `fork` now, to read from on any thread. It holds every
    /// write that returned before the call and does not follow later
    /// changes.
    pub fn snapshot(&self, fork: ForkId) -> Result<Snapshot, Error> {
        self.with_cell(fork, |cell| Ok(Snapshot::clone(&cell.snapshot.load())))
    }

    /// Gives back a handle taken with [`OpenFile::into_raw`].
    pub fn release(&self, fork: ForkId, ino: Ino) {
        self.notes.send(Note::Release(fork, ino));
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
        let _ = self.call(Op::Shutdown).await;
    }

    // ---- opening ---------------------------------------------------------

    /// Opens the root directory of `fork`.
    pub async fn open_root(&self, fork: ForkId) -> Result<OpenFile, Error> {
        expect!(self.call(Op::OpenRoot { fork }).await, Answer::Opened(f) => f)
    }

    /// Opens (and with `flags.create`, maybe creates) `path` relative to the
    /// open directory `dir`.
    ///
    /// An open that changes nothing (no file to create, none to truncate)
    /// runs on the published snapshot, like a read, and tells the actor
    /// without waiting for it; only the others make a round trip.
    pub async fn open_at(
        &self,
        fork: ForkId,
        dir: Ino,
        path: &str,
        follow: bool,
        flags: OpenFlags,
        write: bool,
    ) -> Result<OpenFile, Error> {
        if let Some(opened) = self.open_on_snapshot(fork, dir, path, follow, flags, write) {
            return served_at_once(opened).await;
        }
        let op = Op::OpenAt {
            fork,
            dir,
            path: path.into(),
            follow,
            flags,
            write,
        };
        expect!(self.call(op).await, Answer::Opened(f) => f)
    }

    /// The snapshot half of [`VfsHandle::open_at`]; `None` when the actor
    /// has to run the open (it creates or truncates, it needs base data,
    /// the fork is unknown here). See `shared` for why this is safe.
    fn open_on_snapshot(
        &self,
        fork: ForkId,
        dir: Ino,
        path: &str,
        follow: bool,
        flags: OpenFlags,
        write: bool,
    ) -> Option<Result<OpenFile, Error>> {
        if self.requests.is_closed() {
            return Some(Err(Error::Stopped));
        }
        point();
        let forks = self.shared.forks.load();
        let cell = forks.get(&fork)?;
        // Settles after the note: the actor, seeing no open in flight, reads
        // it before it drops anything.
        self.shared.in_flight(|| {
            point();
            let published = cell.snapshot.load();
            let reader = published.reader();
            // The limit comes first, as in the core. When it looks reached,
            // the actor decides: it may not have read the notes giving
            // handles back.
            let reserved = cell.reserve_open(reader.limits().max_open)?;
            match reader.open(dir, path, follow, flags, write) {
                Ok(Some((ino, kind))) => Some(if self.notes.send(Note::Opened(fork, ino)) {
                    reserved.keep();
                    Ok(OpenFile::new(fork, ino, kind, self.notes.clone()))
                } else {
                    Err(Error::Stopped)
                }),
                Ok(None) | Err(fs::Error::NeedsBase(_)) => None,
                Err(e) => Some(Err(e.into())),
            }
        })
    }

    // ---- reads: served from the published snapshot ------------------------

    /// Metadata of an open object.
    pub async fn stat(&self, fork: ForkId, ino: Ino) -> Result<Stat, Error> {
        match self.read_snapshot(fork, |r| r.stat(ino)) {
            Some(result) => served_at_once(result).await,
            None => expect!(self.call(Op::Stat { fork, ino }).await, Answer::Stat(s) => s),
        }
    }

    /// Metadata of `path` relative to `dir`.
    pub async fn stat_at(
        &self,
        fork: ForkId,
        dir: Ino,
        path: &str,
        follow: bool,
    ) -> Result<Stat, Error> {
        match self.read_snapshot(fork, |r| r.stat_at(dir, path, follow)) {
            Some(result) => served_at_once(result).await,
            None => {
                let op = Op::StatAt {
                    fork,
                    dir,
                    path: path.into(),
                    follow,
                };
                expect!(self.call(op).await, Answer::Stat(s) => s)
            }
        }
    }

    /// Up to `len` bytes at `offset` of an open file, as slices shared with
    /// the file's chunks.
    pub async fn read(
        &self,
        fork: ForkId,
        ino: Ino,
        offset: u64,
        len: u64,
    ) -> Result<Vec<Bytes>, Error> {
        match self.read_snapshot(fork, |r| r.read(ino, offset, len)) {
            Some(result) => served_at_once(result).await,
            None => {
                expect!(self.call(Op::Read { fork, ino, offset, len }).await, Answer::Bytes(b) => b)
            }
        }
    }

    /// Up to `max` entries of the open directory `dir` after the name `after`.
    pub async fn read_dir(
        &self,
        fork: ForkId,
        dir: Ino,
        after: Option<&str>,
        max: usize,
    ) -> Result<Vec<DirEntry>, Error> {
        match self.read_snapshot(fork, |r| r.read_dir(dir, after, max)) {
            Some(result) => served_at_once(result).await,
            None => {
                let op = Op::ReadDir {
                    fork,
                    dir,
                    after: after.map(str::to_owned),
                    max,
                };
                expect!(self.call(op).await, Answer::Entries(e) => e)
            }
        }
    }

    /// The target of the symlink at `path`.
    pub async fn readlink_at(&self, fork: ForkId, dir: Ino, path: &str) -> Result<String, Error> {
        match self.read_snapshot(fork, |r| r.readlink_at(dir, path)) {
            Some(result) => served_at_once(result).await,
            None => {
                let op = Op::ReadlinkAt {
                    fork,
                    dir,
                    path: path.into(),
                };
                expect!(self.call(op).await, Answer::Text(t) => t)
            }
        }
    }

    /// The whole contents of the file at `path` from the fork's root.
    pub async fn read_file(&self, fork: ForkId, path: &str) -> Result<Vec<u8>, Error> {
        if let Some(result) = self.read_snapshot(fork, |r| r.read_file(path)) {
            return served_at_once(result).await;
        }
        // Base data is missing: open it through the actor, which fetches it.
        let root = self.open_root(fork).await?;
        let file = self
            .open_at(fork, root.ino(), path, true, OpenFlags::default(), false)
            .await?;
        let size = self.stat(fork, file.ino()).await?.size;
        Ok(self.read(fork, file.ino(), 0, size).await?.concat())
    }

    // ---- writes ---------------------------------------------------------

    /// Writes `data` at `offset`; returns the count written.
    pub async fn write(
        &self,
        fork: ForkId,
        ino: Ino,
        offset: u64,
        data: Bytes,
    ) -> Result<usize, Error> {
        expect!(self.call(Op::Write { fork, ino, offset, data }).await, Answer::Count(n) => n as usize)
    }

    /// Writes `data` at the end of the file; returns the offset and count.
    pub async fn append(&self, fork: ForkId, ino: Ino, data: Bytes) -> Result<(u64, usize), Error> {
        expect!(self.call(Op::Append { fork, ino, data }).await, Answer::Appended(at, n) => (at, n))
    }

    /// Makes `len` bytes at `offset` read as zeros; returns the count.
    pub async fn write_zeroes(
        &self,
        fork: ForkId,
        ino: Ino,
        offset: u64,
        len: u64,
    ) -> Result<u64, Error> {
        expect!(self.call(Op::WriteZeroes { fork, ino, offset, len }).await, Answer::Count(n) => n)
    }

    /// Truncates or extends a file.
    pub async fn set_size(&self, fork: ForkId, ino: Ino, size: u64) -> Result<(), Error> {
        expect!(self.call(Op::SetSize { fork, ino, size }).await, Answer::Unit => ())
    }

    /// Sets access and modification times of an open object.
    pub async fn set_times(
        &self,
        fork: ForkId,
        ino: Ino,
        atime: SetTime,
        mtime: SetTime,
    ) -> Result<(), Error> {
        expect!(self.call(Op::SetTimes { fork, ino, atime, mtime }).await, Answer::Unit => ())
    }

    /// Sets access and modification times of `path`.
    pub async fn set_times_at(
        &self,
        fork: ForkId,
        dir: Ino,
        path: &str,
        follow: bool,
        atime: SetTime,
        mtime: SetTime,
    ) -> Result<(), Error> {
        let op = Op::SetTimesAt {
            fork,
            dir,
            path: path.into(),
            follow,
            atime,
            mtime,
        };
        expect!(self.call(op).await, Answer::Unit => ())
    }

    /// Creates a directory.
    pub async fn create_dir_at(&self, fork: ForkId, dir: Ino, path: &str) -> Result<(), Error> {
        let op = Op::CreateDirAt {
            fork,
            dir,
            path: path.into(),
        };
        expect!(self.call(op).await, Answer::Unit => ())
    }

    /// Removes an empty directory.
    pub async fn remove_dir_at(&self, fork: ForkId, dir: Ino, path: &str) -> Result<(), Error> {
        let op = Op::RemoveDirAt {
            fork,
            dir,
            path: path.into(),
        };
        expect!(self.call(op).await, Answer::Unit => ())
    }

    /// Removes a name of a file or symlink.
    pub async fn unlink_file_at(&self, fork: ForkId, dir: Ino, path: &str) -> Result<(), Error> {
        let op = Op::UnlinkFileAt {
            fork,
            dir,
            path: path.into(),
        };
        expect!(self.call(op).await, Answer::Unit => ())
    }

    /// Moves `old_path` to `new_path` atomically.
    pub async fn rename_at(
        &self,
        fork: ForkId,
        old_dir: Ino,
        old_path: &str,
        new_dir: Ino,
        new_path: &str,
    ) -> Result<(), Error> {
        let op = Op::RenameAt {
            fork,
            old_dir,
            old_path: old_path.into(),
            new_dir,
            new_path: new_path.into(),
        };
        expect!(self.call(op).await, Answer::Unit => ())
    }

    /// Adds a hard link.
    pub async fn link_at(
        &self,
        fork: ForkId,
        old_dir: Ino,
        old_path: &str,
        new_dir: Ino,
        new_path: &str,
    ) -> Result<(), Error> {
        let op = Op::LinkAt {
            fork,
            old_dir,
            old_path: old_path.into(),
            new_dir,
            new_path: new_path.into(),
        };
        expect!(self.call(op).await, Answer::Unit => ())
    }

    /// Creates a symlink at `path` pointing at `target`.
    pub async fn symlink_at(
        &self,
        fork: ForkId,
        target: &str,
        dir: Ino,
        path: &str,
    ) -> Result<(), Error> {
        let op = Op::SymlinkAt {
            fork,
            target: target.into(),
            dir,
            path: path.into(),
        };
        expect!(self.call(op).await, Answer::Unit => ())
    }

    /// Creates or replaces the file at `path` (from the fork's root) with `data`.
    pub async fn write_file(&self, fork: ForkId, path: &str, data: &[u8]) -> Result<(), Error> {
        let root = self.open_root(fork).await?;
        let flags = OpenFlags {
            create: true,
            truncate: true,
            ..OpenFlags::default()
        };
        let file = self
            .open_at(fork, root.ino(), path, true, flags, true)
            .await?;
        let data = Bytes::copy_from_slice(data);
        let mut offset = 0;
        while offset < data.len() {
            offset += self
                .write(fork, file.ino(), offset as u64, fs::rest_of(&data, offset))
                .await?;
        }
        Ok(())
    }

    // ---- forks ------------------------------------------------------------

    /// A new O(1) copy-on-write fork of `parent`.
    pub async fn fork(&self, parent: ForkId) -> Result<ForkId, Error> {
        expect!(self.call(Op::Fork { parent }).await, Answer::Fork(f) => f)
    }

    /// The paths `fork` changed since it was made.
    pub async fn diff(&self, fork: ForkId) -> Result<Vec<Change>, Error> {
        expect!(self.call(Op::Diff { fork }).await, Answer::Changes(c) => c)
    }

    /// Folds `fork` into its parent and closes it, or reports the
    /// conflicting paths and applies nothing.
    pub async fn commit(&self, fork: ForkId) -> Result<(), Error> {
        expect!(self.call(Op::Commit { fork }).await, Answer::Unit => ())
    }

    /// Throws `fork` away.
    pub async fn discard(&self, fork: ForkId) -> Result<(), Error> {
        expect!(self.call(Op::Discard { fork }).await, Answer::Unit => ())
    }

    /// What `fork` holds now, against the limits.
    pub async fn usage(&self, fork: ForkId) -> Result<Usage, Error> {
        expect!(self.call(Op::Usage { fork }).await, Answer::Usage(u) => u)
    }

    /// What all forks together hold now, against the [`Budget`].
    pub async fn budget_used(&self) -> Result<Usage, Error> {
        expect!(self.call(Op::BudgetUsed).await, Answer::Usage(u) => u)
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
        let shared = Arc::new(Shared::new(wake));
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
            notes,
            shared,
        };
        (handle, actor)
    }
}
