//! The core's one error type.
//!
//! Every core operation returns [`Result<T>`]. An [`Error`] is either an
//! [`Errno`] — a POSIX-like failure the guest will see — or
//! [`Error::NeedsBase`], which is not a failure at all: the operation needed
//! base-layer data that is not loaded yet. Nothing was changed, and the caller
//! (the actor) fetches what [`Need`] names and runs the same operation again.
//!
//! The kinds are named after `wasi:filesystem`'s `error-code` so the mapping
//! to WASI, which happens in exactly one place in the WASI layer, is a plain
//! one-to-one table. The core never picks a WASI type itself.

use std::fmt;

use super::base::Need;

/// An errno-like failure kind. Named after `wasi:filesystem/types.error-code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Errno {
    /// Permission denied (`EACCES`).
    Access,
    /// A descriptor or handle does not refer to a live object (`EBADF`).
    BadDescriptor,
    /// Resource busy, e.g. a fork that still has children (`EBUSY`).
    Busy,
    /// The entry already exists (`EEXIST`).
    Exist,
    /// The write would make the file larger than `Limits::max_file_size` (`EFBIG`).
    FileTooLarge,
    /// Invalid argument (`EINVAL`).
    Invalid,
    /// An I/O failure in a backend (`EIO`).
    Io,
    /// The object is a directory where a non-directory was needed (`EISDIR`).
    IsDirectory,
    /// Too many symbolic links were followed (`ELOOP`), or a final symlink
    /// was not to be followed where an object was required.
    Loop,
    /// Too many hard links to one file (`EMLINK`).
    TooManyLinks,
    /// A name or path is longer than the limits allow (`ENAMETOOLONG`).
    NameTooLong,
    /// No such file or directory (`ENOENT`).
    NoEntry,
    /// No space left: the byte or inode quota of the fork is used up (`ENOSPC`).
    InsufficientSpace,
    /// Not a directory (`ENOTDIR`).
    NotDirectory,
    /// Directory not empty (`ENOTEMPTY`).
    NotEmpty,
    /// The operation is not supported on this object (`ENOTSUP`).
    Unsupported,
    /// A value does not fit its type (`EOVERFLOW`).
    Overflow,
    /// Not permitted: e.g. a path that would leave its starting directory (`EPERM`).
    NotPermitted,
    /// The target is on another mount (`EXDEV`).
    CrossDevice,
    /// Too many open handles (`EMFILE`).
    TooManyOpen,
}

impl Errno {
    /// A short human-readable description, like `strerror`.
    pub fn describe(self) -> &'static str {
        match self {
            Errno::Access => "permission denied",
            Errno::BadDescriptor => "bad descriptor",
            Errno::Busy => "resource busy",
            Errno::Exist => "file exists",
            Errno::FileTooLarge => "file too large",
            Errno::Invalid => "invalid argument",
            Errno::Io => "i/o error",
            Errno::IsDirectory => "is a directory",
            Errno::Loop => "too many levels of symbolic links",
            Errno::TooManyLinks => "too many links",
            Errno::NameTooLong => "name too long",
            Errno::NoEntry => "no such file or directory",
            Errno::InsufficientSpace => "no space left",
            Errno::NotDirectory => "not a directory",
            Errno::NotEmpty => "directory not empty",
            Errno::Unsupported => "not supported",
            Errno::Overflow => "value too large",
            Errno::NotPermitted => "operation not permitted",
            Errno::CrossDevice => "cross-device link",
            Errno::TooManyOpen => "too many open handles",
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

impl std::error::Error for Errno {}

/// What a core operation can fail with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// A failure to report to the guest.
    Errno(Errno),
    /// Base-layer data is missing. The operation had no effect; load what the
    /// [`Need`] names into the base and run the operation again.
    NeedsBase(Need),
}

impl Error {
    /// The errno, if this is a failure rather than a missing-base outcome.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Errno(e) => Some(*e),
            Error::NeedsBase(_) => None,
        }
    }
}

impl From<Errno> for Error {
    fn from(e: Errno) -> Self {
        Error::Errno(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Errno(e) => e.fmt(f),
            Error::NeedsBase(need) => write!(f, "base data not loaded: {need:?}"),
        }
    }
}

impl std::error::Error for Error {}

/// The core's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
