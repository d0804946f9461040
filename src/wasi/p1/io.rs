//! Moving bytes through an fd: `fd_read`, `fd_pread`, `fd_write`,
//! `fd_pwrite`, `fd_seek`, `fd_tell`.
//!
//! Reads and writes are vectored, as POSIX `readv`/`writev` are: a read
//! fills the guest's buffers in order from one request to the filesystem,
//! and a write gathers them into one host buffer (the write's only copy,
//! which the file may then keep as a chunk). wasmtime-wasi moves only the
//! first non-empty buffer per call; the guest cannot tell but by the
//! counts, which POSIX allows either way.
//!
//! A file's data is cut at `Limits::max_io` and at the call's allowance:
//! a shorter count, never an error.

use wasmtime_wasi::p1::types::{CiovecArray, Errno, Fd, Filedelta, Filesize, IovecArray, Size};
use wasmtime_wasi::p2::StreamError;
use wiggle::GuestMemory;

use super::P1Ctx;
use super::errno::P1Result;
use super::guest::{Allowance, Buffers};
use super::table::Entry;

/// The most a write to stdout or stderr copies at once.
const STDIO_PIECE: u64 = 64 << 10;

/// Where a read or write happens.
#[derive(Clone, Copy, Debug)]
pub(super) enum At {
    /// At the fd's cursor, which moves past the bytes moved.
    Cursor,
    /// At this offset; the cursor stays (`fd_pread`, `fd_pwrite`).
    Offset(Filesize),
}

/// `fd_read` / `fd_pread`.
pub(super) async fn read(
    ctx: &mut P1Ctx,
    mem: &mut GuestMemory<'_>,
    fd: Fd,
    iovs: IovecArray,
    at: At,
) -> P1Result<Size> {
    let mut allowance = Allowance(&mut ctx.allowance);
    let into = Buffers::to_fill(mem, iovs, &mut allowance)?;
    match ctx.fds.get_mut(fd)? {
        Entry::File(file) => {
            let offset = match at {
                At::Cursor => file.cursor,
                At::Offset(offset) => offset,
            };
            // (The filesystem itself cuts a read at `Limits::max_io`, and
            // hands out shared slices of its chunks: nothing is copied but
            // into the guest.)
            let len = allowance.take_data(into.total())?;
            let pieces = file.desc.read(offset, len).await?;
            let count = into.fill(mem, &pieces)?;
            if let At::Cursor = at {
                file.cursor = offset
                    .checked_add(u64::from(count))
                    .ok_or(Errno::Overflow)?;
            }
            Ok(count)
        }
        Entry::Stdin(stdin) => {
            if let At::Offset(_) = at {
                return Err(Errno::Spipe.into());
            }
            let len = allowance.take_data(into.total())?;
            let len = usize::try_from(len).map_err(|_| Errno::Nomem)?;
            if len == 0 {
                return Ok(0); // as POSIX `read` of 0 bytes: no waiting
            }
            let data = match stdin.stream.blocking_read(len).await {
                // End of input reads as zero bytes.
                Err(StreamError::Closed) => return Ok(0),
                // Woken with nothing to read: the guest may try again.
                Ok(data) if data.is_empty() => return Err(Errno::Intr.into()),
                other => other?,
            };
            into.fill(mem, &[data])
        }
        _ => Err(Errno::Badf.into()),
    }
}

/// `fd_write` / `fd_pwrite`.
pub(super) async fn write(
    ctx: &mut P1Ctx,
    mem: &mut GuestMemory<'_>,
    fd: Fd,
    ciovs: CiovecArray,
    at: At,
) -> P1Result<Size> {
    let mut allowance = Allowance(&mut ctx.allowance);
    let from = Buffers::to_drain(mem, ciovs, &mut allowance)?;
    match ctx.fds.get_mut(fd)? {
        Entry::File(file) => {
            let len = allowance.take_data(from.total().min(file.desc.max_io()))?;
            let data = from.gather(mem, len)?;
            // In append mode every write goes to the end, even `fd_pwrite`'s
            // (as Linux `pwrite` does with `O_APPEND`).
            let (start, count) = if file.appends() {
                file.desc.append(data).await?
            } else {
                let offset = match at {
                    At::Cursor => file.cursor,
                    At::Offset(offset) => offset,
                };
                (offset, file.desc.write(offset, data).await?)
            };
            let count = u64::try_from(count).map_err(|_| Errno::Overflow)?;
            if let At::Cursor = at {
                file.cursor = start.checked_add(count).ok_or(Errno::Overflow)?;
            }
            Ok(Size::try_from(count)?)
        }
        Entry::Output(out) => {
            if let At::Offset(_) = at {
                return Err(Errno::Spipe.into());
            }
            // Copied and written a piece at a time: a guest's big write to
            // stdout costs the host a piece, not the whole buffer.
            let len = allowance.take_data(from.total())?;
            let mut done = 0;
            while done < len {
                let piece = from.gather_from(mem, done, (len - done).min(STDIO_PIECE))?;
                if piece.is_empty() {
                    break;
                }
                let len = piece.len() as u64;
                match out.stream.blocking_write_and_flush(piece).await {
                    Ok(()) => done += len,
                    // What went out counts, as a short write.
                    Err(_) if done > 0 => break,
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(Size::try_from(done)?)
        }
        _ => Err(Errno::Badf.into()),
    }
}

/// Where `fd_seek` moves a cursor from.
#[derive(Clone, Copy, Debug)]
pub(super) enum Whence {
    Start,
    Cursor,
    End,
}

/// `fd_seek`: moves the cursor; a position before 0 (or past 2^64) is
/// `EINVAL`. Seeking past the end is allowed, as in POSIX.
pub(super) async fn seek(
    ctx: &mut P1Ctx,
    fd: Fd,
    delta: Filedelta,
    whence: Whence,
) -> P1Result<Filesize> {
    let file = ctx.fds.seekable(fd)?;
    let base = match whence {
        Whence::Start => 0,
        Whence::Cursor => file.cursor,
        Whence::End => file.desc.stat().await?.size,
    };
    let position = base.checked_add_signed(delta).ok_or(Errno::Inval)?;
    file.cursor = position;
    Ok(position)
}

/// `fd_tell`.
pub(super) fn tell(ctx: &mut P1Ctx, fd: Fd) -> P1Result<Filesize> {
    Ok(ctx.fds.seekable(fd)?.cursor)
}
