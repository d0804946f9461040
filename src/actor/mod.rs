//! The actor layer: one task owns the filesystem; handles talk to it over
//! channels.
//!
//! # Why an actor
//!
//! Guests on many executor threads share one filesystem (or forks of it).
//! Behind a lock, guests wait for each other's changes, and a lock held across
//! a slow base fetch stalls them all. Here a single task owns the [`Vfs`]
//! and nothing else touches it:
//!
//! - mutations are requests on a bounded `mpsc` channel, answered on a
//!   `oneshot`; the actor drains all queued requests per wake-up (one wake-up
//!   per burst, not per request);
//! - reads never queue: after each batch the actor publishes an immutable
//!   snapshot per changed fork (`ArcSwap`, O(1) thanks to the persistent
//!   tree) and handles read it directly — publishing before replying, so a
//!   caller always reads its own writes;
//! - a request that needs base data not yet fetched is parked while the
//!   backend fetches it on another task; the actor keeps serving everyone
//!   else and re-runs the request when the data lands.
//!
//! The cost is a channel round trip per mutation (about a microsecond),
//! which `BENCHMARKS.md` measures against the lock designs kept in
//! [`baseline`].
//!
//! [`Vfs`]: crate::fs::Vfs

mod backend;
pub mod baseline;
mod file;
mod fork;
mod handle;
mod hostdir;
mod interleave;
#[cfg(test)]
mod model;
mod ops;
mod request;
mod shared;
mod task;

use std::fmt;

pub use backend::{Backend, Delayed};
pub use file::{FollowSymlinks, OpenFile, OpenOptions};
pub use fork::Fork;
pub(crate) use handle::served_at_once;
pub use handle::{VfsBuilder, VfsHandle};
pub use hostdir::HostDir;

use crate::fs::{self, Errno};

/// Why a call on a [`VfsHandle`] failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The filesystem answered with an error code.
    Errno(Errno),
    /// A commit was refused: the parent changed these paths too.
    Conflict(Vec<String>),
    /// The actor has stopped (shut down, or crashed); nothing more will run.
    Stopped,
}

impl From<fs::Error> for Error {
    fn from(e: fs::Error) -> Self {
        // A `NeedsBase` never leaves the actor layer; if one did, the base is broken.
        Error::Errno(e.errno().unwrap_or(Errno::Io))
    }
}

impl From<Errno> for Error {
    fn from(e: Errno) -> Self {
        Error::Errno(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Errno(e) => e.fmt(f),
            Error::Conflict(paths) => write!(f, "commit conflicts on {}", paths.join(", ")),
            Error::Stopped => f.write_str("the filesystem actor has stopped"),
        }
    }
}

impl std::error::Error for Error {}
