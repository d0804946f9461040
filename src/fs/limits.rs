//! What a guest may make the host spend, and what it has spent.
//!
//! Every size a guest controls is checked against [`Limits`] *before* any
//! memory is allocated for it, and answered with the errno a POSIX system
//! would give (`ENOSPC`, `EFBIG`, `ENAMETOOLONG`, …). A single read or write
//! larger than [`Limits::max_io`] is not an error: like Linux with its
//! `MAX_RW_COUNT`, the core performs a short read or write and reports the
//! count, which every POSIX caller must already handle.

use super::error::Errno;

/// Bounds on what one fork may hold. The defaults protect a host that runs
/// many guests: each fork can hold at most 1 GiB of file data and a million
/// inodes, whatever the guest does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// File bytes a fork may hold in its own (upper) layer. Data shared with
    /// the base is not charged; data shared with a parent fork is charged to
    /// both, so a fork's usage never depends on what its parent does later.
    pub max_bytes: u64,
    /// Inodes (files, directories, symlinks) a fork may create.
    pub max_inodes: u64,
    /// Largest size a file may reach (writes, `set-size`).
    pub max_file_size: u64,
    /// Longest path argument, in bytes.
    pub max_path_len: usize,
    /// Most components resolved for one path argument, counting the
    /// components that symlinks expand to.
    pub max_path_depth: usize,
    /// Longest single name (path component), in bytes.
    pub max_name_len: usize,
    /// Largest single read, write or zero-fill; larger requests are cut short.
    /// At least 1 (a filesystem built with 0 uses 1).
    pub max_io: u64,
    /// Symlinks followed while resolving one path before `ELOOP`.
    pub max_symlinks: u32,
    /// Hard links to one file before `EMLINK`.
    pub max_links: u64,
    /// Objects a fork may hold open at once (descriptors, preopens).
    pub max_open: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 1 << 30,
            max_inodes: 1 << 20,
            max_file_size: 1 << 30,
            max_path_len: 4096,
            max_path_depth: 4096,
            max_name_len: 255,
            max_io: 16 << 20,
            max_symlinks: 40,
            max_links: 65_000,
            max_open: 4096,
        }
    }
}

impl Limits {
    /// No practical bounds: for trusted hosts and benchmarks.
    pub fn unlimited() -> Limits {
        Limits {
            max_bytes: u64::MAX,
            max_inodes: u64::MAX,
            max_file_size: i64::MAX as u64,
            max_path_len: usize::MAX,
            max_path_depth: usize::MAX,
            max_name_len: usize::MAX,
            max_io: u64::MAX,
            max_symlinks: 40,
            max_links: u64::MAX,
            max_open: u64::MAX,
        }
    }
}

/// Bounds on what one [`Vfs`](super::Vfs) may hold in memory, all its forks
/// together: [`Limits`] bound each fork, this bounds the host. The defaults
/// let a host run many guests at their full per-fork limits while keeping
/// all their file data within 8 GiB and their inodes within 8 Mi.
///
/// What counts is what is alive: every chunk of file data, every symlink
/// target and every inode of the upper layer that some fork, fork origin,
/// published snapshot or reader still holds, each once however many share
/// it (the base is not counted). So forking costs nothing however much the
/// parent holds, data a parent deletes still counts while a child keeps it,
/// and a fork that rewrites what it inherited counts the new copy. (Bytes a
/// write takes from another file's chunk, as a splice does, count again:
/// the safe side.)
///
/// A write that would build more chunk data than the budget has room for
/// fails with `InsufficientSpace` before it allocates — counting the new
/// chunks it builds, not the old ones they may free — and so do the
/// creation of an inode and copying a base inode up to change it, past
/// the bound. An operation that only takes names away (unlink, rmdir,
/// rename) is never refused, so that deleting always works.
///
/// Not counted: the names in directories (each fork's are bounded by its
/// inodes, `max_links` and `max_name_len`) and the base cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Bytes of file data and symlink targets alive, all forks together.
    pub max_bytes: u64,
    /// Inodes of the upper layer alive, all forks together.
    pub max_inodes: u64,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            max_bytes: 8 << 30,
            max_inodes: 8 << 20,
        }
    }
}

impl Budget {
    /// No bound beyond each fork's [`Limits`].
    pub fn unlimited() -> Budget {
        Budget {
            max_bytes: u64::MAX,
            max_inodes: u64::MAX,
        }
    }
}

/// What a fork currently holds, to compare against [`Limits`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// File bytes held in the fork's own layer.
    pub bytes: u64,
    /// Inodes the fork created and still holds.
    pub inodes: u64,
    /// Handles the fork holds open (filled in by [`Vfs::usage`](super::Vfs::usage)).
    pub open: u64,
}

impl Usage {
    /// Accounts for `delta` more (or fewer) bytes, refusing to pass `cap`.
    pub(crate) fn add_bytes(&mut self, delta: i64, cap: u64) -> Result<(), Errno> {
        let next = self
            .bytes
            .checked_add_signed(delta)
            .ok_or(Errno::Overflow)?;
        if delta > 0 && next > cap {
            return Err(Errno::InsufficientSpace);
        }
        self.bytes = next;
        Ok(())
    }

    /// Accounts for one more inode, refusing to pass `cap`.
    pub(crate) fn add_inode(&mut self, cap: u64) -> Result<(), Errno> {
        if self.inodes >= cap {
            return Err(Errno::InsufficientSpace);
        }
        self.inodes += 1;
        Ok(())
    }

    pub(crate) fn remove_inode(&mut self) {
        self.inodes = self.inodes.saturating_sub(1);
    }
}
