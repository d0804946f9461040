//! What the actor shares with every handle: the latest snapshot of every
//! fork, for reads without a round trip, and the bookkeeping that lets a
//! handle *open* an existing object on that snapshot too, and *write
//! behind*: answer a write that cannot fail before the actor runs it.
//!
//! An open on a snapshot takes its handle first and tells the actor after,
//! with a one-way [`Note::Opened`](super::request::Note). Two races follow,
//! and both are closed here:
//!
//! - **The limit.** [`ForkCell::open`] counts every handle of the fork,
//!   including those still on their way to the actor. Handles and actor both
//!   take from it *before* opening, so `Limits::max_open` holds exactly.
//! - **The inode.** Between reading the snapshot and the note landing,
//!   another caller may unlink the object and close its last handle. While
//!   any open is in flight ([`Shared::opening`]: from before it loads the
//!   snapshot until after it has queued its note, or given up) the actor
//!   keeps such unlinked inodes (`Vfs::defer_orphan_drops`). It drops them
//!   only after publishing, having seen no open in flight, and having read
//!   the notes queued by then: any open that starts later reads a snapshot
//!   where they have no name, and any that finished has its handle counted.
//!   When it has to wait it says so (`sweep_wanted`), and the open that
//!   settles next wakes it. Each side writes, then reads what the other
//!   wrote (`SeqCst`), so at least one of them sees the other.
//!
//! Notes do not wake the actor: it reads them whenever it wakes, before
//! anything else, and only every [`WAKE_EVERY`]th note wakes it. A woken
//! task waits in the waker's worker until that worker's current task yields
//! (tokio cannot steal it from there), so a guest that closed a file and then
//! computed for a second would hold every other guest's requests back that
//! long. Nothing is lost by waiting: a handle count the actor has not seen
//! given back makes an open fall back to a round trip, which reads the notes
//! first; unlinked inodes go at the next wake-up.
//!
//! ## Writes behind
//!
//! A write that only overwrites bytes the fork stores in its own layer,
//! inside the file, cannot fail; [`Shared::hold_write`] lets it return
//! before the actor runs it, queued as a [`Note::Write`](super::request::Note).
//! Three promises are kept, each by one side writing then reading what the
//! other wrote (`SeqCst`):
//!
//! - **Readers see it.** The write is kept in [`QueuedWrites`] from before
//!   it returns until the actor has published it. A reader of its file
//!   finds it there and lays it over the snapshot (its bytes, and its time
//!   for a `stat`; see below), or makes a round trip, which runs the notes
//!   first. Every reader reads the stripe's length *before* loading the
//!   snapshot: zero, the write is published and the snapshot it loads next
//!   has it. A reader that learns the inode from the snapshot itself
//!   (`stat_at`) reads the length after, and with nothing queued requires
//!   the snapshot to still be the latest. Readers of a whole fork
//!   (`read_snapshot`, `snapshot()`) cannot lay writes over: they check
//!   [`ForkCell::writes_behind`] and make the round trip.
//! - **What a reader lays over is a state the file passes through.** The
//!   reader loads the snapshot, then copies the writes to its file that the
//!   snapshot lacks, then checks that the snapshot is still the latest and
//!   that no operation changing the fork has started since
//!   ([`ForkCell::still_latest`]). The actor raises the fork's `changes`
//!   before every such operation and reads the notes right after, so every
//!   write the reader copied runs before anything else touches the file:
//!   snapshot plus those writes is the file's next state. One exception is
//!   caught by the reader: a write judged in place before a shrink but
//!   queued after it runs after it, and may grow the file; the reader lays
//!   over only writes that overwrite in place in its snapshot.
//! - **Its space is there when it runs.** The write counts what it could
//!   take (should its file shrink first) into [`ForkCell::reserved`]
//!   *before* it loads the snapshot it is judged on; the actor counts a
//!   shrink into [`ForkCell::shrinks`] *before* it reads `reserved` for the
//!   operations that follow. So either those operations hold the space back
//!   for the write, or the write sees a shrink its snapshot lacks
//!   (`Published::shrinks` behind the cell's) and makes a round trip.
//! - **A commit keeps it.** A write in flight counts as an open in flight
//!   (from before it loads the fork's cell until its note is queued) and
//!   gives up if the fork is [`ForkCell::closing`]. The actor marks the fork
//!   closing, then waits for no open in flight as for a sweep, then reads
//!   the notes, then commits.

use std::sync::Arc;
use std::sync::atomic::{
    AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst, fence,
};

use arc_swap::ArcSwap;
use tokio::sync::mpsc;

use super::queued::QueuedWrites;
use super::request::Note;
use crate::fs::{Clock, ForkId, Ino, Snapshot, most_allocated_by_write};

