//! Differential property test: random operation sequences run against the
//! Strata core and against Linux (tmpfs when available) through cap-std —
//! the library wasmtime-wasi 48 resolves guest paths with — and every result,
//! error code, and the final tree must agree.
//!
//! The Strata side runs on a *fork* of a filesystem whose initial content
//! lives in the base layer, so overlay lookups, copy-up, whiteouts and merged
//! listings are all exercised; afterwards the root fork must be untouched and
//! the fork's `diff` must equal the difference of the Linux snapshots.

mod common;

use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};

use cap_std::fs::MetadataExt as _;
use std::sync::Arc;

use cap_fs_ext::{FollowSymlinks, OpenOptionsFollowExt};
use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions};
use proptest::prelude::*;
use strata::fs::{ChangeKind, Errno, ForkId, Ino, Kind, MemBase, OpenFlags, Vfs};

// ---- the reference: cap-std, errors mapped as wasmtime-wasi maps them ----

fn errno(err: &io::Error) -> Errno {
    match err.raw_os_error() {
        Some(libc_errno) => match libc_errno {
            1 => Errno::NotPermitted,
            2 => Errno::NoEntry,
            5 => Errno::Io,
            9 => Errno::BadDescriptor,
            13 => Errno::Access,
            16 => Errno::Busy,
            17 => Errno::Exist,
            18 => Errno::CrossDevice,
            20 => Errno::NotDirectory,
            21 => Errno::IsDirectory,
            22 => Errno::Invalid,
            27 => Errno::FileTooLarge,
            28 => Errno::InsufficientSpace,
            31 => Errno::TooManyLinks,
            36 => Errno::NameTooLong,
            39 => Errno::NotEmpty,
            40 => Errno::Loop,
            75 => Errno::Overflow,
            95 => Errno::Unsupported,
            other => panic!("unexpected errno {other}: {err}"),
        },
        None => match err.kind() {
            io::ErrorKind::NotFound => Errno::NoEntry,
            io::ErrorKind::PermissionDenied => Errno::NotPermitted,
            io::ErrorKind::AlreadyExists => Errno::Exist,
            io::ErrorKind::InvalidInput => Errno::Invalid,
            _ => Errno::Io,
        },
    }
}

/// The kind of a host file type (cap-std's and std's have the same shape).
fn kind_of(is_dir: bool, is_symlink: bool) -> Kind {
    if is_dir {
        Kind::Dir
    } else if is_symlink {
        Kind::Symlink
    } else {
        Kind::File
    }
}

enum Opened {
    File(std::fs::File),
    Dir(Dir),
}

/// wasmtime-wasi 48's `open-at`, line for line, over cap-std.
fn linux_open(
    dir: &Dir,
    path: &str,
    follow: bool,
    flags: OpenFlags,
    read: bool,
    write: bool,
) -> io::Result<Opened> {
    let einval = || io::Error::from_raw_os_error(22);
    let mut opts = OpenOptions::new();
    if flags.create {
        if flags.exclusive {
            opts.create_new(true);
        } else {
            opts.create(true);
        }
        opts.write(true);
    }
    if flags.truncate {
        opts.truncate(true).write(true);
    }
    if read {
        opts.read(true);
    }
    if write {
        opts.write(true);
    } else {
        opts.read(true);
    }
    opts.follow(if follow {
        FollowSymlinks::Yes
    } else {
        FollowSymlinks::No
    });
    if flags.directory && (flags.create || flags.exclusive || flags.truncate) {
        return Err(einval());
    }
    let file = dir.open_with(path, &opts)?;
    if file.metadata()?.is_dir() {
        Ok(Opened::Dir(Dir::from_std_file(file.into_std())))
    } else if flags.directory {
        Err(io::Error::from_raw_os_error(20))
    } else {
        Ok(Opened::File(file.into_std()))
    }
}

// ---- operations ----------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Start {
    Root,
    /// A directory descriptor opened on `a` before the run.
    Sub,
}

