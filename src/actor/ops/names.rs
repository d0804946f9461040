//! Operations on paths under an open directory, opening included.

use super::{Effect, Exec, Failure, Held, Operation, Read};
use crate::fs::{self, DirEntry, ForkId, Ino, Kind, OpenFlags, Reader, SetTime, Stat};

/// Opens the root directory of a fork.
#[derive(Debug)]
pub(crate) struct OpenRoot {
    pub fork: ForkId,
}

impl Operation for OpenRoot {
    type Output = Held;

    fn effect(&self) -> Effect {
        // Holding an inode changes no snapshot, but the fork's cell counts
        // its handles: keep it published.
        Effect::Publishes(self.fork)
    }

    fn run(&self, on: &mut Exec<'_>) -> Result<Held, Failure> {
        let fork = self.fork;
        on.open_with(fork, |vfs| Ok((vfs.open_root(fork)?, Kind::Dir)))
    }
}

/// Opens (and maybe creates) `path` under the directory `dir`.
#[derive(Debug)]
pub(crate) struct OpenAt {
    pub fork: ForkId,
    pub dir: Ino,
    pub path: String,
    pub follow: bool,
    pub flags: OpenFlags,
    pub write: bool,
}

impl Operation for OpenAt {
    type Output = Held;

    fn effect(&self) -> Effect {
        if self.flags.create || self.flags.truncate {
            Effect::Changes(self.fork)
        } else {
            // As `OpenRoot`: a handle more, the tree as it was.
            Effect::Publishes(self.fork)
        }
    }

    fn run(&self, on: &mut Exec<'_>) -> Result<Held, Failure> {
        let OpenAt {
            fork,
            dir,
            ref path,
            follow,
            flags,
            write,
        } = *self;
        on.open_with(fork, |vfs| {
            vfs.open_at(fork, dir, path, follow, flags, write)
        })
    }
}

/// Declares an operation that changes names under a directory and answers
/// nothing, from its fields and the core call that runs it.
macro_rules! name_change {
    ($(#[$doc:meta])* $name:ident { $($field:ident: $ty:ty),* $(,)? } => |$vfs:ident, $op:ident| $run:expr) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub(crate) struct $name {
            pub fork: ForkId,
            $(pub $field: $ty,)*
        }

        impl Operation for $name {
            type Output = ();

            fn effect(&self) -> Effect {
                Effect::Changes(self.fork)
            }

            fn run(&self, on: &mut Exec<'_>) -> Result<(), Failure> {
                let ($vfs, $op) = (&mut *on.vfs, self);
                Ok($run?)
            }
        }
    };
}

name_change! {
    /// Creates a directory.
    CreateDir { dir: Ino, path: String }
        => |vfs, op| vfs.create_dir_at(op.fork, op.dir, &op.path)
}

name_change! {
    /// Removes an empty directory.
    RemoveDir { dir: Ino, path: String }
        => |vfs, op| vfs.remove_dir_at(op.fork, op.dir, &op.path)
}

name_change! {
    /// Removes a name of a file or symlink.
    UnlinkFile { dir: Ino, path: String }
        => |vfs, op| vfs.unlink_file_at(op.fork, op.dir, &op.path)
}

name_change! {
    /// Moves `old_path` to `new_path` atomically.
    Rename { old_dir: Ino, old_path: String, new_dir: Ino, new_path: String }
        => |vfs, op| vfs.rename_at(op.fork, op.old_dir, &op.old_path, op.new_dir, &op.new_path)
}

name_change! {
    /// Adds a hard link.
    Link { old_dir: Ino, old_path: String, new_dir: Ino, new_path: String }
        => |vfs, op| vfs.link_at(op.fork, op.old_dir, &op.old_path, op.new_dir, &op.new_path)
}

name_change! {
    /// Creates a symlink at `path` pointing at `target`.
    Symlink { target: String, dir: Ino, path: String }
        => |vfs, op| vfs.symlink_at(op.fork, &op.target, op.dir, &op.path)
}

name_change! {
    /// Sets the access and modification times of `path`.
    SetTimesAt { dir: Ino, path: String, follow: bool, atime: SetTime, mtime: SetTime }
        => |vfs, op| vfs.set_times_at(op.fork, op.dir, &op.path, op.follow, op.atime, op.mtime)
}

/// Metadata of `path` under `dir`.
#[derive(Debug)]
pub(crate) struct StatAt {
    pub fork: ForkId,
    pub dir: Ino,
    pub path: String,
    pub follow: bool,
}

impl Read for StatAt {
    type Output = Stat;

    fn fork(&self) -> ForkId {
        self.fork
    }

    fn read(&self, from: Reader<'_>) -> fs::Result<Stat> {
        from.stat_at(self.dir, &self.path, self.follow)
    }
}

/// Up to `max` entries of the directory `dir` after the name `after`.
#[derive(Debug)]
pub(crate) struct ReadDir {
    pub fork: ForkId,
    pub dir: Ino,
    pub after: Option<String>,
    pub max: usize,
}

impl Read for ReadDir {
    type Output = Vec<DirEntry>;

    fn fork(&self) -> ForkId {
        self.fork
    }

    fn read(&self, from: Reader<'_>) -> fs::Result<Vec<DirEntry>> {
        from.read_dir(self.dir, self.after.as_deref(), self.max)
    }
}

/// The target of the symlink at `path`.
#[derive(Debug)]
pub(crate) struct ReadlinkAt {
    pub fork: ForkId,
    pub dir: Ino,
    pub path: String,
}

impl Read for ReadlinkAt {
    type Output = String;

    fn fork(&self) -> ForkId {
        self.fork
    }

    fn read(&self, from: Reader<'_>) -> fs::Result<String> {
        from.readlink_at(self.dir, &self.path)
    }
}
