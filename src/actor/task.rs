//! The actor: the one task that owns the [`Vfs`].
//!
//! Each wake-up drains every queued request (up to a batch limit), runs them
//! against the core, publishes a fresh [`Snapshot`] of each fork that
//! changed, and only then sends the replies — so a caller that got an answer
//! always reads its own write from the published snapshot.
//!
//! A request that needs base data the cache lacks is parked, not waited on:
//! the backend's fetch runs on its own task, the actor keeps serving, and the
//! parked requests run again (from scratch — the core guarantees the miss had
//! no effect) when the data lands. Requests waiting for the same piece share
//! one fetch.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::{Id, JoinError, JoinSet};

use super::Error;
use super::backend::{self, Backend};
use super::handle::OpenFile;
use super::interleave::point;
use super::request::{Answer, Note, Op, Reply, Request};
use super::shared::{ForkCell, ForkCells, Notes, Shared};
use crate::fs::{self, BaseCache, CommitError, Errno, ForkId, Loaded, Need, Vfs};

/// Most requests taken off the queue per wake-up.
const BATCH: usize = 256;

/// How a request failed, before it is turned into an [`Error`].
enum Failure {
    Fs(fs::Error),
    Conflict(Vec<String>),
}

impl From<fs::Error> for Failure {
    fn from(e: fs::Error) -> Self {
        Failure::Fs(e)
    }
}

/// A request waiting for base data, and when it first started waiting.
struct Parked {
    request: Request,
    since: Instant,
}

/// Fetches from a slow backend into the cache the core reads.
pub(crate) struct Fetcher {
    pub backend: Arc<dyn Backend>,
    pub cache: Arc<BaseCache>,
    pub deadline: Duration,
    waiting: HashMap<Need, Vec<Parked>>,
    tasks: JoinSet<Result<Loaded, Errno>>,
    needs: HashMap<Id, Need>,
}

impl Fetcher {
    pub fn new(backend: Arc<dyn Backend>, cache: Arc<BaseCache>, deadline: Duration) -> Fetcher {
        Fetcher {
            backend,
            cache,
            deadline,
            waiting: HashMap::new(),
            tasks: JoinSet::new(),
            needs: HashMap::new(),
        }
    }
}

pub(crate) struct Actor {
    vfs: Vfs,
    requests: mpsc::Receiver<Request>,
    notes: mpsc::UnboundedReceiver<Note>,
    /// Woken every `WAKE_EVERY` notes (see `shared`).
    notes_waiting: mpsc::Receiver<()>,
    note_sender: Notes,
    shared: Arc<Shared>,
    /// The actor's copy of the published cells.
    cells: ForkCells,
    dirty: Vec<ForkId>,
    replies: Vec<(Reply, Result<Answer, Error>)>,
    fetcher: Option<Fetcher>,
    shutdown: Vec<Reply>,
}

impl Actor {
    pub fn new(
        mut vfs: Vfs,
        requests: mpsc::Receiver<Request>,
        notes: (Notes, mpsc::UnboundedReceiver<Note>, mpsc::Receiver<()>),
        shared: Arc<Shared>,
        fetcher: Option<Fetcher>,
    ) -> Actor {
        // Handles open on snapshots: an inode they found must outlive the
        // unlink that may overtake their note (see `shared`).
        vfs.defer_orphan_drops();
        let mut actor = Actor {
            vfs,
            requests,
            note_sender: notes.0,
            notes: notes.1,
            notes_waiting: notes.2,
            shared,
            cells: ForkCells::default(),
            dirty: vec![ForkId::ROOT],
            replies: Vec::new(),
            fetcher,
            shutdown: Vec::new(),
        };
        actor.publish();
        actor
    }

