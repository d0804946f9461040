//! [`OpenFile`]: a typed handle on an open file, directory or symlink, and
//! the options of opening one.

use std::fmt;

use bytes::Bytes;

use super::Error;
use super::fork::Fork;
use super::handle::VfsHandle;
use super::ops::Held;
use super::ops::files::{Append, ReadData, SetSize, SetTimes, StatOf, Write, WriteZeroes};
use super::ops::names::{
    CreateDir, Link, ReadDir, ReadlinkAt, RemoveDir, Rename, SetTimesAt, StatAt, Symlink,
    UnlinkFile,
};
use crate::fs::{
    self, DirEntry, Errno, ForkId, Ino, Kind, Limits, OpenFlags, Reader, SetTime, Stat,
};

/// Whether a path's final symlink is followed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FollowSymlinks {
    /// Act on what the symlink points at.
    #[default]
    Yes,
    /// Act on the symlink itself.
    No,
}

impl FollowSymlinks {
    pub(super) fn follows(self) -> bool {
        self == FollowSymlinks::Yes
    }
}

/// How [`OpenFile::open_at`] opens a path, in the shape of
/// `std::fs::OpenOptions`: by default, for reading, following symlinks.
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenOptions {
    flags: OpenFlags,
    create_new: bool,
    write: bool,
    pub(super) follow: FollowSymlinks,
}

impl OpenOptions {
    /// Read-only, create nothing, follow symlinks.
    pub fn new() -> OpenOptions {
        OpenOptions::default()
    }

    /// Open for writing too.
    pub fn write(mut self, write: bool) -> Self {
        self.write = write;
        self
    }

    /// Create the file if it does not exist (implies writing).
    pub fn create(mut self, create: bool) -> Self {
        self.flags.create = create;
        self
    }

    /// Create the file, failing with `Exist` if anything has the name
    /// (a final symlink is then not followed).
    pub fn create_new(mut self, create_new: bool) -> Self {
        self.create_new = create_new;
        self
    }

    /// Truncate the file to nothing (implies writing).
    pub fn truncate(mut self, truncate: bool) -> Self {
        self.flags.truncate = truncate;
        self
    }

    /// Fail with `NotDirectory` unless it is a directory.
    pub fn directory(mut self, directory: bool) -> Self {
        self.flags.directory = directory;
        self
    }

    /// Whether a final symlink is followed.
    pub fn follow(mut self, follow: FollowSymlinks) -> Self {
        self.follow = follow;
        self
    }

    /// Create, exclusive, truncate and directory as the core's flags say
    /// (replacing what `create`, `create_new`, `truncate` and `directory`
    /// set).
    pub fn flags(mut self, flags: OpenFlags) -> Self {
        self.flags = flags;
        self.create_new = false;
        self
    }

    /// The core's flags these options amount to.
    pub(super) fn core_flags(&self) -> OpenFlags {
        OpenFlags {
            create: self.flags.create || self.create_new,
            exclusive: self.flags.exclusive || self.create_new,
            ..self.flags
        }
    }

    /// Whether opening with these writes: asked to, or creating or
    /// truncating.
    pub(super) fn writes(&self) -> bool {
        let flags = self.core_flags();
        self.write || flags.create || flags.truncate
    }
}

/// An object held open: a file, a directory or a symlink of one fork.
/// Dropping it gives the handle back to the actor (so an unlinked file goes
/// away with its last `OpenFile`).
///
/// File methods (`read`, `write`, …) act on its data; directory methods
/// (`open_at`, `stat_at`, `rename_at`, …) take paths relative to it, which
/// can never lead above it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), strata::actor::Error> {
/// use bytes::Bytes;
/// use strata::actor::{OpenOptions, VfsBuilder};
///
/// let vfs = VfsBuilder::new().spawn();
/// let root = vfs.root().open_root().await?;
/// root.create_dir_at("logs").await?;
/// let log = root
///     .open_at("logs/today", OpenOptions::new().write(true).create(true))
///     .await?;
/// log.append(Bytes::from_static(b"started\n")).await?;
/// assert_eq!(log.stat().await?.size, 8);
/// # Ok(())
/// # }
/// ```
pub struct OpenFile {
    vfs: VfsHandle,
    fork: ForkId,
    ino: Ino,
    kind: Kind,
    /// Gives the handle back on drop (see `into_raw`).
    armed: bool,
}

impl fmt::Debug for OpenFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenFile")
            .field("fork", &self.fork)
            .field("ino", &self.ino)
            .field("kind", &self.kind)
            .finish()
    }
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        if self.armed {
            // If the actor is gone, so is everything there was to release.
            self.vfs.release(self.fork, self.ino);
        }
    }
}