#[derive(Clone, Debug)]
enum Op {
    Open {
        at: Start,
        path: String,
        follow: bool,
        flags: OpenFlags,
        read: bool,
        write: bool,
        keep: bool,
    },
    Write {
        at: Start,
        path: String,
        offset: u64,
        len: usize,
        byte: u8,
    },
    Read {
        at: Start,
        path: String,
        offset: u64,
        len: u64,
    },
    SetSize {
        at: Start,
        path: String,
        size: u64,
    },
    Mkdir {
        at: Start,
        path: String,
    },
    Rmdir {
        at: Start,
        path: String,
    },
    Unlink {
        at: Start,
        path: String,
    },
    Rename {
        from: (Start, String),
        to: (Start, String),
    },
    Link {
        from: (Start, String),
        to: (Start, String),
    },
    Symlink {
        target: String,
        at: Start,
        path: String,
    },
    Readlink {
        at: Start,
        path: String,
    },
    Stat {
        at: Start,
        path: String,
        follow: bool,
    },
    ReadDir {
        at: Start,
        path: String,
    },
    HandleWrite {
        offset: u64,
        len: usize,
        byte: u8,
    },
    HandleRead {
        offset: u64,
        len: u64,
    },
    HandleStat,
    HandleSetSize {
        size: u64,
    },
    HandleClose,
}

/// What an operation observably returned.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Out {
    Done,
    Opened(Kind),
    Count(usize),
    Bytes(Vec<u8>),
    Stat {
        kind: Kind,
        size: Option<u64>,
        nlink: u64,
    },
    Names(Vec<(String, Kind)>),
    Target(String),
    NoHandle,
}

fn start() -> impl Strategy<Value = Start> {
    prop_oneof![3 => Just(Start::Root), 1 => Just(Start::Sub)]
}

fn component() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        6 => prop::sample::select(vec!["a", "b", "c", "d", "e"]),
        1 => Just("."),
        1 => Just(".."),
    ]
}

fn path() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(component(), 1..=3),
        prop::bool::weighted(0.08),
        prop::bool::weighted(0.03),
    )
        .prop_map(|(parts, trailing, absolute)| {
            let mut p = parts.join("/");
            if trailing {
                p.push('/');
            }
            if absolute {
                p.insert(0, '/');
            }
            p
        })
}

fn at_path() -> impl Strategy<Value = (Start, String)> {
    (start(), path())
}

fn offset() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..64,
        1 => Just(65_530u64),
        1 => 65_536u64..65_600,
        1 => Just(200_000u64),
    ]
}