    pub async fn run(mut self) {
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            let fetching = self.fetcher.as_ref().is_some_and(|f| !f.tasks.is_empty());
            // Whatever woke the actor, the notes come first: they were sent
            // before anything their senders asked for since.
            tokio::select! {
                biased;
                Some(done) = join_next(&mut self.fetcher), if fetching => {
                    self.read_notes();
                    self.fetched(done);
                }
                received = self.requests.recv_many(&mut batch, BATCH) => {
                    if received == 0 {
                        break; // every handle is gone
                    }
                    self.read_notes();
                    for request in batch.drain(..) {
                        self.serve(request);
                    }
                }
                Some(()) = self.notes_waiting.recv() => self.read_notes(),
            }
            self.publish();
            self.flush();
            if !self.shutdown.is_empty() {
                break;
            }
        }
        self.stop();
    }

    /// Runs one request, or parks it until the base data it needs arrives.
    fn serve(&mut self, request: Request) {
        if matches!(request.op, Op::Shutdown) {
            self.shutdown.push(request.reply);
            return;
        }
        if !self.shutdown.is_empty() {
            let _ = request.reply.send(Err(Error::Stopped));
            return;
        }
        self.attempt(request, None);
    }

    /// Runs a request and queues its reply, or parks it on a base miss.
    /// `since` is when it first started waiting for base data, if it has.
    fn attempt(&mut self, request: Request, since: Option<Instant>) {
        if request.reply.is_closed() {
            return; // the caller gave up before it ran: don't run it
        }
        match self.execute_contained(&request.op) {
            Err(Failure::Fs(fs::Error::NeedsBase(need))) => {
                self.park(need, request, since.unwrap_or_else(Instant::now))
            }
            outcome => {
                let result = outcome.map_err(|failure| match failure {
                    Failure::Fs(e) => Error::from(e),
                    Failure::Conflict(paths) => Error::Conflict(paths),
                });
                self.replies.push((request.reply, result));
                // An unlink's space is free for the next request, even in
                // this batch.
                self.sweep();
            }
        }
    }

    /// Acts on every queued note, then drops what they left unheld —
    /// before the requests, so that a file whose last handle went no longer
    /// counts against the quota of the writes that follow.
    fn read_notes(&mut self) {
        self.take_notes();
        self.sweep();
    }

    fn take_notes(&mut self) {
        self.shared.reading_notes();
        loop {
            point();
            let Ok(note) = self.notes.try_recv() else {
                break;
            };
            match note {
                Note::Release(fork, ino) => {
                    if self.vfs.release(fork, ino)
                        && let Some(cell) = self.cells.get(&fork)
                    {
                        cell.release_open();
                    }
                    // No publish: with drops deferred, a release never
                    // changes the tree.
                }
                Note::Opened(fork, ino) => {
                    // Already counted on the fork's cell, within the limit;
                    // only a fork gone meanwhile makes this fail, and then
                    // there is nothing to hold.
                    let _ = self.vfs.retain(fork, ino);
                }
            }
        }
    }

    /// Drops unlinked inodes nobody holds, and publishes the forks that lost
    /// some. An inode may go only once a snapshot without its name is out
    /// and no open is still working from an older one (see `shared`).
    fn sweep(&mut self) {
        if !self.vfs.has_unheld_orphans() {
            return;
        }
        self.publish();
        if !self.shared.may_sweep() {
            return;
        }
        // Opens that finished on an older snapshot have queued their notes:
        // count their handles first.
        self.take_notes();
        for fork in self.vfs.drop_unheld_orphans() {
            self.mark(fork);
        }
        self.publish();
    }

    /// Runs an open the actor runs itself with a handle taken from `fork`'s
    /// count against `Limits::max_open`, given back if the open fails,
    /// misses (it runs again later) or unwinds.
    fn open_with(
        &mut self,
        fork: ForkId,
        open: impl FnOnce(&mut Vfs) -> fs::Result<(fs::Ino, fs::Kind)>,
    ) -> Result<Answer, Failure> {
        // A fork not published yet has no cell: its cell will start from
        // the core's count.
        let cell = self.cells.get(&fork).cloned();
        let reserved = match &cell {
            Some(cell) => {
                let max_open = self.vfs.limits().max_open;
                let reserved = cell.reserve_open(max_open);
                Some(reserved.ok_or(fs::Error::from(Errno::TooManyOpen))?)
            }
            None => None,
        };
        let (ino, kind) = open(&mut self.vfs)?;
        if let Some(reserved) = reserved {
            reserved.keep();
        }
        let file = OpenFile::new(fork, ino, kind, self.note_sender.clone());
        Ok(Answer::Opened(file))
    }

    fn mark(&mut self, fork: ForkId) {
        if !self.dirty.contains(&fork) {
            self.dirty.push(fork);
        }
    }

    /// Runs `op`; a panic inside it — a bug, or an embedder's `Base` or
    /// `Clock` that panics — fails this request with `Io` and the actor
    /// serves everyone else. Nothing is left half-done: a core operation
    /// changes the fork's tree only once it has returned successfully (see
    /// `Vfs`), so the fork is as it was before the request.
    fn execute_contained(&mut self, op: &Op) -> Result<Answer, Failure> {
        let run = std::panic::AssertUnwindSafe(|| self.execute(op));
        std::panic::catch_unwind(run).unwrap_or(Err(Failure::Fs(Errno::Io.into())))
    }

    fn execute(&mut self, op: &Op) -> Result<Answer, Failure> {
        if let Some(fork) = op.fork_changed() {
            self.mark(fork);
            if matches!(op, Op::Commit { .. })
                && let Ok(Some(parent)) = self.vfs.parent(fork)
            {
                self.mark(parent);
            }
        }
        let vfs = &mut self.vfs;
        Ok(match op {
            Op::OpenRoot { fork } => {
                return self.open_with(*fork, |vfs| Ok((vfs.open_root(*fork)?, fs::Kind::Dir)));
            }
            Op::OpenAt {
                fork,
                dir,
                path,
                follow,
                flags,
                write,
            } => {
                return self.open_with(*fork, |vfs| {
                    vfs.open_at(*fork, *dir, path, *follow, *flags, *write)
                });
            }
            Op::Write {
                fork,
                ino,
                offset,
                data,
            } => Answer::Count(vfs.write_bytes(*fork, *ino, *offset, data)? as u64),
            Op::Append { fork, ino, data } => {
                let (at, n) = vfs.append_bytes(*fork, *ino, data)?;
                Answer::Appended(at, n)
            }
            Op::WriteZeroes {
                fork,
                ino,
                offset,
                len,
            } => Answer::Count(vfs.write_zeroes(*fork, *ino, *offset, *len)?),
            Op::SetSize { fork, ino, size } => unit(vfs.set_size(*fork, *ino, *size))?,
            Op::SetTimes {
                fork,
                ino,
                atime,
                mtime,
            } => unit(vfs.set_times(*fork, *ino, *atime, *mtime))?,
            Op::SetTimesAt {
                fork,
                dir,
                path,
                follow,
                atime,
                mtime,
            } => unit(vfs.set_times_at(*fork, *dir, path, *follow, *atime, *mtime))?,
            Op::CreateDirAt { fork, dir, path } => unit(vfs.create_dir_at(*fork, *dir, path))?,
            Op::RemoveDirAt { fork, dir, path } => unit(vfs.remove_dir_at(*fork, *dir, path))?,
            Op::UnlinkFileAt { fork, dir, path } => unit(vfs.unlink_file_at(*fork, *dir, path))?,
            Op::RenameAt {
                fork,
                old_dir,
                old_path,
                new_dir,
                new_path,
            } => unit(vfs.rename_at(*fork, *old_dir, old_path, *new_dir, new_path))?,
            Op::LinkAt {
                fork,
                old_dir,
                old_path,
                new_dir,
                new_path,
            } => unit(vfs.link_at(*fork, *old_dir, old_path, *new_dir, new_path))?,
            Op::SymlinkAt {
                fork,
                target,
                dir,
                path,
            } => unit(vfs.symlink_at(*fork, target, *dir, path))?,
            Op::Stat { fork, ino } => Answer::Stat(vfs.stat(*fork, *ino)?),
            Op::StatAt {
                fork,
                dir,
                path,
                follow,
            } => Answer::Stat(vfs.stat_at(*fork, *dir, path, *follow)?),
            Op::Read {
                fork,
                ino,
                offset,
                len,
            } => Answer::Bytes(vfs.read(*fork, *ino, *offset, *len)?),
            Op::ReadDir {
                fork,
                dir,
                after,
                max,
            } => Answer::Entries(vfs.read_dir(*fork, *dir, after.as_deref(), *max)?),
            Op::ReadlinkAt { fork, dir, path } => Answer::Text(vfs.readlink_at(*fork, *dir, path)?),
            Op::Fork { parent } => {
                let fork = vfs.fork(*parent)?;
                self.mark(fork);
                Answer::Fork(fork)
            }
            Op::Diff { fork } => Answer::Changes(vfs.diff(*fork)?),
            Op::Commit { fork } => match vfs.commit(*fork) {
                Ok(()) => Answer::Unit,
                Err(CommitError::Conflict(paths)) => return Err(Failure::Conflict(paths)),
                Err(CommitError::Failed(e)) => return Err(e.into()),
            },
            Op::Discard { fork } => unit(vfs.discard(*fork))?,
            Op::Usage { fork } => Answer::Usage(vfs.usage(*fork)?),
            Op::BudgetUsed => Answer::Usage(vfs.budget_used()),
            Op::Shutdown => Answer::Unit,
        })
    }

    fn park(&mut self, need: Need, request: Request, since: Instant) {
        let Some(fetcher) = &mut self.fetcher else {
            // A fully loaded image never misses; if it does, it is broken.
            let _ = request.reply.send(Err(Error::Errno(Errno::Io)));
            return;
        };
        if fetcher.cache.has(&need) || since.elapsed() > fetcher.deadline {
            // Already fetched yet still missing (a backend that did not
            // deliver what it was asked for), or waited too long in total.
            let _ = request.reply.send(Err(Error::Errno(Errno::Io)));
            return;
        }
        if let Some(waiters) = fetcher.waiting.get_mut(&need) {
            waiters.push(Parked { request, since });
            return;
        }
        // The backend's code runs here, on the actor: contain its panics
        // as the fetch task contains those of the future it returns.
        let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            fetcher.backend.fetch(&need)
        }));
        let Ok(fetch) = started else {
            let _ = request.reply.send(Err(Error::Errno(Errno::Io)));
            return;
        };
        let fetch = backend::within(fetcher.deadline, fetch);
        let task = fetcher.tasks.spawn(fetch);
        fetcher.needs.insert(task.id(), need.clone());
        fetcher
            .waiting
            .insert(need, vec![Parked { request, since }]);
    }

    /// Fetches finished (or failed, timed out, or panicked): fill the cache
    /// with all of them at once and run their waiters again.
    fn fetched(&mut self, first: (Id, Result<Loaded, Errno>)) {
        let Some(fetcher) = &mut self.fetcher else {
            return;
        };
        let mut done = vec![first];
        while let Some(next) = fetcher.tasks.try_join_next_with_id() {
            done.push(fetch_outcome(next));
        }
        fetcher
            .cache
            .insert(done.iter().filter_map(|(_, r)| r.as_ref().ok()));
        let mut rerun = Vec::new();
        for (id, result) in done {
            let Some(need) = fetcher.needs.remove(&id) else {
                continue;
            };
            let waiters = fetcher.waiting.remove(&need).unwrap_or_default();
            // A fetch that did not deliver what was asked for is a failure.
            let result = result.and_then(|_| {
                if fetcher.cache.has(&need) {
                    Ok(())
                } else {
                    Err(Errno::Io)
                }
            });
            for parked in waiters {
                match result {
                    Err(errno) => {
                        let _ = parked.request.reply.send(Err(Error::Errno(errno)));
                    }
                    Ok(()) => rerun.push(parked),
                }
            }
        }
        for Parked { request, since } in rerun {
            self.attempt(request, Some(since));
        }
    }

    /// Publishes a new snapshot of every fork changed since the last one.
    /// A fork an operation touched without changing (an open, a close, a
    /// failed write) keeps its snapshot: readers keep their cached pointer.
    fn publish(&mut self) {
        let mut forks_changed = false;
        for fork in self.dirty.drain(..) {
            if let Some(cell) = self.cells.get(&fork)
                && self.vfs.is_current(fork, &cell.snapshot.load())
            {
                continue;
            }
            point();
            match (self.vfs.snapshot(fork), self.cells.get(&fork)) {
                (Ok(snapshot), Some(cell)) => cell.snapshot.store(Arc::new(snapshot)),
                (Ok(snapshot), None) => {
                    let open = self.vfs.open_handles(fork).unwrap_or(0);
                    self.cells
                        .insert(fork, Arc::new(ForkCell::new(snapshot, open)));
                    forks_changed = true;
                }
                (Err(_), _) => forks_changed |= self.cells.remove(&fork).is_some(),
            }
        }
        if forks_changed {
            point();
            self.shared.forks.store(Arc::new(self.cells.clone()));
        }
    }

    /// Sends the replies of this round — after `publish`, so that readers
    /// see what they were told happened.
    fn flush(&mut self) {
        for (reply, result) in self.replies.drain(..) {
            // A caller that went away drops the answer; an `OpenFile` in it
            // releases its handle on drop, so nothing leaks.
            let _ = reply.send(result);
        }
    }

    /// Answers everything still waiting with `Stopped` and confirms shutdown.
    fn stop(mut self) {
        self.requests.close();
        while let Ok(request) = self.requests.try_recv() {
            let _ = request.reply.send(Err(Error::Stopped));
        }
        if let Some(fetcher) = &mut self.fetcher {
            fetcher.tasks.abort_all();
            for (_, waiters) in fetcher.waiting.drain() {
                for parked in waiters {
                    let _ = parked.request.reply.send(Err(Error::Stopped));
                }
            }
        }
        // Handles read snapshots only while the actor lives.
        self.shared.forks.store(Arc::new(ForkCells::default()));
        for reply in self.shutdown.drain(..) {
            let _ = reply.send(Ok(Answer::Unit));
        }
    }
}

fn unit(r: fs::Result<()>) -> fs::Result<Answer> {
    r.map(|()| Answer::Unit)
}

/// The next finished fetch.
async fn join_next(fetcher: &mut Option<Fetcher>) -> Option<(Id, Result<Loaded, Errno>)> {
    let tasks = &mut fetcher.as_mut()?.tasks;
    Some(fetch_outcome(tasks.join_next_with_id().await?))
}

/// What a finished fetch task delivered; one that panicked or was aborted
/// delivered `Io`.
fn fetch_outcome(
    joined: Result<(Id, Result<Loaded, Errno>), JoinError>,
) -> (Id, Result<Loaded, Errno>) {
    joined.unwrap_or_else(|e| (e.id(), Err(Errno::Io)))
}
