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
//!   snapshot settles its count itself and, if the actor is waiting for
//!   that, wakes it with `Note::Sweep`. Each side writes, then reads what the
//!   other wrote (`SeqCst`), so at least one of them sees the other.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst, fence};

use arc_swap::ArcSwap;

use crate::fs::{ForkId, Snapshot};

pub(crate) struct Shared {
    /// Each fork has its own cell, so publishing a change is one pointer
    /// swap for that fork; the map of cells changes only when forks come and
    /// go.
    pub forks: ArcSwap<imbl::HashMap<ForkId, Arc<ForkCell>>>,
    /// Opens reading a snapshot whose handle the actor has not counted yet.
    opening: AtomicUsize,
    /// The actor keeps unlinked inodes for opens in flight and wants to hear
    /// when there are none.
    sweep_wanted: AtomicBool,
}

/// One fork's published state.
pub(crate) struct ForkCell {
    pub snapshot: ArcSwap<Snapshot>,
    /// Handles held on the fork, counting those on their way to the actor.
    open: AtomicU64,
}

impl Shared {
    pub fn new() -> Shared {
        Shared {
            forks: ArcSwap::from_pointee(imbl::HashMap::new()),
            opening: AtomicUsize::new(0),
            sweep_wanted: AtomicBool::new(false),
        }
    }

    /// A handle is about to open on a snapshot it has not loaded yet.
    pub fn begin_open(&self) {
        self.opening.fetch_add(1, SeqCst);
        // Pairs with the fence in `may_sweep`: the snapshot loaded next is
        // at least the one published before the actor last found no opens.
        fence(SeqCst);
    }

    /// An open begun with `begin_open` gave up on the snapshot. Returns
    /// whether the actor must be woken to sweep.
    pub fn abandon_open(&self) -> bool {
        self.opening.fetch_sub(1, SeqCst) == 1 && self.sweep_wanted.load(SeqCst)
    }

    /// The actor counted the handle of an open begun with `begin_open`.
    pub fn open_landed(&self) {
        self.opening.fetch_sub(1, SeqCst);
    }

    /// Whether the actor may drop unlinked inodes nobody holds, now that it
    /// has published. If not, the last open in flight will wake it.
    pub fn may_sweep(&self) -> bool {
        self.sweep_wanted.store(true, SeqCst);
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