impl OpenFile {
    /// Takes over a handle the actor took.
    pub(crate) fn from_held(vfs: VfsHandle, held: Held) -> OpenFile {
        let (fork, ino, kind) = held.keep();
        OpenFile::new(vfs, fork, ino, kind)
    }

    /// Takes over a handle already counted for `fork`.
    pub(super) fn new(vfs: VfsHandle, fork: ForkId, ino: Ino, kind: Kind) -> OpenFile {
        OpenFile {
            vfs,
            fork,
            ino,
            kind,
            armed: true,
        }
    }

    /// Disarms the guard: the caller now owns the handle and must give it
    /// back with `VfsHandle::release`.
    pub(crate) fn into_raw(mut self) -> (ForkId, Ino) {
        self.armed = false;
        (self.fork, self.ino)
    }

    /// The fork it was opened in.
    pub fn fork(&self) -> Fork {
        self.vfs.fork_with_id(self.fork)
    }

    /// The number of the fork it was opened in.
    pub fn fork_id(&self) -> ForkId {
        self.fork
    }

    /// The actor it lives on.
    pub fn vfs(&self) -> &VfsHandle {
        &self.vfs
    }

    /// The object's inode number.
    pub fn ino(&self) -> Ino {
        self.ino
    }

    /// File, directory or symlink.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The limits of its filesystem.
    pub fn limits(&self) -> &Limits {
        self.vfs.limits()
    }

    /// Whether `other` is open in the same fork of the same actor (renames
    /// and links work only there).
    pub fn same_fork(&self, other: &OpenFile) -> bool {
        self.fork == other.fork && self.vfs.same_actor(&other.vfs)
    }

