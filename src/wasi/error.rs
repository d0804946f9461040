//! The one place where Strata's errors become WASI error codes.
//!
//! Every other file in `src/wasi` returns [`FsError`] and lets `?` convert.
//! The table is one-to-one because the core's [`Errno`] is named after
//! `error-code`, with one exception `wasi:filesystem@0.2` cannot express:
//! running out of open handles (`EMFILE`) has no p2 code, and is reported as
//! `quota` — the nearest meaning (a per-guest resource limit was reached).
//! Preview 1 has the code, so that one error travels as its own variant,
//! [`FsError::TooManyOpen`], and the p1 layer answers `EMFILE`.

use wasmtime::component::ResourceTableError;

use super::bindings::types::ErrorCode;
use super::p3::types::ErrorCode as P3ErrorCode;
use crate::actor;
use crate::fs::Errno;

/// A filesystem call's failure: an error code for the guest, or a trap.
#[derive(Debug)]
pub enum FsError {
    /// Reported to the guest as `error-code`.
    Code(ErrorCode),
    /// Out of open handles (`Limits::max_open`): `quota` for p2, `EMFILE`
    /// for p1.
    TooManyOpen,
    /// Aborts the guest (a host bug or a misuse the ABI forbids).
    Trap(wasmtime::Error),
}

/// Results of filesystem host calls.
pub type FsResult<T> = Result<T, FsError>;

impl From<ErrorCode> for FsError {
    fn from(code: ErrorCode) -> Self {
        FsError::Code(code)
    }
}

impl From<Errno> for FsError {
    fn from(errno: Errno) -> Self {
        match errno {
            Errno::TooManyOpen => FsError::TooManyOpen,
            errno => FsError::Code(error_code(errno)),
        }
    }
}

impl FsError {
    /// What a p2 guest sees: an `error-code`, or the trap.
    pub fn into_error_code(self) -> wasmtime::Result<ErrorCode> {
        match self {
            FsError::Code(code) => Ok(code),
            FsError::TooManyOpen => Ok(error_code(Errno::TooManyOpen)),
            FsError::Trap(e) => Err(e),
        }
    }
}

impl From<actor::Error> for FsError {
    fn from(e: actor::Error) -> Self {
        match e {
            actor::Error::Errno(errno) => errno.into(),
            // A commit conflict never comes out of a guest-facing call.
            actor::Error::Conflict(_) => FsError::Code(ErrorCode::Io),
            actor::Error::Stopped => FsError::Code(ErrorCode::Io),
        }
    }
}

impl From<ResourceTableError> for FsError {
    fn from(e: ResourceTableError) -> Self {
        FsError::Trap(e.into())
    }
}

impl From<wasmtime::Error> for FsError {
    fn from(e: wasmtime::Error) -> Self {
        FsError::Trap(e)
    }
}

/// The error code a guest sees for an [`Errno`].
pub fn error_code(errno: Errno) -> ErrorCode {
    match errno {
        Errno::Access => ErrorCode::Access,
        Errno::BadDescriptor => ErrorCode::BadDescriptor,
        Errno::Busy => ErrorCode::Busy,
        Errno::Exist => ErrorCode::Exist,
        Errno::FileTooLarge => ErrorCode::FileTooLarge,
        Errno::Invalid => ErrorCode::Invalid,
        Errno::Io => ErrorCode::Io,
        Errno::IsDirectory => ErrorCode::IsDirectory,
        Errno::Loop => ErrorCode::Loop,
        Errno::TooManyLinks => ErrorCode::TooManyLinks,
        Errno::NameTooLong => ErrorCode::NameTooLong,
        Errno::NoEntry => ErrorCode::NoEntry,
        Errno::InsufficientSpace => ErrorCode::InsufficientSpace,
        Errno::NotDirectory => ErrorCode::NotDirectory,
        Errno::NotEmpty => ErrorCode::NotEmpty,
        Errno::Unsupported => ErrorCode::Unsupported,
        Errno::Overflow => ErrorCode::Overflow,
        Errno::NotPermitted => ErrorCode::NotPermitted,
        Errno::CrossDevice => ErrorCode::CrossDevice,
        Errno::TooManyOpen => ErrorCode::Quota,
    }
}

/// The error a stream reports for a failed operation: the WASI error code
/// travels inside, and `filesystem-error-code` reads it back out.
pub fn stream_error(e: impl Into<FsError>) -> wasmtime_wasi::p2::StreamError {
    match e.into().into_error_code() {
        Ok(code) => wasmtime_wasi::p2::StreamError::LastOperationFailed(wasmtime::Error::new(
            StreamFailure(code),
        )),
        Err(e) => wasmtime_wasi::p2::StreamError::Trap(e),
    }
}

/// An error code carried by a stream's `error` resource.
#[derive(Debug)]
pub(crate) struct StreamFailure(pub ErrorCode);

impl std::fmt::Display for StreamFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "filesystem error: {:?}", self.0)
    }
}

impl std::error::Error for StreamFailure {}

/// What a `wasi:filesystem@0.3.0` guest sees for an error: the p2 code of
/// the same name (0.3 has every one but `would-block`, which no filesystem
/// call here returns, and adds `other`), or the trap.
pub(crate) fn p3_error_code(e: impl Into<FsError>) -> wasmtime::Result<P3ErrorCode> {
    macro_rules! same_name {
        ($code:expr, $($name:ident),* $(,)?) => {
            match $code {
                $(ErrorCode::$name => P3ErrorCode::$name,)*
                ErrorCode::WouldBlock => P3ErrorCode::Other(Some("would-block".into())),
            }
        };
    }
    // Every name both versions share, in the WIT's order.
    #[rustfmt::skip]
    let code = same_name!(
        e.into().into_error_code()?,
        Access, Already, BadDescriptor, Busy, Deadlock, Quota, Exist, FileTooLarge,
        IllegalByteSequence, InProgress, Interrupted, Invalid, Io, IsDirectory, Loop,
        TooManyLinks, MessageSize, NameTooLong, NoDevice, NoEntry, NoLock,
        InsufficientMemory, InsufficientSpace, NotDirectory, NotEmpty, NotRecoverable,
        Unsupported, NoTty, NoSuchDevice, Overflow, NotPermitted, Pipe, ReadOnly,
        InvalidSeek, TextFileBusy, CrossDevice,
    );
    Ok(code)
}
