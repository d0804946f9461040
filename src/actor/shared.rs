//! What the actor shares with every handle: the latest snapshot of every
//! fork, for reads without a round trip, and the bookkeeping that lets a
//! handle *open* an existing object on that snapshot too.
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
//!   any open is in flight ([`Shared::opening`]) the actor keeps such
//!   unlinked inodes (`Vfs::defer_orphan_drops`); it drops them only after
//!   publishing, having seen no open in flight — any open that starts later
//!   reads a snapshot where they have no name. An open that gives up on the
//!   snapshot settles its count itself.
//!
//! Notes do not wake the actor: it reads them whenever it wakes, before
//! anything else, and only every [`WAKE_EVERY`]th note wakes it. A woken
//! task waits in the waker's worker until that worker's current task yields
//! (tokio cannot steal it from there), so a guest that closed a file and then
//! computed for a second would hold every other guest's requests back that
//! long. Nothing is lost by waiting: a handle count the actor has not seen
//! given back makes an open fall back to a round trip, which reads the notes
//! first; unlinked inodes wait for the next wake-up.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst, fence};

use arc_swap::ArcSwap;
use tokio::sync::mpsc;

use super::request::Note;
use crate::fs::{ForkId, Snapshot};

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
    /// Each fork has its own cell, so publishing a change is one pointer
    /// swap for that fork; the map of cells changes only when forks come and
    /// go.
    pub forks: ArcSwap<ForkCells>,
    /// Opens reading a snapshot whose handle the actor has not counted yet.
    opening: AtomicUsize,
    /// Notes sent since the actor last read them (roughly).
    unread_notes: AtomicUsize,
    /// Wakes the actor when `unread_notes` reaches `WAKE_EVERY`. A one-slot
    /// channel rather than a `Notify`: the actor waits on it at every
    /// wake-up, and waiting on a channel takes no lock.
    wake_for_notes: mpsc::Sender<()>,
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
            // Full means a wake-up is pending already.
            let _ = self.shared.wake_for_notes.try_send(());
        }
        true
    }
}

/// One fork's published state.
pub(crate) struct ForkCell {
    pub snapshot: ArcSwap<Snapshot>,
    /// Handles held on the fork, counting those on their way to the actor.
    open: AtomicU64,
}

impl Shared {
    pub fn new(wake_for_notes: mpsc::Sender<()>) -> Shared {
        Shared {
            forks: ArcSwap::from_pointee(ForkCells::default()),
            opening: AtomicUsize::new(0),
            unread_notes: AtomicUsize::new(0),
            wake_for_notes,
        }
    }

    /// A handle is about to open on a snapshot it has not loaded yet.
    pub fn begin_open(&self) {
        self.opening.fetch_add(1, SeqCst);
        // Pairs with the fence in `may_sweep`: the snapshot loaded next is
        // at least the one published before the actor last found no opens.
        fence(SeqCst);
    }

    /// An open begun with `begin_open` gave up on the snapshot.
    pub fn abandon_open(&self) {
        self.opening.fetch_sub(1, SeqCst);
    }

    /// The actor counted the handle of an open begun with `begin_open`.
    pub fn open_landed(&self) {
        self.opening.fetch_sub(1, SeqCst);
    }

    /// The actor is about to read the notes queued so far.
    pub fn reading_notes(&self) {
        self.unread_notes.store(0, Relaxed);
    }

    /// Whether the actor may drop unlinked inodes nobody holds, now that it
    /// has published.
    pub fn may_sweep(&self) -> bool {
        // Pairs with the fence in `begin_open`.
        fence(SeqCst);
        self.opening.load(SeqCst) == 0
    }
}

impl ForkCell {
    pub fn new(snapshot: Snapshot, open: u64) -> ForkCell {
        ForkCell {
            snapshot: ArcSwap::from_pointee(snapshot),
            open: AtomicU64::new(open),
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
}
