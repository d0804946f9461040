//! What travels over the channel: one [`Op`] per request kind, and the
//! [`Answer`] that comes back on the request's oneshot.
//!
//! Requests are plain data so that the actor can park one that needs base
//! data, and run the very same request again once the data has arrived.

use bytes::Bytes;
use tokio::sync::oneshot;

use super::Error;
use super::handle::OpenFile;
use crate::fs::{Change, DirEntry, ForkId, Ino, OpenFlags, SetTime, Stat, Usage};

/// One filesystem operation, with everything needed to run it (again).
#[derive(Clone, Debug)]
pub(crate) enum Op {
    OpenRoot {
        fork: ForkId,
    },
    OpenAt {
        fork: ForkId,
        dir: Ino,
        path: String,
        follow: bool,
        flags: OpenFlags,
        write: bool,
    },
    Write {
        fork: ForkId,
        ino: Ino,
        offset: u64,
        data: Bytes,
    },
    Append {
        fork: ForkId,
        ino: Ino,
        data: Bytes,
    },
    WriteZeroes {
        fork: ForkId,
        ino: Ino,
        offset: u64,
        len: u64,
    },
    SetSize {
        fork: ForkId,
        ino: Ino,
        size: u64,
    },
    SetTimes {
        fork: ForkId,
        ino: Ino,
        atime: SetTime,
        mtime: SetTime,
    },
    SetTimesAt {
        fork: ForkId,
        dir: Ino,
        path: String,
        follow: bool,
        atime: SetTime,
        mtime: SetTime,
    },
    CreateDirAt {
        fork: ForkId,
        dir: Ino,
        path: String,
    },
    RemoveDirAt {
        fork: ForkId,
        dir: Ino,
        path: String,
    },
    UnlinkFileAt {
        fork: ForkId,
        dir: Ino,
        path: String,
    },
    RenameAt {
        fork: ForkId,
        old_dir: Ino,
        old_path: String,
        new_dir: Ino,
        new_path: String,
    },
    LinkAt {
        fork: ForkId,
        old_dir: Ino,
        old_path: String,
        new_dir: Ino,
        new_path: String,
    },
    SymlinkAt {
        fork: ForkId,
        target: String,
        dir: Ino,
        path: String,
    },
    // Reads come here only when the published snapshot lacked base data.
    Stat {
        fork: ForkId,
        ino: Ino,
    },
    StatAt {
        fork: ForkId,
        dir: Ino,
        path: String,
        follow: bool,
    },
    Read {
        fork: ForkId,
        ino: Ino,
        offset: u64,
        len: u64,
    },
    ReadDir {
        fork: ForkId,
        dir: Ino,
        after: Option<String>,
        max: usize,
    },
    ReadlinkAt {
        fork: ForkId,
        dir: Ino,
        path: String,
    },
    Fork {
        parent: ForkId,
    },
    Diff {
        fork: ForkId,
    },
    Commit {
        fork: ForkId,
    },
    Discard {
        fork: ForkId,
    },
    Usage {
        fork: ForkId,
    },
    BudgetUsed,
    Shutdown,
}

impl Op {
    /// The fork whose published snapshot may change when this runs (a
    /// commit changes its parent as well, which the actor looks up).
    pub fn fork_changed(&self) -> Option<ForkId> {
        use Op::*;
        match self {
            OpenRoot { fork }
            | OpenAt { fork, .. }
            | Write { fork, .. }
            | Append { fork, .. }
            | WriteZeroes { fork, .. }
            | SetSize { fork, .. }
            | SetTimes { fork, .. }
            | SetTimesAt { fork, .. }
            | CreateDirAt { fork, .. }
            | RemoveDirAt { fork, .. }
            | UnlinkFileAt { fork, .. }
            | RenameAt { fork, .. }
            | LinkAt { fork, .. }
            | SymlinkAt { fork, .. }
            | Discard { fork }
            | Commit { fork } => Some(*fork),
            Fork { .. }
            | Stat { .. }
            | StatAt { .. }
            | Read { .. }
            | ReadDir { .. }
            | ReadlinkAt { .. }
            | Diff { .. }
            | Usage { .. }
            | BudgetUsed
            | Shutdown => None,
        }
    }
}

/// What an operation returns; each handle method unpacks the one it expects.
#[derive(Debug)]
pub(crate) enum Answer {
    Unit,
    Count(u64),
    Appended(u64, usize),
    Opened(OpenFile),
    Stat(Stat),
    Bytes(Vec<Bytes>),
    Entries(Vec<DirEntry>),
    Text(String),
    Fork(ForkId),
    Changes(Vec<Change>),
    Usage(Usage),
}

/// Where a request's answer goes.
pub(crate) type Reply = oneshot::Sender<Result<Answer, Error>>;

/// What handles tell the actor without waiting for an answer.
#[derive(Debug)]
pub(crate) enum Note {
    /// An open handle given back.
    Release(ForkId, Ino),
    /// A handle taken on a published snapshot (see `VfsHandle::open_at`),
    /// to count; its inode is still there (see `shared`).
    Opened(ForkId, Ino),
}

/// A request in flight: the operation and where its answer goes.
pub(crate) struct Request {
    pub op: Op,
    pub reply: Reply,
}
