//! [`Fork`]: a typed handle on one fork of the filesystem.

use std::fmt;

use bytes::Bytes;

use super::Error;
use super::file::{OpenFile, OpenOptions};
use super::handle::{VfsHandle, served_at_once};
use super::ops::forks::{Commit, Diff, Discard, NewFork, UsageOf};
use super::ops::names::OpenRoot;
use crate::fs::{self, Change, ForkId, Reader, Snapshot, Usage};

/// One fork of a filesystem, on its actor. Cloning is cheap.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), strata::actor::Error> {
/// use strata::actor::VfsBuilder;
/// use strata::fs::MemBase;
///
/// let vfs = VfsBuilder::new().image(MemBase::empty()).spawn();
/// let guest = vfs.root().fork().await?;
/// guest.write_file("out.txt", b"result").await?;
/// assert_eq!(guest.diff().await?.len(), 1);
/// guest.commit().await?;
/// assert_eq!(vfs.root().read_file("out.txt").await?, b"result");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Fork {
    vfs: VfsHandle,
    id: ForkId,
}

impl fmt::Debug for Fork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fork")
            .field("actor", &self.vfs.id())
            .field("id", &self.id)
            .finish()
    }
}

/// Two handles are equal when they name the same fork of the same actor.
impl PartialEq for Fork {
    fn eq(&self, other: &Fork) -> bool {
        self.id == other.id && self.vfs.same_actor(&other.vfs)
    }
}

impl Eq for Fork {}

impl Fork {
    pub(crate) fn new(vfs: VfsHandle, id: ForkId) -> Fork {
        Fork { vfs, id }
    }

    /// The fork's number.
    pub fn id(&self) -> ForkId {
        self.id
    }

    /// The actor it lives on.
    pub fn vfs(&self) -> &VfsHandle {
        &self.vfs
    }

    /// A new O(1) copy-on-write fork of this one.
    pub async fn fork(&self) -> Result<Fork, Error> {
        let id = self.vfs.call(NewFork { parent: self.id }).await?;
        Ok(self.vfs.fork_with_id(id))
    }

    /// The paths this fork changed since it was made.
    pub async fn diff(&self) -> Result<Vec<Change>, Error> {
        self.vfs.call(Diff { fork: self.id }).await
    }

    /// Folds this fork into its parent and closes it, or reports the
    /// conflicting paths and applies nothing. Handles still open in it
    /// fail afterwards with `BadDescriptor`.
    pub async fn commit(&self) -> Result<(), Error> {
        self.vfs.call(Commit { fork: self.id }).await
    }

    /// Throws this fork away.
    pub async fn discard(&self) -> Result<(), Error> {
        self.vfs.call(Discard { fork: self.id }).await
    }

    /// What this fork holds now, against the limits.
    pub async fn usage(&self) -> Result<Usage, Error> {
        self.vfs.call(UsageOf { fork: self.id }).await
    }

    /// The state of the fork now, to read from on any thread. It holds
    /// every write that returned before the call and does not follow later
    /// changes.
    pub async fn snapshot(&self) -> Result<Snapshot, Error> {
        self.vfs.snapshot(self.id).await
    }

    /// Runs `read` on the latest published snapshot, right here on the
    /// caller's thread; `None` if the snapshot lacks base data still to be
    /// fetched, or the actor is changing the fork at this moment (then use
    /// the async methods, which ask the actor).
    pub fn read_snapshot<T>(
        &self,
        read: impl FnOnce(Reader<'_>) -> fs::Result<T>,
    ) -> Option<Result<T, Error>> {
        self.vfs.read_snapshot(self.id, read)
    }

    /// Opens the root directory.
    pub async fn open_root(&self) -> Result<OpenFile, Error> {
        let held = self.vfs.call(OpenRoot { fork: self.id }).await?;
        Ok(OpenFile::from_held(self.vfs.clone(), held))
    }

    /// The whole contents of the file at `path` from the root.
    pub async fn read_file(&self, path: &str) -> Result<Vec<u8>, Error> {
        // The published snapshot, or the actor's while it changes the fork:
        // one version of the whole file either way.
        match self.snapshot().await?.reader().read_file(path) {
            Err(fs::Error::NeedsBase(_)) => {}
            other => return served_at_once(other.map_err(Error::from)).await,
        }
        // Base data is missing: open it through the actor, which fetches it,
        // and read until the end (one read stops at `Limits::max_io`).
        let root = self.open_root().await?;
        let file = root.open_at(path, OpenOptions::new()).await?;
        let size = file.stat().await?.size;
        // (Reserved up front only up to a bound: a size is what the base
        // says, and the data is what it delivers.)
        let mut data = Vec::with_capacity(usize::try_from(size.min(64 << 20)).unwrap_or(0));
        loop {
            let at = data.len() as u64;
            let pieces = file.read(at, size.saturating_sub(at)).await?;
            if pieces.iter().all(Bytes::is_empty) {
                return Ok(data);
            }
            for piece in pieces {
                data.extend_from_slice(&piece);
            }
        }
    }

    /// Creates or replaces the file at `path` (from the root) with `data`.
    pub async fn write_file(&self, path: &str, data: &[u8]) -> Result<(), Error> {
        let options = OpenOptions::new().write(true).create(true).truncate(true);
        let file = self.open_root().await?.open_at(path, options).await?;
        let data = Bytes::copy_from_slice(data);
        let mut offset = 0;
        while offset < data.len() {
            offset += file
                .write(offset as u64, fs::rest_of(&data, offset))
                .await?;
        }
        Ok(())
    }
}