/// Every this many notes, the actor is woken to read them (so they cannot
/// pile up without bound while nobody makes a request).
pub(crate) const WAKE_EVERY: usize = 256;

/// How far writes behind one fork may run ahead of the actor; past either
/// bound a write makes a round trip (which takes them all in first). Bounds
/// the memory a guest that never yields can queue.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BehindLimits {
    /// Writes on their way.
    pub max_writes: u32,
    /// Quota bytes they hold back (see [`ForkCell::reserved`]), and so most
    /// file data on its way.
    pub max_bytes: u64,
}

impl Default for BehindLimits {
    fn default() -> Self {
        BehindLimits {
            max_writes: 256,
            max_bytes: 4 << 20,
        }
    }
}

/// Fork ids to their cells. Fork ids are small numbers the host hands out,
/// so the fast non-cryptographic hash is safe here; it is on every read.
pub(crate) type ForkCells = imbl::GenericHashMap<
    ForkId,
    Arc<ForkCell>,
    rustc_hash::FxBuildHasher,
    imbl::shared_ptr::DefaultSharedPtr,
>;

pub(crate) struct Shared {
    /// Each fork has its own cell, so publishing a change is one pointer
    /// swap for that fork; the map of cells changes only when forks come and
    /// go.
    pub forks: ArcSwap<ForkCells>,
    /// Opens and writes behind between loading a snapshot and queuing their
    /// note (see `in_flight`).
    opening: AtomicUsize,
    /// The actor keeps unlinked inodes for opens in flight, and wants to be
    /// woken when one settles.
    sweep_wanted: AtomicBool,
    /// Notes sent since the actor last read them (roughly).
    unread_notes: AtomicUsize,
    /// Wakes the actor when `unread_notes` reaches `WAKE_EVERY`. A one-slot
    /// channel rather than a `Notify`: the actor waits on it at every
    /// wake-up, and waiting on a channel takes no lock.
    wake_for_notes: mpsc::Sender<()>,
    /// Writes behind, from before each returns until the actor has
    /// published it.
    pub queued: QueuedWrites,
    behind: BehindLimits,
    /// The filesystem's clock: a write behind takes its time when it returns.
    pub clock: Arc<dyn Clock>,
}

/// The one-way lane from handles to the actor (see the module docs).
#[derive(Clone)]
pub(crate) struct Notes {
    queue: mpsc::UnboundedSender<Note>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Notes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notes").finish_non_exhaustive()
    }
}

impl Notes {
    pub fn new(queue: mpsc::UnboundedSender<Note>, shared: Arc<Shared>) -> Notes {
        Notes { queue, shared }
    }

    /// Queues `note`; false if the actor is gone.
    pub fn send(&self, note: Note) -> bool {
        if self.queue.send(note).is_err() {
            return false;
        }
        if self.shared.unread_notes.fetch_add(1, Relaxed) + 1 == WAKE_EVERY {
            self.shared.wake_actor();
        }
        true
    }
}

/// A fork's snapshot as the actor published it.
pub(crate) struct Published {
    pub snapshot: Snapshot,
    /// [`ForkCell::shrinks`] when it was taken.
    pub shrinks: u64,
    /// [`ForkCell::changes`] when it was taken.
    pub changes: u64,
    /// Counts the fork's snapshots, from 0 (see `queued`).
    pub generation: u64,
}

/// One fork's published state.
pub(crate) struct ForkCell {
    pub snapshot: ArcSwap<Published>,
    /// Handles held on the fork, counting those on their way to the actor.
    open: AtomicU64,
    /// Writes behind on their way, until the actor has published them.
    pub writes_behind: AtomicU32,
    /// Quota bytes held back for writes behind not yet run: what each could
    /// take should its file shrink first. The actor counts them as used by
    /// every other operation, so the write finds its space when it runs.
    pub reserved: AtomicU64,
    /// Operations that may have shrunk a file, started by the actor.
    pub shrinks: AtomicU64,
    /// Operations that may have changed the fork, started by the actor.
    pub changes: AtomicU64,
    /// A commit wants the fork: no more writes behind.
    pub closing: AtomicBool,
}

impl Shared {
    pub fn new(
        wake_for_notes: mpsc::Sender<()>,
        behind: BehindLimits,
        clock: Arc<dyn Clock>,
    ) -> Shared {
        Shared {
            forks: ArcSwap::from_pointee(ForkCells::default()),
            opening: AtomicUsize::new(0),
            sweep_wanted: AtomicBool::new(false),
            unread_notes: AtomicUsize::new(0),
            wake_for_notes,
            queued: QueuedWrites::new(),
            behind,
            clock,
        }
    }

