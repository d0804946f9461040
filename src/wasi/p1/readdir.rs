//! `fd_readdir`: a directory listing in cookie-numbered pieces.
//!
//! p1 lists a directory by asking again and again for "the entries after
//! cookie N" into a fixed buffer; an entry that does not fit is cut off and
//! asked for again by the cookie before it. wasmtime-wasi's cookies count
//! entries from the start, so when a guest deletes entries while it lists
//! (Rust's `remove_dir_all` does), the count shifts and entries are
//! skipped.
//!
//! Here a cookie stands for a *name*: the listing resumes after the entry
//! the cookie was handed out with, in the directory's name order, so every
//! entry that exists throughout the listing is seen exactly once, whatever
//! comes and goes meanwhile. Cookie values still count positions (0 before
//! `.`, 1 before `..`, 2 before the first entry, and so on), so an
//! unchanging directory yields the same `d_next` values as under
//! wasmtime-wasi, and a cookie this fd never handed out is read as a count.
//!
//! Each directory fd remembers the cookies it handed out since the listing
//! last started over from 0 (a rewind), up to [`REMEMBERED`] of them beyond
//! the latest call's, so `telldir`/`seekdir` positions stay valid too.

use std::collections::BTreeMap;

use wasmtime_wasi::p1::types::{Dircookie, Dirent, Errno, Fd, Filetype, Size};
use wiggle::{GuestMemory, GuestPtr, GuestType};

use super::P1Ctx;
use super::errno::{P1Result, filetype};
use super::guest::put;
use crate::fs::Name;

/// Cookies kept beyond those of the latest call.
const REMEMBERED: usize = 4096;

/// The first cookie that stands for a real entry (0, 1 and 2 are the
/// positions before `.`, `..` and the first entry).
const FIRST_ENTRY: Dircookie = 3;

/// A directory fd's cookies: each resumes after the name it maps to.
#[derive(Debug, Default)]
pub(super) struct Cookies {
    after: BTreeMap<Dircookie, Name>,
}

/// Where a listing resumes for a cookie.
enum Resume {
    /// At the first entry.
    Start,
    /// After this name.
    After(Name),
    /// After this many entries (a cookie not handed out here).
    Skip(usize),
}

impl Cookies {
    fn resume(&self, cookie: Dircookie) -> P1Result<Resume> {
        if cookie < FIRST_ENTRY {
            return Ok(Resume::Start);
        }
        if let Some(name) = self.after.get(&cookie) {
            return Ok(Resume::After(name.clone()));
        }
        let skip = usize::try_from(cookie - (FIRST_ENTRY - 1)).map_err(|_| Errno::Overflow)?;
        Ok(Resume::Skip(skip))
    }

    /// Records the cookies of one call: `names[i]` was handed out with
    /// cookie `first + i`.
    fn record(&mut self, from: Dircookie, first: Dircookie, names: &[Name]) {
        // A listing from 0 starts over; past the bound, only the latest
        // call's cookies are kept.
        if from == 0 || self.after.len() >= REMEMBERED {
            self.after.clear();
        }
        for (i, name) in names.iter().enumerate() {
            self.after
                .insert(first.saturating_add(i as u64), name.clone());
        }
    }
}

/// One entry as p1 lays it out: the header, then the name (no NUL).
fn encode(out: &mut Vec<u8>, next: Dircookie, ino: u64, kind: Filetype, name: &[u8]) {
    out.extend_from_slice(&next.to_le_bytes());
    out.extend_from_slice(&ino.to_le_bytes());
    let len = u32::try_from(name.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.push(kind as u8);
    out.extend_from_slice(&[0; 3]); // padding to the header's 24 bytes
    out.extend_from_slice(name);
}

/// Lists directory `fd` from `cookie` into the guest's buffer; returns the
/// bytes written — `len` itself when the buffer filled (the last entry may
/// be cut short), which tells the guest to ask again.
pub(super) async fn list(
    ctx: &mut P1Ctx,
    mem: &mut GuestMemory<'_>,
    fd: Fd,
    buf: GuestPtr<u8>,
    len: Size,
    cookie: Dircookie,
) -> P1Result<Size> {
    let dir = ctx.fds.dir_mut(fd)?;
    let resume = dir.cookies.resume(cookie)?;
    let header = Dirent::guest_size();
    let room = usize::try_from(len).map_err(|_| Errno::Overflow)?;
    let self_ino = dir.desc.identity(dir.desc.ino());

    // What will be written, never more than the buffer takes.
    let mut out = Vec::new();
    if cookie == 0 {
        encode(&mut out, 1, self_ino, Filetype::Directory, b".");
    }
    if cookie <= 1 {
        // `..` reports the directory's own inode, as wasmtime-wasi's does:
        // a preopen's parent is not the guest's to see.
        encode(&mut out, 2, self_ino, Filetype::Directory, b"..");
    }

    // Each entry takes at least a header, so this many fill the buffer.
    let fitting = (len / header) as usize + 1;
    let (after, skip) = match resume {
        Resume::Start => (None, 0),
        Resume::After(name) => (Some(name), 0),
        Resume::Skip(n) => (None, n),
    };
    let mut names = Vec::new();
    let first = cookie.max(FIRST_ENTRY - 1).saturating_add(1);
    if out.len() < room {
        let want = skip.saturating_add(fitting);
        let entries = dir.desc.read_dir(after.as_deref(), want).await?;
        for (i, entry) in entries.into_iter().skip(skip).enumerate() {
            if out.len() >= room {
                break;
            }
            let next = first.saturating_add(i as u64);
            let ino = dir.desc.identity(entry.ino);
            encode(
                &mut out,
                next,
                ino,
                filetype(entry.kind),
                entry.name.as_bytes(),
            );
            names.push(entry.name);
        }
    }
    dir.cookies.record(cookie, first, &names);

    out.truncate(room);
    put(mem, buf, &out)?;
    Ok(out.len() as Size)
}