    /// Runs `read` on the latest published snapshot of its fork, on the
    /// caller's thread; `None` if that lacks base data (see
    /// [`Fork::read_snapshot`]).
    pub(crate) fn read_snapshot<T>(
        &self,
        read: impl FnOnce(Reader<'_>) -> fs::Result<T>,
    ) -> Option<Result<T, Error>> {
        self.vfs.read_snapshot(self.fork, read)
    }

    // ---- the object itself ---------------------------------------------

    /// Its metadata.
    pub async fn stat(&self) -> Result<Stat, Error> {
        self.vfs
            .read(StatOf {
                fork: self.fork,
                ino: self.ino,
            })
            .await
    }

    /// Up to `len` bytes at `offset`, as slices shared with the file's
    /// chunks.
    pub async fn read(&self, offset: u64, len: u64) -> Result<Vec<Bytes>, Error> {
        let op = ReadData {
            fork: self.fork,
            ino: self.ino,
            offset,
            len,
        };
        self.vfs.read(op).await
    }

    /// Writes `data` at `offset`; returns the count written.
    pub async fn write(&self, offset: u64, data: Bytes) -> Result<usize, Error> {
        let op = Write {
            fork: self.fork,
            ino: self.ino,
            offset,
            data,
        };
        self.vfs.call(op).await
    }

    /// Writes `data` at the end of the file; returns where it went and the
    /// count.
    pub async fn append(&self, data: Bytes) -> Result<(u64, usize), Error> {
        let op = Append {
            fork: self.fork,
            ino: self.ino,
            data,
        };
        self.vfs.call(op).await
    }

    /// Makes `len` bytes at `offset` read as zeros; returns the count.
    pub async fn write_zeroes(&self, offset: u64, len: u64) -> Result<u64, Error> {
        let op = WriteZeroes {
            fork: self.fork,
            ino: self.ino,
            offset,
            len,
        };
        self.vfs.call(op).await
    }

    /// Truncates or extends the file.
    pub async fn set_size(&self, size: u64) -> Result<(), Error> {
        let op = SetSize {
            fork: self.fork,
            ino: self.ino,
            size,
        };
        self.vfs.call(op).await
    }

    /// Sets its access and modification times.
    pub async fn set_times(&self, atime: SetTime, mtime: SetTime) -> Result<(), Error> {
        let op = SetTimes {
            fork: self.fork,
            ino: self.ino,
            atime,
            mtime,
        };
        self.vfs.call(op).await
    }

    // ---- paths under this directory --------------------------------------

    /// Opens (and maybe creates) `path`.
    ///
    /// An open that changes nothing (no file to create, none to truncate)
    /// runs on the published snapshot, like a read, and tells the actor
    /// without waiting for it; only the others make a round trip.
    pub async fn open_at(&self, path: &str, options: OpenOptions) -> Result<OpenFile, Error> {
        self.vfs.open_at(self.fork, self.ino, path, options).await
    }

    /// Metadata of `path`.
    pub async fn stat_at(&self, path: &str, follow: FollowSymlinks) -> Result<Stat, Error> {
        let op = StatAt {
            fork: self.fork,
            dir: self.ino,
            path: path.into(),
            follow: follow.follows(),
        };
        self.vfs.read(op).await
    }

    /// Up to `max` entries of this directory after the name `after`, in
    /// name order: resuming after a name stays correct while entries come
    /// and go.
    pub async fn read_dir(&self, after: Option<&str>, max: usize) -> Result<Vec<DirEntry>, Error> {
        let op = ReadDir {
            fork: self.fork,
            dir: self.ino,
            after: after.map(str::to_owned),
            max,
        };
        self.vfs.read(op).await
    }

    /// The target of the symlink at `path`.
    pub async fn readlink_at(&self, path: &str) -> Result<String, Error> {
        let op = ReadlinkAt {
            fork: self.fork,
            dir: self.ino,
            path: path.into(),
        };
        self.vfs.read(op).await
    }

    /// Creates a directory.
    pub async fn create_dir_at(&self, path: &str) -> Result<(), Error> {
        let op = CreateDir {
            fork: self.fork,
            dir: self.ino,
            path: path.into(),
        };
        self.vfs.call(op).await
    }

    /// Removes an empty directory.
    pub async fn remove_dir_at(&self, path: &str) -> Result<(), Error> {
        let op = RemoveDir {
            fork: self.fork,
            dir: self.ino,
            path: path.into(),
        };
        self.vfs.call(op).await
    }

    /// Removes a name of a file or symlink.
    pub async fn unlink_file_at(&self, path: &str) -> Result<(), Error> {
        let op = UnlinkFile {
            fork: self.fork,
            dir: self.ino,
            path: path.into(),
        };
        self.vfs.call(op).await
    }

    /// Moves `old_path` (under this directory) to `new_path` under
    /// `new_dir`, atomically. `CrossDevice` if `new_dir` is in another fork.
    pub async fn rename_at(
        &self,
        old_path: &str,
        new_dir: &OpenFile,
        new_path: &str,
    ) -> Result<(), Error> {
        if !self.same_fork(new_dir) {
            return Err(Errno::CrossDevice.into());
        }
        let op = Rename {
            fork: self.fork,
            old_dir: self.ino,
            old_path: old_path.into(),
            new_dir: new_dir.ino,
            new_path: new_path.into(),
        };
        self.vfs.call(op).await
    }

    /// Links `old_path` (under this directory) as `new_path` under
    /// `new_dir`. `CrossDevice` if `new_dir` is in another fork.
    pub async fn link_at(
        &self,
        old_path: &str,
        new_dir: &OpenFile,
        new_path: &str,
    ) -> Result<(), Error> {
        if !self.same_fork(new_dir) {
            return Err(Errno::CrossDevice.into());
        }
        let op = Link {
            fork: self.fork,
            old_dir: self.ino,
            old_path: old_path.into(),
            new_dir: new_dir.ino,
            new_path: new_path.into(),
        };
        self.vfs.call(op).await
    }

    /// Creates a symlink at `path` pointing at `target`.
    pub async fn symlink_at(&self, target: &str, path: &str) -> Result<(), Error> {
        let op = Symlink {
            fork: self.fork,
            target: target.into(),
            dir: self.ino,
            path: path.into(),
        };
        self.vfs.call(op).await
    }

    /// Sets the access and modification times of `path`.
    pub async fn set_times_at(
        &self,
        path: &str,
        follow: FollowSymlinks,
        atime: SetTime,
        mtime: SetTime,
    ) -> Result<(), Error> {
        let op = SetTimesAt {
            fork: self.fork,
            dir: self.ino,
            path: path.into(),
            follow: follow.follows(),
            atime,
            mtime,
        };
        self.vfs.call(op).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_options_combine_as_std_does() {
        let flags = |o: OpenOptions| (o.core_flags().create, o.core_flags().exclusive, o.writes());
        assert_eq!(flags(OpenOptions::new()), (false, false, false));
        assert_eq!(flags(OpenOptions::new().create(true)), (true, false, true));
        assert_eq!(
            flags(OpenOptions::new().create_new(true)),
            (true, true, true)
        );
        // Unsetting `create_new` leaves `create` as it was.
        let unset = OpenOptions::new()
            .create(true)
            .create_new(true)
            .create_new(false);
        assert_eq!(flags(unset), (true, false, true));
        assert!(flags(OpenOptions::new().truncate(true)).2);
    }
}
