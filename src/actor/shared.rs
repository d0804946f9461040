//! What the actor shares with every handle: the latest snapshot of every
//! fork, for reads without a round trip, and the bookkeeping that lets a
//! handle *open* an existing object on that snapshot too.
//!
//! An open on a snapshot takes its handle first and tells the actor after,
//! with a one-way [`Note::Opened`]. Two races follow,
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
//! Every place where the other side may run in between is marked with
//! [`interleave::point`](super::interleave::point); the model check
//! (`src/actor/model.rs`) tries the orders that lead to.

use std::sync::Arc;
use std::sync::atomic::{
    AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst, fence,
};

use arc_swap::{ArcSwap, ArcSwapOption};
use tokio::sync::mpsc;

use super::interleave::point;
use crate::fs::{ForkId, Ino, Limits, Snapshot};

/// Every this many notes, the actor is woken to read them (so they cannot
/// pile up without bound while nobody makes a request).
pub(crate) const WAKE_EVERY: usize = 256;

/// Fork ids to their cells. Fork ids are small numbers the host hands out,
/// so the fast non-cryptographic hash is safe here; it is on every read.
pub(crate) type ForkCells = imbl::GenericHashMap<
    ForkId,
    Arc<ForkCell>,
    rustc_hash::FxBuildHasher,
    imbl::shared_ptr::DefaultSharedPtr,
>;

pub(crate) struct Shared {
    /// The filesystem's limits (they never change).
    pub limits: Limits,
    /// Each fork has its own cell, so publishing a change is one pointer
    /// swap for that fork; the map of cells changes only when forks come and
    /// go.
    pub forks: ArcSwap<ForkCells>,
    /// Opens between loading a snapshot and queuing their note (see
    /// `in_flight`).
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
}

/// What handles tell the actor without waiting for an answer.
#[derive(Debug)]
pub(crate) enum Note {
    /// An open handle given back.
    Release(ForkId, Ino),
    /// A handle taken on a published snapshot (see `OpenFile::open_at`),
    /// to count; its inode is still there (see the module docs).
    Opened(ForkId, Ino),
}

/// The one-way lane from handles to the actor, where they queue their
/// [`Note`]s (see the module docs).
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
        point();
        if self.queue.send(note).is_err() {
            return false;
        }
        if self.shared.unread_notes.fetch_add(1, Relaxed) + 1 == WAKE_EVERY {
            self.shared.wake_actor();
        }
        true
    }
}

/// One fork's published state.
pub(crate) struct ForkCell {
    /// The fork as of the actor's last batch, or `None` while the actor
    /// changes the fork in place (see `Actor::unshare`): readers then ask
    /// the actor, as they do when the snapshot lacks base data.
    pub snapshot: ArcSwapOption<Snapshot>,
    /// Handles held on the fork, counting those on their way to the actor.
    open: AtomicU64,
}

impl Shared {
    pub fn new(limits: Limits, wake_for_notes: mpsc::Sender<()>) -> Shared {
        Shared {
            limits,
            forks: ArcSwap::from_pointee(ForkCells::default()),
            opening: AtomicUsize::new(0),
            sweep_wanted: AtomicBool::new(false),
            unread_notes: AtomicUsize::new(0),
            wake_for_notes,
        }
    }

    /// Runs `work` — an open, from loading the snapshot to queuing its note
    /// (or giving up) — counted as in flight, so that the actor drops no
    /// inode it may still find.
    pub fn in_flight<T>(&self, work: impl FnOnce() -> T) -> T {
        point();
        self.opening.fetch_add(1, SeqCst);
        // Pairs with the fence in `may_sweep`: the snapshot loaded next is
        // at least the one published before the actor last found none.
        fence(SeqCst);
        // Settles even if `work` unwinds (an embedder's image may panic on
        // this thread): a count left up would stop every later sweep.
        let _settle = Settle(self);
        work()
    }

    fn wake_actor(&self) {
        // Full means a wake-up is pending already.
        let _ = self.wake_for_notes.try_send(());
    }

    /// Whether enough notes are queued that the actor should read them.
    pub fn notes_due(&self) -> bool {
        self.unread_notes.load(Relaxed) >= WAKE_EVERY
    }

    /// The actor is about to read the notes queued so far.
    pub fn reading_notes(&self) {
        self.unread_notes.store(0, Relaxed);
    }

    /// Whether the actor may drop unlinked inodes nobody holds, now that it
    /// has published — once it has read the notes queued so far. If not, the
    /// next open to settle wakes it.
    pub fn may_sweep(&self) -> bool {
        point();
        self.sweep_wanted.store(true, SeqCst);
        // Pairs with the fence in `in_flight`.
        fence(SeqCst);
        point();
        if self.opening.load(SeqCst) != 0 {
            return false;
        }
        self.sweep_wanted.store(false, SeqCst);
        true
    }
}

/// Ends an open's time in flight (see [`Shared::in_flight`]).
struct Settle<'a>(&'a Shared);

impl Drop for Settle<'_> {
    fn drop(&mut self) {
        point();
        self.0.opening.fetch_sub(1, SeqCst);
        point();
        if self.0.sweep_wanted.load(SeqCst) {
            self.0.wake_actor();
        }
    }
}

/// One handle taken from a fork's count, given back on drop unless kept —
/// so an open that fails, misses or unwinds cannot leak it.
pub(crate) struct Reserved<'a> {
    cell: &'a ForkCell,
    kept: bool,
}

impl Reserved<'_> {
    /// The open succeeded: the handle is the `OpenFile`'s now.
    pub fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        if !self.kept {
            self.cell.release_open();
        }
    }
}

impl ForkCell {
    pub fn new(snapshot: Snapshot, open: u64) -> ForkCell {
        ForkCell {
            snapshot: ArcSwapOption::from_pointee(snapshot),
            open: AtomicU64::new(open),
        }
    }

    /// Takes one handle unless `max_open` are held already.
    pub fn reserve_open(&self, max_open: u64) -> Option<Reserved<'_>> {
        point();
        self.open
            .fetch_update(SeqCst, SeqCst, |n| (n < max_open).then_some(n + 1))
            .ok()
            .map(|_| Reserved {
                cell: self,
                kept: false,
            })
    }

    /// Gives back one handle.
    pub fn release_open(&self) {
        point();
        self.open.fetch_sub(1, SeqCst);
    }
}
