//! Calls on a path under a directory fd: open, stat, times, mkdir, rmdir,
//! unlink, symlink, readlink, rename, link.
//!
//! Each is one [`Descriptor`] method; what is left here is p1's side:
//! finding the directory (a non-directory fd is `EBADF`, except that
//! `path_open` answers `ENOTDIR` for a file, as wasmtime-wasi does),
//! copying the path out of the guest within the call's allowance, and
//! turning p1's flags into the descriptor's options.

use wasmtime_wasi::p1::types::{
    Errno, Fd, Fdflags, Filestat, Fstflags, Lookupflags, Oflags, Rights, Size, Timestamp,
};
use wiggle::{GuestMemory, GuestPtr};

use super::P1Ctx;
use super::errno::P1Result;
use super::fdops::{filestat, new_times};
use super::guest::{Allowance, put};
use super::table::{DirFd, Entry, FileFd};
use crate::fs::OpenFlags;
use crate::wasi::descriptor::{Descriptor, OpenOptions};

/// A guest path argument: where it is and how its last component resolves.
pub(super) struct Lookup {
    pub dir: Fd,
    pub path: GuestPtr<str>,
    pub follow: bool,
}

impl Lookup {
    pub fn new(dir: Fd, flags: Lookupflags, path: GuestPtr<str>) -> Lookup {
        Lookup {
            dir,
            path,
            follow: flags.contains(Lookupflags::SYMLINK_FOLLOW),
        }
    }

    /// A lookup that does not follow a final symlink.
    pub fn nofollow(dir: Fd, path: GuestPtr<str>) -> Lookup {
        Lookup::new(dir, Lookupflags::empty(), path)
    }
}

/// The directory and the path a lookup names.
fn resolve<'c>(
    ctx: &'c mut P1Ctx,
    mem: &GuestMemory<'_>,
    lookup: &Lookup,
) -> P1Result<(&'c Descriptor, String)> {
    let dir = &ctx.fds.dir(lookup.dir)?.desc;
    let path = Allowance(&mut ctx.allowance).string(mem, lookup.path)?;
    Ok((dir, path))
}

/// How `path_open` was asked to open.
pub(super) struct OpenRequest {
    pub oflags: Oflags,
    pub rights: Rights,
    pub fdflags: Fdflags,
}

/// `path_open`: opens a file or directory and gives it the next fd.
pub(super) async fn open(
    ctx: &mut P1Ctx,
    mem: &GuestMemory<'_>,
    at: Lookup,
    how: OpenRequest,
) -> P1Result<Fd> {
    let path = Allowance(&mut ctx.allowance).string(mem, at.path)?;
    let dir = match ctx.fds.get(at.dir)? {
        Entry::Dir(d) => &d.desc,
        Entry::File(_) => return Err(Errno::Notdir.into()),
        Entry::Stdin(_) | Entry::Output(_) => return Err(Errno::Badf.into()),
    };
    let OpenRequest {
        oflags,
        rights,
        fdflags,
    } = how;
    let options = OpenOptions {
        follow: at.follow,
        flags: OpenFlags {
            create: oflags.contains(Oflags::CREAT),
            directory: oflags.contains(Oflags::DIRECTORY),
            exclusive: oflags.contains(Oflags::EXCL),
            truncate: oflags.contains(Oflags::TRUNC),
        },
        read: rights.contains(Rights::FD_READ),
        write: rights.contains(Rights::FD_WRITE),
        sync: fdflags.intersects(Fdflags::SYNC | Fdflags::DSYNC | Fdflags::RSYNC),
    };
    let desc = dir.open_at(&path, options).await?;
    let entry = if desc.is_dir() {
        Entry::Dir(DirFd {
            desc,
            preopen: None,
            cookies: ctx.fds.new_cookies(),
        })
    } else {
        Entry::File(FileFd {
            desc,
            cursor: 0,
            flags: fdflags & FileFd::KEPT,
        })
    };
    ctx.fds.insert(entry)
}

