//! The p1 fd table: one number space for stdio, preopens, files and
//! directories, and the rights p1 reports for each.
//!
//! Files and directories are Strata [`Descriptor`]s held directly, with the
//! little p1 adds: a file's cursor and flags, a directory's preopen name and
//! readdir cookies. Stdio holds wasmtime-wasi's stdio streams themselves
//! (taken out of the resource table once, at start), so reading stdin or
//! polling stdout needs no resource lookups.
//!
//! Numbers are handed out as wasmtime-wasi hands them out — the highest
//! number closed and not yet reused, else one past the highest in use — so
//! a guest that prints its fds prints the same under both.

use std::collections::{BTreeMap, BTreeSet};

use wasmtime_wasi::cli::WasiCliView as _;
use wasmtime_wasi::p1::types::{Errno, Fd, Fdflags, Filetype, Rights};
use wasmtime_wasi::p2::bindings::cli::{
    stderr, stdin, stdout, terminal_input, terminal_output, terminal_stderr, terminal_stdin,
    terminal_stdout,
};
use wasmtime_wasi::p2::pipe::{ClosedInputStream, ClosedOutputStream};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream};

use super::P1Ctx;
use super::errno::P1Result;
use super::readdir::{CookieBudget, Cookies};
use crate::wasi::ctx::Preopen;
use crate::wasi::descriptor::Descriptor;

/// What an fd number stands for.
pub(super) enum Entry {
    Stdin(StdinFd),
    /// Stdout or stderr.
    Output(OutputFd),
    File(FileFd),
    Dir(DirFd),
}

pub(super) struct StdinFd {
    pub stream: DynInputStream,
    pub filetype: Filetype,
}

pub(super) struct OutputFd {
    pub stream: DynOutputStream,
    pub filetype: Filetype,
}

/// An open regular file (or symlink target) and p1's state for it.
pub(super) struct FileFd {
    pub desc: Descriptor,
    /// Where `fd_read` and `fd_write` continue.
    pub cursor: u64,
    /// `APPEND` and `NONBLOCK` as last set; nothing else is kept.
    pub flags: Fdflags,
}

impl FileFd {
    /// The flags a file keeps (others are refused or have no effect).
    pub const KEPT: Fdflags = Fdflags::APPEND.union(Fdflags::NONBLOCK);

    /// Whether every write goes to the end of the file.
    pub fn appends(&self) -> bool {
        self.flags.contains(Fdflags::APPEND)
    }
}

/// An open directory: a preopen or one opened by `path_open`.
pub(super) struct DirFd {
    pub desc: Descriptor,
    /// The name the guest was given it under, for a preopen.
    pub preopen: Option<String>,
    pub cookies: Cookies,
}

/// The three stdio entries, opened from wasmtime-wasi's context.
pub(super) struct Stdio {
    stdin: StdinFd,
    stdout: OutputFd,
    stderr: OutputFd,
}

impl Stdio {
    /// Takes the stdio streams out of wasmtime-wasi's `wasi:cli` host (and
    /// asks it whether each is a terminal). Its calls only fail when the
    /// resource table is full, which a fresh one is not; should one fail
    /// anyway, that stream reads as closed rather than bringing the host
    /// down.
    pub fn open(ctx: &mut P1Ctx) -> Stdio {
        let mut cli = ctx.cli();
        let stdin = stdin::Host::get_stdin(&mut cli)
            .and_then(|r| Ok(cli.table.delete(r)?))
            .unwrap_or_else(|_| Box::new(ClosedInputStream));
        let stdin_tty = match terminal_stdin::Host::get_terminal_stdin(&mut cli) {
            Ok(Some(t)) => terminal_input::HostTerminalInput::drop(&mut cli, t).is_ok(),
            _ => false,
        };
        let stdout = stdout::Host::get_stdout(&mut cli)
            .and_then(|r| Ok(cli.table.delete(r)?))
            .unwrap_or_else(|_| Box::new(ClosedOutputStream));
        let stdout_tty = match terminal_stdout::Host::get_terminal_stdout(&mut cli) {
            Ok(Some(t)) => terminal_output::HostTerminalOutput::drop(&mut cli, t).is_ok(),
            _ => false,
        };
        let stderr = stderr::Host::get_stderr(&mut cli)
            .and_then(|r| Ok(cli.table.delete(r)?))
            .unwrap_or_else(|_| Box::new(ClosedOutputStream));
        let stderr_tty = match terminal_stderr::Host::get_terminal_stderr(&mut cli) {
            Ok(Some(t)) => terminal_output::HostTerminalOutput::drop(&mut cli, t).is_ok(),
            _ => false,
        };
        Stdio {
            stdin: StdinFd {
                stream: stdin,
                filetype: stdio_filetype(stdin_tty),
            },
            stdout: OutputFd {
                stream: stdout,
                filetype: stdio_filetype(stdout_tty),
            },
            stderr: OutputFd {
                stream: stderr,
                filetype: stdio_filetype(stderr_tty),
            },
        }
    }
}

