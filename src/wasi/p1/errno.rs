//! The one place where Strata's errors become p1 `errno` values.
//!
//! Filesystem calls answer [`FsError`]: a p2 `error-code`, the p1-only
//! "too many open files", or a trap. p1's `errno` has a value for every
//! `error-code` (named after the same POSIX errors), so the map is one to
//! one; `EMFILE` exists in p1 and is answered as such.
//!
//! Everything else that becomes a p1 error — malformed guest pointers,
//! stream failures, integer overflow — is converted by wasmtime-wasi's own
//! `From` impls on its `types::Error`, so stdio and guest-memory faults read
//! the same as under wasmtime.

use wasmtime_wasi::p1::types::{Errno, Error, Filetype};

use crate::fs::Kind;
use crate::wasi::ErrorCode;
use crate::wasi::error::FsError;

/// What a p1 host call returns.
pub(super) type P1Result<T> = Result<T, Error>;

impl From<FsError> for Error {
    fn from(err: FsError) -> Error {
        match err {
            FsError::Code(code) => errno(code).into(),
            FsError::TooManyOpen => Errno::Mfile.into(),
            FsError::Trap(e) => Error::trap(e),
        }
    }
}

impl From<ErrorCode> for Error {
    fn from(code: ErrorCode) -> Error {
        errno(code).into()
    }
}

/// The errno of a filesystem failure that is reported inside a result (a
/// `poll_oneoff` event) rather than as the call's error; a trap stays one.
pub(super) fn errno_in_result(err: FsError) -> P1Result<Errno> {
    match err {
        FsError::Code(code) => Ok(errno(code)),
        FsError::TooManyOpen => Ok(Errno::Mfile),
        FsError::Trap(e) => Err(Error::trap(e)),
    }
}

/// A failure of wasmtime-wasi's own host (which only fails on a host bug):
/// the guest traps.
pub(super) fn host_failure(e: wasmtime::Error) -> Error {
    Error::trap(e)
}

/// The p1 `errno` for a p2 `error-code`.
fn errno(code: ErrorCode) -> Errno {
    use ErrorCode as C;
    match code {
        C::Access => Errno::Acces,
        C::WouldBlock => Errno::Again,
        C::Already => Errno::Already,
        C::BadDescriptor => Errno::Badf,
        C::Busy => Errno::Busy,
        C::Deadlock => Errno::Deadlk,
        C::Quota => Errno::Dquot,
        C::Exist => Errno::Exist,
        C::FileTooLarge => Errno::Fbig,
        C::IllegalByteSequence => Errno::Ilseq,
        C::InProgress => Errno::Inprogress,
        C::Interrupted => Errno::Intr,
        C::Invalid => Errno::Inval,
        C::Io => Errno::Io,
        C::IsDirectory => Errno::Isdir,
        C::Loop => Errno::Loop,
        C::TooManyLinks => Errno::Mlink,
        C::MessageSize => Errno::Msgsize,
        C::NameTooLong => Errno::Nametoolong,
        C::NoDevice => Errno::Nodev,
        C::NoEntry => Errno::Noent,
        C::NoLock => Errno::Nolck,
        C::InsufficientMemory => Errno::Nomem,
        C::InsufficientSpace => Errno::Nospc,
        C::Unsupported => Errno::Notsup,
        C::NotDirectory => Errno::Notdir,
        C::NotEmpty => Errno::Notempty,
        C::NotRecoverable => Errno::Notrecoverable,
        C::NoTty => Errno::Notty,
        C::NoSuchDevice => Errno::Nxio,
        C::Overflow => Errno::Overflow,
        C::NotPermitted => Errno::Perm,
        C::Pipe => Errno::Pipe,
        C::ReadOnly => Errno::Rofs,
        C::InvalidSeek => Errno::Spipe,
        C::TextFileBusy => Errno::Txtbsy,
        C::CrossDevice => Errno::Xdev,
    }
}

/// The p1 file type of an object of kind `kind`.
pub(super) fn filetype(kind: Kind) -> Filetype {
    match kind {
        Kind::File => Filetype::RegularFile,
        Kind::Dir => Filetype::Directory,
        Kind::Symlink => Filetype::SymbolicLink,
    }
}
