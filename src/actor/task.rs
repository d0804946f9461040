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

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::{Id, JoinError, JoinSet};

use super::Error;
use super::backend::{self, Backend};
use super::interleave::point;
use super::ops::{self, Effect, Exec};
use super::request::Request;
use super::shared::{ForkCell, ForkCells, Note, Notes, Shared};
use crate::fs::{BaseCache, Errno, ForkId, Ino, Loaded, Need, Vfs};

/// Most requests taken off the queue per wake-up.
const BATCH: usize = 256;

/// Names a base directory may miss one by one before the actor fetches its
/// whole listing instead. A program creating files in a directory of the
/// image looks up one new name per file, and a name the base lacks stays
/// unknown until asked for: without the listing every create would wait
/// for a fetch (tens of microseconds from a host directory). A few lookups
/// first, so that walking a path through a large directory does not list it.
const MISSES_BEFORE_LISTING: u32 = 8;

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
    /// Lookups each base directory has missed so far.
    misses: HashMap<Ino, u32>,
    /// Directories whose listing the backend could not give (a directory
    /// one may search but not read): they stay with single lookups.
    unlistable: HashSet<Ino>,
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
            misses: HashMap::new(),
            unlistable: HashSet::new(),
        }
    }

    /// What to fetch for `need`: the directory's listing once it has missed
    /// enough single names (see `MISSES_BEFORE_LISTING`), else `need`.
    fn widen(&mut self, need: Need) -> Need {
        let Need::Lookup(dir, _) = &need else {
            return need;
        };
        if self.unlistable.contains(dir) {
            return need;
        }
        let misses = self.misses.entry(*dir).or_default();
        *misses += 1;
        if *misses > MISSES_BEFORE_LISTING {
            Need::List(*dir)
        } else {
            need
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
    /// Requests run this round, answered once their effects are published.
    replies: Vec<Request>,
    fetcher: Option<Fetcher>,
    /// Shutdown requests, answered once the actor has stopped.
    shutdown: Vec<Request>,
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
                    let _batch = tracing::trace_span!("batch", requests = received).entered();
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

    /// Runs one request start to finish on the caller's thread — publishing
    /// and answering it, or stopping — as the lock baseline does
    /// (`VfsBuilder::build_locked`) where `run` would wait for a batch.
    /// A panic outside the operation (each operation's own is contained)
    /// stops the filesystem, as it stops the actor's task: nobody goes on
    /// with a half-published state.
    pub fn run_here(&mut self, request: Request) {
        if self.requests.is_closed() {
            request.fail(Error::Stopped); // stopped while this call waited for the lock
            return;
        }
        let run = std::panic::AssertUnwindSafe(|| {
            self.read_notes();
            self.serve(request);
            self.publish();
            self.flush();
        });
        if std::panic::catch_unwind(run).is_err() {
            tracing::error!("the filesystem panicked outside an operation: stopping");
            self.stop();
        } else if !self.shutdown.is_empty() {
            self.stop();
        }
    }

    /// Acts on the notes queued so far, on the caller's thread: on the lock
    /// baseline's route nothing else wakes for them (see `VfsHandle::noted`).
    pub fn read_notes_here(&mut self) {
        if self.requests.is_closed() {
            return;
        }
        self.read_notes();
        self.publish();
    }

    /// Drops the fetcher: under `run_here` no task would run its fetches,
    /// so a miss fails with `Io` at once instead of waiting forever.
    pub fn forget_backend(&mut self) {
        self.fetcher = None;
    }

    /// Runs one request, or parks it until the base data it needs arrives.
    fn serve(&mut self, request: Request) {
        if request.effect() == Effect::Stops {
            // Answered once the actor has stopped — and it stops even if
            // its caller has stopped waiting (a timeout around `shutdown`).
            self.shutdown.push(request);
            return;
        }
        if !self.shutdown.is_empty() {
            request.fail(Error::Stopped);
            return;
        }
        self.attempt(request, None);
    }

    /// Runs a request and queues its answer, or parks it on a base miss.
    /// `since` is when it first started waiting for base data, if it has.
    fn attempt(&mut self, mut request: Request, since: Option<Instant>) {
        if request.abandoned() {
            return; // the caller gave up before it ran: don't run it
        }
        match request.effect() {
            // (A `Stops` request never gets here: `serve` keeps it.)
            Effect::Nothing | Effect::Stops => {}
            Effect::Publishes(fork) => self.mark(fork),
            Effect::Changes(fork) => self.changing(fork),
            Effect::Commits(fork) => {
                self.changing(fork);
                if let Ok(Some(parent)) = self.vfs.parent(fork) {
                    self.changing(parent);
                }
            }
        }
        let mut exec = Exec {
            vfs: &mut self.vfs,
            cells: &self.cells,
            notes: &self.note_sender,
            dirty: &mut self.dirty,
        };
        match request.attempt(&mut exec) {
            Err(need) => self.park(need, request, since.unwrap_or_else(Instant::now)),
            Ok(()) => {
                self.replies.push(request);
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
        for fork in self.vfs.forks_with_unheld_orphans() {
            self.changing(fork);
        }
        self.vfs.drop_unheld_orphans();
        self.publish();
    }

    /// `fork` is about to change: it will be published again after this
    /// round, and its tree should share nothing with the snapshot out now.
    fn changing(&mut self, fork: ForkId) {
        self.unshare(fork);
        self.mark(fork);
    }

    /// Publishes `fork` after this round (if its tree changed, or it has no
    /// cell yet).
    fn mark(&mut self, fork: ForkId) {
        ops::mark(&mut self.dirty, fork);
    }

    /// Takes `fork`'s published snapshot back if no reader holds it, so
    /// that the changes that follow are made in place: while a snapshot
    /// shares the tree, every change copies the path to what it changes in
    /// each persistent map (some microseconds in a directory of 100 000
    /// entries). Readers that come meanwhile find no snapshot and ask the
    /// actor, which answers them after this round, from the changed tree.
    /// A snapshot someone holds is put back: the tree is then copied where
    /// it changes, as it must be.
    fn unshare(&self, fork: ForkId) {
        let Some(cell) = self.cells.get(&fork) else {
            return;
        };
        point();
        let Some(published) = cell.snapshot.swap(None) else {
            return; // taken back already this round
        };
        // `swap` has turned every reader's borrowed guard into a count of
        // its own, so a snapshot no reader holds is the only one left.
        if let Err(held) = Arc::try_unwrap(published) {
            point();
            cell.snapshot.store(Some(held));
        }
    }

    fn park(&mut self, need: Need, request: Request, since: Instant) {
        let Some(fetcher) = &mut self.fetcher else {
            // A fully loaded image never misses; if it does, it is broken.
            request.fail(Error::Errno(Errno::Io));
            return;
        };
        if fetcher.cache.has(&need) || since.elapsed() > fetcher.deadline {
            // Already fetched yet still missing (a backend that did not
            // deliver what it was asked for), or waited too long in total.
            tracing::warn!(?need, waited = ?since.elapsed(), "base data never came: failing with EIO");
            request.fail(Error::Errno(Errno::Io));
            return;
        }
        // Joining a fetch in flight is not another name missed.
        let need = if fetcher.waiting.contains_key(&need) {
            need
        } else {
            fetcher.widen(need)
        };
        if let Some(waiters) = fetcher.waiting.get_mut(&need) {
            tracing::debug!(?need, waiting = waiters.len() + 1, "parked: joins a fetch");
            waiters.push(Parked { request, since });
            return;
        }
        tracing::debug!(?need, "parked: fetching base data");
        // The backend's code runs here, on the actor: contain its panics
        // as the fetch task contains those of the future it returns.
        let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            fetcher.backend.fetch(&need)
        }));
        let Ok(fetch) = started else {
            tracing::warn!(
                ?need,
                "the backend panicked starting a fetch: failing with EIO"
            );
            request.fail(Error::Errno(Errno::Io));
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
            match result {
                Ok(()) => tracing::debug!(?need, waiting = waiters.len(), "fetched: running again"),
                Err(errno) => tracing::warn!(?need, %errno, "fetch failed"),
            }
            // A listing fetched in place of lookups (see `widen`) that the
            // backend refused or did not deliver in time: the lookups are
            // tried one by one again, each with its own deadline (and a
            // listing that was asked for fails when it misses again).
            let retried = matches!((&result, &need), (Err(_), Need::List(dir))
                if fetcher.misses.get(dir) > Some(&MISSES_BEFORE_LISTING)
                    && fetcher.unlistable.insert(*dir));
            for parked in waiters {
                match result {
                    _ if retried => rerun.push(Parked {
                        request: parked.request,
                        since: Instant::now(),
                    }),
                    Err(errno) => parked.request.fail(Error::Errno(errno)),
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
                && let Some(published) = &*cell.snapshot.load()
                && self.vfs.is_current(fork, published)
            {
                continue;
            }
            point();
            match (self.vfs.snapshot(fork), self.cells.get(&fork)) {
                (Ok(snapshot), Some(cell)) => cell.snapshot.store(Some(Arc::new(snapshot))),
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
        for request in self.replies.drain(..) {
            request.answer();
        }
    }

    /// Answers everything still waiting with `Stopped` and confirms shutdown.
    fn stop(&mut self) {
        tracing::debug!("actor stopping");
        self.requests.close();
        while let Ok(request) = self.requests.try_recv() {
            request.fail(Error::Stopped);
        }
        if let Some(fetcher) = &mut self.fetcher {
            fetcher.tasks.abort_all();
            for (_, waiters) in fetcher.waiting.drain() {
                for parked in waiters {
                    parked.request.fail(Error::Stopped);
                }
            }
        }
        // Handles read snapshots only while the actor lives.
        self.shared.forks.store(Arc::new(ForkCells::default()));
        for mut request in std::mem::take(&mut self.shutdown) {
            // Running a `Shutdown` only answers it (with `Ok`).
            let mut exec = Exec {
                vfs: &mut self.vfs,
                cells: &self.cells,
                notes: &self.note_sender,
                dirty: &mut self.dirty,
            };
            let _ = request.attempt(&mut exec);
            request.answer();
        }
    }
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