    /// Counts a write of `len` bytes at `offset` to `ino` as behind, if it
    /// cannot fail (see the module docs); returns the quota bytes it holds
    /// back, or `None`: then it makes a round trip. Call within
    /// [`Shared::in_flight`], and queue the write within it too.
    pub fn hold_write(&self, cell: &ForkCell, ino: Ino, offset: u64, len: u64) -> Option<u64> {
        if self.behind.max_writes == 0 || cell.closing.load(SeqCst) {
            return None;
        }
        let reserved = most_allocated_by_write(offset, len);
        // Counted first, checked second: the actor shrinks first, reads
        // these second, so one of the two sees the other.
        let writes = cell.writes_behind.fetch_add(1, SeqCst);
        let held = cell.reserved.fetch_add(reserved, SeqCst);
        let published = cell.snapshot.load();
        let fits = writes < self.behind.max_writes
            && held.saturating_add(reserved) <= self.behind.max_bytes
            && published.shrinks == cell.shrinks.load(SeqCst)
            && published
                .snapshot
                .reader()
                .overwrites_in_place(ino, offset, len);
        if !fits {
            self.unhold_write(cell, reserved);
            return None;
        }
        Some(reserved)
    }

    /// Takes back what `hold_write` counted, for a write never sent (the
    /// actor does this itself, after publishing the write).
    pub fn unhold_write(&self, cell: &ForkCell, reserved: u64) {
        cell.reserved.fetch_sub(reserved, SeqCst);
        cell.writes_behind.fetch_sub(1, SeqCst);
    }

    /// A write behind is published (or its fork is gone): readers of its
    /// file, and of its fork, may use the snapshot alone again.
    pub fn written_behind(&self, cell: Option<&ForkCell>, write: (ForkId, Ino, u64)) {
        let (fork, ino, id) = write;
        self.queued.published(fork, ino, id);
        if let Some(cell) = cell {
            cell.writes_behind.fetch_sub(1, SeqCst);
        }
    }

    /// Runs `work` — an open or a write behind, from loading the snapshot
    /// to queuing its note (or giving up) — counted as in flight, so that
    /// the actor drops no inode and commits no fork it may still touch.
    pub fn in_flight<T>(&self, work: impl FnOnce() -> T) -> T {
        self.opening.fetch_add(1, SeqCst);
        // Pairs with the fence in `may_sweep`: the snapshot loaded next is
        // at least the one published before the actor last found none.
        fence(SeqCst);
        let done = work();
        self.opening.fetch_sub(1, SeqCst);
        if self.sweep_wanted.load(SeqCst) {
            self.wake_actor();
        }
        done
    }

    fn wake_actor(&self) {
        // Full means a wake-up is pending already.
        let _ = self.wake_for_notes.try_send(());
    }

    /// The actor is about to read the notes queued so far.
    pub fn reading_notes(&self) {
        self.unread_notes.store(0, Relaxed);
    }

    /// Whether the actor may drop unlinked inodes nobody holds, now that it
    /// has published — once it has read the notes queued so far. If not, the
    /// next open to settle wakes it.
    pub fn may_sweep(&self) -> bool {
        self.sweep_wanted.store(true, SeqCst);
        // Pairs with the fence in `in_flight`.
        fence(SeqCst);
        if self.opening.load(SeqCst) != 0 {
            return false;
        }
        self.sweep_wanted.store(false, SeqCst);
        true
    }
}

impl ForkCell {
    pub fn new(snapshot: Snapshot, open: u64) -> ForkCell {
        ForkCell {
            snapshot: ArcSwap::from_pointee(Published {
                snapshot,
                shrinks: 0,
                changes: 0,
                generation: 0,
            }),
            open: AtomicU64::new(open),
            writes_behind: AtomicU32::new(0),
            reserved: AtomicU64::new(0),
            shrinks: AtomicU64::new(0),
            changes: AtomicU64::new(0),
            closing: AtomicBool::new(false),
        }
    }

    /// Takes one handle unless `max_open` are held already.
    pub fn reserve_open(&self, max_open: u64) -> bool {
        self.open
            .fetch_update(SeqCst, SeqCst, |n| (n < max_open).then_some(n + 1))
            .is_ok()
    }

    /// Gives back one handle.
    pub fn release_open(&self) {
        self.open.fetch_sub(1, SeqCst);
    }

    /// Whether `published` is still the latest snapshot and no operation
    /// that changes the fork has started since: then the writes behind
    /// queued by now run before any other change (see the module docs).
    pub fn still_latest(&self, published: &Arc<Published>) -> bool {
        // A read-modify-write, not a load: the actor's next increment reads
        // what it wrote, and so sees every note this caller saw queued.
        self.changes.fetch_add(0, SeqCst) == published.changes
            && Arc::ptr_eq(published, &self.snapshot.load())
    }
}