fn flags() -> impl Strategy<Value = OpenFlags> {
    (
        prop::bool::weighted(0.6),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(create, directory, exclusive, truncate)| OpenFlags {
            create,
            directory,
            exclusive,
            truncate,
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (at_path(), any::<bool>(), flags(), any::<bool>(), prop::bool::weighted(0.3), prop::bool::weighted(0.4))
            .prop_map(|((at, path), follow, flags, read, write, keep)| Op::Open { at, path, follow, flags, read, write, keep }),
        4 => (at_path(), offset(), 0usize..300, any::<u8>())
            .prop_map(|((at, path), offset, len, byte)| Op::Write { at, path, offset, len, byte }),
        2 => (at_path(), offset(), 0u64..300).prop_map(|((at, path), offset, len)| Op::Read { at, path, offset, len }),
        1 => (at_path(), offset()).prop_map(|((at, path), size)| Op::SetSize { at, path, size }),
        3 => at_path().prop_map(|(at, path)| Op::Mkdir { at, path }),
        2 => at_path().prop_map(|(at, path)| Op::Rmdir { at, path }),
        2 => at_path().prop_map(|(at, path)| Op::Unlink { at, path }),
        3 => (at_path(), at_path()).prop_map(|(from, to)| Op::Rename { from, to }),
        1 => (at_path(), at_path()).prop_map(|(from, to)| Op::Link { from, to }),
        2 => (path(), at_path()).prop_map(|(target, (at, path))| Op::Symlink { target, at, path }),
        1 => at_path().prop_map(|(at, path)| Op::Readlink { at, path }),
        2 => (at_path(), any::<bool>()).prop_map(|((at, path), follow)| Op::Stat { at, path, follow }),
        1 => at_path().prop_map(|(at, path)| Op::ReadDir { at, path }),
        1 => (offset(), 0usize..300, any::<u8>()).prop_map(|(offset, len, byte)| Op::HandleWrite { offset, len, byte }),
        1 => (offset(), 0u64..300).prop_map(|(offset, len)| Op::HandleRead { offset, len }),
        1 => Just(Op::HandleStat),
        1 => offset().prop_map(|size| Op::HandleSetSize { size }),
        1 => Just(Op::HandleClose),
    ]
}

// ---- the two worlds ---------------------------------------------------------

const INITIAL: &[(&str, Option<&str>, Option<&str>)] = &[
    // (path, file contents, symlink target); neither = directory
    ("a", None, None),
    ("a/f", Some("hello"), None),
    ("a/g", None, Some("../b")),
    ("a/h", None, Some("../..")),
    ("b", Some("world!"), None),
    ("c", None, Some("a")),
    ("e", None, None),
    ("e/x", Some("deep"), None),
];

struct Linux {
    _tmp: tempfile::TempDir,
    root: Dir,
    sub: Dir,
    handle: Option<std::fs::File>,
}

impl Linux {
    fn new() -> Linux {
        let parent = if std::path::Path::new("/dev/shm").is_dir() {
            "/dev/shm"
        } else {
            "/tmp"
        };
        let tmp = tempfile::Builder::new()
            .prefix("strata-diff")
            .tempdir_in(parent)
            .unwrap();
        let root = Dir::open_ambient_dir(tmp.path(), ambient_authority()).unwrap();
        for (path, contents, target) in INITIAL {
            match (contents, target) {
                (Some(c), _) => root.write(path, c).unwrap(),
                (_, Some(t)) => root.symlink(t, path).unwrap(),
                _ => root.create_dir(path).unwrap(),
            }
        }
        let sub = root.open_dir("a").unwrap();
        Linux {
            _tmp: tmp,
            root,
            sub,
            handle: None,
        }
    }

    fn dir(&self, at: Start) -> &Dir {
        match at {
            Start::Root => &self.root,
            Start::Sub => &self.sub,
        }
    }

    fn with_file<T>(
        &self,
        at: Start,
        path: &str,
        write: bool,
        f: impl FnOnce(&std::fs::File) -> io::Result<T>,
    ) -> io::Result<T> {
        match linux_open(
            self.dir(at),
            path,
            true,
            OpenFlags::default(),
            !write,
            write,
        )? {
            Opened::File(file) => f(&file),
            Opened::Dir(_) => Err(io::Error::from_raw_os_error(21)),
        }
    }

    fn run(&mut self, op: &Op) -> Result<Out, Errno> {
        self.run_io(op).map_err(|e| errno(&e))
    }

    fn run_io(&mut self, op: &Op) -> io::Result<Out> {
        Ok(match op {
            Op::Open {
                at,
                path,
                follow,
                flags,
                read,
                write,
                keep,
            } => match linux_open(self.dir(*at), path, *follow, *flags, *read, *write)? {
                Opened::File(file) => {
                    if *keep {
                        self.handle = Some(file);
                    }
                    Out::Opened(Kind::File)
                }
                Opened::Dir(_) => Out::Opened(Kind::Dir),
            },
            Op::Write {
                at,
                path,
                offset,
                len,
                byte,
            } => self.with_file(*at, path, true, |f| linux_write(f, *offset, *len, *byte))?,
            Op::Read {
                at,
                path,
                offset,
                len,
            } => self.with_file(*at, path, false, |f| linux_read(f, *offset, *len))?,
            Op::SetSize { at, path, size } => {
                self.with_file(*at, path, true, |f| f.set_len(*size).map(|_| Out::Done))?
            }
            Op::Mkdir { at, path } => self.dir(*at).create_dir(path).map(|_| Out::Done)?,
            Op::Rmdir { at, path } => self.dir(*at).remove_dir(path).map(|_| Out::Done)?,
            Op::Unlink { at, path } => self.dir(*at).remove_file(path).map(|_| Out::Done)?,
            Op::Rename { from, to } => {
                // wasmtime-wasi's vendored cap-primitives demands a directory
                // source when *either* path ends in `/`; cap-std 4 only looks
                // at the source. Hand cap-std the slash to match wasmtime.
                let old = if to.1.ends_with('/') && !from.1.ends_with('/') {
                    format!("{}/", from.1)
                } else {
                    from.1.clone()
                };
                self.dir(from.0)
                    .rename(&old, self.dir(to.0), &to.1)
                    .map(|_| Out::Done)?
            }
            Op::Link { from, to } => self
                .dir(from.0)
                .hard_link(&from.1, self.dir(to.0), &to.1)
                .map(|_| Out::Done)?,
            Op::Symlink { target, at, path } => {
                self.dir(*at).symlink(target, path).map(|_| Out::Done)?
            }
            Op::Readlink { at, path } => Out::Target(
                self.dir(*at)
                    .read_link(path)?
                    .to_string_lossy()
                    .into_owned(),
            ),
            Op::Stat { at, path, follow } => {
                let meta = if *follow {
                    self.dir(*at).metadata(path)?
                } else {
                    self.dir(*at).symlink_metadata(path)?
                };
                linux_stat(
                    kind_of(meta.is_dir(), meta.is_symlink()),
                    meta.len(),
                    meta.nlink(),
                )
            }
            Op::ReadDir { at, path } => {
                let dir =
                    match linux_open(self.dir(*at), path, true, OpenFlags::default(), true, false)?
                    {
                        Opened::Dir(d) => d,
                        Opened::File(_) => return Err(io::Error::from_raw_os_error(20)),
                    };
                let mut names = Vec::new();
                for entry in dir.entries()? {
                    let entry = entry?;
                    names.push((entry.file_name().to_string_lossy().into_owned(), {
                        let ft = entry.file_type()?;
                        kind_of(ft.is_dir(), ft.is_symlink())
                    }));
                }
                names.sort();
                Out::Names(names)
            }
            Op::HandleWrite { offset, len, byte } => match &self.handle {
                Some(f) => linux_write(f, *offset, *len, *byte)?,
                None => Out::NoHandle,
            },
            Op::HandleRead { offset, len } => match &self.handle {
                Some(f) => linux_read(f, *offset, *len)?,
                None => Out::NoHandle,
            },
            Op::HandleStat => match &self.handle {
                Some(f) => {
                    let meta = f.metadata()?;
                    linux_stat(
                        kind_of(meta.is_dir(), meta.is_symlink()),
                        meta.len(),
                        meta.nlink(),
                    )
                }
                None => Out::NoHandle,
            },
            Op::HandleSetSize { size } => match &self.handle {
                Some(f) => f.set_len(*size).map(|_| Out::Done)?,
                None => Out::NoHandle,
            },
            Op::HandleClose => match self.handle.take() {
                Some(_) => Out::Done,
                None => Out::NoHandle,
            },
        })
    }
}

fn linux_write(f: &std::fs::File, offset: u64, len: usize, byte: u8) -> io::Result<Out> {
    // One call even for zero bytes: a descriptor's mode is checked first.
    f.write_at(&[], offset)?;
    f.write_all_at(&vec![byte; len], offset)?;
    Ok(Out::Count(len))
}

fn linux_read(f: &std::fs::File, offset: u64, len: u64) -> io::Result<Out> {
    let mut buf = vec![0u8; len as usize];
    f.read_at(&mut [], offset)?;
    let mut got = 0;
    while got < buf.len() {
        let n = f.read_at(&mut buf[got..], offset + got as u64)?;
        if n == 0 {
            break;
        }
        got += n;
    }
    buf.truncate(got);
    Ok(Out::Bytes(buf))
}

fn linux_stat(kind: Kind, len: u64, nlink: u64) -> Out {
    Out::Stat {
        kind,
        size: (kind != Kind::Dir).then_some(len),
        nlink,
    }
}

struct Strata {
    vfs: Vfs,
    fork: ForkId,
    root: Ino,
    sub: Ino,
    /// An open file and whether it may be read and written, as a WASI
    /// descriptor would record (wasmtime-wasi checks the mode per call).
    handle: Option<(Ino, bool, bool)>,
}

fn initial_base() -> MemBase {
    let mut b = MemBase::builder();
    for (path, contents, target) in INITIAL {
        b = match (contents, target) {
            (Some(c), _) => b.file(path, c.as_bytes().to_vec()),
            (_, Some(t)) => b.symlink(path, t),
            _ => b.dir(path),
        };
    }
    b.build()
}

impl Strata {
    fn new() -> Strata {
        let mut vfs = Vfs::new(Arc::new(initial_base()));
        let fork = vfs.fork(ForkId::ROOT).unwrap();
        let root = vfs.open_root(fork).unwrap();
        let (sub, _) = vfs
            .open_at(fork, root, "a", true, OpenFlags::default(), false)
            .unwrap();
        Strata {
            vfs,
            fork,
            root,
            sub,
            handle: None,
        }
    }

    fn dir(&self, at: Start) -> Ino {
        match at {
            Start::Root => self.root,
            Start::Sub => self.sub,
        }
    }

    fn with_file<T>(
        &mut self,
        at: Start,
        path: &str,
        write: bool,
        f: impl FnOnce(&mut Vfs, ForkId, Ino) -> strata::fs::Result<T>,
    ) -> Result<T, Errno> {
        let (ino, kind) = self
            .vfs
            .open_at(
                self.fork,
                self.dir(at),
                path,
                true,
                OpenFlags::default(),
                write,
            )
            .map_err(e)?;
        let out = if kind == Kind::Dir {
            Err(Errno::IsDirectory)
        } else {
            f(&mut self.vfs, self.fork, ino).map_err(e)
        };
        self.vfs.release(self.fork, ino);
        out
    }

    fn stat_out(stat: strata::fs::Stat) -> Out {
        Out::Stat {
            kind: stat.kind,
            size: (stat.kind != Kind::Dir).then_some(stat.size),
            nlink: stat.nlink,
        }
    }

    fn run(&mut self, op: &Op) -> Result<Out, Errno> {
        let fork = self.fork;
        Ok(match op {
            Op::Open {
                at,
                path,
                follow,
                flags,
                read,
                write,
                keep,
            } => {
                let (ino, kind) = self
                    .vfs
                    .open_at(fork, self.dir(*at), path, *follow, *flags, *write)
                    .map_err(e)?;
                let writable = *write || flags.create || flags.truncate;
                let readable = *read || !*write;
                if *keep && kind == Kind::File {
                    if let Some((old, _, _)) = self.handle.replace((ino, readable, writable)) {
                        self.vfs.release(fork, old);
                    }
                } else {
                    self.vfs.release(fork, ino);
                }
                Out::Opened(kind)
            }
            Op::Write {
                at,
                path,
                offset,
                len,
                byte,
            } => {
                let (offset, data) = (*offset, vec![*byte; *len]);
                self.with_file(*at, path, true, |vfs, fork, ino| {
                    vfs.write(fork, ino, offset, &data)
                })
                .map(Out::Count)?
            }
            Op::Read {
                at,
                path,
                offset,
                len,
            } => {
                let (offset, len) = (*offset, *len);
                self.with_file(*at, path, false, |vfs, fork, ino| {
                    vfs.read(fork, ino, offset, len)
                })
                .map(|b| Out::Bytes(b.concat()))?
            }
            Op::SetSize { at, path, size } => {
                let size = *size;
                self.with_file(*at, path, true, |vfs, fork, ino| {
                    vfs.set_size(fork, ino, size)
                })
                .map(|_| Out::Done)?
            }
            Op::Mkdir { at, path } => self
                .vfs
                .create_dir_at(fork, self.dir(*at), path)
                .map(|_| Out::Done)
                .map_err(e)?,
            Op::Rmdir { at, path } => self
                .vfs
                .remove_dir_at(fork, self.dir(*at), path)
                .map(|_| Out::Done)
                .map_err(e)?,
            Op::Unlink { at, path } => self
                .vfs
                .unlink_file_at(fork, self.dir(*at), path)
                .map(|_| Out::Done)
                .map_err(e)?,
            Op::Rename { from, to } => self
                .vfs
                .rename_at(fork, self.dir(from.0), &from.1, self.dir(to.0), &to.1)
                .map(|_| Out::Done)
                .map_err(e)?,
            Op::Link { from, to } => self
                .vfs
                .link_at(fork, self.dir(from.0), &from.1, self.dir(to.0), &to.1)
                .map(|_| Out::Done)
                .map_err(e)?,
            Op::Symlink { target, at, path } => self
                .vfs
                .symlink_at(fork, target, self.dir(*at), path)
                .map(|_| Out::Done)
                .map_err(e)?,
            Op::Readlink { at, path } => {
                Out::Target(self.vfs.readlink_at(fork, self.dir(*at), path).map_err(e)?)
            }
            Op::Stat { at, path, follow } => Self::stat_out(
                self.vfs
                    .stat_at(fork, self.dir(*at), path, *follow)
                    .map_err(e)?,
            ),
            Op::ReadDir { at, path } => {
                let (ino, kind) = self
                    .vfs
                    .open_at(fork, self.dir(*at), path, true, OpenFlags::default(), false)
                    .map_err(e)?;
                let listing = if kind == Kind::Dir {
                    self.vfs.read_dir(fork, ino, None, usize::MAX).map_err(e)
                } else {
                    Err(Errno::NotDirectory)
                };
                self.vfs.release(fork, ino);
                let mut names: Vec<(String, Kind)> = listing?
                    .into_iter()
                    .map(|d| (d.name.to_string(), d.kind))
                    .collect();
                names.sort();
                Out::Names(names)
            }
            Op::HandleWrite { offset, len, byte } => match self.handle {
                Some((_, _, false)) => return Err(Errno::BadDescriptor),
                Some((ino, _, _)) => Out::Count(
                    self.vfs
                        .write(fork, ino, *offset, &vec![*byte; *len])
                        .map_err(e)?,
                ),
                None => Out::NoHandle,
            },
            Op::HandleRead { offset, len } => match self.handle {
                Some((_, false, _)) => return Err(Errno::BadDescriptor),
                Some((ino, _, _)) => {
                    Out::Bytes(self.vfs.read(fork, ino, *offset, *len).map_err(e)?.concat())
                }
                None => Out::NoHandle,
            },
            Op::HandleStat => match self.handle {
                Some((ino, _, _)) => Self::stat_out(self.vfs.stat(fork, ino).map_err(e)?),
                None => Out::NoHandle,
            },
            Op::HandleSetSize { size } => match self.handle {
                Some((_, _, false)) => return Err(Errno::Invalid),
                Some((ino, _, _)) => self
                    .vfs
                    .set_size(fork, ino, *size)
                    .map(|_| Out::Done)
                    .map_err(e)?,
                None => Out::NoHandle,
            },
            Op::HandleClose => match self.handle.take() {
                Some((ino, _, _)) => {
                    self.vfs.release(fork, ino);
                    Out::Done
                }
                None => Out::NoHandle,
            },
        })
    }
}

fn e(err: strata::fs::Error) -> Errno {
    err.errno().expect("a fully loaded base never misses")
}

// ---- whole-tree snapshots ---------------------------------------------------

use common::{Entry, Snapshot, contents as without_ids, snapshot};

fn linux_snapshot(dir: &Dir, prefix: &str, out: &mut Snapshot) {
    for entry in dir.entries().unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = format!("{prefix}/{name}");
        let meta = dir.symlink_metadata(&name).unwrap();
        let value = match kind_of(meta.is_dir(), meta.is_symlink()) {
            Kind::Dir => {
                linux_snapshot(&dir.open_dir(&name).unwrap(), &path, out);
                Entry::Dir
            }
            Kind::File => Entry::File(dir.read(&name).unwrap(), meta.nlink()),
            Kind::Symlink => Entry::Symlink(
                dir.read_link_contents(&name)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            ),
        };
        out.insert(path, (meta.ino(), value));
    }
}

