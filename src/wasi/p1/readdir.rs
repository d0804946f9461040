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
//! Remembering costs the host memory a guest controls, so it is bounded:
//! all the directory fds of one guest together remember at most
//! [`COOKIE_BUDGET`] cookies. A listing from 0 (a rewind) forgets the fd's
//! old ones. When the budget is spent, the fd's smallest cookies — in a
//! forward listing, the oldest — make room for a call's newest ones (the
//! ones the guest asks for next, including the re-ask of an entry that did
//! not fit), never the cookie the call resumed from. A cookie forgotten
//! that way reads as a count again: exact while the directory does not
//! change, as on wasmtime-wasi. So a `telldir` position stays valid while
//! the budget lasts; and a cookie value names the entry it was last handed
//! out with (listing again from an older cookie after names were added
//! before it hands the same values out for the new names).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use wasmtime_wasi::p1::types::{Dircookie, Dirent, Errno, Fd, Filetype, Size};
use wiggle::{GuestMemory, GuestPtr, GuestType};

use super::P1Ctx;
use super::errno::{P1Result, filetype};
use super::guest::{Allowance, put};
use crate::fs::Name;

/// Cookies one guest's directory fds remember, all together.
pub(super) const COOKIE_BUDGET: usize = 65_536;

/// The first cookie that stands for a real entry (0, 1 and 2 are the
/// positions before `.`, `..` and the first entry).
const FIRST_ENTRY: Dircookie = 3;

/// How many cookies a guest's directory fds remember now, against
/// [`COOKIE_BUDGET`]; shared by all of them.
#[derive(Clone, Debug, Default)]
pub(super) struct CookieBudget(Arc<AtomicUsize>);

impl CookieBudget {
    fn spent(&self) -> usize {
        self.0.load(Relaxed)
    }
}

/// A directory fd's cookies: each resumes after the name it maps to.
#[derive(Debug)]
pub(super) struct Cookies {
    after: BTreeMap<Dircookie, Name>,
    budget: CookieBudget,
}

impl Drop for Cookies {
    fn drop(&mut self) {
        self.budget.0.fetch_sub(self.after.len(), Relaxed);
    }
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
    /// No cookies yet, remembered against `budget`.
    pub fn new(budget: CookieBudget) -> Cookies {
        Cookies {
            after: BTreeMap::new(),
            budget,
        }
    }

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

    /// Records the cookies of one call, resumed from cookie `from`:
    /// `names[i]` was handed out with cookie `first + i`. The newest go
    /// first, so they are the ones kept when the budget runs short.
    fn record(&mut self, from: Dircookie, first: Dircookie, names: &[Name]) {
        if from == 0 {
            self.forget_below(Dircookie::MAX, None);
        }
        let mut room = true;
        for (i, name) in names.iter().enumerate().rev() {
            let cookie = first.saturating_add(i as u64);
            if let Some(old) = self.after.get_mut(&cookie) {
                // Already counted: it now names this entry.
                *old = name.clone();
                continue;
            }
            // Make room from this fd's older cookies; once it has none,
            // this call's older new cookies go unremembered (those it
            // already held were updated above, so none names an entry it
            // no longer stands for).
            room = room
                && (self.budget.spent() < COOKIE_BUDGET || self.forget_below(first, Some(from)));
            if room {
                self.budget.0.fetch_add(1, Relaxed);
                self.after.insert(cookie, name.clone());
            }
        }
    }

    /// Forgets the smallest cookie below `limit` (all of them if `keep` is
    /// `None`), sparing `keep`; whether any went.
    fn forget_below(&mut self, limit: Dircookie, keep: Option<Dircookie>) -> bool {
        let Some(keep) = keep else {
            let forgotten = std::mem::take(&mut self.after).len();
            self.budget.0.fetch_sub(forgotten, Relaxed);
            return forgotten > 0;
        };
        let victim = self
            .after
            .range(..limit)
            .map(|(cookie, _)| *cookie)
            .find(|cookie| *cookie != keep);
        match victim {
            Some(cookie) => {
                self.after.remove(&cookie);
                self.budget.0.fetch_sub(1, Relaxed);
                true
            }
            None => false,
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
    out.truncate(room);
    // The host built this much for the guest: charged like any copy (the
    // listing is no longer than the directory, whatever `len` says; a
    // shorter answer would read as the end of the directory, so a listing
    // past the allowance is `ENOMEM`) — before its cookies are remembered.
    Allowance(&mut ctx.allowance).spend(out.len() as u64)?;
    dir.cookies.record(cookie, first, &names);
    put(mem, buf, &out)?;
    Ok(out.len() as Size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(prefix: &str, n: usize) -> Vec<Name> {
        (0..n)
            .map(|i| Name::from(format!("{prefix}{i:06}").as_str()))
            .collect()
    }

    /// However many cookies fds hand out, together they remember at most
    /// the budget; a call's newest cookies and the one it resumed from are
    /// kept; closing an fd gives its share back.
    #[test]
    fn cookies_stay_within_the_budget_and_keep_what_is_asked_next() {
        let budget = CookieBudget::default();
        let mut a = Cookies::new(budget.clone());
        let mut b = Cookies::new(budget.clone());
        a.record(2, 3, &names("a", COOKIE_BUDGET - 10));
        assert_eq!(budget.spent(), COOKIE_BUDGET - 10);
        // `b` lists more than is left: its newest are kept, as far as the
        // budget goes, and `a` is untouched.
        let listed = names("b", 100);
        b.record(2, 3, &listed);
        assert_eq!(budget.spent(), COOKIE_BUDGET);
        assert_eq!(a.after.len(), COOKIE_BUDGET - 10);
        let newest = 3 + 99;
        assert!(matches!(b.resume(newest), Ok(Resume::After(n)) if n == listed[99]));
        // `a` goes on listing from one of its old cookies: it makes room
        // from its own oldest cookies, sparing the one it resumed from.
        let from = 500;
        a.record(from, COOKIE_BUDGET as u64, &names("c", 50));
        assert_eq!(budget.spent(), COOKIE_BUDGET);
        assert!(matches!(a.resume(from), Ok(Resume::After(_))));
        assert!(
            matches!(a.resume(3), Ok(Resume::Skip(1))),
            "the oldest went"
        );
        // With no room left, `b` lists again after a name appeared among
        // its entries: the cookies it held now name what they were handed
        // out with this time, the new ones past them go unremembered.
        // (`b` holds cookies 93..=102 for listed[90..100]; the new listing
        // has one name more, so its last cookie, 103, finds no room.)
        let mut again = listed[90..100].to_vec();
        again.insert(1, Name::from("b000090x"));
        b.record(92, 93, &again);
        assert!(matches!(b.resume(94), Ok(Resume::After(n)) if n == again[1]));
        assert!(matches!(b.resume(102), Ok(Resume::After(n)) if n == again[9]));
        assert!(matches!(b.resume(103), Ok(Resume::Skip(_))));
        assert_eq!(budget.spent(), COOKIE_BUDGET);
        // A rewind forgets the fd's cookies; closing gives them back.
        a.record(0, 3, &[]);
        assert_eq!(budget.spent(), b.after.len());
        drop(b);
        assert_eq!(budget.spent(), 0);
    }
}
