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

use arc_swap::ArcSwap;
use tokio::sync::mpsc;
use tokio::task::{Id, JoinSet};

use super::Error;
use super::backend::Backend;
use super::handle::OpenFile;
use super::request::{Answer, Op, Release, Reply, Request};
use crate::fs::{self, BaseCache, CommitError, Errno, ForkId, Loaded, Need, Snapshot, Vfs};

/// Most requests taken off the queue per wake-up.
const BATCH: usize = 256;

/// What the actor shares with every handle.
pub(crate) struct Shared {
    /// The latest snapshot of every fork, for reads without a round trip.
    pub published: ArcSwap<imbl::HashMap<ForkId, Snapshot>>,
}

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
    releases: mpsc::UnboundedReceiver<Release>,
    release_sender: mpsc::UnboundedSender<Release>,
    shared: Arc<Shared>,
    snapshots: imbl::HashMap<ForkId, Snapshot>,
    dirty: Vec<ForkId>,
    replies: Vec<(Reply, Result<Answer, Error>)>,
    fetcher: Option<Fetcher>,
    shutdown: Vec<Reply>,
}

impl Actor {
    pub fn new(
        vfs: Vfs,
        requests: mpsc::Receiver<Request>,
        releases: (
            mpsc::UnboundedSender<Release>,
            mpsc::UnboundedReceiver<Release>,
        ),
        shared: Arc<Shared>,
        fetcher: Option<Fetcher>,
    ) -> Actor {
        let mut actor = Actor {
            vfs,
            requests,
            release_sender: releases.0,
            releases: releases.1,
            shared,
            snapshots: imbl::HashMap::new(),
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
            tokio::select! {
                biased;
                Some(release) = self.releases.recv() => {
                    self.vfs.release(release.0, release.1);
                    self.mark(release.0);
                }
                Some(done) = join_next(&mut self.fetcher), if fetching => self.fetched(done),
                received = self.requests.recv_many(&mut batch, BATCH) => {
                    if received == 0 {
                        break; // every handle is gone
                    }
                    for request in batch.drain(..) {
                        self.serve(request);
                    }
                }
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
        self.attempt(request, Instant::now());
    }

    /// Runs a request and queues its reply, or parks it on a base miss.
    fn attempt(&mut self, request: Request, since: Instant) {
        if request.reply.is_closed() {
            return; // the caller gave up before it ran: don't run it
        }
        match self.execute(&request.op) {
            Err(Failure::Fs(fs::Error::NeedsBase(need))) => self.park(need, request, since),
            outcome => {
                let result = outcome.map_err(|failure| match failure {
                    Failure::Fs(e) => Error::Errno(e.errno().unwrap_or(Errno::Io)),
                    Failure::Conflict(paths) => Error::Conflict(paths),
                });
                self.replies.push((request.reply, result));
            }
        }
    }

    fn mark(&mut self, fork: ForkId) {
        if !self.dirty.contains(&fork) {
            self.dirty.push(fork);
        }
    }

    fn execute(&mut self, op: &Op) -> Result<Answer, Failure> {
        for fork in op.touches().into_iter().flatten() {
            self.mark(fork);
            if matches!(op, Op::Commit { .. })
                && let Ok(Some(parent)) = self.vfs.parent(fork)
            {
                self.mark(parent);
            }
        }
        let vfs = &mut self.vfs;
        let opened =
            |fork, (ino, kind)| OpenFile::new(fork, ino, kind, self.release_sender.clone());
        Ok(match op {
            Op::OpenRoot { fork } => {
                let root = vfs.open_root(*fork)?;
                Answer::Opened(opened(*fork, (root, fs::Kind::Dir)))
            }
            Op::OpenAt {
                fork,
                dir,
                path,
                follow,
                flags,
                write,
            } => Answer::Opened(opened(
                *fork,
                vfs.open_at(*fork, *dir, path, *follow, *flags, *write)?,
            )),
            Op::Write {
                fork,
                ino,
                offset,
                data,
            } => Answer::Count(vfs.write(*fork, *ino, *offset, data)? as u64),
            Op::Append { fork, ino, data } => {
                let (at, n) = vfs.append(*fork, *ino, data)?;
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
        let parked = Parked { request, since };
        if let Some(waiters) = fetcher.waiting.get_mut(&need) {
            waiters.push(parked);
            return;
        }
        let fetch = fetcher.backend.fetch(&need);
        let deadline = fetcher.deadline;
        let task = fetcher.tasks.spawn(async move {
            tokio::time::timeout(deadline, fetch)
                .await
                .unwrap_or(Err(Errno::Io))
        });
        fetcher.needs.insert(task.id(), need.clone());
        fetcher.waiting.insert(need, vec![parked]);
    }

    /// A fetch finished (or failed, timed out, or panicked): fill the cache
    /// and run its waiters again.
    fn fetched(&mut self, (id, result): (Id, Result<Loaded, Errno>)) {
        let Some(fetcher) = &mut self.fetcher else {
            return;
        };
        let Some(need) = fetcher.needs.remove(&id) else {
            return;
        };
        let waiters = fetcher.waiting.remove(&need).unwrap_or_default();
        let result = result.and_then(|loaded| {
            fetcher.cache.insert(loaded);
            if fetcher.cache.has(&need) {
                Ok(())
            } else {
                Err(Errno::Io)
            }
        });
        for Parked { request, since } in waiters {
            match result {
                Err(errno) => {
                    let _ = request.reply.send(Err(Error::Errno(errno)));
                }
                Ok(()) => self.attempt(request, since),
            }
        }
    }

    /// Publishes a new snapshot of every fork changed since the last one.
    fn publish(&mut self) {
        if self.dirty.is_empty() {
            return;
        }
        for fork in self.dirty.drain(..) {
            match self.vfs.snapshot(fork) {
                Ok(snapshot) => self.snapshots.insert(fork, snapshot),
                Err(_) => self.snapshots.remove(&fork),
            };
        }
        self.shared
            .published
            .store(Arc::new(self.snapshots.clone()));
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
        self.shared.published.store(Arc::new(imbl::HashMap::new()));
        for reply in self.shutdown.drain(..) {
            let _ = reply.send(Ok(Answer::Unit));
        }
    }
}

fn unit(r: fs::Result<()>) -> fs::Result<Answer> {
    r.map(|()| Answer::Unit)
}

/// The next finished fetch, with a panicked or aborted one reported as `Io`.
async fn join_next(fetcher: &mut Option<Fetcher>) -> Option<(Id, Result<Loaded, Errno>)> {
    let tasks = &mut fetcher.as_mut()?.tasks;
    Some(match tasks.join_next_with_id().await? {
        Ok((id, result)) => (id, result),
        Err(e) => (e.id(), Err(Errno::Io)),
    })
}
