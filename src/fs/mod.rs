//! The pure filesystem core: no tokio, no wasmtime, no I/O of its own.
//!
//! Everything here is synchronous and deterministic (time comes from an
//! injectable [`Clock`]), so it can be unit- and property-tested on its own.
//! The layers above — the actor, the WASI bindings — only move requests to it
//! and answers back.
//!
//! # Layout
//!
//! - [`vfs`]: [`Vfs`], the set of forks addressed by [`ForkId`], and the
//!   transactional wrapper every mutation runs through.
//! - `journal`: what one operation changed in place, to undo it on failure.
//! - `snapshot`: [`Snapshot`], a fork frozen for lock-free reading.
//! - `ops`: the operations `wasi:filesystem` needs (open-at, rename, …) on one tree.
//! - `path`: path resolution and confinement (`..`, absolute paths, symlinks).
//! - `tree`: one version of a fork — a persistent inode table over the base.
//! - `node`, `data`: inodes, and file contents as copy-on-write `Bytes` chunks.
//! - [`base`]: the read-only lower layer, which may answer "not loaded yet".
//! - `diff`: what a fork changed.
//! - `merge`: commit — the three-way merge, and what the parent keeps open.
//! - `limits`, `meter`, `time`, `error`: quotas and what the host holds,
//!   clocks, the error type.

pub mod base;
mod cache;
mod data;
mod diff;
mod error;
mod journal;
mod limits;
mod merge;
mod meter;
mod node;
mod ops;
mod path;
mod snapshot;
mod time;
mod tree;
pub mod vfs;

pub use base::{Base, BaseNode, MemBase, MemBaseBuilder, Need};
pub use cache::{BaseCache, Loaded, answer_from};
pub use data::CHUNK_SIZE;
pub(crate) use data::rest_of;
pub use diff::{Change, ChangeKind};
pub use error::{Errno, Error, Result};
pub use limits::{Budget, Limits, Usage};
pub use merge::CommitError;
pub use node::{DirEntry, Ino, Kind, Name, Stat, Times};
pub use ops::OpenFlags;
pub use snapshot::{Reader, Snapshot};
pub use time::{Clock, ManualClock, SetTime, SystemClock, Timestamp};
pub use vfs::{ForkId, Vfs};
