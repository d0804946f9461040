//! Calls about an fd itself rather than its bytes: close, renumber,
//! prestat, fdstat and its flags, filestat, size, times, sync, advise.
//!
//! Which fds each call accepts follows wasmtime-wasi's p1 (and so what a
//! guest sees there): sync, advise, allocate and size are for files only
//! (`EBADF` on a directory), times and stat for files and directories.

use wasmtime_wasi::p1::types::{
    Advice, Errno, Fd, Fdflags, Fdstat, Filesize, Filestat, Fstflags, Prestat, PrestatDir, Size,
    Timestamp,
};
use wiggle::{GuestMemory, GuestPtr};

use super::P1Ctx;
use super::errno::{P1Result, filetype};
use super::guest::put;
use super::table::{DirFd, Entry, FileFd, rights};
use crate::fs::{SetTime, Stat};
use crate::wasi::descriptor::Descriptor;

/// `fd_close`. Dropping the entry releases its handle in the actor.
pub(super) fn close(ctx: &mut P1Ctx, fd: Fd) -> P1Result<()> {
    ctx.fds.remove(fd).map(drop)
}

/// `fd_renumber`: both numbers must be open; `to` is closed first.
pub(super) fn renumber(ctx: &mut P1Ctx, from: Fd, to: Fd) -> P1Result<()> {
    ctx.fds.renumber(from, to)
}

/// The name a preopened directory was given, or what p1 answers for any
/// other fd: `EBADF` for `fd_prestat_get`, `not_preopen` for
/// `fd_prestat_dir_name` (wasmtime-wasi answers `ENOTDIR` there).
fn preopen_name(ctx: &P1Ctx, fd: Fd, not_preopen: Errno) -> P1Result<&str> {
    match ctx.fds.get(fd)? {
        Entry::Dir(DirFd {
            preopen: Some(name),
            ..
        }) => Ok(name),
        _ => Err(not_preopen.into()),
    }
}

/// `fd_prestat_get`.
pub(super) fn prestat(ctx: &P1Ctx, fd: Fd) -> P1Result<Prestat> {
    let name = preopen_name(ctx, fd, Errno::Badf)?;
    let pr_name_len = Size::try_from(name.len())?;
    Ok(Prestat::Dir(PrestatDir { pr_name_len }))
}

/// `fd_prestat_dir_name`: the name, without a NUL, if it fits in `room`.
pub(super) fn prestat_name(
    ctx: &P1Ctx,
    mem: &mut GuestMemory<'_>,
    fd: Fd,
    into: GuestPtr<u8>,
    room: Size,
) -> P1Result<()> {
    let name = preopen_name(ctx, fd, Errno::Notdir)?;
    if name.len() > room as usize {
        return Err(Errno::Nametoolong.into());
    }
    put(mem, into, name.as_bytes()).map(drop)
}

/// `fd_fdstat_get`.
pub(super) fn fdstat(ctx: &P1Ctx, fd: Fd) -> P1Result<Fdstat> {
    let entry = ctx.fds.get(fd)?;
    let (fs_rights_base, fs_rights_inheriting) = rights(entry);
    let (fs_filetype, fs_flags) = match entry {
        Entry::Stdin(s) => (s.filetype, Fdflags::empty()),
        Entry::Output(o) => (o.filetype, Fdflags::empty()),
        Entry::File(f) => (filetype(f.desc.kind()), f.flags),
        Entry::Dir(d) => (filetype(d.desc.kind()), Fdflags::empty()),
    };
    Ok(Fdstat {
        fs_filetype,
        fs_flags,
        fs_rights_base,
        fs_rights_inheriting,
    })
}

/// `fd_fdstat_set_flags`: only `APPEND` and `NONBLOCK` can change, on
/// files; the sync flags cannot be set after opening (`EINVAL`).
pub(super) fn set_flags(ctx: &mut P1Ctx, fd: Fd, flags: Fdflags) -> P1Result<()> {
    let file = ctx.fds.file_mut(fd)?;
    if flags.intersects(Fdflags::DSYNC | Fdflags::RSYNC | Fdflags::SYNC) {
        return Err(Errno::Inval.into());
    }
    file.flags = flags & FileFd::KEPT;
    Ok(())
}

/// `fd_fdstat_set_rights`: rights cannot be dropped here (`ENOTSUP`, as
/// in wasmtime-wasi); stdio is `EBADF`.
pub(super) fn set_rights(ctx: &P1Ctx, fd: Fd) -> P1Result<()> {
    ctx.fds.descriptor(fd)?;
    Err(Errno::Notsup.into())
}