/// A terminal is a character device; anything else (a pipe, a file, a
/// buffer) p1 cannot name, as in wasmtime-wasi.
fn stdio_filetype(is_terminal: bool) -> Filetype {
    if is_terminal {
        Filetype::CharacterDevice
    } else {
        Filetype::Unknown
    }
}

/// The fd table.
#[derive(Default)]
pub(super) struct FdTable {
    open: BTreeMap<u32, Entry>,
    /// Closed numbers not yet handed out again.
    closed: BTreeSet<u32>,
    /// What all directory fds' cookies may take together.
    cookie_budget: CookieBudget,
}

impl FdTable {
    /// Stdio at 0, 1, 2, then the preopens.
    pub fn new(stdio: Stdio, preopens: &[Preopen]) -> FdTable {
        let first = [
            Entry::Stdin(stdio.stdin),
            Entry::Output(stdio.stdout),
            Entry::Output(stdio.stderr),
        ];
        let cookie_budget = CookieBudget::default();
        let dirs = preopens.iter().map(|p| {
            Entry::Dir(DirFd {
                desc: Descriptor::preopened(p),
                preopen: Some(p.guest_path.clone()),
                cookies: Cookies::new(cookie_budget.clone()),
            })
        });
        FdTable {
            open: first
                .into_iter()
                .chain(dirs)
                .zip(0u32..)
                .map(|(e, n)| (n, e))
                .collect(),
            closed: BTreeSet::new(),
            cookie_budget,
        }
    }

    /// No cookies yet, for a directory fd about to be opened.
    pub fn new_cookies(&self) -> Cookies {
        Cookies::new(self.cookie_budget.clone())
    }

    /// Gives `entry` a number.
    pub fn insert(&mut self, entry: Entry) -> P1Result<Fd> {
        let number = match self.closed.pop_last() {
            Some(n) => n,
            None => self.fresh_number()?,
        };
        self.open.insert(number, entry);
        Ok(Fd::from(number))
    }

    /// One past the highest number in use — or, at the very top of the
    /// range, the highest free one below.
    fn fresh_number(&self) -> P1Result<u32> {
        let Some((&highest, _)) = self.open.last_key_value() else {
            return Ok(0);
        };
        if let Some(next) = highest.checked_add(1) {
            return Ok(next);
        }
        (0..highest)
            .rev()
            .find(|n| !self.open.contains_key(n))
            .ok_or_else(|| Errno::Mfile.into())
    }

    /// Takes `fd` out of the table (closing it when dropped).
    pub fn remove(&mut self, fd: Fd) -> P1Result<Entry> {
        let number = u32::from(fd);
        let entry = self.open.remove(&number).ok_or(Errno::Badf)?;
        self.closed.insert(number);
        Ok(entry)
    }

    /// Moves `from` to the number `to`, closing what `to` was.
    pub fn renumber(&mut self, from: Fd, to: Fd) -> P1Result<()> {
        let (from, to) = (u32::from(from), u32::from(to));
        if !self.open.contains_key(&from) || !self.open.contains_key(&to) {
            return Err(Errno::Badf.into());
        }
        if from == to {
            return Ok(());
        }
        if let Some(entry) = self.open.remove(&from) {
            // Replacing `to`'s entry drops (closes) it.
            self.open.insert(to, entry);
        }
        self.closed.insert(from);
        Ok(())
    }

    pub fn get(&self, fd: Fd) -> P1Result<&Entry> {
        Ok(self.open.get(&u32::from(fd)).ok_or(Errno::Badf)?)
    }

    pub fn get_mut(&mut self, fd: Fd) -> P1Result<&mut Entry> {
        Ok(self.open.get_mut(&u32::from(fd)).ok_or(Errno::Badf)?)
    }

    /// The file at `fd`, or `EBADF`.
    pub fn file(&self, fd: Fd) -> P1Result<&FileFd> {
        match self.get(fd)? {
            Entry::File(f) => Ok(f),
            _ => Err(Errno::Badf.into()),
        }
    }

    pub fn file_mut(&mut self, fd: Fd) -> P1Result<&mut FileFd> {
        match self.get_mut(fd)? {
            Entry::File(f) => Ok(f),
            _ => Err(Errno::Badf.into()),
        }
    }

