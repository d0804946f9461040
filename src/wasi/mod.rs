//! WASI bindings: `wasi:filesystem@0.2` on wasmtime, served by the actor.
//!
//! Strata implements the filesystem interfaces itself (its own bindings,
//! generated from the WIT wasmtime-wasi ships) and takes everything else a
//! guest imports — cli, clocks, random, io, sockets — from wasmtime-wasi, in
//! the same resource table.
//!
//! Embedding takes a store type implementing [`StrataView`] (which extends
//! wasmtime-wasi's `WasiView`), a [`StrataCtx`] built with the preopens, and
//! one call to [`add_to_linker_async`].

#[allow(missing_docs)]
mod bindings;
mod ctx;
mod descriptor;
mod error;
mod linker;
pub mod p1;
mod readdir;
mod stream;

pub use bindings::types::ErrorCode;
pub use ctx::{Mount, StrataCtx, StrataCtxBuilder, StrataCtxView, StrataView};
pub use descriptor::Descriptor;
pub use error::{FsError, FsResult, error_code};
pub use linker::add_to_linker_async;
pub use readdir::DirectoryEntryStream;