/// `path_filestat_get`.
pub(super) async fn stat(ctx: &mut P1Ctx, mem: &GuestMemory<'_>, at: Lookup) -> P1Result<Filestat> {
    let (dir, path) = resolve(ctx, mem, &at)?;
    filestat(dir, dir.stat_at(&path, at.follow).await?)
}

/// `path_filestat_set_times`.
pub(super) async fn set_times(
    ctx: &mut P1Ctx,
    mem: &GuestMemory<'_>,
    at: Lookup,
    atime: Timestamp,
    mtime: Timestamp,
    flags: Fstflags,
) -> P1Result<()> {
    let (atime, mtime) = new_times(atime, mtime, flags)?;
    let (dir, path) = resolve(ctx, mem, &at)?;
    Ok(dir.set_times_at(&path, at.follow, atime, mtime).await?)
}

/// `path_create_directory`.
pub(super) async fn create_dir(ctx: &mut P1Ctx, mem: &GuestMemory<'_>, at: Lookup) -> P1Result<()> {
    let (dir, path) = resolve(ctx, mem, &at)?;
    Ok(dir.create_dir_at(&path).await?)
}

/// `path_remove_directory`.
pub(super) async fn remove_dir(ctx: &mut P1Ctx, mem: &GuestMemory<'_>, at: Lookup) -> P1Result<()> {
    let (dir, path) = resolve(ctx, mem, &at)?;
    Ok(dir.remove_dir_at(&path).await?)
}

/// `path_unlink_file`.
pub(super) async fn unlink(ctx: &mut P1Ctx, mem: &GuestMemory<'_>, at: Lookup) -> P1Result<()> {
    let (dir, path) = resolve(ctx, mem, &at)?;
    Ok(dir.unlink_file_at(&path).await?)
}

/// `path_symlink`: a symlink at `at` pointing at `target`.
pub(super) async fn symlink(
    ctx: &mut P1Ctx,
    mem: &GuestMemory<'_>,
    target: GuestPtr<str>,
    at: Lookup,
) -> P1Result<()> {
    let dir = &ctx.fds.dir(at.dir)?.desc;
    let mut allowance = Allowance(&mut ctx.allowance);
    let target = allowance.string(mem, target)?;
    let path = allowance.string(mem, at.path)?;
    Ok(dir.symlink_at(&target, &path).await?)
}

/// `path_readlink`: the target, cut to the buffer (no NUL), and its
/// length as written.
pub(super) async fn readlink(
    ctx: &mut P1Ctx,
    mem: &mut GuestMemory<'_>,
    at: Lookup,
    into: GuestPtr<u8>,
    room: Size,
) -> P1Result<Size> {
    let (dir, path) = resolve(ctx, mem, &at)?;
    let target = dir.readlink_at(&path).await?;
    let bytes = target.as_bytes();
    let bytes = &bytes[..bytes.len().min(room as usize)];
    put(mem, into, bytes)?;
    Ok(Size::try_from(bytes.len())?)
}

/// `path_rename`.
pub(super) async fn rename(
    ctx: &mut P1Ctx,
    mem: &GuestMemory<'_>,
    from: Lookup,
    to: Lookup,
) -> P1Result<()> {
    let (old_dir, new_dir) = (&ctx.fds.dir(from.dir)?.desc, &ctx.fds.dir(to.dir)?.desc);
    let mut allowance = Allowance(&mut ctx.allowance);
    let old_path = allowance.string(mem, from.path)?;
    let new_path = allowance.string(mem, to.path)?;
    Ok(old_dir.rename_at(&old_path, new_dir, &new_path).await?)
}

/// `path_link`: a new name `to` for what `from` names.
pub(super) async fn link(
    ctx: &mut P1Ctx,
    mem: &GuestMemory<'_>,
    from: Lookup,
    to: Lookup,
) -> P1Result<()> {
    let (old_dir, new_dir) = (&ctx.fds.dir(from.dir)?.desc, &ctx.fds.dir(to.dir)?.desc);
    let mut allowance = Allowance(&mut ctx.allowance);
    let old_path = allowance.string(mem, from.path)?;
    let new_path = allowance.string(mem, to.path)?;
    Ok(old_dir
        .link_at(&old_path, from.follow, new_dir, &new_path)
        .await?)
}