    /// The file at `fd` for seeking: stdio cannot seek (`ESPIPE`),
    /// anything else is `EBADF`.
    pub fn seekable(&mut self, fd: Fd) -> P1Result<&mut FileFd> {
        match self.get_mut(fd)? {
            Entry::File(f) => Ok(f),
            Entry::Stdin(_) | Entry::Output(_) => Err(Errno::Spipe.into()),
            Entry::Dir(_) => Err(Errno::Badf.into()),
        }
    }

    /// The directory at `fd`, or `EBADF`.
    pub fn dir(&self, fd: Fd) -> P1Result<&DirFd> {
        match self.get(fd)? {
            Entry::Dir(d) => Ok(d),
            _ => Err(Errno::Badf.into()),
        }
    }

    pub fn dir_mut(&mut self, fd: Fd) -> P1Result<&mut DirFd> {
        match self.get_mut(fd)? {
            Entry::Dir(d) => Ok(d),
            _ => Err(Errno::Badf.into()),
        }
    }

    /// The file or directory at `fd` (stdio is `EBADF`).
    pub fn descriptor(&self, fd: Fd) -> P1Result<&Descriptor> {
        match self.get(fd)? {
            Entry::File(f) => Ok(&f.desc),
            Entry::Dir(d) => Ok(&d.desc),
            Entry::Stdin(_) | Entry::Output(_) => Err(Errno::Badf.into()),
        }
    }

    /// The entries of the given numbers, each at most once, mutably — what
    /// `poll_oneoff` waits on together.
    pub fn several_mut(&mut self, wanted: &BTreeSet<u32>) -> Vec<(u32, &mut Entry)> {
        self.open
            .iter_mut()
            .filter(|(n, _)| wanted.contains(n))
            .map(|(n, e)| (*n, e))
            .collect()
    }
}

// ---- rights ---------------------------------------------------------------

/// What may be done on a preopened directory itself, and what files and
/// directories opened under it may be given: the fixed sets many p1
/// userlands (wasi-libc among them) expect to find.
fn preopen_rights() -> (Rights, Rights) {
    use Rights as R;
    let on_dir = R::PATH_CREATE_DIRECTORY | R::PATH_CREATE_FILE | R::PATH_LINK_SOURCE;
    let on_dir = on_dir | R::PATH_LINK_TARGET | R::PATH_OPEN | R::FD_READDIR;
    let on_dir = on_dir | R::PATH_READLINK | R::PATH_RENAME_SOURCE | R::PATH_RENAME_TARGET;
    let on_dir = on_dir | R::PATH_SYMLINK | R::PATH_REMOVE_DIRECTORY | R::PATH_UNLINK_FILE;
    let on_dir = on_dir | R::PATH_FILESTAT_GET | R::PATH_FILESTAT_SET_TIMES;
    let on_dir = on_dir | R::FD_FILESTAT_GET | R::FD_FILESTAT_SET_TIMES;
    let inherited = on_dir | R::FD_DATASYNC | R::FD_READ | R::FD_SEEK | R::FD_FDSTAT_SET_FLAGS;
    let inherited = inherited | R::FD_SYNC | R::FD_TELL | R::FD_WRITE | R::FD_ADVISE;
    let inherited = inherited | R::FD_ALLOCATE | R::FD_FILESTAT_GET | R::FD_FILESTAT_SET_SIZE;
    let inherited = inherited | R::FD_FILESTAT_SET_TIMES | R::POLL_FD_READWRITE;
    (on_dir, inherited)
}

/// The rights reported for a descriptor opened by `path_open`: everything,
/// less what its kind or its open mode rules out. (Rights are not
/// enforced: the mode and the preopen's permissions are, by the
/// descriptor's own checks.)
fn opened_rights(desc: &Descriptor) -> Rights {
    let mut rights = Rights::all();
    if desc.is_dir() {
        rights -= Rights::FD_SEEK | Rights::FD_FILESTAT_SET_SIZE | Rights::PATH_FILESTAT_SET_SIZE;
        // A directory is never opened for writing bytes.
        rights -= Rights::FD_WRITE;
    } else if !desc.can_write() {
        rights -= Rights::FD_WRITE;
    }
    if !desc.can_read() {
        rights -= Rights::FD_READ | Rights::FD_READDIR;
    }
    rights
}

/// The rights `fd_fdstat_get` reports for `entry`: base and inheriting.
pub(super) fn rights(entry: &Entry) -> (Rights, Rights) {
    match entry {
        Entry::Stdin(_) => (Rights::FD_READ, Rights::FD_READ),
        Entry::Output(_) => (Rights::FD_WRITE, Rights::FD_WRITE),
        Entry::Dir(DirFd {
            preopen: Some(_), ..
        }) => preopen_rights(),
        Entry::Dir(DirFd { desc, .. }) | Entry::File(FileFd { desc, .. }) => {
            let rights = opened_rights(desc);
            (rights, rights)
        }
    }
}