/// The changes between two snapshots, as `Vfs::diff` should report them.
fn expected_diff(before: &Snapshot, after: &Snapshot) -> Vec<(String, ChangeKind)> {
    let mut out = Vec::new();
    for (path, (id, entry)) in before {
        match after.get(path) {
            None => out.push((path.clone(), ChangeKind::Deleted)),
            Some((id2, entry2)) => {
                let content_changed = match (entry, entry2) {
                    (Entry::File(a, _), Entry::File(b, _)) => a != b,
                    (a, b) => a != b,
                };
                if id != id2 || content_changed {
                    out.push((path.clone(), ChangeKind::Modified));
                }
            }
        }
    }
    for path in after.keys() {
        if !before.contains_key(path) {
            out.push((path.clone(), ChangeKind::Created));
        }
    }
    out.sort();
    out
}

fn run_case(ops: &[Op]) -> Result<(), TestCaseError> {
    let mut linux = Linux::new();
    let mut strata = Strata::new();
    let mut linux_before = Snapshot::new();
    linux_snapshot(&linux.root, "", &mut linux_before);
    let strata_before = snapshot(&strata.vfs, ForkId::ROOT, strata.root);
    prop_assert_eq!(without_ids(&linux_before), without_ids(&strata_before));

    for (i, op) in ops.iter().enumerate() {
        let want = linux.run(op);
        let got = strata.run(op);
        prop_assert_eq!(&got, &want, "op #{}: {:?}", i, op);
    }

    let mut linux_after = Snapshot::new();
    linux_snapshot(&linux.root, "", &mut linux_after);
    let strata_after = snapshot(&strata.vfs, strata.fork, strata.root);
    prop_assert_eq!(
        without_ids(&linux_after),
        without_ids(&strata_after),
        "final trees"
    );

    // The root fork never saw any of it.
    let root_now = snapshot(&strata.vfs, ForkId::ROOT, strata.root);
    prop_assert_eq!(&root_now, &strata_before, "root fork changed");

    // The fork's diff is exactly what changed on Linux.
    let mut got: Vec<(String, ChangeKind)> = strata
        .vfs
        .diff(strata.fork)
        .unwrap()
        .into_iter()
        .map(|c| (c.path, c.kind))
        .collect();
    got.sort();
    prop_assert_eq!(got, expected_diff(&linux_before, &linux_after), "diff");
    Ok(())
}

fn cases() -> u32 {
    std::env::var("STRATA_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

/// Cases the property test once found, kept so they run every time.
#[test]
fn found_cases_still_match_linux() {
    let create_through = |target: &str, path: &str| {
        vec![
            Op::Symlink {
                target: target.into(),
                at: Start::Root,
                path: path.into(),
            },
            Op::Open {
                at: Start::Root,
                path: path.into(),
                follow: true,
                flags: OpenFlags {
                    create: true,
                    ..OpenFlags::default()
                },
                read: false,
                write: false,
                keep: false,
            },
        ]
    };
    let cases = [
        // `O_CREAT` through a symlink whose target ends in `/`, onto a file:
        // Linux answers `EISDIR` (the slash), not `ENOTDIR`.
        create_through("b/", "d"),
        // ... and onto itself: `EISDIR` before the loop is ever followed.
        create_through("d/", "e/d"),
    ];
    for ops in cases {
        run_case(&ops).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 20_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn core_matches_linux(ops in prop::collection::vec(op(), 1..40)) {
        run_case(&ops)?;
    }
}