/// p1's `filestat` of `stat`, an object in `d`'s filesystem.
pub(super) fn filestat(d: &Descriptor, stat: Stat) -> P1Result<Filestat> {
    Ok(Filestat {
        dev: 1,
        ino: d.identity(stat.ino),
        filetype: filetype(stat.kind),
        nlink: stat.nlink,
        size: stat.size,
        atim: nanos(stat.atime)?,
        mtim: nanos(stat.mtime)?,
        ctim: nanos(stat.ctime)?,
    })
}

/// A time as p1's nanoseconds since the epoch (`EOVERFLOW` past 2554).
fn nanos(t: crate::fs::Timestamp) -> P1Result<Timestamp> {
    t.seconds
        .checked_mul(1_000_000_000)
        .and_then(|ns| ns.checked_add(u64::from(t.nanoseconds)))
        .ok_or_else(|| Errno::Overflow.into())
}

/// `fd_filestat_get`. Stdio has no metadata but its type.
pub(super) async fn stat(ctx: &mut P1Ctx, fd: Fd) -> P1Result<Filestat> {
    let stdio = match ctx.fds.get(fd)? {
        Entry::Stdin(s) => Some(s.filetype),
        Entry::Output(o) => Some(o.filetype),
        Entry::File(_) | Entry::Dir(_) => None,
    };
    let Some(filetype) = stdio else {
        // (Only the descriptor may be held across the wait: stdio streams
        // are not `Sync`.)
        let desc = ctx.fds.descriptor(fd)?;
        return filestat(desc, desc.stat().await?);
    };
    Ok(Filestat {
        dev: 0,
        ino: 0,
        filetype,
        nlink: 0,
        size: 0,
        atim: 0,
        mtim: 0,
        ctim: 0,
    })
}

/// `fd_filestat_set_size`.
pub(super) async fn set_size(ctx: &mut P1Ctx, fd: Fd, size: Filesize) -> P1Result<()> {
    Ok(ctx.fds.file(fd)?.desc.set_size(size).await?)
}

/// One of a `*_set_times` call's two times, from its value and flags.
pub(super) fn set_time(
    value: Timestamp,
    flags: Fstflags,
    given: Fstflags,
    now: Fstflags,
) -> P1Result<SetTime> {
    match (flags.contains(given), flags.contains(now)) {
        (true, true) => Err(Errno::Inval.into()),
        (false, true) => Ok(SetTime::Now),
        (false, false) => Ok(SetTime::Keep),
        (true, false) => {
            let (seconds, nanos) = (value / 1_000_000_000, (value % 1_000_000_000) as u32);
            let at = crate::fs::Timestamp::new(seconds, nanos).ok_or(Errno::Overflow)?;
            Ok(SetTime::At(at))
        }
    }
}

/// The access and modification times a `*_set_times` call asks for.
pub(super) fn new_times(
    atime: Timestamp,
    mtime: Timestamp,
    flags: Fstflags,
) -> P1Result<(SetTime, SetTime)> {
    let atime = set_time(atime, flags, Fstflags::ATIM, Fstflags::ATIM_NOW)?;
    let mtime = set_time(mtime, flags, Fstflags::MTIM, Fstflags::MTIM_NOW)?;
    Ok((atime, mtime))
}

/// `fd_filestat_set_times`.
pub(super) async fn set_times(
    ctx: &mut P1Ctx,
    fd: Fd,
    atime: Timestamp,
    mtime: Timestamp,
    flags: Fstflags,
) -> P1Result<()> {
    let (atime, mtime) = new_times(atime, mtime, flags)?;
    Ok(ctx.fds.descriptor(fd)?.set_times(atime, mtime).await?)
}

/// `fd_sync` and `fd_datasync`: nothing to flush in memory; the file must
/// still be there.
pub(super) async fn sync(ctx: &mut P1Ctx, fd: Fd) -> P1Result<()> {
    Ok(ctx.fds.file(fd)?.desc.sync().await?)
}

/// `fd_advise`: everything is in memory already, so advice changes
/// nothing; only the fd is checked.
pub(super) fn advise(ctx: &P1Ctx, fd: Fd, _advice: Advice) -> P1Result<()> {
    ctx.fds.file(fd).map(drop)
}

/// `fd_allocate`: not supported (as in wasmtime-wasi, which dropped it:
/// WASI removed it from later versions); only the fd is checked.
pub(super) fn allocate(ctx: &P1Ctx, fd: Fd) -> P1Result<()> {
    ctx.fds.file(fd)?;
    Err(Errno::Notsup.into())
}
